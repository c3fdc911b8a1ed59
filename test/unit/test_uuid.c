/* Unit tests for proxy/uuid: shape, version and variant bits, uniqueness
 * across pool refills, and the validity check. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "uuid.h"

static int cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

START_TEST(test_uuid_v4_shape)
{
    struct sc_uuid u;
    char s[SC_UUID_STR_LEN + 1];
    int i, j;

    sc_uuid_init(&u);
    for (i = 0; i < 100; i++) {
        ck_assert_int_eq(sc_uuid_v4(&u, s), 0);
        ck_assert_uint_eq(strlen(s), SC_UUID_STR_LEN);
        ck_assert_int_eq(sc_uuid_is_valid(s, strlen(s)), 1);
        ck_assert_int_eq(s[14], '4'); /* version */
        ck_assert_ptr_nonnull(strchr("89ab", s[19])); /* variant 10xx */
        for (j = 0; j < SC_UUID_STR_LEN; j++) {
            ck_assert_msg(s[j] == '-' || (s[j] >= '0' && s[j] <= '9') ||
                              (s[j] >= 'a' && s[j] <= 'f'),
                          "%s", s);
        }
    }
    sc_uuid_cleanup(&u);
}
END_TEST

START_TEST(test_uuid_v4_unique_across_refills)
{
    enum { N = 5000 }; /* about 156 pool refills */
    struct sc_uuid u;
    char(*all)[SC_UUID_STR_LEN + 1] = malloc(N * sizeof *all);
    int i;

    ck_assert_ptr_nonnull(all);
    sc_uuid_init(&u);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(sc_uuid_v4(&u, all[i]), 0);
    }
    qsort(all, N, sizeof *all, cmp);
    for (i = 1; i < N; i++) {
        ck_assert_str_ne(all[i - 1], all[i]);
    }
    sc_uuid_cleanup(&u);
    free(all);
}
END_TEST

START_TEST(test_uuid_two_states_differ)
{
    struct sc_uuid a, b;
    char sa[SC_UUID_STR_LEN + 1], sb[SC_UUID_STR_LEN + 1];

    sc_uuid_init(&a);
    sc_uuid_init(&b);
    ck_assert_int_eq(sc_uuid_v4(&a, sa), 0);
    ck_assert_int_eq(sc_uuid_v4(&b, sb), 0);
    ck_assert_str_ne(sa, sb);
    sc_uuid_cleanup(&a);
    sc_uuid_cleanup(&b);
}
END_TEST

START_TEST(test_uuid_is_valid)
{
    ck_assert_int_eq(sc_uuid_is_valid("4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a55", 36), 1);
    ck_assert_int_eq(sc_uuid_is_valid("4F9C1C2A-7B5E-1C1D-0A3E-2B6F8D0E1A55", 36), 1);
    ck_assert_int_eq(sc_uuid_is_valid("4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a5", 35), 0);
    ck_assert_int_eq(sc_uuid_is_valid("4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a555", 37), 0);
    ck_assert_int_eq(sc_uuid_is_valid("4f9c1c2a07b5e-4c1d-9a3e-2b6f8d0e1a55", 36), 0);
    ck_assert_int_eq(sc_uuid_is_valid("4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a5g", 36), 0);
    ck_assert_int_eq(sc_uuid_is_valid("4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a5\0", 36), 0);
    ck_assert_int_eq(sc_uuid_is_valid("", 0), 0);
    ck_assert_int_eq(sc_uuid_is_valid(NULL, 36), 0);
}
END_TEST

static Suite *uuid_suite(void)
{
    Suite *s = suite_create("uuid");
    TCase *tc = tcase_create("sc_uuid_v4");

    tcase_add_test(tc, test_uuid_v4_shape);
    tcase_add_test(tc, test_uuid_v4_unique_across_refills);
    tcase_add_test(tc, test_uuid_two_states_differ);
    suite_add_tcase(s, tc);
    tc = tcase_create("sc_uuid_is_valid");
    tcase_add_test(tc, test_uuid_is_valid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(uuid_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
