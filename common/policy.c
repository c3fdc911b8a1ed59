#include "policy.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLUSTER_SUFFIX ".svc.cluster.local"
#define HOST_MAX 512

struct pos_str {                     /* an owned string and its position */
    char *s;
    int line;
    int col;
};

struct tls_set {
    int present;
    enum sc_tls_mode mode;
    struct pos_str ca, cert, key, sni;
    struct sc_strv sans;
    int line;
    int col;
};

struct meta {
    char *kind_name;                 /* "PeerAuthentication ns/name" for messages */
    char *ns;                        /* NULL: the workload's namespace */
    char *name;
    int has_ts;
    long long ts_sec;
    long ts_nsec;
    size_t order;                    /* file order */
    char *file;
    int has_selector;                /* a non-empty matchLabels */
    struct sc_label *match;
    size_t n_match;
};

struct port_mode {
    int port;
    enum sc_mtls_mode mode;
};

struct peer_auth {
    struct meta m;
    enum sc_mtls_mode mode;
    struct port_mode *ports;
    size_t n_ports;
};

struct port_tls {
    int port;
    struct tls_set tls;
};

struct dest_rule {
    struct meta m;
    char *host;
    struct tls_set tls;
    struct port_tls *pls;
    size_t n_pls;
};

struct sc_policy {
    struct peer_auth *pa;
    size_t n_pa;
    struct dest_rule *dr;
    size_t n_dr;
    size_t n_docs;

    int bound;
    const struct peer_auth *level[3]; /* workload, namespace, mesh */
    char *node_ns;                    /* for messages about policies without a namespace */
};

enum { LVL_WORKLOAD = 0, LVL_NAMESPACE, LVL_MESH };
static const char *const level_names[] = {"workload", "namespace", "mesh"};

/* ---- small helpers ---------------------------------------------------- */

static void perr(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void perr(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                 const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sc_err_at(err, n->file, n->line, n->col, "%s: %s", what, msg);
}

static int oom(struct sc_err *err, const struct sc_yaml_node *n)
{
    sc_err_at(err, n->file, n->line, n->col, "out of memory");
    return -1;
}

/* A non-null scalar, copied.  Numbers and booleans are taken as written. */
static int get_str(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                   const char *key, char **out)
{
    char *s;

    if (n->kind != SC_YAML_SCALAR || sc_yaml_is_null(n)) {
        perr(err, n, what, "%s: expected a string, got %s", key, sc_yaml_kind_name(n));
        return -1;
    }
    s = strdup(n->str);
    if (s == NULL) {
        return oom(err, n);
    }
    free(*out);
    *out = s;
    return 0;
}

static int get_pos_str(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                       const char *key, struct pos_str *out)
{
    if (get_str(err, n, what, key, &out->s) != 0) {
        return -1;
    }
    out->line = n->line;
    out->col = n->col;
    return 0;
}

/* n must be a mapping (or null, meaning empty). */
static int want_map(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                    const char *key)
{
    if (n != NULL && n->kind != SC_YAML_MAP && !sc_yaml_is_null(n)) {
        perr(err, n, what, "%s: expected a mapping, got %s", key, sc_yaml_kind_name(n));
        return -1;
    }
    return 0;
}

/* Checks every key of map against known; ignored keys are accepted silently
 * (Istio fields this sidecar has no use for). */
static int check_keys(struct sc_err *err, const struct sc_yaml_node *map, const char *what,
                      const char *path, const char *const *known, const char *const *ignored)
{
    if (map == NULL || map->kind != SC_YAML_MAP) {
        return 0;
    }
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->keys[i]->str;
        int ok = 0;

        for (size_t j = 0; known[j] != NULL && !ok; j++) {
            ok = strcmp(k, known[j]) == 0;
        }
        for (size_t j = 0; ignored != NULL && ignored[j] != NULL && !ok; j++) {
            ok = strcmp(k, ignored[j]) == 0;
        }
        if (!ok) {
            perr(err, map->keys[i], what, "%s: unknown key \"%.100s\"", path, k);
            return -1;
        }
    }
    return 0;
}

static void strv_free(struct sc_strv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->v[i]);
    }
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

static void labels_free(struct sc_label *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(l[i].key);
        free(l[i].value);
    }
    free(l);
}

