/* Unit tests for common/spiffe: SPIFFE ID parsing (the SPIFFE-ID spec, as
 * go-spiffe's ParseID applies it), trust domain checks, Istio-style
 * principal patterns and /ns/<ns>/sa/<sa> parts. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "spiffe.h"

static int parse(const char *s, struct sc_spiffe_id *out)
{
    return sc_spiffe_parse(s, strlen(s), out);
}

/* ---- sc_spiffe_parse ---------------------------------------------------- */

static const char *const good_ids[] = {
    "spiffe://cluster.local/ns/foo/sa/bar",
    "spiffe://example.org",
    "spiffe://example.org/a",
    "spiffe://trust_domain-1.example/Path.With-Mixed_Case/0",
    "spiffe://a/b/c/d/e/f/g",
    "spiffe://x/...", /* three dots is a name, not a dot segment */
    "spiffe://x/.a",
    "spiffe://x/a..",
    "spiffe://1.2.3.4/ns/n", /* digits and dots are fine */
    "spiffe://td/_-._",
};

START_TEST(test_spiffe_parse_accepts_valid_ids)
{
    struct sc_spiffe_id id;

    ck_assert_msg(parse(good_ids[_i], &id) == 0, "%s", good_ids[_i]);
}
END_TEST

START_TEST(test_spiffe_parse_splits_trust_domain_and_path)
{
    struct sc_spiffe_id id;

    ck_assert_int_eq(parse("spiffe://cluster.local/ns/foo/sa/bar", &id), 0);
    ck_assert_str_eq(id.trust_domain, "cluster.local");
    ck_assert_str_eq(id.path, "/ns/foo/sa/bar");
    ck_assert_int_eq(parse("spiffe://example.org", &id), 0);
    ck_assert_str_eq(id.trust_domain, "example.org");
    ck_assert_str_eq(id.path, "");
}
END_TEST

START_TEST(test_spiffe_parse_uses_len_not_nul)
{
    struct sc_spiffe_id id;
    const char *s = "spiffe://td/ns/a/sa/b-and-more";

    ck_assert_int_eq(sc_spiffe_parse(s, strlen("spiffe://td/ns/a/sa/b"), &id), 0);
    ck_assert_str_eq(id.path, "/ns/a/sa/b");
    ck_assert_int_eq(sc_spiffe_parse(s, strlen("spiffe://td"), &id), 0);
    ck_assert_str_eq(id.path, "");
    ck_assert_int_eq(sc_spiffe_parse(s, strlen("spiffe://td/"), &id), -1);
}
END_TEST

START_TEST(test_spiffe_parse_accepts_max_length)
{
    static char s[SC_SPIFFE_MAX + 2];
    struct sc_spiffe_id id;
    size_t i;

    memcpy(s, "spiffe://td/", 12);
    for (i = 12; i < SC_SPIFFE_MAX; i++) {
        s[i] = (i % 64 == 0) ? '/' : 'a';
    }
    ck_assert_int_eq(sc_spiffe_parse(s, SC_SPIFFE_MAX, &id), 0);
    ck_assert_uint_eq(strlen(id.path), SC_SPIFFE_MAX - 11);
}
END_TEST

START_TEST(test_spiffe_parse_accepts_255_byte_trust_domain)
{
    char s[9 + 255 + 3];
    struct sc_spiffe_id id;

    memcpy(s, "spiffe://", 9);
    memset(s + 9, 'a', 255);
    memcpy(s + 9 + 255, "/x", 3);
    ck_assert_int_eq(parse(s, &id), 0);
    ck_assert_uint_eq(strlen(id.trust_domain), 255);
}
END_TEST

