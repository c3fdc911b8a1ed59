#include "admin.h"

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "acceptpause.h"
#include "addr.h"
#include "adminhttp.h"
#include "certs.h"
#include "config.h"
#include "describe.h"
#include "diagnose.h"
#include "json.h"
#include "escape.h"
#include "log.h"
#include "rootstats.h"
#include "runtime.h"
#include "snapshot.h"
#include "stats.h"
#include "tlsctx.h"
#include "upool.h"

struct sc_admin {
    struct sc_admin_env env;
    struct sc_adminhttp *admin, *health, *stats;
};

static void reply(struct sc_adminhttp_reply *rep, int code, const char *type)
{
    rep->status = code;
    rep->content_type = type;
}

/* 1 for a POST; else answers 405 and returns 0. */
static int is_post(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep)
{
    if (req->method == SC_ADMINHTTP_POST) {
        return 1;
    }
    evbuffer_add_printf(rep->body, "use POST\n");
    reply(rep, 405, "text/plain");
    return 0;
}

static void on_ready(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep, void *arg)
{
    struct sc_admin *a = arg;
    char buf[768];
    const char *why = sc_runtime_not_ready(a->env.rt, time(NULL), buf, sizeof(buf));
    struct evbuffer *b = rep->body;

    (void)req;
    if (why == NULL) {
        evbuffer_add_printf(b, "LIVE\n");
        reply(rep, 200, "text/plain");
    } else {
        evbuffer_add_printf(b, "not ready: %s\n", why);
        reply(rep, 503, "text/plain");
    }
}

static void sds_state(struct sc_admin *a, struct sc_admin_sds *st)
{
    memset(st, 0, sizeof(*st));
    if (a->env.sds_state != NULL) {
        a->env.sds_state(a->env.arg, st);
    }
}

static void certs_prometheus(struct sc_admin *a, struct evbuffer *b)
{
    const struct sc_config *cfg = sc_runtime_config(a->env.rt);
    struct sc_certs_names names = {cfg->secrets.sds_cert_name, cfg->secrets.sds_root_name};
    struct sc_snapshot *snap = sc_runtime_current(a->env.rt);

    sc_certs_render_prometheus(sc_runtime_material(a->env.rt), snap, &names, time(NULL), b);
    sc_snapshot_unref(snap);
}

