#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_load.h"
#include "policy.h"

/* Our workload: namespace foo, labels app=httpbin, version=v1. */
#define BASE                                                        \
    "node: {namespace: foo, labels: {app: httpbin, version: v1}}\n" \
    "secrets: {sds_socket: /run/sds.sock}\n"

#define PA(ns, extra)                              \
    "---\napiVersion: security.istio.io/v1beta1\n" \
    "kind: PeerAuthentication\n"                   \
    "metadata: {name: p, namespace: " ns "}\n"     \
    "spec:\n" extra

#define MESH(mode) PA("istio-system", "  mtls: {mode: " mode "}\n")
#define NS(mode) PA("foo", "  mtls: {mode: " mode "}\n")
#define WL(mode) PA("foo", "  selector: {matchLabels: {app: httpbin}}\n  mtls: {mode: " mode "}\n")

static struct sc_config *load(const char *text)
{
    return tc_config_load("p.yaml", text);
}

static void expect_err(const char *text, int line, int col, const char *msg)
{
    tc_config_expect_err("p.yaml", text, line, col, msg);
}

/* Timestamps need whole documents of their own. */
#define PA_TS(name, ts, mode)                                                      \
    "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"            \
    "metadata:\n  name: " name "\n  namespace: foo\n  creationTimestamp: " ts "\n" \
    "spec: {mtls: {mode: " mode "}}\n"
#define PA_TS_WL(name, ts, mode)                                                   \
    "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"            \
    "metadata:\n  name: " name "\n  namespace: foo\n  creationTimestamp: " ts "\n" \
    "spec: {selector: {matchLabels: {app: httpbin}}, mtls: {mode: " mode "}}\n"

/* ---- PeerAuthentication resolution: a table --------------------------- */

struct pa_case {
    const char *what;
    const char *docs;
    int port;
    enum sc_mtls_mode want;
};

