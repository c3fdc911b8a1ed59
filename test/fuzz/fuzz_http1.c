/* Fuzz target for proxy/http1.  The first byte chooses the parser and the
 * request a response answers:
 *   bit 0: response parser      bit 1: the request was HEAD
 *   bit 2: the request upgrades bit 3: the request was CONNECT
 *   bits 4-7: seed for how the rest is cut into chunks
 * The rest is fed whole, then cut into chunks, then through an evbuffer;
 * all three must report the same events and heads (body bytes gathered per
 * message).  Every head must hold only clean strings, and its serialized
 * form must parse back to the same start line and framing.  Any violation
 * abort()s. */

#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sum {
    uint64_t h; /* FNV-1a over the transcript */
    size_t events;
};

static void mix(struct sum *s, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        s->h = (s->h ^ b[i]) * 1099511628211ULL;
    }
}

static void mix_u(struct sum *s, uint64_t v)
{
    mix(s, &v, sizeof v);
}

static void clean(const char *p, size_t n)
{
    size_t i;

    CHECK(p != NULL);
    CHECK(p[n] == '\0');
    for (i = 0; i < n; i++) {
        CHECK(p[i] != '\0' && p[i] != '\r' && p[i] != '\n');
    }
}

static void reparse(enum sc_http1_kind kind, const struct sc_http1_head *req,
                    const struct sc_http1_head *hd)
{
    static const struct sc_http1_field f[] = {
        {"x-forwarded-client-cert", NULL},
        {"x-request-id", "4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a55"},
    };
    struct sc_http1_rewrite rw = {f, 2, SC_HTTP1_CONN_KEEP_ALIVE};
    struct sc_http1_limits roomy = {2 * SC_HTTP1_DEFAULT_MAX_HEAD,
                                    2 * SC_HTTP1_DEFAULT_MAX_HEADERS};
    struct sc_http1 *p;
    const struct sc_http1_head *h2;
    char *out;
    size_t need = 0, c = 0, off = 0;

    CHECK(sc_http1_head_format(hd, &rw, NULL, 0, &need) == -1);
    CHECK(need > 0);
    out = malloc(need);
    CHECK(out != NULL);
    CHECK(sc_http1_head_format(hd, &rw, out, need, &c) == 0 && c == need);
    p = sc_http1_new(kind, &roomy); /* the rewrite adds a field */
    CHECK(p != NULL);
    sc_http1_expect_response(p, req);
    CHECK(sc_http1_feed(p, out, need, &c) == SC_HTTP1_EV_BEGIN);
    off = c;
    CHECK(sc_http1_feed(p, out + off, need - off, &c) == SC_HTTP1_EV_HEAD);
    CHECK(off + c == need);
    h2 = sc_http1_head(p);
    CHECK(h2 != NULL);
    CHECK(h2->framing == hd->framing && h2->content_length == hd->content_length);
    if (hd->is_request) {
        CHECK(strcmp(h2->method, hd->method) == 0);
        CHECK(h2->target_len == hd->target_len &&
              memcmp(h2->target, hd->target, hd->target_len) == 0);
        CHECK(h2->version_minor == hd->version_minor);
        CHECK(h2->upgrade == hd->upgrade);
        CHECK(sc_http1_head_count(h2, "x-request-id") == 1);
    } else {
        CHECK(h2->status == hd->status);
        CHECK(h2->reason_len == hd->reason_len &&
              memcmp(h2->reason, hd->reason, hd->reason_len) == 0);
        CHECK(h2->version_minor == 1);
    }
    CHECK(sc_http1_head_count(h2, "x-forwarded-client-cert") == 0);
    sc_http1_free(p);
    free(out);
}

static void check_head(enum sc_http1_kind kind, const struct sc_http1_head *req,
                       const struct sc_http1_head *hd, struct sum *s, int deep)
{
    size_t i;

    CHECK(hd != NULL);
    CHECK(hd->version_minor == 0 || hd->version_minor == 1);
    CHECK(hd->n_headers <= SC_HTTP1_DEFAULT_MAX_HEADERS);
    for (i = 0; i < hd->n_headers; i++) {
        CHECK(hd->headers[i].name_len > 0);
        clean(hd->headers[i].name, hd->headers[i].name_len);
        clean(hd->headers[i].value, hd->headers[i].value_len);
        mix(s, hd->headers[i].name, hd->headers[i].name_len);
        mix(s, hd->headers[i].value, hd->headers[i].value_len);
    }
    if (hd->is_request) {
        CHECK(hd->method != NULL);
        CHECK(hd->target_len > 0);
        clean(hd->target, hd->target_len);
        mix(s, hd->target, hd->target_len);
    } else {
        CHECK(hd->status >= 100 && hd->status <= 599);
        clean(hd->reason, hd->reason_len);
    }
    CHECK(hd->framing <= SC_HTTP1_BODY_EOF);
    mix_u(s, (uint64_t)hd->status);
    mix_u(s, (uint64_t)hd->framing);
    mix_u(s, hd->content_length);
    mix_u(s, (uint64_t)(hd->keep_alive * 2 + hd->upgrade));
    if (deep) {
        reparse(kind, req, hd);
    }
}

/* Feeds in[0..len) in chunks (cut by seed; seed 0: whole) or through an
 * evbuffer; returns the transcript's checksum. */
