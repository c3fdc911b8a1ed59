#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yamlcfg.h"

static struct sc_yaml_stream *parse(const char *text, struct sc_err *err)
{
    memset(err, 0, sizeof(*err));
    return sc_yaml_parse("t.yaml", text, strlen(text), err);
}

/* Asserts that text fails at line:col with msg somewhere in the message. */
static void expect_fail(const char *text, int line, int col, const char *msg)
{
    struct sc_err err;
    struct sc_yaml_stream *s = parse(text, &err);

    ck_assert_ptr_null(s);
    ck_assert_str_eq(err.file, "t.yaml");
    ck_assert_msg(strstr(err.msg, msg) != NULL, "message \"%s\" lacks \"%s\"", err.msg, msg);
    ck_assert_int_eq(err.line, line);
    ck_assert_int_eq(err.col, col);
}

START_TEST(test_yaml_parse_records_positions)
{
    struct sc_err err;
    struct sc_yaml_stream *s = parse("a: 1\nb:\n  - x\n  - {c: \"q\"}\n", &err);
    const struct sc_yaml_node *root;
    const struct sc_yaml_node *b;
    const struct sc_yaml_node *c;

    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->n_docs, 1);
    root = s->docs[0];
    ck_assert_int_eq(root->kind, SC_YAML_MAP);
    ck_assert_uint_eq(root->n, 2);
    ck_assert_str_eq(root->keys[0]->str, "a");
    ck_assert_int_eq(root->keys[0]->line, 1);
    ck_assert_int_eq(root->keys[0]->col, 1);
    ck_assert_str_eq(sc_yaml_get(root, "a")->str, "1");
    ck_assert_int_eq(sc_yaml_get(root, "a")->col, 4);
    ck_assert_int_eq(sc_yaml_get(root, "a")->quoted, 0);
    b = sc_yaml_get(root, "b");
    ck_assert_int_eq(b->kind, SC_YAML_SEQ);
    ck_assert_uint_eq(b->n, 2);
    ck_assert_int_eq(b->items[0]->line, 3);
    ck_assert_int_eq(b->items[0]->col, 5);
    ck_assert_int_eq(b->items[1]->kind, SC_YAML_MAP);
    ck_assert_int_eq(b->items[1]->line, 4);
    ck_assert_int_eq(b->items[1]->col, 5);
    c = sc_yaml_get(b->items[1], "c");
    ck_assert_str_eq(c->str, "q");
    ck_assert_int_eq(c->quoted, 1);
    ck_assert_int_eq(c->col, 9);
    ck_assert_str_eq(c->file, "t.yaml");
    ck_assert_ptr_eq(sc_yaml_get_key(root, "b"), root->keys[1]);
    ck_assert_ptr_null(sc_yaml_get(root, "zz"));
    ck_assert_ptr_null(sc_yaml_get(b, "a"));
    sc_yaml_free(s);
}
END_TEST

START_TEST(test_yaml_parse_multi_document_drops_empty)
{
    struct sc_err err;
    struct sc_yaml_stream *s =
        parse("---\n---\na: 1\n---\n# only a comment\n---\n- x\n---\n", &err);

    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->n_docs, 2);
    ck_assert_int_eq(s->docs[0]->kind, SC_YAML_MAP);
    ck_assert_int_eq(s->docs[0]->line, 3);
    ck_assert_int_eq(s->docs[1]->kind, SC_YAML_SEQ);
    ck_assert_int_eq(s->docs[1]->line, 7);
    sc_yaml_free(s);
}
END_TEST

START_TEST(test_yaml_parse_empty_stream)
{
    struct sc_err err;
    struct sc_yaml_stream *s = parse("", &err);

    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->n_docs, 0);
    sc_yaml_free(s);
}
END_TEST

START_TEST(test_yaml_parse_str_tag_is_quoted)
{
    struct sc_err err;
    struct sc_yaml_stream *s = parse("a: !!str 8080\nb: |\n  text\n", &err);

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(sc_yaml_get(s->docs[0], "a")->quoted, 1);
    ck_assert_str_eq(sc_yaml_get(s->docs[0], "b")->str, "text\n");
    ck_assert_int_eq(sc_yaml_get(s->docs[0], "b")->quoted, 1);
    sc_yaml_free(s);
}
END_TEST

START_TEST(test_yaml_parse_depth_64_is_accepted)
{
    char text[256];
    struct sc_err err;
    struct sc_yaml_stream *s;

    memset(text, 0, sizeof(text));
    memset(text, '[', 64);
    memset(text + 64, ']', 64);
    s = parse(text, &err);
    ck_assert_ptr_nonnull(s);
    sc_yaml_free(s);
}
END_TEST

