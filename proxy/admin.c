#include "admin.h"

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "addr.h"
#include "adminhttp.h"
#include "certs.h"
#include "config.h"
#include "escape.h"
#include "log.h"
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

static void on_ready(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                     void *arg)
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
    sc_certs_render_prometheus(sc_runtime_material(a->env.rt), b);
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

static void on_stats(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                     void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = rep->body;
    struct sc_stats *const *stats;
    size_t n;

    (void)req;
    stats = sc_runtime_stats(a->env.rt, &n);
    sc_stats_render_text(stats, n, b);
    reply(rep, 200, "text/plain");
}

/* A JSON string (null for NULL), by sc_escape_json. */
static void json_str(struct evbuffer *b, const char *s)
{
    if (s == NULL) {
        evbuffer_add(b, "null", 4);
        return;
    }
    evbuffer_add(b, "\"", 1);
    sc_escape_evbuffer(b, sc_escape_json, s, strlen(s));
    evbuffer_add(b, "\"", 1);
}

/* "tls":"MODE","identity_check":"CHECK" of an outbound route or listener */
static void tls_fields(struct evbuffer *b, enum sc_tls_mode tls, enum sc_idcheck check)
{
    evbuffer_add_printf(b, "\"tls\":\"%s\",\"identity_check\":\"%s\"", sc_tls_mode_name(tls),
                        sc_idcheck_name(check));
}

static void on_config_dump(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                           void *arg)
{
    struct sc_admin *a = arg;
    const struct sc_config *cfg = sc_runtime_config(a->env.rt);
    struct evbuffer *b = rep->body;
    char as[SC_ADDR_STRLEN];

    (void)req;
    evbuffer_add_printf(b, "{\"node\":{\"id\":");
    json_str(b, cfg->node.id);
    evbuffer_add_printf(b, ",\"trust_domain\":");
    json_str(b, cfg->node.trust_domain);
    evbuffer_add_printf(b, ",\"namespace\":");
    json_str(b, cfg->node.namespace_);
    evbuffer_add_printf(b, "},\"workers\":%d,\"listeners\":[", cfg->workers);
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct sc_cfg_listener *l = &cfg->listeners[i];
        evbuffer_add_printf(b, "%s{\"name\":", i > 0 ? "," : "");
        json_str(b, l->name);
        evbuffer_add_printf(b, ",\"direction\":\"%s\",\"address\":",
                            l->direction == SC_DIR_INBOUND ? "inbound" : "outbound");
        json_str(b, sc_addr_str(&l->address, as, sizeof(as)));
        evbuffer_add_printf(b, ",\"upstream\":");
        json_str(b, sc_addr_str(&l->upstream, as, sizeof(as)));
        if (l->direction == SC_DIR_INBOUND) {
            evbuffer_add_printf(b, ",\"port\":%d,\"mode\":\"%s\"", l->port,
                                sc_mtls_mode_name(sc_config_port_mode(cfg, l->port)));
        } else {
            evbuffer_add_printf(b, ",");
            tls_fields(b, l->tls, sc_config_listener_idcheck(l));
        }
        evbuffer_add_printf(b, ",\"protocol\":\"%s\"}", sc_proto_name(l->protocol));
    }
    evbuffer_add_printf(b, "]");
    if (cfg->has_inbound) {
        evbuffer_add_printf(b, ",\"inbound\":{\"address\":");
        json_str(b, sc_addr_str(&cfg->inbound.address, as, sizeof(as)));
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
        json_str(b, sc_addr_str(&cfg->outbound.address, as, sizeof(as)));
        evbuffer_add_printf(b, ",\"routes\":[");
        for (size_t i = 0; i < cfg->outbound.n_routes; i++) {
            const struct sc_cfg_route *r = &cfg->outbound.routes[i];
            evbuffer_add_printf(b, "%s{\"host\":", i > 0 ? "," : "");
            json_str(b, r->host);
            evbuffer_add_printf(b, ",\"port\":%d,", r->port);
            tls_fields(b, r->tls, sc_config_route_idcheck(r));
            evbuffer_add_printf(b, "}");
        }
        evbuffer_add_printf(b, "],\"default\":{");
        tls_fields(b, cfg->outbound.def.tls, sc_config_route_idcheck(&cfg->outbound.def));
        evbuffer_add_printf(b, "}}");
    }
    evbuffer_add_printf(b, "}\n");
    reply(rep, 200, "application/json");
}

static void on_certs(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                     void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = rep->body;
    const char *q = req->query;
    const struct sc_config *cfg = sc_runtime_config(a->env.rt);
    struct sc_certs_names names = {cfg->secrets.sds_cert_name, cfg->secrets.sds_root_name};

    if (q != NULL && strstr(q, "format=table") != NULL) {
        sc_certs_render_table(sc_runtime_material(a->env.rt), &names, time(NULL), b);
        reply(rep, 200, "text/plain");
    } else {
        sc_certs_render_json(sc_runtime_material(a->env.rt), time(NULL), b);
        reply(rep, 200, "application/json");
    }
}

static void on_quit(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                    void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = rep->body;

    if (req->method != SC_ADMINHTTP_POST) {
        evbuffer_add_printf(b, "use POST\n");
        reply(rep, 405, "text/plain");
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
    struct evkeyvalq params;
    const char *want = NULL;
    enum sc_log_level lvl;
    int code = 200;

    (void)arg;
    TAILQ_INIT(&params);
    if (q != NULL && evhttp_parse_query_str(q, &params) == 0) {
        want = evhttp_find_header(&params, "level");
    }
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
    evhttp_clear_headers(&params);
    reply(rep, code, "text/plain");
}

static void on_reload(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                      void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = rep->body;
    char msg[1024] = "";

    if (req->method != SC_ADMINHTTP_POST) {
        evbuffer_add_printf(b, "use POST\n");
        reply(rep, 405, "text/plain");
    } else if (a->env.reload(a->env.arg, msg, sizeof(msg)) != 0) {
        evbuffer_add_printf(b, "reload failed, running config kept: %s\n", msg);
        reply(rep, 400, "text/plain");
    } else {
        evbuffer_add_printf(b, "OK\n");
        reply(rep, 200, "text/plain");
    }
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

/* The admin endpoints; those that take POST accept a (small, ignored) body. */
static const struct {
    const char *path;
    sc_adminhttp_fn *fn;
    unsigned flags;
} admin_routes[] = {
    {"/stats", on_stats, 0},
    {"/stats/prometheus", on_prometheus, 0},
    {"/ready", on_ready, 0},
    {"/healthz/ready", on_ready, 0},
    {"/config_dump", on_config_dump, 0},
    {"/certs", on_certs, 0},
    {"/quitquitquit", on_quit, SC_ADMINHTTP_TAKES_BODY},
    {"/drain", on_quit, SC_ADMINHTTP_TAKES_BODY},
    {"/reload", on_reload, SC_ADMINHTTP_TAKES_BODY},
    {"/logging", on_logging, SC_ADMINHTTP_TAKES_BODY},
};

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
        for (size_t i = 0; i < sizeof(admin_routes) / sizeof(admin_routes[0]); i++) {
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
