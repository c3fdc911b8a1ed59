#ifndef SC_DESCRIBE_H
#define SC_DESCRIBE_H

#include <stddef.h>
#include <time.h>

/* GET /describe (admin): what sidecarctl describe prints, as JSON.  For
 * every inbound port (inbound.ports[] and inbound listeners) the mode, the
 * PeerAuthentication that decided it, the connection counts by
 * classification, and the plaintext / non-mesh TLS connections of the last
 * hour that STRICT would have refused; for every outbound route, listener
 * and the default, the TLS mode, the identity check and the
 * DestinationRule that set the mode:
 *
 * {"trust_domain":"cluster.local","now":"RFC3339",
 *  "inbound":[{"port":8080,"source":"inbound.ports[0]"|"listener NAME",
 *              "mode":"STRICT","decided_by":{"kind":"PeerAuthentication",
 *              "namespace","name","level":"workload"|"namespace"|"mesh"}|null,
 *              "port_level_override":false,
 *              "connections":{"mesh_mtls":N,"plaintext":N,"app_tls_passthrough":N,"refused":N},
 *              "last_hour":{"plaintext":N,"non_mesh_tls":N,
 *                           "last_client":"ADDR:PORT"|null,"last_seen":"RFC3339"|null}}],
 *  "outbound":[{"kind":"route"|"listener"|"default","name","host","port",
 *               "tls","identity_check","expected_identities":[...],
 *               "destination_rule":"namespace/name"|null}]}
 *
 * cfg and stats are borrowed. */

struct evbuffer;
struct sc_config;
struct sc_stats;

void sc_describe_render(const struct sc_config *cfg, struct sc_stats *const *stats, size_t n,
                        time_t now, struct evbuffer *out);

#endif