static int parse_uint(const struct sc_yaml_node *n, long max, long *out)
{
    long v = 0;

    if (n->kind != SC_YAML_SCALAR || n->len == 0 || n->len > 10) {
        return -1;
    }
    for (size_t i = 0; i < n->len; i++) {
        if (n->str[i] < '0' || n->str[i] > '9') {
            return -1;
        }
        v = v * 10 + (n->str[i] - '0');
    }
    if (v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

int sc_policy_parse_mtls_mode(const char *s, enum sc_mtls_mode *out)
{
    static const char *const names[] = {"UNSET", "DISABLE", "PERMISSIVE", "STRICT"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum sc_mtls_mode)i;
            return 0;
        }
    }
    return -1;
}

int sc_policy_parse_tls_mode(const char *s, enum sc_tls_mode *out)
{
    static const struct {
        const char *name;
        enum sc_tls_mode mode;
    } names[] = {
        {"DISABLE", SC_TLS_DISABLE},
        {"SIMPLE", SC_TLS_SIMPLE},
        {"MUTUAL", SC_TLS_MUTUAL},
        {"ISTIO_MUTUAL", SC_TLS_ISTIO_MUTUAL},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].mode;
            return 0;
        }
    }
    return -1;
}

/* ---- RFC 3339 --------------------------------------------------------- */

static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9') {
            return -1;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* "2006-01-02T15:04:05Z", with optional fraction and numeric offset. */
static int parse_rfc3339(const char *s, long long *sec, long *nsec)
{
    struct tm tm;
    int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
    long frac = 0;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
        digits(&s, 2, &d) || (*s != 'T' && *s != 't' && *s != ' ')) {
        return -1;
    }
    s++;
    if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) || *s++ != ':' ||
        digits(&s, 2, &se)) {
        return -1;
    }
    if (*s == '.') {
        int nd = 0;

        s++;
        while (*s >= '0' && *s <= '9') {
            if (nd < 9) {
                frac = frac * 10 + (*s - '0');
            }
            nd++;
            s++;
        }
        if (nd == 0) {
            return -1;
        }
        for (int i = nd; i < 9; i++) {
            frac *= 10;
        }
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s == '+' ? 1 : -1;
        s++;
        if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) || oh > 23 || om > 59) {
            return -1;
        }
    } else {
        return -1;
    }
    if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    t = timegm(&tm);
    *sec = (long long)t - (long long)sign * (oh * 3600 + om * 60);
    *nsec = frac;
    return 0;
}

/* ---- documents -------------------------------------------------------- */

static void meta_cleanup(struct meta *m)
{
    free(m->kind_name);
    free(m->ns);
    free(m->name);
    free(m->file);
    labels_free(m->match, m->n_match);
}

static void tls_cleanup(struct tls_set *t)
{
    free(t->ca.s);
    free(t->cert.s);
    free(t->key.s);
    free(t->sni.s);
    strv_free(&t->sans);
}

static void pa_cleanup(struct peer_auth *pa)
{
    meta_cleanup(&pa->m);
    free(pa->ports);
}

static void dr_cleanup(struct dest_rule *dr)
{
    meta_cleanup(&dr->m);
    free(dr->host);
    tls_cleanup(&dr->tls);
    for (size_t i = 0; i < dr->n_pls; i++) {
        tls_cleanup(&dr->pls[i].tls);
    }
    free(dr->pls);
}

struct sc_policy *sc_policy_new(void)
{
    return calloc(1, sizeof(struct sc_policy));
}

void sc_policy_free(struct sc_policy *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->n_pa; i++) {
        pa_cleanup(&p->pa[i]);
    }
    for (size_t i = 0; i < p->n_dr; i++) {
        dr_cleanup(&p->dr[i]);
    }
    free(p->pa);
    free(p->dr);
    free(p->node_ns);
    free(p);
}

int sc_policy_is_resource(const struct sc_yaml_node *doc)
{
    return doc != NULL && doc->kind == SC_YAML_MAP &&
           (sc_yaml_get_key(doc, "apiVersion") != NULL || sc_yaml_get_key(doc, "kind") != NULL);
}

/* selector / workloadSelector: {matchLabels: {k: v}} */
static int parse_selector(struct sc_err *err, const struct sc_yaml_node *sel, const char *what,
                          const char *path, struct meta *m)
{
    static const char *const known[] = {"matchLabels", NULL};
    const struct sc_yaml_node *ml;
    char key[96];

    if (sel == NULL || sc_yaml_is_null(sel)) {
        return 0;
    }
    if (want_map(err, sel, what, path) != 0 ||
        check_keys(err, sel, what, path, known, NULL) != 0) {
        return -1;
    }
    ml = sc_yaml_get(sel, "matchLabels");
    snprintf(key, sizeof(key), "%s.matchLabels", path);
    if (want_map(err, ml, what, key) != 0) {
        return -1;
    }
    if (ml == NULL || ml->kind != SC_YAML_MAP || ml->n == 0) {
        return 0;
    }
    m->match = calloc(ml->n, sizeof(*m->match));
    if (m->match == NULL) {
        return oom(err, ml);
    }
    for (size_t i = 0; i < ml->n; i++) {
        m->n_match++;
        m->match[i].key = strdup(ml->keys[i]->str);
        if (m->match[i].key == NULL) {
            return oom(err, ml);
        }
        if (get_str(err, ml->items[i], what, key, &m->match[i].value) != 0) {
            return -1;
        }
    }
    m->has_selector = 1;
    return 0;
}

