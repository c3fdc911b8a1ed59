/* HTTP/1.1 parsing on llhttp: see http1.h for the contract and docs/http.md
 * for the design.
 *
 * llhttp does the framing.  On top of it this file checks what llhttp (even
 * in strict mode) lets through and a proxy must not: obs-fold, bare CR/LF in
 * the head, HTTP versions other than 1.0/1.1 and other protocol names (RTSP,
 * ICE), a request line with extra spaces, control characters in the target,
 * field values with DEL or CTLs, Host rules, Transfer-Encoding in HTTP/1.0,
 * and the size limits.  Every llhttp callback that ends a step (message
 * begin, headers complete, message complete) returns HPE_PAUSED, which is how
 * sc_http1_feed() hands back exactly one event per call. */

#include "http1.h"

#include <event2/buffer.h>
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>

#include "http1_internal.h"

/* ---- small helpers ------------------------------------------------------ */

int sc_http1_fail(struct sc_http1 *h, enum sc_http1_error e, const char *why)
{
    if (h->err == SC_HTTP1_E_NONE) {
        h->err = e;
        h->err_reason = why;
    }
    return -1;
}

/* Appends to the head buffer, which is capped a little above max_head. */
static int put(struct sc_http1 *h, const char *s, size_t n)
{
    size_t limit = h->max_head + 64;

    if (n > limit - h->len || h->len + n > UINT32_MAX) {
        return sc_http1_fail(h, SC_HTTP1_E_TOO_LARGE, "header section too large");
    }
    if (h->len + n > h->cap) {
        size_t ncap = h->cap > 0 ? h->cap : 256;
        char *nb;

        while (ncap < h->len + n) {
            ncap *= 2;
        }
        if (ncap > limit) {
            ncap = limit;
        }
        nb = realloc(h->buf, ncap);
        if (nb == NULL) {
            return sc_http1_fail(h, SC_HTTP1_E_TOO_LARGE, "out of memory");
        }
        h->buf = nb;
        h->cap = ncap;
    }
    if (n > 0) {
        memcpy(h->buf + h->len, s, n);
        h->len += n;
    }
    return 0;
}

static int put_nul(struct sc_http1 *h)
{
    return put(h, "", 1);
}

/* The byte fed just before `at` (for obs-fold detection). */
static unsigned char byte_before(const struct sc_http1 *h, const char *at)
{
    return at > h->chunk ? (unsigned char)at[-1] : h->chunk_prev;
}

/* ---- llhttp callbacks --------------------------------------------------- */

static int cb_message_begin(llhttp_t *p)
{
    struct sc_http1 *h = p->data;

    h->len = 0;
    h->nh = 0;
    h->fstate = 0;
    h->fkind = F_OTHER;
    h->have_target = 0;
    h->have_reason = 0;
    h->target_len = 0;
    h->reason_len = 0;
    h->seen_cl = 0;
    h->seen_te = 0;
    h->trailer_bytes = 0;
    h->trailer_count = 0;
    h->trailer_name_len = 0;
    h->in_trailers = 0;
    h->have_head = 0;
    h->msg_upgrade = 0;
    h->line0 = 1;
    h->line0_len = 0;
    h->line0_spaces = 0;
    h->phase = P_HEAD;
    h->pause_ev = PE_BEGIN;
    return HPE_PAUSED;
}

static int cb_url(llhttp_t *p, const char *at, size_t n)
{
    struct sc_http1 *h = p->data;
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)at[i];

        if (c <= 0x20 || c == 0x7f) {
            return sc_http1_fail(h, SC_HTTP1_E_BAD_TARGET, "invalid character in request-target");
        }
    }
    if (!h->have_target) {
        h->have_target = 1;
        h->target_off = (uint32_t)h->len;
    }
    if (put(h, at, n) != 0) {
        return -1;
    }
    h->target_len += (uint32_t)n;
    return 0;
}

static int cb_url_complete(llhttp_t *p)
{
    struct sc_http1 *h = p->data;

    if (!h->have_target) {
        h->have_target = 1;
        h->target_off = (uint32_t)h->len;
    }
    return put_nul(h) != 0 ? -1 : 0;
}

