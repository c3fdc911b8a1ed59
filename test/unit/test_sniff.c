/* Unit tests for proxy/sniff: real ClientHellos captured from openssl
 * s_client and curl (scripts/capture-clienthello.sh), their prefixes,
 * re-framings over several records, and malformed input.
 *
 * Fixtures are read from $SC_TEST_DATA/clienthello/ (default
 * test/unit/data, relative to the repo root where the tests run). */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sniff.h"

#define BIG (4 * SC_SNIFF_MAX_BYTES)

/* ---- helpers ---------------------------------------------------------- */

static size_t load(const char *name, unsigned char *buf, size_t cap)
{
    const char *dir = getenv("SC_TEST_DATA");
    char path[1024];
    FILE *f;
    size_t n;

    if (dir == NULL || dir[0] == '\0') {
        dir = "test/unit/data";
    }
    snprintf(path, sizeof path, "%s/clienthello/%s", dir, name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (run from the repo root or set SC_TEST_DATA)", path);
    n = fread(buf, 1, cap, f);
    ck_assert_msg(!ferror(f) && feof(f), "cannot read all of %s", path);
    fclose(f);
    ck_assert_msg(n > 9, "%s is too short", path);
    return n;
}

/* The handshake message (4-byte header + body) of a capture that is one
 * record, which all of ours are. */
static size_t hs_of_capture(const unsigned char *cap, size_t n, const unsigned char **hs)
{
    size_t rec = (size_t)cap[3] << 8 | cap[4];

    ck_assert_uint_eq(cap[0], 0x16);
    ck_assert_uint_eq(rec + 5, n);
    *hs = cap + 5;
    return rec;
}

/* Frames a handshake message into handshake records carrying at most
 * `per` bytes each (the first record carries `first` bytes when nonzero). */
static size_t frame(const unsigned char *hs, size_t hslen, size_t first, size_t per,
                    unsigned char *out, size_t cap)
{
    size_t off = 0, n = 0;

    while (off < hslen) {
        size_t take = (off == 0 && first != 0) ? first : per;

        if (take > hslen - off) {
            take = hslen - off;
        }
        ck_assert_uint_le(n + 5 + take, cap);
        out[n++] = 0x16;
        out[n++] = 0x03;
        out[n++] = 0x01;
        out[n++] = (unsigned char)(take >> 8);
        out[n++] = (unsigned char)take;
        memcpy(out + n, hs + off, take);
        n += take;
        off += take;
    }
    return n;
}

/* A builder for synthetic ClientHellos. */
struct hb {
    unsigned char b[BIG];
    size_t n;
};

static void put(struct hb *h, const void *p, size_t n)
{
    ck_assert_uint_le(h->n + n, sizeof h->b);
    memcpy(h->b + h->n, p, n);
    h->n += n;
}

static void put8(struct hb *h, unsigned v)
{
    unsigned char c = (unsigned char)v;

    put(h, &c, 1);
}

static void put16(struct hb *h, unsigned v)
{
    put8(h, v >> 8);
    put8(h, v);
}

static void put24(struct hb *h, size_t v)
{
    put8(h, (unsigned)(v >> 16));
    put8(h, (unsigned)(v >> 8));
    put8(h, (unsigned)v);
}

/* A ClientHello handshake message (header included) with the given
 * extensions block (ext == NULL: no extensions block at all). */
static void hello_msg(struct hb *m, const unsigned char *ext, size_t extlen)
{
    static const unsigned char random[32];
    struct hb *body = calloc(1, sizeof *body);

    ck_assert_ptr_nonnull(body);
    put16(body, 0x0303);
    put(body, random, 32);
    put8(body, 0); /* session id */
    put16(body, 4); /* cipher suites */
    put16(body, 0x1301);
    put16(body, 0xc02f);
    put8(body, 1); /* compression: null */
    put8(body, 0);
    if (ext != NULL) {
        put16(body, (unsigned)extlen);
        put(body, ext, extlen);
    }
    m->n = 0;
    put8(m, 0x01);
    put24(m, body->n);
    put(m, body->b, body->n);
    free(body);
}

/* An extension: type, then data. */
static void ext_add(struct hb *e, unsigned type, const void *data, size_t n)
{
    put16(e, type);
    put16(e, (unsigned)n);
    put(e, data, n);
}

/* ALPN extension data from a wire-format name list ("\x02h2..."). */
static void ext_alpn(struct hb *e, const char *list, size_t n)
{
    struct hb *d = calloc(1, sizeof *d);

    ck_assert_ptr_nonnull(d);
    put16(d, (unsigned)n);
    put(d, list, n);
    ext_add(e, 16, d->b, d->n);
    free(d);
}

static void ext_sni(struct hb *e, const char *name, size_t n)
{
    struct hb *d = calloc(1, sizeof *d);

    ck_assert_ptr_nonnull(d);
    put16(d, (unsigned)(n + 3));
    put8(d, 0);
    put16(d, (unsigned)n);
    put(d, name, n);
    ext_add(e, 0, d->b, d->n);
    free(d);
}

/* Sniffs a synthetic hello framed in one record. */
static enum sc_sniff_result sniff_exts(const struct hb *e, struct sc_sniff_info *info)
{
    struct hb *m = calloc(1, sizeof *m);
    unsigned char *wire = malloc(BIG);
    enum sc_sniff_result r;
    size_t n;

    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(wire);
    hello_msg(m, e != NULL ? e->b : NULL, e != NULL ? e->n : 0);
    n = frame(m->b, m->n, 0, 16384, wire, BIG);
    r = sc_sniff_client_hello(wire, n, info);
    free(wire);
    free(m);
    return r;
}

static void assert_same_info(const struct sc_sniff_info *a, const struct sc_sniff_info *b)
{
    ck_assert_mem_eq(a, b, sizeof *a);
}

/* ---- the captures ------------------------------------------------------- */

struct capture {
    const char *file;
    int mesh;
    int has_alpn;
    size_t n_alpn;
    const char *alpn[3];
    const char *sni;
    int tls13;
};

static const struct capture captures[] = {
    {"openssl-alpn-istio-http11.bin", 1, 1, 3, {"istio-http/1.1", "istio", "http/1.1"}, "", 1},
    {"openssl-alpn-istio.bin", 1, 1, 1, {"istio"}, "", 1},
    {"openssl-alpn-h2-http11.bin", 0, 1, 2, {"h2", "http/1.1"}, "", 1},
    {"openssl-no-alpn.bin", 0, 0, 0, {NULL}, "", 1},
    {"openssl-sni.bin", 0, 0, 0, {NULL}, "httpbin.foo.svc.cluster.local", 1},
    {"openssl-tls12-only.bin", 0, 1, 1, {"http/1.1"}, "", 0},
    {"openssl-sni-alpn-istio.bin", 1, 1, 2, {"istio-peer-exchange", "istio"}, "a.b", 1},
    {"curl-http11.bin", 0, 1, 1, {"http/1.1"}, "", 1},
    {"curl-http2.bin", 0, 1, 2, {"h2", "http/1.1"}, "", 1},
    {"curl-sni.bin", 0, 1, 1, {"http/1.1"}, "httpbin.local", 1},
};
#define N_CAPTURES (int)(sizeof captures / sizeof captures[0])

static void check_capture_info(const struct capture *c, const struct sc_sniff_info *info)
{
    size_t i;

    ck_assert_int_eq(info->mesh_alpn, c->mesh);
    ck_assert_int_eq(info->has_alpn, c->has_alpn);
    ck_assert_uint_eq(info->n_alpn, c->n_alpn);
    for (i = 0; i < c->n_alpn; i++) {
        ck_assert_str_eq(info->alpn[i], c->alpn[i]);
    }
    ck_assert_str_eq(info->sni, c->sni);
    ck_assert_uint_eq(info->legacy_version, 0x0303);
    ck_assert_int_eq(info->has_supported_versions_tls13, c->tls13);
}

START_TEST(test_sniff_capture_is_tls_with_its_alpn_and_sni)
{
    const struct capture *c = &captures[_i];
    unsigned char buf[4096];
    struct sc_sniff_info info;
    size_t n = load(c->file, buf, sizeof buf);

    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &info), SC_SNIFF_TLS);
    check_capture_info(c, &info);
}
END_TEST

