#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "conn_internal.h"
#include "hbone_req.h"
#include "hslimit.h"
#include "httpsniff.h"
#include "sniff.h"
#include "snapshot.h"
#include "spiffe.h"
#include "tlsctx.h"
#include "tlsverdict.h"

/* The downstream of a connection before it is served (conn_internal.h):
 * the first bytes of a STRICT port, the PERMISSIVE sniff, the mesh TLS
 * handshake and its identity check, the protocol: auto detection. */

static void start_down_tls(struct sc_conn *c);

static void on_down_handshake(struct bufferevent *bev, short what, void *arg)
{
    struct sc_conn *c = arg;
    struct sc_stats *st = sc_wctx_stats(c->w);
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    char id[SC_SPIFFE_MAX + 1], reason[1024], subj[160];

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    if (!(what & BEV_EVENT_CONNECTED)) {
        struct sc_tlsv_ctx ctx = {
            .dir = c->dir,
            .strict_inbound = c->mode == SC_MTLS_STRICT,
            .n_roots = sk_X509_num(sc_tls_material_roots(sc_snapshot_material(c->snap))),
        };
        struct sc_tlsv_failure f;

        sc_tlsv_failure(bev, what, &ctx, &f);
        sc_stats_handshake(st, c->dir, f.outcome);
        sc_conn_classify(c, SC_CLASS_REFUSED);
        sc_conn_finish(c, "%s", f.reason);
        return;
    }
    evtimer_del(c->timer);
    c->tls_version = sc_tls_version_name(ssl);
    if (sc_tlsv_identity(ssl, c->principals, c->cfg->node.trust_domain, id, sizeof(id), reason,
                         sizeof(reason)) != 0) {
        if (id[0] != '\0') {
            c->peer_id = strdup(id);
        }
        sc_stats_handshake(st, c->dir, SC_HS_BAD_IDENTITY);
        sc_conn_classify(c, SC_CLASS_REFUSED);
        sc_conn_finish(c, "%s", reason);
        return;
    }
    c->peer_id = strdup(id);
    if (c->hbone_listener && (c->principals == NULL || c->principals->n == 0) &&
        !sc_hbone_peer_allowed(c->cfg, id)) {
        /* refused for the whole tunnel, as a plain mTLS port would */
        sc_stats_handshake(st, c->dir, SC_HS_BAD_IDENTITY);
        sc_conn_classify(c, SC_CLASS_REFUSED);
        sc_conn_finish(c,
                       "identity_rejected: peer SAN %s is in no inbound port's "
                       "allowed_principals",
                       id);
        return;
    }
    c->session = SSL_session_reused(ssl) ? "resumed" : "full";
    if (SSL_session_reused(ssl)) {
        /* a session we issued: its peer was verified when it was made */
        sc_hslimit_refund(sc_wctx_hslimit(c->w), &c->down_addr,
                          (unsigned)c->cfg->limits.handshakes_per_second_per_source);
    }
    if (sc_tlsv_root(ssl, c->peer_root, sizeof(c->peer_root), subj, sizeof(subj))) {
        sc_stats_peer_root(st, c->dir, c->peer_root, subj, c->peer_id, SSL_session_reused(ssl));
    }
    sc_stats_handshake(st, c->dir, sc_tlsv_accepted(ssl, id, c->dir, sc_wctx_grace_seen(c->w)));
    sc_conn_classify(c, SC_CLASS_MESH_MTLS);
    if (c->hbone_listener) {
        sc_conn_hbone_tunnel(c, ssl);
        return;
    }
    /* Hold the client's bytes in the kernel until the app is connected. */
    bufferevent_disable(bev, EV_READ);
    sc_conn_serve(c);
}

static void on_handshake_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sc_conn *c = arg;

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    (void)fd;
    (void)what;
    sc_stats_handshake(sc_wctx_stats(c->w), c->dir, SC_HS_PROTOCOL);
    sc_conn_finish(c, "handshake_timeout");
}

/* Handshakes cost CPU before any certificate is checked: one client address
 * gets at most limits.handshakes_per_second_per_source a second on this
 * worker; beyond that its connections are closed unanswered. */
