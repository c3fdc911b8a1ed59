#include "json.h"

#include "escape.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values live in one array; children are linked by index, so the array
 * may grow while parsing and pointers are handed out only afterwards. */
struct sc_json_val {
    enum sc_json_type type;
    int b;
    double num;
    char *str; /* SC_JSON_STR: the string; members: their key */
    char *key;
    size_t n; /* ARR/OBJ: number of children */
    size_t first, next; /* indices + 1; 0 = none */
    size_t last; /* ARR/OBJ while parsing: last child, index + 1 */
    struct sc_json *doc;
};

struct sc_json {
    struct sc_json_val *v;
    size_t n, cap;
    size_t **children; /* per ARR/OBJ value: child indices, for sc_json_at */
};

struct parser {
    struct sc_json *doc;
    const char *p, *end, *start;
    char *why;
    size_t whylen;
    int failed;
};

static int fail(struct parser *ps, const char *fmt, ...)
{
    char msg[128];
    va_list ap;

    if (!ps->failed) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(ps->why, ps->whylen, "%s at byte %zu", msg, (size_t)(ps->p - ps->start));
        ps->failed = 1;
    }
    return -1;
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

/* A new value; returns its index + 1, or 0 when out of room. */
static size_t new_val(struct parser *ps, enum sc_json_type t)
{
    struct sc_json *d = ps->doc;

    if (d->n >= SC_JSON_MAX_VALUES) {
        fail(ps, "more than %d values", SC_JSON_MAX_VALUES);
        return 0;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap == 0 ? 64 : d->cap * 2;
        struct sc_json_val *nv = realloc(d->v, cap * sizeof(*nv));

        if (nv == NULL) {
            fail(ps, "out of memory");
            return 0;
        }
        d->v = nv;
        d->cap = cap;
    }
    memset(&d->v[d->n], 0, sizeof(d->v[d->n]));
    d->v[d->n].type = t;
    d->v[d->n].doc = d;
    return ++d->n;
}

static void put_utf8(char *out, size_t *o, unsigned long cp)
{
    if (cp < 0x80) {
        out[(*o)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*o)++] = (char)(0xc0 | (cp >> 6));
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*o)++] = (char)(0xe0 | (cp >> 12));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*o)++] = (char)(0xf0 | (cp >> 18));
        out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    }
}

static int hex4(struct parser *ps, unsigned long *out)
{
    unsigned long v = 0;

    if (ps->end - ps->p < 4) {
        return fail(ps, "short \\u escape");
    }
    for (int i = 0; i < 4; i++) {
        char ch = *ps->p++;
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0) {
            return fail(ps, "bad \\u escape");
        }
        v = v << 4 | (unsigned long)d;
    }
    *out = v;
    return 0;
}

/* A string literal at ps->p (on the opening quote) into a new heap string. */
static char *parse_string(struct parser *ps)
{
    const char *q = ps->p + 1;
    char *out;
    size_t o = 0;

    /* every escape decodes to no more bytes than it takes, so the raw
     * length bounds the decoded one */
    while (q < ps->end && *q != '"') {
        q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
    }
    if (q >= ps->end) {
        fail(ps, "unterminated string");
        return NULL;
    }
    out = malloc((size_t)(q - ps->p) + 1);
    if (out == NULL) {
        fail(ps, "out of memory");
        return NULL;
    }
    ps->p++;
    while (*ps->p != '"') {
        unsigned char ch = (unsigned char)*ps->p++;
        unsigned long cp, lo;

        if (ch < 0x20) {
            fail(ps, "control character in string");
            goto fail;
        }
        if (ch != '\\') {
            out[o++] = (char)ch;
            continue;
        }
        switch (*ps->p++) {
        case '"':
            out[o++] = '"';
            break;
        case '\\':
            out[o++] = '\\';
            break;
        case '/':
            out[o++] = '/';
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u':
            if (hex4(ps, &cp) != 0) {
                goto fail;
            }
            if (cp >= 0xd800 && cp < 0xdc00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
                ps->p[1] == 'u') {
                ps->p += 2;
                if (hex4(ps, &lo) != 0) {
                    goto fail;
                }
                cp = (lo >= 0xdc00 && lo < 0xe000) ? 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00)
                                                   : 0xfffd;
            } else if (cp >= 0xd800 && cp < 0xe000) {
                cp = 0xfffd;
            }
            put_utf8(out, &o, cp);
            break;
        default:
            fail(ps, "bad escape");
            goto fail;
        }
    }
    ps->p++;
    out[o] = '\0';
    return out;