START_TEST(test_sniff_capture_every_prefix_needs_more)
{
    unsigned char buf[4096];
    struct sc_sniff_info info;
    size_t n = load(captures[_i].file, buf, sizeof buf);
    size_t l;

    ck_assert_int_eq(sc_sniff_client_hello(buf, 0, &info), SC_SNIFF_NEED_MORE);
    for (l = 1; l < n; l++) {
        enum sc_sniff_result r = sc_sniff_client_hello(buf, l, &info);

        ck_assert_msg(r == SC_SNIFF_NEED_MORE, "%s: prefix %zu/%zu gave %s", captures[_i].file, l,
                      n, sc_sniff_result_name(r));
    }
}
END_TEST

START_TEST(test_sniff_capture_ignores_bytes_after_the_hello)
{
    static unsigned char buf[SC_SNIFF_MAX_BYTES + 4096];
    struct sc_sniff_info info;
    size_t n = load(captures[_i].file, buf, sizeof buf);

    /* early data / the next record / garbage after the hello */
    memset(buf + n, 0x17, sizeof buf - n);
    ck_assert_int_eq(sc_sniff_client_hello(buf, n + 1, &info), SC_SNIFF_TLS);
    check_capture_info(&captures[_i], &info);
    /* more than a caller may peek: the rest is ignored */
    ck_assert_int_eq(sc_sniff_client_hello(buf, sizeof buf, &info), SC_SNIFF_TLS);
    check_capture_info(&captures[_i], &info);
}
END_TEST

