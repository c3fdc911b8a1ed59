#ifndef SC_WCTX_H
#define SC_WCTX_H

#include <stddef.h>
#include <sys/queue.h>

#include "hbone_out.h"

/* What a connection needs from the worker it runs on: its event_base,
 * counters, the current snapshot, the TLS session cache, the upstream and
 * HBONE pools, the handshake limiter, the request-id generator, a scratch
 * buffer and the list of its open connections.  The worker creates one per
 * thread and hands it to conn, upstream, upool, l7 and hbone, which see
 * nothing else of the worker (no call goes back into worker.c).
 *
 * Ownership: the context owns its session cache, uuid generator, scratch
 * buffer and the identities seen for root_expired_grace; it borrows the
 * event_base, stats, pools, hslimit and snapshot, which the worker owns
 * and sets.  Every function but sc_wctx_conn_count runs on the worker's
 * thread. */
struct sc_wctx;
struct event_base;
struct sc_snapshot;
struct sc_stats;
struct sc_tlsv_seen;
struct sc_conn;
struct sc_addr;
struct sc_upool;
struct sc_uuid;
struct sc_hbone_pool;
struct sc_hslimit;
struct sc_conn_hbone;
typedef struct ssl_session_st SSL_SESSION;

/* Which kind of listener accepted a connection. */
enum sc_listener_kind {
    SC_LISTENER_INBOUND_CAPTURE = 0, /* inbound:  (iptables → 15006) */
    SC_LISTENER_OUTBOUND_CAPTURE, /* outbound: (iptables → 15001) */
    SC_LISTENER_EXPLICIT, /* listeners[i] */
    SC_LISTENER_HBONE, /* inbound.hbone_address (15008) */
};

/* A context for worker `id` on base, counting into stats (both borrowed,
 * and must outlive it).  NULL when out of memory. */
struct sc_wctx *sc_wctx_new(int id, struct event_base *base, struct sc_stats *stats);
void sc_wctx_free(struct sc_wctx *x);

/* Set by the owner (borrowed; NULL allowed in tests). */
void sc_wctx_set_snapshot(struct sc_wctx *x, struct sc_snapshot *snap);
void sc_wctx_set_upool(struct sc_wctx *x, struct sc_upool *p);
void sc_wctx_set_hbone_pool(struct sc_wctx *x, struct sc_hbone_pool *p);
void sc_wctx_set_hslimit(struct sc_wctx *x, struct sc_hslimit *h);

int sc_wctx_id(const struct sc_wctx *x);
struct event_base *sc_wctx_base(struct sc_wctx *x);
struct sc_snapshot *sc_wctx_snapshot(struct sc_wctx *x); /* borrowed */
struct sc_stats *sc_wctx_stats(struct sc_wctx *x);
/* The peer identities this worker has logged for root_expired_grace. */
struct sc_tlsv_seen *sc_wctx_grace_seen(struct sc_wctx *x);
/* A scratch buffer for MSG_PEEK, shared by the worker's connections. */
unsigned char *sc_wctx_scratch(struct sc_wctx *x, size_t *len);
struct sc_upool *sc_wctx_upool(struct sc_wctx *x);
struct sc_uuid *sc_wctx_uuid(struct sc_wctx *x);
struct sc_hbone_pool *sc_wctx_hbone_pool(struct sc_wctx *x);
struct sc_hslimit *sc_wctx_hslimit(struct sc_wctx *x);

/* TLS session cache for upstream resumption, keyed by snapshot generation
 * and upstream address.  get returns a borrowed session, or NULL (none, or
 * one whose peer chain has expired since: dropped); put takes ownership of
 * sess. */
SSL_SESSION *sc_wctx_session_get(struct sc_wctx *x, unsigned long long gen,
                                 const struct sc_addr *up);
void sc_wctx_session_put(struct sc_wctx *x, unsigned long long gen, const struct sc_addr *up,
                         SSL_SESSION *sess);

/* Hands an HBONE stream to the HTTP session as a connection (takes fd):
 * the function the owner installed (the worker: sc_conn_accept_hbone), so
 * hbone does not call into conn; without one, fd is closed. */
typedef void sc_wctx_hbone_accept_fn(struct sc_wctx *x, int fd, const struct sc_conn_hbone *h);
void sc_wctx_set_hbone_accept(struct sc_wctx *x, sc_wctx_hbone_accept_fn *fn);
void sc_wctx_hbone_accept(struct sc_wctx *x, int fd, const struct sc_conn_hbone *h);

/* Opens an outbound HBONE stream on the worker's HBONE pool for the local
 * end io (taken), as sc_hbone_out_open_io does, and cancels one: the
 * functions the owner installed (the worker: proxy/hbone/hbone_pool.h), so
 * the HTTP pool opens its streams without including the HBONE pool (that
 * would close the include cycle hbone -> l7 -> upool -> hbone_pool).
 * Without them (a test's context), open aborts io and returns NULL. */
struct sc_io;
typedef struct sc_hbone_out *sc_wctx_hbone_open_fn(struct sc_hbone_pool *p,
                                                   const struct sc_hbone_out_req *req,
                                                   struct sc_io *io, sc_hbone_out_done_fn *done,
                                                   void *arg);
typedef void sc_wctx_hbone_cancel_fn(struct sc_hbone_out *o);
void sc_wctx_set_hbone_out(struct sc_wctx *x, sc_wctx_hbone_open_fn *open,
                           sc_wctx_hbone_cancel_fn *cancel);
struct sc_hbone_out *sc_wctx_hbone_open(struct sc_wctx *x, const struct sc_hbone_out_req *req,
                                        struct sc_io *io, sc_hbone_out_done_fn *done, void *arg);
void sc_wctx_hbone_cancel(struct sc_wctx *x, struct sc_hbone_out *o);

/* A connection id unique across workers. */
unsigned long long sc_wctx_next_conn_id(struct sc_wctx *x);

/* The worker's list of open connections (the links live in the
 * connections, see conn.h) and its count: conn.c adds and removes itself,
 * the worker walks the list (sc_conn_next) to drain or abort. */
LIST_HEAD(sc_conn_list, sc_conn);
struct sc_conn_list *sc_wctx_conns(struct sc_wctx *x);
void sc_wctx_conn_counted(struct sc_wctx *x, int delta);
/* Connections currently open (safe from any thread). */
size_t sc_wctx_conn_count(const struct sc_wctx *x);

#endif
