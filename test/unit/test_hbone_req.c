/* proxy/hbone_req: what an HBONE CONNECT asks for, and whether it gets it;
 * and the HBONE config keys it reads. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_load.h"
#include "hbone_req.h"

#define SDS "secrets: {sds_socket: /run/sds.sock}\n"
#define CLIENT "spiffe://cluster.local/ns/foo/sa/client"

static const char workload[] = SDS
    "node: {namespace: bar, labels: {app: w}}\n"
    "inbound:\n"
    "  address: 127.0.0.1:15006\n"
    "  hbone_address: 127.0.0.1:25008\n"
    "  ports:\n"
    "    - {port: 8080, protocol: tcp}\n"
    "    - {port: 9090, protocol: http, allowed_principals: [\"spiffe://cluster.local/ns/foo/*\"]}\n"
    "    - {port: 7070, protocol: tcp}\n"
    "listeners:\n"
    "  - {name: extra, direction: inbound, address: 127.0.0.1:16000, upstream: 127.0.0.1:6000,\n"
    "     port: 6060, protocol: tcp}\n"
    "---\n"
    "apiVersion: security.istio.io/v1beta1\n"
    "kind: PeerAuthentication\n"
    "metadata: {name: default, namespace: bar}\n"
    "spec:\n"
    "  selector: {matchLabels: {app: w}}\n"
    "  mtls: {mode: STRICT}\n"
    "  portLevelMtls: {7070: {mode: DISABLE}}\n";

static struct sc_config *cfg;

static void setup(void)
{
    cfg = tc_config_load("w.yaml", workload);
}

static void teardown(void)
{
    sc_config_free(cfg);
    cfg = NULL;
}

static void hdr(struct sc_hbone_req *r, const char *n, const char *v)
{
    sc_hbone_req_header(r, (const uint8_t *)n, strlen(n), (const uint8_t *)v, strlen(v));
}

/* A CONNECT to authority from peer: the status, with the reason in why. */
static int decide(const char *method, const char *authority, const char *peer,
                  struct sc_hbone_target *t, char *why, size_t len)
{
    struct sc_hbone_req r;

    sc_hbone_req_init(&r);
    if (method != NULL) {
        hdr(&r, ":method", method);
    }
    if (authority != NULL) {
        hdr(&r, ":authority", authority);
    }
    hdr(&r, "baggage", "k8s.namespace.name=foo"); /* ztunnel's: carried, ignored */
    return sc_hbone_req_decide(&r, cfg, peer, t, why, len);
}

START_TEST(test_hbone_req_connect_to_a_served_port_is_200)
{
    struct sc_hbone_target t;
    char why[300], as[SC_ADDR_STRLEN];

    ck_assert_int_eq(decide("CONNECT", "10.1.2.3:8080", CLIENT, &t, why, sizeof(why)), 200);
    ck_assert_int_eq(t.port, 8080);
    ck_assert_int_eq(t.protocol, SC_PROTO_TCP);
    ck_assert_int_eq(t.mode, SC_MTLS_STRICT);
    ck_assert_str_eq(sc_addr_str(&t.app, as, sizeof(as)), "127.0.0.1:8080");
    ck_assert_str_eq(why, "");
}
END_TEST

START_TEST(test_hbone_req_ipv6_authority_is_200)
{
    struct sc_hbone_target t;
    char why[300];

    ck_assert_int_eq(decide("CONNECT", "[fd00::7]:8080", CLIENT, &t, why, sizeof(why)), 200);
    ck_assert_int_eq(t.port, 8080);
}
END_TEST

START_TEST(test_hbone_req_http_port_keeps_its_protocol)
{
    struct sc_hbone_target t;
    char why[300];

    ck_assert_int_eq(decide("CONNECT", "10.1.2.3:9090", CLIENT, &t, why, sizeof(why)), 200);
    ck_assert_int_eq(t.protocol, SC_PROTO_HTTP);
    ck_assert_ptr_nonnull(t.inport);
}
END_TEST

