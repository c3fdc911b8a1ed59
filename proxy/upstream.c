#include "upstream.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>

#include "magic.h"
#include "snapshot.h"
#include "stats.h"
#include "tlsctx.h"
#include "wctx.h"

#define BEV_FLAGS (BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)

struct sc_upstream {
    SC_MAGIC_FIELD
    struct sc_upstream_req req; /* req.snap: our own reference */
    sc_upstream_done_fn *done;
    void *arg;
    int fd;
    struct event *ev; /* connect watcher */
    struct event *timer;
    struct bufferevent *bev; /* during the TLS handshake */
    int sys_errno; /* why the connect failed */
};

/* Where a ticket for this upstream goes; lives as long as the SSL. */
struct session_sink {
    struct sc_tls_session_sink base; /* first */
    struct sc_wctx *w;
    uint64_t generation;
    struct sc_addr addr;
};

static void up_free(struct sc_upstream *u)
{
    if (u->ev != NULL) {
        event_free(u->ev);
    }
    if (u->timer != NULL) {
        event_free(u->timer);
    }
    if (u->bev != NULL) {
        bufferevent_free(u->bev);
    }
    if (u->fd >= 0) {
        close(u->fd);
    }
    sc_snapshot_unref(u->req.snap);
    SC_MAGIC_CLEAR(u);
    free(u);
}

void sc_upstream_cancel(struct sc_upstream *u)
{
    if (u != NULL) {
        SC_MAGIC_CHECK(u, SC_MAGIC_UPSTREAM);
        up_free(u);
    }
}

static void finish(struct sc_upstream *u, struct sc_upstream_result *res)
{
    if (res->status == SC_UPSTREAM_OK) {
        res->bev = u->bev;
        u->bev = NULL;
        if (res->bev == NULL) {
            res->bev = bufferevent_socket_new(sc_wctx_base(u->req.w), u->fd, BEV_FLAGS);
            if (res->bev == NULL) {
                res->status = SC_UPSTREAM_CONNECT_FAILED;
                snprintf(res->reason, sizeof(res->reason), "internal_error: bufferevent");
            } else {
                u->fd = -1;
            }
        }
    }
    u->done(u->arg, res);
    up_free(u);
}

static void fail(struct sc_upstream *u, enum sc_upstream_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct sc_upstream *u, enum sc_upstream_status st, const char *fmt, ...)
{
    struct sc_upstream_result res;
    va_list ap;

    memset(&res, 0, sizeof(res));
    res.status = st;
    res.sys_errno = u->sys_errno;
    snprintf(res.peer_root, sizeof(res.peer_root), "-");
    va_start(ap, fmt);
    vsnprintf(res.reason, sizeof(res.reason), fmt, ap);
    va_end(ap);
    finish(u, &res);
}

static void arm(struct sc_upstream *u, event_callback_fn cb, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_del(u->timer);
    evtimer_assign(u->timer, sc_wctx_base(u->req.w), cb, u);
    evtimer_add(u->timer, &tv);
}

static void on_handshake(struct bufferevent *bev, short what, void *arg)
{
    struct sc_upstream *u = arg;
    struct sc_stats *st;
    struct sc_upstream_result res;
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    char subj[160];

    SC_MAGIC_CHECK(u, SC_MAGIC_UPSTREAM);
    st = sc_wctx_stats(u->req.w);

    memset(&res, 0, sizeof(res));
    snprintf(res.peer_root, sizeof(res.peer_root), "-");
    if (!(what & BEV_EVENT_CONNECTED)) {
        struct sc_tlsv_ctx ctx = {
            .dir = u->req.dir,
            .n_roots = sk_X509_num(sc_tls_material_roots(sc_snapshot_material(u->req.snap))),
            .expected_host = u->req.tls_files != NULL && u->req.tls_files->sni != NULL
                                 ? u->req.tls_files->sni
                                 : u->req.host,
        };
        struct sc_tlsv_failure f;

        sc_tlsv_failure(bev, what, &ctx, &f);
        sc_stats_handshake(st, u->req.dir, f.outcome);
        res.status = SC_UPSTREAM_TLS_FAILED;
        res.ssl_error = f.ssl_error;
        res.verify_result = f.verify_result;
        res.verify_depth = f.verify_depth;
        snprintf(res.reason, sizeof(res.reason), "%s", f.reason);
        finish(u, &res);
        return;
    }
    evtimer_del(u->timer);
    res.tls_version = sc_tls_version_name(ssl);
    res.session = SSL_session_reused(ssl) ? "resumed" : "full";
    if (u->req.tls == SC_TLS_ISTIO_MUTUAL) {
        const struct sc_config *cfg = sc_snapshot_config(u->req.snap);

        if (sc_tlsv_identity(ssl, u->req.expected, cfg->node.trust_domain, res.peer_id,
                             sizeof(res.peer_id), res.reason, sizeof(res.reason)) != 0) {
            sc_stats_handshake(st, u->req.dir, SC_HS_BAD_IDENTITY);
            res.status = SC_UPSTREAM_IDENTITY_REJECTED;
            finish(u, &res);
            return;
        }
        if (sc_tlsv_root(ssl, res.peer_root, sizeof(res.peer_root), subj, sizeof(subj))) {
            sc_stats_peer_root(st, u->req.dir, res.peer_root, subj, res.peer_id,
                               SSL_session_reused(ssl));
        }
    } else if (sc_tlsv_san_pin(ssl, u->req.expected, res.reason, sizeof(res.reason)) != 0) {
        /* SIMPLE / MUTUAL: DestinationRule subjectAltNames pin the server
         * as expected_identities pin a mesh peer */
        sc_stats_handshake(st, u->req.dir, SC_HS_BAD_IDENTITY);
        res.status = SC_UPSTREAM_IDENTITY_REJECTED;
        finish(u, &res);
        return;
    }
    sc_stats_handshake(st, u->req.dir,
                       sc_tlsv_accepted(ssl, res.peer_id[0] != '\0' ? res.peer_id : u->req.host,
                                        u->req.dir, sc_wctx_grace_seen(u->req.w)));
    res.status = SC_UPSTREAM_OK;
    finish(u, &res);
}

