#include "stats.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <time.h>

#include "istio.h"
#include "rootstats.h"

#include "escape.h"
#include "table.h"

#define PORT_SLOTS 512 /* distinct (direction, port) pairs per worker */
#define PORT_RESERVED 2 /* kept free for the two directions' port-0 overflow */
#define KEY_SPACE (2u << 16) /* every (direction, port) key, minus one */

struct port_slot {
    atomic_uint key; /* 0 = empty, else (dir << 16 | port) + 1 */
    atomic_uint_fast64_t cls[SC_CLASS_N];
};

#define ROOT_SLOTS 16

struct root_slot {
    atomic_int used; /* set after serial/subject are written */
    int dir;
    char serial[80];
    char subject[160];
    atomic_uint_fast64_t count;
};

/* Inbound connections a STRICT port would have refused (plaintext and
 * app TLS), per port, over the last hour: 12 buckets of 5 minutes, each
 * tagged with its period so a stale one reads as empty, and the last such
 * client under a sequence lock (all atomics: readers on the main thread
 * never block the worker). */
#define NONMESH_SLOTS 64
#define NONMESH_BUCKETS 12
#define NONMESH_BUCKET_S 300

struct nonmesh_bucket {
    atomic_int_fast64_t period; /* unix time / NONMESH_BUCKET_S */
    atomic_uint_fast64_t n[2]; /* plaintext, app TLS */
};

struct nonmesh_slot {
    atomic_int port; /* 0 = empty */
    struct nonmesh_bucket b[NONMESH_BUCKETS];
    atomic_uint seq; /* odd while the last client is written */
    atomic_uint_fast64_t addr[3]; /* 16 address bytes, family << 16 | port */
    atomic_int_fast64_t last_at; /* unix time; 0 = none yet */
};

#define REQ_SLOTS 256
static const int64_t hist_le[] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};
#define HIST_N (sizeof(hist_le) / sizeof(hist_le[0]))

static const uint64_t hbone_spt_le[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
#define HBONE_SPT_N (sizeof(hbone_spt_le) / sizeof(hbone_spt_le[0]))

struct req_slot {
    atomic_int used;
    int dir, port, code, mtls;
    char flags[32];
    atomic_uint_fast64_t count;
};

struct sc_stats {
    struct sc_rootstats *roots_seen; /* per root: peers, last seen, windows */
    struct req_slot reqs[REQ_SLOTS];
    atomic_uint_fast64_t hist[2][HIST_N + 1]; /* last: +Inf */
    atomic_uint_fast64_t hist_sum[2];
    struct root_slot roots[ROOT_SLOTS];
    struct port_slot ports[PORT_SLOTS];
    struct nonmesh_slot nonmesh[NONMESH_SLOTS];
    unsigned used; /* claimed slots; only the owning worker touches it */
    atomic_uint_fast64_t hs[2][SC_HS_N];
    atomic_uint_fast64_t accept_err[SC_ACCEPT_N];
    atomic_uint_fast64_t hs_limited;
    atomic_uint_fast64_t cx_overflow;
    atomic_int_fast64_t active;
    atomic_uint_fast64_t hbone[2][SC_HBONE_EV_N];
    atomic_uint_fast64_t hbone_spt[2][HBONE_SPT_N + 1]; /* streams per tunnel; last: +Inf */
    atomic_uint_fast64_t hbone_spt_sum[2];
    atomic_int_fast64_t hbone_active[2]; /* a gauge: /reset_counters leaves it */
    atomic_uint_fast64_t rx[2], tx[2];
    struct sc_istio *istio; /* Istio's standard metrics */
};

static const char *const class_names[SC_CLASS_N] = {"mesh_mtls", "plaintext", "app_tls_passthrough",
                                                    "refused"};
static const char *const hs_names[SC_HS_N] = {
    "ok",           "no_client_cert", "unknown_ca",         "expired",
    "bad_identity", "protocol",       "root_expired_grace", "revoked"};
static const char *const accept_err_names[SC_ACCEPT_N] = {"emfile", "enfile", "other"};
static const char *const dir_names[2] = {"inbound", "outbound"};

const char *sc_conn_class_name(enum sc_conn_class c)
{
    return c < SC_CLASS_N ? class_names[c] : "-";
}

const char *sc_hs_outcome_name(enum sc_hs_outcome o)
{
    return o < SC_HS_N ? hs_names[o] : "-";
}

const char *sc_accept_error_name(enum sc_accept_error e)
{
    return e < SC_ACCEPT_N ? accept_err_names[e] : "-";
}

struct sc_stats *sc_stats_new(void)
{
    struct sc_stats *st = sc_table_alloc(sizeof(struct sc_stats));

    if (st == NULL) {
        return NULL;
    }
    st->roots_seen = sc_rootstats_new();
    st->istio = sc_istio_new();
    if (st->roots_seen == NULL || st->istio == NULL) {
        sc_rootstats_free(st->roots_seen);
        sc_istio_free(st->istio);
        sc_table_free(st, sizeof(*st));
        return NULL;
    }
    return st;
}

void sc_stats_free(struct sc_stats *st)
{
    if (st == NULL) {
        return;
    }
    sc_rootstats_free(st->roots_seen);
    sc_istio_free(st->istio);
    sc_table_free(st, sizeof(*st));
}

struct sc_rootstats *sc_stats_rootstats(struct sc_stats *st)
{
    return st->roots_seen;
}

struct sc_istio *sc_stats_istio(struct sc_stats *st)
{
    return st->istio;
}

static void zero(atomic_uint_fast64_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        atomic_store_explicit(&c[i], 0, memory_order_relaxed);
    }
}

