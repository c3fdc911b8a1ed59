/* What a complete head means (framing, keep-alive, upgrade) and writing one
 * back out for forwarding.  See http1.h and docs/http.md. */

#include <event2/buffer.h>
#include <string.h>

#include "http1_internal.h"

const unsigned char sc_http1_tchar[256] = {
    /* RFC 9110 token characters: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA */
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* a[0..n) equals the NUL-terminated b, ignoring ASCII case */
int sc_http1_ieq(const char *a, size_t n, const char *b)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (b[i] == '\0' || lower((unsigned char)a[i]) != lower((unsigned char)b[i])) {
            return 0;
        }
    }
    return b[n] == '\0';
}

/* Fills h->head from the buffer; checks what llhttp does not. */
int sc_http1_build_head(struct sc_http1 *h)
{
    struct sc_http1_head *hd = &h->head;
    llhttp_t *p = &h->p;
    size_t i, hosts = 0;
    int close_tok = 0, keep_tok = 0, up = 0;

    memset(hd, 0, sizeof *hd);
    for (i = 0; i < h->nh; i++) {
        h->hdrs[i].name = h->buf + h->offs[i].name_off;
        h->hdrs[i].name_len = h->offs[i].name_len;
        h->hdrs[i].value = h->buf + h->offs[i].value_off;
        h->hdrs[i].value_len = h->offs[i].value_len;
    }
    hd->headers = h->hdrs;
    hd->n_headers = h->nh;
    hd->is_request = h->kind == SC_HTTP1_REQUEST;
    if (p->http_major != 1 || p->http_minor > 1) {
        return sc_http1_fail(h, SC_HTTP1_E_BAD_VERSION, "unsupported HTTP version");
    }
    hd->version_minor = p->http_minor;

    for (i = 0; i < h->nh; i++) {
        const struct sc_http1_header *f = &h->hdrs[i];

        if (sc_http1_ieq(f->name, f->name_len, "host")) {
            hosts++;
        } else if (sc_http1_ieq(f->name, f->name_len, "connection")) {
            close_tok |= sc_http1_has_token(f->value, f->value_len, "close");
            keep_tok |= sc_http1_has_token(f->value, f->value_len, "keep-alive");
        } else if (hd->is_request && hd->version_minor == 1 &&
                   sc_http1_ieq(f->name, f->name_len, "expect") &&
                   sc_http1_ieq(f->value, f->value_len, "100-continue")) {
            hd->expect_continue = 1;
        }
    }
    if ((p->flags & F_TRANSFER_ENCODING) && hd->version_minor == 0) {
        return sc_http1_fail(h, SC_HTTP1_E_BAD_TRANSFER_ENCODING, "Transfer-Encoding in HTTP/1.0");
    }

    if (hd->is_request) {
        hd->method = llhttp_method_name((llhttp_method_t)p->method);
        hd->head_method = p->method == HTTP_HEAD;
        hd->connect = p->method == HTTP_CONNECT;
        if (!h->have_target || h->target_len == 0) {
            return sc_http1_fail(h, SC_HTTP1_E_BAD_TARGET, "empty request-target");
        }
        hd->target = h->buf + h->target_off;
        hd->target_len = h->target_len;
        if (hosts > 1 || (hd->version_minor == 1 && hosts == 0)) {
            return sc_http1_fail(h, SC_HTTP1_E_BAD_HOST,
                                 hosts > 1 ? "more than one Host" : "no Host");
        }
        up = p->upgrade != 0;
        if (up && !hd->connect) {
            /* An h2c upgrade is not forwarded: the request goes on as HTTP/1.1. */
            int other = 0;

            for (i = 0; i < h->nh; i++) {
                const struct sc_http1_header *f = &h->hdrs[i];

                if (sc_http1_ieq(f->name, f->name_len, "upgrade") &&
                    !sc_http1_ieq(f->value, f->value_len, "h2c")) {
                    other = 1;
                }
            }
            if (!other) {
                up = 0;
                p->upgrade = 0;
            }
        }
        if (up && hd->connect) {
            hd->framing = SC_HTTP1_BODY_NONE;
        } else if (p->flags & F_CHUNKED) {
            hd->framing = SC_HTTP1_BODY_CHUNKED;
        } else if (p->flags & F_TRANSFER_ENCODING) {
            return sc_http1_fail(h, SC_HTTP1_E_BAD_TRANSFER_ENCODING,
                                 "request Transfer-Encoding does not end with chunked");
        } else if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0) {
            hd->framing = SC_HTTP1_BODY_LENGTH;
            hd->content_length = p->content_length;
        }
    } else {
        int st = p->status_code;

        if (st < 100 || st > 599) {
            return sc_http1_fail(h, SC_HTTP1_E_BAD_STATUS, "status code out of range");
        }
        hd->status = st;
        hd->reason = h->have_reason ? h->buf + h->reason_off : "";
        hd->reason_len = h->have_reason ? h->reason_len : 0;
        if (st == 101) {
            if (!h->req_upgrade || h->req_connect) {
                return sc_http1_fail(h, SC_HTTP1_E_BAD_UPGRADE,
                                     "101 to a request that did not upgrade");
            }
            if (sc_http1_head_count(hd, "upgrade") == 0) {
                return sc_http1_fail(h, SC_HTTP1_E_BAD_UPGRADE, "101 without Upgrade");
            }
            up = 1;
        } else if (h->req_connect && st / 100 == 2) {
            up = 1;
        }
        p->upgrade = (uint8_t)up;
        if (up || h->req_head || st / 100 == 1 || st == 204 || st == 304) {
            p->flags |= F_SKIPBODY;
        }
        if (p->flags & F_SKIPBODY) {
            hd->framing = SC_HTTP1_BODY_NONE;
        } else if (p->flags & F_CHUNKED) {
            hd->framing = SC_HTTP1_BODY_CHUNKED;
        } else if (p->flags & F_TRANSFER_ENCODING) {
            hd->framing = SC_HTTP1_BODY_EOF;
        } else if (p->flags & F_CONTENT_LENGTH) {
            hd->framing = p->content_length > 0 ? SC_HTTP1_BODY_LENGTH : SC_HTTP1_BODY_NONE;
            hd->content_length = p->content_length;
        } else {
            hd->framing = SC_HTTP1_BODY_EOF;
        }
    }
    hd->upgrade = up;
    if (close_tok) {
        hd->keep_alive = 0;
    } else {
        hd->keep_alive = hd->version_minor == 1 || keep_tok;
    }
    if (hd->framing == SC_HTTP1_BODY_EOF) {
        hd->keep_alive = 0;
    }
    return 0;
}

