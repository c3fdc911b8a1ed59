/* Unit tests for common/escape: one escaper per output format (text logs,
 * JSON, Prometheus labels).  Each must turn any bytes into one line of
 * valid UTF-8 in its format, never split an escape when the room runs out,
 * and leave ordinary text alone. */

#include <check.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

/* fn over s[0..len) into a buffer of outlen; returns the NUL-terminated
 * result in out and whether the outbuf ran out of room. */
static int run(sc_escape_fn *fn, const char *s, size_t len, char *out, size_t outlen)
{
    struct sc_outbuf o;

    sc_outbuf_init(&o, out, outlen);
    fn(&o, s, len);
    out[o.len] = '\0';
    return o.bad;
}

/* a string literal and its length, NULs inside counted */
#define LIT(x) x, sizeof(x) - 1

static const char forged[] = "spiffe://cluster.local/ns/a\nclass=mesh_mtls "
                             "peer=spiffe://cluster.local/ns/istio-system/sa/admin";

/* ---- text --------------------------------------------------------------- */

START_TEST(test_text_leaves_plain_text_alone)
{
    char out[128];

    ck_assert_int_eq(run(sc_escape_text, LIT("spiffe://td/ns/a/sa/b x=1 \"q\""), out, sizeof out),
                     0);
    ck_assert_str_eq(out, "spiffe://td/ns/a/sa/b x=1 \"q\"");
}
END_TEST

START_TEST(test_text_escapes_newline_so_no_line_is_forged)
{
    char out[256];

    run(sc_escape_text, forged, strlen(forged), out, sizeof out);
    ck_assert_ptr_null(strchr(out, '\n'));
    ck_assert_str_eq(out, "spiffe://cluster.local/ns/a\\x0Aclass=mesh_mtls "
                          "peer=spiffe://cluster.local/ns/istio-system/sa/admin");
}
END_TEST

START_TEST(test_text_escapes_controls_del_and_backslash)
{
    char out[128];

    run(sc_escape_text, LIT("a\r\tb\x1b[31m\x7f\\x0A"), out, sizeof out);
    ck_assert_str_eq(out, "a\\x0D\\x09b\\x1B[31m\\x7F\\x5Cx0A");
}
END_TEST

START_TEST(test_text_escapes_nul)
{
    char out[32];

    run(sc_escape_text, LIT("a\0b"), out, sizeof out);
    ck_assert_str_eq(out, "a\\x00b");
}
END_TEST

START_TEST(test_text_keeps_utf8_escapes_invalid_bytes_and_c1)
{
    char out[128];

    /* é, then a lone continuation byte, an overlong '/', a surrogate, a
     * truncated sequence, and U+0085 (NEL, a C1 control) */
    run(sc_escape_text, LIT("\xc3\xa9|\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x82|\xc2\x85"), out,
        sizeof out);
    ck_assert_str_eq(out, "\xc3\xa9|\\x80|\\xC0\\xAF|\\xED\\xA0\\x80|\\xE2\\x82|\\xC2\\x85");
}
END_TEST

START_TEST(test_text_never_splits_an_escape)
{
    char out[6];

    /* "ab" + "\x0A" needs 6 bytes and a NUL: the escape is left out whole */
    ck_assert_int_eq(run(sc_escape_text, LIT("ab\ncd"), out, sizeof out), 1);
    ck_assert_str_eq(out, "ab");
}
END_TEST

START_TEST(test_text_never_splits_a_utf8_sequence)
{
    char out[3];

    ck_assert_int_eq(run(sc_escape_text, LIT("a\xc3\xa9"), out, sizeof out), 1);
    ck_assert_str_eq(out, "a");
}
END_TEST

START_TEST(test_text_str_reads_null_as_dash_and_truncates)
{
    char out[8];

    ck_assert_str_eq(sc_escape_text_str(NULL, out, sizeof out), "-");
    ck_assert_str_eq(sc_escape_text_str("abc\ndefgh", out, sizeof out), "abc\\x0A");
    ck_assert_str_eq(sc_escape_text_str("abcd\nefgh", out, sizeof out), "abcd");
    ck_assert_str_eq(sc_escape_text_str("abcdefghij", out, sizeof out), "abcdefg");
    ck_assert_ptr_eq(sc_escape_text_str("x", out, 0), out);
}
END_TEST

/* ---- JSON --------------------------------------------------------------- */

START_TEST(test_json_escapes_quote_backslash_and_controls)
{
    char out[128];

    run(sc_escape_json, LIT("q\"b\\c\n\t\x01\x7f"), out, sizeof out);
    ck_assert_str_eq(out, "q\\\"b\\\\c\\u000A\\u0009\\u0001\\u007F");
}
END_TEST

