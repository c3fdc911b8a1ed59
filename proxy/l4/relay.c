#include "relay.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io.h"
#include "relay_internal.h"

/* One relay, written once for both directions, on the raw I/O layer
 * (proxy/io/io.h): side 0 is downstream, side 1 upstream; direction i carries
 * the bytes read on side i to side !i through one fixed buffer.  Each
 * socket is registered once, edge-triggered and persistent; a wake-up
 * marks the readiness and pumps both directions, which read and write
 * until the kernel or OpenSSL says "would block" (the nginx shape:
 * ngx_stream_proxy_process). */

struct side {
    struct sc_relay *r;
    struct sc_io *io;
    struct event *ev;
    int idx;
    int eof; /* read half finished (peer sent FIN / close_notify) */
    int shut; /* our write half has been shut down */
};

/* Bytes read on one side, not yet written to the other. */
struct dir {
    unsigned char *buf; /* NULL while nothing is in flight */
    size_t cap;
    size_t off, len; /* written up to off, filled up to len */
    int heap; /* buf is a one-off (early bytes larger than a buffer) */
    /* kept while the buffer comes and goes: */
    int bulk; /* reads and writes SC_IO_BULK_SIZE at a time */
    int streak; /* reads in a row that say to switch (BULK_AFTER) */
};

/* A direction whose reads fill a 16 KiB buffer this many times in a row
 * moves to 64 KiB reads and writes (one recv(2) and one send(2) per 64 KiB
 * on a plain side, four records per read on a TLS side); this many reads of
 * less than 16 KiB in a row move it back.  Either way it holds a buffer
 * only while bytes are in flight. */
#define BULK_AFTER 4

struct sc_relay {
    struct side s[2];
    struct dir d[2];
    struct sc_relay_limits lim;
    uint64_t bytes[2];
    struct event *idle;
    struct timespec last;
    sc_relay_done_fn *done;
    void *arg;
    int ended;
    enum sc_relay_end why;
    char reason[160]; /* a reset's words, "" otherwise */
};

static void now(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC_COARSE, ts);
}

static void arm_quiet(struct sc_relay *r);

static void dir_release(struct dir *d)
{
    if (d->buf != NULL) {
        if (d->heap) {
            free(d->buf);
        } else if (d->cap == SC_IO_BULK_SIZE) {
            sc_io_bulk_put(d->buf);
        } else {
            sc_io_buf_put(d->buf);
        }
    }
    d->buf = NULL;
    d->cap = d->off = d->len = 0;
    d->heap = 0;
}

/* Counts a read of n bytes out of cap towards switching size (never to
 * bulk when the watermark allows no more than 16 KiB). */
static void dir_count(struct dir *d, size_t n, size_t cap, size_t high_watermark)
{
    int switch_ = d->bulk ? n < SC_IO_BUF_SIZE
                          : n == cap && cap == SC_IO_BUF_SIZE && high_watermark > SC_IO_BUF_SIZE;

    d->streak = switch_ ? d->streak + 1 : 0;
    if (d->streak >= BULK_AFTER) {
        d->bulk = !d->bulk;
        d->streak = 0;
    }
}

void sc_relay_free(struct sc_relay *r)
{
    if (r == NULL) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        if (r->s[i].ev != NULL) {
            sc_io_set_event(r->s[i].io, NULL);
            event_free(r->s[i].ev);
        }
        sc_io_free(r->s[i].io);
        dir_release(&r->d[i]);
    }
    if (r->idle != NULL) {
        event_free(r->idle);
    }
    free(r);
}

const char *sc_relay_end_str(enum sc_relay_end why, const char *detail, char *buf, size_t len)
{
    static const char *const names[] = {"peer_closed", "downstream_reset", "upstream_reset",
                                        "idle_timeout", "half_closed_timeout"};
    const char *name = (size_t)why < sizeof(names) / sizeof(names[0]) ? names[why] : "-";

    if (detail != NULL && detail[0] != '\0') {
        snprintf(buf, len, "%s: %s", name, detail);
    } else {
        snprintf(buf, len, "%s", name);
    }
    return buf;
}

static void finish(struct sc_relay *r, enum sc_relay_end why)
{
    r->done(r, why, r->reason, r->bytes, r->arg);
    sc_relay_free(r);
}

/* Records the end; the caller unwinds and end_if_done() reports it. */
static void end(struct sc_relay *r, enum sc_relay_end why, const struct sc_io *io)
{
    if (r->ended) {
        return;
    }
    r->ended = 1;
    r->why = why;
    r->reason[0] = '\0';
    if (io != NULL) {
        snprintf(r->reason, sizeof(r->reason), "%s", sc_io_error(io, NULL));
    } else if (why != SC_RELAY_PEER_CLOSED) {
        snprintf(r->reason, sizeof(r->reason), "out of memory");
    }
}