static const char *const bad_ids[] = {
    "",
    "spiffe://", /* no trust domain */
    "spiffe:///path", /* empty trust domain */
    "spiffe:/td/path",
    "spiffe:td/path",
    "SPIFFE://td/path", /* scheme is lowercase */
    "Spiffe://td/path",
    "https://td/path", /* wrong scheme */
    "spiffe//td/path",
    "td/path",
    "spiffe://Cluster.local/ns/foo", /* uppercase trust domain */
    "spiffe://CLUSTER.LOCAL",
    "spiffe://td/", /* trailing slash */
    "spiffe://td/ns/foo/",
    "spiffe://td//ns", /* empty segment */
    "spiffe://td/ns//foo",
    "spiffe://td/.", /* dot segments */
    "spiffe://td/..",
    "spiffe://td/ns/./foo",
    "spiffe://td/ns/../foo",
    "spiffe://td/ns/foo/..",
    "spiffe://td/ns%2Ffoo", /* percent-encoding */
    "spiffe://t%64/ns",
    "spiffe://td:8443/ns/foo", /* port */
    "spiffe://td:/ns",
    "spiffe://user@td/ns", /* userinfo */
    "spiffe://user:pw@td/ns",
    "spiffe://td/ns?x=1", /* query */
    "spiffe://td/ns#frag", /* fragment */
    "spiffe://td?x",
    "spiffe://td#x",
    "spiffe://td/ns foo", /* space */
    "spiffe://t d/ns",
    "spiffe://td/ns/f\xc3\xb6o", /* non-ASCII */
    "spiffe://t\xc3\xb6"
    "d/ns",
    "spiffe://td/ns/a+b",
    "spiffe://td/ns/a~b",
    "spiffe://td/ns/a*b",
    "spiffe://[::1]/ns",
    "spiffe://td\\ns",
    " spiffe://td/ns", /* leading/trailing junk */
    "spiffe://td/ns ",
    "spiffe://td/ns\n",
};

START_TEST(test_spiffe_parse_refuses_invalid_ids)
{
    struct sc_spiffe_id id;

    memset(&id, 'x', sizeof id);
    ck_assert_msg(parse(bad_ids[_i], &id) == -1, "accepted \"%s\"", bad_ids[_i]);
    ck_assert_str_eq(id.trust_domain, "");
    ck_assert_str_eq(id.path, "");
}
END_TEST

START_TEST(test_spiffe_parse_refuses_over_long)
{
    static char s[SC_SPIFFE_MAX + 2];
    size_t i;

    memcpy(s, "spiffe://td/", 12);
    for (i = 12; i <= SC_SPIFFE_MAX; i++) {
        s[i] = 'a';
    }
    ck_assert_int_eq(sc_spiffe_parse(s, SC_SPIFFE_MAX + 1, NULL), -1);
    ck_assert_int_eq(sc_spiffe_parse(s, SC_SPIFFE_MAX, NULL), 0);
    ck_assert_int_eq(sc_spiffe_parse(s, (size_t)-1, NULL), -1);
}
END_TEST

START_TEST(test_spiffe_parse_refuses_256_byte_trust_domain)
{
    char s[9 + 256 + 3];

    memcpy(s, "spiffe://", 9);
    memset(s + 9, 'a', 256);
    memcpy(s + 9 + 256, "/x", 3);
    ck_assert_int_eq(parse(s, NULL), -1);
}
END_TEST

START_TEST(test_spiffe_parse_refuses_embedded_nul)
{
    const char a[] = "spiffe://td/ns\0/sa/x";
    const char b[] = "spiffe://t\0d/ns";
    const char c[] = "spiffe://td\0";

    ck_assert_int_eq(sc_spiffe_parse(a, sizeof a - 1, NULL), -1);
    ck_assert_int_eq(sc_spiffe_parse(b, sizeof b - 1, NULL), -1);
    ck_assert_int_eq(sc_spiffe_parse(c, sizeof c - 1, NULL), -1);
}
END_TEST

START_TEST(test_spiffe_parse_refuses_null_and_short)
{
    ck_assert_int_eq(sc_spiffe_parse(NULL, 10, NULL), -1);
    ck_assert_int_eq(sc_spiffe_parse("spiffe://td", 8, NULL), -1);
    ck_assert_int_eq(sc_spiffe_parse("spiffe://td", 9, NULL), -1);
}
END_TEST

