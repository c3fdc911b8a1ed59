#include "conn.h"
#include "conn_internal.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "escape.h"
#include "io.h"
#include "log.h"
#include "relay.h"
#include "route.h"
#include "snapshot.h"
#include "stats.h"
#include "upstream.h"
#include "istio.h"
#include "l7.h"
#include "l7_internal.h"
#include "magic.h"
#include "objcache.h"
#include "hbone_pool.h"

/* Linux netfilter's SO_ORIGINAL_DST (IPv4) and IP6T_SO_ORIGINAL_DST (IPv6)
 * share one value; their headers clash with glibc's, so it is spelled here. */
#define SC_SO_ORIGINAL_DST 80


static void unmap_v4(struct sc_addr *a);

static size_t conn_prefix(const struct sc_log_ctx *ctx, char *out, size_t outlen)
{
    const struct sc_conn *c = (const struct sc_conn *)ctx;
    char da[SC_ADDR_STRLEN];
    int n =
        snprintf(out, outlen, "conn=%llu w=%d %s listener=%s down=%s %s", c->id, sc_wctx_id(c->w),
                 c->dir == SC_DIR_INBOUND ? "inbound" : "outbound", c->lname,
                 sc_addr_str(&c->down_addr, da, sizeof(da)), c->action != NULL ? c->action : "");
    if (n < 0) {
        return 0;
    }
    return (size_t)n < outlen ? (size_t)n : outlen - 1;
}

struct sc_conn *sc_conn_next(struct sc_conn *c)
{
    return LIST_NEXT(c, link);
}

/* The worker's list of open connections (head in the context). */
static void list_add(struct sc_wctx *x, struct sc_conn *c)
{
    LIST_INSERT_HEAD(sc_wctx_conns(x), c, link);
    sc_wctx_conn_counted(x, 1);
}

static void list_remove(struct sc_wctx *x, struct sc_conn *c)
{
    LIST_REMOVE(c, link);
    sc_wctx_conn_counted(x, -1);
}

long sc_conn_elapsed_ms(const struct sc_conn *c)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - c->t0.tv_sec) * 1000 + (t.tv_nsec - c->t0.tv_nsec) / 1000000;
}

/* Arms the connection's single deadline with a new callback. */
void sc_conn_set_timer(struct sc_conn *c, event_callback_fn cb, long ms)
{
    evtimer_del(c->timer);
    evtimer_assign(c->timer, sc_wctx_base(c->w), cb, c);
    sc_conn_arm_timer(c, ms);
}

void sc_conn_arm_timer(struct sc_conn *c, long ms)
{
    struct timeval tv;

    if (ms < 1) {
        ms = 1;
    }
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
}

void sc_conn_drop_watcher(struct sc_conn *c)
{
    if (c->ev != NULL) {
        event_free(c->ev);
        c->ev = NULL;
    }
}

static const char *mode_label(const struct sc_conn *c)
{
    return c->dir == SC_DIR_INBOUND ? sc_mtls_mode_name(c->mode) : sc_tls_mode_name(c->tls);
}

/* Istio's istio_tcp_* counters for this connection (labels: proxy/istio.h). */
void sc_conn_count_tcp(struct sc_conn *c, int opened, int closed, const char *flags)
{
    int mtls =
        c->dir == SC_DIR_INBOUND ? c->cls == SC_CLASS_MESH_MTLS : c->tls == SC_TLS_ISTIO_MUTUAL;
    struct sc_istio_ends e = {c->snap, c->dir, mtls, c->peer_id, c->host, &c->up_addr, c->port};

    sc_istio_tcp(sc_stats_istio(sc_wctx_stats(c->w)), &e, flags, opened, closed,
                 closed ? c->bytes[0] : 0, closed ? c->bytes[1] : 0);
}

void sc_conn_classify(struct sc_conn *c, enum sc_conn_class cls)
{
    if (c->cls >= 0) {
        return;
    }
    c->cls = (int)cls;
    sc_stats_conn_class(sc_wctx_stats(c->w), c->dir, c->port, cls);
    if (c->dir == SC_DIR_INBOUND && (cls == SC_CLASS_PLAINTEXT || cls == SC_CLASS_APP_TLS)) {
        sc_stats_nonmesh(sc_wctx_stats(c->w), c->port, cls, &c->down_addr, time(NULL));
    }
}

