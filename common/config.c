#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "log.h"
#include "policy.h"
#include "yamlcfg.h"

/* How a YAML tree becomes a struct sc_config (STYLE.md, "Config
 * validation"): a key table per section converts values into typed fields
 * at fixed offsets, unknown keys are errors, cross-field checks run last,
 * then the Istio documents are resolved into the routes and listeners. */

#define PEM_MAX (1024 * 1024)         /* certificate/key files we read */

struct ctx {
    struct sc_err *err;
    struct sc_config *cfg;
    const struct sc_yaml_node *root;
    struct sc_policy_workload w;
    char path[256];                   /* key path of the node being converted */
};

/* ---- errors and key paths --------------------------------------------- */

static int fail_pos(struct ctx *c, const char *file, int line, int col, const char *path,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fail_pos(struct ctx *c, const char *file, int line, int col, const char *path,
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
static int fail(struct ctx *c, const struct sc_yaml_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, const struct sc_yaml_node *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return fail_pos(c, n->file, n->line, n->col, c->path, "%s", msg);
}

static size_t push_key(struct ctx *c, const char *key)
{
    size_t saved = strlen(c->path);

    snprintf(c->path + saved, sizeof(c->path) - saved, "%s%s", saved > 0 ? "." : "", key);
    return saved;
}

static size_t push_index(struct ctx *c, size_t i)
{
    size_t saved = strlen(c->path);

    snprintf(c->path + saved, sizeof(c->path) - saved, "[%zu]", i);
    return saved;
}

static void pop(struct ctx *c, size_t saved)
{
    c->path[saved] = '\0';
}

static int oom(struct ctx *c, const struct sc_yaml_node *n)
{
    return fail(c, n, "out of memory");
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

static int want_scalar(struct ctx *c, const struct sc_yaml_node *n, const char *what)
{
    if (n->kind != SC_YAML_SCALAR || sc_yaml_is_null(n)) {
        return fail(c, n, "expected %s, got %s", what, sc_yaml_kind_name(n));
    }
    return 0;
}

static int dup_into(struct ctx *c, const struct sc_yaml_node *n, char **out)
{
    char *s = strdup(n->str);

    if (s == NULL) {
        return oom(c, n);
    }
    free(*out);
    *out = s;
    return 0;
}

static int conv_int(struct ctx *c, const struct sc_yaml_node *n, long long min, long long max,
                    long long *out)
{
    const char *s = n->str;
    long long v = 0;
    int neg = 0;
    char buf[80];

    if (n->kind != SC_YAML_SCALAR || n->quoted || sc_yaml_is_null(n)) {
        return fail(c, n, "expected an integer, got %s", got(n, buf, sizeof(buf)));
    }
    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++;
    }
    if (*s == '\0') {
        return fail(c, n, "expected an integer, got %s", got(n, buf, sizeof(buf)));
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return fail(c, n, "expected an integer, got %s", got(n, buf, sizeof(buf)));
        }
        if (v > (LLONG_MAX - 9) / 10) {
            return fail(c, n, "%.40s is out of range %lld..%lld", n->str, min, max);
        }
        v = v * 10 + (*s - '0');
    }
    if (neg) {
        v = -v;
    }
    if (v < min || v > max) {
        return fail(c, n, "%lld is out of range %lld..%lld", v, min, max);
    }
    *out = v;
    return 0;
}

static int conv_proto(struct ctx *c, const struct sc_yaml_node *n, enum sc_proto *out)
{
    if (want_scalar(c, n, "a protocol") != 0) {
        return -1;
    }
    if (strcmp(n->str, "tcp") == 0) {
        *out = SC_PROTO_TCP;
    } else if (strcmp(n->str, "http") == 0) {
        *out = SC_PROTO_HTTP;
    } else if (strcmp(n->str, "auto") == 0) {
        *out = SC_PROTO_AUTO;
    } else {
        return fail(c, n, "unknown protocol \"%.60s\" (expected tcp, http or auto)", n->str);
    }
    return 0;
}

static int conv_tls(struct ctx *c, const struct sc_yaml_node *n, enum sc_tls_mode *out)
{
    if (want_scalar(c, n, "a TLS mode") != 0) {
        return -1;
    }
    if (sc_policy_parse_tls_mode(n->str, out) != 0) {
        return fail(c, n,
                    "unknown mode \"%.60s\" (expected DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)",
                    n->str);
    }
    return 0;
}

static int conv_dir(struct ctx *c, const struct sc_yaml_node *n, enum sc_direction *out)
{
    if (want_scalar(c, n, "a direction") != 0) {
        return -1;
    }
    if (strcmp(n->str, "inbound") == 0) {
        *out = SC_DIR_INBOUND;
    } else if (strcmp(n->str, "outbound") == 0) {
        *out = SC_DIR_OUTBOUND;
    } else {
        return fail(c, n, "unknown direction \"%.60s\" (expected inbound or outbound)",
                    n->str);
    }
    return 0;
}

static int conv_addr(struct ctx *c, const struct sc_yaml_node *n, struct sc_addr *out)
{
    const char *why = "invalid";

    if (want_scalar(c, n, "an address such as \"127.0.0.1:15000\"") != 0) {
        return -1;
    }
    if (sc_addr_parse(n->str, out, &why) != 0) {
        return fail(c, n, "bad address \"%.80s\": %s", n->str, why);
    }
    return 0;
}

/* A SPIFFE ID pattern: "*", "spiffe://td/path", either with a trailing "*"
 * for a prefix match; Istio's principal form "td/ns/x/sa/y" gets the
 * spiffe:// scheme added. */
static int conv_id(struct ctx *c, const struct sc_yaml_node *n, char **out)
{
    const char *s = n->str;
    const char *star;
    size_t need;

    if (want_scalar(c, n, "a SPIFFE ID") != 0) {
        return -1;
    }
    star = strchr(s, '*');
    if (star != NULL && star[1] != '\0') {
        return fail(c, n, "\"%.80s\": a \"*\" is only allowed at the end", s);
    }
    if (strcmp(s, "*") == 0 ||
        (strncmp(s, "spiffe://", 9) == 0 && s[9] != '\0' && s[9] != '/' && s[9] != '*')) {
        return dup_into(c, n, out);
    }
    if (strstr(s, "://") != NULL || strchr(s, '/') == NULL || s[0] == '/' || s[0] == '*') {
        return fail(c, n, "\"%.80s\" is not a SPIFFE ID (spiffe://trust-domain/path)", s);
    }
    need = strlen(s) + 10;
    *out = malloc(need);
    if (*out == NULL) {
        return oom(c, n);
    }
    snprintf(*out, need, "spiffe://%s", s);
    return 0;
}

static int conv_ids(struct ctx *c, const struct sc_yaml_node *n, struct sc_strv *out)
{
    if (sc_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != SC_YAML_SEQ) {
        return fail(c, n, "expected a list, got %s", sc_yaml_kind_name(n));
    }
    out->v = calloc(n->n + 1, sizeof(*out->v));
    if (out->v == NULL) {
        return oom(c, n);
    }
    for (size_t i = 0; i < n->n; i++) {
        size_t saved = push_index(c, i);

        if (conv_id(c, n->items[i], &out->v[i]) != 0) {
            return -1;
        }
        out->n++;
        pop(c, saved);
    }
    return 0;
}

/* ---- key tables ------------------------------------------------------- */

enum ktype {
    K_STR,          /* char *, non-empty */
    K_INT,          /* int in [min, max] */
    K_SIZE,         /* size_t in [min, max] */
    K_ADDR,         /* struct sc_addr */
    K_PROTO,        /* enum sc_proto */
    K_TLS,          /* enum sc_tls_mode */
    K_DIR,          /* enum sc_direction */
    K_IDS,          /* struct sc_strv of SPIFFE ID patterns */
    K_FN,           /* custom */
};

typedef int conv_fn(struct ctx *c, const struct sc_yaml_node *v, void *base);

struct key {
    const char *name;
    enum ktype type;
    long long min;
    long long max;
    size_t off;
    conv_fn *fn;
};

#define KEY(n, t, s, f) {n, t, 0, 0, offsetof(s, f), NULL}
#define KEYR(n, t, lo, hi, s, f) {n, t, lo, hi, offsetof(s, f), NULL}
#define KEYFN(n, fn) {n, K_FN, 0, 0, 0, fn}
#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

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

static int unknown_key(struct ctx *c, const struct sc_yaml_node *k, const struct key *tab,
                       size_t n)
{
    const char *best = NULL;
    size_t bestd = 3;

    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(k->str, tab[i].name);
        size_t kl = strlen(k->str);

        if (kl >= 3 && strncmp(k->str, tab[i].name, kl) == 0) {
            d = 1;                    /* a prefix: "sniff" for "sniff_ms" */
        }

        if (d < bestd) {
            bestd = d;
            best = tab[i].name;
        }
    }
    if (best != NULL) {
        return fail(c, k, "unknown key \"%.60s\" (did you mean \"%s\"?)", k->str, best);
    }
    return fail(c, k, "unknown key \"%.60s\"", k->str);
}

