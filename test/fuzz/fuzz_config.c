/* Fuzz target for common/yamlcfg + common/config + common/policy: arbitrary
 * bytes as a sidecar YAML stream (our config plus Istio documents).  Loading
 * must never crash or leak; an accepted config must answer every query
 * (port modes are never UNSET, every route lookup returns a route, resolved
 * outbound TLS modes are never UNSET); a refused one must say why. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_config(const struct sc_config *cfg)
{
    static const int ports[] = {1, 80, 443, 8080, 9000, 9080, 15006, 65535};
    struct sc_addr dst;

    for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        if (sc_config_port_mode(cfg, ports[i]) == SC_MTLS_UNSET) {
            abort();
        }
        (void)sc_config_inport(cfg, ports[i]);
    }
    for (size_t i = 0; i < cfg->inbound.n_ports; i++) {
        if (sc_config_inport(cfg, cfg->inbound.ports[i].port) == NULL) {
            abort();
        }
    }
    for (size_t i = 0; i < cfg->outbound.n_routes; i++) {
        if (cfg->outbound.routes[i].tls == SC_TLS_UNSET) {
            abort();
        }
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct sc_cfg_listener *l = &cfg->listeners[i];

        if (l->name == NULL || l->port < 1 || l->port > 65535 ||
            (l->direction == SC_DIR_OUTBOUND && l->tls == SC_TLS_UNSET)) {
            abort();
        }
    }
    if (cfg->outbound.def.tls == SC_TLS_UNSET || cfg->workers < 1 || cfg->node.namespace_ == NULL ||
        cfg->log_level == NULL) {
        abort();
    }
    if (sc_addr_from_host("10.96.12.7", 8080, &dst) == 0 && sc_config_route(cfg, &dst) == NULL) {
        abort();
    }
    if (sc_addr_from_host("fd00::1", 443, &dst) == 0 && sc_config_route(cfg, &dst) == NULL) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sc_config *cfg = NULL;
    struct sc_err err;

    memset(&err, 0, sizeof(err));
    if (sc_config_load_mem("fuzz.yaml", (const char *)data, size, &cfg, &err) == 0) {
        if (cfg == NULL) {
            abort();
        }
        check_config(cfg);
        sc_config_free(cfg);
    } else if (cfg != NULL || err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
