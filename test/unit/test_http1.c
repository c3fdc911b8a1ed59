/* Unit tests for proxy/http1: events and heads for good messages (fed whole,
 * split at every byte boundary, and one byte at a time), every
 * request-smuggling shape as raw bytes, the size limits exactly at and past
 * the edge, responses (HEAD, 1xx, 204/304, EOF-delimited, upgrades), and head
 * serialization with hop-by-hop fields removed. */

#include <check.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

#define BIG (256 * 1024)

/* ---- a transcript of everything the parser reports ---------------------- */

/* Events in a canonical form that does not depend on how the input was
 * split: "B" begin, "H{...}" head summary, body bytes gathered per message
 * and printed at "D", "U" upgrade, "E:<error>" error, "N" NEED_MORE at the
 * very end when nothing else happened. */
struct tr {
    char s[BIG];
    size_t n;
    char body[BIG];
    size_t bn;
    int stopped; /* error or upgrade seen */
    enum sc_http1_error err;
};

static void tr_mem(struct tr *t, const char *a, size_t alen)
{
    ck_assert_uint_lt(t->n + alen, sizeof t->s);
    memcpy(t->s + t->n, a, alen);
    t->n += alen;
    t->s[t->n] = '\0';
}

static void tr_add(struct tr *t, const char *s)
{
    tr_mem(t, s, strlen(s));
}

/* "D<body>" for a completed message */
static void tr_done(struct tr *t)
{
    tr_add(t, "D<");
    tr_mem(t, t->body, t->bn);
    tr_add(t, ">");
    t->bn = 0;
}

static void tr_head(struct tr *t, const struct sc_http1_head *hd)
{
    char line[512];
    size_t i;

    ck_assert_ptr_nonnull(hd);
    if (hd->is_request) {
        snprintf(line, sizeof line, "H{%s %.*s 1.%d fr=%d cl=%llu ka=%d up=%d ex=%d n=%zu",
                 hd->method, (int)hd->target_len, hd->target, hd->version_minor, (int)hd->framing,
                 (unsigned long long)hd->content_length, hd->keep_alive, hd->upgrade,
                 hd->expect_continue, hd->n_headers);
    } else {
        snprintf(line, sizeof line, "H{%d %.*s 1.%d fr=%d cl=%llu ka=%d up=%d n=%zu", hd->status,
                 (int)hd->reason_len, hd->reason, hd->version_minor, (int)hd->framing,
                 (unsigned long long)hd->content_length, hd->keep_alive, hd->upgrade,
                 hd->n_headers);
    }
    tr_add(t, line);
    for (i = 0; i < hd->n_headers; i++) {
        snprintf(line, sizeof line, " [%.*s=%.*s]", (int)hd->headers[i].name_len,
                 hd->headers[i].name, (int)hd->headers[i].value_len, hd->headers[i].value);
        ck_assert_uint_eq(strlen(hd->headers[i].name), hd->headers[i].name_len);
        ck_assert_uint_eq(strlen(hd->headers[i].value), hd->headers[i].value_len);
        tr_add(t, line);
    }
    tr_add(t, "}");
}

/* Feeds one chunk until NEED_MORE (or a stop); returns bytes left over
 * (not consumed because of UPGRADE/ERROR). */
static size_t tr_feed(struct tr *t, struct sc_http1 *h, const char *p, size_t len)
{
    size_t guard = len + 16;

    while (!t->stopped && guard-- > 0) {
        size_t c = 99999;
        enum sc_http1_ev ev = sc_http1_feed(h, p, len, &c);

        ck_assert_uint_le(c, len);
        switch (ev) {
        case SC_HTTP1_EV_NEED_MORE:
            ck_assert_uint_eq(c, len);
            return 0;
        case SC_HTTP1_EV_BEGIN:
            tr_add(t, "B");
            ck_assert_ptr_null(sc_http1_head(h));
            break;
        case SC_HTTP1_EV_HEAD:
            tr_head(t, sc_http1_head(h));
            break;
        case SC_HTTP1_EV_BODY:
            ck_assert_uint_gt(c, 0);
            /* fall through */
        case SC_HTTP1_EV_DONE:
            ck_assert_uint_lt(t->bn + c, sizeof t->body);
            memcpy(t->body + t->bn, p, c);
            t->bn += c;
            if (ev == SC_HTTP1_EV_DONE) {
                tr_done(t);
            }
            break;
        case SC_HTTP1_EV_UPGRADE:
            ck_assert_uint_eq(c, 0);
            tr_add(t, "U");
            t->stopped = 1;
            return len;
        case SC_HTTP1_EV_ERROR:
            ck_assert_uint_eq(c, 0);
            t->err = sc_http1_error(h);
            tr_add(t, "E:");
            tr_add(t, sc_http1_error_name(t->err));
            t->stopped = 1;
            return len;
        default:
            ck_abort_msg("unexpected event %d", (int)ev);
        }
        p += c;
        len -= c;
    }
    ck_assert_msg(t->stopped, "feed loop did not end");
    return len;
}

/* Runs input through a fresh parser cut at the given offsets (ascending);
 * at_eof: call sc_http1_finish at the end and record "F:<event>". */
static void transcript(enum sc_http1_kind kind, const struct sc_http1_head *req, const char *in,
                       size_t len, const size_t *cuts, size_t ncuts, int at_eof, struct tr *t)
{
    struct sc_http1 *h = sc_http1_new(kind, NULL);
    size_t prev = 0, i;

    memset(t, 0, sizeof *t);
    ck_assert_ptr_nonnull(h);
    if (req != NULL) {
        sc_http1_expect_response(h, req);
    }
    for (i = 0; i <= ncuts && !t->stopped; i++) {
        size_t end = i < ncuts ? cuts[i] : len;

        tr_feed(t, h, in + prev, end - prev);
        prev = end;
    }
    if (at_eof && !t->stopped) {
        enum sc_http1_ev ev = sc_http1_finish(h);
        char msg[64];

        if (ev == SC_HTTP1_EV_DONE) {
            tr_done(t);
        }
        snprintf(msg, sizeof msg, "F:%d", (int)ev);
        tr_add(t, msg);
        if (ev == SC_HTTP1_EV_ERROR) {
            t->err = sc_http1_error(h);
        }
    }
    sc_http1_free(h);
}

static struct tr T1, T2;

/* Whole, every two-way split, and byte by byte give the same transcript. */
static void same_everywhere(enum sc_http1_kind kind, const struct sc_http1_head *req,
                            const char *in, size_t len, int at_eof, const char *expect)
{
    size_t cut, i;
    size_t *cuts = malloc((len + 1) * sizeof *cuts);

    ck_assert_ptr_nonnull(cuts);
    transcript(kind, req, in, len, NULL, 0, at_eof, &T1);
    if (expect != NULL) {
        ck_assert_msg(strcmp(T1.s, expect) == 0, "transcript\n  got:  %s\n  want: %s", T1.s,
                      expect);
    }
    for (cut = 0; cut <= len; cut++) {
        transcript(kind, req, in, len, &cut, 1, at_eof, &T2);
        ck_assert_msg(strcmp(T1.s, T2.s) == 0, "%.40s split at %zu:\n  %s\n  %s", in, cut, T2.s,
                      T1.s);
    }
    for (i = 0; i < len; i++) {
        cuts[i] = i + 1;
    }
    transcript(kind, req, in, len, cuts, len > 0 ? len - 1 : 0, at_eof, &T2);
    ck_assert_msg(strcmp(T1.s, T2.s) == 0, "byte by byte:\n  %s\n  %s", T2.s, T1.s);
    free(cuts);
}

static void req_ok(const char *in, const char *expect)
{
    same_everywhere(SC_HTTP1_REQUEST, NULL, in, strlen(in), 0, expect);
}

/* The request is refused with error e, however it is split. */
static void req_refused(const char *in, size_t len, enum sc_http1_error e)
{
    same_everywhere(SC_HTTP1_REQUEST, NULL, in, len, 0, NULL);
    ck_assert_msg(T1.err == e, "%s: got error %s, want %s (transcript %s)", in,
                  sc_http1_error_name(T1.err), sc_http1_error_name(e), T1.s);
    ck_assert_ptr_null(strstr(T1.s, "H{")); /* never a head for a bad message */
}

#define REFUSED(lit, e) req_refused(lit, sizeof(lit) - 1, e)

/* The same for errors in the body: the head was handed out (and may have
 * been forwarded), the message never completes. */