/* ---- sc_spiffe_in_trust_domain ----------------------------------------- */

START_TEST(test_spiffe_in_trust_domain_matches)
{
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://cluster.local/ns/a/sa/b", "cluster.local"),
                     1);
    ck_assert_int_eq(
        sc_spiffe_in_trust_domain("spiffe://cluster.local/ns/a/sa/b", "spiffe://cluster.local"), 1);
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://cluster.local", "cluster.local"), 1);
}
END_TEST

START_TEST(test_spiffe_in_trust_domain_refuses_others)
{
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://cluster.local/ns/a", "cluster"), 0);
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://cluster.local/ns/a", "local"), 0);
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://cluster.local.evil/ns/a", "cluster.local"),
                     0);
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://evil.cluster.local/ns/a", "cluster.local"),
                     0);
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://cluster.local/ns/a", "Cluster.local"), 0);
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://Cluster.local/ns/a", "cluster.local"), 0);
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://cluster.local/ns/a", "cluster.local/"), 0);
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://cluster.local/ns/a", ""), 0);
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://cluster.local/ns/a", "spiffe://"), 0);
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://cluster.local//a", "cluster.local"), 0);
    ck_assert_int_eq(sc_spiffe_in_trust_domain(NULL, "cluster.local"), 0);
    ck_assert_int_eq(sc_spiffe_in_trust_domain("spiffe://cluster.local/ns/a", NULL), 0);
}
END_TEST

/* ---- sc_spiffe_match ----------------------------------------------------- */

START_TEST(test_spiffe_match_accepts_istio_patterns)
{
    const char *id = "spiffe://cluster.local/ns/foo/sa/bar";

    ck_assert_int_eq(sc_spiffe_match(id, id), 1);
    ck_assert_int_eq(sc_spiffe_match("*", id), 1);
    ck_assert_int_eq(sc_spiffe_match("spiffe://cluster.local/ns/foo/*", id), 1);
    ck_assert_int_eq(sc_spiffe_match("spiffe://cluster.local/*", id), 1);
    ck_assert_int_eq(sc_spiffe_match("spiffe://cluster.local/ns/foo/sa/bar*", id), 1);
    ck_assert_int_eq(sc_spiffe_match("*/sa/bar", id), 1);
    ck_assert_int_eq(sc_spiffe_match("*bar", id), 1);
    ck_assert_int_eq(sc_spiffe_match("*spiffe://cluster.local/ns/foo/sa/bar", id), 1);
    /* Istio principals omit the scheme */
    ck_assert_int_eq(sc_spiffe_match("cluster.local/ns/foo/sa/bar", id), 1);
    ck_assert_int_eq(sc_spiffe_match("cluster.local/ns/foo/*", id), 1);
}
END_TEST

START_TEST(test_spiffe_match_refuses_non_matches)
{
    const char *id = "spiffe://cluster.local/ns/foo/sa/bar";

    ck_assert_int_eq(sc_spiffe_match("spiffe://cluster.local/ns/foo/sa/ba", id), 0);
    ck_assert_int_eq(sc_spiffe_match("spiffe://cluster.local/ns/foo/sa/barr", id), 0);
    ck_assert_int_eq(sc_spiffe_match("spiffe://cluster.local/ns/fo/*x", id), 0);
    ck_assert_int_eq(sc_spiffe_match("spiffe://cluster.local/ns/bar/*", id), 0);
    ck_assert_int_eq(sc_spiffe_match("*/sa/baz", id), 0);
    ck_assert_int_eq(sc_spiffe_match("*/sa/bar/extra-long-suffix-beyond-the-id-length", id), 0);
    ck_assert_int_eq(sc_spiffe_match("spiffe://cluster.local/*/sa/bar", id), 0); /* middle */
    ck_assert_int_eq(sc_spiffe_match("**", id), 0);
    ck_assert_int_eq(sc_spiffe_match("*cluster*", id), 0);
    ck_assert_int_eq(sc_spiffe_match("SPIFFE://cluster.local/ns/foo/sa/bar", id), 0);
    ck_assert_int_eq(sc_spiffe_match("cluster.local/ns/bar/*", id), 0);
    ck_assert_int_eq(sc_spiffe_match("", id), 0);
    ck_assert_int_eq(sc_spiffe_match(NULL, id), 0);
}
END_TEST

