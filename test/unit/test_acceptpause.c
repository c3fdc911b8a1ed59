/* Unit tests for proxy/acceptpause: a failed accept() pauses the listeners
 * for SC_ACCEPTPAUSE_MS, they are tried again, and the episode ends after a
 * whole pause without a failure.  Driven on a private event_base. */

#include <check.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acceptpause.h"
#include "stats.h"

static struct {
    int on; /* what the listeners were last set to */
    int offs, ons; /* how often */
} lis;

static void set(void *arg, int on)
{
    ck_assert_ptr_eq(arg, &lis);
    lis.on = on;
    if (on) {
        lis.ons++;
    } else {
        lis.offs++;
    }
}

static void run_ms(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static uint64_t emfile_count(struct sc_stats *st)
{
    struct sc_stats *all[1] = {st};
    struct evbuffer *b;
    char line[128];
    uint64_t n = 0;
    char *text;
    size_t len;
    const char *p;

    b = evbuffer_new();
    sc_stats_render_prometheus(all, 1, b);
    len = evbuffer_get_length(b);
    text = calloc(1, len + 1);
    evbuffer_remove(b, text, len);
    evbuffer_free(b);
    snprintf(line, sizeof(line), "sidecar_accept_errors_total{reason=\"emfile\"} ");
    p = strstr(text, line);
    ck_assert_ptr_nonnull(p);
    n = strtoull(p + strlen(line), NULL, 10);
    free(text);
    return n;
}

START_TEST(test_acceptpause_pauses_then_resumes)
{
    struct event_base *base = event_base_new();
    struct sc_stats *st = sc_stats_new();
    struct sc_acceptpause *p;

    memset(&lis, 0, sizeof(lis));
    lis.on = 1;
    p = sc_acceptpause_new(base, "worker 9", st, set, &lis);
    ck_assert_ptr_nonnull(p);
    sc_acceptpause_failed(p, "in", EMFILE);
    ck_assert_int_eq(lis.on, 0);
    ck_assert_int_eq(lis.offs, 1);
    run_ms(base, SC_ACCEPTPAUSE_MS + SC_ACCEPTPAUSE_MS / 2);
    ck_assert_int_eq(lis.on, 1); /* tried again */
    ck_assert_int_eq(lis.ons, 1);
    /* it fails again at once: paused again, counted again */
    sc_acceptpause_failed(p, "in", EMFILE);
    sc_acceptpause_failed(p, "in", ENFILE);
    ck_assert_int_eq(lis.on, 0);
    ck_assert_uint_eq(emfile_count(st), 2);
    /* then recovers: resumed, and after a quiet pause the episode is over */
    run_ms(base, 3 * SC_ACCEPTPAUSE_MS);
    ck_assert_int_eq(lis.on, 1);
    ck_assert_int_eq(lis.ons, 2);
    sc_acceptpause_free(p);
    sc_acceptpause_free(NULL);
    sc_stats_free(st);
    event_base_free(base);
}
END_TEST

START_TEST(test_acceptpause_without_stats_still_pauses)
{
    struct event_base *base = event_base_new();
    struct sc_acceptpause *p;

    memset(&lis, 0, sizeof(lis));
    p = sc_acceptpause_new(base, "admin", NULL, set, &lis);
    sc_acceptpause_failed(p, "x", ENOBUFS);
    ck_assert_int_eq(lis.on, 0);
    run_ms(base, 2 * SC_ACCEPTPAUSE_MS);
    ck_assert_int_eq(lis.on, 1);
    sc_acceptpause_free(p); /* with its watch timer still armed */
    event_base_free(base);
}
END_TEST

static Suite *acceptpause_suite(void)
{
    Suite *s = suite_create("acceptpause");
    TCase *tc = tcase_create("sc_acceptpause_failed");

    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_acceptpause_pauses_then_resumes);
    tcase_add_test(tc, test_acceptpause_without_stats_still_pauses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(acceptpause_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