static const struct pa_case pa_cases[] = {
    {"no policy -> PERMISSIVE", "", 8080, SC_MTLS_PERMISSIVE},
    {"mesh STRICT", MESH("STRICT"), 8080, SC_MTLS_STRICT},
    {"mesh DISABLE", MESH("DISABLE"), 8080, SC_MTLS_DISABLE},
    {"namespace overrides mesh", MESH("STRICT") NS("DISABLE"), 8080, SC_MTLS_DISABLE},
    {"namespace overrides mesh, any order", NS("PERMISSIVE") MESH("STRICT"), 1, SC_MTLS_PERMISSIVE},
    {"workload overrides namespace", NS("PERMISSIVE") WL("STRICT"), 8080, SC_MTLS_STRICT},
    {"workload overrides namespace and mesh", MESH("STRICT") NS("STRICT") WL("DISABLE"), 80,
     SC_MTLS_DISABLE},
    {"port-level over workload mode",
     WL("STRICT") "  portLevelMtls:\n    8080: {mode: PERMISSIVE}\n", 8080, SC_MTLS_PERMISSIVE},
    {"port-level only for its port",
     WL("STRICT") "  portLevelMtls:\n    8080: {mode: PERMISSIVE}\n", 9090, SC_MTLS_STRICT},
    {"DISABLE at port level",
     NS("STRICT") WL("STRICT") "  portLevelMtls:\n    8080: {mode: DISABLE}\n", 8080,
     SC_MTLS_DISABLE},
    {"port-level key may be quoted",
     WL("STRICT") "  portLevelMtls:\n    \"8080\": {mode: DISABLE}\n", 8080, SC_MTLS_DISABLE},
    {"UNSET at workload inherits namespace", NS("STRICT") WL("UNSET"), 8080, SC_MTLS_STRICT},
    {"UNSET at namespace inherits mesh", MESH("DISABLE") NS("UNSET"), 8080, SC_MTLS_DISABLE},
    {"UNSET at workload and namespace inherits mesh", MESH("STRICT") NS("UNSET") WL("UNSET"), 8080,
     SC_MTLS_STRICT},
    {"missing mtls inherits",
     MESH("STRICT") PA("foo", "  selector: {matchLabels: {app: "
                              "httpbin}}\n"),
     8080, SC_MTLS_STRICT},
    {"UNSET everywhere -> PERMISSIVE", MESH("UNSET") NS("UNSET") WL("UNSET"), 8080,
     SC_MTLS_PERMISSIVE},
    {"portLevel UNSET inherits the policy's mode",
     WL("STRICT") "  portLevelMtls:\n    8080: {mode: UNSET}\n", 8080, SC_MTLS_STRICT},
    {"portLevel with no mode inherits the policy's mode",
     WL("DISABLE") "  portLevelMtls:\n    8080: {}\n", 8080, SC_MTLS_DISABLE},
    {"portLevel UNSET and workload UNSET inherit namespace",
     NS("DISABLE") WL("UNSET") "  portLevelMtls:\n    8080: {mode: UNSET}\n", 8080,
     SC_MTLS_DISABLE},
    {"UNSET policy with a port override (Istio's example)",
     NS("STRICT") WL("UNSET") "  portLevelMtls:\n    8080: {mode: DISABLE}\n", 9000,
     SC_MTLS_STRICT},
    {"selector not matching ignored",
     MESH("STRICT") PA("foo", "  selector: {matchLabels: {app: other}}\n  mtls: {mode: DISABLE}\n"),
     8080, SC_MTLS_STRICT},
    {"selector needs every label",
     MESH("STRICT") PA("foo", "  selector: {matchLabels: {app: httpbin, tier: db}}\n"
                              "  mtls: {mode: DISABLE}\n"),
     8080, SC_MTLS_STRICT},
    {"selector with all labels matches",
     MESH("STRICT") PA("foo", "  selector: {matchLabels: {app: httpbin, version: v1}}\n"
                              "  mtls: {mode: DISABLE}\n"),
     8080, SC_MTLS_DISABLE},
    {"selector in root namespace ignored",
     MESH("STRICT") PA("istio-system", "  selector: {matchLabels: {app: httpbin}}\n"
                                       "  mtls: {mode: DISABLE}\n"),
     8080, SC_MTLS_STRICT},
    {"namespace-wide policy in another namespace ignored",
     MESH("STRICT") PA("bar", "  mtls: {mode: DISABLE}\n"), 8080, SC_MTLS_STRICT},
    {"workload policy in another namespace ignored",
     NS("STRICT") PA("bar", "  selector: {matchLabels: {app: httpbin}}\n"
                            "  mtls: {mode: DISABLE}\n"),
     8080, SC_MTLS_STRICT},
    {"missing metadata.namespace means ours",
     MESH("STRICT") "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                    "metadata: {name: x}\nspec: {mtls: {mode: DISABLE}}\n",
     8080, SC_MTLS_DISABLE},
    {"two at same scope: older creationTimestamp wins",
     PA_TS("newer", "\"2024-02-01T00:00:00Z\"", "STRICT")
         PA_TS("older", "2024-01-01T00:00:00Z", "DISABLE"),
     8080, SC_MTLS_DISABLE},
    {"two workload policies: older creationTimestamp wins",
     PA_TS_WL("newer", "2024-02-01T00:00:00Z", "STRICT")
         PA_TS_WL("older", "2023-01-01T00:00:00Z", "PERMISSIVE"),
     8080, SC_MTLS_PERMISSIVE},
    {"two at same scope without timestamps: file order", NS("DISABLE") NS("STRICT"), 8080,
     SC_MTLS_DISABLE},
    {"two workload policies without timestamps: file order", WL("STRICT") WL("DISABLE"), 8080,
     SC_MTLS_STRICT},
    {"two mesh policies without timestamps: file order", MESH("PERMISSIVE") MESH("STRICT"), 8080,
     SC_MTLS_PERMISSIVE},
    {NULL, NULL, 0, SC_MTLS_UNSET},
};

START_TEST(test_policy_port_mode_table)
{
    const struct pa_case *c = &pa_cases[_i];
    size_t len = strlen(BASE) + strlen(c->docs) + 1;
    char *text = malloc(len);
    struct sc_config *cfg;

    snprintf(text, len, "%s%s", BASE, c->docs);
    cfg = load(text);
    ck_assert_msg(sc_config_port_mode(cfg, c->port) == c->want, "%s: got %s, want %s", c->what,
                  sc_mtls_mode_name(sc_config_port_mode(cfg, c->port)), sc_mtls_mode_name(c->want));
    sc_config_free(cfg);
    free(text);
}
END_TEST