START_TEST(test_spiffe_match_refuses_invalid_ids)
{
    ck_assert_int_eq(sc_spiffe_match("*", ""), 0);
    ck_assert_int_eq(sc_spiffe_match("*", NULL), 0);
    ck_assert_int_eq(sc_spiffe_match("*", "spiffe://td/ns/../x"), 0);
    ck_assert_int_eq(sc_spiffe_match("spiffe://td/*", "spiffe://td/a%2f"), 0);
    ck_assert_int_eq(sc_spiffe_match("spiffe://TD/x", "spiffe://TD/x"), 0);
    ck_assert_int_eq(sc_spiffe_match("*", "https://td/x"), 0);
}
END_TEST

/* ---- sc_spiffe_match_any ------------------------------------------------- */

START_TEST(test_spiffe_match_any_finds_one)
{
    char a[] = "spiffe://cluster.local/ns/bar/*";
    char b[] = "spiffe://cluster.local/ns/foo/*";
    char *const pats[] = {a, b};

    ck_assert_int_eq(sc_spiffe_match_any(pats, 2, "spiffe://cluster.local/ns/foo/sa/x"), 1);
    ck_assert_int_eq(sc_spiffe_match_any(pats, 2, "spiffe://cluster.local/ns/bar/sa/x"), 1);
}
END_TEST

START_TEST(test_spiffe_match_any_refuses_none_and_empty)
{
    char a[] = "spiffe://cluster.local/ns/bar/*";
    char star[] = "*";
    char *const pats[] = {a};
    char *const any[] = {star};
    char *const nulls[] = {NULL};

    ck_assert_int_eq(sc_spiffe_match_any(pats, 1, "spiffe://cluster.local/ns/foo/sa/x"), 0);
    ck_assert_int_eq(sc_spiffe_match_any(pats, 0, "spiffe://cluster.local/ns/bar/sa/x"), 0);
    ck_assert_int_eq(sc_spiffe_match_any(NULL, 0, "spiffe://cluster.local/ns/bar/sa/x"), 0);
    ck_assert_int_eq(sc_spiffe_match_any(any, 1, "spiffe://cluster.local/ns/bar/sa/"), 0);
    ck_assert_int_eq(sc_spiffe_match_any(nulls, 1, "spiffe://cluster.local/ns/bar/sa/x"), 0);
}
END_TEST

/* ---- sc_spiffe_istio_parts ----------------------------------------------- */

START_TEST(test_spiffe_istio_parts_extracts_ns_and_sa)
{
    struct sc_spiffe_id id;
    char ns[64], sa[64];

    ck_assert_int_eq(parse("spiffe://cluster.local/ns/foo/sa/httpbin", &id), 0);
    ck_assert_int_eq(sc_spiffe_istio_parts(&id, ns, sizeof ns, sa, sizeof sa), 0);
    ck_assert_str_eq(ns, "foo");
    ck_assert_str_eq(sa, "httpbin");
    /* buffers exactly large enough */
    ck_assert_int_eq(sc_spiffe_istio_parts(&id, ns, 4, sa, 8), 0);
    ck_assert_str_eq(ns, "foo");
    ck_assert_str_eq(sa, "httpbin");
}
END_TEST

START_TEST(test_spiffe_istio_parts_refuses_other_shapes)
{
    static const char *const other[] = {
        "spiffe://td",
        "spiffe://td/ns/foo",
        "spiffe://td/ns/foo/sa",
        "spiffe://td/ns/foo/sa/bar/extra",
        "spiffe://td/ns/foo/xx/bar",
        "spiffe://td/xx/foo/sa/bar",
        "spiffe://td/workload/ns/foo/sa/bar",
        "spiffe://td/NS/foo/sa/bar",
        "spiffe://td/ns/sa/bar",
    };
    struct sc_spiffe_id id;
    char ns[64], sa[64];
    size_t i;

    for (i = 0; i < sizeof other / sizeof other[0]; i++) {
        ck_assert_int_eq(parse(other[i], &id), 0);
        ck_assert_msg(sc_spiffe_istio_parts(&id, ns, sizeof ns, sa, sizeof sa) == -1, "%s",
                      other[i]);
    }
}
END_TEST

