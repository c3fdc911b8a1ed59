#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http1.h"
#include "io.h"
#include "l7_session_internal.h"
#include "localreply.h"
#include "magic.h"
#include "snapshot.h"
#include "upool.h"
#include "wctx.h"

/* The L7 session's upstream side: a connection borrowed from the worker's
 * pool (proxy/http/upool.h) per request, the request written from the bytes the
 * session holds for it, the response read into a free-list buffer and
 * forwarded to the client's write buffer, one retry on a fresh connection
 * when that is safe.  The pool's event for the socket calls on_up_io(). */

static void on_up_io(void *arg, short what);

/* ---- upstream side ------------------------------------------------------ */

/* RFC 9110 §9.2.2: safe to send twice (or the client says so). */
static int idempotent(const struct sc_http1_head *h)
{
    static const char *const methods[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(h->method, methods[i]) == 0) {
            return 1;
        }
    }
    return sc_http1_head_get(h, "idempotency-key", NULL) != NULL;
}

/* Whether the failed request may go again on a fresh connection: we still
 * hold all of it, a retry is left, no response byte came back, and either
 * nothing of it went out (the connect failed, or the connection failed
 * before a byte was written: any method) or it went out on a reused
 * connection that closed without a byte of response -- the keep-alive race,
 * where the server gave up on the connection as the request arrived -- and
 * the request is idempotent.  A request that reached a fresh connection may
 * have been acted on: it is not replayed. */
static int may_retry(const struct sc_l7 *s)
{
    if (s->resp_started || s->retries_left <= 0 || !s->replayable) {
        return 0;
    }
    if (s->uc == NULL || (s->up_sent == 0 && !s->up_got)) {
        return 1;
    }
    return sc_upconn_info(s->uc)->reused && !s->up_got && !s->interim &&
           idempotent(sc_http1_head(s->req_parser));
}

/* A failure that a new connection to the same server would meet again: the
 * server's identity was refused, or its chain did not verify. */
static int deterministic(const struct sc_upstream_result *res)
{
    return res != NULL && (res->status == SC_UPSTREAM_IDENTITY_REJECTED ||
                           (res->status == SC_UPSTREAM_TLS_FAILED && res->verify_result != 0));
}

/* The upstream failed before its response: retry once on a fresh
 * connection when may_retry() says so (never for a refused identity or
 * chain: one handshake, one 503), else answer with Envoy's 503. */
static void up_failed(struct sc_l7 *s, enum sc_reset_reason why, const char *reason,
                      const struct sc_upstream_result *res)
{
    struct sc_localreply lr;
    char tls[SC_LOCALREPLY_BODY_MAX] = "";

    if (!deterministic(res) && may_retry(s)) {
        s->retries_left--;
        s->r.retried = 1;
        sc_l7_release_upstream(s, 0);
        s->interim = 0;
        sc_http1_reset(s->resp_parser); /* whatever the failed one began */
        s->req_off = 0; /* all of it again, from the same bytes */
        s->state = S_WAIT_UP;
        sc_l7_get_upstream(s, 1);
        return;
    }
    sc_l7_release_upstream(s, 0);
    if (res != NULL &&
        (res->status == SC_UPSTREAM_TLS_FAILED || res->status == SC_UPSTREAM_IDENTITY_REJECTED) &&
        res->reason[0] != '\0' && strncmp(res->reason, "internal_error", 14) != 0) {
        /* Envoy's "TLS error: ", then the sentence the connection log
         * writes ("peer chain does not lead to any of 2 trusted roots
         * (issuer CN=bar; ...)", "peer SAN ... not in [...]"), in the body,
         * the access log and the downstream connection's line */
        const char *sentence = strstr(res->reason, ": ");

        sentence = sentence != NULL ? sentence + 2 : res->reason;
        snprintf(tls, sizeof(tls), "TLS error: %s", sentence);
        sc_accesslog_rec_sets(&s->r.rec, SC_ACCESSLOG_TRANSPORT_FAILURE, tls);
        snprintf(s->up_failure, sizeof(s->up_failure), "%s", res->reason);
    } else if (res != NULL && res->sys_errno != 0) {
        /* Envoy's words for a refused or unreachable connect. */
        snprintf(tls, sizeof(tls), "delayed connect error: %d", res->sys_errno);
        sc_accesslog_rec_sets(&s->r.rec, SC_ACCESSLOG_TRANSPORT_FAILURE, tls);
    } else if (reason != NULL) {
        sc_accesslog_rec_sets(&s->r.rec, SC_ACCESSLOG_TRANSPORT_FAILURE, reason);
    }
    if (res != NULL && (res->status == SC_UPSTREAM_CONNECT_TIMEOUT ||
                        res->status == SC_UPSTREAM_HANDSHAKE_TIMEOUT)) {
        why = SC_RESET_CONNECTION_TIMEOUT;
    }
    sc_localreply_upstream_reset(&lr, why, s->r.retried, tls);
    sc_l7_local_reply(s, &lr, 0);
}