START_TEST(test_policy_older_creation_timestamp_wins)
{
    struct sc_config *cfg = load(BASE PA_TS("newer", "\"2024-02-01T00:00:00Z\"", "STRICT")
                                     PA_TS("older", "2024-01-01T00:00:00Z", "DISABLE"));
    char why[200];

    ck_assert_int_eq(sc_config_port_mode(cfg, 8080), SC_MTLS_DISABLE);
    ck_assert_str_eq(sc_policy_explain(cfg->policy, 8080, why, sizeof(why)),
                     "DISABLE (PeerAuthentication foo/older, namespace)");
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_policy_timestamp_offsets_and_fractions)
{
    /* 2024-01-01T01:30:00+02:00 is 23:30Z the day before: older. */
    struct sc_config *cfg = load(BASE PA_TS("a", "2023-12-31T23:45:00.5Z", "STRICT")
                                     PA_TS("b", "2024-01-01T01:30:00+02:00", "DISABLE")
                                         PA_TS("c", "2023-12-31T23:30:00.000001Z", "PERMISSIVE"));

    ck_assert_int_eq(sc_config_port_mode(cfg, 1), SC_MTLS_DISABLE);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_policy_timestamp_beats_none)
{
    struct sc_config *cfg = load(BASE NS("STRICT") PA_TS("b", "2024-01-01T00:00:00Z", "DISABLE"));

    ck_assert_int_eq(sc_config_port_mode(cfg, 8080), SC_MTLS_DISABLE);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_policy_custom_root_namespace)
{
    struct sc_config *cfg =
        load("node: {namespace: foo, root_namespace: mesh-root}\n"
             "secrets: {sds_socket: /s}\n" MESH("DISABLE") PA("mesh-root", "  mtls: {mode: "
                                                                           "STRICT}\n"));

    /* istio-system is now just another namespace */
    ck_assert_int_eq(sc_config_port_mode(cfg, 8080), SC_MTLS_STRICT);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_policy_explain_names_the_deciding_policy)
{
    struct sc_config *cfg =
        load(BASE MESH("STRICT") NS("UNSET") WL("UNSET") "  portLevelMtls:\n    81: {mode: "
                                                         "DISABLE}\n");
    char why[200];

    ck_assert_str_eq(sc_policy_explain(cfg->policy, 80, why, sizeof(why)),
                     "STRICT (PeerAuthentication istio-system/p, mesh)");
    ck_assert_str_eq(sc_policy_explain(cfg->policy, 81, why, sizeof(why)),
                     "DISABLE (PeerAuthentication foo/p, workload)");
    sc_config_free(cfg);
    ck_assert_str_eq(sc_policy_explain(NULL, 80, why, sizeof(why)), "PERMISSIVE (default)");
    ck_assert_int_eq(sc_policy_port_mode(NULL, 80), SC_MTLS_PERMISSIVE);
}
END_TEST

START_TEST(test_policy_decide_says_whether_port_level_decided)
{
    struct sc_config *cfg =
        load(BASE MESH("STRICT") NS("UNSET") WL("UNSET") "  portLevelMtls:\n    81: {mode: "
                                                         "DISABLE}\n");
    struct sc_policy_decision d;

    sc_policy_decide(cfg->policy, 80, &d);
    ck_assert_int_eq(d.mode, SC_MTLS_STRICT);
    ck_assert_str_eq(d.ns, "istio-system");
    ck_assert_str_eq(d.name, "p");
    ck_assert_str_eq(d.level, "mesh");
    ck_assert_int_eq(d.port_level, 0);
    sc_policy_decide(cfg->policy, 81, &d);
    ck_assert_int_eq(d.mode, SC_MTLS_DISABLE);
    ck_assert_str_eq(d.ns, "foo");
    ck_assert_str_eq(d.level, "workload");
    ck_assert_int_eq(d.port_level, 1);
    sc_config_free(cfg);
    sc_policy_decide(NULL, 80, &d);
    ck_assert_int_eq(d.mode, SC_MTLS_PERMISSIVE);
    ck_assert_ptr_null(d.level);
    ck_assert_ptr_null(d.name);
}
END_TEST

/* ---- PeerAuthentication validation ------------------------------------ */

START_TEST(test_policy_rejects_port_level_without_selector)
{
    expect_err(BASE NS("STRICT") "  portLevelMtls:\n    8080: {mode: DISABLE}\n", 9, 3,
               "PeerAuthentication foo/p: spec.portLevelMtls: portLevelMtls requires a "
               "workload selector (a mesh- or namespace-wide PeerAuthentication cannot set "
               "port-level mTLS)");
    expect_err(BASE PA("foo", "  selector: {matchLabels: {}}\n  portLevelMtls:\n"
                              "    8080: {mode: DISABLE}\n"),
               9, 3,
               "PeerAuthentication foo/p: spec.portLevelMtls: portLevelMtls requires a "
               "workload selector (a mesh- or namespace-wide PeerAuthentication cannot set "
               "port-level mTLS)");
}
END_TEST

START_TEST(test_policy_rejects_unknown_modes)
{
    expect_err(BASE MESH("strict"), 8, 16,
               "PeerAuthentication istio-system/p: spec.mtls.mode: unknown mode \"strict\" "
               "(expected UNSET, DISABLE, PERMISSIVE or STRICT)");
    expect_err(BASE WL("STRICT") "  portLevelMtls:\n    8080: {mode: OFF}\n", 11, 18,
               "PeerAuthentication foo/p: spec.portLevelMtls[8080].mode: unknown mode \"OFF\" "
               "(expected UNSET, DISABLE, PERMISSIVE or STRICT)");
}
END_TEST