static int handshake_allowed(struct sc_conn *c)
{
    unsigned rate = (unsigned)c->cfg->limits.handshakes_per_second_per_source;
    struct timespec now;

    if (rate == 0) {
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    if (sc_hslimit_allow(sc_wctx_hslimit(c->w), &c->down_addr, rate,
                         (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000)) {
        return 1;
    }
    sc_stats_handshake_limited(sc_wctx_stats(c->w));
    sc_conn_finish(c,
                   "handshake_rate_limited: over %u handshakes a second from this address "
                   "(limits.handshakes_per_second_per_source)",
                   rate);
    return 0;
}

static void start_down_tls(struct sc_conn *c)
{
    SSL *ssl = NULL;
    long left = c->to->handshake_ms - sc_conn_elapsed_ms(c);

    if (!handshake_allowed(c)) {
        return;
    }
    ssl = SSL_new(sc_snapshot_server_ctx(c->snap));
    if (ssl != NULL && c->hbone_listener) {
        sc_tls_mark_hbone(ssl); /* ALPN h2 */
    }
    sc_conn_drop_watcher(c);
    if (ssl == NULL) {
        ERR_clear_error();
        sc_conn_finish(c, "internal_error: SSL_new");
        return;
    }
    c->action = "while handshaking with downstream";
    c->down = bufferevent_openssl_socket_new(sc_wctx_base(c->w), c->fd, ssl,
                                             BUFFEREVENT_SSL_ACCEPTING, BEV_FLAGS);
    if (c->down == NULL) {
        SSL_free(ssl);
        sc_conn_finish(c, "internal_error: bufferevent_openssl");
        return;
    }
    c->fd = -1;
    bufferevent_openssl_set_allow_dirty_shutdown(c->down, 1);
    bufferevent_setcb(c->down, NULL, NULL, on_down_handshake, c);
    bufferevent_enable(c->down, EV_READ | EV_WRITE);
    sc_conn_set_timer(c, on_handshake_timeout, left);
}

/* A STRICT port starts TLS when the client's first bytes arrive, as nginx
 * does: a connection that sends nothing costs the connection object and an
 * event (not an SSL with its record and handshake buffers, 44 KiB each for
 * silent clients), and is closed at the handshake timeout all the same. */
static void on_first_bytes(evutil_socket_t fd, short what, void *arg)
{
    struct sc_conn *c = arg;

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    (void)fd;
    (void)what;
    start_down_tls(c);
}

void sc_conn_wait_first_bytes(struct sc_conn *c)
{
    c->ev = event_new(sc_wctx_base(c->w), c->fd, EV_READ, on_first_bytes, c);
    if (c->ev == NULL || event_add(c->ev, NULL) != 0) {
        sc_conn_finish(c, "internal_error: event_new");
        return;
    }
    c->action = "while waiting for the downstream's first bytes";
    sc_conn_set_timer(c, on_handshake_timeout, c->to->handshake_ms);
}

/* protocol auto, bytes still in the kernel: peek at the request line. */
static void on_auto_peek(evutil_socket_t fd, short what, void *arg)
{
    struct sc_conn *c = arg;
    unsigned char buf[SC_HTTPSNIFF_MAX_BYTES];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK);

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    (void)what;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        c->proto = SC_PROTO_TCP; /* closed or broken: let the relay say so */
        sc_conn_serve(c);
        return;
    }
    switch (sc_httpsniff(buf, (size_t)n)) {
    case SC_HTTPSNIFF_HTTP1:
        c->proto = SC_PROTO_HTTP;
        sc_conn_serve(c);
        return;
    case SC_HTTPSNIFF_NOT_HTTP:
        c->proto = SC_PROTO_TCP;
        sc_conn_serve(c);
        return;
    default:
        return; /* more bytes, or the timeout */
    }
}

/* protocol auto on a terminated TLS connection: look at what was read. */
static void on_auto_read(struct bufferevent *bev, void *arg)
{
    struct sc_conn *c = arg;
    unsigned char buf[SC_HTTPSNIFF_MAX_BYTES];
    ev_ssize_t n = evbuffer_copyout(bufferevent_get_input(bev), buf, sizeof(buf));

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    switch (sc_httpsniff(buf, n > 0 ? (size_t)n : 0)) {
    case SC_HTTPSNIFF_HTTP1:
        c->proto = SC_PROTO_HTTP;
        break;
    case SC_HTTPSNIFF_NOT_HTTP:
        c->proto = SC_PROTO_TCP;
        break;
    default:
        return;
    }
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    bufferevent_disable(bev, EV_READ);
    sc_conn_serve(c);
}

