/* Unit tests for proxy/listener: a worker's listener set on a private
 * event_base and context, no worker thread.  What a client sees: a port
 * the config names accepts TCP connections, one a reload drops refuses
 * them, close (drain) refuses them all, a port another socket holds fails
 * the sync, and limits.max_connections closes the connection over it at
 * once and counts it (sidecar_connections_overflow_total). */

#include <check.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "listener.h"
#include "snapshot.h"
#include "stats.h"
#include "wctx.h"

static struct event_base *base;
static struct sc_stats *stats;
static struct sc_wctx *ctx;

static void setup(void)
{
    base = event_base_new();
    stats = sc_stats_new();
    ck_assert_ptr_nonnull(base);
    ck_assert_ptr_nonnull(stats);
    ctx = sc_wctx_new(0, base, stats);
    ck_assert_ptr_nonnull(ctx);
}

static void teardown(void)
{
    while (!LIST_EMPTY(sc_wctx_conns(ctx))) {
        sc_conn_abort(LIST_FIRST(sc_wctx_conns(ctx)), "shutdown");
    }
    sc_wctx_free(ctx);
    sc_stats_free(stats);
    event_base_free(base);
}

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

/* A blocking connect to 127.0.0.1:port: the fd, or -errno. */
static int dial(int port)
{
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        int e = errno;

        close(fd);
        return -e;
    }
    return fd;
}

static int accepts(int port)
{
    int fd = dial(port);

    if (fd < 0) {
        ck_assert_int_eq(fd, -ECONNREFUSED);
        return 0;
    }
    close(fd);
    return 1;
}

/* Explicit inbound listeners a and b on the given ports (0 = left out);
 * max_connections 0 = the default. */
static struct sc_config *config(int pa, int pb, int max_connections)
{
    char yaml[2048];
    size_t n = 0;
    struct sc_config *cfg = NULL;
    struct sc_err err;

    n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
                          "node: {namespace: foo}\nsecrets: {sds_socket: /nonexistent}\n");
    if (max_connections > 0) {
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "limits: {max_connections: %d}\n",
                              max_connections);
    }
    n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "listeners:\n");
    if (pa != 0) {
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
                              "  - {name: a, direction: inbound, address: \"127.0.0.1:%d\",\n"
                              "     upstream: \"127.0.0.1:9\", port: 9}\n",
                              pa);
    }
    if (pb != 0) {
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
                              "  - {name: b, direction: inbound, address: \"127.0.0.1:%d\",\n"
                              "     upstream: \"127.0.0.1:9\", port: 9}\n",
                              pb);
    }
    memset(&err, 0, sizeof(err));
    ck_assert_msg(sc_config_load_string("l.yaml", yaml, &cfg, &err) == 0, "%s", err.msg);
    return cfg;
}

START_TEST(test_listener_sync_opens_drops_and_closes)
{
    int pa = free_port(), pb = free_port();
    struct sc_config *both = config(pa, pb, 0), *only_a = config(pa, 0, 0);
    struct sc_listeners *ls = sc_listeners_new(ctx);

    ck_assert_ptr_nonnull(ls);
    ck_assert_int_eq(accepts(pa), 0);
    ck_assert_int_eq(sc_listeners_sync(ls, both, 0), 0);
    ck_assert_int_eq(accepts(pa), 1);
    ck_assert_int_eq(accepts(pb), 1);

    /* a reload that drops b keeps a */
    ck_assert_int_eq(sc_listeners_sync(ls, only_a, 1), 0);
    ck_assert_int_eq(accepts(pa), 1);
    ck_assert_int_eq(accepts(pb), 0);

    /* drain: every listener closed; a later sync opens them again */
    sc_listeners_close(ls);
    ck_assert_int_eq(accepts(pa), 0);
    ck_assert_int_eq(sc_listeners_sync(ls, both, 0), 0);
    ck_assert_int_eq(accepts(pa), 1);
    ck_assert_int_eq(accepts(pb), 1);

    sc_listeners_free(ls);
    ck_assert_int_eq(accepts(pa), 0);
    ck_assert_int_eq(accepts(pb), 0);
    sc_config_free(both);
    sc_config_free(only_a);
}
END_TEST

