/* Unit tests for proxy/hslimit: the per-source handshake token bucket and
 * its bounded table. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"
#include "hslimit.h"

static struct sc_addr addr_of(const char *s)
{
    struct sc_addr a;
    const char *why = NULL;

    ck_assert_msg(sc_addr_parse(s, &a, &why) == 0, "%s: %s", s, why != NULL ? why : "?");
    return a;
}

/* How many of n handshakes from s at now_ms are allowed. */
static int allowed(struct sc_hslimit *l, const char *s, unsigned rate, int n, uint64_t now_ms)
{
    struct sc_addr a = addr_of(s);
    int ok = 0;

    for (int i = 0; i < n; i++) {
        ok += sc_hslimit_allow(l, &a, rate, now_ms);
    }
    return ok;
}

/* ---- sc_hslimit_allow ------------------------------------------------------ */

START_TEST(test_hslimit_allows_a_burst_of_rate_then_refuses)
{
    struct sc_hslimit *l = sc_hslimit_new();

    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(allowed(l, "10.0.0.1:4000", 200, 200, 1000), 200);
    ck_assert_int_eq(allowed(l, "10.0.0.1:4001", 200, 50, 1000), 0);
    sc_hslimit_free(l);
}
END_TEST

START_TEST(test_hslimit_refills_at_rate_per_second)
{
    struct sc_hslimit *l = sc_hslimit_new();

    ck_assert_int_eq(allowed(l, "10.0.0.1:1", 10, 100, 5000), 10);
    ck_assert_int_eq(allowed(l, "10.0.0.1:1", 10, 100, 5500), 5); /* half a second */
    ck_assert_int_eq(allowed(l, "10.0.0.1:1", 10, 100, 5599), 0); /* 0.99 of a token */
    ck_assert_int_eq(allowed(l, "10.0.0.1:1", 10, 100, 5600), 1);
    /* a long pause refills to the burst, not beyond */
    ck_assert_int_eq(allowed(l, "10.0.0.1:1", 10, 100, 3600000), 10);
    sc_hslimit_free(l);
}
END_TEST

START_TEST(test_hslimit_refused_handshakes_take_nothing)
{
    struct sc_hslimit *l = sc_hslimit_new();

    ck_assert_int_eq(allowed(l, "10.0.0.1:1", 10, 10, 0), 10);
    ck_assert_int_eq(allowed(l, "10.0.0.1:1", 10, 1000, 50), 0); /* hammering */
    ck_assert_int_eq(allowed(l, "10.0.0.1:1", 10, 100, 100), 1); /* one token by now */
    sc_hslimit_free(l);
}
END_TEST

/* Resumptions are refunded: a busy peer resuming for every connection is
 * never limited, while full handshakes still are. */
START_TEST(test_hslimit_resumptions_are_refunded)
{
    struct sc_hslimit *l = sc_hslimit_new();
    struct sc_addr a = addr_of("10.0.0.9:1"), other = addr_of("10.0.0.10:1");

    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(sc_hslimit_allow(l, &a, 10, 1000), 1);
        sc_hslimit_refund(l, &a, 10);
    }
    ck_assert_int_eq(allowed(l, "10.0.0.9:2", 10, 100, 1000), 10); /* full ones: the burst */
    sc_hslimit_refund(l, &other, 10); /* unknown: nothing */
    ck_assert_int_eq(allowed(l, "10.0.0.10:2", 10, 100, 1000), 10);
    sc_hslimit_free(l);
}
END_TEST

START_TEST(test_hslimit_counts_per_address_not_per_port)
{
    struct sc_hslimit *l = sc_hslimit_new();

    ck_assert_int_eq(allowed(l, "10.0.0.1:1", 3, 2, 0), 2);
    ck_assert_int_eq(allowed(l, "10.0.0.1:2", 3, 2, 0), 1); /* same address */
    ck_assert_int_eq(allowed(l, "10.0.0.2:1", 3, 5, 0), 3); /* another one */
    ck_assert_int_eq(allowed(l, "[fd00::1]:1", 3, 5, 0), 3);
    ck_assert_int_eq(allowed(l, "[fd00::2]:1", 3, 5, 0), 3);
    ck_assert_int_eq(allowed(l, "[fd00::1]:9", 3, 5, 0), 0);
    ck_assert_uint_eq(sc_hslimit_size(l), 4);
    sc_hslimit_free(l);
}
END_TEST