/* Envoy's TCP proxy access-log line for an L4 connection: "- - -" for the
 * request, code 0, bytes each way, duration, flags (UF: the upstream was
 * never reached; UC/DC: a reset on that side) and the upstream host.  Only
 * called when the access log is on. */
/* Istio's names for the connection's ends: UPSTREAM_CLUSTER
 * ("outbound|8080||reviews.bar.svc.cluster.local", "inbound|8080||"),
 * DOWNSTREAM_LOCAL_ADDRESS (the original destination when captured, else
 * the listener's address) and DOWNSTREAM_REMOTE_ADDRESS. */
static void al_names(struct sc_conn *c)
{
    char ua[SC_ADDR_STRLEN];

    if (c->dir == SC_DIR_INBOUND) {
        snprintf(c->al_cluster, sizeof(c->al_cluster), "inbound|%d||", c->port);
    } else {
        snprintf(c->al_cluster, sizeof(c->al_cluster), "outbound|%d||%s", c->port,
                 c->host != NULL ? c->host : sc_addr_str(&c->up_addr, ua, sizeof(ua)));
    }
    sc_addr_str(c->has_orig ? &c->orig_dst : &c->local_addr, c->al_down_local,
                sizeof(c->al_down_local));
    sc_addr_str(&c->down_addr, c->al_down_remote, sizeof(c->al_down_remote));
    if (c->hb_tunnel != 0) {
        snprintf(c->al_hbone, sizeof(c->al_hbone), "%llu/%lld", c->hb_tunnel, c->hb_stream);
    }
}

static void al_set_names(const struct sc_conn *c, struct sc_accesslog_rec *rec)
{
    sc_accesslog_rec_sets(rec, SC_ACCESSLOG_UPSTREAM_CLUSTER, c->al_cluster);
    sc_accesslog_rec_sets(rec, SC_ACCESSLOG_DOWNSTREAM_LOCAL_ADDRESS, c->al_down_local);
    sc_accesslog_rec_sets(rec, SC_ACCESSLOG_DOWNSTREAM_REMOTE_ADDRESS, c->al_down_remote);
    sc_accesslog_rec_sets(rec, SC_ACCESSLOG_ROUTE_NAME, c->lname);
    if (c->hb_tunnel != 0) {
        char hb[48];

        snprintf(hb, sizeof(hb), "%llu/%lld", c->hb_tunnel, c->hb_stream);
        sc_accesslog_rec_sets(rec, SC_ACCESSLOG_HBONE, hb);
    }
}

static void log_tcp_access(struct sc_conn *c, long ms)
{
    struct sc_accesslog_rec rec;
    char ua[SC_ADDR_STRLEN];

    sc_accesslog_rec_init_ago(&rec, ms);
    rec.flags = c->tcp_state == TCP_CONNECTING ? SC_ACCESSLOG_UF : c->al_flags;
    rec.bytes_received = c->bytes[0];
    rec.bytes_sent = c->bytes[1];
    rec.duration_ms = ms;
    if (c->up_tried) {
        sc_accesslog_rec_sets(&rec, SC_ACCESSLOG_UPSTREAM_HOST,
                              sc_addr_str(&c->up_addr, ua, sizeof(ua)));
    }
    sc_accesslog_rec_sets(&rec, SC_ACCESSLOG_PEER_ID, c->peer_id);
    al_names(c);
    al_set_names(c, &rec);
    sc_accesslog_sink_log(sc_l7_access_log, (unsigned)sc_wctx_id(c->w), &rec);
}

/* The one teardown: writes the connection log line, then frees everything
 * the connection holds. */
/* A connection per request makes and frees one of these per request: the
 * worker keeps up to CONN_CACHE_MAX freed ones, timer included, for the next
 * connections. */
#define CONN_CACHE_MAX 32

static __thread struct sc_objcache conn_cache =
    SC_OBJCACHE_INIT(sizeof(struct sc_conn), CONN_CACHE_MAX);

