#include "grpcconn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "h2nv.h"
#include "log.h"

/* The nghttp2 callbacks of grpcconn: headers, DATA and frames in and out,
 * stream ends, errors.  They run inside nghttp2_session_mem_recv/mem_send,
 * which grpcconn.c calls from its libevent callbacks (c->depth > 0), so a
 * user callback may free the conn (it is only marked doomed). */

static int hdr_eq(const uint8_t *p, size_t len, const char *s)
{
    return strlen(s) == len && memcmp(p, s, len) == 0;
}

void sc_grpc_i_pct_encode(const char *in, char *out, size_t outlen)
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

/* ---- nghttp2 callbacks: data out ----------------------------------------- */

ssize_t sc_grpc_i_data_read(nghttp2_session *ngh, int32_t id, uint8_t *buf, size_t length,
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
        nv[0] = sc_h2_nv("grpc-status", status);
        if (s->fin_message != NULL) {
            sc_grpc_i_pct_encode(s->fin_message, msg, sizeof(msg));
            nv[nnv++] = sc_h2_nv("grpc-message", msg);
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
    s = sc_grpc_i_stream_new(c, frame->hd.stream_id);
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
        nv[0] = sc_h2_nv(":status", !s->method_post ? "405" : "415");
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

    if (c->ending) {
        return; /* a bad message already decided how this ends */
    }
    if (s->http_status != 200) {
        snprintf(why, sizeof(why), "HTTP status %d from the server", s->http_status);
        sc_grpc_i_terminate(c, http_to_grpc(s->http_status), why);
    } else if (sc_sdswire_dec_partial(&s->dec)) {
        sc_grpc_i_bad_message(c, SC_GRPC_INTERNAL,
                              "stream ended inside a gRPC message (truncated frame)");
    } else if (s->grpc_status < 0) {
        sc_grpc_i_terminate(c, SC_GRPC_INTERNAL, "stream ended without grpc-status");
    } else {
        snprintf(why, sizeof(why), "%s",
                 s->grpc_message[0] != '\0' ? s->grpc_message : "stream ended by the server");
        sc_grpc_i_terminate(c, s->grpc_status, why);
    }
}

static int frame_recv_cb(nghttp2_session *ngh, const nghttp2_frame *frame, void *user)
{
    struct sc_grpc_conn *c = user;
    struct sc_grpc_stream *s;
    int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

    if (frame->hd.type == NGHTTP2_GOAWAY) {
        if (!c->server) {
            char why[64];

            snprintf(why, sizeof(why), "server sent GOAWAY (error code %u)",
                     frame->goaway.error_code);
            sc_grpc_i_note(c, SC_GRPC_UNAVAILABLE, why);
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
    while (off < len && !c->doomed && !c->closed && !c->ending && !s->ignore_data) {
        const uint8_t *msg;
        size_t used, mlen;
        struct sc_err err;
        enum sc_sdswire_status st =
            sc_sdswire_dec_feed(&s->dec, data + off, len - off, &used, &msg, &mlen, &err);

        off += used;
        if (st == SC_SDSWIRE_ERROR) {
            int code =
                strstr(err.msg, "exceeds") != NULL ? SC_GRPC_RESOURCE_EXHAUSTED : SC_GRPC_INTERNAL;

            s->ignore_data = 1;
            if (c->server) {
                sc_log(SC_LOG_WARN, NULL, "grpc: stream %d: %s", id, err.msg);
                sc_grpc_stream_finish(s, code, err.msg);
            } else {
                sc_grpc_i_bad_message(c, code, err.msg);
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
        sc_grpc_i_stream_notify_close(s);
        sc_grpc_i_stream_free(s);
        return 0;
    }
    /* client: ended without END_STREAM from the server (reset, GOAWAY) */
    if (!c->closed) {
        char why[REASON_LEN];

        snprintf(why, sizeof(why), "stream reset by the server (%s)",
                 nghttp2_http2_strerror(error_code));
        sc_grpc_i_terminate(c, SC_GRPC_UNAVAILABLE, why);
    }
    sc_grpc_i_stream_free(s);
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

void sc_grpc_i_set_callbacks(nghttp2_session_callbacks *cbs)
{
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, frame_recv_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_chunk_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, frame_send_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, stream_close_cb);
    nghttp2_session_callbacks_set_error_callback2(cbs, error_cb);
}
