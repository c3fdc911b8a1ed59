#include "hslimit.h"

#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "table.h"

#define WINDOW 8 /* slots an address may live in */
#define MILLI 1000u /* a token, in milli-tokens */

struct slot {
    unsigned char ip[16]; /* IPv4 addresses are stored v4-mapped */
    int used;
    uint64_t tokens; /* milli-tokens, at most rate * MILLI */
    uint64_t last_ms; /* when tokens was last brought up to date */
};

struct sc_hslimit {
    uint64_t seed; /* per table, so slots cannot be aimed at */
    size_t used;
    struct slot slots[SC_HSLIMIT_SLOTS];
};

struct sc_hslimit *sc_hslimit_new(void)
{
    struct sc_hslimit *l = sc_table_alloc(sizeof(*l));

    if (l == NULL) {
        return NULL;
    }
    if (RAND_bytes((unsigned char *)&l->seed, sizeof(l->seed)) != 1) {
        l->seed = (uint64_t)(uintptr_t)l * 0x9e3779b97f4a7c15ull;
    }
    return l;
}

void sc_hslimit_free(struct sc_hslimit *l)
{
    sc_table_free(l, sizeof(*l));
}

size_t sc_hslimit_size(const struct sc_hslimit *l)
{
    return l->used;
}

/* The 16-byte key of src (IPv4 as ::ffff:a.b.c.d); -1 for other families. */
static int key_of(const struct sc_addr *src, unsigned char ip[16])
{
    if (src->ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&src->ss;

        memset(ip, 0, 10);
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &in->sin_addr, 4);
        return 0;
    }
    if (src->ss.ss_family == AF_INET6) {
        memcpy(ip, &((const struct sockaddr_in6 *)&src->ss)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

static size_t hash(const struct sc_hslimit *l, const unsigned char ip[16])
{
    uint64_t h = 1469598103934665603ull ^ l->seed;

    for (int i = 0; i < 16; i++) {
        h = (h ^ ip[i]) * 1099511628211ull;
    }
    return (size_t)(h ^ (h >> 32)) % SC_HSLIMIT_SLOTS;
}

/* The slot holding ip, or the one to give it: a free slot of its window,
 * else the slot seen least recently. */
static struct slot *find(struct sc_hslimit *l, const unsigned char ip[16], int *found)
{
    size_t h = hash(l, ip);
    struct slot *take = NULL;

    for (size_t i = 0; i < WINDOW; i++) {
        struct slot *s = &l->slots[(h + i) % SC_HSLIMIT_SLOTS];

        if (s->used && memcmp(s->ip, ip, 16) == 0) {
            *found = 1;
            return s;
        }
        if (take == NULL || (take->used && (!s->used || s->last_ms < take->last_ms))) {
            take = s;
        }
    }
    *found = 0;
    return take;
}

int sc_hslimit_allow(struct sc_hslimit *l, const struct sc_addr *src, unsigned rate,
                     uint64_t now_ms)
{
    unsigned char ip[16];
    uint64_t cap = (uint64_t)rate * MILLI;
    struct slot *s;
    int found;

    if (rate == 0 || key_of(src, ip) != 0) {
        return 1;
    }
    s = find(l, ip, &found);
    if (!found) {
        if (!s->used) {
            l->used++;
        }
        memcpy(s->ip, ip, 16);
        s->used = 1;
        s->tokens = cap;
        s->last_ms = now_ms;
    } else if (now_ms > s->last_ms) {
        uint64_t add = (now_ms - s->last_ms) * rate; /* rate/s = rate milli-tokens/ms */

        s->tokens = s->tokens >= cap || add >= cap - s->tokens ? cap : s->tokens + add;
        s->last_ms = now_ms;
    }
    if (s->tokens > cap) {
        s->tokens = cap; /* the rate went down in a reload */
    }
    if (s->tokens < MILLI) {
        return 0;
    }
    s->tokens -= MILLI;
    return 1;
}

void sc_hslimit_refund(struct sc_hslimit *l, const struct sc_addr *src, unsigned rate)
{
    unsigned char ip[16];
    uint64_t cap = (uint64_t)rate * MILLI;
    struct slot *s;
    int found;

    if (rate == 0 || key_of(src, ip) != 0) {
        return;
    }
    s = find(l, ip, &found);
    if (found) {
        s->tokens = s->tokens + MILLI >= cap ? cap : s->tokens + MILLI;
    }
}
