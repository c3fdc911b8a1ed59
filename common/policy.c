#include "policy_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { LVL_WORKLOAD = 0, LVL_NAMESPACE, LVL_MESH };
static const char *const level_names[] = {"workload", "namespace", "mesh"};

/* ---- small helpers ---------------------------------------------------- */

void sc_policy_perr(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                    const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sc_err_at(err, n->file, n->line, n->col, "%s: %s", what, msg);
}

int sc_policy_oom(struct sc_err *err, const struct sc_yaml_node *n)
{
    sc_err_at(err, n->file, n->line, n->col, "out of memory");
    return -1;
}

/* A non-null scalar, copied.  Numbers and booleans are taken as written. */
int sc_policy_get_str(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                      const char *key, char **out)
{
    char *s;

    if (n->kind != SC_YAML_SCALAR || sc_yaml_is_null(n)) {
        sc_policy_perr(err, n, what, "%s: expected a string, got %s", key, sc_yaml_kind_name(n));
        return -1;
    }
    s = strdup(n->str);
    if (s == NULL) {
        return sc_policy_oom(err, n);
    }
    free(*out);
    *out = s;
    return 0;
}

/* n must be a mapping (or null, meaning empty). */
int sc_policy_want_map(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                       const char *key)
{
    if (n != NULL && n->kind != SC_YAML_MAP && !sc_yaml_is_null(n)) {
        sc_policy_perr(err, n, what, "%s: expected a mapping, got %s", key, sc_yaml_kind_name(n));
        return -1;
    }
    return 0;
}

/* Checks every key of map against known; ignored keys are accepted silently
 * (Istio fields this sidecar has no use for). */
int sc_policy_check_keys(struct sc_err *err, const struct sc_yaml_node *map, const char *what,
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
            sc_policy_perr(err, map->keys[i], what, "%s: unknown key \"%.100s\"", path, k);
            return -1;
        }
    }
    return 0;
}

void sc_policy_strv_free(struct sc_strv *v)
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

int sc_policy_parse_uint(const struct sc_yaml_node *n, long max, long *out)
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

void sc_policy_meta_cleanup(struct meta *m)
{
    free(m->kind_name);
    free(m->ns);
    free(m->name);
    free(m->file);
    labels_free(m->match, m->n_match);
}

