#ifndef SC_CERTS_H
#define SC_CERTS_H

#include <openssl/x509.h>
#include <time.h>

struct evbuffer;
struct sc_snapshot;
struct sc_tls_material;

/* What the operator sees of the certificates in use: /certs in Envoy's JSON
 * shape, /certs?format=table in istioctl's `proxy-config secret` columns,
 * and expiry gauges for Prometheus.  Every certificate the sidecar holds is
 * listed: the mesh leaf, each intermediate of its chain, each root of the
 * bundle, and the CA certificates, client certificate and chain extras of
 * every SIMPLE / MUTUAL route or listener (from the snapshot's contexts).
 *
 * m may be NULL (no certificates yet: the table shows WARMING); snap may be
 * NULL (route certificates are then left out).  Both are borrowed. */

struct sc_certs_names {
    const char *cert; /* resource name of our chain, e.g. "default" */
    const char *root; /* resource name of the bundle, e.g. "ROOTCA" */
};

enum sc_certs_role {
    SC_CERTS_LEAF,
    SC_CERTS_INTERMEDIATE,
    SC_CERTS_ROOT,
};

/* One certificate held, as visited by sc_certs_each (all borrowed). */
struct sc_certs_item {
    X509 *cert;
    enum sc_certs_role role;
    const char *resource; /* names->cert, names->root, or the route's name */
    int route; /* 1 for a SIMPLE / MUTUAL route's certificate */
    const char *trust_domain; /* the mesh set's: ours, or a federated bundle's;
                               * NULL for a route's */
};

typedef void sc_certs_visit_fn(const struct sc_certs_item *item, void *arg);

/* Calls fn for every certificate held, in the table's order: our leaf, our
 * intermediates, our roots, the roots of each federated trust domain
 * (secrets.trust_bundles; resource: the domain), then each route's (roots,
 * leaf, intermediates). */
void sc_certs_each(const struct sc_tls_material *m, const struct sc_snapshot *snap,
                   const struct sc_certs_names *names, sc_certs_visit_fn *fn, void *arg);

/* "leaf", "intermediate" or "root" (the metric's role label). */
const char *sc_certs_role_name(enum sc_certs_role role);

/* STATUS of one certificate at `now`: ACTIVE, EXPIRED or NOT YET VALID. */
const char *sc_certs_status(time_t not_before, time_t not_after, time_t now);

void sc_certs_render_json(const struct sc_tls_material *m, const struct sc_snapshot *snap,
                          time_t now, struct evbuffer *out);
void sc_certs_render_table(const struct sc_tls_material *m, const struct sc_snapshot *snap,
                           const struct sc_certs_names *names, time_t now, struct evbuffer *out);
/* /certs?format=list, for sidecarctl: one JSON row per certificate (our
 * chain's leaf and intermediates, then every certificate of the trust
 * bundle), with istioctl's columns plus role ("leaf", "intermediate",
 * "root"), subject, issuer, not_after_unix and days_left:
 * {"now_unix":N,"certificates":[{...}],"warming":false}. */
void sc_certs_render_list(const struct sc_tls_material *m, const struct sc_certs_names *names,
                          time_t now, struct evbuffer *out);
/* sidecar_certificate_expiration_timestamp_seconds (every certificate
 * held) and Envoy's envoy_server_days_until_first_cert_expiring. */
void sc_certs_render_prometheus(const struct sc_tls_material *m, const struct sc_snapshot *snap,
                                const struct sc_certs_names *names, time_t now,
                                struct evbuffer *out);

/* Whole days from now until the first certificate of m (leaf,
 * intermediates, roots) expires, 0 once one has; -1 when m is NULL. */
long sc_certs_days_until_first_expiring(const struct sc_tls_material *m, time_t now);

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
