/* Unit tests for proxy/adminhttp: the bounded HTTP/1.1 server under the
 * admin, health and stats endpoints.  Each test builds a private event_base
 * and a server with small limits, hands it one end of a socketpair()
 * (sc_adminhttp_adopt) and drives the other end with plain send()/recv()
 * between turns of the loop. */

#include <check.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "adminhttp.h"

#define MAX_BODY 16
#define MAX_HEAD 256
#define TIMEOUT_MS 200
#define MAX_CONNS 2

static struct {
    struct event_base *base;
    struct sc_adminhttp *srv;
    int calls; /* handler runs */
    enum sc_adminhttp_method method;
    char query[64];
    char body[64]; /* what the handler was given */
    size_t body_len;
} fx;

static void on_hello(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep, void *arg)
{
    (void)arg;
    fx.calls++;
    fx.method = req->method;
    snprintf(fx.query, sizeof(fx.query), "%s", req->query != NULL ? req->query : "(none)");
    snprintf(fx.body, sizeof(fx.body), "%s", req->body != NULL ? req->body : "(null)");
    fx.body_len = req->body_len;
    evbuffer_add_printf(rep->body, "hello");
}

static void setup(void)
{
    struct sc_adminhttp_limits lim = {MAX_BODY, MAX_HEAD, TIMEOUT_MS, MAX_CONNS};

    memset(&fx, 0, sizeof(fx));
    fx.base = event_base_new();
    ck_assert_ptr_nonnull(fx.base);
    fx.srv = sc_adminhttp_new(fx.base, "test", &lim);
    ck_assert_ptr_nonnull(fx.srv);
    ck_assert_int_eq(sc_adminhttp_route(fx.srv, "/hello", 0, on_hello, NULL), 0);
    ck_assert_int_eq(sc_adminhttp_route(fx.srv, "/post", SC_ADMINHTTP_TAKES_BODY, on_hello, NULL),
                     0);
    ck_assert_int_eq(sc_adminhttp_route(fx.srv, "/keep",
                                        SC_ADMINHTTP_TAKES_BODY | SC_ADMINHTTP_KEEPS_BODY, on_hello,
                                        NULL),
                     0);
}

