#ifndef SC_HBONE_OUT_H
#define SC_HBONE_OUT_H

#include <stdint.h>

#include "addr.h"
#include "config.h"

/* The types of an outbound HBONE stream's request and end
 * (proxy/hbone/hbone_pool.h opens the streams).  A header of their own so
 * that the HTTP pool (proxy/http/upool.c), which opens its streams through
 * the worker context's hook (sc_wctx_hbone_open), needs no include of the
 * HBONE pool: hbone -> l7 -> upool -> hbone_pool would be a cycle. */

struct sc_snapshot;

struct sc_hbone_out_req {
    struct sc_snapshot *snap; /* borrowed; the stream holds its own reference */
    struct sc_addr dst; /* the original destination: the CONNECT authority */
    int hbone_port; /* the tunnel goes to dst's address on this port */
    const struct sc_strv *expected; /* into snap's config; NULL/empty = trust domain */
    const char *host; /* SNI, may be NULL */
    const struct sc_addr *source; /* the app's address (forwarded: for=), may be NULL */
    int connect_ms, handshake_ms;
    unsigned mark;
    int ready_ends; /* done() as soon as the 200 is in (status
                                         * 200); the stream then runs on by itself */
};

/* How an outbound stream ended (borrowed for the callback). */
struct sc_hbone_out_end {
    const char *reason; /* the connection log's end= */
    int status; /* the CONNECT's answer, 0 if none */
    uint64_t bytes[2]; /* [0] from the app, [1] to it */
    unsigned long long tunnel_id; /* 0 when no tunnel carried it */
    int32_t stream_id;
    const char *peer_id; /* the tunnel's peer, "" if none */
    const char *tls_version; /* or NULL */
    int tunnel_new; /* its tunnel was opened for it */
};
typedef void sc_hbone_out_done_fn(void *arg, const struct sc_hbone_out_end *end);

#endif
