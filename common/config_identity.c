/* Whom an outbound route or listener accepts as the server, and the ones
 * that accept any identity of our trust domain: ISTIO_MUTUAL with no
 * expected_identities (nor DestinationRule subjectAltNames, which
 * resolve_tls copied into them).  That is Istio's default without istiod,
 * kept, but never silent: a WARN per entry on every load, or with
 * outbound.require_expected_identities an error at the entry
 * (docs/config.md, "Identities"). */

#include "config_internal.h"

#include <stdio.h>

#include "log.h"

static enum sc_idcheck classify(enum sc_tls_mode tls, const struct sc_strv *ids, const char *sni,
                                const char *host)
{
    switch (tls) {
    case SC_TLS_ISTIO_MUTUAL:
        return ids->n > 0 ? SC_IDCHECK_EXPECTED_IDENTITIES : SC_IDCHECK_TRUST_DOMAIN_ONLY;
    case SC_TLS_SIMPLE:
    case SC_TLS_MUTUAL:
        if (ids->n > 0) {
            return SC_IDCHECK_SUBJECT_ALT_NAMES;
        }
        return sni != NULL || host != NULL ? SC_IDCHECK_SERVER_NAME : SC_IDCHECK_CHAIN_ONLY;
    case SC_TLS_UNSET:
    case SC_TLS_DISABLE:
        break;
    }
    return SC_IDCHECK_NONE;
}

enum sc_idcheck sc_config_route_idcheck(const struct sc_cfg_route *r)
{
    return classify(r->tls, &r->expected_identities, r->tls_files.sni, r->host);
}

enum sc_idcheck sc_config_listener_idcheck(const struct sc_cfg_listener *l)
{
    if (l->direction != SC_DIR_OUTBOUND) {
        return SC_IDCHECK_NONE;
    }
    return classify(l->tls, &l->expected_identities, l->tls_files.sni, l->host);
}

const char *sc_idcheck_name(enum sc_idcheck c)
{
    switch (c) {
    case SC_IDCHECK_NONE:
        return "none";
    case SC_IDCHECK_TRUST_DOMAIN_ONLY:
        return "trust_domain_only";
    case SC_IDCHECK_EXPECTED_IDENTITIES:
        return "expected_identities";
    case SC_IDCHECK_SUBJECT_ALT_NAMES:
        return "subject_alt_names";
    case SC_IDCHECK_SERVER_NAME:
        return "server_name";
    case SC_IDCHECK_CHAIN_ONLY:
        return "chain_only";
    }
    return "?";
}

enum loose_kind { LOOSE_ROUTE, LOOSE_LISTENER, LOOSE_DEFAULT };

/* One entry that accepts any identity of our trust domain. */
struct loose {
    enum loose_kind kind;
    size_t index; /* in outbound.routes[] or listeners[] */
    char key[48]; /* its key path: outbound.routes[N], listeners[N], outbound.default */
    char name[300]; /* in words: "outbound route HOST", "outbound listener NAME", … */
    const char *missing; /* what it lacks */
};

/* Finds the next loose entry at or after *pos (routes, then listeners, then
 * outbound.default) and advances *pos past it.  1 if found, 0 at the end. */
static int next_loose(const struct sc_config *cfg, size_t *pos, struct loose *e)
{
    static const char no_ids[] = "no expected_identities or subjectAltNames";

    for (; *pos < cfg->outbound.n_routes; (*pos)++) {
        const struct sc_cfg_route *r = &cfg->outbound.routes[*pos];

        if (sc_config_route_idcheck(r) != SC_IDCHECK_TRUST_DOMAIN_ONLY) {
            continue;
        }
        snprintf(e->key, sizeof(e->key), "outbound.routes[%zu]", *pos);
        snprintf(e->name, sizeof(e->name), "outbound route %.200s",
                 r->host != NULL ? r->host : e->key);
        e->kind = LOOSE_ROUTE;
        e->index = *pos;
        e->missing = no_ids;
        (*pos)++;
        return 1;
    }
    for (; *pos < cfg->outbound.n_routes + cfg->n_listeners; (*pos)++) {
        size_t i = *pos - cfg->outbound.n_routes;
        const struct sc_cfg_listener *l = &cfg->listeners[i];

        if (sc_config_listener_idcheck(l) != SC_IDCHECK_TRUST_DOMAIN_ONLY) {
            continue;
        }
        snprintf(e->key, sizeof(e->key), "listeners[%zu]", i);
        snprintf(e->name, sizeof(e->name), "outbound listener %.200s", l->name);
        e->kind = LOOSE_LISTENER;
        e->index = i;
        e->missing = no_ids;
        (*pos)++;
        return 1;
    }
    if (*pos == cfg->outbound.n_routes + cfg->n_listeners) {
        (*pos)++;
        if (sc_config_route_idcheck(&cfg->outbound.def) == SC_IDCHECK_TRUST_DOMAIN_ONLY) {
            snprintf(e->key, sizeof(e->key), "outbound.default");
            snprintf(e->name, sizeof(e->name), "outbound route outbound.default");
            e->kind = LOOSE_DEFAULT;
            e->index = 0;
            e->missing = "no expected_identities";
            return 1;
        }
    }
    return 0;
}

size_t sc_config_warn_identities(const struct sc_config *cfg)
{
    struct loose e;
    size_t pos = 0;
    size_t n = 0;

    while (next_loose(cfg, &pos, &e)) {
        sc_log(SC_LOG_WARN, NULL,
               "%s: %s: any identity in trust domain %s is accepted as the server", e.name,
               e.missing, cfg->node.trust_domain);
        n++;
    }
    return n;
}

int sc_config_check_identities(struct cfg_ctx *c)
{
    const struct sc_yaml_node *out = sc_yaml_get(c->root, "outbound");
    const struct sc_yaml_node *at;
    struct loose e;
    size_t pos = 0;

    if (!c->cfg->outbound.require_expected_identities || !next_loose(c->cfg, &pos, &e)) {
        return 0;
    }
    if (e.kind == LOOSE_ROUTE) {
        at = sc_yaml_get(out, "routes")->items[e.index];
    } else if (e.kind == LOOSE_LISTENER) {
        at = sc_yaml_get(c->root, "listeners")->items[e.index];
    } else {
        at = sc_yaml_get(out, "default"); /* where its ISTIO_MUTUAL is written */
    }
    if (at == NULL) {
        at = c->root;
    }
    return sc_config_fail_pos(c, at->file, at->line, at->col, e.key,
                              "%s, and outbound.require_expected_identities is true", e.missing);
}
