#ifndef SC_AGENTCFG_H
#define SC_AGENTCFG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "err.h"

/* The sds-agent's YAML config (docs/sds-agent.md is the reference):
 *
 *   socket: /var/run/sidecar/sds.sock   # required
 *   socket_mode: 0600                   # octal
 *   allowed_uids: [1337, 0]             # default: the agent's own uid and 0
 *   trust_domain: cluster.local
 *   log_level: info
 *   source: files                       # or ca
 *   files: {dir: /etc/certs}
 *   ca: {dir: /etc/cacerts, namespace: foo, service_account: client,
 *        lifetime: 24h, renew_at: 0.5, jitter: 0.05, root_overlap: 24h,
 *        trust_wait: 30s}
 *   admin: {address: "127.0.0.1:15010"} # health and metrics; off when absent
 *
 * Errors are "file:line:col: key.path: message", like the sidecar's.
 * Unknown keys are errors. */

#define SC_AGENT_MAX_UIDS 64

enum sc_agent_source {
    SC_AGENT_SOURCE_FILES = 1,
    SC_AGENT_SOURCE_CA,
};

struct sc_agent_config {
    char *file; /* where it came from */
    char *socket;
    unsigned socket_mode; /* default 0600 */
    uid_t allowed_uids[SC_AGENT_MAX_UIDS];
    size_t n_allowed_uids; /* default: getuid() and 0 */
    char *trust_domain; /* default "cluster.local" */
    int log_level; /* enum sc_log_level, default SC_LOG_INFO */
    enum sc_agent_source source;
    struct {
        char *dir;
    } files;
    struct {
        char *dir;
        char *namespace_;
        char *service_account;
        int64_t lifetime_ms; /* default 24h; at least 2s */
        double renew_at; /* fraction of the lifetime, default 0.5 */
        double jitter; /* +- fraction of the lifetime, default 0.05 */
        int64_t root_overlap_ms; /* default: the lifetime */
        int64_t trust_wait_ms; /* longest wait for ACKs of old+new roots, default 30s */
        char *spiffe_id; /* spiffe://<td>/ns/<ns>/sa/<sa>, derived */
    } ca;
    struct {
        int enabled; /* 1 when admin.address is set */
        struct sc_addr addr; /* /healthz/ready, /stats/prometheus */
    } admin;
};

/* Reads and validates path (or a string named name).  Returns 0 and a new
 * config in *out (free with sc_agent_config_free), or -1 with err set. */
int sc_agent_config_load(const char *path, struct sc_agent_config **out, struct sc_err *err);
int sc_agent_config_load_string(const char *name, const char *yaml, struct sc_agent_config **out,
                                struct sc_err *err);
void sc_agent_config_free(struct sc_agent_config *c);

/* Durations: one or more <number><unit> with units ms, s, m, h, d
 * ("90s", "10m", "1h30m", "500ms").  Returns 0 and milliseconds, or -1. */
int sc_agent_parse_duration(const char *s, int64_t *out_ms);

#endif