static void on_prometheus(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                          void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = rep->body;
    const struct sc_runtime_counters *rc = sc_runtime_counters(a->env.rt);
    struct sc_stats *const *stats;
    struct sc_admin_sds sds;
    size_t n;

    (void)req;
    stats = sc_runtime_stats(a->env.rt, &n);
    sc_stats_render_prometheus(stats, n, b);
    certs_prometheus(a, b);
    evbuffer_add_printf(b,
                        "# HELP sidecar_secrets_updates_total Certificate sets installed or "
                        "refused.\n# TYPE sidecar_secrets_updates_total counter\n"
                        "sidecar_secrets_updates_total{result=\"accepted\"} %llu\n"
                        "sidecar_secrets_updates_total{result=\"rejected\"} %llu\n",
                        (unsigned long long)rc->secrets_accepted,
                        (unsigned long long)rc->secrets_rejected);
    {
        struct sc_upool_gauges g;

        sc_runtime_pool_gauges(a->env.rt, &g);
        evbuffer_add_printf(b,
                            "# HELP sidecar_upstream_pool_connections HTTP upstream pool "
                            "connections by state.\n"
                            "# TYPE sidecar_upstream_pool_connections gauge\n"
                            "sidecar_upstream_pool_connections{state=\"active\"} %llu\n"
                            "sidecar_upstream_pool_connections{state=\"idle\"} %llu\n"
                            "sidecar_upstream_pool_connections{state=\"connecting\"} %llu\n"
                            "# TYPE sidecar_upstream_pool_pending gauge\n"
                            "sidecar_upstream_pool_pending %llu\n"
                            "# TYPE sidecar_upstream_pool_overflows_total counter\n"
                            "sidecar_upstream_pool_overflows_total %llu\n"
                            "# TYPE sidecar_upstream_pool_connections_created_total counter\n"
                            "sidecar_upstream_pool_connections_created_total %llu\n"
                            "# TYPE sidecar_upstream_pool_reuses_total counter\n"
                            "sidecar_upstream_pool_reuses_total %llu\n",
                            (unsigned long long)g.active, (unsigned long long)g.idle,
                            (unsigned long long)g.connecting, (unsigned long long)g.pending,
                            (unsigned long long)g.overflows, (unsigned long long)g.created,
                            (unsigned long long)g.reused);
    }
    sds_state(a, &sds);
    if (sds.enabled) {
        evbuffer_add_printf(b,
                            "# HELP sidecar_sds_connected 1 while the SDS stream is up.\n"
                            "# TYPE sidecar_sds_connected gauge\nsidecar_sds_connected %d\n"
                            "# TYPE sidecar_sds_pushes_total counter\n"
                            "sidecar_sds_pushes_total{result=\"accepted\"} %llu\n"
                            "sidecar_sds_pushes_total{result=\"rejected\"} %llu\n"
                            "# TYPE sidecar_sds_connects_total counter\n"
                            "sidecar_sds_connects_total %llu\n",
                            sds.connected, (unsigned long long)sds.pushes_accepted,
                            (unsigned long long)sds.pushes_rejected,
                            (unsigned long long)sds.connects);
    }
    reply(rep, 200, "text/plain; version=0.0.4");
}

/* The value of key in a query string ("" when it has no "="), URL-decoded
 * into out; NULL when the key is absent. */
static const char *query_get(const char *q, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);

    for (const char *p = q; p != NULL && *p != '\0'; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
        const char *end = strchr(p, '&');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        size_t o = 0;

        if (len < klen || strncmp(p, key, klen) != 0 || (len > klen && p[klen] != '=')) {
            continue;
        }
        /* URL-decoded: "+" is a space, %XX a byte (a bad escape is kept) */
        p += klen + (len > klen);
        len -= klen + (len > klen);
        for (size_t i = 0; i < len && o + 1 < outlen; i++) {
            if (p[i] == '+') {
                out[o++] = ' ';
            } else if (p[i] == '%' && i + 2 < len && isxdigit((unsigned char)p[i + 1]) &&
                       isxdigit((unsigned char)p[i + 2])) {
                char hex[3] = {p[i + 1], p[i + 2], '\0'};

                out[o++] = (char)strtol(hex, NULL, 16);
                i += 2;
            } else {
                out[o++] = p[i];
            }
        }
        out[o] = '\0';
        return out;
    }
    return NULL;
}

static void server_state(struct sc_admin *a, struct evbuffer *b);

/* Envoy's /stats: "name: value" lines, ?filter=REGEX (POSIX extended, on
 * the name) and ?format=json ({"stats":[{"name":…,"value":…},…]}). */