/* The end a failure on side idx (0 down, 1 up) reports. */
static enum sc_relay_end reset_of(int idx)
{
    return idx == 0 ? SC_RELAY_DOWN_RESET : SC_RELAY_UP_RESET;
}

static void shut_write(struct side *s)
{
    if (!s->shut) {
        s->shut = 1;
        sc_io_shutdown(s->io);
    }
}

/* Moves what it can of direction i: writes what is buffered, then reads
 * more, until a side would block, the source ends or a side fails. */
static void pump_dir(struct sc_relay *r, int i)
{
    struct side *from = &r->s[i], *to = &r->s[!i];
    struct dir *d = &r->d[i];

    for (;;) {
        while (d->off < d->len) {
            ssize_t n;

            if (to->shut) {
                d->off = d->len; /* nowhere to send it */
                break;
            }
            if (!sc_io_can_write(to->io)) {
                return;
            }
            n = sc_io_write(to->io, d->buf + d->off, d->len - d->off);
            if (n == SC_IO_AGAIN) {
                return;
            }
            if (n < 0) {
                end(r, reset_of(to->idx), to->io);
                return;
            }
            d->off += (size_t)n;
            now(&r->last);
        }
        if (from->eof) {
            /* everything before the end went out: pass the end on */
            dir_release(d);
            shut_write(to);
            return;
        }
        if (!sc_io_can_read(from->io)) {
            dir_release(d); /* idle: hold no buffer */
            return;
        }
        if (d->buf == NULL || d->heap || d->cap != (d->bulk ? SC_IO_BULK_SIZE : SC_IO_BUF_SIZE)) {
            dir_release(d);
            d->buf = d->bulk ? sc_io_bulk_get() : sc_io_buf_get();
            if (d->buf == NULL) {
                end(r, reset_of(i), NULL);
                return;
            }
            d->cap = d->bulk ? SC_IO_BULK_SIZE : SC_IO_BUF_SIZE;
        }
        d->off = d->len = 0;
        {
            size_t cap = d->cap < r->lim.high_watermark ? d->cap : r->lim.high_watermark;
            ssize_t n = sc_io_read(from->io, d->buf, cap);

            if (n == SC_IO_AGAIN) {
                dir_release(d);
                return;
            }
            if (n < 0) {
                end(r, reset_of(from->idx), from->io);
                return;
            }
            if (n == 0) {
                from->eof = 1;
                arm_quiet(r); /* half-closed: a shorter limit may apply */
                continue;
            }
            d->len = (size_t)n;
            if ((size_t)n < cap && sc_io_peer_ended(from->io)) {
                /* the source's FIN is behind these bytes: they and our
                 * end (shut_write, this same pump) leave together */
                sc_io_set_last(to->io);
            }
            dir_count(d, (size_t)n, cap, r->lim.high_watermark);
            r->bytes[i] += (uint64_t)n;
            now(&r->last);
        }
    }
}

/* Sends the bytes a bulk TLS write gathered and left waiting (io.h). */
static void flush_sides(struct sc_relay *r)
{
    for (int i = 0; i < 2 && !r->ended; i++) {
        ssize_t v;

        if (!sc_io_pending(r->s[i].io)) {
            continue;
        }
        v = sc_io_flush(r->s[i].io);
        if (v == SC_IO_ERROR) {
            end(r, reset_of(i), r->s[i].io);
        } else if (v == 0) {
            now(&r->last); /* bytes moved: the idle clock starts again */
        }
    }
}

/* Pumps both directions until neither moves, then reports an end. */
static void pump(struct sc_relay *r)
{
    uint64_t before[2];
    int guard = 0;

    flush_sides(r);
    do {
        before[0] = r->bytes[0] + r->d[0].off + (uint64_t)r->s[0].eof;
        before[1] = r->bytes[1] + r->d[1].off + (uint64_t)r->s[1].eof;
        pump_dir(r, 0);
        if (!r->ended) {
            pump_dir(r, 1);
        }
        /* writing one way may have unblocked a TLS read the other way */
    } while (!r->ended && ++guard < 4 &&
             (before[0] != r->bytes[0] + r->d[0].off + (uint64_t)r->s[0].eof ||
              before[1] != r->bytes[1] + r->d[1].off + (uint64_t)r->s[1].eof));
    flush_sides(r); /* a read may have made OpenSSL write (a key update) */
    if (!r->ended && r->s[0].eof && r->s[1].eof && r->s[0].shut && r->s[1].shut &&
        !sc_io_pending(r->s[0].io) && !sc_io_pending(r->s[1].io)) {
        end(r, SC_RELAY_PEER_CLOSED, NULL);
    }
    if (r->ended) {
        finish(r, r->why);
    }
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    struct side *s = arg;

    (void)fd;
    sc_io_ready(s->io, what);
    if (what & EV_CLOSED) {
        arm_quiet(s->r); /* half-closed: a shorter limit may apply */
    }
    pump(s->r);
}

