#include "istio.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "policy.h"
#include "snapshot.h"
#include "spiffe.h"
#include "table.h"

#define SLOTS 2048 /* open addressing: the table stays under half full */
#define OVERFLOW_N 4 /* one overflow series per (reporter, protocol) */
#define UNKNOWN "unknown"

/* The labels of a series, in the order they are printed. */
enum label {
    L_REPORTER = 0,
    L_SRC_WORKLOAD,
    L_SRC_NAMESPACE,
    L_SRC_PRINCIPAL,
    L_DST_WORKLOAD,
    L_DST_NAMESPACE,
    L_DST_PRINCIPAL,
    L_DST_SERVICE,
    L_DST_PORT,
    L_PROTOCOL,
    L_SECURITY,
    L_SHARED_N, /* the ones sc_istio_labels writes */
    L_CODE = L_SHARED_N, /* HTTP only */
    L_FLAGS,
    L_N,
};

static const char *const label_names[L_N] = {
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_service",
    "destination_port",
    "request_protocol",
    "connection_security_policy",
    "response_code",
    "response_flags",
};

/* Istio's default buckets. */
static const double dur_le[] = {0.5,   1,      5,      10,      25,     50,    100,
                                250,   500,    1000,   2500,    5000,   10000, 30000,
                                60000, 300000, 600000, 1800000, 3600000};
static const double bytes_le[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
#define DUR_N (sizeof(dur_le) / sizeof(dur_le[0]))
#define BYTES_N (sizeof(bytes_le) / sizeof(bytes_le[0]))

enum hist { H_DURATION = 0, H_REQUEST_BYTES, H_RESPONSE_BYTES, H_N };
enum counter { C_REQUESTS = 0, C_OPENED, C_CLOSED, C_SENT, C_RECEIVED, C_N };

static const struct {
    const double *le;
    size_t n;
} hist_bounds[H_N] = {{dur_le, DUR_N}, {bytes_le, BYTES_N}, {bytes_le, BYTES_N}};

struct series {
    int http;
    size_t len; /* of labels */
    atomic_uint_fast64_t c[C_N];
    atomic_uint_fast64_t h[H_N][DUR_N + 1]; /* last used bucket: +Inf */
    atomic_uint_fast64_t hsum[H_N];
    char labels[]; /* the whole label set */
};

/* The shared labels last written, and what they were written from: a
 * connection's requests and a pool's connections repeat them, so most
 * counts skip parsing the peer's ID and writing the labels again. */
struct label_cache {
    int valid;
    uint64_t gen; /* the snapshot's generation */
    int dir, mtls, port, http, has_dst;
    const char *host; /* in that snapshot's config */
    struct sc_addr dst;
    char peer[SC_ISTIO_VALUE_MAX + 1]; /* "" for none */
    size_t len;
    char labels[SC_ISTIO_LABELS_MAX];
};

struct sc_istio {
    _Atomic(struct series *) slot[SLOTS];
    size_t used; /* the worker's own count */
    atomic_size_t n; /* the same, for other threads */
    struct label_cache cache; /* the worker's own */
};

struct sc_istio *sc_istio_new(void)
{
    return sc_table_alloc(sizeof(struct sc_istio));
}

void sc_istio_free(struct sc_istio *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < SLOTS; i++) {
        free(atomic_load_explicit(&t->slot[i], memory_order_relaxed));
    }
    sc_table_free(t, sizeof(*t));
}

size_t sc_istio_series(const struct sc_istio *t)
{
    return atomic_load_explicit(&((struct sc_istio *)(uintptr_t)t)->n, memory_order_relaxed);
}

/* ---- labels ------------------------------------------------------------- */

/* name="value" (escaped as Prometheus wants, cut at SC_ISTIO_VALUE_MAX),
 * after a comma unless first.  Returns the new length. */