static void on_handshake_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sc_upstream *u = arg;

    (void)fd;
    (void)what;
    SC_MAGIC_CHECK(u, SC_MAGIC_UPSTREAM);
    sc_stats_handshake(sc_wctx_stats(u->req.w), u->req.dir, SC_HS_PROTOCOL);
    fail(u, SC_UPSTREAM_HANDSHAKE_TIMEOUT, "handshake_timeout");
}

static void keep_session(struct sc_tls_session_sink *sink, SSL_SESSION *sess)
{
    struct session_sink *s = (struct session_sink *)sink;

    sc_wctx_session_put(s->w, s->generation, &s->addr, sess);
}

static void start_tls(struct sc_upstream *u)
{
    int mesh = u->req.tls == SC_TLS_ISTIO_MUTUAL;
    SSL_CTX *ctx = mesh ? sc_snapshot_client_ctx(u->req.snap)
                        : sc_snapshot_origin_ctx(u->req.snap, u->req.tls_files);
    SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;

    if (ssl == NULL) {
        ERR_clear_error();
        fail(u, SC_UPSTREAM_TLS_FAILED, "internal_error: no TLS context for %s",
             sc_tls_mode_name(u->req.tls));
        return;
    }
    if (mesh) {
        struct session_sink *sink;
        SSL_SESSION *sess;

        if (u->req.alpn != NULL) {
            SSL_set_alpn_protos(ssl, u->req.alpn, u->req.alpn_len);
        } else if (u->req.proto == SC_PROTO_TCP) {
            SSL_set_alpn_protos(ssl, sc_alpn_mesh_tcp, sc_alpn_mesh_tcp_len);
        } else {
            SSL_set_alpn_protos(ssl, sc_alpn_mesh_http, sc_alpn_mesh_http_len);
        }
        if (u->req.host != NULL) {
            SSL_set_tlsext_host_name(ssl, u->req.host);
        }
        /* Resume with the last ticket this upstream gave us under the same
         * snapshot: the peer's certificate is part of the session, so the
         * identity check still applies. */
        sink = calloc(1, sizeof(*sink));
        if (sink != NULL) {
            sink->base.put = keep_session;
            sink->w = u->req.w;
            sink->generation = sc_snapshot_generation(u->req.snap);
            sink->addr = u->req.addr;
            sc_tls_set_session_sink(ssl, &sink->base);
        }
        /* A private copy per connection: OpenSSL's TLS 1.3 client marks
         * the session it resumed not resumable once that handshake ends,
         * so one object shared by every new connection would turn the
         * connections opened meanwhile into full handshakes. */
        sess = sc_wctx_session_get(u->req.w, sc_snapshot_generation(u->req.snap), &u->req.addr);
        sess = sess != NULL ? SSL_SESSION_dup(sess) : NULL;
        if (sess != NULL) {
            SSL_set_session(ssl, sess);
            SSL_SESSION_free(sess); /* the SSL holds its own reference */
        }
    } else {
        const char *name = u->req.tls_files != NULL && u->req.tls_files->sni != NULL
                               ? u->req.tls_files->sni
                               : u->req.host;
        if (name != NULL) {
            SSL_set_tlsext_host_name(ssl, name);
            SSL_set1_host(ssl, name);
        }
    }
    u->bev = bufferevent_openssl_socket_new(sc_wctx_base(u->req.w), u->fd, ssl,
                                            BUFFEREVENT_SSL_CONNECTING, BEV_FLAGS);
    if (u->bev == NULL) {
        SSL_free(ssl);
        fail(u, SC_UPSTREAM_TLS_FAILED, "internal_error: bufferevent_openssl");
        return;
    }
    u->fd = -1;
    bufferevent_openssl_set_allow_dirty_shutdown(u->bev, 1);
    bufferevent_setcb(u->bev, NULL, NULL, on_handshake, u);
    bufferevent_enable(u->bev, EV_READ | EV_WRITE);
    arm(u, on_handshake_timeout, u->req.handshake_ms);
}

