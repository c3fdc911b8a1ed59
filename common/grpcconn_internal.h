#ifndef SC_GRPCCONN_INTERNAL_H
#define SC_GRPCCONN_INTERNAL_H

/* Shared by the two halves of the grpcconn module, and by nothing else:
 * grpcconn.c (connection life, I/O, the public API) and grpcconn_h2.c (the
 * nghttp2 callbacks).  See grpcconn.h for the contract. */

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <nghttp2/nghttp2.h>

#include "grpcconn.h"
#include "sdswire.h"

struct event;
struct bufferevent;

#define OUT_HIGH (1024u * 1024u) /* stop producing frames past this */
#define OUT_LOW (64u * 1024u) /* resume when drained below this */
#define STREAM_WINDOW (1024 * 1024)
#define CONN_WINDOW (4 * 1024 * 1024)
#define MAX_STREAMS 16
#define MAX_HDR_VALUE 1024
#define REASON_LEN 256

struct sc_grpc_stream {
    struct sc_grpc_conn *conn;
    LIST_ENTRY(sc_grpc_stream) link; /* the connection's open streams */
    int32_t id;
    struct sc_sdswire_dec dec;
    struct evbuffer *out; /* framed messages not yet handed to nghttp2 */
    void *arg; /* server: on_stream's result */
    char *path; /* server: :path */
    int method_post;
    int ctype_grpc;
    int accepted; /* server: on_stream returned non-NULL */
    int notified; /* server: on_stream_close called */
    int ignore_data; /* refused/failed: drop DATA */
    int headers_sent; /* server response headers / client request */
    int deferred; /* data provider returned DEFERRED */
    int finishing; /* trailers wanted after `out` drains */
    int finished; /* trailers (or trailers-only) submitted */
    int fin_status;
    char *fin_message;
    /* client: what the server said */
    int http_status;
    int grpc_status; /* -1 until seen */
    char grpc_message[REASON_LEN];
};

struct sc_grpc_conn {
    struct event_base *base;
    struct bufferevent *bev;
    nghttp2_session *ngh;
    struct event *flush_ev;
    struct event *close_ev;
    int server;
    size_t max_msg;
    size_t out_cap;
    struct sc_grpc_client_cbs ccbs;
    struct sc_grpc_server_cbs scbs;
    void *arg;
    LIST_HEAD(, sc_grpc_stream) streams; /* open streams */
    struct sc_grpc_stream *client; /* client role: the one stream */
    int depth;
    int doomed;
    int closed; /* no more I/O; close_ev pending/done */
    int ending; /* client: a bad message; close once our
                                       * answer to it is written */
    int close_status;
    char reason[REASON_LEN];
    char h2err[REASON_LEN]; /* nghttp2's last error message */
};

/* grpcconn.c */
/* Ends the connection's I/O and reports (from close_ev) with this status
 * and reason (the first reason recorded wins). */
void sc_grpc_i_terminate(struct sc_grpc_conn *c, int status, const char *why);
/* Client: the server sent a message we cannot read (truncated, compressed,
 * oversize, a bad flag).  Reads stop; the owner hears of it through
 * on_bad_message (and may queue a NACK); the connection ends with status
 * and why once that is written. */
void sc_grpc_i_bad_message(struct sc_grpc_conn *c, int status, const char *why);
/* Records a reason without ending anything (used for GOAWAY). */
void sc_grpc_i_note(struct sc_grpc_conn *c, int status, const char *why);
struct sc_grpc_stream *sc_grpc_i_stream_new(struct sc_grpc_conn *c, int32_t id);
/* Unlinks and frees s (no callbacks). */
void sc_grpc_i_stream_free(struct sc_grpc_stream *s);
/* Server: tells the owner the stream is over (once). */
void sc_grpc_i_stream_notify_close(struct sc_grpc_stream *s);

/* grpcconn_h2.c */
void sc_grpc_i_set_callbacks(nghttp2_session_callbacks *cbs);
/* The data provider of every stream: drains s->out, then DEFERRED, or
 * (server, finishing) EOF + trailers. */
ssize_t sc_grpc_i_data_read(nghttp2_session *ngh, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user);
/* grpc-message is percent-encoded (gRPC over HTTP/2, "Responses"). */
void sc_grpc_i_pct_encode(const char *in, char *out, size_t outlen);

#endif
