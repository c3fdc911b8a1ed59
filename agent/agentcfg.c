#include "agentcfg.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "spiffe.h"
#include "yamlcfg.h"

/* sds-agent config: the sidecar's pattern (STYLE.md, "Config validation")
 * on a smaller scale: a key table per section, a converter per type, unknown
 * keys refused, cross-field checks last; errors positioned and named by key
 * path. */

struct actx {
    struct sc_err *err;
    struct sc_agent_config *cfg;
    char path[128];
};

typedef int conv_fn(struct actx *c, const struct sc_yaml_node *n, void *field);

struct akey {
    const char *name;
    conv_fn *conv;
    size_t off;
};

#define AKEY(n, fn, f)                             \
    {                                              \
        n, fn, offsetof(struct sc_agent_config, f) \
    }

static int fail(struct actx *c, const struct sc_yaml_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct actx *c, const struct sc_yaml_node *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->path[0] != '\0') {
        sc_err_at(c->err, n->file, n->line, n->col, "%s: %s", c->path, msg);
    } else {
        sc_err_at(c->err, n->file, n->line, n->col, "%s", msg);
    }
    return -1;
}

static size_t push_key(struct actx *c, const char *key)
{
    size_t saved = strlen(c->path);

    snprintf(c->path + saved, sizeof(c->path) - saved, "%s%s", saved > 0 ? "." : "", key);
    return saved;
}

static int want_scalar(struct actx *c, const struct sc_yaml_node *n, const char *what)
{
    if (n->kind != SC_YAML_SCALAR || sc_yaml_is_null(n)) {
        return fail(c, n, "expected %s, got %s", what, sc_yaml_kind_name(n));
    }
    return 0;
}

/* ---- converters --------------------------------------------------------- */

static int conv_str(struct actx *c, const struct sc_yaml_node *n, void *field)
{
    char **out = field;

    if (want_scalar(c, n, "a string") != 0) {
        return -1;
    }
    free(*out);
    *out = strdup(n->str);
    if (*out == NULL) {
        return fail(c, n, "out of memory");
    }
    return 0;
}

static int parse_u64(const char *s, int base, unsigned long long max, unsigned long long *out)
{
    unsigned long long v = 0;

    if (*s == '\0') {
        return -1;
    }
    for (; *s != '\0'; s++) {
        int d = *s - '0';

        if (d < 0 || d >= base || v > (max - (unsigned)d) / (unsigned)base) {
            return -1;
        }
        v = v * (unsigned)base + (unsigned)d;
    }
    *out = v;
    return 0;
}

static int conv_mode(struct actx *c, const struct sc_yaml_node *n, void *field)
{
    unsigned *out = field;
    unsigned long long v;
    const char *s = n->str;

    if (want_scalar(c, n, "an octal file mode such as 0600") != 0) {
        return -1;
    }
    if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        s += 2;
    }
    if (parse_u64(s, 8, 0777, &v) != 0) {
        return fail(c, n, "\"%.40s\" is not an octal file mode in 0000..0777", n->str);
    }
    *out = (unsigned)v;
    return 0;
}

static int conv_uids(struct actx *c, const struct sc_yaml_node *n, void *field)
{
    struct sc_agent_config *cfg = c->cfg;
    size_t i;

    (void)field;
    if (n->kind != SC_YAML_SEQ) {
        return fail(c, n, "expected a list of uids, got %s", sc_yaml_kind_name(n));
    }
    if (n->n == 0) {
        return fail(c, n, "the list is empty (nobody could connect)");
    }
    if (n->n > SC_AGENT_MAX_UIDS) {
        return fail(c, n, "more than %d uids", SC_AGENT_MAX_UIDS);
    }
    for (i = 0; i < n->n; i++) {
        const struct sc_yaml_node *it = n->items[i];
        unsigned long long v;
        size_t saved = strlen(c->path);

        snprintf(c->path + saved, sizeof(c->path) - saved, "[%zu]", i);
        if (it->kind != SC_YAML_SCALAR || it->quoted ||
            parse_u64(it->str, 10, 4294967294ull, &v) != 0) {
            return fail(c, it, "expected a uid (0..4294967294), got %s",
                        it->kind == SC_YAML_SCALAR ? it->str : sc_yaml_kind_name(it));
        }
        c->path[saved] = '\0';
        cfg->allowed_uids[i] = (uid_t)v;
    }
    cfg->n_allowed_uids = n->n;
    return 0;
}

