#ifndef SC_HBONE_INTERNAL_H
#define SC_HBONE_INTERNAL_H

/* The layout of HBONE tunnels and streams, shared by proxy/hbone/hbone.c (the
 * HTTP/2 session and the byte flow), proxy/hbone/hbone_in.c (the server's
 * answer to a CONNECT) and their unit test; nothing else includes it. */

#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include "hbone.h"
#include "hbone_req.h"

struct event;
struct evbuffer;
struct sc_io;

#define SC_HBONE_GATHER 16384 /* frames gathered per SSL_write: one record */
#define SC_HBONE_STREAM_WINDOW (256 * 1024) /* per stream: bytes in flight to a slow app */
#define SC_HBONE_CONN_WINDOW (16 * 1024 * 1024)
#define SC_HBONE_SERVER_MAX_STREAMS 1024 /* SETTINGS_MAX_CONCURRENT_STREAMS we grant */

typedef void hbone_idle_fn(void *arg, struct sc_hbone_tunnel *t);

struct sc_hbone_stream {
    struct sc_hbone_tunnel *t;
    LIST_ENTRY(sc_hbone_stream) link; /* the tunnel's streams */
    int32_t id; /* HTTP/2 stream id, 0 before one is given */
    struct sc_io *io; /* the local (app) socket, plain */
    struct event *ev;
    struct event *connect_ev; /* server: connecting to the app */
    int local_fd; /* server: the socket being connected */
    int pending_app; /* server: an app hand-off is under way */
    int http; /* server: handed to the HTTP session */
    struct evbuffer *to_local; /* DATA received, not yet written locally */
    int deferred; /* nghttp2 waits for local bytes */
    int local_eof; /* local read half ended: END_STREAM sent */
    int remote_eof; /* END_STREAM received */
    int local_shut; /* our FIN to the local socket sent */
    int h2_closed; /* nghttp2 has closed the stream */
    int up_tried;
    int status; /* the CONNECT's answer (sent or received) */
    int resp_status; /* client: :status as it arrives */
    int retry; /* client: failed before any answer */
    const char *refusal; /* server: body of a refusal */
    size_t refusal_off;
    char refusal_buf[300];
    uint64_t bytes[2]; /* [0] read locally, [1] written locally */
    unsigned long long conn_id; /* server: the stream's connection-log id */
    struct timespec t0;
    struct timespec last; /* the last byte either way (monotonic coarse) */
    char started[40];
    struct sc_hbone_req req; /* server: the request */
    struct sc_hbone_target tgt; /* server: what it asked for */
    char reason[400];
    sc_hbone_stream_ready_fn *ready; /* client */
    sc_hbone_stream_done_fn *done; /* client */
    void *arg;
};

struct sc_hbone_tunnel {
    struct sc_wctx *w;
    struct sc_snapshot *snap; /* our reference */
    int client;
    enum sc_direction dir;
    struct sc_hbone_peer peer; /* peer.peer_id unused: see peer_id */
    char *peer_id;
    struct x509_st *peer_cert; /* server: the client's certificate (our reference) */
    nghttp2_session *ngh;
    struct sc_io *io;
    struct event *ev;
    struct event *idle;
    struct event *sweep; /* per-stream idle / half-closed timeouts */
    struct event *flush; /* the loop turn's frames, written once (see schedule_flush) */
    int flush_pending;
    uint8_t *obuf; /* frames gathered for the next write */
    size_t ocap, olen, ooff;
    LIST_HEAD(, sc_hbone_stream) streams;
    size_t n_open;
    uint64_t n_streams; /* every stream it carried */
    uint64_t bytes[2]; /* DATA payload in, TLS plaintext out */
    int depth; /* inside our callbacks */
    int ended, goaway, draining;
    char reason[300];
    sc_hbone_tunnel_done_fn *done;
    void *arg;
    hbone_idle_fn *idle_cb; /* pool: called when the last stream goes */
    void *idle_arg;
};

struct sc_hbone_stream *sc_hbone_i_stream_new(struct sc_hbone_tunnel *t);
int sc_hbone_i_stream_attach_local(struct sc_hbone_stream *s, int fd);
/* The stream's local end is io (taken; a socket's, or one end of an
 * sc_io_pair_new). */
int sc_hbone_i_stream_attach_io(struct sc_hbone_stream *s, struct sc_io *io);
int sc_hbone_i_stream_submit_response(struct sc_hbone_stream *s, int status, const char *reason);
void sc_hbone_i_tunnel_destroy(struct sc_hbone_tunnel *t);
void sc_hbone_i_tunnel_arm_idle(struct sc_hbone_tunnel *t, long ms);
void sc_hbone_i_client_response(struct sc_hbone_stream *s);
/* hbone_in.c: a server stream's connection-log line and (TCP ports)
 * access-log record, as it is freed. */
void sc_hbone_i_stream_log(struct sc_hbone_stream *s);
/* hbone_in.c: the whole request is in; answer it. */
void sc_hbone_i_server_request(struct sc_hbone_stream *s);
/* hbone_in.c: the app connection of a stream is ready or failed. */
void sc_hbone_i_tunnel_kick(struct sc_hbone_tunnel *t);

/* ---- shared by hbone.c and hbone_client.c ------------------------------ */

/* nghttp2's data source of a stream: its app end's next bytes. */
ssize_t sc_hbone_i_data_read(nghttp2_session *ngh, int32_t id, uint8_t *buf, size_t length,
                             uint32_t *flags, nghttp2_data_source *src, void *user);
/* Enters a callback of the tunnel (see sc_hbone_i_leave). */
void sc_hbone_i_enter(struct sc_hbone_tunnel *t);
/* Leaves it; the outermost one reports an end and frees the tunnel. */
void sc_hbone_i_leave(struct sc_hbone_tunnel *t);
/* Unlinks and frees s (abort_local: reset its app end). */
void sc_hbone_i_stream_free(struct sc_hbone_stream *s, int abort_local);
/* RST_STREAM with code, then frees s when nghttp2 closes it. */
void sc_hbone_i_stream_reset(struct sc_hbone_stream *s, uint32_t code);
/* The stream's end reason, unless it has one. */
void sc_hbone_i_stream_set_reason(struct sc_hbone_stream *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Writes the tunnel's frames, and ends it once drained or closed. */
void sc_hbone_i_tunnel_pump(struct sc_hbone_tunnel *t);

#endif
