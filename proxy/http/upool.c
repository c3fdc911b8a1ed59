#include "upool.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "hbone_out.h"
#include "io.h"
#include "log.h"
#include "magic.h"
#include "snapshot.h"
#include "table.h"
#include "tlsctx.h"
#include "wctx.h"
#include "x509.h"

#define MAX_ENTRIES 256

struct entry;

struct sc_upconn {
    SC_MAGIC_FIELD
    struct entry *e;
    struct sc_snapshot *snap; /* our own reference */
    LIST_ENTRY(sc_upconn) link; /* the entry's idle list, while idle */
    struct sc_upconn_info info;
    char tls_version[16];
    char peer_id[512];
    char peer_root[80];
    struct event *idle_timer;
    struct event *ev; /* the socket's: registered once */
    sc_upconn_io_fn *fn; /* the borrower's handler, NULL while idle */
    void *fn_arg;
    int idle;
    int served; /* handed out before */
    time_t chain_not_after; /* the peer chain's first expiry, 0 if none */
};

struct sc_upool_wait {
    struct entry *e;
    struct sc_snapshot *snap; /* our own reference, for start_connect */
    TAILQ_ENTRY(sc_upool_wait) link; /* the entry's queue */
    sc_upool_ready_fn *ready;
    void *arg;
};

/* A connect under way for an entry; not tied to any one request: the
 * first request waiting when it completes gets it.  Over HBONE
 * (req.hbone_port) it is a CONNECT stream instead: hb carries the stream's
 * end of an in-process pair, io is ours, and once the 200 is in io is the
 * connection (no socket, no system call between the session and the
 * tunnel); the stream stays open across the requests the connection
 * serves, as a TLS connection does. */
struct pconnect {
    struct entry *e;
    struct sc_upstream *u; /* holds its own snapshot reference */
    struct sc_hbone_out *hb; /* or this, with its own reference */
    struct sc_io *io; /* hb: our end of the pair */
    struct sc_snapshot *snap; /* ours (a reference) */
    LIST_ENTRY(pconnect) link; /* the entry's connects */
};

struct entry {
    int used;
    uint64_t gen;
    struct sc_addr addr;
    enum sc_tls_mode tls;
    const void *route;
    /* To open more connections.  Its pointers (snap, host, tls_files,
     * expected) belong to the snapshot of generation gen, and are read only
     * while a waiter holds a reference to it: connects start only for
     * waiters (start_connect). */
    struct sc_upstream_req req;
    struct sc_upool_limits lim;
    struct sc_upool *pool;
    LIST_HEAD(, sc_upconn) idle; /* most recently used first */
    TAILQ_HEAD(, sc_upool_wait) waiters; /* oldest first */
    LIST_HEAD(, pconnect) connects;
    int n_open; /* handed out + idle */
    int n_idle;
    int n_connecting;
    int n_waiting;
};

struct sc_upool {
    struct sc_wctx *w;
    struct entry entries[MAX_ENTRIES];
    atomic_uint_fast64_t active, idle, pending, connecting, overflows, created, reused;
};

struct sc_upool *sc_upool_new(struct sc_wctx *w)
{
    struct sc_upool *p = sc_table_alloc(sizeof(*p));

    if (p != NULL) {
        p->w = w;
    }
    return p;
}

static void gauge(atomic_uint_fast64_t *g, int delta)
{
    atomic_fetch_add_explicit(g, (uint_fast64_t)(int64_t)delta, memory_order_relaxed);
}

static void upconn_free(struct sc_upconn *uc)
{
    if (uc->idle_timer != NULL) {
        event_free(uc->idle_timer);
    }
    if (uc->ev != NULL) {
        sc_io_set_event(uc->info.io, NULL); /* a pair's end: no longer ours */
        event_free(uc->ev);
    }
    if (uc->info.io != NULL) {
        SSL *ssl = sc_io_ssl(uc->info.io);

        /* A close_notify first: besides telling the peer, it keeps the
         * session resumable, since OpenSSL marks the session of a
         * connection freed without one as not resumable (and that is the
         * ticket the worker keeps for the next connection). */
        if (ssl != NULL) {
            (void)SSL_shutdown(ssl);
            ERR_clear_error();
        }
        sc_io_free(uc->info.io);
    }
    sc_snapshot_unref(uc->snap);
    SC_MAGIC_CLEAR(uc);
    free(uc);
}

