#ifndef SC_ISTIO_H
#define SC_ISTIO_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Istio's standard metrics (istio_requests_total, the request duration and
 * size histograms, the istio_tcp_* counters) with Istio's labels, so that
 * the dashboards and alerts written for Istio work unchanged
 * (docs/config.md, "Metrics").
 *
 * One table per worker, keyed by the whole label set; only its worker adds
 * series and counts (relaxed atomics, no locks); the stats server sums the
 * workers' tables when scraped.  A table holds at most SC_ISTIO_MAX_SERIES
 * label sets; past that, each (reporter, protocol) counts into one series
 * whose other labels say "overflow".  Series are never removed; their
 * counters may be zeroed (sc_istio_reset) from another thread. */

struct evbuffer;
struct sc_addr;
struct sc_snapshot;
struct sc_istio;

#define SC_ISTIO_MAX_SERIES 1024
#define SC_ISTIO_LABELS_MAX 1536 /* one label set, as Prometheus text */
#define SC_ISTIO_VALUE_MAX 256 /* one label value; longer ones are cut */

/* What one connection or request knows about its two ends.  Borrowed
 * strings; NULL means not known. */
struct sc_istio_ends {
    const struct sc_snapshot *snap; /* node.id, node.namespace, our SPIFFE ID */
    enum sc_direction dir; /* reporter: inbound = destination */
    int mtls; /* mesh mTLS on the hop this sidecar ends
                                         * (inbound) or starts (ISTIO_MUTUAL) */
    const char *peer_id; /* the mesh peer's SPIFFE ID */
    const char *host; /* outbound: the route's or listener's host */
    const struct sc_addr *dst; /* outbound: where it connects */
    int port; /* destination_port */
};

/* Writes the labels every family shares, from reporter to
 * connection_security_policy (no response_code / response_flags), as
 * Prometheus label text without braces.  Returns the length (cut at outlen). */
size_t sc_istio_labels(const struct sc_istio_ends *e, int http, char *out, size_t outlen);

struct sc_istio *sc_istio_new(void);
void sc_istio_free(struct sc_istio *t); /* accepts NULL */

/* Counts one HTTP request (istio_requests_total and the three histograms).
 * flags: "-" or e.g. "UF,URX".  Worker only. */
void sc_istio_request(struct sc_istio *t, const struct sc_istio_ends *e, int code,
                      const char *flags, int64_t duration_ms, uint64_t request_bytes,
                      uint64_t response_bytes);

/* Counts a TCP connection: opened (0 or 1), closed (0 or 1) and its bytes
 * (received: from the downstream; sent: to it).  Worker only. */
void sc_istio_tcp(struct sc_istio *t, const struct sc_istio_ends *e, const char *flags, int opened,
                  int closed, uint64_t received, uint64_t sent);

/* Series in use (the overflow ones included). */
size_t sc_istio_series(const struct sc_istio *t);

/* Zeroes every counter (from any thread: atomic stores; a count racing
 * with it may be lost, never torn). */
void sc_istio_reset(struct sc_istio *t);

/* Appends the istio_* families, each label set once, summed over the n
 * tables. */
void sc_istio_render_prometheus(struct sc_istio *const *all, size_t n, struct evbuffer *out);

#endif