static int parse_meta(struct sc_err *err, const struct sc_yaml_node *doc, const char *kind,
                      struct meta *m)
{
    const struct sc_yaml_node *md = sc_yaml_get(doc, "metadata");
    const struct sc_yaml_node *n;
    char what[400];

    m->file = strdup(doc->file);
    if (m->file == NULL) {
        return oom(err, doc);
    }
    if (want_map(err, md, kind, "metadata") != 0) {
        return -1;
    }
    n = sc_yaml_get(md, "name");
    if (n != NULL && get_str(err, n, kind, "metadata.name", &m->name) != 0) {
        return -1;
    }
    n = sc_yaml_get(md, "namespace");
    if (n != NULL && !sc_yaml_is_null(n) &&
        get_str(err, n, kind, "metadata.namespace", &m->ns) != 0) {
        return -1;
    }
    snprintf(what, sizeof(what), "%s %.150s%s%.100s", kind, m->ns != NULL ? m->ns : "",
             m->ns != NULL ? "/" : "", m->name != NULL ? m->name : "(unnamed)");
    m->kind_name = strdup(what);
    if (m->kind_name == NULL) {
        return oom(err, doc);
    }
    n = sc_yaml_get(md, "creationTimestamp");
    if (n != NULL && !sc_yaml_is_null(n)) {
        if (n->kind != SC_YAML_SCALAR || parse_rfc3339(n->str, &m->ts_sec, &m->ts_nsec) != 0) {
            perr(err, n, m->kind_name,
                 "metadata.creationTimestamp: expected an RFC 3339 time such as "
                 "2024-01-02T15:04:05Z");
            return -1;
        }
        m->has_ts = 1;
    }
    return 0;
}

static int parse_mtls(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                      const char *path, enum sc_mtls_mode *out)
{
    static const char *const known[] = {"mode", NULL};
    const struct sc_yaml_node *mode;
    char key[96];

    *out = SC_MTLS_UNSET;
    if (n == NULL || sc_yaml_is_null(n)) {
        return 0;
    }
    if (want_map(err, n, what, path) != 0 || check_keys(err, n, what, path, known, NULL) != 0) {
        return -1;
    }
    mode = sc_yaml_get(n, "mode");
    if (sc_yaml_is_null(mode)) {
        return 0;
    }
    snprintf(key, sizeof(key), "%s.mode", path);
    if (mode->kind != SC_YAML_SCALAR || sc_policy_parse_mtls_mode(mode->str, out) != 0) {
        perr(err, mode, what,
             "%s: unknown mode \"%.100s\" (expected UNSET, DISABLE, PERMISSIVE or STRICT)", key,
             mode->kind == SC_YAML_SCALAR ? mode->str : sc_yaml_kind_name(mode));
        return -1;
    }
    return 0;
}

static int parse_peer_auth(struct sc_err *err, const struct sc_yaml_node *doc,
                           struct peer_auth *pa)
{
    static const char *const known[] = {"selector", "mtls", "portLevelMtls", NULL};
    const struct sc_yaml_node *spec = sc_yaml_get(doc, "spec");
    const struct sc_yaml_node *plm;
    const char *what;