static void on_stats(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep, void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *all = evbuffer_new();
    struct sc_stats *const *stats;
    char filter[512], fmt[16], *line;
    int json =
        query_get(req->query, "format", fmt, sizeof(fmt)) != NULL && strcmp(fmt, "json") == 0;
    int use_re = query_get(req->query, "filter", filter, sizeof(filter)) != NULL;
    int first = 1;
    regex_t re;
    size_t n;

    if (all == NULL) {
        reply(rep, 500, "text/plain");
        return;
    }
    if (use_re && regcomp(&re, filter, REG_EXTENDED | REG_NOSUB) != 0) {
        evbuffer_add_printf(rep->body, "invalid regex \"%.200s\"\n", filter);
        reply(rep, 400, "text/plain");
        evbuffer_free(all);
        return;
    }
    stats = sc_runtime_stats(a->env.rt, &n);
    sc_stats_render_text(stats, n, all);
    server_state(a, all);
    if (json) {
        evbuffer_add_printf(rep->body, "{\"stats\":[");
    }
    while ((line = evbuffer_readln(all, NULL, EVBUFFER_EOL_LF)) != NULL) {
        char *sep = strstr(line, ": ");

        if (sep != NULL) {
            *sep = '\0';
            if (!use_re || regexec(&re, line, 0, NULL, 0) == 0) {
                if (json) {
                    evbuffer_add_printf(rep->body, "%s{\"name\":", first ? "" : ",");
                    sc_json_put_str(rep->body, line);
                    evbuffer_add_printf(rep->body, ",\"value\":%s}", sep + 2);
                } else {
                    evbuffer_add_printf(rep->body, "%s: %s\n", line, sep + 2);
                }
                first = 0;
            }
        }
        free(line);
    }
    if (json) {
        evbuffer_add_printf(rep->body, "]}\n");
    }
    if (use_re) {
        regfree(&re);
    }
    evbuffer_free(all);
    reply(rep, 200, json ? "application/json" : "text/plain");
}

/* POST /reset_counters: the per-worker counters to zero (gauges kept). */
static void on_reset_counters(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                              void *arg)
{
    struct sc_admin *a = arg;
    struct sc_stats *const *stats;
    size_t n;

    if (!is_post(req, rep)) {
        return;
    }
    stats = sc_runtime_stats(a->env.rt, &n);
    sc_stats_reset(stats, n);
    sc_log(SC_LOG_INFO, NULL, "admin: counters reset");
    evbuffer_add_printf(rep->body, "OK\n");
    reply(rep, 200, "text/plain");
}

/* "node":{"id":…,"trust_domain":…,"namespace":…} */
static void node_json(struct evbuffer *b, const struct sc_config *cfg)
{
    evbuffer_add_printf(b, "\"node\":{\"id\":");
    sc_json_put_str(b, cfg->node.id);
    evbuffer_add_printf(b, ",\"trust_domain\":");
    sc_json_put_str(b, cfg->node.trust_domain);
    evbuffer_add_printf(b, ",\"namespace\":");
    sc_json_put_str(b, cfg->node.namespace_);
    evbuffer_add_printf(b, "}");
}

/* "tls":"MODE","identity_check":"CHECK","transport":"tls|hbone" of an
 * outbound route or listener */
static void tls_fields(struct evbuffer *b, enum sc_tls_mode tls, enum sc_idcheck check,
                       enum sc_transport transport)
{
    evbuffer_add_printf(b, "\"tls\":\"%s\",\"identity_check\":\"%s\",\"transport\":\"%s\"",
                        sc_tls_mode_name(tls), sc_idcheck_name(check),
                        sc_transport_name(transport));
}

