#include "relay.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "tlsverdict.h"

/* One relay, written once for both directions: side 0 is downstream, side 1
 * upstream; bytes read on side i are written to side !i. */
struct side {
    struct sc_relay *r;
    struct bufferevent *bev;
    int idx;
    int eof;            /* read half finished (peer sent FIN / close_notify) */
    int shut;           /* our write half has been shut down */
};

struct sc_relay {
    struct side s[2];
    struct sc_relay_limits lim;
    uint64_t bytes[2];
    struct event *idle;
    struct timespec last;
    sc_relay_done_fn *done;
    void *arg;
};

static void now(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC_COARSE, ts);
}

void sc_relay_free(struct sc_relay *r)
{
    if (r == NULL) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        if (r->s[i].bev != NULL) {
            bufferevent_free(r->s[i].bev);
            r->s[i].bev = NULL;
        }
    }
    if (r->idle != NULL) {
        event_free(r->idle);
        r->idle = NULL;
    }
    free(r);
}

const char *sc_relay_end_str(enum sc_relay_end why, const char *detail, char *buf, size_t len)
{
    static const char *const names[] = {"peer_closed", "downstream_reset", "upstream_reset",
                                        "idle_timeout"};
    const char *name = (size_t)why < sizeof(names) / sizeof(names[0]) ? names[why] : "-";

    if (detail != NULL && detail[0] != '\0') {
        snprintf(buf, len, "%s: %s", name, detail);
    } else {
        snprintf(buf, len, "%s", name);
    }
    return buf;
}

static void finish(struct sc_relay *r, enum sc_relay_end why, const char *detail)
{
    r->done(r, why, detail, r->bytes, r->arg);
    sc_relay_free(r);
}

/* Shuts down our write half towards side s: close_notify for TLS, then a
 * TCP FIN, so the peer sees exactly what the other peer did. */
static void shut_write(struct side *s)
{
    SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
    evutil_socket_t fd = bufferevent_getfd(s->bev);

    if (s->shut) {
        return;
    }
    s->shut = 1;
    if (ssl != NULL) {
        (void)SSL_shutdown(ssl);
    }
    if (fd >= 0) {
        (void)shutdown(fd, SHUT_WR);
    }
}

/* Done when both peers have closed their sending halves and all their bytes
 * have been passed on. */
static int all_done(const struct sc_relay *r)
{
    return r->s[0].eof && r->s[1].eof && r->s[0].shut && r->s[1].shut;
}

static void pump(struct side *from)
{
    struct sc_relay *r = from->r;
    struct side *to = &r->s[!from->idx];
    struct evbuffer *in = bufferevent_get_input(from->bev);
    struct evbuffer *out = bufferevent_get_output(to->bev);
    size_t n = evbuffer_get_length(in);

    if (n == 0) {
        return;
    }
    if (to->shut) {
        /* Nowhere to send it: the other side is gone for writing. */
        evbuffer_drain(in, n);
        return;
    }
    evbuffer_add_buffer(out, in);    /* moves the chains, no copy */
    r->bytes[from->idx] += n;
    now(&r->last);
    if (evbuffer_get_length(out) >= r->lim.high_watermark) {
        bufferevent_disable(from->bev, EV_READ);
        bufferevent_setwatermark(to->bev, EV_WRITE, r->lim.high_watermark / 2, 0);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    pump(arg);
}

/* Called when side `to`'s output drained to its low watermark. */
static void on_write(struct bufferevent *bev, void *arg)
{
    struct side *to = arg;
    struct sc_relay *r = to->r;
    struct side *from = &r->s[!to->idx];

    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 && from->eof) {
        shut_write(to);
        if (all_done(r)) {
            finish(r, SC_RELAY_PEER_CLOSED, "");
            return;
        }
    }
    /* Back to "call me when empty", the state outside backpressure. */
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    if (!from->eof && !(bufferevent_get_enabled(from->bev) & EV_READ)) {
        bufferevent_enable(from->bev, EV_READ);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct side *s = arg;
    struct sc_relay *r = s->r;
    struct side *other = &r->s[!s->idx];

    (void)bev;
    if (what & BEV_EVENT_EOF) {
        pump(s);
        s->eof = 1;
        /* A TLS bufferevent stops writing when its peer's close_notify
         * arrives; the other direction may still have bytes for it. */
        if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0) {
            bufferevent_enable(s->bev, EV_WRITE);
        }
        if (evbuffer_get_length(bufferevent_get_output(other->bev)) == 0) {
            shut_write(other);
        } else {
            /* on_write fires when it drains. */
            bufferevent_setwatermark(other->bev, EV_WRITE, 0, 0);
        }
        if (all_done(r)) {
            finish(r, SC_RELAY_PEER_CLOSED, "");
        }
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        char why[160];

        sc_tlsv_io_error(s->bev, EVUTIL_SOCKET_ERROR(), why, sizeof(why));
        finish(r, s->idx == 0 ? SC_RELAY_DOWN_RESET : SC_RELAY_UP_RESET, why);
    }
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct sc_relay *r = arg;
    struct timespec t;
    long quiet_ms, left;
    struct timeval tv;

    (void)fd;
    (void)what;
    now(&t);
    quiet_ms = (t.tv_sec - r->last.tv_sec) * 1000 + (t.tv_nsec - r->last.tv_nsec) / 1000000;
    if (quiet_ms >= r->lim.idle_ms) {
        finish(r, SC_RELAY_IDLE_TIMEOUT, "");
        return;
    }
    left = r->lim.idle_ms - quiet_ms;
    tv.tv_sec = left / 1000;
    tv.tv_usec = (left % 1000) * 1000;
    evtimer_add(r->idle, &tv);
}

struct sc_relay *sc_relay_new(struct bufferevent *down, struct bufferevent *up,
                              const struct sc_relay_limits *lim, sc_relay_done_fn *done,
                              void *arg)
{
    struct sc_relay *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        return NULL;
    }
    r->lim = *lim;
    if (r->lim.high_watermark == 0) {
        r->lim.high_watermark = 1 << 20;
    }
    r->done = done;
    r->arg = arg;
    now(&r->last);
    if (r->lim.idle_ms > 0) {
        struct timeval tv = {r->lim.idle_ms / 1000, (r->lim.idle_ms % 1000) * 1000};
        r->idle = evtimer_new(bufferevent_get_base(down), on_idle, r);
        if (r->idle == NULL) {
            free(r);
            return NULL;
        }
        evtimer_add(r->idle, &tv);
    }
    r->s[0].bev = down;
    r->s[1].bev = up;
    for (int i = 0; i < 2; i++) {
        r->s[i].r = r;
        r->s[i].idx = i;
        bufferevent_setcb(r->s[i].bev, on_read, on_write, on_event, &r->s[i]);
        bufferevent_setwatermark(r->s[i].bev, EV_WRITE, 0, 0);
        bufferevent_set_timeouts(r->s[i].bev, NULL, NULL);
    }
    for (int i = 0; i < 2; i++) {
        bufferevent_enable(r->s[i].bev, EV_READ | EV_WRITE);
    }
    /* Bytes that arrived before the relay existed (during a handshake). */
    for (int i = 0; i < 2; i++) {
        pump(&r->s[i]);
    }
    return r;
}

void sc_relay_bytes(const struct sc_relay *r, uint64_t bytes[2])
{
    bytes[0] = r->bytes[0];
    bytes[1] = r->bytes[1];
}
