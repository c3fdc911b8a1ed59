#include "rootstats.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "table.h"

#define MINUTES 120 /* per-minute buckets: 2 h */
#define HOURS \
    (SC_ROOTSTATS_MAX_WINDOW / 3600 + 1) /* per-hour buckets: 7 days and the current hour */

/* Counts of one minute or hour; stamp says which (0 = never used).  The
 * worker resets a bucket when it moves on to a new period; a reader that
 * races with that reset sees one period's counts a little short. */
struct bucket {
    atomic_llong stamp;
    atomic_uint_fast64_t n[2]; /* [0] full, [1] resumed */
};

struct peer {
    _Atomic(char *) id; /* NULL = free; written once */
    atomic_llong last_seen;
};

struct root {
    atomic_int used; /* set after serial is written */
    char serial[80];
    atomic_llong last_seen;
    atomic_int peers_dropped;
    struct bucket minutes[MINUTES];
    struct bucket hours[HOURS];
    struct peer peers[SC_ROOTSTATS_PEERS];
};

struct sc_rootstats {
    struct root roots[SC_ROOTSTATS_ROOTS];
};

struct sc_rootstats *sc_rootstats_new(void)
{
    return sc_table_alloc(sizeof(struct sc_rootstats));
}

void sc_rootstats_free(struct sc_rootstats *rs)
{
    if (rs == NULL) {
        return;
    }
    for (int i = 0; i < SC_ROOTSTATS_ROOTS; i++) {
        for (int j = 0; j < SC_ROOTSTATS_PEERS; j++) {
            free(atomic_load_explicit(&rs->roots[i].peers[j].id, memory_order_relaxed));
        }
    }
    sc_table_free(rs, sizeof(*rs));
}

static struct root *find_root(struct sc_rootstats *rs, const char *serial, int claim)
{
    for (int i = 0; i < SC_ROOTSTATS_ROOTS; i++) {
        struct root *r = &rs->roots[i];

        if (atomic_load_explicit(&r->used, memory_order_acquire)) {
            if (strcasecmp(r->serial, serial) == 0) {
                return r;
            }
            continue;
        }
        if (!claim) {
            return NULL;
        }
        /* Only this worker claims its slots. */
        snprintf(r->serial, sizeof(r->serial), "%s", serial);
        atomic_store_explicit(&r->used, 1, memory_order_release);
        return r;
    }
    return NULL;
}

static void bump(struct bucket *b, long long stamp, int resumed)
{
    if (atomic_load_explicit(&b->stamp, memory_order_relaxed) != stamp) {
        atomic_store_explicit(&b->n[0], 0, memory_order_relaxed);
        atomic_store_explicit(&b->n[1], 0, memory_order_relaxed);
        atomic_store_explicit(&b->stamp, stamp, memory_order_release);
    }
    atomic_fetch_add_explicit(&b->n[resumed ? 1 : 0], 1, memory_order_relaxed);
}

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;

    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

static void note_peer(struct root *r, const char *id, time_t now)
{
    unsigned h = hash(id);

    for (unsigned i = 0; i < SC_ROOTSTATS_PEERS; i++) {
        struct peer *p = &r->peers[(h + i) % SC_ROOTSTATS_PEERS];
        char *have = atomic_load_explicit(&p->id, memory_order_acquire);

        if (have == NULL) {
            char *copy = strdup(id);
            if (copy == NULL) {
                break;
            }
            atomic_store_explicit(&p->last_seen, (long long)now, memory_order_relaxed);
            atomic_store_explicit(&p->id, copy, memory_order_release);
            return;
        }
        if (strcmp(have, id) == 0) {
            atomic_store_explicit(&p->last_seen, (long long)now, memory_order_relaxed);
            return;
        }
    }
    atomic_store_explicit(&r->peers_dropped, 1, memory_order_relaxed);
}

