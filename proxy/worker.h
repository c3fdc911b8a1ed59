#ifndef SC_WORKER_H
#define SC_WORKER_H

#include <stddef.h>

struct event_base;
struct sc_snapshot;
struct sc_stats;
struct sc_tlsv_seen;
struct sc_conn;
struct sc_worker;

/* Which kind of listener accepted a connection. */
enum sc_listener_kind {
    SC_LISTENER_INBOUND_CAPTURE = 0,   /* inbound:  (iptables → 15006) */
    SC_LISTENER_OUTBOUND_CAPTURE,      /* outbound: (iptables → 15001) */
    SC_LISTENER_EXPLICIT,              /* listeners[i] */
    SC_LISTENER_HBONE,                 /* inbound.hbone_address (15008) */
};

/* A worker: one thread, one event_base, its own SO_REUSEPORT socket for
 * every listener, its own counters and its own reference to the current
 * snapshot.  A connection lives and dies on one worker. */

/* Creates worker `id` holding a reference to snap.  Opens its listening
 * sockets (all of snap's listeners); returns NULL with a logged reason when
 * one cannot be bound. */
struct sc_worker *sc_worker_new(int id, struct sc_snapshot *snap);

/* Starts the thread.  0 or -1. */
int sc_worker_start(struct sc_worker *w);

/* Hands the worker a new snapshot (takes one reference, from any thread);
 * new connections use it from the worker's next loop iteration on. */
void sc_worker_publish(struct sc_worker *w, struct sc_snapshot *snap);

/* How far to drain; a later call may go further, never back. */
enum sc_worker_drain {
    SC_WORKER_DRAIN_LISTENERS = 1,     /* close the listeners only */
    SC_WORKER_DRAIN_ALL,               /* and have HTTP connections close after
                                        * their current response (idle ones at once) */
};

/* Asks the worker to drain (from any thread).  L4 connections run on;
 * sc_worker_conn_count says how many are left.  Listeners stay closed
 * across reloads. */
void sc_worker_drain(struct sc_worker *w, enum sc_worker_drain what);

/* Asks the worker to stop accepting and close its connections, then joins
 * it.  Safe from any thread but the worker's own. */
void sc_worker_stop(struct sc_worker *w);
void sc_worker_free(struct sc_worker *w);

/* Accessors used by connections running on this worker. */
int sc_worker_id(const struct sc_worker *w);
struct event_base *sc_worker_base(struct sc_worker *w);
struct sc_snapshot *sc_worker_snapshot(struct sc_worker *w);   /* borrowed */
struct sc_stats *sc_worker_stats(struct sc_worker *w);
/* The peer identities this worker has logged for root_expired_grace
 * (borrowed; the worker's thread only). */
struct sc_tlsv_seen *sc_worker_grace_seen(struct sc_worker *w);
/* A scratch buffer for MSG_PEEK, shared by the worker's connections. */
unsigned char *sc_worker_scratch(struct sc_worker *w, size_t *len);
/* Connection bookkeeping (for shutdown). */
void sc_worker_conn_add(struct sc_worker *w, struct sc_conn *c);
void sc_worker_conn_remove(struct sc_worker *w, struct sc_conn *c);
/* Per-worker TLS session cache for upstream resumption, keyed by snapshot
 * generation and upstream address.  get returns a borrowed session, or
 * NULL (none, or one whose peer chain has expired since: dropped); put
 * takes ownership of sess. */
struct sc_addr;
typedef struct ssl_session_st SSL_SESSION;
SSL_SESSION *sc_worker_session_get(struct sc_worker *w, unsigned long long gen,
                                   const struct sc_addr *up);
void sc_worker_session_put(struct sc_worker *w, unsigned long long gen,
                           const struct sc_addr *up, SSL_SESSION *sess);

/* The worker's upstream HTTP connection pool and request-id generator. */
struct sc_upool;
struct sc_uuid;
struct sc_upool *sc_worker_upool(struct sc_worker *w);
struct sc_uuid *sc_worker_uuid(struct sc_worker *w);
/* The worker's pool of outbound HBONE tunnels (borrowed). */
struct sc_hbone_pool;
struct sc_hbone_pool *sc_worker_hbone_pool(struct sc_worker *w);
/* The worker's per-client-address handshake limiter (borrowed). */
struct sc_hslimit;
struct sc_hslimit *sc_worker_hslimit(struct sc_worker *w);

/* A connection id unique across workers. */
unsigned long long sc_worker_next_conn_id(struct sc_worker *w);
/* Connections currently open on this worker (safe from any thread). */
size_t sc_worker_conn_count(const struct sc_worker *w);

#endif
