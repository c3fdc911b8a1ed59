#include "policy_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* DestinationRule: parsing, host names, and which rule decides an outbound
 * destination's TLS settings (policy.h, sc_policy_dest_tls). */

static int get_pos_str(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                       const char *key, struct pos_str *out)
{
    if (sc_policy_get_str(err, n, what, key, &out->s) != 0) {
        return -1;
    }
    out->line = n->line;
    out->col = n->col;
    return 0;
}

static void tls_cleanup(struct tls_set *t)
{
    free(t->ca.s);
    free(t->cert.s);
    free(t->key.s);
    free(t->sni.s);
    free(t->crl.s);
    sc_policy_strv_free(&t->sans);
}

void sc_policy_dest_rule_cleanup(struct dest_rule *dr)
{
    sc_policy_meta_cleanup(&dr->m);
    free(dr->host);
    tls_cleanup(&dr->tls);
    for (size_t i = 0; i < dr->n_pls; i++) {
        tls_cleanup(&dr->pls[i].tls);
    }
    free(dr->pls);
}

static int parse_strv(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                      const char *key, struct sc_strv *out)
{
    if (sc_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != SC_YAML_SEQ) {
        sc_policy_perr(err, n, what, "%s: expected a list, got %s", key, sc_yaml_kind_name(n));
        return -1;
    }
    out->v = calloc(n->n + 1, sizeof(*out->v));
    if (out->v == NULL) {
        return sc_policy_oom(err, n);
    }
    for (size_t i = 0; i < n->n; i++) {
        if (sc_policy_get_str(err, n->items[i], what, key, &out->v[i]) != 0) {
            return -1;
        }
        out->n++;
    }
    return 0;
}

static int parse_tls(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                     const char *path, struct tls_set *t)
{
    static const char *const known[] = {"mode",
                                        "clientCertificate",
                                        "privateKey",
                                        "caCertificates",
                                        "sni",
                                        "subjectAltNames",
                                        "credentialName",
                                        "insecureSkipVerify",
                                        "caCrl",
                                        NULL};
    const struct sc_yaml_node *v;
    char key[128];

    if (n == NULL || sc_yaml_is_null(n)) {
        return 0;
    }
    if (sc_policy_want_map(err, n, what, path) != 0 ||
        sc_policy_check_keys(err, n, what, path, known, NULL) != 0) {
        return -1;
    }
    t->present = 1;
    t->mode = SC_TLS_DISABLE; /* Istio's default for a tls block */
    t->line = n->line;
    t->col = n->col;
    v = sc_yaml_get(n, "mode");
    snprintf(key, sizeof(key), "%s.mode", path);
    if (!sc_yaml_is_null(v) &&
        (v->kind != SC_YAML_SCALAR || sc_policy_parse_tls_mode(v->str, &t->mode) != 0)) {
        sc_policy_perr(
            err, v, what,
            "%s: unknown mode \"%.100s\" (expected DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)", key,
            v->kind == SC_YAML_SCALAR ? v->str : sc_yaml_kind_name(v));
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
        {"caCrl", offsetof(struct tls_set, crl)},
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
    static const char *const unsupported[] = {"credentialName"};
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        v = sc_yaml_get(n, unsupported[i]);
        if (!sc_yaml_is_null(v)) {
            sc_policy_perr(err, v, what, "%s.%s: not supported by this sidecar", path,
                           unsupported[i]);
            return -1;
        }
    }
    v = sc_yaml_get(n, "insecureSkipVerify");
    if (!sc_yaml_is_null(v) && !(v->kind == SC_YAML_SCALAR && strcmp(v->str, "false") == 0)) {
        sc_policy_perr(err, v, what, "%s.insecureSkipVerify: only false is supported", path);
        return -1;
    }
    if (t->mode == SC_TLS_ISTIO_MUTUAL &&
        (t->ca.s != NULL || t->cert.s != NULL || t->key.s != NULL || t->crl.s != NULL)) {
        sc_policy_perr(err, n, what,
                       "%s: ISTIO_MUTUAL uses the mesh certificates; caCertificates, "
                       "clientCertificate, privateKey and caCrl are not allowed with it",
                       path);
        return -1;
    }
    if (t->mode == SC_TLS_MUTUAL && (t->cert.s == NULL || t->key.s == NULL)) {
        sc_policy_perr(err, n, what, "%s: MUTUAL needs clientCertificate and privateKey", path);
        return -1;
    }
    return 0;
}

int sc_policy_parse_dest_rule(struct sc_err *err, const struct sc_yaml_node *doc,
                              struct dest_rule *dr)
{
    static const char *const spec_known[] = {"host", "trafficPolicy", "workloadSelector", NULL};
    static const char *const spec_ignored[] = {"subsets", "exportTo", NULL};
    static const char *const tp_known[] = {"tls", "portLevelSettings", NULL};
    static const char *const tp_ignored[] = {"loadBalancer",
                                             "connectionPool",
                                             "outlierDetection",
                                             "tunnel",
                                             "proxyProtocol",
                                             "retryBudget",
                                             NULL};
    static const char *const pls_known[] = {"port", "tls", NULL};
    static const char *const port_known[] = {"number", NULL};
    const struct sc_yaml_node *spec = sc_yaml_get(doc, "spec");
    const struct sc_yaml_node *tp;
    const struct sc_yaml_node *pls;
    const struct sc_yaml_node *host;
    const char *what;

