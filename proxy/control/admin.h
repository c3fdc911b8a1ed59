#ifndef SC_ADMIN_H
#define SC_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct sc_runtime;
struct sc_admin;

/* Extra state the admin reports that lives outside the runtime (the SDS
 * client's).  Optional. */
struct sc_admin_sds {
    int enabled;
    int connected;
    uint64_t pushes_accepted;
    uint64_t pushes_rejected;
    uint64_t connects;
    char version[64]; /* last accepted version_info */
};

/* What /server_info reports about the process (borrowed strings). */
struct sc_admin_info {
    const char *version;
    const char *config_path; /* -c */
    const char *log_level; /* -l, or NULL */
    time_t started; /* wall clock at start */
};

struct sc_admin_env {
    struct sc_runtime *rt; /* borrowed; outlives the admin */
    const struct sc_admin_info *info; /* borrowed; outlives the admin */
    /* POST /drain and /quitquitquit: drain, then exit. */
    void (*quit)(void *arg);
    /* POST /drain_listeners[?graceful]: stop accepting; graceful also has
     * HTTP connections close after their current response.  No exit. */
    void (*drain_listeners)(void *arg, int graceful);
    /* POST /reload: re-read the config; 0, or -1 with why in msg. */
    int (*reload)(void *arg, char *msg, size_t msglen);
    /* Fills the SDS state (may be NULL). */
    void (*sds_state)(void *arg, struct sc_admin_sds *out);
    void *arg;
};

/* Starts the servers the config asks for (admin, health, stats) on base.
 * Returns NULL with a logged reason when an address cannot be bound. */
struct sc_admin *sc_admin_new(struct event_base *base, const struct sc_admin_env *env);
void sc_admin_free(struct sc_admin *a);

#endif
