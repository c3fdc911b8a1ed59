#include "describe.h"

#include <event2/buffer.h>
#include <stdio.h>

#include "addr.h"
#include "config.h"
#include "json.h"
#include "policy.h"
#include "stats.h"
#include "x509.h"

static void inbound_port(struct evbuffer *out, const struct sc_config *cfg,
                         struct sc_stats *const *stats, size_t n, time_t now, int port,
                         const char *source, int first)
{
    struct sc_policy_decision d;
    struct sc_stats_nonmesh_sum nm;
    char as[SC_ADDR_STRLEN], t[32];

    sc_policy_decide(cfg->policy, port, &d);
    sc_stats_sum_nonmesh(stats, n, port, now, &nm);
    evbuffer_add_printf(out, "%s{\"port\":%d,\"source\":", first ? "" : ",", port);
    sc_json_put_str(out, source);
    evbuffer_add_printf(out, ",\"mode\":\"%s\",\"decided_by\":", sc_mtls_mode_name(d.mode));
    if (d.level != NULL) {
        evbuffer_add_printf(out, "{\"kind\":\"PeerAuthentication\",\"namespace\":");
        sc_json_put_str(out, d.ns);
        evbuffer_add_printf(out, ",\"name\":");
        sc_json_put_str(out, d.name);
        evbuffer_add_printf(out, ",\"level\":\"%s\"}", d.level);
    } else {
        evbuffer_add_printf(out, "null");
    }
    evbuffer_add_printf(out, ",\"port_level_override\":%s,\"connections\":{",
                        d.port_level ? "true" : "false");
    for (int c = 0; c < SC_CLASS_N; c++) {
        evbuffer_add_printf(out, "%s\"%s\":%llu", c > 0 ? "," : "",
                            sc_conn_class_name((enum sc_conn_class)c),
                            (unsigned long long)sc_stats_sum_class(stats, n, SC_DIR_INBOUND, port,
                                                                   (enum sc_conn_class)c));
    }
    evbuffer_add_printf(out,
                        "},\"last_hour\":{\"plaintext\":%llu,\"non_mesh_tls\":%llu,"
                        "\"last_client\":",
                        (unsigned long long)nm.plaintext, (unsigned long long)nm.app_tls);
    sc_json_put_str_or_null(out, nm.has_last ? sc_addr_str(&nm.last_peer, as, sizeof(as)) : NULL);
    evbuffer_add_printf(out, ",\"last_seen\":");
    sc_json_put_str_or_null(out, nm.has_last ? sc_time_rfc3339(nm.last_at, t, sizeof(t)) : NULL);
    evbuffer_add_printf(out, "}}");
}

static void outbound_entry(struct evbuffer *out, const char *kind, const char *name,
                           const char *host, int port, enum sc_tls_mode tls, enum sc_idcheck check,
                           const struct sc_strv *ids, const char *dest_rule,
                           enum sc_transport transport, int first)
{
    evbuffer_add_printf(out, "%s{\"kind\":\"%s\",\"name\":", first ? "" : ",", kind);
    sc_json_put_str(out, name);
    evbuffer_add_printf(out, ",\"host\":");
    sc_json_put_str_or_null(out, host);
    evbuffer_add_printf(out,
                        ",\"port\":%d,\"tls\":\"%s\",\"identity_check\":\"%s\","
                        "\"transport\":\"%s\",\"expected_identities\":[",
                        port, sc_tls_mode_name(tls), sc_idcheck_name(check),
                        sc_transport_name(transport));
    for (size_t i = 0; i < ids->n; i++) {
        if (i > 0) {
            evbuffer_add(out, ",", 1);
        }
        sc_json_put_str(out, ids->v[i]);
    }
    evbuffer_add_printf(out, "],\"destination_rule\":");
    sc_json_put_str_or_null(out, dest_rule);
    evbuffer_add_printf(out, "}");
}

void sc_describe_render(const struct sc_config *cfg, struct sc_stats *const *stats, size_t n,
                        time_t now, struct evbuffer *out)
{
    char name[300], t[32];
    int first = 1;

    evbuffer_add_printf(out, "{\"trust_domain\":");
    sc_json_put_str(out, cfg->node.trust_domain);
    evbuffer_add_printf(out, ",\"now\":\"%s\",\"inbound\":[", sc_time_rfc3339(now, t, sizeof(t)));
    for (size_t i = 0; cfg->has_inbound && i < cfg->inbound.n_ports; i++) {
        snprintf(name, sizeof(name), "inbound.ports[%zu]", i);
        inbound_port(out, cfg, stats, n, now, cfg->inbound.ports[i].port, name, first);
        first = 0;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct sc_cfg_listener *l = &cfg->listeners[i];

        if (l->direction == SC_DIR_INBOUND) {
            snprintf(name, sizeof(name), "listener %.200s", l->name);
            inbound_port(out, cfg, stats, n, now, l->port, name, first);
            first = 0;
        }
    }
    evbuffer_add_printf(out, "],\"outbound\":[");
    first = 1;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct sc_cfg_listener *l = &cfg->listeners[i];

        if (l->direction == SC_DIR_OUTBOUND) {
            outbound_entry(out, "listener", l->name, l->host, l->port, l->tls,
                           sc_config_listener_idcheck(l), &l->expected_identities, l->dest_rule,
                           l->transport, first);
            first = 0;
        }
    }
    for (size_t i = 0; cfg->has_outbound && i < cfg->outbound.n_routes; i++) {
        const struct sc_cfg_route *r = &cfg->outbound.routes[i];

        snprintf(name, sizeof(name), "outbound.routes[%zu]", i);
        outbound_entry(out, "route", name, r->host, r->port, r->tls, sc_config_route_idcheck(r),
                       &r->expected_identities, r->dest_rule, r->transport, first);
        first = 0;
    }
    if (cfg->has_outbound) {
        const struct sc_cfg_route *r = &cfg->outbound.def;

        outbound_entry(out, "default", "outbound.default", NULL, 0, r->tls,
                       sc_config_route_idcheck(r), &r->expected_identities, r->dest_rule,
                       r->transport, first);
    }
    evbuffer_add_printf(out, "]}\n");
}
