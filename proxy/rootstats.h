#ifndef SC_ROOTSTATS_H
#define SC_ROOTSTATS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Which trusted root the peers of one worker chained to, and when: what
 * GET /certs/roots answers "is it safe to drop the old root?" from.
 *
 * One table per worker, written only by its worker (no locks: relaxed
 * atomics, and a slot is published with a release store after its strings
 * are written); the admin reads every worker's table on the main thread and
 * merges them.  Bounded: SC_ROOTSTATS_ROOTS roots (more are not tracked),
 * SC_ROOTSTATS_PEERS distinct peer IDs per root (more are counted in
 * peers_dropped), handshake counts per minute for the last two hours and
 * per hour for SC_ROOTSTATS_MAX_WINDOW; last_seen is exact. */
#define SC_ROOTSTATS_ROOTS 16
#define SC_ROOTSTATS_PEERS 256
#define SC_ROOTSTATS_MAX_WINDOW (7L * 24 * 3600)

struct sc_rootstats;

/* Returns a new empty table, or NULL. */
struct sc_rootstats *sc_rootstats_new(void);
void sc_rootstats_free(struct sc_rootstats *rs);

/* The worker's own thread only: a handshake (resumed: 1 for a resumption,
 * attributed to the root of its original full handshake) whose peer
 * peer_id (may be "" or NULL) chained to the root with this serial (as
 * sc_x509_serial_hex prints it).  Strings are copied. */
void sc_rootstats_note(struct sc_rootstats *rs, const char *serial, const char *peer_id,
                       int resumed, time_t now);

/* One root over all workers, for the window (now - window, now]. */
struct sc_rootstats_view {
    uint64_t full; /* handshakes in the window, rounded out to
                                     * the minute (window <= 2 h) or the hour */
    uint64_t resumed;
    time_t last_seen; /* 0 = never */
    size_t n_peers; /* distinct peers seen in the window */
    const char *peers[SC_ROOTSTATS_PEERS]; /* borrowed from the tables */
    int peers_dropped; /* 1 when a table had no room for a peer */
};

/* Main thread: merges all n workers' tables for serial (case-insensitive)
 * into out.  The peer strings stay valid as long as the tables do. */
void sc_rootstats_view(struct sc_rootstats *const *all, size_t n, const char *serial, time_t now,
                       long window, struct sc_rootstats_view *out);

/* Parses a window: digits followed by s, m or h ("90s", "15m", "24h"),
 * from 1 s to SC_ROOTSTATS_MAX_WINDOW.  Returns 0 with *secs set, or -1
 * with why written into err. */
int sc_rootstats_parse_window(const char *s, long *secs, char *err, size_t errlen);

#endif
