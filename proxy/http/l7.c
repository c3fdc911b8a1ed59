#include "l7.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "http1.h"
#include "io.h"
#include "l7_internal.h"
#include "l7_session_internal.h"
#include "localreply.h"
#include "log.h"
#include "relay.h"
#include "magic.h"
#include "objcache.h"
#include "snapshot.h"
#include "stats.h"
#include "tlsctx.h"
#include "tlsverdict.h"
#include "upool.h"
#include "uuid.h"
#include "wctx.h"
#include "x509.h"
#include "xfcc.h"

/* Lingering close (as nginx's lingering_close): after our last byte, the
 * write side is shut and what the client still sends is read and dropped
 * until it closes, for at most LINGER_MS or LINGER_MAX bytes.  Closing a
 * socket with unread bytes makes the kernel send a reset, and a reset can
 * destroy the response (a 400 to a smuggling attempt, say) before the
 * client has read it. */
#define LINGER_MS 2000
#define LINGER_MAX (256 * 1024)

static void process_down(struct sc_l7 *s);
static void on_idle_timeout(evutil_socket_t fd, short what, void *arg);

/* ---- helpers ------------------------------------------------------------ */

long sc_l7_now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void sc_l7_release_upstream(struct sc_l7 *s, int reusable)
{
    if (s->uc != NULL) {
        sc_upconn_watch(s->uc, NULL, NULL);
        sc_upconn_release(s->uc, reusable);
        s->uc = NULL;
    }
    sc_l7_ubuf_release(s);
    s->up_paused = 0;
    sc_upool_cancel(s->wait);
    s->wait = NULL;
}

void sc_l7_free(struct sc_l7 *s)
{
    if (s == NULL) {
        return;
    }
    SC_MAGIC_CHECK(s, SC_MAGIC_L7);
    sc_l7_release_upstream(s, 0);
    if (s->relay != NULL) {
        /* a tunnel cut from outside (shutdown, the drain deadline): its
         * line is written now, with what it carried so far */
        uint64_t b[2];

        sc_relay_bytes(s->relay, b);
        s->r.rec.bytes_received += b[0];
        s->r.rec.bytes_sent += b[1];
        sc_l7_req_log(&s->p, &s->r);
    }
    sc_relay_free(s->relay);
    if (s->dev != NULL) {
        if (s->dio != NULL) {
            sc_io_set_event(s->dio, NULL);
        }
        event_del(s->dev); /* kept, with the session's memory, for the next one */
    }
    sc_io_free(s->dio);
    sc_l7_buf_put(s->dbuf, s->dheap);
    sc_l7_buf_put(s->wbuf, s->wheap);
    s->blen = 0;
    sc_io_buf_put(s->ubuf);
    sc_io_buf_put(s->rbuf);
    if (s->rover != NULL) {
        evbuffer_free(s->rover);
    }
    if (s->timer != NULL) {
        event_del(s->timer);
    }
    sc_snapshot_unref(s->p.snap);
    SC_MAGIC_CLEAR(s);
    sc_l7_release(s);
}

/* src into dst[0..cap), cut to fit and NUL-terminated (no printf for a
 * word copied once per connection) */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);

    memmove(dst, src, n); /* src may be dst itself */
    dst[n] = '\0';
}

static void finish(struct sc_l7 *s, const char *reason)
{
    uint64_t bytes[2] = {s->bytes[0], s->bytes[1]};
    sc_l7_done_fn *done = s->done;
    void *arg = s->arg;
    char why[1400];

    /* The connection's line names the last upstream TLS failure too: the
     * client saw a 503 for it, whatever ended the connection after. */
    if (s->up_failure[0] != '\0') {
        snprintf(why, sizeof(why), "%s (after upstream failure: %s)", reason, s->up_failure);
    } else {
        copy_str(why, sizeof(why), reason);
    }
    sc_l7_free(s);
    done(arg, why, bytes);
}

static void on_linger_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sc_l7 *s = arg;

    SC_MAGIC_CHECK(s, SC_MAGIC_L7);
    (void)fd;
    (void)what;
    finish(s, s->ended);
}

