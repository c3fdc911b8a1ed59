#ifndef SC_RELAY_H
#define SC_RELAY_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct sc_relay;

/* Why a relay ended. */
enum sc_relay_end {
    SC_RELAY_PEER_CLOSED = 0,   /* both directions finished cleanly */
    SC_RELAY_DOWN_RESET,        /* error reading or writing downstream */
    SC_RELAY_UP_RESET,          /* error reading or writing upstream */
    SC_RELAY_IDLE_TIMEOUT,      /* no bytes either way for idle_ms */
};

struct sc_relay_limits {
    size_t high_watermark;      /* stop reading a side when the other side's
                                 * pending output passes this; resume below half */
    int idle_ms;                /* 0 = no idle timeout */
};

/* done() is called exactly once; bytes[0] went downstream→upstream,
 * bytes[1] upstream→downstream.  For resets, detail says why in words
 * (sc_tlsv_io_error: "tls: unexpected message", "Connection reset by peer",
 * ...); it is "" otherwise, and only valid during the call.  The relay is
 * freed when done() returns, and with it both bufferevents. */
typedef void sc_relay_done_fn(struct sc_relay *r, enum sc_relay_end why, const char *detail,
                              const uint64_t bytes[2], void *arg);

/* The connection log's end= text for a relay's end: "peer_closed",
 * "idle_timeout", or "downstream_reset: <detail>" / "upstream_reset:
 * <detail>".  Writes into buf and returns it. */
const char *sc_relay_end_str(enum sc_relay_end why, const char *detail, char *buf, size_t len);

/* Takes ownership of both bufferevents (which must have been created with
 * BEV_OPT_CLOSE_ON_FREE) and relays bytes both ways with backpressure and
 * half-close: an EOF on one side is passed on as a shutdown of the other
 * side's write half (a TLS close_notify then a TCP FIN) once its pending
 * output is flushed.  Bytes already sitting in either input buffer are
 * relayed first.  Returns NULL on allocation failure (the bufferevents are
 * then still the caller's). */
struct sc_relay *sc_relay_new(struct bufferevent *down, struct bufferevent *up,
                              const struct sc_relay_limits *lim, sc_relay_done_fn *done,
                              void *arg);

/* Ends the relay now, without calling done(); frees both bufferevents. */
void sc_relay_free(struct sc_relay *r);

/* The relay's byte counts so far ([0] down→up, [1] up→down). */
void sc_relay_bytes(const struct sc_relay *r, uint64_t bytes[2]);

#endif
