#include "grpcconn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

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

#define OUT_HIGH (1024u * 1024u)   /* stop producing frames past this */
#define OUT_LOW (64u * 1024u)      /* resume when drained below this */
#define STREAM_WINDOW (1024 * 1024)
#define CONN_WINDOW (4 * 1024 * 1024)
#define MAX_STREAMS 16
#define MAX_HDR_VALUE 1024
#define REASON_LEN 256

struct sc_grpc_stream {
    struct sc_grpc_conn *conn;
    struct sc_grpc_stream *prev, *next;
    int32_t id;
    struct sc_sdswire_dec dec;
    struct evbuffer *out;     /* framed messages not yet handed to nghttp2 */
    void *arg;                /* server: on_stream's result */
    char *path;               /* server: :path */
    int method_post;
    int ctype_grpc;
    int accepted;             /* server: on_stream returned non-NULL */
    int notified;             /* server: on_stream_close called */
    int ignore_data;          /* refused/failed: drop DATA */
    int headers_sent;         /* server response headers / client request */
    int deferred;             /* data provider returned DEFERRED */
    int finishing;            /* trailers wanted after `out` drains */
    int finished;             /* trailers (or trailers-only) submitted */
    int fin_status;
    char *fin_message;
    /* client: what the server said */
    int http_status;
    int grpc_status;          /* -1 until seen */
    char grpc_message[REASON_LEN];
};

struct sc_grpc_conn {
    struct event_base *base;
    struct bufferevent *bev;
    nghttp2_session *ngh;
    struct event *flush_ev;
    struct event *close_ev;
    int server;
    size_t max_msg;
    size_t out_cap;
    struct sc_grpc_client_cbs ccbs;
    struct sc_grpc_server_cbs scbs;
    void *arg;
    struct sc_grpc_stream *streams;   /* open streams */
    struct sc_grpc_stream *client;    /* client role: the one stream */
    int depth;
    int doomed;
    int closed;                       /* no more I/O; close_ev pending/done */
    int close_status;
    char reason[REASON_LEN];
    char h2err[REASON_LEN];           /* nghttp2's last error message */
};

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

static int hdr_eq(const uint8_t *p, size_t len, const char *s)
{
    return strlen(s) == len && memcmp(p, s, len) == 0;
}

static nghttp2_nv mknv(const char *name, const char *value)
{
    nghttp2_nv nv;

    nv.name = (uint8_t *)(uintptr_t)name;
    nv.value = (uint8_t *)(uintptr_t)value;
    nv.namelen = strlen(name);
    nv.valuelen = strlen(value);
    nv.flags = NGHTTP2_NV_FLAG_NONE;
    return nv;
}

