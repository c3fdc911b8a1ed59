#include "route.h"

#include <stdio.h>
#include <string.h>

#define LOOP_REFUSED "loop_refused: original destination is the sidecar itself"

static void refuse(struct sc_route *out, const char *reason)
{
    out->action = SC_ROUTE_REFUSE;
    snprintf(out->reason, sizeof(out->reason), "%s", reason);
}

static const struct sc_cfg_listener *find_listener(const struct sc_config *cfg, const char *name)
{
    for (size_t i = 0; name != NULL && i < cfg->n_listeners; i++) {
        if (strcmp(cfg->listeners[i].name, name) == 0) {
            return &cfg->listeners[i];
        }
    }
    return NULL;
}

/* What a PeerAuthentication mode does first with a new inbound connection. */
static enum sc_route_action inbound_action(enum sc_mtls_mode mode)
{
    switch (mode) {
    case SC_MTLS_STRICT:
        return SC_ROUTE_MESH_TLS; /* nothing to sniff: mesh mTLS or nothing */
    case SC_MTLS_DISABLE:
        return SC_ROUTE_PASSTHROUGH;
    case SC_MTLS_PERMISSIVE:
    case SC_MTLS_UNSET:
        break;
    }
    return SC_ROUTE_SNIFF;
}

/* Inbound to the workload's `port` through the capture listener (or an
 * HBONE stream): its inbound.ports entry, else the inbound defaults.
 * -1 when the port is the capture listener's own (a loop). */
static int inbound_port(const struct sc_config *cfg, int port, struct sc_route *out)
{
    const struct sc_cfg_inport *ip = sc_config_inport(cfg, port);

    out->port = port;
    if (port == sc_addr_port(&cfg->inbound.address)) {
        return -1; /* sent to 15006 itself: would loop */
    }
    if (sc_addr_from_host(cfg->inbound.app_host, port, &out->up_addr) != 0) {
        return -1;
    }
    out->principals = ip != NULL ? &ip->allowed_principals : NULL;
    out->proto = ip != NULL ? ip->protocol : SC_PROTO_TCP;
    out->route = ip != NULL ? (const void *)ip : (const void *)&cfg->inbound;
    out->to = ip != NULL ? &ip->timeouts : &cfg->timeouts;
    out->mode = sc_config_port_mode(cfg, port);
    return 0;
}

static void inbound_listener(const struct sc_config *cfg, const struct sc_cfg_listener *l,
                             struct sc_route *out)
{
    out->port = l->port;
    out->up_addr = l->upstream;
    out->principals = &l->allowed_principals;
    out->proto = l->protocol;
    out->route = l;
    out->to = &l->timeouts;
    out->mode = sc_config_port_mode(cfg, l->port);
}

/* The HBONE transport of an outbound ISTIO_MUTUAL route or listener. */
static void outbound_transport(const struct sc_config *cfg, enum sc_transport t, int hbone_port,
                               struct sc_route *out)
{
    if (out->tls != SC_TLS_ISTIO_MUTUAL || t != SC_TRANSPORT_HBONE) {
        return;
    }
    out->transport = SC_TRANSPORT_HBONE;
    out->hbone_port = hbone_port != 0 ? hbone_port : cfg->hbone.port;
}

static void outbound_capture(const struct sc_config *cfg, const struct sc_route_in *in,
                             struct sc_route *out)
{
    const struct sc_cfg_route *r;

    if (sc_addr_equal(in->orig_dst, &cfg->outbound.address) ||
        (in->local != NULL && sc_addr_equal(in->orig_dst, in->local))) {
        refuse(out, LOOP_REFUSED); /* sent to 15001 itself: would loop */
        return;
    }
    r = sc_config_route(cfg, in->orig_dst);
    out->up_addr = *in->orig_dst;
    out->tls = r->tls;
    out->proto = r->protocol;
    out->route = r;
    out->to = &r->timeouts;
    out->host = r->host;
    out->tls_files = &r->tls_files;
    out->principals = &r->expected_identities;
    out->port = sc_addr_port(&out->up_addr);
    outbound_transport(cfg, r->transport, r->hbone_port, out);
    out->action = SC_ROUTE_SERVE;
}

static void outbound_listener(const struct sc_config *cfg, const struct sc_cfg_listener *l,
                              struct sc_route *out)
{
    out->up_addr = l->upstream;
    out->tls = l->tls;
    out->proto = l->protocol;
    out->route = l;
    out->to = &l->timeouts;
    out->host = l->host;
    out->tls_files = &l->tls_files;
    out->principals = &l->expected_identities;
    out->port = sc_addr_port(&out->up_addr);
    outbound_transport(cfg, l->transport, l->hbone_port, out);
    out->action = SC_ROUTE_SERVE;
}

/* An HBONE listener: mesh mTLS (ALPN h2) whatever the ports' modes, which
 * apply per stream (sc_route_hbone_stream). */
