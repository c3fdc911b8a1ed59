/* Unit tests for common/objcache: freed objects come back last in, first
 * out, with what their owner left in them past the link; the cache holds
 * no more than its bound; a kept event is reassigned in place and fires
 * for its new owner. */

#include <check.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "objcache.h"

struct obj {
    void *link; /* the cache's */
    int kept;
    char bytes[100];
};

START_TEST(test_empty_cache_gives_nothing)
{
    struct sc_objcache c = SC_OBJCACHE_INIT(sizeof(struct obj), 4);

    ck_assert_ptr_null(sc_objcache_get(&c));
}
END_TEST

START_TEST(test_objects_come_back_lifo_with_their_fields)
{
    struct sc_objcache c = SC_OBJCACHE_INIT(sizeof(struct obj), 4);
    struct obj *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

    a->kept = 1;
    b->kept = 2;
    memset(b->bytes, 'x', sizeof(b->bytes));
    ck_assert_int_eq(sc_objcache_put(&c, a), 0);
    ck_assert_int_eq(sc_objcache_put(&c, b), 0);
    ck_assert_ptr_eq(sc_objcache_get(&c), b);
    ck_assert_int_eq(b->kept, 2);
    ck_assert_int_eq(b->bytes[99], 'x');
    ck_assert_ptr_eq(sc_objcache_get(&c), a);
    ck_assert_int_eq(a->kept, 1);
    ck_assert_ptr_null(sc_objcache_get(&c));
    free(a);
    free(b);
}
END_TEST

START_TEST(test_full_cache_refuses)
{
    struct sc_objcache c = SC_OBJCACHE_INIT(sizeof(struct obj), 2);
    struct obj *o[3];

    for (int i = 0; i < 3; i++) {
        o[i] = calloc(1, sizeof(*o[i]));
    }
    ck_assert_int_eq(sc_objcache_put(&c, o[0]), 0);
    ck_assert_int_eq(sc_objcache_put(&c, o[1]), 0);
    ck_assert_int_eq(sc_objcache_put(&c, o[2]), -1); /* the caller frees it */
    ck_assert_int_eq(sc_objcache_put(&c, NULL), -1);
    free(o[2]);
    for (int i = 0; i < 2; i++) {
        free(sc_objcache_get(&c));
    }
    ck_assert_ptr_null(sc_objcache_get(&c));
}
END_TEST

static void on_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (*(int *)arg)++;
}

START_TEST(test_kept_event_is_reassigned_in_place)
{
    struct event_base *base = event_base_new();
    struct event *ev = NULL, *first;
    struct timeval now = {0, 0};
    int fired[2] = {0, 0};

    ck_assert_ptr_nonnull(base);
    ck_assert_int_eq(sc_objcache_event(&ev, base, -1, 0, on_fire, &fired[0]), 0);
    first = ev;
    ck_assert_int_eq(event_add(ev, &now), 0);
    event_base_loop(base, EVLOOP_ONCE);
    ck_assert_int_eq(fired[0], 1);
    event_del(ev);
    /* the next owner: same storage, its own callback argument */
    ck_assert_int_eq(sc_objcache_event(&ev, base, -1, 0, on_fire, &fired[1]), 0);
    ck_assert_ptr_eq(ev, first);
    ck_assert_int_eq(event_add(ev, &now), 0);
    event_base_loop(base, EVLOOP_ONCE);
    ck_assert_int_eq(fired[0], 1);
    ck_assert_int_eq(fired[1], 1);
    event_del(ev);
    free(ev);
    event_base_free(base);
}
END_TEST

static Suite *objcache_suite(void)
{
    Suite *s = suite_create("objcache");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_empty_cache_gives_nothing);
    tcase_add_test(tc, test_objects_come_back_lifo_with_their_fields);
    tcase_add_test(tc, test_full_cache_refuses);
    tcase_add_test(tc, test_kept_event_is_reassigned_in_place);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(objcache_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