static void start_exchange(struct sc_l7 *s)
{
    const struct sc_upconn_info *ui = sc_upconn_info(s->uc);

    s->state = S_EXCHANGE;
    s->up_got = 0;
    s->up_sent = 0;
    if (s->p.dir == SC_DIR_OUTBOUND && ui->peer_id[0] != '\0') {
        sc_accesslog_rec_sets(&s->r.rec, SC_ACCESSLOG_PEER_ID, ui->peer_id);
    }
    sc_http1_expect_response(s->resp_parser, sc_http1_head(s->req_parser));
    sc_upconn_watch(s->uc, on_up_io, s);
    s->r.t_upstream_start = sc_l7_now_ms();
    if (s->p.timeouts->request_ms > 0) {
        sc_l7_arm(s, sc_l7_on_request_timeout, s->p.timeouts->request_ms);
    }
    /* The request goes out from the loop, in this same pass (no system
     * call to get there): whoever called us may go on with the session. */
    sc_upconn_kick(s->uc);
}

static void on_upstream_ready(void *arg, struct sc_upconn *uc, const struct sc_upstream_result *res)
{
    struct sc_l7 *s = arg;

    SC_MAGIC_CHECK(s, SC_MAGIC_L7);
    s->wait = NULL;
    if (uc == NULL) {
        up_failed(s, SC_RESET_CONNECTION_FAILURE, res->reason, res);
        return;
    }
    s->uc = uc;
    start_exchange(s);
}

void sc_l7_get_upstream(struct sc_l7 *s, int fresh)
{
    struct sc_upool_limits lim = {s->cfg->http.max_connections, s->cfg->http.max_pending,
                                  s->p.timeouts->upstream_idle_ms};
    struct sc_upconn *uc = NULL;

    switch (sc_upool_get(sc_wctx_upool(s->p.w), &s->p.up, s->p.route, &lim, fresh,
                         on_upstream_ready, s, &uc, &s->wait)) {
    case SC_UPOOL_READY:
        s->uc = uc;
        start_exchange(s);
        return;
    case SC_UPOOL_WAITING:
        return;
    case SC_UPOOL_OVERFLOW:
    case SC_UPOOL_ERROR: {
        struct sc_localreply lr;

        sc_localreply_upstream_reset(&lr, SC_RESET_OVERFLOW, 0, NULL);
        sc_l7_local_reply(s, &lr, 0);
        return;
    }
    }
}

/* Writes what the request has for the upstream, as far as the socket
 * takes it: at most one 16 KiB piece per write, small pieces gathered into
 * one (one TLS record for a head and the start of its body).  0, or -1
 * when the upstream failed (the session has moved on, or is gone). */