START_TEST(test_hbone_req_explicit_listener_port_goes_to_its_upstream)
{
    struct sc_hbone_target t;
    char why[300], as[SC_ADDR_STRLEN];

    ck_assert_int_eq(decide("CONNECT", "10.1.2.3:6060", CLIENT, &t, why, sizeof(why)), 200);
    ck_assert_str_eq(sc_addr_str(&t.app, as, sizeof(as)), "127.0.0.1:6000");
}
END_TEST

START_TEST(test_hbone_req_port_not_served_is_403)
{
    struct sc_hbone_target t;
    char why[300];

    ck_assert_int_eq(decide("CONNECT", "10.1.2.3:22", CLIENT, &t, why, sizeof(why)), 403);
    ck_assert_str_eq(why, "port 22 is not an inbound port of this workload");
}
END_TEST

START_TEST(test_hbone_req_disable_port_is_403)
{
    struct sc_hbone_target t;
    char why[300];

    ck_assert_int_eq(decide("CONNECT", "10.1.2.3:7070", CLIENT, &t, why, sizeof(why)), 403);
    ck_assert_str_eq(why, "port 7070 is PeerAuthentication DISABLE: it takes no mesh mTLS");
}
END_TEST

START_TEST(test_hbone_req_principal_not_allowed_is_403)
{
    struct sc_hbone_target t;
    char why[300];

    ck_assert_int_eq(decide("CONNECT", "10.1.2.3:9090", "spiffe://cluster.local/ns/evil/sa/x", &t,
                            why, sizeof(why)),
                     403);
    ck_assert_str_eq(why, "peer spiffe://cluster.local/ns/evil/sa/x is not in port 9090's "
                          "allowed_principals");
}
END_TEST

START_TEST(test_hbone_req_other_method_is_405)
{
    struct sc_hbone_target t;
    char why[300];

    ck_assert_int_eq(decide("GET", "10.1.2.3:8080", CLIENT, &t, why, sizeof(why)), 405);
}
END_TEST

static const char *const bad_authorities[] = {
    "",
    "10.1.2.3",
    "10.1.2.3:",
    "10.1.2.3:0",
    "10.1.2.3:65536",
    "*:8080",
    ":8080",
    "svc.ns.svc.cluster.local:8080",
    "10.1.2.3:80x",
    "[fd00::7]8080",
    "10.1.2.3:8080/x",
};

START_TEST(test_hbone_req_authority_not_ip_port_is_400)
{
    struct sc_hbone_target t;
    char why[300];

    ck_assert_int_eq(decide("CONNECT", bad_authorities[_i], CLIENT, &t, why, sizeof(why)), 400);
    ck_assert_ptr_nonnull(strstr(why, ":authority"));
}
END_TEST

START_TEST(test_hbone_req_missing_method_is_400)
{
    struct sc_hbone_target t;
    char why[300];

    ck_assert_int_eq(decide(NULL, "10.1.2.3:8080", CLIENT, &t, why, sizeof(why)), 400);
}
END_TEST

START_TEST(test_hbone_req_duplicate_authority_is_400)
{
    struct sc_hbone_req r;
    struct sc_hbone_target t;
    char why[300];

    sc_hbone_req_init(&r);
    hdr(&r, ":method", "CONNECT");
    hdr(&r, ":authority", "10.1.2.3:8080");
    hdr(&r, ":authority", "10.1.2.3:22");
    ck_assert_int_eq(sc_hbone_req_decide(&r, cfg, CLIENT, &t, why, sizeof(why)), 400);
}
END_TEST

START_TEST(test_hbone_req_scheme_or_path_is_not_hbone)
{
    static const char *const pseudo[] = {":scheme", ":path", ":protocol"};
    struct sc_hbone_req r;
    struct sc_hbone_target t;
    char why[300];

    for (size_t i = 0; i < 3; i++) {
        sc_hbone_req_init(&r);
        hdr(&r, ":method", "CONNECT");
        hdr(&r, ":authority", "10.1.2.3:8080");
        hdr(&r, pseudo[i], "x");
        ck_assert_int_eq(sc_hbone_req_decide(&r, cfg, CLIENT, &t, why, sizeof(why)), 400);
    }
}
END_TEST