static int convert(struct ctx *c, const struct key *k, const struct sc_yaml_node *v, void *base)
{
    void *field = (char *)base + k->off;
    long long i = 0;

    switch (k->type) {
    case K_STR:
        if (want_scalar(c, v, "a string") != 0) {
            return -1;
        }
        if (v->len == 0) {
            return fail(c, v, "must not be empty");
        }
        return dup_into(c, v, field);
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
    case K_FN:
        return k->fn(c, v, base);
    }
    return -1;
}

/* Converts every key of map (a mapping, or null meaning empty) through tab
 * into base.  Sets bit i of *seen for each tab[i] given a non-null value. */
static int apply(struct ctx *c, const struct sc_yaml_node *map, const struct key *tab,
                 size_t n, void *base, unsigned *seen)
{
    *seen = 0;
    if (sc_yaml_is_null(map)) {
        return 0;
    }
    if (map->kind != SC_YAML_MAP) {
        return fail(c, map, "expected a mapping, got %s", sc_yaml_kind_name(map));
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
            continue;                 /* "key:" with no value: the default */
        }
        saved = push_key(c, tab[j].name);
        if (convert(c, &tab[j], v, base) != 0) {
            return -1;
        }
        pop(c, saved);
        *seen |= 1u << j;
    }
    return 0;
}

/* Converts a list of mappings into a new array of n elements of size sz, each
 * first filled by init(). */
static int apply_list(struct ctx *c, const struct sc_yaml_node *seq, const struct key *tab,
                      size_t ntab, size_t sz, void (*init)(void *), void **out, size_t *n,
                      unsigned **seen)
{
    char *arr;

    if (sc_yaml_is_null(seq)) {
        return 0;
    }
    if (seq->kind != SC_YAML_SEQ) {
        return fail(c, seq, "expected a list, got %s", sc_yaml_kind_name(seq));
    }
    arr = calloc(seq->n + 1, sz);
    *seen = calloc(seq->n + 1, sizeof(**seen));
    if (arr == NULL || *seen == NULL) {
        free(arr);
        return oom(c, seq);
    }
    *out = arr;
    for (size_t i = 0; i < seq->n; i++) {
        size_t saved = push_index(c, i);

        init(arr + i * sz);
        *n = i + 1;
        if (apply(c, seq->items[i], tab, ntab, arr + i * sz, &(*seen)[i]) != 0) {
            return -1;
        }
        if (seq->items[i]->kind != SC_YAML_MAP) {
            return fail(c, seq->items[i], "expected a mapping, got %s",
                        sc_yaml_kind_name(seq->items[i]));
        }
        pop(c, saved);
    }
    return 0;
}

/* ---- sections --------------------------------------------------------- */

static int conv_labels(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;

    if (sc_yaml_is_null(v)) {
        return 0;
    }
    if (v->kind != SC_YAML_MAP) {
        return fail(c, v, "expected a mapping, got %s", sc_yaml_kind_name(v));
    }
    cfg->node.labels = calloc(v->n + 1, sizeof(*cfg->node.labels));
    if (cfg->node.labels == NULL) {
        return oom(c, v);
    }
    for (size_t i = 0; i < v->n; i++) {
        size_t saved = push_key(c, v->keys[i]->str);

        if (v->keys[i]->len == 0) {
            return fail(c, v->keys[i], "label names must not be empty");
        }
        cfg->node.n_labels++;
        if (want_scalar(c, v->items[i], "a string") != 0 ||
            dup_into(c, v->keys[i], &cfg->node.labels[i].key) != 0 ||
            dup_into(c, v->items[i], &cfg->node.labels[i].value) != 0) {
            return -1;
        }
        pop(c, saved);
    }
    return 0;
}

static const struct key node_keys[] = {
    KEY("id", K_STR, struct sc_config, node.id),
    KEY("trust_domain", K_STR, struct sc_config, node.trust_domain),
    KEY("namespace", K_STR, struct sc_config, node.namespace_),
    KEYFN("labels", conv_labels),
    KEY("root_namespace", K_STR, struct sc_config, node.root_namespace),
};

static int conv_node(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    unsigned seen;

    return apply(c, v, node_keys, NKEYS(node_keys), base, &seen);
}

