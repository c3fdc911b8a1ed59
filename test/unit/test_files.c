/* Unit tests for agent/files (reading and validating a certificate
 * directory in either layout) and agent/dirwatch (inotify with debounce,
 * Kubernetes' ..data symlink swap). */

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent_certs.h"
#include "ca.h"
#include "dirwatch.h"
#include "files.h"

#define SPIFFE "spiffe://cluster.local/ns/foo/sa/client"

struct fx {
    char *cadir;
    char *dir;
    X509 *root;
    struct sc_ca *ca;
    struct sc_ca_leaf leaf;
};

static void fx_init(struct fx *f, int64_t now_ms, int64_t lifetime_ms)
{
    struct sc_err err;

    f->cadir = tc_tmpdir();
    f->dir = tc_tmpdir();
    f->root = tc_cacerts(f->cadir, "files", 1);
    f->ca = sc_ca_load(f->cadir, &err);
    ck_assert_msg(f->ca != NULL, "%s", err.msg);
    ck_assert_int_eq(sc_ca_mint(f->ca, SPIFFE, lifetime_ms, now_ms, &f->leaf, &err), 0);
}

static void fx_cleanup(struct fx *f)
{
    sc_ca_leaf_cleanup(&f->leaf);
    sc_ca_free(f->ca);
    X509_free(f->root);
    tc_rmdir(f->cadir);
    tc_rmdir(f->dir);
}

/* writes the set in a layout: names[0..2] = chain, key, roots */
static void put_set(struct fx *f, const char *const names[3])
{
    size_t rlen;
    const char *roots = sc_ca_roots_pem(f->ca, &rlen);

    tc_write_str(f->dir, names[0], f->leaf.chain_pem, f->leaf.chain_len);
    tc_write_str(f->dir, names[1], f->leaf.key_pem, f->leaf.key_len);
    tc_write_str(f->dir, names[2], roots, rlen);
}

static const char *const cm[3] = {"tls.crt", "tls.key", "ca.crt"};
static const char *const istio[3] = {"cert-chain.pem", "key.pem", "root-cert.pem"};

/* ---- sc_files_detect / sc_files_read ------------------------------------ */

START_TEST(test_files_detect_layouts)
{
    struct fx f;

    fx_init(&f, sc_ca_now_ms(), 3600000);
    ck_assert_int_eq(sc_files_detect(f.dir), SC_FILES_UNKNOWN);
    put_set(&f, istio);
    ck_assert_int_eq(sc_files_detect(f.dir), SC_FILES_ISTIO);
    put_set(&f, cm);
    ck_assert_int_eq(sc_files_detect(f.dir), SC_FILES_CERT_MANAGER);
    ck_assert_ptr_nonnull(strstr(sc_files_layout_name(SC_FILES_ISTIO), "cert-chain.pem"));
    fx_cleanup(&f);
}
END_TEST