void sc_stats_reset(struct sc_stats *const *all, size_t n)
{
    for (size_t w = 0; w < n; w++) {
        struct sc_stats *st = all[w];

        for (size_t i = 0; i < PORT_SLOTS; i++) {
            zero(st->ports[i].cls, SC_CLASS_N);
        }
        for (size_t i = 0; i < ROOT_SLOTS; i++) {
            zero(&st->roots[i].count, 1);
        }
        for (size_t i = 0; i < REQ_SLOTS; i++) {
            zero(&st->reqs[i].count, 1);
        }
        for (int d = 0; d < 2; d++) {
            zero(st->hist[d], HIST_N + 1);
            zero(st->hs[d], SC_HS_N);
        }
        zero(st->hist_sum, 2);
        zero(st->rx, 2);
        zero(st->tx, 2);
        zero(st->accept_err, SC_ACCEPT_N);
        zero(&st->hs_limited, 1);
        zero(&st->cx_overflow, 1);
        for (int d = 0; d < 2; d++) {
            zero(st->hbone[d], SC_HBONE_EV_N);
            zero(st->hbone_spt[d], HBONE_SPT_N + 1);
        }
        zero(st->hbone_spt_sum, 2);
        sc_istio_reset(st->istio);
    }
}

static unsigned slot_key(enum sc_direction dir, int port)
{
    return ((unsigned)dir << 16 | (unsigned)(port & 0xffff)) + 1;
}

/* Finds or claims the slot for key; only the owning worker claims slots.
 * The last PORT_RESERVED free slots are kept for port 0, into which the
 * caller folds every port that finds the table full. */
static struct port_slot *find_slot(struct sc_stats *st, unsigned key, int claim)
{
    unsigned h = (key * 2654435761u) % PORT_SLOTS;
    int port0 = ((key - 1) & 0xffff) == 0;

    for (unsigned i = 0; i < PORT_SLOTS; i++) {
        struct port_slot *s = &st->ports[(h + i) % PORT_SLOTS];
        unsigned k = atomic_load_explicit(&s->key, memory_order_acquire);

        if (k == key) {
            return s;
        }
        if (k == 0) {
            if (!claim || (!port0 && st->used >= PORT_SLOTS - PORT_RESERVED)) {
                return NULL;
            }
            st->used++;
            atomic_store_explicit(&s->key, key, memory_order_release);
            return s;
        }
    }
    return NULL;
}

void sc_stats_conn_class(struct sc_stats *st, enum sc_direction dir, int port,
                         enum sc_conn_class cls)
{
    struct port_slot *s = find_slot(st, slot_key(dir, port), 1);

    if (s == NULL) {
        s = find_slot(st, slot_key(dir, 0), 1);
    }
    if (s != NULL) {
        atomic_fetch_add_explicit(&s->cls[cls], 1, memory_order_relaxed);
    }
}

static struct nonmesh_slot *nonmesh_slot(struct sc_stats *st, int port, int claim)
{
    for (unsigned i = 0; i < NONMESH_SLOTS; i++) {
        struct nonmesh_slot *s = &st->nonmesh[((unsigned)port + i) % NONMESH_SLOTS];
        int p = atomic_load_explicit(&s->port, memory_order_acquire);

        if (p == port) {
            return s;
        }
        if (p == 0) {
            if (!claim) {
                return NULL;
            }
            atomic_store_explicit(&s->port, port, memory_order_release);
            return s;
        }
    }
    return NULL;
}