static void connected(struct sc_upstream *u)
{
    struct sc_upstream_result res;

    if (u->ev != NULL) {
        event_free(u->ev);
        u->ev = NULL;
    }
    evtimer_del(u->timer);
    if (u->req.tls != SC_TLS_DISABLE && u->req.tls != SC_TLS_UNSET) {
        start_tls(u);
        return;
    }
    memset(&res, 0, sizeof(res));
    snprintf(res.peer_root, sizeof(res.peer_root), "-");
    res.status = SC_UPSTREAM_OK;
    finish(u, &res);
}

static void on_connect(evutil_socket_t fd, short what, void *arg)
{
    struct sc_upstream *u = arg;
    int err = 0;
    socklen_t len = sizeof(err);

    (void)what;
    SC_MAGIC_CHECK(u, SC_MAGIC_UPSTREAM);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    if (err != 0) {
        u->sys_errno = err;
        fail(u, SC_UPSTREAM_CONNECT_FAILED, "upstream_connect_failed: %s", strerror(err));
        return;
    }
    connected(u);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fail(arg, SC_UPSTREAM_CONNECT_TIMEOUT, "upstream_connect_timeout");
}

static int set_mark(int fd, unsigned mark)
{
    return setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
}

int sc_upstream_mark_check(unsigned mark, char *why, size_t len)
{
    int fd, rc, e;

    if (mark == 0) {
        return 0;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, len, "cannot test SO_MARK %u: socket: %s", mark, strerror(errno));
        return -1;
    }
    rc = set_mark(fd, mark);
    e = errno;
    close(fd);
    if (rc != 0) {
        snprintf(why, len, "cannot set SO_MARK %u: %s%s", mark, strerror(e),
                 e == EPERM ? " (needs CAP_NET_ADMIN)" : "");
        return -1;
    }
    return 0;
}

static void on_start(evutil_socket_t fd, short what, void *arg)
{
    struct sc_upstream *u = arg;
    int one = 1;

    (void)fd;
    (void)what;
    SC_MAGIC_CHECK(u, SC_MAGIC_UPSTREAM);
    u->fd = socket(u->req.addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd < 0) {
        fail(u, SC_UPSTREAM_CONNECT_FAILED, "upstream_connect_failed: %s", strerror(errno));
        return;
    }
    (void)setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (u->req.mark != 0 && set_mark(u->fd, u->req.mark) != 0) {
        /* Without CAP_NET_ADMIN the mark cannot be set; iptables' uid rule
         * is then the only thing exempting our traffic.  Refuse rather than
         * risk a redirect loop. */
        fail(u, SC_UPSTREAM_CONNECT_FAILED, "upstream_connect_failed: cannot set SO_MARK %u: %s",
             u->req.mark, strerror(errno));
        return;
    }
    if (connect(u->fd, (const struct sockaddr *)&u->req.addr.ss, u->req.addr.len) == 0) {
        connected(u);
        return;
    }
    if (errno != EINPROGRESS) {
        u->sys_errno = errno;
        fail(u, SC_UPSTREAM_CONNECT_FAILED, "upstream_connect_failed: %s", strerror(errno));
        return;
    }
    u->ev = event_new(sc_wctx_base(u->req.w), u->fd, EV_WRITE, on_connect, u);
    if (u->ev == NULL || event_add(u->ev, NULL) != 0) {
        fail(u, SC_UPSTREAM_CONNECT_FAILED, "internal_error: event_new");
        return;
    }
    arm(u, on_connect_timeout, u->req.connect_ms);
}

struct sc_upstream *sc_upstream_connect(const struct sc_upstream_req *req,
                                        sc_upstream_done_fn *done, void *arg)
{
    struct sc_upstream *u = calloc(1, sizeof(*u));
    struct timeval now = {0, 0};

    if (u == NULL) {
        return NULL;
    }
    SC_MAGIC_SET(u, SC_MAGIC_UPSTREAM);
    u->req = *req;
    u->req.snap = sc_snapshot_ref(req->snap);
    u->done = done;
    u->arg = arg;
    u->fd = -1;
    /* The connect starts from the loop, so done() never runs inside this
     * call and the caller can store the handle first. */
    u->timer = evtimer_new(sc_wctx_base(req->w), on_start, u);
    if (u->timer == NULL || evtimer_add(u->timer, &now) != 0) {
        up_free(u);
        return NULL;
    }
    return u;
}