    if (parse_meta(err, doc, "PeerAuthentication", &pa->m) != 0) {
        return -1;
    }
    what = pa->m.kind_name;
    if (want_map(err, spec, what, "spec") != 0 ||
        check_keys(err, spec, what, "spec", known, NULL) != 0) {
        return -1;
    }
    if (parse_selector(err, sc_yaml_get(spec, "selector"), what, "spec.selector", &pa->m) != 0) {
        return -1;
    }
    if (parse_mtls(err, sc_yaml_get(spec, "mtls"), what, "spec.mtls", &pa->mode) != 0) {
        return -1;
    }
    plm = sc_yaml_get(spec, "portLevelMtls");
    if (plm == NULL || sc_yaml_is_null(plm)) {
        return 0;
    }
    if (want_map(err, plm, what, "spec.portLevelMtls") != 0) {
        return -1;
    }
    if (plm->n > 0 && !pa->m.has_selector) {
        perr(err, sc_yaml_get_key(spec, "portLevelMtls"), what,
             "spec.portLevelMtls: portLevelMtls requires a workload selector "
             "(a mesh- or namespace-wide PeerAuthentication cannot set port-level mTLS)");
        return -1;
    }
    pa->ports = calloc(plm->n + 1, sizeof(*pa->ports));
    if (pa->ports == NULL) {
        return oom(err, plm);
    }
    for (size_t i = 0; i < plm->n; i++) {
        long port = 0;
        char key[64];

        if (parse_uint(plm->keys[i], 65535, &port) != 0 || port < 1) {
            perr(err, plm->keys[i], what,
                 "spec.portLevelMtls: port \"%.50s\" must be a number in 1..65535",
                 plm->keys[i]->str);
            return -1;
        }
        snprintf(key, sizeof(key), "spec.portLevelMtls[%ld]", port);
        for (size_t j = 0; j < pa->n_ports; j++) {
            if (pa->ports[j].port == (int)port) {
                perr(err, plm->keys[i], what, "%s: port listed twice", key);
                return -1;
            }
        }
        pa->ports[pa->n_ports].port = (int)port;
        if (parse_mtls(err, plm->items[i], what, key, &pa->ports[pa->n_ports].mode) != 0) {
            return -1;
        }
        pa->n_ports++;
    }
    return 0;
}

static int parse_strv(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                      const char *key, struct sc_strv *out)
{
    if (sc_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != SC_YAML_SEQ) {
        perr(err, n, what, "%s: expected a list, got %s", key, sc_yaml_kind_name(n));
        return -1;
    }
    out->v = calloc(n->n + 1, sizeof(*out->v));
    if (out->v == NULL) {
        return oom(err, n);
    }
    for (size_t i = 0; i < n->n; i++) {
        if (get_str(err, n->items[i], what, key, &out->v[i]) != 0) {
            return -1;
        }
        out->n++;
    }
    return 0;
}

static int parse_tls(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                     const char *path, struct tls_set *t)
{
    static const char *const known[] = {
        "mode",           "clientCertificate", "privateKey", "caCertificates", "sni",
        "subjectAltNames", "credentialName",   "insecureSkipVerify", "caCrl", NULL};
    const struct sc_yaml_node *v;
    char key[128];

    if (n == NULL || sc_yaml_is_null(n)) {
        return 0;
    }
    if (want_map(err, n, what, path) != 0 || check_keys(err, n, what, path, known, NULL) != 0) {
        return -1;
    }
    t->present = 1;
    t->mode = SC_TLS_DISABLE;        /* Istio's default for a tls block */
    t->line = n->line;
    t->col = n->col;
    v = sc_yaml_get(n, "mode");
    snprintf(key, sizeof(key), "%s.mode", path);
    if (!sc_yaml_is_null(v) &&
        (v->kind != SC_YAML_SCALAR || sc_policy_parse_tls_mode(v->str, &t->mode) != 0)) {
        perr(err, v, what,
             "%s: unknown mode \"%.100s\" (expected DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)",
             key, v->kind == SC_YAML_SCALAR ? v->str : sc_yaml_kind_name(v));
        return -1;
    }
    static const struct {
        const char *name;
        size_t off;
    } files[] = {
        {"caCertificates", offsetof(struct tls_set, ca)},
        {"clientCertificate", offsetof(struct tls_set, cert)},
        {"privateKey", offsetof(struct tls_set, key)},
        {"sni", offsetof(struct tls_set, sni)},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        v = sc_yaml_get(n, files[i].name);
        snprintf(key, sizeof(key), "%s.%s", path, files[i].name);
        if (!sc_yaml_is_null(v) &&
            get_pos_str(err, v, what, key, (struct pos_str *)((char *)t + files[i].off)) != 0) {
            return -1;
        }
    }
    snprintf(key, sizeof(key), "%s.subjectAltNames", path);
    if (parse_strv(err, sc_yaml_get(n, "subjectAltNames"), what, key, &t->sans) != 0) {
        return -1;
    }
    static const char *const unsupported[] = {"credentialName", "caCrl"};
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        v = sc_yaml_get(n, unsupported[i]);
        if (!sc_yaml_is_null(v)) {
            perr(err, v, what, "%s.%s: not supported by this sidecar", path, unsupported[i]);
            return -1;
        }
    }
    v = sc_yaml_get(n, "insecureSkipVerify");
    if (!sc_yaml_is_null(v) && !(v->kind == SC_YAML_SCALAR && strcmp(v->str, "false") == 0)) {
        perr(err, v, what, "%s.insecureSkipVerify: only false is supported", path);
        return -1;
    }
    if (t->mode == SC_TLS_ISTIO_MUTUAL && (t->ca.s != NULL || t->cert.s != NULL ||
                                           t->key.s != NULL)) {
        perr(err, n, what,
             "%s: ISTIO_MUTUAL uses the mesh certificates; caCertificates, "
             "clientCertificate and privateKey are not allowed with it",
             path);
        return -1;
    }
    if (t->mode == SC_TLS_MUTUAL && (t->cert.s == NULL || t->key.s == NULL)) {
        perr(err, n, what, "%s: MUTUAL needs clientCertificate and privateKey", path);
        return -1;
    }
    return 0;
}