static void pack_addr(const struct sc_addr *a, uint64_t w[3])
{
    unsigned char bytes[16] = {0};
    int port = sc_addr_port(a);

    if (a->ss.ss_family == AF_INET) {
        memcpy(bytes, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    } else if (a->ss.ss_family == AF_INET6) {
        memcpy(bytes, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
    }
    memcpy(&w[0], bytes, 8);
    memcpy(&w[1], bytes + 8, 8);
    w[2] = (uint64_t)a->ss.ss_family << 16 | (uint64_t)(port & 0xffff);
}

static void unpack_addr(const uint64_t w[3], struct sc_addr *a)
{
    unsigned char bytes[16];
    int family = (int)(w[2] >> 16);

    memcpy(bytes, &w[0], 8);
    memcpy(bytes + 8, &w[1], 8);
    memset(a, 0, sizeof(*a));
    a->ss.ss_family = (sa_family_t)family;
    if (family == AF_INET) {
        memcpy(&((struct sockaddr_in *)&a->ss)->sin_addr, bytes, 4);
        a->len = sizeof(struct sockaddr_in);
    } else {
        memcpy(&((struct sockaddr_in6 *)&a->ss)->sin6_addr, bytes, 16);
        a->len = sizeof(struct sockaddr_in6);
    }
    sc_addr_set_port(a, (int)(w[2] & 0xffff));
}

void sc_stats_nonmesh(struct sc_stats *st, int port, enum sc_conn_class cls,
                      const struct sc_addr *peer, time_t now)
{
    struct nonmesh_slot *s;
    struct nonmesh_bucket *b;
    int64_t period = (int64_t)now / NONMESH_BUCKET_S;
    uint64_t w[3];
    unsigned seq;

    if (port <= 0 || (cls != SC_CLASS_PLAINTEXT && cls != SC_CLASS_APP_TLS)) {
        return;
    }
    s = nonmesh_slot(st, port, 1);
    if (s == NULL) {
        return;
    }
    b = &s->b[period % NONMESH_BUCKETS];
    if (atomic_load_explicit(&b->period, memory_order_relaxed) != period) {
        atomic_store_explicit(&b->n[0], 0, memory_order_relaxed);
        atomic_store_explicit(&b->n[1], 0, memory_order_relaxed);
        atomic_store_explicit(&b->period, period, memory_order_release);
    }
    atomic_fetch_add_explicit(&b->n[cls == SC_CLASS_APP_TLS], 1, memory_order_relaxed);
    pack_addr(peer, w);
    seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (int i = 0; i < 3; i++) {
        atomic_store_explicit(&s->addr[i], w[i], memory_order_relaxed);
    }
    atomic_store_explicit(&s->last_at, (int64_t)now, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

void sc_stats_sum_nonmesh(struct sc_stats *const *all, size_t n, int port, time_t now,
                          struct sc_stats_nonmesh_sum *out)
{
    int64_t period = (int64_t)now / NONMESH_BUCKET_S;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        struct nonmesh_slot *s = nonmesh_slot(all[i], port, 0);
        uint64_t w[3];
        int64_t at = 0;

        if (s == NULL) {
            continue;
        }
        for (int k = 0; k < NONMESH_BUCKETS; k++) {
            const struct nonmesh_bucket *b = &s->b[k];
            int64_t p = atomic_load_explicit(&b->period, memory_order_acquire);

            if (p > period - NONMESH_BUCKETS && p <= period) {
                out->plaintext += atomic_load_explicit(&b->n[0], memory_order_relaxed);
                out->app_tls += atomic_load_explicit(&b->n[1], memory_order_relaxed);
            }
        }
        for (int tries = 0; tries < 8; tries++) {
            unsigned s1 = atomic_load_explicit(&s->seq, memory_order_acquire);

            for (int k = 0; k < 3; k++) {
                w[k] = atomic_load_explicit(&s->addr[k], memory_order_relaxed);
            }
            at = atomic_load_explicit(&s->last_at, memory_order_relaxed);
            atomic_thread_fence(memory_order_acquire);
            if ((s1 & 1) == 0 && atomic_load_explicit(&s->seq, memory_order_relaxed) == s1) {
                break;
            }
            at = 0;
        }
        if (at > 0 && at > (int64_t)now - NONMESH_BUCKETS * NONMESH_BUCKET_S &&
            (!out->has_last || at >= (int64_t)out->last_at)) {
            out->has_last = 1;
            out->last_at = (time_t)at;
            unpack_addr(w, &out->last_peer);
        }
    }
}

void sc_stats_handshake(struct sc_stats *st, enum sc_direction dir, enum sc_hs_outcome o)
{
    atomic_fetch_add_explicit(&st->hs[dir][o], 1, memory_order_relaxed);
}

void sc_stats_accept_error(struct sc_stats *st, enum sc_accept_error e)
{
    atomic_fetch_add_explicit(&st->accept_err[e], 1, memory_order_relaxed);
}

void sc_stats_handshake_limited(struct sc_stats *st)
{
    atomic_fetch_add_explicit(&st->hs_limited, 1, memory_order_relaxed);
}

void sc_stats_hbone(struct sc_stats *st, enum sc_direction dir, enum sc_hbone_ev ev)
{
    atomic_fetch_add_explicit(&st->hbone[dir & 1][ev], 1, memory_order_relaxed);
    if (ev == SC_HBONE_TUNNEL_OPENED || ev == SC_HBONE_TUNNEL_CLOSED) {
        atomic_fetch_add_explicit(&st->hbone_active[dir & 1], ev == SC_HBONE_TUNNEL_OPENED ? 1 : -1,
                                  memory_order_relaxed);
    }
}

void sc_stats_hbone_tunnel_closed(struct sc_stats *st, enum sc_direction dir, uint64_t streams)
{
    size_t b = 0;

    while (b < HBONE_SPT_N && streams > hbone_spt_le[b]) {
        b++;
    }
    atomic_fetch_add_explicit(&st->hbone_spt[dir & 1][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->hbone_spt_sum[dir & 1], streams, memory_order_relaxed);
    sc_stats_hbone(st, dir, SC_HBONE_TUNNEL_CLOSED);
}

void sc_stats_overflow(struct sc_stats *st)
{
    atomic_fetch_add_explicit(&st->cx_overflow, 1, memory_order_relaxed);
}

void sc_stats_active(struct sc_stats *st, int delta)
{
    atomic_fetch_add_explicit(&st->active, delta, memory_order_relaxed);
}

void sc_stats_bytes(struct sc_stats *st, enum sc_direction dir, uint64_t rx, uint64_t tx)
{
    atomic_fetch_add_explicit(&st->rx[dir], rx, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->tx[dir], tx, memory_order_relaxed);
}

void sc_stats_peer_root(struct sc_stats *st, enum sc_direction dir, const char *serial,
                        const char *subject, const char *peer_id, int resumed)
{
    sc_rootstats_note(st->roots_seen, serial, peer_id, resumed, time(NULL));
    for (int i = 0; i < ROOT_SLOTS; i++) {
        struct root_slot *r = &st->roots[i];

        if (atomic_load_explicit(&r->used, memory_order_acquire)) {
            if (r->dir == (int)dir && strcmp(r->serial, serial) == 0) {
                atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
                return;
            }
            continue;
        }
        /* Only this worker claims its slots. */
        r->dir = (int)dir;
        snprintf(r->serial, sizeof(r->serial), "%s", i == ROOT_SLOTS - 1 ? "other" : serial);
        snprintf(r->subject, sizeof(r->subject), "%s", i == ROOT_SLOTS - 1 ? "" : subject);
        atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
        atomic_store_explicit(&r->used, 1, memory_order_release);
        return;
    }
    atomic_fetch_add_explicit(&st->roots[ROOT_SLOTS - 1].count, 1, memory_order_relaxed);
}

void sc_stats_request(struct sc_stats *st, enum sc_direction dir, int port, int code, int mtls,
                      const char *flags, int64_t duration_ms)
{
    unsigned h =
        ((unsigned)dir * 31u + (unsigned)port * 131u + (unsigned)code * 7u + (unsigned)mtls) %
        REQ_SLOTS;
    size_t b;

    for (unsigned i = 0; i < REQ_SLOTS; i++) {
        struct req_slot *r = &st->reqs[(h + i) % REQ_SLOTS];

        if (atomic_load_explicit(&r->used, memory_order_acquire)) {
            if (r->dir == (int)dir && r->port == port && r->code == code && r->mtls == mtls &&
                strcmp(r->flags, flags) == 0) {
                atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
                break;
            }
            continue;
        }
        r->dir = (int)dir;
        r->port = port;
        r->code = code;
        r->mtls = mtls;
        snprintf(r->flags, sizeof(r->flags), "%s", flags);
        atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
        atomic_store_explicit(&r->used, 1, memory_order_release);
        break;
    }
    for (b = 0; b < HIST_N && duration_ms > hist_le[b]; b++) {
    }
    atomic_fetch_add_explicit(&st->hist[dir][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->hist_sum[dir], (uint64_t)(duration_ms > 0 ? duration_ms : 0),
                              memory_order_relaxed);
}

static void render_requests(struct sc_stats *const *all, size_t n, struct evbuffer *out)
{
    evbuffer_add_printf(out, "# HELP sidecar_requests_total HTTP requests.\n"
                             "# TYPE sidecar_requests_total counter\n");
    /* Each worker's slots; a label set seen by several workers is printed
     * once, summed. */
    for (size_t w = 0; w < n; w++) {
        for (int i = 0; i < REQ_SLOTS; i++) {
            const struct req_slot *r = &all[w]->reqs[i];
            uint64_t sum = 0;
            int dup = 0;

            if (!atomic_load_explicit(&r->used, memory_order_acquire)) {
                continue;
            }
            for (size_t v = 0; v < n && !dup; v++) {
                for (int j = 0; j < REQ_SLOTS; j++) {
                    const struct req_slot *q = &all[v]->reqs[j];
                    if (!atomic_load_explicit(&q->used, memory_order_acquire) || q->dir != r->dir ||
                        q->port != r->port || q->code != r->code || q->mtls != r->mtls ||
                        strcmp(q->flags, r->flags) != 0) {
                        continue;
                    }
                    if (v < w || (v == w && j < i)) {
                        dup = 1;
                        break;
                    }
                    sum += atomic_load_explicit(&q->count, memory_order_relaxed);
                }
            }
            if (dup) {
                continue;
            }
            evbuffer_add_printf(out,
                                "sidecar_requests_total{direction=\"%s\",port=\"%d\","
                                "response_code=\"%d\",connection_security_policy=\"%s\","
                                "response_flags=\"%s\"} %llu\n",
                                dir_names[r->dir], r->port, r->code,
                                r->mtls ? "mutual_tls" : "none", r->flags, (unsigned long long)sum);
        }
    }
    evbuffer_add_printf(out, "# HELP sidecar_request_duration_milliseconds HTTP request "
                             "duration.\n# TYPE sidecar_request_duration_milliseconds histogram\n");
    for (int d = 0; d < 2; d++) {
        uint64_t cum = 0, total_sum = 0;

        for (size_t b = 0; b <= HIST_N; b++) {
            for (size_t w = 0; w < n; w++) {
                cum += atomic_load_explicit(&all[w]->hist[d][b], memory_order_relaxed);
            }
            if (b < HIST_N) {
                evbuffer_add_printf(out,
                                    "sidecar_request_duration_milliseconds_bucket{direction=\"%s\","
                                    "le=\"%lld\"} %llu\n",
                                    dir_names[d], (long long)hist_le[b], (unsigned long long)cum);
            } else {
                evbuffer_add_printf(out,
                                    "sidecar_request_duration_milliseconds_bucket{direction=\"%s\","
                                    "le=\"+Inf\"} %llu\n",
                                    dir_names[d], (unsigned long long)cum);
            }
        }
        for (size_t w = 0; w < n; w++) {
            total_sum += atomic_load_explicit(&all[w]->hist_sum[d], memory_order_relaxed);
        }
        evbuffer_add_printf(out,
                            "sidecar_request_duration_milliseconds_sum{direction=\"%s\"} %llu\n"
                            "sidecar_request_duration_milliseconds_count{direction=\"%s\"} %llu\n",
                            dir_names[d], (unsigned long long)total_sum, dir_names[d],
                            (unsigned long long)cum);
    }
}

static void render_roots(struct sc_stats *const *all, size_t n, struct evbuffer *out)
{
    evbuffer_add_printf(out, "# HELP sidecar_tls_peer_root_total Handshakes by the trusted root "
                             "the peer's chain led to (a resumption counts under the root of "
                             "its original full handshake).\n"
                             "# TYPE sidecar_tls_peer_root_total counter\n");
    for (size_t w = 0; w < n; w++) {
        for (int i = 0; i < ROOT_SLOTS; i++) {
            struct root_slot *r = &all[w]->roots[i];
            uint64_t sum = 0;
            int seen_before = 0;

            if (!atomic_load_explicit(&r->used, memory_order_acquire)) {
                continue;
            }
            /* Print each (dir, serial) once, summed over workers. */
            for (size_t pw = 0; pw < w && !seen_before; pw++) {
                for (int j = 0; j < ROOT_SLOTS; j++) {
                    struct root_slot *q = &all[pw]->roots[j];
                    if (atomic_load_explicit(&q->used, memory_order_acquire) && q->dir == r->dir &&
                        strcmp(q->serial, r->serial) == 0) {
                        seen_before = 1;
                        break;
                    }
                }
            }
            if (seen_before) {
                continue;
            }
            for (size_t v = w; v < n; v++) {
                for (int j = 0; j < ROOT_SLOTS; j++) {
                    struct root_slot *q = &all[v]->roots[j];
                    if (atomic_load_explicit(&q->used, memory_order_acquire) && q->dir == r->dir &&
                        strcmp(q->serial, r->serial) == 0) {
                        sum += atomic_load_explicit(&q->count, memory_order_relaxed);
                    }
                }
            }
            /* the subject comes from a certificate: a label escape */
            evbuffer_add_printf(out, "sidecar_tls_peer_root_total{direction=\"%s\",root_serial=\"",
                                dir_names[r->dir]);
            sc_escape_evbuffer(out, sc_escape_prom_label, r->serial, strlen(r->serial));
            evbuffer_add_printf(out, "\",root_subject=\"");
            sc_escape_evbuffer(out, sc_escape_prom_label, r->subject, strlen(r->subject));
            evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)sum);
        }
    }
}

uint64_t sc_stats_sum_class(struct sc_stats *const *all, size_t n, enum sc_direction dir, int port,
                            enum sc_conn_class cls)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < n; i++) {
        struct port_slot *s = find_slot(all[i], slot_key(dir, port), 0);
        if (s != NULL) {
            sum += atomic_load_explicit(&s->cls[cls], memory_order_relaxed);
        }
    }
    return sum;
}

/* Marks the (dir, port) keys present in any worker in seen (one bit per
 * key - 1, so walking the bits gives them sorted, with no cap on how many
 * distinct keys the workers hold together). */
static void collect_keys(struct sc_stats *const *all, size_t n, uint64_t *seen)
{
    memset(seen, 0, KEY_SPACE / 8);
    for (size_t w = 0; w < n; w++) {
        for (size_t i = 0; i < PORT_SLOTS; i++) {
            unsigned k = atomic_load_explicit(&all[w]->ports[i].key, memory_order_acquire);

            if (k == 0 || k > KEY_SPACE) {
                continue;
            }
            seen[(k - 1) / 64] |= 1ull << ((k - 1) % 64);
        }
    }
}

/* The next key marked in seen at or after *pos (a key - 1); 0 when none. */
static unsigned next_key(const uint64_t *seen, unsigned *pos)
{
    while (*pos < KEY_SPACE) {
        if (seen[*pos / 64] == 0) {
            *pos = (*pos / 64 + 1) * 64; /* skip an empty word */
            continue;
        }
        if (seen[*pos / 64] & (1ull << (*pos % 64))) {
            return ++*pos; /* key = bit + 1; resume after it */
        }
        (*pos)++;
    }
    return 0;
}

static uint64_t sum_hs(struct sc_stats *const *all, size_t n, int dir, int o)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += atomic_load_explicit(&all[i]->hs[dir][o], memory_order_relaxed);
    }
    return sum;
}