/* Lingering: what the client still sends is read and dropped until it
 * closes (or resets), LINGER_MAX bytes or LINGER_MS. */
static void linger_read(struct sc_l7 *s)
{
    for (;;) {
        ssize_t n;

        if (!sc_io_can_read(s->dio)) {
            break;
        }
        if (sc_l7_dbuf_get(s) != 0) {
            finish(s, s->ended);
            return;
        }
        n = sc_io_read(s->dio, s->dbuf, s->dcap);
        if (n == SC_IO_AGAIN) {
            break;
        }
        if (n <= 0) {
            finish(s, s->ended); /* the client closed (or reset) */
            return;
        }
        s->lingered += (size_t)n;
        if (s->lingered > LINGER_MAX) {
            finish(s, s->ended);
            return;
        }
    }
    sc_l7_buf_put(s->dbuf, s->dheap);
    s->dbuf = NULL;
    s->doff = s->dlen = 0;
}

/* Everything went out: shut our write side (close_notify, FIN) and drop
 * what the client still sends until it closes. */
static void linger(struct sc_l7 *s)
{
    size_t unread = s->dlen - s->doff;

    if (s->down_eof) {
        finish(s, s->ended);
        return;
    }
    if (s->req_done && unread == 0 && strcmp(s->ended, "http_connection_close") == 0) {
        /* A complete exchange and nothing of the client's unread: close at
         * once, as nginx does.  The lingering close (shut, then read until
         * the client closes) is for unread request bytes and error replies,
         * where closing at once could reset the reply in flight. */
        finish(s, s->ended);
        return;
    }
    s->state = S_LINGER;
    sc_io_shutdown(s->dio);
    s->lingered = unread;
    s->doff = s->dlen = 0;
    sc_l7_arm(s, on_linger_timeout, LINGER_MS);
    linger_read(s);
}

/* Closes once everything queued for the downstream has been written. */
static void close_when_flushed(struct sc_l7 *s, const char *reason)
{
    copy_str(s->ended, sizeof(s->ended), reason);
    s->state = S_CLOSING;
    sc_io_set_last(s->dio); /* the reply's tail and our FIN in one segment */
    evtimer_del(s->timer);
    sc_l7_release_upstream(s, 0);
    sc_l7_down_kick(s);
}

/* The request's exchange is over: log it, then serve the next one or close. */
void sc_l7_request_done(struct sc_l7 *s, int up_reusable)
{
    sc_l7_req_log(&s->p, &s->r);
    evtimer_del(s->timer);
    sc_l7_release_upstream(s, up_reusable);
    sc_l7_req_reset(s);
    s->replayable = 0;
    s->down_paused = 0;
    s->upgrade_wait = 0;
    if (s->close_after || s->down_eof) {
        close_when_flushed(s, s->down_eof ? "peer_closed" : "http_connection_close");
        return;
    }
    s->state = S_HEAD;
    s->req_done = 0;
    s->resp_started = 0;
    s->interim = 0;
    sc_http1_reset(s->resp_parser);
    if (sc_http1_head(s->req_parser) != NULL && sc_http1_head(s->req_parser)->upgrade) {
        /* The upstream answered an upgrade request without switching
         * protocols (no 101): the connection goes on as HTTP. */
        (void)sc_http1_resume_after_upgrade(s->req_parser);
    }
    sc_l7_arm(s, on_idle_timeout, s->p.timeouts->idle_ms);
    /* The response goes out, then pipelined requests may already be
     * waiting. */
    sc_l7_down_kick(s);
}

/* Answers the current request ourselves (Envoy's local reply). */
/* Envoy's %RESPONSE_CODE_DETAILS% for a local reply with these flags. */
static const char *local_reply_details(unsigned flags)
{
    return flags & SC_ACCESSLOG_UT   ? "response_timeout"
           : flags & SC_ACCESSLOG_UO ? "upstream_reset_before_response_started{overflow}"
           : flags & SC_ACCESSLOG_UF ? "upstream_reset_before_response_started{connection_failure}"
           : flags & SC_ACCESSLOG_UC
               ? "upstream_reset_before_response_started{connection_termination}"
           : flags & SC_ACCESSLOG_UPE ? "upstream_reset_before_response_started{protocol_error}"
           : flags & SC_ACCESSLOG_DPE ? "http1.codec_error"
                                      : NULL;
}

