/* proxy/certs and the runtime's readiness / expiry checks: the table
 * operators read, Envoy's /certs JSON, and expiry arithmetic across a
 * wall-clock jump.  Certificates are made at start by scripts/gen-certs.sh
 * (run from the repository root). */
#include <check.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certs.h"
#include "config.h"
#include "runtime.h"
#include "tlsctx.h"
#include "x509.h"

static char certs[64] = "/tmp/sc-test-certs.XXXXXX";

static char *path(const char *name)
{
    static char buf[4][256];
    static int i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", certs, name);
    return buf[i];
}

static struct sc_tls_material *load(const char *leaf, const char *ca)
{
    char crt[64], key[64];
    struct sc_err err;
    struct sc_tls_material *m;

    snprintf(crt, sizeof(crt), "%s.crt", leaf);
    snprintf(key, sizeof(key), "%s.key", leaf);
    m = sc_tls_material_load(path(crt), path(key), path(ca), 0, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    return m;
}

/* The output of a render function as a new string. */
static char *drain(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);

    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

static char *render_table(const struct sc_tls_material *m, time_t now)
{
    struct evbuffer *b = evbuffer_new();
    struct sc_certs_names names = {"default", "ROOTCA"};

    sc_certs_render_table(m, NULL, &names, now, b);
    return drain(b);
}

START_TEST(test_certs_status_by_time)
{
    ck_assert_str_eq(sc_certs_status(100, 200, 150), "ACTIVE");
    ck_assert_str_eq(sc_certs_status(100, 200, 200), "EXPIRED");
    ck_assert_str_eq(sc_certs_status(100, 200, 500), "EXPIRED");
    ck_assert_str_eq(sc_certs_status(100, 200, 99), "NOT YET VALID");
    ck_assert_str_eq(sc_certs_status(100, 200, 100), "ACTIVE");
}
END_TEST

START_TEST(test_certs_table_warming_without_certificates)
{
    char *t = render_table(NULL, time(NULL));

    ck_assert_ptr_nonnull(strstr(t, "RESOURCE NAME      TYPE           STATUS         VALID CERT  "
                                    "SERIAL NUMBER"));
    ck_assert_ptr_nonnull(strstr(t, "\ndefault            Cert Chain     WARMING        false"));
    ck_assert_ptr_nonnull(strstr(t, "\nROOTCA             CA             WARMING        false"));
    free(t);
}
END_TEST

START_TEST(test_certs_table_one_row_per_root)
{
    struct sc_tls_material *m = load("server", "two-roots.crt");
    char *t = render_table(m, time(NULL));
    const char *p = t;
    int rows = 0;

    while ((p = strstr(p, "\nROOTCA ")) != NULL) {
        rows++;
        p++;
    }
    ck_assert_int_eq(rows, 2);
    ck_assert_ptr_nonnull(strstr(t, "\ndefault            Cert Chain     ACTIVE         true"));
    free(t);
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_certs_table_expired_after_not_after)
{
    struct sc_tls_material *m = load("server", "ca.crt");
    time_t later = sc_x509_not_after(sc_tls_material_leaf(m)) + 1;
    char *t = render_table(m, later);

    ck_assert_ptr_nonnull(strstr(t, "\ndefault            Cert Chain     EXPIRED        false"));
    free(t);
    t = render_table(m, sc_x509_not_before(sc_tls_material_leaf(m)) - 10);
    ck_assert_ptr_nonnull(strstr(t, "\ndefault            Cert Chain     NOT YET VALID  false"));
    free(t);
    sc_tls_material_free(m);
}
END_TEST

static char *render_json(const struct sc_tls_material *m)
{
    struct evbuffer *b = evbuffer_new();

    sc_certs_render_json(m, NULL, time(NULL), b);
    return drain(b);
}

START_TEST(test_certs_json_has_envoy_fields)
{
    struct sc_tls_material *m = load("server", "ca.crt");
    char *s = render_json(m);

    ck_assert_ptr_nonnull(strstr(s, "{\"certificates\":[{\"ca_cert\":[{\"path\":\"<inline>\","
                                    "\"serial_number\":\""));
    ck_assert_ptr_nonnull(strstr(s, "\"cert_chain\":[{"));
    ck_assert_ptr_nonnull(strstr(s, "{\"uri\":\"spiffe://cluster.local/ns/bar/sa/server\"}"));
    ck_assert_ptr_nonnull(strstr(s, "\"days_until_expiration\":\""));
    ck_assert_ptr_nonnull(strstr(s, "\"valid_from\":\""));
    ck_assert_ptr_nonnull(strstr(s, "\"expiration_time\":\""));
    free(s);
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_certs_table_has_an_intermediate_row)
{
    struct sc_tls_material *m = load("int-client", "ca.crt");
    char *t = render_table(m, time(NULL));

    ck_assert_ptr_nonnull(strstr(t, "\ndefault            Cert Chain     ACTIVE         true"));
    ck_assert_ptr_nonnull(strstr(t, "\ndefault            Intermediate   ACTIVE         true"));
    ck_assert_ptr_nonnull(strstr(t, "\nROOTCA             CA             ACTIVE         true"));
    free(t);
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_certs_table_no_intermediate_row_without_one)
{
    struct sc_tls_material *m = load("server", "ca.crt");
    char *t = render_table(m, time(NULL));

    ck_assert_ptr_null(strstr(t, "Intermediate"));
    free(t);
    sc_tls_material_free(m);
}
END_TEST

static char *render_prometheus(const struct sc_tls_material *m)
{
    struct evbuffer *b = evbuffer_new();
    struct sc_certs_names names = {"default", "ROOTCA"};

    sc_certs_render_prometheus(m, NULL, &names, time(NULL), b);
    return drain(b);
}

START_TEST(test_certs_prometheus_labels_each_role)
{
    struct sc_tls_material *m = load("int-client", "two-roots.crt");
    char *s = render_prometheus(m);
    const char *p = s;
    int roots = 0;

    ck_assert_ptr_nonnull(strstr(s, "{resource=\"default\",role=\"leaf\",serial=\""));
    ck_assert_ptr_nonnull(strstr(s, "{resource=\"default\",role=\"intermediate\",serial=\""));
    while ((p = strstr(p, "{resource=\"ROOTCA\",role=\"root\",serial=\"")) != NULL) {
        roots++;
        p++;
    }
    ck_assert_int_eq(roots, 2);
    free(s);
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_certs_prometheus_no_series_without_certificates)
{
    char *s = render_prometheus(NULL);

    ck_assert_ptr_nonnull(
        strstr(s, "# TYPE sidecar_certificate_expiration_timestamp_seconds gauge"));
    ck_assert_ptr_null(strstr(s, "{resource="));
    free(s);
}
END_TEST

START_TEST(test_certs_json_gives_each_role)
{
    struct sc_tls_material *m = load("int-client", "ca.crt");
    char *s = render_json(m);

    ck_assert_ptr_nonnull(strstr(s, "\"role\":\"root\"}],\"cert_chain\":[{"));
    ck_assert_ptr_nonnull(strstr(s, "\"role\":\"leaf\"},{"));
    ck_assert_ptr_nonnull(strstr(s, "\"role\":\"intermediate\"}]}]}"));
    ck_assert_ptr_null(strstr(s, "\"resource\""));
    free(s);
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_certs_json_empty_without_certificates)
{
    struct evbuffer *b = evbuffer_new();
    char s[64] = "";

    sc_certs_render_json(NULL, NULL, time(NULL), b);
    evbuffer_remove(b, s, sizeof(s) - 1);
    ck_assert_str_eq(s, "{\"certificates\":[]}\n");
    evbuffer_free(b);
}
END_TEST

START_TEST(test_material_problem_follows_the_clock)
{
    struct sc_tls_material *m = load("server", "ca.crt");
    X509 *leaf = sc_tls_material_leaf(m);
    char buf[256];

    ck_assert_ptr_null(sc_tls_material_problem(m, time(NULL), buf, sizeof(buf)));
    /* A jump forward past notAfter (a suspended laptop, a fixed clock). */
    ck_assert_ptr_nonnull(
        sc_tls_material_problem(m, sc_x509_not_after(leaf) + 3600, buf, sizeof(buf)));
    ck_assert_ptr_nonnull(strstr(buf, "workload certificate expired at "));
    /* And back: fine again. */
    ck_assert_ptr_null(sc_tls_material_problem(m, time(NULL), buf, sizeof(buf)));
    ck_assert_ptr_nonnull(
        sc_tls_material_problem(m, sc_x509_not_before(leaf) - 60, buf, sizeof(buf)));
    ck_assert_ptr_nonnull(strstr(buf, "not valid before"));
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_material_problem_names_an_expired_root)
{
    struct sc_tls_material *m = load("old-server", "old-ca.crt");
    char buf[256];

    ck_assert_ptr_nonnull(sc_tls_material_problem(m, time(NULL), buf, sizeof(buf)));
    ck_assert_ptr_nonnull(strstr(buf, "no valid root CA left: root CA CN=old expired at "));
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_material_problem_none_with_a_valid_root_left)
{
    struct sc_tls_material *m = load("server", "old-and-mesh.crt");
    char buf[256];

    ck_assert_ptr_null(sc_tls_material_problem(m, time(NULL), buf, sizeof(buf)));
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_material_problem_says_no_valid_leaf)
{
    struct sc_tls_material *m = load("server", "old-and-mesh.crt");
    time_t na = sc_x509_not_after(sc_tls_material_leaf(m));
    char buf[512];

    ck_assert_ptr_nonnull(sc_tls_material_problem(m, na, buf, sizeof(buf)));
    ck_assert_ptr_nonnull(strstr(buf, "no valid leaf: workload certificate expired at "));
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_material_refuses_expired_leaf_at_now)
{
    struct sc_err err;
    struct sc_tls_material *m = sc_tls_material_load(
        path("expired-client.crt"), path("expired-client.key"), path("ca.crt"), time(NULL), &err);

    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err.msg, "certificate expired at "));
}
END_TEST

