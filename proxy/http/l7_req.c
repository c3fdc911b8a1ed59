#include <string.h>
#include <time.h>

#include "http1.h"
#include "istio.h"
#include "l7_internal.h"
#include "stats.h"
#include "wctx.h"

struct sc_accesslog_sink *sc_l7_access_log;

static long mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void sc_l7_req_begin(struct sc_l7_req *r, const struct sc_l7_params *p, const char *peer_id)
{
    /* field by field: the record's 4 KiB string buffer is not cleared */
    sc_accesslog_rec_init(&r->rec);
    if (!sc_accesslog_sink_enabled(sc_l7_access_log)) {
        /* the metrics read the peer's identity; the rest is for log lines */
        sc_accesslog_rec_keep(&r->rec, 1u << SC_ACCESSLOG_PEER_ID);
    }
    r->started = 1;
    r->head_method = 0;
    r->retried = 0;
    r->t_start_ms = mono_ms();
    r->t_upstream_start = 0;
    r->request_id[0] = '\0';
    if (peer_id != NULL && peer_id[0] != '\0') {
        sc_accesslog_rec_sets(&r->rec, SC_ACCESSLOG_PEER_ID, peer_id);
    }
    sc_accesslog_rec_sets(&r->rec, SC_ACCESSLOG_UPSTREAM_CLUSTER, p->al_cluster);
    sc_accesslog_rec_sets(&r->rec, SC_ACCESSLOG_DOWNSTREAM_LOCAL_ADDRESS, p->al_down_local);
    sc_accesslog_rec_sets(&r->rec, SC_ACCESSLOG_DOWNSTREAM_REMOTE_ADDRESS, p->al_down_remote);
    sc_accesslog_rec_sets(&r->rec, SC_ACCESSLOG_ROUTE_NAME, p->al_route);
    if (p->al_hbone != NULL) {
        sc_accesslog_rec_sets(&r->rec, SC_ACCESSLOG_HBONE, p->al_hbone);
    }
}

static void copy_header(struct sc_l7_req *r, const struct sc_http1_head *h, const char *name,
                        enum sc_accesslog_field f)
{
    size_t len;
    const char *v = sc_http1_head_get(h, name, &len);

    if (v != NULL) {
        sc_accesslog_rec_set(&r->rec, f, v, len);
    }
}

void sc_l7_req_head(struct sc_l7_req *r, const struct sc_http1_head *h)
{
    r->head_method = h->head_method;
    if (!sc_accesslog_rec_wants(&r->rec, SC_ACCESSLOG_METHOD)) {
        return; /* no log line: no header to look up */
    }
    sc_accesslog_rec_sets(&r->rec, SC_ACCESSLOG_METHOD, h->method);
    sc_accesslog_rec_set(&r->rec, SC_ACCESSLOG_PATH, h->target, h->target_len);
    sc_accesslog_rec_sets(&r->rec, SC_ACCESSLOG_PROTOCOL,
                          h->version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
    copy_header(r, h, "host", SC_ACCESSLOG_AUTHORITY);
    copy_header(r, h, "user-agent", SC_ACCESSLOG_USER_AGENT);
    copy_header(r, h, "x-forwarded-for", SC_ACCESSLOG_FORWARDED_FOR);
    copy_header(r, h, "x-request-id", SC_ACCESSLOG_REQUEST_ID);
}

void sc_l7_req_log(const struct sc_l7_params *p, struct sc_l7_req *r)
{
    struct sc_stats *st = sc_wctx_stats(p->w);
    char flags[64], peer[SC_ACCESSLOG_FIELD_MAX + 1];
    size_t plen = 0;
    const char *pv = sc_accesslog_rec_get(&r->rec, SC_ACCESSLOG_PEER_ID, &plen);
    /* mesh mTLS on the hop this sidecar ends (inbound) or starts (outbound) */
    int mtls = p->dir == SC_DIR_INBOUND ? p->down_mtls : p->up.tls == SC_TLS_ISTIO_MUTUAL;
    struct sc_istio_ends e = {p->snap, p->dir, mtls, NULL, p->up.host, &p->up.addr, p->port};

    if (!r->started) {
        return;
    }
    r->started = 0;
    r->rec.duration_ms = mono_ms() - r->t_start_ms;
    if (r->request_id[0] != '\0') {
        sc_accesslog_rec_sets(&r->rec, SC_ACCESSLOG_REQUEST_ID, r->request_id);
    }
    if (pv != NULL && plen < sizeof(peer)) {
        memcpy(peer, pv, plen);
        peer[plen] = '\0';
        e.peer_id = peer;
    }
    sc_accesslog_flags_str(r->rec.flags, flags, sizeof(flags));
    sc_stats_request(st, p->dir, p->port, r->rec.response_code, mtls, flags, r->rec.duration_ms);
    sc_istio_request(sc_stats_istio(st), &e, r->rec.response_code, flags, r->rec.duration_ms,
                     r->rec.bytes_received, r->rec.bytes_sent);
    sc_accesslog_sink_log(sc_l7_access_log, (unsigned)sc_wctx_id(p->w), &r->rec);
}

void sc_l7_fmt_long(char *out, long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        *out++ = '-';
    }
    while (n > 0) {
        *out++ = tmp[--n];
    }
    *out = '\0';
}

int sc_l7_format_response_head(char *out, size_t cap, size_t *need, const struct sc_http1_head *h,
                               int close, long service_ms)
{
    struct sc_http1_field fields[1];
    struct sc_http1_rewrite rw = {fields, 0, close ? SC_HTTP1_CONN_CLOSE : SC_HTTP1_CONN_NONE};
    char st[24];

    if (service_ms >= 0) {
        sc_l7_fmt_long(st, service_ms);
        fields[rw.n_fields++] = (struct sc_http1_field){"x-envoy-upstream-service-time", st};
    }
    return sc_http1_head_format(h, &rw, out, cap, need);
}