/* The sum over workers of one counter, at offset off in struct sc_stats. */
static uint64_t sum_at(struct sc_stats *const *all, size_t n, size_t off)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        const atomic_uint_fast64_t *p =
            (const atomic_uint_fast64_t *)(const void *)((const char *)all[i] + off);
        sum += atomic_load_explicit(p, memory_order_relaxed);
    }
    return sum;
}

static uint64_t sum_accept_err(struct sc_stats *const *all, size_t n, int e)
{
    return sum_at(all, n,
                  offsetof(struct sc_stats, accept_err) + (size_t)e * sizeof(atomic_uint_fast64_t));
}

static uint64_t sum_cx_overflow(struct sc_stats *const *all, size_t n)
{
    return sum_at(all, n, offsetof(struct sc_stats, cx_overflow));
}

static uint64_t sum_hs_limited(struct sc_stats *const *all, size_t n)
{
    return sum_at(all, n, offsetof(struct sc_stats, hs_limited));
}

/* sidecar_hbone_*: see docs/hbone.md. */
static void render_hbone(struct sc_stats *const *all, size_t n, struct evbuffer *out)
{
    static const char *const names[SC_HBONE_EV_N] = {
        "sidecar_hbone_tunnels_opened_total", "sidecar_hbone_tunnels_closed_total",
        "sidecar_hbone_streams_opened_total", "sidecar_hbone_streams_refused_total",
        "sidecar_hbone_streams_reset_total"};
    static const char *const help[SC_HBONE_EV_N] = {
        "HBONE tunnels (HTTP/2 mTLS connections) opened.", "HBONE tunnels closed.",
        "HBONE CONNECT streams established (200).",
        "HBONE CONNECT streams refused (4xx/5xx, or no tunnel).",
        "HBONE CONNECT streams ended by RST_STREAM after their 200."};

    for (int e = 0; e < SC_HBONE_EV_N; e++) {
        evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s counter\n", names[e], help[e], names[e]);
        for (int d = 0; d < 2; d++) {
            size_t off = offsetof(struct sc_stats, hbone) +
                         ((size_t)d * SC_HBONE_EV_N + (size_t)e) * sizeof(atomic_uint_fast64_t);

            evbuffer_add_printf(out, "%s{direction=\"%s\"} %llu\n", names[e], dir_names[d],
                                (unsigned long long)sum_at(all, n, off));
        }
    }
    evbuffer_add_printf(out, "# HELP sidecar_hbone_tunnels_active HBONE tunnels open.\n"
                             "# TYPE sidecar_hbone_tunnels_active gauge\n");
    for (int d = 0; d < 2; d++) {
        int64_t active = 0;

        for (size_t i = 0; i < n; i++) {
            active += atomic_load_explicit(&all[i]->hbone_active[d], memory_order_relaxed);
        }
        evbuffer_add_printf(out, "sidecar_hbone_tunnels_active{direction=\"%s\"} %lld\n",
                            dir_names[d], (long long)active);
    }
    evbuffer_add_printf(out,
                        "# HELP sidecar_hbone_streams_per_tunnel Streams each closed HBONE "
                        "tunnel carried.\n# TYPE sidecar_hbone_streams_per_tunnel histogram\n");
    for (int d = 0; d < 2; d++) {
        uint64_t cum = 0;

        for (size_t b = 0; b <= HBONE_SPT_N; b++) {
            size_t off = offsetof(struct sc_stats, hbone_spt) +
                         ((size_t)d * (HBONE_SPT_N + 1) + b) * sizeof(atomic_uint_fast64_t);

            cum += sum_at(all, n, off);
            if (b < HBONE_SPT_N) {
                evbuffer_add_printf(out,
                                    "sidecar_hbone_streams_per_tunnel_bucket{direction=\"%s\","
                                    "le=\"%llu\"} %llu\n",
                                    dir_names[d], (unsigned long long)hbone_spt_le[b],
                                    (unsigned long long)cum);
            } else {
                evbuffer_add_printf(
                    out,
                    "sidecar_hbone_streams_per_tunnel_bucket{direction=\"%s\","
                    "le=\"+Inf\"} %llu\n"
                    "sidecar_hbone_streams_per_tunnel_count{direction=\"%s\"} %llu\n",
                    dir_names[d], (unsigned long long)cum, dir_names[d], (unsigned long long)cum);
            }
        }
        evbuffer_add_printf(
            out, "sidecar_hbone_streams_per_tunnel_sum{direction=\"%s\"} %llu\n", dir_names[d],
            (unsigned long long)sum_at(all, n,
                                       offsetof(struct sc_stats, hbone_spt_sum) +
                                           (size_t)d * sizeof(atomic_uint_fast64_t)));
    }
}