START_TEST(test_yaml_parse_refuses_depth_65)
{
    char text[256];

    memset(text, 0, sizeof(text));
    memset(text, '[', 65);
    memset(text + 65, ']', 65);
    expect_fail(text, 1, 65, "deeper than 64");
}
END_TEST

START_TEST(test_yaml_parse_refuses_unclosed_deep_nesting)
{
    /* a million '[' never closed: refused at depth 65, without reading on */
    size_t n = 1000000;
    char *text = malloc(n + 1);
    struct sc_err err;

    memset(text, '[', n);
    text[n] = '\0';
    ck_assert_ptr_null(sc_yaml_parse("t.yaml", text, n, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "deeper than 64"));
    free(text);
}
END_TEST

START_TEST(test_yaml_parse_refuses_alias)
{
    expect_fail("a: &x 1\nb: *x\n", 1, 4, "anchors (&) and aliases (*) are not supported");
}
END_TEST

START_TEST(test_yaml_parse_refuses_alias_without_anchor_on_scalar)
{
    expect_fail("a: [1, *x]\n", 1, 8, "not supported");
}
END_TEST

START_TEST(test_yaml_parse_refuses_anchor_on_mapping)
{
    expect_fail("a: &m {b: 1}\n", 1, 4, "anchors");
}
END_TEST

START_TEST(test_yaml_parse_refuses_other_tags)
{
    expect_fail("a: !!binary aGVsbG8=\n", 1, 4, "unsupported YAML tag tag:yaml.org,2002:binary");
    expect_fail("a: !custom {b: 1}\n", 1, 4, "unsupported YAML tag !custom");
}
END_TEST

START_TEST(test_yaml_parse_refuses_duplicate_keys)
{
    expect_fail("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key \"a\" (first at line 1, column 1)");
}
END_TEST

START_TEST(test_yaml_parse_refuses_complex_keys)
{
    expect_fail("? [a, b]\n: 1\n", 1, 3, "mapping keys must be plain strings, not a list");
}
END_TEST

START_TEST(test_yaml_parse_refuses_nul_escape)
{
    expect_fail("a: \"x\\0y\"\n", 1, 4, "NUL characters");
}
END_TEST

START_TEST(test_yaml_parse_reports_syntax_error_position)
{
    expect_fail("a: 1\nb: [1, 2\nc: 3\n", 3, 2,
                "YAML syntax error: did not find expected ',' or ']'");
}
END_TEST

START_TEST(test_yaml_parse_reports_bad_indentation)
{
    expect_fail("a:\n  b: 1\n c: 2\n", 3, 2, "YAML syntax error");
}
END_TEST

START_TEST(test_yaml_parse_reports_invalid_utf8)
{
    expect_fail("a: 1\nb: \xff\n", 2, 4, "YAML syntax error: invalid leading UTF-8 octet");
}
END_TEST

START_TEST(test_yaml_parse_refuses_embedded_nul_byte)
{
    struct sc_err err;
    struct sc_yaml_stream *s = sc_yaml_parse("t.yaml", "a: 1\0b", 6, &err);

    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err.msg, "control characters are not allowed"));
    ck_assert_int_eq(err.line, 1);
}
END_TEST

START_TEST(test_yaml_parse_refuses_oversized_input)
{
    size_t n = SC_YAML_MAX_BYTES + 1;
    char *text = malloc(n);
    struct sc_err err;

    memset(text, '#', n);
    ck_assert_ptr_null(sc_yaml_parse("t.yaml", text, n, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "larger than"));
    free(text);
}
END_TEST

START_TEST(test_yaml_parse_refuses_too_many_nodes)
{
    size_t n = (SC_YAML_MAX_NODES + 10) * 2 + 3;
    char *text = malloc(n);
    struct sc_err err;
    size_t off = 0;

    text[off++] = '[';
    for (size_t i = 0; i < SC_YAML_MAX_NODES + 10; i++) {
        text[off++] = '1';
        text[off++] = ',';
    }
    text[off++] = ']';
    ck_assert_ptr_null(sc_yaml_parse("t.yaml", text, off, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "too many YAML nodes"));
    free(text);
}
END_TEST

START_TEST(test_yaml_parse_file_reads_and_names_file)
{
    char path[] = "/tmp/test_yamlcfg_XXXXXX";
    int fd = mkstemp(path);
    struct sc_err err;
    struct sc_yaml_stream *s;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "k: v\n", 5), 5);
    close(fd);
    s = sc_yaml_parse_file(path, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->docs[0]->file, path);
    ck_assert_str_eq(sc_yaml_get(s->docs[0], "k")->str, "v");
    sc_yaml_free(s);
    unlink(path);
}
END_TEST

