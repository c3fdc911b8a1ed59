/* Fuzz target for proxy/hbone_req: the CONNECT request an HBONE listener
 * receives, as the HTTP/2 layer hands it over (one callback per decoded
 * header).  Input: headers as "name<TAB>value" lines (any bytes, NULs
 * included); the first byte picks the tunnel's peer identity.  The verdict
 * must be one of 200, 400, 403, 405, 503 with a reason for every refusal;
 * a 200 must name a port the workload serves, not a DISABLE one, with an
 * app address on that port; the same headers must get the same verdict. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_check.h"
#include "hbone_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char workload[] =
    "secrets: {sds_socket: /run/sds.sock}\n"
    "node: {namespace: bar, labels: {app: w}}\n"
    "inbound:\n"
    "  ports:\n"
    "    - {port: 8080, protocol: tcp}\n"
    "    - {port: 9090, protocol: http, allowed_principals: [\"spiffe://cluster.local/ns/foo/*\"]}\n"
    "    - {port: 7070}\n"
    "listeners:\n"
    "  - {name: x, direction: inbound, address: 127.0.0.1:16000, upstream: 127.0.0.1:6000,\n"
    "     port: 6060}\n"
    "---\n"
    "apiVersion: security.istio.io/v1beta1\n"
    "kind: PeerAuthentication\n"
    "metadata: {name: w, namespace: bar}\n"
    "spec:\n"
    "  selector: {matchLabels: {app: w}}\n"
    "  mtls: {mode: STRICT}\n"
    "  portLevelMtls: {7070: {mode: DISABLE}}\n";

static struct sc_config *cfg;

static void feed(struct sc_hbone_req *r, const uint8_t *p, size_t n)
{
    while (n > 0) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t line = nl != NULL ? (size_t)(nl - p) : n;
        const uint8_t *tab = memchr(p, '\t', line);

        if (tab != NULL) {
            sc_hbone_req_header(r, p, (size_t)(tab - p), tab + 1, line - (size_t)(tab - p) - 1);
        } else {
            sc_hbone_req_header(r, p, line, (const uint8_t *)"", 0);
        }
        if (nl == NULL) {
            break;
        }
        n -= line + 1;
        p = nl + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const peers[] = {"spiffe://cluster.local/ns/foo/sa/client",
                                        "spiffe://cluster.local/ns/evil/sa/x", "-", NULL};
    struct sc_hbone_req r, r2;
    struct sc_hbone_target t, t2;
    char why[300], why2[300];
    const char *peer;
    int st, st2;

    if (cfg == NULL) {
        struct sc_err err;

        CHECK(sc_config_load_string("fuzz.yaml", workload, &cfg, &err) == 0);
    }
    if (size == 0) {
        return 0;
    }
    peer = peers[data[0] % 4];
    sc_hbone_req_init(&r);
    feed(&r, data + 1, size - 1);
    st = sc_hbone_req_decide(&r, cfg, peer, &t, why, sizeof(why));
    CHECK(st == 200 || st == 400 || st == 403 || st == 405 || st == 503);
    CHECK(memchr(why, '\0', sizeof(why)) != NULL);
    if (st == 200) {
        CHECK(why[0] == '\0');
        CHECK(t.port == 8080 || t.port == 9090 || t.port == 6060);
        CHECK(t.mode != SC_MTLS_DISABLE && t.mode != SC_MTLS_UNSET);
        CHECK(sc_addr_port(&t.app) == (t.port == 6060 ? 6000 : t.port));
        CHECK(t.timeouts != NULL);
        CHECK(strcmp(r.method, "CONNECT") == 0);
    } else {
        CHECK(why[0] != '\0');
    }
    sc_hbone_req_init(&r2);
    feed(&r2, data + 1, size - 1);
    st2 = sc_hbone_req_decide(&r2, cfg, peer, &t2, why2, sizeof(why2));
    CHECK(st == st2 && strcmp(why, why2) == 0);
    return 0;
}