fail:
    free(out);
    return NULL;
}

static size_t parse_value(struct parser *ps, int depth);

/* Adds child (index + 1) under parent (index + 1). */
static void link_child(struct sc_json *d, size_t parent, size_t child)
{
    struct sc_json_val *pv = &d->v[parent - 1];

    if (pv->last == 0) {
        pv->first = child;
    } else {
        d->v[pv->last - 1].next = child;
    }
    pv->last = child;
    pv->n++;
}

static size_t parse_container(struct parser *ps, int depth, int is_obj)
{
    char close = is_obj ? '}' : ']';
    size_t self = new_val(ps, is_obj ? SC_JSON_OBJ : SC_JSON_ARR);

    if (self == 0) {
        return 0;
    }
    if (depth >= SC_JSON_MAX_DEPTH) {
        fail(ps, "nested deeper than %d", SC_JSON_MAX_DEPTH);
        return 0;
    }
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return self;
    }
    for (;;) {
        char *key = NULL;
        size_t child;

        skip_ws(ps);
        if (is_obj) {
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, "expected a key");
                return 0;
            }
            key = parse_string(ps);
            if (key == NULL) {
                return 0;
            }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                fail(ps, "expected ':'");
                return 0;
            }
            ps->p++;
        }
        child = parse_value(ps, depth + 1);
        if (child == 0) {
            free(key);
            return 0;
        }
        ps->doc->v[child - 1].key = key;
        link_child(ps->doc, self, child);
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return self;
        }
        fail(ps, "expected ',' or '%c'", close);
        return 0;
    }
}

static int literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        return 0;
    }
    ps->p += n;
    return 1;
}

static size_t parse_number(struct parser *ps)
{
    char buf[64], *endp;
    size_t n = 0;
    size_t self;

    while (ps->p + n < ps->end && n < sizeof(buf) - 1 && strchr("+-0123456789.eE", ps->p[n])) {
        buf[n] = ps->p[n];
        n++;
    }
    buf[n] = '\0';
    self = new_val(ps, SC_JSON_NUM);
    if (self == 0) {
        return 0;
    }
    ps->doc->v[self - 1].num = strtod(buf, &endp);
    if (n == 0 || *endp != '\0') {
        fail(ps, "bad number");
        return 0;
    }
    ps->p += n;
    return self;
}

static size_t parse_value(struct parser *ps, int depth)
{
    size_t self;

    skip_ws(ps);
    if (ps->p >= ps->end) {
        fail(ps, "unexpected end");
        return 0;
    }
    switch (*ps->p) {
    case '{':
        return parse_container(ps, depth, 1);
    case '[':
        return parse_container(ps, depth, 0);
    case '"': {
        char *s = parse_string(ps);

        if (s == NULL) {
            return 0;
        }
        self = new_val(ps, SC_JSON_STR);
        if (self == 0) {
            free(s);
            return 0;
        }
        ps->doc->v[self - 1].str = s;
        return self;
    }
    case 't':
    case 'f':
        if (literal(ps, "true") || literal(ps, "false")) {
            self = new_val(ps, SC_JSON_BOOL);
            if (self != 0) {
                ps->doc->v[self - 1].b = ps->p[-1] == 'e' && ps->p[-4] == 't';
            }
            return self;
        }
        break;
    case 'n':
        if (literal(ps, "null")) {
            return new_val(ps, SC_JSON_NULL);
        }
        break;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
            return parse_number(ps);
        }
        break;
    }
    fail(ps, "unexpected character");
    return 0;
}

