#ifndef SC_ROUTE_H
#define SC_ROUTE_H

#include "addr.h"
#include "config.h"
#include "sniff.h"
#include "stats.h"
#include "wctx.h"

/* The routing decision for one accepted connection, as a pure function:
 * the config, the listener that accepted it and its addresses in, a
 * struct sc_route out.  No I/O, no event loop, no worker: proxy/conn.c
 * asks, then does what it says (test/unit/test_route.c has the table).
 *
 * Every pointer in a decision is borrowed from the config it was made
 * from (or is a static string) and lives as long as that config. */

/* What the connection does first. */
enum sc_route_action {
    SC_ROUTE_REFUSE = 0, /* close at once; `reason` says why */
    SC_ROUTE_HBONE_TUNNEL, /* an HBONE listener: mesh mTLS (ALPN h2), then
                            * an HTTP/2 server of CONNECT streams */
    SC_ROUTE_MESH_TLS, /* inbound STRICT: mesh mTLS once the first bytes arrive */
    SC_ROUTE_SNIFF, /* inbound PERMISSIVE: peek, then sc_route_sniffed */
    SC_ROUTE_PASSTHROUGH, /* inbound DISABLE: plaintext to the app at L4 */
    SC_ROUTE_SERVE, /* outbound (or an HBONE stream): serve as `proto` says */
};

struct sc_route {
    enum sc_route_action action;
    char reason[160]; /* SC_ROUTE_REFUSE: the connection log's end= */
    const char *lname; /* the listener's name for the log ("inbound", ...) */
    const struct sc_cfg_listener *listener; /* an explicit listener, or NULL */
    enum sc_direction dir;
    int port; /* inbound: the workload port (PeerAuthentication's);
               * outbound: the destination port */
    enum sc_mtls_mode mode; /* inbound: the port's PeerAuthentication mode */
    enum sc_tls_mode tls; /* outbound: the route's (DestinationRule) tls mode */
    enum sc_proto proto;
    enum sc_transport transport; /* outbound: hbone = a CONNECT stream on a
                                  * pooled tunnel (ISTIO_MUTUAL only) */
    int hbone_port; /* transport hbone: the destination's HBONE port */
    struct sc_addr up_addr; /* where the upstream connection goes */
    const char *host; /* outbound SNI / route host, may be NULL */
    const struct sc_cfg_tls_files *tls_files; /* outbound SIMPLE / MUTUAL */
    const struct sc_strv *principals; /* inbound allowed / outbound expected, may be NULL */
    const void *route; /* the inbound.ports entry, &cfg->inbound, a route or a
                        * listener: the HTTP pool's key */
    const struct sc_cfg_timeouts *to; /* the port's, route's or listener's timeouts */
};

/* Where a connection came in. */
struct sc_route_in {
    enum sc_listener_kind kind;
    const char *listener; /* SC_LISTENER_EXPLICIT: the listener's name */
    const struct sc_addr *orig_dst; /* capture listeners: the original
                                     * destination (SO_ORIGINAL_DST, else the
                                     * local address); NULL otherwise */
    const struct sc_addr *local; /* capture listeners: the local address it reached */
};

/* Decides for a connection accepted as `in` says.  Always fills *out
 * (action SC_ROUTE_REFUSE with a reason when it must be closed: a listener
 * removed by a reload, a connection sent to the sidecar's own capture
 * address). */
void sc_route_decide(const struct sc_config *cfg, const struct sc_route_in *in,
                     struct sc_route *out);

/* Decides for a CONNECT stream of an inbound HBONE tunnel to the
 * workload's `port`: an inbound.ports entry (or the inbound defaults), else
 * an explicit inbound listener on that port; else SC_ROUTE_REFUSE
 * (hbone_refused).  action is SC_ROUTE_SERVE: the tunnel was mesh mTLS. */
void sc_route_hbone_stream(const struct sc_config *cfg, int port, struct sc_route *out);

/* What a PERMISSIVE port does with what the client sent first. */
enum sc_route_sniffed {
    SC_ROUTE_SNIFF_WAIT = 0, /* not enough bytes yet */
    SC_ROUTE_SNIFF_MESH_TLS, /* a ClientHello with the mesh ALPN: TLS accept */
    SC_ROUTE_SNIFF_APP_TLS, /* another ClientHello: app_tls_passthrough (L4) */
    SC_ROUTE_SNIFF_PLAINTEXT, /* anything else: plaintext, served as `proto` says */
};

/* The verdict for `res` and `info` from sc_sniff_client_hello over `n`
 * peeked bytes, when the peek could hold at most `cap` (a ClientHello
 * still incomplete at cap bytes is plaintext). */
enum sc_route_sniffed sc_route_sniffed(enum sc_sniff_result res, const struct sc_sniff_info *info,
                                       size_t n, size_t cap);

/* How an inbound connection of class `cls` on a port in `mode`, whose first
 * bytes were not mesh TLS, reaches the app: 1 = served as the route's
 * protocol says (HTTP parsed on an http port), 0 = relayed at L4 untouched
 * (a DISABLE port, the app's own TLS). */
int sc_route_parse_plaintext(enum sc_mtls_mode mode, enum sc_conn_class cls);

/* The class of an outbound connection once its upstream is reached, by its
 * tls mode: mesh_mtls, plaintext or app_tls. */
enum sc_conn_class sc_route_outbound_class(enum sc_tls_mode tls);

#endif
