/* Unit tests for common/magic.h: the debug-build guard that turns a use of
 * a freed (or foreign) object into an abort naming it.  The test compiles
 * the guard in whatever the build, as the sanitizer and DEBUG=1 builds do. */

#define SC_DEBUG_MAGIC 1

#include <check.h>
#include <signal.h>
#include <stdlib.h>

#include "magic.h"

struct thing {
    SC_MAGIC_FIELD
    int value;
};

START_TEST(test_magic_live_object_passes)
{
    struct thing t = {0};

    SC_MAGIC_SET(&t, SC_MAGIC_CONN);
    SC_MAGIC_CHECK(&t, SC_MAGIC_CONN);
    ck_assert_uint_eq(t.magic, SC_MAGIC_CONN);
}
END_TEST

START_TEST(test_magic_freed_object_aborts)
{
    struct thing t = {0};

    SC_MAGIC_SET(&t, SC_MAGIC_UPSTREAM);
    SC_MAGIC_CLEAR(&t); /* what the teardown does before free() */
    SC_MAGIC_CHECK(&t, SC_MAGIC_UPSTREAM);
    ck_abort_msg("a cleared object passed the check");
}
END_TEST

START_TEST(test_magic_foreign_object_aborts)
{
    struct thing t = {0};

    SC_MAGIC_SET(&t, SC_MAGIC_L7);
    SC_MAGIC_CHECK(&t, SC_MAGIC_SNAPSHOT);
    ck_abort_msg("an object of another kind passed the check");
}
END_TEST

static Suite *magic_suite(void)
{
    Suite *s = suite_create("magic");
    TCase *tc = tcase_create("check");

    tcase_add_test(tc, test_magic_live_object_passes);
    tcase_add_test_raise_signal(tc, test_magic_freed_object_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, test_magic_foreign_object_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(magic_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
