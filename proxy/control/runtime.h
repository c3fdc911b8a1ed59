#ifndef SC_RUNTIME_H
#define SC_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct sc_config;
struct sc_err;
struct sc_snapshot;
struct sc_stats;
struct sc_tls_material;
struct sc_runtime;

/* The process's running state, owned by the main thread: the current
 * config and certificates, the snapshot built from them, and the workers it
 * is published to.  A new config (SIGHUP) or new certificates (files
 * changed, SDS push) build a complete new snapshot which is handed to every
 * worker; open connections keep the one they started with.  Workers — and so
 * the data listeners — start only once valid certificates are in. */

/* Takes ownership of cfg.  Nothing listens yet. */
struct sc_runtime *sc_runtime_new(struct event_base *base, struct sc_config *cfg);

/* Installs new certificates (takes ownership of m).  The first call starts
 * the workers; later calls publish a new snapshot.  `source` says where
 * they came from, for the log ("files", "sds version 7").  0, or -1 with err
 * set and nothing changed. */
int sc_runtime_set_material(struct sc_runtime *rt, struct sc_tls_material *m, const char *source,
                            struct sc_err *err);

/* Installs a new, validated config (takes ownership).  Listener changes
 * need a restart for now; everything else applies to new connections.
 * Both this and set_material WARN when our certificate's trust domain is
 * not node.trust_domain. */
int sc_runtime_set_config(struct sc_runtime *rt, struct sc_config *cfg, struct sc_err *err);

/* Borrowed; valid until the next set_config. */
const struct sc_config *sc_runtime_config(const struct sc_runtime *rt);
/* A new reference to the current snapshot, or NULL before certificates. */
struct sc_snapshot *sc_runtime_current(struct sc_runtime *rt);
/* Borrowed; NULL before certificates. */
const struct sc_tls_material *sc_runtime_material(const struct sc_runtime *rt);

/* Why /healthz/ready is not 200 (written into buf), or NULL when ready. */
const char *sc_runtime_not_ready(struct sc_runtime *rt, time_t now, char *buf, size_t len);

/* Logs WARN for certificates expiring within the warning window and ERROR
 * for expired ones.  Called at start, on every change, and hourly. */
void sc_runtime_check_expiry(struct sc_runtime *rt, time_t now);

/* One sc_stats per worker, for the stats server (n is 0 before start). */
struct sc_stats *const *sc_runtime_stats(const struct sc_runtime *rt, size_t *n);
/* Counters that are not per worker. */
struct sc_runtime_counters {
    uint64_t secrets_accepted; /* certificate sets installed */
    uint64_t secrets_rejected; /* sets refused by validation */
};
const struct sc_runtime_counters *sc_runtime_counters(const struct sc_runtime *rt);
/* Counts a refused certificate set and remembers why, for readiness. */
void sc_runtime_count_rejected(struct sc_runtime *rt, const char *why);

/* Starts draining: every worker closes its listeners and lets its
 * connections finish (HTTP ones close after their current response);
 * readiness turns 503.  Idempotent. */
void sc_runtime_drain(struct sc_runtime *rt);
/* POST /drain_listeners: every worker closes its listeners; with graceful,
 * HTTP connections also close after their current response, as in
 * sc_runtime_drain.  Readiness turns 503; the process does not exit. */
void sc_runtime_drain_listeners(struct sc_runtime *rt, int graceful);
int sc_runtime_draining(const struct sc_runtime *rt);
/* Connections still open, over all workers. */
size_t sc_runtime_conn_count(const struct sc_runtime *rt);

/* The HTTP upstream pools' gauges, summed over workers. */
struct sc_upool_gauges;
void sc_runtime_pool_gauges(const struct sc_runtime *rt, struct sc_upool_gauges *out);

/* Stops the workers (closing their connections) and frees everything. */
void sc_runtime_free(struct sc_runtime *rt);

#endif
