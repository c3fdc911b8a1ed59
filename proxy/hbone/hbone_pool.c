#include "hbone_pool.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "hbone.h"
#include "hbone_internal.h"
#include "io.h"
#include "log.h"
#include "snapshot.h"
#include "upstream.h"
#include "wctx.h"

static const unsigned char alpn_h2[] = "\x02h2";

/* A stream with no room waits for the dial event at most this many times
 * more, 1 ms apart, while streams of its tunnels are half-closed (about to
 * free their slots): an app that closes its connection after the
 * response frees the slot a new connection wants a moment later. */
#define DIAL_WAITS 10

/* One tunnel of the pool, connecting or up. */
struct ptunnel {
    struct sc_hbone_pool *p;
    LIST_ENTRY(ptunnel) link; /* the pool's tunnels, while listed */
    int listed;
    struct sc_snapshot *snap; /* our reference: the key's snapshot */
    struct sc_addr addr; /* dst address : hbone_port */
    const struct sc_strv *expected; /* into snap's config */
    struct sc_upstream *pending; /* connecting */
    struct sc_hbone_tunnel *t; /* up */
    struct sc_hbone_out *waiting; /* streams waiting for it to come up */
    size_t n_waiting;
    unsigned long long id;
    unsigned long long serial; /* order of opening, for a retry's "fresh" */
    char peer_id[512];
    const char *tls_version;
    struct timespec t0;
    char started[40];
};

struct sc_hbone_pool {
    struct sc_wctx *w;
    LIST_HEAD(, ptunnel) tunnels;
    /* Streams that found no tunnel with room, waiting for the dial event:
     * it runs after the loop's next poll, so the streams that poll shows
     * finished (an app connection's FIN that came with the new
     * connection) free their slots first, and a new tunnel is dialed only
     * for what still has no room. */
    struct sc_hbone_out *limbo, *limbo_tail;
    struct event *dial;
    unsigned long long next_serial;
    int draining; /* no new streams on the tunnels that were up */
    int freeing; /* sc_hbone_pool_free under way */
};

struct sc_hbone_out {
    struct sc_hbone_pool *p;
    struct sc_hbone_out_req req;
    struct sc_snapshot *snap; /* our reference */
    struct sc_addr source;
    char authority[SC_ADDR_STRLEN];
    char source_ip[SC_ADDR_STRLEN];
    struct sc_io *io; /* the local end while no stream holds it */
    struct ptunnel *pt; /* waiting on it */
    int in_limbo; /* in p->limbo */
    int broken; /* no stream could be opened: fails from the dial event */
    int waits; /* dial events it waited through for a slot */
    unsigned long long min_serial; /* a retry: only tunnels opened since */
    struct sc_hbone_out *wnext;
    struct sc_hbone_stream *s;
    int retried;
    int tunnel_new;
    const char *tls_version; /* the tunnel's (a static string) */
    char reason[600];
    sc_hbone_out_done_fn *done;
    void *arg;
};

static void assign(struct sc_hbone_out *o);
static void limbo_add(struct sc_hbone_out *o);
static void on_dial(evutil_socket_t fd, short what, void *arg);