void sc_l7_local_reply(struct sc_l7 *s, const struct sc_localreply *lr, int close)
{
    struct evbuffer *out = evbuffer_new();

    s->r.rec.response_code = lr->status;
    s->r.rec.flags |= lr->flags;
    sc_accesslog_rec_sets(&s->r.rec, SC_ACCESSLOG_RESPONSE_CODE_DETAILS,
                          local_reply_details(lr->flags));
    if (s->r.retried) {
        s->r.rec.flags |= SC_ACCESSLOG_URX;
    }
    if (s->resp_started || out == NULL) {
        /* Headers already went out: all we can do is cut the connection. */
        if (out != NULL) {
            evbuffer_free(out);
        }
        s->close_after = 1;
        sc_l7_req_log(&s->p, &s->r);
        close_when_flushed(s, "upstream_reset_after_response_started");
        return;
    }
    if (close || !s->req_done) {
        s->close_after = 1;
    }
    /* a reply is rare: it is formatted aside, then queued like the rest */
    sc_localreply_write(lr, s->close_after, s->r.head_method, time(NULL), out);
    if (sc_l7_out_add(s, evbuffer_pullup(out, -1), evbuffer_get_length(out)) == 0) {
        s->bytes[1] += evbuffer_get_length(out);
    }
    evbuffer_free(out);
    sc_l7_down_kick(s);
    s->r.rec.bytes_sent += lr->body_len;
    s->resp_started = 1;
    if (s->close_after) {
        sc_l7_req_log(&s->p, &s->r);
        close_when_flushed(s, lr->status == 400 || lr->status == 431 ? "http_protocol_error"
                                                                     : "http_local_reply");
        return;
    }
    sc_l7_request_done(s, 0);
}

/* ---- timeouts ----------------------------------------------------------- */

static void on_header_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sc_l7 *s = arg;
    struct sc_localreply lr;

    SC_MAGIC_CHECK(s, SC_MAGIC_L7);
    (void)fd;
    (void)what;
    sc_localreply_request_timeout(&lr);
    sc_l7_local_reply(s, &lr, 1);
}

static void on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish(arg, "idle_timeout");
}

void sc_l7_on_request_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sc_l7 *s = arg;
    struct sc_localreply lr;

    SC_MAGIC_CHECK(s, SC_MAGIC_L7);
    (void)fd;
    (void)what;
    sc_l7_release_upstream(s, 0);
    sc_localreply_upstream_timeout(&lr);
    sc_l7_local_reply(s, &lr, 1);
}

/* ---- upgrade: hand both sides to the L4 relay --------------------------- */

static void on_relay_done(struct sc_relay *r, enum sc_relay_end why, const char *detail,
                          const uint64_t bytes[2], void *arg)
{
    struct sc_l7 *s = arg;
    char end[256];

    SC_MAGIC_CHECK(s, SC_MAGIC_L7);
    (void)r;
    s->relay = NULL; /* frees itself */
    s->bytes[0] += bytes[0];
    s->bytes[1] += bytes[1];
    /* the upgrade's or CONNECT's line, written when its tunnel ends (as
     * Envoy does), with the tunnel's bytes and duration in it */
    s->r.rec.bytes_received += bytes[0];
    s->r.rec.bytes_sent += bytes[1];
    sc_l7_req_log(&s->p, &s->r);
    finish(s, sc_relay_end_str(why, detail, end, sizeof(end)));
}

