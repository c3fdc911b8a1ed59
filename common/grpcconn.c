#include "grpcconn_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include "h2nv.h"
#include "log.h"
#include "sdswire.h"

/* gRPC over HTTP/2 with nghttp2 on a bufferevent; see grpcconn.h.
 *
 * Re-entrancy: nothing in the public API calls nghttp2's send path or a
 * user callback synchronously.  send/finish queue their data and activate
 * flush_ev; the end of the connection is reported from close_ev.  User
 * callbacks run from inside nghttp2's receive/send callbacks, which run
 * inside our libevent callbacks; c->depth counts those, and a
 * sc_grpc_conn_free() called while depth > 0 only marks the conn doomed, the
 * outermost callback frees it on the way out. */

/* ---- small helpers ------------------------------------------------------ */

static void set_reason(struct sc_grpc_conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_reason(struct sc_grpc_conn *c, int status, const char *fmt, ...)
{
    va_list ap;

    if (c->reason[0] != '\0') {
        return; /* the first reason wins */
    }
    c->close_status = status;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
    va_end(ap);
}

void sc_grpc_i_note(struct sc_grpc_conn *c, int status, const char *why)
{
    set_reason(c, status, "%s", why);
}

/* ---- streams ------------------------------------------------------------ */

struct sc_grpc_stream *sc_grpc_i_stream_new(struct sc_grpc_conn *c, int32_t id)
{
    struct sc_grpc_stream *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->out = evbuffer_new();
    if (s->out == NULL) {
        free(s);
        return NULL;
    }
    s->conn = c;
    s->id = id;
    s->grpc_status = -1;
    sc_sdswire_dec_init(&s->dec, c->max_msg);
    LIST_INSERT_HEAD(&c->streams, s, link);
    return s;
}

void sc_grpc_i_stream_free(struct sc_grpc_stream *s)
{
    struct sc_grpc_conn *c = s->conn;

    LIST_REMOVE(s, link);
    if (c->client == s) {
        c->client = NULL;
    }
    if (c->ngh != NULL && s->id > 0) {
        nghttp2_session_set_stream_user_data(c->ngh, s->id, NULL);
    }
    sc_sdswire_dec_cleanup(&s->dec);
    evbuffer_free(s->out);
    free(s->path);
    free(s->fin_message);
    free(s);
}

void sc_grpc_i_stream_notify_close(struct sc_grpc_stream *s)
{
    struct sc_grpc_conn *c = s->conn;

    if (c->server && s->accepted && !s->notified) {
        s->notified = 1;
        if (c->scbs.on_stream_close != NULL) {
            c->scbs.on_stream_close(s->arg);
        }
    }
}

/* ---- connection end and flushing ----------------------------------------- */

static void conn_destroy(struct sc_grpc_conn *c);

void sc_grpc_i_terminate(struct sc_grpc_conn *c, int status, const char *why)
{
    if (c->closed) {
        return;
    }
    set_reason(c, status, "%s", why);
    if (c->close_status == SC_GRPC_INTERNAL) {
        sc_log(SC_LOG_WARN, NULL, "grpc: closing %s connection: %s",
               c->server ? "server" : "client", c->reason);
    }
    c->closed = 1;
    if (c->bev != NULL) {
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    }
    event_active(c->close_ev, EV_TIMEOUT, 0);
}

static void schedule_flush(struct sc_grpc_conn *c)
{
    if (!c->closed && !c->doomed) {
        event_active(c->flush_ev, EV_TIMEOUT, 0);
    }
}

void sc_grpc_i_bad_message(struct sc_grpc_conn *c, int status, const char *why)
{
    if (c->closed || c->doomed || c->ending) {
        return;
    }
    set_reason(c, status, "%s", why);
    c->ending = 1; /* sc_grpc_i_terminate logs it, once */
    bufferevent_disable(c->bev, EV_READ);
    if (c->ccbs.on_bad_message != NULL) {
        c->ccbs.on_bad_message(c->arg, c->close_status, c->reason);
    }
    schedule_flush(c);
}

/* Moves frames from nghttp2 to the socket until the output passes OUT_HIGH;
 * ends the connection when nghttp2 wants neither to read nor to write. */
static void conn_flush(struct sc_grpc_conn *c)
{
    struct evbuffer *out;

    if (c->closed || c->doomed) {
        return;
    }
    out = bufferevent_get_output(c->bev);
    while (evbuffer_get_length(out) < OUT_HIGH) {
        const uint8_t *data = NULL;
        ssize_t n = nghttp2_session_mem_send(c->ngh, &data);

        if (n < 0) {
            char why[REASON_LEN];

            snprintf(why, sizeof(why), "HTTP/2 send error: %s", nghttp2_strerror((int)n));
            sc_grpc_i_terminate(c, SC_GRPC_INTERNAL, why);
            return;
        }
        if (n == 0) {
            break;
        }
        if (evbuffer_add(out, data, (size_t)n) != 0) {
            sc_grpc_i_terminate(c, SC_GRPC_INTERNAL, "out of memory");
            return;
        }
        if (c->closed || c->doomed) {
            return;
        }
    }
    if (c->ending) {
        /* everything we had to say is in out: one direct send (an answer
         * to a bad message is small; the bufferevent's own output is
         * frozen for draining), then the end, whatever is left */
        if (!nghttp2_session_want_write(c->ngh) || evbuffer_get_length(out) >= OUT_HIGH) {
            size_t len = evbuffer_get_length(out);
            const unsigned char *p = len > 0 ? evbuffer_pullup(out, -1) : NULL;

            if (p != NULL) {
                (void)send(bufferevent_getfd(c->bev), p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            sc_grpc_i_terminate(c, c->close_status, c->reason);
        }
        return;
    }
    if (!nghttp2_session_want_read(c->ngh) && !nghttp2_session_want_write(c->ngh) &&
        evbuffer_get_length(out) == 0) {
        if (c->h2err[0] != '\0') {
            char why[REASON_LEN];

            snprintf(why, sizeof(why), "HTTP/2 protocol error: %.180s", c->h2err);
            sc_grpc_i_terminate(c, SC_GRPC_INTERNAL, why);
        } else {
            sc_grpc_i_terminate(c, SC_GRPC_UNAVAILABLE, "HTTP/2 session finished (GOAWAY)");
        }
    }
}

static void leave(struct sc_grpc_conn *c)
{
    c->depth--;
    if (c->depth == 0 && c->doomed) {
        conn_destroy(c);
    }
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sc_grpc_conn *c = arg;

    (void)fd;
    (void)what;
    c->depth++;
    conn_flush(c);
    leave(c);
}

static void close_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sc_grpc_conn *c = arg;
    struct sc_grpc_stream *s;

    (void)fd;
    (void)what;
    c->depth++;
    if (c->server) {
        for (s = LIST_FIRST(&c->streams); s != NULL && !c->doomed; s = LIST_NEXT(s, link)) {
            sc_grpc_i_stream_notify_close(s);
        }
        if (!c->doomed && c->scbs.on_conn_close != NULL) {
            c->scbs.on_conn_close(c->arg, c);
        }
    } else if (!c->doomed && c->ccbs.on_close != NULL) {
        c->ccbs.on_close(c->arg, c->close_status, c->reason);
    }
    leave(c);
}

/* ---- libevent callbacks ------------------------------------------------- */

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct sc_grpc_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    c->depth++;
    while (!c->closed && !c->doomed && !c->ending && evbuffer_get_length(in) > 0) {
        size_t len = evbuffer_get_contiguous_space(in);
        const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)len);
        ssize_t n;

        if (p == NULL) {
            sc_grpc_i_terminate(c, SC_GRPC_INTERNAL, "out of memory");
            break;
        }
        n = nghttp2_session_mem_recv(c->ngh, p, len);
        if (c->doomed) {
            break;
        }
        if (n < 0) {
            char why[REASON_LEN];

            snprintf(why, sizeof(why), "HTTP/2 protocol error: %.60s%s%.160s",
                     nghttp2_strerror((int)n), c->h2err[0] != '\0' ? ": " : "", c->h2err);
            sc_grpc_i_terminate(c, SC_GRPC_INTERNAL, why);
            break;
        }
        evbuffer_drain(in, (size_t)n);
    }
    conn_flush(c);
    leave(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct sc_grpc_conn *c = arg;

    (void)bev;
    c->depth++;
    conn_flush(c);
    leave(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct sc_grpc_conn *c = arg;

    (void)bev;
    c->depth++;
    if (what & BEV_EVENT_EOF) {
        sc_grpc_i_terminate(c, SC_GRPC_UNAVAILABLE, "connection closed by peer");
    } else if (what & BEV_EVENT_ERROR) {
        char why[REASON_LEN];

        snprintf(why, sizeof(why), "connection error: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        sc_grpc_i_terminate(c, SC_GRPC_UNAVAILABLE, why);
    }
    leave(c);
}

/* ---- construction ------------------------------------------------------- */

static struct sc_grpc_conn *conn_new(struct event_base *base, int fd, int server, size_t max_msg)
{
    struct sc_grpc_conn *c = NULL;
    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;
    nghttp2_settings_entry iv[3];
    int rc;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return NULL;
    }
    c->base = base;
    c->server = server;
    c->max_msg = max_msg == 0 ? SC_SDSWIRE_DEFAULT_MAX : max_msg;
    c->out_cap = 2 * c->max_msg + 64 * 1024;
    evutil_make_socket_nonblocking(fd);
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        close(fd);
        goto fail;
    }
    c->flush_ev = event_new(base, -1, 0, flush_cb, c);
    c->close_ev = event_new(base, -1, 0, close_cb, c);
    if (c->flush_ev == NULL || c->close_ev == NULL) {
        goto fail;
    }
    if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) {
        goto fail;
    }
    sc_grpc_i_set_callbacks(cbs);
    nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
    if (server) {
        nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
        rc = nghttp2_session_server_new2(&c->ngh, cbs, c, opt);
    } else {
        rc = nghttp2_session_client_new2(&c->ngh, cbs, c, opt);
    }
    nghttp2_session_callbacks_del(cbs);
    cbs = NULL;
    nghttp2_option_del(opt);
    opt = NULL;
    if (rc != 0) {
        goto fail;
    }
    iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
    iv[0].value = MAX_STREAMS;
    iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
    iv[1].value = STREAM_WINDOW;
    iv[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
    iv[2].value = 64 * 1024;
    if (nghttp2_submit_settings(c->ngh, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
        nghttp2_session_set_local_window_size(c->ngh, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW) != 0) {
        goto fail;
    }
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, OUT_LOW, 0);
    if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0) {
        goto fail;
    }
    return c;