static void pa_cleanup(struct peer_auth *pa)
{
    sc_policy_meta_cleanup(&pa->m);
    free(pa->ports);
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
        sc_policy_dest_rule_cleanup(&p->dr[i]);
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
int sc_policy_parse_selector(struct sc_err *err, const struct sc_yaml_node *sel, const char *what,
                             const char *path, struct meta *m)
{
    static const char *const known[] = {"matchLabels", NULL};
    const struct sc_yaml_node *ml;
    char key[96];

    if (sel == NULL || sc_yaml_is_null(sel)) {
        return 0;
    }
    if (sc_policy_want_map(err, sel, what, path) != 0 ||
        sc_policy_check_keys(err, sel, what, path, known, NULL) != 0) {
        return -1;
    }
    ml = sc_yaml_get(sel, "matchLabels");
    snprintf(key, sizeof(key), "%s.matchLabels", path);
    if (sc_policy_want_map(err, ml, what, key) != 0) {
        return -1;
    }
    if (ml == NULL || ml->kind != SC_YAML_MAP || ml->n == 0) {
        return 0;
    }
    m->match = calloc(ml->n, sizeof(*m->match));
    if (m->match == NULL) {
        return sc_policy_oom(err, ml);
    }
    for (size_t i = 0; i < ml->n; i++) {
        m->n_match++;
        m->match[i].key = strdup(ml->keys[i]->str);
        if (m->match[i].key == NULL) {
            return sc_policy_oom(err, ml);
        }
        if (sc_policy_get_str(err, ml->items[i], what, key, &m->match[i].value) != 0) {
            return -1;
        }
    }
    m->has_selector = 1;
    return 0;
}

int sc_policy_parse_meta(struct sc_err *err, const struct sc_yaml_node *doc, const char *kind,
                         struct meta *m)
{
    const struct sc_yaml_node *md = sc_yaml_get(doc, "metadata");
    const struct sc_yaml_node *n;
    char what[400];

    m->file = strdup(doc->file);
    if (m->file == NULL) {
        return sc_policy_oom(err, doc);
    }
    /* Kubernetes ObjectMeta is a closed set: a typo such as "nameSpace" must
     * not quietly turn a namespace policy into another namespace's. */
    static const char *const meta_known[] = {"name",
                                             "namespace",
                                             "creationTimestamp",
                                             "labels",
                                             "annotations",
                                             "uid",
                                             "resourceVersion",
                                             "generation",
                                             "generateName",
                                             "deletionTimestamp",
                                             "deletionGracePeriodSeconds",
                                             "ownerReferences",
                                             "finalizers",
                                             "managedFields",
                                             "selfLink",
                                             "clusterName",
                                             NULL};

    if (sc_policy_want_map(err, md, kind, "metadata") != 0 ||
        sc_policy_check_keys(err, md, kind, "metadata", meta_known, NULL) != 0) {
        return -1;
    }
    n = sc_yaml_get(md, "name");
    if (n != NULL && sc_policy_get_str(err, n, kind, "metadata.name", &m->name) != 0) {
        return -1;
    }
    n = sc_yaml_get(md, "namespace");
    if (n != NULL && !sc_yaml_is_null(n) &&
        sc_policy_get_str(err, n, kind, "metadata.namespace", &m->ns) != 0) {
        return -1;
    }
    snprintf(what, sizeof(what), "%s %.150s%s%.100s", kind, m->ns != NULL ? m->ns : "",
             m->ns != NULL ? "/" : "", m->name != NULL ? m->name : "(unnamed)");
    m->kind_name = strdup(what);
    if (m->kind_name == NULL) {
        return sc_policy_oom(err, doc);
    }
    n = sc_yaml_get(md, "creationTimestamp");
    if (n != NULL && !sc_yaml_is_null(n)) {
        if (n->kind != SC_YAML_SCALAR || parse_rfc3339(n->str, &m->ts_sec, &m->ts_nsec) != 0) {
            sc_policy_perr(err, n, m->kind_name,
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
    if (sc_policy_want_map(err, n, what, path) != 0 ||
        sc_policy_check_keys(err, n, what, path, known, NULL) != 0) {
        return -1;
    }
    mode = sc_yaml_get(n, "mode");
    if (sc_yaml_is_null(mode)) {
        return 0;
    }
    snprintf(key, sizeof(key), "%s.mode", path);
    if (mode->kind != SC_YAML_SCALAR || sc_policy_parse_mtls_mode(mode->str, out) != 0) {
        sc_policy_perr(
            err, mode, what,
            "%s: unknown mode \"%.100s\" (expected UNSET, DISABLE, PERMISSIVE or STRICT)", key,
            mode->kind == SC_YAML_SCALAR ? mode->str : sc_yaml_kind_name(mode));
        return -1;
    }
    return 0;
}

static int parse_peer_auth(struct sc_err *err, const struct sc_yaml_node *doc, struct peer_auth *pa)
{
    static const char *const known[] = {"selector", "mtls", "portLevelMtls", NULL};
    const struct sc_yaml_node *spec = sc_yaml_get(doc, "spec");
    const struct sc_yaml_node *plm;
    const char *what;

    if (sc_policy_parse_meta(err, doc, "PeerAuthentication", &pa->m) != 0) {
        return -1;
    }
    what = pa->m.kind_name;
    if (sc_policy_want_map(err, spec, what, "spec") != 0 ||
        sc_policy_check_keys(err, spec, what, "spec", known, NULL) != 0) {
        return -1;
    }
    if (sc_policy_parse_selector(err, sc_yaml_get(spec, "selector"), what, "spec.selector",
                                 &pa->m) != 0) {
        return -1;
    }
    if (parse_mtls(err, sc_yaml_get(spec, "mtls"), what, "spec.mtls", &pa->mode) != 0) {
        return -1;
    }
    plm = sc_yaml_get(spec, "portLevelMtls");
    if (plm == NULL || sc_yaml_is_null(plm)) {
        return 0;
    }
    if (sc_policy_want_map(err, plm, what, "spec.portLevelMtls") != 0) {
        return -1;
    }
    if (plm->n > 0 && !pa->m.has_selector) {
        sc_policy_perr(err, sc_yaml_get_key(spec, "portLevelMtls"), what,
                       "spec.portLevelMtls: portLevelMtls requires a workload selector "
                       "(a mesh- or namespace-wide PeerAuthentication cannot set port-level mTLS)");
        return -1;
    }
    pa->ports = calloc(plm->n + 1, sizeof(*pa->ports));
    if (pa->ports == NULL) {
        return sc_policy_oom(err, plm);
    }
    for (size_t i = 0; i < plm->n; i++) {
        long port = 0;
        char key[64];

        if (sc_policy_parse_uint(plm->keys[i], 65535, &port) != 0 || port < 1) {
            sc_policy_perr(err, plm->keys[i], what,
                           "spec.portLevelMtls: port \"%.50s\" must be a number in 1..65535",
                           plm->keys[i]->str);
            return -1;
        }
        snprintf(key, sizeof(key), "spec.portLevelMtls[%ld]", port);
        for (size_t j = 0; j < pa->n_ports; j++) {
            if (pa->ports[j].port == (int)port) {
                sc_policy_perr(err, plm->keys[i], what, "%s: port listed twice", key);
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

static int check_api_version(struct sc_err *err, const struct sc_yaml_node *av, const char *kind,
                             const char *const *ok, const char *expected)
{
    for (size_t i = 0; ok[i] != NULL; i++) {
        if (strcmp(av->str, ok[i]) == 0) {
            return 0;
        }
    }
    sc_err_at(err, av->file, av->line, av->col,
              "apiVersion: \"%.100s\" is not a %s version (expected %s)", av->str, kind, expected);
    return -1;
}

int sc_policy_add(struct sc_policy *p, const struct sc_yaml_node *doc, struct sc_err *err)
{
    static const char *const top_known[] = {"apiVersion", "kind",   "metadata",
                                            "spec",       "status", NULL};
    static const char *const pa_versions[] = {"security.istio.io/v1beta1", "security.istio.io/v1",
                                              NULL};
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
            return sc_policy_oom(err, doc);
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
            return sc_policy_oom(err, doc);
        }
        p->dr = grown;
        dr = &p->dr[p->n_dr++];
        memset(dr, 0, sizeof(*dr));
        dr->m.order = p->n_docs++;
        return sc_policy_parse_dest_rule(err, doc, dr);
    }
    sc_err_at(err, kind->file, kind->line, kind->col,
              "kind: unsupported kind \"%.100s\" (expected PeerAuthentication or "
              "DestinationRule)",
              kind->str);
    return -1;
}

/* ---- resolution ------------------------------------------------------- */

int sc_policy_labels_match(const struct meta *m, const struct sc_policy_workload *w)
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
int sc_policy_older(const struct meta *a, const struct meta *b)
{
    if (a->has_ts != b->has_ts) {
        return a->has_ts;
    }
    if (a->has_ts && (a->ts_sec != b->ts_sec || a->ts_nsec != b->ts_nsec)) {
        return a->ts_sec < b->ts_sec || (a->ts_sec == b->ts_sec && a->ts_nsec < b->ts_nsec);
    }
    return a->order < b->order;
}

const char *sc_policy_meta_ns(const struct meta *m, const struct sc_policy_workload *w)
{
    return m->ns != NULL ? m->ns : w->namespace_;
}

void sc_policy_bind(struct sc_policy *p, const struct sc_policy_workload *w)
{
    p->level[0] = p->level[1] = p->level[2] = NULL;
    for (size_t i = 0; i < p->n_pa; i++) {
        const struct peer_auth *pa = &p->pa[i];
        const char *ns = sc_policy_meta_ns(&pa->m, w);
        int lvl;

        if (pa->m.has_selector) {
            if (strcmp(ns, w->root_namespace) == 0 || strcmp(ns, w->namespace_) != 0 ||
                !sc_policy_labels_match(&pa->m, w)) {
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
        if (p->level[lvl] == NULL || sc_policy_older(&pa->m, &p->level[lvl]->m)) {
            p->level[lvl] = pa;
        }
    }
    free(p->node_ns);
    p->node_ns = strdup(w->namespace_);
    p->bound = 1;
}

/* The mode and the level that decided it (-1: the PERMISSIVE default);
 * *port_level is 1 when that level's portLevelMtls entry for port did. */
static enum sc_mtls_mode resolve(const struct sc_policy *p, int port, int *lvl_out, int *port_level)
{
    enum sc_mtls_mode m = SC_MTLS_UNSET;

    *lvl_out = -1;
    *port_level = 0;
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
        *port_level = m != SC_MTLS_UNSET;
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
    int lvl, pl;

    return resolve(p, port, &lvl, &pl);
}

void sc_policy_decide(const struct sc_policy *p, int port, struct sc_policy_decision *out)
{
    int lvl;

    memset(out, 0, sizeof(*out));
    out->mode = resolve(p, port, &lvl, &out->port_level);
    if (lvl >= 0) {
        const struct peer_auth *pa = p->level[lvl];

        out->ns = pa->m.ns != NULL ? pa->m.ns : (p->node_ns != NULL ? p->node_ns : "?");
        out->name = pa->m.name != NULL ? pa->m.name : "(unnamed)";
        out->level = level_names[lvl];
    }
}

const char *sc_policy_explain(const struct sc_policy *p, int port, char *out, size_t outlen)
{
    struct sc_policy_decision d;

    sc_policy_decide(p, port, &d);
    if (d.level == NULL) {
        snprintf(out, outlen, "%s (default)", sc_mtls_mode_name(d.mode));
    } else {
        snprintf(out, outlen, "%s (PeerAuthentication %s/%s, %s)", sc_mtls_mode_name(d.mode), d.ns,
                 d.name, d.level);
    }
    return out;
}

size_t sc_policy_n_peer_auth(const struct sc_policy *p)
{
    return p != NULL ? p->n_pa : 0;
}
