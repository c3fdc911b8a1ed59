#include "worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "acceptpause.h"
#include "addr.h"
#include "config.h"
#include "conn.h"
#include "hslimit.h"
#include "io.h"
#include "log.h"
#include "snapshot.h"
#include "stats.h"
#include "tlsctx.h"
#include "thread.h"
#include "tlsverdict.h"
#include "upool.h"
#include "hbone_pool.h"
#include "uuid.h"
#include "wctx.h"

#define MAX_LISTENERS 64

struct wlistener {
    struct sc_worker *w;
    enum sc_listener_kind kind;
    char name[128];
    struct sc_addr addr;
    struct evconnlistener *lev; /* NULL: a free slot */
    struct sc_lcount *count; /* its open connections (our reference) */
};

struct sc_worker {
    int id;
    pthread_t thread;
    int started;
    struct event_base *base;
    struct event *wake; /* a snapshot is waiting, or stop */
    _Atomic(struct sc_snapshot *) pending;
    atomic_int stopping;
    atomic_int draining; /* SC_WORKER_DRAIN_* asked for */
    int lis_drained; /* listeners closed */
    int drained; /* connections told */
    struct sc_snapshot *snap; /* the worker's own reference */
    struct sc_stats *stats;
    struct sc_wctx *ctx; /* what its connections see of it */
    struct sc_upool *upool;
    struct sc_hbone_pool *hbone; /* outbound HBONE tunnels */
    struct sc_hslimit *hslimit; /* downstream handshakes per client address */
    struct wlistener lis[MAX_LISTENERS];
    size_t n_lis;
    struct sc_acceptpause *pause; /* after a failed accept() */
    unsigned long long overflows; /* connections closed at max_connections */
    time_t overflow_logged; /* when that was last said (monotonic s) */
};

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct wlistener *wl = arg;
    struct sc_worker *w = wl->w;
    int max = sc_snapshot_config(w->snap)->limits.max_connections;

    (void)lev;
    if (wl->count != NULL && max > 0 && wl->count->open >= max) {
        /* at the limit: closed at once, counted, said once per 10 s */
        struct timespec now;

        evutil_closesocket(fd);
        sc_stats_overflow(w->stats);
        w->overflows++;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
        if (now.tv_sec >= w->overflow_logged + 10) {
            sc_log(SC_LOG_WARN, NULL,
                   "worker %d listener %s: %d connections open (limits.max_connections); "
                   "closing new ones (%llu so far)",
                   w->id, wl->name, max, (unsigned long long)w->overflows);
            w->overflow_logged = now.tv_sec;
        }
        return;
    }
    sc_conn_accept(w->ctx, wl->kind, wl->name, wl->count, fd, sa, salen);
}

static void set_accepting(void *arg, int on)
{
    struct sc_worker *w = arg;

    for (size_t i = 0; i < w->n_lis; i++) {
        if (w->lis[i].lev == NULL) {
            continue;
        }
        if (on) {
            evconnlistener_enable(w->lis[i].lev);
        } else {
            evconnlistener_disable(w->lis[i].lev);
        }
    }
}

/* Out of descriptors (above all): pause all the worker's listeners. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    struct wlistener *wl = arg;

    (void)lev;
    sc_acceptpause_failed(wl->w->pause, wl->name, EVUTIL_SOCKET_ERROR());
}

static int add_listener(struct sc_worker *w, enum sc_listener_kind kind, const char *name,
                        const struct sc_addr *addr)
{
    struct wlistener *wl = NULL;
    char as[SC_ADDR_STRLEN];
    unsigned flags =
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC;

    for (size_t i = 0; i < MAX_LISTENERS; i++) {
        if (w->lis[i].lev == NULL) {
            wl = &w->lis[i];
            break;
        }
    }
    if (wl == NULL) {
        sc_log(SC_LOG_ERR, NULL, "too many listeners (max %d)", MAX_LISTENERS);
        return -1;
    }
    wl->w = w;
    wl->kind = kind;
    wl->addr = *addr;
    snprintf(wl->name, sizeof(wl->name), "%s", name);
    wl->count = sc_lcount_new();
    if (wl->count == NULL) {
        sc_log(SC_LOG_ERR, NULL, "listener %s: out of memory", name);
        return -1;
    }
    wl->lev = evconnlistener_new_bind(w->base, on_accept, wl, flags, 1024,
                                      (const struct sockaddr *)&addr->ss, (int)addr->len);
    if (wl->lev == NULL) {
        sc_log(SC_LOG_ERR, NULL, "listener %s: cannot listen on %s: %s", name,
               sc_addr_str(addr, as, sizeof(as)), strerror(errno));
        sc_lcount_unref(wl->count);
        wl->count = NULL;
        return -1;
    }
    evconnlistener_set_error_cb(wl->lev, on_accept_error);
    /* accepted sockets inherit TCP_NODELAY from the listener (Linux): no
     * setsockopt per connection */
    {
        int one = 1;

        (void)setsockopt(evconnlistener_get_fd(wl->lev), IPPROTO_TCP, TCP_NODELAY, &one,
                         sizeof(one));
    }
    if ((size_t)(wl - w->lis) + 1 > w->n_lis) {
        w->n_lis = (size_t)(wl - w->lis) + 1;
    }
    return 0;
}

