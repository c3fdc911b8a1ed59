#ifndef SC_CONN_H
#define SC_CONN_H

#include <sys/socket.h>

#include "addr.h"
#include "hbone.h"
#include "wctx.h"

/* One proxied connection, from accept to close: original-destination
 * lookup, the routing decision (proxy/route.h) carried out, sniffing, the
 * TLS handshakes, the upstream connect, then the L4 relay, the HTTP session
 * or an HBONE tunnel.  Owned by its worker; sc_conn's teardown frees
 * everything it holds and writes the connection log line.  Its files share
 * conn_internal.h: conn.c, conn_down.c, hbone/conn_hbone.c. */
struct sc_conn;

/* Open connections of one listener on one worker, for
 * limits.max_connections.  Shared by the listener and each of its
 * connections, each holding a reference (worker thread only, no atomics);
 * the last unref frees it, so a connection may outlive its listener. */
struct sc_lcount {
    int refs;
    int open;
};
struct sc_lcount *sc_lcount_new(void);
void sc_lcount_unref(struct sc_lcount *n);

/* Takes ownership of the accepted fd.  `listener` names the explicit
 * listener (kind SC_LISTENER_EXPLICIT), else is ignored.  count (may be
 * NULL) is the listener's: the connection counts itself in it until its
 * teardown, holding its own reference. */
void sc_conn_accept(struct sc_wctx *w, enum sc_listener_kind kind, const char *listener,
                    struct sc_lcount *count, int fd, const struct sockaddr *peer, int peerlen);

/* An HBONE stream to a protocol http (or auto) port, handed to the HTTP
 * session as a connection of its own (struct sc_conn_hbone, hbone.h).
 * The worker installs this in its context (sc_wctx_set_hbone_accept), so
 * that proxy/hbone/hbone_in.c reaches it without calling into conn. */
void sc_conn_accept_hbone(struct sc_wctx *w, int fd, const struct sc_conn_hbone *h);

/* Ends the connection now with the given reason (worker shutdown). */
void sc_conn_abort(struct sc_conn *c, const char *reason);

/* An ended connection's memory (and its timer) stays in the calling
 * thread's cache, up to 32, for the next accepted one, as its L7 session's
 * does (sc_l7_free); a worker frees both caches with this as it exits. */
void sc_conn_cache_drain(void);

/* Draining: an HTTP connection closes after its current response (at once
 * when idle); an L4 connection runs on until it ends or the drain deadline. */
void sc_conn_drain(struct sc_conn *c);

/* The next connection in the worker's list (sc_wctx_conns), or NULL. */
struct sc_conn *sc_conn_next(struct sc_conn *c);

#endif
