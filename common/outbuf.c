#include "outbuf.h"

#include <string.h>

void sc_outbuf_init(struct sc_outbuf *o, char *out, size_t outlen)
{
    o->p = out;
    o->cap = outlen > 0 ? outlen - 1 : 0;
    o->len = 0;
    o->bad = outlen == 0;
}

void sc_outbuf_put(struct sc_outbuf *o, const char *s, size_t n)
{
    if (o->bad || n > o->cap - o->len) {
        o->bad = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

void sc_outbuf_puts(struct sc_outbuf *o, const char *s)
{
    sc_outbuf_put(o, s, strlen(s));
}
