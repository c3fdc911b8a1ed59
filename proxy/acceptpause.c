#include "acceptpause.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "stats.h"

struct sc_acceptpause {
    struct event *timer;
    char who[64];
    struct sc_stats *stats; /* borrowed, may be NULL */
    sc_acceptpause_set_fn *set;
    void *arg;
    int paused; /* listeners off, timer armed to resume */
    unsigned long long failed; /* failed accept() calls this episode; 0: none */
    struct timespec since; /* the episode's first failure */
};

static long long ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void arm(struct sc_acceptpause *p)
{
    struct timeval tv = {0, SC_ACCEPTPAUSE_MS * 1000};

    if (evtimer_add(p->timer, &tv) != 0 && p->paused) {
        p->paused = 0; /* never leave the listeners off for good */
        p->set(p->arg, 1);
    }
}

/* Paused: accept again, and watch for one more pause.  Not paused: a whole
 * pause went by without a failure, so the episode is over. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sc_acceptpause *p = arg;

    (void)fd;
    (void)what;
    if (p->paused) {
        p->paused = 0;
        p->set(p->arg, 1);
        arm(p);
        return;
    }
    if (p->failed > 0) {
        sc_log(SC_LOG_WARN, NULL,
               "%s: accepting again after %llu failed accept() call(s) over "
               "%lld ms",
               p->who, p->failed, ms_since(&p->since));
        p->failed = 0;
    }
}

struct sc_acceptpause *sc_acceptpause_new(struct event_base *base, const char *who,
                                          struct sc_stats *stats, sc_acceptpause_set_fn *set,
                                          void *arg)
{
    struct sc_acceptpause *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        return NULL;
    }
    snprintf(p->who, sizeof(p->who), "%s", who);
    p->stats = stats;
    p->set = set;
    p->arg = arg;
    p->timer = evtimer_new(base, on_timer, p);
    if (p->timer == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

void sc_acceptpause_free(struct sc_acceptpause *p)
{
    if (p == NULL) {
        return;
    }
    event_free(p->timer);
    free(p);
}

void sc_acceptpause_failed(struct sc_acceptpause *p, const char *listener, int err)
{
    enum sc_accept_error why = err == EMFILE   ? SC_ACCEPT_EMFILE
                               : err == ENFILE ? SC_ACCEPT_ENFILE
                                               : SC_ACCEPT_OTHER;

    if (p->stats != NULL) {
        sc_stats_accept_error(p->stats, why);
    }
    if (p->failed++ == 0) {
        clock_gettime(CLOCK_MONOTONIC, &p->since);
        sc_log(SC_LOG_WARN, NULL,
               "%s listener %s: accept failed: %s; not accepting for %d ms "
               "at a time until it succeeds",
               p->who, listener, strerror(err), SC_ACCEPTPAUSE_MS);
    }
    p->paused = 1;
    p->set(p->arg, 0);
    arm(p);
}

static void on_listener_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    evconnlistener_enable(arg);
}

void sc_acceptpause_listener(struct evconnlistener *lev, const char *what, int err)
{
    struct timeval tv = {0, SC_ACCEPTPAUSE_MS * 1000};

    sc_log(SC_LOG_DEBUG, NULL, "%s: accept failed: %s; not accepting for %d ms", what,
           strerror(err), SC_ACCEPTPAUSE_MS);
    evconnlistener_disable(lev);
    if (event_base_once(evconnlistener_get_base(lev), -1, EV_TIMEOUT, on_listener_resume, lev,
                        &tv) != 0) {
        evconnlistener_enable(lev);
    }
}
