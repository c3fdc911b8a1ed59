#ifndef SC_OUTBUF_H
#define SC_OUTBUF_H

#include <stddef.h>

/* A bounded writer into a caller's buffer: appends until the room runs
 * out, then only remembers that it did (bad = 1), so a formatter can write
 * straight down and check once at the end.  Never writes past cap. */
struct sc_outbuf {
    char *p;
    size_t cap; /* room for bytes, a terminating NUL excluded */
    size_t len;
    int bad;
};

/* Sets up o over out[0..outlen), keeping one byte for a NUL. */
void sc_outbuf_init(struct sc_outbuf *o, char *out, size_t outlen);
void sc_outbuf_put(struct sc_outbuf *o, const char *s, size_t n);
void sc_outbuf_puts(struct sc_outbuf *o, const char *s);

#endif