static void idle_unlink(struct sc_upconn *uc)
{
    struct entry *e = uc->e;

    LIST_REMOVE(uc, link);
    uc->idle = 0;
    e->n_idle--;
    gauge(&e->pool->idle, -1);
    evtimer_del(uc->idle_timer);
}

/* An idle connection is closed: by its idle timer, or because the far side
 * closed it or sent something while nobody asked. */
static void close_idle(struct sc_upconn *uc)
{
    struct entry *e;

    SC_MAGIC_CHECK(uc, SC_MAGIC_UPCONN);
    e = uc->e;
    idle_unlink(uc);
    e->n_open--;
    upconn_free(uc);
}

/* Whether the far side has said anything: a read of one byte (for TLS,
 * OpenSSL also takes in what it needs itself, a session ticket say, and
 * says "would block" after it).  1 when it sent bytes, ended or failed. */
static int spoke(struct sc_upconn *uc)
{
    unsigned char b;

    return sc_io_read(uc->info.io, &b, 1) != SC_IO_AGAIN;
}

/* The socket's event: to the borrower, or, while idle, a wake-up that
 * closes the connection unless it only brought what OpenSSL keeps (a
 * ticket) or only said the socket is writable. */
static void on_io(evutil_socket_t fd, short what, void *arg)
{
    struct sc_upconn *uc = arg;

    (void)fd;
    SC_MAGIC_CHECK(uc, SC_MAGIC_UPCONN);
    sc_io_ready(uc->info.io, what);
    if (uc->fn != NULL) {
        uc->fn(uc->fn_arg, what);
        return;
    }
    if (uc->idle && (what & (EV_READ | EV_CLOSED)) &&
        (sc_io_peer_ended(uc->info.io) || spoke(uc))) {
        close_idle(uc);
    }
}

static void on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    close_idle(arg);
}

static unsigned key_hash(uint64_t gen, const struct sc_addr *a, enum sc_tls_mode tls,
                         const void *route)
{
    const unsigned char *b = (const unsigned char *)&a->ss;
    uint64_t h = 1469598103934665603ull ^ gen ^ ((uint64_t)tls << 32) ^ (uint64_t)(uintptr_t)route;

    for (socklen_t i = 0; i < a->len; i++) {
        h = (h ^ b[i]) * 1099511628211ull;
    }
    return (unsigned)(h % MAX_ENTRIES);
}

/* Finds the entry for the key, or claims an empty or unused one. */
static struct entry *find_entry(struct sc_upool *p, const struct sc_upstream_req *req,
                                const void *route)
{
    uint64_t gen = sc_snapshot_generation(req->snap);
    unsigned h = key_hash(gen, &req->addr, req->tls, route);
    struct entry *spare = NULL;

    for (unsigned i = 0; i < MAX_ENTRIES; i++) {
        struct entry *e = &p->entries[(h + i) % MAX_ENTRIES];

        if (e->used && e->gen == gen && e->tls == req->tls && e->route == route &&
            sc_addr_equal(&e->addr, &req->addr)) {
            return e;
        }
        if (spare == NULL &&
            (!e->used || (e->n_open == 0 && e->n_connecting == 0 && e->n_waiting == 0))) {
            spare = e;
        }
    }
    if (spare != NULL) {
        memset(spare, 0, sizeof(*spare));
        TAILQ_INIT(&spare->waiters);
        spare->used = 1;
        spare->gen = gen;
        spare->addr = req->addr;
        spare->tls = req->tls;
        spare->route = route;
        spare->pool = p;
    }
    return spare;
}

/* A pooled connection is only as trusted as the chain its peer presented:
 * once a certificate of that chain (the peer's leaf, an intermediate, the
 * root) has expired, the connection is closed rather than reused, and the
 * request gets a fresh connection whose handshake verifies the chain
 * again. */
