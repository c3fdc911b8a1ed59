/* Unit tests for agent/agentcfg: the sds-agent's YAML config, its defaults
 * and its positioned errors. */

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentcfg.h"
#include "log.h"

static struct sc_agent_config *ok(const char *yaml)
{
    struct sc_agent_config *c = NULL;
    struct sc_err err;
    char msg[1024];

    ck_assert_msg(sc_agent_config_load_string("agent.yaml", yaml, &c, &err) == 0, "%s",
                  sc_err_str(&err, msg, sizeof(msg)));
    return c;
}

/* Loads yaml expecting an error; returns "file:line:col: msg" in a static
 * buffer per call site. */
static const char *bad(const char *yaml, char *out, size_t outlen)
{
    struct sc_agent_config *c = NULL;
    struct sc_err err;

    ck_assert_int_eq(sc_agent_config_load_string("agent.yaml", yaml, &c, &err), -1);
    ck_assert_ptr_null(c);
    return sc_err_str(&err, out, outlen);
}

#define FILES "socket: /run/sds.sock\nfiles: {dir: /etc/certs}\n"
#define CA_OK                                                                         \
    "socket: /run/sds.sock\nsource: ca\nca:\n  dir: /etc/cacerts\n  namespace: foo\n" \
    "  service_account: client\n"

/* ---- valid configs ------------------------------------------------------ */

START_TEST(test_agentcfg_files_defaults)
{
    struct sc_agent_config *c = ok(FILES);

    ck_assert_str_eq(c->socket, "/run/sds.sock");
    ck_assert_uint_eq(c->socket_mode, 0600);
    ck_assert_int_eq(c->source, SC_AGENT_SOURCE_FILES);
    ck_assert_str_eq(c->files.dir, "/etc/certs");
    ck_assert_str_eq(c->trust_domain, "cluster.local");
    ck_assert_int_eq(c->log_level, SC_LOG_INFO);
    ck_assert_uint_ge(c->n_allowed_uids, 1);
    ck_assert_uint_eq(c->allowed_uids[0], getuid());
    if (getuid() != 0) {
        ck_assert_uint_eq(c->allowed_uids[1], 0);
    }
    sc_agent_config_free(c);
}
END_TEST

START_TEST(test_agentcfg_ca_full)
{
    struct sc_agent_config *c = ok("socket: /var/run/sidecar/sds.sock\n"
                                   "socket_mode: 0660\n"
                                   "allowed_uids: [1337, 0]\n"
                                   "trust_domain: example.org\n"
                                   "log_level: debug\n"
                                   "source: ca\n"
                                   "ca:\n"
                                   "  dir: /etc/cacerts\n"
                                   "  namespace: foo\n"
                                   "  service_account: client\n"
                                   "  lifetime: 1h30m\n"
                                   "  renew_at: 0.6\n"
                                   "  jitter: 0.1\n"
                                   "  root_overlap: 10m\n"
                                   "  trust_wait: 5s\n");

    ck_assert_uint_eq(c->socket_mode, 0660);
    ck_assert_uint_eq(c->n_allowed_uids, 2);
    ck_assert_uint_eq(c->allowed_uids[0], 1337);
    ck_assert_uint_eq(c->allowed_uids[1], 0);
    ck_assert_int_eq(c->log_level, SC_LOG_DEBUG);
    ck_assert_int_eq(c->source, SC_AGENT_SOURCE_CA);
    ck_assert_str_eq(c->ca.spiffe_id, "spiffe://example.org/ns/foo/sa/client");
    ck_assert_int_eq(c->ca.lifetime_ms, 90LL * 60 * 1000);
    ck_assert(c->ca.renew_at == 0.6);
    ck_assert(c->ca.jitter == 0.1);
    ck_assert_int_eq(c->ca.root_overlap_ms, 10LL * 60 * 1000);
    ck_assert_int_eq(c->ca.trust_wait_ms, 5000);
    sc_agent_config_free(c);
}
END_TEST

START_TEST(test_agentcfg_ca_defaults)
{
    struct sc_agent_config *c = ok(CA_OK);

    ck_assert_int_eq(c->ca.lifetime_ms, 24LL * 3600 * 1000);
    ck_assert(c->ca.renew_at == 0.5);
    ck_assert(c->ca.jitter == 0.05);
    ck_assert_int_eq(c->ca.root_overlap_ms, c->ca.lifetime_ms);
    ck_assert_int_eq(c->ca.trust_wait_ms, 30000);
    ck_assert_str_eq(c->ca.spiffe_id, "spiffe://cluster.local/ns/foo/sa/client");
    sc_agent_config_free(c);
}
END_TEST

