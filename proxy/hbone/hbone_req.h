#ifndef SC_HBONE_REQ_H
#define SC_HBONE_REQ_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"

/* One HBONE CONNECT request, as the inbound side receives it, and what it
 * means: a pure function of the request's headers, the config and the
 * tunnel's peer identity (no I/O), so a unit test and a fuzz target can
 * drive it (test/unit/test_hbone_req.c, test/fuzz/fuzz_hbone.c).
 *
 * Istio's HBONE (ztunnel): `:method CONNECT`, `:authority` the target
 * `ip:port` inside the pod, no `:scheme` or `:path` (RFC 9113 §8.5);
 * other headers (`baggage`, `forwarded`, `traceparent`) are carried but do
 * not change the decision. */

#define SC_HBONE_AUTHORITY_MAX 128

struct sc_hbone_req {
    char method[16];
    char authority[SC_HBONE_AUTHORITY_MAX];
    unsigned bad; /* a header this request must not carry */
    unsigned n_headers;
};

/* What the request asks for, once accepted. */
struct sc_hbone_target {
    int port; /* the workload port */
    struct sc_addr app; /* inbound.app_host:port (loopback) */
    enum sc_proto protocol; /* the port's protocol */
    enum sc_mtls_mode mode; /* the port's PeerAuthentication mode */
    const struct sc_cfg_inport *inport; /* its inbound.ports entry, or NULL */
    const struct sc_cfg_timeouts *timeouts; /* the port's (or the global) timeouts */
};

void sc_hbone_req_init(struct sc_hbone_req *r);

/* Feeds one header (HPACK-decoded; name lowercase as HTTP/2 requires).
 * Never fails: what is wrong is remembered for sc_hbone_req_decide. */
void sc_hbone_req_header(struct sc_hbone_req *r, const uint8_t *name, size_t namelen,
                         const uint8_t *value, size_t valuelen);

/* The answer: 200 and *t filled, or 400 (not a CONNECT to ip:port), 405
 * (another method), 403 (a port the workload does not serve, a DISABLE
 * port, or a peer the port's allowed_principals refuse), with the reason in
 * why ("port 9 is not an inbound port of this workload").  peer_id is the
 * tunnel's verified SPIFFE ID. */
int sc_hbone_req_decide(const struct sc_hbone_req *r, const struct sc_config *cfg,
                        const char *peer_id, struct sc_hbone_target *t, char *why, size_t len);

/* Whether peer_id may open a tunnel at all: allowed by the allowed_principals
 * of at least one inbound port (a port without allowed_principals allows any
 * identity of the trust domain, which the handshake already checked), so an
 * identity no port accepts is refused for the whole tunnel, as on a plain
 * mTLS port.  1 or 0. */
int sc_hbone_peer_allowed(const struct sc_config *cfg, const char *peer_id);

#endif