static int chain_expired(struct sc_upconn *uc, time_t now)
{
    SSL *ssl = sc_io_ssl(uc->info.io);
    struct sc_tls_session_trust t;
    char when[32];

    /* the expiry was read once, when the connection joined the pool: a
     * reuse decodes nothing */
    if (uc->chain_not_after == 0 || uc->chain_not_after > now || ssl == NULL ||
        sc_tls_peer_trust(ssl, &t) != 0) {
        return 0;
    }
    sc_log(SC_LOG_INFO, NULL,
           "pooled upstream connection to %s closed: its peer chain (root %s) expired at %s",
           uc->peer_id[0] != '\0' ? uc->peer_id : "-", t.root_serial,
           sc_time_rfc3339(t.chain_not_after, when, sizeof(when)));
    return 1;
}

static void hand_out(struct sc_upconn *uc)
{
    struct entry *e = uc->e;

    if (uc->idle) {
        idle_unlink(uc);
    }
    /* Reused: it served an earlier request, whether it went idle in
     * between or was passed straight to a request waiting for one. */
    if (uc->served) {
        uc->info.reused = 1;
        gauge(&e->pool->reused, 1);
    }
    uc->served = 1;
    uc->fn = NULL;
    gauge(&e->pool->active, 1);
}

static void waiter_unlink(struct sc_upool_wait *wt)
{
    struct entry *e = wt->e;

    TAILQ_REMOVE(&e->waiters, wt, link);
    e->n_waiting--;
    gauge(&e->pool->pending, -1);
}

static void waiter_free(struct sc_upool_wait *wt)
{
    sc_snapshot_unref(wt->snap);
    free(wt);
}

static void make_idle(struct sc_upconn *uc)
{
    struct entry *e = uc->e;
    struct timeval tv = {e->lim.idle_ms / 1000, (e->lim.idle_ms % 1000) * 1000};

    uc->idle = 1;
    LIST_INSERT_HEAD(&e->idle, uc, link);
    e->n_idle++;
    gauge(&e->pool->idle, 1);
    uc->fn = NULL;
    evtimer_add(uc->idle_timer, &tv);
}


/* A connection is free (new, or given back): the first waiter gets it,
 * else it goes idle. */
static void offer(struct sc_upconn *uc)
{
    struct entry *e = uc->e;
    struct sc_upool_wait *wt = TAILQ_FIRST(&e->waiters);

    if (wt == NULL) {
        make_idle(uc);
        return;
    }
    waiter_unlink(wt);
    hand_out(uc);
    wt->ready(wt->arg, uc, NULL);
    waiter_free(wt);
}

static void start_connect(struct entry *e);

static void pconnect_unlink(struct pconnect *pc)
{
    struct entry *e = pc->e;

    LIST_REMOVE(pc, link);
    e->n_connecting--;
    gauge(&e->pool->connecting, -1);
}

/* A new connection on the I/O layer, its socket registered for good: out
 * of the connect's bufferevent (takes res->bev in every case), or, over
 * HBONE, io, our end of the stream's pair (taken; its event has no fd and
 * is made active by the stream).  NULL when out of memory (or when the far
 * side already spoke: nothing was asked). */
static struct sc_upconn *adopt(struct entry *e, struct sc_upstream_result *res, struct sc_io *io)
{
    struct sc_upconn *uc = calloc(1, sizeof(*uc));
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    struct bufferevent *bev = res->bev;