START_TEST(test_yaml_parse_file_reports_missing_file)
{
    struct sc_err err;

    ck_assert_ptr_null(sc_yaml_parse_file("/nonexistent/x.yaml", &err));
    ck_assert_str_eq(err.file, "/nonexistent/x.yaml");
    ck_assert_str_eq(err.msg, "cannot read /nonexistent/x.yaml: No such file or directory");
    ck_assert_int_eq(err.line, 0);
}
END_TEST

START_TEST(test_yaml_parse_file_reports_directory)
{
    struct sc_err err;

    ck_assert_ptr_null(sc_yaml_parse_file("/tmp", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "Is a directory"));
}
END_TEST

START_TEST(test_yaml_is_null_and_kind_names)
{
    struct sc_err err;
    struct sc_yaml_stream *s =
        parse("a:\nb: ~\nc: null\nd: \"\"\ne: 'null'\nf: x\ng: []\nh: {}\n", &err);
    const struct sc_yaml_node *r;

    ck_assert_ptr_nonnull(s);
    r = s->docs[0];
    ck_assert_int_eq(sc_yaml_is_null(NULL), 1);
    ck_assert_int_eq(sc_yaml_is_null(sc_yaml_get(r, "a")), 1);
    ck_assert_int_eq(sc_yaml_is_null(sc_yaml_get(r, "b")), 1);
    ck_assert_int_eq(sc_yaml_is_null(sc_yaml_get(r, "c")), 1);
    ck_assert_int_eq(sc_yaml_is_null(sc_yaml_get(r, "d")), 0);
    ck_assert_int_eq(sc_yaml_is_null(sc_yaml_get(r, "e")), 0);
    ck_assert_str_eq(sc_yaml_kind_name(sc_yaml_get(r, "a")), "null");
    ck_assert_str_eq(sc_yaml_kind_name(sc_yaml_get(r, "f")), "a string");
    ck_assert_str_eq(sc_yaml_kind_name(sc_yaml_get(r, "g")), "a list");
    ck_assert_str_eq(sc_yaml_kind_name(sc_yaml_get(r, "h")), "a mapping");
    sc_yaml_free(s);
}
END_TEST

START_TEST(test_yaml_free_accepts_null)
{
    sc_yaml_free(NULL);
}
END_TEST

static Suite *yamlcfg_suite(void)
{
    Suite *s = suite_create("yamlcfg");
    TCase *tc = tcase_create("sc_yaml_parse");
    TCase *tf = tcase_create("sc_yaml_parse_file");
    TCase *th = tcase_create("helpers");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_yaml_parse_records_positions);
    tcase_add_test(tc, test_yaml_parse_multi_document_drops_empty);
    tcase_add_test(tc, test_yaml_parse_empty_stream);
    tcase_add_test(tc, test_yaml_parse_str_tag_is_quoted);
    tcase_add_test(tc, test_yaml_parse_depth_64_is_accepted);
    tcase_add_test(tc, test_yaml_parse_refuses_depth_65);
    tcase_add_test(tc, test_yaml_parse_refuses_unclosed_deep_nesting);
    tcase_add_test(tc, test_yaml_parse_refuses_alias);
    tcase_add_test(tc, test_yaml_parse_refuses_alias_without_anchor_on_scalar);
    tcase_add_test(tc, test_yaml_parse_refuses_anchor_on_mapping);
    tcase_add_test(tc, test_yaml_parse_refuses_other_tags);
    tcase_add_test(tc, test_yaml_parse_refuses_duplicate_keys);
    tcase_add_test(tc, test_yaml_parse_refuses_complex_keys);
    tcase_add_test(tc, test_yaml_parse_refuses_nul_escape);
    tcase_add_test(tc, test_yaml_parse_reports_syntax_error_position);
    tcase_add_test(tc, test_yaml_parse_reports_bad_indentation);
    tcase_add_test(tc, test_yaml_parse_reports_invalid_utf8);
    tcase_add_test(tc, test_yaml_parse_refuses_embedded_nul_byte);
    tcase_add_test(tc, test_yaml_parse_refuses_oversized_input);
    tcase_add_test(tc, test_yaml_parse_refuses_too_many_nodes);
    suite_add_tcase(s, tc);
    tcase_add_test(tf, test_yaml_parse_file_reads_and_names_file);
    tcase_add_test(tf, test_yaml_parse_file_reports_missing_file);
    tcase_add_test(tf, test_yaml_parse_file_reports_directory);
    suite_add_tcase(s, tf);
    tcase_add_test(th, test_yaml_is_null_and_kind_names);
    tcase_add_test(th, test_yaml_free_accepts_null);
    suite_add_tcase(s, th);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(yamlcfg_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