/* sc_json_at needs random access: one index array per container. */
static int index_children(struct sc_json *d)
{
    d->children = calloc(d->n, sizeof(*d->children));
    if (d->children == NULL) {
        return -1;
    }
    for (size_t i = 0; i < d->n; i++) {
        struct sc_json_val *v = &d->v[i];
        size_t k = 0;

        if ((v->type != SC_JSON_ARR && v->type != SC_JSON_OBJ) || v->n == 0) {
            continue;
        }
        d->children[i] = calloc(v->n, sizeof(size_t));
        if (d->children[i] == NULL) {
            return -1;
        }
        for (size_t c = v->first; c != 0; c = d->v[c - 1].next) {
            d->children[i][k++] = c - 1;
        }
    }
    return 0;
}

struct sc_json *sc_json_parse(const char *text, size_t len, char *why, size_t whylen)
{
    struct sc_json *doc = calloc(1, sizeof(*doc));
    struct parser ps = {doc, text, text + len, text, why, whylen, 0};

    if (doc == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    if (parse_value(&ps, 0) == 0) {
        goto fail;
    }
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fail(&ps, "trailing bytes");
        goto fail;
    }
    if (index_children(doc) != 0) {
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    return doc;

fail:
    sc_json_free(doc);
    return NULL;
}

void sc_json_free(struct sc_json *doc)
{
    if (doc == NULL) {
        return;
    }
    for (size_t i = 0; i < doc->n; i++) {
        free(doc->v[i].str);
        free(doc->v[i].key);
        if (doc->children != NULL) {
            free(doc->children[i]);
        }
    }
    free(doc->children);
    free(doc->v);
    free(doc);
}

const struct sc_json_val *sc_json_root(const struct sc_json *doc)
{
    return doc != NULL && doc->n > 0 ? &doc->v[0] : NULL;
}

enum sc_json_type sc_json_type(const struct sc_json_val *v)
{
    return v != NULL ? v->type : SC_JSON_NONE;
}

size_t sc_json_len(const struct sc_json_val *v)
{
    return v != NULL && (v->type == SC_JSON_ARR || v->type == SC_JSON_OBJ) ? v->n : 0;
}

const struct sc_json_val *sc_json_at(const struct sc_json_val *v, size_t i)
{
    if (i >= sc_json_len(v)) {
        return NULL;
    }
    return &v->doc->v[v->doc->children[v - v->doc->v][i]];
}

const char *sc_json_key_at(const struct sc_json_val *obj, size_t i)
{
    const struct sc_json_val *m = sc_json_type(obj) == SC_JSON_OBJ ? sc_json_at(obj, i) : NULL;

    return m != NULL ? m->key : NULL;
}

const struct sc_json_val *sc_json_get(const struct sc_json_val *obj, const char *key)
{
    if (sc_json_type(obj) != SC_JSON_OBJ) {
        return NULL;
    }
    for (size_t i = 0; i < obj->n; i++) {
        const struct sc_json_val *m = sc_json_at(obj, i);

        if (strcmp(m->key, key) == 0) {
            return m;
        }
    }
    return NULL;
}

const char *sc_json_str(const struct sc_json_val *v, const char *dflt)
{
    return sc_json_type(v) == SC_JSON_STR ? v->str : dflt;
}

double sc_json_num(const struct sc_json_val *v, double dflt)
{
    return sc_json_type(v) == SC_JSON_NUM ? v->num : dflt;
}

int sc_json_bool(const struct sc_json_val *v, int dflt)
{
    return sc_json_type(v) == SC_JSON_BOOL ? v->b : dflt;
}

void sc_json_put_str(struct evbuffer *out, const char *s)
{
    /* one JSON escaper for everything the sidecar writes (common/escape) */
    evbuffer_add(out, "\"", 1);
    if (s != NULL) {
        sc_escape_evbuffer(out, sc_escape_json, s, strlen(s));
    }
    evbuffer_add(out, "\"", 1);
}

void sc_json_put_str_or_null(struct evbuffer *out, const char *s)
{
    if (s == NULL) {
        evbuffer_add(out, "null", 4);
    } else {
        sc_json_put_str(out, s);
    }
}