static int conv_td(struct actx *c, const struct sc_yaml_node *n, void *field)
{
    char id[300];
    struct sc_spiffe_id sid;

    if (want_scalar(c, n, "a trust domain") != 0) {
        return -1;
    }
    snprintf(id, sizeof(id), "spiffe://%s", n->str);
    if (strlen(n->str) > SC_SPIFFE_TD_MAX || sc_spiffe_parse(id, strlen(id), &sid) != 0 ||
        sid.path[0] != '\0') {
        return fail(c, n,
                    "\"%.80s\" is not a valid trust domain (lowercase letters, digits, "
                    "'.', '-', '_')",
                    n->str);
    }
    return conv_str(c, n, field);
}

static int conv_level(struct actx *c, const struct sc_yaml_node *n, void *field)
{
    int *out = field;
    enum sc_log_level lvl;

    if (want_scalar(c, n, "a log level") != 0) {
        return -1;
    }
    if (sc_log_parse_level(n->str, &lvl) != 0) {
        return fail(c, n, "unknown log level \"%.40s\" (expected debug, info, warn or error)",
                    n->str);
    }
    *out = (int)lvl;
    return 0;
}

static int conv_source(struct actx *c, const struct sc_yaml_node *n, void *field)
{
    enum sc_agent_source *out = field;

    if (want_scalar(c, n, "a source") != 0) {
        return -1;
    }
    if (strcmp(n->str, "files") == 0) {
        *out = SC_AGENT_SOURCE_FILES;
    } else if (strcmp(n->str, "ca") == 0) {
        *out = SC_AGENT_SOURCE_CA;
    } else {
        return fail(c, n, "unknown source \"%.40s\" (expected files or ca)", n->str);
    }
    return 0;
}

static int conv_duration(struct actx *c, const struct sc_yaml_node *n, void *field)
{
    int64_t *out = field;

    if (want_scalar(c, n, "a duration such as 90s, 10m or 24h") != 0) {
        return -1;
    }
    if (sc_agent_parse_duration(n->str, out) != 0) {
        return fail(c, n,
                    "\"%.40s\" is not a duration (a number with a unit: ms, s, m, h, d; "
                    "e.g. 90s, 10m, 1h30m)",
                    n->str);
    }
    return 0;
}

static int conv_fraction(struct actx *c, const struct sc_yaml_node *n, void *field)
{
    double *out = field;
    char *end = NULL;
    double v;

    if (want_scalar(c, n, "a number between 0 and 1") != 0) {
        return -1;
    }
    v = strtod(n->str, &end);
    if (end == n->str || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
        return fail(c, n, "\"%.40s\" is not a number between 0 and 1", n->str);
    }
    *out = v;
    return 0;
}

static int conv_addr(struct actx *c, const struct sc_yaml_node *n, void *field)
{
    struct sc_addr *out = field;
    const char *why = NULL;

    if (want_scalar(c, n, "an address such as \"127.0.0.1:15010\"") != 0) {
        return -1;
    }
    if (sc_addr_parse(n->str, out, &why) != 0) {
        return fail(c, n,
                    "\"%.80s\": %s (expected a numeric address and port, such as "
                    "127.0.0.1:15010 or [::1]:15010)",
                    n->str, why != NULL ? why : "invalid address");
    }
    c->cfg->admin.enabled = 1;
    return 0;
}

/* ---- sections ----------------------------------------------------------- */

static int apply(struct actx *c, const struct sc_yaml_node *map, const struct akey *keys,
                 size_t nkeys, const char *section);

static const struct akey files_keys[] = {
    AKEY("dir", conv_str, files.dir),
};

