/* Unit tests for proxy/relay: the L4 byte relay between a downstream and an
 * upstream bufferevent.  Each test builds a private event_base and two
 * socket pairs (AF_UNIX socketpair(), or a TCP pair on 127.0.0.1 with an
 * ephemeral port where TCP behaviour matters: resets).  The relay owns one
 * end of each pair; the test drives the other ends (the "peers") with plain
 * non-blocking send()/recv() between turns of the event loop.
 *
 *   down peer  <── pair ──>  relay (side 0)   relay (side 1)  <── pair ──>  up peer
 */

#include <check.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "relay.h"
#include "relay_internal.h"

enum pair_kind { PAIR_UNIX = 0, PAIR_TCP, PAIR_N };
static const char *const pair_names[PAIR_N] = {"socketpair", "tcp"};

#define MB (1024u * 1024u)
#define CHUNK (256u * 1024u)

/* One end driven by the test. */
struct peer {
    int fd;
    /* sending: src[0..len) in order, then shutdown(SHUT_WR) if shut_when_sent */
    const unsigned char *src;
    size_t len, sent;
    int shut_when_sent, shut;
    int blocked; /* the last send() said EAGAIN */
    int send_err;
    /* receiving (only while reading): into dst[0..cap), counting the rest */
    int reading;
    unsigned char *dst;
    size_t cap, recvd;
    int eof; /* recv() returned 0 */
    int recv_err;
};

struct done_rec {
    int calls;
    enum sc_relay_end why;
    char detail[160];
    uint64_t bytes[2];
    struct timespec at;
};

static struct {
    struct event_base *base;
    struct event *tick;
    struct bufferevent *bev[2]; /* relay's ends: [0] down, [1] up */
    struct sc_relay *r; /* NULL once done() ran or it was freed */
    struct peer down, up;
    struct done_rec done;
    size_t max_pending[2]; /* largest output queued by the relay towards side i */
    int half_closed_ms; /* the relay's half_closed_ms (0: off) */
    unsigned char *bufs[4]; /* payloads and receive buffers, freed in teardown */
} fx;

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
    return (b->tv_sec - a->tv_sec) * 1000L + (b->tv_nsec - a->tv_nsec) / 1000000L;
}

/* Deterministic pseudo-random bytes (xorshift64*), distinct per seed. */
static unsigned char *payload(size_t len, uint64_t seed, int slot)
{
    unsigned char *p = malloc(len);
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < len; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        p[i] = (unsigned char)((x * 0x2545f4914f6cdd1dull) >> 56);
    }
    fx.bufs[slot] = p;
    return p;
}

static unsigned char *rxbuf(size_t cap, int slot)
{
    unsigned char *p = calloc(1, cap > 0 ? cap : 1);

    ck_assert_ptr_nonnull(p);
    fx.bufs[slot] = p;
    return p;
}

static void make_pair(enum pair_kind kind, int fds[2])
{
    if (kind == PAIR_UNIX) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
                         0);
        return;
    }
    {
        struct sockaddr_in sin;
        socklen_t sl = sizeof(sin);
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;

        ck_assert_int_ge(lfd, 0);
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin.sin_port = 0;
        ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        ck_assert_int_eq(listen(lfd, 1), 0);
        ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
        fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fds[0], 0);
        ck_assert_int_eq(connect(fds[0], (struct sockaddr *)&sin, sizeof(sin)), 0);
        fds[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(fds[1], 0);
        close(lfd);
        for (int i = 0; i < 2; i++) {
            ck_assert_int_eq(evutil_make_socket_nonblocking(fds[i]), 0);
            (void)setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
    }
}