START_TEST(test_sniff_capture_reassembled_from_two_records)
{
    unsigned char buf[4096], wire[8192];
    struct sc_sniff_info want, got;
    const unsigned char *hs;
    size_t n = load(captures[_i].file, buf, sizeof buf);
    size_t hslen = hs_of_capture(buf, n, &hs);
    size_t k, l, w;

    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &want), SC_SNIFF_TLS);
    /* every split point, the header itself split included */
    for (k = 1; k < hslen; k++) {
        w = frame(hs, hslen, k, 16384, wire, sizeof wire);
        ck_assert_uint_eq(w, n + 5);
        ck_assert_int_eq(sc_sniff_client_hello(wire, w, &got), SC_SNIFF_TLS);
        assert_same_info(&want, &got);
    }
    /* every prefix of one split is still incomplete */
    w = frame(hs, hslen, hslen / 2, 16384, wire, sizeof wire);
    for (l = 1; l < w; l++) {
        ck_assert_int_eq(sc_sniff_client_hello(wire, l, &got), SC_SNIFF_NEED_MORE);
    }
}
END_TEST

START_TEST(test_sniff_capture_reassembled_from_one_byte_records)
{
    unsigned char buf[4096], wire[4096 * 6];
    struct sc_sniff_info want, got;
    const unsigned char *hs;
    size_t n = load(captures[_i].file, buf, sizeof buf);
    size_t hslen = hs_of_capture(buf, n, &hs);
    size_t l, w;

    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &want), SC_SNIFF_TLS);
    w = frame(hs, hslen, 0, 1, wire, sizeof wire);
    ck_assert_uint_eq(w, hslen * 6);
    ck_assert_int_eq(sc_sniff_client_hello(wire, w, &got), SC_SNIFF_TLS);
    assert_same_info(&want, &got);
    for (l = 1; l < w; l++) {
        ck_assert_int_eq(sc_sniff_client_hello(wire, l, &got), SC_SNIFF_NEED_MORE);
    }
}
END_TEST

START_TEST(test_sniff_capture_second_record_of_another_type_is_bad)
{
    unsigned char buf[4096], wire[8192];
    struct sc_sniff_info info;
    const unsigned char *hs;
    size_t n = load(captures[_i].file, buf, sizeof buf);
    size_t hslen = hs_of_capture(buf, n, &hs);
    size_t w = frame(hs, hslen, 40, 16384, wire, sizeof wire);

    wire[45] = 0x17; /* application_data */
    ck_assert_int_eq(sc_sniff_client_hello(wire, 46, &info), SC_SNIFF_BAD_TLS);
    ck_assert_int_eq(sc_sniff_client_hello(wire, w, &info), SC_SNIFF_BAD_TLS);
    wire[45] = 0x16;
    wire[46] = 0x02; /* record version major 2 */
    ck_assert_int_eq(sc_sniff_client_hello(wire, 46, &info), SC_SNIFF_NEED_MORE);
    ck_assert_int_eq(sc_sniff_client_hello(wire, 47, &info), SC_SNIFF_BAD_TLS);
    wire[46] = 0x03;
    wire[48] = 0; /* zero-length record */
    wire[49] = 0;
    ck_assert_int_eq(sc_sniff_client_hello(wire, w, &info), SC_SNIFF_BAD_TLS);
}
END_TEST

/* Every single-byte corruption of a capture: no crash, and the verdict on
 * any prefix is NEED_MORE or the verdict on the whole. */
START_TEST(test_sniff_capture_corrupted_bytes_never_crash)
{
    unsigned char buf[4096];
    struct sc_sniff_info info, pinfo;
    size_t n = load(captures[_i].file, buf, sizeof buf);
    size_t pos, l;
    static const unsigned char vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};

    for (pos = 0; pos < n; pos++) {
        unsigned char orig = buf[pos];
        size_t v;

        for (v = 0; v < sizeof vals; v++) {
            enum sc_sniff_result full;

            buf[pos] = vals[v];
            full = sc_sniff_client_hello(buf, n, &info);
            for (l = pos + 1; l < n; l += 37) {
                enum sc_sniff_result r = sc_sniff_client_hello(buf, l, &pinfo);

                ck_assert(r == SC_SNIFF_NEED_MORE || r == full);
            }
        }
        buf[pos] = orig;
    }
}
END_TEST

/* ---- plaintext and garbage ----------------------------------------------- */

START_TEST(test_sniff_http_request_is_not_tls)
{
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    struct sc_sniff_info info;

    ck_assert_int_eq(sc_sniff_client_hello((const unsigned char *)req, strlen(req), &info),
                     SC_SNIFF_NOT_TLS);
    ck_assert_int_eq(sc_sniff_client_hello((const unsigned char *)req, 1, &info), SC_SNIFF_NOT_TLS);
    ck_assert_int_eq(sc_sniff_client_hello((const unsigned char *)"PRI * HTTP/2.0", 14, NULL),
                     SC_SNIFF_NOT_TLS);
}
END_TEST

START_TEST(test_sniff_one_byte_decides_plaintext)
{
    unsigned char b;
    unsigned v;

    for (v = 0; v < 256; v++) {
        b = (unsigned char)v;
        ck_assert_int_eq(sc_sniff_client_hello(&b, 1, NULL),
                         v == 0x16 ? SC_SNIFF_NEED_MORE : SC_SNIFF_NOT_TLS);
    }
}
END_TEST

