#ifndef SC_VALIDITY_H
#define SC_VALIDITY_H

#include <time.h>

struct event_base;
struct sc_certs_names;
struct sc_snapshot;
struct sc_tls_material;

/* Watches the validity of every certificate the sidecar holds (the set
 * sc_certs_each visits) and logs each transition once, as it happens:
 *
 *   ERROR certificate expired: role=R resource=N subject="S" serial=X not_after=T
 *   INFO  certificate now valid: role=R resource=N subject="S" serial=X not_before=T
 *
 * A timer is armed for the next notBefore / notAfter among them, capped at
 * SC_VALIDITY_MAX_WAIT seconds (a monotonic timer can lag the wall clock
 * after a suspend); when it fires the states are compared against the wall
 * clock (time(NULL)).  These lines are not rate-limited: one per
 * certificate per transition.  Runs on the main thread only. */
#define SC_VALIDITY_MAX_WAIT 30

struct sc_validity;

/* base may be NULL (no timer: only sc_validity_check notices changes).
 * Returns a new object or NULL (out of memory). */
struct sc_validity *sc_validity_new(struct event_base *base);

/* Replaces the watched set with the certificates of m and snap (both
 * borrowed; nothing is kept of them but copies of names and times).  A
 * certificate already watched keeps its state, so a transition is logged
 * once even across snapshots; a new one starts in its current state (the
 * install-time reminders cover it).  Re-arms the timer. */
void sc_validity_watch(struct sc_validity *v, const struct sc_tls_material *m,
                       const struct sc_snapshot *snap, const struct sc_certs_names *names,
                       time_t now);

/* Logs the transitions that happened by `now` and re-arms the timer (the
 * periodic tick calls this too, as a safety net against clock jumps). */
void sc_validity_check(struct sc_validity *v, time_t now);

/* When the next transition is due (0: none ahead). */
time_t sc_validity_next(const struct sc_validity *v);

/* Accepts NULL. */
void sc_validity_free(struct sc_validity *v);

#endif
