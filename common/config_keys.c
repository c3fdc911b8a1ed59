/* The config key tables (STYLE.md, "Config validation"): one table per
 * section (name, type, range, offset into the struct it fills), applied by
 * config_keytab.c, plus the converters of values that need more than a
 * type (labels, log level, timeouts, routes, listeners, XFCC mode). */

#include "config_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tlsctx.h"

/* ---- sections --------------------------------------------------------- */

static int conv_labels(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;

    if (sc_yaml_is_null(v)) {
        return 0;
    }
    if (v->kind != SC_YAML_MAP) {
        return sc_config_fail(c, v, "expected a mapping, got %s", sc_yaml_kind_name(v));
    }
    cfg->node.labels = calloc(v->n + 1, sizeof(*cfg->node.labels));
    if (cfg->node.labels == NULL) {
        return sc_config_oom(c, v);
    }
    for (size_t i = 0; i < v->n; i++) {
        size_t saved = sc_config_push_key(c, v->keys[i]->str);

        if (v->keys[i]->len == 0) {
            return sc_config_fail(c, v->keys[i], "label names must not be empty");
        }
        cfg->node.n_labels++;
        if (sc_config_want_scalar(c, v->items[i], "a string") != 0 ||
            sc_config_dup(c, v->keys[i], &cfg->node.labels[i].key) != 0 ||
            sc_config_dup(c, v->items[i], &cfg->node.labels[i].value) != 0) {
            return -1;
        }
        sc_config_pop(c, saved);
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

static int conv_node(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    unsigned seen;

    return sc_config_apply(c, v, node_keys, NKEYS(node_keys), base, &seen);
}

static int conv_log_level(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    struct sc_config *cfg = base;
    enum sc_log_level lvl;
    char *s;

    if (sc_yaml_is_null(v)) {
        return 0;
    }
    if (sc_config_want_scalar(c, v, "a log level") != 0) {
        return -1;
    }
    if (sc_log_parse_level(v->str, &lvl) != 0 || (size_t)lvl >= NKEYS(names)) {
        return sc_config_fail(c, v, "unknown level \"%.60s\" (expected debug, info, warn or error)",
                              v->str);
    }
    s = strdup(names[lvl]);
    if (s == NULL) {
        return sc_config_oom(c, v);
    }
    free(cfg->log_level);
    cfg->log_level = s;
    return 0;
}

/* on_root_expiry: `refuse`, or `{grace_hours: N}`. */
static const struct key root_grace_keys[] = {
    KEYR("grace_hours", K_INT, 1, 87600, struct sc_config, secrets.root_grace_hours),
};

static int conv_on_root_expiry(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned seen = 0;

    if (v->kind == SC_YAML_SCALAR && strcmp(v->str, "refuse") == 0) {
        cfg->secrets.root_grace_hours = 0;
        return 0;
    }
    if (v->kind != SC_YAML_MAP) {
        return sc_config_fail(c, v, "expected refuse or {grace_hours: N}, got %s%.60s%s",
                              v->kind == SC_YAML_SCALAR ? "\"" : "",
                              v->kind == SC_YAML_SCALAR ? v->str : sc_yaml_kind_name(v),
                              v->kind == SC_YAML_SCALAR ? "\"" : "");
    }
    if (sc_config_apply(c, v, root_grace_keys, NKEYS(root_grace_keys), base, &seen) != 0) {
        return -1;
    }
    if ((seen & 1u) == 0) {
        return sc_config_fail(c, v, "expected refuse or {grace_hours: N}: grace_hours is missing");
    }
    return 0;
}

/* secrets.trust_bundles: {DOMAIN: FILE, ...}, the roots of federated trust
 * domains; our own domain's roots stay trusted_ca (or SDS ROOTCA). */
static int conv_trust_bundles(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;

    if (sc_yaml_is_null(v)) {
        return 0;
    }
    if (v->kind != SC_YAML_MAP) {
        return sc_config_fail(c, v, "expected a mapping of trust domain to file, got %s",
                              sc_yaml_kind_name(v));
    }
    cfg->secrets.trust_bundles = calloc(v->n + 1, sizeof(*cfg->secrets.trust_bundles));
    if (cfg->secrets.trust_bundles == NULL) {
        return sc_config_oom(c, v);
    }
    for (size_t i = 0; i < v->n; i++) {
        size_t saved = sc_config_push_key(c, v->keys[i]->str);
        const char *d = v->keys[i]->str;

        if (v->keys[i]->len == 0 || strpbrk(d, "/:") != NULL ||
            strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != v->keys[i]->len) {
            return sc_config_fail(c, v->keys[i],
                                  "not a trust domain (lowercase letters, digits, '.', '-', '_')");
        }
        cfg->secrets.n_trust_bundles++;
        if (sc_config_want_scalar(c, v->items[i], "a file name") != 0 ||
            sc_config_dup(c, v->keys[i], &cfg->secrets.trust_bundles[i].key) != 0 ||
            sc_config_dup(c, v->items[i], &cfg->secrets.trust_bundles[i].value) != 0) {
            return -1;
        }
        sc_config_pop(c, saved);
    }
    return 0;
}

static const struct key secrets_keys[] = {
    KEY("sds_socket", K_STR, struct sc_config, secrets.sds_socket),
    KEY("cert_chain", K_STR, struct sc_config, secrets.cert_chain),
    KEY("private_key", K_STR, struct sc_config, secrets.private_key),
    KEY("trusted_ca", K_STR, struct sc_config, secrets.trusted_ca),
    KEY("crl", K_STR, struct sc_config, secrets.crl),
    KEYFN("trust_bundles", conv_trust_bundles),
    KEYR("expiry_warning_days", K_INT, 0, 3650, struct sc_config, secrets.expiry_warning_days),
    KEY("sds_cert_name", K_STR, struct sc_config, secrets.sds_cert_name),
    KEY("sds_root_name", K_STR, struct sc_config, secrets.sds_root_name),
    KEYFN("on_root_expiry", conv_on_root_expiry),
};

static int conv_secrets(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    unsigned seen;

    return sc_config_apply(c, v, secrets_keys, NKEYS(secrets_keys), base, &seen);
}

static const struct key server_keys[] = {
    {"address", K_ADDR, 0, 0, 0, NULL},
};

static int conv_server(struct cfg_ctx *c, const struct sc_yaml_node *v, struct sc_addr *addr,
                       int *has, const char *dflt)
{
    const char *why;
    unsigned seen;

    if (sc_addr_parse(dflt, addr, &why) != 0) {
        return sc_config_fail(c, v, "internal: bad default address");
    }
    *has = 1;
    return sc_config_apply(c, v, server_keys, NKEYS(server_keys), addr, &seen);
}

static const struct key admin_keys[] = {
    KEY("address", K_ADDR, struct sc_config, admin),
    KEY("unix_socket", K_STR, struct sc_config, admin_unix),
};

static int conv_admin(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    const char *why;
    unsigned seen;

    if (sc_addr_parse("127.0.0.1:15000", &cfg->admin, &why) != 0) {
        return sc_config_fail(c, v, "internal: bad default address");
    }
    cfg->has_admin = 1;
    return sc_config_apply(c, v, admin_keys, NKEYS(admin_keys), cfg, &seen);
}

static int conv_health(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;

    return conv_server(c, v, &cfg->health, &cfg->has_health, "127.0.0.1:15021");
}

static int conv_stats(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;

    return conv_server(c, v, &cfg->stats, &cfg->has_stats, "127.0.0.1:15090");
}

/* timeouts */

static const struct key timeout_keys[] = {
    KEYR("connect_ms", K_INT, 1, 3600000, struct sc_cfg_timeouts, connect_ms),
    KEYR("handshake_ms", K_INT, 1, 3600000, struct sc_cfg_timeouts, handshake_ms),
    KEYR("idle_ms", K_INT, 0, INT_MAX, struct sc_cfg_timeouts, idle_ms),
    KEYR("sniff_ms", K_INT, 1, 3600000, struct sc_cfg_timeouts, sniff_ms),
    KEYR("request_headers_ms", K_INT, 1, 3600000, struct sc_cfg_timeouts, request_headers_ms),
    KEYR("request_ms", K_INT, 0, INT_MAX, struct sc_cfg_timeouts, request_ms),
    KEYR("upstream_idle_ms", K_INT, 1, 3600000, struct sc_cfg_timeouts, upstream_idle_ms),
    KEYR("drain_ms", K_INT, 0, 3600000, struct sc_cfg_timeouts, drain_ms),
    KEYR("half_closed_ms", K_INT, 0, INT_MAX, struct sc_cfg_timeouts, half_closed_ms),
};

void sc_config_timeouts_unset(struct sc_cfg_timeouts *t)
{
    t->connect_ms = t->handshake_ms = t->idle_ms = t->sniff_ms = -1;
    t->request_headers_ms = t->request_ms = t->upstream_idle_ms = t->drain_ms = -1;
    t->half_closed_ms = -1;
}

void sc_config_timeouts_inherit(struct sc_cfg_timeouts *t, const struct sc_cfg_timeouts *g)
{
    int *f = (int *)t;
    const int *d = (const int *)g;

    for (size_t i = 0; i < sizeof(*t) / sizeof(int); i++) {
        if (f[i] < 0) {
            f[i] = d[i];
        }
    }
}

static int conv_entry_timeouts(struct cfg_ctx *c, const struct sc_yaml_node *v,
                               struct sc_cfg_timeouts *t)
{
    unsigned seen;

    return sc_config_apply(c, v, timeout_keys, NKEYS(timeout_keys), t, &seen);
}

static int conv_inport_timeouts(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    return conv_entry_timeouts(c, v, &((struct sc_cfg_inport *)base)->timeouts);
}

static int conv_route_timeouts(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    return conv_entry_timeouts(c, v, &((struct sc_cfg_route *)base)->timeouts);
}

int sc_config_conv_transport(struct cfg_ctx *c, const struct sc_yaml_node *v,
                             enum sc_transport *out)
{
    if (sc_config_want_scalar(c, v, "a transport") != 0) {
        return -1;
    }
    if (strcmp(v->str, "tls") == 0) {
        *out = SC_TRANSPORT_TLS;
    } else if (strcmp(v->str, "hbone") == 0) {
        *out = SC_TRANSPORT_HBONE;
    } else {
        return sc_config_fail(c, v, "unknown transport \"%.60s\" (expected hbone or tls)", v->str);
    }
    return 0;
}

static int conv_route_transport(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_cfg_route *r = base;

    r->has_transport = 1;
    return sc_config_conv_transport(c, v, &r->transport);
}

static int conv_listener_transport(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    return sc_config_conv_transport(c, v, &((struct sc_cfg_listener *)base)->transport);
}

static int conv_default_transport(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    return sc_config_conv_transport(c, v, &((struct sc_config *)base)->outbound.default_transport);
}

/* inbound.hbone_address: an address, or off. */
static int conv_hbone_address(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    const char *why = "invalid";

    if (sc_config_want_scalar(c, v, "an address such as 0.0.0.0:15008, or off") != 0) {
        return -1;
    }
    if (strcmp(v->str, "off") == 0) {
        cfg->inbound.has_hbone = 0;
        cfg->inbound.hbone_explicit = 0;
        return 0;
    }
    if (sc_addr_parse(v->str, &cfg->inbound.hbone_address, &why) != 0) {
        return sc_config_fail(c, v, "bad address \"%.80s\": %s", v->str, why);
    }
    cfg->inbound.has_hbone = 1;
    cfg->inbound.hbone_explicit = 1;
    return 0;
}

static int conv_listener_timeouts(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    return conv_entry_timeouts(c, v, &((struct sc_cfg_listener *)base)->timeouts);
}

/* inbound */

static const struct key inport_keys[] = {
    KEYR("port", K_INT, 1, 65535, struct sc_cfg_inport, port),
    KEY("protocol", K_PROTO, struct sc_cfg_inport, protocol),
    KEY("allowed_principals", K_IDS, struct sc_cfg_inport, allowed_principals),
    KEYFN("timeouts", conv_inport_timeouts),
};

static void inport_init(void *p)
{
    memset(p, 0, sizeof(struct sc_cfg_inport));
    sc_config_timeouts_unset(&((struct sc_cfg_inport *)p)->timeouts);
}

static int conv_inports(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned *seen = NULL;
    void *arr = NULL;
    int rc;

    rc = sc_config_apply_list(c, v, inport_keys, NKEYS(inport_keys), sizeof(struct sc_cfg_inport),
                              inport_init, &arr, &cfg->inbound.n_ports, &seen);
    cfg->inbound.ports = arr;
    for (size_t i = 0; rc == 0 && i < cfg->inbound.n_ports; i++) {
        size_t saved = sc_config_push_index(c, i);

        if ((seen[i] & 1u) == 0) {
            rc = sc_config_fail(c, v->items[i], "port is required");
        }
        for (size_t j = 0; rc == 0 && j < i; j++) {
            if (cfg->inbound.ports[j].port == cfg->inbound.ports[i].port) {
                sc_config_push_key(c, "port");
                rc = sc_config_fail(c, sc_yaml_get(v->items[i], "port"),
                                    "port %d is already listed in inbound.ports[%zu]",
                                    cfg->inbound.ports[i].port, j);
            }
        }
        sc_config_pop(c, saved);
    }
    free(seen);
    return rc;
}

static int conv_app_host(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    struct sc_addr a;

    if (sc_config_want_scalar(c, v, "a numeric IP address") != 0) {
        return -1;
    }
    if (sc_addr_from_host(v->str, 1, &a) != 0) {
        return sc_config_fail(c, v, "\"%.80s\" is not a numeric IPv4 or IPv6 address", v->str);
    }
    return sc_config_dup(c, v, &cfg->inbound.app_host);
}

static const struct key inbound_keys[] = {
    KEY("address", K_ADDR, struct sc_config, inbound.address),
    KEYFN("app_host", conv_app_host),
    KEYFN("ports", conv_inports),
    KEYFN("hbone_address", conv_hbone_address),
};

static int conv_inbound(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    const char *why;
    unsigned seen;

    cfg->has_inbound = 1;
    sc_addr_parse("0.0.0.0:15006", &cfg->inbound.address, &why);
    /* Istio sidecars always listen for HBONE on 15008 */
    sc_addr_parse("0.0.0.0:15008", &cfg->inbound.hbone_address, &why);
    cfg->inbound.has_hbone = 1;
    return sc_config_apply(c, v, inbound_keys, NKEYS(inbound_keys), base, &seen);
}

/* outbound */

static int conv_cidr(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_cfg_route *r = base;
    const char *why = "invalid";

    if (sc_config_want_scalar(c, v, "an address range such as 10.0.0.0/8") != 0) {
        return -1;
    }
    if (sc_cidr_parse(v->str, &r->cidr, &why) != 0) {
        return sc_config_fail(c, v, "bad address range \"%.80s\": %s", v->str, why);
    }
    r->has_cidr = 1;
    return 0;
}

const struct key sc_config_route_keys[R_COUNT] = {
    [R_HOST] = KEY("host", K_STR, struct sc_cfg_route, host),
    [R_CIDR] = KEYFN("cidr", conv_cidr),
    [R_PORT] = KEYR("port", K_INT, 0, 65535, struct sc_cfg_route, port),
    [R_PROTO] = KEY("protocol", K_PROTO, struct sc_cfg_route, protocol),
    [R_TLS] = KEY("tls", K_TLS, struct sc_cfg_route, tls),
    [R_IDS] = KEY("expected_identities", K_IDS, struct sc_cfg_route, expected_identities),
    [R_SNI] = KEY("sni", K_STR, struct sc_cfg_route, tls_files.sni),
    [R_CA] = KEY("ca_certificates", K_STR, struct sc_cfg_route, tls_files.ca_certificates),
    [R_CERT] = KEY("client_certificate", K_STR, struct sc_cfg_route, tls_files.client_certificate),
    [R_KEY] = KEY("private_key", K_STR, struct sc_cfg_route, tls_files.private_key),
    [R_TIMEOUTS] = KEYFN("timeouts", conv_route_timeouts),
    [R_TRANSPORT] = KEYFN("transport", conv_route_transport),
    [R_HBONE_PORT] = KEYR("hbone_port", K_INT, 1, 65535, struct sc_cfg_route, hbone_port),
};

static void route_init(void *p)
{
    memset(p, 0, sizeof(struct sc_cfg_route));
    sc_config_timeouts_unset(&((struct sc_cfg_route *)p)->timeouts);
}

static int conv_routes(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned *seen = NULL;
    void *arr = NULL;
    int rc;

    rc = sc_config_apply_list(c, v, sc_config_route_keys, NKEYS(sc_config_route_keys),
                              sizeof(struct sc_cfg_route), route_init, &arr,
                              &cfg->outbound.n_routes, &seen);
    cfg->outbound.routes = arr;
    for (size_t i = 0; rc == 0 && i < cfg->outbound.n_routes; i++) {
        if ((seen[i] & ((1u << R_HOST) | (1u << R_CIDR))) == 0) {
            size_t saved = sc_config_push_index(c, i);

            rc = sc_config_fail(c, v->items[i], "a route needs a host or a cidr");
            sc_config_pop(c, saved);
        }
    }
    free(seen);
    return rc;
}

static const struct key default_keys[] = {
    KEY("tls", K_TLS, struct sc_cfg_route, tls),
    KEY("protocol", K_PROTO, struct sc_cfg_route, protocol),
    KEY("expected_identities", K_IDS, struct sc_cfg_route, expected_identities),
};

static int conv_default(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned seen;

    return sc_config_apply(c, v, default_keys, NKEYS(default_keys), &cfg->outbound.def, &seen);
}

static const struct key outbound_keys[] = {
    KEY("address", K_ADDR, struct sc_config, outbound.address),
    KEYFN("routes", conv_routes),
    KEYFN("default", conv_default),
    KEY("require_expected_identities", K_BOOL, struct sc_config,
        outbound.require_expected_identities),
    KEYFN("default_transport", conv_default_transport),
    KEYR("hbone_port", K_INT, 1, 65535, struct sc_config, hbone.port),
};

static int conv_outbound(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    const char *why;
    unsigned seen;

    cfg->has_outbound = 1;
    sc_addr_parse("127.0.0.1:15001", &cfg->outbound.address, &why);
    return sc_config_apply(c, v, outbound_keys, NKEYS(outbound_keys), base, &seen);
}

/* listeners */

const struct key sc_config_listener_keys[L_COUNT] = {
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
    [L_CERT] =
        KEY("client_certificate", K_STR, struct sc_cfg_listener, tls_files.client_certificate),
    [L_KEY] = KEY("private_key", K_STR, struct sc_cfg_listener, tls_files.private_key),
    [L_TIMEOUTS] = KEYFN("timeouts", conv_listener_timeouts),
    [L_TRANSPORT] = KEYFN("transport", conv_listener_transport),
    [L_HBONE_PORT] = KEYR("hbone_port", K_INT, 1, 65535, struct sc_cfg_listener, hbone_port),
};

static void listener_init(void *p)
{
    memset(p, 0, sizeof(struct sc_cfg_listener));
    sc_config_timeouts_unset(&((struct sc_cfg_listener *)p)->timeouts);
}

int sc_config_check_listener(struct cfg_ctx *c, const struct sc_yaml_node *n, size_t i,
                             unsigned seen)
{
    static const int outbound_only[] = {L_HOST, L_TLS,  L_IDS, L_SNI,
                                        L_CA,   L_CERT, L_KEY, L_HBONE_PORT};
    struct sc_config *cfg = c->cfg;
    struct sc_cfg_listener *l = &cfg->listeners[i];
    static const int required[] = {L_NAME, L_DIR, L_ADDR};

    for (size_t k = 0; k < NKEYS(required); k++) {
        if ((seen & (1u << required[k])) == 0) {
            return sc_config_fail(c, n, "%s is required",
                                  sc_config_listener_keys[required[k]].name);
        }
    }
    for (size_t j = 0; j < i; j++) {
        if (strcmp(cfg->listeners[j].name, l->name) == 0) {
            sc_config_push_key(c, "name");
            return sc_config_fail(c, sc_yaml_get(n, "name"),
                                  "duplicate listener name \"%.60s\" (also listeners[%zu])",
                                  l->name, j);
        }
    }
    if ((seen & (1u << L_TRANSPORT)) != 0 && l->transport == SC_TRANSPORT_HBONE &&
        l->direction == SC_DIR_INBOUND) {
        /* an HBONE listener: the CONNECT authority names the port, so no
         * upstream of its own */
        return 0;
    }
    if (l->direction == SC_DIR_OUTBOUND) {
        if ((seen & (1u << L_UP)) == 0) {
            return sc_config_fail(c, n, "an outbound listener needs upstream");
        }
        if ((seen & (1u << L_PRINC)) != 0) {
            sc_config_push_key(c, "allowed_principals");
            return sc_config_fail(c, sc_yaml_get(n, "allowed_principals"),
                                  "only applies to inbound listeners");
        }
    } else {
        for (size_t k = 0; k < NKEYS(outbound_only); k++) {
            if ((seen & (1u << outbound_only[k])) != 0) {
                sc_config_push_key(c, sc_config_listener_keys[outbound_only[k]].name);
                return sc_config_fail(
                    c, sc_yaml_get(n, sc_config_listener_keys[outbound_only[k]].name),
                    "only applies to outbound listeners (inbound TLS follows "
                    "PeerAuthentication)");
            }
        }
        if ((seen & (1u << L_UP)) == 0) {
            const char *host = cfg->inbound.app_host != NULL ? cfg->inbound.app_host : "127.0.0.1";

            if ((seen & (1u << L_PORT)) == 0) {
                return sc_config_fail(c, n,
                                      "an inbound listener needs upstream (or port, to reach the "
                                      "app on inbound.app_host)");
            }
            if (sc_addr_from_host(host, l->port, &l->upstream) != 0) {
                return sc_config_fail(c, n, "bad inbound.app_host");
            }
        }
    }
    if (l->port == 0) {
        l->port = sc_addr_port(&l->upstream);
    }
    return 0;
}

static int conv_listeners(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned *seen = NULL;
    void *arr = NULL;
    int rc;

    rc = sc_config_apply_list(c, v, sc_config_listener_keys, NKEYS(sc_config_listener_keys),
                              sizeof(struct sc_cfg_listener), listener_init, &arr,
                              &cfg->n_listeners, &seen);
    cfg->listeners = arr;
    free(seen);
    return rc;
}

static int conv_timeouts(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned seen;

    return sc_config_apply(c, v, timeout_keys, NKEYS(timeout_keys), &cfg->timeouts, &seen);
}

/* http */

static int conv_enum_str(struct cfg_ctx *c, const struct sc_yaml_node *v, char **dst,
                         const char *const *names, size_t n, const char *what)
{
    char *str;

    if (sc_yaml_is_null(v)) {
        return 0;
    }
    if (sc_config_want_scalar(c, v, what) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v->str, names[i]) == 0) {
            str = strdup(names[i]);
            if (str == NULL) {
                return sc_config_oom(c, v);
            }
            free(*dst);
            *dst = str;
            return 0;
        }
    }
    return sc_config_fail(c, v, "unknown %s \"%.60s\"", what, v->str);
}

