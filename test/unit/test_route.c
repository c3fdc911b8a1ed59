/* Unit tests for proxy/route: the routing decision as a table of cases over
 * configs loaded from YAML (PeerAuthentication modes and port-level
 * overrides, outbound routes by original destination, DestinationRule tls
 * modes, HBONE transport, the default route, explicit listeners, loops),
 * plus the sniff verdicts and classes a connection takes from them. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_load.h"
#include "route.h"

/* Our workload: namespace foo, app=httpbin.  Mesh STRICT, overridden for
 * the workload by PERMISSIVE, with port-level STRICT (8080, 8081) and
 * DISABLE (5432). */
#define CFG_MAIN                                                                                  \
    "node: {namespace: foo, labels: {app: httpbin}}\n"                                            \
    "secrets: {sds_socket: /run/sds.sock}\n"                                                      \
    "hbone_port: 15010\n"                                                                         \
    "inbound:\n"                                                                                  \
    "  address: \"0.0.0.0:15006\"\n"                                                              \
    "  app_host: 127.0.0.2\n"                                                                     \
    "  ports:\n"                                                                                  \
    "    - {port: 8080, protocol: http, allowed_principals: [\"spiffe://cluster.local/ns/a/*\"]," \
    "       timeouts: {sniff_ms: 111}}\n"                                                         \
    "    - {port: 9090, protocol: auto}\n"                                                        \
    "    - {port: 5432}\n"                                                                        \
    "    - {port: 15006}\n"                                                                       \
    "outbound:\n"                                                                                 \
    "  address: \"127.0.0.1:15001\"\n"                                                            \
    "  routes:\n"                                                                                 \
    "    - {host: httpbin.bar.svc.cluster.local, cidr: 10.96.12.0/24, port: 8080,\n"              \
    "       protocol: http, transport: tls,\n"                                                    \
    "       expected_identities: [\"spiffe://cluster.local/ns/bar/sa/h\"]}\n"                     \
    "    - {host: db.bar.svc.cluster.local, cidr: 10.96.13.0/24}\n"                               \
    "    - {host: reviews.bar.svc.cluster.local, cidr: 10.96.14.0/24, transport: hbone,\n"        \
    "       hbone_port: 15009}\n"                                                                 \
    "    - {host: ratings.bar.svc.cluster.local, cidr: 10.96.15.0/24}\n"                          \
    "    - {host: legacy.bar.svc.cluster.local, cidr: 10.96.16.0/24, tls: DISABLE}\n"             \
    "    - {host: ext.example.com, cidr: 10.97.0.0/16, port: 443}\n"                              \
    "  default: {tls: DISABLE, protocol: auto}\n"                                                 \
    "  default_transport: hbone\n"                                                                \
    "listeners:\n"                                                                                \
    "  - {name: to-bar, direction: outbound, address: \"127.0.0.1:7001\",\n"                      \
    "     upstream: \"127.0.0.1:7002\", host: server.bar.svc.cluster.local,\n"                    \
    "     tls: ISTIO_MUTUAL, protocol: http, transport: tls,\n"                                   \
    "     expected_identities: [\"spiffe://cluster.local/ns/bar/sa/server\"]}\n"                  \
    "  - {name: to-plain, direction: outbound, address: \"127.0.0.1:7003\",\n"                    \
    "     upstream: \"127.0.0.1:7004\", tls: DISABLE}\n"                                          \
    "  - {name: to-hb, direction: outbound, address: \"127.0.0.1:7005\",\n"                       \
    "     upstream: \"10.1.2.3:80\", tls: ISTIO_MUTUAL, transport: hbone,\n"                      \
    "     expected_identities: [\"spiffe://cluster.local/ns/bar/sa/server\"]}\n"                  \
    "  - {name: from-foo, direction: inbound, address: \"127.0.0.1:7006\",\n"                     \
    "     upstream: \"127.0.0.1:8081\", port: 8081, protocol: tcp,\n"                             \
    "     allowed_principals: [\"spiffe://cluster.local/ns/foo/sa/x\"]}\n"                        \
    "  - {name: from-any, direction: inbound, address: \"127.0.0.1:7007\",\n"                     \
    "     upstream: \"127.0.0.1:7777\", protocol: http}\n"                                        \
    "  - {name: hb-in, direction: inbound, address: \"127.0.0.1:7008\", transport: hbone,\n"      \
    "     allowed_principals: [\"spiffe://cluster.local/ns/hb/sa/x\"]}\n"                         \
    "---\n"                                                                                       \
    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"                                \
    "metadata: {name: mesh, namespace: istio-system}\n"                                           \
    "spec: {mtls: {mode: STRICT}}\n"                                                              \
    "---\n"                                                                                       \
    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"                                \
    "metadata: {name: wl, namespace: foo}\n"                                                      \
    "spec:\n"                                                                                     \
    "  selector: {matchLabels: {app: httpbin}}\n"                                                 \
    "  mtls: {mode: PERMISSIVE}\n"                                                                \
    "  portLevelMtls:\n"                                                                          \
    "    8080: {mode: STRICT}\n"                                                                  \
    "    8081: {mode: STRICT}\n"                                                                  \
    "    5432: {mode: DISABLE}\n"                                                                 \
    "---\n"                                                                                       \
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"                                 \
    "metadata: {name: db, namespace: foo}\n"                                                      \
    "spec: {host: db.bar.svc.cluster.local, trafficPolicy: {tls: {mode: DISABLE}}}\n"             \
    "---\n"                                                                                       \
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"                                 \
    "metadata: {name: ext, namespace: foo}\n"                                                     \
    "spec: {host: ext.example.com, trafficPolicy: {tls: {mode: SIMPLE, sni: ext.example.com}}}\n"

