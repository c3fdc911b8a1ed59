/* Unit tests for proxy/rootstats: per-worker tables of who chained to which
 * root, merged over workers for a window, and the ?window= parser. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rootstats.h"

#define NW 2
#define T0 1800000000L /* a whole hour */

static struct sc_rootstats *w[NW];
static struct sc_rootstats_view v;

static void setup(void)
{
    for (int i = 0; i < NW; i++) {
        w[i] = sc_rootstats_new();
        ck_assert_ptr_nonnull(w[i]);
    }
}

static void teardown(void)
{
    for (int i = 0; i < NW; i++) {
        sc_rootstats_free(w[i]);
        w[i] = NULL;
    }
}

START_TEST(test_rootstats_merges_workers)
{
    sc_rootstats_note(w[0], "0A1B", "spiffe://td/a", 0, T0);
    sc_rootstats_note(w[0], "0A1B", "spiffe://td/a", 1, T0 + 1);
    sc_rootstats_note(w[1], "0A1B", "spiffe://td/a", 1, T0 + 2);
    sc_rootstats_note(w[1], "0A1B", "spiffe://td/b", 0, T0 + 3);
    sc_rootstats_note(w[1], "FFFF", "spiffe://td/c", 0, T0 + 3);
    /* serials compare without regard to case (/certs prints lower case) */
    sc_rootstats_view(w, NW, "0a1b", T0 + 10, 60, &v);
    ck_assert_uint_eq(v.full, 2);
    ck_assert_uint_eq(v.resumed, 2);
    ck_assert_int_eq((long)v.last_seen, T0 + 3);
    ck_assert_uint_eq(v.n_peers, 2);
    ck_assert_int_eq(v.peers_dropped, 0);
    ck_assert(strcmp(v.peers[0], "spiffe://td/a") == 0 || strcmp(v.peers[1], "spiffe://td/a") == 0);
    ck_assert(strcmp(v.peers[0], "spiffe://td/b") == 0 || strcmp(v.peers[1], "spiffe://td/b") == 0);
}
END_TEST

START_TEST(test_rootstats_unknown_root_is_empty)
{
    sc_rootstats_note(w[0], "0A1B", "spiffe://td/a", 0, T0);
    sc_rootstats_view(w, NW, "BEEF", T0, 60, &v);
    ck_assert_uint_eq(v.full + v.resumed, 0);
    ck_assert_int_eq((long)v.last_seen, 0);
    ck_assert_uint_eq(v.n_peers, 0);
}
END_TEST

START_TEST(test_rootstats_window_filters_peers_exactly)
{
    sc_rootstats_note(w[0], "0A1B", "spiffe://td/old", 0, T0);
    sc_rootstats_note(w[0], "0A1B", "spiffe://td/new", 0, T0 + 50);
    sc_rootstats_view(w, NW, "0A1B", T0 + 55, 10, &v);
    ck_assert_uint_eq(v.n_peers, 1);
    ck_assert_str_eq(v.peers[0], "spiffe://td/new");
    ck_assert_int_eq((long)v.last_seen, T0 + 50);
    sc_rootstats_view(w, NW, "0A1B", T0 + 100, 10, &v);
    ck_assert_uint_eq(v.n_peers, 0);
    ck_assert_int_eq((long)v.last_seen, T0 + 50); /* last_seen is never windowed */
}
END_TEST

START_TEST(test_rootstats_counts_by_minute_then_by_hour)
{
    sc_rootstats_note(w[0], "0A1B", "spiffe://td/a", 0, T0); /* 3 h before */
    sc_rootstats_note(w[0], "0A1B", "spiffe://td/a", 0, T0 + 3 * 3600 - 600);
    sc_rootstats_note(w[0], "0A1B", "spiffe://td/a", 1, T0 + 3 * 3600 - 5);
    /* 30 s: the current minute (rounded out) */
    sc_rootstats_view(w, NW, "0A1B", T0 + 3 * 3600, 30, &v);
    ck_assert_uint_eq(v.full, 0);
    ck_assert_uint_eq(v.resumed, 1);
    /* 1 h: minutes */
    sc_rootstats_view(w, NW, "0A1B", T0 + 3 * 3600, 3600, &v);
    ck_assert_uint_eq(v.full, 1);
    ck_assert_uint_eq(v.resumed, 1);
    /* 24 h: hours */
    sc_rootstats_view(w, NW, "0A1B", T0 + 3 * 3600, 86400, &v);
    ck_assert_uint_eq(v.full, 2);
    ck_assert_uint_eq(v.resumed, 1);
    /* a week later the buckets are stale */
    sc_rootstats_view(w, NW, "0A1B", T0 + 8 * 86400, SC_ROOTSTATS_MAX_WINDOW, &v);
    ck_assert_uint_eq(v.full + v.resumed, 0);
}
END_TEST