static int conv_xfcc(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    static const char *const names[] = {"SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD",
                                        "SANITIZE_SET", "ALWAYS_FORWARD_ONLY"};
    struct sc_cfg_http *h = base;

    return conv_enum_str(c, v, &h->xfcc, names, NKEYS(names),
                         "forward_client_cert_details mode (expected SANITIZE, FORWARD_ONLY, "
                         "APPEND_FORWARD, SANITIZE_SET or ALWAYS_FORWARD_ONLY)");
}

static const struct key http_keys[] = {
    KEYR("max_connections", K_INT, 1, 1000000, struct sc_cfg_http, max_connections),
    KEYR("max_pending", K_INT, 0, 1000000, struct sc_cfg_http, max_pending),
    KEYR("retries", K_INT, 0, 5, struct sc_cfg_http, retries),
    KEYFN("xfcc", conv_xfcc),
};

static int conv_http(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned seen;

    return sc_config_apply(c, v, http_keys, NKEYS(http_keys), &cfg->http, &seen);
}

/* access_log */

static int conv_al_format(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    static const char *const names[] = {"text", "json", "istio"};
    struct sc_cfg_access_log *al = base;

    return conv_enum_str(c, v, &al->format, names, NKEYS(names),
                         "access log format (expected text, json or istio)");
}

