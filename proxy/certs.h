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
/* sidecar_certificate_expiration_timestamp_seconds and Envoy's
 * envoy_server_days_until_first_cert_expiring. */
void sc_certs_render_prometheus(const struct sc_tls_material *m, time_t now,
                                struct evbuffer *out);

/* Whole days from now until the first certificate of m (leaf,
 * intermediates, roots) expires, 0 once one has; -1 when m is NULL. */
long sc_certs_days_until_first_expiring(const struct sc_tls_material *m, time_t now);

#endif
