#include "admin.h"

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <time.h>
#include <string.h>

#include "acceptpause.h"
#include "addr.h"
#include "certs.h"
#include "config.h"
#include "log.h"
#include "runtime.h"
#include "snapshot.h"
#include "stats.h"
#include "tlsctx.h"
#include "upool.h"

struct sc_admin {
    struct sc_admin_env env;
    struct evhttp *admin, *health, *stats;
    char *unix_path;                /* unlinked at free */
};

static void reply(struct evhttp_request *req, int code, const char *type, struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_send_reply(req, code, code == 200 ? "OK" : code == 503 ? "Service Unavailable"
                                 : code == 404 ? "Not Found" : "Error", body);
}

static void on_ready(struct evhttp_request *req, void *arg)
{
    struct sc_admin *a = arg;
    char buf[768];
    const char *why = sc_runtime_not_ready(a->env.rt, time(NULL), buf, sizeof(buf));
    struct evbuffer *b = evbuffer_new();

    if (b == NULL) {
        return;
    }
    if (why == NULL) {
        evbuffer_add_printf(b, "LIVE\n");
        reply(req, 200, "text/plain", b);
    } else {
        evbuffer_add_printf(b, "not ready: %s\n", why);
        reply(req, 503, "text/plain", b);
    }
    evbuffer_free(b);
}

static void sds_state(struct sc_admin *a, struct sc_admin_sds *st)
{
    memset(st, 0, sizeof(*st));
    if (a->env.sds_state != NULL) {
        a->env.sds_state(a->env.arg, st);
    }
}

static void on_prometheus(struct evhttp_request *req, void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = evbuffer_new();
    const struct sc_runtime_counters *rc = sc_runtime_counters(a->env.rt);
    struct sc_stats *const *stats;
    struct sc_admin_sds sds;
    size_t n;

    if (b == NULL) {
        return;
    }
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
    reply(req, 200, "text/plain; version=0.0.4", b);
    evbuffer_free(b);
}

static void on_stats(struct evhttp_request *req, void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = evbuffer_new();
    struct sc_stats *const *stats;
    size_t n;

    if (b == NULL) {
        return;
    }
    stats = sc_runtime_stats(a->env.rt, &n);
    sc_stats_render_text(stats, n, b);
    reply(req, 200, "text/plain", b);
    evbuffer_free(b);
}

static void json_str(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, "\"", 1);
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            evbuffer_add_printf(b, "\\%c", ch);
        } else if (ch < 0x20) {
            evbuffer_add_printf(b, "\\u%04x", ch);
        } else {
            evbuffer_add(b, s, 1);
        }
    }
    evbuffer_add(b, "\"", 1);
}

static void on_config_dump(struct evhttp_request *req, void *arg)
{
    struct sc_admin *a = arg;
    const struct sc_config *cfg = sc_runtime_config(a->env.rt);
    struct evbuffer *b = evbuffer_new();
    char as[SC_ADDR_STRLEN];

    if (b == NULL) {
        return;
    }
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
            evbuffer_add_printf(b, ",\"tls\":\"%s\"", sc_tls_mode_name(l->tls));
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
            evbuffer_add_printf(b, ",\"port\":%d,\"tls\":\"%s\"}", r->port,
                                sc_tls_mode_name(r->tls));
        }
        evbuffer_add_printf(b, "],\"default\":{\"tls\":\"%s\"}}",
                            sc_tls_mode_name(cfg->outbound.def.tls));
    }
    evbuffer_add_printf(b, "}\n");
    reply(req, 200, "application/json", b);
    evbuffer_free(b);
}

static void on_certs(struct evhttp_request *req, void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = evbuffer_new();
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    const struct sc_config *cfg = sc_runtime_config(a->env.rt);
    struct sc_certs_names names = {cfg->secrets.sds_cert_name, cfg->secrets.sds_root_name};

    if (b == NULL) {
        return;
    }
    if (q != NULL && strstr(q, "format=table") != NULL) {
        sc_certs_render_table(sc_runtime_material(a->env.rt), &names, time(NULL), b);
        reply(req, 200, "text/plain", b);
    } else {
        sc_certs_render_json(sc_runtime_material(a->env.rt), time(NULL), b);
        reply(req, 200, "application/json", b);
    }
    evbuffer_free(b);
}

static void on_quit(struct evhttp_request *req, void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = evbuffer_new();

    if (b == NULL) {
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evbuffer_add_printf(b, "use POST\n");
        reply(req, 405, "text/plain", b);
        evbuffer_free(b);
        return;
    }
    evbuffer_add_printf(b, "OK\n");
    reply(req, 200, "text/plain", b);
    evbuffer_free(b);
    a->env.quit(a->env.arg);
}

/* Envoy's /logging: GET shows the level, POST /logging?level=debug sets
 * it (one logger here: the whole process).  The workers read the level
 * atomically, so the change applies to the next line anywhere. */