static void teardown(void)
{
    sc_adminhttp_free(fx.srv);
    event_base_free(fx.base);
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A connection served by the server; returns the test's end (non-blocking). */
static int connect_peer(void)
{
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    ck_assert_int_eq(sc_adminhttp_adopt(fx.srv, sv[1]), 0);
    return sv[0];
}

/* Turns the loop until the server closes (or shuts) its side of fd, at
 * most limit_ms; what it sent goes to out (NUL-terminated, truncated to
 * cap).  Returns the ms it took, or -1 when it stayed open. */
static long read_until_eof(int fd, char *out, size_t cap, long limit_ms)
{
    long t0 = now_ms();
    size_t got = 0;
    char sink[4096];

    out[0] = '\0';
    while (now_ms() - t0 < limit_ms) {
        ssize_t n;

        event_base_loop(fx.base, EVLOOP_NONBLOCK);
        n = recv(fd, sink, sizeof(sink), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            return now_ms() - t0;
        }
        if (n > 0) {
            size_t k = (size_t)n < cap - 1 - got ? (size_t)n : cap - 1 - got;
            memcpy(out + got, sink, k);
            got += k;
            out[got] = '\0';
            continue;
        }
        usleep(1000);
    }
    return -1;
}

/* One request on a new connection; the answer in out. */
static void exchange(const char *req, size_t len, char *out, size_t cap)
{
    int fd = connect_peer();

    ck_assert_int_eq(send(fd, req, len, 0), (ssize_t)len);
    ck_assert_int_ge(read_until_eof(fd, out, cap, 2000), 0);
    close(fd);
    event_base_loop(fx.base, EVLOOP_NONBLOCK);
}

#define EXCHANGE(req, out) exchange((req), strlen(req), (out), sizeof(out))

/* The answer in out has status code (a 3-digit literal). */
#define ASSERT_STATUS(out, code) \
    ck_assert_msg(strncmp((out), "HTTP/1.1 " #code " ", 13) == 0, "want %d, got: %s", code, (out))

START_TEST(test_adminhttp_get_answers_and_closes)
{
    char out[1024];

    EXCHANGE("GET /hello?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", out);
    ASSERT_STATUS(out, 200);
    ck_assert_ptr_nonnull(strstr(out, "Content-Length: 5\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "Connection: close\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\n\r\nhello"));
    ck_assert_int_eq(fx.calls, 1);
    ck_assert_int_eq(fx.method, SC_ADMINHTTP_GET);
    ck_assert_str_eq(fx.query, "x=1");
    ck_assert_uint_eq(sc_adminhttp_conn_count(fx.srv), 0);
}
END_TEST

START_TEST(test_adminhttp_head_has_length_but_no_body)
{
    char out[1024];

    EXCHANGE("HEAD /hello HTTP/1.1\r\nHost: h\r\n\r\n", out);
    ASSERT_STATUS(out, 200);
    ck_assert_ptr_nonnull(strstr(out, "Content-Length: 5\r\n"));
    ck_assert_ptr_null(strstr(out, "hello"));
    ck_assert_int_eq(fx.method, SC_ADMINHTTP_HEAD);
    ck_assert_str_eq(fx.query, "(none)");
}
END_TEST

START_TEST(test_adminhttp_unknown_path_is_404)
{
    char out[1024];

    EXCHANGE("GET /nope HTTP/1.1\r\nHost: h\r\n\r\n", out);
    ASSERT_STATUS(out, 404);
    ck_assert_ptr_nonnull(strstr(out, "\r\n\r\nnot found\n"));
    EXCHANGE("HEAD /hello/ HTTP/1.1\r\nHost: h\r\n\r\n", out); /* exact paths only */
    ASSERT_STATUS(out, 404);
    ck_assert_ptr_null(strstr(out, "not found"));
    ck_assert_int_eq(fx.calls, 0);
}
END_TEST

START_TEST(test_adminhttp_refuses_other_methods_with_501)
{
    char out[1024];

    EXCHANGE("PUT /hello HTTP/1.1\r\nHost: h\r\n\r\n", out);
    ASSERT_STATUS(out, 501);
    EXCHANGE("DELETE /hello HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", out);
    ASSERT_STATUS(out, 501);
    ck_assert_int_eq(fx.calls, 0);
}
END_TEST

START_TEST(test_adminhttp_body_up_to_the_limit_is_accepted)
{
    char out[1024];

    EXCHANGE("POST /post HTTP/1.1\r\nHost: h\r\nContent-Length: 16\r\n\r\n0123456789abcdef", out);
    ASSERT_STATUS(out, 200);
    ck_assert_int_eq(fx.method, SC_ADMINHTTP_POST);
    /* chunked: the body's bytes as sent count, chunk framing included (15) */
    EXCHANGE("POST /post HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nabcde\r\n0\r\n\r\n",
             out);
    ASSERT_STATUS(out, 200);
    ck_assert_int_eq(fx.calls, 2);
}
END_TEST

START_TEST(test_adminhttp_expect_continue_gets_100_first)
{
    char out[1024];
    int fd = connect_peer();
    const char *head = "POST /post HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
                       "Expect: 100-continue\r\n\r\n";
    long t0 = now_ms();
    ssize_t n = 0;

    ck_assert_int_eq(send(fd, head, strlen(head), 0), (ssize_t)strlen(head));
    while (n <= 0 && now_ms() - t0 < 2000) {
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
        n = recv(fd, out, sizeof(out) - 1, 0);
        usleep(1000);
    }
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
    ck_assert_str_eq(out, "HTTP/1.1 100 Continue\r\n\r\n");
    ck_assert_int_eq(send(fd, "ok", 2, 0), 2);
    ck_assert_int_ge(read_until_eof(fd, out, sizeof(out), 2000), 0);
    ASSERT_STATUS(out, 200);
    close(fd);
}
END_TEST

START_TEST(test_adminhttp_body_over_the_limit_is_413)
{
    char out[1024];

    EXCHANGE("POST /post HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n", out);
    ASSERT_STATUS(out, 413);
    EXCHANGE("POST /post HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             "9\r\n012345678\r\n9\r\n9abcdefgh\r\n0\r\n\r\n",
             out);
    ASSERT_STATUS(out, 413);
    ck_assert_int_eq(fx.calls, 0);
    ck_assert_uint_eq(sc_adminhttp_conn_count(fx.srv), 0);
}
END_TEST

START_TEST(test_adminhttp_body_where_none_is_taken_is_413)
{
    char out[1024];

    EXCHANGE("POST /hello HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", out);
    ASSERT_STATUS(out, 413);
    EXCHANGE("GET /nope HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", out);
    ASSERT_STATUS(out, 413);
    ck_assert_int_eq(fx.calls, 0);
}
END_TEST

START_TEST(test_adminhttp_head_over_the_limit_is_431)
{
    char req[MAX_HEAD + 64], out[1024];

    /* a whole head, too long */
    snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: h\r\nX: %0*d\r\n\r\n", MAX_HEAD, 0);
    EXCHANGE(req, out);
    ASSERT_STATUS(out, 431);
    /* a line that never ends */
    snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: h\r\nX: %0*d", MAX_HEAD, 0);
    EXCHANGE(req, out);
    ASSERT_STATUS(out, 431);
    ck_assert_int_eq(fx.calls, 0);
}
END_TEST

START_TEST(test_adminhttp_malformed_request_is_400)
{
    char out[1024];

    EXCHANGE("GET /hello HTTP/1.1\nHost: h\n\n", out);
    ASSERT_STATUS(out, 400);
    EXCHANGE("GET /hello HTTP/1.1\r\n\r\n", out); /* no Host */
    ASSERT_STATUS(out, 400);
    ck_assert_int_eq(fx.calls, 0);
}
END_TEST

START_TEST(test_adminhttp_incomplete_request_closed_at_the_timeout)
{
    char out[64];
    int fd = connect_peer();
    long ms;

    ck_assert_int_eq(send(fd, "GET /hello HTTP/1.1\r\n", 21, 0), 21);
    ms = read_until_eof(fd, out, sizeof(out), 3000);
    ck_assert_int_ge(ms, TIMEOUT_MS - 50);
    ck_assert_int_lt(ms, 3000);
    ck_assert_str_eq(out, ""); /* no answer */
    ck_assert_uint_eq(sc_adminhttp_conn_count(fx.srv), 0);
    close(fd);
}
END_TEST

START_TEST(test_adminhttp_silent_connection_closed_at_the_timeout)
{
    char out[64];
    int fd = connect_peer();

    ck_assert_int_ge(read_until_eof(fd, out, sizeof(out), 3000), TIMEOUT_MS - 50);
    ck_assert_uint_eq(sc_adminhttp_conn_count(fx.srv), 0);
    close(fd);
}
END_TEST

START_TEST(test_adminhttp_connection_over_the_cap_is_closed_at_once)
{
    char out[64];
    int held[MAX_CONNS], sv[2];

    for (int i = 0; i < MAX_CONNS; i++) {
        held[i] = connect_peer();
    }
    ck_assert_uint_eq(sc_adminhttp_conn_count(fx.srv), MAX_CONNS);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    ck_assert_int_eq(sc_adminhttp_adopt(fx.srv, sv[1]), -1);
    ck_assert_int_lt(read_until_eof(sv[0], out, sizeof(out), 1000), TIMEOUT_MS / 2);
    close(sv[0]);
    ck_assert_uint_eq(sc_adminhttp_conn_count(fx.srv), MAX_CONNS);
    /* once the held ones time out, there is room again */
    for (int i = 0; i < MAX_CONNS; i++) {
        ck_assert_int_ge(read_until_eof(held[i], out, sizeof(out), 3000), 0);
        close(held[i]);
    }
    ck_assert_uint_eq(sc_adminhttp_conn_count(fx.srv), 0);
    EXCHANGE("GET /hello HTTP/1.1\r\nHost: h\r\n\r\n", out);
    ASSERT_STATUS(out, 200);
}
END_TEST

START_TEST(test_adminhttp_free_closes_open_connections)
{
    char out[64];
    int fd = connect_peer();

    sc_adminhttp_free(fx.srv);
    fx.srv = NULL;
    ck_assert_int_ge(read_until_eof(fd, out, sizeof(out), 1000), 0);
    close(fd);
}
END_TEST

START_TEST(test_adminhttp_route_table_is_bounded)
{
    int rc = 0;

    for (int i = 3; i < SC_ADMINHTTP_MAX_ROUTES; i++) {
        rc |= sc_adminhttp_route(fx.srv, "/x", 0, on_hello, NULL);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(sc_adminhttp_route(fx.srv, "/one-too-many", 0, on_hello, NULL), -1);
}
END_TEST

START_TEST(test_adminhttp_kept_body_reaches_the_handler)
{
    char out[1024];

    EXCHANGE("POST /keep HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n{\"a\":\"xyz\"}", out);
    ASSERT_STATUS(out, 200);
    ck_assert_str_eq(fx.body, "{\"a\":\"xyz\"}");
    ck_assert_uint_eq(fx.body_len, 11);
    /* without a body: an empty string */
    EXCHANGE("POST /keep HTTP/1.1\r\nHost: h\r\n\r\n", out);
    ASSERT_STATUS(out, 200);
    ck_assert_str_eq(fx.body, "");
    ck_assert_uint_eq(fx.body_len, 0);
    /* a route that does not keep it: dropped */
    EXCHANGE("POST /post HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", out);
    ck_assert_str_eq(fx.body, "");
}
END_TEST

START_TEST(test_adminhttp_kept_body_needs_content_length)
{
    char out[1024];

    EXCHANGE("POST /keep HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n0\r\n\r\n",
             out);
    ASSERT_STATUS(out, 411);
    ck_assert_int_eq(fx.calls, 0);
    EXCHANGE("POST /keep HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n0123456789abcdefg", out);
    ASSERT_STATUS(out, 413);
    ck_assert_int_eq(fx.calls, 0);
}
END_TEST

static Suite *adminhttp_suite(void)
{
    Suite *s = suite_create("adminhttp");
    TCase *tc = tcase_create("requests");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_adminhttp_get_answers_and_closes);
    tcase_add_test(tc, test_adminhttp_head_has_length_but_no_body);
    tcase_add_test(tc, test_adminhttp_unknown_path_is_404);
    tcase_add_test(tc, test_adminhttp_refuses_other_methods_with_501);
    tcase_add_test(tc, test_adminhttp_body_up_to_the_limit_is_accepted);
    tcase_add_test(tc, test_adminhttp_expect_continue_gets_100_first);
    tcase_add_test(tc, test_adminhttp_route_table_is_bounded);
    tcase_add_test(tc, test_adminhttp_kept_body_reaches_the_handler);
    tcase_add_test(tc, test_adminhttp_kept_body_needs_content_length);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_adminhttp_body_over_the_limit_is_413);
    tcase_add_test(tc, test_adminhttp_body_where_none_is_taken_is_413);
    tcase_add_test(tc, test_adminhttp_head_over_the_limit_is_431);
    tcase_add_test(tc, test_adminhttp_malformed_request_is_400);
    tcase_add_test(tc, test_adminhttp_incomplete_request_closed_at_the_timeout);
    tcase_add_test(tc, test_adminhttp_silent_connection_closed_at_the_timeout);
    tcase_add_test(tc, test_adminhttp_connection_over_the_cap_is_closed_at_once);
    tcase_add_test(tc, test_adminhttp_free_closes_open_connections);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    signal(SIGPIPE, SIG_IGN);
    sr = srunner_create(adminhttp_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