void sc_rootstats_note(struct sc_rootstats *rs, const char *serial, const char *peer_id,
                       int resumed, time_t now)
{
    struct root *r;

    if (rs == NULL || serial == NULL || serial[0] == '\0') {
        return;
    }
    r = find_root(rs, serial, 1);
    if (r == NULL) {
        return;
    }
    atomic_store_explicit(&r->last_seen, (long long)now, memory_order_relaxed);
    bump(&r->minutes[(now / 60) % MINUTES], (long long)(now / 60), resumed);
    bump(&r->hours[(now / 3600) % HOURS], (long long)(now / 3600), resumed);
    if (peer_id != NULL && peer_id[0] != '\0') {
        note_peer(r, peer_id, now);
    }
}

/* Adds the buckets whose period overlaps (now - window, now]. */
static void sum_buckets(const struct bucket *b, size_t nb, long period, time_t now, long window,
                        struct sc_rootstats_view *out)
{
    long long lo = (long long)((now - window) / period), hi = (long long)(now / period);

    for (size_t i = 0; i < nb; i++) {
        long long s = atomic_load_explicit(&b[i].stamp, memory_order_acquire);

        if (s >= lo && s <= hi) {
            out->full += atomic_load_explicit(&b[i].n[0], memory_order_relaxed);
            out->resumed += atomic_load_explicit(&b[i].n[1], memory_order_relaxed);
        }
    }
}

static void merge_peers(struct root *r, time_t now, long window, struct sc_rootstats_view *out)
{
    for (int j = 0; j < SC_ROOTSTATS_PEERS; j++) {
        const char *id = atomic_load_explicit(&r->peers[j].id, memory_order_acquire);
        size_t k;

        if (id == NULL ||
            atomic_load_explicit(&r->peers[j].last_seen, memory_order_relaxed) <= now - window) {
            continue;
        }
        for (k = 0; k < out->n_peers; k++) {
            if (strcmp(out->peers[k], id) == 0) {
                break;
            }
        }
        if (k < out->n_peers) {
            continue;
        }
        if (out->n_peers == SC_ROOTSTATS_PEERS) {
            out->peers_dropped = 1;
            continue;
        }
        out->peers[out->n_peers++] = id;
    }
}

void sc_rootstats_view(struct sc_rootstats *const *all, size_t n, const char *serial, time_t now,
                       long window, struct sc_rootstats_view *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t w = 0; w < n; w++) {
        struct root *r = all[w] != NULL ? find_root(all[w], serial, 0) : NULL;
        time_t seen;

        if (r == NULL) {
            continue;
        }
        seen = (time_t)atomic_load_explicit(&r->last_seen, memory_order_relaxed);
        if (seen > out->last_seen) {
            out->last_seen = seen;
        }
        if (window <= MINUTES * 60L) {
            sum_buckets(r->minutes, MINUTES, 60, now, window, out);
        } else {
            sum_buckets(r->hours, HOURS, 3600, now, window, out);
        }
        merge_peers(r, now, window, out);
        if (atomic_load_explicit(&r->peers_dropped, memory_order_relaxed)) {
            out->peers_dropped = 1;
        }
    }
}

int sc_rootstats_parse_window(const char *s, long *secs, char *err, size_t errlen)
{
    long v = 0, unit;
    size_t i = 0;

    if (s == NULL || s[0] == '\0') {
        snprintf(err, errlen, "window is empty (e.g. 90s, 15m, 24h)");
        return -1;
    }
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (i >= 9) {
            snprintf(err, errlen, "window %s is too long (at most 7 days: 168h)", s);
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (i == 0 || s[i] == '\0' || s[i + 1] != '\0') {
        snprintf(err, errlen,
                 "window %s is not a number with a unit s, m or h (e.g. 90s, 15m, 24h)", s);
        return -1;
    }
    switch (s[i]) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    default:
        snprintf(err, errlen,
                 "window %s is not a number with a unit s, m or h (e.g. 90s, 15m, 24h)", s);
        return -1;
    }
    if (v == 0) {
        snprintf(err, errlen, "window %s is empty: at least 1s", s);
        return -1;
    }
    if (v > SC_ROOTSTATS_MAX_WINDOW / unit) {
        snprintf(err, errlen, "window %s is longer than the 7 days kept (168h)", s);
        return -1;
    }
    *secs = v * unit;
    return 0;
}
