#ifndef SC_CASRC_H
#define SC_CASRC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

struct event_base;
struct sc_ca;
struct sc_ca_leaf;
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

struct sc_ca_src_stats {
    uint64_t minted; /* workload certificates issued */
    uint64_t mint_failures;
};

void sc_ca_src_get_stats(const struct sc_ca_src *c, struct sc_ca_src_stats *out);

/* The CA signing now, or NULL before one loaded.  Borrowed: it may be
 * replaced when the loop runs again (do not keep it across callbacks). */
const struct sc_ca *sc_ca_src_ca(const struct sc_ca_src *c);

/* The certificate served now, or NULL before the first.  Borrowed, as
 * above. */
const struct sc_ca_leaf *sc_ca_src_leaf(const struct sc_ca_src *c);

/* NULL when the source can serve at now: a CA is loaded, its signing
 * certificate has not expired, and a minted certificate is held and valid.
 * Otherwise the reason, written into buf (returned). */
const char *sc_ca_src_not_ready(const struct sc_ca_src *c, time_t now, char *buf, size_t len);

#endif