static size_t put_label(char *out, size_t len, size_t cap, const char *name, const char *v)
{
    size_t nlen = strlen(name), used = 0;

    if (len + nlen + 4 >= cap) { /* ,name=" and the closing quote */
        return len;
    }
    if (len > 0) {
        out[len++] = ',';
    }
    memcpy(out + len, name, nlen);
    len += nlen;
    out[len++] = '=';
    out[len++] = '"';
    for (; *v != '\0' && used < SC_ISTIO_VALUE_MAX && len + 3 < cap; v++, used++) {
        if (*v == '"' || *v == '\\' || *v == '\n') {
            out[len++] = '\\';
        }
        out[len++] = *v == '\n' ? 'n' : *v;
    }
    out[len++] = '"';
    out[len] = '\0';
    return len;
}

/* v[0..n) under their names; a TCP series has no response_code, its
 * response_flags take that place. */
static size_t put_labels(const char *const v[], size_t n, int http, char *out, size_t cap)
{
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        len = put_label(out, len, cap, !http && i == L_CODE ? "response_flags" : label_names[i],
                        v[i]);
    }
    return len;
}

/* Namespace and workload (the service account, as Istio names a peer it
 * has no metadata for) from a spiffe://TD/ns/NS/sa/SA ID. */
static void peer_parts(const char *id, char *ns, char *sa, size_t cap)
{
    struct sc_spiffe_id sid;

    if (id == NULL || sc_spiffe_parse(id, strlen(id), &sid) != 0 ||
        sc_spiffe_istio_parts(&sid, ns, cap, sa, cap) != 0) {
        snprintf(ns, cap, UNKNOWN);
        snprintf(sa, cap, UNKNOWN);
    }
}

/* destination_service: the route's or listener's host, expanded as
 * DestinationRule hosts are (reviews -> reviews.NS.svc.cluster.local), else
 * the address it connects to (outbound); our own service name (inbound). */
static void service(const struct sc_istio_ends *e, const struct sc_config *cfg, char *out,
                    size_t cap)
{
    char a[SC_ADDR_STRLEN];
    char *colon;

    if (e->dir == SC_DIR_INBOUND) {
        snprintf(out, cap, "%s.%s.svc.cluster.local", cfg->node.id, cfg->node.namespace_);
    } else if (e->host != NULL && e->host[0] != '\0') {
        sc_policy_expand_host(e->host, cfg->node.namespace_, out, cap); /* as Istio's FQDN */
    } else if (e->dst != NULL) {
        sc_addr_str(e->dst, a, sizeof(a));
        colon = strrchr(a, ':');
        if (colon != NULL) {
            *colon = '\0';
        }
        if (a[0] == '[') {
            a[strlen(a) - 1] = '\0';
            snprintf(out, cap, "%s", a + 1);
        } else {
            snprintf(out, cap, "%s", a);
        }
    } else {
        snprintf(out, cap, UNKNOWN);
    }
}

/* Fills v[0..L_SHARED_N) (pointing into bufs) for e. */
static void shared_values(const struct sc_istio_ends *e, int http, const char *v[],
                          char bufs[4][SC_ISTIO_VALUE_MAX + 1])
{
    const struct sc_config *cfg = sc_snapshot_config(e->snap);
    const char *own = sc_snapshot_own_id(e->snap);
    int in = e->dir == SC_DIR_INBOUND;
    const char *own_p = e->mtls && own != NULL ? own : UNKNOWN;
    const char *peer_p =
        e->mtls && e->peer_id != NULL && e->peer_id[0] != '\0' ? e->peer_id : UNKNOWN;
    char *peer_ns = bufs[0], *peer_sa = bufs[1];

    peer_parts(peer_p == e->peer_id ? e->peer_id : NULL, peer_ns, peer_sa, SC_ISTIO_VALUE_MAX + 1);
    service(e, cfg, bufs[2], SC_ISTIO_VALUE_MAX + 1);
    snprintf(bufs[3], SC_ISTIO_VALUE_MAX + 1, "%d", e->port);
    v[L_REPORTER] = in ? "destination" : "source";
    v[L_SRC_WORKLOAD] = in ? peer_sa : cfg->node.id;
    v[L_SRC_NAMESPACE] = in ? peer_ns : cfg->node.namespace_;
    v[L_SRC_PRINCIPAL] = in ? peer_p : own_p;
    v[L_DST_WORKLOAD] = in ? cfg->node.id : peer_sa;
    v[L_DST_NAMESPACE] = in ? cfg->node.namespace_ : peer_ns;
    v[L_DST_PRINCIPAL] = in ? own_p : peer_p;
    v[L_DST_SERVICE] = bufs[2];
    v[L_DST_PORT] = bufs[3];
    v[L_PROTOCOL] = http ? "http" : "tcp";
    v[L_SECURITY] = e->mtls ? "mutual_tls" : "none";
}