static void on_config_dump(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                           void *arg)
{
    struct sc_admin *a = arg;
    const struct sc_config *cfg = sc_runtime_config(a->env.rt);
    struct evbuffer *b = rep->body;
    char as[SC_ADDR_STRLEN];

    (void)req;
    evbuffer_add_printf(b, "{");
    node_json(b, cfg);
    evbuffer_add_printf(b, ",\"workers\":%d,\"listeners\":[", cfg->workers);
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct sc_cfg_listener *l = &cfg->listeners[i];
        evbuffer_add_printf(b, "%s{\"name\":", i > 0 ? "," : "");
        sc_json_put_str(b, l->name);
        evbuffer_add_printf(b, ",\"direction\":\"%s\",\"address\":",
                            l->direction == SC_DIR_INBOUND ? "inbound" : "outbound");
        sc_json_put_str(b, sc_addr_str(&l->address, as, sizeof(as)));
        evbuffer_add_printf(b, ",\"upstream\":");
        sc_json_put_str(b, sc_addr_str(&l->upstream, as, sizeof(as)));
        if (l->direction == SC_DIR_INBOUND) {
            evbuffer_add_printf(b, ",\"port\":%d,\"mode\":\"%s\",\"transport\":\"%s\"", l->port,
                                sc_mtls_mode_name(sc_config_port_mode(cfg, l->port)),
                                sc_transport_name(l->transport));
        } else {
            evbuffer_add_printf(b, ",");
            tls_fields(b, l->tls, sc_config_listener_idcheck(l), l->transport);
            if (l->transport == SC_TRANSPORT_HBONE) {
                evbuffer_add_printf(b, ",\"hbone_port\":%d",
                                    l->hbone_port > 0 ? l->hbone_port : cfg->hbone.port);
            }
        }
        evbuffer_add_printf(b, ",\"protocol\":\"%s\"}", sc_proto_name(l->protocol));
    }
    evbuffer_add_printf(b, "]");
    if (cfg->has_inbound) {
        evbuffer_add_printf(b, ",\"inbound\":{\"address\":");
        sc_json_put_str(b, sc_addr_str(&cfg->inbound.address, as, sizeof(as)));
        evbuffer_add_printf(b, ",\"hbone_address\":");
        if (cfg->inbound.has_hbone) {
            sc_json_put_str(b, sc_addr_str(&cfg->inbound.hbone_address, as, sizeof(as)));
        } else {
            evbuffer_add_printf(b, "null");
        }
        evbuffer_add_printf(b, ",\"ports\":[");
        for (size_t i = 0; i < cfg->inbound.n_ports; i++) {
            int p = cfg->inbound.ports[i].port;
            evbuffer_add_printf(b, "%s{\"port\":%d,\"mode\":\"%s\"}", i > 0 ? "," : "", p,
                                sc_mtls_mode_name(sc_config_port_mode(cfg, p)));
        }
        evbuffer_add_printf(b, "]}");
    }
    if (cfg->has_outbound) {
        evbuffer_add_printf(b, ",\"outbound\":{\"address\":");
        sc_json_put_str(b, sc_addr_str(&cfg->outbound.address, as, sizeof(as)));
        evbuffer_add_printf(b, ",\"routes\":[");
        for (size_t i = 0; i < cfg->outbound.n_routes; i++) {
            const struct sc_cfg_route *r = &cfg->outbound.routes[i];
            evbuffer_add_printf(b, "%s{\"host\":", i > 0 ? "," : "");
            sc_json_put_str(b, r->host);
            evbuffer_add_printf(b, ",\"port\":%d,", r->port);
            tls_fields(b, r->tls, sc_config_route_idcheck(r), r->transport);
            if (r->transport == SC_TRANSPORT_HBONE) {
                evbuffer_add_printf(b, ",\"hbone_port\":%d",
                                    r->hbone_port > 0 ? r->hbone_port : cfg->hbone.port);
            }
            evbuffer_add_printf(b, "}");
        }
        evbuffer_add_printf(b, "],\"default\":{");
        tls_fields(b, cfg->outbound.def.tls, sc_config_route_idcheck(&cfg->outbound.def),
                   cfg->outbound.def.transport);
        evbuffer_add_printf(b, "},\"default_transport\":\"%s\"}",
                            sc_transport_name(cfg->outbound.default_transport));
    }
    evbuffer_add_printf(b,
                        ",\"hbone\":{\"port\":%d,\"max_streams_per_connection\":%d,"
                        "\"idle_ms\":%d}",
                        cfg->hbone.port, cfg->hbone.max_streams_per_connection, cfg->hbone.idle_ms);
    evbuffer_add_printf(b, "}\n");
    reply(rep, 200, "application/json");
}

static void on_describe(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                        void *arg)
{
    struct sc_admin *a = arg;
    struct sc_stats *const *stats;
    size_t n;

    (void)req;
    stats = sc_runtime_stats(a->env.rt, &n);
    sc_describe_render(sc_runtime_config(a->env.rt), stats, n, time(NULL), rep->body);
    reply(rep, 200, "application/json");
}