START_TEST(test_json_keeps_utf8_and_reads_invalid_bytes_as_latin1)
{
    char out[128];

    run(sc_escape_json, LIT("\xc3\xa9\xff\xc3"), out, sizeof out);
    ck_assert_str_eq(out, "\xc3\xa9\\u00FF\\u00C3");
}
END_TEST

START_TEST(test_json_never_splits_an_escape)
{
    char out[8];

    ck_assert_int_eq(run(sc_escape_json, LIT("ab\n"), out, sizeof out), 1);
    ck_assert_str_eq(out, "ab");
}
END_TEST

START_TEST(test_json_forged_line_stays_one_string)
{
    char out[256];

    run(sc_escape_json, forged, strlen(forged), out, sizeof out);
    ck_assert_ptr_null(strchr(out, '\n'));
    ck_assert_ptr_nonnull(strstr(out, "ns/a\\u000Aclass="));
}
END_TEST

/* ---- Prometheus label ------------------------------------------------------ */

START_TEST(test_prom_label_escapes_the_three)
{
    char out[64];

    run(sc_escape_prom_label, LIT("CN=a\\,b \"c\"\nd"), out, sizeof out);
    ck_assert_str_eq(out, "CN=a\\\\,b \\\"c\\\"\\nd");
}
END_TEST

START_TEST(test_prom_label_replaces_what_it_cannot_carry)
{
    char out[64];

    run(sc_escape_prom_label,
        LIT("a\rb\xff"
            "c\xc3\xa9"),
        out, sizeof out);
    ck_assert_str_eq(out, "a\xef\xbf\xbd"
                          "b\xef\xbf\xbd"
                          "c\xc3\xa9");
}
END_TEST

START_TEST(test_prom_label_never_splits_an_escape)
{
    char out[4];

    ck_assert_int_eq(run(sc_escape_prom_label, LIT("ab\""), out, sizeof out), 1);
    ck_assert_str_eq(out, "ab");
}
END_TEST

/* ---- evbuffer adapter ------------------------------------------------------ */

START_TEST(test_evbuffer_appends_whole_value)
{
    struct evbuffer *b = evbuffer_new();
    char big[3000], out[20000];
    size_t n;

    memset(big, '\n', sizeof big);
    ck_assert_int_eq(sc_escape_evbuffer(b, sc_escape_json, big, sizeof big), 0);
    n = evbuffer_get_length(b);
    ck_assert_uint_eq(n, sizeof big * 6);
    evbuffer_remove(b, out, n);
    ck_assert_int_eq(memcmp(out, "\\u000A\\u000A", 12), 0);
    ck_assert_int_eq(sc_escape_evbuffer(b, sc_escape_text, "", 0), 0);
    ck_assert_uint_eq(evbuffer_get_length(b), 0);
    evbuffer_free(b);
}
END_TEST

static Suite *escape_suite(void)
{
    Suite *s = suite_create("escape");
    TCase *text = tcase_create("sc_escape_text");
    TCase *json = tcase_create("sc_escape_json");
    TCase *prom = tcase_create("sc_escape_prom_label");
    TCase *evb = tcase_create("sc_escape_evbuffer");

    tcase_add_test(text, test_text_leaves_plain_text_alone);
    tcase_add_test(text, test_text_escapes_newline_so_no_line_is_forged);
    tcase_add_test(text, test_text_escapes_controls_del_and_backslash);
    tcase_add_test(text, test_text_escapes_nul);
    tcase_add_test(text, test_text_keeps_utf8_escapes_invalid_bytes_and_c1);
    tcase_add_test(text, test_text_never_splits_an_escape);
    tcase_add_test(text, test_text_never_splits_a_utf8_sequence);
    tcase_add_test(text, test_text_str_reads_null_as_dash_and_truncates);
    tcase_add_test(json, test_json_escapes_quote_backslash_and_controls);
    tcase_add_test(json, test_json_keeps_utf8_and_reads_invalid_bytes_as_latin1);
    tcase_add_test(json, test_json_never_splits_an_escape);
    tcase_add_test(json, test_json_forged_line_stays_one_string);
    tcase_add_test(prom, test_prom_label_escapes_the_three);
    tcase_add_test(prom, test_prom_label_replaces_what_it_cannot_carry);
    tcase_add_test(prom, test_prom_label_never_splits_an_escape);
    tcase_add_test(evb, test_evbuffer_appends_whole_value);
    suite_add_tcase(s, text);
    suite_add_tcase(s, json);
    suite_add_tcase(s, prom);
    suite_add_tcase(s, evb);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(escape_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