START_TEST(test_rootstats_bounded)
{
    char s[32], id[64];

    for (int i = 0; i < SC_ROOTSTATS_ROOTS + 4; i++) {
        snprintf(s, sizeof(s), "%04X", i + 1);
        sc_rootstats_note(w[0], s, "spiffe://td/a", 0, T0);
    }
    snprintf(s, sizeof(s), "%04X", SC_ROOTSTATS_ROOTS + 1);
    sc_rootstats_view(w, 1, s, T0, 60, &v);
    ck_assert_uint_eq(v.full, 0); /* not tracked */
    for (int i = 0; i < SC_ROOTSTATS_PEERS + 10; i++) {
        snprintf(id, sizeof(id), "spiffe://td/p%d", i);
        sc_rootstats_note(w[0], "0001", id, 0, T0);
    }
    sc_rootstats_view(w, 1, "0001", T0, 60, &v);
    ck_assert_uint_eq(v.n_peers, SC_ROOTSTATS_PEERS);
    ck_assert_int_eq(v.peers_dropped, 1);
}
END_TEST

START_TEST(test_rootstats_ignores_empty_input)
{
    sc_rootstats_note(NULL, "0001", "x", 0, T0);
    sc_rootstats_note(w[0], "", "x", 0, T0);
    sc_rootstats_note(w[0], "0001", NULL, 0, T0);
    sc_rootstats_view(w, NW, "0001", T0, 60, &v);
    ck_assert_uint_eq(v.full, 1);
    ck_assert_uint_eq(v.n_peers, 0);
    sc_rootstats_free(NULL);
}
END_TEST

START_TEST(test_rootstats_parse_window)
{
    static const struct {
        const char *in;
        long secs;
    } ok[] = {{"1s", 1},        {"90s", 90},         {"15m", 900},      {"24h", 86400},
              {"168h", 604800}, {"604800s", 604800}, {"10080m", 604800}};
    static const char *const bad[] = {"",        "s",           "10",  "0s",   "0h",
                                      "5d",      "-1h",         "1h2", "1.5h", "169h",
                                      "604801s", "1000000000s", "1H",  " 1h",  "1h "};
    char err[160];
    long secs;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_msg(sc_rootstats_parse_window(ok[i].in, &secs, err, sizeof(err)) == 0, "%s: %s",
                      ok[i].in, err);
        ck_assert_int_eq(secs, ok[i].secs);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(sc_rootstats_parse_window(bad[i], &secs, err, sizeof(err)) == -1, "%s",
                      bad[i]);
        ck_assert_msg(err[0] != '\0', "%s: no reason", bad[i]);
    }
    ck_assert_int_eq(sc_rootstats_parse_window(NULL, &secs, err, sizeof(err)), -1);
    sc_rootstats_parse_window("169h", &secs, err, sizeof(err));
    ck_assert_str_eq(err, "window 169h is longer than the 7 days kept (168h)");
}
END_TEST

static Suite *rootstats_suite(void)
{
    Suite *s = suite_create("rootstats");
    TCase *tc = tcase_create("sc_rootstats");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rootstats_merges_workers);
    tcase_add_test(tc, test_rootstats_unknown_root_is_empty);
    tcase_add_test(tc, test_rootstats_window_filters_peers_exactly);
    tcase_add_test(tc, test_rootstats_counts_by_minute_then_by_hour);
    tcase_add_test(tc, test_rootstats_bounded);
    tcase_add_test(tc, test_rootstats_ignores_empty_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_rootstats_parse_window");
    tcase_add_test(tc, test_rootstats_parse_window);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rootstats_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