START_TEST(test_agentcfg_mode_forms)
{
    struct sc_agent_config *c;

    c = ok("socket: /s\nsocket_mode: \"0o640\"\n"
           "files: {dir: /d}\n");
    ck_assert_uint_eq(c->socket_mode, 0640);
    sc_agent_config_free(c);
    c = ok("socket: /s\nsocket_mode: 600\n"
           "files: {dir: /d}\n");
    ck_assert_uint_eq(c->socket_mode, 0600);
    sc_agent_config_free(c);
}
END_TEST

/* ---- errors ------------------------------------------------------------- */

START_TEST(test_agentcfg_requires_socket)
{
    char e[1024];

    ck_assert_str_eq(bad("files: {dir: /etc/certs}\n", e, sizeof(e)),
                     "agent.yaml:1:1: socket: required (the Unix socket path to serve SDS on)");
}
END_TEST

START_TEST(test_agentcfg_refuses_relative_socket)
{
    char e[1024];

    ck_assert_ptr_nonnull(strstr(bad("socket: run/sds.sock\nfiles: {dir: /d}\n", e, sizeof(e)),
                                 "agent.yaml:1:9: socket: \"run/sds.sock\" must be an absolute"));
}
END_TEST

START_TEST(test_agentcfg_refuses_unknown_key_with_position)
{
    char e[1024];

    ck_assert_ptr_nonnull(strstr(bad(FILES "sockets: /x\n", e, sizeof(e)),
                                 "agent.yaml:3:1: sockets: unknown key (expected one of: socket,"));
    ck_assert_ptr_nonnull(strstr(bad(CA_OK "  lifetme: 1h\n", e, sizeof(e)),
                                 "agent.yaml:7:3: ca.lifetme: unknown key in ca"));
}
END_TEST

START_TEST(test_agentcfg_refuses_bad_mode)
{
    char e[1024];

    ck_assert_ptr_nonnull(
        strstr(bad("socket: /s\nsocket_mode: 0999\nfiles: {dir: /d}\n", e, sizeof(e)),
               "agent.yaml:2:14: socket_mode: \"0999\" is not an octal"));
    bad("socket: /s\nsocket_mode: 01777\nfiles: {dir: /d}\n", e, sizeof(e));
}
END_TEST

START_TEST(test_agentcfg_refuses_bad_uids)
{
    char e[1024];

    ck_assert_ptr_nonnull(strstr(bad(FILES "allowed_uids: [1337, -1]\n", e, sizeof(e)),
                                 "agent.yaml:3:22: allowed_uids[1]: expected a uid"));
    ck_assert_ptr_nonnull(
        strstr(bad(FILES "allowed_uids: []\n", e, sizeof(e)), "allowed_uids: the list is empty"));
    ck_assert_ptr_nonnull(strstr(bad(FILES "allowed_uids: 1337\n", e, sizeof(e)),
                                 "allowed_uids: expected a list of uids"));
    ck_assert_ptr_nonnull(strstr(bad(FILES "allowed_uids: [\"1337\"]\n", e, sizeof(e)),
                                 "allowed_uids[0]: expected a uid"));
}
END_TEST

START_TEST(test_agentcfg_refuses_bad_trust_domain)
{
    char e[1024];

    ck_assert_ptr_nonnull(strstr(bad(FILES "trust_domain: Cluster.Local\n", e, sizeof(e)),
                                 "trust_domain: \"Cluster.Local\" is not a valid trust domain"));
    bad(FILES "trust_domain: a/b\n", e, sizeof(e));
}
END_TEST

START_TEST(test_agentcfg_refuses_unknown_source)
{
    char e[1024];

    ck_assert_ptr_nonnull(strstr(bad(FILES "source: vault\n", e, sizeof(e)),
                                 "source: unknown source \"vault\" (expected files or ca)"));
}
END_TEST

START_TEST(test_agentcfg_refuses_missing_source_sections)
{
    char e[1024];

    ck_assert_ptr_nonnull(strstr(bad("socket: /s\n", e, sizeof(e)), "files.dir: required"));
    ck_assert_ptr_nonnull(
        strstr(bad("socket: /s\nsource: ca\nca: {dir: /d, namespace: n}\n", e, sizeof(e)),
               "ca.service_account: required with source: ca"));
    ck_assert_ptr_nonnull(strstr(bad(FILES "source: ca\nca: {dir: /d}\n", e, sizeof(e)),
                                 "files: only used with source: files"));
    ck_assert_ptr_nonnull(
        strstr(bad(FILES "ca: {dir: /d}\n", e, sizeof(e)), "ca: only used with source: ca"));
}
END_TEST

