#ifndef SC_CONN_INTERNAL_H
#define SC_CONN_INTERNAL_H

/* The layout of a connection (struct sc_conn) and the steps of its life,
 * shared by the files of the conn module only:
 *   proxy/conn.c             accept, the routing decision applied, serve
 *                            (L4 relay, upstream connect, HTTP session), the
 *                            one teardown (sc_conn_finish) and its log lines;
 *   proxy/conn_down.c        the downstream before it is served: the first
 *                            bytes, the PERMISSIVE sniff, the mesh TLS
 *                            handshake, the protocol: auto detection;
 *   proxy/hbone/conn_hbone.c a connection as HBONE sees it: an inbound
 *                            tunnel, an inbound stream served as a
 *                            connection, an outbound CONNECT stream.
 * Nothing else includes it: the rest of the proxy sees conn.h. */

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "magic.h"
#include "route.h"
#include "stats.h"
#include "wctx.h"

struct sc_io;
struct sc_relay;
struct sc_upstream;
struct sc_l7;
struct sc_hbone_tunnel;
struct sc_hbone_out;

#define BEV_FLAGS (BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)

struct sc_conn {
    struct sc_log_ctx log; /* first: sc_log prefix */
    SC_MAGIC_FIELD
    LIST_ENTRY(sc_conn) link; /* the worker's open connections */
    unsigned long long id;
    struct sc_wctx *w;
    struct sc_snapshot *snap; /* reference held until close */
    const struct sc_config *cfg; /* borrowed from snap */
    enum sc_listener_kind kind;
    const char *lname;
    enum sc_direction dir;
    int port; /* workload port (in) / destination port (out) */
    enum sc_mtls_mode mode; /* inbound */
    enum sc_tls_mode tls; /* outbound */
    enum sc_proto proto;
    const char *host; /* outbound SNI / route host, may be NULL */
    const struct sc_cfg_tls_files *tls_files; /* outbound SIMPLE / MUTUAL */
    const struct sc_strv *principals; /* inbound allowed / outbound expected */
    int cls; /* enum sc_conn_class, -1 until decided */
    int fd; /* downstream fd until a bufferevent owns it */
    struct sc_io *dio; /* or an HBONE stream's pair end, until the L7 session takes it */
    int has_orig;
    int up_tried; /* an upstream connect was attempted */
    struct sc_addr down_addr, orig_dst, up_addr, local_addr;
    struct bufferevent *down, *up;
    struct event *ev; /* peek / connect watcher */
    struct event *timer; /* the current phase's deadline */
    struct sc_relay *relay;
    struct sc_lcount *count; /* the listener's open count (our reference) */
    struct sc_upstream *pending; /* upstream connect in progress */
    struct sc_l7 *l7; /* HTTP session, when the protocol is http */
    const void *route; /* the route or listener config (pool key) */
    const struct sc_cfg_timeouts *to; /* the port's, route's or listener's timeouts */
    const char *action;
    size_t peeked;
    char *peer_id;
    char peer_root[80]; /* serial of the root the peer chained to */
    const char *session; /* "full", "resumed", or NULL before TLS */
    const char *tls_version;
    struct timespec t0;
    struct timespec started; /* CLOCK_REALTIME, formatted only for a log line */
    uint64_t bytes[2];
    int tcp_state; /* Istio's TCP metrics: TCP_* */
    unsigned al_flags; /* access-log response flags of an L4 relay's end */
    /* HBONE (proxy/hbone*.c) */
    int hbone_listener; /* accepted on an HBONE listener: a tunnel */
    struct sc_hbone_tunnel *hbone; /* inbound tunnel, once HTTP/2 runs */
    struct sc_hbone_out *hout; /* outbound: our CONNECT stream */
    int hb_retried; /* outbound: the one retry is spent */
    X509 *hb_cert; /* a stream's tunnel peer certificate (XFCC) */
    unsigned long long hb_tunnel; /* tunnel id for the log, 0 = none */
    long long hb_stream; /* stream id, or -1 for the tunnel's own line */
    uint64_t hb_streams;
    int hb_port; /* outbound: the route's or listener's hbone_port */
    /* the access log's connection fields (filled only when it is on) */
    char al_cluster[300], al_down_local[SC_ADDR_STRLEN], al_down_remote[SC_ADDR_STRLEN];
    char al_hbone[48];
};

enum { TCP_NONE = 0, TCP_CONNECTING, TCP_OPENED };

/* ---- proxy/conn.c ------------------------------------------------------ */

/* A new connection on worker w for the accepted fd (taken; closed when out
 * of memory, and NULL returned), counted in count (may be NULL), its
 * snapshot referenced, its lname "-": the caller fills in the rest. */
struct sc_conn *sc_conn_new(struct sc_wctx *w, struct sc_lcount *count, int fd,
                            const struct sockaddr *peer, int peerlen);
/* Takes what the routing decision says. */
void sc_conn_apply_route(struct sc_conn *c, const struct sc_route *r);

/* The one teardown: writes the connection log line (end=<reason>), counts,
 * then frees everything the connection holds, and c itself. */
void sc_conn_finish(struct sc_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The class of the connection, once (the first call decides). */
void sc_conn_classify(struct sc_conn *c, enum sc_conn_class cls);
/* Istio's istio_tcp_* counters for this connection. */
void sc_conn_count_tcp(struct sc_conn *c, int opened, int closed, const char *flags);

/* The downstream is decided (mesh mTLS terminated, or plaintext): serve it
 * at L4 or L7 as the protocol says. */
void sc_conn_serve(struct sc_conn *c);
/* L4: connect upstream (or open an outbound HBONE stream), then relay. */
void sc_conn_connect_upstream(struct sc_conn *c);

/* The connection's single deadline: set_timer arms it with a new callback,
 * arm_timer again with the current one. */
void sc_conn_set_timer(struct sc_conn *c, event_callback_fn cb, long ms);
void sc_conn_arm_timer(struct sc_conn *c, long ms);
long sc_conn_elapsed_ms(const struct sc_conn *c);
/* Frees the peek / first-bytes watcher, if any. */
void sc_conn_drop_watcher(struct sc_conn *c);

/* ---- proxy/conn_down.c ------------------------------------------------- */

/* STRICT (and an HBONE listener): mesh TLS once the first bytes arrive. */
void sc_conn_wait_first_bytes(struct sc_conn *c);
/* PERMISSIVE: peek at the first bytes, then TLS accept or pass through. */
void sc_conn_start_sniff(struct sc_conn *c);
/* Bytes pass through to the app without TLS termination, classified cls. */
void sc_conn_passthrough(struct sc_conn *c, enum sc_conn_class cls);
/* protocol auto: decide between HTTP and TCP, then serve. */
void sc_conn_detect_protocol(struct sc_conn *c);

/* ---- proxy/hbone/conn_hbone.c ------------------------------------------ */

/* An HBONE listener's connection: its mTLS (ALPN h2) when the first bytes
 * arrive, then sc_conn_hbone_tunnel. */
void sc_conn_hbone_listener(struct sc_conn *c);
/* The tunnel's handshake is done (ssl, the downstream bufferevent's):
 * HTTP/2 takes the connection. */
void sc_conn_hbone_tunnel(struct sc_conn *c, SSL *ssl);
/* Outbound transport hbone: the app connection (c->fd, taken) becomes a
 * CONNECT stream on a pooled tunnel. */
void sc_conn_hbone_out(struct sc_conn *c);

#endif