START_TEST(test_hbone_req_long_or_nul_authority_is_400)
{
    struct sc_hbone_req r;
    struct sc_hbone_target t;
    char why[300], longv[400];

    memset(longv, '1', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    sc_hbone_req_init(&r);
    hdr(&r, ":method", "CONNECT");
    hdr(&r, ":authority", longv);
    ck_assert_int_eq(sc_hbone_req_decide(&r, cfg, CLIENT, &t, why, sizeof(why)), 400);
    sc_hbone_req_init(&r);
    hdr(&r, ":method", "CONNECT");
    sc_hbone_req_header(&r, (const uint8_t *)":authority", 10, (const uint8_t *)"1.2.3.4\0:80", 11);
    ck_assert_int_eq(sc_hbone_req_decide(&r, cfg, CLIENT, &t, why, sizeof(why)), 400);
}
END_TEST

START_TEST(test_hbone_peer_allowed_needs_one_port)
{
    /* 8080 allows any identity of the trust domain */
    ck_assert_int_eq(sc_hbone_peer_allowed(cfg, "spiffe://cluster.local/ns/evil/sa/x"), 1);
}
END_TEST

START_TEST(test_hbone_peer_refused_when_every_port_refuses)
{
    struct sc_config *c = tc_config_load(
        "p.yaml",
        SDS "inbound:\n  ports:\n"
            "    - {port: 8080, allowed_principals: [\"spiffe://cluster.local/ns/foo/*\"]}\n");

    ck_assert_int_eq(sc_hbone_peer_allowed(c, "spiffe://cluster.local/ns/evil/sa/x"), 0);
    ck_assert_int_eq(sc_hbone_peer_allowed(c, CLIENT), 1);
    sc_config_free(c);
}
END_TEST

/* ---- config keys ------------------------------------------------------------ */

START_TEST(test_hbone_config_defaults)
{
    struct sc_config *c = tc_config_load("d.yaml", SDS "inbound: {}\noutbound: {}\n");
    char as[SC_ADDR_STRLEN];

    ck_assert_int_eq(c->inbound.has_hbone, 1);
    ck_assert_int_eq(c->inbound.hbone_explicit, 0);
    ck_assert_str_eq(sc_addr_str(&c->inbound.hbone_address, as, sizeof(as)), "0.0.0.0:15008");
    ck_assert_int_eq(c->hbone.port, 15008);
    ck_assert_int_eq(c->hbone.max_streams_per_connection, 100);
    ck_assert_int_eq(c->hbone.idle_ms, 60000);
    ck_assert_int_eq(c->outbound.default_transport, SC_TRANSPORT_TLS);
    sc_config_free(c);
}
END_TEST

START_TEST(test_hbone_config_keys)
{
    struct sc_config *c = tc_config_load(
        "k.yaml",
        SDS "inbound: {hbone_address: off}\n"
            "outbound:\n  default_transport: hbone\n  routes:\n"
            "    - {cidr: 10.0.0.0/8, tls: ISTIO_MUTUAL}\n"
            "    - {cidr: 11.0.0.0/8, tls: ISTIO_MUTUAL, transport: tls}\n"
            "    - {cidr: 12.0.0.0/8, tls: DISABLE}\n"
            "    - {cidr: 13.0.0.0/8, tls: ISTIO_MUTUAL, transport: hbone, hbone_port: 25008}\n"
            "hbone_port: 15009\n"
            "hbone: {max_streams_per_connection: 7, idle_ms: 1500}\n");

    ck_assert_int_eq(c->inbound.has_hbone, 0);
    ck_assert_int_eq(c->outbound.routes[0].transport, SC_TRANSPORT_HBONE);
    ck_assert_int_eq(c->outbound.routes[1].transport, SC_TRANSPORT_TLS);
    ck_assert_int_eq(c->outbound.routes[2].transport, SC_TRANSPORT_TLS);
    ck_assert_int_eq(c->outbound.routes[3].transport, SC_TRANSPORT_HBONE);
    ck_assert_int_eq(c->outbound.routes[3].hbone_port, 25008);
    ck_assert_int_eq(c->hbone.port, 15009);
    ck_assert_int_eq(c->hbone.max_streams_per_connection, 7);
    ck_assert_int_eq(c->hbone.idle_ms, 1500);
    ck_assert_str_eq(sc_transport_name(c->outbound.routes[0].transport), "hbone");
    sc_config_free(c);
}
END_TEST

START_TEST(test_hbone_config_hbone_needs_istio_mutual)
{
    tc_config_expect_err(
        "e.yaml",
        SDS "outbound:\n  routes:\n"
            "    - {cidr: 10.0.0.0/8, tls: DISABLE, transport: hbone}\n",
        4, 51, "outbound.routes[0].transport: hbone needs tls ISTIO_MUTUAL (tls is DISABLE)");
}
END_TEST

START_TEST(test_hbone_config_unknown_transport)
{
    tc_config_expect_err(
        "e.yaml", SDS "outbound: {default_transport: quic}\n", 2, 31,
        "outbound.default_transport: unknown transport \"quic\" (expected hbone or "
        "tls)");
}
END_TEST

START_TEST(test_hbone_config_max_streams_range)
{
    tc_config_expect_err("e.yaml", SDS "hbone: {max_streams_per_connection: 0}\n", 2, 37,
                         "hbone.max_streams_per_connection: 0 is out of range 1..100000");
}
END_TEST

START_TEST(test_hbone_config_bad_hbone_address)
{
    tc_config_expect_err("e.yaml", SDS "inbound: {hbone_address: nowhere}\n", 2, 26,
                         "inbound.hbone_address: bad address \"nowhere\": expected host:port");
}
END_TEST

static Suite *hbone_req_suite(void)
{
    Suite *s = suite_create("hbone_req");
    TCase *tc = tcase_create("sc_hbone_req_decide");
    TCase *tp = tcase_create("sc_hbone_peer_allowed");
    TCase *tk = tcase_create("config");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_hbone_req_connect_to_a_served_port_is_200);
    tcase_add_test(tc, test_hbone_req_ipv6_authority_is_200);
    tcase_add_test(tc, test_hbone_req_http_port_keeps_its_protocol);
    tcase_add_test(tc, test_hbone_req_explicit_listener_port_goes_to_its_upstream);
    tcase_add_test(tc, test_hbone_req_port_not_served_is_403);
    tcase_add_test(tc, test_hbone_req_disable_port_is_403);
    tcase_add_test(tc, test_hbone_req_principal_not_allowed_is_403);
    tcase_add_test(tc, test_hbone_req_other_method_is_405);
    tcase_add_loop_test(tc, test_hbone_req_authority_not_ip_port_is_400, 0,
                        (int)(sizeof(bad_authorities) / sizeof(bad_authorities[0])));
    tcase_add_test(tc, test_hbone_req_missing_method_is_400);
    tcase_add_test(tc, test_hbone_req_duplicate_authority_is_400);
    tcase_add_test(tc, test_hbone_req_scheme_or_path_is_not_hbone);
    tcase_add_test(tc, test_hbone_req_long_or_nul_authority_is_400);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(tp, setup, teardown);
    tcase_add_test(tp, test_hbone_peer_allowed_needs_one_port);
    tcase_add_test(tp, test_hbone_peer_refused_when_every_port_refuses);
    suite_add_tcase(s, tp);
    tcase_add_test(tk, test_hbone_config_defaults);
    tcase_add_test(tk, test_hbone_config_keys);
    tcase_add_test(tk, test_hbone_config_hbone_needs_istio_mutual);
    tcase_add_test(tk, test_hbone_config_unknown_transport);
    tcase_add_test(tk, test_hbone_config_max_streams_range);
    tcase_add_test(tk, test_hbone_config_bad_hbone_address);
    suite_add_tcase(s, tk);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hbone_req_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