static int cb_status(llhttp_t *p, const char *at, size_t n)
{
    struct sc_http1 *h = p->data;
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)at[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return sc_http1_fail(h, SC_HTTP1_E_BAD_STATUS, "invalid character in reason phrase");
        }
    }
    if (!h->have_reason) {
        h->have_reason = 1;
        h->reason_off = (uint32_t)h->len;
    }
    if (put(h, at, n) != 0) {
        return -1;
    }
    h->reason_len += (uint32_t)n;
    return 0;
}

static int cb_status_complete(llhttp_t *p)
{
    struct sc_http1 *h = p->data;

    if (!h->have_reason) {
        h->have_reason = 1;
        h->reason_off = (uint32_t)h->len;
    }
    return put_nul(h) != 0 ? -1 : 0;
}

static int grow_headers(struct sc_http1 *h)
{
    size_t ncap = h->hcap > 0 ? h->hcap * 2 : 16;
    struct hoff *no;
    struct sc_http1_header *nhd;

    if (ncap > h->max_headers) {
        ncap = h->max_headers;
    }
    no = realloc(h->offs, ncap * sizeof *no);
    if (no == NULL) {
        return sc_http1_fail(h, SC_HTTP1_E_TOO_LARGE, "out of memory");
    }
    h->offs = no;
    nhd = realloc(h->hdrs, ncap * sizeof *nhd);
    if (nhd == NULL) {
        return sc_http1_fail(h, SC_HTTP1_E_TOO_LARGE, "out of memory");
    }
    h->hdrs = nhd;
    h->hcap = ncap;
    return 0;
}

static int check_name(struct sc_http1 *h, const char *at, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!sc_http1_tchar[(unsigned char)at[i]]) {
            return sc_http1_fail(h, SC_HTTP1_E_BAD_HEADER, "invalid character in field name");
        }
    }
    return 0;
}

static int check_value(struct sc_http1 *h, const char *at, size_t n)
{
    size_t i;

    if (n > 0 && byte_before(h, at) == '\n') {
        return sc_http1_fail(h, SC_HTTP1_E_OBS_FOLD, "obsolete line folding");
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)at[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            if (c == '\r') {
                return sc_http1_fail(h, SC_HTTP1_E_BARE_CR, "CR without LF in a field value");
            }
            if (c == '\n') {
                return sc_http1_fail(h, SC_HTTP1_E_OBS_FOLD, "obsolete line folding");
            }
            return sc_http1_fail(h, SC_HTTP1_E_BAD_HEADER, "invalid character in field value");
        }
    }
    return 0;
}

/* Trailer fields (after a chunked body): checked and counted, not stored. */
static int trailer_span(struct sc_http1 *h, size_t n, int is_name)
{
    if (is_name && h->fstate != 1) {
        if (h->trailer_count >= h->max_headers) {
            return sc_http1_fail(h, SC_HTTP1_E_TOO_LARGE, "too many trailer fields");
        }
        h->trailer_count++;
        h->trailer_name_len = 0;
    }
    if (is_name) {
        h->trailer_name_len += n;
    } else if (h->trailer_name_len == 0) {
        return sc_http1_fail(h, SC_HTTP1_E_BAD_HEADER, "empty trailer field name");
    }
    h->fstate = is_name ? 1 : 2;
    if (n > h->max_head - h->trailer_bytes) {
        return sc_http1_fail(h, SC_HTTP1_E_TOO_LARGE, "trailer section too large");
    }
    h->trailer_bytes += n;
    return 0;
}

static int cb_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct sc_http1 *h = p->data;

    if (check_name(h, at, n) != 0) {
        return -1;
    }
    if (h->phase == P_BODY) {
        return trailer_span(h, n, 1);
    }
    if (h->fstate != 1) { /* a new field */
        if (h->nh >= h->max_headers) {
            return sc_http1_fail(h, SC_HTTP1_E_TOO_LARGE, "too many header fields");
        }
        if (h->nh == h->hcap && grow_headers(h) != 0) {
            return -1;
        }
        h->offs[h->nh].name_off = (uint32_t)h->len;
        h->offs[h->nh].name_len = 0;
        h->offs[h->nh].value_off = 0;
        h->offs[h->nh].value_len = 0;
        h->nh++;
        h->fstate = 1;
    }
    if (put(h, at, n) != 0) {
        return -1;
    }
    h->offs[h->nh - 1].name_len += (uint32_t)n;
    return 0;
}