static int parse_dest_rule(struct sc_err *err, const struct sc_yaml_node *doc,
                           struct dest_rule *dr)
{
    static const char *const spec_known[] = {"host", "trafficPolicy", "workloadSelector", NULL};
    static const char *const spec_ignored[] = {"subsets", "exportTo", NULL};
    static const char *const tp_known[] = {"tls", "portLevelSettings", NULL};
    static const char *const tp_ignored[] = {"loadBalancer", "connectionPool",
                                             "outlierDetection", "tunnel", "proxyProtocol",
                                             "retryBudget", NULL};
    static const char *const pls_known[] = {"port", "tls", NULL};
    static const char *const port_known[] = {"number", NULL};
    const struct sc_yaml_node *spec = sc_yaml_get(doc, "spec");
    const struct sc_yaml_node *tp;
    const struct sc_yaml_node *pls;
    const struct sc_yaml_node *host;
    const char *what;

    if (parse_meta(err, doc, "DestinationRule", &dr->m) != 0) {
        return -1;
    }
    what = dr->m.kind_name;
    if (want_map(err, spec, what, "spec") != 0 ||
        check_keys(err, spec, what, "spec", spec_known, spec_ignored) != 0) {
        return -1;
    }
    host = sc_yaml_get(spec, "host");
    if (host == NULL || sc_yaml_is_null(host)) {
        perr(err, spec != NULL ? spec : doc, what, "spec.host: required");
        return -1;
    }
    if (get_str(err, host, what, "spec.host", &dr->host) != 0) {
        return -1;
    }
    if (dr->host[0] == '\0' || strlen(dr->host) > 253) {
        perr(err, host, what, "spec.host: must be 1..253 characters");
        return -1;
    }
    if (parse_selector(err, sc_yaml_get(spec, "workloadSelector"), what,
                       "spec.workloadSelector", &dr->m) != 0) {
        return -1;
    }
    tp = sc_yaml_get(spec, "trafficPolicy");
    if (tp == NULL || sc_yaml_is_null(tp)) {
        return 0;
    }
    if (want_map(err, tp, what, "spec.trafficPolicy") != 0 ||
        check_keys(err, tp, what, "spec.trafficPolicy", tp_known, tp_ignored) != 0) {
        return -1;
    }
    if (parse_tls(err, sc_yaml_get(tp, "tls"), what, "spec.trafficPolicy.tls", &dr->tls) != 0) {
        return -1;
    }
    pls = sc_yaml_get(tp, "portLevelSettings");
    if (pls == NULL || sc_yaml_is_null(pls)) {
        return 0;
    }
    if (pls->kind != SC_YAML_SEQ) {
        perr(err, pls, what, "spec.trafficPolicy.portLevelSettings: expected a list, got %s",
             sc_yaml_kind_name(pls));
        return -1;
    }
    dr->pls = calloc(pls->n + 1, sizeof(*dr->pls));
    if (dr->pls == NULL) {
        return oom(err, pls);
    }
    for (size_t i = 0; i < pls->n; i++) {
        const struct sc_yaml_node *item = pls->items[i];
        const struct sc_yaml_node *port;
        const struct sc_yaml_node *num;
        char path[96];
        long v = 0;

        snprintf(path, sizeof(path), "spec.trafficPolicy.portLevelSettings[%zu]", i);
        if (item->kind != SC_YAML_MAP) {
            perr(err, item, what, "%s: expected a mapping, got %s", path,
                 sc_yaml_kind_name(item));
            return -1;
        }
        if (check_keys(err, item, what, path, pls_known, tp_ignored) != 0) {
            return -1;
        }
        port = sc_yaml_get(item, "port");
        num = sc_yaml_get(port, "number");
        if (port == NULL || want_map(err, port, what, path) != 0 ||
            check_keys(err, port, what, path, port_known, NULL) != 0) {
            if (port == NULL) {
                perr(err, item, what, "%s.port: required", path);
            }
            return -1;
        }
        if (num == NULL || parse_uint(num, 65535, &v) != 0 || v < 1) {
            perr(err, num != NULL ? num : port, what,
                 "%s.port.number: expected a port number in 1..65535", path);
            return -1;
        }
        dr->n_pls++;
        dr->pls[i].port = (int)v;
        snprintf(path, sizeof(path), "spec.trafficPolicy.portLevelSettings[%zu].tls", i);
        if (parse_tls(err, sc_yaml_get(item, "tls"), what, path, &dr->pls[i].tls) != 0) {
            return -1;
        }
    }
    return 0;
}