void sc_l7_switch_to_relay(struct sc_l7 *s)
{
    struct sc_relay_limits lim = {s->cfg->buffer_limit, s->p.timeouts->idle_ms,
                                  s->p.timeouts->half_closed_ms};
    struct evbuffer *in[2] = {evbuffer_new(), evbuffer_new()};
    struct evbuffer *out[2] = {evbuffer_new(), evbuffer_new()};
    struct sc_io *up = sc_upconn_detach(s->uc), *down = s->dio;
    int ok;

    s->uc = NULL;
    s->dio = NULL;
    sc_io_set_event(down, NULL);
    sc_l7_ev_drop(&s->dev);
    evtimer_del(s->timer);
    /* First, in order: what the client sent after its request head, what
     * the upstream sent after its 101 / 2xx, what of the response is still
     * for the client (the 101 itself), what of the request has not reached
     * the upstream. */
    sc_l7_req_drop_written(s);
    ok = in[0] != NULL && in[1] != NULL && out[0] != NULL && out[1] != NULL &&
         evbuffer_add(in[0], s->dbuf + s->doff, s->dlen - s->doff) == 0 &&
         evbuffer_add(in[1], s->ubuf + s->uoff, s->ulen - s->uoff) == 0 &&
         evbuffer_add(out[0], s->wbuf + s->woff, s->wlen - s->woff) == 0 &&
         evbuffer_add(out[0], s->bref, s->blen) == 0 &&
         evbuffer_add(out[1], s->rbuf + s->req_off, s->rlen - s->req_off) == 0 &&
         (s->rover == NULL || evbuffer_add_buffer(out[1], s->rover) == 0);
    sc_l7_req_reset(s);
    s->doff = s->dlen = 0;
    s->woff = s->wlen = 0;
    s->blen = 0;
    sc_l7_ubuf_release(s);
    if (ok) {
        s->relay = sc_relay_new_io(sc_wctx_base(s->p.w), down, up, in, out, &lim, on_relay_done, s);
    } else {
        sc_io_free(down);
        sc_io_free(up);
    }
    for (int i = 0; i < 2; i++) {
        if (in[i] != NULL) {
            evbuffer_free(in[i]);
        }
        if (out[i] != NULL) {
            evbuffer_free(out[i]);
        }
    }
    if (s->relay == NULL) {
        sc_l7_req_log(&s->p, &s->r);
        finish(s, "internal_error: relay");
    }
}

/* ---- downstream side ---------------------------------------------------- */

static int forward_request_head(struct sc_l7 *s, const struct sc_http1_head *h)
{
    struct sc_http1_field fields[6];
    struct sc_http1_rewrite rw = {fields, 0, SC_HTTP1_CONN_NONE};
    struct sc_xfcc_part parts[16];
    size_t n_parts = 0, xfcc_len, before;
    char xfcc_value[8192];
    const char *rid;
    size_t rid_len;
    enum sc_xfcc_mode mode = SC_XFCC_SANITIZE_SET;

    sc_xfcc_mode_parse(s->cfg->http.xfcc, &mode);
    /* x-request-id: kept when the client sent one, generated otherwise. */
    rid = sc_http1_head_get(h, "x-request-id", &rid_len);
    if (rid == NULL || rid_len == 0) {
        sc_uuid_v4(sc_wctx_uuid(s->p.w), s->r.request_id);
        fields[rw.n_fields++] = (struct sc_http1_field){"x-request-id", s->r.request_id};
    }
    /* x-forwarded-client-cert per the mode; a plaintext request's never
     * survives. */
    switch (sc_xfcc_action(mode, s->p.down_mtls && s->have_xfcc)) {
    case SC_XFCC_REMOVE:
        fields[rw.n_fields++] = (struct sc_http1_field){"x-forwarded-client-cert", NULL};
        break;
    case SC_XFCC_KEEP:
        break;
    case SC_XFCC_SET:
        fields[rw.n_fields++] = (struct sc_http1_field){"x-forwarded-client-cert", s->xfcc_element};
        break;
    case SC_XFCC_APPEND:
        /* Every incoming XFCC field, in order; sc_xfcc_forward_value drops
         * a value that does not parse, so an open quote cannot swallow our
         * element.  Too many fields or too long a value: our element only. */
        for (size_t i = 0; i < h->n_headers; i++) {
            if (strcasecmp(h->headers[i].name, "x-forwarded-client-cert") != 0) {
                continue;
            }
            if (n_parts == sizeof(parts) / sizeof(parts[0])) {
                n_parts = 0;
                break;
            }
            parts[n_parts++] = (struct sc_xfcc_part){h->headers[i].value, h->headers[i].value_len};
        }
        if (sc_xfcc_forward_value(SC_XFCC_APPEND, parts, n_parts, s->xfcc_element, xfcc_value,
                                  sizeof(xfcc_value), &xfcc_len) == 1) {
            fields[rw.n_fields++] = (struct sc_http1_field){"x-forwarded-client-cert", xfcc_value};
        } else {
            fields[rw.n_fields++] =
                (struct sc_http1_field){"x-forwarded-client-cert", s->xfcc_element};
        }
        break;
    }
    if (s->p.dir == SC_DIR_INBOUND) {
        fields[rw.n_fields++] =
            (struct sc_http1_field){"x-forwarded-proto", s->p.down_mtls ? "https" : "http"};
    }
    /* Connection is hop-by-hop: a client's "close" ends its own connection,
     * never the pooled upstream one.  An HTTP/1.0 request is forwarded as
     * 1.0 and asks for keep-alive explicitly. */
    rw.connection = h->version_minor == 0 ? SC_HTTP1_CONN_KEEP_ALIVE : SC_HTTP1_CONN_NONE;
    /* written once, straight into the bytes for the upstream */
    {
        size_t need = 0;
        unsigned char *d = sc_l7_req_room(s, 1);

        if (d != NULL &&
            sc_http1_head_format(h, &rw, (char *)d, SC_IO_BUF_SIZE - s->rlen, &need) == 0) {
            s->rlen += need;
        } else {
            /* larger than a buffer (or no buffer): the rare way */
            before = sc_l7_req_len(s);
            if ((s->rover == NULL && (s->rover = evbuffer_new()) == NULL) ||
                sc_http1_head_write(h, &rw, s->rover) != 0) {
                return -1;
            }
            need = sc_l7_req_len(s) - before;
        }
        s->bytes[0] += need;
    }
    return 0;
}