START_TEST(test_agentcfg_refuses_bad_identity)
{
    char e[1024];

    ck_assert_ptr_nonnull(strstr(
        bad("socket: /s\nsource: ca\nca: {dir: /d, namespace: \"a/b\", service_account: c}\n", e,
            sizeof(e)),
        "namespace and service_account must make a valid SPIFFE ID"));
    bad("socket: /s\nsource: ca\nca: {dir: /d, namespace: \"a b\", service_account: c}\n", e,
        sizeof(e));
}
END_TEST

START_TEST(test_agentcfg_refuses_bad_durations)
{
    char e[1024];

    ck_assert_ptr_nonnull(strstr(bad(CA_OK "  lifetime: 24\n", e, sizeof(e)),
                                 "agent.yaml:7:13: ca.lifetime: \"24\" is not a duration"));
    ck_assert_ptr_nonnull(strstr(bad(CA_OK "  lifetime: 1s\n", e, sizeof(e)),
                                 "ca.lifetime: must be between 2s and 3650d"));
    ck_assert_ptr_nonnull(strstr(bad(CA_OK "  root_overlap: soon\n", e, sizeof(e)),
                                 "ca.root_overlap: \"soon\" is not a duration"));
}
END_TEST

START_TEST(test_agentcfg_refuses_bad_fractions)
{
    char e[1024];

    ck_assert_ptr_nonnull(strstr(bad(CA_OK "  renew_at: 1.5\n", e, sizeof(e)),
                                 "ca.renew_at: \"1.5\" is not a number between 0 and 1"));
    ck_assert_ptr_nonnull(strstr(bad(CA_OK "  renew_at: 1\n", e, sizeof(e)),
                                 "ca.renew_at: must be above 0 and below 1"));
    ck_assert_ptr_nonnull(strstr(bad(CA_OK "  renew_at: 0.9\n  jitter: 0.2\n", e, sizeof(e)),
                                 "ca.jitter: renew_at +- jitter must stay inside (0, 1)"));
    bad(CA_OK "  jitter: abc\n", e, sizeof(e));
}
END_TEST

START_TEST(test_agentcfg_refuses_wrong_shapes)
{
    char e[1024];

    ck_assert_ptr_nonnull(
        strstr(bad("- socket\n", e, sizeof(e)), "expected a mapping, got a list"));
    ck_assert_ptr_nonnull(strstr(bad("socket: /s\nfiles: /etc/certs\n", e, sizeof(e)),
                                 "files: expected a mapping, got a string"));
    ck_assert_ptr_nonnull(strstr(bad("socket: [a]\nfiles: {dir: /d}\n", e, sizeof(e)),
                                 "socket: expected a string, got a list"));
    ck_assert_ptr_nonnull(
        strstr(bad(FILES "log_level: loud\n", e, sizeof(e)), "log_level: unknown log level"));
    ck_assert_ptr_nonnull(strstr(bad(FILES "---\n" FILES, e, sizeof(e)),
                                 "expected exactly one YAML document, got 2"));
}
END_TEST

START_TEST(test_agentcfg_admin_address)
{
    struct sc_agent_config *c = ok(FILES);
    char as[SC_ADDR_STRLEN];

    ck_assert_int_eq(c->admin.enabled, 0); /* absent: no listener */
    sc_agent_config_free(c);
    c = ok(FILES "admin: {address: \"127.0.0.1:15010\"}\n");
    ck_assert_int_eq(c->admin.enabled, 1);
    ck_assert_str_eq(sc_addr_str(&c->admin.addr, as, sizeof(as)), "127.0.0.1:15010");
    sc_agent_config_free(c);
    c = ok(CA_OK "admin:\n  address: \"[::1]:15010\"\n");
    ck_assert_int_eq(c->admin.enabled, 1);
    ck_assert_str_eq(sc_addr_str(&c->admin.addr, as, sizeof(as)), "[::1]:15010");
    sc_agent_config_free(c);
}
END_TEST

START_TEST(test_agentcfg_refuses_bad_admin)
{
    char e[1024];

    ck_assert_str_eq(bad(FILES "admin: {address: localhost:15010}\n", e, sizeof(e)),
                     "agent.yaml:3:18: admin.address: \"localhost:15010\": host must be a "
                     "numeric IPv4 or IPv6 address (expected a numeric address and port, such "
                     "as 127.0.0.1:15010 or [::1]:15010)");
    ck_assert_ptr_nonnull(strstr(bad(FILES "admin: {address: \"127.0.0.1\"}\n", e, sizeof(e)),
                                 "agent.yaml:3:18: admin.address: \"127.0.0.1\": "));
    ck_assert_ptr_nonnull(
        strstr(bad(FILES "admin: {address: \"127.0.0.1:0\"}\n", e, sizeof(e)),
               "admin.address: \"127.0.0.1:0\": port must be a number in 1..65535"));
    ck_assert_ptr_nonnull(
        strstr(bad(FILES "admin: {}\n", e, sizeof(e)), "agent.yaml:3:8: admin: address: required"));
    ck_assert_ptr_nonnull(strstr(bad(FILES "admin:\n", e, sizeof(e)), "admin: needs a value"));
    ck_assert_ptr_nonnull(strstr(bad(FILES "admin: \"127.0.0.1:15010\"\n", e, sizeof(e)),
                                 "admin: expected a mapping, got a string"));
    ck_assert_ptr_nonnull(
        strstr(bad(FILES "admin: {address: \"127.0.0.1:1\", port: 2}\n", e, sizeof(e)),
               "admin.port: unknown key in admin (expected one of: address)"));
}
END_TEST

