#ifndef SC_L7_INTERNAL_H
#define SC_L7_INTERNAL_H

/* Shared by the L7 session (l7.c) and its request bookkeeping (l7_req.c):
 * the per-request record behind the access log and the metrics, and
 * response-head forwarding. */

#include <stddef.h>
#include <stdint.h>

#include "accesslog.h"
#include "config.h"
#include "l7.h"

struct sc_http1_head;
struct sc_wctx;

struct sc_l7_req {
    struct sc_accesslog_rec rec; /* what the access log prints */
    int started;
    int head_method;
    int retried;
    long t_start_ms; /* monotonic */
    long t_upstream_start;
    char request_id[40]; /* generated when the client sent none */
};

/* Starts r's record; the connection's access-log fields come from p. */
void sc_l7_req_begin(struct sc_l7_req *r, const struct sc_l7_params *p, const char *peer_id);
void sc_l7_req_head(struct sc_l7_req *r, const struct sc_http1_head *h);
/* Writes the access-log line and counts the request in the metrics
 * (sidecar_requests_total and Istio's), with the labels the session's
 * parameters give (borrowed). */
void sc_l7_req_log(const struct sc_l7_params *p, struct sc_l7_req *r);

/* Formats a response head for the downstream (hop-by-hop fields handled,
 * Connection: close when close, x-envoy-upstream-service-time when
 * service_ms >= 0) into out[0..cap): sc_http1_head_format's contract
 * (0 when it fit; *need is the full length either way, 0 when it cannot be
 * written at all). */
int sc_l7_format_response_head(char *out, size_t cap, size_t *need, const struct sc_http1_head *h,
                               int close, long service_ms);

/* v in decimal into out (at least 21 bytes), NUL-terminated: a header's or
 * a log field's number on every request, without printf. */
void sc_l7_fmt_long(char *out, long v);

/* The process-wide access-log sink (NULL: off). */
extern struct sc_accesslog_sink *sc_l7_access_log;

#endif