fail:
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    conn_destroy(c);
    return NULL;
}

struct sc_grpc_conn *sc_grpc_client_new(struct event_base *base, int fd, const char *authority,
                                        const char *path, const struct sc_grpc_client_cbs *cbs,
                                        void *arg, size_t max_msg)
{
    struct sc_grpc_conn *c = conn_new(base, fd, 0, max_msg);
    struct sc_grpc_stream *s = NULL;
    nghttp2_data_provider prov;
    nghttp2_nv nv[8];
    int32_t id;

    if (c == NULL) {
        return NULL;
    }
    c->ccbs = *cbs;
    c->arg = arg;
    s = sc_grpc_i_stream_new(c, 0);
    if (s == NULL) {
        goto fail;
    }
    nv[0] = sc_h2_nv(":method", "POST");
    nv[1] = sc_h2_nv(":scheme", "http");
    nv[2] = sc_h2_nv(":path", path);
    nv[3] = sc_h2_nv(":authority", authority);
    nv[4] = sc_h2_nv("content-type", "application/grpc");
    nv[5] = sc_h2_nv("te", "trailers");
    nv[6] = sc_h2_nv("grpc-accept-encoding", "identity");
    nv[7] = sc_h2_nv("user-agent", "mtls-sidecar-grpc/1");
    prov.source.ptr = s;
    prov.read_callback = sc_grpc_i_data_read;
    id = nghttp2_submit_request(c->ngh, NULL, nv, 8, &prov, s);
    if (id < 0) {
        goto fail;
    }
    s->id = id;
    s->headers_sent = 1;
    c->client = s;
    schedule_flush(c);
    return c;

fail:
    conn_destroy(c);
    return NULL;
}