    res->bev = NULL;
    if (uc == NULL || in == NULL || out == NULL) {
        sc_io_free(io);
        goto fail;
    }
    SC_MAGIC_SET(uc, SC_MAGIC_UPCONN);
    if (io != NULL) {
        uc->info.io = io;
    } else {
        uc->info.io = sc_io_from_bufferevent(bev, in, out);
        bev = NULL;
    }
    if (uc->info.io == NULL || evbuffer_get_length(in) > 0 || evbuffer_get_length(out) > 0) {
        goto fail;
    }
    uc->idle_timer = evtimer_new(sc_wctx_base(e->pool->w), on_idle_timeout, uc);
    uc->ev = event_new(sc_wctx_base(e->pool->w), sc_io_fd(uc->info.io),
                       EV_READ | EV_WRITE | EV_CLOSED | EV_PERSIST | EV_ET, on_io, uc);
    if (uc->idle_timer == NULL || uc->ev == NULL || event_add(uc->ev, NULL) != 0) {
        goto fail;
    }
    sc_io_watched(uc->info.io);
    sc_io_set_event(uc->info.io, uc->ev); /* a pair's end: its readiness */
    if (sc_io_ssl(uc->info.io) != NULL) {
        struct sc_tls_session_trust t;

        if (sc_tls_peer_trust(sc_io_ssl(uc->info.io), &t) == 0) {
            uc->chain_not_after = t.chain_not_after;
        }
    }
    evbuffer_free(in);
    evbuffer_free(out);
    return uc;

fail:
    if (bev != NULL) {
        bufferevent_free(bev);
    }
    if (uc != NULL) {
        upconn_free(uc);
    }
    if (in != NULL) {
        evbuffer_free(in);
    }
    if (out != NULL) {
        evbuffer_free(out);
    }
    return NULL;
}

static void pconnect_free(struct pconnect *pc)
{
    sc_upstream_cancel(pc->u);
    sc_wctx_hbone_cancel(pc->e->pool->w, pc->hb);
    sc_io_free(pc->io);
    sc_snapshot_unref(pc->snap);
    free(pc);
}

static void connected(struct pconnect *pc, struct sc_upstream_result *res, struct sc_io *io)
{
    struct entry *e = pc->e;
    struct sc_upool_wait *wt;
    struct sc_upconn *uc = NULL;
    /* the connect's own reference, dropped as this returns */
    struct sc_snapshot *pc_snap = pc->snap;

    pc->snap = NULL;
    pc->u = NULL;
    pc->hb = NULL;
    pconnect_unlink(pc);
    pconnect_free(pc);
    if (res->status == SC_UPSTREAM_OK) {
        uc = adopt(e, res, io);
        io = NULL;
        if (uc == NULL) {
            res->status = SC_UPSTREAM_CONNECT_FAILED;
            snprintf(res->reason, sizeof(res->reason), "internal_error: out of memory");
        }
    }
    if (uc == NULL) {
        /* The request first in line learns why; the others keep waiting
         * for connects still under way, or get one of their own. */
        wt = TAILQ_FIRST(&e->waiters);
        if (wt != NULL) {
            waiter_unlink(wt);
            wt->ready(wt->arg, NULL, res);
            waiter_free(wt);
        }
        if (!TAILQ_EMPTY(&e->waiters) && e->n_connecting < e->n_waiting &&
            e->n_open + e->n_connecting < e->lim.max_connections) {
            start_connect(e);
        }
        sc_io_free(io);
        sc_snapshot_unref(pc_snap);
        return;
    }
    uc->e = e;
    uc->snap = sc_snapshot_ref(pc_snap);
    if (res->tls_version != NULL) {
        snprintf(uc->tls_version, sizeof(uc->tls_version), "%s", res->tls_version);
        uc->info.tls_version = uc->tls_version;
    }
    snprintf(uc->peer_id, sizeof(uc->peer_id), "%s", res->peer_id);
    snprintf(uc->peer_root, sizeof(uc->peer_root), "%s", res->peer_root);
    uc->info.peer_id = uc->peer_id;
    uc->info.peer_root = uc->peer_root;
    sc_addr_str(&e->addr, uc->info.upstream_host, sizeof(uc->info.upstream_host));
    e->n_open++;
    gauge(&e->pool->created, 1);
    sc_snapshot_unref(pc_snap);
    offer(uc);
}

static void on_connected(void *arg, struct sc_upstream_result *res)
{
    connected(arg, res, NULL);
}

/* The CONNECT stream's 200, or its failure (after the pool's one retry on
 * another tunnel). */
static void on_hbone(void *arg, const struct sc_hbone_out_end *end)
{
    struct pconnect *pc = arg;
    struct sc_upstream_result res;
    struct sc_io *io = pc->io;

    memset(&res, 0, sizeof(res));
    snprintf(res.peer_root, sizeof(res.peer_root), "-");
    pc->io = NULL;
    pc->hb = NULL; /* done with it: the stream runs on by itself */
    if (end->status == 200) {
        res.status = SC_UPSTREAM_OK;
        res.tls_version = end->tls_version;
        snprintf(res.peer_id, sizeof(res.peer_id), "%s", end->peer_id != NULL ? end->peer_id : "");
    } else {
        res.status = SC_UPSTREAM_CONNECT_FAILED;
        snprintf(res.reason, sizeof(res.reason), "%s", end->reason);
    }
    connected(pc, &res, io);
}