static const struct key access_log_keys[] = {
    KEY("path", K_STR, struct sc_cfg_access_log, path),
    KEYFN("format", conv_al_format),
};

static int conv_access_log(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    unsigned seen;

    return sc_config_apply(c, v, access_log_keys, NKEYS(access_log_keys), &cfg->access_log, &seen);
}

/* tls */

/* tls.groups: a non-empty list of group names this OpenSSL knows, each
 * once; stored joined with ':' (SSL_CTX_set1_groups_list's format). */
static int conv_tls_groups(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    struct sc_config *cfg = base;
    size_t len = 0;
    char *joined;

    if (sc_yaml_is_null(v)) {
        return 0;
    }
    if (v->kind != SC_YAML_SEQ || v->n == 0) {
        return sc_config_fail(c, v,
                              "expected a non-empty list of key-exchange groups (e.g. "
                              "[X25519, P-256, P-384])");
    }
    for (size_t i = 0; i < v->n; i++) {
        const struct sc_yaml_node *g = v->items[i];
        size_t saved = sc_config_push_index(c, i);

        if (sc_config_want_scalar(c, g, "a key-exchange group name") != 0) {
            return -1;
        }
        if (!sc_tls_group_known(g->str)) {
            return sc_config_fail(c, g,
                                  "unknown key-exchange group \"%.60s\" (e.g. X25519, "
                                  "P-256, P-384, P-521, X448, ffdhe2048)",
                                  g->str);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(v->items[j]->str, g->str) == 0) {
                return sc_config_fail(c, g, "\"%.60s\" is listed twice", g->str);
            }
        }
        len += g->len + 1;
        sc_config_pop(c, saved);
    }
    joined = malloc(len);
    if (joined == NULL) {
        return sc_config_oom(c, v);
    }
    len = 0;
    for (size_t i = 0; i < v->n; i++) {
        memcpy(joined + len, v->items[i]->str, v->items[i]->len);
        len += v->items[i]->len;
        joined[len++] = i + 1 < v->n ? ':' : '\0';
    }
    free(cfg->tls_groups);
    cfg->tls_groups = joined;
    return 0;
}

