#ifndef SC_CASRC_H
#define SC_CASRC_H

#include <stdint.h>

#include "err.h"

struct event_base;
struct sc_sdsserver;

/* The agent's "ca" source: mints the workload certificate from the CA in
 * an Istio cacerts directory (see ca.h), serves it as "default" and the
 * root bundle as "ROOTCA", renews at renew_at x lifetime +- jitter, and
 * rotates roots without downtime.
 *
 * Timers never sleep longer than 30 s; every wake-up compares the wall
 * clock with the renewal time and notAfter, so a suspend or a clock jump
 * leads to a renewal at the next wake-up.
 *
 * Root rotation: when the directory changes to a CA whose roots differ,
 *  1. ROOTCA = old roots + new roots is pushed;
 *  2. once every stream subscribed to ROOTCA has answered (ACK/NACK) that
 *     version, or after trust_wait, the leaf is reissued from the new CA;
 *  3. the old roots stay in ROOTCA for root_overlap, then are dropped.
 * A new CA under the same roots just reissues the leaf.  A directory that
 * does not load (half-written, mismatched key) is held back with a WARN. */

struct sc_ca_src_opts {
    const char *dir;
    const char *spiffe_id;
    int64_t lifetime_ms;
    double renew_at;
    double jitter;
    int64_t root_overlap_ms;
    int64_t trust_wait_ms;
};

struct sc_ca_src;

/* Starts the source (the strings are copied).  A CA directory that does not
 * load yet is logged and waited for, not an error.  Returns NULL with err
 * only when the watcher cannot be set up. */
struct sc_ca_src *sc_ca_src_new(struct event_base *base, const struct sc_ca_src_opts *o,
                                struct sc_sdsserver *srv, struct sc_err *err);
/* Re-reads the CA directory now (SIGHUP). */
void sc_ca_src_recheck(struct sc_ca_src *c);
void sc_ca_src_free(struct sc_ca_src *c);

#endif