static int cb_header_field_complete(llhttp_t *p)
{
    struct sc_http1 *h = p->data;
    const struct hoff *o;
    const char *name;

    h->fkind = F_OTHER;
    if (h->phase == P_BODY || h->nh == 0) {
        return 0;
    }
    o = &h->offs[h->nh - 1];
    name = h->buf + o->name_off;
    if (sc_http1_ieq(name, o->name_len, "content-length")) {
        h->fkind = F_CONTENT_LENGTH_FIELD;
        h->seen_cl = 1;
    } else if (sc_http1_ieq(name, o->name_len, "transfer-encoding")) {
        h->fkind = F_TRANSFER_ENCODING_FIELD;
        h->seen_te = 1;
    }
    return 0;
}

/* The current field's value starts (possibly empty). */
static int start_value(struct sc_http1 *h)
{
    if (h->fstate == 2) {
        return 0;
    }
    if (h->fstate != 1 || h->offs[h->nh - 1].name_len == 0) {
        return sc_http1_fail(h, SC_HTTP1_E_BAD_HEADER, "empty field name");
    }
    if (put_nul(h) != 0) { /* ends the name */
        return -1;
    }
    h->offs[h->nh - 1].value_off = (uint32_t)h->len;
    h->fstate = 2;
    return 0;
}

static int cb_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct sc_http1 *h = p->data;

    if (check_value(h, at, n) != 0) {
        return -1;
    }
    if (h->phase == P_BODY) {
        return trailer_span(h, n, 0);
    }
    if (h->nh == 0 || start_value(h) != 0 || put(h, at, n) != 0) {
        return -1;
    }
    h->offs[h->nh - 1].value_len += (uint32_t)n;
    return 0;
}

static int cb_header_value_complete(llhttp_t *p)
{
    struct sc_http1 *h = p->data;
    struct hoff *o;

    if (h->phase == P_BODY) {
        if (h->trailer_name_len == 0) {
            return sc_http1_fail(h, SC_HTTP1_E_BAD_HEADER, "empty trailer field name");
        }
        h->fstate = 0;
        return 0;
    }
    if (h->nh == 0 || start_value(h) != 0) {
        return -1;
    }
    o = &h->offs[h->nh - 1];
    while (o->value_len > 0 &&
           sc_http1_is_ows((unsigned char)h->buf[o->value_off + o->value_len - 1])) {
        o->value_len--;
        h->len--;
    }
    h->fstate = 0;
    return put_nul(h) != 0 ? -1 : 0;
}

static int cb_headers_complete(llhttp_t *p)
{
    struct sc_http1 *h = p->data;

    if (sc_http1_build_head(h) != 0) {
        return -1;
    }
    h->have_head = 1;
    h->msg_upgrade = h->head.upgrade;
    h->fstate = 0;
    h->phase = P_BODY;
    h->pause_ev = PE_HEAD;
    return HPE_PAUSED;
}

static int cb_chunk_header(llhttp_t *p)
{
    struct sc_http1 *h = p->data;

    if (p->content_length != 0) {
        return 0;
    }
    h->pause_ev = PE_TRAILERS;
    return HPE_PAUSED;
}

static int cb_message_complete(llhttp_t *p)
{
    struct sc_http1 *h = p->data;

    h->pause_ev = PE_DONE;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = cb_message_begin,
    .on_url = cb_url,
    .on_status = cb_status,
    .on_header_field = cb_header_field,
    .on_header_value = cb_header_value,
    .on_headers_complete = cb_headers_complete,
    .on_message_complete = cb_message_complete,
    .on_url_complete = cb_url_complete,
    .on_status_complete = cb_status_complete,
    .on_header_field_complete = cb_header_field_complete,
    .on_header_value_complete = cb_header_value_complete,
    .on_chunk_header = cb_chunk_header,
};

/* ---- driving llhttp ----------------------------------------------------- */