START_TEST(test_policy_rejects_bad_documents)
{
    expect_err(BASE WL("STRICT") "  portLevelMtls:\n    http: {mode: DISABLE}\n", 11, 5,
               "PeerAuthentication foo/p: spec.portLevelMtls: port \"http\" must be a number in "
               "1..65535");
    expect_err(BASE WL("STRICT") "  portLevelMtls:\n    0: {mode: DISABLE}\n", 11, 5,
               "PeerAuthentication foo/p: spec.portLevelMtls: port \"0\" must be a number in "
               "1..65535");
    expect_err(BASE PA("foo", "  mtls: STRICT\n"), 8, 9,
               "PeerAuthentication foo/p: spec.mtls: expected a mapping, got a string");
    expect_err(BASE PA("foo", "  mTLS: {mode: STRICT}\n"), 8, 3,
               "PeerAuthentication foo/p: spec: unknown key \"mTLS\"");
    expect_err(BASE PA_TS("x", "yesterday", "STRICT"), 9, 22,
               "PeerAuthentication foo/x: metadata.creationTimestamp: expected an RFC 3339 "
               "time such as 2024-01-02T15:04:05Z");
    expect_err(BASE "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                    "spec: {}\nextra: 1\n",
               7, 1, "PeerAuthentication: unknown key \"extra\"");
    expect_err(BASE "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                    "metadata:\n  name: x\n  nameSpace: istio-system\n",
               8, 3, "PeerAuthentication: metadata: unknown key \"nameSpace\"");
    expect_err(BASE "---\napiVersion: security.istio.io/v1\nkind: [PeerAuthentication]\n", 5, 7,
               "kind: expected a string, got a list");
}
END_TEST

/* ---- DestinationRule -------------------------------------------------- */

/* The two documents from the brief, verbatim. */
static const char verbatim_docs[] = "apiVersion: security.istio.io/v1beta1\n"
                                    "kind: PeerAuthentication\n"
                                    "metadata:\n"
                                    "  name: mtls-global\n"
                                    "  namespace: istio-system\n"
                                    "spec:\n"
                                    "  mtls:\n"
                                    "    mode: STRICT\n"
                                    "---\n"
                                    "apiVersion: networking.istio.io/v1alpha3\n"
                                    "kind: DestinationRule\n"
                                    "metadata:\n"
                                    "  name: reviews\n"
                                    "spec:\n"
                                    "  host: reviews\n"
                                    "  trafficPolicy:\n"
                                    "    tls:\n"
                                    "      mode: ISTIO_MUTUAL\n";

START_TEST(test_policy_verbatim_istio_documents)
{
    static const char cfg_part[] =
        "node: {namespace: foo, labels: {app: productpage}}\n"
        "secrets: {sds_socket: /run/sds.sock}\n"
        "inbound:\n  ports: [{port: 9080}, {port: 8080, protocol: http}]\n"
        "outbound:\n"
        "  routes:\n"
        "    - {host: reviews, port: 9080}\n"
        "    - {host: reviews.foo.svc.cluster.local, cidr: 10.0.0.0/8}\n"
        "    - {host: reviews, tls: DISABLE}\n"
        "listeners:\n"
        "  - {name: a, direction: outbound, address: \"127.0.0.1:7001\", upstream: "
        "\"127.0.0.1:9080\", host: reviews}\n"
        "  - {name: b, direction: outbound, address: \"127.0.0.1:7002\", upstream: "
        "\"127.0.0.1:9080\", host: reviews.foo.svc.cluster.local, tls: DISABLE}\n"
        "  - {name: c, direction: inbound, address: \"127.0.0.1:7003\", port: 9080}\n"
        "---\n";
    char text[4096];
    struct sc_config *cfg;
    struct sc_policy_workload w = {"foo", "istio-system", NULL, 0};
    struct sc_policy_tls t;

    snprintf(text, sizeof(text), "%s%s", cfg_part, verbatim_docs);
    cfg = load(text);
    for (int port = 1; port <= 65535; port += 97) {
        ck_assert_int_eq(sc_config_port_mode(cfg, port), SC_MTLS_STRICT);
    }
    ck_assert_int_eq(sc_config_port_mode(cfg, 8080), SC_MTLS_STRICT);
    ck_assert_int_eq(sc_config_port_mode(cfg, 9080), SC_MTLS_STRICT);
    ck_assert_int_eq(sc_config_port_mode(cfg, 65535), SC_MTLS_STRICT);
    ck_assert_int_eq(cfg->outbound.routes[0].tls, SC_TLS_ISTIO_MUTUAL);
    ck_assert_int_eq(cfg->outbound.routes[1].tls, SC_TLS_ISTIO_MUTUAL);
    ck_assert_int_eq(cfg->outbound.routes[2].tls, SC_TLS_DISABLE);
    ck_assert_int_eq(cfg->listeners[0].tls, SC_TLS_ISTIO_MUTUAL);
    ck_assert_int_eq(cfg->listeners[1].tls, SC_TLS_DISABLE);
    ck_assert_int_eq(cfg->outbound.def.tls, SC_TLS_DISABLE);
    /* the rule is really what matched, under both spellings of the host */
    ck_assert_int_eq(sc_policy_dest_tls(cfg->policy, &w, "reviews", 9080, &t), 1);
    ck_assert_int_eq(t.mode, SC_TLS_ISTIO_MUTUAL);
    ck_assert_str_eq(t.rule, "reviews");
    ck_assert_int_eq(t.line, 32);
    ck_assert_int_eq(t.col, 7);
    ck_assert_int_eq(sc_policy_dest_tls(cfg->policy, &w, "reviews.foo.svc.cluster.local", 0, &t),
                     1);
    ck_assert_int_eq(sc_policy_dest_tls(cfg->policy, &w, "reviews.foo", 0, &t), 1);
    ck_assert_int_eq(sc_policy_dest_tls(cfg->policy, &w, "reviews.bar", 0, &t), 0);
    ck_assert_int_eq(sc_policy_dest_tls(cfg->policy, &w, "ratings", 0, &t), 0);
    ck_assert_uint_eq(sc_policy_n_peer_auth(cfg->policy), 1);
    ck_assert_uint_eq(sc_policy_n_dest_rules(cfg->policy), 1);
    sc_config_free(cfg);
}
END_TEST

