/* Unit tests for proxy/httpsniff: the `protocol: auto` verdict.  Real
 * request lines (curl's, HTTP/1.0, absolute-form, CONNECT, OPTIONS *) are
 * HTTP; TCP protocols whose first line looks like a method and a space
 * (NATS, Redis inline commands, SMTP, an HTTP/2 preface) are not; every
 * proper prefix of an HTTP line needs more, and the verdict never changes
 * as bytes arrive. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "httpsniff.h"

static enum sc_httpsniff_result sniff(const char *s)
{
    return sc_httpsniff((const unsigned char *)s, strlen(s));
}

static const char *const http_lines[] = {
    "GET / HTTP/1.1\r\nHost: example\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    "GET /index.html HTTP/1.0\r\n\r\n",
    "POST /api/v1/items?x=1&y=%20 HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    "GET http://reviews.bar.svc.cluster.local:9080/ HTTP/1.1\r\n",
    "CONNECT db.example:5432 HTTP/1.1\r\nHost: db.example:5432\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\n",
    "M-SEARCH * HTTP/1.1\r\n",
    "PROPFIND /dav/ HTTP/1.1\r\n",
    "get / HTTP/1.1\r\n", /* methods are case-sensitive tokens */
};

static const char *const tcp_lines[] = {
    "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n", /* NATS */
    "SET key value\r\n", /* Redis inline */
    "PING\r\n",
    "EHLO client.example\r\n", /* SMTP */
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", /* HTTP/2 preface */
    "GET / HTTP/1.2\r\n",
    "GET / HTTP/2\r\n",
    "GET / RTSP/1.0\r\n",
    "GET  / HTTP/1.1\r\n", /* two spaces */
    "GET / HTTP/1.1\n", /* bare LF */
    "GET /a b HTTP/1.1\r\n",
    "GET /\x01 HTTP/1.1\r\n",
    " GET / HTTP/1.1\r\n",
    "hello world\r\n",
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS ClientHello */
    "GET\r\n",
};

START_TEST(test_httpsniff_real_request_lines_are_http)
{
    ck_assert_msg(sniff(http_lines[_i]) == SC_HTTPSNIFF_HTTP1, "%s", http_lines[_i]);
}
END_TEST

START_TEST(test_httpsniff_tcp_look_alikes_are_not_http)
{
    ck_assert_msg(sniff(tcp_lines[_i]) == SC_HTTPSNIFF_NOT_HTTP, "%s", tcp_lines[_i]);
}
END_TEST

/* Every proper prefix of the request line needs more; the prefixes that end
 * after the CRLF decide HTTP. */
START_TEST(test_httpsniff_prefixes_need_more_then_decide)
{
    const char *s = http_lines[_i];
    size_t line = (size_t)(strstr(s, "\r\n") - s) + 2, n;

    for (n = 0; n < line; n++) {
        ck_assert_msg(sc_httpsniff((const unsigned char *)s, n) == SC_HTTPSNIFF_NEED_MORE,
                      "%s: prefix %zu", s, n);
    }
    for (n = line; n <= strlen(s); n++) {
        ck_assert_int_eq(sc_httpsniff((const unsigned char *)s, n), SC_HTTPSNIFF_HTTP1);
    }
}
END_TEST

/* Once NOT_HTTP, always NOT_HTTP. */
START_TEST(test_httpsniff_not_http_is_prefix_stable)
{
    const char *s = tcp_lines[_i];
    size_t n, len = strlen(s);
    int decided = 0;

    for (n = 0; n <= len; n++) {
        enum sc_httpsniff_result r = sc_httpsniff((const unsigned char *)s, n);

        if (decided) {
            ck_assert_msg(r == SC_HTTPSNIFF_NOT_HTTP, "%s: prefix %zu", s, n);
        }
        ck_assert_msg(r != SC_HTTPSNIFF_HTTP1, "%s: prefix %zu", s, n);
        decided = r == SC_HTTPSNIFF_NOT_HTTP;
    }
}
END_TEST

START_TEST(test_httpsniff_limits)
{
    size_t big = SC_HTTPSNIFF_MAX_BYTES + 64;
    unsigned char *buf = malloc(big);
    size_t n;

    ck_assert_ptr_nonnull(buf);
    /* a method longer than any real one; exactly 32 characters is one */
    memset(buf, 'A', 40);
    ck_assert_int_eq(sc_httpsniff(buf, 40), SC_HTTPSNIFF_NOT_HTTP);
    ck_assert_int_eq(sc_httpsniff(buf, 33), SC_HTTPSNIFF_NOT_HTTP);
    ck_assert_int_eq(sc_httpsniff(buf, 32), SC_HTTPSNIFF_NEED_MORE);
    ck_assert_int_eq(sc_httpsniff(buf, 31), SC_HTTPSNIFF_NEED_MORE);
    memcpy(buf + 32, " / HTTP/1.1\r\n", 13);
    ck_assert_int_eq(sc_httpsniff(buf, 45), SC_HTTPSNIFF_HTTP1);
    /* a target that has not ended within the cap */
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', big - 5);
    ck_assert_int_eq(sc_httpsniff(buf, SC_HTTPSNIFF_MAX_BYTES - 1), SC_HTTPSNIFF_NEED_MORE);
    ck_assert_int_eq(sc_httpsniff(buf, SC_HTTPSNIFF_MAX_BYTES), SC_HTTPSNIFF_NOT_HTTP);
    ck_assert_int_eq(sc_httpsniff(buf, big), SC_HTTPSNIFF_NOT_HTTP);
    /* a long but complete line within the cap is HTTP */
    n = SC_HTTPSNIFF_MAX_BYTES - 20;
    memcpy(buf + n, " HTTP/1.1\r\n", 11);
    ck_assert_int_eq(sc_httpsniff(buf, n + 11), SC_HTTPSNIFF_HTTP1);
    /* the cap falls inside the version: undecided at the cap is NOT_HTTP */
    memset(buf + 5, 'a', big - 5);
    n = SC_HTTPSNIFF_MAX_BYTES - 5;
    memcpy(buf + n, " HTTP/1.1\r\n", 11);
    ck_assert_int_eq(sc_httpsniff(buf, SC_HTTPSNIFF_MAX_BYTES - 1), SC_HTTPSNIFF_NEED_MORE);
    ck_assert_int_eq(sc_httpsniff(buf, SC_HTTPSNIFF_MAX_BYTES), SC_HTTPSNIFF_NOT_HTTP);
    ck_assert_int_eq(sc_httpsniff(buf, n + 11), SC_HTTPSNIFF_NOT_HTTP);
    ck_assert_int_eq(sc_httpsniff(NULL, 0), SC_HTTPSNIFF_NEED_MORE);
    free(buf);
}
END_TEST

static Suite *httpsniff_suite(void)
{
    Suite *s = suite_create("httpsniff");
    TCase *tc = tcase_create("sc_httpsniff");
    int nh = (int)(sizeof(http_lines) / sizeof(http_lines[0]));
    int nt = (int)(sizeof(tcp_lines) / sizeof(tcp_lines[0]));

    tcase_add_loop_test(tc, test_httpsniff_real_request_lines_are_http, 0, nh);
    tcase_add_loop_test(tc, test_httpsniff_tcp_look_alikes_are_not_http, 0, nt);
    tcase_add_loop_test(tc, test_httpsniff_prefixes_need_more_then_decide, 0, nh);
    tcase_add_loop_test(tc, test_httpsniff_not_http_is_prefix_stable, 0, nt);
    tcase_add_test(tc, test_httpsniff_limits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(httpsniff_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