/* ---- head helpers ------------------------------------------------------- */

const char *sc_http1_head_get(const struct sc_http1_head *head, const char *name, size_t *len)
{
    size_t i;

    for (i = 0; head != NULL && i < head->n_headers; i++) {
        const struct sc_http1_header *f = &head->headers[i];

        if (sc_http1_ieq(f->name, f->name_len, name)) {
            if (len != NULL) {
                *len = f->value_len;
            }
            return f->value;
        }
    }
    if (len != NULL) {
        *len = 0;
    }
    return NULL;
}

size_t sc_http1_head_count(const struct sc_http1_head *head, const char *name)
{
    size_t i, n = 0;

    for (i = 0; head != NULL && i < head->n_headers; i++) {
        n += (size_t)sc_http1_ieq(head->headers[i].name, head->headers[i].name_len, name);
    }
    return n;
}

int sc_http1_has_token(const char *value, size_t len, const char *token)
{
    size_t i = 0;

    while (i < len) {
        size_t start, end;

        while (i < len && (sc_http1_is_ows((unsigned char)value[i]) || value[i] == ',')) {
            i++;
        }
        start = i;
        while (i < len && value[i] != ',' && value[i] != ';') {
            i++;
        }
        end = i;
        while (end > start && sc_http1_is_ows((unsigned char)value[end - 1])) {
            end--;
        }
        if (end > start && sc_http1_ieq(value + start, end - start, token)) {
            return 1;
        }
        while (i < len && value[i] != ',') { /* skip ;params */
            i++;
        }
    }
    return 0;
}