#define DR(ns_line, host, tp)                                               \
    "---\napiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\n" \
    "metadata: {name: r" ns_line "}\nspec:\n  host: " host "\n  trafficPolicy:\n" tp

#define ROUTES(r) "outbound:\n  routes:\n" r

struct dr_case {
    const char *what;
    const char *text;
    enum sc_tls_mode want[3]; /* routes[0..2] */
};

static const struct dr_case dr_cases[] = {
    {"no rule: ISTIO_MUTUAL",
     BASE ROUTES("    - {host: reviews}\n    - {cidr: 10.0.0.0/8}\n    - {host: a.b.c.d}\n"),
     {SC_TLS_ISTIO_MUTUAL, SC_TLS_ISTIO_MUTUAL, SC_TLS_ISTIO_MUTUAL}},
    {"rule DISABLE applies to short, medium and full names",
     BASE ROUTES("    - {host: reviews}\n    - {host: reviews.foo}\n"
                 "    - {host: reviews.foo.svc.cluster.local}\n")
         DR("", "reviews", "    tls: {mode: DISABLE}\n"),
     {SC_TLS_DISABLE, SC_TLS_DISABLE, SC_TLS_DISABLE}},
    {"explicit tls wins over the rule",
     BASE ROUTES("    - {host: reviews, tls: ISTIO_MUTUAL}\n    - {host: reviews, tls: DISABLE}\n"
                 "    - {host: reviews}\n") DR("", "reviews", "    tls: {mode: DISABLE}\n"),
     {SC_TLS_ISTIO_MUTUAL, SC_TLS_DISABLE, SC_TLS_DISABLE}},
    {"rule in namespace bar: short name resolves in bar",
     BASE ROUTES("    - {host: reviews}\n    - {host: reviews.bar}\n"
                 "    - {host: reviews.bar.svc.cluster.local}\n")
         DR(", namespace: bar", "reviews", "    tls: {mode: DISABLE}\n"),
     {SC_TLS_ISTIO_MUTUAL, SC_TLS_DISABLE, SC_TLS_DISABLE}},
    {"rule host name.namespace",
     BASE ROUTES("    - {host: reviews}\n    - {host: reviews.bar}\n    - {host: ratings.bar}\n")
         DR("", "reviews.bar", "    tls: {mode: DISABLE}\n"),
     {SC_TLS_ISTIO_MUTUAL, SC_TLS_DISABLE, SC_TLS_ISTIO_MUTUAL}},
    {"wildcard matches suffixes only",
     BASE ROUTES("    - {host: reviews.bar}\n    - {host: reviews}\n"
                 "    - {host: x.y.bar.svc.cluster.local}\n")
         DR("", "\"*.bar.svc.cluster.local\"", "    tls: {mode: DISABLE}\n"),
     {SC_TLS_DISABLE, SC_TLS_ISTIO_MUTUAL, SC_TLS_DISABLE}},
    {"exact host beats wildcard",
     BASE ROUTES("    - {host: reviews.bar}\n    - {host: ratings.bar}\n    - {host: x.com}\n")
         DR("", "\"*.bar.svc.cluster.local\"", "    tls: {mode: DISABLE}\n")
             DR("", "reviews.bar.svc.cluster.local", "    tls: {mode: ISTIO_MUTUAL}\n")
                 DR("", "\"*\"", "    tls: {mode: DISABLE}\n"),
     {SC_TLS_ISTIO_MUTUAL, SC_TLS_DISABLE, SC_TLS_DISABLE}},
    {"rule in our namespace beats the host's namespace and root",
     BASE ROUTES("    - {host: reviews.bar}\n    - {host: ratings.bar}\n    - {host: x.com}\n")
         DR(", namespace: bar", "reviews", "    tls: {mode: DISABLE}\n")
             DR(", namespace: foo", "reviews.bar", "    tls: {mode: ISTIO_MUTUAL}\n")
                 DR(", namespace: istio-system", "ratings.bar", "    tls: {mode: DISABLE}\n"),
     {SC_TLS_ISTIO_MUTUAL, SC_TLS_DISABLE, SC_TLS_ISTIO_MUTUAL}},
    {"same host and namespace: file order",
     BASE ROUTES("    - {host: reviews}\n    - {host: other}\n    - {host: reviews, port: 1}\n")
         DR("", "reviews", "    tls: {mode: DISABLE}\n")
             DR("", "reviews", "    tls: {mode: ISTIO_MUTUAL}\n"),
     {SC_TLS_DISABLE, SC_TLS_ISTIO_MUTUAL, SC_TLS_DISABLE}},
    {"portLevelSettings override for the route's port",
     BASE ROUTES("    - {host: reviews, port: 9080}\n    - {host: reviews, port: 9090}\n"
                 "    - {host: reviews}\n")
         DR("", "reviews",
            "    tls: {mode: ISTIO_MUTUAL}\n    portLevelSettings:\n"
            "      - port: {number: 9080}\n        tls: {mode: DISABLE}\n"),
     {SC_TLS_DISABLE, SC_TLS_ISTIO_MUTUAL, SC_TLS_ISTIO_MUTUAL}},
    {"portLevelSettings without tls do not inherit the rule's tls",
     BASE ROUTES("    - {host: reviews, port: 9080}\n    - {host: reviews, port: 9090}\n"
                 "    - {host: reviews}\n")
         DR("", "reviews",
            "    tls: {mode: DISABLE}\n    portLevelSettings:\n"
            "      - port: {number: 9080}\n        connectionPool: {}\n"),
     {SC_TLS_ISTIO_MUTUAL, SC_TLS_DISABLE, SC_TLS_DISABLE}},
    {"workloadSelector not matching ignored",
     BASE ROUTES(
         "    - {host: reviews}\n    - {host: reviews}\n    - {host: reviews}\n") "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                                                                                  "metadata: {name: r, namespace: foo}\nspec:\n  host: reviews\n"
                                                                                  "  workloadSelector: {matchLabels: {app: other}}\n"
                                                                                  "  trafficPolicy: {tls: {mode: DISABLE}}\n",
     {SC_TLS_ISTIO_MUTUAL, SC_TLS_ISTIO_MUTUAL, SC_TLS_ISTIO_MUTUAL}},
    {"a tls block without mode means DISABLE, as in Istio",
     BASE ROUTES("    - {host: reviews}\n    - {host: x}\n    - {host: y}\n")
         DR("", "reviews", "    tls: {sni: reviews}\n    loadBalancer: {simple: ROUND_ROBIN}\n"),
     {SC_TLS_DISABLE, SC_TLS_ISTIO_MUTUAL, SC_TLS_ISTIO_MUTUAL}},
    {NULL, NULL, {SC_TLS_UNSET, SC_TLS_UNSET, SC_TLS_UNSET}},
};

