#ifndef SC_STATS_H
#define SC_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"

#include "config.h"

struct evbuffer;

/* How an accepted connection was classified (DESIGN.md, "Data path"). */
enum sc_conn_class {
    SC_CLASS_MESH_MTLS = 0,
    SC_CLASS_PLAINTEXT,
    SC_CLASS_APP_TLS, /* app_tls_passthrough */
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
    SC_HS_ROOT_EXPIRED_GRACE, /* accepted: the peer's root expired, within the grace */
    SC_HS_REVOKED, /* a certificate of the peer's chain is in a CRL */
    SC_HS_N,
};

/* Why accept() failed (sidecar_accept_errors_total{reason=...}). */
enum sc_accept_error {
    SC_ACCEPT_EMFILE = 0, /* the process is out of descriptors */
    SC_ACCEPT_ENFILE, /* the system is */
    SC_ACCEPT_OTHER, /* ENOBUFS, ENOMEM, ... */
    SC_ACCEPT_N,
};

/* One worker's counters.  Only its worker writes them (relaxed atomics, no
 * locks); the stats server sums all workers' when scraped. */
struct sc_stats;

struct sc_stats *sc_stats_new(void);
void sc_stats_free(struct sc_stats *st); /* accepts NULL */

/* The worker's table of Istio's standard metrics (proxy/istio.h); owned
 * by st. */
struct sc_istio;
struct sc_istio *sc_stats_istio(struct sc_stats *st);

/* Zeroes every counter of the n workers (POST /reset_counters), Istio's
 * included; sidecar_connections_active, a gauge, is kept.  From the main
 * thread while the workers count: each counter is one atomic store, so a
 * count racing with it may be lost, never torn. */
void sc_stats_reset(struct sc_stats *const *all, size_t n);

void sc_stats_conn_class(struct sc_stats *st, enum sc_direction dir, int port,
                         enum sc_conn_class cls);
void sc_stats_handshake(struct sc_stats *st, enum sc_direction dir, enum sc_hs_outcome o);
void sc_stats_active(struct sc_stats *st, int delta);
void sc_stats_accept_error(struct sc_stats *st, enum sc_accept_error e);
/* A downstream connection closed before its handshake: its address was over
 * limits.handshakes_per_second_per_source (sidecar_handshakes_limited_total). */
void sc_stats_handshake_limited(struct sc_stats *st);
/* A downstream connection closed at once: its listener had
 * limits.max_connections open on this worker
 * (sidecar_connections_overflow_total). */
void sc_stats_overflow(struct sc_stats *st);
/* HBONE (proxy/hbone*.c): tunnels (HTTP/2 mTLS connections) and the
 * CONNECT streams they carry, per direction. */
enum sc_hbone_ev {
    SC_HBONE_TUNNEL_OPENED = 0,
    SC_HBONE_TUNNEL_CLOSED,
    SC_HBONE_STREAM_OPENED, /* a 200 sent (inbound) or received (outbound) */
    SC_HBONE_STREAM_REFUSED, /* 4xx/5xx sent or received, or refused before */
    SC_HBONE_STREAM_RESET, /* RST_STREAM either way after the 200 */
    SC_HBONE_EV_N
};
void sc_stats_hbone(struct sc_stats *st, enum sc_direction dir, enum sc_hbone_ev ev);
/* A tunnel closed after carrying `streams` streams (the streams-per-tunnel
 * histogram; also counts SC_HBONE_TUNNEL_CLOSED). */
void sc_stats_hbone_tunnel_closed(struct sc_stats *st, enum sc_direction dir, uint64_t streams);

void sc_stats_bytes(struct sc_stats *st, enum sc_direction dir, uint64_t rx, uint64_t tx);

/* Counts a handshake (full, or resumed from a session whose full handshake
 * did) whose peer chained to the root with this serial and
 * subject (strings are copied; at most 16 distinct roots per worker, the
 * rest count under "other"), from peer peer_id ("" if none); resumed is 1
 * for a resumption. */
void sc_stats_peer_root(struct sc_stats *st, enum sc_direction dir, const char *serial,
                        const char *subject, const char *peer_id, int resumed);

/* The worker's per-root table (rootstats.h), also fed by
 * sc_stats_peer_root with the peer's SPIFFE ID: borrowed, lives as long as
 * st.  The admin reads it on the main thread. */
struct sc_rootstats;
struct sc_rootstats *sc_stats_rootstats(struct sc_stats *st);

/* Counts one HTTP request (labels as Istio's istio_requests_total:
 * direction, port, response_code, connection_security_policy mutual_tls /
 * none, response_flags "-" or "UF,URX") and its duration. */
void sc_stats_request(struct sc_stats *st, enum sc_direction dir, int port, int code, int mtls,
                      const char *flags, int64_t duration_ms);

/* Counts an inbound connection on port that STRICT would have refused
 * (cls PLAINTEXT or APP_TLS; others are ignored) from peer at now, for the
 * "would STRICT refuse anyone" question (sidecarctl describe).  Bounded:
 * 64 ports per worker, 5-minute buckets over the last hour. */
void sc_stats_nonmesh(struct sc_stats *st, int port, enum sc_conn_class cls,
                      const struct sc_addr *peer, time_t now);

struct sc_stats_nonmesh_sum {
    uint64_t plaintext; /* in the last hour (to 5 minutes' precision) */
    uint64_t app_tls;
    int has_last; /* a client in the last hour */
    struct sc_addr last_peer;
    time_t last_at;
};

/* All workers' counts for port over the hour before now. */
void sc_stats_sum_nonmesh(struct sc_stats *const *all, size_t n, int port, time_t now,
                          struct sc_stats_nonmesh_sum *out);

/* Sums of all workers' counters. */
uint64_t sc_stats_sum_class(struct sc_stats *const *all, size_t n, enum sc_direction dir, int port,
                            enum sc_conn_class cls);

/* Appends the Prometheus text exposition of all workers' counters. */
void sc_stats_render_prometheus(struct sc_stats *const *all, size_t n, struct evbuffer *out);
/* Appends Envoy-style "name: value" lines. */
void sc_stats_render_text(struct sc_stats *const *all, size_t n, struct evbuffer *out);

const char *sc_conn_class_name(enum sc_conn_class c);
const char *sc_hs_outcome_name(enum sc_hs_outcome o);
const char *sc_accept_error_name(enum sc_accept_error e);

#endif