static void close_listener(struct wlistener *wl)
{
    if (wl->lev != NULL) {
        evconnlistener_free(wl->lev);
        wl->lev = NULL;
    }
    sc_lcount_unref(wl->count); /* its connections keep theirs */
    wl->count = NULL;
}

/* The listeners a config asks for. */
struct want {
    enum sc_listener_kind kind;
    const char *name;
    const struct sc_addr *addr;
    int optional; /* a failed bind is logged, not fatal */
};

static size_t wanted(const struct sc_config *cfg, struct want *out, size_t cap)
{
    size_t n = 0;

    if (cfg->has_inbound && n < cap) {
        out[n++] = (struct want){SC_LISTENER_INBOUND_CAPTURE, "inbound", &cfg->inbound.address, 0};
    }
    /* Istio's HBONE port, on by default with inbound: when the default
     * 0.0.0.0:15008 cannot be bound (another sidecar of the host has it),
     * the ERROR line says so and the rest runs; an explicit
     * inbound.hbone_address that cannot be bound stops start-up like any
     * listener. */
    if (cfg->has_inbound && cfg->inbound.has_hbone && n < cap) {
        out[n++] = (struct want){SC_LISTENER_HBONE, "hbone", &cfg->inbound.hbone_address,
                                 !cfg->inbound.hbone_explicit};
    }
    if (cfg->has_outbound && n < cap) {
        out[n++] =
            (struct want){SC_LISTENER_OUTBOUND_CAPTURE, "outbound", &cfg->outbound.address, 0};
    }
    for (size_t i = 0; i < cfg->n_listeners && n < cap; i++) {
        out[n++] = (struct want){SC_LISTENER_EXPLICIT, cfg->listeners[i].name,
                                 &cfg->listeners[i].address, 0};
    }
    return n;
}

static int same(const struct wlistener *wl, const struct want *wt)
{
    return wl->lev != NULL && wl->kind == wt->kind && strcmp(wl->name, wt->name) == 0 &&
           sc_addr_equal(&wl->addr, wt->addr);
}

/* Opens the listeners the snapshot's config adds and closes the ones it
 * drops; the others keep their sockets (and their connections). */
static int sync_listeners(struct sc_worker *w, int log_changes)
{
    struct want want[MAX_LISTENERS];
    size_t n = wanted(sc_snapshot_config(w->snap), want, MAX_LISTENERS);
    char as[SC_ADDR_STRLEN];
    int rc = 0;

    for (size_t i = 0; i < w->n_lis; i++) {
        struct wlistener *wl = &w->lis[i];
        size_t j;

        if (wl->lev == NULL) {
            continue;
        }
        for (j = 0; j < n && !same(wl, &want[j]); j++) {
        }
        if (j == n) {
            if (log_changes && w->id == 0) {
                sc_log(SC_LOG_INFO, NULL, "listener %s on %s removed", wl->name,
                       sc_addr_str(&wl->addr, as, sizeof(as)));
            }
            close_listener(wl);
        }
    }
    for (size_t j = 0; j < n; j++) {
        size_t i;

        for (i = 0; i < w->n_lis && !same(&w->lis[i], &want[j]); i++) {
        }
        if (i < w->n_lis) {
            continue;
        }
        if (add_listener(w, want[j].kind, want[j].name, want[j].addr) != 0) {
            if (!want[j].optional) {
                rc = -1;
            } else if (w->id == 0) {
                sc_log(SC_LOG_ERR, NULL,
                       "listener hbone: no HBONE inbound on this sidecar "
                       "(set inbound.hbone_address to a free address, or off)");
            }
            continue;
        }
        if (log_changes && w->id == 0) {
            sc_log(SC_LOG_INFO, NULL, "listener %s on %s added", want[j].name,
                   sc_addr_str(want[j].addr, as, sizeof(as)));
        }
    }
    return rc;
}

static void close_all_listeners(struct sc_worker *w)
{
    for (size_t i = 0; i < w->n_lis; i++) {
        close_listener(&w->lis[i]);
    }
    w->n_lis = 0;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct sc_worker *w = arg;
    struct sc_snapshot *s = atomic_exchange(&w->pending, NULL);

    (void)fd;
    (void)what;
    if (s != NULL) {
        sc_snapshot_unref(w->snap);
        w->snap = s;
        sc_wctx_set_snapshot(w->ctx, s);
        if (!atomic_load(&w->draining)) {
            sync_listeners(w, 1);
        }
    }
    if (atomic_load(&w->draining) >= SC_WORKER_DRAIN_LISTENERS && !w->lis_drained) {
        w->lis_drained = 1;
        close_all_listeners(w);
    }
    if (atomic_load(&w->draining) >= SC_WORKER_DRAIN_ALL && !w->drained) {
        struct sc_conn *c = *sc_wctx_conns(w->ctx);

        w->drained = 1;
        while (c != NULL) {
            struct sc_conn *next = sc_conn_link(c)->next;
            sc_conn_drain(c);
            c = next;
        }
        /* outbound HBONE tunnels: GOAWAY, as the inbound ones above */
        sc_hbone_pool_drain(w->hbone);
    }
    if (atomic_load(&w->stopping)) {
        close_all_listeners(w);
        while (*sc_wctx_conns(w->ctx) != NULL) {
            sc_conn_abort(*sc_wctx_conns(w->ctx), "shutdown");
        }
        sc_upool_free(w->upool);
        w->upool = NULL;
        sc_hbone_pool_free(w->hbone);
        w->hbone = NULL;
        sc_wctx_set_upool(w->ctx, NULL);
        sc_wctx_set_hbone_pool(w->ctx, NULL);
        event_base_loopexit(w->base, NULL);
    }
}

