/* The engine behind the config key tables (STYLE.md, "Config
 * validation"): errors with a position and key path, the converter per
 * value type, unknown keys refused with a "did you mean" hint, and applying
 * a table to a mapping or a list of mappings.  The tables themselves, one
 * per section, are in config_keys.c. */

#include "config_internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors and key paths --------------------------------------------- */

int sc_config_fail_pos(struct cfg_ctx *c, const char *file, int line, int col, const char *path,
                       const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (path != NULL && path[0] != '\0') {
        sc_err_at(c->err, file, line, col, "%s: %s", path, msg);
    } else {
        sc_err_at(c->err, file, line, col, "%s", msg);
    }
    return -1;
}

/* An error at node n about the key path being converted. */
int sc_config_fail(struct cfg_ctx *c, const struct sc_yaml_node *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sc_config_fail_pos(c, n->file, n->line, n->col, c->path, "%s", msg);
}

size_t sc_config_push_key(struct cfg_ctx *c, const char *key)
{
    size_t saved = strlen(c->path);

    snprintf(c->path + saved, sizeof(c->path) - saved, "%s%s", saved > 0 ? "." : "", key);
    return saved;
}

size_t sc_config_push_index(struct cfg_ctx *c, size_t i)
{
    size_t saved = strlen(c->path);

    snprintf(c->path + saved, sizeof(c->path) - saved, "[%zu]", i);
    return saved;
}

void sc_config_pop(struct cfg_ctx *c, size_t saved)
{
    c->path[saved] = '\0';
}

int sc_config_oom(struct cfg_ctx *c, const struct sc_yaml_node *n)
{
    return sc_config_fail(c, n, "out of memory");
}

/* "the string "x"" or "a mapping", for "expected X, got Y". */
static const char *got(const struct sc_yaml_node *n, char *buf, size_t len)
{
    if (n->kind == SC_YAML_SCALAR && !sc_yaml_is_null(n)) {
        snprintf(buf, len, "\"%.60s\"", n->str);
        return buf;
    }
    return sc_yaml_kind_name(n);
}

/* ---- scalar conversions ----------------------------------------------- */

int sc_config_want_scalar(struct cfg_ctx *c, const struct sc_yaml_node *n, const char *what)
{
    if (n->kind != SC_YAML_SCALAR || sc_yaml_is_null(n)) {
        return sc_config_fail(c, n, "expected %s, got %s", what, sc_yaml_kind_name(n));
    }
    return 0;
}

int sc_config_dup(struct cfg_ctx *c, const struct sc_yaml_node *n, char **out)
{
    char *s = strdup(n->str);

    if (s == NULL) {
        return sc_config_oom(c, n);
    }
    free(*out);
    *out = s;
    return 0;
}

/* YAML 1.2's core booleans, written plain. */
static int conv_bool(struct cfg_ctx *c, const struct sc_yaml_node *n, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};
    char buf[80];

    for (size_t i = 0; n->kind == SC_YAML_SCALAR && !n->quoted && i < NKEYS(yes); i++) {
        if (strcmp(n->str, yes[i]) == 0 || strcmp(n->str, no[i]) == 0) {
            *out = strcmp(n->str, yes[i]) == 0;
            return 0;
        }
    }
    return sc_config_fail(c, n, "expected true or false, got %s", got(n, buf, sizeof(buf)));
}

static int conv_int(struct cfg_ctx *c, const struct sc_yaml_node *n, long long min, long long max,
                    long long *out)
{
    const char *s = n->str;
    long long v = 0;
    int neg = 0;
    char buf[80];

    if (n->kind != SC_YAML_SCALAR || n->quoted || sc_yaml_is_null(n)) {
        return sc_config_fail(c, n, "expected an integer, got %s", got(n, buf, sizeof(buf)));
    }
    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++;
    }
    if (*s == '\0') {
        return sc_config_fail(c, n, "expected an integer, got %s", got(n, buf, sizeof(buf)));
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return sc_config_fail(c, n, "expected an integer, got %s", got(n, buf, sizeof(buf)));
        }
        if (v > (LLONG_MAX - 9) / 10) {
            return sc_config_fail(c, n, "%.40s is out of range %lld..%lld", n->str, min, max);
        }
        v = v * 10 + (*s - '0');
    }
    if (neg) {
        v = -v;
    }
    if (v < min || v > max) {
        return sc_config_fail(c, n, "%lld is out of range %lld..%lld", v, min, max);
    }
    *out = v;
    return 0;
}

