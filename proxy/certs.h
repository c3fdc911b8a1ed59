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
/* /certs?format=list, for sidecarctl: one JSON row per certificate (our
 * chain's leaf and intermediates, then every certificate of the trust
 * bundle), with istioctl's columns plus role ("leaf", "intermediate",
 * "root"), subject, issuer, not_after_unix and days_left:
 * {"now_unix":N,"certificates":[{...}],"warming":false}. */
void sc_certs_render_list(const struct sc_tls_material *m, const struct sc_certs_names *names,
                          time_t now, struct evbuffer *out);
void sc_certs_render_prometheus(const struct sc_tls_material *m, struct evbuffer *out);

#endif