static const struct akey ca_keys[] = {
    AKEY("dir", conv_str, ca.dir),
    AKEY("namespace", conv_str, ca.namespace_),
    AKEY("service_account", conv_str, ca.service_account),
    AKEY("lifetime", conv_duration, ca.lifetime_ms),
    AKEY("renew_at", conv_fraction, ca.renew_at),
    AKEY("jitter", conv_fraction, ca.jitter),
    AKEY("root_overlap", conv_duration, ca.root_overlap_ms),
    AKEY("trust_wait", conv_duration, ca.trust_wait_ms),
};

static const struct akey admin_keys[] = {
    AKEY("address", conv_addr, admin.addr),
};

static int conv_admin(struct actx *c, const struct sc_yaml_node *n, void *field)
{
    (void)field;
    if (apply(c, n, admin_keys, sizeof(admin_keys) / sizeof(admin_keys[0]), "admin") != 0) {
        return -1;
    }
    if (!c->cfg->admin.enabled) {
        return fail(c, n,
                    "address: required (such as \"127.0.0.1:15010\"; leave admin out "
                    "for no admin listener)");
    }
    return 0;
}

static int conv_files(struct actx *c, const struct sc_yaml_node *n, void *field)
{
    (void)field;
    return apply(c, n, files_keys, sizeof(files_keys) / sizeof(files_keys[0]), "files");
}

static int conv_ca(struct actx *c, const struct sc_yaml_node *n, void *field)
{
    (void)field;
    return apply(c, n, ca_keys, sizeof(ca_keys) / sizeof(ca_keys[0]), "ca");
}

static const struct akey top_keys[] = {
    AKEY("socket", conv_str, socket),
    AKEY("socket_mode", conv_mode, socket_mode),
    AKEY("allowed_uids", conv_uids, allowed_uids),
    AKEY("trust_domain", conv_td, trust_domain),
    AKEY("log_level", conv_level, log_level),
    AKEY("source", conv_source, source),
    AKEY("files", conv_files, files),
    AKEY("ca", conv_ca, ca),
    AKEY("admin", conv_admin, admin),
};