START_TEST(test_policy_destination_rule_table)
{
    const struct dr_case *c = &dr_cases[_i];
    struct sc_config *cfg = load(c->text);

    ck_assert_uint_ge(cfg->outbound.n_routes, 2);
    for (size_t i = 0; i < cfg->outbound.n_routes && i < 3; i++) {
        ck_assert_msg(cfg->outbound.routes[i].tls == c->want[i], "%s: routes[%zu] got %s want %s",
                      c->what, i, sc_tls_mode_name(cfg->outbound.routes[i].tls),
                      sc_tls_mode_name(c->want[i]));
    }
    ck_assert_int_eq(cfg->outbound.def.tls, SC_TLS_DISABLE);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_policy_destination_rule_for_listener_port)
{
    struct sc_config *cfg =
        load(BASE "listeners:\n"
                  "  - {name: a, direction: outbound, address: \"127.0.0.1:7001\",\n"
                  "     upstream: \"127.0.0.1:9080\", host: reviews}\n"
                  "  - {name: b, direction: outbound, address: \"127.0.0.1:7002\",\n"
                  "     upstream: \"127.0.0.1:9090\", host: reviews}\n"
                  "  - {name: c, direction: outbound, address: \"127.0.0.1:7003\",\n"
                  "     upstream: \"127.0.0.1:9090\", host: reviews, port: 9080}\n"
                  "  - {name: d, direction: outbound, address: \"127.0.0.1:7004\",\n"
                  "     upstream: \"127.0.0.1:9080\"}\n" DR("", "reviews",
                                                            "    portLevelSettings:\n"
                                                            "      - port: {number: 9080}\n"
                                                            "        tls: {mode: DISABLE}\n"));

    ck_assert_int_eq(cfg->listeners[0].tls, SC_TLS_DISABLE);
    ck_assert_int_eq(cfg->listeners[1].tls, SC_TLS_ISTIO_MUTUAL);
    ck_assert_int_eq(cfg->listeners[2].tls, SC_TLS_DISABLE);
    ck_assert_int_eq(cfg->listeners[3].tls, SC_TLS_ISTIO_MUTUAL);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_policy_rejects_bad_destination_rules)
{
    expect_err(BASE "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                    "metadata: {name: r}\nspec: {trafficPolicy: {}}\n",
               7, 7, "DestinationRule r: spec.host: required");
    expect_err(BASE DR("", "r", "    tls: {mode: SIMPLE, credentialName: x}\n"), 10, 41,
               "DestinationRule r: spec.trafficPolicy.tls.credentialName: not supported by this "
               "sidecar");
    expect_err(BASE DR("", "r", "    tls: {mode: ISTIO_MUTUAL, caCertificates: /x}\n"), 10, 10,
               "DestinationRule r: spec.trafficPolicy.tls: ISTIO_MUTUAL uses the mesh "
               "certificates; caCertificates, clientCertificate, privateKey and caCrl are not "
               "allowed with it");
    expect_err(BASE DR("", "r", "    tls: {mode: ISTIO_MUTUAL, caCrl: /x}\n"), 10, 10,
               "DestinationRule r: spec.trafficPolicy.tls: ISTIO_MUTUAL uses the mesh "
               "certificates; caCertificates, clientCertificate, privateKey and caCrl are not "
               "allowed with it");
    expect_err(BASE DR("", "r", "    tls: {mode: MUTUAL}\n"), 10, 10,
               "DestinationRule r: spec.trafficPolicy.tls: MUTUAL needs clientCertificate and "
               "privateKey");
    expect_err(BASE DR("", "r", "    tls: {mode: SIMPLE, insecureSkipVerify: true}\n"), 10, 45,
               "DestinationRule r: spec.trafficPolicy.tls.insecureSkipVerify: only false is "
               "supported");
    expect_err(BASE DR("", "r", "    tsl: {mode: SIMPLE}\n"), 10, 5,
               "DestinationRule r: spec.trafficPolicy: unknown key \"tsl\"");
    expect_err(BASE DR("", "r", "    portLevelSettings:\n      - tls: {mode: DISABLE}\n"), 11, 9,
               "DestinationRule r: spec.trafficPolicy.portLevelSettings[0].port: required");
    expect_err(BASE DR("", "r", "    portLevelSettings:\n      - port: {number: 0}\n"), 11, 24,
               "DestinationRule r: spec.trafficPolicy.portLevelSettings[0].port.number: "
               "expected a port number in 1..65535");
    expect_err(BASE "---\napiVersion: networking.istio.io/v1beta2\nkind: DestinationRule\n", 4, 13,
               "apiVersion: \"networking.istio.io/v1beta2\" is not a DestinationRule version "
               "(expected networking.istio.io/v1alpha3, v1beta1 or v1)");
}
END_TEST

