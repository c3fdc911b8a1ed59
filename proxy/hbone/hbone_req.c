#include "hbone_req.h"

#include <stdio.h>
#include <string.h>

#include "spiffe.h"

enum { BAD_SCHEME = 1, BAD_PATH = 2, BAD_DUP = 4, BAD_LONG = 8, BAD_PROTOCOL = 16 };

void sc_hbone_req_init(struct sc_hbone_req *r)
{
    memset(r, 0, sizeof(*r));
}

static int is(const uint8_t *p, size_t len, const char *s)
{
    return strlen(s) == len && memcmp(p, s, len) == 0;
}

static void set(char *dst, size_t cap, const uint8_t *v, size_t len, unsigned *bad)
{
    if (dst[0] != '\0') {
        *bad |= BAD_DUP;
        return;
    }
    if (len >= cap) {
        *bad |= BAD_LONG;
        return;
    }
    memcpy(dst, v, len);
    dst[len] = '\0';
    if (strlen(dst) != len) { /* a NUL inside */
        *bad |= BAD_LONG;
    }
}

void sc_hbone_req_header(struct sc_hbone_req *r, const uint8_t *name, size_t namelen,
                         const uint8_t *value, size_t valuelen)
{
    r->n_headers++;
    if (is(name, namelen, ":method")) {
        set(r->method, sizeof(r->method), value, valuelen, &r->bad);
    } else if (is(name, namelen, ":authority")) {
        set(r->authority, sizeof(r->authority), value, valuelen, &r->bad);
    } else if (is(name, namelen, ":scheme")) {
        r->bad |= BAD_SCHEME;
    } else if (is(name, namelen, ":path")) {
        r->bad |= BAD_PATH;
    } else if (is(name, namelen, ":protocol")) {
        r->bad |= BAD_PROTOCOL;
    }
}

/* "ip:port" or "[ipv6]:port", numeric, port 1..65535, nothing else. */
static int parse_authority(const char *s, struct sc_addr *a, const char **why)
{
    if (s[0] == '\0') {
        *why = "no :authority";
        return -1;
    }
    if (s[0] == '*' || s[0] == ':') {
        *why = "not ip:port";
        return -1;
    }
    if (sc_addr_parse(s, a, why) != 0) {
        return -1;
    }
    if (sc_addr_port(a) == 0) {
        *why = "port 0";
        return -1;
    }
    return 0;
}

/* The workload serves a port when inbound.ports lists it or an explicit
 * inbound listener (not an HBONE one) names it. */
static int served(const struct sc_config *cfg, int port)
{
    if (sc_config_inport(cfg, port) != NULL) {
        return 1;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct sc_cfg_listener *l = &cfg->listeners[i];

        if (l->direction == SC_DIR_INBOUND && l->transport != SC_TRANSPORT_HBONE &&
            l->port == port) {
            return 1;
        }
    }
    return 0;
}

int sc_hbone_req_decide(const struct sc_hbone_req *r, const struct sc_config *cfg,
                        const char *peer_id, struct sc_hbone_target *t, char *why, size_t len)
{
    struct sc_addr a;
    const char *perr = "invalid";
    const char *host = cfg->inbound.app_host != NULL ? cfg->inbound.app_host : "127.0.0.1";

    memset(t, 0, sizeof(*t));
    if (r->method[0] == '\0' || (r->bad & (BAD_DUP | BAD_LONG)) != 0) {
        snprintf(why, len, "malformed request headers");
        return 400;
    }
    if (strcmp(r->method, "CONNECT") != 0) {
        snprintf(why, len, "method %.16s: HBONE takes CONNECT only", r->method);
        return 405;
    }
    if ((r->bad & (BAD_SCHEME | BAD_PATH | BAD_PROTOCOL)) != 0) {
        snprintf(why, len, "a CONNECT with :scheme, :path or :protocol is not HBONE");
        return 400;
    }
    if (parse_authority(r->authority, &a, &perr) != 0) {
        snprintf(why, len, ":authority \"%.80s\" is not ip:port (%s)", r->authority, perr);
        return 400;
    }
    t->port = sc_addr_port(&a);
    if (!served(cfg, t->port)) {
        snprintf(why, len, "port %d is not an inbound port of this workload", t->port);
        return 403;
    }
    t->mode = sc_config_port_mode(cfg, t->port);
    if (t->mode == SC_MTLS_DISABLE) {
        snprintf(why, len, "port %d is PeerAuthentication DISABLE: it takes no mesh mTLS", t->port);
        return 403;
    }
    t->inport = sc_config_inport(cfg, t->port);
    if (t->inport != NULL && t->inport->allowed_principals.n > 0 &&
        !sc_spiffe_match_any(t->inport->allowed_principals.v, t->inport->allowed_principals.n,
                             peer_id)) {
        snprintf(why, len, "peer %.200s is not in port %d's allowed_principals",
                 peer_id != NULL ? peer_id : "-", t->port);
        return 403;
    }
    if (sc_addr_from_host(host, t->port, &t->app) != 0) {
        snprintf(why, len, "bad inbound.app_host");
        return 503;
    }
    t->protocol = t->inport != NULL ? t->inport->protocol : SC_PROTO_TCP;
    t->timeouts = t->inport != NULL ? &t->inport->timeouts : &cfg->timeouts;
    for (size_t i = 0; t->inport == NULL && i < cfg->n_listeners; i++) {
        const struct sc_cfg_listener *l = &cfg->listeners[i];

        if (l->direction == SC_DIR_INBOUND && l->transport != SC_TRANSPORT_HBONE &&
            l->port == t->port) {
            if (l->allowed_principals.n > 0 &&
                !sc_spiffe_match_any(l->allowed_principals.v, l->allowed_principals.n, peer_id)) {
                snprintf(why, len, "peer %.200s is not in listener %.60s's allowed_principals",
                         peer_id != NULL ? peer_id : "-", l->name);
                return 403;
            }
            t->protocol = l->protocol;
            t->timeouts = &l->timeouts;
            t->app = l->upstream;
            break;
        }
    }
    why[0] = '\0';
    return 200;
}

int sc_hbone_peer_allowed(const struct sc_config *cfg, const char *peer_id)
{
    int any = 0;

    for (size_t i = 0; i < cfg->inbound.n_ports; i++) {
        const struct sc_strv *p = &cfg->inbound.ports[i].allowed_principals;

        if (p->n == 0 || sc_spiffe_match_any(p->v, p->n, peer_id)) {
            return 1;
        }
        any = 1;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct sc_cfg_listener *l = &cfg->listeners[i];

        if (l->direction != SC_DIR_INBOUND || l->transport == SC_TRANSPORT_HBONE) {
            continue;
        }
        if (l->allowed_principals.n == 0 ||
            sc_spiffe_match_any(l->allowed_principals.v, l->allowed_principals.n, peer_id)) {
            return 1;
        }
        any = 1;
    }
    return !any;
}