static void on_auto_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sc_conn *c = arg;

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    (void)fd;
    (void)what;
    c->proto = SC_PROTO_TCP; /* a server-first or silent protocol */
    if (c->down != NULL) {
        bufferevent_setcb(c->down, NULL, NULL, NULL, NULL);
        bufferevent_disable(c->down, EV_READ);
    }
    sc_conn_serve(c);
}

static void auto_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    on_auto_timeout(-1, 0, arg);
}

/* Bytes pass through to the app without TLS termination: the app's own
 * TLS, DISABLE ports, and plaintext (which HTTP ports parse). */
void sc_conn_passthrough(struct sc_conn *c, enum sc_conn_class cls)
{
    sc_conn_drop_watcher(c);
    evtimer_del(c->timer);
    sc_conn_classify(c, cls);
    if (sc_route_parse_plaintext(c->mode, cls)) {
        sc_conn_serve(c);
        return;
    }
    sc_conn_connect_upstream(c);
}

static void on_peek(evutil_socket_t fd, short what, void *arg)
{
    struct sc_conn *c = arg;
    size_t cap;
    unsigned char *buf = sc_wctx_scratch(c->w, &cap);
    struct sc_sniff_info info;
    ssize_t n;

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    (void)what;
    if (cap > SC_SNIFF_MAX_BYTES) {
        cap = SC_SNIFF_MAX_BYTES;
    }
    n = recv(fd, buf, cap, MSG_PEEK);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return;
        }
        sc_conn_finish(c, "downstream_reset: %s", strerror(errno));
        return;
    }
    if (n == 0) {
        /* Closed before saying anything (a port scan, a health probe). */
        sc_conn_classify(c, SC_CLASS_PLAINTEXT);
        sc_conn_finish(c, "peer_closed");
        return;
    }
    c->peeked = (size_t)n;
    switch (sc_route_sniffed(sc_sniff_client_hello(buf, (size_t)n, &info), &info, (size_t)n, cap)) {
    case SC_ROUTE_SNIFF_WAIT:
        return;
    case SC_ROUTE_SNIFF_MESH_TLS:
        evtimer_del(c->timer);
        start_down_tls(c);
        return;
    case SC_ROUTE_SNIFF_APP_TLS:
        sc_conn_passthrough(c, SC_CLASS_APP_TLS);
        return;
    case SC_ROUTE_SNIFF_PLAINTEXT:
        sc_conn_passthrough(c, SC_CLASS_PLAINTEXT);
        return;
    }
}

static void on_sniff_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sc_conn *c = arg;
    long left;

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    (void)fd;
    (void)what;
    if (c->peeked == 0) {
        /* Nothing sent: a server-first protocol.  Pass it through. */
        sc_conn_passthrough(c, SC_CLASS_PLAINTEXT);
        return;
    }
    /* A partial ClientHello: give it until the handshake deadline. */
    left = c->to->handshake_ms - sc_conn_elapsed_ms(c);
    if (left <= 0) {
        sc_conn_classify(c, SC_CLASS_REFUSED);
        sc_conn_finish(c, "handshake_timeout");
        return;
    }
    sc_conn_arm_timer(c, left);
}

void sc_conn_start_sniff(struct sc_conn *c)
{
    c->action = "while sniffing";
    c->ev = event_new(sc_wctx_base(c->w), c->fd, EV_READ | EV_PERSIST | EV_ET, on_peek, c);
    if (c->ev == NULL) {
        sc_conn_finish(c, "internal_error: event_new");
        return;
    }
    event_add(c->ev, NULL);
    sc_conn_set_timer(c, on_sniff_timeout, c->to->sniff_ms);
}

/* protocol auto: an HTTP/1.x request line or not decides, within sniff_ms. */
void sc_conn_detect_protocol(struct sc_conn *c)
{
    c->action = "while detecting the protocol";
    sc_conn_set_timer(c, on_auto_timeout, c->to->sniff_ms);
    if (c->down != NULL) {
        bufferevent_setcb(c->down, on_auto_read, NULL, auto_event, c);
        bufferevent_enable(c->down, EV_READ);
        if (evbuffer_get_length(bufferevent_get_input(c->down)) > 0) {
            on_auto_read(c->down, c);
        }
        return;
    }
    c->ev = event_new(sc_wctx_base(c->w), c->fd, EV_READ | EV_PERSIST | EV_ET, on_auto_peek, c);
    if (c->ev == NULL || event_add(c->ev, NULL) != 0) {
        sc_conn_finish(c, "internal_error: event_new");
        return;
    }
    on_auto_peek(c->fd, EV_READ, c);
}