size_t sc_istio_labels(const struct sc_istio_ends *e, int http, char *out, size_t outlen)
{
    const char *v[L_N];
    char bufs[4][SC_ISTIO_VALUE_MAX + 1];

    shared_values(e, http, v, bufs);
    return put_labels(v, L_SHARED_N, http, out, outlen);
}

/* ---- the table ---------------------------------------------------------- */

/* A word at a time: label sets are some 500 bytes. */
static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        uint64_t w;

        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    for (; i < len; i++) {
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    }
    return h ^ (h >> 32);
}

/* The series for this label set (len bytes); a new one while the table
 * has room (limit: how many series may exist after claiming it), else
 * NULL. */
static struct series *find(struct sc_istio *t, const char *labels, size_t len, int http,
                           size_t limit)
{
    uint64_t h = hash(labels, len);

    for (size_t i = 0; i < SLOTS; i++) {
        _Atomic(struct series *) *slot = &t->slot[(h + i) % SLOTS];
        struct series *s = atomic_load_explicit(slot, memory_order_acquire);

        if (s != NULL) {
            if (s->len == len && memcmp(s->labels, labels, len) == 0) {
                return s;
            }
            continue;
        }
        if (t->used >= limit) {
            return NULL;
        }
        s = calloc(1, sizeof(*s) + len + 1);
        if (s == NULL) {
            return NULL;
        }
        s->http = http;
        s->len = len;
        memcpy(s->labels, labels, len);
        s->labels[len] = '\0';
        t->used++;
        atomic_store_explicit(&t->n, t->used, memory_order_relaxed);
        atomic_store_explicit(slot, s, memory_order_release); /* labels first */
        return s;
    }
    return NULL;
}

static int cache_hit(const struct label_cache *k, const struct sc_istio_ends *e, uint64_t gen,
                     int http)
{
    const char *peer = e->peer_id != NULL ? e->peer_id : "";

    return k->valid && k->gen == gen && k->dir == (int)e->dir && k->mtls == e->mtls &&
           k->port == e->port && k->http == http && k->host == e->host &&
           k->has_dst == (e->dst != NULL) && (e->dst == NULL || sc_addr_equal(&k->dst, e->dst)) &&
           strcmp(k->peer, peer) == 0;
}

/* sc_istio_labels through the worker's cache. */
static size_t shared_labels(struct sc_istio *t, const struct sc_istio_ends *e, int http, char *out,
                            size_t cap)
{
    struct label_cache *k = &t->cache;
    uint64_t gen = sc_snapshot_generation(e->snap);
    const char *peer = e->peer_id != NULL ? e->peer_id : "";
    size_t len;

    if (cache_hit(k, e, gen, http) && k->len < cap) {
        memcpy(out, k->labels, k->len + 1);
        return k->len;
    }
    len = sc_istio_labels(e, http, out, cap);
    k->valid = strlen(peer) < sizeof(k->peer) && len < sizeof(k->labels);
    if (k->valid) {
        k->gen = gen;
        k->dir = (int)e->dir;
        k->mtls = e->mtls;
        k->port = e->port;
        k->http = http;
        k->host = e->host;
        k->has_dst = e->dst != NULL;
        if (e->dst != NULL) {
            k->dst = *e->dst;
        }
        memcpy(k->peer, peer, strlen(peer) + 1);
        memcpy(k->labels, out, len + 1);
        k->len = len;
    }
    return len;
}