START_TEST(test_hslimit_rate_zero_never_limits)
{
    struct sc_hslimit *l = sc_hslimit_new();

    ck_assert_int_eq(allowed(l, "10.0.0.1:1", 0, 10000, 0), 10000);
    ck_assert_uint_eq(sc_hslimit_size(l), 0);
    sc_hslimit_free(l);
}
END_TEST

START_TEST(test_hslimit_a_lower_rate_caps_the_bucket)
{
    struct sc_hslimit *l = sc_hslimit_new();

    ck_assert_int_eq(allowed(l, "10.0.0.1:1", 100, 1, 0), 1); /* 99 left */
    ck_assert_int_eq(allowed(l, "10.0.0.1:1", 5, 100, 0), 5); /* a reload to 5/s */
    sc_hslimit_free(l);
}
END_TEST

START_TEST(test_hslimit_other_families_are_not_limited)
{
    struct sc_hslimit *l = sc_hslimit_new();
    struct sc_addr a;

    memset(&a, 0, sizeof(a));
    a.ss.ss_family = AF_UNIX;
    a.len = sizeof(struct sockaddr_un);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(sc_hslimit_allow(l, &a, 1, 0), 1);
    }
    ck_assert_uint_eq(sc_hslimit_size(l), 0);
    sc_hslimit_free(l);
    sc_hslimit_free(NULL);
}
END_TEST

/* ---- the table ---------------------------------------------------------------- */

START_TEST(test_hslimit_table_stays_bounded)
{
    struct sc_hslimit *l = sc_hslimit_new();
    char s[64];

    for (int i = 0; i < 20 * SC_HSLIMIT_SLOTS; i++) {
        snprintf(s, sizeof(s), "10.%d.%d.%d:1", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
        ck_assert_int_eq(allowed(l, s, 1, 1, (uint64_t)i), 1);
        ck_assert_uint_le(sc_hslimit_size(l), SC_HSLIMIT_SLOTS);
    }
    /* nearly every slot is in use before anything is given up */
    ck_assert_uint_ge(sc_hslimit_size(l), SC_HSLIMIT_SLOTS * 9 / 10);
    sc_hslimit_free(l);
}
END_TEST

START_TEST(test_hslimit_an_active_source_keeps_its_slot)
{
    struct sc_hslimit *l = sc_hslimit_new();
    char s[64];
    int got = 0;

    /* 10.0.0.1 tries once a millisecond at 1/s while a new source passes
     * by every millisecond: it keeps its slot (the ones seen least
     * recently go), so over 4.096 s it gets the first token and one a
     * second, never a fresh bucket. */
    for (int i = 0; i < 4 * SC_HSLIMIT_SLOTS; i++) {
        snprintf(s, sizeof(s), "10.1.%d.%d:1", (i >> 8) & 0xff, i & 0xff);
        ck_assert_int_eq(allowed(l, s, 1, 1, (uint64_t)i), 1);
        got += allowed(l, "10.0.0.1:1", 1, 1, (uint64_t)i);
    }
    ck_assert_int_eq(got, 5);
    sc_hslimit_free(l);
}
END_TEST

static Suite *hslimit_suite(void)
{
    Suite *s = suite_create("hslimit");
    TCase *tc = tcase_create("sc_hslimit_allow");

    tcase_add_test(tc, test_hslimit_allows_a_burst_of_rate_then_refuses);
    tcase_add_test(tc, test_hslimit_refills_at_rate_per_second);
    tcase_add_test(tc, test_hslimit_refused_handshakes_take_nothing);
    tcase_add_test(tc, test_hslimit_counts_per_address_not_per_port);
    tcase_add_test(tc, test_hslimit_resumptions_are_refunded);
    tcase_add_test(tc, test_hslimit_rate_zero_never_limits);
    tcase_add_test(tc, test_hslimit_a_lower_rate_caps_the_bucket);
    tcase_add_test(tc, test_hslimit_other_families_are_not_limited);
    suite_add_tcase(s, tc);

    tc = tcase_create("table");
    tcase_add_test(tc, test_hslimit_table_stays_bounded);
    tcase_add_test(tc, test_hslimit_an_active_source_keeps_its_slot);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hslimit_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
