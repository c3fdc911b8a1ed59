#ifndef SC_GRPCCONN_H
#define SC_GRPCCONN_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

/* One HTTP/2 connection (nghttp2 on a libevent bufferevent over a connected
 * stream socket, a Unix socket in practice) carrying gRPC streams, in the
 * client or the server role.  Plain HTTP/2 ("h2c" with prior knowledge), as
 * gRPC uses on Unix sockets.  Messages are framed with sdswire; we send no
 * grpc-encoding and refuse compressed messages.
 *
 * Everything runs on the event_base's thread; the program must ignore
 * SIGPIPE (a peer that goes away would otherwise kill it).  Limits: a message larger than
 * max_msg (0 = SC_SDSWIRE_DEFAULT_MAX, 4 MiB) ends its stream with
 * RESOURCE_EXHAUSTED; malformed HTTP/2 or gRPC framing closes the connection
 * (logged with the reason), never crashes.  Received DATA is consumed as it
 * is decoded, so HTTP/2 flow control windows reopen; pending output per
 * stream is capped (send returns -1 past the cap). */

struct sc_grpc_conn;
struct sc_grpc_stream;

/* gRPC status codes we use. */
enum {
    SC_GRPC_OK = 0,
    SC_GRPC_CANCELLED = 1,
    SC_GRPC_UNKNOWN = 2,
    SC_GRPC_INVALID_ARGUMENT = 3,
    SC_GRPC_PERMISSION_DENIED = 7,
    SC_GRPC_RESOURCE_EXHAUSTED = 8,
    SC_GRPC_UNIMPLEMENTED = 12,
    SC_GRPC_INTERNAL = 13,
    SC_GRPC_UNAVAILABLE = 14,
};

/* ---- client ------------------------------------------------------------ */

struct sc_grpc_client_cbs {
    /* One whole gRPC message (unframed), borrowed for the call. */
    void (*on_message)(void *arg, const uint8_t *msg, size_t len);
    /* The stream (and with it the connection) is over: grpc_status from the
     * server's trailers, or UNAVAILABLE (connection lost), INTERNAL
     * (protocol error, truncated frame), RESOURCE_EXHAUSTED (oversize),
     * UNKNOWN (non-200 HTTP status); why is a human-readable reason
     * (grpc-message or ours), borrowed for the call.  Called exactly once,
     * from its own event callback, never from inside an sc_grpc_* call; the
     * owner may free the conn inside this callback or later.  No callback
     * follows it. */
    void (*on_close)(void *arg, int grpc_status, const char *why);
    /* Optional: the server sent a message that cannot be read (truncated by
     * the end of its stream, compressed, a bad flag byte, over max_msg);
     * grpc_status and why as on_close's, borrowed for the call.  The owner
     * may still send (a NACK); that is written before the connection ends,
     * and on_close follows with the same status and reason. */
    void (*on_bad_message)(void *arg, int grpc_status, const char *why);
};

/* Opens the HTTP/2 connection on fd (a connected or connecting stream
 * socket; takes ownership: it is closed by sc_grpc_conn_free, also on
 * failure) and one bidi stream: POST path (e.g. SC_SDS_METHOD_PATH) with
 * :scheme http, :authority authority, content-type application/grpc,
 * te: trailers.  cbs and the strings are copied/borrowed for the call only
 * (cbs is copied).  Returns the conn, or NULL (fd closed) on failure. */
struct sc_grpc_conn *sc_grpc_client_new(struct event_base *base, int fd, const char *authority,
                                        const char *path, const struct sc_grpc_client_cbs *cbs,
                                        void *arg, size_t max_msg);

/* Frames msg (copied) and queues it on the client stream.  Returns 0, or -1
 * when the stream is closed or its pending output would pass the cap. */
int sc_grpc_client_send(struct sc_grpc_conn *c, const uint8_t *msg, size_t len);

/* ---- server ------------------------------------------------------------ */

struct sc_grpc_server_cbs {
    /* A new request stream for path.  Return the stream's argument (passed
     * to on_message and on_stream_close), or NULL to refuse it with
     * UNIMPLEMENTED (12); a refused stream gets no further callbacks. */
    void *(*on_stream)(void *arg, struct sc_grpc_stream *s, const char *path);
    /* One whole message from the client, borrowed for the call.  The
     * callback may send on or finish the stream. */
    void (*on_message)(void *stream_arg, const uint8_t *msg, size_t len);
    /* The stream is over (finished by us, reset, or its connection closed);
     * the sc_grpc_stream is invalid after this returns.  Called once for
     * every accepted stream. */
    void (*on_stream_close)(void *stream_arg);
    /* The connection is over (peer closed, protocol error, GOAWAY done);
     * every open stream got on_stream_close first.  Called exactly once, from
     * its own event callback; the owner frees c (inside or later). */
    void (*on_conn_close)(void *arg, struct sc_grpc_conn *c);
};

/* Serves HTTP/2 on fd (a connected stream socket; takes ownership as for
 * the client).  Requests must be POST with content-type application/grpc*;
 * others are answered with a gRPC error.  A client's half-close (END_STREAM)
 * is answered with grpc-status 0 unless the stream already finished.
 * Returns the conn, or NULL (fd closed). */
struct sc_grpc_conn *sc_grpc_server_new(struct event_base *base, int fd,
                                        const struct sc_grpc_server_cbs *cbs, void *arg,
                                        size_t max_msg);

/* Frames msg (copied) and queues it; the response headers (:status 200,
 * content-type application/grpc) go out before the first message.  Returns
 * 0, or -1 when the stream has finished or its pending output would pass
 * the cap. */
int sc_grpc_stream_send(struct sc_grpc_stream *s, const uint8_t *msg, size_t len);

/* Ends the stream after its queued messages, with trailers grpc-status and
 * (when message is non-NULL) grpc-message (percent-encoded).  A second call
 * is ignored.  on_stream_close follows once the stream is closed. */
void sc_grpc_stream_finish(struct sc_grpc_stream *s, int grpc_status, const char *message);

/* ---- both -------------------------------------------------------------- */

/* Why the connection ended ("" while it is open), e.g. "connection closed
 * by peer" or "HTTP/2 protocol error: ...".  Borrowed; valid until free. */
const char *sc_grpc_conn_close_reason(const struct sc_grpc_conn *c);

/* Closes the socket and frees everything.  The only callback called from
 * inside is on_stream_close, once for each still-open server stream (so
 * the owner can release its stream args).  Accepts NULL. */
void sc_grpc_conn_free(struct sc_grpc_conn *c);

#endif