START_TEST(test_spiffe_istio_parts_refuses_small_buffers)
{
    struct sc_spiffe_id id;
    char ns[64], sa[64];

    ck_assert_int_eq(parse("spiffe://cluster.local/ns/foo/sa/httpbin", &id), 0);
    ck_assert_int_eq(sc_spiffe_istio_parts(&id, ns, 3, sa, sizeof sa), -1);
    ck_assert_int_eq(sc_spiffe_istio_parts(&id, ns, sizeof ns, sa, 7), -1);
    ck_assert_int_eq(sc_spiffe_istio_parts(&id, NULL, 0, sa, sizeof sa), -1);
    ck_assert_int_eq(sc_spiffe_istio_parts(NULL, ns, sizeof ns, sa, sizeof sa), -1);
}
END_TEST

START_TEST(test_spiffe_istio_parts_refuses_unterminated_struct)
{
    struct sc_spiffe_id id;
    char ns[64], sa[64];

    memset(&id, 'a', sizeof id);
    memcpy(id.path, "/ns/a/sa/b", 10); /* no NUL anywhere */
    ck_assert_int_eq(sc_spiffe_istio_parts(&id, ns, sizeof ns, sa, sizeof sa), -1);
}
END_TEST

static Suite *spiffe_suite(void)
{
    Suite *s = suite_create("spiffe");
    TCase *tc;

    tc = tcase_create("sc_spiffe_parse");
    tcase_add_loop_test(tc, test_spiffe_parse_accepts_valid_ids, 0,
                        (int)(sizeof good_ids / sizeof good_ids[0]));
    tcase_add_test(tc, test_spiffe_parse_splits_trust_domain_and_path);
    tcase_add_test(tc, test_spiffe_parse_uses_len_not_nul);
    tcase_add_test(tc, test_spiffe_parse_accepts_max_length);
    tcase_add_test(tc, test_spiffe_parse_accepts_255_byte_trust_domain);
    tcase_add_loop_test(tc, test_spiffe_parse_refuses_invalid_ids, 0,
                        (int)(sizeof bad_ids / sizeof bad_ids[0]));
    tcase_add_test(tc, test_spiffe_parse_refuses_over_long);
    tcase_add_test(tc, test_spiffe_parse_refuses_256_byte_trust_domain);
    tcase_add_test(tc, test_spiffe_parse_refuses_embedded_nul);
    tcase_add_test(tc, test_spiffe_parse_refuses_null_and_short);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_spiffe_in_trust_domain");
    tcase_add_test(tc, test_spiffe_in_trust_domain_matches);
    tcase_add_test(tc, test_spiffe_in_trust_domain_refuses_others);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_spiffe_match");
    tcase_add_test(tc, test_spiffe_match_accepts_istio_patterns);
    tcase_add_test(tc, test_spiffe_match_refuses_non_matches);
    tcase_add_test(tc, test_spiffe_match_refuses_invalid_ids);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_spiffe_match_any");
    tcase_add_test(tc, test_spiffe_match_any_finds_one);
    tcase_add_test(tc, test_spiffe_match_any_refuses_none_and_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_spiffe_istio_parts");
    tcase_add_test(tc, test_spiffe_istio_parts_extracts_ns_and_sa);
    tcase_add_test(tc, test_spiffe_istio_parts_refuses_other_shapes);
    tcase_add_test(tc, test_spiffe_istio_parts_refuses_small_buffers);
    tcase_add_test(tc, test_spiffe_istio_parts_refuses_unterminated_struct);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(spiffe_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
