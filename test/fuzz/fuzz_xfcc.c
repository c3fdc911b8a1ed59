/* Fuzz target for proxy/xfcc: sc_xfcc_parse over arbitrary bytes must stay
 * inside the input and hand out well-formed pairs; unquoting never grows a
 * value; appending our element to a value that parses yields one more
 * element whose pairs are ours, and a value that does not parse is replaced
 * by our element alone.  Violations abort(). */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "xfcc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char element[] = "By=spiffe://cluster.local/ns/bar/sa/server;Hash=00ff;"
                              "Subject=\"CN=a\\, b\";URI=spiffe://cluster.local/ns/foo/sa/client";

struct ctx {
    const char *base;
    size_t len;
    size_t last_element;
    size_t pairs;
    size_t ours; /* pairs seen in the element after `from` */
    size_t from;
};

static int on_pair(void *arg, size_t el, const char *key, size_t klen, const char *value,
                   size_t vlen, int quoted)
{
    struct ctx *c = arg;
    char *un;
    int n;
    size_t i;

    CHECK(key >= c->base && key + klen <= c->base + c->len && klen > 0);
    CHECK(value >= c->base && value + vlen <= c->base + c->len);
    CHECK(el >= c->last_element && el <= c->last_element + 1);
    for (i = 0; i < klen; i++) {
        CHECK(key[i] != '=' && key[i] != ';' && key[i] != ',' && key[i] != '"');
    }
    c->last_element = el;
    c->pairs++;
    if (el >= c->from) {
        c->ours++;
    }
    un = malloc(vlen + 1);
    CHECK(un != NULL);
    n = sc_xfcc_unquote(value, vlen, un, vlen + 1);
    CHECK(n >= 0 && (size_t)n <= vlen && un[n] == '\0');
    if (!quoted) {
        CHECK((size_t)n == vlen && memcmp(un, value, vlen) == 0);
    }
    free(un);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct ctx c = {s, size, 0, 0, 0, (size_t)-1};
    struct sc_xfcc_part part = {s, size};
    size_t cap = size + sizeof element + 2, len = 0;
    char *out;
    int n, m, r;

    if (size > 64 * 1024) {
        return 0;
    }
    n = sc_xfcc_parse(s, size, on_pair, &c);
    CHECK(n >= -1);
    if (n > 0) {
        CHECK(c.last_element + 1 == (size_t)n && c.pairs >= (size_t)n);
    }
    CHECK(sc_xfcc_parse(s, size, NULL, NULL) == n);

    out = malloc(cap);
    CHECK(out != NULL);
    r = sc_xfcc_forward_value(SC_XFCC_APPEND, &part, 1, element, out, cap, &len);
    CHECK(r == 1 && len == strlen(out));
    if (n < 0) {
        CHECK(strcmp(out, element) == 0); /* a bad prefix is dropped */
    } else {
        struct ctx d = {out, len, 0, 0, 0, (size_t)(n > 0 ? n : 0)};

        m = sc_xfcc_parse(out, len, on_pair, &d);
        CHECK(m == (n > 0 ? n : 0) + 1);
        CHECK(d.ours == 4); /* our element's four pairs, intact */
        CHECK(len >= sizeof element - 1 && strcmp(out + len - (sizeof element - 1), element) == 0);
    }
    r = sc_xfcc_forward_value(SC_XFCC_KEEP, &part, 1, element, out, cap, &len);
    CHECK(r >= 0);
    r = sc_xfcc_forward_value(SC_XFCC_APPEND, &part, 1, element, out, size / 2, &len);
    CHECK(r == -1 || r == 1);
    free(out);
    return 0;
}
