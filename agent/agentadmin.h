#ifndef SC_AGENTADMIN_H
#define SC_AGENTADMIN_H

#include <time.h>

#include "err.h"

/* The sds-agent's admin listener (config key `admin: {address: ...}`,
 * docs/sds-agent.md "Admin listener"), served by proxy/adminhttp (bounded
 * heads and bodies, read timeout, connection cap):
 *
 *   GET /healthz/ready      200 "LIVE" when the source can serve (a CA
 *                           loaded and valid with a minted certificate, or
 *                           a valid files set); 503 "not ready: <reason>"
 *   GET /stats/prometheus   the sds_agent_* metrics (Prometheus text format)
 *
 * Everything is read from the server and the source at request time; the
 * admin module keeps no counters of its own. */

struct event_base;
struct evbuffer;
struct sc_addr;
struct sc_ca_src;
struct sc_files_src;
struct sc_sdsserver;
struct sc_agentadmin;

/* What the endpoints read.  All borrowed: they must outlive the admin
 * server.  Exactly one of files and casrc is set. */
struct sc_agentadmin_env {
    struct sc_sdsserver *srv;
    struct sc_files_src *files;
    struct sc_ca_src *casrc;
};

/* Listens on addr and serves the endpoints on base (borrowed).  env is
 * copied.  Returns the server, or NULL with err (the address cannot be
 * bound: the reason is also logged). */
struct sc_agentadmin *sc_agentadmin_new(struct event_base *base, const struct sc_addr *addr,
                                        const struct sc_agentadmin_env *env, struct sc_err *err);

/* Closes the listener and its connections.  Accepts NULL. */
void sc_agentadmin_free(struct sc_agentadmin *a);

/* NULL when the agent can serve at now; else the reason, written into buf
 * (returned).  What /healthz/ready answers. */
const char *sc_agentadmin_not_ready(const struct sc_agentadmin_env *env, time_t now, char *buf,
                                    size_t len);

/* Appends the Prometheus text of /stats/prometheus to out. */
void sc_agentadmin_render_prometheus(const struct sc_agentadmin_env *env, time_t now,
                                     struct evbuffer *out);

#endif
