#ifndef SC_UPOOL_H
#define SC_UPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "upstream.h"

struct bufferevent;
struct sc_worker;
struct sc_upool;
struct sc_upconn;
struct sc_upool_wait;

/* A worker's pool of upstream HTTP/1.1 connections (plain to the app, mTLS
 * between sidecars), keyed by snapshot generation, address, TLS mode and
 * route.  A request borrows a connection for one exchange and gives it back;
 * idle connections close after idle_ms, which is kept shorter than the far
 * side's keep-alive so the pool, not the server, closes first.  A stale
 * connection (the far side closed, or sent bytes while idle) is dropped
 * before it is handed out.
 *
 * Ownership: every object of the pool holds its own reference to the
 * snapshot it was made under: a waiting request (sc_upool_wait), a connect
 * under way (its sc_upstream) and a pooled connection (sc_upconn), each
 * dropped in its one teardown.  A connect may thus finish, and its
 * connection go idle, after the request that started it and the connection
 * that request came on are gone. */

struct sc_upool_limits {
    int max_connections;        /* per key: open + connecting */
    int max_pending;            /* per key: requests waiting for a connection */
    int idle_ms;                /* idle connections close after this */
};

/* A connection handed out: bev is ready for one request (callbacks are the
 * borrower's until it gives the connection back). */
struct sc_upconn_info {
    struct bufferevent *bev;
    const char *tls_version;    /* NULL for plaintext */
    const char *peer_id;        /* "" when none */
    const char *peer_root;      /* "-" when none */
    char upstream_host[64];     /* "1.2.3.4:80" for the access log */
    int reused;                 /* 1 when it served an earlier request */
};

/* Called once: uc non-NULL with a connection, or NULL with res describing
 * the failure (connect failed, TLS failed, ...).  res is borrowed. */
typedef void sc_upool_ready_fn(void *arg, struct sc_upconn *uc,
                               const struct sc_upstream_result *res);

struct sc_upool *sc_upool_new(struct sc_worker *w);
void sc_upool_free(struct sc_upool *p);

enum sc_upool_get_result {
    SC_UPOOL_READY = 0,         /* *out holds an idle connection, now yours */
    SC_UPOOL_WAITING,           /* ready() will be called; *wait can cancel it */
    SC_UPOOL_OVERFLOW,          /* both limits reached: answer 503 UO */
    SC_UPOOL_ERROR,             /* out of memory */
};

/* Borrows a connection for req (route identifies the route or listener, so
 * requests with different identity expectations never share one).
 * fresh=1 skips idle connections (a retry after a reused one failed). */
enum sc_upool_get_result sc_upool_get(struct sc_upool *p, const struct sc_upstream_req *req,
                                      const void *route, const struct sc_upool_limits *lim,
                                      int fresh, sc_upool_ready_fn *ready, void *arg,
                                      struct sc_upconn **out, struct sc_upool_wait **wait);
void sc_upool_cancel(struct sc_upool_wait *wait);

const struct sc_upconn_info *sc_upconn_info(const struct sc_upconn *uc);

/* Gives the connection back: reusable=1 after a complete exchange on a
 * connection both sides keep alive (it goes idle or to a waiting request),
 * 0 to close it. */
void sc_upconn_release(struct sc_upconn *uc, int reusable);

/* Takes the connection out of the pool for good (a protocol upgrade):
 * returns its bufferevent, now the caller's, and frees the rest. */
struct bufferevent *sc_upconn_detach(struct sc_upconn *uc);

/* Gauges for /stats/prometheus: summed over keys. */
struct sc_upool_gauges {
    uint64_t active, idle, pending, connecting;
    uint64_t overflows, created, reused;
};
void sc_upool_gauges(const struct sc_upool *p, struct sc_upool_gauges *out);

#endif