static struct sc_conn *conn_alloc(void)
{
    struct sc_conn *c = sc_objcache_get(&conn_cache);
    struct event *timer;

    if (c == NULL) {
        return calloc(1, sizeof(*c));
    }
    timer = c->timer;
    memset(c, 0, sizeof(*c));
    c->timer = timer;
    return c;
}

/* The end of a connection's memory: its timer is already deleted. */
static void conn_release(struct sc_conn *c)
{
    if (sc_objcache_put(&conn_cache, c) != 0) {
        free(c->timer);
        free(c);
    }
}

void sc_conn_cache_drain(void)
{
    struct sc_conn *c;

    while ((c = sc_objcache_get(&conn_cache)) != NULL) {
        free(c->timer);
        free(c);
    }
    sc_l7_cache_drain();
}

static void conn_end(struct sc_conn *c, const char *reason);

/* The one teardown: writes the connection log line, then frees everything
 * the connection holds.  A bare "%s" is not formatted again: most ends are
 * a fixed word. */
void sc_conn_finish(struct sc_conn *c, const char *fmt, ...)
{
    char reason[1600];
    va_list ap;

    va_start(ap, fmt);
    if (strcmp(fmt, "%s") == 0) {
        const char *r = va_arg(ap, const char *);

        va_end(ap);
        conn_end(c, r);
        return;
    }
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    conn_end(c, reason);
}