static int conv_log_level(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    struct sc_config *cfg = base;
    enum sc_log_level lvl;
    char *s;

    if (sc_yaml_is_null(v)) {
        return 0;
    }
    if (want_scalar(c, v, "a log level") != 0) {
        return -1;
    }
    if (sc_log_parse_level(v->str, &lvl) != 0 || (size_t)lvl >= NKEYS(names)) {
        return fail(c, v, "unknown level \"%.60s\" (expected debug, info, warn or error)",
                    v->str);
    }
    s = strdup(names[lvl]);
    if (s == NULL) {
        return oom(c, v);
    }
    free(cfg->log_level);
    cfg->log_level = s;
    return 0;
}

static const struct key secrets_keys[] = {
    KEY("sds_socket", K_STR, struct sc_config, secrets.sds_socket),
    KEY("cert_chain", K_STR, struct sc_config, secrets.cert_chain),
    KEY("private_key", K_STR, struct sc_config, secrets.private_key),
    KEY("trusted_ca", K_STR, struct sc_config, secrets.trusted_ca),
};

static int conv_secrets(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    unsigned seen;

    return apply(c, v, secrets_keys, NKEYS(secrets_keys), base, &seen);
}

static const struct key server_keys[] = {
    {"address", K_ADDR, 0, 0, 0, NULL},
};

static int conv_server(struct ctx *c, const struct sc_yaml_node *v, struct sc_addr *addr,
                       int *has, const char *dflt)
{
    const char *why;
    unsigned seen;

    if (sc_addr_parse(dflt, addr, &why) != 0) {
        return fail(c, v, "internal: bad default address");
    }
    *has = 1;
    return apply(c, v, server_keys, NKEYS(server_keys), addr, &seen);
}

static int conv_admin(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;

    return conv_server(c, v, &cfg->admin, &cfg->has_admin, "127.0.0.1:15000");
}

static int conv_health(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;

    return conv_server(c, v, &cfg->health, &cfg->has_health, "0.0.0.0:15021");
}

static int conv_stats(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;

    return conv_server(c, v, &cfg->stats, &cfg->has_stats, "0.0.0.0:15090");
}

/* inbound */

static const struct key inport_keys[] = {
    KEYR("port", K_INT, 1, 65535, struct sc_cfg_inport, port),
    KEY("protocol", K_PROTO, struct sc_cfg_inport, protocol),
    KEY("allowed_principals", K_IDS, struct sc_cfg_inport, allowed_principals),
};

static void inport_init(void *p)
{
    memset(p, 0, sizeof(struct sc_cfg_inport));
}

static int conv_inports(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned *seen = NULL;
    void *arr = NULL;
    int rc;

    rc = apply_list(c, v, inport_keys, NKEYS(inport_keys), sizeof(struct sc_cfg_inport),
                    inport_init, &arr, &cfg->inbound.n_ports, &seen);
    cfg->inbound.ports = arr;
    for (size_t i = 0; rc == 0 && i < cfg->inbound.n_ports; i++) {
        size_t saved = push_index(c, i);

        if ((seen[i] & 1u) == 0) {
            rc = fail(c, v->items[i], "port is required");
        }
        for (size_t j = 0; rc == 0 && j < i; j++) {
            if (cfg->inbound.ports[j].port == cfg->inbound.ports[i].port) {
                push_key(c, "port");
                rc = fail(c, sc_yaml_get(v->items[i], "port"),
                          "port %d is already listed in inbound.ports[%zu]",
                          cfg->inbound.ports[i].port, j);
            }
        }
        pop(c, saved);
    }
    free(seen);
    return rc;
}

static int conv_app_host(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    struct sc_addr a;

    if (want_scalar(c, v, "a numeric IP address") != 0) {
        return -1;
    }
    if (sc_addr_from_host(v->str, 1, &a) != 0) {
        return fail(c, v, "\"%.80s\" is not a numeric IPv4 or IPv6 address", v->str);
    }
    return dup_into(c, v, &cfg->inbound.app_host);
}

static const struct key inbound_keys[] = {
    KEY("address", K_ADDR, struct sc_config, inbound.address),
    KEYFN("app_host", conv_app_host),
    KEYFN("ports", conv_inports),
};

static int conv_inbound(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    const char *why;
    unsigned seen;

    cfg->has_inbound = 1;
    sc_addr_parse("0.0.0.0:15006", &cfg->inbound.address, &why);
    return apply(c, v, inbound_keys, NKEYS(inbound_keys), base, &seen);
}

/* outbound */

static int conv_cidr(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_cfg_route *r = base;
    const char *why = "invalid";

    if (want_scalar(c, v, "an address range such as 10.0.0.0/8") != 0) {
        return -1;
    }
    if (sc_cidr_parse(v->str, &r->cidr, &why) != 0) {
        return fail(c, v, "bad address range \"%.80s\": %s", v->str, why);
    }
    r->has_cidr = 1;
    return 0;
}

enum { R_HOST, R_CIDR, R_PORT, R_PROTO, R_TLS, R_IDS, R_SNI, R_CA, R_CERT, R_KEY };

static const struct key route_keys[] = {
    [R_HOST] = KEY("host", K_STR, struct sc_cfg_route, host),
    [R_CIDR] = KEYFN("cidr", conv_cidr),
    [R_PORT] = KEYR("port", K_INT, 0, 65535, struct sc_cfg_route, port),
    [R_PROTO] = KEY("protocol", K_PROTO, struct sc_cfg_route, protocol),
    [R_TLS] = KEY("tls", K_TLS, struct sc_cfg_route, tls),
    [R_IDS] = KEY("expected_identities", K_IDS, struct sc_cfg_route, expected_identities),
    [R_SNI] = KEY("sni", K_STR, struct sc_cfg_route, tls_files.sni),
    [R_CA] = KEY("ca_certificates", K_STR, struct sc_cfg_route, tls_files.ca_certificates),
    [R_CERT] = KEY("client_certificate", K_STR, struct sc_cfg_route,
                   tls_files.client_certificate),
    [R_KEY] = KEY("private_key", K_STR, struct sc_cfg_route, tls_files.private_key),
};

static void route_init(void *p)
{
    memset(p, 0, sizeof(struct sc_cfg_route));
}

static int conv_routes(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned *seen = NULL;
    void *arr = NULL;
    int rc;

    rc = apply_list(c, v, route_keys, NKEYS(route_keys), sizeof(struct sc_cfg_route),
                    route_init, &arr, &cfg->outbound.n_routes, &seen);
    cfg->outbound.routes = arr;
    for (size_t i = 0; rc == 0 && i < cfg->outbound.n_routes; i++) {
        if ((seen[i] & ((1u << R_HOST) | (1u << R_CIDR))) == 0) {
            size_t saved = push_index(c, i);

            rc = fail(c, v->items[i], "a route needs a host or a cidr");
            pop(c, saved);
        }
    }
    free(seen);
    return rc;
}