static void on_done(struct sc_relay *r, enum sc_relay_end why, const char *detail,
                    const uint64_t bytes[2], void *arg)
{
    ck_assert_ptr_eq(arg, &fx);
    ck_assert_ptr_eq(r, fx.r);
    fx.done.calls++;
    fx.done.why = why;
    snprintf(fx.done.detail, sizeof(fx.done.detail), "%s", detail);
    fx.done.bytes[0] = bytes[0];
    fx.done.bytes[1] = bytes[1];
    clock_gettime(CLOCK_MONOTONIC, &fx.done.at);
    fx.r = NULL; /* freed with both bufferevents when we return */
    fx.bev[0] = fx.bev[1] = NULL;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void setup(void)
{
    struct timeval ms = {0, 1000};

    memset(&fx, 0, sizeof(fx));
    fx.down.fd = fx.up.fd = -1;
    fx.base = event_base_new();
    ck_assert_ptr_nonnull(fx.base);
    /* bounds every turn of the loop to about a millisecond */
    fx.tick = event_new(fx.base, -1, EV_PERSIST, on_tick, NULL);
    ck_assert_ptr_nonnull(fx.tick);
    event_add(fx.tick, &ms);
}

static void teardown(void)
{
    if (fx.r != NULL) {
        sc_relay_free(fx.r); /* a test that failed half-way */
        fx.r = NULL;
        fx.bev[0] = fx.bev[1] = NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (fx.bev[i] != NULL) {
            bufferevent_free(fx.bev[i]); /* made, but never handed over */
        }
    }
    if (fx.down.fd >= 0) {
        close(fx.down.fd);
    }
    if (fx.up.fd >= 0) {
        close(fx.up.fd);
    }
    event_free(fx.tick);
    event_base_free(fx.base);
    for (int i = 0; i < 4; i++) {
        free(fx.bufs[i]);
    }
    memset(&fx, 0, sizeof(fx));
}

/* Creates both pairs and the relay's bufferevents (not yet the relay). */
static void make_sides(enum pair_kind kind)
{
    int d[2], u[2];

    make_pair(kind, d);
    make_pair(kind, u);
    fx.down.fd = d[0];
    fx.up.fd = u[1];
    fx.bev[0] = bufferevent_socket_new(fx.base, d[1], BEV_OPT_CLOSE_ON_FREE);
    fx.bev[1] = bufferevent_socket_new(fx.base, u[0], BEV_OPT_CLOSE_ON_FREE);
    ck_assert_ptr_nonnull(fx.bev[0]);
    ck_assert_ptr_nonnull(fx.bev[1]);
}

static void start_relay(size_t high_watermark, int idle_ms)
{
    struct sc_relay_limits lim = {high_watermark, idle_ms, fx.half_closed_ms};

    fx.r = sc_relay_new(fx.bev[0], fx.bev[1], &lim, on_done, &fx);
    fx.bev[0] = fx.bev[1] = NULL; /* the relay's, whatever it returned */
    ck_assert_ptr_nonnull(fx.r);
}

static void start(enum pair_kind kind, size_t high_watermark, int idle_ms)
{
    make_sides(kind);
    start_relay(high_watermark, idle_ms);
}

static void peer_send(struct peer *p, const unsigned char *src, size_t len, int shut)
{
    p->src = src;
    p->len = len;
    p->sent = 0;
    p->shut_when_sent = shut;
}

static void peer_recv(struct peer *p, unsigned char *dst, size_t cap)
{
    p->reading = 1;
    p->dst = dst;
    p->cap = cap;
}

static void peer_io(struct peer *p)
{
    unsigned char buf[64 * 1024];

    if (p->fd < 0) {
        return;
    }
    p->blocked = 0;
    while (p->src != NULL && p->sent < p->len && p->send_err == 0) {
        size_t want = p->len - p->sent < CHUNK ? p->len - p->sent : CHUNK;
        ssize_t n = send(p->fd, p->src + p->sent, want, MSG_NOSIGNAL);

        if (n > 0) {
            p->sent += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            p->blocked = 1;
            break;
        } else {
            p->send_err = n < 0 ? errno : -1;
        }
    }
    if (p->src != NULL && p->sent == p->len && p->shut_when_sent && !p->shut) {
        ck_assert_int_eq(shutdown(p->fd, SHUT_WR), 0);
        p->shut = 1;
    }
    while (p->reading && !p->eof && p->recv_err == 0) {
        ssize_t n = recv(p->fd, buf, sizeof(buf), 0);

        if (n > 0) {
            size_t room = p->recvd < p->cap ? p->cap - p->recvd : 0;
            memcpy(p->dst + p->recvd, buf, (size_t)n < room ? (size_t)n : room);
            p->recvd += (size_t)n;
        } else if (n == 0) {
            p->eof = 1;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        } else {
            p->recv_err = errno;
        }
    }
}

static void note_pending(void)
{
    for (int i = 0; i < 2; i++) {
        if (fx.r != NULL) {
            size_t n = sc_relay_pending(fx.r, !i); /* queued towards side i */
            if (n > fx.max_pending[i]) {
                fx.max_pending[i] = n;
            }
        }
    }
}

typedef int cond_fn(void *arg);

/* Turns the loop (and the peers) until cond holds; 0 on timeout. */
static int run_until(cond_fn *cond, void *arg, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;

    for (;;) {
        peer_io(&fx.down);
        peer_io(&fx.up);
        note_pending();
        if (cond(arg)) {
            return 1;
        }
        if (now_ms() > deadline) {
            return 0;
        }
        event_base_loop(fx.base, EVLOOP_ONCE);
    }
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}

/* Runs for ms milliseconds regardless. */
static void run_for(int ms)
{
    (void)run_until(never, NULL, ms);
}

static int is_done(void *arg)
{
    (void)arg;
    return fx.done.calls > 0;
}

static int both_eof_and_done(void *arg)
{
    (void)arg;
    return fx.down.eof && fx.up.eof && fx.done.calls > 0;
}

static int peer_got(void *arg)
{
    const struct peer *p = arg;
    return p->recvd >= p->cap || p->eof;
}

static int peer_eof(void *arg)
{
    return ((const struct peer *)arg)->eof;
}

static int peer_closed(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, 0);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static size_t unread(int fd)
{
    int n = 0;

    ck_assert_int_eq(ioctl(fd, FIONREAD, &n), 0);
    return (size_t)n;
}

/* ---- bytes both ways --------------------------------------------------------- */

/* 8 MB each way at once, unchanged; both peers half-close after sending,
 * and done() reports a clean end with both counts. */
START_TEST(test_relay_moves_8mb_both_ways_unchanged)
{
    const size_t len = 8 * MB;
    unsigned char *a = payload(len, 1, 0), *b = payload(len, 2, 1);

    start((enum pair_kind)_i, 256 * 1024, 0);
    peer_send(&fx.down, a, len, 1);
    peer_send(&fx.up, b, len, 1);
    peer_recv(&fx.up, rxbuf(len, 2), len);
    peer_recv(&fx.down, rxbuf(len, 3), len);
    ck_assert_msg(run_until(both_eof_and_done, NULL, 20000),
                  "%s: timed out: up got %zu, down got %zu, done=%d", pair_names[_i], fx.up.recvd,
                  fx.down.recvd, fx.done.calls);
    ck_assert_uint_eq(fx.up.recvd, len);
    ck_assert_uint_eq(fx.down.recvd, len);
    ck_assert_msg(memcmp(fx.up.dst, a, len) == 0, "down->up bytes changed");
    ck_assert_msg(memcmp(fx.down.dst, b, len) == 0, "up->down bytes changed");
    ck_assert_int_eq(fx.up.recv_err, 0);
    ck_assert_int_eq(fx.down.recv_err, 0);
    ck_assert_int_eq(fx.done.calls, 1);
    ck_assert_int_eq(fx.done.why, SC_RELAY_PEER_CLOSED);
    ck_assert_str_eq(fx.done.detail, "");
    ck_assert_uint_eq(fx.done.bytes[0], len);
    ck_assert_uint_eq(fx.done.bytes[1], len);
}
END_TEST

START_TEST(test_relay_bytes_reports_progress)
{
    static const char msg[] = "0123456789";
    uint64_t bytes[2] = {99, 99};

    start(PAIR_UNIX, 0, 0);
    sc_relay_bytes(fx.r, bytes);
    ck_assert_uint_eq(bytes[0], 0);
    ck_assert_uint_eq(bytes[1], 0);
    peer_send(&fx.down, (const unsigned char *)msg, 10, 0);
    peer_send(&fx.up, (const unsigned char *)msg, 3, 0);
    peer_recv(&fx.up, rxbuf(10, 0), 10);
    peer_recv(&fx.down, rxbuf(3, 1), 3);
    ck_assert(run_until(peer_got, &fx.up, 5000));
    ck_assert(run_until(peer_got, &fx.down, 5000));
    sc_relay_bytes(fx.r, bytes);
    ck_assert_uint_eq(bytes[0], 10);
    ck_assert_uint_eq(bytes[1], 3);
    ck_assert_int_eq(fx.done.calls, 0);
}
END_TEST

/* ---- backpressure --------------------------------------------------------- */

struct stall {
    const struct peer *p;
    long since;
    size_t last;
};

/* The peer cannot send any more, and has not for 150 ms. */
static int stalled(void *arg)
{
    struct stall *st = arg;
    long t = now_ms();

    if (st->p->sent != st->last || !st->p->blocked) {
        st->last = st->p->sent;
        st->since = t;
        return 0;
    }
    return t - st->since >= 150;
}

START_TEST(test_relay_backpressure_bounds_pending_output)
{
    const size_t hw = 64 * 1024, len = 32 * MB;
    unsigned char *a = payload(len, 3, 0);
    struct stall st = {&fx.down, now_ms(), 0};
    uint64_t bytes[2];
    size_t pending, in_kernel, in_input;

    start(PAIR_UNIX, hw, 0);
    peer_send(&fx.down, a, len, 1);
    /* the up peer reads nothing yet */
    ck_assert_msg(run_until(stalled, &st, 10000), "the down peer never blocked (sent %zu)",
                  fx.down.sent);

    pending = sc_relay_pending(fx.r, 0);
    in_input = 0; /* no input buffer: read means pending */
    in_kernel = unread(sc_relay_fd(fx.r, 0));
    sc_relay_bytes(fx.r, bytes);
    /* The relay stopped reading: the source's bytes wait in the kernel ... */
    ck_assert_msg(!sc_relay_reading(fx.r, 0), "the relay still reads downstream");
    ck_assert_uint_gt(in_kernel, 0);
    /* ... and what it holds is one buffer at most (64 KiB once the
     * direction moved to bulk, or the watermark when smaller), not the
     * payload. */
    ck_assert_uint_gt(pending, 0);
    ck_assert_msg(pending <= hw, "pending %zu with a %zu watermark", pending, hw);
    ck_assert_uint_le(fx.max_pending[1], hw);
    ck_assert_uint_lt(fx.down.sent, 8 * MB);
    /* nothing lost or made up on the way */
    ck_assert_uint_eq(fx.down.sent, bytes[0] + in_input + in_kernel);
    ck_assert_uint_eq(bytes[0], pending + unread(fx.up.fd));

    /* The far end reads: the relay resumes and everything arrives in order. */
    peer_recv(&fx.up, rxbuf(len, 1), len);
    ck_assert_msg(run_until(peer_eof, &fx.up, 20000), "up got %zu of %zu", fx.up.recvd, len);
    ck_assert_uint_eq(fx.down.sent, len);
    ck_assert_uint_eq(fx.up.recvd, len);
    ck_assert_msg(memcmp(fx.up.dst, a, len) == 0, "bytes changed under backpressure");
    ck_assert_msg(fx.max_pending[1] <= hw, "pending output reached %zu", fx.max_pending[1]);
    ck_assert_int_eq(fx.done.calls, 0);
    ck_assert_int_eq(shutdown(fx.up.fd, SHUT_WR), 0);
    peer_recv(&fx.down, rxbuf(16, 2), 16);
    ck_assert(run_until(both_eof_and_done, NULL, 5000));
    ck_assert_int_eq(fx.done.why, SC_RELAY_PEER_CLOSED);
    ck_assert_uint_eq(fx.done.bytes[0], len);
    ck_assert_uint_eq(fx.done.bytes[1], 0);
}
END_TEST

/* Backpressure applies the other way too. */
START_TEST(test_relay_backpressure_upstream_to_downstream)
{
    const size_t hw = 32 * 1024, len = 16 * MB;
    unsigned char *b = payload(len, 4, 0);
    struct stall st = {&fx.up, now_ms(), 0};
    size_t pending;

    start(PAIR_UNIX, hw, 0);
    peer_send(&fx.up, b, len, 1);
    ck_assert_msg(run_until(stalled, &st, 10000), "the up peer never blocked (sent %zu)",
                  fx.up.sent);
    pending = sc_relay_pending(fx.r, 1);
    ck_assert(!sc_relay_reading(fx.r, 1));
    ck_assert_uint_gt(unread(sc_relay_fd(fx.r, 1)), 0);
    ck_assert_msg(pending > 0 && pending <= hw, "pending %zu with a %zu watermark", pending, hw);
    ck_assert_uint_lt(fx.up.sent, 8 * MB);

    peer_recv(&fx.down, rxbuf(len, 1), len);
    ck_assert_msg(run_until(peer_eof, &fx.down, 20000), "down got %zu", fx.down.recvd);
    ck_assert_uint_eq(fx.down.recvd, len);
    ck_assert(memcmp(fx.down.dst, b, len) == 0);
    ck_assert_uint_le(fx.max_pending[0], hw);
}
END_TEST

/* An EOF is passed on only after the bytes before it: 1 MB queued towards
 * a peer that does not read, then the sender's FIN. */
START_TEST(test_relay_eof_waits_for_pending_output)
{
    const size_t len = 1 * MB;
    unsigned char *a = payload(len, 5, 0);

    start(PAIR_UNIX, 4 * MB, 0);
    peer_send(&fx.down, a, len, 1);
    run_for(200);
    /* the up peer reads nothing: bytes wait in the relay, so no FIN yet */
    ck_assert_uint_gt(sc_relay_pending(fx.r, 0), 0);
    ck_assert_int_eq(fx.done.calls, 0);
    peer_recv(&fx.up, rxbuf(len, 1), len);
    ck_assert(run_until(peer_eof, &fx.up, 10000));
    ck_assert(fx.down.shut);
    ck_assert_uint_eq(fx.up.recvd, len);
    ck_assert(memcmp(fx.up.dst, a, len) == 0);
    ck_assert_int_eq(fx.up.recv_err, 0);
    ck_assert_int_eq(fx.done.calls, 0);
}
END_TEST

/* ---- half-close --------------------------------------------------------------- */

/* _i % 2: 0 the downstream peer half-closes first, 1 the upstream peer does;
 * _i / 2: the pair kind. */
START_TEST(test_relay_half_close_keeps_other_direction)
{
    static const char req[] = "request-then-FIN";
    const size_t rlen = sizeof(req) - 1, big = 1 * MB;
    int down_first = _i % 2 == 0;
    enum pair_kind kind = (enum pair_kind)(_i / 2);
    struct peer *first = down_first ? &fx.down : &fx.up;
    struct peer *second = down_first ? &fx.up : &fx.down;
    unsigned char *reply = payload(big, 6, 0);

    start(kind, 64 * 1024, 0);
    peer_send(first, (const unsigned char *)req, rlen, 1);
    peer_recv(second, rxbuf(rlen, 1), rlen);
    ck_assert_msg(run_until(peer_eof, second, 5000), "%s: the FIN did not arrive",
                  pair_names[kind]);
    ck_assert_uint_eq(second->recvd, rlen);
    ck_assert_mem_eq(second->dst, req, rlen);
    ck_assert_int_eq(fx.done.calls, 0);

    /* The other direction still works, for more than a buffer's worth. */
    peer_send(second, reply, big, 0);
    peer_recv(first, rxbuf(big, 2), big);
    ck_assert_msg(run_until(peer_got, first, 10000), "%s: got %zu of %zu after half-close",
                  pair_names[kind], first->recvd, big);
    ck_assert_uint_eq(first->recvd, big);
    ck_assert(memcmp(first->dst, reply, big) == 0);
    ck_assert_int_eq(first->eof, 0);
    ck_assert_int_eq(fx.done.calls, 0);

    /* Now the second half-closes too: the relay ends cleanly, once. */
    ck_assert_int_eq(shutdown(second->fd, SHUT_WR), 0);
    ck_assert(run_until(peer_eof, first, 5000));
    ck_assert(run_until(is_done, NULL, 5000));
    run_for(50);
    ck_assert_int_eq(fx.done.calls, 1);
    ck_assert_int_eq(fx.done.why, SC_RELAY_PEER_CLOSED);
    ck_assert_str_eq(fx.done.detail, "");
    ck_assert_uint_eq(fx.done.bytes[0], (down_first ? rlen : big));
    ck_assert_uint_eq(fx.done.bytes[1], (down_first ? big : rlen));
}
END_TEST

/* Both peers send and half-close at the same moment. */
START_TEST(test_relay_done_once_when_both_close_together)
{
    static const char x[] = "from-down", y[] = "from-up!!!";

    start(PAIR_UNIX, 0, 0);
    peer_send(&fx.down, (const unsigned char *)x, 9, 1);
    peer_send(&fx.up, (const unsigned char *)y, 10, 1);
    peer_recv(&fx.up, rxbuf(9, 0), 9);
    peer_recv(&fx.down, rxbuf(10, 1), 10);
    ck_assert(run_until(both_eof_and_done, NULL, 5000));
    run_for(50);
    ck_assert_int_eq(fx.done.calls, 1);
    ck_assert_int_eq(fx.done.why, SC_RELAY_PEER_CLOSED);
    ck_assert_uint_eq(fx.done.bytes[0], 9);
    ck_assert_uint_eq(fx.done.bytes[1], 10);
    ck_assert_mem_eq(fx.up.dst, x, 9);
    ck_assert_mem_eq(fx.down.dst, y, 10);
}
END_TEST

/* A peer that sends nothing and closes: a clean end with zero bytes. */
START_TEST(test_relay_empty_connection_ends_cleanly)
{
    start(PAIR_TCP, 0, 0);
    ck_assert_int_eq(shutdown(fx.down.fd, SHUT_WR), 0);
    peer_recv(&fx.up, rxbuf(1, 0), 1);
    ck_assert(run_until(peer_eof, &fx.up, 5000));
    ck_assert_int_eq(fx.done.calls, 0);
    ck_assert_int_eq(shutdown(fx.up.fd, SHUT_WR), 0);
    peer_recv(&fx.down, rxbuf(1, 1), 1);
    ck_assert(run_until(both_eof_and_done, NULL, 5000));
    ck_assert_int_eq(fx.done.why, SC_RELAY_PEER_CLOSED);
    ck_assert_uint_eq(fx.done.bytes[0], 0);
    ck_assert_uint_eq(fx.done.bytes[1], 0);
}
END_TEST

/* ---- resets ----------------------------------------------------------------- */

static void reset_close(int fd)
{
    struct linger lg = {1, 0};

    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(fd);
}

/* _i: 0 the downstream peer resets, 1 the upstream peer does. */
START_TEST(test_relay_reset_reports_side_and_errno)
{
    static const char hello[] = "hello";
    int down = _i == 0;
    struct peer *rst = down ? &fx.down : &fx.up;
    struct peer *other = down ? &fx.up : &fx.down;

    start(PAIR_TCP, 0, 0);
    peer_send(rst, (const unsigned char *)hello, 5, 0);
    peer_recv(other, rxbuf(5, 0), 5);
    ck_assert(run_until(peer_got, other, 5000));
    ck_assert_int_eq(fx.done.calls, 0);

    reset_close(rst->fd);
    rst->fd = -1;
    ck_assert_msg(run_until(is_done, NULL, 5000), "no done() after a reset");
    run_for(20);
    ck_assert_int_eq(fx.done.calls, 1);
    ck_assert_int_eq(fx.done.why, (down ? SC_RELAY_DOWN_RESET : SC_RELAY_UP_RESET));
    ck_assert_str_eq(fx.done.detail, strerror(ECONNRESET));
    ck_assert_uint_eq(fx.done.bytes[down ? 0 : 1], 5);
    ck_assert_uint_eq(fx.done.bytes[down ? 1 : 0], 0);
    /* the relay closed the surviving side */
    ck_assert(peer_closed(other->fd));
}
END_TEST

/* Writing towards a peer that is gone is a reset of that side too. */
START_TEST(test_relay_write_to_closed_peer_is_reset)
{
    const size_t len = 4 * MB;
    unsigned char *a = payload(len, 7, 0);

    start(PAIR_UNIX, 0, 0);
    close(fx.up.fd);
    fx.up.fd = -1;
    peer_send(&fx.down, a, len, 0);
    ck_assert(run_until(is_done, NULL, 5000));
    ck_assert_int_eq(fx.done.calls, 1);
    /* a read of EOF from the closed upstream may come first; either way
     * nothing is reported as a clean close while bytes were undeliverable */
    ck_assert_msg(fx.done.why == SC_RELAY_UP_RESET, "why=%d detail=%s", fx.done.why,
                  fx.done.detail);
    ck_assert_msg(strcmp(fx.done.detail, strerror(EPIPE)) == 0 ||
                      strcmp(fx.done.detail, strerror(ECONNRESET)) == 0,
                  "detail %s", fx.done.detail);
}
END_TEST

/* ---- end= text ----------------------------------------------------------------- */

START_TEST(test_relay_end_str_names_the_side_and_the_reason)
{
    char b[64];

    ck_assert_str_eq(sc_relay_end_str(SC_RELAY_PEER_CLOSED, "", b, sizeof(b)), "peer_closed");
    ck_assert_str_eq(sc_relay_end_str(SC_RELAY_IDLE_TIMEOUT, NULL, b, sizeof(b)), "idle_timeout");
    ck_assert_str_eq(sc_relay_end_str(SC_RELAY_DOWN_RESET, "tls: unexpected message", b, sizeof(b)),
                     "downstream_reset: tls: unexpected message");
    ck_assert_str_eq(sc_relay_end_str(SC_RELAY_UP_RESET, "Connection reset by peer", b, sizeof(b)),
                     "upstream_reset: Connection reset by peer");
    ck_assert_str_eq(sc_relay_end_str(SC_RELAY_UP_RESET, "", b, sizeof(b)), "upstream_reset");
    ck_assert_str_eq(sc_relay_end_str((enum sc_relay_end)99, "", b, sizeof(b)), "-");
    /* truncated, never overrun */
    ck_assert_str_eq(sc_relay_end_str(SC_RELAY_DOWN_RESET, "tls: unexpected message", b, 12),
                     "downstream_");
}
END_TEST

/* ---- idle timeout -------------------------------------------------------------- */

START_TEST(test_relay_idle_timeout_fires_without_traffic)
{
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    start(PAIR_UNIX, 0, 100);
    ck_assert(run_until(is_done, NULL, 3000));
    ck_assert_int_eq(fx.done.calls, 1);
    ck_assert_int_eq(fx.done.why, SC_RELAY_IDLE_TIMEOUT);
    ck_assert_str_eq(fx.done.detail, "");
    ck_assert_msg(ms_between(&t0, &fx.done.at) >= 90, "fired after %ld ms",
                  ms_between(&t0, &fx.done.at));
    ck_assert_msg(ms_between(&t0, &fx.done.at) < 1000, "fired after %ld ms",
                  ms_between(&t0, &fx.done.at));
    ck_assert(peer_closed(fx.down.fd));
    ck_assert(peer_closed(fx.up.fd));
}
END_TEST

/* _i: 0 traffic downstream->upstream, 1 upstream->downstream. */
START_TEST(test_relay_idle_timeout_waits_while_traffic_flows)
{
    static const char tick[] = "0123456789";
    struct peer *tx = _i == 0 ? &fx.down : &fx.up;
    struct peer *rx = _i == 0 ? &fx.up : &fx.down;
    struct timespec last;

    start(PAIR_UNIX, 0, 150);
    peer_recv(rx, rxbuf(200, 0), 200);
    for (int i = 0; i < 20; i++) { /* 10 bytes every 30 ms for 600 ms */
        peer_send(tx, (const unsigned char *)tick, 10, 0);
        run_for(30);
        ck_assert_msg(fx.done.calls == 0, "idle timeout after %d ticks", i);
    }
    ck_assert(run_until(peer_got, rx, 1000));
    ck_assert_uint_eq(rx->recvd, 200);
    ck_assert_int_eq(fx.done.calls, 0);
    clock_gettime(CLOCK_MONOTONIC, &last);
    ck_assert(run_until(is_done, NULL, 3000));
    ck_assert_int_eq(fx.done.why, SC_RELAY_IDLE_TIMEOUT);
    ck_assert_msg(ms_between(&last, &fx.done.at) >= 50 && ms_between(&last, &fx.done.at) < 2000,
                  "fired %ld ms after the last byte", ms_between(&last, &fx.done.at));
    ck_assert_uint_eq(fx.done.bytes[_i], 200);
}
END_TEST

START_TEST(test_relay_no_idle_timeout_when_zero)
{
    start(PAIR_UNIX, 0, 0);
    run_for(300);
    ck_assert_int_eq(fx.done.calls, 0);
}
END_TEST

/* ---- half-closed timeout ------------------------------------------------------ */

/* The downstream sends 256 KiB and its FIN; the upstream peer never reads:
 * the relay cannot pass the end on, and no byte moves.  With
 * half_closed_ms it ends then (a long idle_ms does not keep it); the
 * memory it held goes with it. */
START_TEST(test_relay_half_closed_peer_that_will_not_read_is_cut)
{
    const size_t len = 256 * 1024;
    unsigned char *a = payload(len, 7, 0);
    fx.half_closed_ms = 150;
    start(PAIR_UNIX, 0, 3600 * 1000);
    peer_send(&fx.down, a, len, 1);
    ck_assert(run_until(is_done, NULL, 5000));
    ck_assert(fx.down.shut);
    ck_assert_int_eq(fx.done.calls, 1);
    ck_assert_int_eq(fx.done.why, SC_RELAY_HALF_CLOSED_TIMEOUT);
    ck_assert(peer_closed(fx.down.fd)); /* both closed (up still has unread bytes) */
}
END_TEST

/* Half-closed, the end passed on, and the upstream still answering (gaps
 * shorter than half_closed_ms): not cut, and the relay ends cleanly when
 * the upstream closes too. */
START_TEST(test_relay_half_closed_keeps_going_while_bytes_move)
{
    static const char tick[] = "0123456789";

    fx.half_closed_ms = 1000; /* generous: a loaded machine stalls */
    start(PAIR_UNIX, 0, 0);
    ck_assert_int_eq(shutdown(fx.down.fd, SHUT_WR), 0);
    peer_recv(&fx.down, rxbuf(400, 0), 400);
    peer_recv(&fx.up, rxbuf(16, 1), 16);
    for (int i = 0; i < 20; i++) { /* 10 bytes every 50 ms for 1 s */
        peer_send(&fx.up, (const unsigned char *)tick, 10, 0);
        run_for(i == 10 ? 300 : 50); /* one pause, well within the limit */
        ck_assert_msg(fx.done.calls == 0, "cut after %d ticks (why %d, %s)", i, fx.done.why,
                      fx.done.detail);
    }
    ck_assert_int_eq(shutdown(fx.up.fd, SHUT_WR), 0);
    ck_assert(run_until(both_eof_and_done, NULL, 5000));
    ck_assert_int_eq(fx.done.why, SC_RELAY_PEER_CLOSED);
    ck_assert_uint_eq(fx.done.bytes[1], 200);
}
END_TEST

/* ---- bytes buffered before the relay ------------------------------------------ */

static int input_has(void *arg)
{
    const size_t *want = arg;

    return evbuffer_get_length(bufferevent_get_input(fx.bev[0])) >= want[0] &&
           evbuffer_get_length(bufferevent_get_input(fx.bev[1])) >= want[1];
}

/* Lets the relay's own bufferevents read what the peers sent before the
 * relay exists (as a TLS handshake reads ahead), then stops them. */
static void read_ahead(const char *down, const char *up)
{
    size_t want[2] = {strlen(down), strlen(up)};

    for (int i = 0; i < 2; i++) {
        bufferevent_setcb(fx.bev[i], NULL, NULL, NULL, NULL);
        ck_assert_int_eq(bufferevent_enable(fx.bev[i], EV_READ), 0);
    }
    if (want[0] > 0) {
        ck_assert_int_eq(send(fx.down.fd, down, want[0], 0), (ssize_t)want[0]);
    }
    if (want[1] > 0) {
        ck_assert_int_eq(send(fx.up.fd, up, want[1], 0), (ssize_t)want[1]);
    }
    ck_assert(run_until(input_has, want, 5000));
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(bufferevent_disable(fx.bev[i], EV_READ), 0);
    }
    ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_input(fx.bev[0])), want[0]);
    ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_input(fx.bev[1])), want[1]);
}

