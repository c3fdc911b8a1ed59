#ifndef SC_UPSTREAM_H
#define SC_UPSTREAM_H

#include <stddef.h>

#include "addr.h"
#include "config.h"
#include "tlsverdict.h"

struct bufferevent;
struct sc_snapshot;
struct sc_wctx;
struct sc_upstream;

/* Opens one upstream connection on a worker: a non-blocking TCP connect
 * (connect timeout), then, unless tls is DISABLE, the TLS handshake
 * (handshake timeout): mesh mTLS (ISTIO_MUTUAL: our certificate, the mesh
 * ALPN for the protocol, resumption from the worker's session cache, the
 * peer's SPIFFE ID checked against expected) or TLS to a service outside
 * the mesh (SIMPLE / MUTUAL: the snapshot's context for tls_files, the
 * server's name checked).  Used by the L4 relay and the L7 pool alike.
 *
 * Ownership: the connect takes its own reference to req->snap and holds it
 * until done() has returned or it is cancelled, so it may outlive the
 * caller's reference (the L7 pool lets a connect finish after its request
 * went away).  host, tls_files and expected point into that snapshot's
 * config, which the reference keeps alive; w outlives every connect. */

struct sc_upstream_req {
    struct sc_wctx *w;
    struct sc_snapshot *snap; /* the connect takes its own reference */
    struct sc_addr addr;
    enum sc_direction dir; /* for the metrics */
    enum sc_tls_mode tls;
    enum sc_proto proto; /* picks the ALPN list */
    const char *host; /* SNI; may be NULL */
    const struct sc_cfg_tls_files *tls_files;
    const struct sc_strv *expected; /* mesh identities; NULL/empty = trust domain */
    int connect_ms;
    int handshake_ms;
    unsigned mark; /* SO_MARK for the socket, 0 = none */
    int hbone_port; /* > 0 (the L7 pool's requests only):
                                             * no connection of its own but a CONNECT
                                             * stream to addr over an HBONE tunnel to
                                             * addr's host on this port, which
                                             * proxy/http/upool.c opens with
                                             * proxy/hbone/hbone_pool.h;
                                             * sc_upstream_connect itself ignores it */
    const unsigned char *alpn; /* mesh: this ALPN list instead of the
                                             * protocol's (HBONE: h2); NULL = default */
    unsigned alpn_len;
};

enum sc_upstream_status {
    SC_UPSTREAM_OK = 0,
    SC_UPSTREAM_CONNECT_FAILED, /* refused, unreachable, ... */
    SC_UPSTREAM_CONNECT_TIMEOUT,
    SC_UPSTREAM_TLS_FAILED, /* handshake or verification failed */
    SC_UPSTREAM_HANDSHAKE_TIMEOUT,
    SC_UPSTREAM_IDENTITY_REJECTED,
};

struct sc_upstream_result {
    enum sc_upstream_status status;
    struct bufferevent *bev; /* OK: connected (and verified); now the callee's */
    const char *tls_version; /* "TLSv1.3", or NULL for plaintext */
    char peer_id[512]; /* mesh peer's SPIFFE ID, "" if none */
    char peer_root[80]; /* serial of the root it chained to (for a
                                             * resumption, its full handshake's), or "-" */
    const char *session; /* "full", "resumed", or NULL without TLS */
    unsigned long ssl_error; /* first OpenSSL error of a TLS failure */
    long verify_result; /* X509_V_OK or the chain's failure */
    int sys_errno; /* the connect's errno (0 if none) */
    int verify_depth;
    char reason[1024]; /* failure, as the log's end= text */
};

/* Called once, with the result (the result is borrowed for the call; take
 * res->bev to keep it).  The sc_upstream object is freed after it returns. */
typedef void sc_upstream_done_fn(void *arg, struct sc_upstream_result *res);

/* Starts connecting.  Returns the handle (cancel with sc_upstream_cancel
 * before done() runs), or NULL on allocation failure. */
struct sc_upstream *sc_upstream_connect(const struct sc_upstream_req *req,
                                        sc_upstream_done_fn *done, void *arg);

/* Abandons a connection attempt; done() will not be called. */
void sc_upstream_cancel(struct sc_upstream *u);

/* Whether upstream sockets can carry SO_MARK mark (it needs CAP_NET_ADMIN):
 * sets it on a throw-away socket.  Returns 0 (or mark is 0), or -1 with why
 * written ("cannot set SO_MARK 1337: Operation not permitted (needs
 * CAP_NET_ADMIN)"). */
int sc_upstream_mark_check(unsigned mark, char *why, size_t len);

#endif