static const struct key default_keys[] = {
    KEY("tls", K_TLS, struct sc_cfg_route, tls),
    KEY("protocol", K_PROTO, struct sc_cfg_route, protocol),
};

static int conv_default(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned seen;

    return apply(c, v, default_keys, NKEYS(default_keys), &cfg->outbound.def, &seen);
}

static const struct key outbound_keys[] = {
    KEY("address", K_ADDR, struct sc_config, outbound.address),
    KEYFN("routes", conv_routes),
    KEYFN("default", conv_default),
};

static int conv_outbound(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    const char *why;
    unsigned seen;

    cfg->has_outbound = 1;
    sc_addr_parse("127.0.0.1:15001", &cfg->outbound.address, &why);
    return apply(c, v, outbound_keys, NKEYS(outbound_keys), base, &seen);
}

/* listeners */

enum {
    L_NAME, L_DIR, L_ADDR, L_UP, L_HOST, L_PORT, L_TLS, L_PROTO, L_IDS, L_PRINC,
    L_SNI, L_CA, L_CERT, L_KEY
};

static const struct key listener_keys[] = {
    [L_NAME] = KEY("name", K_STR, struct sc_cfg_listener, name),
    [L_DIR] = KEY("direction", K_DIR, struct sc_cfg_listener, direction),
    [L_ADDR] = KEY("address", K_ADDR, struct sc_cfg_listener, address),
    [L_UP] = KEY("upstream", K_ADDR, struct sc_cfg_listener, upstream),
    [L_HOST] = KEY("host", K_STR, struct sc_cfg_listener, host),
    [L_PORT] = KEYR("port", K_INT, 1, 65535, struct sc_cfg_listener, port),
    [L_TLS] = KEY("tls", K_TLS, struct sc_cfg_listener, tls),
    [L_PROTO] = KEY("protocol", K_PROTO, struct sc_cfg_listener, protocol),
    [L_IDS] = KEY("expected_identities", K_IDS, struct sc_cfg_listener, expected_identities),
    [L_PRINC] = KEY("allowed_principals", K_IDS, struct sc_cfg_listener, allowed_principals),
    [L_SNI] = KEY("sni", K_STR, struct sc_cfg_listener, tls_files.sni),
    [L_CA] = KEY("ca_certificates", K_STR, struct sc_cfg_listener, tls_files.ca_certificates),
    [L_CERT] = KEY("client_certificate", K_STR, struct sc_cfg_listener,
                   tls_files.client_certificate),
    [L_KEY] = KEY("private_key", K_STR, struct sc_cfg_listener, tls_files.private_key),
};

static void listener_init(void *p)
{
    memset(p, 0, sizeof(struct sc_cfg_listener));
}

static int check_listener(struct ctx *c, const struct sc_yaml_node *n, size_t i, unsigned seen)
{
    static const int outbound_only[] = {L_HOST, L_TLS, L_IDS, L_SNI, L_CA, L_CERT, L_KEY};
    struct sc_config *cfg = c->cfg;
    struct sc_cfg_listener *l = &cfg->listeners[i];
    static const int required[] = {L_NAME, L_DIR, L_ADDR};

    for (size_t k = 0; k < NKEYS(required); k++) {
        if ((seen & (1u << required[k])) == 0) {
            return fail(c, n, "%s is required", listener_keys[required[k]].name);
        }
    }
    for (size_t j = 0; j < i; j++) {
        if (strcmp(cfg->listeners[j].name, l->name) == 0) {
            push_key(c, "name");
            return fail(c, sc_yaml_get(n, "name"),
                        "duplicate listener name \"%.60s\" (also listeners[%zu])", l->name, j);
        }
    }
    if (l->direction == SC_DIR_OUTBOUND) {
        if ((seen & (1u << L_UP)) == 0) {
            return fail(c, n, "an outbound listener needs upstream");
        }
        if ((seen & (1u << L_PRINC)) != 0) {
            push_key(c, "allowed_principals");
            return fail(c, sc_yaml_get(n, "allowed_principals"),
                        "only applies to inbound listeners");
        }
    } else {
        for (size_t k = 0; k < NKEYS(outbound_only); k++) {
            if ((seen & (1u << outbound_only[k])) != 0) {
                push_key(c, listener_keys[outbound_only[k]].name);
                return fail(c, sc_yaml_get(n, listener_keys[outbound_only[k]].name),
                            "only applies to outbound listeners (inbound TLS follows "
                            "PeerAuthentication)");
            }
        }
        if ((seen & (1u << L_UP)) == 0) {
            const char *host = cfg->inbound.app_host != NULL ? cfg->inbound.app_host
                                                             : "127.0.0.1";

            if ((seen & (1u << L_PORT)) == 0) {
                return fail(c, n, "an inbound listener needs upstream (or port, to reach the "
                                  "app on inbound.app_host)");
            }
            if (sc_addr_from_host(host, l->port, &l->upstream) != 0) {
                return fail(c, n, "bad inbound.app_host");
            }
        }
    }
    if (l->port == 0) {
        l->port = sc_addr_port(&l->upstream);
    }
    return 0;
}

static int conv_listeners(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned *seen = NULL;
    void *arr = NULL;
    int rc;

    rc = apply_list(c, v, listener_keys, NKEYS(listener_keys), sizeof(struct sc_cfg_listener),
                    listener_init, &arr, &cfg->n_listeners, &seen);
    cfg->listeners = arr;
    free(seen);
    return rc;
}

/* timeouts */

static const struct key timeout_keys[] = {
    KEYR("connect_ms", K_INT, 1, 3600000, struct sc_cfg_timeouts, connect_ms),
    KEYR("handshake_ms", K_INT, 1, 3600000, struct sc_cfg_timeouts, handshake_ms),
    KEYR("idle_ms", K_INT, 0, INT_MAX, struct sc_cfg_timeouts, idle_ms),
    KEYR("sniff_ms", K_INT, 1, 3600000, struct sc_cfg_timeouts, sniff_ms),
};

static int conv_timeouts(struct ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned seen;

    return apply(c, v, timeout_keys, NKEYS(timeout_keys), &cfg->timeouts, &seen);
}

static const struct key top_keys[] = {
    KEYFN("node", conv_node),
    KEYR("workers", K_INT, 0, 1024, struct sc_config, workers),
    KEYFN("log_level", conv_log_level),
    KEYFN("secrets", conv_secrets),
    KEYFN("admin", conv_admin),
    KEYFN("health", conv_health),
    KEYFN("stats", conv_stats),
    KEYFN("inbound", conv_inbound),
    KEYFN("outbound", conv_outbound),
    KEYFN("listeners", conv_listeners),
    KEYFN("timeouts", conv_timeouts),
    KEYR("buffer_limit_bytes", K_SIZE, 1024, 1073741824, struct sc_config, buffer_limit),
};

