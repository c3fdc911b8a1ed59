#ifndef SC_HSLIMIT_H
#define SC_HSLIMIT_H

#include <stddef.h>
#include <stdint.h>

struct sc_addr;

/* Downstream TLS handshakes per second per client address (the IP, not the
 * port), before any certificate is verified (a resumption is refunded): a token bucket per address,
 * refilled at `rate` per second and holding at most `rate` (the burst).
 *
 * One table per worker, touched only by its thread (no locks), of a fixed
 * size: an address is looked up in a small window of slots, and when that
 * window is full the address seen least recently gives its slot up (and
 * starts again with a full bucket when it comes back). */
struct sc_hslimit;

#define SC_HSLIMIT_SLOTS 1024 /* addresses tracked per worker */

/* Returns a new, empty table, or NULL (out of memory).  Free with
 * sc_hslimit_free (NULL is fine). */
struct sc_hslimit *sc_hslimit_new(void);
void sc_hslimit_free(struct sc_hslimit *l);

/* Counts one handshake from src at now_ms (a monotonic clock, in ms).
 * Returns 1 when src is within rate handshakes per second (the handshake
 * takes a token), 0 when it is over the limit (nothing is taken; the caller
 * refuses the connection).  rate 0 means no limit; a src that is not IPv4
 * or IPv6 is never limited. */
int sc_hslimit_allow(struct sc_hslimit *l, const struct sc_addr *src, unsigned rate,
                     uint64_t now_ms);

/* Gives back the token a handshake from src took, once it turned out to
 * resume a session this sidecar issued (the peer's certificate was verified
 * when the session was made): resumptions, which a busy peer makes for
 * every new connection, do not count against the limit; full and failed
 * handshakes do.  Nothing happens when src is not in the table. */
void sc_hslimit_refund(struct sc_hslimit *l, const struct sc_addr *src, unsigned rate);

/* How many addresses the table holds (at most SC_HSLIMIT_SLOTS). */
size_t sc_hslimit_size(const struct sc_hslimit *l);

#endif
