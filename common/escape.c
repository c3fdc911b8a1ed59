#include "escape.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

static const char hex[] = "0123456789ABCDEF";

/* Length of the valid UTF-8 sequence at s (2..4 bytes, no overlong form,
 * no surrogate, nothing above U+10FFFF), or 0 when s[0] starts none. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    size_t n;
    unsigned int cp;

    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
        cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
}

/* A C1 control (U+0080..U+009F) is encoded C2 80..C2 9F. */
static int is_c1(const unsigned char *s, size_t n)
{
    return n == 2 && s[0] == 0xC2 && s[1] < 0xA0;
}

/* Puts the unescaped run s[0..n) (whole UTF-8 sequences); when it does
 * not fit, as much as fits without splitting a sequence, and marks o bad. */
static void flush(struct sc_outbuf *o, const char *s, size_t n)
{
    size_t room = o->bad ? 0 : o->cap - o->len;

    if (n <= room) {
        sc_outbuf_put(o, s, n);
        return;
    }
    while (room > 0 && ((unsigned char)s[room] & 0xC0) == 0x80) {
        room--;
    }
    sc_outbuf_put(o, s, room);
    o->bad = 1;
}

void sc_escape_text(struct sc_outbuf *o, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, start = 0;

    while (i < len && !o->bad) {
        size_t n = u[i] >= 0x80 ? utf8_seq(u + i, len - i) : 1;
        int esc = u[i] < 0x20 || u[i] == 0x7F || u[i] == '\\' || n == 0 || is_c1(u + i, n);

        if (!esc) {
            i += n;
            continue;
        }
        flush(o, s + start, i - start);
        if (n == 0) {
            n = 1;
        }
        for (size_t k = 0; k < n; k++) {
            char e[4] = {'\\', 'x', hex[u[i + k] >> 4], hex[u[i + k] & 15]};

            sc_outbuf_put(o, e, sizeof(e));
        }
        i += n;
        start = i;
    }
    flush(o, s + start, i - start);
}

/* The two quoted-string formats: '"' and '\' take a backslash, valid
 * UTF-8 passes, and other() writes each byte that needs more care (a
 * control byte, DEL, a byte that is not part of valid UTF-8). */
static void quoted(struct sc_outbuf *o, const char *s, size_t len,
                   void (*other)(struct sc_outbuf *o, unsigned char c))
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, start = 0;

    while (i < len && !o->bad) {
        size_t n = u[i] >= 0x80 ? utf8_seq(u + i, len - i) : 1;

        if (n != 0 && u[i] >= 0x20 && u[i] != 0x7F && u[i] != '"' && u[i] != '\\') {
            i += n;
            continue;
        }
        flush(o, s + start, i - start);
        if (u[i] == '"' || u[i] == '\\') {
            char e[2] = {'\\', (char)u[i]};

            sc_outbuf_put(o, e, sizeof(e));
        } else {
            other(o, u[i]);
        }
        i++;
        start = i;
    }
    flush(o, s + start, i - start);
}

static void json_other(struct sc_outbuf *o, unsigned char c)
{
    char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

    sc_outbuf_put(o, e, sizeof(e));
}

static void prom_other(struct sc_outbuf *o, unsigned char c)
{
    if (c == '\n') {
        sc_outbuf_put(o, "\\n", 2);
    } else {
        sc_outbuf_put(o, "\xEF\xBF\xBD", 3); /* U+FFFD */
    }
}

void sc_escape_json(struct sc_outbuf *o, const char *s, size_t len)
{
    quoted(o, s, len, json_other);
}

void sc_escape_prom_label(struct sc_outbuf *o, const char *s, size_t len)
{
    quoted(o, s, len, prom_other);
}

const char *sc_escape_text_str(const char *s, char *out, size_t outlen)
{
    struct sc_outbuf o;

    if (outlen == 0) {
        return out;
    }
    if (s == NULL) {
        s = "-";
    }
    sc_outbuf_init(&o, out, outlen);
    sc_escape_text(&o, s, strlen(s));
    out[o.len] = '\0';
    return out;
}

int sc_escape_evbuffer(struct evbuffer *b, sc_escape_fn *fn, const char *s, size_t len)
{
    struct sc_outbuf o;
    size_t cap;
    char *tmp;

    if (len > (SIZE_MAX - 1) / 6) {
        return -1;
    }
    cap = len * 6 + 1; /* the longest escape: \u00XX */
    tmp = malloc(cap);
    if (tmp == NULL) {
        return -1;
    }
    sc_outbuf_init(&o, tmp, cap);
    fn(&o, s, len);
    if (o.bad || evbuffer_add(b, tmp, o.len) != 0) {
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