/* Parses what the downstream sent, as far as the state allows. */
static void process_down(struct sc_l7 *s)
{
    while (s->state == S_HEAD ||
           ((s->state == S_EXCHANGE || s->state == S_WAIT_UP) && !s->req_done)) {
        const char *p = (const char *)s->dbuf + s->doff;
        size_t len = s->dlen - s->doff, body = 0;
        enum sc_http1_ev ev;
        const struct sc_http1_head *h;

        if (s->state == S_HEAD && len == 0) {
            return;
        }
        /* parsed where it was read: head bytes are consumed (the parser
         * keeps the head), body bytes are p[0..body) */
        ev = sc_http1_feed(s->req_parser, len > 0 ? p : "", len, &body);
        s->doff += body;
        switch (ev) {
        case SC_HTTP1_EV_NEED_MORE:
            return;
        case SC_HTTP1_EV_BEGIN:
            sc_l7_req_begin(&s->r, &s->p, s->p.down_mtls ? s->p.peer_id : NULL);
            sc_l7_arm(s, on_header_timeout, s->p.timeouts->request_headers_ms);
            continue;
        case SC_HTTP1_EV_HEAD:
            h = sc_http1_head(s->req_parser);
            sc_l7_req_head(&s->r, h);
            if (sc_accesslog_rec_wants(&s->r.rec, SC_ACCESSLOG_UPSTREAM_HOST)) {
                /* Envoy logs the host it tried even when the connect fails. */
                char host[64];

                sc_accesslog_rec_sets(&s->r.rec, SC_ACCESSLOG_UPSTREAM_HOST,
                                      sc_addr_str(&s->p.up.addr, host, sizeof(host)));
            }
            if (!h->keep_alive) {
                s->close_after = 1;
            }
            evtimer_del(s->timer);
            sc_l7_req_reset(s);
            /* What we send is kept (by reference) for one retry. */
            s->replayable = 1;
            if (forward_request_head(s, h) != 0) {
                struct sc_localreply lr;

                sc_localreply_bad_request(&lr);
                sc_l7_local_reply(s, &lr, 1);
                return;
            }
            s->retries_left = s->cfg->http.retries;
            s->state = S_WAIT_UP;
            sc_l7_get_upstream(s, 0);
            continue;
        case SC_HTTP1_EV_BODY:
        case SC_HTTP1_EV_DONE:
            if (body > 0) {
                if (s->replayable && sc_l7_req_len(s) + body > REPLAY_MAX) {
                    /* too big to hold for a retry: written bytes go */
                    s->replayable = 0;
                    sc_l7_req_drop_written(s);
                }
                if (sc_l7_req_add(s, p, body) != 0) {
                    struct sc_localreply lr;

                    sc_l7_release_upstream(s, 0);
                    sc_localreply_upstream_reset(&lr, SC_RESET_OVERFLOW, 0, NULL);
                    sc_l7_local_reply(s, &lr, 1);
                    return;
                }
                s->r.rec.bytes_received += body;
                s->bytes[0] += body;
                if (s->uc != NULL) {
                    sc_upconn_kick(s->uc);
                }
                if (sc_l7_req_len(s) - s->req_off >= s->cfg->buffer_limit) {
                    s->down_paused = 1; /* up_write() reads on */
                    return;
                }
            }
            if (ev == SC_HTTP1_EV_DONE) {
                s->req_done = 1;
                /* Pipelined requests wait until this one is answered:
                 * reading goes on only to see the client leave (their
                 * bytes stay unparsed, at most one buffer of them). */
                return;
            }
            continue;
        case SC_HTTP1_EV_UPGRADE:
            /* The request asked to switch protocols; its bytes after the
             * head flow once the upstream agrees (101 / 2xx). */
            s->req_done = 1;
            s->upgrade_wait = 1;
            return;
        case SC_HTTP1_EV_EOF:
            return;
        case SC_HTTP1_EV_ERROR: {
            struct sc_localreply lr;

            if (s->state != S_HEAD) {
                /* A broken body after the head went out: cut both sides. */
                sc_l7_release_upstream(s, 0);
            }
            if (!s->r.started) {
                sc_l7_req_begin(&s->r, &s->p, NULL);
            }
            sc_localreply_for_http1_error(&lr, sc_http1_error(s->req_parser));
            sc_l7_local_reply(s, &lr, 1);
            return;
        }
        }
    }
}