/* ---- forwarding a head -------------------------------------------------- */

struct out {
    char *p;
    size_t cap;
    size_t len;
};

static void emit(struct out *o, const char *s, size_t n)
{
    if (o->len < o->cap && n <= o->cap - o->len) {
        memcpy(o->p + o->len, s, n);
    }
    o->len += n;
}

static void emits(struct out *o, const char *s)
{
    emit(o, s, strlen(s));
}

static void emit_field(struct out *o, const char *name, size_t nlen, const char *value, size_t vlen)
{
    emit(o, name, nlen);
    emit(o, ": ", 2);
    emit(o, value, vlen);
    emit(o, "\r\n", 2);
}

enum hop {
    HOP_NO = 0, /* end-to-end, unless Connection names it */
    HOP_DROP, /* Connection, Keep-Alive, Proxy-Connection, HTTP2-Settings */
    HOP_TE,
    HOP_UPGRADE,
    HOP_FRAMING, /* Content-Length, Transfer-Encoding, Host: always kept */
};

/* What a field name is to a forwarder (lengths first: most names match none). */
static enum hop hop_kind(const char *n, size_t nl)
{
    switch (nl) {
    case 2:
        return sc_http1_ieq(n, nl, "te") ? HOP_TE : HOP_NO;
    case 4:
        return sc_http1_ieq(n, nl, "host") ? HOP_FRAMING : HOP_NO;
    case 7:
        return sc_http1_ieq(n, nl, "upgrade") ? HOP_UPGRADE : HOP_NO;
    case 10:
        return (sc_http1_ieq(n, nl, "connection") || sc_http1_ieq(n, nl, "keep-alive")) ? HOP_DROP
                                                                                        : HOP_NO;
    case 14:
        if (sc_http1_ieq(n, nl, "content-length")) {
            return HOP_FRAMING;
        }
        return sc_http1_ieq(n, nl, "http2-settings") ? HOP_DROP : HOP_NO;
    case 16:
        return sc_http1_ieq(n, nl, "proxy-connection") ? HOP_DROP : HOP_NO;
    case 17:
        return sc_http1_ieq(n, nl, "transfer-encoding") ? HOP_FRAMING : HOP_NO;
    default:
        return HOP_NO;
    }
}

/* 1 when a Connection field of head names `name` as a hop-by-hop field. */
static int named_by_connection(const struct sc_http1_head *head, const char *name, size_t nlen)
{
    size_t i;
    char tok[64];

    if (nlen >= sizeof tok) {
        return 0;
    }
    memcpy(tok, name, nlen);
    tok[nlen] = '\0';
    for (i = 0; i < head->n_headers; i++) {
        const struct sc_http1_header *f = &head->headers[i];

        if (sc_http1_ieq(f->name, f->name_len, "connection") &&
            sc_http1_has_token(f->value, f->value_len, tok)) {
            return 1;
        }
    }
    return 0;
}

static int rewrite_names(const struct sc_http1_rewrite *rw, const char *name, size_t nlen)
{
    size_t i;

    for (i = 0; rw != NULL && i < rw->n_fields; i++) {
        if (sc_http1_ieq(name, nlen, rw->fields[i].name)) {
            return 1;
        }
    }
    return 0;
}

static int rewrite_valid(const struct sc_http1_rewrite *rw)
{
    size_t i, j;

    for (i = 0; rw != NULL && i < rw->n_fields; i++) {
        const char *n = rw->fields[i].name, *v = rw->fields[i].value;

        if (n == NULL || n[0] == '\0') {
            return 0;
        }
        for (j = 0; n[j] != '\0'; j++) {
            if (!sc_http1_tchar[(unsigned char)n[j]]) {
                return 0;
            }
        }
        for (j = 0; v != NULL && v[j] != '\0'; j++) {
            if (v[j] == '\r' || v[j] == '\n') {
                return 0;
            }
        }
    }
    return 1;
}

