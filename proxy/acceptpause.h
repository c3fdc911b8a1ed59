#ifndef SC_ACCEPTPAUSE_H
#define SC_ACCEPTPAUSE_H

struct event_base;
struct sc_stats;

/* What to do when accept() fails, for the listeners of one event loop (a
 * worker's data listeners, the main thread's admin, health and stats
 * servers).  A failed accept() -- above all EMFILE/ENFILE, out of
 * descriptors -- fails again at once, the listening socket staying readable,
 * so a loop that retries spins at full CPU.  As nginx does, the listeners
 * are disabled for SC_ACCEPTPAUSE_MS and tried again, until a whole pause
 * passes without a failure.  The log gets one WARN when such an episode
 * starts and one, with the count of failed calls, when it ends. */
struct sc_acceptpause;

#define SC_ACCEPTPAUSE_MS 100

/* Enables (on = 1) or disables (on = 0) every listener the pause governs. */
typedef void sc_acceptpause_set_fn(void *arg, int on);

/* who names the loop in the log ("worker 0", "admin"; copied).  Failures
 * are counted in stats (sidecar_accept_errors_total) when it is not NULL
 * (borrowed; it must outlive the pause).  Returns NULL when out of memory. */
struct sc_acceptpause *sc_acceptpause_new(struct event_base *base, const char *who,
                                          struct sc_stats *stats, sc_acceptpause_set_fn *set,
                                          void *arg);
void sc_acceptpause_free(struct sc_acceptpause *p);

/* From a listener's error callback: accept() on listener failed with errno
 * err.  Counts it, pauses every listener, and schedules the retry. */
void sc_acceptpause_failed(struct sc_acceptpause *p, const char *listener, int err);

/* For a listener whose callback argument is not ours (evhttp's): pauses
 * only lev, for SC_ACCEPTPAUSE_MS, keeping no state (so nothing is counted,
 * and the failure is logged at debug level only; the data listeners' lines
 * say that descriptors ran out).  lev must live until its event loop runs
 * again or exits. */
struct evconnlistener;
void sc_acceptpause_listener(struct evconnlistener *lev, const char *what, int err);

#endif
