/* Unit tests for proxy/upool (and the plain path of proxy/upstream) driven
 * through a worker context (proxy/wctx) on a private event_base, with no
 * worker: a connection is made to a loopback listener, given back, handed
 * out again (the same socket, marked reused), and dropped from the pool
 * when the peer closes it while idle. */

#include <check.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "io.h"
#include "snapshot.h"
#include "stats.h"
#include "upool.h"
#include "wctx.h"

static struct event_base *base;
static struct sc_stats *stats;
static struct sc_wctx *ctx;
static struct sc_snapshot *snap;
static struct sc_upool *pool;
static int lfd = -1;
static struct sc_addr laddr;

struct got {
    int calls;
    struct sc_upconn *uc;
    enum sc_upstream_status status;
};

static void on_ready(void *arg, struct sc_upconn *uc, const struct sc_upstream_result *res)
{
    struct got *g = arg;

    g->calls++;
    g->uc = uc;
    g->status = res != NULL ? res->status : SC_UPSTREAM_OK;
}

static void setup(void)
{
    struct sc_config *cfg = NULL;
    struct sc_err err;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    base = event_base_new();
    stats = sc_stats_new();
    ck_assert_ptr_nonnull(base);
    ck_assert_ptr_nonnull(stats);
    ctx = sc_wctx_new(3, base, stats);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_msg(sc_config_load_string("t.yaml",
                                        "node: {id: n, namespace: bar}\n"
                                        "secrets: {sds_socket: /nonexistent}\n",
                                        &cfg, &err) == 0,
                  "%s", err.msg);
    snap = sc_snapshot_new_with(cfg, NULL, &err);
    ck_assert_ptr_nonnull(snap);
    sc_wctx_set_snapshot(ctx, snap);
    pool = sc_upool_new(ctx);
    ck_assert_ptr_nonnull(pool);
    sc_wctx_set_upool(ctx, pool);

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(lfd, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
    memset(&laddr, 0, sizeof(laddr));
    memcpy(&laddr.ss, &sin, sizeof(sin));
    laddr.len = sizeof(sin);
}

static void teardown(void)
{
    sc_upool_free(pool);
    sc_wctx_free(ctx);
    sc_snapshot_unref(snap);
    sc_stats_free(stats);
    event_base_free(base);
    close(lfd);
}

static struct sc_upstream_req plain_req(void)
{
    struct sc_upstream_req r;

    memset(&r, 0, sizeof(r));
    r.w = ctx;
    r.snap = snap;
    r.addr = laddr;
    r.dir = SC_DIR_OUTBOUND;
    r.tls = SC_TLS_DISABLE;
    r.proto = SC_PROTO_HTTP;
    r.connect_ms = 5000;
    r.handshake_ms = 5000;
    return r;
}

static const struct sc_upool_limits lim = {
    .max_connections = 4, .max_pending = 4, .idle_ms = 60000};
static const int route = 1;

/* Runs the loop until g has been called (bounded). */
static void wait_ready(struct got *g)
{
    for (int i = 0; i < 100 && g->calls == 0; i++) {
        event_base_loop(base, EVLOOP_ONCE);
    }
    ck_assert_int_eq(g->calls, 1);
}

/* Asks the pool for a connection to the listener (ready() reports to g). */
static enum sc_upool_get_result get(struct got *g, struct sc_upconn **uc)
{
    struct sc_upstream_req r = plain_req();
    struct sc_upool_wait *wait = NULL;

    *uc = NULL;
    return sc_upool_get(pool, &r, &route, &lim, 0, on_ready, g, uc, &wait);
}

/* Gets a fresh connection through a connect; returns the accepted peer fd. */
static struct sc_upconn *connect_one(int *peer)
{
    struct got g = {0};
    struct sc_upconn *uc = NULL;

    ck_assert_int_eq(get(&g, &uc), SC_UPOOL_WAITING);
    wait_ready(&g);
    ck_assert_int_eq(g.status, SC_UPSTREAM_OK);
    ck_assert_ptr_nonnull(g.uc);
    *peer = accept(lfd, NULL, NULL);
    ck_assert_int_ge(*peer, 0);
    ck_assert_int_eq(sc_upconn_info(g.uc)->reused, 0);
    return g.uc;
}

START_TEST(test_reuse_same_fd)
{
    struct sc_upool_gauges gg;
    struct sc_upconn *uc2 = NULL;
    struct got g = {0};
    int peer;
    struct sc_upconn *uc = connect_one(&peer);
    int fd = sc_io_fd(sc_upconn_info(uc)->io);

    sc_upconn_release(uc, 1);
    sc_upool_gauges(pool, &gg);
    ck_assert_uint_eq(gg.idle, 1);
    ck_assert_uint_eq(gg.created, 1);
    ck_assert_int_eq(get(&g, &uc2), SC_UPOOL_READY);
    ck_assert_ptr_nonnull(uc2);
    ck_assert_int_eq(sc_io_fd(sc_upconn_info(uc2)->io), fd);
    ck_assert_int_eq(sc_upconn_info(uc2)->reused, 1);
    ck_assert_int_eq(g.calls, 0);
    sc_upool_gauges(pool, &gg);
    ck_assert_uint_eq(gg.reused, 1);
    ck_assert_uint_eq(gg.idle, 0);
    ck_assert_uint_eq(gg.active, 1);
    sc_upconn_release(uc2, 0);
    close(peer);
}
END_TEST

START_TEST(test_peer_close_drops_idle)
{
    struct sc_upool_gauges gg;
    struct sc_upconn *uc2 = NULL;
    struct got g = {0};
    int peer;
    struct sc_upconn *uc = connect_one(&peer);

    sc_upconn_release(uc, 1);
    sc_upool_gauges(pool, &gg);
    ck_assert_uint_eq(gg.idle, 1);
    close(peer);
    for (int i = 0; i < 100 && gg.idle != 0; i++) {
        event_base_loop(base, EVLOOP_ONCE);
        sc_upool_gauges(pool, &gg);
    }
    ck_assert_uint_eq(gg.idle, 0);
    /* the next request does not get the dead one: a new connect */
    ck_assert_int_eq(get(&g, &uc2), SC_UPOOL_WAITING);
    wait_ready(&g);
    ck_assert_int_eq(g.status, SC_UPSTREAM_OK);
    ck_assert_int_eq(sc_upconn_info(g.uc)->reused, 0);
    sc_upool_gauges(pool, &gg);
    ck_assert_uint_eq(gg.created, 2);
    peer = accept(lfd, NULL, NULL);
    sc_upconn_release(g.uc, 0);
    if (peer >= 0) {
        close(peer);
    }
}
END_TEST

START_TEST(test_context_accessors)
{
    size_t n = 0;

    ck_assert_int_eq(sc_wctx_id(ctx), 3);
    ck_assert_ptr_eq(sc_wctx_base(ctx), base);
    ck_assert_ptr_eq(sc_wctx_stats(ctx), stats);
    ck_assert_ptr_eq(sc_wctx_snapshot(ctx), snap);
    ck_assert_ptr_eq(sc_wctx_upool(ctx), pool);
    ck_assert_ptr_nonnull(sc_wctx_scratch(ctx, &n));
    ck_assert_uint_gt(n, 0);
    /* ids carry the worker in their low byte and never repeat */
    ck_assert_uint_eq(sc_wctx_next_conn_id(ctx) & 0xff, 3);
    ck_assert_uint_ne(sc_wctx_next_conn_id(ctx), sc_wctx_next_conn_id(ctx));
    ck_assert_ptr_null(sc_wctx_session_get(ctx, 1, &laddr));
    ck_assert_uint_eq(sc_wctx_conn_count(ctx), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("upool");
    TCase *tc = tcase_create("upool");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_reuse_same_fd);
    tcase_add_test(tc, test_peer_close_drops_idle);
    tcase_add_test(tc, test_context_accessors);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