START_TEST(test_relay_passes_bytes_buffered_before_start)
{
    static const char early_down[] = "early-from-down", early_up[] = "early-from-up";
    const size_t dl = sizeof(early_down) - 1, ul = sizeof(early_up) - 1;

    make_sides(PAIR_UNIX);
    read_ahead(early_down, early_up);
    start_relay(0, 0);
    peer_recv(&fx.up, rxbuf(64, 0), 64);
    peer_recv(&fx.down, rxbuf(64, 1), 64);
    run_for(100);
    ck_assert_uint_eq(fx.up.recvd, dl);
    ck_assert_mem_eq(fx.up.dst, early_down, dl);
    ck_assert_uint_eq(fx.down.recvd, ul);
    ck_assert_mem_eq(fx.down.dst, early_up, ul);
    ck_assert_int_eq(shutdown(fx.down.fd, SHUT_WR), 0);
    ck_assert_int_eq(shutdown(fx.up.fd, SHUT_WR), 0);
    ck_assert(run_until(both_eof_and_done, NULL, 5000));
    ck_assert_int_eq(fx.done.why, SC_RELAY_PEER_CLOSED);
    ck_assert_uint_eq(fx.done.bytes[0], dl);
    ck_assert_uint_eq(fx.done.bytes[1], ul);
}
END_TEST