static void conn_end(struct sc_conn *c, const char *reason)
{
    char line[2600], da[SC_ADDR_STRLEN], ua[SC_ADDR_STRLEN], oa[SC_ADDR_STRLEN];
    char peer[512], hb[96] = "";
    int n;

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    if (c->hb_tunnel != 0 && c->hb_stream < 0) {
        snprintf(hb, sizeof(hb), " hbone=%llu streams=%llu", c->hb_tunnel,
                 (unsigned long long)c->hb_streams);
    } else if (c->hb_tunnel != 0) {
        snprintf(hb, sizeof(hb), " hbone=%llu stream=%lld", c->hb_tunnel, c->hb_stream);
    }
    if (c->relay != NULL) {
        sc_relay_bytes(c->relay, c->bytes);
    }
    if (c->cls < 0 && strcmp(reason, "peer_closed") != 0 && strcmp(reason, "shutdown") != 0) {
        sc_conn_classify(c, SC_CLASS_REFUSED);
    }
    /* no line formatted and no write(2) when the log goes nowhere */
    if (sc_log_record_enabled()) {
        struct tm tm;
        char started[40];

        gmtime_r(&c->started.tv_sec, &tm);
        strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(started + strlen(started), sizeof(started) - strlen(started), ".%03ldZ",
                 c->started.tv_nsec / 1000000L);
        n = snprintf(line, sizeof(line),
                     "%s conn id=%llu dir=%s listener=%s port=%d mode=%s class=%s down=%s up=%s "
                     "orig_dst=%s tls=%s peer=%s peer_root=%s session=%s bytes_received=%llu "
                     "bytes_sent=%llu duration_ms=%ld%s end=%s",
                     started, c->id, c->dir == SC_DIR_INBOUND ? "inbound" : "outbound", c->lname,
                     c->port, mode_label(c),
                     c->cls >= 0 ? sc_conn_class_name((enum sc_conn_class)c->cls) : "-",
                     sc_addr_str(&c->down_addr, da, sizeof(da)),
                     c->up_tried ? sc_addr_str(&c->up_addr, ua, sizeof(ua)) : "-",
                     c->has_orig ? sc_addr_str(&c->orig_dst, oa, sizeof(oa)) : "-",
                     c->tls_version != NULL ? c->tls_version : "-",
                     sc_escape_text_str(c->peer_id, peer, sizeof(peer)),
                     c->peer_root[0] != '\0' ? c->peer_root : "-",
                     c->session != NULL ? c->session : "-", (unsigned long long)c->bytes[0],
                     (unsigned long long)c->bytes[1], sc_conn_elapsed_ms(c), hb, reason);
        if (n > 0) {
            sc_log_record(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
        }
    }
    /* no record built when the access log is off */
    if (c->tcp_state != TCP_NONE && sc_accesslog_sink_enabled(sc_l7_access_log)) {
        log_tcp_access(c, sc_conn_elapsed_ms(c));
    }
    sc_stats_bytes(sc_wctx_stats(c->w), c->dir, c->bytes[0], c->bytes[1]);
    if (c->tcp_state == TCP_OPENED) {
        sc_conn_count_tcp(c, 0, 1, "-");
    } else if (c->tcp_state == TCP_CONNECTING) {
        sc_conn_count_tcp(c, 1, 1, "UF"); /* the upstream was never reached */
    }
    sc_stats_active(sc_wctx_stats(c->w), -1);

    sc_relay_free(c->relay);
    c->relay = NULL;
    sc_hbone_tunnel_free(c->hbone);
    c->hbone = NULL;
    sc_hbone_out_cancel(c->hout);
    c->hout = NULL;
    X509_free(c->hb_cert);
    c->hb_cert = NULL;
    sc_upstream_cancel(c->pending);
    c->pending = NULL;
    sc_l7_free(c->l7);
    c->l7 = NULL;
    if (c->down != NULL) {
        bufferevent_free(c->down);
        c->down = NULL;
    }
    if (c->up != NULL) {
        bufferevent_free(c->up);
        c->up = NULL;
    }
    sc_conn_drop_watcher(c);
    if (c->timer != NULL) {
        event_del(c->timer); /* kept with the object, for the next connection */
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    sc_io_free(c->dio);
    c->dio = NULL;
    free(c->peer_id);
    c->peer_id = NULL;
    list_remove(c->w, c);
    if (c->count != NULL) {
        c->count->open--;
        sc_lcount_unref(c->count);
    }
    sc_snapshot_unref(c->snap);
    c->snap = NULL;
    SC_MAGIC_CLEAR(c);
    conn_release(c);
}

void sc_conn_drain(struct sc_conn *c)
{
    if (c->l7 != NULL) {
        sc_l7_drain(c->l7);
    }
    if (c->hbone != NULL) {
        sc_hbone_tunnel_drain(c->hbone); /* GOAWAY; ends when its streams have */
    }
}

void sc_conn_abort(struct sc_conn *c, const char *reason)
{
    sc_conn_finish(c, "%s", reason);
}

/* ---- relay ------------------------------------------------------------ */

static void on_relay_done(struct sc_relay *r, enum sc_relay_end why, const char *detail,
                          const uint64_t bytes[2], void *arg)
{
    struct sc_conn *c = arg;
    char end[256];

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    (void)r;
    c->relay = NULL; /* the relay frees itself when we return */
    c->bytes[0] = bytes[0];
    c->bytes[1] = bytes[1];
    c->al_flags = why == SC_RELAY_UP_RESET     ? SC_ACCESSLOG_UC
                  : why == SC_RELAY_DOWN_RESET ? SC_ACCESSLOG_DC
                                               : 0;
    sc_conn_finish(c, "%s", sc_relay_end_str(why, detail, end, sizeof(end)));
}

static void start_relay(struct sc_conn *c)
{
    struct sc_relay_limits lim;
    struct event_base *base = sc_wctx_base(c->w);

    evtimer_del(c->timer);
    if (c->down == NULL) {
        c->down = bufferevent_socket_new(base, c->fd, BEV_FLAGS);
        if (c->down == NULL) {
            sc_conn_finish(c, "internal_error: bufferevent");
            return;
        }
        c->fd = -1;
    }
    lim.high_watermark = c->cfg->buffer_limit;
    lim.idle_ms = c->to->idle_ms;
    lim.half_closed_ms = c->to->half_closed_ms;
    c->tcp_state = TCP_OPENED;
    sc_conn_count_tcp(c, 1, 0, "-");
    c->relay = sc_relay_new(c->down, c->up, &lim, on_relay_done, c);
    c->down = NULL; /* owned by the relay now, even when it failed */
    c->up = NULL;
    if (c->relay == NULL) {
        sc_conn_finish(c, "internal_error: relay");
        return;
    }
    c->action = "while relaying";
}

/* ---- upstream ------------------------------------------------------------ */

static void on_upstream(void *arg, struct sc_upstream_result *res)
{
    struct sc_conn *c = arg;

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    c->pending = NULL;
    if (res->tls_version != NULL) {
        c->tls_version = res->tls_version;
    }
    if (c->dir == SC_DIR_OUTBOUND) {
        if (res->peer_id[0] != '\0') {
            free(c->peer_id);
            c->peer_id = strdup(res->peer_id);
        }
        snprintf(c->peer_root, sizeof(c->peer_root), "%s", res->peer_root);
        c->session = res->session;
    }
    if (res->status != SC_UPSTREAM_OK) {
        sc_conn_finish(c, "%s", res->reason);
        return;
    }
    if (c->dir == SC_DIR_OUTBOUND) {
        sc_conn_classify(c, sc_route_outbound_class(c->tls));
    }
    c->up = res->bev;
    res->bev = NULL;
    start_relay(c);
}

void sc_conn_connect_upstream(struct sc_conn *c)
{
    if (c->dir == SC_DIR_OUTBOUND && c->hb_port > 0 && c->down == NULL && c->fd >= 0) {
        sc_conn_hbone_out(c); /* a CONNECT stream on a pooled tunnel */
        return;
    }
    struct sc_upstream_req req = {
        .w = c->w,
        .snap = c->snap,
        .addr = c->up_addr,
        .dir = c->dir,
        .tls = c->dir == SC_DIR_OUTBOUND ? c->tls : SC_TLS_DISABLE,
        .proto = c->proto,
        .host = c->host,
        .tls_files = c->tls_files,
        .expected = c->principals,
        .connect_ms = c->to->connect_ms,
        .handshake_ms = c->to->handshake_ms,
        .mark = c->cfg->socket_mark,
    };

    c->action = "while connecting to upstream";
    c->up_tried = 1;
    c->tcp_state = TCP_CONNECTING;
    evtimer_del(c->timer);
    c->pending = sc_upstream_connect(&req, on_upstream, c);
    if (c->pending == NULL) {
        sc_conn_finish(c, "internal_error: out of memory");
    }
}

/* ---- HTTP (L7) ----------------------------------------------------------- */

static void on_l7_done(void *arg, const char *reason, const uint64_t bytes[2])
{
    struct sc_conn *c = arg;

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    c->l7 = NULL; /* it freed itself */
    c->bytes[0] = bytes[0];
    c->bytes[1] = bytes[1];
    sc_conn_finish(c, "%s", reason);
}

static void start_l7(struct sc_conn *c)
{
    struct sc_l7_params p;
    SSL *ssl;

    sc_conn_drop_watcher(c);
    evtimer_del(c->timer);
    if (c->down == NULL && c->dio == NULL) {
        /* plaintext with nothing read yet (a peek leaves the bytes in the
         * kernel): straight onto the I/O layer, no bufferevent to take
         * apart again */
        c->dio = sc_io_new(c->fd, NULL);
        if (c->dio == NULL) {
            sc_conn_finish(c, "internal_error: out of memory");
            return;
        }
        c->fd = -1;
    }
    ssl = c->down != NULL ? bufferevent_openssl_get_ssl(c->down) : NULL;
    memset(&p, 0, sizeof(p));
    p.w = c->w;
    p.snap = c->snap;
    p.down = c->down;
    p.down_io = c->dio;
    p.dir = c->dir;
    p.port = c->port;
    p.down_mtls =
        c->dir == SC_DIR_INBOUND && (ssl != NULL || c->hb_cert != NULL) && c->peer_id != NULL;
    p.peer_cert = ssl != NULL ? SSL_get0_peer_certificate(ssl) : c->hb_cert;
    p.peer_id = c->dir == SC_DIR_INBOUND ? c->peer_id : NULL;
    p.up.w = c->w;
    p.up.snap = c->snap;
    p.up.addr = c->up_addr;
    p.up.dir = c->dir;
    p.up.tls = c->dir == SC_DIR_OUTBOUND ? c->tls : SC_TLS_DISABLE;
    p.up.proto = SC_PROTO_HTTP;
    p.up.host = c->host;
    p.up.tls_files = c->tls_files;
    p.up.expected = c->principals;
    p.up.connect_ms = c->to->connect_ms;
    p.up.handshake_ms = c->to->handshake_ms;
    p.up.mark = c->cfg->socket_mark;
    p.up.hbone_port = c->dir == SC_DIR_OUTBOUND ? c->hb_port : 0;
    p.route = c->route;
    p.timeouts = c->to;
    p.log = &c->log;
    if (sc_accesslog_sink_enabled(sc_l7_access_log)) {
        al_names(c);
        p.al_cluster = c->al_cluster;
        p.al_down_local = c->al_down_local;
        p.al_down_remote = c->al_down_remote;
        p.al_route = c->lname;
        p.al_hbone = c->hb_tunnel != 0 ? c->al_hbone : NULL;
    }
    c->up_tried = 1;
    c->action = "while serving HTTP";
    if (c->dir == SC_DIR_OUTBOUND) {
        sc_conn_classify(c, sc_route_outbound_class(c->tls));
    }
    c->l7 = sc_l7_new(&p, on_l7_done, c);
    c->down = NULL; /* the session's, even when it failed */
    c->dio = NULL;
    if (c->l7 == NULL) {
        sc_conn_finish(c, "internal_error: out of memory");
    }
}

/* The downstream is decided (mesh mTLS terminated, or plaintext): serve it
 * at L4 or L7 as the protocol says. */
void sc_conn_serve(struct sc_conn *c)
{
    sc_conn_drop_watcher(c);
    if (c->proto == SC_PROTO_HTTP) {
        start_l7(c);
        return;
    }
    if (c->proto == SC_PROTO_TCP) {
        sc_conn_connect_upstream(c);
        return;
    }
    sc_conn_detect_protocol(c);
}

/* ---- accept ------------------------------------------------------------ */

/* An IPv4 address seen through a dual-stack socket (::ffff:a.b.c.d) as the
 * IPv4 address it is. */
static void unmap_v4(struct sc_addr *a)
{
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
    struct sockaddr_in sin;

    if (a->ss.ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
        return;
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = s6->sin6_port;
    memcpy(&sin.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
    memset(&a->ss, 0, sizeof(a->ss));
    memcpy(&a->ss, &sin, sizeof(sin));
    a->len = sizeof(sin);
}

/* The destination the client meant (iptables REDIRECT keeps it in
 * conntrack), and the local address it actually reached. */
static int original_dst(int fd, struct sc_addr *out, struct sc_addr *local)
{
    int v4;

    memset(local, 0, sizeof(*local));
    local->len = sizeof(local->ss);
    if (getsockname(fd, (struct sockaddr *)&local->ss, &local->len) != 0) {
        return -1;
    }
    v4 = local->ss.ss_family == AF_INET ||
         (local->ss.ss_family == AF_INET6 &&
          IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)&local->ss)->sin6_addr));
    unmap_v4(local);
    memset(out, 0, sizeof(*out));
    out->len = sizeof(out->ss);
    if (v4 && getsockopt(fd, SOL_IP, SC_SO_ORIGINAL_DST, &out->ss, &out->len) == 0) {
        return 0;
    }
    out->len = sizeof(out->ss);
    if (!v4 && getsockopt(fd, SOL_IPV6, SC_SO_ORIGINAL_DST, &out->ss, &out->len) == 0) {
        return 0;
    }
    /* Not redirected: the address it was sent to is the one it reached. */
    *out = *local;
    return 0;
}

static void on_unused_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Takes what the routing decision says (proxy/route.c). */
void sc_conn_apply_route(struct sc_conn *c, const struct sc_route *r)
{
    c->lname = r->lname;
    c->dir = r->dir;
    c->port = r->port;
    c->mode = r->mode;
    c->tls = r->tls;
    c->proto = r->proto;
    c->host = r->host;
    c->tls_files = r->tls_files;
    c->principals = r->principals;
    c->route = r->route;
    c->to = r->to;
    c->up_addr = r->up_addr;
    c->hb_port = r->transport == SC_TRANSPORT_HBONE ? r->hbone_port : 0;
}

struct sc_lcount *sc_lcount_new(void)
{
    struct sc_lcount *n = calloc(1, sizeof(*n));

    if (n != NULL) {
        n->refs = 1;
    }
    return n;
}

void sc_lcount_unref(struct sc_lcount *n)
{
    if (n != NULL && --n->refs == 0) {
        free(n);
    }
}

struct sc_conn *sc_conn_new(struct sc_wctx *w, struct sc_lcount *count, int fd,
                            const struct sockaddr *peer, int peerlen)
{
    struct sc_conn *c = conn_alloc();

    if (c == NULL) {
        close(fd);
        return NULL;
    }
    SC_MAGIC_SET(c, SC_MAGIC_CONN);
    c->log.prefix = conn_prefix;
    c->w = w;
    if (count != NULL) {
        count->refs++;
        count->open++;
        c->count = count;
    }
    c->fd = fd;
    c->cls = -1;
    c->snap = sc_snapshot_ref(sc_wctx_snapshot(w));
    c->cfg = sc_snapshot_config(c->snap);
    c->to = &c->cfg->timeouts;
    c->id = sc_wctx_next_conn_id(w);
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    clock_gettime(CLOCK_REALTIME, &c->started);
    if (peerlen > 0 && (size_t)peerlen <= sizeof(c->down_addr.ss)) {
        memcpy(&c->down_addr.ss, peer, (size_t)peerlen);
        c->down_addr.len = (socklen_t)peerlen;
        unmap_v4(&c->down_addr);
    }
    if (sc_objcache_event(&c->timer, sc_wctx_base(w), -1, 0, on_unused_timer, c) != 0) {
        c->timer = NULL;
    }
    list_add(w, c);
    sc_stats_active(sc_wctx_stats(w), 1);
    c->lname = "-";
    return c;
}

void sc_conn_accept(struct sc_wctx *w, enum sc_listener_kind kind, const char *listener,
                    struct sc_lcount *count, int fd, const struct sockaddr *peer, int peerlen)
{
    struct sc_conn *c = sc_conn_new(w, count, fd, peer, peerlen);
    struct sc_route_in in = {.kind = kind, .listener = listener};
    struct sc_route r;

    if (c == NULL) {
        return;
    }
    if (kind == SC_LISTENER_INBOUND_CAPTURE || kind == SC_LISTENER_OUTBOUND_CAPTURE) {
        if (original_dst(fd, &c->orig_dst, &c->local_addr) != 0) {
            c->lname = kind == SC_LISTENER_INBOUND_CAPTURE ? "inbound" : "outbound";
            c->dir = kind == SC_LISTENER_INBOUND_CAPTURE ? SC_DIR_INBOUND : SC_DIR_OUTBOUND;
            sc_conn_finish(c, "no_original_destination: %s", strerror(errno));
            return;
        }
        c->has_orig = 1;
        in.orig_dst = &c->orig_dst;
        in.local = &c->local_addr;
    }
    sc_route_decide(c->cfg, &in, &r);
    sc_conn_apply_route(c, &r);
    if (r.listener != NULL) {
        c->local_addr = r.listener->address;
    }
    if (c->timer == NULL) {
        sc_conn_finish(c, "internal_error: evtimer_new");
        return;
    }
    switch (r.action) {
    case SC_ROUTE_REFUSE:
        sc_conn_finish(c, "%s", r.reason);
        return;
    case SC_ROUTE_HBONE_TUNNEL:
        sc_conn_hbone_listener(c);
        return;
    case SC_ROUTE_MESH_TLS:
        /* Nothing to sniff: every connection must be mesh mTLS. */
        sc_conn_wait_first_bytes(c);
        return;
    case SC_ROUTE_PASSTHROUGH:
        sc_conn_passthrough(c, SC_CLASS_PLAINTEXT);
        return;
    case SC_ROUTE_SNIFF:
        sc_conn_start_sniff(c);
        return;
    case SC_ROUTE_SERVE:
        sc_conn_serve(c);
        return;
    }
}