/* Over HBONE: one end of an in-process pair for the stream, one for us. */
static int start_hbone(struct pconnect *pc, const struct sc_upstream_req *req)
{
    struct sc_hbone_out_req r;
    struct sc_io *ends[2];

    if (sc_io_pair_new(ends) != 0) {
        return -1;
    }
    memset(&r, 0, sizeof(r));
    r.snap = req->snap;
    r.dst = req->addr;
    r.hbone_port = req->hbone_port;
    r.expected = req->expected;
    r.host = req->host;
    r.connect_ms = req->connect_ms;
    r.handshake_ms = req->handshake_ms;
    r.mark = req->mark;
    r.ready_ends = 1;
    pc->io = ends[1];
    pc->hb = sc_wctx_hbone_open(pc->e->pool->w, &r, ends[0], on_hbone, pc);
    if (pc->hb == NULL) {
        sc_io_free(pc->io);
        pc->io = NULL;
        return -1;
    }
    return 0;
}

/* Opens one more connection for the entry's waiters.  The connect reads the
 * first waiter's snapshot (the same one as e->req's: one generation, one
 * snapshot) and takes its own reference, so it may finish after every
 * waiter has gone. */
static void start_connect(struct entry *e)
{
    struct pconnect *pc;
    struct sc_upstream_req req;

    if (TAILQ_EMPTY(&e->waiters)) {
        return;
    }
    pc = calloc(1, sizeof(*pc));
    if (pc == NULL) {
        return;
    }
    req = e->req;
    req.snap = TAILQ_FIRST(&e->waiters)->snap;
    pc->e = e;
    pc->snap = sc_snapshot_ref(req.snap);
    if (req.hbone_port > 0 ? start_hbone(pc, &req) != 0
                           : (pc->u = sc_upstream_connect(&req, on_connected, pc)) == NULL) {
        pconnect_free(pc);
        return;
    }
    LIST_INSERT_HEAD(&e->connects, pc, link);
    e->n_connecting++;
    gauge(&e->pool->connecting, 1);
}

enum sc_upool_get_result sc_upool_get(struct sc_upool *p, const struct sc_upstream_req *req,
                                      const void *route, const struct sc_upool_limits *lim,
                                      int fresh, sc_upool_ready_fn *ready, void *arg,
                                      struct sc_upconn **out, struct sc_upool_wait **wait)
{
    struct entry *e = find_entry(p, req, route);
    struct sc_upool_wait *wt;

    *out = NULL;
    *wait = NULL;
    if (e == NULL) {
        gauge(&p->overflows, 1);
        return SC_UPOOL_OVERFLOW;
    }
    e->req = *req;
    e->lim = *lim;
    while (!fresh && !LIST_EMPTY(&e->idle)) {
        struct sc_upconn *uc = LIST_FIRST(&e->idle);

        if (chain_expired(uc, time(NULL))) {
            close_idle(uc);
            continue;
        }
        hand_out(uc);
        *out = uc;
        return SC_UPOOL_READY;
    }
    if (fresh && !LIST_EMPTY(&e->idle) && e->n_open >= lim->max_connections) {
        close_idle(LIST_FIRST(&e->idle)); /* make room for the fresh one */
    }
    if (e->n_open + e->n_connecting >= lim->max_connections && e->n_waiting >= lim->max_pending) {
        gauge(&p->overflows, 1);
        return SC_UPOOL_OVERFLOW;
    }
    wt = calloc(1, sizeof(*wt));
    if (wt == NULL) {
        return SC_UPOOL_ERROR;
    }
    wt->e = e;
    wt->snap = sc_snapshot_ref(req->snap);
    wt->ready = ready;
    wt->arg = arg;
    TAILQ_INSERT_TAIL(&e->waiters, wt, link);
    e->n_waiting++;
    gauge(&p->pending, 1);
    if (e->n_connecting < e->n_waiting && e->n_open + e->n_connecting < lim->max_connections) {
        start_connect(e);
    }
    *wait = wt;
    return SC_UPOOL_WAITING;
}