/* The same workload with a namespace-wide DISABLE and nothing else, and
 * no inbound.ports entries: every port takes the inbound defaults. */
#define CFG_DISABLE                                                \
    "node: {namespace: foo, labels: {app: httpbin}}\n"             \
    "secrets: {sds_socket: /run/sds.sock}\n"                       \
    "inbound: {address: \"0.0.0.0:15006\"}\n"                      \
    "outbound: {address: \"127.0.0.1:15001\"}\n"                   \
    "---\n"                                                        \
    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n" \
    "metadata: {name: ns, namespace: foo}\n"                       \
    "spec: {mtls: {mode: DISABLE}}\n"

enum which { MAIN = 0, DISABLE_NS, N_CFG };

struct route_case {
    const char *what;
    enum which cfg;
    enum sc_listener_kind kind;
    const char *listener; /* explicit */
    const char *orig_dst; /* capture */
    const char *local; /* capture */
    enum sc_route_action action;
    const char *reason; /* SC_ROUTE_REFUSE */
    const char *lname;
    enum sc_direction dir;
    int port;
    enum sc_mtls_mode mode;
    enum sc_tls_mode tls;
    enum sc_proto proto;
    enum sc_transport transport;
    int hbone_port;
    const char *up; /* up_addr, or NULL = not checked */
    const char *host; /* NULL = none */
    const char *principal; /* first of principals, or NULL = none */
};

#define IN SC_LISTENER_INBOUND_CAPTURE
#define OUT SC_LISTENER_OUTBOUND_CAPTURE
#define EXP SC_LISTENER_EXPLICIT
#define HB SC_LISTENER_HBONE
#define LOCAL_IN "10.0.0.9:15006"
#define LOCAL_OUT "127.0.0.1:15001"
#define DR_ID "spiffe://cluster.local/ns/bar/sa/h"
#define SRV_ID "spiffe://cluster.local/ns/bar/sa/server"

