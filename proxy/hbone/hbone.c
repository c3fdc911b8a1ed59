#include "hbone.h"

#include <errno.h>
#include <stdarg.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "h2nv.h"
#include "hbone_internal.h"
#include "io.h"
#include "log.h"
#include "snapshot.h"
#include "stats.h"
#include "wctx.h"

/* ---- helpers -------------------------------------------------------------- */

static void stamp(char *out, size_t len)
{
    struct timespec now;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%03ldZ", now.tv_nsec / 1000000L);
}

/* ---- tunnel lifetime ------------------------------------------------------ */

static void tunnel_end(struct sc_hbone_tunnel *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tunnel_end(struct sc_hbone_tunnel *t, const char *fmt, ...)
{
    va_list ap;

    if (t->ended) {
        return;
    }
    t->ended = 1;
    va_start(ap, fmt);
    vsnprintf(t->reason, sizeof(t->reason), fmt, ap);
    va_end(ap);
}

void sc_hbone_i_enter(struct sc_hbone_tunnel *t)
{
    t->depth++;
}

/* Leaves a callback; the outermost one reports an end and frees. */
void sc_hbone_i_leave(struct sc_hbone_tunnel *t)
{
    if (--t->depth > 0 || !t->ended) {
        return;
    }
    if (t->done != NULL) {
        sc_hbone_tunnel_done_fn *done = t->done;

        t->done = NULL;
        done(t->arg, t->reason, t->n_streams, t->bytes);
    }
    sc_hbone_i_tunnel_destroy(t);
}

/* ---- streams ------------------------------------------------------------------ */

void sc_hbone_i_stream_set_reason(struct sc_hbone_stream *s, const char *fmt, ...)
{
    va_list ap;

    if (s->reason[0] != '\0') {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
    va_end(ap);
}

static void stream_unlink(struct sc_hbone_stream *s)
{
    struct sc_hbone_tunnel *t = s->t;

    if (t == NULL) {
        return;
    }
    LIST_REMOVE(s, link);
    t->n_open--;
    if (t->n_open == 0 && t->idle_cb != NULL) {
        t->idle_cb(t->idle_arg, t);
    }
}

/* Resets the stream's app end and forgets it, its event first: an event
 * already queued in this loop pass (or a pair peer's wake-up) must not
 * reach on_local with no end left. */
static void stream_drop_event(struct sc_hbone_stream *s)
{
    if (s->ev != NULL) {
        sc_io_set_event(s->io, NULL);
        event_free(s->ev);
        s->ev = NULL;
    }
}

static void stream_abort_local(struct sc_hbone_stream *s)
{
    stream_drop_event(s);
    sc_io_abort(s->io);
    s->io = NULL;
}

/* Frees the stream: reports its end (client) or logs it (server). */
void sc_hbone_i_stream_free(struct sc_hbone_stream *s, int abort_local)
{
    struct sc_hbone_tunnel *t = s->t;

    if (t != NULL && s->id > 0 && !s->h2_closed) {
        nghttp2_session_set_stream_user_data(t->ngh, s->id, NULL);
    }
    stream_drop_event(s);
    if (s->connect_ev != NULL) {
        event_free(s->connect_ev);
        s->connect_ev = NULL;
    }
    if (s->done != NULL) {
        struct sc_hbone_stream_end e;

        memset(&e, 0, sizeof(e));
        e.status = s->status;
        e.retry = s->retry && s->io != NULL;
        e.stream_id = s->id;
        e.tunnel_id = t != NULL ? t->peer.tunnel_id : 0;
        e.bytes[0] = s->bytes[0];
        e.bytes[1] = s->bytes[1];
        e.reason = s->reason[0] != '\0' ? s->reason : "peer_closed";
        if (e.retry) {
            /* never read (no 200 came): the local end goes back as it is,
             * for another stream to carry (its event went above) */
            e.io = s->io;
            s->io = NULL;
        }
        s->done(s->arg, &e);
    } else {
        sc_hbone_i_stream_log(s);
    }
    if (abort_local) {
        sc_io_abort(s->io);
    } else {
        sc_io_free(s->io);
    }
    s->io = NULL;
    if (s->local_fd >= 0) {
        close(s->local_fd);
    }
    evbuffer_free(s->to_local);
    stream_unlink(s);
    free(s);
}

/* Both halves done locally and on the wire: the stream can go. */
static void stream_maybe_done(struct sc_hbone_stream *s)
{
    if (s->h2_closed && evbuffer_get_length(s->to_local) == 0) {
        sc_hbone_i_stream_free(s, 0);
    }
}

/* Writes what the peer sent to the local socket, acknowledging it to
 * nghttp2 (the window opens as the local side takes bytes). */
static int local_flush(struct sc_hbone_stream *s)
{
    struct sc_hbone_tunnel *t = s->t;

    while (s->io != NULL && evbuffer_get_length(s->to_local) > 0) {
        struct evbuffer_iovec v;
        ssize_t n;

        if (!sc_io_can_write(s->io)) {
            return 0;
        }
        if (evbuffer_peek(s->to_local, -1, NULL, &v, 1) < 1) {
            break;
        }
        n = sc_io_write(s->io, v.iov_base, v.iov_len);
        if (n == SC_IO_AGAIN) {
            return 0;
        }
        if (n < 0) {
            sc_hbone_i_stream_set_reason(s, "%s: %s",
                                         t->client ? "downstream_reset" : "upstream_reset",
                                         sc_io_error(s->io, NULL));
            return -1;
        }
        evbuffer_drain(s->to_local, (size_t)n);
        s->bytes[1] += (uint64_t)n;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &s->last);
        if (s->id > 0 && !s->h2_closed) {
            nghttp2_session_consume(t->ngh, s->id, (size_t)n);
        } else if (t != NULL) {
            nghttp2_session_consume_connection(t->ngh, (size_t)n);
        }
    }
    if (s->io != NULL && s->remote_eof && !s->local_shut && evbuffer_get_length(s->to_local) == 0 &&
        (!s->http || s->bytes[0] > 0)) {
        /* An HTTP session takes an end of stream before its response has
         * started as the client going away (Envoy's DC): for a stream
         * handed to one, the FIN waits for the first response bytes. */
        s->local_shut = 1;
        sc_io_shutdown(s->io);
    }
    return 0;
}

/* The stream failed on the local side: reset it on the wire. */
void sc_hbone_i_stream_reset(struct sc_hbone_stream *s, uint32_t code)
{
    struct sc_hbone_tunnel *t = s->t;

    if (s->id > 0 && !s->h2_closed) {
        nghttp2_submit_rst_stream(t->ngh, NGHTTP2_FLAG_NONE, s->id, code);
        if (s->status == 200) {
            sc_stats_hbone(sc_wctx_stats(t->w), t->dir, SC_HBONE_STREAM_RESET);
        }
        /* on_stream_close frees it */
        stream_abort_local(s);
        return;
    }
    sc_hbone_i_stream_free(s, 1);
}

/* Batching: a stream's bytes, or the tunnel's own frames, are not written at
 * once but by one callback queued behind every event this loop turn has
 * already activated (libevent runs an event_active()d event after those in
 * the same pass). So the streams that had bytes ready in one epoll_wait
 * batch leave in one TLS record and one send, as nginx posts its HTTP/2
 * writes for the end of the cycle. */
static void schedule_flush(struct sc_hbone_tunnel *t)
{
    if (!t->flush_pending && !t->ended) {
        t->flush_pending = 1;
        event_active(t->flush, 0, 0);
    }
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct sc_hbone_tunnel *t = arg;

    (void)fd;
    (void)what;
    t->flush_pending = 0;
    sc_hbone_i_enter(t);
    sc_hbone_i_tunnel_pump(t);
    sc_hbone_i_leave(t);
}

static void on_local(evutil_socket_t fd, short what, void *arg)
{
    struct sc_hbone_stream *s = arg;
    struct sc_hbone_tunnel *t = s->t;

    (void)fd;
    if (s->io == NULL) {
        return; /* its end is gone; the stream waits for nghttp2's close */
    }
    sc_hbone_i_enter(t);
    sc_io_ready(s->io, what);
    if (local_flush(s) != 0) {
        sc_hbone_i_stream_reset(s, NGHTTP2_CANCEL);
    } else if (s->deferred && (sc_io_can_read(s->io) || sc_io_peer_ended(s->io))) {
        s->deferred = 0;
        nghttp2_session_resume_data(t->ngh, s->id);
    }
    schedule_flush(t);
    sc_hbone_i_leave(t);
}

int sc_hbone_i_stream_attach_io(struct sc_hbone_stream *s, struct sc_io *io)
{
    struct sc_hbone_tunnel *t = s->t;

    s->io = io;
    s->ev = event_new(sc_wctx_base(t->w), sc_io_fd(io),
                      EV_READ | EV_WRITE | EV_CLOSED | EV_PERSIST | EV_ET, on_local, s);
    if (s->ev == NULL || event_add(s->ev, NULL) != 0) {
        return -1;
    }
    sc_io_set_event(io, s->ev);
    return 0;
}

int sc_hbone_i_stream_attach_local(struct sc_hbone_stream *s, int fd)
{
    struct sc_io *io = sc_io_new(fd, NULL);

    if (io == NULL) {
        close(fd);
        return -1;
    }
    return sc_hbone_i_stream_attach_io(s, io);
}

/* nghttp2 asks for a stream's next DATA bytes: read them straight from the
 * local socket into its frame buffer (no copy of ours), at most the send
 * window allows. */
ssize_t sc_hbone_i_data_read(nghttp2_session *ngh, int32_t id, uint8_t *buf, size_t length,
                             uint32_t *flags, nghttp2_data_source *src, void *user)
{
    struct sc_hbone_stream *s = src->ptr;
    ssize_t n;

    (void)ngh;
    (void)id;
    (void)user;
    if (s->refusal != NULL) {
        size_t left = strlen(s->refusal + s->refusal_off);

        n = (ssize_t)(left < length ? left : length);
        memcpy(buf, s->refusal + s->refusal_off, (size_t)n);
        s->refusal_off += (size_t)n;
        if ((size_t)n == left) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        }
        return n;
    }
    if (s->io == NULL || s->local_eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    if (s->status != 200 || !sc_io_can_read(s->io)) {
        s->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    n = sc_io_read(s->io, buf, length);
    if (n > 0) {
        s->bytes[0] += (uint64_t)n;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &s->last);
        if (s->http && s->remote_eof && !s->local_shut) {
            (void)local_flush(s); /* the held-back FIN (see local_flush) */
        }
        return n;
    }
    if (n == 0) {
        s->local_eof = 1;
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    if (n == SC_IO_AGAIN) {
        s->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    sc_hbone_i_stream_set_reason(s, "%s: %s", s->t->client ? "downstream_reset" : "upstream_reset",
                                 sc_io_error(s->io, NULL));
    if (s->status == 200) {
        sc_stats_hbone(sc_wctx_stats(s->t->w), s->t->dir, SC_HBONE_STREAM_RESET);
    }
    stream_abort_local(s);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

int sc_hbone_i_stream_submit_response(struct sc_hbone_stream *s, int status, const char *reason)
{
    struct sc_hbone_tunnel *t = s->t;
    nghttp2_data_provider prov;
    char st[8];
    nghttp2_nv h[2];
    size_t nh = 1;

    snprintf(st, sizeof(st), "%d", status);
    h[0] = sc_h2_nv(":status", st);
    s->status = status;
    prov.source.ptr = s;
    prov.read_callback = sc_hbone_i_data_read;
    if (status != 200) {
        snprintf(s->refusal_buf, sizeof(s->refusal_buf), "%s\n", reason);
        s->refusal = s->refusal_buf;
        h[nh++] = sc_h2_nv("content-type", "text/plain");
    }
    return nghttp2_submit_response(t->ngh, s->id, h, nh, &prov) == 0 ? 0 : -1;
}

/* ---- nghttp2 callbacks ------------------------------------------------- */

static int on_begin_headers(nghttp2_session *ngh, const nghttp2_frame *f, void *user)
{
    struct sc_hbone_tunnel *t = user;
    struct sc_hbone_stream *s;

    if (t->client || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    s = sc_hbone_i_stream_new(t);
    if (s == NULL) {
        nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    s->id = f->hd.stream_id;
    nghttp2_session_set_stream_user_data(ngh, s->id, s);
    return 0;
}

static int on_header(nghttp2_session *ngh, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    struct sc_hbone_tunnel *t = user;
    struct sc_hbone_stream *s = nghttp2_session_get_stream_user_data(ngh, f->hd.stream_id);

    (void)flags;
    if (s == NULL) {
        return 0;
    }
    if (!t->client) {
        sc_hbone_req_header(&s->req, name, namelen, value, valuelen);
    } else if (namelen == 7 && memcmp(name, ":status", 7) == 0 && valuelen == 3) {
        s->resp_status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *ngh, const nghttp2_frame *f, void *user)
{
    struct sc_hbone_tunnel *t = user;
    struct sc_hbone_stream *s = nghttp2_session_get_stream_user_data(ngh, f->hd.stream_id);

    if (f->hd.type == NGHTTP2_GOAWAY) {
        t->goaway = 1;
    }
    if (s == NULL) {
        return 0;
    }
    if (f->hd.type == NGHTTP2_HEADERS) {
        if (!t->client && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
            sc_hbone_i_server_request(s);
        } else if (t->client && f->headers.cat == NGHTTP2_HCAT_RESPONSE) {
            sc_hbone_i_client_response(s);
        }
    }
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        s->remote_eof = 1;
        if (local_flush(s) != 0) {
            sc_hbone_i_stream_reset(s, NGHTTP2_CANCEL);
        }
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ngh, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    struct sc_hbone_tunnel *t = user;
    struct sc_hbone_stream *s = nghttp2_session_get_stream_user_data(ngh, id);

    (void)flags;
    if (s == NULL || (s->io == NULL && s->connect_ev == NULL && !s->pending_app)) {
        nghttp2_session_consume(ngh, id, len); /* nowhere to go */
        return 0;
    }
    t->bytes[0] += len;
    if (s->io != NULL && evbuffer_get_length(s->to_local) == 0 && sc_io_can_write(s->io) &&
        s->status == 200) {
        ssize_t n = sc_io_write(s->io, data, len);

        if (n > 0) {
            s->bytes[1] += (uint64_t)n;
            clock_gettime(CLOCK_MONOTONIC_COARSE, &s->last);
            nghttp2_session_consume(ngh, id, (size_t)n);
            data += n;
            len -= (size_t)n;
        } else if (n == SC_IO_ERROR) {
            sc_hbone_i_stream_set_reason(s, "%s: %s",
                                         t->client ? "downstream_reset" : "upstream_reset",
                                         sc_io_error(s->io, NULL));
            sc_hbone_i_stream_reset(s, NGHTTP2_CANCEL);
            return 0;
        }
    }
    if (len > 0 && evbuffer_add(s->to_local, data, len) != 0) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ngh, int32_t id, uint32_t code, void *user)
{
    struct sc_hbone_tunnel *t = user;
    struct sc_hbone_stream *s = nghttp2_session_get_stream_user_data(ngh, id);

    if (s == NULL) {
        return 0;
    }
    s->h2_closed = 1;
    nghttp2_session_set_stream_user_data(ngh, id, NULL);
    if (code != NGHTTP2_NO_ERROR || s->io == NULL) {
        if (s->status == 200 && code != NGHTTP2_NO_ERROR && s->reason[0] == '\0') {
            sc_stats_hbone(sc_wctx_stats(t->w), t->dir, SC_HBONE_STREAM_RESET);
        }
        if (t->client && s->status == 0 && s->reason[0] == '\0') {
            /* never answered: the tunnel (or the peer) refused it */
            s->retry = code == NGHTTP2_REFUSED_STREAM;
            if (!s->retry) {
                sc_stats_hbone(sc_wctx_stats(t->w), t->dir, SC_HBONE_STREAM_REFUSED);
            }
        }
        sc_hbone_i_stream_set_reason(s, "stream_reset: %s", nghttp2_http2_strerror(code));
        sc_hbone_i_stream_free(s, 1);
        return 0;
    }
    if (local_flush(s) != 0) {
        sc_hbone_i_stream_free(s, 1);
        return 0;
    }
    stream_maybe_done(s);
    return 0;
}

/* ---- the tunnel's socket -------------------------------------------------- */

/* Gathers frames, then writes: several streams' bytes in one SSL_write. */
static void flush_out(struct sc_hbone_tunnel *t)
{
    for (;;) {
        while (t->olen < SC_HBONE_GATHER && !t->ended) {
            const uint8_t *p;
            ssize_t n = nghttp2_session_mem_send(t->ngh, &p);

            if (n < 0) {
                tunnel_end(t, "hbone_protocol_error: %s", nghttp2_strerror((int)n));
                return;
            }
            if (n == 0) {
                break;
            }
            if (t->olen + (size_t)n > t->ocap) {
                size_t cap = t->olen + (size_t)n;
                uint8_t *nb = realloc(t->obuf, cap);

                if (nb == NULL) {
                    tunnel_end(t, "internal_error: out of memory");
                    return;
                }
                t->obuf = nb;
                t->ocap = cap;
            }
            memcpy(t->obuf + t->olen, p, (size_t)n);
            t->olen += (size_t)n;
        }
        if (t->ooff >= t->olen || !sc_io_can_write(t->io)) {
            return;
        }
        {
            ssize_t w = sc_io_write(t->io, t->obuf + t->ooff, t->olen - t->ooff);

            if (w == SC_IO_AGAIN) {
                return;
            }
            if (w < 0) {
                tunnel_end(t, "%s: %s", t->client ? "upstream_reset" : "downstream_reset",
                           sc_io_error(t->io, NULL));
                return;
            }
            t->bytes[1] += (uint64_t)w;
            t->ooff += (size_t)w;
            if (t->ooff < t->olen) {
                /* partial (one record written of several, or the socket
                 * took part): go on until it says "would block", the
                 * edge-triggered EV_WRITE comes only after that */
                continue;
            }
            t->ooff = t->olen = 0;
        }
    }
}

static void read_in(struct sc_hbone_tunnel *t)
{
    unsigned char *buf = NULL;

    while (!t->ended && sc_io_can_read(t->io)) {
        ssize_t n, used;

        if (buf == NULL) {
            buf = sc_io_buf_get();
            if (buf == NULL) {
                tunnel_end(t, "internal_error: out of memory");
                break;
            }
        }
        n = sc_io_read(t->io, buf, SC_IO_BUF_SIZE);
        if (n == SC_IO_AGAIN) {
            break;
        }
        if (n == 0) {
            /* after a GOAWAY, the close it announced */
            tunnel_end(t, t->goaway ? "goaway" : "peer_closed");
            break;
        }
        if (n < 0) {
            tunnel_end(t, "%s: %s", t->client ? "upstream_reset" : "downstream_reset",
                       sc_io_error(t->io, NULL));
            break;
        }
        used = nghttp2_session_mem_recv(t->ngh, buf, (size_t)n);
        if (used < 0) {
            tunnel_end(t, "hbone_protocol_error: %s", nghttp2_strerror((int)used));
            break;
        }
    }
    sc_io_buf_put(buf);
}

void sc_hbone_i_tunnel_pump(struct sc_hbone_tunnel *t)
{
    if (t->ended) {
        return;
    }
    flush_out(t);
    if (!t->ended && t->olen == 0 && t->draining && t->n_open == 0) {
        tunnel_end(t, "drained");
    }
    if (!t->ended && t->olen == 0 && !nghttp2_session_want_read(t->ngh) &&
        !nghttp2_session_want_write(t->ngh)) {
        tunnel_end(t, t->goaway ? "goaway" : "peer_closed");
    }
}

static void on_tunnel_io(evutil_socket_t fd, short what, void *arg)
{
    struct sc_hbone_tunnel *t = arg;

    (void)fd;
    sc_hbone_i_enter(t);
    sc_io_ready(t->io, what);
    read_in(t);
    if (t->ended) {
        sc_hbone_i_tunnel_pump(t);
    } else {
        schedule_flush(t);
    }
    sc_hbone_i_leave(t);
}

/* Each second while streams are open: a stream with no byte either way for
 * its idle_ms, or half_closed_ms once one side has ended, is reset (the
 * relay's idle and half-closed timeouts, per stream). */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct sc_hbone_tunnel *t = arg;
    const struct sc_config *cfg = sc_snapshot_config(t->snap);
    struct timespec now;
    struct sc_hbone_stream *s, *next;
    struct timeval tv = {1, 0};

    (void)fd;
    (void)what;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    sc_hbone_i_enter(t);
    for (s = LIST_FIRST(&t->streams); s != NULL; s = next) {
        const struct sc_cfg_timeouts *to =
            s->tgt.timeouts != NULL ? s->tgt.timeouts : &cfg->timeouts;
        long quiet =
            (now.tv_sec - s->last.tv_sec) * 1000 + (now.tv_nsec - s->last.tv_nsec) / 1000000;
        int half = s->local_eof || s->remote_eof;

        next = LIST_NEXT(s, link);
        if (s->status != 200 || s->io == NULL) {
            continue;
        }
        if (to->idle_ms > 0 && quiet >= to->idle_ms) {
            sc_hbone_i_stream_set_reason(s, "idle_timeout");
        } else if (half && to->half_closed_ms > 0 && quiet >= to->half_closed_ms) {
            sc_hbone_i_stream_set_reason(s, "half_closed_timeout");
        } else {
            continue;
        }
        sc_hbone_i_stream_reset(s, NGHTTP2_CANCEL);
    }
    sc_hbone_i_tunnel_pump(t);
    if (!t->ended && t->n_open > 0) {
        evtimer_add(t->sweep, &tv);
    }
    sc_hbone_i_leave(t);
}

static void on_tunnel_idle(evutil_socket_t fd, short what, void *arg)
{
    struct sc_hbone_tunnel *t = arg;

    (void)fd;
    (void)what;
    sc_hbone_i_enter(t);
    if (t->n_open == 0) {
        tunnel_end(t, "idle_timeout");
    }
    sc_hbone_i_leave(t);
}

void sc_hbone_i_tunnel_arm_idle(struct sc_hbone_tunnel *t, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (t->idle != NULL && ms > 0) {
        evtimer_add(t->idle, &tv);
    }
}

/* ---- create / destroy ------------------------------------------------------- */

struct sc_hbone_stream *sc_hbone_i_stream_new(struct sc_hbone_tunnel *t)
{
    struct sc_hbone_stream *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->to_local = evbuffer_new();
    if (s->to_local == NULL) {
        free(s);
        return NULL;
    }
    s->t = t;
    s->local_fd = -1;
    s->conn_id = sc_wctx_next_conn_id(t->w);
    clock_gettime(CLOCK_MONOTONIC, &s->t0);
    stamp(s->started, sizeof(s->started));
    sc_hbone_req_init(&s->req);
    LIST_INSERT_HEAD(&t->streams, s, link);
    t->n_open++;
    t->n_streams++;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &s->last);
    if (t->sweep != NULL && !evtimer_pending(t->sweep, NULL)) {
        struct timeval tv = {1, 0};

        evtimer_add(t->sweep, &tv);
    }
    if (t->idle != NULL) {
        evtimer_del(t->idle);
    }
    return s;
}

/* Frees what the tunnel itself holds (its streams are gone): its events,
 * the nghttp2 session, its socket, buffers and references.  The one
 * release, for a tunnel that ends and for one whose set-up failed. */
static void tunnel_release(struct sc_hbone_tunnel *t)
{
    struct event *evs[] = {t->ev, t->idle, t->sweep, t->flush};

    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        if (evs[i] != NULL) {
            event_free(evs[i]);
        }
    }
    nghttp2_session_del(t->ngh);
    sc_io_free(t->io);
    free(t->obuf);
    free(t->peer_id);
    X509_free(t->peer_cert);
    sc_snapshot_unref(t->snap);
    free(t);
}

void sc_hbone_i_tunnel_destroy(struct sc_hbone_tunnel *t)
{
    while (!LIST_EMPTY(&t->streams)) {
        struct sc_hbone_stream *s = LIST_FIRST(&t->streams);

        s->h2_closed = 1; /* the session goes with the tunnel */
        if (t->client && s->status == 0) {
            s->retry = 1; /* never answered: worth another tunnel */
        }
        sc_hbone_i_stream_set_reason(s, "tunnel_closed: %s", t->reason);
        sc_hbone_i_stream_free(s, 1);
    }
    sc_stats_hbone_tunnel_closed(sc_wctx_stats(t->w), t->dir, t->n_streams);
    tunnel_release(t);
}

void sc_hbone_i_tunnel_kick(struct sc_hbone_tunnel *t)
{
    sc_hbone_i_enter(t);
    sc_hbone_i_tunnel_pump(t);
    sc_hbone_i_leave(t);
}

void sc_hbone_tunnel_free(struct sc_hbone_tunnel *t)
{
    if (t == NULL) {
        return;
    }
    t->done = NULL;
    if (t->depth > 0) {
        tunnel_end(t, "shutdown");
        return;
    }
    snprintf(t->reason, sizeof(t->reason), "shutdown");
    sc_hbone_i_tunnel_destroy(t);
}

void sc_hbone_tunnel_drain(struct sc_hbone_tunnel *t)
{
    if (t == NULL || t->ended) {
        return;
    }
    sc_hbone_i_enter(t);
    t->draining = 1;
    /* GOAWAY naming the last stream we took: the peer opens no more here,
     * the open ones finish, then the tunnel closes (tunnel_pump) */
    nghttp2_submit_goaway(t->ngh, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(t->ngh), NGHTTP2_NO_ERROR, NULL,
                          0);
    sc_hbone_i_tunnel_pump(t);
    sc_hbone_i_leave(t);
}

static struct sc_hbone_tunnel *tunnel_new(struct sc_wctx *w, struct sc_snapshot *snap,
                                          struct bufferevent *bev, const struct sc_hbone_peer *peer,
                                          int client, sc_hbone_tunnel_done_fn *done, void *arg)
{
    struct sc_hbone_tunnel *t = calloc(1, sizeof(*t));
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;
    nghttp2_settings_entry iv[3];
    const struct sc_config *cfg = sc_snapshot_config(snap);
    int rc;

    if (t == NULL || in == NULL || out == NULL) {
        bufferevent_free(bev);
        goto fail;
    }
    t->w = w;
    t->client = client;
    t->dir = client ? SC_DIR_OUTBOUND : SC_DIR_INBOUND;
    t->snap = sc_snapshot_ref(snap);
    t->peer = *peer;
    t->peer_id = strdup(peer->peer_id != NULL ? peer->peer_id : "-");
    t->peer.peer_id = NULL;
    t->done = done;
    t->arg = arg;
    {
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        X509 *cert = ssl != NULL ? SSL_get1_peer_certificate(ssl) : NULL;

        t->peer_cert = cert;
    }
    t->io = sc_io_from_bufferevent(bev, in, out);
    bev = NULL;
    if (t->io == NULL || t->peer_id == NULL) {
        goto fail;
    }
    if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) {
        goto fail;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    /* the window opens as the local side takes the bytes */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    rc = client ? nghttp2_session_client_new2(&t->ngh, cbs, t, opt)
                : nghttp2_session_server_new2(&t->ngh, cbs, t, opt);
    nghttp2_session_callbacks_del(cbs);
    cbs = NULL;
    nghttp2_option_del(opt);
    opt = NULL;
    if (rc != 0) {
        t->ngh = NULL;
        goto fail;
    }
    iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
    iv[0].value = client ? 0 : SC_HBONE_SERVER_MAX_STREAMS;
    iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
    iv[1].value = SC_HBONE_STREAM_WINDOW;
    iv[2].settings_id = NGHTTP2_SETTINGS_MAX_FRAME_SIZE;
    iv[2].value = 16384;
    if (nghttp2_submit_settings(t->ngh, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
        nghttp2_session_set_local_window_size(t->ngh, NGHTTP2_FLAG_NONE, 0, SC_HBONE_CONN_WINDOW) !=
            0) {
        goto fail;
    }
    /* bytes the handshake's bufferevent read past the handshake */
    if (evbuffer_get_length(in) > 0) {
        size_t n = evbuffer_get_length(in);
        unsigned char *p = evbuffer_pullup(in, -1);

        if (nghttp2_session_mem_recv(t->ngh, p, n) < 0) {
            goto fail;
        }
    }
    t->ev = event_new(sc_wctx_base(w), sc_io_fd(t->io),
                      EV_READ | EV_WRITE | EV_CLOSED | EV_PERSIST | EV_ET, on_tunnel_io, t);
    t->idle = evtimer_new(sc_wctx_base(w), on_tunnel_idle, t);
    t->sweep = evtimer_new(sc_wctx_base(w), on_sweep, t);
    t->flush = event_new(sc_wctx_base(w), -1, 0, on_flush, t);
    if (t->ev == NULL || t->idle == NULL || t->sweep == NULL || t->flush == NULL ||
        event_add(t->ev, NULL) != 0) {
        goto fail;
    }
    (void)cfg;
    evbuffer_free(in);
    evbuffer_free(out);
    sc_stats_hbone(sc_wctx_stats(w), t->dir, SC_HBONE_TUNNEL_OPENED);
    return t;

fail:
    if (in != NULL) {
        evbuffer_free(in);
    }
    if (out != NULL) {
        evbuffer_free(out);
    }
    if (t != NULL) {
        tunnel_release(t);
    }
    return NULL;
}

static void server_idle(void *arg, struct sc_hbone_tunnel *t)
{
    (void)arg;
    sc_hbone_i_tunnel_arm_idle(t, sc_snapshot_config(t->snap)->timeouts.idle_ms);
}

struct sc_hbone_tunnel *sc_hbone_server_new(struct sc_wctx *w, struct sc_snapshot *snap,
                                            struct bufferevent *bev,
                                            const struct sc_hbone_peer *peer,
                                            sc_hbone_tunnel_done_fn *done, void *arg)
{
    struct sc_hbone_tunnel *t = tunnel_new(w, snap, bev, peer, 0, done, arg);

    if (t != NULL) {
        /* a tunnel that carries no stream closes after timeouts.idle_ms */
        t->idle_cb = server_idle;
        t->idle_arg = t;
        server_idle(t, t);
        sc_hbone_i_enter(t);
        sc_hbone_i_tunnel_pump(t); /* our SETTINGS */
        t->depth--; /* an end now is reported from the first event */
    }
    return t;
}

struct sc_hbone_tunnel *sc_hbone_client_new(struct sc_wctx *w, struct sc_snapshot *snap,
                                            struct bufferevent *bev,
                                            const struct sc_hbone_peer *peer,
                                            sc_hbone_tunnel_done_fn *done, void *arg)
{
    return tunnel_new(w, snap, bev, peer, 1, done, arg);
}