static void render_istio(struct sc_stats *const *all, size_t n, struct evbuffer *out)
{
    struct sc_istio **t = calloc(n + 1, sizeof(*t));

    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        t[i] = all[i]->istio;
    }
    sc_istio_render_prometheus(t, n, out);
    free(t);
}

void sc_stats_render_prometheus(struct sc_stats *const *all, size_t n, struct evbuffer *out)
{
    uint64_t seen[KEY_SPACE / 64];
    unsigned pos = 0, key;
    int64_t active = 0;

    collect_keys(all, n, seen);
    evbuffer_add_printf(out, "# HELP sidecar_connections_total Accepted connections by port and "
                             "classification.\n# TYPE sidecar_connections_total counter\n");
    for (key = next_key(seen, &pos); key != 0; key = next_key(seen, &pos)) {
        int dir = (int)((key - 1) >> 16);
        int port = (int)((key - 1) & 0xffff);
        for (int c = 0; c < SC_CLASS_N; c++) {
            evbuffer_add_printf(out,
                                "sidecar_connections_total{direction=\"%s\",port=\"%d\","
                                "classification=\"%s\"} %llu\n",
                                dir_names[dir], port, class_names[c],
                                (unsigned long long)sc_stats_sum_class(
                                    all, n, (enum sc_direction)dir, port, (enum sc_conn_class)c));
        }
    }
    evbuffer_add_printf(out, "# HELP sidecar_tls_handshakes_total mTLS handshakes by outcome.\n"
                             "# TYPE sidecar_tls_handshakes_total counter\n");
    for (int d = 0; d < 2; d++) {
        for (int o = 0; o < SC_HS_N; o++) {
            evbuffer_add_printf(
                out, "sidecar_tls_handshakes_total{direction=\"%s\",outcome=\"%s\"} %llu\n",
                dir_names[d], hs_names[o], (unsigned long long)sum_hs(all, n, d, o));
        }
    }
    evbuffer_add_printf(out, "# HELP sidecar_accept_errors_total Failed accept() calls by "
                             "reason; each pauses the worker's accepts for a moment.\n"
                             "# TYPE sidecar_accept_errors_total counter\n");
    for (int e = 0; e < SC_ACCEPT_N; e++) {
        evbuffer_add_printf(out, "sidecar_accept_errors_total{reason=\"%s\"} %llu\n",
                            accept_err_names[e], (unsigned long long)sum_accept_err(all, n, e));
    }
    evbuffer_add_printf(out,
                        "# HELP sidecar_handshakes_limited_total Downstream connections "
                        "closed before their TLS handshake: the client address was over "
                        "limits.handshakes_per_second_per_source.\n"
                        "# TYPE sidecar_handshakes_limited_total counter\n"
                        "sidecar_handshakes_limited_total %llu\n",
                        (unsigned long long)sum_hs_limited(all, n));
    evbuffer_add_printf(out,
                        "# HELP sidecar_connections_overflow_total Downstream connections "
                        "closed at once: their listener had limits.max_connections open "
                        "on that worker.\n"
                        "# TYPE sidecar_connections_overflow_total counter\n"
                        "sidecar_connections_overflow_total %llu\n",
                        (unsigned long long)sum_cx_overflow(all, n));
    render_roots(all, n, out);
    render_requests(all, n, out);
    render_hbone(all, n, out);
    for (size_t i = 0; i < n; i++) {
        active += atomic_load_explicit(&all[i]->active, memory_order_relaxed);
    }
    evbuffer_add_printf(out,
                        "# TYPE sidecar_connections_active gauge\n"
                        "sidecar_connections_active %lld\n",
                        (long long)active);
    evbuffer_add_printf(out, "# TYPE sidecar_bytes_total counter\n");
    for (int d = 0; d < 2; d++) {
        uint64_t rx = 0, tx = 0;
        for (size_t i = 0; i < n; i++) {
            rx += atomic_load_explicit(&all[i]->rx[d], memory_order_relaxed);
            tx += atomic_load_explicit(&all[i]->tx[d], memory_order_relaxed);
        }
        evbuffer_add_printf(out,
                            "sidecar_bytes_total{direction=\"%s\",flow=\"received\"} %llu\n"
                            "sidecar_bytes_total{direction=\"%s\",flow=\"sent\"} %llu\n",
                            dir_names[d], (unsigned long long)rx, dir_names[d],
                            (unsigned long long)tx);
    }
    render_istio(all, n, out);
}