static const struct route_case cases[] = {
    /* inbound capture: PeerAuthentication per port */
    {"inbound, port-level STRICT over workload PERMISSIVE", MAIN, IN, NULL, "10.0.0.9:8080",
     LOCAL_IN, SC_ROUTE_MESH_TLS, NULL, "inbound", SC_DIR_INBOUND, 8080, SC_MTLS_STRICT, 0,
     SC_PROTO_HTTP, SC_TRANSPORT_TLS, 0, "127.0.0.2:8080", NULL, "spiffe://cluster.local/ns/a/*"},
    {"inbound, workload PERMISSIVE over mesh STRICT: sniff", MAIN, IN, NULL, "10.0.0.9:9090",
     LOCAL_IN, SC_ROUTE_SNIFF, NULL, "inbound", SC_DIR_INBOUND, 9090, SC_MTLS_PERMISSIVE, 0,
     SC_PROTO_AUTO, SC_TRANSPORT_TLS, 0, "127.0.0.2:9090", NULL, NULL},
    {"inbound, port-level DISABLE: plaintext passthrough", MAIN, IN, NULL, "10.0.0.9:5432",
     LOCAL_IN, SC_ROUTE_PASSTHROUGH, NULL, "inbound", SC_DIR_INBOUND, 5432, SC_MTLS_DISABLE, 0,
     SC_PROTO_TCP, SC_TRANSPORT_TLS, 0, "127.0.0.2:5432", NULL, NULL},
    {"inbound, unknown port: inbound defaults, workload mode", MAIN, IN, NULL, "10.0.0.9:3000",
     LOCAL_IN, SC_ROUTE_SNIFF, NULL, "inbound", SC_DIR_INBOUND, 3000, SC_MTLS_PERMISSIVE, 0,
     SC_PROTO_TCP, SC_TRANSPORT_TLS, 0, "127.0.0.2:3000", NULL, NULL},
    {"inbound, IPv6 original destination: the port is what counts", MAIN, IN, NULL,
     "[fd00::9]:8080", LOCAL_IN, SC_ROUTE_MESH_TLS, NULL, "inbound", SC_DIR_INBOUND, 8080,
     SC_MTLS_STRICT, 0, SC_PROTO_HTTP, SC_TRANSPORT_TLS, 0, "127.0.0.2:8080", NULL,
     "spiffe://cluster.local/ns/a/*"},
    {"inbound, namespace DISABLE on a port with no entry", DISABLE_NS, IN, NULL, "10.0.0.9:8080",
     LOCAL_IN, SC_ROUTE_PASSTHROUGH, NULL, "inbound", SC_DIR_INBOUND, 8080, SC_MTLS_DISABLE, 0,
     SC_PROTO_TCP, SC_TRANSPORT_TLS, 0, "127.0.0.1:8080", NULL, NULL},
    {"inbound, sent to the capture port itself: loop", MAIN, IN, NULL, "10.0.0.9:15006", LOCAL_IN,
     SC_ROUTE_REFUSE, "loop_refused: original destination is the sidecar itself", "inbound",
     SC_DIR_INBOUND, 15006, 0, 0, SC_PROTO_TCP, SC_TRANSPORT_TLS, 0, NULL, NULL, NULL},
    /* outbound capture: routes by original destination */
    {"outbound, route by cidr and port, ISTIO_MUTUAL by default", MAIN, OUT, NULL,
     "10.96.12.7:8080", LOCAL_OUT, SC_ROUTE_SERVE, NULL, "outbound", SC_DIR_OUTBOUND, 8080, 0,
     SC_TLS_ISTIO_MUTUAL, SC_PROTO_HTTP, SC_TRANSPORT_TLS, 0, "10.96.12.7:8080",
     "httpbin.bar.svc.cluster.local", DR_ID},
    {"outbound, cidr matches, port does not: the default route", MAIN, OUT, NULL, "10.96.12.7:9999",
     LOCAL_OUT, SC_ROUTE_SERVE, NULL, "outbound", SC_DIR_OUTBOUND, 9999, 0, SC_TLS_DISABLE,
     SC_PROTO_AUTO, SC_TRANSPORT_TLS, 0, "10.96.12.7:9999", NULL, NULL},
    {"outbound, DestinationRule DISABLE on the route's host", MAIN, OUT, NULL, "10.96.13.1:5432",
     LOCAL_OUT, SC_ROUTE_SERVE, NULL, "outbound", SC_DIR_OUTBOUND, 5432, 0, SC_TLS_DISABLE,
     SC_PROTO_TCP, SC_TRANSPORT_TLS, 0, "10.96.13.1:5432", "db.bar.svc.cluster.local", NULL},
    {"outbound, transport hbone with the route's hbone_port", MAIN, OUT, NULL, "10.96.14.2:9080",
     LOCAL_OUT, SC_ROUTE_SERVE, NULL, "outbound", SC_DIR_OUTBOUND, 9080, 0, SC_TLS_ISTIO_MUTUAL,
     SC_PROTO_TCP, SC_TRANSPORT_HBONE, 15009, "10.96.14.2:9080", "reviews.bar.svc.cluster.local",
     NULL},
    {"outbound, default_transport hbone with the top-level hbone_port", MAIN, OUT, NULL,
     "10.96.15.2:9080", LOCAL_OUT, SC_ROUTE_SERVE, NULL, "outbound", SC_DIR_OUTBOUND, 9080, 0,
     SC_TLS_ISTIO_MUTUAL, SC_PROTO_TCP, SC_TRANSPORT_HBONE, 15010, "10.96.15.2:9080",
     "ratings.bar.svc.cluster.local", NULL},
    {"outbound, default_transport hbone but tls DISABLE: plain TCP", MAIN, OUT, NULL,
     "10.96.16.2:80", LOCAL_OUT, SC_ROUTE_SERVE, NULL, "outbound", SC_DIR_OUTBOUND, 80, 0,
     SC_TLS_DISABLE, SC_PROTO_TCP, SC_TRANSPORT_TLS, 0, "10.96.16.2:80",
     "legacy.bar.svc.cluster.local", NULL},
    {"outbound, DestinationRule SIMPLE: TLS origination, not HBONE", MAIN, OUT, NULL,
     "10.97.1.1:443", LOCAL_OUT, SC_ROUTE_SERVE, NULL, "outbound", SC_DIR_OUTBOUND, 443, 0,
     SC_TLS_SIMPLE, SC_PROTO_TCP, SC_TRANSPORT_TLS, 0, "10.97.1.1:443", "ext.example.com", NULL},
    {"outbound, no route matches: the default route", MAIN, OUT, NULL, "192.0.2.1:443", LOCAL_OUT,
     SC_ROUTE_SERVE, NULL, "outbound", SC_DIR_OUTBOUND, 443, 0, SC_TLS_DISABLE, SC_PROTO_AUTO,
     SC_TRANSPORT_TLS, 0, "192.0.2.1:443", NULL, NULL},
    {"outbound, sent to the capture address itself: loop", MAIN, OUT, NULL, "127.0.0.1:15001",
     "127.0.0.1:15001", SC_ROUTE_REFUSE, "loop_refused: original destination is the sidecar itself",
     "outbound", SC_DIR_OUTBOUND, 0, 0, 0, SC_PROTO_TCP, SC_TRANSPORT_TLS, 0, NULL, NULL, NULL},
    {"outbound, not redirected (destination = local address): loop", MAIN, OUT, NULL,
     "10.0.0.9:4000", "10.0.0.9:4000", SC_ROUTE_REFUSE,
     "loop_refused: original destination is the sidecar itself", "outbound", SC_DIR_OUTBOUND, 0, 0,
     0, SC_PROTO_TCP, SC_TRANSPORT_TLS, 0, NULL, NULL, NULL},
    /* explicit listeners */
    {"explicit outbound ISTIO_MUTUAL http", MAIN, EXP, "to-bar", NULL, NULL, SC_ROUTE_SERVE, NULL,
     "to-bar", SC_DIR_OUTBOUND, 7002, 0, SC_TLS_ISTIO_MUTUAL, SC_PROTO_HTTP, SC_TRANSPORT_TLS, 0,
     "127.0.0.1:7002", "server.bar.svc.cluster.local", SRV_ID},
    {"explicit outbound DISABLE", MAIN, EXP, "to-plain", NULL, NULL, SC_ROUTE_SERVE, NULL,
     "to-plain", SC_DIR_OUTBOUND, 7004, 0, SC_TLS_DISABLE, SC_PROTO_TCP, SC_TRANSPORT_TLS, 0,
     "127.0.0.1:7004", NULL, NULL},
    {"explicit outbound over HBONE, top-level hbone_port", MAIN, EXP, "to-hb", NULL, NULL,
     SC_ROUTE_SERVE, NULL, "to-hb", SC_DIR_OUTBOUND, 80, 0, SC_TLS_ISTIO_MUTUAL, SC_PROTO_TCP,
     SC_TRANSPORT_HBONE, 15010, "10.1.2.3:80", NULL, SRV_ID},
    {"explicit inbound, its port: STRICT", MAIN, EXP, "from-foo", NULL, NULL, SC_ROUTE_MESH_TLS,
     NULL, "from-foo", SC_DIR_INBOUND, 8081, SC_MTLS_STRICT, 0, SC_PROTO_TCP, SC_TRANSPORT_TLS, 0,
     "127.0.0.1:8081", NULL, "spiffe://cluster.local/ns/foo/sa/x"},
    {"explicit inbound, the upstream's port: PERMISSIVE", MAIN, EXP, "from-any", NULL, NULL,
     SC_ROUTE_SNIFF, NULL, "from-any", SC_DIR_INBOUND, 7777, SC_MTLS_PERMISSIVE, 0, SC_PROTO_HTTP,
     SC_TRANSPORT_TLS, 0, "127.0.0.1:7777", NULL, NULL},
    {"explicit inbound HBONE listener: a tunnel", MAIN, EXP, "hb-in", NULL, NULL,
     SC_ROUTE_HBONE_TUNNEL, NULL, "hb-in", SC_DIR_INBOUND, 7008, SC_MTLS_STRICT, 0, SC_PROTO_TCP,
     SC_TRANSPORT_TLS, 0, NULL, NULL, "spiffe://cluster.local/ns/hb/sa/x"},
    {"explicit listener gone after a reload", MAIN, EXP, "nope", NULL, NULL, SC_ROUTE_REFUSE,
     "listener_removed", "-", SC_DIR_INBOUND, 0, 0, 0, SC_PROTO_TCP, SC_TRANSPORT_TLS, 0, NULL,
     NULL, NULL},
    /* the HBONE port */
    {"HBONE listener (15008): a tunnel, STRICT", MAIN, HB, NULL, NULL, NULL, SC_ROUTE_HBONE_TUNNEL,
     NULL, "hbone", SC_DIR_INBOUND, 15008, SC_MTLS_STRICT, 0, SC_PROTO_TCP, SC_TRANSPORT_TLS, 0,
     NULL, NULL, NULL},
};

