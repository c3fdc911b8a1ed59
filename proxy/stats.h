#ifndef SC_STATS_H
#define SC_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct evbuffer;

/* How an accepted connection was classified (DESIGN.md, "Data path"). */
enum sc_conn_class {
    SC_CLASS_MESH_MTLS = 0,
    SC_CLASS_PLAINTEXT,
    SC_CLASS_APP_TLS,        /* app_tls_passthrough */
    SC_CLASS_REFUSED,
    SC_CLASS_N,
};

/* Handshake outcomes, as the certificate issue's metric names them. */
enum sc_hs_outcome {
    SC_HS_OK = 0,
    SC_HS_NO_CLIENT_CERT,
    SC_HS_UNKNOWN_CA,
    SC_HS_EXPIRED,
    SC_HS_BAD_IDENTITY,
    SC_HS_PROTOCOL,
    SC_HS_REVOKED,           /* a certificate of the peer's chain is in a CRL */
    SC_HS_N,
};

/* One worker's counters.  Only its worker writes them (relaxed atomics, no
 * locks); the stats server sums all workers' when scraped. */
struct sc_stats;

struct sc_stats *sc_stats_new(void);
void sc_stats_free(struct sc_stats *st);

void sc_stats_conn_class(struct sc_stats *st, enum sc_direction dir, int port,
                         enum sc_conn_class cls);
void sc_stats_handshake(struct sc_stats *st, enum sc_direction dir, enum sc_hs_outcome o);
void sc_stats_active(struct sc_stats *st, int delta);
void sc_stats_bytes(struct sc_stats *st, enum sc_direction dir, uint64_t rx, uint64_t tx);

/* Counts a handshake whose peer chained to the root with this serial and
 * subject (strings are copied; at most 16 distinct roots per worker, the
 * rest count under "other"). */
void sc_stats_peer_root(struct sc_stats *st, enum sc_direction dir, const char *serial,
                        const char *subject);

/* Counts one HTTP request (labels as Istio's istio_requests_total:
 * direction, port, response_code, connection_security_policy mutual_tls /
 * none, response_flags "-" or "UF,URX") and its duration. */
void sc_stats_request(struct sc_stats *st, enum sc_direction dir, int port, int code, int mtls,
                      const char *flags, int64_t duration_ms);

/* Sums of all workers' counters. */
uint64_t sc_stats_sum_class(struct sc_stats *const *all, size_t n, enum sc_direction dir,
                            int port, enum sc_conn_class cls);

/* Appends the Prometheus text exposition of all workers' counters. */
void sc_stats_render_prometheus(struct sc_stats *const *all, size_t n, struct evbuffer *out);
/* Appends Envoy-style "name: value" lines. */
void sc_stats_render_text(struct sc_stats *const *all, size_t n, struct evbuffer *out);

const char *sc_conn_class_name(enum sc_conn_class c);
const char *sc_hs_outcome_name(enum sc_hs_outcome o);

#endif
