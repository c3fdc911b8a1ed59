/* Unit tests for agent/agentadmin: what /healthz/ready and /stats/prometheus
 * say about a ca source, before and after its CA directory loads, and how
 * CA subjects are escaped in label values.  The HTTP side is
 * proxy/adminhttp's (test_adminhttp); the endpoints are checked end to end
 * by test/integration/82- and 83-sds-agent-*.sh. */

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "agent_certs.h"
#include "agentadmin.h"
#include "casrc.h"
#include "sdsserver.h"

struct t {
    struct event_base *base;
    char *dir;
    char sock[4200];
    struct sc_sdsserver *srv;
    struct sc_ca_src *ca;
    struct sc_agentadmin_env env;
};

static void setup(struct t *t)
{
    struct sc_sdsserver_opts so;
    uid_t uid = getuid();
    struct sc_err err;

    memset(t, 0, sizeof(*t));
    t->base = event_base_new();
    ck_assert_ptr_nonnull(t->base);
    t->dir = tc_tmpdir();
    snprintf(t->sock, sizeof(t->sock), "%s/sds.sock", t->dir);
    so.path = t->sock;
    so.mode = 0600;
    so.uids = &uid;
    so.n_uids = 1;
    t->srv = sc_sdsserver_new(t->base, &so, &err);
    ck_assert_msg(t->srv != NULL, "%s", err.msg);
    t->env.srv = t->srv;
}

/* Starts a ca source on cadir (which may not hold a CA yet). */
static void start_ca(struct t *t, const char *cadir)
{
    struct sc_ca_src_opts o = {
        cadir,    "spiffe://cluster.local/ns/foo/sa/client", 3600 * 1000, 0.5, 0.05, 3600 * 1000,
        30 * 1000};
    struct sc_err err;

    t->ca = sc_ca_src_new(t->base, &o, t->srv, &err);
    ck_assert_msg(t->ca != NULL, "%s", err.msg);
    t->env.casrc = t->ca;
}

static void teardown(struct t *t)
{
    sc_ca_src_free(t->ca);
    sc_sdsserver_free(t->srv);
    event_base_free(t->base);
    tc_rmdir(t->dir);
}

/* The rendered metrics, NUL-terminated, in out. */
static const char *render(struct t *t, char *out, size_t outlen)
{
    struct evbuffer *b = evbuffer_new();
    size_t n;

    sc_agentadmin_render_prometheus(&t->env, time(NULL), b);
    n = evbuffer_get_length(b);
    ck_assert_uint_lt(n, outlen);
    evbuffer_remove(b, out, n);
    out[n] = '\0';
    evbuffer_free(b);
    return out;
}

START_TEST(test_agentadmin_not_ready_until_the_ca_loads)
{
    struct t t;
    char cadir[2048], why[512], text[16384];
    const char *r;
    X509 *root;

    setup(&t);
    snprintf(cadir, sizeof(cadir), "%s/cacerts", t.dir);
    ck_assert_int_eq(mkdir(cadir, 0700), 0);
    tc_write_str(cadir, "README", "not a CA\n", 9); /* neither layout */
    start_ca(&t, cadir);
    r = sc_agentadmin_not_ready(&t.env, time(NULL), why, sizeof(why));
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(strstr(r, "no CA loaded from ") == r, "%s", r);
    ck_assert_msg(strstr(r, "neither ca-cert.pem nor tls.crt found") != NULL, "%s", r);
    render(&t, text, sizeof(text));
    ck_assert_ptr_nonnull(strstr(text, "\nsds_agent_ready 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nsds_agent_certificates_minted_total 0\n"));
    ck_assert_ptr_null(strstr(text, "sds_agent_ca_expiration_timestamp_seconds{"));

    root = tc_cacerts(cadir, "a", 1);
    sc_ca_src_recheck(t.ca);
    ck_assert_ptr_null(sc_agentadmin_not_ready(&t.env, time(NULL), why, sizeof(why)));
    render(&t, text, sizeof(text));
    ck_assert_ptr_nonnull(strstr(text, "\nsds_agent_ready 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nsds_agent_certificates_minted_total 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nsds_agent_clients 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE sds_agent_pushes_total counter\n"));
    ck_assert_ptr_nonnull(strstr(text, "sds_agent_push_replies_total{result=\"nack\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "sds_agent_ca_expiration_timestamp_seconds"
                                       "{role=\"signing\",subject=\"CN=a-int\""));
    ck_assert_ptr_nonnull(strstr(text, "sds_agent_ca_expiration_timestamp_seconds"
                                       "{role=\"root\",subject=\"CN=a-root\""));
    ck_assert_ptr_nonnull(strstr(text, "sds_agent_certificate_expiration_timestamp_seconds"
                                       "{serial=\""));
    X509_free(root);
    teardown(&t);
}
END_TEST

START_TEST(test_agentadmin_escapes_label_values)
{
    struct t t;
    char cadir[2048], text[16384];
    X509 *root;

    setup(&t);
    snprintf(cadir, sizeof(cadir), "%s/cacerts", t.dir);
    ck_assert_int_eq(mkdir(cadir, 0700), 0);
    root = tc_cacerts(cadir, "q\"b\\s", 0);
    start_ca(&t, cadir);
    render(&t, text, sizeof(text));
    /* the subject as OpenSSL prints it (RFC 2253: CN=q\"b\\s-root), then
     * escaped for the label value */
    ck_assert_msg(strstr(text, "{role=\"signing\",subject=\"CN=q\\\\\\\"b\\\\\\\\s-root\","
                               "serial=") != NULL,
                  "%s", text);
    X509_free(root);
    teardown(&t);
}
END_TEST

static Suite *agentadmin_suite(void)
{
    Suite *s = suite_create("agentadmin");
    TCase *tc = tcase_create("sc_agentadmin");

    tcase_add_test(tc, test_agentadmin_not_ready_until_the_ca_loads);
    tcase_add_test(tc, test_agentadmin_escapes_label_values);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(agentadmin_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