/* ---- files: certificates and keys ------------------------------------- */

static int read_small(const char *path, char **out, size_t *outlen)
{
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int fd;
    int saved;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        saved = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        close(fd);
        errno = saved;
        return -1;
    }
    buf = malloc(PEM_MAX + 1);
    if (buf == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    while (len <= PEM_MAX) {
        ssize_t r = read(fd, buf + len, PEM_MAX + 1 - len);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            saved = errno;
            free(buf);
            close(fd);
            errno = saved;
            return -1;
        }
        if (r == 0) {
            break;
        }
        len += (size_t)r;
    }
    close(fd);
    if (len > PEM_MAX) {
        free(buf);
        errno = EFBIG;
        return -1;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

/* Why read_small failed, for "cannot read X: why". */
static const char *read_reason(int e)
{
    return e == EINVAL ? "not a regular file" : strerror(e);
}

struct where {                       /* where a file name was written */
    const char *file;
    int line;
    int col;
    const char *path;                /* its key path, for the message */
};

static void where_node(struct where *w, const struct sc_yaml_node *n, const char *path)
{
    w->file = n->file;
    w->line = n->line;
    w->col = n->col;
    w->path = path;
}

/* Reads fname, which must hold one or more PEM certificates; returns the
 * first in *leaf when leaf is not NULL. */
static int check_certs(struct ctx *c, const struct where *w, const char *fname, X509 **leaf)
{
    char *data = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    X509 *x = NULL;
    int count = 0;
    int rc = -1;
    char why[256];

    if (read_small(fname, &data, &len) != 0) {
        return fail_pos(c, w->file, w->line, w->col, w->path, "cannot read %s: %s", fname,
                        read_reason(errno));
    }
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL) {
        fail_pos(c, w->file, w->line, w->col, w->path, "out of memory");
        goto done;
    }
    ERR_clear_error();
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (count == 0 && leaf != NULL) {
            *leaf = x;
        } else {
            X509_free(x);
        }
        x = NULL;
        count++;
    }
    if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
        sc_tls_errors(why, sizeof(why));
        fail_pos(c, w->file, w->line, w->col, w->path, "%s: bad PEM certificate: %s", fname,
                 why);
        goto done;
    }
    ERR_clear_error();
    if (count == 0) {
        fail_pos(c, w->file, w->line, w->col, w->path, "%s holds no PEM certificate", fname);
        goto done;
    }
    rc = 0;

done:
    if (rc != 0 && leaf != NULL) {
        X509_free(*leaf);
        *leaf = NULL;
    }
    BIO_free(bio);
    free(data);
    return rc;
}

static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Reads fname, a PEM private key that must match cert (named cert_path). */
static int check_key(struct ctx *c, const struct where *w, const char *fname, X509 *cert,
                     const char *cert_path)
{
    char *data = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    int rc = -1;

    if (read_small(fname, &data, &len) != 0) {
        return fail_pos(c, w->file, w->line, w->col, w->path, "cannot read %s: %s", fname,
                        read_reason(errno));
    }
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio != NULL) {
        key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    }
    ERR_clear_error();
    if (key == NULL) {
        fail_pos(c, w->file, w->line, w->col, w->path,
                 "cannot parse a PEM private key in %s (encrypted keys are not supported)",
                 fname);
        goto done;
    }
    if (cert != NULL && X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        fail_pos(c, w->file, w->line, w->col, w->path,
                 "key does not match the certificate in %s", cert_path);
        goto done;
    }
    rc = 0;

done:
    EVP_PKEY_free(key);
    BIO_free(bio);
    OPENSSL_cleanse(data, len);
    free(data);
    return rc;
}

static int check_secrets(struct ctx *c)
{
    struct sc_config *cfg = c->cfg;
    const struct sc_yaml_node *sec = sc_yaml_get(c->root, "secrets");
    int nfiles = (cfg->secrets.cert_chain != NULL) + (cfg->secrets.private_key != NULL) +
                 (cfg->secrets.trusted_ca != NULL);
    struct where w;
    X509 *leaf = NULL;
    int rc = -1;

    if (cfg->secrets.sds_socket == NULL && nfiles == 0) {
        const struct sc_yaml_node *at = sec != NULL ? sec : c->root;

        return fail_pos(c, at->file, at->line, at->col, "secrets",
                        "either sds_socket or cert_chain, private_key and trusted_ca must be "
                        "given");
    }
    if (nfiles == 0) {
        return 0;
    }
    if (nfiles != 3) {
        return fail_pos(c, sec->file, sec->line, sec->col, "secrets",
                        "cert_chain, private_key and trusted_ca must be given together");
    }
    where_node(&w, sc_yaml_get(sec, "cert_chain"), "secrets.cert_chain");
    if (check_certs(c, &w, cfg->secrets.cert_chain, &leaf) != 0) {
        goto done;
    }
    where_node(&w, sc_yaml_get(sec, "private_key"), "secrets.private_key");
    if (check_key(c, &w, cfg->secrets.private_key, leaf, "secrets.cert_chain") != 0) {
        goto done;
    }
    where_node(&w, sc_yaml_get(sec, "trusted_ca"), "secrets.trusted_ca");
    if (check_certs(c, &w, cfg->secrets.trusted_ca, NULL) != 0) {
        goto done;
    }
    rc = 0;

done:
    X509_free(leaf);
    return rc;
}

/* ---- outbound TLS: explicit, DestinationRule, or the default ---------- */

/* Indices into route_keys / listener_keys for the TLS keys; the same order. */
struct tls_keys {
    int tls, ids, sni, ca, cert, key;
};

static const struct tls_keys route_tk = {R_TLS, R_IDS, R_SNI, R_CA, R_CERT, R_KEY};
static const struct tls_keys listener_tk = {L_TLS, L_IDS, L_SNI, L_CA, L_CERT, L_KEY};

static int copy_dr_file(struct ctx *c, char **dst, const struct sc_policy_val *v,
                        const struct sc_policy_tls *pt, struct where *w, const char *label,
                        char *pathbuf, size_t pathlen)
{
    if (*dst != NULL || v->s == NULL) {
        return 0;
    }
    *dst = strdup(v->s);
    if (*dst == NULL) {
        return fail_pos(c, pt->file, v->line, v->col, NULL, "out of memory");
    }
    snprintf(pathbuf, pathlen, "DestinationRule %s: %s", pt->rule, label);
    w->file = pt->file;
    w->line = v->line;
    w->col = v->col;
    w->path = pathbuf;
    return 0;
}