/* Writes what waits for the client: wbuf, then bref (gathered into wbuf
 * when it fits: one record).  0 when all is out (the buffers go back), 1
 * when the socket is full, -1 on an error. */
static int down_flush(struct sc_l7 *s)
{
    while (sc_l7_out_pending(s) > 0) {
        ssize_t n;

        if (!sc_io_can_write(s->dio)) {
            return 1;
        }
        if (s->wlen > s->woff) {
            size_t len;

            if (s->blen > 0 && s->wcap - s->wlen >= s->blen) {
                memcpy(s->wbuf + s->wlen, s->bref, s->blen);
                s->wlen += s->blen;
                s->blen = 0;
            }
            len = s->wlen - s->woff < SC_IO_BUF_SIZE ? s->wlen - s->woff : SC_IO_BUF_SIZE;
            n = sc_io_write(s->dio, s->wbuf + s->woff, len);
            if (n == SC_IO_AGAIN) {
                return 1;
            }
            if (n < 0) {
                return -1;
            }
            s->woff += (size_t)n;
        } else {
            n = sc_io_write(s->dio, s->bref, s->blen < SC_IO_BUF_SIZE ? s->blen : SC_IO_BUF_SIZE);
            if (n == SC_IO_AGAIN) {
                return 1;
            }
            if (n < 0) {
                return -1;
            }
            s->bref += n;
            s->blen -= (size_t)n;
        }
    }
    sc_l7_buf_put(s->wbuf, s->wheap);
    s->wbuf = NULL;
    s->wcap = s->woff = s->wlen = 0;
    s->bref = NULL;
    if (s->ubuf_held) {
        sc_io_buf_put(s->ubuf);
        s->ubuf = NULL;
        s->ubuf_held = 0;
    }
    return 0;
}

/* The client's side failed (a reset, a TLS error): Envoy's DC for a
 * request in flight, and the upstream is released now (freeing the session
 * closes or cancels it) rather than at the request timeout. */
static void down_failed(struct sc_l7 *s)
{
    char end[256];

    if (s->state == S_CLOSING || s->state == S_LINGER) {
        finish(s, s->ended);
        return;
    }
    s->r.rec.flags |= SC_ACCESSLOG_DC;
    sc_l7_req_log(&s->p, &s->r);
    finish(s, sc_relay_end_str(SC_RELAY_DOWN_RESET, sc_io_error(s->dio, NULL), end, sizeof(end)));
}

