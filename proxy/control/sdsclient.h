#ifndef SC_SDSCLIENT_H
#define SC_SDSCLIENT_H

struct event_base;
struct sc_runtime;
struct sc_admin_sds;
struct sc_sdsclient;

/* The sidecar's Secret Discovery Service client (Envoy SDS v3,
 * state-of-the-world StreamSecrets over gRPC on the Unix socket
 * secrets.sds_socket).  It subscribes to our certificate (default) and the
 * trust bundle (ROOTCA), validates every push as one set — key matches the
 * certificate, the chain leads to the roots, the leaf is valid now, the PEM
 * parses — and either installs it through the runtime (a new snapshot) and
 * ACKs, or NACKs with error_detail and changes nothing.  When the server
 * goes away it keeps the certificates it has and reconnects with
 * exponential backoff and jitter. */
struct sc_sdsclient *sc_sdsclient_new(struct event_base *base, struct sc_runtime *rt);
void sc_sdsclient_state(const struct sc_sdsclient *c, struct sc_admin_sds *out);
void sc_sdsclient_free(struct sc_sdsclient *c);

#endif