/* Resolves one route's or outbound listener's tls (Istio: explicit tls, else
 * the DestinationRule for host, else ISTIO_MUTUAL) and checks its files.
 * n is the YAML mapping it came from, names its key names. */
static int resolve_tls(struct ctx *c, const struct sc_yaml_node *n, const struct key *names,
                       const struct tls_keys *tk, const char *host, int port,
                       enum sc_tls_mode *tls, struct sc_cfg_tls_files *f, struct sc_strv *ids)
{
    struct sc_policy_tls pt;
    struct where wca = {NULL, 0, 0, NULL};
    struct where wcert = wca;
    struct where wkey = wca;
    char pca[300], pcert[300], pkey[300];
    char base[256];
    X509 *cert = NULL;
    int rc = -1;

    snprintf(base, sizeof(base), "%s", c->path);
    snprintf(pca, sizeof(pca), "%.200s.%s", base, names[tk->ca].name);
    snprintf(pcert, sizeof(pcert), "%.200s.%s", base, names[tk->cert].name);
    snprintf(pkey, sizeof(pkey), "%.200s.%s", base, names[tk->key].name);
    if (f->ca_certificates != NULL) {
        where_node(&wca, sc_yaml_get(n, names[tk->ca].name), pca);
    }
    if (f->client_certificate != NULL) {
        where_node(&wcert, sc_yaml_get(n, names[tk->cert].name), pcert);
    }
    if (f->private_key != NULL) {
        where_node(&wkey, sc_yaml_get(n, names[tk->key].name), pkey);
    }
    if (*tls == SC_TLS_UNSET) {
        *tls = SC_TLS_ISTIO_MUTUAL;
        if (host != NULL && sc_policy_dest_tls(c->cfg->policy, &c->w, host, port, &pt)) {
            *tls = pt.mode;
            if (pt.mode == SC_TLS_SIMPLE || pt.mode == SC_TLS_MUTUAL) {
                if (copy_dr_file(c, &f->ca_certificates, &pt.ca_certificates, &pt, &wca,
                                 "spec.trafficPolicy.tls.caCertificates", pca,
                                 sizeof(pca)) != 0 ||
                    copy_dr_file(c, &f->client_certificate, &pt.client_certificate, &pt,
                                 &wcert, "spec.trafficPolicy.tls.clientCertificate", pcert,
                                 sizeof(pcert)) != 0 ||
                    copy_dr_file(c, &f->private_key, &pt.private_key, &pt, &wkey,
                                 "spec.trafficPolicy.tls.privateKey", pkey,
                                 sizeof(pkey)) != 0) {
                    return -1;
                }
                if (f->sni == NULL && pt.sni.s != NULL) {
                    f->sni = strdup(pt.sni.s);
                    if (f->sni == NULL) {
                        return oom(c, n);
                    }
                }
            }
            if (ids->n == 0 && pt.subject_alt_names->n > 0) {
                ids->v = calloc(pt.subject_alt_names->n, sizeof(*ids->v));
                if (ids->v == NULL) {
                    return oom(c, n);
                }
                for (size_t i = 0; i < pt.subject_alt_names->n; i++) {
                    ids->v[i] = strdup(pt.subject_alt_names->v[i]);
                    if (ids->v[i] == NULL) {
                        return oom(c, n);
                    }
                    ids->n++;
                }
            }
        }
    }
    if (*tls != SC_TLS_SIMPLE && *tls != SC_TLS_MUTUAL) {
        const int idx[4] = {tk->sni, tk->ca, tk->cert, tk->key};

        for (size_t i = 0; i < 4; i++) {
            const struct sc_yaml_node *v = sc_yaml_get(n, names[idx[i]].name);

            if (v != NULL && !sc_yaml_is_null(v)) {
                push_key(c, names[idx[i]].name);
                return fail(c, v, "only applies with tls SIMPLE or MUTUAL (tls is %s)",
                            sc_tls_mode_name(*tls));
            }
        }
        return 0;
    }
    if (*tls == SC_TLS_MUTUAL && (f->client_certificate == NULL || f->private_key == NULL)) {
        return fail(c, n, "tls MUTUAL needs %s and %s", names[tk->cert].name,
                    names[tk->key].name);
    }
    if (f->client_certificate != NULL && f->private_key == NULL) {
        return fail(c, n, "%s needs %s", names[tk->cert].name, names[tk->key].name);
    }
    if (f->private_key != NULL && f->client_certificate == NULL) {
        return fail(c, n, "%s needs %s", names[tk->key].name, names[tk->cert].name);
    }
    if (f->ca_certificates != NULL && check_certs(c, &wca, f->ca_certificates, NULL) != 0) {
        goto done;
    }
    if (f->client_certificate != NULL &&
        (check_certs(c, &wcert, f->client_certificate, &cert) != 0 ||
         check_key(c, &wkey, f->private_key, cert, wcert.path) != 0)) {
        goto done;
    }
    rc = 0;

done:
    X509_free(cert);
    return rc;
}

static int resolve_outbound(struct ctx *c)
{
    struct sc_config *cfg = c->cfg;
    const struct sc_yaml_node *out = sc_yaml_get(c->root, "outbound");
    const struct sc_yaml_node *routes = sc_yaml_get(out, "routes");
    const struct sc_yaml_node *lst = sc_yaml_get(c->root, "listeners");

    if (cfg->outbound.def.tls == SC_TLS_UNSET) {
        cfg->outbound.def.tls = SC_TLS_DISABLE;
    }
    for (size_t i = 0; i < cfg->outbound.n_routes; i++) {
        struct sc_cfg_route *r = &cfg->outbound.routes[i];

        snprintf(c->path, sizeof(c->path), "outbound.routes[%zu]", i);
        if (resolve_tls(c, routes->items[i], route_keys, &route_tk, r->host, r->port, &r->tls,
                        &r->tls_files, &r->expected_identities) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        struct sc_cfg_listener *l = &cfg->listeners[i];

        if (l->direction != SC_DIR_OUTBOUND) {
            continue;
        }
        snprintf(c->path, sizeof(c->path), "listeners[%zu]", i);
        if (resolve_tls(c, lst->items[i], listener_keys, &listener_tk, l->host, l->port,
                        &l->tls, &l->tls_files, &l->expected_identities) != 0) {
            return -1;
        }
    }
    c->path[0] = '\0';
    return 0;
}

/* ---- cross-field checks ----------------------------------------------- */

static int is_wildcard(const struct sc_addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    if (a->ss.ss_family == AF_INET6) {
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
    }
    return 0;
}

static int addrs_clash(const struct sc_addr *a, const struct sc_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family || sc_addr_port(a) != sc_addr_port(b)) {
        return 0;
    }
    return sc_addr_equal(a, b) || is_wildcard(a) || is_wildcard(b);
}