/* SO_REUSEPORT is shared only with sockets that set it too: a port another
 * program listens on is a failed sync, and the set holds nothing of it. */
START_TEST(test_listener_port_taken_fails)
{
    int pa = free_port();
    struct sc_config *cfg = config(pa, 0, 0);
    struct sc_listeners *ls = sc_listeners_new(ctx);
    struct sockaddr_in sin;
    int other = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)pa);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(other, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(other, 4), 0);
    ck_assert_int_eq(sc_listeners_sync(ls, cfg, 0), -1);
    close(other);
    ck_assert_int_eq(accepts(pa), 0);
    /* free again: the next sync binds it */
    ck_assert_int_eq(sc_listeners_sync(ls, cfg, 0), 0);
    ck_assert_int_eq(accepts(pa), 1);
    sc_listeners_free(ls);
    sc_config_free(cfg);
}
END_TEST

static unsigned long long overflows(void)
{
    struct sc_stats *all[1] = {stats};
    struct evbuffer *b = evbuffer_new();
    const char *key = "\nsidecar_connections_overflow_total ";
    unsigned long long n;
    size_t len;
    char *text;
    const char *p;

    sc_stats_render_prometheus(all, 1, b);
    len = evbuffer_get_length(b);
    text = calloc(1, len + 1);
    ck_assert_ptr_nonnull(text);
    evbuffer_remove(b, text, len);
    evbuffer_free(b);
    p = strstr(text, key);
    ck_assert_ptr_nonnull(p);
    n = strtoull(p + strlen(key), NULL, 10);
    free(text);
    return n;
}

static void run_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* limits.max_connections: 1.  The first connection is the listener's (a
 * PERMISSIVE port waiting for its first bytes); the second is closed at
 * once, unanswered, and counted. */
START_TEST(test_listener_max_connections)
{
    int pa = free_port();
    struct sc_config *cfg = config(pa, 0, 1);
    struct sc_err err;
    struct sc_snapshot *snap = sc_snapshot_new_with(sc_config_ref(cfg), NULL, &err);
    struct sc_listeners *ls = sc_listeners_new(ctx);
    int first, second;
    char c;

    ck_assert_ptr_nonnull(snap);
    sc_wctx_set_snapshot(ctx, snap);
    ck_assert_int_eq(sc_listeners_sync(ls, cfg, 0), 0);
    first = dial(pa);
    ck_assert_int_ge(first, 0);
    for (int i = 0; i < 50 && sc_wctx_conn_count(ctx) == 0; i++) {
        run_ms(10);
    }
    ck_assert_uint_eq(sc_wctx_conn_count(ctx), 1);
    ck_assert_uint_eq(overflows(), 0);

    second = dial(pa);
    ck_assert_int_ge(second, 0);
    for (int i = 0; i < 50 && overflows() == 0; i++) {
        run_ms(10);
    }
    ck_assert_uint_eq(overflows(), 1);
    ck_assert_uint_eq(sc_wctx_conn_count(ctx), 1);
    ck_assert_int_eq(recv(second, &c, 1, 0), 0); /* closed, nothing said */

    close(first);
    close(second);
    sc_listeners_free(ls);
    sc_snapshot_unref(snap); /* the connection holds its own reference */
    sc_config_free(cfg);
}
END_TEST

static Suite *listener_suite(void)
{
    Suite *s = suite_create("listener");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_listener_sync_opens_drops_and_closes);
    tcase_add_test(tc, test_listener_port_taken_fails);
    tcase_add_test(tc, test_listener_max_connections);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(listener_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
