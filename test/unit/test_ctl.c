/* sidecarctl's pure parts: the command line (ctl/cli) and what each
 * command prints and exits with for a given admin API answer (ctl/render). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "render.h"

/* The options borrow from argv: the words live here until the next parse. */
static char words[512];
static char prog[] = "sidecarctl";

static int parse(struct sc_ctl_opts *o, char *why, size_t whylen, const char *line)
{
    char *copy = words, *argv[16], *save = NULL;
    int argc = 0, rc;

    snprintf(words, sizeof(words), "%s", line);
    argv[argc++] = prog;
    for (char *t = strtok_r(copy, " ", &save); t != NULL && argc < 15;
         t = strtok_r(NULL, " ", &save)) {
        argv[argc++] = t;
    }
    argv[argc] = NULL;
    rc = sc_ctl_parse_args(argc, argv, o, why, whylen);
    return rc;
}

START_TEST(test_ctl_parse_args_reads_commands_and_options)
{
    struct sc_ctl_opts o;
    char why[256];

    ck_assert_int_eq(parse(&o, why, sizeof(why), "certs"), 0);
    ck_assert_int_eq(o.cmd, SC_CTL_CERTS);
    ck_assert_str_eq(o.admin, SC_CTL_DEFAULT_ADMIN);
    ck_assert_int_eq(o.json, 0);
    ck_assert_int_eq(
        parse(&o, why, sizeof(why), "-o json --admin unix:/run/a.sock check-root --days 7"), 0);
    ck_assert_int_eq(o.cmd, SC_CTL_CHECK_ROOT);
    ck_assert_int_eq(o.json, 1);
    ck_assert_int_eq(o.days, 7);
    ck_assert_str_eq(o.admin, "unix:/run/a.sock");
    ck_assert_int_eq(parse(&o, why, sizeof(why), "check-root"), 0);
    ck_assert_int_eq(o.days, SC_CTL_DEFAULT_DAYS);
    ck_assert_int_eq(parse(&o, why, sizeof(why), "describe 8080 --admin=10.0.0.1:15000"), 0);
    ck_assert_int_eq(o.port, 8080);
    ck_assert_str_eq(o.admin, "10.0.0.1:15000");
    ck_assert_int_eq(
        parse(&o, why, sizeof(why), "diagnose 10.1.2.3:8080 --sni b --identity spiffe://td/x"), 0);
    ck_assert_int_eq(o.cmd, SC_CTL_DIAGNOSE);
    ck_assert_str_eq(o.target, "10.1.2.3:8080");
    ck_assert_str_eq(o.sni, "b");
    ck_assert_str_eq(o.identity, "spiffe://td/x");
    ck_assert_int_eq(parse(&o, why, sizeof(why), "roots -o table"), 0);
    ck_assert_int_eq(o.cmd, SC_CTL_ROOTS);
    ck_assert_int_eq(parse(&o, why, sizeof(why), "certs --help"), 0);
    ck_assert_int_eq(o.cmd, SC_CTL_HELP);
}
END_TEST

START_TEST(test_ctl_parse_args_refuses_bad_usage)
{
    static const struct {
        const char *line, *why;
    } bad[] = {
        {"", "no command"},
        {"frob", "unknown command \"frob\""},
        {"certs extra", "takes no argument"},
        {"check-root --days", "--days needs a value"},
        {"check-root --days -1", "not a number of days"},
        {"check-root --days 3x", "not a number of days"},
        {"certs --days 3", "only applies to check-root"},
        {"certs -o yaml", "use table or json"},
        {"describe 0", "not a port"},
        {"describe 70000", "not a port"},
        {"describe 80 81", "at most one PORT"},
        {"diagnose", "needs one HOST:PORT"},
        {"roots --sni x", "only apply to diagnose"},
        {"certs --admin=", "--admin is empty"},
        {"certs --bogus", "unknown option --bogus"},
    };
    struct sc_ctl_opts o;
    char why[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        ck_assert_msg(parse(&o, why, sizeof(why), bad[i].line) == -1, "accepted: %s", bad[i].line);
        ck_assert_msg(strstr(why, bad[i].why) != NULL, "%s: %s", bad[i].line, why);
    }
}
END_TEST

/* Renders doc with fn into a string (out NULL: status only when nul_out). */
static int render(int (*fn)(const struct sc_json_val *, const struct sc_ctl_opts *, FILE *),
                  const char *doc, const struct sc_ctl_opts *o, char **text)
{
    char why[128];
    struct sc_json *d = sc_json_parse(doc, strlen(doc), why, sizeof(why));
    size_t len;
    FILE *f = open_memstream(text, &len);
    int rc;

    ck_assert_msg(d != NULL, "%s", why);
    rc = fn(sc_json_root(d), o, f);
    fclose(f);
    sc_json_free(d);
    return rc;
}

