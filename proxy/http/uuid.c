/* UUIDv4 from batched CSPRNG bytes; see uuid.h. */

#include "uuid.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

void sc_uuid_init(struct sc_uuid *u)
{
    u->used = sizeof u->pool;
}

void sc_uuid_cleanup(struct sc_uuid *u)
{
    OPENSSL_cleanse(u->pool, sizeof u->pool);
    u->used = sizeof u->pool;
}

int sc_uuid_v4(struct sc_uuid *u, char out[SC_UUID_STR_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    size_t i, o = 0;

    out[0] = '\0';
    if (u->used > sizeof u->pool - sizeof b) {
        if (RAND_bytes(u->pool, (int)sizeof u->pool) != 1) {
            u->used = sizeof u->pool;
            return -1;
        }
        u->used = 0;
    }
    memcpy(b, u->pool + u->used, sizeof b);
    OPENSSL_cleanse(u->pool + u->used, sizeof b); /* never hand out a byte twice */
    u->used += sizeof b;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx */
    for (i = 0; i < sizeof b; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
    OPENSSL_cleanse(b, sizeof b);
    return 0;
}

int sc_uuid_is_valid(const char *s, size_t n)
{
    size_t i;

    if (s == NULL || n != SC_UUID_STR_LEN) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return 0;
            }
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}
