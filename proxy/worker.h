#ifndef SC_WORKER_H
#define SC_WORKER_H

#include <stddef.h>

struct event_base;
struct sc_snapshot;
struct sc_stats;
struct sc_worker;

/* A worker: one thread, one event_base, its own SO_REUSEPORT socket for
 * every listener, its own counters and its own reference to the current
 * snapshot.  A connection lives and dies on one worker. */

/* Creates worker `id` holding a reference to snap.  Opens its listening
 * sockets (all of snap's listeners, proxy/listener.h); returns NULL with a
 * logged reason when one cannot be bound. */
struct sc_worker *sc_worker_new(int id, struct sc_snapshot *snap);

/* Starts the thread.  0 or -1. */
int sc_worker_start(struct sc_worker *w);

/* Hands the worker a new snapshot (takes one reference, from any thread);
 * new connections use it from the worker's next loop iteration on. */
void sc_worker_publish(struct sc_worker *w, struct sc_snapshot *snap);

/* How far to drain; a later call may go further, never back. */
enum sc_worker_drain {
    SC_WORKER_DRAIN_LISTENERS = 1, /* close the listeners only */
    SC_WORKER_DRAIN_ALL, /* and have HTTP connections close after
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

/* The worker's counters and upstream HTTP pool (borrowed), for the
 * runtime's metrics.  Connections see the worker only through its
 * context (wctx.h), never through these. */
struct sc_stats *sc_worker_stats(struct sc_worker *w);
struct sc_upool;
struct sc_upool *sc_worker_upool(struct sc_worker *w);
/* Connections currently open on this worker (safe from any thread). */
size_t sc_worker_conn_count(const struct sc_worker *w);

#endif
