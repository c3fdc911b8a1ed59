#include "listener.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "acceptpause.h"
#include "addr.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "snapshot.h"
#include "stats.h"
#include "table.h"
#include "wctx.h"

#define MAX_LISTENERS 64

struct wlistener {
    struct sc_listeners *ls;
    enum sc_listener_kind kind;
    char name[128];
    struct sc_addr addr;
    struct evconnlistener *lev; /* NULL: a free slot */
    struct sc_lcount *count; /* its open connections (our reference) */
};

struct sc_listeners {
    int id; /* the worker's */
    struct sc_wctx *ctx; /* borrowed */
    struct event_base *base; /* borrowed, the context's */
    struct sc_stats *stats; /* borrowed, the context's */
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
    struct sc_listeners *ls = wl->ls;
    int max = sc_snapshot_config(sc_wctx_snapshot(ls->ctx))->limits.max_connections;

    (void)lev;
    if (wl->count != NULL && max > 0 && wl->count->open >= max) {
        /* at the limit: closed at once, counted, said once per 10 s */
        struct timespec now;

        evutil_closesocket(fd);
        sc_stats_overflow(ls->stats);
        ls->overflows++;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
        if (now.tv_sec >= ls->overflow_logged + 10) {
            sc_log(SC_LOG_WARN, NULL,
                   "worker %d listener %s: %d connections open (limits.max_connections); "
                   "closing new ones (%llu so far)",
                   ls->id, wl->name, max, (unsigned long long)ls->overflows);
            ls->overflow_logged = now.tv_sec;
        }
        return;
    }
    sc_conn_accept(ls->ctx, wl->kind, wl->name, wl->count, fd, sa, salen);
}

static void set_accepting(void *arg, int on)
{
    struct sc_listeners *ls = arg;

    for (size_t i = 0; i < ls->n_lis; i++) {
        if (ls->lis[i].lev == NULL) {
            continue;
        }
        if (on) {
            evconnlistener_enable(ls->lis[i].lev);
        } else {
            evconnlistener_disable(ls->lis[i].lev);
        }
    }
}

/* Out of descriptors (above all): pause all the worker's listeners. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    struct wlistener *wl = arg;

    (void)lev;
    sc_acceptpause_failed(wl->ls->pause, wl->name, EVUTIL_SOCKET_ERROR());
}

static int add_listener(struct sc_listeners *ls, enum sc_listener_kind kind, const char *name,
                        const struct sc_addr *addr)
{
    struct wlistener *wl = NULL;
    char as[SC_ADDR_STRLEN];
    unsigned flags =
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC;

    for (size_t i = 0; i < MAX_LISTENERS; i++) {
        if (ls->lis[i].lev == NULL) {
            wl = &ls->lis[i];
            break;
        }
    }
    if (wl == NULL) {
        sc_log(SC_LOG_ERR, NULL, "too many listeners (max %d)", MAX_LISTENERS);
        return -1;
    }
    wl->ls = ls;
    wl->kind = kind;
    wl->addr = *addr;
    snprintf(wl->name, sizeof(wl->name), "%s", name);
    wl->count = sc_lcount_new();
    if (wl->count == NULL) {
        sc_log(SC_LOG_ERR, NULL, "listener %s: out of memory", name);
        return -1;
    }
    wl->lev = evconnlistener_new_bind(ls->base, on_accept, wl, flags, 1024,
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
    if ((size_t)(wl - ls->lis) + 1 > ls->n_lis) {
        ls->n_lis = (size_t)(wl - ls->lis) + 1;
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
int sc_listeners_sync(struct sc_listeners *ls, const struct sc_config *cfg, int log_changes)
{
    struct want want[MAX_LISTENERS];
    size_t n = wanted(cfg, want, MAX_LISTENERS);
    char as[SC_ADDR_STRLEN];
    int rc = 0;

    for (size_t i = 0; i < ls->n_lis; i++) {
        struct wlistener *wl = &ls->lis[i];
        size_t j;

        if (wl->lev == NULL) {
            continue;
        }
        for (j = 0; j < n && !same(wl, &want[j]); j++) {
        }
        if (j == n) {
            if (log_changes && ls->id == 0) {
                sc_log(SC_LOG_INFO, NULL, "listener %s on %s removed", wl->name,
                       sc_addr_str(&wl->addr, as, sizeof(as)));
            }
            close_listener(wl);
        }
    }
    for (size_t j = 0; j < n; j++) {
        size_t i;

        for (i = 0; i < ls->n_lis && !same(&ls->lis[i], &want[j]); i++) {
        }
        if (i < ls->n_lis) {
            continue;
        }
        if (add_listener(ls, want[j].kind, want[j].name, want[j].addr) != 0) {
            if (!want[j].optional) {
                rc = -1;
            } else if (ls->id == 0) {
                sc_log(SC_LOG_ERR, NULL,
                       "listener hbone: no HBONE inbound on this sidecar "
                       "(set inbound.hbone_address to a free address, or off)");
            }
            continue;
        }
        if (log_changes && ls->id == 0) {
            sc_log(SC_LOG_INFO, NULL, "listener %s on %s added", want[j].name,
                   sc_addr_str(want[j].addr, as, sizeof(as)));
        }
    }
    return rc;
}

void sc_listeners_close(struct sc_listeners *ls)
{
    for (size_t i = 0; i < ls->n_lis; i++) {
        close_listener(&ls->lis[i]);
    }
    ls->n_lis = 0;
}

struct sc_listeners *sc_listeners_new(struct sc_wctx *x)
{
    struct sc_listeners *ls = sc_table_alloc(sizeof(*ls));
    char who[32];

    if (ls == NULL) {
        return NULL;
    }
    ls->id = sc_wctx_id(x);
    ls->ctx = x;
    ls->base = sc_wctx_base(x);
    ls->stats = sc_wctx_stats(x);
    snprintf(who, sizeof(who), "worker %d", ls->id);
    ls->pause = sc_acceptpause_new(ls->base, who, ls->stats, set_accepting, ls);
    if (ls->pause == NULL) {
        sc_table_free(ls, sizeof(*ls));
        return NULL;
    }
    return ls;
}

void sc_listeners_free(struct sc_listeners *ls)
{
    if (ls == NULL) {
        return;
    }
    sc_listeners_close(ls);
    sc_acceptpause_free(ls->pause);
    sc_table_free(ls, sizeof(*ls));
}