struct sc_hbone_pool *sc_hbone_pool_new(struct sc_wctx *w)
{
    struct sc_hbone_pool *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        return NULL;
    }
    p->w = w;
    p->dial = evtimer_new(sc_wctx_base(w), on_dial, p);
    if (p->dial == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

static void pt_unlink(struct ptunnel *pt)
{
    if (pt->listed) {
        LIST_REMOVE(pt, link);
        pt->listed = 0;
    }
}

static void pt_free(struct ptunnel *pt)
{
    pt_unlink(pt);
    sc_upstream_cancel(pt->pending);
    sc_snapshot_unref(pt->snap);
    free(pt);
}

/* ---- the end of an app connection's stream ------------------------------- */

static void out_free(struct sc_hbone_out *o)
{
    sc_io_abort(o->io); /* an app socket: a TCP RST; a pair's end: a reset */
    sc_snapshot_unref(o->snap);
    free(o);
}

static void final(struct sc_hbone_out *o, const struct sc_hbone_out_end *e)
{
    sc_hbone_out_done_fn *done = o->done;

    o->done = NULL;
    if (done != NULL) {
        done(o->arg, e);
    }
    out_free(o);
}

static void fail(struct sc_hbone_out *o, const char *reason, const struct ptunnel *pt)
{
    struct sc_hbone_out_end e;

    memset(&e, 0, sizeof(e));
    e.reason = reason;
    e.peer_id = pt != NULL ? pt->peer_id : "";
    e.tls_version = pt != NULL ? pt->tls_version : NULL;
    e.tunnel_id = pt != NULL && pt->t != NULL ? pt->id : 0;
    final(o, &e);
}

/* A try failed before any answer: once more on a fresh tunnel, else the
 * app connection is reset with the reason. */
static void retry_or_fail(struct sc_hbone_out *o, const char *reason, const struct ptunnel *pt)
{
    char why[700];

    if (!o->retried && o->io != NULL) {
        o->retried = 1;
        /* not on a tunnel that was there when this one failed: the
         * streams retried from one failure share one new tunnel */
        o->min_serial = o->p->next_serial;
        sc_log(SC_LOG_INFO, NULL, "hbone to %s: %s; trying once more on a new tunnel", o->authority,
               reason);
        assign(o);
        return;
    }
    snprintf(why, sizeof(why), "hbone_tunnel_failed: %s%s", reason,
             o->retried ? " (after one retry)" : "");
    fail(o, why, pt);
}

static void on_stream_done(void *arg, const struct sc_hbone_stream_end *end)
{
    struct sc_hbone_out *o = arg;
    struct sc_hbone_out_end e;

    o->s = NULL;
    if (o->p->freeing) {
        o->io = end->io; /* (NULL unless retry) */
        o->done = NULL;
        out_free(o);
        return;
    }
    if (end->retry) {
        o->io = end->io;
        retry_or_fail(o, end->reason, NULL);
        return;
    }
    memset(&e, 0, sizeof(e));
    e.reason = end->reason;
    e.status = end->status;
    e.bytes[0] = end->bytes[0];
    e.bytes[1] = end->bytes[1];
    e.tunnel_id = end->tunnel_id;
    e.stream_id = end->stream_id;
    e.peer_id = "";
    e.tunnel_new = o->tunnel_new;
    e.tls_version = o->tls_version;
    {
        /* the tunnel may be gone by now: its identity was copied */
        e.peer_id = o->reason[0] != '\0' ? o->reason : "";
    }
    final(o, &e);
}

/* req.ready_ends: the caller hears of the 200 and is done with us. */
static void on_stream_ready(void *arg, const struct sc_hbone_stream_end *end)
{
    struct sc_hbone_out *o = arg;
    sc_hbone_out_done_fn *done = o->done;
    struct sc_hbone_out_end e;

    if (!o->req.ready_ends || done == NULL) {
        return;
    }
    memset(&e, 0, sizeof(e));
    e.reason = "hbone_established";
    e.status = 200;
    e.tunnel_id = end->tunnel_id;
    e.stream_id = end->stream_id;
    e.peer_id = o->reason;
    e.tls_version = o->tls_version;
    e.tunnel_new = o->tunnel_new;
    o->done = NULL; /* the stream runs on; its end frees us */
    done(o->arg, &e);
}

static void start_stream(struct sc_hbone_out *o, struct ptunnel *pt)
{
    struct sc_io *io = o->io;

    o->io = NULL;
    o->pt = NULL;
    /* keep the peer identity for the log line (the tunnel may close first) */
    snprintf(o->reason, sizeof(o->reason), "%s", pt->peer_id);
    o->tls_version = pt->tls_version;
    o->s =
        sc_hbone_stream_open(pt->t, io, o->authority, o->source_ip[0] != '\0' ? o->source_ip : NULL,
                             on_stream_ready, on_stream_done, o);
    if (o->s == NULL) {
        /* (io is gone) reported from the dial event, never from within
         * sc_hbone_out_open_io */
        o->broken = 1;
        limbo_add(o);
    }
}

/* ---- tunnels -------------------------------------------------------------- */

static void tunnel_log(struct ptunnel *pt, const char *reason, uint64_t streams,
                       const uint64_t bytes[2])
{
    char line[1600], ua[SC_ADDR_STRLEN], peer[600], end[400];
    struct timespec now;
    long ms;

    if (!sc_log_record_enabled()) {
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (now.tv_sec - pt->t0.tv_sec) * 1000 + (now.tv_nsec - pt->t0.tv_nsec) / 1000000;
    snprintf(line, sizeof(line),
             "%s conn id=%llu dir=outbound listener=hbone port=%d mode=ISTIO_MUTUAL "
             "class=mesh_mtls down=- up=%s orig_dst=- tls=%s peer=%s peer_root=- session=- "
             "bytes_received=%llu bytes_sent=%llu duration_ms=%ld hbone=%llu streams=%llu end=%s",
             pt->started, pt->id, sc_addr_port(&pt->addr), sc_addr_str(&pt->addr, ua, sizeof(ua)),
             pt->tls_version != NULL ? pt->tls_version : "-",
             sc_escape_text_str(pt->peer_id, peer, sizeof(peer)), (unsigned long long)bytes[0],
             (unsigned long long)bytes[1], ms, pt->id, (unsigned long long)streams,
             sc_escape_text_str(reason, end, sizeof(end)));
    sc_log_record(line, strlen(line));
}

static void on_tunnel_done(void *arg, const char *reason, uint64_t streams, const uint64_t bytes[2])
{
    struct ptunnel *pt = arg;

    tunnel_log(pt, reason, streams, bytes);
    pt->t->idle_cb = NULL; /* its streams end after this, without us */
    pt->t = NULL;
    pt_free(pt);
}

static void on_tunnel_idle(void *arg, struct sc_hbone_tunnel *t)
{
    struct ptunnel *pt = arg;
    const struct sc_config *cfg = sc_snapshot_config(pt->snap);

    sc_hbone_i_tunnel_arm_idle(t, cfg->hbone.idle_ms);
}

static void on_connected(void *arg, struct sc_upstream_result *res)
{
    struct ptunnel *pt = arg;
    struct sc_hbone_out *o, *next;
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    char why[1200];
    SSL *ssl;

    pt->pending = NULL;
    snprintf(pt->peer_id, sizeof(pt->peer_id), "%s", res->peer_id);
    pt->tls_version = res->tls_version;
    if (res->status == SC_UPSTREAM_OK) {
        ssl = bufferevent_openssl_get_ssl(res->bev);
        if (ssl != NULL) {
            SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
        }
        if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
            snprintf(why, sizeof(why),
                     "hbone_no_h2: the peer did not choose ALPN h2 (is it "
                     "an HBONE port?)");
        } else {
            struct sc_hbone_peer peer;

            memset(&peer, 0, sizeof(peer));
            peer.tunnel_id = pt->id;
            peer.addr = pt->addr;
            peer.peer_id = pt->peer_id;
            peer.tls_version = pt->tls_version;
            peer.listener = "hbone";
            pt->t = sc_hbone_client_new(pt->p->w, pt->snap, res->bev, &peer, on_tunnel_done, pt);
            res->bev = NULL;
            if (pt->t == NULL) {
                snprintf(why, sizeof(why), "internal_error: cannot start HTTP/2");
            } else {
                pt->t->idle_cb = on_tunnel_idle;
                pt->t->idle_arg = pt;
                o = pt->waiting;
                pt->waiting = NULL;
                pt->n_waiting = 0;
                for (; o != NULL; o = next) {
                    next = o->wnext;
                    o->wnext = NULL;
                    start_stream(o, pt);
                }
                if (pt->p->draining) {
                    /* dialed for a stream that came during the drain: it
                     * carries what it has, then closes (pt may be gone) */
                    sc_hbone_tunnel_drain(pt->t);
                    return;
                }
                if (sc_hbone_tunnel_streams(pt->t) == 0) {
                    on_tunnel_idle(pt, pt->t);
                }
                return;
            }
        }
    } else {
        snprintf(why, sizeof(why), "%s", res->reason);
    }
    if (res->bev != NULL) {
        bufferevent_free(res->bev);
        res->bev = NULL;
    }
    o = pt->waiting;
    pt->waiting = NULL;
    pt_unlink(pt); /* no new stream joins it */
    for (; o != NULL; o = next) {
        next = o->wnext;
        o->wnext = NULL;
        o->pt = NULL;
        retry_or_fail(o, why, pt);
    }
    pt_free(pt);
}

static struct ptunnel *pt_new(struct sc_hbone_pool *p, const struct sc_hbone_out *o)
{
    struct ptunnel *pt = calloc(1, sizeof(*pt));
    struct sc_upstream_req req;
    struct timespec now;
    struct tm tm;
    size_t n;

    if (pt == NULL) {
        return NULL;
    }
    pt->p = p;
    pt->snap = sc_snapshot_ref(o->snap);
    pt->addr = o->req.dst;
    sc_addr_set_port(&pt->addr, o->req.hbone_port);
    pt->expected = o->req.expected;
    pt->id = sc_wctx_next_conn_id(p->w);
    pt->serial = p->next_serial++;
    clock_gettime(CLOCK_MONOTONIC, &pt->t0);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    n = strftime(pt->started, sizeof(pt->started), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(pt->started + n, sizeof(pt->started) - n, ".%03ldZ", now.tv_nsec / 1000000L);
    memset(&req, 0, sizeof(req));
    req.w = p->w;
    req.snap = pt->snap;
    req.addr = pt->addr;
    req.dir = SC_DIR_OUTBOUND;
    req.tls = SC_TLS_ISTIO_MUTUAL;
    req.proto = SC_PROTO_TCP;
    req.host = o->req.host;
    req.expected = o->req.expected;
    req.connect_ms = o->req.connect_ms;
    req.handshake_ms = o->req.handshake_ms;
    req.mark = o->req.mark;
    req.alpn = alpn_h2;
    req.alpn_len = 3;
    LIST_INSERT_HEAD(&p->tunnels, pt, link);
    pt->listed = 1;
    pt->pending = sc_upstream_connect(&req, on_connected, pt);
    if (pt->pending == NULL) {
        pt_free(pt);
        return NULL;
    }
    return pt;
}

/* The same expected identities, whichever route or listener lists them. */
static int same_ids(const struct sc_strv *a, const struct sc_strv *b)
{
    size_t na = a != NULL ? a->n : 0, nb = b != NULL ? b->n : 0;

    if (na != nb) {
        return 0;
    }
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a->v[i], b->v[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

static int same_key(const struct ptunnel *pt, const struct sc_hbone_out *o)
{
    struct sc_addr a = o->req.dst;

    sc_addr_set_port(&a, o->req.hbone_port);
    return pt->snap == o->snap && sc_addr_equal(&pt->addr, &a) &&
           same_ids(pt->expected, o->req.expected);
}

static void wait_on(struct sc_hbone_out *o, struct ptunnel *pt)
{
    o->pt = pt;
    o->wnext = pt->waiting;
    pt->waiting = o;
    pt->n_waiting++;
}

/* Puts o where it can go without a new tunnel: on the fullest tunnel that
 * is up and has room (so spare tunnels empty and idle out), else in the
 * queue of one still connecting with room.  0 when there is none. */
static int place(struct sc_hbone_out *o)
{
    const struct sc_config *cfg = sc_snapshot_config(o->snap);
    size_t max = (size_t)cfg->hbone.max_streams_per_connection;
    struct ptunnel *pt, *best = NULL, *pending = NULL;

    LIST_FOREACH(pt, &o->p->tunnels, link) {
        if (pt->serial < o->min_serial || !same_key(pt, o)) {
            continue;
        }
        if (pt->t != NULL) {
            if (sc_hbone_tunnel_has_room(pt->t, max) &&
                (best == NULL ||
                 sc_hbone_tunnel_streams(pt->t) > sc_hbone_tunnel_streams(best->t))) {
                best = pt;
            }
        } else if (pt->pending != NULL && pt->n_waiting < max && pending == NULL) {
            pending = pt;
        }
    }
    if (best != NULL) {
        start_stream(o, best);
        return 1;
    }
    if (pending != NULL) {
        wait_on(o, pending);
        return 1;
    }
    return 0;
}

static void limbo_remove(struct sc_hbone_out *o)
{
    struct sc_hbone_pool *p = o->p;
    struct sc_hbone_out **pp = &p->limbo, *prev = NULL;

    while (*pp != NULL && *pp != o) {
        prev = *pp;
        pp = &(*pp)->wnext;
    }
    if (*pp == o) {
        *pp = o->wnext;
        if (p->limbo_tail == o) {
            p->limbo_tail = prev;
        }
    }
    o->wnext = NULL;
    o->in_limbo = 0;
}

static void limbo_add(struct sc_hbone_out *o)
{
    struct sc_hbone_pool *p = o->p;
    struct timeval now = {0, 0};

    o->in_limbo = 1;
    o->wnext = NULL;
    if (p->limbo_tail != NULL) {
        p->limbo_tail->wnext = o;
    } else {
        p->limbo = o;
    }
    p->limbo_tail = o;
    if (!evtimer_pending(p->dial, NULL)) {
        evtimer_add(p->dial, &now);
    }
}

/* Joins a tunnel with room, or waits for the dial event. */
static void assign(struct sc_hbone_out *o)
{
    if (!place(o)) {
        limbo_add(o);
    }
}

/* Streams half-closed on the tunnels that are up for o's key: slots about
 * to free. */
static size_t finishing(const struct sc_hbone_out *o)
{
    size_t n = 0;

    for (const struct ptunnel *pt = LIST_FIRST(&o->p->tunnels); pt != NULL;
         pt = LIST_NEXT(pt, link)) {
        if (pt->t != NULL && pt->serial >= o->min_serial && same_key(pt, o) &&
            sc_hbone_tunnel_has_room(pt->t, (size_t)-1)) {
            n += sc_hbone_tunnel_finishing(pt->t);
        }
    }
    return n;
}

/* After the loop's next poll: what still has no room waits a little more
 * while slots are about to free, else gets a new tunnel, shared by the
 * streams behind it up to the limit. */
static void on_dial(evutil_socket_t fd, short what, void *arg)
{
    struct sc_hbone_pool *p = arg;
    size_t n = 0, kept = 0, fin = 0;
    struct sc_hbone_out fk; /* the key fin was counted for (have_fin) */
    int have_fin = 0;

    (void)fd;
    (void)what;
    for (const struct sc_hbone_out *o = p->limbo; o != NULL; o = o->wnext) {
        n++;
    }
    /* the streams in the queue now, once each: those that wait again go
     * back to its end */
    for (; n > 0 && p->limbo != NULL; n--) {
        struct sc_hbone_out *o = p->limbo;
        struct ptunnel *pt;

        limbo_remove(o);
        if (o->broken) {
            fail(o, "internal_error: cannot open an HBONE stream", NULL);
            continue;
        }
        if (place(o)) {
            continue;
        }
        if (have_fin &&
            (fk.snap != o->snap || fk.min_serial != o->min_serial ||
             fk.req.hbone_port != o->req.hbone_port || !sc_addr_equal(&fk.req.dst, &o->req.dst))) {
            have_fin = 0; /* another key (rare): count again */
            kept = 0;
        }
        if (o->waits < DIAL_WAITS && !p->draining && !have_fin) {
            fin = finishing(o); /* once per key and pass, not per stream */
            fk = *o;
            have_fin = 1;
        }
        if (o->waits < DIAL_WAITS && !p->draining && fin > kept) {
            o->waits++;
            kept++;
            limbo_add(o);
            continue;
        }
        pt = pt_new(p, o);
        if (pt == NULL) {
            fail(o, "internal_error: out of memory", NULL);
            continue;
        }
        o->tunnel_new = 1;
        wait_on(o, pt);
    }
    if (kept > 0) {
        struct timeval ms = {0, 1000};

        evtimer_add(p->dial, &ms);
    }
}

struct sc_hbone_out *sc_hbone_out_open_io(struct sc_hbone_pool *p,
                                          const struct sc_hbone_out_req *req, struct sc_io *io,
                                          sc_hbone_out_done_fn *done, void *arg)
{
    struct sc_hbone_out *o = calloc(1, sizeof(*o));

    if (o == NULL) {
        sc_io_abort(io);
        return NULL;
    }
    o->p = p;
    o->req = *req;
    o->snap = sc_snapshot_ref(req->snap);
    o->req.snap = NULL;
    o->io = io;
    o->done = done;
    o->arg = arg;
    sc_addr_str(&req->dst, o->authority, sizeof(o->authority));
    if (req->source != NULL) {
        char *colon;

        sc_addr_str(req->source, o->source_ip, sizeof(o->source_ip));
        colon = strrchr(o->source_ip, ':'); /* the address without its port */
        if (colon != NULL) {
            *colon = '\0';
        }
        if (o->source_ip[0] == '[') {
            /* forwarded: for="[v6]" keeps its brackets */
        }
    }
    o->req.source = NULL;
    assign(o);
    return o;
}

struct sc_hbone_out *sc_hbone_out_open(struct sc_hbone_pool *p, const struct sc_hbone_out_req *req,
                                       int fd, sc_hbone_out_done_fn *done, void *arg)
{
    struct sc_io *io = sc_io_new(fd, NULL);

    if (io == NULL) {
        close(fd);
        return NULL;
    }
    return sc_hbone_out_open_io(p, req, io, done, arg);
}

void sc_hbone_out_cancel(struct sc_hbone_out *o)
{
    if (o == NULL) {
        return;
    }
    o->done = NULL;
    if (o->s != NULL) {
        struct sc_hbone_stream *s = o->s;

        o->s = NULL;
        sc_hbone_stream_cancel(s); /* resets; its done() is cleared */
        out_free(o);
        return;
    }
    if (o->in_limbo) {
        limbo_remove(o);
    } else if (o->pt != NULL) {
        struct sc_hbone_out **pp = &o->pt->waiting;

        while (*pp != NULL && *pp != o) {
            pp = &(*pp)->wnext;
        }
        if (*pp == o) {
            *pp = o->wnext;
            o->pt->n_waiting--;
        }
    }
    out_free(o);
}

void sc_hbone_pool_drain(struct sc_hbone_pool *p)
{
    struct ptunnel *pt, *next;

    if (p == NULL || p->draining) {
        return;
    }
    p->draining = 1;
    for (pt = LIST_FIRST(&p->tunnels); pt != NULL; pt = next) {
        next = LIST_NEXT(pt, link);
        if (pt->t != NULL) {
            sc_hbone_tunnel_drain(pt->t); /* may end it now: pt freed */
        }
    }
}

void sc_hbone_pool_free(struct sc_hbone_pool *p)
{
    if (p == NULL) {
        return;
    }
    p->freeing = 1; /* the streams the tunnels end go without a retry */
    while (!LIST_EMPTY(&p->tunnels)) {
        struct ptunnel *pt = LIST_FIRST(&p->tunnels);

        if (pt->t != NULL) {
            pt->t->idle_cb = NULL;
            sc_hbone_tunnel_free(pt->t); /* no done(): we free pt here */
            pt->t = NULL;
        }
        while (pt->waiting != NULL) {
            struct sc_hbone_out *o = pt->waiting;

            pt->waiting = o->wnext;
            o->done = NULL;
            out_free(o);
        }
        pt_free(pt);
    }
    while (p->limbo != NULL) {
        struct sc_hbone_out *o = p->limbo;

        limbo_remove(o);
        o->done = NULL;
        out_free(o);
    }
    if (p->dial != NULL) {
        event_free(p->dial);
    }
    free(p);
}