static enum sc_http1_error map_errno(struct sc_http1 *h, llhttp_errno_t rc)
{
    switch (rc) {
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        return (h->seen_te && h->seen_cl) ? SC_HTTP1_E_CL_AND_TE : SC_HTTP1_E_BAD_CONTENT_LENGTH;
    case HPE_INVALID_CONTENT_LENGTH:
        return SC_HTTP1_E_BAD_CONTENT_LENGTH;
    case HPE_INVALID_TRANSFER_ENCODING:
        return SC_HTTP1_E_BAD_TRANSFER_ENCODING;
    case HPE_INVALID_CHUNK_SIZE:
        return SC_HTTP1_E_BAD_CHUNK;
    case HPE_STRICT:
        return h->phase == P_BODY ? SC_HTTP1_E_BAD_CHUNK : SC_HTTP1_E_BARE_CR;
    case HPE_LF_EXPECTED:
        return h->phase == P_BODY && h->fstate != 2 ? SC_HTTP1_E_BAD_CHUNK : SC_HTTP1_E_BARE_CR;
    case HPE_CR_EXPECTED:
        return h->phase == P_BODY ? SC_HTTP1_E_BAD_CHUNK : SC_HTTP1_E_BARE_LF;
    case HPE_INVALID_HEADER_TOKEN:
        return SC_HTTP1_E_BAD_HEADER;
    case HPE_UNEXPECTED_SPACE:
        return SC_HTTP1_E_OBS_FOLD;
    case HPE_INVALID_VERSION:
    case HPE_PAUSED_H2_UPGRADE:
        return SC_HTTP1_E_BAD_VERSION;
    case HPE_INVALID_URL:
        return SC_HTTP1_E_BAD_TARGET;
    case HPE_INVALID_STATUS:
        return SC_HTTP1_E_BAD_STATUS;
    case HPE_CLOSED_CONNECTION:
        return SC_HTTP1_E_AFTER_CLOSE;
    case HPE_INVALID_EOF_STATE:
        return SC_HTTP1_E_TRUNCATED;
    default:
        return SC_HTTP1_E_MALFORMED;
    }
}

/* Runs llhttp over data[0..n); *used = bytes it consumed. */
static llhttp_errno_t run(struct sc_http1 *h, const char *data, size_t n, size_t *used)
{
    llhttp_errno_t rc;

    if (h->paused) {
        llhttp_resume(&h->p);
        h->paused = 0;
    }
    h->pause_ev = PE_NONE;
    h->chunk = data;
    h->chunk_prev = h->last_byte;
    rc = llhttp_execute(&h->p, data, n);
    if (rc == HPE_PAUSED_UPGRADE && h->upgrade_paused) {
        /* an upgrade request was declined: go on as HTTP */
        const char *pos = llhttp_get_error_pos(&h->p);

        h->upgrade_paused = 0;
        llhttp_resume_after_upgrade(&h->p);
        if (pos == data) {
            rc = llhttp_execute(&h->p, data, n);
        }
    }
    if (rc == HPE_OK) {
        *used = n;
    } else {
        const char *pos = llhttp_get_error_pos(&h->p);

        *used = (pos != NULL && pos >= data && pos <= data + n) ? (size_t)(pos - data) : 0;
    }
    if (rc == HPE_PAUSED) {
        h->paused = 1;
    }
    if (*used > 0) {
        h->last_byte = (unsigned char)data[*used - 1];
    }
    return rc;
}

static enum sc_http1_ev to_error(struct sc_http1 *h, llhttp_errno_t rc)
{
    if (h->err == SC_HTTP1_E_NONE) {
        const char *why = llhttp_get_error_reason(&h->p);

        h->err = map_errno(h, rc);
        h->err_reason = why != NULL ? why : "";
    }
    h->phase = P_ERROR;
    return SC_HTTP1_EV_ERROR;
}

static void end_message(struct sc_http1 *h)
{
    h->head_bytes = 0;
    h->scan_prev = 0;
    if (h->msg_upgrade) {
        h->phase = P_UPGRADED;
        h->upgrade_paused = 1;
    } else if (!h->head.keep_alive) {
        h->phase = P_CLOSED;
    } else {
        h->phase = P_IDLE;
    }
}

