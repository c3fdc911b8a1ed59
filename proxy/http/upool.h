#ifndef SC_UPOOL_H
#define SC_UPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "upstream.h"

struct sc_io;
struct sc_wctx;
struct sc_upool;
struct sc_upconn;
struct sc_upool_wait;

/* A worker's pool of upstream HTTP/1.1 connections (plain to the app, mTLS
 * between sidecars), keyed by snapshot generation, address, TLS mode and
 * route.  A request borrows a connection for one exchange and gives it back;
 * idle connections close after idle_ms, which is kept shorter than the far
 * side's keep-alive so the pool, not the server, closes first.  A stale
 * connection (the far side closed, or sent bytes while idle) is dropped
 * as soon as it says so: an idle connection's socket stays registered
 * (read, write and close, edge-triggered, for its whole life) and its
 * wake-ups while idle close it, so a reuse costs no system call.
 *
 * Connections are on the raw I/O layer (proxy/io/io.h): the handshake is done
 * by sc_upstream, then the socket and its SSL are handed to an sc_io that
 * the connection owns; the event that watches the socket is the pool's, and
 * sends its wake-ups to whoever holds the connection (sc_upconn_watch).
 *
 * Ownership: every object of the pool holds its own reference to the
 * snapshot it was made under: a waiting request (sc_upool_wait), a connect
 * under way (its sc_upstream) and a pooled connection (sc_upconn), each
 * dropped in its one teardown.  A connect may thus finish, and its
 * connection go idle, after the request that started it and the connection
 * that request came on are gone. */

struct sc_upool_limits {
    int max_connections; /* per key: open + connecting */
    int max_pending; /* per key: requests waiting for a connection */
    int idle_ms; /* idle connections close after this */
};

/* A connection handed out: io is ready for one request (reads wait for a
 * wake-up: sc_io_can_read() is 0 until one comes). */
struct sc_upconn_info {
    struct sc_io *io; /* the pool's: borrowed */
    const char *tls_version; /* NULL for plaintext */
    const char *peer_id; /* "" when none */
    const char *peer_root; /* "-" when none */
    char upstream_host[64]; /* "1.2.3.4:80" for the access log */
    int reused; /* 1 when it served an earlier request */
};

/* Called once: uc non-NULL with a connection, or NULL with res describing
 * the failure (connect failed, TLS failed, ...).  res is borrowed. */
typedef void sc_upool_ready_fn(void *arg, struct sc_upconn *uc,
                               const struct sc_upstream_result *res);

struct sc_upool *sc_upool_new(struct sc_wctx *w);
void sc_upool_free(struct sc_upool *p);

enum sc_upool_get_result {
    SC_UPOOL_READY = 0, /* *out holds an idle connection, now yours */
    SC_UPOOL_WAITING, /* ready() will be called; *wait can cancel it */
    SC_UPOOL_OVERFLOW, /* both limits reached: answer 503 UO */
    SC_UPOOL_ERROR, /* out of memory */
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

/* The borrower's handler for the socket's wake-ups (what: EV_READ, EV_WRITE,
 * EV_CLOSED); sc_io_ready() has already been told.  It may release or
 * detach the connection. */
typedef void sc_upconn_io_fn(void *arg, short what);
void sc_upconn_watch(struct sc_upconn *uc, sc_upconn_io_fn *fn, void *arg);
/* Calls the handler (what = 0) from the loop, in the pass under way: no
 * system call, and the caller may go on before it runs. */
void sc_upconn_kick(struct sc_upconn *uc);

/* Gives the connection back: reusable=1 after a complete exchange on a
 * connection both sides keep alive, with every byte it sent read (it goes
 * idle or to a waiting request), 0 to close it. */
void sc_upconn_release(struct sc_upconn *uc, int reusable);

/* Takes the connection out of the pool for good (a protocol upgrade):
 * returns its I/O object, now the caller's (no longer watched), and frees
 * the rest. */
struct sc_io *sc_upconn_detach(struct sc_upconn *uc);

/* Gauges for /stats/prometheus: summed over keys. */
struct sc_upool_gauges {
    uint64_t active, idle, pending, connecting;
    uint64_t overflows, created, reused;
};
void sc_upool_gauges(const struct sc_upool *p, struct sc_upool_gauges *out);

#endif