/* One side has ended its sending half: read up to its end, or known from
 * EV_CLOSED while bytes before the end still wait.  From then on the relay
 * is half-closed, and half_closed_ms of no byte moving ends it (HAProxy's
 * client-fin / server-fin timeouts): a peer that will not read what is
 * left, or that never ends its own half, does not hold the connection and
 * its buffers for idle_ms. */
static int half_closed(const struct sc_relay *r)
{
    for (int i = 0; i < 2; i++) {
        if (r->s[i].eof || (r->s[i].io != NULL && sc_io_peer_ended(r->s[i].io))) {
            return 1;
        }
    }
    return 0;
}

/* The quiet time that ends the relay now, and why: idle_ms, or
 * half_closed_ms once one side has ended, whichever is shorter. */
static long quiet_limit(const struct sc_relay *r, enum sc_relay_end *why)
{
    long limit = r->lim.idle_ms > 0 ? r->lim.idle_ms : -1;

    *why = SC_RELAY_IDLE_TIMEOUT;
    if (half_closed(r) && r->lim.half_closed_ms > 0 &&
        (limit < 0 || r->lim.half_closed_ms < limit)) {
        limit = r->lim.half_closed_ms;
        *why = SC_RELAY_HALF_CLOSED_TIMEOUT;
    }
    return limit;
}

static long quiet_ms(const struct sc_relay *r)
{
    struct timespec t;

    now(&t);
    return (t.tv_sec - r->last.tv_sec) * 1000 + (t.tv_nsec - r->last.tv_nsec) / 1000000;
}

/* (Re)arms the quiet timer for what is left of the current limit. */
static void arm_quiet(struct sc_relay *r)
{
    enum sc_relay_end why;
    long limit = quiet_limit(r, &why), left;
    struct timeval tv;

    if (limit < 0 || r->idle == NULL) {
        return;
    }
    left = limit - quiet_ms(r);
    if (left < 1) {
        left = 1;
    }
    tv.tv_sec = left / 1000;
    tv.tv_usec = (left % 1000) * 1000;
    evtimer_add(r->idle, &tv);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct sc_relay *r = arg;
    enum sc_relay_end why;
    long limit = quiet_limit(r, &why);

    (void)fd;
    (void)what;
    if (limit >= 0 && quiet_ms(r) >= limit) {
        r->reason[0] = '\0';
        finish(r, why);
        return;
    }
    arm_quiet(r);
}

/* Direction i starts with early bytes: what was queued towards side !i
 * and not yet written, then what side i had read and not delivered. */
static int preload(struct dir *d, struct evbuffer *early)
{
    size_t n = evbuffer_get_length(early);

    if (n == 0) {
        return 0;
    }
    d->heap = n > SC_IO_BUF_SIZE;
    d->buf = d->heap ? malloc(n) : sc_io_buf_get();
    if (d->buf == NULL) {
        d->heap = 0;
        return -1;
    }
    d->cap = d->heap ? n : SC_IO_BUF_SIZE;
    evbuffer_remove(early, d->buf, n);
    d->off = 0;
    d->len = n;
    return 0;
}

/* Builds the relay on two connections already on the I/O layer: io[i]
 * (taken, NULL when taking it out of its bufferevent failed), in[i] the
 * bytes read on side i and not delivered, out[i] those queued for side i and
 * not written (all four evbuffers are the caller's, drained here).  Frees
 * everything and returns NULL on failure. */
static struct sc_relay *relay_start(struct sc_relay *r, struct event_base *base,
                                    struct sc_io *io[2], struct evbuffer *in[2],
                                    struct evbuffer *out[2])
{
    size_t early_in[2];