static struct sc_config *cfgs[N_CFG];

static void setup(void)
{
    cfgs[MAIN] = tc_config_load("main.yaml", CFG_MAIN);
    cfgs[DISABLE_NS] = tc_config_load("disable.yaml", CFG_DISABLE);
}

static void teardown(void)
{
    for (int i = 0; i < N_CFG; i++) {
        sc_config_free(cfgs[i]);
        cfgs[i] = NULL;
    }
}

static struct sc_addr addr(const char *s)
{
    struct sc_addr a;
    const char *why = NULL;

    ck_assert_msg(sc_addr_parse(s, &a, &why) == 0, "bad address %s", s);
    return a;
}

static void check(const struct route_case *k, const struct sc_route *r)
{
    char ua[SC_ADDR_STRLEN];

    ck_assert_msg(r->action == k->action, "%s: action %d, want %d", k->what, r->action, k->action);
    if (k->reason != NULL) {
        ck_assert_str_eq(r->reason, k->reason);
    }
    ck_assert_str_eq(r->lname, k->lname);
    ck_assert_int_eq(r->dir, k->dir);
    ck_assert_msg(r->port == k->port, "%s: port %d, want %d", k->what, r->port, k->port);
    ck_assert_msg(r->mode == k->mode, "%s: mode %s, want %s", k->what, sc_mtls_mode_name(r->mode),
                  sc_mtls_mode_name(k->mode));
    ck_assert_msg(r->tls == k->tls, "%s: tls %s, want %s", k->what, sc_tls_mode_name(r->tls),
                  sc_tls_mode_name(k->tls));
    ck_assert_msg(r->proto == k->proto, "%s: proto %s", k->what, sc_proto_name(r->proto));
    ck_assert_msg(r->transport == k->transport, "%s: transport %s", k->what,
                  sc_transport_name(r->transport));
    ck_assert_msg(r->hbone_port == k->hbone_port, "%s: hbone_port %d", k->what, r->hbone_port);
    if (k->up != NULL) {
        ck_assert_str_eq(sc_addr_str(&r->up_addr, ua, sizeof(ua)), k->up);
    }
    if (k->host != NULL) {
        ck_assert_ptr_nonnull(r->host);
        ck_assert_str_eq(r->host, k->host);
    } else {
        ck_assert_msg(r->host == NULL, "%s: host %s", k->what, r->host);
    }
    if (k->principal != NULL) {
        ck_assert_msg(r->principals != NULL && r->principals->n > 0, "%s: no principals", k->what);
        ck_assert_str_eq(r->principals->v[0], k->principal);
    } else {
        ck_assert_msg(r->principals == NULL || r->principals->n == 0, "%s: principals", k->what);
    }
    ck_assert_ptr_nonnull(r->to);
    if (r->action != SC_ROUTE_REFUSE && r->action != SC_ROUTE_HBONE_TUNNEL) {
        ck_assert_ptr_nonnull(r->route);
    }
}