struct sc_grpc_conn *sc_grpc_server_new(struct event_base *base, int fd,
                                        const struct sc_grpc_server_cbs *cbs, void *arg,
                                        size_t max_msg)
{
    struct sc_grpc_conn *c = conn_new(base, fd, 1, max_msg);

    if (c == NULL) {
        return NULL;
    }
    c->scbs = *cbs;
    c->arg = arg;
    schedule_flush(c);
    return c;
}

/* ---- sending ------------------------------------------------------------ */

/* Frames msg into s->out unless that passes the cap. */
static int queue_msg(struct sc_grpc_stream *s, const uint8_t *msg, size_t len)
{
    uint8_t prefix[SC_SDSWIRE_PREFIX_LEN];

    if (evbuffer_get_length(s->out) + len + SC_SDSWIRE_PREFIX_LEN > s->conn->out_cap ||
        sc_sdswire_prefix(prefix, len) != 0) {
        return -1;
    }
    if (evbuffer_add(s->out, prefix, sizeof(prefix)) != 0 ||
        (len > 0 && evbuffer_add(s->out, msg, len) != 0)) {
        return -1;
    }
    return 0;
}

static void resume(struct sc_grpc_stream *s)
{
    if (s->deferred) {
        s->deferred = 0;
        nghttp2_session_resume_data(s->conn->ngh, s->id);
    }
    schedule_flush(s->conn);
}

