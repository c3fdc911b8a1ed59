#include <check.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static struct sc_json *parse(const char *s, char *why, size_t whylen)
{
    return sc_json_parse(s, strlen(s), why, whylen);
}

START_TEST(test_json_parse_reads_nested_values)
{
    char why[128];
    struct sc_json *d = parse(" {\"a\": [1, -2.5e1, true, false, null], \"b\": {\"c\": \"x\"},"
                              " \"e\": []} ",
                              why, sizeof(why));
    const struct sc_json_val *r = sc_json_root(d), *a;

    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(sc_json_type(r), SC_JSON_OBJ);
    ck_assert_uint_eq(sc_json_len(r), 3);
    ck_assert_str_eq(sc_json_key_at(r, 1), "b");
    a = sc_json_get(r, "a");
    ck_assert_uint_eq(sc_json_len(a), 5);
    ck_assert(sc_json_num(sc_json_at(a, 0), 0) == 1);
    ck_assert(sc_json_num(sc_json_at(a, 1), 0) == -25);
    ck_assert_int_eq(sc_json_bool(sc_json_at(a, 2), -1), 1);
    ck_assert_int_eq(sc_json_bool(sc_json_at(a, 3), -1), 0);
    ck_assert_int_eq(sc_json_type(sc_json_at(a, 4)), SC_JSON_NULL);
    ck_assert_str_eq(sc_json_str(sc_json_get(sc_json_get(r, "b"), "c"), "-"), "x");
    ck_assert_uint_eq(sc_json_len(sc_json_get(r, "e")), 0);
    sc_json_free(d);
}
END_TEST

START_TEST(test_json_parse_decodes_escapes)
{
    char why[128];
    struct sc_json *d = parse("\"q\\\"b\\\\s\\/n\\n\\u00e9\\ud83d\\ude00\"", why, sizeof(why));

    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(sc_json_str(sc_json_root(d), NULL), "q\"b\\s/n\n\xc3\xa9\xf0\x9f\x98\x80");
    sc_json_free(d);
}
END_TEST

START_TEST(test_json_accessors_answer_absent_for_wrong_types)
{
    char why[128];
    struct sc_json *d = parse("{\"n\": 3, \"s\": \"t\"}", why, sizeof(why));
    const struct sc_json_val *r = sc_json_root(d);

    ck_assert_ptr_null(sc_json_get(r, "missing"));
    ck_assert_ptr_null(sc_json_get(sc_json_get(r, "n"), "x"));
    ck_assert_str_eq(sc_json_str(sc_json_get(r, "n"), "dflt"), "dflt");
    ck_assert(sc_json_num(sc_json_get(r, "s"), 7) == 7);
    ck_assert_ptr_null(sc_json_at(r, 2));
    ck_assert_ptr_null(sc_json_at(NULL, 0));
    ck_assert_int_eq(sc_json_type(NULL), SC_JSON_NONE);
    ck_assert_uint_eq(sc_json_len(sc_json_get(r, "s")), 0);
    sc_json_free(d);
    sc_json_free(NULL);
}
END_TEST

START_TEST(test_json_parse_refuses_malformed_text)
{
    static const char *const bad[] = {
        "",          "{",        "[1,]", "{\"a\" 1}",     "{\"a\":1,}", "\"unterminated",
        "tru",       "nul",      "01x",  "[1] 2",         "{1:2}",      "\"\\x\"",
        "\"\\u12\"", "\"a\nb\"", "-",    "[\"\\u00zz\"]",
    };
    char why[128];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        ck_assert_msg(parse(bad[i], why, sizeof(why)) == NULL, "accepted: %s", bad[i]);
        ck_assert_msg(strstr(why, "at byte") != NULL || strstr(why, "memory") != NULL,
                      "no position for %s: %s", bad[i], why);
    }
}
END_TEST

START_TEST(test_json_parse_refuses_deep_nesting)
{
    char buf[SC_JSON_MAX_DEPTH * 2 + 8], why[128];
    size_t n = 0;

    for (int i = 0; i < SC_JSON_MAX_DEPTH + 1; i++) {
        buf[n++] = '[';
    }
    for (int i = 0; i < SC_JSON_MAX_DEPTH + 1; i++) {
        buf[n++] = ']';
    }
    ck_assert_ptr_null(sc_json_parse(buf, n, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "nested deeper"));
}
END_TEST

START_TEST(test_json_parse_does_not_read_past_len)
{
    char why[128];
    struct sc_json *d = sc_json_parse("[1]garbage", 3, why, sizeof(why));

    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(sc_json_len(sc_json_root(d)), 1);
    sc_json_free(d);
    ck_assert_ptr_null(sc_json_parse("\"abc\"", 4, why, sizeof(why)));
}
END_TEST

START_TEST(test_json_put_str_escapes_and_round_trips)
{
    struct evbuffer *b = evbuffer_new();
    char why[128], *s;
    struct sc_json *d;
    size_t len;

    sc_json_put_str(b, "a\"b\\c\n\x01");
    evbuffer_add(b, "", 1);
    s = (char *)evbuffer_pullup(b, -1);
    ck_assert_str_eq(s, "\"a\\\"b\\\\c\\u000A\\u0001\"");
    len = strlen(s);
    d = sc_json_parse(s, len, why, sizeof(why));
    ck_assert_str_eq(sc_json_str(sc_json_root(d), NULL), "a\"b\\c\n\x01");
    sc_json_free(d);
    evbuffer_drain(b, evbuffer_get_length(b));
    sc_json_put_str_or_null(b, NULL);
    ck_assert_uint_eq(evbuffer_get_length(b), 4);
    evbuffer_free(b);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc;

    tc = tcase_create("sc_json_parse");
    tcase_add_test(tc, test_json_parse_reads_nested_values);
    tcase_add_test(tc, test_json_parse_decodes_escapes);
    tcase_add_test(tc, test_json_parse_refuses_malformed_text);
    tcase_add_test(tc, test_json_parse_refuses_deep_nesting);
    tcase_add_test(tc, test_json_parse_does_not_read_past_len);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_json_get");
    tcase_add_test(tc, test_json_accessors_answer_absent_for_wrong_types);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_json_put_str");
    tcase_add_test(tc, test_json_put_str_escapes_and_round_trips);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
