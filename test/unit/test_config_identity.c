/* common/config_identity.c: the identity check of outbound routes and
 * listeners, the WARN for the ones that accept any identity of our trust
 * domain, and outbound.require_expected_identities. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_load.h"
#include "log.h"

#define SDS "secrets: {sds_socket: /run/sds.sock}\n"

static struct sc_config *load_ok(const char *yaml)
{
    return tc_config_load("t.yaml", yaml);
}

static void expect_err(const char *yaml, int line, int col, const char *msg)
{
    tc_config_expect_err("t.yaml", yaml, line, col, msg);
}

/* Runs sc_config_warn_identities with stderr going to a file; returns its
 * count and what it logged in out (NUL-terminated). */
static size_t warn_into(const struct sc_config *cfg, char *out, size_t len)
{
    FILE *f = tmpfile();
    int saved = dup(STDERR_FILENO);
    size_t n, got;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);
    n = sc_config_warn_identities(cfg);
    ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    rewind(f);
    got = fread(out, 1, len - 1, f);
    out[got] = '\0';
    fclose(f);
    return n;
}

static size_t count_lines(const char *s, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* Every kind of route and listener, none of them refused. */
static const char mixed[] =
    "node: {namespace: foo, trust_domain: example.org}\n" SDS "outbound:\n"
    "  routes:\n"
    "    - {host: reviews.foo.svc.cluster.local}\n" /* 0 */
    "    - {cidr: 10.0.0.0/8, port: 80}\n" /* 1 */
    "    - {host: ratings, expected_identities: [example.org/ns/foo/sa/r]}\n" /* 2 */
    "    - {cidr: 10.1.0.0/16, tls: DISABLE}\n" /* 3 */
    "    - {host: api.example.com, tls: SIMPLE}\n" /* 4 */
    "    - {cidr: 10.2.0.0/16, tls: SIMPLE}\n" /* 5 */
    "    - {host: ext.example.com}\n" /* 6 */
    "    - {host: details}\n" /* 7 */
    "  default: {tls: ISTIO_MUTUAL}\n"
    "listeners:\n"
    "  - {name: in, direction: inbound, address: \"127.0.0.1:1\", port: 80}\n"
    "  - {name: to-bar, direction: outbound, address: \"127.0.0.1:2\", upstream: \"127.0.0.1:3\"}\n"
    "  - {name: to-baz, direction: outbound, address: \"127.0.0.1:4\", upstream: \"127.0.0.1:5\",\n"
    "     expected_identities: [\"spiffe://example.org/ns/baz/*\"]}\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: DestinationRule\n"
    "metadata: {name: ext}\n"
    "spec:\n"
    "  host: ext.example.com\n"
    "  trafficPolicy: {tls: {mode: SIMPLE, subjectAltNames: [ext.example.com]}}\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: DestinationRule\n"
    "metadata: {name: details}\n"
    "spec:\n"
    "  host: details\n"
    "  trafficPolicy:\n"
    "    tls: {mode: ISTIO_MUTUAL,\n"
    "          subjectAltNames: [\"spiffe://example.org/ns/foo/sa/details\"]}\n";

START_TEST(test_idcheck_of_each_kind_of_route_and_listener)
{
    struct sc_config *cfg = load_ok(mixed);
    const struct sc_cfg_route *r = cfg->outbound.routes;
    static const char *const want[] = {
        "trust_domain_only", "trust_domain_only", "expected_identities", "none",
        "server_name",       "chain_only",        "subject_alt_names",   "expected_identities",
    };

    ck_assert_uint_eq(cfg->outbound.n_routes, 8);
    for (size_t i = 0; i < 8; i++) {
        ck_assert_str_eq(sc_idcheck_name(sc_config_route_idcheck(&r[i])), want[i]);
    }
    ck_assert_str_eq(sc_idcheck_name(sc_config_route_idcheck(&cfg->outbound.def)),
                     "trust_domain_only");
    ck_assert_int_eq(sc_config_listener_idcheck(&cfg->listeners[0]), SC_IDCHECK_NONE);
    ck_assert_int_eq(sc_config_listener_idcheck(&cfg->listeners[1]), SC_IDCHECK_TRUST_DOMAIN_ONLY);
    ck_assert_int_eq(sc_config_listener_idcheck(&cfg->listeners[2]),
                     SC_IDCHECK_EXPECTED_IDENTITIES);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_idcheck_of_default)
{
    struct sc_config *cfg = load_ok(SDS "outbound: {}\n");

    ck_assert_int_eq(sc_config_route_idcheck(&cfg->outbound.def), SC_IDCHECK_NONE);
    sc_config_free(cfg);
    cfg = load_ok(SDS "outbound:\n"
                      "  default: {tls: ISTIO_MUTUAL, expected_identities: [\"*\"]}\n");
    ck_assert_int_eq(sc_config_route_idcheck(&cfg->outbound.def), SC_IDCHECK_EXPECTED_IDENTITIES);
    ck_assert_str_eq(cfg->outbound.def.expected_identities.v[0], "*");
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_idcheck_names)
{
    ck_assert_str_eq(sc_idcheck_name(SC_IDCHECK_NONE), "none");
    ck_assert_str_eq(sc_idcheck_name(SC_IDCHECK_TRUST_DOMAIN_ONLY), "trust_domain_only");
    ck_assert_str_eq(sc_idcheck_name(SC_IDCHECK_EXPECTED_IDENTITIES), "expected_identities");
    ck_assert_str_eq(sc_idcheck_name(SC_IDCHECK_SUBJECT_ALT_NAMES), "subject_alt_names");
    ck_assert_str_eq(sc_idcheck_name(SC_IDCHECK_SERVER_NAME), "server_name");
    ck_assert_str_eq(sc_idcheck_name(SC_IDCHECK_CHAIN_ONLY), "chain_only");
}
END_TEST

START_TEST(test_warn_names_each_route_listener_and_default_once)
{
    struct sc_config *cfg = load_ok(mixed);
    char out[4096];

    ck_assert_uint_eq(warn_into(cfg, out, sizeof(out)), 4);
    ck_assert_uint_eq(count_lines(out, " warn "), 4);
    ck_assert_ptr_nonnull(strstr(out, " warn outbound route reviews.foo.svc.cluster.local: no "
                                      "expected_identities or subjectAltNames: any identity in "
                                      "trust domain example.org is accepted as the server\n"));
    ck_assert_ptr_nonnull(strstr(out, " warn outbound route outbound.routes[1]: no "
                                      "expected_identities or subjectAltNames: any identity"));
    ck_assert_ptr_nonnull(strstr(out, " warn outbound listener to-bar: no expected_identities "
                                      "or subjectAltNames: any identity"));
    ck_assert_ptr_nonnull(strstr(out, " warn outbound route outbound.default: no "
                                      "expected_identities: any identity in trust domain "
                                      "example.org is accepted as the server\n"));
    ck_assert_ptr_null(strstr(out, "ratings"));
    ck_assert_ptr_null(strstr(out, "details"));
    ck_assert_ptr_null(strstr(out, "to-baz"));
    ck_assert_ptr_null(strstr(out, "example.com"));
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_warn_nothing_when_every_server_is_pinned)
{
    struct sc_config *cfg = load_ok(SDS "outbound:\n"
                                        "  routes: [{host: a, expected_identities: [\"*\"]},\n"
                                        "           {cidr: 10.0.0.0/8, tls: DISABLE}]\n");
    char out[1024];

    ck_assert_uint_eq(warn_into(cfg, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_warn_counts_even_when_the_log_level_hides_it)
{
    struct sc_config *cfg = load_ok(SDS "outbound: {routes: [{host: a}]}\n");
    enum sc_log_level old = sc_log_get_level();
    char out[1024];

    sc_log_set_level(SC_LOG_ERR);
    ck_assert_uint_eq(warn_into(cfg, out, sizeof(out)), 1);
    sc_log_set_level(old);
    ck_assert_str_eq(out, "");
    sc_config_free(cfg);
}
END_TEST

/* ---- outbound.require_expected_identities ----------------------------- */

#define REQUIRE SDS "outbound:\n  require_expected_identities: true\n"

START_TEST(test_require_accepts_pinned_disabled_and_originated)
{
    struct sc_config *cfg =
        load_ok(REQUIRE "  routes:\n"
                        "    - {host: a, expected_identities: [\"spiffe://td/ns/a/*\"]}\n"
                        "    - {cidr: 10.0.0.0/8, tls: DISABLE}\n"
                        "    - {host: api.example.com, tls: SIMPLE}\n"
                        "  default: {tls: ISTIO_MUTUAL, expected_identities: [\"*\"]}\n"
                        "listeners:\n"
                        "  - {name: o, direction: outbound, address: \"127.0.0.1:2\",\n"
                        "     upstream: \"127.0.0.1:3\", host: b}\n"
                        "---\n"
                        "apiVersion: networking.istio.io/v1\n"
                        "kind: DestinationRule\n"
                        "metadata: {name: b}\n"
                        "spec:\n"
                        "  host: b\n"
                        "  trafficPolicy:\n"
                        "    tls: {mode: ISTIO_MUTUAL,\n"
                        "          subjectAltNames: [\"spiffe://cluster.local/ns/b/sa/b\"]}\n");

    ck_assert_int_eq(cfg->outbound.require_expected_identities, 1);
    ck_assert_str_eq(cfg->listeners[0].expected_identities.v[0],
                     "spiffe://cluster.local/ns/b/sa/b");
    sc_config_free(cfg);
    cfg = load_ok(SDS "outbound: {require_expected_identities: false, routes: [{host: a}]}\n");
    ck_assert_int_eq(cfg->outbound.require_expected_identities, 0);
    sc_config_free(cfg);
    cfg = load_ok(SDS "outbound: {routes: [{host: a}]}\n");
    ck_assert_int_eq(cfg->outbound.require_expected_identities, 0);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_require_refuses_a_route_without_identities)
{
    expect_err(REQUIRE "  routes:\n"
                       "    - {host: a, expected_identities: [\"*\"]}\n"
                       "    - cidr: 10.0.0.0/8\n"
                       "      port: 80\n",
               6, 7,
               "outbound.routes[1]: no expected_identities or subjectAltNames, and "
               "outbound.require_expected_identities is true");
}
END_TEST

START_TEST(test_require_refuses_an_outbound_listener_without_identities)
{
    expect_err(REQUIRE "listeners:\n"
                       "  - {name: in, direction: inbound, address: \"127.0.0.1:1\", port: 80}\n"
                       "  - {name: o, direction: outbound, address: \"127.0.0.1:2\",\n"
                       "     upstream: \"127.0.0.1:3\", tls: ISTIO_MUTUAL}\n",
               6, 5,
               "listeners[1]: no expected_identities or subjectAltNames, and "
               "outbound.require_expected_identities is true");
}
END_TEST

START_TEST(test_require_refuses_an_istio_mutual_default_without_identities)
{
    expect_err(REQUIRE "  default:\n    tls: ISTIO_MUTUAL\n", 5, 5,
               "outbound.default: no expected_identities, and "
               "outbound.require_expected_identities is true");
}
END_TEST

START_TEST(test_require_refuses_what_is_not_a_boolean)
{
    expect_err(SDS "outbound: {require_expected_identities: yes}\n", 2, 41,
               "outbound.require_expected_identities: expected true or false, got \"yes\"");
    expect_err(SDS "outbound: {require_expected_identities: \"true\"}\n", 2, 41,
               "outbound.require_expected_identities: expected true or false, got \"true\"");
    expect_err(SDS "outbound: {require_expected_identities: [true]}\n", 2, 41,
               "outbound.require_expected_identities: expected true or false, got a list");
    expect_err(SDS "outbound: {require_expected_identitie: true}\n", 2, 12,
               "outbound: unknown key \"require_expected_identitie\" (did you mean "
               "\"require_expected_identities\"?)");
}
END_TEST

static Suite *config_identity_suite(void)
{
    Suite *s = suite_create("config_identity");
    TCase *check = tcase_create("sc_config_route_idcheck");
    TCase *warn = tcase_create("sc_config_warn_identities");
    TCase *req = tcase_create("require_expected_identities");

    tcase_add_test(check, test_idcheck_of_each_kind_of_route_and_listener);
    tcase_add_test(check, test_idcheck_of_default);
    tcase_add_test(check, test_idcheck_names);
    suite_add_tcase(s, check);
    tcase_add_test(warn, test_warn_names_each_route_listener_and_default_once);
    tcase_add_test(warn, test_warn_nothing_when_every_server_is_pinned);
    tcase_add_test(warn, test_warn_counts_even_when_the_log_level_hides_it);
    suite_add_tcase(s, warn);
    tcase_add_test(req, test_require_accepts_pinned_disabled_and_originated);
    tcase_add_test(req, test_require_refuses_a_route_without_identities);
    tcase_add_test(req, test_require_refuses_an_outbound_listener_without_identities);
    tcase_add_test(req, test_require_refuses_an_istio_mutual_default_without_identities);
    tcase_add_test(req, test_require_refuses_what_is_not_a_boolean);
    suite_add_tcase(s, req);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_identity_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