static int up_write(struct sc_l7 *s)
{
    struct sc_io *io = sc_upconn_info(s->uc)->io;
    size_t total = sc_l7_req_len(s);

    while (s->req_off < total && sc_io_can_write(io)) {
        size_t left = total - s->req_off, len;
        const void *p;
        unsigned char *gather = NULL;
        ssize_t n;

        if (s->req_off < s->rlen) {
            p = s->rbuf + s->req_off;
            len = s->rlen - s->req_off;
        } else {
            struct evbuffer_ptr pos;
            struct evbuffer_iovec v;

            evbuffer_ptr_set(s->rover, &pos, s->req_off - s->rlen, EVBUFFER_PTR_SET);
            if (evbuffer_peek(s->rover, (ev_ssize_t)left, &pos, &v, 1) < 1) {
                break;
            }
            p = v.iov_base;
            len = v.iov_len < left ? v.iov_len : left;
        }
        if (len < left && len < SC_IO_BUF_SIZE && (gather = sc_io_buf_get()) != NULL) {
            /* small pieces gathered into one write (one TLS record) */
            size_t first = len;

            len = left < SC_IO_BUF_SIZE ? left : SC_IO_BUF_SIZE;
            memcpy(gather, p, first);
            if (s->req_off < s->rlen) {
                evbuffer_copyout(s->rover, gather + first, len - first);
            } else {
                struct evbuffer_ptr pos;

                evbuffer_ptr_set(s->rover, &pos, s->req_off - s->rlen + first, EVBUFFER_PTR_SET);
                evbuffer_copyout_from(s->rover, &pos, gather + first, len - first);
            }
            p = gather;
        }
        if (len > SC_IO_BUF_SIZE) {
            len = SC_IO_BUF_SIZE;
        }
        n = sc_io_write(io, p, len);
        sc_io_buf_put(gather);
        if (n == SC_IO_AGAIN) {
            break;
        }
        if (n < 0) {
            up_failed(s, SC_RESET_CONNECTION_TERMINATION, NULL, NULL);
            return -1;
        }
        s->req_off += (size_t)n;
        s->up_sent += (size_t)n;
        if (!s->replayable) {
            sc_l7_req_drop_written(s);
            total = sc_l7_req_len(s);
        }
    }
    if (s->down_paused && total - s->req_off <= s->cfg->buffer_limit / 2) {
        /* The upstream took our bytes: read more of the request. */
        s->down_paused = 0;
        if (!s->req_done) {
            sc_l7_down_kick(s);
        }
    }
    return 0;
}

/* The upstream ended its side (FIN or close_notify): a response delimited
 * by the connection closing ends here; anything else is a failure. */
static void up_eof(struct sc_l7 *s)
{
    if (sc_http1_finish(s->resp_parser) == SC_HTTP1_EV_DONE) {
        s->close_after = s->close_after || !s->req_done;
        sc_l7_request_done(s, 0);
        return;
    }
    up_failed(s, SC_RESET_CONNECTION_TERMINATION, NULL, NULL);
}

/* Parses the upstream bytes in hand and forwards the response downstream.
 * 0 when all were taken (read more), 1 when the session moved on (the
 * exchange ended, failed or upgraded: s may be gone), 2 when a body piece
 * waits in ubuf for the client to take it. */
static int up_parse(struct sc_l7 *s)
{

    for (;;) {
        const char *p = (const char *)s->ubuf + s->uoff;
        size_t len = s->ulen - s->uoff, n = 0;
        enum sc_http1_ev ev = sc_http1_feed(s->resp_parser, p, len, &n);
        const struct sc_http1_head *h;

        s->uoff += n;
        switch (ev) {
        case SC_HTTP1_EV_NEED_MORE:
            return 0;
        case SC_HTTP1_EV_BEGIN:
            continue;
        case SC_HTTP1_EV_HEAD:
            h = sc_http1_head(s->resp_parser);
            if (h->status >= 100 && h->status < 200 && h->status != 101) {
                /* 100 Continue and friends go straight through; the final
                 * response follows on the same parser. */
                if (sc_http1_head(s->req_parser)->version_minor >= 1) {
                    s->bytes[1] += sc_l7_out_response_head(s, h, 0, -1);
                }
                s->interim = 1; /* its DONE is not the response's */
                continue;
            }
            if (s->replayable) {
                /* nothing to replay once answered */
                s->replayable = 0;
                sc_l7_req_drop_written(s);
            }
            {
                long svc = sc_l7_now_ms() - s->r.t_upstream_start;

                if (sc_accesslog_rec_wants(&s->r.rec, SC_ACCESSLOG_UPSTREAM_SERVICE_TIME)) {
                    char svcs[24];

                    sc_l7_fmt_long(svcs, svc);
                    sc_accesslog_rec_sets(&s->r.rec, SC_ACCESSLOG_UPSTREAM_SERVICE_TIME, svcs);
                }
                /* A retry that got an answer is no failure: URX (retries
                 * exhausted) only goes with a local reply, as in Envoy. */
                s->r.rec.response_code = h->status;
                sc_accesslog_rec_sets(&s->r.rec, SC_ACCESSLOG_RESPONSE_CODE_DETAILS,
                                      "via_upstream");
                /* The downstream connection closes when its client asked
                 * to, or when the body is delimited by the upstream closing
                 * (we forward bodies as they are).  The upstream's own
                 * keep-alive only decides whether its connection is pooled. */
                if (!sc_http1_head(s->req_parser)->keep_alive || h->framing == SC_HTTP1_BODY_EOF) {
                    s->close_after = 1;
                }
                s->bytes[1] += sc_l7_out_response_head(s, h, s->close_after, svc);
            }
            s->resp_started = 1;
            continue;
        case SC_HTTP1_EV_BODY:
        case SC_HTTP1_EV_DONE:
            if (n > 0) {
                /* A body piece rides behind its head in wbuf when it fits
                 * (one record), else goes from ubuf as it is, and parsing
                 * waits until the client has taken it. */
                if (s->wbuf != NULL && s->wcap - s->wlen >= n) {
                    memcpy(s->wbuf + s->wlen, p, n);
                    s->wlen += n;
                } else {
                    s->bref = (const unsigned char *)p;
                    s->blen = n;
                }
                s->r.rec.bytes_sent += n;
                s->bytes[1] += n;
            }
            if (ev == SC_HTTP1_EV_DONE && s->interim) {
                s->interim = 0; /* a 1xx ended: the final response follows */
                continue;
            }
            if (ev == SC_HTTP1_EV_DONE && sc_http1_head(s->resp_parser)->upgrade) {
                continue; /* 101 (or 2xx to CONNECT): UPGRADE follows */
            }
            if (ev == SC_HTTP1_EV_DONE) {
                /* reusable: both sides keep it alive and it sent nothing
                 * after its response */
                int reusable =
                    s->req_done && sc_http1_head(s->resp_parser)->keep_alive && s->uoff == s->ulen;
                if (!s->req_done) {
                    /* Answered before the request finished: the rest of the
                     * request has nowhere to go. */
                    s->close_after = 1;
                }
                sc_l7_request_done(s, reusable);
                return 1;
            }
            if (s->blen > 0) {
                sc_l7_down_kick(s);
                return 2;
            }
            continue;
        case SC_HTTP1_EV_UPGRADE:
            sc_l7_switch_to_relay(s);
            return 1;
        case SC_HTTP1_EV_EOF:
        case SC_HTTP1_EV_ERROR: {
            struct sc_localreply lr;

            sc_l7_release_upstream(s, 0);
            sc_localreply_upstream_reset(&lr, SC_RESET_PROTOCOL_ERROR, 0, NULL);
            sc_l7_local_reply(s, &lr, 1);
            return 1;
        }
        }
    }
}