    if (sc_policy_parse_meta(err, doc, "DestinationRule", &dr->m) != 0) {
        return -1;
    }
    what = dr->m.kind_name;
    if (sc_policy_want_map(err, spec, what, "spec") != 0 ||
        sc_policy_check_keys(err, spec, what, "spec", spec_known, spec_ignored) != 0) {
        return -1;
    }
    host = sc_yaml_get(spec, "host");
    if (host == NULL || sc_yaml_is_null(host)) {
        sc_policy_perr(err, spec != NULL ? spec : doc, what, "spec.host: required");
        return -1;
    }
    if (sc_policy_get_str(err, host, what, "spec.host", &dr->host) != 0) {
        return -1;
    }
    if (dr->host[0] == '\0' || strlen(dr->host) > 253) {
        sc_policy_perr(err, host, what, "spec.host: must be 1..253 characters");
        return -1;
    }
    if (sc_policy_parse_selector(err, sc_yaml_get(spec, "workloadSelector"), what,
                                 "spec.workloadSelector", &dr->m) != 0) {
        return -1;
    }
    tp = sc_yaml_get(spec, "trafficPolicy");
    if (tp == NULL || sc_yaml_is_null(tp)) {
        return 0;
    }
    if (sc_policy_want_map(err, tp, what, "spec.trafficPolicy") != 0 ||
        sc_policy_check_keys(err, tp, what, "spec.trafficPolicy", tp_known, tp_ignored) != 0) {
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
        sc_policy_perr(err, pls, what,
                       "spec.trafficPolicy.portLevelSettings: expected a list, got %s",
                       sc_yaml_kind_name(pls));
        return -1;
    }
    dr->pls = calloc(pls->n + 1, sizeof(*dr->pls));
    if (dr->pls == NULL) {
        return sc_policy_oom(err, pls);
    }
    for (size_t i = 0; i < pls->n; i++) {
        const struct sc_yaml_node *item = pls->items[i];
        const struct sc_yaml_node *port;
        const struct sc_yaml_node *num;
        char path[96];
        long v = 0;

        snprintf(path, sizeof(path), "spec.trafficPolicy.portLevelSettings[%zu]", i);
        if (item->kind != SC_YAML_MAP) {
            sc_policy_perr(err, item, what, "%s: expected a mapping, got %s", path,
                           sc_yaml_kind_name(item));
            return -1;
        }
        if (sc_policy_check_keys(err, item, what, path, pls_known, tp_ignored) != 0) {
            return -1;
        }
        port = sc_yaml_get(item, "port");
        num = sc_yaml_get(port, "number");
        if (port == NULL || sc_policy_want_map(err, port, what, path) != 0 ||
            sc_policy_check_keys(err, port, what, path, port_known, NULL) != 0) {
            if (port == NULL) {
                sc_policy_perr(err, item, what, "%s.port: required", path);
            }
            return -1;
        }
        if (num == NULL || sc_policy_parse_uint(num, 65535, &v) != 0 || v < 1) {
            sc_policy_perr(err, num != NULL ? num : port, what,
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

const char *sc_policy_expand_host(const char *host, const char *ns, char *out, size_t outlen)
{
    const char *dot = strchr(host, '.');

    if (host[0] == '*' || (dot != NULL && strchr(dot + 1, '.') != NULL)) {
        snprintf(out, outlen, "%s", host); /* wildcard or FQDN */
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
        const char *ns = sc_policy_meta_ns(&dr->m, w);
        char rule_host[HOST_MAX];
        long spec;
        int rank;

        if (dr->m.has_selector &&
            (strcmp(ns, w->namespace_) != 0 || !sc_policy_labels_match(&dr->m, w))) {
            continue;
        }
        sc_policy_expand_host(dr->host, ns, rule_host, sizeof(rule_host));
        spec = host_match(rule_host, dest);
        if (spec < 0) {
            continue;
        }
        rank = ns_rank(ns, w, host_ns);
        if (best == NULL || rank < best_rank || (rank == best_rank && spec > best_spec) ||
            (rank == best_rank && spec == best_spec && sc_policy_older(&dr->m, &best->m))) {
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
    fill_val(&out->ca_crl, &t->crl);
    out->subject_alt_names = t->sans.n > 0 ? &t->sans : &empty;
    out->rule = best->m.kind_name + strlen("DestinationRule ");
    out->file = best->m.file;
    out->line = t->line;
    out->col = t->col;
    return 1;
}

size_t sc_policy_n_dest_rules(const struct sc_policy *p)
{
    return p != NULL ? p->n_dr : 0;
}