void sc_stats_render_text(struct sc_stats *const *all, size_t n, struct evbuffer *out)
{
    uint64_t seen[KEY_SPACE / 64];
    unsigned pos = 0, key;

    collect_keys(all, n, seen);
    for (key = next_key(seen, &pos); key != 0; key = next_key(seen, &pos)) {
        int dir = (int)((key - 1) >> 16);
        int port = (int)((key - 1) & 0xffff);
        for (int c = 0; c < SC_CLASS_N; c++) {
            evbuffer_add_printf(out, "%s.%d.%s: %llu\n", dir_names[dir], port, class_names[c],
                                (unsigned long long)sc_stats_sum_class(
                                    all, n, (enum sc_direction)dir, port, (enum sc_conn_class)c));
        }
    }
    for (int d = 0; d < 2; d++) {
        for (int o = 0; o < SC_HS_N; o++) {
            evbuffer_add_printf(out, "%s.handshake.%s: %llu\n", dir_names[d], hs_names[o],
                                (unsigned long long)sum_hs(all, n, d, o));
        }
    }
    for (int e = 0; e < SC_ACCEPT_N; e++) {
        evbuffer_add_printf(out, "accept_errors.%s: %llu\n", accept_err_names[e],
                            (unsigned long long)sum_accept_err(all, n, e));
    }
    evbuffer_add_printf(out, "handshakes_limited: %llu\n",
                        (unsigned long long)sum_hs_limited(all, n));
    evbuffer_add_printf(out, "connections_overflow: %llu\n",
                        (unsigned long long)sum_cx_overflow(all, n));
}
