#ifndef SC_UUID_H
#define SC_UUID_H

#include <stddef.h>

/* Random (version 4, RFC 9562) UUIDs for x-request-id, from a per-worker
 * pool of CSPRNG bytes refilled with one RAND_bytes call per 32 UUIDs.  The
 * caller embeds the struct (one per worker thread; not shared, no locks). */

#define SC_UUID_STR_LEN 36 /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" */
#define SC_UUID_POOL_BYTES 512

struct sc_uuid {
    unsigned char pool[SC_UUID_POOL_BYTES];
    size_t used; /* pool bytes handed out; a full pool is refilled */
};

/* Starts with an empty pool (the first UUID refills it). */
void sc_uuid_init(struct sc_uuid *u);

/* Wipes the unused random bytes. */
void sc_uuid_cleanup(struct sc_uuid *u);

/* Writes a lowercase UUIDv4 and a NUL to out (SC_UUID_STR_LEN + 1 bytes).
 * Returns 0, or -1 when the CSPRNG fails (out is then ""). */
int sc_uuid_v4(struct sc_uuid *u, char out[SC_UUID_STR_LEN + 1]);

/* 1 when s[0..n) is a UUID in 8-4-4-4-12 hex form (any case, any version). */
int sc_uuid_is_valid(const char *s, size_t n);

#endif