/* The client ended its side, after everything it sent was parsed. */
static void down_ended(struct sc_l7 *s)
{
    if (s->state == S_HEAD && !sc_http1_in_message(s->req_parser)) {
        finish(s, "peer_closed");
        return;
    }
    if (s->req_done && s->resp_started) {
        /* Half-closed while the response flows: finish it, then close. */
        s->down_eof = 1;
        return;
    }
    /* Gone in the middle of a request, or while it waits for its response:
     * Envoy's DC. */
    s->r.rec.flags |= SC_ACCESSLOG_DC;
    sc_l7_req_log(&s->p, &s->r);
    finish(s, "peer_closed");
}

/* Whether to read more of what the client sends now. */
static int down_may_read(const struct sc_l7 *s)
{
    return (s->state == S_HEAD || s->state == S_WAIT_UP || s->state == S_EXCHANGE) &&
           !s->down_paused && !s->upgrade_wait && !s->down_eof;
}

/* Parses what the client sent and reads more, until the socket is empty,
 * the state says wait, or one buffer of it waits unparsed. */
static void down_read(struct sc_l7 *s)
{
    for (;;) {
        ssize_t n;

        process_down(s);
        if (s->doff == s->dlen) {
            s->doff = s->dlen = 0;
        }
        if (!down_may_read(s) || !sc_io_can_read(s->dio)) {
            break;
        }
        if (sc_l7_dbuf_get(s) != 0) {
            down_failed(s);
            return;
        }
        if (s->doff > 0) {
            memmove(s->dbuf, s->dbuf + s->doff, s->dlen - s->doff);
            s->dlen -= s->doff;
            s->doff = 0;
        }
        if (s->dlen == s->dcap) {
            break; /* a buffer of pipelined bytes: enough */
        }
        n = sc_io_read(s->dio, s->dbuf + s->dlen, s->dcap - s->dlen);
        if (n == SC_IO_AGAIN) {
            break;
        }
        if (n < 0) {
            down_failed(s);
            return;
        }
        if (n == 0) {
            down_ended(s);
            return;
        }
        s->dlen += (size_t)n;
    }
    if (s->dlen == 0 && s->dbuf != NULL) {
        sc_l7_buf_put(s->dbuf, s->dheap); /* nothing unparsed: hold no buffer */
        s->dbuf = NULL;
        s->dcap = 0;
    }
}

/* Everything on the client's side, after a wake-up or a kick: write what
 * waits, then (when the client has taken the response's body) read and
 * parse what it sent. */
static void down_pump(struct sc_l7 *s)
{
    size_t high = s->cfg->buffer_limit < SC_IO_BUF_SIZE ? s->cfg->buffer_limit : SC_IO_BUF_SIZE;
    int r;

    if (s->state == S_LINGER) {
        linger_read(s);
        return;
    }
    r = down_flush(s);
    if (r < 0) {
        down_failed(s);
        return;
    }
    if (s->state == S_CLOSING) {
        if (r == 0) {
            linger(s);
        }
        return;
    }
    if (s->up_paused && s->uc != NULL && s->blen == 0 && s->wlen - s->woff < high) {
        /* the client took the response so far: read the upstream again */
        s->up_paused = 0;
        sc_upconn_kick(s->uc);
    }
    if (s->blen > 0 && s->state == S_HEAD) {
        return; /* the last response's body first */
    }
    down_read(s);
}

static void on_down_io(evutil_socket_t fd, short what, void *arg)
{
    struct sc_l7 *s = arg;

    (void)fd;
    SC_MAGIC_CHECK(s, SC_MAGIC_L7);
    sc_io_ready(s->dio, what);
    down_pump(s);
}

/* ---- entry -------------------------------------------------------------- */