#define ROW(role, subj, days, st)                                                              \
    "{\"resource\":\"ROOTCA\",\"type\":\"CA\",\"role\":\"" role "\",\"status\":\"" st "\","    \
    "\"valid\":true,\"serial_number\":\"ab\",\"subject\":\"" subj "\",\"not_after\":\"2030\"," \
    "\"not_before\":\"2020\",\"not_after_unix\":" #days "00,\"days_left\":" #days "}"

START_TEST(test_ctl_check_root_says_ok_warning_expired)
{
    struct sc_ctl_opts o = {.days = 30};
    char *t = NULL;

    ck_assert_int_eq(render(sc_ctl_render_check_root,
                            "{\"certificates\":[" ROW("leaf", "CN=me", 1, "ACTIVE") "," ROW(
                                "root", "CN=a", 400, "ACTIVE") "," ROW("intermediate", "CN=i", 90,
                                                                       "ACTIVE") "]}",
                            &o, &t),
                     SC_CTL_OK);
    ck_assert_ptr_nonnull(strstr(t, "\nOK: the first intermediate expires in 90 days (CN=i"));
    ck_assert_ptr_null(strstr(t, "CN=me"));
    free(t);
    ck_assert_int_eq(render(sc_ctl_render_check_root,
                            "{\"certificates\":[" ROW("root", "CN=a", 400, "ACTIVE") "," ROW(
                                "root", "CN=b", 12, "ACTIVE") "]}",
                            &o, &t),
                     SC_CTL_BAD_NEWS);
    ck_assert_ptr_nonnull(strstr(t, "\nWARNING: root CN=b expires in 12 days"));
    free(t);
    ck_assert_int_eq(render(sc_ctl_render_check_root,
                            "{\"certificates\":[" ROW("root", "CN=old", -3, "EXPIRED") "]}", &o,
                            &t),
                     SC_CTL_BAD_NEWS);
    ck_assert_ptr_nonnull(strstr(t, "\nEXPIRED: root CN=old expired 3 days ago"));
    free(t);
    ck_assert_int_eq(render(sc_ctl_render_check_root, "{\"certificates\":[]}", &o, &t),
                     SC_CTL_BAD_NEWS);
    ck_assert_ptr_nonnull(strstr(t, "WARNING: no trusted root"));
    free(t);
}
END_TEST

START_TEST(test_ctl_check_root_json_is_json)
{
    struct sc_ctl_opts o = {.days = 5, .json = 1};
    char *t = NULL, why[128];
    struct sc_json *d;

    ck_assert_int_eq(render(sc_ctl_render_check_root,
                            "{\"certificates\":[" ROW("root", "CN=\\\"q\\\"", 12, "ACTIVE") "," ROW(
                                "root", "CN=b", 40, "ACTIVE") "]}",
                            &o, &t),
                     SC_CTL_OK);
    d = sc_json_parse(t, strlen(t), why, sizeof(why));
    ck_assert_msg(d != NULL, "%s: %s", why, t);
    ck_assert_str_eq(sc_json_str(sc_json_get(sc_json_root(d), "status"), ""), "OK");
    ck_assert_uint_eq(sc_json_len(sc_json_get(sc_json_root(d), "certificates")), 2);
    sc_json_free(d);
    free(t);
}
END_TEST

START_TEST(test_ctl_certs_table_and_status)
{
    struct sc_ctl_opts o = {0};
    char *t = NULL;

    ck_assert_int_eq(render(sc_ctl_render_certs,
                            "{\"certificates\":[" ROW("root", "CN=a", 400, "ACTIVE") "]}", &o, &t),
                     SC_CTL_OK);
    ck_assert_ptr_nonnull(strstr(t, "RESOURCE NAME      TYPE           STATUS"));
    ck_assert_ptr_nonnull(strstr(t, "\nROOTCA             CA             ACTIVE         true"));
    free(t);
    ck_assert_int_eq(render(sc_ctl_render_certs,
                            "{\"certificates\":[{\"valid\":false,\"status\":\"EXPIRED\"}]}", &o,
                            &t),
                     SC_CTL_BAD_NEWS);
    free(t);
    ck_assert_int_eq(render(sc_ctl_render_certs, "{\"certificates\":[]}", &o, &t), SC_CTL_BAD_NEWS);
    ck_assert_ptr_nonnull(strstr(t, "WARMING"));
    free(t);
}
END_TEST