START_TEST(test_route_table)
{
    const struct route_case *k = &cases[_i];
    struct sc_addr od, lo;
    struct sc_route_in in = {.kind = k->kind, .listener = k->listener};
    struct sc_route r;

    if (k->orig_dst != NULL) {
        od = addr(k->orig_dst);
        lo = addr(k->local);
        in.orig_dst = &od;
        in.local = &lo;
    }
    memset(&r, 0xa5, sizeof(r)); /* every field is set, whatever was there */
    sc_route_decide(cfgs[k->cfg], &in, &r);
    check(k, &r);
}
END_TEST

/* The port's own timeouts and pool key; the listener's for a listener. */
START_TEST(test_route_timeouts_and_pool_key)
{
    const struct sc_config *cfg = cfgs[MAIN];
    struct sc_addr od = addr("10.0.0.9:8080"), lo = addr(LOCAL_IN);
    struct sc_route_in in = {.kind = IN, .orig_dst = &od, .local = &lo};
    struct sc_route r;

    sc_route_decide(cfg, &in, &r);
    ck_assert_int_eq(r.to->sniff_ms, 111);
    ck_assert_ptr_eq(r.route, sc_config_inport(cfg, 8080));
    ck_assert_ptr_null(r.listener);

    od = addr("10.0.0.9:3000"); /* no entry: the inbound defaults */
    sc_route_decide(cfg, &in, &r);
    ck_assert_ptr_eq(r.to, &cfg->timeouts);
    ck_assert_ptr_eq(r.route, &cfg->inbound);

    od = addr("192.0.2.1:443");
    in.kind = OUT;
    lo = addr(LOCAL_OUT);
    sc_route_decide(cfg, &in, &r);
    ck_assert_ptr_eq(r.route, &cfg->outbound.def);
    ck_assert_ptr_eq(r.to, &cfg->outbound.def.timeouts);

    od = addr("10.97.1.1:443"); /* DestinationRule SIMPLE: its files go along */
    sc_route_decide(cfg, &in, &r);
    ck_assert_ptr_eq(r.route, &cfg->outbound.routes[5]);
    ck_assert_ptr_eq(r.tls_files, &cfg->outbound.routes[5].tls_files);
    ck_assert_str_eq(r.tls_files->sni, "ext.example.com");
    ck_assert_int_eq(sc_route_outbound_class(r.tls), SC_CLASS_APP_TLS);

    in = (struct sc_route_in){.kind = EXP, .listener = "to-bar"};
    sc_route_decide(cfg, &in, &r);
    ck_assert_ptr_nonnull(r.listener);
    ck_assert_str_eq(r.listener->name, "to-bar");
    ck_assert_ptr_eq(r.route, r.listener);
    ck_assert_ptr_eq(r.to, &r.listener->timeouts);
    ck_assert_ptr_eq(r.tls_files, &r.listener->tls_files);
}
END_TEST