static enum sc_http1_ev feed_head(struct sc_http1 *h, const char *data, size_t len,
                                  size_t *consumed)
{
    size_t budget = h->max_head + 1 - h->head_bytes;
    size_t n = len < budget ? len : budget;
    size_t used = 0;
    enum phase before = h->phase;
    llhttp_errno_t rc;

    if (n == 0) {
        return SC_HTTP1_EV_NEED_MORE;
    }
    rc = run(h, data, n, &used);
    if (rc != HPE_OK && rc != HPE_PAUSED && used < n) {
        /* let the raw checks see the byte llhttp stopped at: a bare CR or
         * LF there is the better diagnosis */
        used++;
    }
    if (before == P_IDLE && h->pause_ev == PE_BEGIN) {
        /* bytes before the message: empty lines */
        h->phase = P_IDLE;
        if (sc_http1_scan_head(h, data, used) != 0) {
            return to_error(h, rc);
        }
        h->phase = P_HEAD;
    } else if (sc_http1_scan_head(h, data, used) != 0) {
        return to_error(h, rc);
    }
    h->head_bytes += used;
    if (h->head_bytes > h->max_head && (rc == HPE_OK || rc == HPE_PAUSED)) {
        sc_http1_fail(h, SC_HTTP1_E_TOO_LARGE, "header section too large");
        return to_error(h, rc);
    }
    if (rc == HPE_PAUSED && h->pause_ev == PE_BEGIN) {
        *consumed = used;
        return SC_HTTP1_EV_BEGIN;
    }
    if (rc == HPE_PAUSED && h->pause_ev == PE_HEAD) {
        if (h->line0) { /* cannot happen: the head ended */
            sc_http1_fail(h, SC_HTTP1_E_MALFORMED, "head without start line");
            return to_error(h, rc);
        }
        *consumed = used;
        return SC_HTTP1_EV_HEAD;
    }
    if (rc != HPE_OK) {
        return to_error(h, rc);
    }
    *consumed = used;
    return SC_HTTP1_EV_NEED_MORE;
}

/* Body bytes.  The trailer section of a chunked body (after the last-chunk
 * line) gets the same raw line checks as the head. */
static enum sc_http1_ev feed_body(struct sc_http1 *h, const char *data, size_t len,
                                  size_t *consumed)
{
    size_t off = 0;
    int round;

    for (round = 0; round < 2; round++) {
        size_t used = 0, seen;
        llhttp_errno_t rc = run(h, data + off, len - off, &used);

        seen = used;
        if (rc != HPE_OK && rc != HPE_PAUSED && used < len - off) {
            seen++;
        }
        if (h->in_trailers && sc_http1_scan_head(h, data + off, seen) != 0) {
            return to_error(h, rc);
        }
        off += used;
        if (rc == HPE_PAUSED && h->pause_ev == PE_TRAILERS && !h->in_trailers) {
            h->in_trailers = 1;
            h->scan_prev = '\n';
            continue;
        }
        if (rc == HPE_PAUSED && h->pause_ev == PE_DONE && h->err == SC_HTTP1_E_NONE) {
            *consumed = off;
            end_message(h);
            return SC_HTTP1_EV_DONE;
        }
        if (rc != HPE_OK) {
            return to_error(h, rc);
        }
        break;
    }
    *consumed = len;
    return len > 0 ? SC_HTTP1_EV_BODY : SC_HTTP1_EV_NEED_MORE;
}

/* ---- public API --------------------------------------------------------- */

struct sc_http1 *sc_http1_new(enum sc_http1_kind kind, const struct sc_http1_limits *lim)
{
    struct sc_http1 *h = calloc(1, sizeof *h);

    if (h == NULL) {
        return NULL;
    }
    h->kind = kind;
    h->max_head =
        (lim != NULL && lim->max_head_bytes > 0) ? lim->max_head_bytes : SC_HTTP1_DEFAULT_MAX_HEAD;
    h->max_headers =
        (lim != NULL && lim->max_headers > 0) ? lim->max_headers : SC_HTTP1_DEFAULT_MAX_HEADERS;
    if (h->max_head > (1u << 30)) {
        h->max_head = 1u << 30;
    }
    if (h->max_headers > (1u << 20)) {
        h->max_headers = 1u << 20;
    }
    sc_http1_reset(h);
    return h;
}

void sc_http1_free(struct sc_http1 *h)
{
    if (h == NULL) {
        return;
    }
    free(h->buf);
    free(h->offs);
    free(h->hdrs);
    free(h);
}