static void req_refused_in_body(const char *in, size_t len, enum sc_http1_error e)
{
    same_everywhere(SC_HTTP1_REQUEST, NULL, in, len, 0, NULL);
    ck_assert_msg(T1.err == e, "%s: got error %s, want %s (transcript %s)", in,
                  sc_http1_error_name(T1.err), sc_http1_error_name(e), T1.s);
    ck_assert_ptr_null(strstr(T1.s, "D<"));
}

#define REFUSED_BODY(lit, e) req_refused_in_body(lit, sizeof(lit) - 1, e)

/* ---- requests: good ------------------------------------------------------ */

START_TEST(test_http1_simple_get)
{
    req_ok("GET /a?b=c HTTP/1.1\r\nHost: example\r\nUser-Agent:  curl/8  \r\n\r\n",
           "BH{GET /a?b=c 1.1 fr=0 cl=0 ka=1 up=0 ex=0 n=2 [Host=example] [User-Agent=curl/8]}D<>");
}
END_TEST

START_TEST(test_http1_keeps_field_case_and_empty_values)
{
    req_ok("GET / HTTP/1.1\r\nhOsT: x\r\nX-Empty:\r\nX-Sp: \t \r\n\r\n",
           "BH{GET / 1.1 fr=0 cl=0 ka=1 up=0 ex=0 n=3 [hOsT=x] [X-Empty=] [X-Sp=]}D<>");
}
END_TEST

START_TEST(test_http1_content_length_body_streams)
{
    req_ok("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
           "BH{POST /up 1.1 fr=1 cl=11 ka=1 up=0 ex=0 n=2 [Host=h] [Content-Length=11]}"
           "D<hello world>");
}
END_TEST

START_TEST(test_http1_body_events_are_never_buffered)
{
    static const char in[] = "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n12345";
    struct sc_http1 *h = sc_http1_new(SC_HTTP1_REQUEST, NULL);
    size_t head = strlen(in) - 5, c, i;

    ck_assert_int_eq(sc_http1_feed(h, in, head, &c), SC_HTTP1_EV_BEGIN);
    ck_assert_uint_eq(c, 0);
    ck_assert_int_eq(sc_http1_feed(h, in, head, &c), SC_HTTP1_EV_HEAD);
    ck_assert_uint_eq(c, head);
    ck_assert_int_eq(sc_http1_in_message(h), 1);
    for (i = 0; i < 4; i++) { /* each byte is reported as soon as fed */
        ck_assert_int_eq(sc_http1_feed(h, in + head + i, 1, &c), SC_HTTP1_EV_BODY);
        ck_assert_uint_eq(c, 1);
    }
    ck_assert_int_eq(sc_http1_feed(h, in + head + 4, 1, &c), SC_HTTP1_EV_DONE);
    ck_assert_uint_eq(c, 1);
    ck_assert_int_eq(sc_http1_in_message(h), 0);
    ck_assert_int_eq(sc_http1_feed(h, "", 0, &c), SC_HTTP1_EV_NEED_MORE);
    sc_http1_free(h);
}
END_TEST

START_TEST(test_http1_chunked_with_extensions_and_trailers_passes_through)
{
    req_ok("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
           "3;q=\"x,y\";name=val\r\nabc\r\n10\r\n0123456789abcdef\r\n0;last\r\n"
           "Trailer-A: 1\r\nTrailer-B: two\r\n\r\n",
           "BH{POST /c 1.1 fr=2 cl=0 ka=1 up=0 ex=0 n=2 [Host=h] [Transfer-Encoding=chunked]}"
           "D<3;q=\"x,y\";name=val\r\nabc\r\n10\r\n0123456789abcdef\r\n0;last\r\n"
           "Trailer-A: 1\r\nTrailer-B: two\r\n\r\n>");
}
END_TEST

START_TEST(test_http1_transfer_coding_list_ending_in_chunked)
{
    req_ok(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
        "BH{POST / 1.1 fr=2 cl=0 ka=1 up=0 ex=0 n=2 [Host=h] [Transfer-Encoding=gzip, chunked]}"
        "D<1\r\nz\r\n0\r\n\r\n>");
}
END_TEST

START_TEST(test_http1_pipelined_requests_split_everywhere)
{
    req_ok("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
           "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody"
           "\r\n" /* an empty line between messages */
           "POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
           "2;e=1\r\nhi\r\n0\r\nT: v\r\n\r\n"
           "HEAD /4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
           "BH{GET /1 1.1 fr=0 cl=0 ka=1 up=0 ex=0 n=1 [Host=h]}D<>"
           "BH{POST /2 1.1 fr=1 cl=4 ka=1 up=0 ex=0 n=2 [Host=h] [Content-Length=4]}D<body>"
           "BH{POST /3 1.1 fr=2 cl=0 ka=1 up=0 ex=0 n=2 [Host=h] [Transfer-Encoding=chunked]}"
           "D<2;e=1\r\nhi\r\n0\r\nT: v\r\n\r\n>"
           "BH{HEAD /4 1.1 fr=0 cl=0 ka=0 up=0 ex=0 n=2 [Host=h] [Connection=close]}D<>");
}
END_TEST

START_TEST(test_http1_stops_after_each_message)
{
    static const char in[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    struct sc_http1 *h = sc_http1_new(SC_HTTP1_REQUEST, NULL);
    size_t off = 0, c;

    ck_assert_int_eq(sc_http1_feed(h, in, sizeof in - 1, &c), SC_HTTP1_EV_BEGIN);
    ck_assert_int_eq(sc_http1_feed(h, in, sizeof in - 1, &c), SC_HTTP1_EV_HEAD);
    off += c;
    ck_assert_int_eq(sc_http1_feed(h, in + off, sizeof in - 1 - off, &c), SC_HTTP1_EV_DONE);
    ck_assert_uint_eq(c, 0);
    /* the second request is untouched until the caller asks for it */
    ck_assert_str_eq(sc_http1_head(h)->target, "/a");
    ck_assert_int_eq(sc_http1_feed(h, in + off, sizeof in - 1 - off, &c), SC_HTTP1_EV_BEGIN);
    ck_assert_uint_eq(c, 0);
    ck_assert_int_eq(sc_http1_feed(h, in + off, sizeof in - 1 - off, &c), SC_HTTP1_EV_HEAD);
    ck_assert_str_eq(sc_http1_head(h)->target, "/b");
    sc_http1_free(h);
}
END_TEST

START_TEST(test_http1_expect_continue_flagged)
{
    req_ok("PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nab",
           "BH{PUT /x 1.1 fr=1 cl=2 ka=1 up=0 ex=1 n=3 [Host=h] [Expect=100-Continue] "
           "[Content-Length=2]}D<ab>");
}
END_TEST

START_TEST(test_http1_expect_continue_ignored_for_http10)
{
    req_ok("PUT /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na",
           "BH{PUT /x 1.0 fr=1 cl=1 ka=0 up=0 ex=0 n=2 [Expect=100-continue] "
           "[Content-Length=1]}D<a>");
}
END_TEST

START_TEST(test_http1_http10_closes_unless_keep_alive)
{
    req_ok("GET / HTTP/1.0\r\n\r\n", "BH{GET / 1.0 fr=0 cl=0 ka=0 up=0 ex=0 n=0}D<>");
    req_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
           "BH{GET / 1.0 fr=0 cl=0 ka=1 up=0 ex=0 n=1 [Connection=Keep-Alive]}D<>"
           "BH{GET /2 1.0 fr=0 cl=0 ka=0 up=0 ex=0 n=0}D<>");
}
END_TEST

START_TEST(test_http1_connection_close_on_http11)
{
    req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n",
           "BH{GET / 1.1 fr=0 cl=0 ka=0 up=0 ex=0 n=2 [Host=h] [Connection=keep-alive, Close]}D<>");
}
END_TEST

START_TEST(test_http1_websocket_upgrade_stops_parsing)
{
    static const char in[] = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n\x81\x05hello";

    same_everywhere(SC_HTTP1_REQUEST, NULL, in, sizeof in - 1, 0,
                    "BH{GET /ws 1.1 fr=0 cl=0 ka=1 up=1 ex=0 n=4 [Host=h] [Upgrade=websocket] "
                    "[Connection=Upgrade] [Sec-WebSocket-Key=k]}D<>U");
}
END_TEST