/* A CONNECT stream of an inbound tunnel: the port's entry, else an
 * explicit inbound listener on it, else refused. */
START_TEST(test_route_hbone_stream)
{
    const struct sc_config *cfg = cfgs[MAIN];
    struct sc_route r;
    char ua[SC_ADDR_STRLEN];

    sc_route_hbone_stream(cfg, 8080, &r);
    ck_assert_int_eq(r.action, SC_ROUTE_SERVE);
    ck_assert_str_eq(r.lname, "hbone");
    ck_assert_int_eq(r.port, 8080);
    ck_assert_int_eq(r.mode, SC_MTLS_STRICT);
    ck_assert_int_eq(r.proto, SC_PROTO_HTTP);
    ck_assert_str_eq(sc_addr_str(&r.up_addr, ua, sizeof(ua)), "127.0.0.2:8080");
    ck_assert_ptr_eq(r.route, sc_config_inport(cfg, 8080));

    sc_route_hbone_stream(cfg, 5432, &r);
    ck_assert_int_eq(r.action, SC_ROUTE_SERVE);
    ck_assert_int_eq(r.mode, SC_MTLS_DISABLE);

    /* no entry, but the explicit inbound listener from-foo serves 8081 */
    sc_route_hbone_stream(cfg, 8081, &r);
    ck_assert_int_eq(r.action, SC_ROUTE_SERVE);
    ck_assert_int_eq(r.port, 8081);
    ck_assert_int_eq(r.mode, SC_MTLS_STRICT);
    ck_assert_str_eq(sc_addr_str(&r.up_addr, ua, sizeof(ua)), "127.0.0.1:8081");
    ck_assert_str_eq(r.principals->v[0], "spiffe://cluster.local/ns/foo/sa/x");
    ck_assert_str_eq(r.lname, "hbone");

    /* the HBONE listener's own port is no workload port */
    sc_route_hbone_stream(cfg, 7008, &r);
    ck_assert_int_eq(r.action, SC_ROUTE_REFUSE);
    ck_assert_str_eq(r.reason, "hbone_refused: port 7008 is not an inbound port of this workload");

    sc_route_hbone_stream(cfg, 3000, &r);
    ck_assert_int_eq(r.action, SC_ROUTE_REFUSE);
    ck_assert_str_eq(r.reason, "hbone_refused: port 3000 is not an inbound port of this workload");

    /* an entry for the capture port itself: a loop */
    sc_route_hbone_stream(cfg, 15006, &r);
    ck_assert_int_eq(r.action, SC_ROUTE_REFUSE);
    ck_assert_str_eq(r.reason, "loop_refused: original destination is the sidecar itself");
}
END_TEST