/* ---- pieces ------------------------------------------------------------ */

START_TEST(test_policy_expand_host)
{
    char out[300];

    ck_assert_str_eq(sc_policy_expand_host("reviews", "foo", out, sizeof(out)),
                     "reviews.foo.svc.cluster.local");
    ck_assert_str_eq(sc_policy_expand_host("reviews.bar", "foo", out, sizeof(out)),
                     "reviews.bar.svc.cluster.local");
    ck_assert_str_eq(
        sc_policy_expand_host("reviews.bar.svc.cluster.local", "foo", out, sizeof(out)),
        "reviews.bar.svc.cluster.local");
    ck_assert_str_eq(sc_policy_expand_host("api.example.com", "foo", out, sizeof(out)),
                     "api.example.com");
    ck_assert_str_eq(sc_policy_expand_host("*.example.com", "foo", out, sizeof(out)),
                     "*.example.com");
    ck_assert_str_eq(sc_policy_expand_host("*", "foo", out, sizeof(out)), "*");
}
END_TEST

START_TEST(test_policy_parse_mode_names_case_sensitive)
{
    enum sc_mtls_mode m;
    enum sc_tls_mode t;

    ck_assert_int_eq(sc_policy_parse_mtls_mode("STRICT", &m), 0);
    ck_assert_int_eq(m, SC_MTLS_STRICT);
    ck_assert_int_eq(sc_policy_parse_mtls_mode("UNSET", &m), 0);
    ck_assert_int_eq(m, SC_MTLS_UNSET);
    ck_assert_int_eq(sc_policy_parse_mtls_mode("Strict", &m), -1);
    ck_assert_int_eq(sc_policy_parse_mtls_mode("", &m), -1);
    ck_assert_int_eq(sc_policy_parse_tls_mode("ISTIO_MUTUAL", &t), 0);
    ck_assert_int_eq(t, SC_TLS_ISTIO_MUTUAL);
    ck_assert_int_eq(sc_policy_parse_tls_mode("istio_mutual", &t), -1);
}
END_TEST