START_TEST(test_http1_declined_upgrade_resumes_http)
{
    static const char in[] = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                             "Connection: upgrade\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    struct sc_http1 *h = sc_http1_new(SC_HTTP1_REQUEST, NULL);
    size_t off = 0, c;

    ck_assert_int_eq(sc_http1_feed(h, in, sizeof in - 1, &c), SC_HTTP1_EV_BEGIN);
    ck_assert_int_eq(sc_http1_resume_after_upgrade(h), -1); /* not yet */
    ck_assert_int_eq(sc_http1_feed(h, in, sizeof in - 1, &c), SC_HTTP1_EV_HEAD);
    off = c;
    ck_assert_int_eq(sc_http1_head(h)->upgrade, 1);
    ck_assert_int_eq(sc_http1_feed(h, in + off, sizeof in - 1 - off, &c), SC_HTTP1_EV_DONE);
    ck_assert_int_eq(sc_http1_feed(h, in + off, sizeof in - 1 - off, &c), SC_HTTP1_EV_UPGRADE);
    ck_assert_int_eq(sc_http1_finish(h), SC_HTTP1_EV_UPGRADE);
    ck_assert_int_eq(sc_http1_resume_after_upgrade(h), 0);
    ck_assert_int_eq(sc_http1_feed(h, in + off, sizeof in - 1 - off, &c), SC_HTTP1_EV_BEGIN);
    ck_assert_int_eq(sc_http1_feed(h, in + off, sizeof in - 1 - off, &c), SC_HTTP1_EV_HEAD);
    ck_assert_str_eq(sc_http1_head(h)->target, "/next");
    ck_assert_int_eq(sc_http1_head(h)->upgrade, 0);
    sc_http1_free(h);
}
END_TEST

START_TEST(test_http1_connect_is_an_upgrade)
{
    static const char in[] = "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\nraw bytes";

    same_everywhere(SC_HTTP1_REQUEST, NULL, in, sizeof in - 1, 0,
                    "BH{CONNECT db:5432 1.1 fr=0 cl=0 ka=1 up=1 ex=0 n=1 [Host=db:5432]}D<>U");
}
END_TEST

START_TEST(test_http1_h2c_upgrade_is_not_an_upgrade)
{
    req_ok(
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
        "BH{GET / 1.1 fr=0 cl=0 ka=1 up=0 ex=0 n=4 [Host=h] [Connection=Upgrade, HTTP2-Settings] "
        "[Upgrade=h2c] [HTTP2-Settings=AAMAAABkAAQAAP__]}D<>"
        "BH{GET /2 1.1 fr=0 cl=0 ka=1 up=0 ex=0 n=1 [Host=h]}D<>");
}
END_TEST

START_TEST(test_http1_absolute_form_and_options_star)
{
    req_ok("GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
           "BH{GET http://h/x 1.1 fr=0 cl=0 ka=1 up=0 ex=0 n=1 [Host=h]}D<>"
           "BH{OPTIONS * 1.1 fr=0 cl=0 ka=1 up=0 ex=0 n=1 [Host=h]}D<>");
}
END_TEST

START_TEST(test_http1_obs_text_allowed_in_values)
{
    req_ok("GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n",
           "BH{GET / 1.1 fr=0 cl=0 ka=1 up=0 ex=0 n=2 [Host=h] [X=caf\xc3\xa9]}D<>");
}
END_TEST

/* ---- requests: refused --------------------------------------------------- */

START_TEST(test_http1_refuses_cl_with_te)
{
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\n\r\n",
            SC_HTTP1_E_CL_AND_TE);
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
            "0\r\n\r\n",
            SC_HTTP1_E_CL_AND_TE);
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
            SC_HTTP1_E_CL_AND_TE);
}
END_TEST

START_TEST(test_http1_refuses_duplicate_content_length)
{
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            SC_HTTP1_E_BAD_CONTENT_LENGTH);
    /* equal duplicates too: RFC 9112 allows accepting them, refusing is safer */
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
            SC_HTTP1_E_BAD_CONTENT_LENGTH);
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello",
            SC_HTTP1_E_BAD_CONTENT_LENGTH);
}
END_TEST

START_TEST(test_http1_refuses_malformed_content_length)
{
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello",
            SC_HTTP1_E_BAD_CONTENT_LENGTH);
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
            SC_HTTP1_E_BAD_CONTENT_LENGTH);
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\nhello",
            SC_HTTP1_E_BAD_CONTENT_LENGTH);
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", SC_HTTP1_E_BAD_CONTENT_LENGTH);
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            SC_HTTP1_E_BAD_CONTENT_LENGTH);
}
END_TEST

START_TEST(test_http1_refuses_te_not_ending_in_chunked)
{
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nxx",
            SC_HTTP1_E_BAD_TRANSFER_ENCODING);
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
            SC_HTTP1_E_BAD_TRANSFER_ENCODING);
    REFUSED(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"
        "\r\n0\r\n\r\n",
        SC_HTTP1_E_BAD_TRANSFER_ENCODING);
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
            SC_HTTP1_E_BAD_TRANSFER_ENCODING);
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n",
            SC_HTTP1_E_BAD_TRANSFER_ENCODING);
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
            SC_HTTP1_E_BAD_TRANSFER_ENCODING);
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
            SC_HTTP1_E_BAD_TRANSFER_ENCODING);
}
END_TEST