static struct sum run(enum sc_http1_kind kind, const struct sc_http1_head *req, const uint8_t *in,
                      size_t len, unsigned seed, int via_evbuffer, int deep)
{
    struct sum s = {1469598103934665603ULL, 0};
    struct sc_http1 *h = sc_http1_new(kind, NULL);
    struct evbuffer *eb = via_evbuffer ? evbuffer_new() : NULL;
    size_t off = 0, guard = 0, body = 0;
    unsigned x = seed * 2654435761u + 1;
    int stop = 0, ended = 0;
    enum sc_http1_ev ev;

    CHECK(h != NULL);
    sc_http1_expect_response(h, req);
    while (!stop && off <= len && guard++ < 4 * len + 64) {
        size_t chunk = len - off, c = 0;

        if (seed != 0 && chunk > 0) {
            x = x * 1103515245u + 12345u;
            chunk = 1 + (x >> 16) % (chunk < 7 ? chunk : 7);
        }
        if (via_evbuffer) {
            size_t bl = 0;

            evbuffer_add(eb, in + off, chunk);
            off += chunk;
            for (;;) {
                ev = sc_http1_feed_evbuffer(h, eb, &bl);
                CHECK(bl <= evbuffer_get_length(eb));
                if (ev == SC_HTTP1_EV_BODY || ev == SC_HTTP1_EV_DONE) {
                    body += bl;
                    evbuffer_drain(eb, bl);
                }
                if (ev != SC_HTTP1_EV_BODY && ev != SC_HTTP1_EV_NEED_MORE) {
                    mix_u(&s, (uint64_t)ev); /* both depend on how bytes arrive */
                }
                if (ev == SC_HTTP1_EV_HEAD) {
                    check_head(kind, req, sc_http1_head(h), &s, 0);
                }
                if (ev == SC_HTTP1_EV_DONE) {
                    mix_u(&s, body);
                    body = 0;
                }
                if (ev == SC_HTTP1_EV_ERROR || ev == SC_HTTP1_EV_UPGRADE) {
                    stop = ended = 1;
                    break;
                }
                if (ev == SC_HTTP1_EV_NEED_MORE) {
                    break;
                }
            }
            if (off == len) {
                break;
            }
            continue;
        }
        ev = sc_http1_feed(h, (const char *)in + off, chunk, &c);
        CHECK(c <= chunk);
        switch (ev) {
        case SC_HTTP1_EV_NEED_MORE:
            CHECK(c == chunk);
            off += c;
            if (off == len) {
                stop = 1;
            }
            continue;
        case SC_HTTP1_EV_BODY:
            CHECK(c > 0);
            body += c;
            off += c;
            continue;
        case SC_HTTP1_EV_DONE:
            body += c;
            mix_u(&s, (uint64_t)ev);
            mix_u(&s, body);
            body = 0;
            break;
        case SC_HTTP1_EV_HEAD:
            mix_u(&s, (uint64_t)ev);
            check_head(kind, req, sc_http1_head(h), &s, deep);
            break;
        case SC_HTTP1_EV_BEGIN:
            CHECK(sc_http1_head(h) == NULL);
            mix_u(&s, (uint64_t)ev);
            break;
        case SC_HTTP1_EV_ERROR:
            CHECK(c == 0);
            CHECK(sc_http1_error(h) > SC_HTTP1_E_NONE && sc_http1_error(h) < SC_HTTP1_E_N);
            CHECK(sc_http1_error_status(sc_http1_error(h)) >= 400);
            mix_u(&s, (uint64_t)ev);
            stop = ended = 1;
            break;
        case SC_HTTP1_EV_UPGRADE:
            CHECK(c == 0);
            mix_u(&s, (uint64_t)ev);
            stop = ended = 1;
            break;
        default:
            CHECK(0);
        }
        off += c;
    }
    CHECK(guard < 4 * len + 64);
    if (!ended) {
        ev = sc_http1_finish(h);
        if (ev == SC_HTTP1_EV_DONE) {
            mix_u(&s, (uint64_t)ev);
            mix_u(&s, body);
        }
        mix_u(&s, (uint64_t)(ev == SC_HTTP1_EV_DONE ? SC_HTTP1_EV_EOF : ev));
    }
    sc_http1_trim(h);
    sc_http1_free(h);
    if (eb != NULL) {
        evbuffer_free(eb);
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sc_http1_head req;
    enum sc_http1_kind kind;
    struct sum whole, cut;
    unsigned seed;

    if (size < 1 || size > 256 * 1024) {
        return 0;
    }
    memset(&req, 0, sizeof req);
    kind = (data[0] & 1) ? SC_HTTP1_RESPONSE : SC_HTTP1_REQUEST;
    req.is_request = 1;
    req.method = "GET";
    req.head_method = (data[0] & 2) != 0;
    req.upgrade = (data[0] & 4) != 0;
    req.connect = (data[0] & 8) != 0;
    req.upgrade |= req.connect;
    seed = (unsigned)(data[0] >> 4) + 1;

    whole = run(kind, &req, data + 1, size - 1, 0, 0, 1);
    cut = run(kind, &req, data + 1, size - 1, seed, 0, 0);
    CHECK(whole.h == cut.h); /* however the bytes arrive */
    cut = run(kind, &req, data + 1, size - 1, seed, 1, 0);
    CHECK(whole.h == cut.h);
    return 0;
}