/* The series for e's labels, or its (reporter, protocol) overflow series
 * once the table is full. */
static struct series *lookup(struct sc_istio *t, const struct sc_istio_ends *e, int http, int code,
                             const char *flags)
{
    const char *v[L_N];
    char bufs[4][SC_ISTIO_VALUE_MAX + 1], cs[16], labels[SC_ISTIO_LABELS_MAX];
    size_t n = http ? L_N : L_CODE + 1;
    size_t len = shared_labels(t, e, http, labels, sizeof(labels));
    struct series *s;

    snprintf(cs, sizeof(cs), "%d", code);
    if (http) {
        len = put_label(labels, len, sizeof(labels), label_names[L_CODE], cs);
    }
    len = put_label(labels, len, sizeof(labels), label_names[L_FLAGS], flags);
    s = find(t, labels, len, http, SC_ISTIO_MAX_SERIES);
    if (s != NULL) {
        return s;
    }
    shared_values(e, http, v, bufs);
    for (size_t i = L_SRC_WORKLOAD; i < n; i++) {
        v[i] = i == L_PROTOCOL ? v[i] : "overflow";
    }
    len = put_labels(v, n, http, labels, sizeof(labels));
    return find(t, labels, len, http, SC_ISTIO_MAX_SERIES + OVERFLOW_N);
}

static void add(atomic_uint_fast64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static void observe(struct series *s, enum hist h, uint64_t v)
{
    size_t b;

    for (b = 0; b < hist_bounds[h].n && (double)v > hist_bounds[h].le[b]; b++) {
    }
    add(&s->h[h][b], 1);
    add(&s->hsum[h], v);
}

void sc_istio_request(struct sc_istio *t, const struct sc_istio_ends *e, int code,
                      const char *flags, int64_t duration_ms, uint64_t request_bytes,
                      uint64_t response_bytes)
{
    struct series *s = lookup(t, e, 1, code, flags);

    if (s == NULL) {
        return; /* out of memory */
    }
    add(&s->c[C_REQUESTS], 1);
    observe(s, H_DURATION, duration_ms > 0 ? (uint64_t)duration_ms : 0);
    observe(s, H_REQUEST_BYTES, request_bytes);
    observe(s, H_RESPONSE_BYTES, response_bytes);
}

void sc_istio_tcp(struct sc_istio *t, const struct sc_istio_ends *e, const char *flags, int opened,
                  int closed, uint64_t received, uint64_t sent)
{
    struct series *s = lookup(t, e, 0, 0, flags);

    if (s == NULL) {
        return;
    }
    add(&s->c[C_OPENED], (uint64_t)opened);
    add(&s->c[C_CLOSED], (uint64_t)closed);
    add(&s->c[C_RECEIVED], received);
    add(&s->c[C_SENT], sent);
}

void sc_istio_reset(struct sc_istio *t)
{
    for (size_t i = 0; i < SLOTS; i++) {
        struct series *s = atomic_load_explicit(&t->slot[i], memory_order_acquire);

        if (s == NULL) {
            continue;
        }
        for (size_t c = 0; c < C_N; c++) {
            atomic_store_explicit(&s->c[c], 0, memory_order_relaxed);
        }
        for (size_t h = 0; h < H_N; h++) {
            for (size_t b = 0; b <= DUR_N; b++) {
                atomic_store_explicit(&s->h[h][b], 0, memory_order_relaxed);
            }
            atomic_store_explicit(&s->hsum[h], 0, memory_order_relaxed);
        }
    }
}

/* ---- scrape ------------------------------------------------------------- */

static int by_labels(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a;
    const struct series *y = *(const struct series *const *)b;

    return strcmp(x->labels, y->labels);
}

static uint64_t load(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* One label set: all[0..n), the same labels in several workers' tables. */
struct group {
    struct series **s;
    size_t n;
};

static uint64_t sum_counter(const struct group *g, enum counter c)
{
    uint64_t v = 0;

    for (size_t i = 0; i < g->n; i++) {
        v += load(&g->s[i]->c[c]);
    }
    return v;
}

static void render_counter(const struct group *gs, size_t ng, int http, const char *name,
                           const char *help, enum counter c, struct evbuffer *out)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t i = 0; i < ng; i++) {
        if (gs[i].s[0]->http == http) {
            evbuffer_add_printf(out, "%s{%s} %llu\n", name, gs[i].s[0]->labels,
                                (unsigned long long)sum_counter(&gs[i], c));
        }
    }
}