struct bound {
    char name[64];
    const struct sc_addr *addr;
    const struct sc_yaml_node *node;
};

/* No two servers or listeners may bind overlapping addresses (with
 * SO_REUSEPORT the kernel would quietly split connections between them). */
static int check_addresses(struct ctx *c)
{
    struct sc_config *cfg = c->cfg;
    struct bound *b = NULL;
    size_t n = 0;
    int rc = 0;
    static const char *const sections[] = {"admin", "health", "stats", "inbound", "outbound"};
    const int has[] = {cfg->has_admin, cfg->has_health, cfg->has_stats, cfg->has_inbound,
                       cfg->has_outbound};
    const struct sc_addr *addrs[] = {&cfg->admin, &cfg->health, &cfg->stats,
                                     &cfg->inbound.address, &cfg->outbound.address};

    b = calloc(cfg->n_listeners + 6, sizeof(*b));
    if (b == NULL) {
        return oom(c, c->root);
    }
    for (size_t i = 0; i < NKEYS(sections); i++) {
        const struct sc_yaml_node *sec = sc_yaml_get_key(c->root, sections[i]);
        const struct sc_yaml_node *a = sc_yaml_get(sc_yaml_get(c->root, sections[i]), "address");

        if (!has[i]) {
            continue;
        }
        snprintf(b[n].name, sizeof(b[n].name), "%s.address", sections[i]);
        b[n].addr = addrs[i];
        b[n].node = a != NULL ? a : sec;
        n++;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct sc_yaml_node *ln = sc_yaml_get(c->root, "listeners")->items[i];

        snprintf(b[n].name, sizeof(b[n].name), "listeners[%zu].address", i);
        b[n].addr = &cfg->listeners[i].address;
        b[n].node = sc_yaml_get(ln, "address");
        n++;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (size_t j = 0; j < i && rc == 0; j++) {
            if (addrs_clash(b[i].addr, b[j].addr)) {
                char s[SC_ADDR_STRLEN];

                rc = fail_pos(c, b[i].node->file, b[i].node->line, b[i].node->col, b[i].name,
                              "%s overlaps %s", sc_addr_str(b[i].addr, s, sizeof(s)),
                              b[j].name);
            }
        }
    }
    free(b);
    return rc;
}

/* SPIFFE trust domain: lowercase letters, digits, '.', '-', '_'. */
static int valid_trust_domain(const char *s)
{
    if (*s == '\0' || strlen(s) > 255) {
        return 0;
    }
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '-' || *s == '_')) {
            return 0;
        }
    }
    return 1;
}

/* Kubernetes namespace: a DNS-1123 label. */
static int valid_namespace(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-') {
        return 0;
    }
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-')) {
            return 0;
        }
    }
    return 1;
}

static int check_node(struct ctx *c)
{
    struct sc_config *cfg = c->cfg;
    const struct sc_yaml_node *node = sc_yaml_get(c->root, "node");
    const struct sc_yaml_node *v;

    if (!valid_trust_domain(cfg->node.trust_domain)) {
        v = sc_yaml_get(node, "trust_domain");
        return fail_pos(c, v->file, v->line, v->col, "node.trust_domain",
                        "\"%.80s\" is not a valid trust domain (lowercase letters, digits, "
                        "'.', '-' and '_')",
                        cfg->node.trust_domain);
    }
    if (!valid_namespace(cfg->node.namespace_)) {
        v = sc_yaml_get(node, "namespace");
        return fail_pos(c, v->file, v->line, v->col, "node.namespace",
                        "\"%.80s\" is not a valid namespace name (a DNS label)",
                        cfg->node.namespace_);
    }
    if (!valid_namespace(cfg->node.root_namespace)) {
        v = sc_yaml_get(node, "root_namespace");
        return fail_pos(c, v->file, v->line, v->col, "node.root_namespace",
                        "\"%.80s\" is not a valid namespace name (a DNS label)",
                        cfg->node.root_namespace);
    }
    return 0;
}

static int set_default_str(struct ctx *c, char **s, const char *dflt)
{
    if (*s == NULL) {
        *s = strdup(dflt);
        if (*s == NULL) {
            return oom(c, c->root);
        }
    }
    return 0;
}

static int build(struct ctx *c, const struct sc_yaml_stream *s)
{
    struct sc_config *cfg = c->cfg;
    const struct sc_yaml_node *lst;
    unsigned seen = 0;
    long cores;

    for (size_t i = 0; i < s->n_docs; i++) {
        if (sc_policy_is_resource(s->docs[i])) {
            continue;
        }
        if (c->root != NULL) {
            return fail_pos(c, s->docs[i]->file, s->docs[i]->line, s->docs[i]->col, NULL,
                            "a second sidecar configuration document (the first starts at "
                            "line %d); other documents must be Istio resources with "
                            "apiVersion and kind",
                            c->root->line);
        }
        c->root = s->docs[i];
    }
    if (c->root == NULL) {
        return fail_pos(c, s->file, 0, 0, NULL,
                        s->n_docs == 0 ? "the configuration is empty"
                                       : "no sidecar configuration document (only Istio "
                                         "resources)");
    }
    if (c->root->kind != SC_YAML_MAP) {
        return fail_pos(c, c->root->file, c->root->line, c->root->col, NULL,
                        "the configuration must be a mapping, got %s",
                        sc_yaml_kind_name(c->root));
    }

    cfg->timeouts.connect_ms = 10000;
    cfg->timeouts.handshake_ms = 10000;
    cfg->timeouts.idle_ms = 3600000;
    cfg->timeouts.sniff_ms = 5000;
    cfg->buffer_limit = 1024 * 1024;
    cfg->outbound.def.protocol = SC_PROTO_TCP;
    if (apply(c, c->root, top_keys, NKEYS(top_keys), cfg, &seen) != 0) {
        return -1;
    }
    if (set_default_str(c, &cfg->node.id, "sidecar") != 0 ||
        set_default_str(c, &cfg->node.trust_domain, "cluster.local") != 0 ||
        set_default_str(c, &cfg->node.namespace_, "default") != 0 ||
        set_default_str(c, &cfg->node.root_namespace, "istio-system") != 0 ||
        set_default_str(c, &cfg->log_level, "info") != 0 ||
        (cfg->has_inbound && set_default_str(c, &cfg->inbound.app_host, "127.0.0.1") != 0)) {
        return -1;
    }
    if (cfg->workers == 0) {
        cores = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->workers = cores < 1 ? 1 : (cores > 1024 ? 1024 : (int)cores);
    }
    if (check_node(c) != 0) {
        return -1;
    }
    lst = sc_yaml_get(c->root, "listeners");
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        unsigned lseen = 0;

        for (size_t k = 0; k < NKEYS(listener_keys); k++) {
            const struct sc_yaml_node *v = sc_yaml_get(lst->items[i], listener_keys[k].name);

            if (!sc_yaml_is_null(v)) {
                lseen |= 1u << k;
            }
        }
        snprintf(c->path, sizeof(c->path), "listeners[%zu]", i);
        if (check_listener(c, lst->items[i], i, lseen) != 0) {
            return -1;
        }
    }
    c->path[0] = '\0';
    if (check_addresses(c) != 0 || check_secrets(c) != 0) {
        return -1;
    }

    /* Istio resources, then what they decide. */
    cfg->policy = sc_policy_new();
    if (cfg->policy == NULL) {
        return oom(c, c->root);
    }
    for (size_t i = 0; i < s->n_docs; i++) {
        if (sc_policy_is_resource(s->docs[i]) &&
            sc_policy_add(cfg->policy, s->docs[i], c->err) != 0) {
            return -1;
        }
    }
    c->w.namespace_ = cfg->node.namespace_;
    c->w.root_namespace = cfg->node.root_namespace;
    c->w.labels = cfg->node.labels;
    c->w.n_labels = cfg->node.n_labels;
    sc_policy_bind(cfg->policy, &c->w);
    return resolve_outbound(c);
}