static int apply(struct actx *c, const struct sc_yaml_node *map, const struct akey *keys,
                 size_t nkeys, const char *section)
{
    size_t i, k;

    if (map->kind != SC_YAML_MAP) {
        return fail(c, map, "expected a mapping, got %s", sc_yaml_kind_name(map));
    }
    for (i = 0; i < map->n; i++) {
        const struct sc_yaml_node *key = map->keys[i];
        size_t saved;
        int rc;

        for (k = 0; k < nkeys; k++) {
            if (strcmp(key->str, keys[k].name) == 0) {
                break;
            }
        }
        if (k == nkeys) {
            char known[300];
            size_t o = 0;

            known[0] = '\0';
            for (k = 0; k < nkeys && o < sizeof(known); k++) {
                o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s", k ? ", " : "",
                                      keys[k].name);
            }
            saved = push_key(c, key->str);
            rc = fail(c, key, "unknown key%s%s (expected one of: %s)", section ? " in " : "",
                      section ? section : "", known);
            c->path[saved] = '\0';
            return rc;
        }
        saved = push_key(c, key->str);
        if (sc_yaml_is_null(map->items[i]) && keys[k].conv != conv_files &&
            keys[k].conv != conv_ca) {
            rc = fail(c, map->items[i], "needs a value");
        } else {
            rc = keys[k].conv(c, map->items[i], (char *)c->cfg + keys[k].off);
        }
        c->path[saved] = '\0';
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- durations ---------------------------------------------------------- */

int sc_agent_parse_duration(const char *s, int64_t *out_ms)
{
    int64_t total = 0;

    if (s == NULL || *s == '\0') {
        return -1;
    }
    while (*s != '\0') {
        int64_t v = 0, unit;
        int digits = 0;

        while (*s >= '0' && *s <= '9') {
            if (v > INT64_MAX / 10 - 10) {
                return -1;
            }
            v = v * 10 + (*s - '0');
            s++;
            digits++;
        }
        if (digits == 0) {
            return -1;
        }
        if (strncmp(s, "ms", 2) == 0) {
            unit = 1;
            s += 2;
        } else if (*s == 's') {
            unit = 1000;
            s++;
        } else if (*s == 'm') {
            unit = 60 * 1000;
            s++;
        } else if (*s == 'h') {
            unit = 3600 * 1000;
            s++;
        } else if (*s == 'd') {
            unit = 86400 * 1000;
            s++;
        } else {
            return -1;
        }
        if (v > (INT64_MAX / 4 - total) / unit) {
            return -1;
        }
        total += v * unit;
    }
    *out_ms = total;
    return 0;
}

/* ---- loading ------------------------------------------------------------ */

static const struct sc_yaml_node *key_node(const struct sc_yaml_node *root, const char *a,
                                           const char *b)
{
    const struct sc_yaml_node *n = sc_yaml_get(root, a);

    if (b != NULL && n != NULL && sc_yaml_get_key(n, b) != NULL) {
        return sc_yaml_get(n, b);
    }
    return n != NULL ? n : root;
}

/* Cross-field checks and defaults. */
static int finish(struct actx *c, const struct sc_yaml_node *root)
{
    struct sc_agent_config *cfg = c->cfg;
    struct sc_spiffe_id sid;
    char id[600];

    c->path[0] = '\0';
    if (cfg->socket == NULL) {
        return fail(c, root, "socket: required (the Unix socket path to serve SDS on)");
    }
    if (cfg->socket[0] != '/' || strlen(cfg->socket) >= 108) {
        snprintf(c->path, sizeof(c->path), "socket");
        return fail(c, key_node(root, "socket", NULL),
                    "\"%.80s\" must be an absolute path shorter than 108 bytes", cfg->socket);
    }
    if (cfg->n_allowed_uids == 0) {
        cfg->allowed_uids[0] = getuid();
        cfg->n_allowed_uids = 1;
        if (getuid() != 0) {
            cfg->allowed_uids[1] = 0;
            cfg->n_allowed_uids = 2;
        }
    }
    if (cfg->trust_domain == NULL && (cfg->trust_domain = strdup("cluster.local")) == NULL) {
        return fail(c, root, "out of memory");
    }
    if (cfg->source == SC_AGENT_SOURCE_FILES) {
        if (sc_yaml_get(root, "ca") != NULL) {
            snprintf(c->path, sizeof(c->path), "ca");
            return fail(c, sc_yaml_get_key(root, "ca"), "only used with source: ca");
        }
        if (cfg->files.dir == NULL) {
            snprintf(c->path, sizeof(c->path), "files.dir");
            return fail(c, key_node(root, "files", NULL),
                        "required with source: files (the directory holding the certificates)");
        }
        return 0;
    }
    /* source: ca */
    if (sc_yaml_get(root, "files") != NULL) {
        snprintf(c->path, sizeof(c->path), "files");
        return fail(c, sc_yaml_get_key(root, "files"), "only used with source: files");
    }
    if (cfg->ca.dir == NULL || cfg->ca.namespace_ == NULL || cfg->ca.service_account == NULL) {
        snprintf(c->path, sizeof(c->path), "ca.%s",
                 cfg->ca.dir == NULL          ? "dir"
                 : cfg->ca.namespace_ == NULL ? "namespace"
                                              : "service_account");
        return fail(c, key_node(root, "ca", NULL), "required with source: ca");
    }
    snprintf(id, sizeof(id), "spiffe://%s/ns/%s/sa/%s", cfg->trust_domain, cfg->ca.namespace_,
             cfg->ca.service_account);
    if (strlen(cfg->ca.namespace_) > 253 || strlen(cfg->ca.service_account) > 253 ||
        strchr(cfg->ca.namespace_, '/') != NULL || strchr(cfg->ca.service_account, '/') != NULL ||
        sc_spiffe_parse(id, strlen(id), &sid) != 0) {
        snprintf(c->path, sizeof(c->path), "ca");
        return fail(c, key_node(root, "ca", "namespace"),
                    "namespace and service_account must make a valid SPIFFE ID (%.300s)", id);
    }
    cfg->ca.spiffe_id = strdup(id);
    if (cfg->ca.spiffe_id == NULL) {
        return fail(c, root, "out of memory");
    }
    if (cfg->ca.lifetime_ms < 2000 || cfg->ca.lifetime_ms > 3650LL * 86400 * 1000) {
        snprintf(c->path, sizeof(c->path), "ca.lifetime");
        return fail(c, key_node(root, "ca", "lifetime"), "must be between 2s and 3650d");
    }
    if (cfg->ca.renew_at <= 0.0 || cfg->ca.renew_at >= 1.0) {
        snprintf(c->path, sizeof(c->path), "ca.renew_at");
        return fail(c, key_node(root, "ca", "renew_at"),
                    "must be above 0 and below 1 (a fraction of the lifetime)");
    }
    if (cfg->ca.jitter > 0.5 || cfg->ca.renew_at - cfg->ca.jitter <= 0.0 ||
        cfg->ca.renew_at + cfg->ca.jitter >= 1.0) {
        snprintf(c->path, sizeof(c->path), "ca.jitter");
        return fail(c, key_node(root, "ca", "jitter"),
                    "renew_at +- jitter must stay inside (0, 1): %.3g +- %.3g", cfg->ca.renew_at,
                    cfg->ca.jitter);
    }
    if (cfg->ca.root_overlap_ms < 0) {
        cfg->ca.root_overlap_ms = cfg->ca.lifetime_ms;
    }
    return 0;
}

static void defaults(struct sc_agent_config *cfg)
{
    cfg->socket_mode = 0600;
    cfg->log_level = SC_LOG_INFO;
    cfg->source = SC_AGENT_SOURCE_FILES;
    cfg->ca.lifetime_ms = 24LL * 3600 * 1000;
    cfg->ca.renew_at = 0.5;
    cfg->ca.jitter = 0.05;
    cfg->ca.root_overlap_ms = -1; /* = lifetime */
    cfg->ca.trust_wait_ms = 30 * 1000;
}

static int load(struct sc_yaml_stream *ys, struct sc_agent_config **out, struct sc_err *err)
{
    struct sc_agent_config *cfg = NULL;
    struct actx c;
    const struct sc_yaml_node *root;

    *out = NULL;
    if (ys->n_docs != 1) {
        sc_err_at(err, ys->file, ys->n_docs > 1 ? ys->docs[1]->line : 1, 1,
                  "expected exactly one YAML document, got %zu", ys->n_docs);
        return -1;
    }
    root = ys->docs[0];
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        sc_err_set(err, "out of memory");
        return -1;
    }
    defaults(cfg);
    cfg->file = strdup(ys->file);
    memset(&c, 0, sizeof(c));
    c.err = err;
    c.cfg = cfg;
    if (cfg->file == NULL ||
        apply(&c, root, top_keys, sizeof(top_keys) / sizeof(top_keys[0]), NULL) != 0 ||
        finish(&c, root) != 0) {
        if (cfg->file == NULL) {
            sc_err_set(err, "out of memory");
        }
        sc_agent_config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

int sc_agent_config_load(const char *path, struct sc_agent_config **out, struct sc_err *err)
{
    struct sc_yaml_stream *ys = sc_yaml_parse_file(path, err);
    int rc;

    *out = NULL;
    if (ys == NULL) {
        return -1;
    }
    rc = load(ys, out, err);
    sc_yaml_free(ys);
    return rc;
}

int sc_agent_config_load_string(const char *name, const char *yaml, struct sc_agent_config **out,
                                struct sc_err *err)
{
    struct sc_yaml_stream *ys = sc_yaml_parse(name, yaml, strlen(yaml), err);
    int rc;

    *out = NULL;
    if (ys == NULL) {
        return -1;
    }
    rc = load(ys, out, err);
    sc_yaml_free(ys);
    return rc;
}

void sc_agent_config_free(struct sc_agent_config *c)
{
    if (c == NULL) {
        return;
    }
    free(c->file);
    free(c->socket);
    free(c->trust_domain);
    free(c->files.dir);
    free(c->ca.dir);
    free(c->ca.namespace_);
    free(c->ca.service_account);
    free(c->ca.spiffe_id);
    free(c);
}