static int check_api_version(struct sc_err *err, const struct sc_yaml_node *av,
                             const char *kind, const char *const *ok, const char *expected)
{
    for (size_t i = 0; ok[i] != NULL; i++) {
        if (strcmp(av->str, ok[i]) == 0) {
            return 0;
        }
    }
    sc_err_at(err, av->file, av->line, av->col,
              "apiVersion: \"%.100s\" is not a %s version (expected %s)", av->str, kind,
              expected);
    return -1;
}

int sc_policy_add(struct sc_policy *p, const struct sc_yaml_node *doc, struct sc_err *err)
{
    static const char *const top_known[] = {"apiVersion", "kind", "metadata", "spec", "status",
                                            NULL};
    static const char *const pa_versions[] = {"security.istio.io/v1beta1",
                                              "security.istio.io/v1", NULL};
    static const char *const dr_versions[] = {"networking.istio.io/v1alpha3",
                                              "networking.istio.io/v1beta1",
                                              "networking.istio.io/v1", NULL};
    const struct sc_yaml_node *av = sc_yaml_get(doc, "apiVersion");
    const struct sc_yaml_node *kind = sc_yaml_get(doc, "kind");

    if (doc->kind != SC_YAML_MAP) {
        sc_err_at(err, doc->file, doc->line, doc->col, "expected a mapping");
        return -1;
    }
    if (av == NULL || kind == NULL) {
        sc_err_at(err, doc->file, doc->line, doc->col,
                  "a Kubernetes resource needs both apiVersion and kind");
        return -1;
    }
    if (av->kind != SC_YAML_SCALAR || kind->kind != SC_YAML_SCALAR) {
        const struct sc_yaml_node *bad = av->kind != SC_YAML_SCALAR ? av : kind;

        sc_err_at(err, bad->file, bad->line, bad->col, "%s: expected a string, got %s",
                  bad == av ? "apiVersion" : "kind", sc_yaml_kind_name(bad));
        return -1;
    }
    for (size_t i = 0; i < doc->n; i++) {
        int ok = 0;

        for (size_t j = 0; top_known[j] != NULL && !ok; j++) {
            ok = strcmp(doc->keys[i]->str, top_known[j]) == 0;
        }
        if (!ok) {
            sc_err_at(err, doc->keys[i]->file, doc->keys[i]->line, doc->keys[i]->col,
                      "%.100s: unknown key \"%.100s\"", kind->str, doc->keys[i]->str);
            return -1;
        }
    }
    if (strcmp(kind->str, "PeerAuthentication") == 0) {
        struct peer_auth *pa;
        struct peer_auth *grown;

        if (check_api_version(err, av, "PeerAuthentication", pa_versions,
                              "security.istio.io/v1beta1 or security.istio.io/v1") != 0) {
            return -1;
        }
        grown = realloc(p->pa, (p->n_pa + 1) * sizeof(*p->pa));
        if (grown == NULL) {
            return oom(err, doc);
        }
        p->pa = grown;
        pa = &p->pa[p->n_pa++];
        memset(pa, 0, sizeof(*pa));
        pa->m.order = p->n_docs++;
        return parse_peer_auth(err, doc, pa);
    }
    if (strcmp(kind->str, "DestinationRule") == 0) {
        struct dest_rule *dr;
        struct dest_rule *grown;

        if (check_api_version(err, av, "DestinationRule", dr_versions,
                              "networking.istio.io/v1alpha3, v1beta1 or v1") != 0) {
            return -1;
        }
        grown = realloc(p->dr, (p->n_dr + 1) * sizeof(*p->dr));
        if (grown == NULL) {
            return oom(err, doc);
        }
        p->dr = grown;
        dr = &p->dr[p->n_dr++];
        memset(dr, 0, sizeof(*dr));
        dr->m.order = p->n_docs++;
        return parse_dest_rule(err, doc, dr);
    }
    sc_err_at(err, kind->file, kind->line, kind->col,
              "kind: unsupported kind \"%.100s\" (expected PeerAuthentication or "
              "DestinationRule)",
              kind->str);
    return -1;
}