START_TEST(test_agentcfg_load_missing_file)
{
    struct sc_agent_config *c = NULL;
    struct sc_err err;

    ck_assert_int_eq(sc_agent_config_load("/nonexistent/agent.yaml", &c, &err), -1);
    ck_assert_ptr_null(c);
    sc_agent_config_free(NULL);
}
END_TEST

/* ---- durations ---------------------------------------------------------- */

START_TEST(test_agentcfg_durations_parse)
{
    int64_t v;

    ck_assert_int_eq(sc_agent_parse_duration("90s", &v), 0);
    ck_assert_int_eq(v, 90000);
    ck_assert_int_eq(sc_agent_parse_duration("10m", &v), 0);
    ck_assert_int_eq(v, 600000);
    ck_assert_int_eq(sc_agent_parse_duration("24h", &v), 0);
    ck_assert_int_eq(v, 86400000);
    ck_assert_int_eq(sc_agent_parse_duration("1h30m15s", &v), 0);
    ck_assert_int_eq(v, 5415000);
    ck_assert_int_eq(sc_agent_parse_duration("500ms", &v), 0);
    ck_assert_int_eq(v, 500);
    ck_assert_int_eq(sc_agent_parse_duration("2d", &v), 0);
    ck_assert_int_eq(v, 172800000);
}
END_TEST

START_TEST(test_agentcfg_durations_refuse_garbage)
{
    int64_t v;

    ck_assert_int_eq(sc_agent_parse_duration("", &v), -1);
    ck_assert_int_eq(sc_agent_parse_duration("10", &v), -1);
    ck_assert_int_eq(sc_agent_parse_duration("h", &v), -1);
    ck_assert_int_eq(sc_agent_parse_duration("10x", &v), -1);
    ck_assert_int_eq(sc_agent_parse_duration("-5s", &v), -1);
    ck_assert_int_eq(sc_agent_parse_duration("1.5h", &v), -1);
    ck_assert_int_eq(sc_agent_parse_duration("99999999999999999999d", &v), -1);
    ck_assert_int_eq(sc_agent_parse_duration("9999999999999d", &v), -1);
    ck_assert_int_eq(sc_agent_parse_duration(NULL, &v), -1);
}
END_TEST

static Suite *agentcfg_suite(void)
{
    Suite *s = suite_create("agentcfg");
    TCase *tc;

    tc = tcase_create("sc_agent_config_load");
    tcase_add_test(tc, test_agentcfg_files_defaults);
    tcase_add_test(tc, test_agentcfg_ca_full);
    tcase_add_test(tc, test_agentcfg_ca_defaults);
    tcase_add_test(tc, test_agentcfg_mode_forms);
    tcase_add_test(tc, test_agentcfg_requires_socket);
    tcase_add_test(tc, test_agentcfg_refuses_relative_socket);
    tcase_add_test(tc, test_agentcfg_refuses_unknown_key_with_position);
    tcase_add_test(tc, test_agentcfg_refuses_bad_mode);
    tcase_add_test(tc, test_agentcfg_refuses_bad_uids);
    tcase_add_test(tc, test_agentcfg_refuses_bad_trust_domain);
    tcase_add_test(tc, test_agentcfg_refuses_unknown_source);
    tcase_add_test(tc, test_agentcfg_refuses_missing_source_sections);
    tcase_add_test(tc, test_agentcfg_refuses_bad_identity);
    tcase_add_test(tc, test_agentcfg_refuses_bad_durations);
    tcase_add_test(tc, test_agentcfg_refuses_bad_fractions);
    tcase_add_test(tc, test_agentcfg_refuses_wrong_shapes);
    tcase_add_test(tc, test_agentcfg_admin_address);
    tcase_add_test(tc, test_agentcfg_refuses_bad_admin);
    tcase_add_test(tc, test_agentcfg_load_missing_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_agent_parse_duration");
    tcase_add_test(tc, test_agentcfg_durations_parse);
    tcase_add_test(tc, test_agentcfg_durations_refuse_garbage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(agentcfg_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
