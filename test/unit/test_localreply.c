/* Unit tests for proxy/localreply: every reply byte-exact, and the edge
 * cases of the formatters. */

#include <check.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "localreply.h"

#define T_1994 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */

/* ---- bodies -------------------------------------------------------------- */

START_TEST(test_localreply_reset_bodies)
{
    static const struct {
        enum sc_reset_reason why;
        int retried;
        int status;
        unsigned flags;
        const char *body;
    } cases[] = {
        {SC_RESET_CONNECTION_FAILURE, 0, 503, SC_ACCESSLOG_UF,
         "upstream connect error or disconnect/reset before headers. reset reason: connection failure"},
        {SC_RESET_CONNECTION_TERMINATION, 0, 503, SC_ACCESSLOG_UC,
         "upstream connect error or disconnect/reset before headers. reset reason: connection termination"},
        {SC_RESET_OVERFLOW, 0, 503, SC_ACCESSLOG_UO,
         "upstream connect error or disconnect/reset before headers. reset reason: overflow"},
        {SC_RESET_CONNECTION_TIMEOUT, 0, 503, SC_ACCESSLOG_UF,
         "upstream connect error or disconnect/reset before headers. reset reason: connection timeout"},
        {SC_RESET_REMOTE_RESET, 0, 503, SC_ACCESSLOG_UR,
         "upstream connect error or disconnect/reset before headers. reset reason: remote reset"},
        {SC_RESET_LOCAL_RESET, 0, 503, SC_ACCESSLOG_LR,
         "upstream connect error or disconnect/reset before headers. reset reason: local reset"},
        {SC_RESET_PROTOCOL_ERROR, 0, 502, SC_ACCESSLOG_UPE,
         "upstream connect error or disconnect/reset before headers. reset reason: protocol error"},
        {SC_RESET_REMOTE_CONNECTION_FAILURE, 1, 503, SC_ACCESSLOG_UF,
         "upstream connect error or disconnect/reset before headers. retried and the latest reset "
         "reason: remote connection failure"},
        {SC_RESET_LOCAL_CONNECTION_FAILURE, 0, 503, SC_ACCESSLOG_UF,
         "upstream connect error or disconnect/reset before headers. reset reason: local connection "
         "failure"},
    };
    struct sc_localreply r;
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sc_localreply_upstream_reset(&r, cases[i].why, cases[i].retried, NULL);
        ck_assert_str_eq(r.body, cases[i].body);
        ck_assert_uint_eq(r.body_len, strlen(cases[i].body));
        ck_assert_int_eq(r.status, cases[i].status);
        ck_assert_uint_eq(r.flags, cases[i].flags);
        sc_localreply_upstream_reset(&r, cases[i].why, cases[i].retried, "");
        ck_assert_str_eq(r.body, cases[i].body); /* "" adds nothing */
    }
}
END_TEST

START_TEST(test_localreply_connect_refused_reason)
{
    struct sc_localreply r;

    sc_localreply_upstream_reset(&r, SC_RESET_CONNECTION_FAILURE, 1,
                                 "delayed connect error: Connection refused");
    ck_assert_str_eq(r.body,
                     "upstream connect error or disconnect/reset before headers. retried and "
                     "the latest reset reason: connection failure, transport failure reason: "
                     "delayed connect error: Connection refused");
}
END_TEST