static int conv_proto(struct cfg_ctx *c, const struct sc_yaml_node *n, enum sc_proto *out)
{
    if (sc_config_want_scalar(c, n, "a protocol") != 0) {
        return -1;
    }
    if (strcmp(n->str, "tcp") == 0) {
        *out = SC_PROTO_TCP;
    } else if (strcmp(n->str, "http") == 0) {
        *out = SC_PROTO_HTTP;
    } else if (strcmp(n->str, "auto") == 0) {
        *out = SC_PROTO_AUTO;
    } else {
        return sc_config_fail(c, n, "unknown protocol \"%.60s\" (expected tcp, http or auto)",
                              n->str);
    }
    return 0;
}

static int conv_tls(struct cfg_ctx *c, const struct sc_yaml_node *n, enum sc_tls_mode *out)
{
    if (sc_config_want_scalar(c, n, "a TLS mode") != 0) {
        return -1;
    }
    if (sc_policy_parse_tls_mode(n->str, out) != 0) {
        return sc_config_fail(
            c, n, "unknown mode \"%.60s\" (expected DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)",
            n->str);
    }
    return 0;
}

static int conv_dir(struct cfg_ctx *c, const struct sc_yaml_node *n, enum sc_direction *out)
{
    if (sc_config_want_scalar(c, n, "a direction") != 0) {
        return -1;
    }
    if (strcmp(n->str, "inbound") == 0) {
        *out = SC_DIR_INBOUND;
    } else if (strcmp(n->str, "outbound") == 0) {
        *out = SC_DIR_OUTBOUND;
    } else {
        return sc_config_fail(c, n, "unknown direction \"%.60s\" (expected inbound or outbound)",
                              n->str);
    }
    return 0;
}

static int conv_addr(struct cfg_ctx *c, const struct sc_yaml_node *n, struct sc_addr *out)
{
    const char *why = "invalid";

    if (sc_config_want_scalar(c, n, "an address such as \"127.0.0.1:15000\"") != 0) {
        return -1;
    }
    if (sc_addr_parse(n->str, out, &why) != 0) {
        return sc_config_fail(c, n, "bad address \"%.80s\": %s", n->str, why);
    }
    return 0;
}

/* A SPIFFE ID pattern: "*", "spiffe://td/path", either with a trailing "*"
 * for a prefix match; Istio's principal form "td/ns/x/sa/y" gets the
 * spiffe:// scheme added. */
static int conv_id(struct cfg_ctx *c, const struct sc_yaml_node *n, char **out)
{
    const char *s = n->str;
    const char *star;
    size_t need;

    if (sc_config_want_scalar(c, n, "a SPIFFE ID") != 0) {
        return -1;
    }
    star = strchr(s, '*');
    if (star != NULL && star[1] != '\0') {
        return sc_config_fail(c, n, "\"%.80s\": a \"*\" is only allowed at the end", s);
    }
    if (strcmp(s, "*") == 0 ||
        (strncmp(s, "spiffe://", 9) == 0 && s[9] != '\0' && s[9] != '/' && s[9] != '*')) {
        return sc_config_dup(c, n, out);
    }
    if (strstr(s, "://") != NULL || strchr(s, '/') == NULL || s[0] == '/' || s[0] == '*') {
        return sc_config_fail(c, n, "\"%.80s\" is not a SPIFFE ID (spiffe://trust-domain/path)", s);
    }
    need = strlen(s) + 10;
    *out = malloc(need);
    if (*out == NULL) {
        return sc_config_oom(c, n);
    }
    snprintf(*out, need, "spiffe://%s", s);
    return 0;
}

static int conv_ids(struct cfg_ctx *c, const struct sc_yaml_node *n, struct sc_strv *out)
{
    if (sc_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != SC_YAML_SEQ) {
        return sc_config_fail(c, n, "expected a list, got %s", sc_yaml_kind_name(n));
    }
    out->v = calloc(n->n + 1, sizeof(*out->v));
    if (out->v == NULL) {
        return sc_config_oom(c, n);
    }
    for (size_t i = 0; i < n->n; i++) {
        size_t saved = sc_config_push_index(c, i);

        if (conv_id(c, n->items[i], &out->v[i]) != 0) {
            return -1;
        }
        out->n++;
        sc_config_pop(c, saved);
    }
    return 0;
}