START_TEST(test_policy_direct_api)
{
    static const char text[] = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                               "metadata: {name: a, namespace: ns1}\n"
                               "spec:\n  selector: {matchLabels: {app: x}}\n"
                               "  mtls: {mode: DISABLE}\n";
    char k[] = "app";
    char v[] = "x";
    struct sc_label labels[] = {{k, v}};
    struct sc_policy_workload w = {"ns1", "istio-system", labels, 1};
    struct sc_policy_workload other = {"ns1", "istio-system", NULL, 0};
    struct sc_err err;
    struct sc_yaml_stream *s = sc_yaml_parse("d.yaml", text, strlen(text), &err);
    struct sc_policy *p = sc_policy_new();

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(sc_policy_is_resource(s->docs[0]), 1);
    ck_assert_int_eq(sc_policy_add(p, s->docs[0], &err), 0);
    ck_assert_int_eq(sc_policy_port_mode(p, 1), SC_MTLS_PERMISSIVE); /* not bound yet */
    sc_policy_bind(p, &w);
    ck_assert_int_eq(sc_policy_port_mode(p, 1), SC_MTLS_DISABLE);
    sc_policy_bind(p, &other);
    ck_assert_int_eq(sc_policy_port_mode(p, 1), SC_MTLS_PERMISSIVE);
    sc_policy_free(p);
    sc_policy_free(NULL);
    sc_yaml_free(s);
}
END_TEST

static Suite *policy_suite(void)
{
    Suite *s = suite_create("policy");
    TCase *pa = tcase_create("sc_policy_port_mode");
    TCase *pav = tcase_create("sc_policy_add");
    TCase *dr = tcase_create("sc_policy_dest_tls");
    TCase *misc = tcase_create("helpers");
    int n_pa = 0;
    int n_dr = 0;

    while (pa_cases[n_pa].what != NULL) {
        n_pa++;
    }
    while (dr_cases[n_dr].what != NULL) {
        n_dr++;
    }
    tcase_add_loop_test(pa, test_policy_port_mode_table, 0, n_pa);
    tcase_add_test(pa, test_policy_older_creation_timestamp_wins);
    tcase_add_test(pa, test_policy_timestamp_offsets_and_fractions);
    tcase_add_test(pa, test_policy_timestamp_beats_none);
    tcase_add_test(pa, test_policy_custom_root_namespace);
    tcase_add_test(pa, test_policy_explain_names_the_deciding_policy);
    suite_add_tcase(s, pa);
    tcase_add_test(pav, test_policy_rejects_port_level_without_selector);
    tcase_add_test(pav, test_policy_rejects_unknown_modes);
    tcase_add_test(pav, test_policy_rejects_bad_documents);
    tcase_add_test(pav, test_policy_rejects_bad_destination_rules);
    suite_add_tcase(s, pav);
    tcase_add_test(dr, test_policy_verbatim_istio_documents);
    tcase_add_loop_test(dr, test_policy_destination_rule_table, 0, n_dr);
    tcase_add_test(dr, test_policy_destination_rule_for_listener_port);
    suite_add_tcase(s, dr);
    tcase_add_test(misc, test_policy_decide_says_whether_port_level_decided);
    tcase_add_test(misc, test_policy_expand_host);
    tcase_add_test(misc, test_policy_parse_mode_names_case_sensitive);
    tcase_add_test(misc, test_policy_direct_api);
    suite_add_tcase(s, misc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(policy_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