int sc_http1_head_format(const struct sc_http1_head *head, const struct sc_http1_rewrite *rw,
                         char *out, size_t cap, size_t *need)
{
    struct out o = {out, out != NULL ? cap : 0, 0};
    int keep_upgrade, has_connection, te_trailers = 0;
    char num[8];
    size_t i;

    *need = 0;
    if (head == NULL || !rewrite_valid(rw)) {
        return -1;
    }
    keep_upgrade = head->upgrade && !head->connect && sc_http1_head_count(head, "upgrade") > 0;
    has_connection = sc_http1_head_count(head, "connection") > 0;

    if (head->is_request) {
        emits(&o, head->method);
        emit(&o, " ", 1);
        emit(&o, head->target, head->target_len);
        emits(&o, head->version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
    } else {
        int st = head->status;

        num[0] = (char)('0' + (st / 100) % 10);
        num[1] = (char)('0' + (st / 10) % 10);
        num[2] = (char)('0' + st % 10);
        emit(&o, "HTTP/1.1 ", 9);
        emit(&o, num, 3);
        emit(&o, " ", 1);
        emit(&o, head->reason, head->reason_len);
        emit(&o, "\r\n", 2);
    }

    for (i = 0; i < head->n_headers; i++) {
        const struct sc_http1_header *f = &head->headers[i];
        const char *n = f->name;
        size_t nl = f->name_len;

        if (rewrite_names(rw, n, nl)) {
            continue;
        }
        switch (hop_kind(n, nl)) {
        case HOP_DROP:
            continue;
        case HOP_TE:
            te_trailers |= sc_http1_has_token(f->value, f->value_len, "trailers");
            continue;
        case HOP_UPGRADE:
            if (keep_upgrade) {
                emit_field(&o, n, nl, f->value, f->value_len);
            }
            continue;
        case HOP_FRAMING:
            break; /* never dropped via Connection */
        case HOP_NO:
        default:
            if (has_connection && named_by_connection(head, n, nl)) {
                continue;
            }
            break;
        }
        emit_field(&o, n, nl, f->value, f->value_len);
    }
    if (te_trailers && head->is_request) {
        emits(&o, "TE: trailers\r\n");
    }
    for (i = 0; rw != NULL && i < rw->n_fields; i++) {
        if (rw->fields[i].value != NULL) {
            emit_field(&o, rw->fields[i].name, strlen(rw->fields[i].name), rw->fields[i].value,
                       strlen(rw->fields[i].value));
        }
    }
    if (keep_upgrade) {
        emits(&o, "Connection: upgrade\r\n");
    } else if (rw != NULL && rw->connection == SC_HTTP1_CONN_CLOSE) {
        emits(&o, "Connection: close\r\n");
    } else if (rw != NULL && rw->connection == SC_HTTP1_CONN_KEEP_ALIVE) {
        emits(&o, "Connection: keep-alive\r\n");
    }
    emit(&o, "\r\n", 2);
    *need = o.len;
    return o.len <= o.cap ? 0 : -1;
}

int sc_http1_head_write(const struct sc_http1_head *head, const struct sc_http1_rewrite *rw,
                        struct evbuffer *out)
{
    struct evbuffer_iovec v;
    size_t bound, need = 0, i;

    if (head == NULL) {
        return -1;
    }
    /* The output only drops fields of the head and adds the rewrite's, a TE
     * and a Connection line, so this bound lets one pass do. */
    bound =
        64 + strlen(head->method != NULL ? head->method : "") + head->target_len + head->reason_len;
    for (i = 0; i < head->n_headers; i++) {
        bound += head->headers[i].name_len + head->headers[i].value_len + 4;
    }
    for (i = 0; rw != NULL && i < rw->n_fields; i++) {
        bound += (rw->fields[i].name != NULL ? strlen(rw->fields[i].name) : 0) +
                 (rw->fields[i].value != NULL ? strlen(rw->fields[i].value) : 0) + 4;
    }
    if (evbuffer_reserve_space(out, (ev_ssize_t)bound, &v, 1) < 1 || v.iov_len < bound) {
        return -1;
    }
    if (sc_http1_head_format(head, rw, v.iov_base, v.iov_len, &need) != 0) {
        return -1; /* nothing committed */
    }
    v.iov_len = need;
    return evbuffer_commit_space(out, &v, 1) == 0 ? 0 : -1;
}
