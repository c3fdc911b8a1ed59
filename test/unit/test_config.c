#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glob.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "config_load.h"
#include "policy.h"

/* Certificates are made here at test time (never committed): a CA, a leaf
 * signed by it with its key, an unrelated key, and some broken files. */
static char dir[64];

static EVP_PKEY *gen_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");

    ck_assert_ptr_nonnull(k);
    return k;
}

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn)
{
    X509 *x = X509_new();
    X509_NAME *name;

    ck_assert_ptr_nonnull(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
    ck_assert_int_gt(X509_sign(x, signer, EVP_sha256()), 0);
    return x;
}

static void path_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static void write_certs(const char *name, X509 *a, X509 *b)
{
    char p[128];
    FILE *f;

    path_of(p, sizeof(p), name);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    PEM_write_X509(f, a);
    if (b != NULL) {
        PEM_write_X509(f, b);
    }
    fclose(f);
}

static void write_key(const char *name, EVP_PKEY *k)
{
    char p[128];
    FILE *f;

    path_of(p, sizeof(p), name);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
}

static void write_text(const char *name, const char *text)
{
    char p[128];
    FILE *f;

    path_of(p, sizeof(p), name);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void certs_setup(void)
{
    EVP_PKEY *cakey;
    EVP_PKEY *ca2key;
    EVP_PKEY *leafkey;
    EVP_PKEY *other;
    X509 *ca;
    X509 *ca2;
    X509 *leaf;
    char p[128];

    snprintf(dir, sizeof(dir), "/tmp/test_config_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    cakey = gen_key();
    ca2key = gen_key();
    leafkey = gen_key();
    other = gen_key();
    ca = make_cert(cakey, cakey, NULL, "root");
    ca2 = make_cert(ca2key, ca2key, NULL, "root2");
    leaf = make_cert(leafkey, cakey, ca, "leaf");
    write_certs("ca.crt", ca, NULL);
    write_certs("roots.crt", ca, ca2);
    write_certs("chain.crt", leaf, ca);
    write_key("leaf.key", leafkey);
    write_key("other.key", other);
    write_text("empty.pem", "");
    write_text("junk.pem", "hello, not a PEM file\n");
    write_text("bad.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    /* the names conf/sidecar.yaml and conf/examples use */
    path_of(p, sizeof(p), "certs");
    ck_assert_int_eq(mkdir(p, 0700), 0);
    write_certs("certs/ca.crt", ca, NULL);
    write_certs("certs/server.crt", leaf, ca);
    write_key("certs/server.key", leafkey);
    write_certs("certs/client.crt", leaf, NULL);
    write_key("certs/client.key", leafkey);
    X509_free(ca);
    X509_free(ca2);
    X509_free(leaf);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(ca2key);
    EVP_PKEY_free(leafkey);
    EVP_PKEY_free(other);
}

static void certs_teardown(void)
{
    static const char *const names[] = {"ca.crt",           "roots.crt",        "chain.crt",
                                        "leaf.key",         "other.key",        "empty.pem",
                                        "junk.pem",         "bad.crt",          "sidecar.yaml",
                                        "certs/ca.crt",     "certs/server.crt", "certs/server.key",
                                        "certs/client.crt", "certs/client.key", "certs"};
    char p[128];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        path_of(p, sizeof(p), names[i]);
        if (unlink(p) != 0) {
            rmdir(p);
        }
    }
    rmdir(dir);
}

/* Replaces every "@D@" in t with the certificate directory; caller frees. */
static char *subst(const char *t)
{
    size_t dl = strlen(dir);
    size_t cap = strlen(t) * (dl + 1) + 1;
    char *out = malloc(cap);
    size_t o = 0;

    ck_assert_ptr_nonnull(out);
    while (*t != '\0') {
        if (strncmp(t, "@D@", 3) == 0) {
            memcpy(out + o, dir, dl);
            o += dl;
            t += 3;
        } else {
            out[o++] = *t++;
        }
    }
    out[o] = '\0';
    return out;
}

static struct sc_config *load_ok(const char *tmpl)
{
    char *yaml = subst(tmpl);
    struct sc_config *cfg = tc_config_load("t.yaml", yaml);

    free(yaml);
    return cfg;
}

/* Loads tmpl expecting failure at line:col with exactly msg ("@D@" in msg is
 * replaced too). */
static void expect_err(const char *tmpl, int line, int col, const char *msg_tmpl)
{
    char *yaml = subst(tmpl);
    char *msg = subst(msg_tmpl);

    tc_config_expect_err("t.yaml", yaml, line, col, msg);
    free(yaml);
    free(msg);
}

#define SDS "secrets: {sds_socket: /run/sds.sock}\n"

#define FILES                       \
    "secrets:\n"                    \
    "  cert_chain: @D@/chain.crt\n" \
    "  private_key: @D@/leaf.key\n" \
    "  trusted_ca: @D@/roots.crt\n"

/* DESIGN.md's example, verbatim. */
static const char design_example[] =
    "node:\n"
    "  id: httpbin.foo                 # shows up in logs and /config_dump\n"
    "  trust_domain: cluster.local\n"
    "  namespace: foo\n"
    "  labels: {app: httpbin}          # matched by PeerAuthentication selectors\n"
    "workers: 0                        # 0 = one per core\n"
    "secrets:                          # either an SDS socket ...\n"
    "  sds_socket: /var/run/sidecar/sds.sock\n"
    "  # ... or files (read at start, and again on SIGHUP)\n"
    "  # cert_chain: /etc/certs/cert-chain.pem\n"
    "  # private_key: /etc/certs/key.pem\n"
    "  # trusted_ca: /etc/certs/root-cert.pem      # may hold several roots\n"
    "admin:  {address: \"127.0.0.1:15000\"}\n"
    "health: {address: \"0.0.0.0:15021\"}\n"
    "stats:  {address: \"0.0.0.0:15090\"}\n"
    "inbound:                          # transparent capture (iptables → here)\n"
    "  address: \"0.0.0.0:15006\"\n"
    "  app_host: 127.0.0.1             # where the app listens\n"
    "  ports:\n"
    "    - {port: 8080, protocol: http, allowed_principals: "
    "[\"spiffe://cluster.local/ns/foo/*\"]}\n"
    "outbound:                         # transparent capture (iptables → here)\n"
    "  address: \"127.0.0.1:15001\"\n"
    "  routes:\n"
    "    - {host: httpbin.bar.svc.cluster.local, cidr: 10.96.12.0/24, port: 8080,\n"
    "       protocol: http, tls: ISTIO_MUTUAL,   # tls may also come from a DestinationRule "
    "for this host\n"
    "       expected_identities: [\"spiffe://cluster.local/ns/bar/sa/httpbin\"]}\n"
    "  default: {tls: DISABLE, protocol: tcp}\n"
    "listeners:                        # explicit listeners: no iptables needed\n"
    "  - name: to-bar\n"
    "    direction: outbound           # plain in, mTLS out\n"
    "    address: \"127.0.0.1:7001\"\n"
    "    upstream: \"127.0.0.1:7002\"\n"
    "    host: server.bar.svc.cluster.local   # optional: what DestinationRules match\n"
    "    tls: ISTIO_MUTUAL\n"
    "    protocol: http\n"
    "    expected_identities: [\"spiffe://cluster.local/ns/bar/sa/server\"]\n"
    "  - name: from-foo\n"
    "    direction: inbound            # mTLS in (per the port's mode), plain out\n"
    "    address: \"127.0.0.1:7002\"\n"
    "    upstream: \"127.0.0.1:8080\"\n"
    "    port: 8080                    # whose PeerAuthentication mode applies\n"
    "    protocol: tcp\n"
    "---\n"
    "apiVersion: security.istio.io/v1beta1\n"
    "kind: PeerAuthentication\n"
    "metadata: {name: httpbin, namespace: foo}\n"
    "spec:\n"
    "  selector: {matchLabels: {app: httpbin}}   # portLevelMtls needs a selector (Istio "
    "rejects it without)\n"
    "  mtls: {mode: STRICT}\n"
    "  portLevelMtls:\n"
    "    9000: {mode: PERMISSIVE}\n";

static void addr_is(const struct sc_addr *a, const char *want)
{
    char s[SC_ADDR_STRLEN];

    ck_assert_str_eq(sc_addr_str(a, s, sizeof(s)), want);
}

/* ---- positive --------------------------------------------------------- */

START_TEST(test_config_load_design_example)
{
    struct sc_config *cfg = load_ok(design_example);
    struct sc_addr dst;

    ck_assert_str_eq(cfg->path, "t.yaml");
    ck_assert_str_eq(cfg->node.id, "httpbin.foo");
    ck_assert_str_eq(cfg->node.trust_domain, "cluster.local");
    ck_assert_str_eq(cfg->node.namespace_, "foo");
    ck_assert_str_eq(cfg->node.root_namespace, "istio-system");
    ck_assert_uint_eq(cfg->node.n_labels, 1);
    ck_assert_str_eq(cfg->node.labels[0].key, "app");
    ck_assert_str_eq(cfg->node.labels[0].value, "httpbin");
    ck_assert_int_ge(cfg->workers, 1);
    ck_assert_int_eq(cfg->workers, (int)sysconf(_SC_NPROCESSORS_ONLN));
    ck_assert_str_eq(cfg->secrets.sds_socket, "/var/run/sidecar/sds.sock");
    ck_assert_ptr_null(cfg->secrets.cert_chain);
    ck_assert_int_eq(cfg->has_admin, 1);
    ck_assert_int_eq(cfg->has_health, 1);
    ck_assert_int_eq(cfg->has_stats, 1);
    addr_is(&cfg->admin, "127.0.0.1:15000");
    addr_is(&cfg->health, "0.0.0.0:15021");
    addr_is(&cfg->stats, "0.0.0.0:15090");

    ck_assert_int_eq(cfg->has_inbound, 1);
    addr_is(&cfg->inbound.address, "0.0.0.0:15006");
    ck_assert_str_eq(cfg->inbound.app_host, "127.0.0.1");
    ck_assert_uint_eq(cfg->inbound.n_ports, 1);
    ck_assert_int_eq(cfg->inbound.ports[0].port, 8080);
    ck_assert_int_eq(cfg->inbound.ports[0].protocol, SC_PROTO_HTTP);
    ck_assert_uint_eq(cfg->inbound.ports[0].allowed_principals.n, 1);
    ck_assert_str_eq(cfg->inbound.ports[0].allowed_principals.v[0],
                     "spiffe://cluster.local/ns/foo/*");
    ck_assert_ptr_eq(sc_config_inport(cfg, 8080), &cfg->inbound.ports[0]);
    ck_assert_ptr_null(sc_config_inport(cfg, 8081));

    ck_assert_int_eq(cfg->has_outbound, 1);
    addr_is(&cfg->outbound.address, "127.0.0.1:15001");
    ck_assert_uint_eq(cfg->outbound.n_routes, 1);
    ck_assert_str_eq(cfg->outbound.routes[0].host, "httpbin.bar.svc.cluster.local");
    ck_assert_int_eq(cfg->outbound.routes[0].has_cidr, 1);
    ck_assert_int_eq(cfg->outbound.routes[0].port, 8080);
    ck_assert_int_eq(cfg->outbound.routes[0].protocol, SC_PROTO_HTTP);
    ck_assert_int_eq(cfg->outbound.routes[0].tls, SC_TLS_ISTIO_MUTUAL);
    ck_assert_str_eq(cfg->outbound.routes[0].expected_identities.v[0],
                     "spiffe://cluster.local/ns/bar/sa/httpbin");
    ck_assert_int_eq(cfg->outbound.def.tls, SC_TLS_DISABLE);
    ck_assert_int_eq(cfg->outbound.def.protocol, SC_PROTO_TCP);

    ck_assert_uint_eq(cfg->n_listeners, 2);
    ck_assert_str_eq(cfg->listeners[0].name, "to-bar");
    ck_assert_int_eq(cfg->listeners[0].direction, SC_DIR_OUTBOUND);
    addr_is(&cfg->listeners[0].address, "127.0.0.1:7001");
    addr_is(&cfg->listeners[0].upstream, "127.0.0.1:7002");
    ck_assert_str_eq(cfg->listeners[0].host, "server.bar.svc.cluster.local");
    ck_assert_int_eq(cfg->listeners[0].tls, SC_TLS_ISTIO_MUTUAL);
    ck_assert_int_eq(cfg->listeners[0].protocol, SC_PROTO_HTTP);
    ck_assert_int_eq(cfg->listeners[0].port, 7002);
    ck_assert_str_eq(cfg->listeners[1].name, "from-foo");
    ck_assert_int_eq(cfg->listeners[1].direction, SC_DIR_INBOUND);
    ck_assert_int_eq(cfg->listeners[1].port, 8080);
    ck_assert_int_eq(cfg->listeners[1].protocol, SC_PROTO_TCP);

    ck_assert_int_eq(sc_config_port_mode(cfg, 8080), SC_MTLS_STRICT);
    ck_assert_int_eq(sc_config_port_mode(cfg, 9000), SC_MTLS_PERMISSIVE);
    ck_assert_uint_eq(sc_policy_n_peer_auth(cfg->policy), 1);

    ck_assert_int_eq(sc_addr_parse("10.96.12.7:8080", &dst, &(const char *){NULL}), 0);
    ck_assert_ptr_eq(sc_config_route(cfg, &dst), &cfg->outbound.routes[0]);
    ck_assert_int_eq(sc_addr_parse("10.96.12.7:9090", &dst, &(const char *){NULL}), 0);
    ck_assert_ptr_eq(sc_config_route(cfg, &dst), &cfg->outbound.def);
    ck_assert_int_eq(sc_addr_parse("10.96.13.7:8080", &dst, &(const char *){NULL}), 0);
    ck_assert_ptr_eq(sc_config_route(cfg, &dst), &cfg->outbound.def);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_load_file_with_secret_files)
{
    char *yaml = subst("node: {namespace: foo}\n" FILES "listeners:\n"
                       "  - {name: a, direction: inbound, address: \"127.0.0.1:7002\", "
                       "upstream: \"127.0.0.1:8080\"}\n");
    char path[128];
    struct sc_config *cfg = NULL;
    struct sc_err err;
    FILE *f;

    path_of(path, sizeof(path), "sidecar.yaml");
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(yaml, f);
    fclose(f);
    ck_assert_int_eq(sc_config_load(path, &cfg, &err), 0);
    ck_assert_str_eq(cfg->path, path);
    ck_assert_ptr_null(cfg->secrets.sds_socket);
    ck_assert_ptr_nonnull(strstr(cfg->secrets.cert_chain, "/chain.crt"));
    ck_assert_int_eq(cfg->n_listeners, 1);
    ck_assert_int_eq(cfg->listeners[0].port, 8080);
    sc_config_free(cfg);
    free(yaml);
}
END_TEST

START_TEST(test_config_load_applies_defaults)
{
    struct sc_config *cfg = load_ok(SDS "admin: {}\nhealth:\nstats: {}\ninbound: {}\noutbound:\n");

    ck_assert_str_eq(cfg->node.id, "sidecar");
    ck_assert_str_eq(cfg->node.trust_domain, "cluster.local");
    ck_assert_str_eq(cfg->node.namespace_, "default");
    ck_assert_str_eq(cfg->node.root_namespace, "istio-system");
    ck_assert_str_eq(cfg->log_level, "info");
    ck_assert_int_eq(cfg->workers, (int)sysconf(_SC_NPROCESSORS_ONLN));
    addr_is(&cfg->admin, "127.0.0.1:15000");
    addr_is(&cfg->health, "127.0.0.1:15021"); /* loopback unless asked */
    addr_is(&cfg->stats, "127.0.0.1:15090");
    ck_assert_int_eq(cfg->has_inbound, 1);
    addr_is(&cfg->inbound.address, "0.0.0.0:15006");
    ck_assert_str_eq(cfg->inbound.app_host, "127.0.0.1");
    ck_assert_int_eq(cfg->has_outbound, 1);
    addr_is(&cfg->outbound.address, "127.0.0.1:15001");
    ck_assert_int_eq(cfg->outbound.def.tls, SC_TLS_DISABLE);
    ck_assert_int_eq(cfg->timeouts.connect_ms, 10000);
    ck_assert_int_eq(cfg->timeouts.handshake_ms, 10000);
    ck_assert_int_eq(cfg->timeouts.idle_ms, 3600000);
    ck_assert_int_eq(cfg->timeouts.sniff_ms, 5000);
    ck_assert_uint_eq(cfg->buffer_limit, 1024 * 1024);
    ck_assert_int_eq(sc_config_port_mode(cfg, 80), SC_MTLS_PERMISSIVE);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_load_absent_sections_open_nothing)
{
    struct sc_config *cfg = load_ok(SDS);
    struct sc_addr dst;

    ck_assert_int_eq(cfg->has_admin, 0);
    ck_assert_int_eq(cfg->has_health, 0);
    ck_assert_int_eq(cfg->has_stats, 0);
    ck_assert_int_eq(cfg->has_inbound, 0);
    ck_assert_int_eq(cfg->has_outbound, 0);
    ck_assert_uint_eq(cfg->n_listeners, 0);
    ck_assert_int_eq(sc_addr_parse("10.0.0.1:80", &dst, &(const char *){NULL}), 0);
    ck_assert_ptr_eq(sc_config_route(cfg, &dst), &cfg->outbound.def);
    ck_assert_int_eq(cfg->outbound.def.tls, SC_TLS_DISABLE);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_load_timeouts_workers_buffer_log_level)
{
    struct sc_config *cfg = load_ok(SDS "workers: 3\nlog_level: WARNING\nbuffer_limit_bytes: "
                                        "65536\ntimeouts: {connect_ms: 1, handshake_ms: 2, "
                                        "idle_ms: 0, sniff_ms: 4}\n");

    ck_assert_int_eq(cfg->workers, 3);
    ck_assert_str_eq(cfg->log_level, "warn");
    ck_assert_uint_eq(cfg->buffer_limit, 65536);
    ck_assert_int_eq(cfg->timeouts.connect_ms, 1);
    ck_assert_int_eq(cfg->timeouts.handshake_ms, 2);
    ck_assert_int_eq(cfg->timeouts.idle_ms, 0);
    ck_assert_int_eq(cfg->timeouts.sniff_ms, 4);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_timeouts_per_port_route_and_listener)
{
    struct sc_config *cfg = load_ok(
        SDS
        "timeouts: {connect_ms: 111, request_ms: 222, request_headers_ms: 333}\n"
        "inbound:\n  ports:\n    - {port: 8080, protocol: http, timeouts: {request_ms: 5}}\n"
        "    - {port: 9090}\n"
        "outbound:\n  routes:\n    - {host: a.b, cidr: 10.0.0.0/8, timeouts: {connect_ms: 7, idle_ms: 0}}\n"
        "listeners:\n"
        "  - {name: out, direction: outbound, address: \"127.0.0.1:7001\",\n"
        "     upstream: \"127.0.0.1:7002\", timeouts: {request_headers_ms: 9}}\n");

    /* set where given */
    ck_assert_int_eq(cfg->inbound.ports[0].timeouts.request_ms, 5);
    ck_assert_int_eq(cfg->outbound.routes[0].timeouts.connect_ms, 7);
    ck_assert_int_eq(cfg->outbound.routes[0].timeouts.idle_ms, 0);
    ck_assert_int_eq(cfg->listeners[0].timeouts.request_headers_ms, 9);
    /* inherited from the top level otherwise */
    ck_assert_int_eq(cfg->inbound.ports[0].timeouts.connect_ms, 111);
    ck_assert_int_eq(cfg->inbound.ports[1].timeouts.request_ms, 222);
    ck_assert_int_eq(cfg->outbound.routes[0].timeouts.request_ms, 222);
    ck_assert_int_eq(cfg->listeners[0].timeouts.connect_ms, 111);
    ck_assert_int_eq(cfg->outbound.def.timeouts.request_headers_ms, 333);
    /* and the built-in defaults below that */
    ck_assert_int_eq(cfg->listeners[0].timeouts.upstream_idle_ms, 4000);
    ck_assert_int_eq(cfg->inbound.ports[1].timeouts.handshake_ms, 10000);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_timeouts_per_route_out_of_range)
{
    expect_err(SDS "outbound:\n  routes:\n    - {host: a.b, timeouts: {connect_ms: 0}}\n", 4, 42,
               "outbound.routes[0].timeouts.connect_ms: 0 is out of range 1..3600000");
}
END_TEST

START_TEST(test_config_load_listener_defaults)
{
    struct sc_config *cfg =
        load_ok(SDS "inbound: {app_host: \"::1\", address: \"[::]:15006\"}\n"
                    "listeners:\n"
                    "  - {name: in, direction: inbound, address: \"127.0.0.1:7002\", port: 9000}\n"
                    "  - {name: out, direction: outbound, address: \"127.0.0.1:7001\",\n"
                    "     upstream: \"127.0.0.1:7002\"}\n");

    addr_is(&cfg->listeners[0].upstream, "[::1]:9000");
    ck_assert_int_eq(cfg->listeners[0].port, 9000);
    ck_assert_int_eq(cfg->listeners[0].tls, SC_TLS_UNSET);
    ck_assert_int_eq(cfg->listeners[1].tls, SC_TLS_ISTIO_MUTUAL);
    ck_assert_int_eq(cfg->listeners[1].port, 7002);
    ck_assert_int_eq(cfg->listeners[1].protocol, SC_PROTO_TCP);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_load_normalizes_istio_principals)
{
    struct sc_config *cfg = load_ok(
        SDS "inbound:\n  ports:\n    - port: 80\n      protocol: auto\n"
            "      allowed_principals: [cluster.local/ns/foo/sa/a, \"*\", spiffe://td/x*]\n");
    const struct sc_strv *p = &cfg->inbound.ports[0].allowed_principals;

    ck_assert_int_eq(cfg->inbound.ports[0].protocol, SC_PROTO_AUTO);
    ck_assert_uint_eq(p->n, 3);
    ck_assert_str_eq(p->v[0], "spiffe://cluster.local/ns/foo/sa/a");
    ck_assert_str_eq(p->v[1], "*");
    ck_assert_str_eq(p->v[2], "spiffe://td/x*");
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_load_route_simple_and_mutual_files)
{
    struct sc_config *cfg =
        load_ok(SDS "outbound:\n  routes:\n"
                    "    - {host: api.example.com, tls: SIMPLE, sni: api.example.com,\n"
                    "       ca_certificates: @D@/roots.crt}\n"
                    "    - {cidr: 10.0.0.0/8, tls: MUTUAL, client_certificate: @D@/chain.crt,\n"
                    "       private_key: @D@/leaf.key}\n");

    ck_assert_int_eq(cfg->outbound.routes[0].tls, SC_TLS_SIMPLE);
    ck_assert_str_eq(cfg->outbound.routes[0].tls_files.sni, "api.example.com");
    ck_assert_ptr_nonnull(strstr(cfg->outbound.routes[0].tls_files.ca_certificates, "roots"));
    ck_assert_int_eq(cfg->outbound.routes[1].tls, SC_TLS_MUTUAL);
    ck_assert_ptr_nonnull(cfg->outbound.routes[1].tls_files.client_certificate);
    ck_assert_ptr_nonnull(cfg->outbound.routes[1].tls_files.private_key);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_load_destination_rule_simple_carries_files)
{
    struct sc_config *cfg = load_ok(
        "node: {namespace: foo}\n" SDS
        "outbound:\n  routes: [{host: ext.example.com, port: 443}, {host: reviews, port: 9080}]\n"
        "---\n"
        "apiVersion: networking.istio.io/v1beta1\n"
        "kind: DestinationRule\n"
        "metadata: {name: ext}\n"
        "spec:\n"
        "  host: ext.example.com\n"
        "  trafficPolicy:\n"
        "    tls: {mode: SIMPLE, caCertificates: @D@/roots.crt, sni: ext.example.com,\n"
        "          subjectAltNames: [ext.example.com]}\n"
        "---\n"
        "apiVersion: networking.istio.io/v1\n"
        "kind: DestinationRule\n"
        "metadata: {name: reviews, namespace: foo}\n"
        "spec:\n"
        "  host: reviews\n"
        "  trafficPolicy:\n"
        "    tls: {mode: MUTUAL, clientCertificate: @D@/chain.crt, privateKey: @D@/leaf.key}\n");
    const struct sc_cfg_route *r = cfg->outbound.routes;

    ck_assert_int_eq(r[0].tls, SC_TLS_SIMPLE);
    ck_assert_ptr_nonnull(strstr(r[0].tls_files.ca_certificates, "/roots.crt"));
    ck_assert_str_eq(r[0].tls_files.sni, "ext.example.com");
    ck_assert_uint_eq(r[0].expected_identities.n, 1);
    ck_assert_str_eq(r[0].expected_identities.v[0], "ext.example.com");
    ck_assert_int_eq(r[1].tls, SC_TLS_MUTUAL);
    ck_assert_ptr_nonnull(strstr(r[1].tls_files.client_certificate, "/chain.crt"));
    ck_assert_ptr_nonnull(strstr(r[1].tls_files.private_key, "/leaf.key"));
    ck_assert_uint_eq(sc_policy_n_dest_rules(cfg->policy), 2);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_route_first_match_and_any_port)
{
    struct sc_config *cfg = load_ok(SDS "outbound:\n  routes:\n"
                                        "    - {cidr: 10.1.0.0/16, port: 443, tls: DISABLE}\n"
                                        "    - {cidr: 10.1.2.0/24}\n"
                                        "    - {host: only-a-name}\n"
                                        "    - {cidr: \"fd00::/8\"}\n"
                                        "  default: {tls: ISTIO_MUTUAL, protocol: http}\n");
    struct sc_addr dst;
    const char *why;

    ck_assert_int_eq(sc_addr_parse("10.1.2.3:443", &dst, &why), 0);
    ck_assert_ptr_eq(sc_config_route(cfg, &dst), &cfg->outbound.routes[0]);
    ck_assert_int_eq(sc_addr_parse("10.1.2.3:80", &dst, &why), 0);
    ck_assert_ptr_eq(sc_config_route(cfg, &dst), &cfg->outbound.routes[1]);
    ck_assert_int_eq(sc_addr_parse("[fd00::1]:80", &dst, &why), 0);
    ck_assert_ptr_eq(sc_config_route(cfg, &dst), &cfg->outbound.routes[3]);
    ck_assert_int_eq(sc_addr_parse("10.2.0.1:80", &dst, &why), 0);
    ck_assert_ptr_eq(sc_config_route(cfg, &dst), &cfg->outbound.def);
    ck_assert_int_eq(cfg->outbound.def.tls, SC_TLS_ISTIO_MUTUAL);
    ck_assert_int_eq(cfg->outbound.def.protocol, SC_PROTO_HTTP);
    ck_assert_int_eq(cfg->outbound.routes[1].tls, SC_TLS_ISTIO_MUTUAL);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_load_tls_groups)
{
    struct sc_config *cfg = load_ok(SDS);

    ck_assert_str_eq(cfg->tls_groups, "X25519:P-256:P-384");
    sc_config_free(cfg);
    cfg = load_ok(SDS "tls: {groups: [P-384]}\n");
    ck_assert_str_eq(cfg->tls_groups, "P-384");
    sc_config_free(cfg);
    cfg = load_ok(SDS "tls:\n  groups:\n    - X25519\n    - ffdhe2048\n    - P-521\n");
    ck_assert_str_eq(cfg->tls_groups, "X25519:ffdhe2048:P-521");
    sc_config_free(cfg);
    cfg = load_ok(SDS "tls: {}\n");
    ck_assert_str_eq(cfg->tls_groups, "X25519:P-256:P-384");
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_load_limits)
{
    struct sc_config *cfg = load_ok(SDS);

    ck_assert_int_eq(cfg->limits.handshakes_per_second_per_source, 200);
    sc_config_free(cfg);
    cfg = load_ok(SDS "limits: {handshakes_per_second_per_source: 0}\n");
    ck_assert_int_eq(cfg->limits.handshakes_per_second_per_source, 0);
    sc_config_free(cfg);
    cfg = load_ok(SDS "limits:\n  handshakes_per_second_per_source: 1000000\n");
    ck_assert_int_eq(cfg->limits.handshakes_per_second_per_source, 1000000);
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_mode_names)
{
    ck_assert_str_eq(sc_mtls_mode_name(SC_MTLS_UNSET), "UNSET");
    ck_assert_str_eq(sc_mtls_mode_name(SC_MTLS_DISABLE), "DISABLE");
    ck_assert_str_eq(sc_mtls_mode_name(SC_MTLS_PERMISSIVE), "PERMISSIVE");
    ck_assert_str_eq(sc_mtls_mode_name(SC_MTLS_STRICT), "STRICT");
    ck_assert_str_eq(sc_tls_mode_name(SC_TLS_UNSET), "UNSET");
    ck_assert_str_eq(sc_tls_mode_name(SC_TLS_DISABLE), "DISABLE");
    ck_assert_str_eq(sc_tls_mode_name(SC_TLS_ISTIO_MUTUAL), "ISTIO_MUTUAL");
    ck_assert_str_eq(sc_tls_mode_name(SC_TLS_SIMPLE), "SIMPLE");
    ck_assert_str_eq(sc_tls_mode_name(SC_TLS_MUTUAL), "MUTUAL");
    ck_assert_str_eq(sc_proto_name(SC_PROTO_TCP), "tcp");
    ck_assert_str_eq(sc_proto_name(SC_PROTO_HTTP), "http");
    ck_assert_str_eq(sc_proto_name(SC_PROTO_AUTO), "auto");
    sc_config_free(NULL);
}
END_TEST

START_TEST(test_config_load_mem_without_nul)
{
    static const char text[] = "secrets: {sds_socket: /s}\nworkers: 2\nGARBAGE";
    struct sc_config *cfg = NULL;
    struct sc_err err;

    ck_assert_int_eq(sc_config_load_mem("m.yaml", text, strlen(text) - 7, &cfg, &err), 0);
    ck_assert_int_eq(cfg->workers, 2);
    sc_config_free(cfg);
}
END_TEST

/* conf/sidecar.yaml and every YAML file in conf/examples must load, with the
 * certificate names they use generated under a temporary working directory.
 * Skipped when the test does not run from the repository root. */
START_TEST(test_config_load_shipped_examples)
{
    char cwd[PATH_MAX];
    char files[16][PATH_MAX];
    size_t n = 0;
    glob_t g;

    if (realpath("conf/sidecar.yaml", files[0]) == NULL) {
        return;
    }
    n = 1;
    if (glob("conf/examples/*.yaml", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc && n < 16; i++) {
            ck_assert_ptr_nonnull(realpath(g.gl_pathv[i], files[n]));
            n++;
        }
        globfree(&g);
    }
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(chdir(dir), 0);
    for (size_t i = 0; i < n; i++) {
        struct sc_config *cfg = NULL;
        struct sc_err err;
        char buf[1024];

        if (sc_config_load(files[i], &cfg, &err) != 0) {
            ck_assert_int_eq(chdir(cwd), 0);
            ck_abort_msg("%s", sc_err_str(&err, buf, sizeof(buf)));
        }
        ck_assert_int_ne(sc_config_port_mode(cfg, 8080), SC_MTLS_UNSET);
        sc_config_free(cfg);
    }
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_uint_ge(n, 6);
}
END_TEST

/* ---- the error kinds -------------------------------------------------- */

START_TEST(test_config_err_port_out_of_range)
{
    expect_err(SDS "listeners:\n"
                   "  - {name: a, direction: inbound, address: \"127.0.0.1:1\", port: 80}\n"
                   "  - name: b\n"
                   "    direction: inbound\n"
                   "    address: \"127.0.0.1:2\"\n"
                   "    port: 70000\n",
               7, 11, "listeners[1].port: 70000 is out of range 1..65535");
}
END_TEST

START_TEST(test_config_err_huge_integer)
{
    expect_err(SDS "workers: 99999999999999999999999\n", 2, 10,
               "workers: 99999999999999999999999 is out of range 0..1024");
}
END_TEST

START_TEST(test_config_err_unknown_protocol)
{
    expect_err(SDS "inbound:\n  ports:\n    - {port: 80, protocol: udp}\n", 4, 28,
               "inbound.ports[0].protocol: unknown protocol \"udp\" (expected tcp, http or "
               "auto)");
}
END_TEST

START_TEST(test_config_err_cert_file_missing)
{
    expect_err("secrets:\n  cert_chain: /x.pem\n  private_key: @D@/leaf.key\n"
               "  trusted_ca: @D@/roots.crt\n",
               2, 15, "secrets.cert_chain: cannot read /x.pem: No such file or directory");
}
END_TEST

START_TEST(test_config_err_key_does_not_match)
{
    expect_err("secrets:\n  cert_chain: @D@/chain.crt\n  private_key: @D@/other.key\n"
               "  trusted_ca: @D@/roots.crt\n",
               3, 16,
               "secrets.private_key: key does not match the certificate in secrets.cert_chain");
}
END_TEST

START_TEST(test_config_err_key_not_pem)
{
    expect_err("secrets:\n  cert_chain: @D@/chain.crt\n  private_key: @D@/junk.pem\n"
               "  trusted_ca: @D@/roots.crt\n",
               3, 16,
               "secrets.private_key: cannot parse a PEM private key in @D@/junk.pem "
               "(encrypted keys are not supported)");
}
END_TEST

START_TEST(test_config_err_trusted_ca_not_pem)
{
    expect_err("secrets:\n  cert_chain: @D@/chain.crt\n  private_key: @D@/leaf.key\n"
               "  trusted_ca: @D@/junk.pem\n",
               4, 15, "secrets.trusted_ca: @D@/junk.pem holds no PEM certificate");
    expect_err("secrets:\n  cert_chain: @D@/chain.crt\n  private_key: @D@/leaf.key\n"
               "  trusted_ca: @D@/empty.pem\n",
               4, 15, "secrets.trusted_ca: @D@/empty.pem holds no PEM certificate");
}
END_TEST

START_TEST(test_config_err_cert_chain_bad_pem)
{
    char *yaml = subst("secrets:\n  cert_chain: @D@/bad.crt\n  private_key: @D@/leaf.key\n"
                       "  trusted_ca: @D@/roots.crt\n");
    struct sc_config *cfg = NULL;
    struct sc_err err;

    ck_assert_int_eq(sc_config_load_string("t.yaml", yaml, &cfg, &err), -1);
    ck_assert_msg(strstr(err.msg, "secrets.cert_chain: ") == err.msg &&
                      strstr(err.msg, "bad.crt: bad PEM certificate") != NULL,
                  "%s", err.msg);
    ck_assert_int_eq(err.line, 2);
    ck_assert_int_eq(err.col, 15);
    free(yaml);
}
END_TEST

START_TEST(test_config_err_secrets_incomplete)
{
    expect_err("secrets:\n  cert_chain: @D@/chain.crt\n", 2, 3,
               "secrets: cert_chain, private_key and trusted_ca must be given together");
}
END_TEST

START_TEST(test_config_err_secrets_missing)
{
    expect_err("workers: 1\n", 1, 1,
               "secrets: either sds_socket or cert_chain, private_key and trusted_ca must be "
               "given");
}
END_TEST

START_TEST(test_config_err_unknown_tls_mode)
{
    expect_err(SDS "outbound:\n  routes:\n    - host: a.b.svc.cluster.local\n      tls: FOO\n", 5,
               12,
               "outbound.routes[0].tls: unknown mode \"FOO\" (expected DISABLE, SIMPLE, MUTUAL "
               "or ISTIO_MUTUAL)");
}
END_TEST

START_TEST(test_config_err_tls_mode_is_case_sensitive)
{
    expect_err(SDS "outbound: {default: {tls: disable}}\n", 2, 27,
               "outbound.default.tls: unknown mode \"disable\" (expected DISABLE, SIMPLE, "
               "MUTUAL or ISTIO_MUTUAL)");
}
END_TEST

START_TEST(test_config_err_bad_address)
{
    expect_err(SDS "admin: {address: \"localhost:15000\"}\n", 2, 18,
               "admin.address: bad address \"localhost:15000\": host must be a numeric IPv4 or "
               "IPv6 address");
    expect_err(SDS "stats:\n  address: \"0.0.0.0\"\n", 3, 12,
               "stats.address: bad address \"0.0.0.0\": expected host:port");
}
END_TEST

START_TEST(test_config_err_wrong_type)
{
    expect_err(SDS "workers: four\n", 2, 10, "workers: expected an integer, got \"four\"");
    expect_err(SDS "workers: \"4\"\n", 2, 10, "workers: expected an integer, got \"4\"");
    expect_err(SDS "workers: [1]\n", 2, 10, "workers: expected an integer, got a list");
    expect_err(SDS "node: {id: {a: b}}\n", 2, 12, "node.id: expected a string, got a mapping");
    expect_err(SDS "listeners: {name: x}\n", 2, 12, "listeners: expected a list, got a mapping");
    expect_err(SDS "inbound: [1]\n", 2, 10, "inbound: expected a mapping, got a list");
}
END_TEST

START_TEST(test_config_err_unknown_key)
{
    expect_err(SDS "listeners:\n  - name: a\n    adress: \"127.0.0.1:1\"\n", 4, 5,
               "listeners[0]: unknown key \"adress\" (did you mean \"address\"?)");
    expect_err(SDS "frobnicate: 1\n", 2, 1, "unknown key \"frobnicate\"");
}
END_TEST

START_TEST(test_config_err_listener_rules)
{
    expect_err(SDS
               "listeners:\n  - {name: a, direction: inbound, address: \"127.0.0.1:1\", port: 1}\n"
               "  - {name: a, direction: inbound, address: \"127.0.0.1:2\", port: 1}\n",
               4, 12, "listeners[1].name: duplicate listener name \"a\" (also listeners[0])");
    expect_err(SDS "listeners:\n  - {name: a, direction: sideways, address: \"127.0.0.1:1\"}\n", 3,
               26,
               "listeners[0].direction: unknown direction \"sideways\" (expected inbound or "
               "outbound)");
    expect_err(SDS "listeners:\n  - {name: a, direction: outbound, address: \"127.0.0.1:1\"}\n", 3,
               5, "listeners[0]: an outbound listener needs upstream");
    expect_err(SDS "listeners:\n  - {name: a, address: \"127.0.0.1:1\"}\n", 3, 5,
               "listeners[0]: direction is required");
    expect_err(SDS "listeners:\n  - {name: a, direction: inbound, address: \"127.0.0.1:1\"}\n", 3,
               5,
               "listeners[0]: an inbound listener needs upstream (or port, to reach the app on "
               "inbound.app_host)");
    expect_err(SDS "listeners:\n  - {name: a, direction: inbound, address: \"127.0.0.1:1\",\n"
                   "     port: 80, tls: DISABLE}\n",
               4, 21,
               "listeners[0].tls: only applies to outbound listeners (inbound TLS follows "
               "PeerAuthentication)");
    expect_err(SDS "listeners:\n  - {name: a, direction: outbound, address: \"127.0.0.1:1\",\n"
                   "     upstream: \"127.0.0.1:2\", allowed_principals: [\"*\"]}\n",
               4, 51, "listeners[0].allowed_principals: only applies to inbound listeners");
    expect_err(SDS "listeners:\n  - just-a-string\n", 3, 5,
               "listeners[0]: expected a mapping, got a string");
}
END_TEST

START_TEST(test_config_err_overlapping_addresses)
{
    expect_err(SDS "health: {}\nlisteners:\n"
                   "  - {name: a, direction: inbound, address: \"127.0.0.1:15021\", port: 1}\n",
               4, 44, "listeners[0].address: 127.0.0.1:15021 overlaps health.address");
    expect_err(SDS "admin: {address: \"127.0.0.1:9000\"}\nstats: {address: \"127.0.0.1:9000\"}\n",
               3, 18, "stats.address: 127.0.0.1:9000 overlaps admin.address");
}
END_TEST

START_TEST(test_config_err_inbound_ports)
{
    expect_err(SDS "inbound:\n  ports:\n    - {port: 80}\n    - {port: 80}\n", 5, 14,
               "inbound.ports[1].port: port 80 is already listed in inbound.ports[0]");
    expect_err(SDS "inbound:\n  ports:\n    - {protocol: http}\n", 4, 7,
               "inbound.ports[0]: port is required");
    expect_err(SDS "inbound: {app_host: localhost}\n", 2, 21,
               "inbound.app_host: \"localhost\" is not a numeric IPv4 or IPv6 address");
    expect_err(SDS "inbound:\n  ports:\n    - {port: 80, allowed_principals: [foo]}\n", 4, 39,
               "inbound.ports[0].allowed_principals[0]: \"foo\" is not a SPIFFE ID "
               "(spiffe://trust-domain/path)");
    expect_err(SDS
               "inbound:\n  ports:\n    - {port: 80, allowed_principals: [\"spiffe://a/*b\"]}\n",
               4, 39,
               "inbound.ports[0].allowed_principals[0]: \"spiffe://a/*b\": a \"*\" is only "
               "allowed at the end");
}
END_TEST

START_TEST(test_config_err_routes)
{
    expect_err(SDS "outbound:\n  routes:\n    - {port: 80}\n", 4, 7,
               "outbound.routes[0]: a route needs a host or a cidr");
    expect_err(SDS "outbound:\n  routes:\n    - {cidr: 10.0.0.0/33}\n", 4, 14,
               "outbound.routes[0].cidr: bad address range \"10.0.0.0/33\": prefix length out "
               "of range");
    expect_err(SDS "outbound:\n  routes:\n    - {host: a, sni: a}\n", 4, 22,
               "outbound.routes[0].sni: only applies with tls SIMPLE or MUTUAL (tls is "
               "ISTIO_MUTUAL)");
    expect_err(SDS "outbound:\n  routes:\n    - {host: a, tls: MUTUAL}\n", 4, 7,
               "outbound.routes[0]: tls MUTUAL needs client_certificate and private_key");
    expect_err(SDS "outbound:\n  routes:\n    - {host: a, tls: SIMPLE, ca_certificates: /nope}\n",
               4, 47,
               "outbound.routes[0].ca_certificates: cannot read /nope: No such file or "
               "directory");
    expect_err(SDS "outbound:\n  routes:\n"
                   "    - {host: a, tls: MUTUAL, client_certificate: @D@/chain.crt,\n"
                   "       private_key: @D@/other.key}\n",
               5, 21,
               "outbound.routes[0].private_key: key does not match the certificate in "
               "outbound.routes[0].client_certificate");
}
END_TEST

START_TEST(test_config_err_ranges_and_enums)
{
    expect_err(SDS "timeouts: {connect_ms: 0}\n", 2, 24,
               "timeouts.connect_ms: 0 is out of range 1..3600000");
    expect_err(SDS "timeouts: {idle_ms: -1}\n", 2, 21,
               "timeouts.idle_ms: -1 is out of range 0..2147483647");
    expect_err(SDS "timeouts: {sniff: 1}\n", 2, 12,
               "timeouts: unknown key \"sniff\" (did you mean \"sniff_ms\"?)");
    expect_err(SDS "buffer_limit_bytes: 10\n", 2, 21,
               "buffer_limit_bytes: 10 is out of range 1024..1073741824");
    expect_err(SDS "workers: 2000\n", 2, 10, "workers: 2000 is out of range 0..1024");
    expect_err(SDS "log_level: loud\n", 2, 12,
               "log_level: unknown level \"loud\" (expected debug, info, warn or error)");
    expect_err(SDS "node: {trust_domain: \"Bad/TD\"}\n", 2, 22,
               "node.trust_domain: \"Bad/TD\" is not a valid trust domain (lowercase letters, "
               "digits, '.', '-' and '_')");
    expect_err(SDS "node: {namespace: a.b}\n", 2, 19,
               "node.namespace: \"a.b\" is not a valid namespace name (a DNS label)");
    expect_err(SDS "node: {id: \"\"}\n", 2, 12, "node.id: must not be empty");
    expect_err(SDS "node: {labels: {app: [x]}}\n", 2, 22,
               "node.labels.app: expected a string, got a list");
}
END_TEST

START_TEST(test_config_err_tls_groups)
{
    expect_err(SDS "tls: {groups: [X25519, P-257]}\n", 2, 24,
               "tls.groups[1]: unknown key-exchange group \"P-257\" (e.g. X25519, P-256, P-384, "
               "P-521, X448, ffdhe2048)");
    expect_err(SDS "tls:\n  groups:\n    - \"X25519:P-256\"\n", 4, 7,
               "tls.groups[0]: unknown key-exchange group \"X25519:P-256\" (e.g. X25519, P-256, "
               "P-384, P-521, X448, ffdhe2048)");
    expect_err(SDS "tls: {groups: [\"\"]}\n", 2, 16,
               "tls.groups[0]: unknown key-exchange group \"\" (e.g. X25519, P-256, P-384, "
               "P-521, X448, ffdhe2048)");
    expect_err(SDS "tls: {groups: [P-256, P-256]}\n", 2, 23,
               "tls.groups[1]: \"P-256\" is listed twice");
    expect_err(SDS "tls: {groups: []}\n", 2, 15,
               "tls.groups: expected a non-empty list of key-exchange groups (e.g. [X25519, "
               "P-256, P-384])");
    expect_err(SDS "tls: {groups: X25519}\n", 2, 15,
               "tls.groups: expected a non-empty list of key-exchange groups (e.g. [X25519, "
               "P-256, P-384])");
    expect_err(SDS "tls: {groups: [[X25519]]}\n", 2, 16,
               "tls.groups[0]: expected a key-exchange group name, got a list");
    expect_err(SDS "tls: {ciphers: x}\n", 2, 7, "tls: unknown key \"ciphers\"");
    expect_err(SDS "limits: {handshakes_per_second_per_source: -1}\n", 2, 44,
               "limits.handshakes_per_second_per_source: -1 is out of range 0..1000000");
    expect_err(SDS "limits: {handshakes_per_second_per_source: many}\n", 2, 44,
               "limits.handshakes_per_second_per_source: expected an integer, got \"many\"");
    expect_err(SDS "limits: {handshakes_per_sec: 5}\n", 2, 10,
               "limits: unknown key \"handshakes_per_sec\" (did you mean "
               "\"handshakes_per_second_per_source\"?)");
}
END_TEST

START_TEST(test_config_err_documents)
{
    expect_err("", 0, 0, "the configuration is empty");
    expect_err("# nothing\n---\n", 0, 0, "the configuration is empty");
    expect_err(SDS "---\nworkers: 1\n", 3, 1,
               "a second sidecar configuration document (the first starts at line 1); other "
               "documents must be Istio resources with apiVersion and kind");
    expect_err("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n", 0, 0,
               "no sidecar configuration document (only Istio resources)");
    expect_err("- a\n- b\n", 1, 1, "the configuration must be a mapping, got a list");
    expect_err(SDS "a: [1\n", 3, 1,
               "YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
               "sequence that started at line 2, column 4)");
    expect_err(SDS "workers: &w 1\n", 2, 10, "YAML anchors (&) and aliases (*) are not supported");
    expect_err(SDS "workers: 1\nworkers: 2\n", 3, 1,
               "duplicate key \"workers\" (first at line 2, column 1)");
}
END_TEST

START_TEST(test_config_err_istio_documents)
{
    expect_err(SDS "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n", 4, 7,
               "kind: unsupported kind \"VirtualService\" (expected PeerAuthentication or "
               "DestinationRule)");
    expect_err(SDS "---\napiVersion: networking.istio.io/v1\nkind: PeerAuthentication\n", 3, 13,
               "apiVersion: \"networking.istio.io/v1\" is not a PeerAuthentication version "
               "(expected security.istio.io/v1beta1 or security.istio.io/v1)");
    expect_err(SDS "---\nkind: PeerAuthentication\nspec: {}\n", 3, 1,
               "a Kubernetes resource needs both apiVersion and kind");
    expect_err(SDS "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                   "metadata: {name: x, namespace: foo}\nspec: {mtls: {mode: strict}}\n",
               6, 21,
               "PeerAuthentication foo/x: spec.mtls.mode: unknown mode \"strict\" (expected "
               "UNSET, DISABLE, PERMISSIVE or STRICT)");
    expect_err(SDS "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                   "metadata: {name: x}\nspec:\n  mtls: {mode: STRICT}\n"
                   "  portLevelMtls:\n    8080: {mode: DISABLE}\n",
               8, 3,
               "PeerAuthentication x: spec.portLevelMtls: portLevelMtls requires a workload "
               "selector (a mesh- or namespace-wide PeerAuthentication cannot set port-level "
               "mTLS)");
    expect_err(SDS "---\napiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\n"
                   "metadata: {name: r}\nspec:\n  host: r\n  trafficPolicy: {tls: {mode: FOO}}\n",
               8, 31,
               "DestinationRule r: spec.trafficPolicy.tls.mode: unknown mode \"FOO\" (expected "
               "DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)");
}
END_TEST

START_TEST(test_config_err_destination_rule_files_checked_when_used)
{
    expect_err("node: {namespace: foo}\n" SDS "outbound: {routes: [{host: ext.example.com}]}\n"
               "---\n"
               "apiVersion: networking.istio.io/v1\n"
               "kind: DestinationRule\n"
               "metadata: {name: ext}\n"
               "spec:\n"
               "  host: ext.example.com\n"
               "  trafficPolicy:\n"
               "    tls: {mode: SIMPLE, caCertificates: /missing/ca.pem}\n",
               11, 41,
               "DestinationRule ext: spec.trafficPolicy.tls.caCertificates: cannot read "
               "/missing/ca.pem: No such file or directory");
}
END_TEST

START_TEST(test_config_err_load_missing_file)
{
    struct sc_config *cfg = NULL;
    struct sc_err err;

    ck_assert_int_eq(sc_config_load("/nonexistent/sidecar.yaml", &cfg, &err), -1);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err.msg, "cannot read /nonexistent/sidecar.yaml: No such file or directory");
}
END_TEST

START_TEST(test_config_on_root_expiry_refuse_and_grace)
{
    struct sc_config *cfg = load_ok(SDS);

    ck_assert_int_eq(cfg->secrets.root_grace_hours, 0); /* refuse by default */
    sc_config_free(cfg);
    cfg = load_ok("secrets: {sds_socket: /run/sds.sock, on_root_expiry: refuse}\n");
    ck_assert_int_eq(cfg->secrets.root_grace_hours, 0);
    sc_config_free(cfg);
    cfg = load_ok("secrets: {sds_socket: /run/sds.sock, on_root_expiry: {grace_hours: 48}}\n");
    ck_assert_int_eq(cfg->secrets.root_grace_hours, 48);
    sc_config_free(cfg);
}
END_TEST

/* ---- sc_config_summary -------------------------------------------------- */

static char summary[4096];

static void collect(void *arg, const char *line)
{
    size_t n = strlen(summary);

    (void)arg;
    snprintf(summary + n, sizeof(summary) - n, "%s\n", line);
}

START_TEST(test_config_summary_names_the_deciding_document)
{
    struct sc_config *cfg =
        load_ok("node: {id: s, namespace: bar}\n"
                "secrets: {sds_socket: /nonexistent}\n"
                "inbound: {address: \"0.0.0.0:15006\", ports: [{port: 8080, protocol: http}]}\n"
                "outbound: {address: \"127.0.0.1:15001\",\n"
                "  routes: [{host: reviews, cidr: 10.0.0.0/8, port: 9080},\n"
                "           {host: other, cidr: 10.1.0.0/16, tls: DISABLE}]}\n"
                "listeners:\n"
                "  - {name: in, direction: inbound, address: \"127.0.0.1:20001\",\n"
                "     upstream: \"127.0.0.1:20002\", port: 9090}\n"
                "  - {name: out, direction: outbound, address: \"127.0.0.1:20003\",\n"
                "     upstream: \"127.0.0.1:20004\", host: nowhere, protocol: http}\n"
                "---\n"
                "apiVersion: security.istio.io/v1beta1\n"
                "kind: PeerAuthentication\n"
                "metadata: {name: default, namespace: bar}\n"
                "spec: {mtls: {mode: STRICT}}\n"
                "---\n"
                "apiVersion: networking.istio.io/v1alpha3\n"
                "kind: DestinationRule\n"
                "metadata: {name: reviews, namespace: bar}\n"
                "spec: {host: reviews, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}\n");

    summary[0] = '\0';
    ck_assert_uint_eq(sc_config_summary(cfg, collect, NULL), 7);
    ck_assert_str_eq(summary,
                     "listener inbound: 0.0.0.0:15006 inbound port=* protocol=tcp mode=STRICT "
                     "(PeerAuthentication bar/default, namespace)\n"
                     "listener inbound: 0.0.0.0:15006 inbound port=8080 protocol=http "
                     "mode=STRICT (PeerAuthentication bar/default, namespace)\n"
                     "listener outbound: 127.0.0.1:15001 outbound port=* protocol=tcp "
                     "mode=DISABLE (outbound.default)\n"
                     "listener outbound: 127.0.0.1:15001 outbound port=9080 protocol=tcp "
                     "mode=ISTIO_MUTUAL (DestinationRule bar/reviews) "
                     "host=reviews\n"
                     "listener outbound: 127.0.0.1:15001 outbound port=* protocol=tcp "
                     "mode=DISABLE (tls: set on it) host=other\n"
                     "listener in: 127.0.0.1:20001 inbound port=9090 protocol=tcp mode=STRICT "
                     "(PeerAuthentication bar/default, namespace)\n"
                     "listener out: 127.0.0.1:20003 outbound port=20004 protocol=http "
                     "mode=ISTIO_MUTUAL (default) host=nowhere\n");
    sc_config_free(cfg);
}
END_TEST

START_TEST(test_config_on_root_expiry_errors)
{
    expect_err("secrets: {sds_socket: /run/sds.sock, on_root_expiry: allow}\n", 1, 54,
               "secrets.on_root_expiry: expected refuse or {grace_hours: N}, got \"allow\"");
    expect_err("secrets: {sds_socket: /run/sds.sock, on_root_expiry: [refuse]}\n", 1, 54,
               "secrets.on_root_expiry: expected refuse or {grace_hours: N}, got a list");
    expect_err("secrets: {sds_socket: /run/sds.sock, on_root_expiry: {}}\n", 1, 54,
               "secrets.on_root_expiry: expected refuse or {grace_hours: N}: grace_hours is "
               "missing");
    expect_err("secrets: {sds_socket: /run/sds.sock, on_root_expiry: {grace_hours: 0}}\n", 1, 68,
               "secrets.on_root_expiry.grace_hours: 0 is out of range 1..87600");
    expect_err("secrets: {sds_socket: /run/sds.sock, on_root_expiry: {grace: 2}}\n", 1, 55,
               "secrets.on_root_expiry: unknown key \"grace\" (did you mean \"grace_hours\"?)");
}
END_TEST

START_TEST(test_config_summary_of_nothing_is_empty)
{
    struct sc_config *cfg = load_ok("secrets: {sds_socket: /nonexistent}\n");

    summary[0] = '\0';
    ck_assert_uint_eq(sc_config_summary(cfg, collect, NULL), 0);
    ck_assert_str_eq(summary, "");
    sc_config_free(cfg);
}
END_TEST

/* secrets.trust_bundles: a mapping of trust domain to file, files mode only. */
START_TEST(test_config_err_trust_bundles)
{
    tc_config_expect_err("t.yaml", "secrets: {sds_socket: /x.sock, trust_bundles: [a]}\n", 1, 47,
                         "secrets.trust_bundles: expected a mapping of trust domain to file, "
                         "got a list");
    tc_config_expect_err(
        "t.yaml", "secrets: {sds_socket: /x.sock, trust_bundles: {Example.org: /f}}\n", 1, 48,
        "secrets.trust_bundles.Example.org: not a trust domain (lowercase "
        "letters, digits, '.', '-', '_')");
    tc_config_expect_err("t.yaml",
                         "secrets: {sds_socket: /x.sock, trust_bundles: {example.org: [a]}}\n", 1,
                         61, "secrets.trust_bundles.example.org: expected a file name, got a list");
    tc_config_expect_err(
        "t.yaml", "secrets: {sds_socket: /x.sock, trust_bundles: {example.org: /f}}\n", 1, 47,
        "secrets.trust_bundles: only with certificate files (cert_chain, "
        "private_key, trusted_ca)");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *ok = tcase_create("sc_config_load");
    TCase *bad = tcase_create("sc_config_load_errors");

    tcase_add_unchecked_fixture(ok, certs_setup, certs_teardown);
    tcase_add_unchecked_fixture(bad, certs_setup, certs_teardown);
    tcase_add_test(ok, test_config_load_design_example);
    tcase_add_test(ok, test_config_summary_names_the_deciding_document);
    tcase_add_test(ok, test_config_summary_of_nothing_is_empty);
    tcase_add_test(ok, test_config_load_file_with_secret_files);
    tcase_add_test(ok, test_config_load_applies_defaults);
    tcase_add_test(ok, test_config_on_root_expiry_refuse_and_grace);
    tcase_add_test(bad, test_config_on_root_expiry_errors);
    tcase_add_test(ok, test_config_load_absent_sections_open_nothing);
    tcase_add_test(ok, test_config_load_timeouts_workers_buffer_log_level);
    tcase_add_test(ok, test_config_timeouts_per_port_route_and_listener);
    tcase_add_test(ok, test_config_timeouts_per_route_out_of_range);
    tcase_add_test(ok, test_config_load_listener_defaults);
    tcase_add_test(ok, test_config_load_normalizes_istio_principals);
    tcase_add_test(ok, test_config_load_route_simple_and_mutual_files);
    tcase_add_test(ok, test_config_load_destination_rule_simple_carries_files);
    tcase_add_test(ok, test_config_route_first_match_and_any_port);
    tcase_add_test(ok, test_config_load_tls_groups);
    tcase_add_test(ok, test_config_load_limits);
    tcase_add_test(ok, test_config_mode_names);
    tcase_add_test(ok, test_config_load_mem_without_nul);
    tcase_add_test(ok, test_config_load_shipped_examples);
    suite_add_tcase(s, ok);

    tcase_add_test(bad, test_config_err_port_out_of_range);
    tcase_add_test(bad, test_config_err_huge_integer);
    tcase_add_test(bad, test_config_err_unknown_protocol);
    tcase_add_test(bad, test_config_err_cert_file_missing);
    tcase_add_test(bad, test_config_err_key_does_not_match);
    tcase_add_test(bad, test_config_err_key_not_pem);
    tcase_add_test(bad, test_config_err_trusted_ca_not_pem);
    tcase_add_test(bad, test_config_err_cert_chain_bad_pem);
    tcase_add_test(bad, test_config_err_secrets_incomplete);
    tcase_add_test(bad, test_config_err_secrets_missing);
    tcase_add_test(bad, test_config_err_unknown_tls_mode);
    tcase_add_test(bad, test_config_err_tls_mode_is_case_sensitive);
    tcase_add_test(bad, test_config_err_bad_address);
    tcase_add_test(bad, test_config_err_wrong_type);
    tcase_add_test(bad, test_config_err_unknown_key);
    tcase_add_test(bad, test_config_err_listener_rules);
    tcase_add_test(bad, test_config_err_overlapping_addresses);
    tcase_add_test(bad, test_config_err_inbound_ports);
    tcase_add_test(bad, test_config_err_routes);
    tcase_add_test(bad, test_config_err_ranges_and_enums);
    tcase_add_test(bad, test_config_err_tls_groups);
    tcase_add_test(bad, test_config_err_documents);
    tcase_add_test(bad, test_config_err_istio_documents);
    tcase_add_test(bad, test_config_err_destination_rule_files_checked_when_used);
    tcase_add_test(bad, test_config_err_load_missing_file);
    tcase_add_test(bad, test_config_err_trust_bundles);
    suite_add_tcase(s, bad);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