void sc_upool_cancel(struct sc_upool_wait *wt)
{
    if (wt == NULL) {
        return;
    }
    /* A connect started for it completes anyway and goes idle: it holds
     * its own reference to the snapshot. */
    waiter_unlink(wt);
    waiter_free(wt);
}

const struct sc_upconn_info *sc_upconn_info(const struct sc_upconn *uc)
{
    SC_MAGIC_CHECK(uc, SC_MAGIC_UPCONN);
    return &uc->info;
}

/* A connection left the pool for good: its slot may serve a request still
 * waiting for one. */
static void slot_freed(struct entry *e)
{
    if (e->n_connecting < e->n_waiting && e->n_open + e->n_connecting < e->lim.max_connections) {
        start_connect(e);
    }
}

void sc_upconn_release(struct sc_upconn *uc, int reusable)
{
    struct entry *e;

    SC_MAGIC_CHECK(uc, SC_MAGIC_UPCONN);
    e = uc->e;
    gauge(&e->pool->active, -1);
    uc->fn = NULL;
    /* Reusable only when the far side has said nothing more: the
     * borrower's last read found the socket empty (else one read says). */
    if (reusable && !sc_io_peer_ended(uc->info.io) &&
        (!sc_io_can_read(uc->info.io) || !spoke(uc))) {
        offer(uc);
        return;
    }
    e->n_open--;
    upconn_free(uc);
    slot_freed(e);
}

struct sc_io *sc_upconn_detach(struct sc_upconn *uc)
{
    struct sc_io *io;
    struct entry *e;

    SC_MAGIC_CHECK(uc, SC_MAGIC_UPCONN);
    io = uc->info.io;
    e = uc->e;
    gauge(&e->pool->active, -1);
    e->n_open--;
    sc_io_set_event(io, NULL); /* the new owner sets its own */
    uc->info.io = NULL;
    upconn_free(uc);
    slot_freed(e); /* an upgraded or CONNECT tunnel no longer counts */
    return io;
}

void sc_upconn_kick(struct sc_upconn *uc)
{
    SC_MAGIC_CHECK(uc, SC_MAGIC_UPCONN);
    event_active(uc->ev, 0, 0);
}

void sc_upconn_watch(struct sc_upconn *uc, sc_upconn_io_fn *fn, void *arg)
{
    SC_MAGIC_CHECK(uc, SC_MAGIC_UPCONN);
    uc->fn = fn;
    uc->fn_arg = arg;
}

void sc_upool_gauges(const struct sc_upool *p, struct sc_upool_gauges *out)
{
    out->active = atomic_load_explicit(&p->active, memory_order_relaxed);
    out->idle = atomic_load_explicit(&p->idle, memory_order_relaxed);
    out->pending = atomic_load_explicit(&p->pending, memory_order_relaxed);
    out->connecting = atomic_load_explicit(&p->connecting, memory_order_relaxed);
    out->overflows = atomic_load_explicit(&p->overflows, memory_order_relaxed);
    out->created = atomic_load_explicit(&p->created, memory_order_relaxed);
    out->reused = atomic_load_explicit(&p->reused, memory_order_relaxed);
}

void sc_upool_free(struct sc_upool *p)
{
    if (p == NULL) {
        return;
    }
    for (int i = 0; i < MAX_ENTRIES; i++) {
        struct entry *e = &p->entries[i];

        while (!LIST_EMPTY(&e->idle)) {
            close_idle(LIST_FIRST(&e->idle));
        }
        while (!TAILQ_EMPTY(&e->waiters)) {
            sc_upool_cancel(TAILQ_FIRST(&e->waiters));
        }
        while (!LIST_EMPTY(&e->connects)) {
            struct pconnect *pc = LIST_FIRST(&e->connects);
            pconnect_unlink(pc);
            pconnect_free(pc);
        }
    }
    sc_table_free(p, sizeof(*p));
}