/* Early bytes go out before anything read later. */
START_TEST(test_relay_buffered_bytes_keep_their_order)
{
    make_sides(PAIR_UNIX);
    read_ahead("AB", "");
    ck_assert_int_eq(send(fx.down.fd, "CD", 2, 0), 2);
    start_relay(0, 0);
    peer_recv(&fx.up, rxbuf(4, 0), 4);
    ck_assert(run_until(peer_got, &fx.up, 5000));
    ck_assert_mem_eq(fx.up.dst, "ABCD", 4);
}
END_TEST

/* Bytes queued in a bufferevent and not yet written (a 101 head the L7
 * session wrote just before it handed the connection over) go out first,
 * before the bytes read on the other side. */
START_TEST(test_relay_queued_output_goes_first)
{
    make_sides(PAIR_UNIX);
    read_ahead("CD", "");
    ck_assert_int_eq(bufferevent_write(fx.bev[1], "AB", 2), 0);
    start_relay(0, 0);
    peer_recv(&fx.up, rxbuf(4, 0), 4);
    ck_assert(run_until(peer_got, &fx.up, 5000));
    ck_assert_mem_eq(fx.up.dst, "ABCD", 4);
}
END_TEST

/* ---- sc_relay_free ------------------------------------------------------------------ */

START_TEST(test_relay_free_closes_both_without_done)
{
    start(PAIR_UNIX, 0, 50);
    run_for(10);
    sc_relay_free(fx.r);
    fx.r = NULL;
    fx.bev[0] = fx.bev[1] = NULL;
    run_for(150); /* the idle timer went with it */
    ck_assert_int_eq(fx.done.calls, 0);
    ck_assert(peer_closed(fx.down.fd));
    ck_assert(peer_closed(fx.up.fd));
    sc_relay_free(NULL);
}
END_TEST