/* ---- resolution ------------------------------------------------------- */

static int labels_match(const struct meta *m, const struct sc_policy_workload *w)
{
    for (size_t i = 0; i < m->n_match; i++) {
        int found = 0;

        for (size_t j = 0; j < w->n_labels && !found; j++) {
            found = strcmp(m->match[i].key, w->labels[j].key) == 0 &&
                    strcmp(m->match[i].value, w->labels[j].value) == 0;
        }
        if (!found) {
            return 0;
        }
    }
    return 1;
}

/* 1 when a is older than b (wins a tie-break at the same level). */
static int older(const struct meta *a, const struct meta *b)
{
    if (a->has_ts != b->has_ts) {
        return a->has_ts;
    }
    if (a->has_ts && (a->ts_sec != b->ts_sec || a->ts_nsec != b->ts_nsec)) {
        return a->ts_sec < b->ts_sec || (a->ts_sec == b->ts_sec && a->ts_nsec < b->ts_nsec);
    }
    return a->order < b->order;
}

static const char *meta_ns(const struct meta *m, const struct sc_policy_workload *w)
{
    return m->ns != NULL ? m->ns : w->namespace_;
}

void sc_policy_bind(struct sc_policy *p, const struct sc_policy_workload *w)
{
    p->level[0] = p->level[1] = p->level[2] = NULL;
    for (size_t i = 0; i < p->n_pa; i++) {
        const struct peer_auth *pa = &p->pa[i];
        const char *ns = meta_ns(&pa->m, w);
        int lvl;

        if (pa->m.has_selector) {
            if (strcmp(ns, w->root_namespace) == 0 || strcmp(ns, w->namespace_) != 0 ||
                !labels_match(&pa->m, w)) {
                continue;
            }
            lvl = LVL_WORKLOAD;
        } else if (strcmp(ns, w->root_namespace) == 0) {
            lvl = LVL_MESH;
        } else if (strcmp(ns, w->namespace_) == 0) {
            lvl = LVL_NAMESPACE;
        } else {
            continue;
        }
        if (p->level[lvl] == NULL || older(&pa->m, &p->level[lvl]->m)) {
            p->level[lvl] = pa;
        }
    }
    free(p->node_ns);
    p->node_ns = strdup(w->namespace_);
    p->bound = 1;
}

/* The mode and the level that decided it (-1: the PERMISSIVE default). */
static enum sc_mtls_mode resolve(const struct sc_policy *p, int port, int *lvl_out)
{
    enum sc_mtls_mode m = SC_MTLS_UNSET;

    *lvl_out = -1;
    if (p == NULL || !p->bound) {
        return SC_MTLS_PERMISSIVE;
    }
    for (int lvl = 0; lvl < 3; lvl++) {
        const struct peer_auth *pa = p->level[lvl];

        if (pa == NULL) {
            continue;
        }
        for (size_t i = 0; i < pa->n_ports; i++) {
            if (pa->ports[i].port == port) {
                m = pa->ports[i].mode;
                break;
            }
        }
        if (m == SC_MTLS_UNSET) {
            m = pa->mode;
        }
        if (m != SC_MTLS_UNSET) {
            *lvl_out = lvl;
            return m;
        }
    }
    return SC_MTLS_PERMISSIVE;
}

enum sc_mtls_mode sc_policy_port_mode(const struct sc_policy *p, int port)
{
    int lvl;

    return resolve(p, port, &lvl);
}

const char *sc_policy_explain(const struct sc_policy *p, int port, char *out, size_t outlen)
{
    int lvl;
    enum sc_mtls_mode m = resolve(p, port, &lvl);

    if (lvl < 0) {
        snprintf(out, outlen, "%s (default)", sc_mtls_mode_name(m));
    } else {
        const struct peer_auth *pa = p->level[lvl];

        snprintf(out, outlen, "%s (PeerAuthentication %s/%s, %s)", sc_mtls_mode_name(m),
                 pa->m.ns != NULL ? pa->m.ns : (p->node_ns != NULL ? p->node_ns : "?"),
                 pa->m.name != NULL ? pa->m.name : "(unnamed)", level_names[lvl]);
    }
    return out;
}

