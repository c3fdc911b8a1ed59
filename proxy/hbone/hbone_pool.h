#ifndef SC_HBONE_POOL_H
#define SC_HBONE_POOL_H

#include <stdint.h>

#include "addr.h"
#include "config.h"

/* Outbound HBONE: a worker's pool of HTTP/2 mTLS tunnels, one set per
 * (snapshot, destination address, expected identities), and the CONNECT
 * stream each app connection becomes.  A stream joins a tunnel that is up
 * or connecting with room (hbone.max_streams_per_connection, the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS), else a new tunnel is opened: no
 * handshake per app connection.  A tunnel with no stream closes after
 * hbone.idle_ms.  A stream whose tunnel fails before its 200 (connect,
 * handshake, identity, the tunnel closing, REFUSED_STREAM) is tried once
 * more on a fresh tunnel; after that the app connection is reset and the
 * reason reported.  A new snapshot (rotation, reload) gets new tunnels;
 * those of the old one finish their streams and idle out.
 *
 * Worker thread only. */

struct sc_snapshot;
struct sc_wctx;
struct sc_hbone_pool;
struct sc_hbone_out;

struct sc_hbone_pool *sc_hbone_pool_new(struct sc_wctx *w);
/* Closes every tunnel (their streams are reset, without callbacks).
 * Accepts NULL. */
void sc_hbone_pool_free(struct sc_hbone_pool *p);

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

/* Takes the app connection fd (closed, or reset, by the stream).  done()
 * is called exactly once, never from within this call.  NULL on
 * allocation failure (fd closed). */
struct sc_hbone_out *sc_hbone_out_open(struct sc_hbone_pool *p, const struct sc_hbone_out_req *req,
                                       int fd, sc_hbone_out_done_fn *done, void *arg);

/* The app connection's owner is going away: reset; done() not called.
 * Accepts NULL. */
void sc_hbone_out_cancel(struct sc_hbone_out *o);

#endif