START_TEST(test_http1_refuses_te_in_http10)
{
    REFUSED("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            SC_HTTP1_E_BAD_TRANSFER_ENCODING);
}
END_TEST

START_TEST(test_http1_refuses_invalid_chunk_sizes)
{
#define CH "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    REFUSED_BODY(CH "3 \r\nabc\r\n0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK);
    REFUSED_BODY(CH "-3\r\nabc\r\n0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK);
    REFUSED_BODY(CH "0x3\r\nabc\r\n0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK);
    REFUSED_BODY(CH "+3\r\nabc\r\n0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK);
    REFUSED_BODY(CH "g\r\nabc\r\n0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK);
    REFUSED_BODY(CH "\r\nabc\r\n0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK);
    REFUSED_BODY(CH "10000000000000000\r\n", SC_HTTP1_E_BAD_CHUNK);
    REFUSED_BODY(CH "3\r\nabcd\r\n0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK); /* data longer than size */
    REFUSED_BODY(CH "3\r\nabc\n0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK); /* LF without CR */
    REFUSED_BODY(CH "3\nabc\r\n0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK);
    REFUSED_BODY(CH "3\r\nabc\r0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK); /* CR without LF */
    REFUSED_BODY(CH "3\rX\nabc\r\n0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK);
    REFUSED_BODY(CH "3;a=\"b\\\"c\"\r\nabc\r\n0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK);
    REFUSED_BODY(CH "3;\x01\r\nabc\r\n0\r\n\r\n", SC_HTTP1_E_BAD_CHUNK);
    REFUSED_BODY(CH "3\r\nabc\r\n0\r\n\r\r", SC_HTTP1_E_BARE_CR); /* trailer section end */
    REFUSED_BODY(CH "0\r\n\n", SC_HTTP1_E_BARE_LF);
    REFUSED_BODY(CH "0\r\nT: 1\n\r\n", SC_HTTP1_E_BARE_LF);
    REFUSED_BODY(CH "0\r\n \r\n", SC_HTTP1_E_OBS_FOLD);
#undef CH
}
END_TEST

START_TEST(test_http1_refuses_obs_fold)
{
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", SC_HTTP1_E_OBS_FOLD);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", SC_HTTP1_E_OBS_FOLD);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX:\r\n b\r\n\r\n", SC_HTTP1_E_OBS_FOLD);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n \r\nY: b\r\n\r\n", SC_HTTP1_E_OBS_FOLD);
    REFUSED("GET / HTTP/1.1\r\n Host: h\r\n\r\n", SC_HTTP1_E_OBS_FOLD);
    REFUSED_BODY(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\r\n b\r\n\r\n",
        SC_HTTP1_E_OBS_FOLD);
    /* a folded Transfer-Encoding is the classic smuggling shape */
    REFUSED("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
            SC_HTTP1_E_OBS_FOLD);
}
END_TEST

START_TEST(test_http1_refuses_bare_cr)
{
    REFUSED("GET / HTTP/1.1\r\nHost: h\rX: b\r\n\r\n", SC_HTTP1_E_BARE_CR);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", SC_HTTP1_E_BARE_CR);
    REFUSED("GET / HTTP/1.1\rHost: h\r\n\r\n", SC_HTTP1_E_BARE_CR);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", SC_HTTP1_E_BARE_CR);
    REFUSED_BODY(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\rb\r\n\r\n",
        SC_HTTP1_E_BARE_CR);
    REFUSED_BODY("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n: v\r\n\r\n",
                 SC_HTTP1_E_BAD_HEADER);
}
END_TEST

START_TEST(test_http1_refuses_bare_lf)
{
    REFUSED("GET / HTTP/1.1\nHost: h\n\n", SC_HTTP1_E_BARE_LF);
    REFUSED("GET / HTTP/1.1\r\nHost: h\nX: b\r\n\r\n", SC_HTTP1_E_BARE_LF);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\n\n", SC_HTTP1_E_BARE_LF);
    REFUSED("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", SC_HTTP1_E_BARE_LF);
}
END_TEST

START_TEST(test_http1_refuses_bad_field_names_and_values)
{
    REFUSED("GET / HTTP/1.1\r\nHost : h\r\n\r\n", SC_HTTP1_E_BAD_HEADER);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX@Y: 1\r\n\r\n", SC_HTTP1_E_BAD_HEADER);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n", SC_HTTP1_E_BAD_HEADER);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", SC_HTTP1_E_BAD_HEADER);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n", SC_HTTP1_E_BAD_HEADER);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", SC_HTTP1_E_BAD_HEADER);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", SC_HTTP1_E_BAD_HEADER);
}
END_TEST

START_TEST(test_http1_refuses_bad_targets)
{
    REFUSED("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", SC_HTTP1_E_BAD_TARGET);
    REFUSED("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", SC_HTTP1_E_BAD_TARGET);
    REFUSED("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", SC_HTTP1_E_BAD_TARGET);
    REFUSED("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n", SC_HTTP1_E_BAD_TARGET);
}
END_TEST

START_TEST(test_http1_refuses_other_versions_and_protocols)
{
    REFUSED("GET / HTTP/2.0\r\nHost: h\r\n\r\n", SC_HTTP1_E_BAD_VERSION);
    REFUSED("GET / HTTP/0.9\r\nHost: h\r\n\r\n", SC_HTTP1_E_BAD_VERSION);
    REFUSED("GET / HTTP/1.2\r\nHost: h\r\n\r\n", SC_HTTP1_E_BAD_VERSION);
    REFUSED("GET / RTSP/1.0\r\n\r\n", SC_HTTP1_E_BAD_VERSION);
    REFUSED("SOURCE / ICE/1.0\r\n\r\n", SC_HTTP1_E_BAD_VERSION);
    REFUSED("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", SC_HTTP1_E_BAD_VERSION);
    REFUSED("GET /\r\n\r\n", SC_HTTP1_E_MALFORMED);
}
END_TEST

START_TEST(test_http1_refuses_malformed_request_lines)
{
    REFUSED("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", SC_HTTP1_E_MALFORMED);
    REFUSED("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", SC_HTTP1_E_BAD_VERSION);
    REFUSED("get / HTTP/1.1\r\nHost: h\r\n\r\n", SC_HTTP1_E_MALFORMED);
    REFUSED("FOO / HTTP/1.1\r\nHost: h\r\n\r\n", SC_HTTP1_E_MALFORMED);
    REFUSED("\x16\x03\x01\x00\x05hello", SC_HTTP1_E_MALFORMED); /* a TLS record */
}
END_TEST

START_TEST(test_http1_refuses_host_errors)
{
    REFUSED("GET / HTTP/1.1\r\n\r\n", SC_HTTP1_E_BAD_HOST);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", SC_HTTP1_E_BAD_HOST);
    REFUSED("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", SC_HTTP1_E_BAD_HOST);
}
END_TEST

START_TEST(test_http1_refuses_data_after_close)
{
    static const char in[] =
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n";

    same_everywhere(SC_HTTP1_REQUEST, NULL, in, sizeof in - 1, 0,
                    "BH{GET / 1.1 fr=0 cl=0 ka=0 up=0 ex=0 n=2 [Host=h] [Connection=close]}D<>"
                    "E:after_close");
    same_everywhere(SC_HTTP1_REQUEST, NULL, "GET / HTTP/1.0\r\n\r\nX", 19, 0,
                    "BH{GET / 1.0 fr=0 cl=0 ka=0 up=0 ex=0 n=0}D<>E:after_close");
}
END_TEST

START_TEST(test_http1_error_is_sticky)
{
    struct sc_http1 *h = sc_http1_new(SC_HTTP1_REQUEST, NULL);
    size_t c;

    ck_assert_int_eq(sc_http1_feed(h, "GET / HTTP/1.1\r\nHost: h\nX", 25, &c), SC_HTTP1_EV_BEGIN);
    ck_assert_int_eq(sc_http1_feed(h, "GET / HTTP/1.1\r\nHost: h\nX", 25, &c), SC_HTTP1_EV_ERROR);
    ck_assert_int_eq(sc_http1_error(h), SC_HTTP1_E_BARE_LF);
    ck_assert_int_eq(sc_http1_error_status(sc_http1_error(h)), 400);
    ck_assert_str_ne(sc_http1_error_reason(h), "");
    ck_assert_int_eq(sc_http1_feed(h, "GET / HTTP/1.1\r\n\r\n", 18, &c), SC_HTTP1_EV_ERROR);
    ck_assert_uint_eq(c, 0);
    ck_assert_int_eq(sc_http1_finish(h), SC_HTTP1_EV_ERROR);
    ck_assert_ptr_null(sc_http1_head(h));
    sc_http1_reset(h); /* reset makes it usable again */
    ck_assert_int_eq(sc_http1_error(h), SC_HTTP1_E_NONE);
    ck_assert_int_eq(sc_http1_feed(h, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 27, &c),
                     SC_HTTP1_EV_BEGIN);
    ck_assert_int_eq(sc_http1_feed(h, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 27, &c),
                     SC_HTTP1_EV_HEAD);
    sc_http1_free(h);
}
END_TEST

/* ---- limits -------------------------------------------------------------- */

/* A request head of exactly `size` bytes with `nfields` fields (Host first). */
static char *make_head(size_t size, size_t nfields, size_t *len)
{
    char *b = malloc(size + 1024);
    size_t n = 0, i;

    ck_assert_ptr_nonnull(b);
    n += (size_t)sprintf(b + n, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (i = 1; i + 1 < nfields; i++) {
        n += (size_t)sprintf(b + n, "X-%zu: v\r\n", i);
    }
    /* the last field pads to size: "Pad: " + pad + CRLF + CRLF */
    ck_assert_uint_le(n + 5 + 1 + 4, size);
    {
        size_t pad = size - n - 5 - 4;

        memcpy(b + n, "Pad: ", 5);
        n += 5;
        memset(b + n, 'p', pad);
        n += pad;
        memcpy(b + n, "\r\n\r\n", 4);
        n += 4;
    }
    ck_assert_uint_eq(n, size);
    *len = n;
    return b;
}

static void limit_case(size_t size, size_t nfields, int by_byte, enum sc_http1_ev want)
{
    size_t len, off = 0, c, guard;
    char *in = make_head(size, nfields, &len);
    struct sc_http1 *h = sc_http1_new(SC_HTTP1_REQUEST, NULL);
    enum sc_http1_ev ev = SC_HTTP1_EV_NEED_MORE;

    for (guard = 0; guard < len + 8; guard++) {
        size_t n = by_byte ? (off < len ? 1 : 0) : len - off;

        ev = sc_http1_feed(h, in + off, n, &c);
        off += c;
        if (ev == SC_HTTP1_EV_HEAD || ev == SC_HTTP1_EV_ERROR ||
            (ev == SC_HTTP1_EV_NEED_MORE && off == len)) {
            break;
        }
    }
    ck_assert_msg(ev == want, "size %zu fields %zu by_byte %d: event %d (%s)", size, nfields,
                  by_byte, (int)ev, sc_http1_error_name(sc_http1_error(h)));
    if (want == SC_HTTP1_EV_HEAD) {
        ck_assert_uint_eq(off, len);
        ck_assert_uint_eq(sc_http1_head(h)->n_headers, nfields);
    } else {
        ck_assert_int_eq(sc_http1_error(h), SC_HTTP1_E_TOO_LARGE);
        ck_assert_int_eq(sc_http1_error_status(SC_HTTP1_E_TOO_LARGE), 431);
    }
    sc_http1_free(h);
    free(in);
}

START_TEST(test_http1_head_of_exactly_60k_is_accepted)
{
    limit_case(60 * 1024, 3, 0, SC_HTTP1_EV_HEAD);
    limit_case(60 * 1024, 3, 1, SC_HTTP1_EV_HEAD);
}
END_TEST

START_TEST(test_http1_head_over_60k_is_too_large)
{
    limit_case(60 * 1024 + 1, 3, 0, SC_HTTP1_EV_ERROR);
    limit_case(60 * 1024 + 1, 3, 1, SC_HTTP1_EV_ERROR);
    limit_case(200 * 1024, 3, 0, SC_HTTP1_EV_ERROR);
}
END_TEST

START_TEST(test_http1_hundred_fields_are_accepted)
{
    limit_case(4000, 100, 0, SC_HTTP1_EV_HEAD);
    limit_case(4000, 100, 1, SC_HTTP1_EV_HEAD);
}
END_TEST

START_TEST(test_http1_hundred_and_one_fields_are_too_large)
{
    limit_case(4000, 101, 0, SC_HTTP1_EV_ERROR);
    limit_case(4000, 101, 1, SC_HTTP1_EV_ERROR);
}
END_TEST

START_TEST(test_http1_empty_lines_count_toward_the_limit)
{
    struct sc_http1_limits lim = {64, 10};
    struct sc_http1 *h = sc_http1_new(SC_HTTP1_REQUEST, &lim);
    char crlf[200];
    size_t i, c;

    for (i = 0; i < sizeof crlf; i += 2) {
        crlf[i] = '\r';
        crlf[i + 1] = '\n';
    }
    ck_assert_int_eq(sc_http1_feed(h, crlf, sizeof crlf, &c), SC_HTTP1_EV_ERROR);
    ck_assert_int_eq(sc_http1_error(h), SC_HTTP1_E_TOO_LARGE);
    sc_http1_free(h);
}
END_TEST

START_TEST(test_http1_custom_limits)
{
    struct sc_http1_limits lim = {40, 2};
    struct sc_http1 *h = sc_http1_new(SC_HTTP1_REQUEST, &lim);
    static const char ok[] = "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n"; /* 33 bytes */
    static const char three[] = "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\nC: d\r\n\r\n";
    size_t c;

    ck_assert_int_eq(sc_http1_feed(h, ok, sizeof ok - 1, &c), SC_HTTP1_EV_BEGIN);
    ck_assert_int_eq(sc_http1_feed(h, ok, sizeof ok - 1, &c), SC_HTTP1_EV_HEAD);
    sc_http1_reset(h);
    ck_assert_int_eq(sc_http1_feed(h, three, sizeof three - 1, &c), SC_HTTP1_EV_BEGIN);
    ck_assert_int_eq(sc_http1_feed(h, three, sizeof three - 1, &c), SC_HTTP1_EV_ERROR);
    ck_assert_int_eq(sc_http1_error(h), SC_HTTP1_E_TOO_LARGE);
    sc_http1_free(h);
}
END_TEST

START_TEST(test_http1_too_many_trailers)
{
    struct sc_http1_limits lim = {0, 3};
    struct sc_http1 *h = sc_http1_new(SC_HTTP1_REQUEST, &lim);
    static const char in[] = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    struct tr *t = &T1;

    memset(t, 0, sizeof *t);
    tr_feed(t, h, in, sizeof in - 1);
    ck_assert_int_eq(t->err, SC_HTTP1_E_TOO_LARGE);
    sc_http1_free(h);
}
END_TEST

/* ---- EOF ----------------------------------------------------------------- */

START_TEST(test_http1_finish_between_messages_is_clean)
{
    same_everywhere(SC_HTTP1_REQUEST, NULL, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 27, 1,
                    "BH{GET / 1.1 fr=0 cl=0 ka=1 up=0 ex=0 n=1 [Host=h]}D<>F:6");
}
END_TEST

START_TEST(test_http1_finish_inside_a_message_is_truncated)
{
    transcript(SC_HTTP1_REQUEST, NULL, "GET / HTTP/1.1\r\nHo", 18, NULL, 0, 1, &T1);
    ck_assert_int_eq(T1.err, SC_HTTP1_E_TRUNCATED);
    transcript(SC_HTTP1_REQUEST, NULL, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc",
               51, NULL, 0, 1, &T1);
    ck_assert_int_eq(T1.err, SC_HTTP1_E_TRUNCATED);
    transcript(SC_HTTP1_REQUEST, NULL, "GET / HTTP/1.1\r\nHost: h\r\n\r\n\r", 28, NULL, 0, 1, &T1);
    ck_assert_int_eq(T1.err, SC_HTTP1_E_TRUNCATED);
}
END_TEST

/* ---- responses ----------------------------------------------------------- */

static struct sc_http1_head req_of(const char *method, int upgrade)
{
    struct sc_http1_head r;

    memset(&r, 0, sizeof r);
    r.is_request = 1;
    r.method = method;
    r.head_method = strcmp(method, "HEAD") == 0;
    r.connect = strcmp(method, "CONNECT") == 0;
    r.upgrade = upgrade || r.connect;
    return r;
}

static void resp_ok(const char *method, int upgrade, const char *in, int at_eof, const char *expect)
{
    struct sc_http1_head r = req_of(method, upgrade);

    same_everywhere(SC_HTTP1_RESPONSE, &r, in, strlen(in), at_eof, expect);
}

START_TEST(test_http1_response_content_length)
{
    resp_ok("GET", 0, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 0,
            "BH{200 OK 1.1 fr=1 cl=3 ka=1 up=0 n=1 [Content-Length=3]}D<abc>");
}
END_TEST

START_TEST(test_http1_response_chunked_and_pipelined)
{
    resp_ok("GET", 0,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            0,
            "BH{200 OK 1.1 fr=2 cl=0 ka=1 up=0 n=1 [Transfer-Encoding=chunked]}"
            "D<5\r\nhello\r\n0\r\n\r\n>"
            "BH{404 Not Found 1.1 fr=0 cl=0 ka=1 up=0 n=1 [Content-Length=0]}D<>");
}
END_TEST

START_TEST(test_http1_response_until_eof)
{
    resp_ok("GET", 0, "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of this", 1,
            "BH{200 OK 1.0 fr=3 cl=0 ka=0 up=0 n=1 [Server=old]}D<all of this>F:4");
    resp_ok("GET", 0, "HTTP/1.1 200 OK\r\n\r\n", 1, "BH{200 OK 1.1 fr=3 cl=0 ka=0 up=0 n=0}D<>F:4");
    /* a coding without chunked: read until close */
    resp_ok("GET", 0, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", 1,
            "BH{200 OK 1.1 fr=3 cl=0 ka=0 up=0 n=1 [Transfer-Encoding=gzip]}D<zz>F:4");
}
END_TEST

START_TEST(test_http1_response_to_head_has_no_body)
{
    resp_ok("HEAD", 0,
            "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n",
            0,
            "BH{200 OK 1.1 fr=0 cl=0 ka=1 up=0 n=1 [Content-Length=1234]}D<>"
            "BH{200 OK 1.1 fr=0 cl=0 ka=1 up=0 n=1 [Content-Length=1]}D<>");
}
END_TEST

START_TEST(test_http1_response_204_304_have_no_body)
{
    resp_ok("GET", 0,
            "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n"
            "Content-Length: 10\r\n\r\n",
            0,
            "BH{204 No Content 1.1 fr=0 cl=0 ka=1 up=0 n=0}D<>"
            "BH{304 Not Modified 1.1 fr=0 cl=0 ka=1 up=0 n=1 [Content-Length=10]}D<>");
}
END_TEST

START_TEST(test_http1_response_100_continue_then_final)
{
    resp_ok("PUT", 0,
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 0,
            "BH{100 Continue 1.1 fr=0 cl=0 ka=1 up=0 n=0}D<>"
            "BH{201 Created 1.1 fr=1 cl=2 ka=1 up=0 n=1 [Content-Length=2]}D<ok>");
}
END_TEST

START_TEST(test_http1_response_101_switches)
{
    resp_ok("GET", 1,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\n\r\n\x82\x01x",
            0,
            "BH{101 Switching Protocols 1.1 fr=0 cl=0 ka=1 up=1 n=2 [Upgrade=websocket] "
            "[Connection=Upgrade]}D<>U");
}
END_TEST

START_TEST(test_http1_response_refused_upgrade_stays_http)
{
    resp_ok("GET", 1,
            "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 2\r\n\r\nnoHTTP/1.1 200 OK\r\n"
            "Content-Length: 0\r\n\r\n",
            0,
            "BH{426 Upgrade Required 1.1 fr=1 cl=2 ka=1 up=0 n=1 [Content-Length=2]}D<no>"
            "BH{200 OK 1.1 fr=0 cl=0 ka=1 up=0 n=1 [Content-Length=0]}D<>");
}
END_TEST

START_TEST(test_http1_response_101_without_upgrade_request_is_refused)
{
    struct sc_http1_head r = req_of("GET", 0);

    same_everywhere(SC_HTTP1_RESPONSE, &r, "HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\n", 38, 0,
                    NULL);
    ck_assert_int_eq(T1.err, SC_HTTP1_E_BAD_UPGRADE);
    same_everywhere(SC_HTTP1_RESPONSE, NULL, "HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\n", 38, 0,
                    NULL);
    ck_assert_int_eq(T1.err, SC_HTTP1_E_BAD_UPGRADE);
    r = req_of("GET", 1);
    same_everywhere(SC_HTTP1_RESPONSE, &r, "HTTP/1.1 101 Switching\r\n\r\n", 26, 0, NULL);
    ck_assert_int_eq(T1.err, SC_HTTP1_E_BAD_UPGRADE);
}
END_TEST

START_TEST(test_http1_response_2xx_to_connect_switches)
{
    resp_ok("CONNECT", 0, "HTTP/1.1 200 Connection Established\r\n\r\ntunnel", 0,
            "BH{200 Connection Established 1.1 fr=0 cl=0 ka=1 up=1 n=0}D<>U");
    resp_ok("CONNECT", 0, "HTTP/1.1 403 Forbidden\r\nContent-Length: 1\r\n\r\nx", 0,
            "BH{403 Forbidden 1.1 fr=1 cl=1 ka=1 up=0 n=1 [Content-Length=1]}D<x>");
}
END_TEST

START_TEST(test_http1_response_refusals)
{
    static const struct {
        const char *in;
        enum sc_http1_error e;
    } cases[] = {
        {"HTTP/1.1 099 Low\r\n\r\n", SC_HTTP1_E_BAD_STATUS},
        {"HTTP/1.1 600 High\r\n\r\n", SC_HTTP1_E_BAD_STATUS},
        {"HTTP/1.1 2000 OK\r\n\r\n", SC_HTTP1_E_BAD_STATUS},
        {"RTSP/1.0 200 OK\r\n\r\n", SC_HTTP1_E_MALFORMED},
        {"HTTP/2.0 200 OK\r\n\r\n", SC_HTTP1_E_BAD_VERSION},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
         SC_HTTP1_E_BAD_CONTENT_LENGTH},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
         SC_HTTP1_E_CL_AND_TE},
        {"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", SC_HTTP1_E_OBS_FOLD},
        {"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", SC_HTTP1_E_BARE_CR},
        {"HTTP/1.1 200 OK\nX: a\n\n", SC_HTTP1_E_BARE_LF},
        {"HTTP/1.1 200 O\x01K\r\n\r\n", SC_HTTP1_E_BAD_STATUS},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", SC_HTTP1_E_BAD_CHUNK},
        {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         SC_HTTP1_E_BAD_TRANSFER_ENCODING},
        {"hello", SC_HTTP1_E_MALFORMED},
    };
    struct sc_http1_head r = req_of("GET", 0);
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        same_everywhere(SC_HTTP1_RESPONSE, &r, cases[i].in, strlen(cases[i].in), 0, NULL);
        ck_assert_msg(T1.err == cases[i].e, "%s: got %s want %s", cases[i].in,
                      sc_http1_error_name(T1.err), sc_http1_error_name(cases[i].e));
    }
}
END_TEST

START_TEST(test_http1_response_truncated_body)
{
    struct sc_http1_head r = req_of("GET", 0);

    transcript(SC_HTTP1_RESPONSE, &r, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 41, NULL, 0,
               1, &T1);
    ck_assert_int_eq(T1.err, SC_HTTP1_E_TRUNCATED);
    transcript(SC_HTTP1_RESPONSE, &r,
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 52, NULL, 0, 1, &T1);
    ck_assert_int_eq(T1.err, SC_HTTP1_E_TRUNCATED);
}
END_TEST

/* ---- evbuffer ------------------------------------------------------------ */

START_TEST(test_http1_evbuffer_moves_bodies_across_segments)
{
    static const char *const parts[] = {
        "POST /a HTTP/1.1\r\nHo",
        "st: h\r\nContent-Le",
        "ngth: 6\r\n\r\nab",
        "cd",
        "efGET /b HTTP/1.1\r\nHost: h\r\n\r\nPOST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n",
        "\r\n3\r\nxyz\r\n0\r\n\r\n",
    };
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    struct sc_http1 *h = sc_http1_new(SC_HTTP1_REQUEST, NULL);
    char targets[64] = "";
    size_t i, body, guard = 0, done = 0;
    enum sc_http1_ev ev;
    char got[64];

    for (i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        /* references keep the parts in separate chains */
        evbuffer_add_reference(in, parts[i], strlen(parts[i]), NULL, NULL);
    }
    while (guard++ < 100) {
        ev = sc_http1_feed_evbuffer(h, in, &body);
        if (ev == SC_HTTP1_EV_NEED_MORE) {
            break;
        }
        ck_assert_int_ne(ev, SC_HTTP1_EV_ERROR);
        if (ev == SC_HTTP1_EV_HEAD) {
            strncat(targets, sc_http1_head(h)->target, sizeof targets - strlen(targets) - 1);
        }
        if (ev == SC_HTTP1_EV_BODY || ev == SC_HTTP1_EV_DONE) {
            ck_assert_int_eq(evbuffer_remove_buffer(in, out, body), (int)body);
        } else {
            ck_assert_uint_eq(body, 0);
        }
        done += ev == SC_HTTP1_EV_DONE;
    }
    ck_assert_uint_eq(done, 3);
    ck_assert_str_eq(targets, "/a/b/c");
    ck_assert_uint_eq(evbuffer_get_length(in), 0);
    ck_assert_uint_eq(evbuffer_get_length(out), 6 + 13);
    evbuffer_remove(out, got, sizeof got);
    ck_assert_int_eq(memcmp(got, "abcdef3\r\nxyz\r\n0\r\n\r\n", 19), 0);
    sc_http1_free(h);
    evbuffer_free(in);
    evbuffer_free(out);
}
END_TEST

START_TEST(test_http1_evbuffer_empty_and_error)
{
    struct evbuffer *in = evbuffer_new();
    struct sc_http1 *h = sc_http1_new(SC_HTTP1_REQUEST, NULL);
    size_t body = 7;

    ck_assert_int_eq(sc_http1_feed_evbuffer(h, in, &body), SC_HTTP1_EV_NEED_MORE);
    ck_assert_uint_eq(body, 0);
    evbuffer_add(in, "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 37);
    ck_assert_int_eq(sc_http1_feed_evbuffer(h, in, &body), SC_HTTP1_EV_BEGIN);
    ck_assert_int_eq(sc_http1_feed_evbuffer(h, in, &body), SC_HTTP1_EV_ERROR);
    ck_assert_int_eq(sc_http1_error(h), SC_HTTP1_E_OBS_FOLD);
    sc_http1_free(h);
    evbuffer_free(in);
}
END_TEST

/* ---- lifecycle ----------------------------------------------------------- */

START_TEST(test_http1_trim_only_between_messages)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab";
    struct sc_http1 *h = sc_http1_new(SC_HTTP1_REQUEST, NULL);
    size_t c;

    ck_assert_int_eq(sc_http1_trim(h), 0);
    ck_assert_int_eq(sc_http1_feed(h, in, sizeof in - 1, &c), SC_HTTP1_EV_BEGIN);
    ck_assert_int_eq(sc_http1_trim(h), -1);
    ck_assert_int_eq(sc_http1_feed(h, in, sizeof in - 1, &c), SC_HTTP1_EV_HEAD);
    ck_assert_int_eq(sc_http1_trim(h), -1);
    ck_assert_ptr_nonnull(sc_http1_head(h));
    ck_assert_int_eq(sc_http1_feed(h, in + c, 2, &c), SC_HTTP1_EV_DONE);
    ck_assert_ptr_nonnull(sc_http1_head(h));
    ck_assert_int_eq(sc_http1_trim(h), 0);
    ck_assert_ptr_null(sc_http1_head(h));
    ck_assert_int_eq(sc_http1_feed(h, in, sizeof in - 1, &c), SC_HTTP1_EV_BEGIN);
    ck_assert_int_eq(sc_http1_feed(h, in, sizeof in - 1, &c), SC_HTTP1_EV_HEAD);
    ck_assert_str_eq(sc_http1_head(h)->headers[0].value, "h");
    sc_http1_free(h);
    sc_http1_free(NULL);
}
END_TEST

START_TEST(test_http1_names_and_statuses)
{
    int e;

    ck_assert_str_eq(sc_http1_error_name(SC_HTTP1_E_OBS_FOLD), "obs_fold");
    ck_assert_str_eq(sc_http1_error_name(SC_HTTP1_E_N), "unknown");
    ck_assert_str_eq(sc_http1_error_name((enum sc_http1_error) - 1), "unknown");
    ck_assert_int_eq(sc_http1_error_status(SC_HTTP1_E_NONE), 0);
    for (e = 1; e < SC_HTTP1_E_N; e++) {
        ck_assert_str_ne(sc_http1_error_name((enum sc_http1_error)e), "unknown");
        ck_assert_int_eq(sc_http1_error_status((enum sc_http1_error)e),
                         e == SC_HTTP1_E_TOO_LARGE ? 431 : 400);
    }
}
END_TEST

START_TEST(test_http1_has_token)
{
    ck_assert_int_eq(sc_http1_has_token("close", 5, "close"), 1);
    ck_assert_int_eq(sc_http1_has_token(" a , CLOSE ", 11, "close"), 1);
    ck_assert_int_eq(sc_http1_has_token("trailers;q=1, deflate", 21, "trailers"), 1);
    ck_assert_int_eq(sc_http1_has_token(",,x", 3, "x"), 1);
    ck_assert_int_eq(sc_http1_has_token("closed", 6, "close"), 0);
    ck_assert_int_eq(sc_http1_has_token("clos", 4, "close"), 0);
    ck_assert_int_eq(sc_http1_has_token("a;close", 7, "close"), 0);
    ck_assert_int_eq(sc_http1_has_token("", 0, "close"), 0);
    ck_assert_int_eq(sc_http1_has_token("close", 3, "close"), 0);
}
END_TEST

START_TEST(test_http1_head_get_and_count)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n";
    struct sc_http1 *h = sc_http1_new(SC_HTTP1_REQUEST, NULL);
    const struct sc_http1_head *hd;
    size_t c, len = 9;

    sc_http1_feed(h, in, sizeof in - 1, &c);
    ck_assert_int_eq(sc_http1_feed(h, in, sizeof in - 1, &c), SC_HTTP1_EV_HEAD);
    hd = sc_http1_head(h);
    ck_assert_str_eq(sc_http1_head_get(hd, "X-a", &len), "1");
    ck_assert_uint_eq(len, 1);
    ck_assert_uint_eq(sc_http1_head_count(hd, "x-A"), 2);
    ck_assert_ptr_null(sc_http1_head_get(hd, "x-b", &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(sc_http1_head_count(hd, "x"), 0);
    ck_assert_ptr_null(sc_http1_head_get(NULL, "x", NULL));
    sc_http1_free(h);
}
END_TEST

/* ---- serialization ------------------------------------------------------- */

static struct sc_http1 *parse_head(enum sc_http1_kind kind, const struct sc_http1_head *req,
                                   const char *in)
{
    struct sc_http1 *h = sc_http1_new(kind, NULL);
    size_t c;

    if (req != NULL) {
        sc_http1_expect_response(h, req);
    }
    ck_assert_int_eq(sc_http1_feed(h, in, strlen(in), &c), SC_HTTP1_EV_BEGIN);
    ck_assert_int_eq(sc_http1_feed(h, in + c, strlen(in) - c, &c), SC_HTTP1_EV_HEAD);
    return h;
}

static void fmt_eq(const struct sc_http1_head *hd, const struct sc_http1_rewrite *rw,
                   const char *want)
{
    char out[2048];
    size_t need = 0;
    struct evbuffer *eb = evbuffer_new();
    size_t n;

    ck_assert_int_eq(sc_http1_head_format(hd, rw, out, sizeof out - 1, &need), 0);
    out[need] = '\0';
    ck_assert_msg(strcmp(out, want) == 0, "\n got: %s\nwant: %s", out, want);
    ck_assert_int_eq(sc_http1_head_write(hd, rw, eb), 0);
    n = evbuffer_get_length(eb);
    ck_assert_uint_eq(n, need);
    ck_assert_int_eq(memcmp(evbuffer_pullup(eb, -1), want, n), 0);
    evbuffer_free(eb);
}

START_TEST(test_http1_format_removes_hop_by_hop)
{
    struct sc_http1 *h = parse_head(
        SC_HTTP1_REQUEST, NULL,
        "POST /p?q HTTP/1.1\r\nHost: app\r\nConnection: keep-alive, X-Hop, Content-Length, host\r\n"
        "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers, deflate\r\n"
        "Upgrade: websocket\r\nX-Hop: secret\r\nx-hop: again\r\nContent-Length: 2\r\n"
        "X-Forwarded-Client-Cert: forged\r\nX-Request-Id: old\r\nAccept: */*\r\n"
        "HTTP2-Settings: x\r\n\r\nab");
    static const struct sc_http1_field f[] = {
        {"x-forwarded-client-cert", NULL},
        {"x-request-id", "4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a55"},
        {"x-forwarded-proto", "https"},
    };
    struct sc_http1_rewrite rw = {f, 3, SC_HTTP1_CONN_NONE};

    fmt_eq(
        sc_http1_head(h), &rw,
        "POST /p?q HTTP/1.1\r\nHost: app\r\nContent-Length: 2\r\nAccept: */*\r\n"
        "TE: trailers\r\n"
        "x-request-id: 4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a55\r\nx-forwarded-proto: https\r\n\r\n");
    rw.connection = SC_HTTP1_CONN_CLOSE;
    rw.n_fields = 0;
    fmt_eq(sc_http1_head(h), &rw,
           "POST /p?q HTTP/1.1\r\nHost: app\r\nContent-Length: 2\r\n"
           "X-Forwarded-Client-Cert: forged\r\nX-Request-Id: old\r\nAccept: */*\r\n"
           "TE: trailers\r\nConnection: close\r\n\r\n");
    sc_http1_free(h);
}
END_TEST

START_TEST(test_http1_format_keeps_upgrade_when_upgrading)
{
    struct sc_http1 *h =
        parse_head(SC_HTTP1_REQUEST, NULL,
                   "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, X-A\r\n"
                   "Upgrade: websocket\r\nX-A: 1\r\nSec-WebSocket-Version: 13\r\n\r\n");
    struct sc_http1_rewrite rw = {NULL, 0, SC_HTTP1_CONN_CLOSE};

    fmt_eq(sc_http1_head(h), &rw,
           "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
           "Connection: upgrade\r\n\r\n");
    sc_http1_free(h);
}
END_TEST

START_TEST(test_http1_format_drops_h2c_upgrade)
{
    struct sc_http1 *h =
        parse_head(SC_HTTP1_REQUEST, NULL,
                   "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                   "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");

    fmt_eq(sc_http1_head(h), NULL, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    sc_http1_free(h);
}
END_TEST

START_TEST(test_http1_format_http10_request_keeps_version)
{
    struct sc_http1 *h = parse_head(SC_HTTP1_REQUEST, NULL,
                                    "GET /old HTTP/1.0\r\nConnection: keep-alive\r\nX: y\r\n\r\n");
    struct sc_http1_rewrite rw = {NULL, 0, SC_HTTP1_CONN_KEEP_ALIVE};

    fmt_eq(sc_http1_head(h), &rw, "GET /old HTTP/1.0\r\nX: y\r\nConnection: keep-alive\r\n\r\n");
    sc_http1_free(h);
}
END_TEST

START_TEST(test_http1_format_response)
{
    struct sc_http1_head r = req_of("GET", 1);
    struct sc_http1 *h = parse_head(SC_HTTP1_RESPONSE, NULL,
                                    "HTTP/1.1 200 Fine Thanks\r\nConnection: close, X-Internal\r\n"
                                    "X-Internal: 1\r\nContent-Type: text/plain\r\nTE: trailers\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n");
    struct sc_http1_rewrite rw = {NULL, 0, SC_HTTP1_CONN_KEEP_ALIVE};

    /* a response is forwarded as HTTP/1.1; TE is a request field */
    fmt_eq(sc_http1_head(h), &rw,
           "HTTP/1.1 200 Fine Thanks\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
           "Connection: keep-alive\r\n\r\n");
    sc_http1_free(h);
    h = parse_head(
        SC_HTTP1_RESPONSE, &r,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    fmt_eq(sc_http1_head(h), NULL,
           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nConnection: upgrade\r\n\r\n");
    sc_http1_free(h);
    h = parse_head(SC_HTTP1_RESPONSE, NULL, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
    fmt_eq(sc_http1_head(h), NULL, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    sc_http1_free(h);
    h = parse_head(SC_HTTP1_RESPONSE, NULL, "HTTP/1.1 204\r\n\r\n");
    fmt_eq(sc_http1_head(h), NULL, "HTTP/1.1 204 \r\n\r\n");
    sc_http1_free(h);
}
END_TEST

START_TEST(test_http1_format_refuses_bad_rewrites)
{
    struct sc_http1 *h = parse_head(SC_HTTP1_REQUEST, NULL, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    static const struct sc_http1_field crlf[] = {{"x-a", "v\r\nInjected: 1"}};
    static const struct sc_http1_field lf[] = {{"x-a", "v\nx"}};
    static const struct sc_http1_field badname[] = {{"x a", "v"}};
    static const struct sc_http1_field colon[] = {{"x:a", "v"}};
    static const struct sc_http1_field empty[] = {{"", "v"}};
    static const struct sc_http1_field nul[] = {{NULL, "v"}};
    const struct sc_http1_field *bad[] = {crlf, lf, badname, colon, empty, nul};
    struct evbuffer *eb = evbuffer_new();
    char out[256];
    size_t need = 5, i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sc_http1_rewrite rw = {bad[i], 1, SC_HTTP1_CONN_NONE};

        ck_assert_int_eq(sc_http1_head_format(sc_http1_head(h), &rw, out, sizeof out, &need), -1);
        ck_assert_uint_eq(need, 0);
        ck_assert_int_eq(sc_http1_head_write(sc_http1_head(h), &rw, eb), -1);
    }
    ck_assert_uint_eq(evbuffer_get_length(eb), 0);
    ck_assert_int_eq(sc_http1_head_format(NULL, NULL, out, sizeof out, &need), -1);
    evbuffer_free(eb);
    sc_http1_free(h);
}
END_TEST

START_TEST(test_http1_format_reports_needed_size)
{
    struct sc_http1 *h = parse_head(SC_HTTP1_REQUEST, NULL, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    char out[64];
    size_t need = 0;

    memset(out, 'Z', sizeof out);
    ck_assert_int_eq(sc_http1_head_format(sc_http1_head(h), NULL, out, 10, &need), -1);
    ck_assert_uint_eq(need, 27);
    ck_assert_int_eq(out[10], 'Z'); /* nothing past cap */
    ck_assert_int_eq(sc_http1_head_format(sc_http1_head(h), NULL, NULL, 0, &need), -1);
    ck_assert_uint_eq(need, 27);
    ck_assert_int_eq(sc_http1_head_format(sc_http1_head(h), NULL, out, 27, &need), 0);
    ck_assert_int_eq(memcmp(out, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 27), 0);
    sc_http1_free(h);
}
END_TEST

static Suite *http1_suite(void)
{
    Suite *s = suite_create("http1");
    TCase *tc;

    tc = tcase_create("sc_http1_feed requests");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_http1_simple_get);
    tcase_add_test(tc, test_http1_keeps_field_case_and_empty_values);
    tcase_add_test(tc, test_http1_content_length_body_streams);
    tcase_add_test(tc, test_http1_body_events_are_never_buffered);
    tcase_add_test(tc, test_http1_chunked_with_extensions_and_trailers_passes_through);
    tcase_add_test(tc, test_http1_transfer_coding_list_ending_in_chunked);
    tcase_add_test(tc, test_http1_pipelined_requests_split_everywhere);
    tcase_add_test(tc, test_http1_stops_after_each_message);
    tcase_add_test(tc, test_http1_expect_continue_flagged);
    tcase_add_test(tc, test_http1_expect_continue_ignored_for_http10);
    tcase_add_test(tc, test_http1_http10_closes_unless_keep_alive);
    tcase_add_test(tc, test_http1_connection_close_on_http11);
    tcase_add_test(tc, test_http1_websocket_upgrade_stops_parsing);
    tcase_add_test(tc, test_http1_declined_upgrade_resumes_http);
    tcase_add_test(tc, test_http1_connect_is_an_upgrade);
    tcase_add_test(tc, test_http1_h2c_upgrade_is_not_an_upgrade);
    tcase_add_test(tc, test_http1_absolute_form_and_options_star);
    tcase_add_test(tc, test_http1_obs_text_allowed_in_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_http1_feed smuggling");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_http1_refuses_cl_with_te);
    tcase_add_test(tc, test_http1_refuses_duplicate_content_length);
    tcase_add_test(tc, test_http1_refuses_malformed_content_length);
    tcase_add_test(tc, test_http1_refuses_te_not_ending_in_chunked);
    tcase_add_test(tc, test_http1_refuses_te_in_http10);
    tcase_add_test(tc, test_http1_refuses_invalid_chunk_sizes);
    tcase_add_test(tc, test_http1_refuses_obs_fold);
    tcase_add_test(tc, test_http1_refuses_bare_cr);
    tcase_add_test(tc, test_http1_refuses_bare_lf);
    tcase_add_test(tc, test_http1_refuses_bad_field_names_and_values);
    tcase_add_test(tc, test_http1_refuses_bad_targets);
    tcase_add_test(tc, test_http1_refuses_other_versions_and_protocols);
    tcase_add_test(tc, test_http1_refuses_malformed_request_lines);
    tcase_add_test(tc, test_http1_refuses_host_errors);
    tcase_add_test(tc, test_http1_refuses_data_after_close);
    tcase_add_test(tc, test_http1_error_is_sticky);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_http1_head_of_exactly_60k_is_accepted);
    tcase_add_test(tc, test_http1_head_over_60k_is_too_large);
    tcase_add_test(tc, test_http1_hundred_fields_are_accepted);
    tcase_add_test(tc, test_http1_hundred_and_one_fields_are_too_large);
    tcase_add_test(tc, test_http1_empty_lines_count_toward_the_limit);
    tcase_add_test(tc, test_http1_custom_limits);
    tcase_add_test(tc, test_http1_too_many_trailers);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_http1_finish");
    tcase_add_test(tc, test_http1_finish_between_messages_is_clean);
    tcase_add_test(tc, test_http1_finish_inside_a_message_is_truncated);
    suite_add_tcase(s, tc);

    tc = tcase_create("responses");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_http1_response_content_length);
    tcase_add_test(tc, test_http1_response_chunked_and_pipelined);
    tcase_add_test(tc, test_http1_response_until_eof);
    tcase_add_test(tc, test_http1_response_to_head_has_no_body);
    tcase_add_test(tc, test_http1_response_204_304_have_no_body);
    tcase_add_test(tc, test_http1_response_100_continue_then_final);
    tcase_add_test(tc, test_http1_response_101_switches);
    tcase_add_test(tc, test_http1_response_refused_upgrade_stays_http);
    tcase_add_test(tc, test_http1_response_101_without_upgrade_request_is_refused);
    tcase_add_test(tc, test_http1_response_2xx_to_connect_switches);
    tcase_add_test(tc, test_http1_response_refusals);
    tcase_add_test(tc, test_http1_response_truncated_body);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_http1_feed_evbuffer");
    tcase_add_test(tc, test_http1_evbuffer_moves_bodies_across_segments);
    tcase_add_test(tc, test_http1_evbuffer_empty_and_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("helpers");
    tcase_add_test(tc, test_http1_trim_only_between_messages);
    tcase_add_test(tc, test_http1_names_and_statuses);
    tcase_add_test(tc, test_http1_has_token);
    tcase_add_test(tc, test_http1_head_get_and_count);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_http1_head_format");
    tcase_add_test(tc, test_http1_format_removes_hop_by_hop);
    tcase_add_test(tc, test_http1_format_keeps_upgrade_when_upgrading);
    tcase_add_test(tc, test_http1_format_drops_h2c_upgrade);
    tcase_add_test(tc, test_http1_format_http10_request_keeps_version);
    tcase_add_test(tc, test_http1_format_response);
    tcase_add_test(tc, test_http1_format_refuses_bad_rewrites);
    tcase_add_test(tc, test_http1_format_reports_needed_size);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http1_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