START_TEST(test_files_read_accepts_both_layouts)
{
    struct fx f;
    struct sc_files_set s;
    struct sc_err err;
    int layout;

    for (layout = 0; layout < 2; layout++) {
        fx_init(&f, sc_ca_now_ms(), 3600000);
        put_set(&f, layout == 0 ? cm : istio);
        ck_assert_msg(sc_files_read(f.dir, time(NULL), &s, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(s.layout, layout == 0 ? SC_FILES_CERT_MANAGER : SC_FILES_ISTIO);
        ck_assert_str_eq(s.serial, f.leaf.serial);
        ck_assert_int_eq(s.not_after, f.leaf.not_after);
        ck_assert_int_eq(s.n_roots, 1);
        ck_assert_uint_eq(s.chain_len, f.leaf.chain_len);
        ck_assert_uint_eq(s.key_len, f.leaf.key_len);
        sc_files_set_cleanup(&s);
        sc_files_set_cleanup(&s);
        fx_cleanup(&f);
    }
}
END_TEST

START_TEST(test_files_read_refuses_mismatched_pair)
{
    struct fx f;
    struct sc_files_set s;
    struct sc_err err;
    struct sc_ca_leaf other;

    fx_init(&f, sc_ca_now_ms(), 3600000);
    put_set(&f, cm);
    /* the certificate was updated, the key not yet */
    ck_assert_int_eq(sc_ca_mint(f.ca, SPIFFE, 3600000, sc_ca_now_ms(), &other, &err), 0);
    tc_write_str(f.dir, "tls.crt", other.chain_pem, other.chain_len);
    ck_assert_int_eq(sc_files_read(f.dir, time(NULL), &s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "tls.key: key does not match the certificate"));
    ck_assert_ptr_null(s.chain);
    sc_ca_leaf_cleanup(&other);
    fx_cleanup(&f);
}
END_TEST

START_TEST(test_files_read_refuses_expired_leaf)
{
    struct fx f;
    struct sc_files_set s;
    struct sc_err err;

    fx_init(&f, sc_ca_now_ms() - 7200000, 3600000); /* expired an hour ago */
    put_set(&f, istio);
    ck_assert_int_eq(sc_files_read(f.dir, time(NULL), &s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "cert-chain.pem: certificate expired at"));
    /* without a clock the same set reads */
    ck_assert_int_eq(sc_files_read(f.dir, 0, &s, &err), 0);
    sc_files_set_cleanup(&s);
    fx_cleanup(&f);
}
END_TEST

START_TEST(test_files_read_refuses_foreign_roots)
{
    struct fx f;
    struct sc_files_set s;
    struct sc_err err;
    char *other = tc_tmpdir();
    X509 *r2 = tc_cacerts(other, "stranger", 0);

    fx_init(&f, sc_ca_now_ms(), 3600000);
    put_set(&f, cm);
    tc_write(f.dir, "ca.crt", &r2, 1, NULL);
    ck_assert_int_eq(sc_files_read(f.dir, time(NULL), &s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "does not lead to any of the 1 trusted root"));
    X509_free(r2);
    tc_rmdir(other);
    fx_cleanup(&f);
}
END_TEST

START_TEST(test_files_read_refuses_broken_and_missing_files)
{
    struct fx f;
    struct sc_files_set s;
    struct sc_err err;
    char path[4200];

    fx_init(&f, sc_ca_now_ms(), 3600000);
    put_set(&f, cm);
    tc_write_str(f.dir, "tls.crt", "-----BEGIN CERTIFICATE-----\ngarbage\n", 37);
    ck_assert_int_eq(sc_files_read(f.dir, time(NULL), &s, &err), -1);
    put_set(&f, cm);
    tc_write_str(f.dir, "tls.key", "not a key", 9);
    ck_assert_int_eq(sc_files_read(f.dir, time(NULL), &s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "tls.key"));
    snprintf(path, sizeof(path), "%s/ca.crt", f.dir);
    unlink(path);
    put_set(&f, cm);
    unlink(path);
    ck_assert_int_eq(sc_files_read(f.dir, time(NULL), &s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "ca.crt: No such file"));
    ck_assert_int_eq(sc_files_read("/nonexistent", time(NULL), &s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "neither tls.crt"));
    fx_cleanup(&f);
}
END_TEST

/* ---- sc_dirwatch -------------------------------------------------------- */

struct wctx {
    struct event_base *base;
    int calls;
};

static void on_change(void *arg)
{
    struct wctx *w = arg;

    w->calls++;
}

static void run_ms(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

START_TEST(test_dirwatch_debounces_a_burst_into_one_call)
{
    char *dir = tc_tmpdir();
    struct wctx w = {event_base_new(), 0};
    struct sc_err err;
    struct sc_dirwatch *dw = sc_dirwatch_new(w.base, dir, 100, on_change, &w, &err);

    ck_assert_ptr_nonnull(dw);
    run_ms(w.base, 50);
    ck_assert_int_eq(w.calls, 0);
    tc_write_str(dir, "tls.crt", "a", 1);
    run_ms(w.base, 50);
    tc_write_str(dir, "tls.key", "b", 1); /* within the quiet period */
    run_ms(w.base, 50);
    ck_assert_int_eq(w.calls, 0);
    run_ms(w.base, 200);
    ck_assert_int_eq(w.calls, 1);
    sc_dirwatch_free(dw);
    event_base_free(w.base);
    tc_rmdir(dir);
}
END_TEST

START_TEST(test_dirwatch_sees_kubernetes_data_swap)
{
    char *dir = tc_tmpdir();
    char a[4200], b[4200], data[4200], tmp[4200], link[4200];
    struct wctx w = {event_base_new(), 0};
    struct sc_err err;
    struct sc_dirwatch *dw;

    /* dir/..2024_a/tls.crt, dir/..data -> ..2024_a, dir/tls.crt -> ..data/tls.crt */
    snprintf(a, sizeof(a), "%s/..2024_a", dir);
    snprintf(b, sizeof(b), "%s/..2024_b", dir);
    snprintf(data, sizeof(data), "%s/..data", dir);
    snprintf(tmp, sizeof(tmp), "%s/..data_tmp", dir);
    snprintf(link, sizeof(link), "%s/tls.crt", dir);
    ck_assert_int_eq(mkdir(a, 0700), 0);
    ck_assert_int_eq(mkdir(b, 0700), 0);
    tc_write_str(a, "tls.crt", "old", 3);
    tc_write_str(b, "tls.crt", "new", 3);
    ck_assert_int_eq(symlink("..2024_a", data), 0);
    ck_assert_int_eq(symlink("..data/tls.crt", link), 0);
    dw = sc_dirwatch_new(w.base, dir, 50, on_change, &w, &err);
    ck_assert_ptr_nonnull(dw);
    run_ms(w.base, 100);
    ck_assert_int_eq(w.calls, 0);
    /* the kubelet's swap: a new symlink renamed over ..data */
    ck_assert_int_eq(symlink("..2024_b", tmp), 0);
    ck_assert_int_eq(rename(tmp, data), 0);
    run_ms(w.base, 200);
    ck_assert_int_eq(w.calls, 1);
    sc_dirwatch_free(dw);
    event_base_free(w.base);
    tc_rmdir(dir);
}
END_TEST

START_TEST(test_dirwatch_waits_for_a_missing_directory)
{
    char *parent = tc_tmpdir();
    char dir[4200];
    struct wctx w = {event_base_new(), 0};
    struct sc_err err;
    struct sc_dirwatch *dw;

    snprintf(dir, sizeof(dir), "%s/later", parent);
    dw = sc_dirwatch_new(w.base, dir, 50, on_change, &w, &err);
    ck_assert_ptr_nonnull(dw); /* not an error */
    run_ms(w.base, 100);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    run_ms(w.base, 1300); /* the 1 s retry finds it */
    ck_assert_int_eq(w.calls, 1);
    tc_write_str(dir, "x", "1", 1);
    run_ms(w.base, 150);
    ck_assert_int_eq(w.calls, 2);
    sc_dirwatch_free(dw);
    sc_dirwatch_free(NULL);
    event_base_free(w.base);
    tc_rmdir(parent);
}
END_TEST

static Suite *files_suite(void)
{
    Suite *s = suite_create("files");
    TCase *tc;

    tc = tcase_create("sc_files_read");
    tcase_add_test(tc, test_files_detect_layouts);
    tcase_add_test(tc, test_files_read_accepts_both_layouts);
    tcase_add_test(tc, test_files_read_refuses_mismatched_pair);
    tcase_add_test(tc, test_files_read_refuses_expired_leaf);
    tcase_add_test(tc, test_files_read_refuses_foreign_roots);
    tcase_add_test(tc, test_files_read_refuses_broken_and_missing_files);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_dirwatch");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_dirwatch_debounces_a_burst_into_one_call);
    tcase_add_test(tc, test_dirwatch_sees_kubernetes_data_swap);
    tcase_add_test(tc, test_dirwatch_waits_for_a_missing_directory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(files_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