START_TEST(test_runtime_readiness_reasons)
{
    struct event_base *base = event_base_new();
    struct sc_config *cfg = NULL;
    struct sc_err err;
    char yaml[1024], buf[512];
    struct sc_runtime *rt;

    snprintf(yaml, sizeof(yaml), "secrets: {cert_chain: %s, private_key: %s, trusted_ca: %s}\n",
             path("server.crt"), path("server.key"), path("ca.crt"));
    ck_assert_int_eq(sc_config_load_string("t.yaml", yaml, &cfg, &err), 0);
    rt = sc_runtime_new(base, cfg);
    ck_assert_ptr_nonnull(sc_runtime_not_ready(rt, time(NULL), buf, sizeof(buf)));
    ck_assert_ptr_nonnull(strstr(buf, "waiting for certificates (files)"));
    sc_runtime_count_rejected(rt, "key does not match");
    sc_runtime_not_ready(rt, time(NULL), buf, sizeof(buf));
    ck_assert_ptr_nonnull(strstr(buf, "last set refused: key does not match"));
    ck_assert_int_eq(sc_runtime_counters(rt)->secrets_rejected, 1);
    sc_runtime_free(rt);
    event_base_free(base);
}
END_TEST

static void setup_certs(void)
{
    char cmd[1024];

    if (mkdtemp(certs) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(
        cmd, sizeof(cmd),
        "scripts/gen-certs.sh mesh '%s' >/dev/null && "
        "scripts/gen-certs.sh ca '%s' old --expired >/dev/null && "
        "scripts/gen-certs.sh leaf '%s' old old-server spiffe://cluster.local/ns/bar/sa/server "
        ">/dev/null && cat '%s/ca.crt' '%s/foo-ca.crt' > '%s/two-roots.crt' && "
        "cat '%s/old-ca.crt' '%s/ca.crt' > '%s/old-and-mesh.crt'",
        certs, certs, certs, certs, certs, certs, certs, certs, certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "making certificates failed (run from the repository root)\n");
        exit(1);
    }
}

