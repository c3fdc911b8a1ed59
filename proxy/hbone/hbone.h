#ifndef SC_HBONE_H
#define SC_HBONE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"

struct x509_st;

/* An HBONE stream to a protocol http (or auto) port, handed to the HTTP
 * session as a connection of its own (proxy/hbone/hbone_in.c hands it over,
 * proxy/hbone/conn_hbone.c takes it): io
 * (http ports) is the session's end of an in-process sc_io pair whose other
 * end is the stream; otherwise fd is our end of a socketpair.  The
 * connection is mesh mTLS with the tunnel's peer (XFCC, access log) and
 * logs hbone=<tunnel> stream=<id>.  Takes fd and io; borrows the rest (the
 * certificate gets its own reference). */
struct sc_io;

struct sc_conn_hbone {
    int port; /* the workload port */
    struct sc_addr peer_addr; /* the tunnel's peer */
    const char *peer_id;
    const char *tls_version;
    struct x509_st *peer_cert;
    unsigned long long tunnel_id;
    long long stream_id;
    /* protocol http ports: the stream's end of an in-process pair
     * (sc_io_pair_new), taken, and fd is -1; NULL: the bytes come on fd */
    struct sc_io *io;
};

/* HBONE tunnels (docs/hbone.md): one HTTP/2 connection over mesh mTLS
 * (ALPN h2) carrying CONNECT streams, each stream one app connection.
 * The same object serves both roles:
 *
 *  - server (inbound, sc_hbone_server_new): each CONNECT's :authority is
 *    judged by proxy/hbone/hbone_req.c, the app is connected (plain, loopback),
 *    200 or a refusal is answered, then bytes flow both ways;
 *  - client (outbound, proxy/hbone/hbone_pool.c): CONNECT streams opened for
 *    app connections, the bytes of each flowing once its 200 is in.
 *
 * The tunnel's socket is an sc_io (TLS after the handshake); each stream's
 * local side (the app connection) is a plain sc_io.  Every socket is
 * registered once, edge-triggered.  nghttp2 frames are gathered into one
 * buffer before SSL_write, so the bytes of several streams ready in one
 * loop turn go out in one record and one send; one read feeds many frames
 * to nghttp2.  HTTP/2 flow control is the backpressure: DATA received for
 * a stream is acknowledged (WINDOW_UPDATE) only once written to its local
 * socket, and a stream's local socket is read only when its send window
 * has room.
 *
 * Ownership: a tunnel owns its streams; a stream owns its local socket.
 * Everything runs on one worker thread. */

struct bufferevent;
struct sc_snapshot;
struct sc_wctx;
struct sc_hbone_tunnel;
struct sc_hbone_stream;

/* What a tunnel says of itself to its owner when it ends: reason (the
 * connection log's end=) and how many streams it carried. */
typedef void sc_hbone_tunnel_done_fn(void *arg, const char *reason, uint64_t streams,
                                     const uint64_t bytes[2]);

/* The tunnel's identity for logs: who is at the other end. */
struct sc_hbone_peer {
    unsigned long long tunnel_id; /* the tunnel connection's conn id */
    struct sc_addr addr; /* the peer's address */
    const char *peer_id; /* its verified SPIFFE ID (copied) */
    const char *tls_version; /* static string */
    const char *listener; /* listener name for the log (static or config) */
};

/* Server role, after a verified mTLS handshake with ALPN h2 on an HBONE
 * listener.  Takes the bufferevent (made with BEV_OPT_CLOSE_ON_FREE; freed
 * here, even on failure) and its own snapshot reference.  done() is called
 * exactly once, when the tunnel ends; the tunnel is freed after it returns.
 * NULL on failure (done() not called). */
struct sc_hbone_tunnel *sc_hbone_server_new(struct sc_wctx *w, struct sc_snapshot *snap,
                                            struct bufferevent *bev,
                                            const struct sc_hbone_peer *peer,
                                            sc_hbone_tunnel_done_fn *done, void *arg);

/* Ends a tunnel now (its owner is going away): its streams are reset,
 * done() is not called.  Accepts NULL. */
void sc_hbone_tunnel_free(struct sc_hbone_tunnel *t);

/* GOAWAY: no new streams; the tunnel ends once its streams have. */
void sc_hbone_tunnel_drain(struct sc_hbone_tunnel *t);

/* Mostly for the pool (client role). */
struct sc_hbone_client_cb;
struct sc_hbone_tunnel *sc_hbone_client_new(struct sc_wctx *w, struct sc_snapshot *snap,
                                            struct bufferevent *bev,
                                            const struct sc_hbone_peer *peer,
                                            sc_hbone_tunnel_done_fn *done, void *arg);
/* Streams open (or waiting for their 200) on the tunnel. */
size_t sc_hbone_tunnel_streams(const struct sc_hbone_tunnel *t);
/* Whether a new stream may be opened on it (not draining, under the
 * peer's SETTINGS_MAX_CONCURRENT_STREAMS and max). */
int sc_hbone_tunnel_has_room(const struct sc_hbone_tunnel *t, size_t max);
/* Of those, the streams one side has ended (half-closed): about to go, as
 * a rule (an app connection closed after its response). */
size_t sc_hbone_tunnel_finishing(const struct sc_hbone_tunnel *t);
unsigned long long sc_hbone_tunnel_id(const struct sc_hbone_tunnel *t);
const char *sc_hbone_tunnel_peer_id(const struct sc_hbone_tunnel *t);

/* Client role: the end of one outbound stream.  status: the CONNECT
 * response (0 when none came); retry: the tunnel failed before a 200
 * (the local end was not read, so the stream can be tried again on
 * another tunnel); io: the local end handed back, now the callee's, when
 * retry is set (else NULL: the stream closed it). */
struct sc_hbone_stream_end {
    int status;
    int retry;
    struct sc_io *io;
    int32_t stream_id;
    unsigned long long tunnel_id;
    uint64_t bytes[2]; /* [0] from the local side, [1] to it */
    const char *reason; /* "peer_closed", "stream_reset: ...", ... */
};
typedef void sc_hbone_stream_done_fn(void *arg, const struct sc_hbone_stream_end *end);
/* The 200 is in (status, stream_id and tunnel_id of end set); done() still
 * comes at the end. */
typedef void sc_hbone_stream_ready_fn(void *arg, const struct sc_hbone_stream_end *end);

/* Opens a CONNECT stream to authority on tunnel t for the local end io
 * (taken): a plain connected socket's (L4), or one end of an in-process
 * pair (sc_io_pair_new) whose other end is an HTTP session's upstream
 * connection (L7).  The stream watches io with an event of its own.  The
 * request goes out from the tunnel's own event in this loop turn, so
 * neither callback runs inside this call.  ready (may be NULL) is called
 * when the 200 arrives; done() exactly once at the end.  NULL on failure:
 * io aborted, no callback. */
struct sc_hbone_stream *sc_hbone_stream_open(struct sc_hbone_tunnel *t, struct sc_io *io,
                                             const char *authority, const char *forwarded_for,
                                             sc_hbone_stream_ready_fn *ready,
                                             sc_hbone_stream_done_fn *done, void *arg);

/* The owner of a client stream is going away: reset it; done() is not
 * called.  Accepts NULL. */
void sc_hbone_stream_cancel(struct sc_hbone_stream *s);

#endif