START_TEST(test_sniff_empty_needs_more)
{
    struct sc_sniff_info info;

    ck_assert_int_eq(sc_sniff_client_hello((const unsigned char *)"", 0, &info),
                     SC_SNIFF_NEED_MORE);
    ck_assert_int_eq(sc_sniff_client_hello(NULL, 0, &info), SC_SNIFF_NEED_MORE);
}
END_TEST

START_TEST(test_sniff_zero_bytes_are_not_tls)
{
    unsigned char z[512] = {0};

    ck_assert_int_eq(sc_sniff_client_hello(z, sizeof z, NULL), SC_SNIFF_NOT_TLS);
}
END_TEST

START_TEST(test_sniff_record_version_major_not_3_is_not_tls)
{
    const unsigned char a[] = {0x16, 0x02, 0x00, 0x00, 0x10};
    const unsigned char b[] = {0x16, 0x00};
    const unsigned char c[] = {0x16, 0xfe, 0xfd, 0x00, 0x10}; /* DTLS 1.2 */

    ck_assert_int_eq(sc_sniff_client_hello(a, sizeof a, NULL), SC_SNIFF_NOT_TLS);
    ck_assert_int_eq(sc_sniff_client_hello(b, sizeof b, NULL), SC_SNIFF_NOT_TLS);
    ck_assert_int_eq(sc_sniff_client_hello(c, sizeof c, NULL), SC_SNIFF_NOT_TLS);
}
END_TEST

START_TEST(test_sniff_sslv2_hello_is_not_tls)
{
    /* SSLv2-compatible CLIENT-HELLO: 2-byte length with the high bit set,
     * msg type 1, version 3.1, ... */
    const unsigned char v2[] = {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00,
                                0x00, 0x10, 0x00, 0x00, 0x04, 0x00, 0x00, 0x05};

    ck_assert_int_eq(sc_sniff_client_hello(v2, sizeof v2, NULL), SC_SNIFF_NOT_TLS);
    ck_assert_int_eq(sc_sniff_client_hello(v2, 1, NULL), SC_SNIFF_NOT_TLS);
}
END_TEST

START_TEST(test_sniff_record_longer_than_tls_allows_is_bad)
{
    const unsigned char a[] = {0x16, 0x03, 0x01, 0xff, 0xff, 0x01};
    const unsigned char b[] = {0x16, 0x03, 0x01, 0x40, 0x01}; /* 16385 */

    ck_assert_int_eq(sc_sniff_client_hello(a, sizeof a, NULL), SC_SNIFF_BAD_TLS);
    ck_assert_int_eq(sc_sniff_client_hello(b, sizeof b, NULL), SC_SNIFF_BAD_TLS);
    ck_assert_int_eq(sc_sniff_client_hello(b, 4, NULL), SC_SNIFF_NEED_MORE);
}
END_TEST

START_TEST(test_sniff_empty_record_is_bad)
{
    const unsigned char a[] = {0x16, 0x03, 0x01, 0x00, 0x00};

    ck_assert_int_eq(sc_sniff_client_hello(a, sizeof a, NULL), SC_SNIFF_BAD_TLS);
}
END_TEST

START_TEST(test_sniff_other_handshake_type_is_bad)
{
    /* a ServerHello header where a ClientHello belongs */
    const unsigned char sh[] = {0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00};

    ck_assert_int_eq(sc_sniff_client_hello(sh, sizeof sh, NULL), SC_SNIFF_BAD_TLS);
    ck_assert_int_eq(sc_sniff_client_hello(sh, 5, NULL), SC_SNIFF_NEED_MORE);
}
END_TEST

START_TEST(test_sniff_handshake_longer_than_cap_is_bad)
{
    unsigned char h[9] = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0, 0, 0};
    size_t fits = SC_SNIFF_MAX_BYTES - 9; /* 5 + 4 + fits == the cap */

    h[6] = 0xff, h[7] = 0xff, h[8] = 0xff;
    ck_assert_int_eq(sc_sniff_client_hello(h, sizeof h, NULL), SC_SNIFF_BAD_TLS);
    h[6] = (unsigned char)((fits + 1) >> 16);
    h[7] = (unsigned char)((fits + 1) >> 8);
    h[8] = (unsigned char)(fits + 1);
    ck_assert_int_eq(sc_sniff_client_hello(h, sizeof h, NULL), SC_SNIFF_BAD_TLS);
    h[6] = (unsigned char)(fits >> 16);
    h[7] = (unsigned char)(fits >> 8);
    h[8] = (unsigned char)fits;
    ck_assert_int_eq(sc_sniff_client_hello(h, sizeof h, NULL), SC_SNIFF_NEED_MORE);
}
END_TEST

/* A message that would fit the cap in one record, but whose first record is
 * short: the second record header pushes it past the cap. */
