#include "stats.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define PORT_SLOTS 512  /* distinct (direction, port) pairs per worker */
#define PORT_RESERVED 2 /* kept free for the two directions' port-0 overflow */
#define KEY_SPACE (2u << 16) /* every (direction, port) key, minus one */

struct port_slot {
    atomic_uint key;    /* 0 = empty, else (dir << 16 | port) + 1 */
    atomic_uint_fast64_t cls[SC_CLASS_N];
};

#define ROOT_SLOTS 16

struct root_slot {
    atomic_int used;            /* set after serial/subject are written */
    int dir;
    char serial[80];
    char subject[160];
    atomic_uint_fast64_t count;
};

#define REQ_SLOTS 256
static const int64_t hist_le[] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};
#define HIST_N (sizeof(hist_le) / sizeof(hist_le[0]))

struct req_slot {
    atomic_int used;
    int dir, port, code, mtls;
    char flags[32];
    atomic_uint_fast64_t count;
};

struct sc_stats {
    struct req_slot reqs[REQ_SLOTS];
    atomic_uint_fast64_t hist[2][HIST_N + 1];   /* last: +Inf */
    atomic_uint_fast64_t hist_sum[2];
    struct root_slot roots[ROOT_SLOTS];
    struct port_slot ports[PORT_SLOTS];
    unsigned used;      /* claimed slots; only the owning worker touches it */
    atomic_uint_fast64_t hs[2][SC_HS_N];
    atomic_int_fast64_t active;
    atomic_uint_fast64_t rx[2], tx[2];
};

static const char *const class_names[SC_CLASS_N] = {
    "mesh_mtls", "plaintext", "app_tls_passthrough", "refused"};
static const char *const hs_names[SC_HS_N] = {
    "ok", "no_client_cert", "unknown_ca", "expired", "bad_identity", "protocol", "revoked"};
static const char *const dir_names[2] = {"inbound", "outbound"};

const char *sc_conn_class_name(enum sc_conn_class c)
{
    return c < SC_CLASS_N ? class_names[c] : "-";
}

const char *sc_hs_outcome_name(enum sc_hs_outcome o)
{
    return o < SC_HS_N ? hs_names[o] : "-";
}

struct sc_stats *sc_stats_new(void)
{
    return calloc(1, sizeof(struct sc_stats));
}

void sc_stats_free(struct sc_stats *st)
{
    free(st);
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

void sc_stats_handshake(struct sc_stats *st, enum sc_direction dir, enum sc_hs_outcome o)
{
    atomic_fetch_add_explicit(&st->hs[dir][o], 1, memory_order_relaxed);
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
                        const char *subject)
{
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
    unsigned h = ((unsigned)dir * 31u + (unsigned)port * 131u + (unsigned)code * 7u +
                  (unsigned)mtls) % REQ_SLOTS;
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
                    if (!atomic_load_explicit(&q->used, memory_order_acquire) ||
                        q->dir != r->dir || q->port != r->port || q->code != r->code ||
                        q->mtls != r->mtls || strcmp(q->flags, r->flags) != 0) {
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
                                r->mtls ? "mutual_tls" : "none", r->flags,
                                (unsigned long long)sum);
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
    evbuffer_add_printf(out, "# HELP sidecar_tls_peer_root_total Full handshakes by the trusted "
                             "root the peer's chain led to.\n"
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
                    if (atomic_load_explicit(&q->used, memory_order_acquire) &&
                        q->dir == r->dir && strcmp(q->serial, r->serial) == 0) {
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
                    if (atomic_load_explicit(&q->used, memory_order_acquire) &&
                        q->dir == r->dir && strcmp(q->serial, r->serial) == 0) {
                        sum += atomic_load_explicit(&q->count, memory_order_relaxed);
                    }
                }
            }
            evbuffer_add_printf(out,
                                "sidecar_tls_peer_root_total{direction=\"%s\",root_serial=\"%s\","
                                "root_subject=\"%s\"} %llu\n",
                                dir_names[r->dir], r->serial, r->subject,
                                (unsigned long long)sum);
        }
    }
}

uint64_t sc_stats_sum_class(struct sc_stats *const *all, size_t n, enum sc_direction dir,
                            int port, enum sc_conn_class cls)
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
            *pos = (*pos / 64 + 1) * 64;        /* skip an empty word */
            continue;
        }
        if (seen[*pos / 64] & (1ull << (*pos % 64))) {
            return ++*pos;      /* key = bit + 1; resume after it */
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
            evbuffer_add_printf(out,
                                "sidecar_tls_handshakes_total{direction=\"%s\",outcome=\"%s\"} %llu\n",
                                dir_names[d], hs_names[o],
                                (unsigned long long)sum_hs(all, n, d, o));
        }
    }
    render_roots(all, n, out);
    render_requests(all, n, out);
    for (size_t i = 0; i < n; i++) {
        active += atomic_load_explicit(&all[i]->active, memory_order_relaxed);
    }
    evbuffer_add_printf(out, "# TYPE sidecar_connections_active gauge\n"
                             "sidecar_connections_active %lld\n", (long long)active);
    evbuffer_add_printf(out, "# TYPE sidecar_bytes_total counter\n");
    for (int d = 0; d < 2; d++) {
        uint64_t rx = 0, tx = 0;
        for (size_t i = 0; i < n; i++) {
            rx += atomic_load_explicit(&all[i]->rx[d], memory_order_relaxed);
            tx += atomic_load_explicit(&all[i]->tx[d], memory_order_relaxed);
        }
        evbuffer_add_printf(out, "sidecar_bytes_total{direction=\"%s\",flow=\"received\"} %llu\n"
                                 "sidecar_bytes_total{direction=\"%s\",flow=\"sent\"} %llu\n",
                            dir_names[d], (unsigned long long)rx, dir_names[d],
                            (unsigned long long)tx);
    }
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
}