static const struct key tls_keys[] = {
    KEYFN("groups", conv_tls_groups),
};

static int conv_tls(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    unsigned seen;

    return sc_config_apply(c, v, tls_keys, NKEYS(tls_keys), base, &seen);
}

/* hbone */

static const struct key hbone_keys[] = {
    KEYR("max_streams_per_connection", K_INT, 1, 100000, struct sc_config,
         hbone.max_streams_per_connection),
    KEYR("idle_ms", K_INT, 1, 86400000, struct sc_config, hbone.idle_ms),
    KEYR("port", K_INT, 1, 65535, struct sc_config, hbone.port),
};

static int conv_hbone(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    unsigned seen;

    return sc_config_apply(c, v, hbone_keys, NKEYS(hbone_keys), base, &seen);
}

/* limits */

static const struct key limits_keys[] = {
    KEYR("handshakes_per_second_per_source", K_INT, 0, 1000000, struct sc_config,
         limits.handshakes_per_second_per_source),
    KEYR("max_connections", K_INT, 1, 10000000, struct sc_config, limits.max_connections),
};

static int conv_limits(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base)
{
    unsigned seen;

    return sc_config_apply(c, v, limits_keys, NKEYS(limits_keys), base, &seen);
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
    KEYFN("http", conv_http),
    KEYFN("access_log", conv_access_log),
    KEYFN("tls", conv_tls),
    KEYFN("limits", conv_limits),
    KEYFN("hbone", conv_hbone),
    KEYR("hbone_port", K_INT, 1, 65535, struct sc_config, hbone.port),
    KEYR("socket_mark", K_INT, 0, INT_MAX, struct sc_config, socket_mark),
    KEYR("buffer_limit_bytes", K_SIZE, 1024, 1073741824, struct sc_config, buffer_limit),
};

int sc_config_apply_top(struct cfg_ctx *c)
{
    unsigned seen;

    return sc_config_apply(c, c->root, top_keys, NKEYS(top_keys), c->cfg, &seen);
}