/* PERMISSIVE: what the first bytes decide. */
START_TEST(test_route_sniffed)
{
    struct sc_sniff_info mesh, app;

    memset(&mesh, 0, sizeof(mesh));
    memset(&app, 0, sizeof(app));
    mesh.mesh_alpn = 1;
    ck_assert_int_eq(sc_route_sniffed(SC_SNIFF_TLS, &mesh, 300, 4096), SC_ROUTE_SNIFF_MESH_TLS);
    ck_assert_int_eq(sc_route_sniffed(SC_SNIFF_TLS, &app, 300, 4096), SC_ROUTE_SNIFF_APP_TLS);
    ck_assert_int_eq(sc_route_sniffed(SC_SNIFF_NOT_TLS, &app, 3, 4096), SC_ROUTE_SNIFF_PLAINTEXT);
    ck_assert_int_eq(sc_route_sniffed(SC_SNIFF_BAD_TLS, &app, 9, 4096), SC_ROUTE_SNIFF_PLAINTEXT);
    ck_assert_int_eq(sc_route_sniffed(SC_SNIFF_NEED_MORE, &app, 5, 4096), SC_ROUTE_SNIFF_WAIT);
    /* still incomplete when the peek is full: not a ClientHello we can read */
    ck_assert_int_eq(sc_route_sniffed(SC_SNIFF_NEED_MORE, &app, 4096, 4096),
                     SC_ROUTE_SNIFF_PLAINTEXT);

    /* plaintext is parsed on PERMISSIVE ports, relayed untouched on DISABLE
     * ones; the app's own TLS is never parsed */
    ck_assert_int_eq(sc_route_parse_plaintext(SC_MTLS_PERMISSIVE, SC_CLASS_PLAINTEXT), 1);
    ck_assert_int_eq(sc_route_parse_plaintext(SC_MTLS_UNSET, SC_CLASS_PLAINTEXT), 1);
    ck_assert_int_eq(sc_route_parse_plaintext(SC_MTLS_DISABLE, SC_CLASS_PLAINTEXT), 0);
    ck_assert_int_eq(sc_route_parse_plaintext(SC_MTLS_PERMISSIVE, SC_CLASS_APP_TLS), 0);
}
END_TEST

START_TEST(test_route_outbound_class)
{
    ck_assert_int_eq(sc_route_outbound_class(SC_TLS_ISTIO_MUTUAL), SC_CLASS_MESH_MTLS);
    ck_assert_int_eq(sc_route_outbound_class(SC_TLS_DISABLE), SC_CLASS_PLAINTEXT);
    ck_assert_int_eq(sc_route_outbound_class(SC_TLS_UNSET), SC_CLASS_PLAINTEXT);
    ck_assert_int_eq(sc_route_outbound_class(SC_TLS_SIMPLE), SC_CLASS_APP_TLS);
    ck_assert_int_eq(sc_route_outbound_class(SC_TLS_MUTUAL), SC_CLASS_APP_TLS);
}
END_TEST

static Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_route_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, test_route_timeouts_and_pool_key);
    tcase_add_test(tc, test_route_hbone_stream);
    tcase_add_test(tc, test_route_sniffed);
    tcase_add_test(tc, test_route_outbound_class);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(route_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
