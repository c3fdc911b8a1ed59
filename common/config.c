#include "config_internal.h"

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
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "bundle.h"
#include "crl.h"
#include "log.h"
#include "policy.h"
#include "tlsctx.h"
#include "x509.h"
#include "yamlcfg.h"

/* How a YAML stream becomes a struct sc_config (STYLE.md, "Config
 * validation"): find our document among the Istio ones, convert it through
 * the key tables (config_keys.c), run the cross-field and file checks, add
 * the Istio documents to the policy set, and resolve every outbound TLS
 * mode.  docs/config.md is the user-facing reference. */

/* Indices into sc_config_route_keys / sc_config_listener_keys for the TLS keys; the same order. */
struct tls_keys {
    int tls, ids, sni, ca, cert, key;
};

static const struct tls_keys route_tk = {R_TLS, R_IDS, R_SNI, R_CA, R_CERT, R_KEY};
static const struct tls_keys listener_tk = {L_TLS, L_IDS, L_SNI, L_CA, L_CERT, L_KEY};

static int copy_dr_file(struct cfg_ctx *c, char **dst, const struct sc_policy_val *v,
                        const struct sc_policy_tls *pt, struct where *w, const char *label,
                        char *pathbuf, size_t pathlen)
{
    if (*dst != NULL || v->s == NULL) {
        return 0;
    }
    *dst = strdup(v->s);
    if (*dst == NULL) {
        return sc_config_fail_pos(c, pt->file, v->line, v->col, NULL, "out of memory");
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
static int resolve_tls(struct cfg_ctx *c, const struct sc_yaml_node *n, const struct key *names,
                       const struct tls_keys *tk, const char *host, int port, enum sc_tls_mode *tls,
                       struct sc_cfg_tls_files *f, struct sc_strv *ids, char *from, size_t fromlen,
                       char **dest_rule)
{
    struct sc_policy_tls pt;
    struct where wca = {NULL, 0, 0, NULL};
    struct where wcert = wca;
    struct where wkey = wca;
    struct where wcrl = wca;
    char pca[300], pcert[300], pkey[300], pcrl[300];
    char base[256];
    X509 *cert = NULL;
    int rc = -1;

    snprintf(base, sizeof(base), "%s", c->path);
    snprintf(pca, sizeof(pca), "%.200s.%s", base, names[tk->ca].name);
    snprintf(pcert, sizeof(pcert), "%.200s.%s", base, names[tk->cert].name);
    snprintf(pkey, sizeof(pkey), "%.200s.%s", base, names[tk->key].name);
    if (f->ca_certificates != NULL) {
        sc_config_where_node(&wca, sc_yaml_get(n, names[tk->ca].name), pca);
    }
    if (f->client_certificate != NULL) {
        sc_config_where_node(&wcert, sc_yaml_get(n, names[tk->cert].name), pcert);
    }
    if (f->private_key != NULL) {
        sc_config_where_node(&wkey, sc_yaml_get(n, names[tk->key].name), pkey);
    }
    snprintf(from, fromlen, "tls: set on it");
    if (*tls == SC_TLS_UNSET) {
        *tls = SC_TLS_ISTIO_MUTUAL;
        snprintf(from, fromlen, "default");
        if (host != NULL && sc_policy_dest_tls(c->cfg->policy, &c->w, host, port, &pt)) {
            *tls = pt.mode;
            snprintf(from, fromlen, "DestinationRule %s", pt.rule);
            *dest_rule = strdup(pt.rule != NULL ? pt.rule : "?");
            if (*dest_rule == NULL) {
                return sc_config_oom(c, n);
            }
            if (pt.mode == SC_TLS_SIMPLE || pt.mode == SC_TLS_MUTUAL) {
                if (copy_dr_file(c, &f->ca_certificates, &pt.ca_certificates, &pt, &wca,
                                 "spec.trafficPolicy.tls.caCertificates", pca, sizeof(pca)) != 0 ||
                    copy_dr_file(c, &f->client_certificate, &pt.client_certificate, &pt, &wcert,
                                 "spec.trafficPolicy.tls.clientCertificate", pcert,
                                 sizeof(pcert)) != 0 ||
                    copy_dr_file(c, &f->private_key, &pt.private_key, &pt, &wkey,
                                 "spec.trafficPolicy.tls.privateKey", pkey, sizeof(pkey)) != 0 ||
                    copy_dr_file(c, &f->ca_crl, &pt.ca_crl, &pt, &wcrl,
                                 "spec.trafficPolicy.tls.caCrl", pcrl, sizeof(pcrl)) != 0) {
                    return -1;
                }
                if (f->sni == NULL && pt.sni.s != NULL) {
                    f->sni = strdup(pt.sni.s);
                    if (f->sni == NULL) {
                        return sc_config_oom(c, n);
                    }
                }
            }
            if (ids->n == 0 && pt.subject_alt_names->n > 0) {
                ids->v = calloc(pt.subject_alt_names->n, sizeof(*ids->v));
                if (ids->v == NULL) {
                    return sc_config_oom(c, n);
                }
                for (size_t i = 0; i < pt.subject_alt_names->n; i++) {
                    ids->v[i] = strdup(pt.subject_alt_names->v[i]);
                    if (ids->v[i] == NULL) {
                        return sc_config_oom(c, n);
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
                sc_config_push_key(c, names[idx[i]].name);
                return sc_config_fail(c, v, "only applies with tls SIMPLE or MUTUAL (tls is %s)",
                                      sc_tls_mode_name(*tls));
            }
        }
        return 0;
    }
    if (*tls == SC_TLS_MUTUAL && (f->client_certificate == NULL || f->private_key == NULL)) {
        return sc_config_fail(c, n, "tls MUTUAL needs %s and %s", names[tk->cert].name,
                              names[tk->key].name);
    }
    if (f->client_certificate != NULL && f->private_key == NULL) {
        return sc_config_fail(c, n, "%s needs %s", names[tk->cert].name, names[tk->key].name);
    }
    if (f->private_key != NULL && f->client_certificate == NULL) {
        return sc_config_fail(c, n, "%s needs %s", names[tk->key].name, names[tk->cert].name);
    }
    if (f->ca_certificates != NULL &&
        sc_config_check_certs(c, &wca, f->ca_certificates, NULL) != 0) {
        goto done;
    }
    if (f->client_certificate != NULL &&
        (sc_config_check_certs(c, &wcert, f->client_certificate, &cert) != 0 ||
         sc_config_check_key(c, &wkey, f->private_key, cert, wcert.path) != 0)) {
        goto done;
    }
    if (f->ca_crl != NULL &&
        sc_config_check_origin_crl(c, &wcrl, f->ca_crl, f->ca_certificates) != 0) {
        goto done;
    }
    rc = 0;

done:
    X509_free(cert);
    return rc;
}

/* transport: hbone rides on mesh mTLS only; an ISTIO_MUTUAL route without
 * its own transport takes outbound.default_transport. */
static int resolve_transports(struct cfg_ctx *c, const struct sc_yaml_node *routes)
{
    struct sc_config *cfg = c->cfg;

    for (size_t i = 0; i < cfg->outbound.n_routes; i++) {
        struct sc_cfg_route *r = &cfg->outbound.routes[i];

        if (!r->has_transport) {
            r->transport =
                r->tls == SC_TLS_ISTIO_MUTUAL ? cfg->outbound.default_transport : SC_TRANSPORT_TLS;
            continue;
        }
        if (r->transport == SC_TRANSPORT_HBONE && r->tls != SC_TLS_ISTIO_MUTUAL) {
            snprintf(c->path, sizeof(c->path), "outbound.routes[%zu].transport", i);
            return sc_config_fail(c, sc_yaml_get(routes->items[i], "transport"),
                                  "hbone needs tls ISTIO_MUTUAL (tls is %s)",
                                  sc_tls_mode_name(r->tls));
        }
    }
    if (cfg->outbound.def.tls == SC_TLS_ISTIO_MUTUAL) {
        cfg->outbound.def.transport = cfg->outbound.default_transport;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        struct sc_cfg_listener *l = &cfg->listeners[i];
        const struct sc_yaml_node *ln = sc_yaml_get(c->root, "listeners")->items[i];

        if (l->direction != SC_DIR_OUTBOUND) {
            continue;
        }
        if (sc_yaml_get(ln, "transport") == NULL) {
            l->transport =
                l->tls == SC_TLS_ISTIO_MUTUAL ? cfg->outbound.default_transport : SC_TRANSPORT_TLS;
        } else if (l->transport == SC_TRANSPORT_HBONE && l->tls != SC_TLS_ISTIO_MUTUAL) {
            snprintf(c->path, sizeof(c->path), "listeners[%zu].transport", i);
            return sc_config_fail(c, sc_yaml_get(ln, "transport"),
                                  "hbone needs tls ISTIO_MUTUAL (tls is %s)",
                                  sc_tls_mode_name(l->tls));
        }
    }
    c->path[0] = '\0';
    return 0;
}

static int resolve_outbound(struct cfg_ctx *c)
{
    struct sc_config *cfg = c->cfg;
    const struct sc_yaml_node *out = sc_yaml_get(c->root, "outbound");
    const struct sc_yaml_node *routes = sc_yaml_get(out, "routes");
    const struct sc_yaml_node *lst = sc_yaml_get(c->root, "listeners");

    snprintf(cfg->outbound.def.tls_from, sizeof(cfg->outbound.def.tls_from), "tls: set on it");
    if (cfg->outbound.def.tls == SC_TLS_UNSET) {
        cfg->outbound.def.tls = SC_TLS_DISABLE;
        snprintf(cfg->outbound.def.tls_from, sizeof(cfg->outbound.def.tls_from), "default");
    }
    for (size_t i = 0; i < cfg->outbound.n_routes; i++) {
        struct sc_cfg_route *r = &cfg->outbound.routes[i];

        snprintf(c->path, sizeof(c->path), "outbound.routes[%zu]", i);
        if (resolve_tls(c, routes->items[i], sc_config_route_keys, &route_tk, r->host, r->port,
                        &r->tls, &r->tls_files, &r->expected_identities, r->tls_from,
                        sizeof(r->tls_from), &r->dest_rule) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        struct sc_cfg_listener *l = &cfg->listeners[i];

        if (l->direction != SC_DIR_OUTBOUND) {
            continue;
        }
        snprintf(c->path, sizeof(c->path), "listeners[%zu]", i);
        if (resolve_tls(c, lst->items[i], sc_config_listener_keys, &listener_tk, l->host, l->port,
                        &l->tls, &l->tls_files, &l->expected_identities, l->tls_from,
                        sizeof(l->tls_from), &l->dest_rule) != 0) {
            return -1;
        }
    }
    c->path[0] = '\0';
    return resolve_transports(c, routes);
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
static int check_addresses(struct cfg_ctx *c)
{
    struct sc_config *cfg = c->cfg;
    struct bound *b = NULL;
    size_t n = 0;
    int rc = 0;
    static const char *const sections[] = {"admin", "health", "stats", "inbound", "outbound"};
    const int has[] = {cfg->has_admin, cfg->has_health, cfg->has_stats, cfg->has_inbound,
                       cfg->has_outbound};
    const struct sc_addr *addrs[] = {&cfg->admin, &cfg->health, &cfg->stats, &cfg->inbound.address,
                                     &cfg->outbound.address};

    b = calloc(cfg->n_listeners + 7, sizeof(*b));
    if (b == NULL) {
        return sc_config_oom(c, c->root);
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
    if (cfg->has_inbound && cfg->inbound.hbone_explicit) {
        snprintf(b[n].name, sizeof(b[n].name), "inbound.hbone_address");
        b[n].addr = &cfg->inbound.hbone_address;
        b[n].node = sc_yaml_get(sc_yaml_get(c->root, "inbound"), "hbone_address");
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

                rc = sc_config_fail_pos(c, b[i].node->file, b[i].node->line, b[i].node->col,
                                        b[i].name, "%s overlaps %s",
                                        sc_addr_str(b[i].addr, s, sizeof(s)), b[j].name);
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
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' ||
              *s == '_')) {
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

static int check_node(struct cfg_ctx *c)
{
    struct sc_config *cfg = c->cfg;
    const struct sc_yaml_node *node = sc_yaml_get(c->root, "node");
    const struct sc_yaml_node *v;

    if (!valid_trust_domain(cfg->node.trust_domain)) {
        v = sc_yaml_get(node, "trust_domain");
        return sc_config_fail_pos(
            c, v->file, v->line, v->col, "node.trust_domain",
            "\"%.80s\" is not a valid trust domain (lowercase letters, digits, "
            "'.', '-' and '_')",
            cfg->node.trust_domain);
    }
    if (!valid_namespace(cfg->node.namespace_)) {
        v = sc_yaml_get(node, "namespace");
        return sc_config_fail_pos(c, v->file, v->line, v->col, "node.namespace",
                                  "\"%.80s\" is not a valid namespace name (a DNS label)",
                                  cfg->node.namespace_);
    }
    if (!valid_namespace(cfg->node.root_namespace)) {
        v = sc_yaml_get(node, "root_namespace");
        return sc_config_fail_pos(c, v->file, v->line, v->col, "node.root_namespace",
                                  "\"%.80s\" is not a valid namespace name (a DNS label)",
                                  cfg->node.root_namespace);
    }
    return 0;
}

static int set_default_str(struct cfg_ctx *c, char **s, const char *dflt)
{
    if (*s == NULL) {
        *s = strdup(dflt);
        if (*s == NULL) {
            return sc_config_oom(c, c->root);
        }
    }
    return 0;
}

static int build(struct cfg_ctx *c, const struct sc_yaml_stream *s)
{
    struct sc_config *cfg = c->cfg;
    const struct sc_yaml_node *lst;
    long cores;

    for (size_t i = 0; i < s->n_docs; i++) {
        if (sc_policy_is_resource(s->docs[i])) {
            continue;
        }
        if (c->root != NULL) {
            return sc_config_fail_pos(
                c, s->docs[i]->file, s->docs[i]->line, s->docs[i]->col, NULL,
                "a second sidecar configuration document (the first starts at "
                "line %d); other documents must be Istio resources with "
                "apiVersion and kind",
                c->root->line);
        }
        c->root = s->docs[i];
    }
    if (c->root == NULL) {
        return sc_config_fail_pos(c, s->file, 0, 0, NULL,
                                  s->n_docs == 0 ? "the configuration is empty"
                                                 : "no sidecar configuration document (only Istio "
                                                   "resources)");
    }
    if (c->root->kind != SC_YAML_MAP) {
        return sc_config_fail_pos(c, c->root->file, c->root->line, c->root->col, NULL,
                                  "the configuration must be a mapping, got %s",
                                  sc_yaml_kind_name(c->root));
    }

    cfg->timeouts.connect_ms = 10000;
    cfg->timeouts.handshake_ms = 10000;
    cfg->timeouts.idle_ms = 3600000;
    cfg->timeouts.sniff_ms = 5000;
    cfg->timeouts.request_headers_ms = 10000;
    cfg->timeouts.request_ms = 15000;
    cfg->timeouts.upstream_idle_ms = 4000;
    cfg->timeouts.drain_ms = 5000;
    cfg->timeouts.half_closed_ms = 60000;
    cfg->http.max_connections = 1024;
    cfg->http.max_pending = 1024;
    cfg->http.retries = 1;
    cfg->buffer_limit = 1024 * 1024;
    cfg->limits.handshakes_per_second_per_source = 200;
    cfg->limits.max_connections = 16384;
    cfg->hbone.port = 15008;
    cfg->hbone.max_streams_per_connection = 100;
    cfg->hbone.idle_ms = 60000;
    cfg->secrets.expiry_warning_days = 7;
    cfg->outbound.def.protocol = SC_PROTO_TCP;
    sc_config_timeouts_unset(&cfg->outbound.def.timeouts);
    if (sc_config_apply_top(c) != 0) {
        return -1;
    }
    /* Per-port, per-route and per-listener timeouts: what they do not set,
     * they take from the top-level timeouts. */
    for (size_t i = 0; i < cfg->inbound.n_ports; i++) {
        sc_config_timeouts_inherit(&cfg->inbound.ports[i].timeouts, &cfg->timeouts);
    }
    for (size_t i = 0; i < cfg->outbound.n_routes; i++) {
        sc_config_timeouts_inherit(&cfg->outbound.routes[i].timeouts, &cfg->timeouts);
    }
    sc_config_timeouts_inherit(&cfg->outbound.def.timeouts, &cfg->timeouts);
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        sc_config_timeouts_inherit(&cfg->listeners[i].timeouts, &cfg->timeouts);
    }
    if (set_default_str(c, &cfg->node.id, "sidecar") != 0 ||
        set_default_str(c, &cfg->node.trust_domain, "cluster.local") != 0 ||
        set_default_str(c, &cfg->node.namespace_, "default") != 0 ||
        set_default_str(c, &cfg->node.root_namespace, "istio-system") != 0 ||
        set_default_str(c, &cfg->log_level, "info") != 0 ||
        set_default_str(c, &cfg->secrets.sds_cert_name, "default") != 0 ||
        set_default_str(c, &cfg->http.xfcc, "SANITIZE_SET") != 0 ||
        set_default_str(c, &cfg->access_log.path, "stdout") != 0 ||
        set_default_str(c, &cfg->access_log.format, "text") != 0 ||
        set_default_str(c, &cfg->secrets.sds_root_name, "ROOTCA") != 0 ||
        set_default_str(c, &cfg->tls_groups, SC_TLS_DEFAULT_GROUPS) != 0 ||
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

        for (size_t k = 0; k < (size_t)L_COUNT; k++) {
            const struct sc_yaml_node *v =
                sc_yaml_get(lst->items[i], sc_config_listener_keys[k].name);

            if (!sc_yaml_is_null(v)) {
                lseen |= 1u << k;
            }
        }
        snprintf(c->path, sizeof(c->path), "listeners[%zu]", i);
        if (sc_config_check_listener(c, lst->items[i], i, lseen) != 0) {
            return -1;
        }
    }
    c->path[0] = '\0';
    if (check_addresses(c) != 0 || sc_config_check_secrets(c) != 0) {
        return -1;
    }

    /* Istio resources, then what they decide. */
    cfg->policy = sc_policy_new();
    if (cfg->policy == NULL) {
        return sc_config_oom(c, c->root);
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
    if (resolve_outbound(c) != 0) {
        return -1;
    }
    return sc_config_check_identities(c);
}

/* ---- public API ------------------------------------------------------- */

static int load_stream(const char *name, struct sc_yaml_stream *s, struct sc_config **out,
                       struct sc_err *err)
{
    struct cfg_ctx c;
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
    cfg->refs_ = 1;
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
    free(f->ca_crl);
    free(f->client_certificate);
    free(f->private_key);
    free(f->sni);
}

struct sc_config *sc_config_ref(struct sc_config *cfg)
{
    __atomic_add_fetch(&cfg->refs_, 1, __ATOMIC_RELAXED);
    return cfg;
}

void sc_config_free(struct sc_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    if (__atomic_sub_fetch(&cfg->refs_, 1, __ATOMIC_ACQ_REL) > 0) {
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
    for (size_t i = 0; i < cfg->secrets.n_trust_bundles; i++) {
        free(cfg->secrets.trust_bundles[i].key);
        free(cfg->secrets.trust_bundles[i].value);
    }
    free(cfg->secrets.trust_bundles);
    free(cfg->secrets.crl);
    free(cfg->secrets.sds_cert_name);
    free(cfg->http.xfcc);
    free(cfg->admin_unix);
    free(cfg->access_log.path);
    free(cfg->access_log.format);
    free(cfg->tls_groups);
    free(cfg->secrets.sds_root_name);
    free(cfg->inbound.app_host);
    for (size_t i = 0; i < cfg->inbound.n_ports; i++) {
        strv_free(&cfg->inbound.ports[i].allowed_principals);
    }
    free(cfg->inbound.ports);
    for (size_t i = 0; i < cfg->outbound.n_routes; i++) {
        struct sc_cfg_route *r = &cfg->outbound.routes[i];

        free(r->host);
        free(r->dest_rule);
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
        free(l->dest_rule);
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

const struct sc_cfg_route *sc_config_route(const struct sc_config *cfg, const struct sc_addr *dst)
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

const char *sc_transport_name(enum sc_transport t)
{
    return t == SC_TRANSPORT_HBONE ? "hbone" : "tls";
}
