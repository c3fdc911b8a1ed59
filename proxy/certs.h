#ifndef SC_CERTS_H
#define SC_CERTS_H

#include <time.h>

struct evbuffer;
struct sc_tls_material;

/* What the operator sees of the certificates in use: /certs in Envoy's JSON
 * shape, /certs?format=table in istioctl's `proxy-config secret` columns,
 * and expiry gauges for Prometheus.  m may be NULL (no certificates yet:
 * the table shows WARMING). */

struct sc_certs_names {
    const char *cert;       /* resource name of our chain, e.g. "default" */
    const char *root;       /* resource name of the bundle, e.g. "ROOTCA" */
};

/* STATUS of one certificate at `now`: ACTIVE, EXPIRED or NOT YET VALID. */
const char *sc_certs_status(time_t not_before, time_t not_after, time_t now);

void sc_certs_render_json(const struct sc_tls_material *m, time_t now, struct evbuffer *out);
void sc_certs_render_table(const struct sc_tls_material *m, const struct sc_certs_names *names,
                           time_t now, struct evbuffer *out);
void sc_certs_render_prometheus(const struct sc_tls_material *m, struct evbuffer *out);

/* GET /certs/roots: "is it safe to drop the old root?".  One object per
 * root of the trust bundle, in bundle order:
 *   {"window_seconds":N,"roots":[{"subject":"CN=...","serial_number":"hex",
 *    "not_after":"RFC 3339","peers":["spiffe://..."],"peers_truncated":false,
 *    "last_seen":"RFC 3339"|null,"handshakes":{"full":N,"resumed":N},
 *    "our_chain":bool,"safe_to_remove":bool}]}
 * peers and handshakes cover the window (seconds up to now), from the
 * workers' tables seen[0..n-1] (rootstats.h; a resumption counts under the
 * root of its original handshake); last_seen is the last handshake ever.
 * safe_to_remove: no peer chained to it in the window, another root of the
 * bundle is valid now, and our own chain does not end at it (our_chain). */
struct sc_rootstats;
void sc_certs_render_roots(const struct sc_tls_material *m, struct sc_rootstats *const *seen,
                           size_t n, time_t now, long window, struct evbuffer *out);

#endif