static void on_certs(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep, void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = rep->body;
    const char *q = req->query;
    const struct sc_config *cfg = sc_runtime_config(a->env.rt);
    struct sc_certs_names names = {cfg->secrets.sds_cert_name, cfg->secrets.sds_root_name};
    struct sc_snapshot *snap = sc_runtime_current(a->env.rt);

    if (q != NULL && strstr(q, "format=table") != NULL) {
        sc_certs_render_table(sc_runtime_material(a->env.rt), snap, &names, time(NULL), b);
        reply(rep, 200, "text/plain");
    } else if (q != NULL && strstr(q, "format=list") != NULL) {
        sc_certs_render_list(sc_runtime_material(a->env.rt), &names, time(NULL), b);
        reply(rep, 200, "application/json");
    } else {
        sc_certs_render_json(sc_runtime_material(a->env.rt), snap, time(NULL), b);
        reply(rep, 200, "application/json");
    }
    sc_snapshot_unref(snap);
}

/* GET /certs/roots[?window=24h] */
static void on_certs_roots(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                           void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = rep->body;
    struct sc_stats *const *stats;
    struct sc_rootstats **seen = NULL;
    char wbuf[128];
    const char *want =
        req->query != NULL ? query_get(req->query, "window", wbuf, sizeof(wbuf)) : NULL;
    long window = 24 * 3600;
    char why[160];
    size_t n;

    if (want != NULL && sc_rootstats_parse_window(want, &window, why, sizeof(why)) != 0) {
        evbuffer_add_printf(b, "{\"error\":\"");
        for (const char *p = why; *p != '\0'; p++) {
            /* the value is echoed: keep the JSON well-formed */
            if (*p == '"' || *p == '\\') {
                evbuffer_add(b, "\\", 1);
            }
            evbuffer_add(b, (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f ? "?" : p, 1);
        }
        evbuffer_add_printf(b, "\"}\n");
        reply(rep, 400, "application/json");
        return;
    }
    stats = sc_runtime_stats(a->env.rt, &n);
    if (n > 0) {
        seen = calloc(n, sizeof(*seen));
        if (seen == NULL) {
            reply(rep, 503, "text/plain");
            return;
        }
        for (size_t i = 0; i < n; i++) {
            seen[i] = sc_stats_rootstats(stats[i]);
        }
    }
    sc_certs_render_roots(sc_runtime_material(a->env.rt), seen, n, time(NULL), window, b);
    free(seen);
    reply(rep, 200, "application/json");
}

static void on_quit(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep, void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = rep->body;

    if (!is_post(req, rep)) {
        return;
    }
    evbuffer_add_printf(b, "OK\n");
    reply(rep, 200, "text/plain");
    a->env.quit(a->env.arg);
}

/* Envoy's /logging: GET shows the level, POST /logging?level=debug sets
 * it (one logger here: the whole process).  The workers read the level
 * atomically, so the change applies to the next line anywhere. */
static void on_logging(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                       void *arg)
{
    const char *q = req->query;
    struct evbuffer *b = rep->body;
    char lbuf[64];
    const char *want = q != NULL ? query_get(q, "level", lbuf, sizeof(lbuf)) : NULL;
    enum sc_log_level lvl;
    int code = 200;

    (void)arg;
    if (want != NULL && req->method != SC_ADMINHTTP_POST) {
        evbuffer_add_printf(b, "use POST to change the level\n");
        code = 405;
    } else if (want != NULL && sc_log_parse_level(want, &lvl) != 0) {
        evbuffer_add_printf(b, "unknown level \"%.40s\" (debug, info, warn, error)\n", want);
        code = 400;
    } else {
        if (want != NULL) {
            sc_log_set_level(lvl);
            sc_log(SC_LOG_INFO, NULL, "admin: log level set to %s", sc_log_level_name(lvl));
        }
        evbuffer_add_printf(b, "active loggers:\n  sidecar: %s\n",
                            sc_log_level_name(sc_log_get_level()));
    }
    reply(rep, code, "text/plain");
}

static void on_reload(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep, void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = rep->body;
    char msg[1024] = "";

    if (!is_post(req, rep)) {
        return;
    }
    if (a->env.reload(a->env.arg, msg, sizeof(msg)) != 0) {
        evbuffer_add_printf(b, "reload failed, running config kept: %s\n", msg);
        reply(rep, 400, "text/plain");
    } else {
        evbuffer_add_printf(b, "OK\n");
        reply(rep, 200, "text/plain");
    }
}

/* POST /diagnose {"address":"HOST:PORT","sni":...,"identity":...}: one
 * mTLS handshake to that peer with our own certificate (proxy/control/diagnose.h);
 * blocks the admin loop for at most SC_ADMIN_DIAGNOSE_MS. */
#define SC_ADMIN_DIAGNOSE_MS 5000

static void on_diagnose(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                        void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = rep->body;
    struct sc_json *doc = NULL;
    const struct sc_json_val *root;
    struct sc_snapshot *snap = NULL;
    struct sc_diagnose_req dr = {NULL, NULL, NULL, SC_ADMIN_DIAGNOSE_MS};
    char why[256];

    if (req->method != SC_ADMINHTTP_POST) {
        evbuffer_add_printf(b, "{\"error\":\"use POST\"}\n");
        reply(rep, 405, "application/json");
        return;
    }
    doc = sc_json_parse(req->body, req->body_len, why, sizeof(why));
    root = sc_json_root(doc);
    if (sc_json_type(root) != SC_JSON_OBJ) {
        evbuffer_add_printf(b, "{\"error\":");
        sc_json_put_str(b, doc == NULL ? why : "the body must be a JSON object");
        evbuffer_add_printf(b, "}\n");
        reply(rep, 400, "application/json");
        goto done;
    }
    dr.address = sc_json_str(sc_json_get(root, "address"), NULL);
    dr.sni = sc_json_str(sc_json_get(root, "sni"), NULL);
    dr.identity = sc_json_str(sc_json_get(root, "identity"), NULL);
    snap = sc_runtime_current(a->env.rt);
    if (snap == NULL) {
        evbuffer_add_printf(b, "{\"error\":\"no certificates yet\"}\n");
        reply(rep, 503, "application/json");
        goto done;
    }
    if (sc_diagnose_run(snap, &dr, b, why, sizeof(why)) != 0) {
        evbuffer_add_printf(b, "{\"error\":");
        sc_json_put_str(b, why);
        evbuffer_add_printf(b, "}\n");
        reply(rep, 400, "application/json");
        goto done;
    }
    reply(rep, 200, "application/json");

done:
    sc_snapshot_unref(snap);
    sc_json_free(doc);
}

/* One server with the default limits, listening on addr. */
static struct sc_adminhttp *serve(struct event_base *base, const char *what,
                                  const struct sc_addr *addr)
{
    struct sc_adminhttp *h = sc_adminhttp_new(base, what, NULL);

    if (h == NULL || sc_adminhttp_listen(h, addr) != 0) {
        sc_adminhttp_free(h);
        return NULL;
    }
    return h;
}

/* Envoy's server states, with its server.state gauge values. */
enum state { ST_LIVE = 0, ST_DRAINING, ST_PRE_INITIALIZING, ST_INITIALIZING };
static const char *const state_names[] = {"LIVE", "DRAINING", "PRE_INITIALIZING", "INITIALIZING"};

/* PRE_INITIALIZING is never seen: the admin server opens once the config
 * is loaded.  INITIALIZING: waiting for certificates, listeners not up. */
static enum state state_of(struct sc_admin *a)
{
    size_t n;

    if (sc_runtime_draining(a->env.rt)) {
        return ST_DRAINING;
    }
    sc_runtime_stats(a->env.rt, &n);
    return n == 0 ? ST_INITIALIZING : ST_LIVE;
}

static long uptime(const struct sc_admin *a)
{
    time_t now = time(NULL);

    return now > a->env.info->started ? (long)(now - a->env.info->started) : 0;
}

/* The server.* lines of /stats. */
static void server_state(struct sc_admin *a, struct evbuffer *b)
{
    long days = sc_certs_days_until_first_expiring(sc_runtime_material(a->env.rt), time(NULL));

    evbuffer_add_printf(b, "server.state: %d\nserver.uptime: %ld\n", (int)state_of(a), uptime(a));
    if (days >= 0) {
        evbuffer_add_printf(b, "server.days_until_first_cert_expiring: %ld\n", days);
    }
}

/* Envoy's /server_info, with the versions of what we are built on. */
static void on_server_info(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                           void *arg)
{
    struct sc_admin *a = arg;
    const struct sc_admin_info *in = a->env.info;
    const struct sc_config *cfg = sc_runtime_config(a->env.rt);
    struct evbuffer *b = rep->body;

    (void)req;
    evbuffer_add_printf(b, "{\"version\":");
    sc_json_put_str(b, in->version);
    evbuffer_add_printf(b,
                        ",\"state\":\"%s\",\"uptime_current_epoch\":\"%lds\","
                        "\"uptime_all_epochs\":\"%lds\",\"command_line_options\":"
                        "{\"config_path\":",
                        state_names[state_of(a)], uptime(a), uptime(a));
    sc_json_put_str(b, in->config_path);
    evbuffer_add_printf(b, ",\"log_level\":");
    sc_json_put_str(b,
                    in->log_level != NULL ? in->log_level : sc_log_level_name(sc_log_get_level()));
    evbuffer_add_printf(b, "},\"openssl_version\":");
    sc_json_put_str(b, OpenSSL_version(OPENSSL_VERSION));
    evbuffer_add_printf(b, ",\"libevent_version\":");
    sc_json_put_str(b, event_get_version());
    evbuffer_add_printf(b, ",");
    node_json(b, cfg);
    evbuffer_add_printf(b, "}\n");
    reply(rep, 200, "application/json");
}

/* POST /drain_listeners[?graceful]: as Envoy, stop accepting and keep
 * running. */
static void on_drain_listeners(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                               void *arg)
{
    struct sc_admin *a = arg;
    char v[8];

    if (!is_post(req, rep)) {
        return;
    }
    a->env.drain_listeners(a->env.arg, query_get(req->query, "graceful", v, sizeof(v)) != NULL);
    evbuffer_add_printf(rep->body, "OK\n");
    reply(rep, 200, "text/plain");
}

static void on_help(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep, void *arg);

/* The admin endpoints; those that take POST accept a (small, ignored) body. */
static const struct {
    const char *path;
    sc_adminhttp_fn *fn;
    unsigned flags;
    const char *help;
} admin_routes[] = {
    {"/", on_help, 0, "print out the list of admin endpoints"},
    {"/help", on_help, 0, "print out the list of admin endpoints"},
    {"/server_info", on_server_info, 0,
     "version, state (LIVE, DRAINING, INITIALIZING), uptime, options, node (JSON)"},
    {"/stats", on_stats, 0,
     "counters and gauges as name: value lines; ?filter=REGEX, ?format=json"},
    {"/stats/prometheus", on_prometheus, 0, "every metric in Prometheus text format"},
    {"/reset_counters", on_reset_counters, SC_ADMINHTTP_TAKES_BODY,
     "POST: reset every counter to zero (gauges are kept)"},
    {"/ready", on_ready, 0, "readiness: LIVE (200) or why not (503)"},
    {"/healthz/ready", on_ready, 0, "readiness, as the health server answers it"},
    {"/config_dump", on_config_dump, 0, "the running configuration, resolved (JSON)"},
    {"/certs", on_certs, 0, "certificates in use (JSON; ?format=table for istioctl's columns)"},
    {"/certs/roots", on_certs_roots, 0,
     "per trusted root: peers that chained to it, last seen, safe_to_remove (?window=24h)"},
    {"/describe", on_describe, 0,
     "per inbound port the mode and the document that decided it; per route the identity check (JSON)"},
    {"/diagnose", on_diagnose, SC_ADMINHTTP_TAKES_BODY | SC_ADMINHTTP_KEEPS_BODY,
     "POST {\"address\":\"HOST:PORT\",\"sni\":…,\"identity\":…}: one mTLS handshake to that peer, explained (JSON)"},
    {"/logging", on_logging, SC_ADMINHTTP_TAKES_BODY,
     "the log level; POST ?level=debug|info|warn|error sets it"},
    {"/reload", on_reload, SC_ADMINHTTP_TAKES_BODY,
     "POST: re-read the configuration file (as SIGHUP)"},
    {"/drain_listeners", on_drain_listeners, SC_ADMINHTTP_TAKES_BODY,
     "POST: stop accepting on the data listeners and keep running; ?graceful also "
     "closes HTTP connections after their current response"},
    {"/drain", on_quit, SC_ADMINHTTP_TAKES_BODY,
     "POST: drain (as SIGTERM): stop accepting, let connections finish, then exit"},
    {"/quitquitquit", on_quit, SC_ADMINHTTP_TAKES_BODY, "POST: drain, then exit (as /drain)"},
};

#define N_ADMIN_ROUTES (sizeof(admin_routes) / sizeof(admin_routes[0]))

static void on_help(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep, void *arg)
{
    (void)req;
    (void)arg;
    evbuffer_add_printf(rep->body, "admin commands are:\n");
    for (size_t i = 0; i < N_ADMIN_ROUTES; i++) {
        evbuffer_add_printf(rep->body, "  %s: %s\n", admin_routes[i].path, admin_routes[i].help);
    }
    reply(rep, 200, "text/plain");
}

struct sc_admin *sc_admin_new(struct event_base *base, const struct sc_admin_env *env)
{
    const struct sc_config *cfg = sc_runtime_config(env->rt);
    struct sc_admin *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        return NULL;
    }
    a->env = *env;
    if (cfg->has_admin) {
        a->admin = serve(base, "admin", &cfg->admin);
        if (a->admin == NULL) {
            goto fail;
        }
        for (size_t i = 0; i < N_ADMIN_ROUTES; i++) {
            if (sc_adminhttp_route(a->admin, admin_routes[i].path, admin_routes[i].flags,
                                   admin_routes[i].fn, a) != 0) {
                goto fail;
            }
        }
        /* for pods that want no TCP admin port at all */
        if (cfg->admin_unix != NULL && sc_adminhttp_listen_unix(a->admin, cfg->admin_unix) != 0) {
            goto fail;
        }
    }
    if (cfg->has_health) {
        a->health = serve(base, "health", &cfg->health);
        if (a->health == NULL ||
            sc_adminhttp_route(a->health, "/healthz/ready", 0, on_ready, a) != 0) {
            goto fail;
        }
    }
    if (cfg->has_stats) {
        a->stats = serve(base, "stats", &cfg->stats);
        if (a->stats == NULL ||
            sc_adminhttp_route(a->stats, "/stats/prometheus", 0, on_prometheus, a) != 0) {
            goto fail;
        }
    }
    return a;

fail:
    sc_admin_free(a);
    return NULL;
}

void sc_admin_free(struct sc_admin *a)
{
    if (a == NULL) {
        return;
    }
    sc_adminhttp_free(a->admin);
    sc_adminhttp_free(a->health);
    sc_adminhttp_free(a->stats);
    free(a);
}
