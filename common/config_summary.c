/* The effective policy of a config, one line per listener (config.h,
 * sc_config_summary): what start-up, every reload and --check print. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "policy.h"

#define LINE_MAX_ 1024

struct sink {
    sc_config_line_fn *emit;
    void *arg;
    size_t n;
};

/* "listener NAME: ADDRESS DIR port=P protocol=PROTO mode=..." */
static void line(struct sink *k, const char *name, const struct sc_addr *addr,
                 enum sc_direction dir, const char *port, enum sc_proto proto, const char *mode,
                 const char *extra)
{
    char out[LINE_MAX_], as[SC_ADDR_STRLEN];

    snprintf(out, sizeof(out), "listener %s: %s %s port=%s protocol=%s mode=%s%s", name,
             sc_addr_str(addr, as, sizeof(as)), dir == SC_DIR_INBOUND ? "inbound" : "outbound",
             port, sc_proto_name(proto), mode, extra);
    k->emit(k->arg, out);
    k->n++;
}

static void inbound(struct sink *k, const struct sc_config *cfg, const char *name,
                    const struct sc_addr *addr, int port, enum sc_proto proto, int hbone)
{
    char mode[512], ps[16] = "*";

    sc_policy_explain(cfg->policy, port, mode, sizeof(mode));
    if (port > 0) {
        snprintf(ps, sizeof(ps), "%d", port);
    }
    line(k, name, addr, SC_DIR_INBOUND, ps, proto, mode, hbone ? " transport=hbone" : "");
}

static void outbound(struct sink *k, const char *name, const struct sc_addr *addr, int port,
                     enum sc_proto proto, enum sc_tls_mode tls, const char *from, const char *host,
                     enum sc_transport transport)
{
    char mode[256], ps[16] = "*", extra[300] = "";

    snprintf(mode, sizeof(mode), "%s (%s)", sc_tls_mode_name(tls), from);
    if (port > 0) {
        snprintf(ps, sizeof(ps), "%d", port);
    }
    if (host != NULL) {
        snprintf(extra, sizeof(extra), " host=%s", host);
    }
    if (transport == SC_TRANSPORT_HBONE) {
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), " transport=hbone");
    }
    line(k, name, addr, SC_DIR_OUTBOUND, ps, proto, mode, extra);
}

size_t sc_config_summary(const struct sc_config *cfg, sc_config_line_fn *emit, void *arg)
{
    struct sink k = {emit, arg, 0};

    if (cfg->has_inbound) {
        inbound(&k, cfg, "inbound", &cfg->inbound.address, 0, SC_PROTO_TCP, 0);
        for (size_t i = 0; i < cfg->inbound.n_ports; i++) {
            const struct sc_cfg_inport *ip = &cfg->inbound.ports[i];
            inbound(&k, cfg, "inbound", &cfg->inbound.address, ip->port, ip->protocol, 0);
        }
    }
    if (cfg->has_outbound) {
        const struct sc_cfg_route *d = &cfg->outbound.def;

        outbound(&k, "outbound", &cfg->outbound.address, 0, d->protocol, d->tls, "outbound.default",
                 NULL, d->transport);
        for (size_t i = 0; i < cfg->outbound.n_routes; i++) {
            const struct sc_cfg_route *r = &cfg->outbound.routes[i];
            outbound(&k, "outbound", &cfg->outbound.address, r->port, r->protocol, r->tls,
                     r->tls_from, r->host, r->transport);
        }
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct sc_cfg_listener *l = &cfg->listeners[i];

        if (l->direction == SC_DIR_INBOUND) {
            inbound(&k, cfg, l->name, &l->address, l->port, l->protocol,
                    l->transport == SC_TRANSPORT_HBONE);
        } else {
            outbound(&k, l->name, &l->address, l->port, l->protocol, l->tls, l->tls_from, l->host,
                     l->transport);
        }
    }
    return k.n;
}