static void on_logging(struct evhttp_request *req, void *arg)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evbuffer *b = evbuffer_new();
    struct evkeyvalq params;
    const char *want = NULL;
    enum sc_log_level lvl;
    int code = 200;

    (void)arg;
    if (b == NULL) {
        return;
    }
    TAILQ_INIT(&params);
    if (q != NULL && evhttp_parse_query_str(q, &params) == 0) {
        want = evhttp_find_header(&params, "level");
    }
    if (want != NULL && evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
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
    reply(req, code, "text/plain", b);
    evbuffer_free(b);
}

static void on_reload(struct evhttp_request *req, void *arg)
{
    struct sc_admin *a = arg;
    struct evbuffer *b = evbuffer_new();
    char msg[1024] = "";

    if (b == NULL) {
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evbuffer_add_printf(b, "use POST\n");
        reply(req, 405, "text/plain", b);
    } else if (a->env.reload(a->env.arg, msg, sizeof(msg)) != 0) {
        evbuffer_add_printf(b, "reload failed, running config kept: %s\n", msg);
        reply(req, 400, "text/plain", b);
    } else {
        evbuffer_add_printf(b, "OK\n");
        reply(req, 200, "text/plain", b);
    }
    evbuffer_free(b);
}

/* Without an error callback libevent logs a failed accept() and retries at
 * once, spinning the main thread while descriptors run out.  evhttp owns
 * its listeners' callback argument, so each pauses on its own, with no
 * state of ours (sc_acceptpause_listener). */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)arg;                          /* the evhttp */
    sc_acceptpause_listener(lev, "admin server", EVUTIL_SOCKET_ERROR());
}

static int watch(struct evhttp_bound_socket *bound)
{
    struct evconnlistener *lev = bound != NULL ? evhttp_bound_socket_get_listener(bound) : NULL;

    if (lev == NULL) {
        return -1;
    }
    evconnlistener_set_error_cb(lev, on_accept_error);
    return 0;
}

static struct evhttp *serve(struct event_base *base, const char *what, const struct sc_addr *addr)
{
    struct evhttp *h = evhttp_new(base);
    char host[SC_ADDR_STRLEN], as[SC_ADDR_STRLEN];
    const char *p;
    size_t hl;

    if (h == NULL) {
        return NULL;
    }
    sc_addr_str(addr, as, sizeof(as));
    /* evhttp_bind_socket takes host and port separately. */
    p = strrchr(as, ':');
    hl = (size_t)(p - as);
    if (as[0] == '[') {
        memcpy(host, as + 1, hl - 2);
        host[hl - 2] = '\0';
    } else {
        memcpy(host, as, hl);
        host[hl] = '\0';
    }
    if (watch(evhttp_bind_socket_with_handle(h, host, (ev_uint16_t)sc_addr_port(addr))) != 0) {
        sc_log(SC_LOG_ERR, NULL, "%s server: cannot listen on %s", what, as);
        evhttp_free(h);
        return NULL;
    }
    evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    return h;
}

/* The admin endpoints on a Unix socket (mode 0600), for pods that want no
 * TCP admin port at all. */
static int serve_unix(struct evhttp *h, const char *path)
{
    struct sockaddr_un sun;
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        sc_log(SC_LOG_ERR, NULL, "admin.unix_socket: path too long: %s", path);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    (void)unlink(path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || chmod(path, 0600) != 0 ||
        listen(fd, 64) != 0 || watch(evhttp_accept_socket_with_handle(h, fd)) != 0) {
        sc_log(SC_LOG_ERR, NULL, "admin.unix_socket %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return 0;
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
        evhttp_set_cb(a->admin, "/stats", on_stats, a);
        evhttp_set_cb(a->admin, "/stats/prometheus", on_prometheus, a);
        evhttp_set_cb(a->admin, "/ready", on_ready, a);
        evhttp_set_cb(a->admin, "/healthz/ready", on_ready, a);
        evhttp_set_cb(a->admin, "/config_dump", on_config_dump, a);
        evhttp_set_cb(a->admin, "/certs", on_certs, a);
        evhttp_set_cb(a->admin, "/quitquitquit", on_quit, a);
        evhttp_set_cb(a->admin, "/drain", on_quit, a);
        evhttp_set_cb(a->admin, "/reload", on_reload, a);
        evhttp_set_cb(a->admin, "/logging", on_logging, a);
        if (cfg->admin_unix != NULL) {
            if (serve_unix(a->admin, cfg->admin_unix) != 0) {
                goto fail;
            }
            a->unix_path = strdup(cfg->admin_unix);
        }
    }
    if (cfg->has_health) {
        a->health = serve(base, "health", &cfg->health);
        if (a->health == NULL) {
            goto fail;
        }
        evhttp_set_cb(a->health, "/healthz/ready", on_ready, a);
    }
    if (cfg->has_stats) {
        a->stats = serve(base, "stats", &cfg->stats);
        if (a->stats == NULL) {
            goto fail;
        }
        evhttp_set_cb(a->stats, "/stats/prometheus", on_prometheus, a);
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
    if (a->admin != NULL) {
        evhttp_free(a->admin);
    }
    if (a->health != NULL) {
        evhttp_free(a->health);
    }
    if (a->stats != NULL) {
        evhttp_free(a->stats);
    }
    if (a->unix_path != NULL) {
        (void)unlink(a->unix_path);
        free(a->unix_path);
    }
    free(a);
}
