#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "conn.h"
#include "hslimit.h"
#include "io.h"
#include "listener.h"
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

struct sc_worker {
    int id;
    pthread_t thread;
    int started;
    /* The worker's loop, touched by its own thread only, so it has no lock
     * (EVENT_BASE_FLAG_NOLOCK: libevent takes none on each event_add or
     * event_active of the data path).  Other threads wake it through
     * wake_fd, an eventfd it reads. */
    struct event_base *base;
    struct sc_io_sweep *iosweep; /* OpenSSL record buffers back on idle */
    int wake_fd;
    struct event *wake; /* a snapshot is waiting, drain, or stop */
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
    struct sc_listeners *lis; /* its data listeners */
};

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct sc_worker *w = arg;
    struct sc_snapshot *s = atomic_exchange(&w->pending, NULL);
    uint64_t n;

    (void)what;
    while (read(fd, &n, sizeof(n)) > 0) {
    }
    if (s != NULL) {
        sc_snapshot_unref(w->snap);
        w->snap = s;
        sc_wctx_set_snapshot(w->ctx, s);
        if (!atomic_load(&w->draining)) {
            sc_listeners_sync(w->lis, sc_snapshot_config(w->snap), 1);
        }
    }
    if (atomic_load(&w->draining) >= SC_WORKER_DRAIN_LISTENERS && !w->lis_drained) {
        w->lis_drained = 1;
        sc_listeners_close(w->lis);
    }
    if (atomic_load(&w->draining) >= SC_WORKER_DRAIN_ALL && !w->drained) {
        struct sc_conn *c = LIST_FIRST(sc_wctx_conns(w->ctx));

        w->drained = 1;
        while (c != NULL) {
            struct sc_conn *next = sc_conn_next(c);
            sc_conn_drain(c);
            c = next;
        }
        /* outbound HBONE tunnels: GOAWAY, as the inbound ones above */
        sc_hbone_pool_drain(w->hbone);
    }
    if (atomic_load(&w->stopping)) {
        sc_listeners_close(w->lis);
        while (!LIST_EMPTY(sc_wctx_conns(w->ctx))) {
            sc_conn_abort(LIST_FIRST(sc_wctx_conns(w->ctx)), "shutdown");
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
    struct event_config *ec = event_config_new();

    if (w == NULL || ec == NULL) {
        free(w);
        event_config_free(ec);
        return NULL;
    }
    w->wake_fd = -1;
    w->id = id;
    w->snap = sc_snapshot_ref(snap);
    atomic_init(&w->pending, NULL);
    w->stats = sc_stats_new();
    (void)event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (w->stats == NULL || w->base == NULL) {
        goto fail;
    }
    w->iosweep = sc_io_sweep_new(w->base);
    if (w->iosweep == NULL) {
        goto fail;
    }
    w->ctx = sc_wctx_new(id, w->base, w->stats);
    if (w->ctx == NULL) {
        goto fail;
    }
    sc_wctx_set_snapshot(w->ctx, w->snap);
    sc_wctx_set_hbone_accept(w->ctx, sc_conn_accept_hbone);
    sc_wctx_set_hbone_out(w->ctx, sc_hbone_out_open_io, sc_hbone_out_cancel);
    w->upool = sc_upool_new(w->ctx);
    w->hslimit = sc_hslimit_new();
    w->hbone = sc_hbone_pool_new(w->ctx);
    if (w->upool == NULL || w->hslimit == NULL || w->hbone == NULL) {
        goto fail;
    }
    sc_wctx_set_upool(w->ctx, w->upool);
    sc_wctx_set_hslimit(w->ctx, w->hslimit);
    sc_wctx_set_hbone_pool(w->ctx, w->hbone);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd < 0) {
        goto fail;
    }
    w->wake = event_new(w->base, w->wake_fd, EV_READ | EV_PERSIST, on_wake, w);
    w->lis = sc_listeners_new(w->ctx);
    if (w->wake == NULL || event_add(w->wake, NULL) != 0 || w->lis == NULL) {
        goto fail;
    }
    if (sc_listeners_sync(w->lis, sc_snapshot_config(w->snap), 0) != 0) {
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

    sc_io_sweep_bind(w->iosweep);
    event_base_dispatch(w->base);
    sc_io_sweep_bind(NULL);
    sc_io_buf_drain();
    sc_conn_cache_drain();
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

/* From another thread: the worker's loop runs on_wake. */
static void wake(struct sc_worker *w)
{
    const uint64_t one = 1;

    if (write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        sc_log(SC_LOG_ERR, NULL, "worker %d: cannot wake it: %s", w->id, strerror(errno));
    }
}

void sc_worker_publish(struct sc_worker *w, struct sc_snapshot *snap)
{
    struct sc_snapshot *old = atomic_exchange(&w->pending, sc_snapshot_ref(snap));

    sc_snapshot_unref(old);
    wake(w);
}

void sc_worker_drain(struct sc_worker *w, enum sc_worker_drain what)
{
    int cur = atomic_load(&w->draining);

    while (cur < (int)what && !atomic_compare_exchange_weak(&w->draining, &cur, (int)what)) {
    }
    wake(w);
}

void sc_worker_stop(struct sc_worker *w)
{
    if (!w->started) {
        return;
    }
    atomic_store(&w->stopping, 1);
    wake(w);
    pthread_join(w->thread, NULL);
    w->started = 0;
}

void sc_worker_free(struct sc_worker *w)
{
    if (w == NULL) {
        return;
    }
    sc_listeners_free(w->lis); /* before the context it borrows */
    w->lis = NULL;
    while (w->ctx != NULL && !LIST_EMPTY(sc_wctx_conns(w->ctx))) {
        sc_conn_abort(LIST_FIRST(sc_wctx_conns(w->ctx)), "shutdown");
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
    if (w->wake_fd >= 0) {
        close(w->wake_fd);
    }
    sc_io_sweep_free(w->iosweep); /* after the connections, before the base */
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