/* A direction whose reads keep filling 16 KiB moves to 64 KiB reads and
 * writes (bulk), only in that direction and only when the watermark allows
 * more than 16 KiB; reads of less than 16 KiB in a row move it back.
 * _i: 0 default watermark, 1 a 16 KiB one (never bulk). */
START_TEST(test_relay_bulk_direction_grows_and_shrinks)
{
    const size_t len = 4 * MB, small = 100;
    unsigned char *a = payload(len, 5, 0), *got = rxbuf(len, 1);
    unsigned char *ping = payload(small, 6, 2), *pgot = rxbuf(small, 3);

    start(PAIR_UNIX, _i == 0 ? 0 : 16 * 1024, 0);
    ck_assert_int_eq(sc_relay_bulk(fx.r, 0), 0);
    peer_send(&fx.down, a, len, 0);
    peer_recv(&fx.up, got, len);
    ck_assert(run_until(peer_got, &fx.up, 20000));
    ck_assert_msg(memcmp(got, a, len) == 0, "bytes changed");
    ck_assert_int_eq(sc_relay_bulk(fx.r, 0), _i == 0);
    ck_assert_int_eq(sc_relay_bulk(fx.r, 1), 0); /* nothing went the other way */
    ck_assert_uint_eq(sc_relay_pending(fx.r, 0), 0); /* idle: no buffer held */
    /* small requests afterwards: back to 16 KiB after four of them */
    for (int k = 0; k < 5; k++) {
        peer_send(&fx.down, ping, small, 0);
        peer_recv(&fx.up, pgot, small);
        fx.up.recvd = 0;
        ck_assert(run_until(peer_got, &fx.up, 5000));
        ck_assert_mem_eq(pgot, ping, small);
    }
    ck_assert_int_eq(sc_relay_bulk(fx.r, 0), 0);
    ck_assert_int_eq(fx.done.calls, 0);
}
END_TEST