void sc_http1_reset(struct sc_http1 *h)
{
    char *buf = h->buf;
    size_t cap = h->cap;
    struct hoff *offs = h->offs;
    struct sc_http1_header *hdrs = h->hdrs;
    size_t hcap = h->hcap;
    enum sc_http1_kind kind = h->kind;
    size_t max_head = h->max_head, max_headers = h->max_headers;

    memset(h, 0, sizeof *h);
    h->buf = buf;
    h->cap = cap;
    h->offs = offs;
    h->hdrs = hdrs;
    h->hcap = hcap;
    h->kind = kind;
    h->max_head = max_head;
    h->max_headers = max_headers;
    llhttp_init(&h->p, kind == SC_HTTP1_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE, &settings);
    h->p.data = h;
    h->phase = P_IDLE;
}

int sc_http1_trim(struct sc_http1 *h)
{
    if (h->phase == P_HEAD || h->phase == P_BODY) {
        return -1;
    }
    free(h->buf);
    free(h->offs);
    free(h->hdrs);
    h->buf = NULL;
    h->offs = NULL;
    h->hdrs = NULL;
    h->len = h->cap = 0;
    h->nh = h->hcap = 0;
    h->have_head = 0;
    return 0;
}

size_t sc_http1_held(const struct sc_http1 *h)
{
    return h->cap + h->hcap * (sizeof(*h->offs) + sizeof(*h->hdrs));
}

void sc_http1_expect_response(struct sc_http1 *h, const struct sc_http1_head *req)
{
    h->req_head = req != NULL && req->head_method;
    h->req_connect = req != NULL && req->connect;
    h->req_upgrade = req != NULL && req->upgrade;
}

enum sc_http1_ev sc_http1_feed(struct sc_http1 *h, const char *data, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (data == NULL) {
        data = "";
        len = 0;
    }
    switch (h->phase) {
    case P_IDLE:
    case P_HEAD:
        return feed_head(h, data, len, consumed);
    case P_BODY:
        return feed_body(h, data, len, consumed);
    case P_UPGRADED:
        return SC_HTTP1_EV_UPGRADE;
    case P_CLOSED:
        if (len == 0) {
            return SC_HTTP1_EV_NEED_MORE;
        }
        sc_http1_fail(h, SC_HTTP1_E_AFTER_CLOSE, "data after a message that closes the connection");
        h->phase = P_ERROR;
        return SC_HTTP1_EV_ERROR;
    case P_ERROR:
    default:
        return SC_HTTP1_EV_ERROR;
    }
}

enum sc_http1_ev sc_http1_feed_evbuffer(struct sc_http1 *h, struct evbuffer *in, size_t *body_len)
{
    size_t guard = evbuffer_get_length(in) + 2;

    *body_len = 0;
    while (guard-- > 0) {
        struct evbuffer_iovec v;
        const char *p = "";
        size_t len = 0, consumed = 0;
        enum sc_http1_ev ev;

        if (evbuffer_peek(in, -1, NULL, &v, 1) > 0) {
            p = v.iov_base;
            len = v.iov_len;
        }
        ev = sc_http1_feed(h, p, len, &consumed);
        switch (ev) {
        case SC_HTTP1_EV_NEED_MORE:
            if (consumed == 0) {
                return ev;
            }
            evbuffer_drain(in, consumed);
            if (evbuffer_get_length(in) == 0) {
                return ev;
            }
            break;
        case SC_HTTP1_EV_BEGIN:
        case SC_HTTP1_EV_HEAD:
            evbuffer_drain(in, consumed);
            return ev;
        case SC_HTTP1_EV_BODY:
        case SC_HTTP1_EV_DONE:
            *body_len = consumed;
            return ev;
        default:
            return ev;
        }
    }
    return SC_HTTP1_EV_NEED_MORE;
}

enum sc_http1_ev sc_http1_finish(struct sc_http1 *h)
{
    llhttp_errno_t rc;