struct sc_worker *sc_worker_new(int id, struct sc_snapshot *snap)
{
    struct sc_worker *w = calloc(1, sizeof(*w));
    char who[32];

    if (w == NULL) {
        return NULL;
    }
    w->id = id;
    w->snap = sc_snapshot_ref(snap);
    atomic_init(&w->pending, NULL);
    w->stats = sc_stats_new();
    w->base = event_base_new();
    if (w->stats == NULL || w->base == NULL) {
        goto fail;
    }
    w->ctx = sc_wctx_new(id, w->base, w->stats);
    if (w->ctx == NULL) {
        goto fail;
    }
    sc_wctx_set_snapshot(w->ctx, w->snap);
    sc_wctx_set_hbone_accept(w->ctx, sc_conn_accept_hbone);
    w->upool = sc_upool_new(w->ctx);
    w->hslimit = sc_hslimit_new();
    w->hbone = sc_hbone_pool_new(w->ctx);
    if (w->upool == NULL || w->hslimit == NULL || w->hbone == NULL) {
        goto fail;
    }
    sc_wctx_set_upool(w->ctx, w->upool);
    sc_wctx_set_hslimit(w->ctx, w->hslimit);
    sc_wctx_set_hbone_pool(w->ctx, w->hbone);
    w->wake = event_new(w->base, -1, 0, on_wake, w);
    snprintf(who, sizeof(who), "worker %d", id);
    w->pause = sc_acceptpause_new(w->base, who, w->stats, set_accepting, w);
    if (w->wake == NULL || w->pause == NULL) {
        goto fail;
    }
    if (sync_listeners(w, 0) != 0) {
        goto fail;
    }
    return w;

fail:
    sc_worker_free(w);
    return NULL;
}

static void *worker_main(void *arg)
{
    struct sc_worker *w = arg;

    event_base_dispatch(w->base);
    sc_io_buf_drain();
    return NULL;
}

int sc_worker_start(struct sc_worker *w)
{
    if (sc_thread_start(&w->thread, worker_main, w) != 0) {
        return -1;
    }
    w->started = 1;
    return 0;
}

void sc_worker_publish(struct sc_worker *w, struct sc_snapshot *snap)
{
    struct sc_snapshot *old = atomic_exchange(&w->pending, sc_snapshot_ref(snap));

    sc_snapshot_unref(old);
    event_active(w->wake, 0, 0);
}

void sc_worker_drain(struct sc_worker *w, enum sc_worker_drain what)
{
    int cur = atomic_load(&w->draining);

    while (cur < (int)what && !atomic_compare_exchange_weak(&w->draining, &cur, (int)what)) {
    }
    event_active(w->wake, 0, 0);
}

void sc_worker_stop(struct sc_worker *w)
{
    if (!w->started) {
        return;
    }
    atomic_store(&w->stopping, 1);
    event_active(w->wake, 0, 0);
    pthread_join(w->thread, NULL);
    w->started = 0;
}

void sc_worker_free(struct sc_worker *w)
{
    if (w == NULL) {
        return;
    }
    close_all_listeners(w);
    while (w->ctx != NULL && *sc_wctx_conns(w->ctx) != NULL) {
        sc_conn_abort(*sc_wctx_conns(w->ctx), "shutdown");
    }
    sc_upool_free(w->upool);
    w->upool = NULL;
    sc_hbone_pool_free(w->hbone);
    w->hbone = NULL;
    sc_wctx_free(w->ctx);
    sc_hslimit_free(w->hslimit);
    if (w->wake != NULL) {
        event_free(w->wake);
    }
    sc_acceptpause_free(w->pause);
    if (w->base != NULL) {
        event_base_free(w->base);
    }
    sc_snapshot_unref(atomic_exchange(&w->pending, NULL));
    sc_snapshot_unref(w->snap);
    sc_stats_free(w->stats);
    free(w);
}

struct sc_stats *sc_worker_stats(struct sc_worker *w)
{
    return w->stats;
}

struct sc_upool *sc_worker_upool(struct sc_worker *w)
{
    return w->upool;
}

size_t sc_worker_conn_count(const struct sc_worker *w)
{
    return sc_wctx_conn_count(w->ctx);
}