static void hbone_listener(const struct sc_config *cfg, const struct sc_cfg_listener *l,
                           struct sc_route *out)
{
    out->action = SC_ROUTE_HBONE_TUNNEL;
    out->port = sc_addr_port(l != NULL ? &l->address : &cfg->inbound.hbone_address);
    out->mode = SC_MTLS_STRICT;
    out->principals = l != NULL ? &l->allowed_principals : NULL;
}

void sc_route_decide(const struct sc_config *cfg, const struct sc_route_in *in,
                     struct sc_route *out)
{
    const struct sc_cfg_listener *l = NULL;

    memset(out, 0, sizeof(*out));
    out->to = &cfg->timeouts;
    switch (in->kind) {
    case SC_LISTENER_HBONE:
        out->lname = "hbone";
        out->dir = SC_DIR_INBOUND;
        hbone_listener(cfg, NULL, out);
        return;
    case SC_LISTENER_INBOUND_CAPTURE:
        out->lname = "inbound";
        out->dir = SC_DIR_INBOUND;
        if (inbound_port(cfg, sc_addr_port(in->orig_dst), out) != 0) {
            refuse(out, LOOP_REFUSED);
            return;
        }
        out->action = inbound_action(out->mode);
        return;
    case SC_LISTENER_OUTBOUND_CAPTURE:
        out->lname = "outbound";
        out->dir = SC_DIR_OUTBOUND;
        outbound_capture(cfg, in, out);
        return;
    case SC_LISTENER_EXPLICIT:
        break;
    }
    l = find_listener(cfg, in->listener);
    if (l == NULL) {
        out->lname = "-";
        out->dir = SC_DIR_INBOUND;
        refuse(out, "listener_removed");
        return;
    }
    out->lname = l->name;
    out->listener = l;
    out->dir = l->direction;
    out->to = &l->timeouts;
    if (l->direction == SC_DIR_OUTBOUND) {
        outbound_listener(cfg, l, out);
        return;
    }
    if (l->transport == SC_TRANSPORT_HBONE) {
        hbone_listener(cfg, l, out);
        return;
    }
    inbound_listener(cfg, l, out);
    out->action = inbound_action(out->mode);
}

void sc_route_hbone_stream(const struct sc_config *cfg, int port, struct sc_route *out)
{
    const struct sc_cfg_listener *l = NULL;

    memset(out, 0, sizeof(*out));
    out->lname = "hbone";
    out->dir = SC_DIR_INBOUND;
    out->to = &cfg->timeouts;
    out->action = SC_ROUTE_SERVE;
    if (sc_config_inport(cfg, port) != NULL) {
        if (inbound_port(cfg, port, out) != 0) {
            refuse(out, LOOP_REFUSED);
        }
        return;
    }
    /* a port served by an explicit inbound listener */
    for (size_t i = 0; l == NULL && i < cfg->n_listeners; i++) {
        const struct sc_cfg_listener *x = &cfg->listeners[i];

        if (x->direction == SC_DIR_INBOUND && x->transport != SC_TRANSPORT_HBONE &&
            x->port == port) {
            l = x;
        }
    }
    if (l == NULL) {
        out->action = SC_ROUTE_REFUSE;
        snprintf(out->reason, sizeof(out->reason),
                 "hbone_refused: port %d is not an inbound port of this workload", port);
        return;
    }
    inbound_listener(cfg, l, out);
    out->port = port;
}

enum sc_route_sniffed sc_route_sniffed(enum sc_sniff_result res, const struct sc_sniff_info *info,
                                       size_t n, size_t cap)
{
    switch (res) {
    case SC_SNIFF_NEED_MORE:
        return n >= cap ? SC_ROUTE_SNIFF_PLAINTEXT : SC_ROUTE_SNIFF_WAIT;
    case SC_SNIFF_TLS:
        return info->mesh_alpn ? SC_ROUTE_SNIFF_MESH_TLS : SC_ROUTE_SNIFF_APP_TLS;
    case SC_SNIFF_NOT_TLS:
    case SC_SNIFF_BAD_TLS:
        break;
    }
    return SC_ROUTE_SNIFF_PLAINTEXT;
}

int sc_route_parse_plaintext(enum sc_mtls_mode mode, enum sc_conn_class cls)
{
    return cls == SC_CLASS_PLAINTEXT && mode != SC_MTLS_DISABLE;
}

enum sc_conn_class sc_route_outbound_class(enum sc_tls_mode tls)
{
    switch (tls) {
    case SC_TLS_ISTIO_MUTUAL:
        return SC_CLASS_MESH_MTLS;
    case SC_TLS_DISABLE:
    case SC_TLS_UNSET:
        return SC_CLASS_PLAINTEXT;
    case SC_TLS_SIMPLE:
    case SC_TLS_MUTUAL:
        break;
    }
    return SC_CLASS_APP_TLS;
}
