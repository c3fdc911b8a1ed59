#ifndef SC_ADMIN_H
#define SC_ADMIN_H

#include <stddef.h>

struct event_base;
struct sc_stats;
struct sc_snapshot;
struct sc_admin;

/* What the admin, health and stats servers read.  The pointers are borrowed
 * and must outlive the admin object; the callbacks run on the admin's
 * event_base thread. */
struct sc_admin_env {
    struct sc_stats *const *stats;      /* one per worker */
    size_t n_stats;
    /* Returns a new reference to the running snapshot. */
    struct sc_snapshot *(*current)(void *arg);
    /* Why the proxy is not ready, or NULL when it is. */
    const char *(*not_ready)(void *arg);
    /* POST /quitquitquit: asks the process to drain and exit. */
    void (*quit)(void *arg);
    void *arg;
};

/* Starts the servers the snapshot's config asks for (admin, health,
 * stats) on base.  Returns NULL with a logged reason when an address cannot
 * be bound. */
struct sc_admin *sc_admin_new(struct event_base *base, const struct sc_admin_env *env,
                              const struct sc_snapshot *snap);
void sc_admin_free(struct sc_admin *a);

#endif
