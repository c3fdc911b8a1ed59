/* Fuzz target for common/json, which reads POST /diagnose bodies in the
 * sidecar and every admin answer in sidecarctl.  Any input either fails
 * with a reason that has a position, or parses into a tree every accessor
 * can walk; a parsed string written back with sc_json_put_str parses, and
 * to the same string when it is valid UTF-8 (the escaper writes a byte
 * that is not part of valid UTF-8 as \u00XX, so JSON out is always UTF-8).
 * Violations abort(). */

#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Is s valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF)? */
static int utf8_valid(const unsigned char *s)
{
    while (*s != '\0') {
        unsigned long cp;
        int n;

        if (s[0] < 0x80) {
            s++;
            continue;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
            n = 1, cp = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
            n = 2, cp = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
            n = 3, cp = s[0] & 0x07;
        } else {
            return 0;
        }
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80) {
                return 0;
            }
            cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp < 0xe000)) {
            return 0;
        }
        s += n + 1;
    }
    return 1;
}

/* Visits every value below v; returns how many. */
static size_t walk(const struct sc_json_val *v, int depth)
{
    size_t n = 1;

    if (depth > SC_JSON_MAX_DEPTH + 1) {
        abort();
    }
    switch (sc_json_type(v)) {
    case SC_JSON_OBJ:
        for (size_t i = 0; i < sc_json_len(v); i++) {
            const char *k = sc_json_key_at(v, i);

            if (k == NULL || sc_json_get(v, k) == NULL) {
                abort();
            }
            n += walk(sc_json_at(v, i), depth + 1);
        }
        break;
    case SC_JSON_ARR:
        for (size_t i = 0; i < sc_json_len(v); i++) {
            n += walk(sc_json_at(v, i), depth + 1);
        }
        if (sc_json_at(v, sc_json_len(v)) != NULL) {
            abort();
        }
        break;
    case SC_JSON_STR: {
        const char *s = sc_json_str(v, NULL);
        struct evbuffer *b = evbuffer_new();
        struct sc_json *back;
        char why[128];

        if (s == NULL || b == NULL) {
            abort();
        }
        sc_json_put_str(b, s);
        back = sc_json_parse((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b), why,
                             sizeof(why));
        if (back == NULL || (utf8_valid((const unsigned char *)s) &&
                             strcmp(sc_json_str(sc_json_root(back), ""), s) != 0)) {
            abort();
        }
        sc_json_free(back);
        evbuffer_free(b);
        break;
    }
    case SC_JSON_NONE:
        abort();
    default:
        break;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[128] = "";
    struct sc_json *d = sc_json_parse((const char *)data, size, why, sizeof(why));

    if (d == NULL) {
        if (strstr(why, " at byte ") == NULL && strcmp(why, "out of memory") != 0) {
            abort();
        }
        return 0;
    }
    if (walk(sc_json_root(d), 0) > SC_JSON_MAX_VALUES) {
        abort();
    }
    sc_json_free(d);
    return 0;
}
