#ifndef SC_RELAY_H
#define SC_RELAY_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct event_base;
struct evbuffer;
struct sc_io;
struct sc_relay;

/* Why a relay ended. */
enum sc_relay_end {
    SC_RELAY_PEER_CLOSED = 0, /* both directions finished cleanly */
    SC_RELAY_DOWN_RESET, /* error reading or writing downstream */
    SC_RELAY_UP_RESET, /* error reading or writing upstream */
    SC_RELAY_IDLE_TIMEOUT, /* no bytes either way for idle_ms */
    SC_RELAY_HALF_CLOSED_TIMEOUT, /* one side ended, then no byte moved for half_closed_ms */
};

struct sc_relay_limits {
    size_t high_watermark; /* bytes read and not yet written per direction,
                                 * at most one 16 KiB buffer (64 KiB while
                                 * a direction moves bulk) */
    int idle_ms; /* 0 = no idle timeout */
    int half_closed_ms; /* once one side has ended its sending half:
                                 * no byte moving for this long ends the
                                 * relay (shorter than idle_ms); 0 = off */
};

/* done() is called exactly once; bytes[0] went downstream→upstream,
 * bytes[1] upstream→downstream.  For resets, detail says why in words
 * (OpenSSL's for a TLS failure: "tls: unexpected message"; else strerror's:
 * "Connection reset by peer"); it is "" otherwise, and only valid during
 * the call.  The relay is freed when done() returns, and with it both
 * connections. */
typedef void sc_relay_done_fn(struct sc_relay *r, enum sc_relay_end why, const char *detail,
                              const uint64_t bytes[2], void *arg);

/* The connection log's end= text for a relay's end: "peer_closed",
 * "idle_timeout", "half_closed_timeout", or "downstream_reset: <detail>" /
 * "upstream_reset: <detail>".  Writes into buf and returns it. */
const char *sc_relay_end_str(enum sc_relay_end why, const char *detail, char *buf, size_t len);

/* Takes ownership of both bufferevents (which must have been created with
 * BEV_OPT_CLOSE_ON_FREE), in every case, and relays bytes both ways on the
 * raw I/O layer (proxy/io/io.h): the sockets and SSLs are taken out of them
 * and the bufferevents freed.  Backpressure: each direction holds at most
 * min(high_watermark, 16 KiB) bytes read and not yet written, in a buffer
 * taken from the worker's free list only while bytes are in flight; a
 * direction whose reads fill 16 KiB four times in a row moves to a 64 KiB
 * buffer, min(high_watermark, 64 KiB), until four reads in a row bring less
 * than 16 KiB.
 * Half-close: an end of stream on one side is passed on as a shutdown of
 * the other side's write half (a TLS close_notify then a TCP FIN) once the
 * bytes before it are written.  Bytes sitting in either bufferevent (read
 * and not delivered, or queued and not written) are relayed first, in
 * order.  Returns NULL on allocation failure (both bufferevents are then
 * freed too). */
struct sc_relay *sc_relay_new(struct bufferevent *down, struct bufferevent *up,
                              const struct sc_relay_limits *lim, sc_relay_done_fn *done, void *arg);

/* The same for two connections already on the I/O layer (an HTTP upgrade
 * or CONNECT: the client's connection and a pooled one): down and up are
 * taken in every case, neither may be watched by an event any more.  in[i]
 * holds bytes read from side i (0 down, 1 up) and not yet delivered, out[i]
 * bytes still to be written to side i; the four evbuffers stay the
 * caller's, drained here. */
struct sc_relay *sc_relay_new_io(struct event_base *base, struct sc_io *down, struct sc_io *up,
                                 struct evbuffer *in[2], struct evbuffer *out[2],
                                 const struct sc_relay_limits *lim, sc_relay_done_fn *done,
                                 void *arg);

/* Ends the relay now, without calling done(); closes both connections. */
void sc_relay_free(struct sc_relay *r);

/* The relay's byte counts so far ([0] down→up, [1] up→down). */
void sc_relay_bytes(const struct sc_relay *r, uint64_t bytes[2]);

#endif