START_TEST(test_sniff_records_that_cannot_fit_the_cap_are_bad)
{
    static unsigned char w[SC_SNIFF_MAX_BYTES];
    size_t fits = SC_SNIFF_MAX_BYTES - 9;

    memset(w, 0, sizeof w);
    w[0] = 0x16, w[1] = 0x03, w[2] = 0x01, w[3] = 0x00, w[4] = 100;
    w[5] = 0x01;
    w[6] = (unsigned char)(fits >> 16);
    w[7] = (unsigned char)(fits >> 8);
    w[8] = (unsigned char)fits;
    ck_assert_int_eq(sc_sniff_client_hello(w, 9, NULL), SC_SNIFF_BAD_TLS);
    /* the same message in one full record is still possible */
    w[3] = (unsigned char)((fits + 4) >> 8);
    w[4] = (unsigned char)(fits + 4);
    ck_assert_int_eq(sc_sniff_client_hello(w, 9, NULL), SC_SNIFF_NEED_MORE);
    ck_assert_int_eq(sc_sniff_client_hello(w, sizeof w - 1, NULL), SC_SNIFF_NEED_MORE);
    /* ... and all zero bytes after the header make a malformed body */
    ck_assert_int_eq(sc_sniff_client_hello(w, sizeof w, NULL), SC_SNIFF_BAD_TLS);
}
END_TEST

START_TEST(test_sniff_hello_body_lengths_past_the_end_are_bad)
{
    unsigned char buf[4096];
    struct sc_sniff_info info;
    size_t n = load("openssl-alpn-istio-http11.bin", buf, sizeof buf);
    size_t sid = 5 + 4 + 2 + 32; /* session id length byte */
    size_t cs = sid + 1 + buf[sid]; /* cipher suites length */
    size_t cm = cs + 2 + ((size_t)buf[cs] << 8 | buf[cs + 1]);
    size_t ex = cm + 1 + buf[cm]; /* extensions length */
    unsigned char save;

    save = buf[sid];
    buf[sid] = 0xff; /* > 32 and past the end */
    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &info), SC_SNIFF_BAD_TLS);
    buf[sid] = 33;
    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &info), SC_SNIFF_BAD_TLS);
    buf[sid] = save;

    save = buf[cs];
    buf[cs] = 0xff;
    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &info), SC_SNIFF_BAD_TLS);
    buf[cs] = save;
    buf[cs + 1] ^= 1; /* odd cipher suites length */
    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &info), SC_SNIFF_BAD_TLS);
    buf[cs + 1] ^= 1;

    save = buf[cm];
    buf[cm] = 0; /* no compression methods */
    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &info), SC_SNIFF_BAD_TLS);
    buf[cm] = save;

    buf[ex + 1]++; /* extensions one byte too long */
    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &info), SC_SNIFF_BAD_TLS);
    buf[ex + 1] -= 2; /* ... one byte short: trailing byte */
    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &info), SC_SNIFF_BAD_TLS);
    buf[ex + 1]++;
    buf[ex + 2 + 2] = 0xff; /* first extension's length overflows */
    buf[ex + 2 + 3] = 0xff;
    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &info), SC_SNIFF_BAD_TLS);
    ck_assert_int_eq(info.has_alpn, 0); /* cleared on failure */
    ck_assert_str_eq(info.sni, "");
}
END_TEST

START_TEST(test_sniff_handshake_length_past_record_waits_for_next_record)
{
    unsigned char buf[4096];
    struct sc_sniff_info info;
    size_t n = load("openssl-no-alpn.bin", buf, sizeof buf);

    buf[8]++; /* message claims one more byte */
    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &info), SC_SNIFF_NEED_MORE);
    buf[n] = 0x16; /* the next record starts */
    ck_assert_int_eq(sc_sniff_client_hello(buf, n + 1, &info), SC_SNIFF_NEED_MORE);
    buf[n] = 0x15; /* an alert instead */
    ck_assert_int_eq(sc_sniff_client_hello(buf, n + 1, &info), SC_SNIFF_BAD_TLS);
}
END_TEST

START_TEST(test_sniff_random_bytes_never_crash)
{
    static unsigned char buf[SC_SNIFF_MAX_BYTES + 16];
    unsigned long long x = 0x9e3779b97f4a7c15ull;
    struct sc_sniff_info info;
    int iter;

    for (iter = 0; iter < 20000; iter++) {
        size_t len, i;
        enum sc_sniff_result r, rp;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        len = (size_t)(x % (iter < 19000 ? 600 : sizeof buf));
        for (i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (unsigned char)x;
        }
        if (len >= 9 && iter % 2 == 0) { /* look like a hello record */
            buf[0] = 0x16, buf[1] = 0x03, buf[5] = 0x01;
            if (iter % 4 == 0) {
                buf[3] = (unsigned char)((len - 5) >> 8), buf[4] = (unsigned char)(len - 5);
                buf[6] = 0, buf[7] = (unsigned char)((len - 9) >> 8);
                buf[8] = (unsigned char)(len - 9);
            }
        }
        r = sc_sniff_client_hello(buf, len, &info);
        ck_assert(r == SC_SNIFF_NEED_MORE || r == SC_SNIFF_NOT_TLS || r == SC_SNIFF_TLS ||
                  r == SC_SNIFF_BAD_TLS);
        if (len > 1) {
            rp = sc_sniff_client_hello(buf, len / 2, &info);
            ck_assert(rp == SC_SNIFF_NEED_MORE || rp == r);
        }
    }
}
END_TEST