/* The bytes the bufferevent had read (in) and not yet written (out). */
static int load_early(struct sc_l7 *s, struct evbuffer *in, struct evbuffer *out)
{
    size_t n = evbuffer_get_length(in);

    if (n > 0) {
        s->dheap = n > SC_IO_BUF_SIZE;
        s->dbuf = s->dheap ? malloc(n) : sc_io_buf_get();
        if (s->dbuf == NULL) {
            return -1;
        }
        s->dcap = s->dheap ? n : SC_IO_BUF_SIZE;
        evbuffer_remove(in, s->dbuf, n);
        s->dlen = n;
    }
    n = evbuffer_get_length(out);
    return n > 0 ? sc_l7_out_add(s, evbuffer_pullup(out, -1), n) : 0;
}

struct sc_l7 *sc_l7_new(const struct sc_l7_params *p, sc_l7_done_fn *done, void *arg)
{
    struct sc_l7 *s = sc_l7_alloc();
    const struct sc_tls_material *m;
    struct evbuffer *in = NULL, *out = NULL;

    if (s == NULL) {
        if (p->down != NULL) {
            bufferevent_free(p->down);
        }
        sc_io_free(p->down_io);
        return NULL;
    }
    SC_MAGIC_SET(s, SC_MAGIC_L7);
    s->p = *p;
    s->p.snap = sc_snapshot_ref(p->snap);
    s->p.up.snap = s->p.snap;
    s->cfg = sc_snapshot_config(p->snap);
    s->done = done;
    s->arg = arg;
    if (s->req_parser == NULL) {
        s->req_parser = sc_http1_new(SC_HTTP1_REQUEST, NULL);
    }
    if (s->resp_parser == NULL) {
        s->resp_parser = sc_http1_new(SC_HTTP1_RESPONSE, NULL);
    }
    if (p->down != NULL) {
        in = evbuffer_new();
        out = evbuffer_new();
    }
    if (s->req_parser == NULL || s->resp_parser == NULL ||
        sc_objcache_event(&s->timer, sc_wctx_base(p->w), -1, 0, on_idle_timeout, s) != 0 ||
        (p->down != NULL && (in == NULL || out == NULL))) {
        if (p->down != NULL) {
            bufferevent_free(p->down);
        }
        sc_io_free(p->down_io);
        goto fail;
    }
    /* Out of its bufferevent and onto the I/O layer: what it had read
     * (the handshake's last record, the sniffed request) is parsed first.
     * An HBONE stream's pair end is on it already. */
    s->dio = p->down != NULL ? sc_io_from_bufferevent(p->down, in, out) : p->down_io;
    if (s->dio == NULL || (in != NULL && load_early(s, in, out) != 0)) {
        goto fail;
    }
    if (sc_objcache_event(&s->dev, sc_wctx_base(p->w), sc_io_fd(s->dio),
                          EV_READ | EV_WRITE | EV_CLOSED | EV_PERSIST | EV_ET, on_down_io,
                          s) != 0 ||
        event_add(s->dev, NULL) != 0) {
        goto fail;
    }
    sc_io_watched(s->dio);
    sc_io_set_event(s->dio, s->dev);
    if (in != NULL) {
        evbuffer_free(in);
        evbuffer_free(out);
        in = out = NULL;
    }
    m = sc_snapshot_material(p->snap);
    if (p->down_mtls && p->peer_cert != NULL && m != NULL) {
        char by[600];

        if (sc_x509_spiffe_id(sc_tls_material_leaf(m), by, sizeof(by)) != 0) {
            by[0] = '\0';
        }
        s->have_xfcc =
            sc_xfcc_element(p->peer_cert, by, s->xfcc_element, sizeof(s->xfcc_element), NULL) == 0;
    }
    if (s->p.timeouts->idle_ms > 0) {
        sc_l7_arm(s, on_idle_timeout, s->p.timeouts->idle_ms);
    }
    sc_l7_down_kick(s);
    return s;

fail:
    if (in != NULL) {
        evbuffer_free(in);
    }
    if (out != NULL) {
        evbuffer_free(out);
    }
    sc_l7_free(s);
    return NULL;
}

void sc_l7_drain(struct sc_l7 *s)
{
    s->close_after = 1;
    if (s->state == S_HEAD && !sc_http1_in_message(s->req_parser) && s->dlen == s->doff) {
        close_when_flushed(s, "drain");
    }
}