/* grpc-message is percent-encoded (gRPC over HTTP/2, "Responses"). */
static void pct_encode(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *in != '\0' && o + 4 < outlen; in++) {
        unsigned char ch = (unsigned char)*in;

        if (ch >= 0x20 && ch <= 0x7e && ch != '%') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

static int hexval(uint8_t ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

static void pct_decode(const uint8_t *in, size_t len, char *out, size_t outlen)
{
    size_t i, o = 0;

    for (i = 0; i < len && o + 1 < outlen; i++) {
        if (in[i] == '%' && i + 2 < len && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
            int v = hexval(in[i + 1]) * 16 + hexval(in[i + 2]);

            out[o++] = (char)(v >= 0x20 && v != 0x7f ? v : '?');
            i += 2;
        } else {
            out[o++] = (char)(in[i] >= 0x20 && in[i] != 0x7f ? in[i] : '?');
        }
    }
    out[o] = '\0';
}

/* gRPC's mapping of HTTP status to gRPC status (http-grpc-status-mapping). */
static int http_to_grpc(int http)
{
    switch (http) {
    case 400:
        return SC_GRPC_INTERNAL;
    case 401:
        return 16; /* UNAUTHENTICATED */
    case 403:
        return SC_GRPC_PERMISSION_DENIED;
    case 404:
        return SC_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return SC_GRPC_UNAVAILABLE;
    default:
        return SC_GRPC_UNKNOWN;
    }
}

/* ---- streams ------------------------------------------------------------ */

static struct sc_grpc_stream *stream_new(struct sc_grpc_conn *c, int32_t id)
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
    s->next = c->streams;
    if (c->streams != NULL) {
        c->streams->prev = s;
    }
    c->streams = s;
    return s;
}

/* Unlinks and frees s (no callbacks). */
static void stream_free(struct sc_grpc_stream *s)
{
    struct sc_grpc_conn *c = s->conn;

    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        c->streams = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
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

/* Server: tells the owner the stream is over (once). */
static void stream_notify_close(struct sc_grpc_stream *s)
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

/* No more I/O on c: stop the bufferevent and report from close_ev. */
static void conn_terminate(struct sc_grpc_conn *c, int status, const char *why)
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
            conn_terminate(c, SC_GRPC_INTERNAL, why);
            return;
        }
        if (n == 0) {
            break;
        }
        if (evbuffer_add(out, data, (size_t)n) != 0) {
            conn_terminate(c, SC_GRPC_INTERNAL, "out of memory");
            return;
        }
        if (c->closed || c->doomed) {
            return;
        }
    }
    if (!nghttp2_session_want_read(c->ngh) && !nghttp2_session_want_write(c->ngh) &&
        evbuffer_get_length(out) == 0) {
        if (c->h2err[0] != '\0') {
            char why[REASON_LEN];

            snprintf(why, sizeof(why), "HTTP/2 protocol error: %.180s", c->h2err);
            conn_terminate(c, SC_GRPC_INTERNAL, why);
        } else {
            conn_terminate(c, SC_GRPC_UNAVAILABLE, "HTTP/2 session finished (GOAWAY)");
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
        for (s = c->streams; s != NULL && !c->doomed; s = s->next) {
            stream_notify_close(s);
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
    while (!c->closed && !c->doomed && evbuffer_get_length(in) > 0) {
        size_t len = evbuffer_get_contiguous_space(in);
        const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)len);
        ssize_t n;

        if (p == NULL) {
            conn_terminate(c, SC_GRPC_INTERNAL, "out of memory");
            break;
        }
        n = nghttp2_session_mem_recv(c->ngh, p, len);
        if (c->doomed) {
            break;
        }
        if (n < 0) {
            char why[REASON_LEN];

            snprintf(why, sizeof(why), "HTTP/2 protocol error: %.60s%s%.160s", nghttp2_strerror((int)n),
                     c->h2err[0] != '\0' ? ": " : "", c->h2err);
            conn_terminate(c, SC_GRPC_INTERNAL, why);
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
        conn_terminate(c, SC_GRPC_UNAVAILABLE, "connection closed by peer");
    } else if (what & BEV_EVENT_ERROR) {
        char why[REASON_LEN];

        snprintf(why, sizeof(why), "connection error: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        conn_terminate(c, SC_GRPC_UNAVAILABLE, why);
    }
    leave(c);
}

/* ---- nghttp2 callbacks: data out ----------------------------------------- */

static ssize_t data_read_cb(nghttp2_session *ngh, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
    struct sc_grpc_stream *s = src->ptr;
    size_t have = evbuffer_get_length(s->out);
    int n;

    (void)user;
    if (have > 0) {
        n = evbuffer_remove(s->out, buf, length < have ? length : have);
        return n < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : (ssize_t)n;
    }
    if (s->finishing && s->conn->server) {
        char status[16], msg[MAX_HDR_VALUE];
        nghttp2_nv nv[2];
        size_t nnv = 1;

        snprintf(status, sizeof(status), "%d", s->fin_status);
        nv[0] = mknv("grpc-status", status);
        if (s->fin_message != NULL) {
            pct_encode(s->fin_message, msg, sizeof(msg));
            nv[nnv++] = mknv("grpc-message", msg);
        }
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        if (nghttp2_submit_trailer(ngh, id, nv, nnv) != 0) {
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        s->finished = 1;
        return 0;
    }
    s->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
}

/* ---- nghttp2 callbacks: headers in --------------------------------------- */

static int begin_headers_cb(nghttp2_session *ngh, const nghttp2_frame *frame, void *user)
{
    struct sc_grpc_conn *c = user;
    struct sc_grpc_stream *s;

    if (!c->server || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    s = stream_new(c, frame->hd.stream_id);
    if (s == NULL) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    }
    nghttp2_session_set_stream_user_data(ngh, frame->hd.stream_id, s);
    return 0;
}

static int header_cb(nghttp2_session *ngh, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    struct sc_grpc_conn *c = user;
    struct sc_grpc_stream *s;

    (void)flags;
    if (frame->hd.type != NGHTTP2_HEADERS) {
        return 0;
    }
    s = nghttp2_session_get_stream_user_data(ngh, frame->hd.stream_id);
    if (s == NULL) {
        return 0;
    }
    if (c->server) {
        if (hdr_eq(name, namelen, ":path")) {
            if (valuelen < MAX_HDR_VALUE && s->path == NULL) {
                s->path = strndup((const char *)value, valuelen);
            }
        } else if (hdr_eq(name, namelen, ":method")) {
            s->method_post = hdr_eq(value, valuelen, "POST");
        } else if (hdr_eq(name, namelen, "content-type")) {
            /* application/grpc, application/grpc+proto, application/grpc;... */
            s->ctype_grpc = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                            (valuelen == 16 || value[16] == '+' || value[16] == ';');
        }
        return 0;
    }
    if (hdr_eq(name, namelen, ":status")) {
        int v = 0;
        size_t i;

        for (i = 0; i < valuelen && i < 4 && value[i] >= '0' && value[i] <= '9'; i++) {
            v = v * 10 + (value[i] - '0');
        }
        s->http_status = v;
    } else if (hdr_eq(name, namelen, "grpc-status")) {
        int v = 0;
        size_t i;

        for (i = 0; i < valuelen && i < 6 && value[i] >= '0' && value[i] <= '9'; i++) {
            v = v * 10 + (value[i] - '0');
        }
        s->grpc_status = (i == valuelen && valuelen > 0) ? v : SC_GRPC_UNKNOWN;
    } else if (hdr_eq(name, namelen, "grpc-message")) {
        pct_decode(value, valuelen, s->grpc_message, sizeof(s->grpc_message));
    }
    return 0;
}

/* Server: the request headers are complete; accept or refuse the stream. */
static void server_request(struct sc_grpc_conn *c, struct sc_grpc_stream *s)
{
    if (!s->method_post || !s->ctype_grpc || s->path == NULL) {
        nghttp2_nv nv[1];

        /* not gRPC: plain HTTP error, as gRPC servers do */
        nv[0] = mknv(":status", !s->method_post ? "405" : "415");
        s->ignore_data = 1;
        s->finished = 1;
        s->headers_sent = 1;
        nghttp2_submit_response(c->ngh, s->id, nv, 1, NULL);
        return;
    }
    s->arg = c->scbs.on_stream != NULL ? c->scbs.on_stream(c->arg, s, s->path) : NULL;
    if (s->arg == NULL) {
        s->ignore_data = 1;
        sc_grpc_stream_finish(s, SC_GRPC_UNIMPLEMENTED, "unknown method");
        return;
    }
    s->accepted = 1;
}

/* Client: the response ended (trailers, or a trailers-only response, or
 * END_STREAM on DATA). */
static void client_done(struct sc_grpc_conn *c, struct sc_grpc_stream *s)
{
    char why[REASON_LEN];

    if (s->http_status != 200) {
        snprintf(why, sizeof(why), "HTTP status %d from the server", s->http_status);
        conn_terminate(c, http_to_grpc(s->http_status), why);
    } else if (sc_sdswire_dec_partial(&s->dec)) {
        conn_terminate(c, SC_GRPC_INTERNAL, "stream ended inside a gRPC message (truncated frame)");
    } else if (s->grpc_status < 0) {
        conn_terminate(c, SC_GRPC_INTERNAL, "stream ended without grpc-status");
    } else {
        snprintf(why, sizeof(why), "%s",
                 s->grpc_message[0] != '\0' ? s->grpc_message : "stream ended by the server");
        conn_terminate(c, s->grpc_status, why);
    }
}

static int frame_recv_cb(nghttp2_session *ngh, const nghttp2_frame *frame, void *user)
{
    struct sc_grpc_conn *c = user;
    struct sc_grpc_stream *s;
    int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

    if (frame->hd.type == NGHTTP2_GOAWAY) {
        if (!c->server) {
            set_reason(c, SC_GRPC_UNAVAILABLE, "server sent GOAWAY (error code %u)",
                       frame->goaway.error_code);
        }
        return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) {
        return 0;
    }
    s = nghttp2_session_get_stream_user_data(ngh, frame->hd.stream_id);
    if (s == NULL) {
        return 0;
    }
    if (c->server) {
        if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            server_request(c, s);
        }
        if (end && !s->finished && !s->finishing) {
            if (sc_sdswire_dec_partial(&s->dec)) {
                sc_grpc_stream_finish(s, SC_GRPC_INTERNAL,
                                      "request ended inside a gRPC message (truncated frame)");
            } else {
                sc_grpc_stream_finish(s, SC_GRPC_OK, NULL); /* client half-closed */
            }
        }
        return 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE &&
        s->http_status != 200) {
        s->ignore_data = 1;
    }
    if (end) {
        client_done(c, s);
    }
    return 0;
}

/* ---- nghttp2 callbacks: data in ------------------------------------------ */

static int data_chunk_cb(nghttp2_session *ngh, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    struct sc_grpc_conn *c = user;
    struct sc_grpc_stream *s = nghttp2_session_get_stream_user_data(ngh, id);
    size_t off = 0;

    (void)flags;
    if (s == NULL || s->ignore_data) {
        return 0;
    }
    while (off < len && !c->doomed && !c->closed && !s->ignore_data) {
        const uint8_t *msg;
        size_t used, mlen;
        struct sc_err err;
        enum sc_sdswire_status st =
            sc_sdswire_dec_feed(&s->dec, data + off, len - off, &used, &msg, &mlen, &err);

        off += used;
        if (st == SC_SDSWIRE_ERROR) {
            int code = strstr(err.msg, "exceeds") != NULL ? SC_GRPC_RESOURCE_EXHAUSTED
                                                          : SC_GRPC_INTERNAL;

            s->ignore_data = 1;
            if (c->server) {
                sc_log(SC_LOG_WARN, NULL, "grpc: stream %d: %s", id, err.msg);
                sc_grpc_stream_finish(s, code, err.msg);
            } else {
                nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
                conn_terminate(c, code, err.msg);
            }
            break;
        }
        if (st == SC_SDSWIRE_MESSAGE) {
            if (c->server) {
                if (s->accepted && !s->finished && !s->finishing && c->scbs.on_message != NULL) {
                    c->scbs.on_message(s->arg, msg, mlen);
                }
            } else if (c->ccbs.on_message != NULL) {
                c->ccbs.on_message(c->arg, msg, mlen);
            }
        }
    }
    return c->doomed ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

/* ---- nghttp2 callbacks: frames out, stream close, errors ------------------ */

static int frame_send_cb(nghttp2_session *ngh, const nghttp2_frame *frame, void *user)
{
    struct sc_grpc_conn *c = user;
    struct sc_grpc_stream *s;

    if (!c->server || frame->hd.type != NGHTTP2_HEADERS ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        return 0;
    }
    /* Our side is done; if the client's side is still open, reset with
     * NO_ERROR so the stream goes away (as gRPC servers do). */
    s = nghttp2_session_get_stream_user_data(ngh, frame->hd.stream_id);
    if (s != NULL && !nghttp2_session_get_stream_remote_close(ngh, frame->hd.stream_id)) {
        nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int stream_close_cb(nghttp2_session *ngh, int32_t id, uint32_t error_code, void *user)
{
    struct sc_grpc_conn *c = user;
    struct sc_grpc_stream *s = nghttp2_session_get_stream_user_data(ngh, id);

    if (s == NULL) {
        return 0;
    }
    if (c->server) {
        stream_notify_close(s);
        stream_free(s);
        return 0;
    }
    /* client: ended without END_STREAM from the server (reset, GOAWAY) */
    if (!c->closed) {
        char why[REASON_LEN];

        snprintf(why, sizeof(why), "stream reset by the server (%s)",
                 nghttp2_http2_strerror(error_code));
        conn_terminate(c, SC_GRPC_UNAVAILABLE, why);
    }
    stream_free(s);
    return 0;
}

static int error_cb(nghttp2_session *ngh, int code, const char *msg, size_t len, void *user)
{
    struct sc_grpc_conn *c = user;

    (void)ngh;
    (void)code;
    sc_log(SC_LOG_DEBUG, NULL, "grpc: nghttp2: %.*s", (int)len, msg);
    snprintf(c->h2err, sizeof(c->h2err), "%.*s", (int)(len > 200 ? 200 : len), msg);
    return 0;
}

/* ---- construction ------------------------------------------------------- */

static struct sc_grpc_conn *conn_new(struct event_base *base, int fd, int server,
                                     size_t max_msg)
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
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, frame_recv_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_chunk_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, frame_send_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, stream_close_cb);
    nghttp2_session_callbacks_set_error_callback2(cbs, error_cb);
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
    s = stream_new(c, 0);
    if (s == NULL) {
        goto fail;
    }
    nv[0] = mknv(":method", "POST");
    nv[1] = mknv(":scheme", "http");
    nv[2] = mknv(":path", path);
    nv[3] = mknv(":authority", authority);
    nv[4] = mknv("content-type", "application/grpc");
    nv[5] = mknv("te", "trailers");
    nv[6] = mknv("grpc-accept-encoding", "identity");
    nv[7] = mknv("user-agent", "mtls-sidecar-grpc/1");
    prov.source.ptr = s;
    prov.read_callback = data_read_cb;
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

    nv[0] = mknv(":status", "200");
    nv[1] = mknv("content-type", "application/grpc");
    nv[2] = mknv("grpc-accept-encoding", "identity");
    prov.source.ptr = s;
    prov.read_callback = data_read_cb;
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
        nv[0] = mknv(":status", "200");
        nv[1] = mknv("content-type", "application/grpc");
        nv[2] = mknv("grpc-status", status);
        if (message != NULL) {
            pct_encode(message, msg, sizeof(msg));
            nv[n++] = mknv("grpc-message", msg);
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
    while (c->streams != NULL) {
        stream_notify_close(c->streams);
        stream_free(c->streams);
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