/* ---- synthetic hellos: extension parsing ------------------------------- */

START_TEST(test_sniff_hello_without_extensions_is_tls)
{
    struct sc_sniff_info info;

    ck_assert_int_eq(sniff_exts(NULL, &info), SC_SNIFF_TLS);
    ck_assert_int_eq(info.has_alpn, 0);
    ck_assert_uint_eq(info.legacy_version, 0x0303);
    ck_assert_int_eq(info.has_supported_versions_tls13, 0);
}
END_TEST

START_TEST(test_sniff_alpn_keeps_first_eight_and_sees_mesh_after)
{
    struct hb e = {.n = 0};
    struct sc_sniff_info info;
    const char list[] = "\x01"
                        "a"
                        "\x01"
                        "b"
                        "\x01"
                        "c"
                        "\x01"
                        "d"
                        "\x01"
                        "e"
                        "\x01"
                        "f"
                        "\x01"
                        "g"
                        "\x01"
                        "h"
                        "\x01"
                        "i"
                        "\x08"
                        "istio-h2";

    ext_alpn(&e, list, sizeof list - 1);
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_TLS);
    ck_assert_int_eq(info.has_alpn, 1);
    ck_assert_uint_eq(info.n_alpn, 8);
    ck_assert_str_eq(info.alpn[0], "a");
    ck_assert_str_eq(info.alpn[7], "h");
    ck_assert_int_eq(info.mesh_alpn, 1);
}
END_TEST

START_TEST(test_sniff_alpn_long_name_is_truncated)
{
    struct hb e = {.n = 0};
    struct sc_sniff_info info;
    char list[1 + 200];

    list[0] = (char)200;
    memset(list + 1, 'x', 200);
    ext_alpn(&e, list, sizeof list);
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_TLS);
    ck_assert_uint_eq(info.n_alpn, 1);
    ck_assert_uint_eq(strlen(info.alpn[0]), SC_SNIFF_ALPN_LEN - 1);
    ck_assert_int_eq(info.mesh_alpn, 0);
}
END_TEST

START_TEST(test_sniff_alpn_near_miss_is_not_mesh)
{
    struct hb e = {.n = 0};
    struct sc_sniff_info info;
    const char list[] = "\x06"
                        "istio2"
                        "\x04"
                        "isti"
                        "\x05"
                        "ISTIO"
                        "\x0c"
                        "istio-http/2";

    ext_alpn(&e, list, sizeof list - 1);
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_TLS);
    ck_assert_uint_eq(info.n_alpn, 4);
    ck_assert_int_eq(info.mesh_alpn, 0);
}
END_TEST

/* Found by libFuzzer (test/fuzz/corpus/sniff/crash-alpn-name-starts-with-nul,
 * also data/clienthello/fuzz-alpn-name-starts-with-nul.bin): ALPN names
 * are opaque bytes, so one may start with NUL; alpn[] must not read back
 * as "" or as a mesh value, and the hello stays TLS. */
START_TEST(test_sniff_alpn_nul_and_grease_read_as_question_marks)
{
    struct hb e = {.n = 0};
    struct sc_sniff_info info;
    const char list[] = "\x06"
                        "istio\0"
                        "\x02"
                        "\x0a\x0a"
                        "\x03"
                        "\0h2"
                        "\x02"
                        "\xc3\xa9";

    ext_alpn(&e, list, sizeof list - 1);
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_TLS);
    ck_assert_uint_eq(info.n_alpn, 4);
    ck_assert_str_eq(info.alpn[0], "istio?");
    ck_assert_str_eq(info.alpn[1], "??");
    ck_assert_str_eq(info.alpn[2], "?h2");
    ck_assert_str_eq(info.alpn[3], "??");
    ck_assert_int_eq(info.mesh_alpn, 0);
}
END_TEST

START_TEST(test_sniff_alpn_fuzz_crash_input_is_tls)
{
    unsigned char buf[4096];
    struct sc_sniff_info info;
    size_t n = load("fuzz-alpn-name-starts-with-nul.bin", buf, sizeof buf);
    size_t i;

    ck_assert_int_eq(sc_sniff_client_hello(buf, n, &info), SC_SNIFF_TLS);
    ck_assert_uint_ge(info.n_alpn, 1);
    for (i = 0; i < info.n_alpn; i++) {
        ck_assert_uint_gt(strlen(info.alpn[i]), 0);
    }
}
END_TEST

START_TEST(test_sniff_alpn_malformed_is_bad)
{
    static const struct {
        const char *data;
        size_t n;
    } bad[] = {
        {"", 0}, /* no list length */
        {"\x00\x00", 2}, /* empty list */
        {"\x00\x01\x00", 3}, /* empty name */
        {"\x00\x03\x05"
         "ab",
         5}, /* name past the list */
        {"\x00\x04\x02"
         "h2",
         5}, /* list past the extension */
        {"\x00\x03\x02"
         "h2"
         "x",
         6}, /* trailing byte */
    };
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hb e = {.n = 0};
        struct sc_sniff_info info;

        ext_add(&e, 16, bad[i].data, bad[i].n);
        ck_assert_msg(sniff_exts(&e, &info) == SC_SNIFF_BAD_TLS, "case %zu", i);
    }
}
END_TEST