/* Reads the response until the socket (and OpenSSL) has nothing more, the
 * client's side is full (buffer_limit_bytes: reading waits for it to
 * drain), or the exchange ends. */
static void up_read(struct sc_l7 *s)
{
    struct sc_io *io = sc_upconn_info(s->uc)->io;
    size_t high = s->cfg->buffer_limit < SC_IO_BUF_SIZE ? s->cfg->buffer_limit : SC_IO_BUF_SIZE;

    for (;;) {
        ssize_t n;
        int r;

        if (s->blen > 0 || s->wlen - s->woff >= high) {
            /* the client is behind: read on once it has taken this */
            s->up_paused = 1;
            sc_l7_down_kick(s);
            return;
        }
        if (s->uoff < s->ulen) {
            r = up_parse(s);
            if (r == 1) {
                return;
            }
            continue;
        }
        if (!sc_io_can_read(io)) {
            break;
        }
        if (s->ubuf == NULL && (s->ubuf = sc_io_buf_get()) == NULL) {
            up_failed(s, SC_RESET_CONNECTION_TERMINATION, "internal_error: out of memory", NULL);
            return;
        }
        s->uoff = s->ulen = 0;
        n = sc_io_read(io, s->ubuf, SC_IO_BUF_SIZE);
        if (n == SC_IO_AGAIN) {
            break;
        }
        if (n < 0) {
            sc_l7_ubuf_release(s);
            up_failed(s, SC_RESET_CONNECTION_TERMINATION, NULL, NULL);
            return;
        }
        if (n == 0) {
            sc_l7_ubuf_release(s);
            up_eof(s);
            return;
        }
        s->up_got = 1;
        s->ulen = (size_t)n;
    }
    sc_l7_ubuf_release(s);
    if (sc_l7_out_pending(s) > 0) {
        sc_l7_down_kick(s);
    }
}

/* The upstream socket woke up (or the session kicked it, what = 0): send
 * what the request has, then read what the response has. */
static void on_up_io(void *arg, short what)
{
    struct sc_l7 *s = arg;

    SC_MAGIC_CHECK(s, SC_MAGIC_L7);
    (void)what;
    if (s->state != S_EXCHANGE || s->uc == NULL) {
        return;
    }
    if (up_write(s) != 0) {
        return;
    }
    if (!s->up_paused) {
        up_read(s);
    }
}
