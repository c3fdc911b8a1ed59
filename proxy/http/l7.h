#ifndef SC_L7_H
#define SC_L7_H

#include <openssl/x509.h>
#include <stdint.h>

#include "config.h"
#include "upstream.h"

struct bufferevent;
struct sc_log_ctx;
struct sc_snapshot;
struct sc_wctx;
struct sc_l7;

/* An HTTP/1.1 session on one downstream connection (protocol http, or auto
 * when the first bytes look like HTTP/1.x): requests parsed with llhttp,
 * forwarded over pooled upstream connections (sc_upool), identity headers
 * set (x-forwarded-client-cert, x-request-id, x-forwarded-proto), local
 * replies when the upstream fails, one access-log line per request.  An
 * Upgrade / CONNECT switches the connection to the L4 relay. */

struct sc_io;

struct sc_l7_params {
    struct sc_wctx *w;
    struct sc_snapshot *snap; /* the session takes its own reference */
    struct bufferevent *down; /* taken; plain or TLS (terminated) */
    struct sc_io *down_io; /* or (down NULL) this, taken: a plain socket with nothing read
                            * yet, or an HBONE stream's pair end */
    enum sc_direction dir;
    int port;
    int down_mtls; /* the downstream is a verified mesh peer */
    X509 *peer_cert; /* its certificate (borrowed from down's SSL) */
    const char *peer_id; /* its SPIFFE ID, or NULL */
    struct sc_upstream_req up; /* how to reach the upstream */
    const void *route; /* pool key: the route or listener */
    const struct sc_cfg_timeouts *timeouts; /* the port's, route's or listener's */
    const struct sc_log_ctx *log; /* for sc_log lines */
    /* the access log's connection fields (NULL: "-"), borrowed */
    const char *al_cluster, *al_down_local, *al_down_remote, *al_route;
    const char *al_hbone; /* "<tunnel>/<stream>" over HBONE, else NULL */
};

/* Why the session ended, for the connection log, and its byte counts. */
typedef void sc_l7_done_fn(void *arg, const char *reason, const uint64_t bytes[2]);

/* Takes ownership of p->down in every case: its socket and SSL move onto
 * the raw I/O layer (proxy/io/io.h), registered once with the worker's loop,
 * and the bufferevent is freed.  NULL on allocation failure. */
struct sc_l7 *sc_l7_new(const struct sc_l7_params *p, sc_l7_done_fn *done, void *arg);

/* Draining: the current response goes out with Connection: close and the
 * connection closes after it; an idle connection closes now (done() is
 * called, possibly from within this call). */
void sc_l7_drain(struct sc_l7 *s);

/* Ends the session now without calling done().  Its memory, events and
 * parsers stay in the calling thread's cache (up to 32 sessions) for the
 * next sc_l7_new on that thread. */
void sc_l7_free(struct sc_l7 *s);

/* Frees the calling thread's cache of ended sessions: a worker calls it as
 * it exits (the cached events hold no reference to its event_base). */
void sc_l7_cache_drain(void);

#endif