START_TEST(test_sniff_duplicate_extensions_are_bad)
{
    struct hb e = {.n = 0};
    struct sc_sniff_info info;

    ext_alpn(&e, "\x02h2", 3);
    ext_alpn(&e, "\x05istio", 6);
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
    e.n = 0;
    ext_sni(&e, "a", 1);
    ext_sni(&e, "b", 1);
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
    e.n = 0;
    ext_add(&e, 43, "\x02\x03\x04", 3);
    ext_add(&e, 43, "\x02\x03\x04", 3);
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
}
END_TEST

START_TEST(test_sniff_sni_255_is_kept)
{
    struct hb e = {.n = 0};
    struct sc_sniff_info info;
    char name[255];

    memset(name, 'a', sizeof name);
    ext_sni(&e, name, sizeof name);
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_TLS);
    ck_assert_uint_eq(strlen(info.sni), 255);
}
END_TEST

START_TEST(test_sniff_sni_malformed_is_bad)
{
    struct hb e = {.n = 0};
    struct sc_sniff_info info;
    char name[256];

    memset(name, 'a', sizeof name);
    ext_sni(&e, name, sizeof name); /* 256: too long */
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
    e.n = 0;
    ext_sni(&e, "", 0); /* empty */
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
    e.n = 0;
    ext_sni(&e, "a\0b", 3); /* NUL inside */
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
    e.n = 0;
    ext_add(&e, 0, "\x00\x00", 2); /* empty list */
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
    e.n = 0;
    ext_add(&e, 0,
            "\x00\x05\x00\x00\x09"
            "ab",
            7); /* name past the list */
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
    e.n = 0;
    ext_add(&e, 0,
            "\x00\x04\x00\x00\x01"
            "a"
            "z",
            7); /* list past... trailing */
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
}
END_TEST

START_TEST(test_sniff_sni_other_name_types_are_skipped)
{
    struct hb e = {.n = 0};
    struct sc_sniff_info info;

    ext_add(&e, 0,
            "\x00\x0a"
            "\x07\x00\x02zz"
            "\x00\x00\x02hi",
            12);
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_TLS);
    ck_assert_str_eq(info.sni, "hi");
}
END_TEST

START_TEST(test_sniff_supported_versions_malformed_is_bad)
{
    struct hb e = {.n = 0};
    struct sc_sniff_info info;

    ext_add(&e, 43, "\x03\x03\x04\x03", 4); /* odd length */
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
    e.n = 0;
    ext_add(&e, 43, "\x00", 1); /* empty */
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
    e.n = 0;
    ext_add(&e, 43, "\x04\x03\x04", 3); /* past the extension */
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
    e.n = 0;
    ext_add(&e, 43, "\x04\x7a\x7a\x03\x03", 5); /* GREASE + 1.2: no 1.3 */
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_TLS);
    ck_assert_int_eq(info.has_supported_versions_tls13, 0);
}
END_TEST

START_TEST(test_sniff_extension_header_cut_short_is_bad)
{
    struct hb e = {.n = 0};
    struct sc_sniff_info info;

    put16(&e, 16);
    put8(&e, 0); /* 3 bytes: no room for a length */
    ck_assert_int_eq(sniff_exts(&e, &info), SC_SNIFF_BAD_TLS);
}
END_TEST

START_TEST(test_sniff_bad_legacy_version_is_bad)
{
    struct hb *m = calloc(1, sizeof *m);
    unsigned char wire[512];
    size_t n;

    ck_assert_ptr_nonnull(m);
    hello_msg(m, NULL, 0);
    m->b[4] = 0x02; /* legacy_version 2.3 */
    n = frame(m->b, m->n, 0, 16384, wire, sizeof wire);
    ck_assert_int_eq(sc_sniff_client_hello(wire, n, NULL), SC_SNIFF_BAD_TLS);
    free(m);
}
END_TEST

START_TEST(test_sniff_out_is_cleared_unless_tls)
{
    struct sc_sniff_info info;

    memset(&info, 0xaa, sizeof info);
    ck_assert_int_eq(sc_sniff_client_hello((const unsigned char *)"G", 1, &info), SC_SNIFF_NOT_TLS);
    ck_assert_int_eq(info.n_alpn, 0);
    ck_assert_int_eq(info.mesh_alpn, 0);
    ck_assert_str_eq(info.sni, "");
}
END_TEST

/* ---- small functions ----------------------------------------------------- */

START_TEST(test_sniff_is_mesh_alpn_accepts_istio_values)
{
    const char *ok[] = {"istio-peer-exchange", "istio", "istio-http/1.0", "istio-http/1.1",
                        "istio-h2"};
    size_t i;

    for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_int_eq(sc_sniff_is_mesh_alpn(ok[i], strlen(ok[i])), 1);
    }
}
END_TEST

