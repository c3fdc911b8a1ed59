#ifndef SC_SDSWIRE_H
#define SC_SDSWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* gRPC message framing ("Length-Prefixed-Message", gRPC over HTTP/2):
 *
 *     1 byte   compressed flag (0 or 1)
 *     4 bytes  message length, big-endian
 *     N bytes  the message
 *
 * Pure code, no I/O.  We never offer a grpc-encoding, so a message with the
 * compressed flag set is refused, as is any flag other than 0/1 and any
 * message longer than the decoder's max. */

#define SC_SDSWIRE_PREFIX_LEN 5
#define SC_SDSWIRE_DEFAULT_MAX (4u * 1024u * 1024u) /* 4 MiB, gRPC's default */

/* Writes the 5-byte prefix for an uncompressed message of len bytes.
 * Returns 0, or -1 when len does not fit in 32 bits. */
int sc_sdswire_prefix(uint8_t out[SC_SDSWIRE_PREFIX_LEN], size_t len);

/* Frames msg (prefix + copy) into a new buffer *out of *outlen bytes; the
 * caller frees *out with free().  Returns 0 or -1 (too long, out of memory). */
int sc_sdswire_encode(const uint8_t *msg, size_t len, uint8_t **out, size_t *outlen);

/* Incremental decoder, embedded by its owner (init/cleanup).  Feed it byte
 * chunks of any size, split anywhere; it yields whole messages.  After an
 * error it stays failed (every further feed returns SC_SDSWIRE_ERROR). */
struct sc_sdswire_dec {
    size_t max; /* largest accepted message */
    uint8_t hdr[SC_SDSWIRE_PREFIX_LEN]; /* prefix bytes gathered so far */
    size_t hdr_have;
    uint8_t *msg; /* message being gathered (owned) */
    size_t msg_len; /* its announced length */
    size_t msg_have;
    int in_msg; /* prefix complete, gathering body */
    int failed;
};

enum sc_sdswire_status {
    SC_SDSWIRE_ERROR = -1, /* err says why; the stream is unusable */
    SC_SDSWIRE_NEED_MORE = 0, /* every byte consumed, no whole message yet */
    SC_SDSWIRE_MESSAGE = 1, /* msg and msg_len hold one whole message */
};

/* max_msg 0 means SC_SDSWIRE_DEFAULT_MAX. */
void sc_sdswire_dec_init(struct sc_sdswire_dec *d, size_t max_msg);
/* Frees the partial message; accepts a zeroed or cleaned-up decoder. */
void sc_sdswire_dec_cleanup(struct sc_sdswire_dec *d);

/* Consumes bytes from buf[0..len) and sets *consumed to how many it took.
 * Returns SC_SDSWIRE_MESSAGE as soon as one message is complete (the rest of
 * buf is left for the next call): *msg points to it, borrowed from the
 * decoder and valid until the next feed or cleanup (a zero-length message
 * gives a non-NULL pointer and *msg_len 0).  Returns SC_SDSWIRE_NEED_MORE
 * when all of buf was consumed without completing a message, or
 * SC_SDSWIRE_ERROR with err filled (compressed flag, bad flag, oversize). */
enum sc_sdswire_status sc_sdswire_dec_feed(struct sc_sdswire_dec *d, const uint8_t *buf, size_t len,
                                           size_t *consumed, const uint8_t **msg, size_t *msg_len,
                                           struct sc_err *err);

/* 1 when the decoder holds part of a message (a stream ending now was
 * truncated), 0 at a message boundary. */
int sc_sdswire_dec_partial(const struct sc_sdswire_dec *d);

#endif