static void cleanup_certs(void)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", certs);
    }
}

int main(void)
{
    Suite *s = suite_create("certs");
    TCase *tc;
    SRunner *sr;
    int failed;

    setup_certs();
    tc = tcase_create("sc_certs_status");
    tcase_add_test(tc, test_certs_status_by_time);
    suite_add_tcase(s, tc);
    tc = tcase_create("sc_certs_render_table");
    tcase_add_test(tc, test_certs_table_warming_without_certificates);
    tcase_add_test(tc, test_certs_table_one_row_per_root);
    tcase_add_test(tc, test_certs_table_expired_after_not_after);
    tcase_add_test(tc, test_certs_table_has_an_intermediate_row);
    tcase_add_test(tc, test_certs_table_no_intermediate_row_without_one);
    suite_add_tcase(s, tc);
    tc = tcase_create("sc_certs_render_prometheus");
    tcase_add_test(tc, test_certs_prometheus_labels_each_role);
    tcase_add_test(tc, test_certs_prometheus_no_series_without_certificates);
    suite_add_tcase(s, tc);
    tc = tcase_create("sc_certs_render_json");
    tcase_add_test(tc, test_certs_json_has_envoy_fields);
    tcase_add_test(tc, test_certs_json_empty_without_certificates);
    tcase_add_test(tc, test_certs_json_gives_each_role);
    suite_add_tcase(s, tc);
    tc = tcase_create("sc_tls_material_problem");
    tcase_add_test(tc, test_material_problem_follows_the_clock);
    tcase_add_test(tc, test_material_problem_names_an_expired_root);
    tcase_add_test(tc, test_material_problem_none_with_a_valid_root_left);
    tcase_add_test(tc, test_material_problem_says_no_valid_leaf);
    tcase_add_test(tc, test_material_refuses_expired_leaf_at_now);
    suite_add_tcase(s, tc);
    tc = tcase_create("sc_runtime_not_ready");
    tcase_add_test(tc, test_runtime_readiness_reasons);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    cleanup_certs();
    return failed == 0 ? 0 : 1;
}