/* ---- public API ------------------------------------------------------- */

static int load_stream(const char *name, struct sc_yaml_stream *s, struct sc_config **out,
                       struct sc_err *err)
{
    struct ctx c;
    struct sc_config *cfg = NULL;

    *out = NULL;
    if (s == NULL) {
        return -1;
    }
    memset(&c, 0, sizeof(c));
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        sc_err_at(err, name, 0, 0, "out of memory");
        goto fail;
    }
    cfg->path = strdup(name);
    if (cfg->path == NULL) {
        sc_err_at(err, name, 0, 0, "out of memory");
        goto fail;
    }
    c.err = err;
    c.cfg = cfg;
    if (build(&c, s) != 0) {
        goto fail;
    }
    sc_yaml_free(s);
    *out = cfg;
    return 0;

fail:
    sc_config_free(cfg);
    sc_yaml_free(s);
    return -1;
}

int sc_config_load(const char *path, struct sc_config **out, struct sc_err *err)
{
    return load_stream(path, sc_yaml_parse_file(path, err), out, err);
}

int sc_config_load_mem(const char *name, const char *buf, size_t len, struct sc_config **out,
                       struct sc_err *err)
{
    if (name == NULL) {
        name = "<string>";
    }
    return load_stream(name, sc_yaml_parse(name, buf, len, err), out, err);
}

int sc_config_load_string(const char *name, const char *yaml, struct sc_config **out,
                          struct sc_err *err)
{
    return sc_config_load_mem(name, yaml, strlen(yaml), out, err);
}

static void strv_free(struct sc_strv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->v[i]);
    }
    free(v->v);
}

static void tls_files_free(struct sc_cfg_tls_files *f)
{
    free(f->ca_certificates);
    free(f->client_certificate);
    free(f->private_key);
    free(f->sni);
}

void sc_config_free(struct sc_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    free(cfg->path);
    free(cfg->node.id);
    free(cfg->node.trust_domain);
    free(cfg->node.namespace_);
    free(cfg->node.root_namespace);
    for (size_t i = 0; i < cfg->node.n_labels; i++) {
        free(cfg->node.labels[i].key);
        free(cfg->node.labels[i].value);
    }
    free(cfg->node.labels);
    free(cfg->log_level);
    free(cfg->secrets.sds_socket);
    free(cfg->secrets.cert_chain);
    free(cfg->secrets.private_key);
    free(cfg->secrets.trusted_ca);
    free(cfg->inbound.app_host);
    for (size_t i = 0; i < cfg->inbound.n_ports; i++) {
        strv_free(&cfg->inbound.ports[i].allowed_principals);
    }
    free(cfg->inbound.ports);
    for (size_t i = 0; i < cfg->outbound.n_routes; i++) {
        struct sc_cfg_route *r = &cfg->outbound.routes[i];

        free(r->host);
        tls_files_free(&r->tls_files);
        strv_free(&r->expected_identities);
    }
    free(cfg->outbound.routes);
    tls_files_free(&cfg->outbound.def.tls_files);
    strv_free(&cfg->outbound.def.expected_identities);
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        struct sc_cfg_listener *l = &cfg->listeners[i];

        free(l->name);
        free(l->host);
        tls_files_free(&l->tls_files);
        strv_free(&l->expected_identities);
        strv_free(&l->allowed_principals);
    }
    free(cfg->listeners);
    sc_policy_free(cfg->policy);
    free(cfg);
}

enum sc_mtls_mode sc_config_port_mode(const struct sc_config *cfg, int port)
{
    return sc_policy_port_mode(cfg->policy, port);
}

const struct sc_cfg_inport *sc_config_inport(const struct sc_config *cfg, int port)
{
    for (size_t i = 0; i < cfg->inbound.n_ports; i++) {
        if (cfg->inbound.ports[i].port == port) {
            return &cfg->inbound.ports[i];
        }
    }
    return NULL;
}

const struct sc_cfg_route *sc_config_route(const struct sc_config *cfg,
                                           const struct sc_addr *dst)
{
    int port = sc_addr_port(dst);

    for (size_t i = 0; i < cfg->outbound.n_routes; i++) {
        const struct sc_cfg_route *r = &cfg->outbound.routes[i];

        if (r->has_cidr && sc_cidr_contains(&r->cidr, dst) && (r->port == 0 || r->port == port)) {
            return r;
        }
    }
    return &cfg->outbound.def;
}

const char *sc_mtls_mode_name(enum sc_mtls_mode m)
{
    switch (m) {
    case SC_MTLS_UNSET:
        return "UNSET";
    case SC_MTLS_DISABLE:
        return "DISABLE";
    case SC_MTLS_PERMISSIVE:
        return "PERMISSIVE";
    case SC_MTLS_STRICT:
        return "STRICT";
    }
    return "?";
}

const char *sc_tls_mode_name(enum sc_tls_mode m)
{
    switch (m) {
    case SC_TLS_UNSET:
        return "UNSET";
    case SC_TLS_DISABLE:
        return "DISABLE";
    case SC_TLS_ISTIO_MUTUAL:
        return "ISTIO_MUTUAL";
    case SC_TLS_SIMPLE:
        return "SIMPLE";
    case SC_TLS_MUTUAL:
        return "MUTUAL";
    }
    return "?";
}

const char *sc_proto_name(enum sc_proto p)
{
    switch (p) {
    case SC_PROTO_TCP:
        return "tcp";
    case SC_PROTO_HTTP:
        return "http";
    case SC_PROTO_AUTO:
        return "auto";
    }
    return "?";
}