/* ---- key tables ------------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    size_t row[40];

    if (la >= 39 || lb >= 39) {
        return 99;
    }
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);

            if (up + 1 < best) {
                best = up + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

static int unknown_key(struct cfg_ctx *c, const struct sc_yaml_node *k, const struct key *tab,
                       size_t n)
{
    const char *best = NULL;
    size_t bestd = 3;

    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(k->str, tab[i].name);
        size_t kl = strlen(k->str);

        if (kl >= 3 && strncmp(k->str, tab[i].name, kl) == 0) {
            d = 1; /* a prefix: "sniff" for "sniff_ms" */
        }

        if (d < bestd) {
            bestd = d;
            best = tab[i].name;
        }
    }
    if (best != NULL) {
        return sc_config_fail(c, k, "unknown key \"%.60s\" (did you mean \"%s\"?)", k->str, best);
    }
    return sc_config_fail(c, k, "unknown key \"%.60s\"", k->str);
}

static int convert(struct cfg_ctx *c, const struct key *k, const struct sc_yaml_node *v, void *base)
{
    void *field = (char *)base + k->off;
    long long i = 0;

    switch (k->type) {
    case K_STR:
        if (sc_config_want_scalar(c, v, "a string") != 0) {
            return -1;
        }
        if (v->len == 0) {
            return sc_config_fail(c, v, "must not be empty");
        }
        return sc_config_dup(c, v, field);
    case K_INT:
        if (conv_int(c, v, k->min, k->max, &i) != 0) {
            return -1;
        }
        *(int *)field = (int)i;
        return 0;
    case K_SIZE:
        if (conv_int(c, v, k->min, k->max, &i) != 0) {
            return -1;
        }
        *(size_t *)field = (size_t)i;
        return 0;
    case K_ADDR:
        return conv_addr(c, v, field);
    case K_PROTO:
        return conv_proto(c, v, field);
    case K_TLS:
        return conv_tls(c, v, field);
    case K_DIR:
        return conv_dir(c, v, field);
    case K_IDS:
        return conv_ids(c, v, field);
    case K_BOOL:
        return conv_bool(c, v, field);
    case K_FN:
        return k->fn(c, v, base);
    }
    return -1;
}

/* Converts every key of map (a mapping, or null meaning empty) through tab
 * into base.  Sets bit i of *seen for each tab[i] given a non-null value. */
int sc_config_apply(struct cfg_ctx *c, const struct sc_yaml_node *map, const struct key *tab,
                    size_t n, void *base, unsigned *seen)
{
    *seen = 0;
    if (sc_yaml_is_null(map)) {
        return 0;
    }
    if (map->kind != SC_YAML_MAP) {
        return sc_config_fail(c, map, "expected a mapping, got %s", sc_yaml_kind_name(map));
    }
    for (size_t i = 0; i < map->n; i++) {
        const struct sc_yaml_node *v = map->items[i];
        size_t j;
        size_t saved;

        for (j = 0; j < n; j++) {
            if (strcmp(map->keys[i]->str, tab[j].name) == 0) {
                break;
            }
        }
        if (j == n) {
            return unknown_key(c, map->keys[i], tab, n);
        }
        if (sc_yaml_is_null(v) && tab[j].type != K_FN) {
            continue; /* "key:" with no value: the default */
        }
        saved = sc_config_push_key(c, tab[j].name);
        if (convert(c, &tab[j], v, base) != 0) {
            return -1;
        }
        sc_config_pop(c, saved);
        *seen |= 1u << j;
    }
    return 0;
}

/* Converts a list of mappings into a new array of n elements of size sz, each
 * first filled by init(). */
int sc_config_apply_list(struct cfg_ctx *c, const struct sc_yaml_node *seq, const struct key *tab,
                         size_t ntab, size_t sz, void (*init)(void *), void **out, size_t *n,
                         unsigned **seen)
{
    char *arr;

    if (sc_yaml_is_null(seq)) {
        return 0;
    }
    if (seq->kind != SC_YAML_SEQ) {
        return sc_config_fail(c, seq, "expected a list, got %s", sc_yaml_kind_name(seq));
    }
    arr = calloc(seq->n + 1, sz);
    *seen = calloc(seq->n + 1, sizeof(**seen));
    if (arr == NULL || *seen == NULL) {
        free(arr);
        return sc_config_oom(c, seq);
    }
    *out = arr;
    for (size_t i = 0; i < seq->n; i++) {
        size_t saved = sc_config_push_index(c, i);

        init(arr + i * sz);
        *n = i + 1;
        if (sc_config_apply(c, seq->items[i], tab, ntab, arr + i * sz, &(*seen)[i]) != 0) {
            return -1;
        }
        if (seq->items[i]->kind != SC_YAML_MAP) {
            return sc_config_fail(c, seq->items[i], "expected a mapping, got %s",
                                  sc_yaml_kind_name(seq->items[i]));
        }
        sc_config_pop(c, saved);
    }
    return 0;
}