    switch (h->phase) {
    case P_IDLE:
    case P_CLOSED:
        if (h->scan_prev == '\r') {
            sc_http1_fail(h, SC_HTTP1_E_TRUNCATED, "EOF after CR");
            h->phase = P_ERROR;
            return SC_HTTP1_EV_ERROR;
        }
        return SC_HTTP1_EV_EOF;
    case P_UPGRADED:
        return SC_HTTP1_EV_UPGRADE;
    case P_ERROR:
        return SC_HTTP1_EV_ERROR;
    case P_HEAD:
        sc_http1_fail(h, SC_HTTP1_E_TRUNCATED, "EOF inside the head");
        h->phase = P_ERROR;
        return SC_HTTP1_EV_ERROR;
    case P_BODY:
    default:
        break;
    }
    if (h->head.framing != SC_HTTP1_BODY_EOF) {
        sc_http1_fail(h, SC_HTTP1_E_TRUNCATED, "EOF inside the body");
        h->phase = P_ERROR;
        return SC_HTTP1_EV_ERROR;
    }
    {
        size_t used = 0;

        /* let llhttp step past a pause at the end of the head first */
        rc = run(h, "", 0, &used);
        if (rc != HPE_OK) {
            return to_error(h, rc);
        }
    }
    h->pause_ev = PE_NONE;
    rc = llhttp_finish(&h->p);
    if ((rc == HPE_PAUSED || rc == HPE_OK) && h->pause_ev == PE_DONE) {
        end_message(h);
        h->phase = P_CLOSED;
        return SC_HTTP1_EV_DONE;
    }
    sc_http1_fail(h, SC_HTTP1_E_TRUNCATED, "EOF inside the body");
    h->phase = P_ERROR;
    return SC_HTTP1_EV_ERROR;
}

int sc_http1_resume_after_upgrade(struct sc_http1 *h)
{
    if (h->phase != P_UPGRADED || h->kind != SC_HTTP1_REQUEST) {
        return -1;
    }
    h->msg_upgrade = 0;
    h->phase = h->head.keep_alive ? P_IDLE : P_CLOSED;
    return 0;
}

const struct sc_http1_head *sc_http1_head(const struct sc_http1 *h)
{
    return h->have_head ? &h->head : NULL;
}

int sc_http1_in_message(const struct sc_http1 *h)
{
    return h->phase == P_HEAD || h->phase == P_BODY;
}

enum sc_http1_error sc_http1_error(const struct sc_http1 *h)
{
    return h->err;
}

const char *sc_http1_error_reason(const struct sc_http1 *h)
{
    return h->err_reason != NULL ? h->err_reason : "";
}

const char *sc_http1_error_name(enum sc_http1_error e)
{
    static const char *const names[SC_HTTP1_E_N] = {
        [SC_HTTP1_E_NONE] = "none",
        [SC_HTTP1_E_TOO_LARGE] = "too_large",
        [SC_HTTP1_E_CL_AND_TE] = "cl_and_te",
        [SC_HTTP1_E_BAD_CONTENT_LENGTH] = "bad_content_length",
        [SC_HTTP1_E_BAD_TRANSFER_ENCODING] = "bad_transfer_encoding",
        [SC_HTTP1_E_BAD_CHUNK] = "bad_chunk",
        [SC_HTTP1_E_OBS_FOLD] = "obs_fold",
        [SC_HTTP1_E_BARE_CR] = "bare_cr",
        [SC_HTTP1_E_BARE_LF] = "bare_lf",
        [SC_HTTP1_E_BAD_HEADER] = "bad_header",
        [SC_HTTP1_E_BAD_TARGET] = "bad_target",
        [SC_HTTP1_E_BAD_VERSION] = "bad_version",
        [SC_HTTP1_E_BAD_HOST] = "bad_host",
        [SC_HTTP1_E_BAD_STATUS] = "bad_status",
        [SC_HTTP1_E_BAD_UPGRADE] = "bad_upgrade",
        [SC_HTTP1_E_TRUNCATED] = "truncated",
        [SC_HTTP1_E_AFTER_CLOSE] = "after_close",
        [SC_HTTP1_E_MALFORMED] = "malformed",
    };

    if ((unsigned)e >= SC_HTTP1_E_N) {
        return "unknown";
    }
    return names[e];
}

int sc_http1_error_status(enum sc_http1_error e)
{
    if (e == SC_HTTP1_E_NONE) {
        return 0;
    }
    return e == SC_HTTP1_E_TOO_LARGE ? 431 : 400;
}