    for (int i = 0; i < 2; i++) {
        r->s[i].r = r;
        r->s[i].idx = i;
        r->s[i].io = io[i];
    }
    if (r->s[0].io == NULL || r->s[1].io == NULL) {
        goto fail;
    }
    for (int i = 0; i < 2; i++) {
        sc_io_set_bulk(r->s[i].io, 1); /* only reads and writes > 16 KiB change */
    }
    for (int i = 0; i < 2; i++) {
        early_in[i] = evbuffer_get_length(in[i]);
        /* direction i: queued towards !i first, then read on i */
        evbuffer_add_buffer(out[!i], in[i]);
        if (preload(&r->d[i], out[!i]) != 0) {
            goto fail;
        }
        r->bytes[i] = early_in[i];
    }
    for (int i = 0; i < 2; i++) {
        r->s[i].ev =
            event_new(base, sc_io_fd(r->s[i].io),
                      EV_READ | EV_WRITE | EV_CLOSED | EV_PERSIST | EV_ET, on_io, &r->s[i]);
        if (r->s[i].ev == NULL || event_add(r->s[i].ev, NULL) != 0) {
            goto fail;
        }
        sc_io_set_event(r->s[i].io, r->s[i].ev);
    }
    arm_quiet(r);
    /* The first pump comes from the sockets' first (edge) wake-up. */
    return r;

fail:
    sc_relay_free(r);
    return NULL;
}

/* The relay object with its limits and timer, nothing taken yet. */
static struct sc_relay *relay_alloc(struct event_base *base, const struct sc_relay_limits *lim,
                                    sc_relay_done_fn *done, void *arg)
{
    struct sc_relay *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        return NULL;
    }
    r->lim = *lim;
    if (r->lim.high_watermark == 0 || r->lim.high_watermark > SC_IO_BULK_SIZE) {
        r->lim.high_watermark = SC_IO_BULK_SIZE;
    }
    r->done = done;
    r->arg = arg;
    now(&r->last);
    if (r->lim.idle_ms > 0 || r->lim.half_closed_ms > 0) {
        r->idle = evtimer_new(base, on_idle, r);
        if (r->idle == NULL) {
            free(r);
            return NULL;
        }
    }
    return r;
}

static void free_bufs(struct evbuffer *in[2], struct evbuffer *out[2])
{
    for (int i = 0; i < 2; i++) {
        if (in[i] != NULL) {
            evbuffer_free(in[i]);
        }
        if (out[i] != NULL) {
            evbuffer_free(out[i]);
        }
    }
}

struct sc_relay *sc_relay_new(struct bufferevent *down, struct bufferevent *up,
                              const struct sc_relay_limits *lim, sc_relay_done_fn *done, void *arg)
{
    struct event_base *base = bufferevent_get_base(down);
    struct sc_relay *r = NULL;
    struct evbuffer *in[2] = {evbuffer_new(), evbuffer_new()};
    struct evbuffer *out[2] = {evbuffer_new(), evbuffer_new()};
    struct bufferevent *bev[2] = {down, up};
    struct sc_io *io[2];

    if (in[0] == NULL || in[1] == NULL || out[0] == NULL || out[1] == NULL ||
        (r = relay_alloc(base, lim, done, arg)) == NULL) {
        /* nothing taken: the bufferevents are still the caller's */
        free_bufs(in, out);
        return NULL;
    }
    /* From here on the bufferevents are ours, whatever happens. */
    for (int i = 0; i < 2; i++) {
        io[i] = sc_io_from_bufferevent(bev[i], in[i], out[i]);
    }
    r = relay_start(r, base, io, in, out);
    free_bufs(in, out);
    return r;
}

struct sc_relay *sc_relay_new_io(struct event_base *base, struct sc_io *down, struct sc_io *up,
                                 struct evbuffer *in[2], struct evbuffer *out[2],
                                 const struct sc_relay_limits *lim, sc_relay_done_fn *done,
                                 void *arg)
{
    struct sc_relay *r = relay_alloc(base, lim, done, arg);
    struct sc_io *io[2] = {down, up};

    if (r == NULL) {
        sc_io_free(down);
        sc_io_free(up);
        return NULL;
    }
    return relay_start(r, base, io, in, out);
}

void sc_relay_bytes(const struct sc_relay *r, uint64_t bytes[2])
{
    bytes[0] = r->bytes[0];
    bytes[1] = r->bytes[1];
}

size_t sc_relay_pending(const struct sc_relay *r, int dir)
{
    return r->d[dir].len - r->d[dir].off;
}

int sc_relay_reading(const struct sc_relay *r, int side)
{
    return !r->s[side].eof && sc_relay_pending(r, side) == 0;
}

int sc_relay_bulk(const struct sc_relay *r, int dir)
{
    return r->d[dir].bulk;
}

int sc_relay_fd(const struct sc_relay *r, int side)
{
    return sc_io_fd(r->s[side].io);
}