static void render_hist(const struct group *gs, size_t ng, const char *name, const char *help,
                        enum hist h, struct evbuffer *out)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < ng; i++) {
        const struct group *g = &gs[i];
        const char *l = g->s[0]->labels;
        uint64_t cum = 0, sum = 0;

        if (!g->s[0]->http) {
            continue;
        }
        for (size_t b = 0; b <= hist_bounds[h].n; b++) {
            for (size_t w = 0; w < g->n; w++) {
                cum += load(&g->s[w]->h[h][b]);
            }
            if (b < hist_bounds[h].n) {
                evbuffer_add_printf(out, "%s_bucket{%s,le=\"%.10g\"} %llu\n", name, l,
                                    hist_bounds[h].le[b], (unsigned long long)cum);
            } else {
                evbuffer_add_printf(out, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, l,
                                    (unsigned long long)cum);
            }
        }
        for (size_t w = 0; w < g->n; w++) {
            sum += load(&g->s[w]->hsum[h]);
        }
        evbuffer_add_printf(out, "%s_sum{%s} %llu\n%s_count{%s} %llu\n", name, l,
                            (unsigned long long)sum, name, l, (unsigned long long)cum);
    }
}

void sc_istio_render_prometheus(struct sc_istio *const *all, size_t n, struct evbuffer *out)
{
    struct series **s = NULL;
    struct group *gs = NULL;
    size_t ns = 0, ng = 0;

    s = calloc(n * (SC_ISTIO_MAX_SERIES + OVERFLOW_N) + 1, sizeof(*s));
    gs = calloc(n * (SC_ISTIO_MAX_SERIES + OVERFLOW_N) + 1, sizeof(*gs));
    if (s == NULL || gs == NULL) {
        goto done;
    }
    for (size_t w = 0; w < n; w++) {
        for (size_t i = 0; i < SLOTS; i++) {
            struct series *x = atomic_load_explicit(&all[w]->slot[i], memory_order_acquire);
            if (x != NULL && ns < n * (SC_ISTIO_MAX_SERIES + OVERFLOW_N)) {
                s[ns++] = x;
            }
        }
    }
    qsort(s, ns, sizeof(*s), by_labels);
    for (size_t i = 0; i < ns; i++) {
        if (ng > 0 && strcmp(gs[ng - 1].s[0]->labels, s[i]->labels) == 0) {
            gs[ng - 1].n++;
        } else {
            gs[ng++] = (struct group){&s[i], 1};
        }
    }
    render_counter(gs, ng, 1, "istio_requests_total", "HTTP requests (Istio's standard metric).",
                   C_REQUESTS, out);
    render_hist(gs, ng, "istio_request_duration_milliseconds",
                "HTTP request duration, first byte to last byte sent.", H_DURATION, out);
    render_hist(gs, ng, "istio_request_bytes", "HTTP request body sizes.", H_REQUEST_BYTES, out);
    render_hist(gs, ng, "istio_response_bytes", "HTTP response body sizes.", H_RESPONSE_BYTES, out);
    render_counter(gs, ng, 0, "istio_tcp_connections_opened_total", "TCP connections opened.",
                   C_OPENED, out);
    render_counter(gs, ng, 0, "istio_tcp_connections_closed_total", "TCP connections closed.",
                   C_CLOSED, out);
    render_counter(gs, ng, 0, "istio_tcp_sent_bytes_total",
                   "Bytes sent to the downstream on TCP connections.", C_SENT, out);
    render_counter(gs, ng, 0, "istio_tcp_received_bytes_total",
                   "Bytes received from the downstream on TCP connections.", C_RECEIVED, out);

done:
    free(gs);
    free(s);
}