START_TEST(test_sniff_is_mesh_alpn_refuses_others)
{
    const char *no[] = {
        "h2", "http/1.1", "istio-h3", "Istio", "istio-http/2", "istio-peer-exchange2", ""};
    size_t i;

    for (i = 0; i < sizeof no / sizeof no[0]; i++) {
        ck_assert_int_eq(sc_sniff_is_mesh_alpn(no[i], strlen(no[i])), 0);
    }
    ck_assert_int_eq(sc_sniff_is_mesh_alpn("istio", 4), 0);
    ck_assert_int_eq(sc_sniff_is_mesh_alpn("istio\0", 6), 0);
    ck_assert_int_eq(sc_sniff_is_mesh_alpn(NULL, 5), 0);
}
END_TEST

START_TEST(test_sniff_result_name_names_each)
{
    ck_assert_str_eq(sc_sniff_result_name(SC_SNIFF_NEED_MORE), "need_more");
    ck_assert_str_eq(sc_sniff_result_name(SC_SNIFF_NOT_TLS), "not_tls");
    ck_assert_str_eq(sc_sniff_result_name(SC_SNIFF_TLS), "tls");
    ck_assert_str_eq(sc_sniff_result_name(SC_SNIFF_BAD_TLS), "bad_tls");
    ck_assert_str_eq(sc_sniff_result_name((enum sc_sniff_result)42), "unknown");
}
END_TEST

static Suite *sniff_suite(void)
{
    Suite *s = suite_create("sniff");
    TCase *tc;

    tc = tcase_create("captures");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_sniff_capture_is_tls_with_its_alpn_and_sni, 0, N_CAPTURES);
    tcase_add_loop_test(tc, test_sniff_capture_every_prefix_needs_more, 0, N_CAPTURES);
    tcase_add_loop_test(tc, test_sniff_capture_ignores_bytes_after_the_hello, 0, N_CAPTURES);
    tcase_add_loop_test(tc, test_sniff_capture_reassembled_from_two_records, 0, N_CAPTURES);
    tcase_add_loop_test(tc, test_sniff_capture_reassembled_from_one_byte_records, 0, N_CAPTURES);
    tcase_add_loop_test(tc, test_sniff_capture_second_record_of_another_type_is_bad, 0, N_CAPTURES);
    tcase_add_loop_test(tc, test_sniff_capture_corrupted_bytes_never_crash, 0, N_CAPTURES);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_sniff_client_hello");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sniff_http_request_is_not_tls);
    tcase_add_test(tc, test_sniff_one_byte_decides_plaintext);
    tcase_add_test(tc, test_sniff_empty_needs_more);
    tcase_add_test(tc, test_sniff_zero_bytes_are_not_tls);
    tcase_add_test(tc, test_sniff_record_version_major_not_3_is_not_tls);
    tcase_add_test(tc, test_sniff_sslv2_hello_is_not_tls);
    tcase_add_test(tc, test_sniff_record_longer_than_tls_allows_is_bad);
    tcase_add_test(tc, test_sniff_empty_record_is_bad);
    tcase_add_test(tc, test_sniff_other_handshake_type_is_bad);
    tcase_add_test(tc, test_sniff_handshake_longer_than_cap_is_bad);
    tcase_add_test(tc, test_sniff_records_that_cannot_fit_the_cap_are_bad);
    tcase_add_test(tc, test_sniff_hello_body_lengths_past_the_end_are_bad);
    tcase_add_test(tc, test_sniff_handshake_length_past_record_waits_for_next_record);
    tcase_add_test(tc, test_sniff_random_bytes_never_crash);
    tcase_add_test(tc, test_sniff_hello_without_extensions_is_tls);
    tcase_add_test(tc, test_sniff_alpn_keeps_first_eight_and_sees_mesh_after);
    tcase_add_test(tc, test_sniff_alpn_long_name_is_truncated);
    tcase_add_test(tc, test_sniff_alpn_near_miss_is_not_mesh);
    tcase_add_test(tc, test_sniff_alpn_nul_and_grease_read_as_question_marks);
    tcase_add_test(tc, test_sniff_alpn_fuzz_crash_input_is_tls);
    tcase_add_test(tc, test_sniff_alpn_malformed_is_bad);
    tcase_add_test(tc, test_sniff_duplicate_extensions_are_bad);
    tcase_add_test(tc, test_sniff_sni_255_is_kept);
    tcase_add_test(tc, test_sniff_sni_malformed_is_bad);
    tcase_add_test(tc, test_sniff_sni_other_name_types_are_skipped);
    tcase_add_test(tc, test_sniff_supported_versions_malformed_is_bad);
    tcase_add_test(tc, test_sniff_extension_header_cut_short_is_bad);
    tcase_add_test(tc, test_sniff_bad_legacy_version_is_bad);
    tcase_add_test(tc, test_sniff_out_is_cleared_unless_tls);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_sniff_is_mesh_alpn");
    tcase_add_test(tc, test_sniff_is_mesh_alpn_accepts_istio_values);
    tcase_add_test(tc, test_sniff_is_mesh_alpn_refuses_others);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_sniff_result_name");
    tcase_add_test(tc, test_sniff_result_name_names_each);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sniff_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