const char *sc_policy_expand_host(const char *host, const char *ns, char *out, size_t outlen)
{
    const char *dot = strchr(host, '.');

    if (host[0] == '*' || (dot != NULL && strchr(dot + 1, '.') != NULL)) {
        snprintf(out, outlen, "%s", host);           /* wildcard or FQDN */
    } else if (dot != NULL) {
        snprintf(out, outlen, "%s" CLUSTER_SUFFIX, host); /* name.namespace */
    } else {
        snprintf(out, outlen, "%s.%s" CLUSTER_SUFFIX, host, ns);
    }
    return out;
}

/* The namespace part of "name.ns.svc.cluster.local" into out, or "". */
static void host_namespace(const char *fqdn, char *out, size_t outlen)
{
    const char *a = strchr(fqdn, '.');
    const char *b = a != NULL ? strchr(a + 1, '.') : NULL;

    out[0] = '\0';
    if (b != NULL && strncmp(b, ".svc.", 5) == 0 && (size_t)(b - a - 1) < outlen) {
        memcpy(out, a + 1, (size_t)(b - a - 1));
        out[b - a - 1] = '\0';
    }
}

/* How specifically rule host h matches destination d: -1 no match. */
static long host_match(const char *h, const char *d)
{
    size_t hl = strlen(h);
    size_t dl = strlen(d);

    if (strcmp(h, d) == 0) {
        return LONG_MAX;
    }
    if (strcmp(h, "*") == 0) {
        return 0;
    }
    if (h[0] == '*' && h[1] == '.' && dl > hl - 1 && strcmp(d + dl - (hl - 1), h + 1) == 0) {
        return (long)hl;
    }
    return -1;
}

static int ns_rank(const char *ns, const struct sc_policy_workload *w, const char *host_ns)
{
    if (strcmp(ns, w->namespace_) == 0) {
        return 0;
    }
    if (strcmp(ns, host_ns) == 0) {
        return 1;
    }
    if (strcmp(ns, w->root_namespace) == 0) {
        return 2;
    }
    return 3;
}

static void fill_val(struct sc_policy_val *v, const struct pos_str *s)
{
    v->s = s->s;
    v->line = s->line;
    v->col = s->col;
}

int sc_policy_dest_tls(const struct sc_policy *p, const struct sc_policy_workload *w,
                       const char *host, int port, struct sc_policy_tls *out)
{
    static const struct sc_strv empty;
    const struct dest_rule *best = NULL;
    const struct tls_set *t;
    char dest[HOST_MAX];
    char host_ns[HOST_MAX];
    long best_spec = -1;
    int best_rank = 4;

    memset(out, 0, sizeof(*out));
    if (p == NULL || host == NULL || strlen(host) > 253) {
        return 0;
    }
    sc_policy_expand_host(host, w->namespace_, dest, sizeof(dest));
    host_namespace(dest, host_ns, sizeof(host_ns));
    for (size_t i = 0; i < p->n_dr; i++) {
        const struct dest_rule *dr = &p->dr[i];
        const char *ns = meta_ns(&dr->m, w);
        char rule_host[HOST_MAX];
        long spec;
        int rank;

        if (dr->m.has_selector &&
            (strcmp(ns, w->namespace_) != 0 || !labels_match(&dr->m, w))) {
            continue;
        }
        sc_policy_expand_host(dr->host, ns, rule_host, sizeof(rule_host));
        spec = host_match(rule_host, dest);
        if (spec < 0) {
            continue;
        }
        rank = ns_rank(ns, w, host_ns);
        if (best == NULL || rank < best_rank || (rank == best_rank && spec > best_spec) ||
            (rank == best_rank && spec == best_spec && older(&dr->m, &best->m))) {
            best = dr;
            best_rank = rank;
            best_spec = spec;
        }
    }
    if (best == NULL) {
        return 0;
    }
    t = &best->tls;
    for (size_t i = 0; port > 0 && i < best->n_pls; i++) {
        if (best->pls[i].port == port) {
            t = &best->pls[i].tls;
            break;
        }
    }
    if (!t->present) {
        return 0;
    }
    out->mode = t->mode;
    fill_val(&out->ca_certificates, &t->ca);
    fill_val(&out->client_certificate, &t->cert);
    fill_val(&out->private_key, &t->key);
    fill_val(&out->sni, &t->sni);
    out->subject_alt_names = t->sans.n > 0 ? &t->sans : &empty;
    out->rule = best->m.kind_name + strlen("DestinationRule ");
    out->file = best->m.file;
    out->line = t->line;
    out->col = t->col;
    return 1;
}

size_t sc_policy_n_peer_auth(const struct sc_policy *p)
{
    return p != NULL ? p->n_pa : 0;
}

size_t sc_policy_n_dest_rules(const struct sc_policy *p)
{
    return p != NULL ? p->n_dr : 0;
}