static Suite *relay_suite(void)
{
    Suite *s = suite_create("relay");
    TCase *tc = tcase_create("flow");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_relay_moves_8mb_both_ways_unchanged, 0, PAIR_N);
    tcase_add_test(tc, test_relay_bytes_reports_progress);
    tcase_add_test(tc, test_relay_passes_bytes_buffered_before_start);
    tcase_add_test(tc, test_relay_buffered_bytes_keep_their_order);
    tcase_add_test(tc, test_relay_queued_output_goes_first);
    tcase_add_loop_test(tc, test_relay_bulk_direction_grows_and_shrinks, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("backpressure");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_relay_backpressure_bounds_pending_output);
    tcase_add_test(tc, test_relay_backpressure_upstream_to_downstream);
    tcase_add_test(tc, test_relay_eof_waits_for_pending_output);
    suite_add_tcase(s, tc);

    tc = tcase_create("close");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_relay_half_close_keeps_other_direction, 0, 2 * PAIR_N);
    tcase_add_test(tc, test_relay_done_once_when_both_close_together);
    tcase_add_test(tc, test_relay_empty_connection_ends_cleanly);
    tcase_add_loop_test(tc, test_relay_reset_reports_side_and_errno, 0, 2);
    tcase_add_test(tc, test_relay_write_to_closed_peer_is_reset);
    tcase_add_test(tc, test_relay_free_closes_both_without_done);
    tcase_add_test(tc, test_relay_end_str_names_the_side_and_the_reason);
    suite_add_tcase(s, tc);

    tc = tcase_create("idle");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_relay_idle_timeout_fires_without_traffic);
    tcase_add_loop_test(tc, test_relay_idle_timeout_waits_while_traffic_flows, 0, 2);
    tcase_add_test(tc, test_relay_no_idle_timeout_when_zero);
    tcase_add_test(tc, test_relay_half_closed_peer_that_will_not_read_is_cut);
    tcase_add_test(tc, test_relay_half_closed_keeps_going_while_bytes_move);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    signal(SIGPIPE, SIG_IGN);
    sr = srunner_create(relay_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