START_TEST(test_ctl_describe_puts_decisions_in_words)
{
    struct sc_ctl_opts o = {0};
    char *t = NULL;
    const char *doc =
        "{\"trust_domain\":\"td\",\"inbound\":["
        "{\"port\":8080,\"source\":\"listener in\",\"mode\":\"STRICT\",\"decided_by\":"
        "{\"kind\":\"PeerAuthentication\",\"namespace\":\"istio-system\",\"name\":\"mtls-global\","
        "\"level\":\"mesh\"},\"port_level_override\":false,\"connections\":{\"mesh_mtls\":2},"
        "\"last_hour\":{\"plaintext\":0,\"non_mesh_tls\":0}},"
        "{\"port\":9090,\"source\":\"inbound.ports[0]\",\"mode\":\"PERMISSIVE\",\"decided_by\":null,"
        "\"connections\":{},\"last_hour\":{\"plaintext\":2,\"non_mesh_tls\":1,"
        "\"last_client\":\"10.0.0.9:4000\",\"last_seen\":\"2026-01-01T00:00:00Z\"}}],"
        "\"outbound\":[{\"kind\":\"route\",\"name\":\"r\",\"host\":\"b\",\"port\":80,"
        "\"tls\":\"ISTIO_MUTUAL\",\"expected_identities\":[],\"destination_rule\":\"foo/b\"}]}";

    ck_assert_int_eq(render(sc_ctl_render_describe, doc, &o, &t), SC_CTL_OK);
    ck_assert_ptr_nonnull(
        strstr(t, "\n8080   STRICT      decided by PeerAuthentication "
                  "istio-system/mtls-global (mesh-wide); port-level override: none\n"));
    ck_assert_ptr_nonnull(strstr(t, "9090   PERMISSIVE  decided by no PeerAuthentication"));
    ck_assert_ptr_nonnull(strstr(t, "STRICT would have refused 3 connections in the last hour "
                                    "(2 plaintext, 1 non-mesh TLS); last: 10.0.0.9:4000 at "
                                    "2026-01-01T00:00:00Z"));
    ck_assert_ptr_nonnull(strstr(t, "ports: 2 (1 STRICT, 1 PERMISSIVE, 0 DISABLE)"));
    ck_assert_ptr_nonnull(
        strstr(t, "any identity in trust domain td; set by DestinationRule foo/b"));
    free(t);
    o.port = 9090;
    ck_assert_int_eq(render(sc_ctl_render_describe, doc, &o, &t), SC_CTL_OK);
    ck_assert_ptr_null(strstr(t, "8080"));
    free(t);
    o.port = 1;
    ck_assert_int_eq(render(sc_ctl_render_describe, doc, &o, &t), SC_CTL_USAGE);
    free(t);
}
END_TEST

START_TEST(test_ctl_diagnose_exit_follows_verdict)
{
    struct sc_ctl_opts o = {0};
    char *t = NULL;

    ck_assert_int_eq(render(sc_ctl_render_diagnose,
                            "{\"address\":\"a:1\",\"handshake\":\"failed\",\"error\":\"x\","
                            "\"peer_chain\":[],\"root\":null,\"verdict\":\"refused\","
                            "\"message\":\"the peer's chain leads to CN=bar\",\"fix\":\"add it\"}",
                            &o, &t),
                     SC_CTL_BAD_NEWS);
    ck_assert_ptr_nonnull(strstr(t, "verdict:   REFUSED: the peer's chain leads to CN=bar\n"));
    ck_assert_ptr_nonnull(strstr(t, "fix:       add it\n"));
    ck_assert_ptr_nonnull(strstr(t, "peer chain: none received"));
    free(t);
    ck_assert_int_eq(
        render(sc_ctl_render_diagnose,
               "{\"handshake\":\"ok\",\"protocol\":\"TLSv1.3\",\"verdict\":\"accepted\","
               "\"message\":\"works\",\"fix\":null,\"identity_accepted\":true}",
               &o, &t),
        SC_CTL_OK);
    ck_assert_ptr_nonnull(strstr(t, "verdict:   OK: works\n"));
    ck_assert_ptr_null(strstr(t, "fix:"));
    free(t);
    ck_assert_int_eq(render(sc_ctl_render_diagnose, "{\"verdict\":\"unreachable\"}", &o, &t),
                     SC_CTL_BAD_NEWS);
    free(t);
}
END_TEST

static Suite *ctl_suite(void)
{
    Suite *s = suite_create("ctl");
    TCase *tc;

    tc = tcase_create("sc_ctl_parse_args");
    tcase_add_test(tc, test_ctl_parse_args_reads_commands_and_options);
    tcase_add_test(tc, test_ctl_parse_args_refuses_bad_usage);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_ctl_render_check_root");
    tcase_add_test(tc, test_ctl_check_root_says_ok_warning_expired);
    tcase_add_test(tc, test_ctl_check_root_json_is_json);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_ctl_render_certs");
    tcase_add_test(tc, test_ctl_certs_table_and_status);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_ctl_render_describe");
    tcase_add_test(tc, test_ctl_describe_puts_decisions_in_words);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_ctl_render_diagnose");
    tcase_add_test(tc, test_ctl_diagnose_exit_follows_verdict);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ctl_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