int sc_grpc_client_send(struct sc_grpc_conn *c, const uint8_t *msg, size_t len)
{
    if (c == NULL || c->closed || c->doomed || c->client == NULL) {
        return -1;
    }
    if (queue_msg(c->client, msg, len) != 0) {
        return -1;
    }
    resume(c->client);
    return 0;
}

/* Server: response headers with a data provider, before the first message
 * or the trailers. */
static int submit_headers(struct sc_grpc_stream *s)
{
    nghttp2_data_provider prov;
    nghttp2_nv nv[3];

    nv[0] = sc_h2_nv(":status", "200");
    nv[1] = sc_h2_nv("content-type", "application/grpc");
    nv[2] = sc_h2_nv("grpc-accept-encoding", "identity");
    prov.source.ptr = s;
    prov.read_callback = sc_grpc_i_data_read;
    if (nghttp2_submit_response(s->conn->ngh, s->id, nv, 3, &prov) != 0) {
        return -1;
    }
    s->headers_sent = 1;
    return 0;
}

int sc_grpc_stream_send(struct sc_grpc_stream *s, const uint8_t *msg, size_t len)
{
    struct sc_grpc_conn *c = s->conn;

    if (c->closed || c->doomed || s->finished || s->finishing) {
        return -1;
    }
    if (queue_msg(s, msg, len) != 0) {
        return -1;
    }
    if (!s->headers_sent && submit_headers(s) != 0) {
        return -1;
    }
    resume(s);
    return 0;
}

void sc_grpc_stream_finish(struct sc_grpc_stream *s, int grpc_status, const char *message)
{
    struct sc_grpc_conn *c = s->conn;

    if (c->closed || c->doomed || s->finished || s->finishing) {
        return;
    }
    if (!s->headers_sent) {
        /* trailers-only response: one HEADERS frame with END_STREAM */
        char status[16], msg[MAX_HDR_VALUE];
        nghttp2_nv nv[4];
        size_t n = 3;

        snprintf(status, sizeof(status), "%d", grpc_status);
        nv[0] = sc_h2_nv(":status", "200");
        nv[1] = sc_h2_nv("content-type", "application/grpc");
        nv[2] = sc_h2_nv("grpc-status", status);
        if (message != NULL) {
            sc_grpc_i_pct_encode(message, msg, sizeof(msg));
            nv[n++] = sc_h2_nv("grpc-message", msg);
        }
        s->headers_sent = 1;
        s->finished = 1;
        nghttp2_submit_response(c->ngh, s->id, nv, n, NULL);
        schedule_flush(c);
        return;
    }
    s->finishing = 1;
    s->fin_status = grpc_status;
    s->fin_message = message != NULL ? strdup(message) : NULL;
    resume(s);
}

/* ---- teardown ----------------------------------------------------------- */

const char *sc_grpc_conn_close_reason(const struct sc_grpc_conn *c)
{
    return c->reason;
}

static void conn_destroy(struct sc_grpc_conn *c)
{
    if (c == NULL) {
        return;
    }
    while (!LIST_EMPTY(&c->streams)) {
        sc_grpc_i_stream_notify_close(LIST_FIRST(&c->streams));
        sc_grpc_i_stream_free(LIST_FIRST(&c->streams));
    }
    nghttp2_session_del(c->ngh);
    c->ngh = NULL;
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
    }
    if (c->flush_ev != NULL) {
        event_free(c->flush_ev);
    }
    if (c->close_ev != NULL) {
        event_free(c->close_ev);
    }
    free(c);
}

void sc_grpc_conn_free(struct sc_grpc_conn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->depth > 0) {
        c->doomed = 1;
        c->closed = 1;
        return;
    }
    conn_destroy(c);
}