START_TEST(test_localreply_other_bodies)
{
    struct sc_localreply r;

    sc_localreply_upstream_timeout(&r);
    ck_assert_int_eq(r.status, 504);
    ck_assert_str_eq(r.body, "upstream request timeout");
    ck_assert_uint_eq(r.flags, SC_ACCESSLOG_UT);
    sc_localreply_bad_request(&r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(r.body, "Bad Request");
    ck_assert_uint_eq(r.flags, SC_ACCESSLOG_DPE);
    sc_localreply_too_large(&r);
    ck_assert_int_eq(r.status, 431);
    ck_assert_str_eq(r.body, "Request Header Fields Too Large");
    ck_assert_uint_eq(r.flags, SC_ACCESSLOG_DPE);
    sc_localreply_request_timeout(&r);
    ck_assert_int_eq(r.status, 408);
    ck_assert_str_eq(r.body, "request timeout");
    sc_localreply_for_http1_error(&r, SC_HTTP1_E_TOO_LARGE);
    ck_assert_int_eq(r.status, 431);
    sc_localreply_for_http1_error(&r, SC_HTTP1_E_OBS_FOLD);
    ck_assert_int_eq(r.status, 400);
    ck_assert_uint_eq(r.flags, SC_ACCESSLOG_DPE);
}
END_TEST

START_TEST(test_localreply_long_transport_reason_is_cut)
{
    struct sc_localreply r;
    char why[4096];

    memset(why, 'x', sizeof why - 1);
    why[sizeof why - 1] = '\0';
    sc_localreply_upstream_reset(&r, SC_RESET_CONNECTION_FAILURE, 0, why);
    ck_assert_uint_eq(r.body_len, SC_LOCALREPLY_BODY_MAX - 1);
    ck_assert_uint_eq(strlen(r.body), r.body_len);
}
END_TEST

/* ---- whole responses ----------------------------------------------------- */

static void reply_eq(const struct sc_localreply *r, int close, int head, const char *want)
{
    char out[4096];
    size_t need = 0, n;
    struct evbuffer *eb = evbuffer_new();

    ck_assert_int_eq(sc_localreply_format(r, close, head, T_1994, out, sizeof out, &need), 0);
    ck_assert_uint_eq(need, strlen(want));
    ck_assert_int_eq(memcmp(out, want, need), 0);
    ck_assert_int_eq(sc_localreply_write(r, close, head, T_1994, eb), 0);
    n = evbuffer_get_length(eb);
    ck_assert_uint_eq(n, need);
    ck_assert_int_eq(memcmp(evbuffer_pullup(eb, -1), want, n), 0);
    evbuffer_free(eb);
}

START_TEST(test_localreply_full_response_503)
{
    struct sc_localreply r;

    sc_localreply_upstream_reset(&r, SC_RESET_OVERFLOW, 0, NULL);
    reply_eq(
        &r, 0, 0,
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 81\r\ncontent-type: text/plain\r\n"
        "date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        "upstream connect error or disconnect/reset before headers. reset reason: overflow");
    reply_eq(
        &r, 1, 0,
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 81\r\ncontent-type: text/plain\r\n"
        "date: Sun, 06 Nov 1994 08:49:37 GMT\r\nconnection: close\r\n\r\n"
        "upstream connect error or disconnect/reset before headers. reset reason: overflow");
}
END_TEST

START_TEST(test_localreply_full_response_400_closes)
{
    struct sc_localreply r;

    sc_localreply_bad_request(&r);
    reply_eq(&r, 1, 0,
             "HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\n"
             "date: Sun, 06 Nov 1994 08:49:37 GMT\r\nconnection: close\r\n\r\nBad Request");
}
END_TEST

START_TEST(test_localreply_head_request_has_no_body)
{
    struct sc_localreply r;

    sc_localreply_upstream_timeout(&r);
    reply_eq(&r, 0, 1,
             "HTTP/1.1 504 Gateway Timeout\r\ncontent-length: 24\r\ncontent-type: text/plain\r\n"
             "date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
}
END_TEST

START_TEST(test_localreply_empty_body_has_no_content_type)
{
    struct sc_localreply r = {404, 0, 0, ""};

    reply_eq(
        &r, 0, 0,
        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
}
END_TEST

START_TEST(test_localreply_format_reports_needed_size)
{
    struct sc_localreply r;
    char out[512];
    size_t need = 0, full;

    sc_localreply_bad_request(&r);
    ck_assert_int_eq(sc_localreply_format(&r, 0, 0, T_1994, out, sizeof out, &full), 0);
    memset(out, 'Z', sizeof out);
    ck_assert_int_eq(sc_localreply_format(&r, 0, 0, T_1994, out, full - 1, &need), -1);
    ck_assert_uint_eq(need, full);
    ck_assert_int_eq(out[0], 'Z'); /* nothing written */
    ck_assert_int_eq(sc_localreply_format(&r, 0, 0, T_1994, NULL, 0, &need), -1);
    ck_assert_uint_eq(need, full);
}
END_TEST

START_TEST(test_localreply_names_and_dates)
{
    char d[32];

    ck_assert_str_eq(sc_localreply_reset_reason_str(SC_RESET_OVERFLOW), "overflow");
    ck_assert_str_eq(sc_localreply_reset_reason_str(SC_RESET_N), "unknown");
    ck_assert_str_eq(sc_localreply_reset_reason_str((enum sc_reset_reason) - 1), "unknown");
    ck_assert_str_eq(sc_localreply_status_text(503), "Service Unavailable");
    ck_assert_str_eq(sc_localreply_status_text(405), "Method Not Allowed");
    ck_assert_str_eq(sc_localreply_status_text(501), "Not Implemented");
    ck_assert_str_eq(sc_localreply_status_text(299), "Unknown");
    ck_assert_uint_eq(sc_localreply_http_date(0, d), 29);
    ck_assert_str_eq(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    ck_assert_uint_eq(sc_localreply_http_date(T_1994, d), 29);
    ck_assert_str_eq(d, "Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_uint_eq(sc_localreply_http_date(951782400, d), 29); /* a leap day */
    ck_assert_str_eq(d, "Tue, 29 Feb 2000 00:00:00 GMT");
}
END_TEST

static Suite *localreply_suite(void)
{
    Suite *s = suite_create("localreply");
    TCase *tc;

    tc = tcase_create("bodies");
    tcase_add_test(tc, test_localreply_reset_bodies);
    tcase_add_test(tc, test_localreply_connect_refused_reason);
    tcase_add_test(tc, test_localreply_other_bodies);
    tcase_add_test(tc, test_localreply_long_transport_reason_is_cut);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_localreply_format");
    tcase_add_test(tc, test_localreply_full_response_503);
    tcase_add_test(tc, test_localreply_full_response_400_closes);
    tcase_add_test(tc, test_localreply_head_request_has_no_body);
    tcase_add_test(tc, test_localreply_empty_body_has_no_content_type);
    tcase_add_test(tc, test_localreply_format_reports_needed_size);
    tcase_add_test(tc, test_localreply_names_and_dates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(localreply_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
