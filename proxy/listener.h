#ifndef SC_LISTENER_H
#define SC_LISTENER_H

struct sc_config;
struct sc_wctx;

/* A worker's data listeners: one SO_REUSEPORT socket per listener the
 * config asks for (the inbound and outbound capture addresses, the HBONE
 * port, listeners[]), each accepting into proxy/conn (sc_conn_accept) on
 * the worker's loop.  Also enforces limits.max_connections per listener
 * (a connection over it is closed at once, counted and said once per 10 s)
 * and pauses every listener of the set while accept() fails (out of
 * descriptors: proxy/acceptpause).
 *
 * Owned by the worker and used on its thread only.  Borrows the context
 * (its event_base, stats, current snapshot), which must outlive the set.
 * A listener's open-connection count (struct sc_lcount, conn.h) is shared
 * with its connections, so a connection may outlive its listener. */
struct sc_listeners;

/* An empty set for the worker whose context is x.  NULL when out of
 * memory. */
struct sc_listeners *sc_listeners_new(struct sc_wctx *x);

/* Opens the listeners cfg asks for that are not open, and closes the open
 * ones it no longer names; the others keep their sockets (and their
 * connections).  log_changes: an INFO line per listener added or removed
 * (worker 0 only).  Returns -1 when a listener that must be bound could not
 * be (logged); the optional default HBONE port only logs an ERROR. */
int sc_listeners_sync(struct sc_listeners *ls, const struct sc_config *cfg, int log_changes);

/* Closes every listener (drain, stop); a later sync opens them again. */
void sc_listeners_close(struct sc_listeners *ls);

/* Closes them and frees the set.  NULL is fine. */
void sc_listeners_free(struct sc_listeners *ls);

#endif
