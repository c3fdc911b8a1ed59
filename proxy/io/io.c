#include "io.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io_internal.h"
#include "objcache.h"

struct sc_io {
    int fd;
    SSL *ssl;
    short rd_wait; /* 0, or the readiness a read waits for */
    short wr_wait; /* 0, or the readiness a write waits for */
    int rdhup; /* the peer's FIN was seen (EV_CLOSED) */
    int drained; /* the last recv() was short: nothing left */
    int err; /* errno of the last SC_IO_ERROR, 0 for TLS */
    char why[160];
    /* an in-process pair (fd -1): see sc_io_pair_new */
    int pair;
    struct sc_io *peer; /* NULL once the other end is freed */
    struct evbuffer *pin; /* bytes the other end wrote, for us to read */
    struct event *ev; /* the owner's event, made active on readiness */
    int peof; /* the other end shut its sending half (or was freed) */
    int preset; /* the other end was aborted: reads fail with ECONNRESET */
    int shut; /* we shut our sending half */
    int bulk; /* sc_io_set_bulk: a read of more than a record loops SSL_read */
    int big_rbuf; /* OpenSSL's read buffer was made BULK_RBUF_LEN long */
    /* a bulk TLS write's records, gathered for one send(2): see
     * tls_write_bulk.  gbuf is held only while bytes wait in it. */
    unsigned char *gbuf;
    size_t goff, glen; /* sent up to goff, filled up to glen */
    int gathering; /* inside tls_write_bulk's SSL_write loop */
    int shut_pending; /* sc_io_shutdown waits for the gathered bytes */
    int last; /* sc_io_set_last: sends carry MSG_MORE, the end follows */
    int stashed; /* such a loop met an end or error after some bytes */
    ssize_t stash; /* ... which the next read returns: 0 or SC_IO_ERROR */
    /* the idle sweep (TLS on a worker): see sc_io_sweep_new */
    struct sc_io_sweep *sw; /* a reference, or NULL */
    LIST_ENTRY(sc_io) qlink; /* in sw's list while queued */
    unsigned qgen; /* sw's generation when last used */
    int queued;
};

/* OpenSSL's read buffer for a bulk TLS direction: four whole records */
#define BULK_RBUF_LEN (4 * (SSL3_RT_HEADER_LENGTH + SSL3_RT_MAX_ENCRYPTED_LENGTH))

#define PAIR_CAP (256 * 1024) /* bytes one end may hold unread, as a socket buffer */

/* ---- the TLS socket BIO ------------------------------------------------
 * OpenSSL reads and writes the socket through this BIO rather than
 * BIO_s_socket: writes never raise SIGPIPE, a short read tells us the
 * socket is drained (so the read loop stops without one more read(2) that
 * would only say EAGAIN), and it does not report its fd, so a bufferevent
 * that held the SSL before us closes nothing when it is freed. */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int gather_put(struct sc_io *io, const char *buf, size_t len);

static int bio_write(BIO *b, const char *buf, int len)
{
    struct sc_io *io = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    if (io->gbuf != NULL) {
        /* gathering, or bytes gathered wait: behind them, in order */
        int r = gather_put(io, buf, (size_t)len);

        if (r == 0) {
            BIO_set_retry_write(b);
            return -1;
        }
        if (r != -2) {
            return r;
        }
    }
    do {
        n = send(io->fd, buf, (size_t)len, MSG_NOSIGNAL | (io->last ? MSG_MORE : 0));
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
        return (int)n;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        BIO_set_retry_write(b);
    }
    return -1;
}

static int bio_read(BIO *b, char *buf, int len)
{
    struct sc_io *io = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    do {
        n = recv(io->fd, buf, (size_t)len, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        io->drained = n < len && !io->rdhup;
        return (int)n;
    }
    if (n == 0) {
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        BIO_set_retry_read(b);
    }
    return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_C_GET_FD:
        return -1;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sc_io");

    if (m != NULL &&
        (BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1 ||
         BIO_meth_set_ctrl(m, bio_ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1)) {
        BIO_meth_free(m);
        m = NULL;
    }
    bio_method = m;
}

/* Points the SSL at io's socket through our BIO.  0, or -1. */
static int attach(struct sc_io *io, SSL *ssl)
{
    BIO *b;

    pthread_once(&bio_once, bio_method_init);
    b = bio_method != NULL ? BIO_new(bio_method) : NULL;
    if (b == NULL) {
        return -1;
    }
    BIO_set_data(b, io);
    SSL_set_bio(ssl, b, b); /* one BIO for both: the SSL takes its one reference */
    return 0;
}

/* ---- gathered writes ----------------------------------------------------
 * OpenSSL writes a TLS record at a time, one send(2) each: 16 KiB per
 * call, and per wake-up of the reader on the other end.  A bulk write
 * (tls_write_bulk) gathers up to four records in gbuf and sends them
 * together.  Bytes OpenSSL has counted as written may so wait in gbuf:
 * sc_io_pending() says so, sc_io_flush() sends them, and a shutdown's FIN
 * waits for them. */

/* Gives gbuf back once nothing waits in it and no write loop fills it. */
static void gather_release_if_empty(struct sc_io *io)
{
    if (io->gbuf != NULL && io->goff == io->glen && !io->gathering) {
        sc_io_gather_put(io->gbuf);
        io->gbuf = NULL;
        io->goff = io->glen = 0;
    }
}

/* Sends what is gathered.  1 when all of it went (gbuf given back unless
 * a write loop is filling it), 0 when the socket is full, -1 on an error
 * (errno). */
static int gather_send(struct sc_io *io)
{
    while (io->goff < io->glen) {
        ssize_t n = send(io->fd, io->gbuf + io->goff, io->glen - io->goff, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (n < 0) {
            return -1;
        }
        io->goff += (size_t)n;
    }
    io->goff = io->glen = 0;
    gather_release_if_empty(io);
    return 1;
}

/* Appends a record OpenSSL writes: len, 0 when there is no room even after
 * sending (retry), -1 on a socket error, or -2 when nothing waits any more
 * and it is to be sent as without gathering. */
static int gather_put(struct sc_io *io, const char *buf, size_t len)
{
    if (GATHER_CAP - io->glen < len) {
        int r = gather_send(io);

        if (r < 0) {
            return -1;
        }
        if (io->gbuf == NULL) {
            return -2; /* all sent, and not gathering: send it directly */
        }
        if (io->goff > 0) {
            memmove(io->gbuf, io->gbuf + io->goff, io->glen - io->goff);
            io->glen -= io->goff;
            io->goff = 0;
        }
        if (GATHER_CAP - io->glen < len) {
            return 0;
        }
    }
    memcpy(io->gbuf + io->glen, buf, len);
    io->glen += len;
    return (int)len;
}

/* A socket's object is made and freed once per connection: the thread
 * keeps up to 64 freed ones for the next (sc_io_buf_drain frees them). */
static __thread struct sc_objcache io_cache = SC_OBJCACHE_INIT(sizeof(struct sc_io), 64);

static void io_release(struct sc_io *io)
{
    if (sc_objcache_put(&io_cache, io) != 0) {
        free(io);
    }
}

/* ---- the idle sweep -------------------------------------------------------
 * With SSL_MODE_RELEASE_BUFFERS OpenSSL frees its record buffers whenever
 * they empty and allocates them again for the next record: several
 * malloc/free pairs per request on a busy connection.  A worker's data
 * connections run without it; instead a TLS connection joins its worker's
 * list when it is used, stamped with the sweep's generation (a store, no
 * timer and no list change per request), and a one-second timer per worker
 * gives back the record buffers of those not used for a whole period
 * (SSL_free_buffers, which refuses while bytes are pending either way) and
 * drops them from the list.  The next read or write allocates them again.
 * nginx does the same from its keep-alive handler (ngx_ssl_free_buffer). */

struct sc_io_sweep {
    struct event *timer; /* NULL once the owner has freed it */
    LIST_HEAD(, sc_io) head; /* TLS connections that may hold record buffers */
    unsigned gen;
    int armed;
    int refs; /* the owner's, and one per connection made while bound */
    size_t released; /* connections whose buffers went back (tests) */
};

static __thread struct sc_io_sweep *bound;

/* connections released in one sweep that make it trim the heap (about
 * 1 MiB of record buffers) */
#define SWEEP_TRIM_AFTER 32

static void sweep_unref(struct sc_io_sweep *sw)
{
    if (--sw->refs == 0) {
        free(sw);
    }
}

static void sweep_unlink(struct sc_io *io)
{
    LIST_REMOVE(io, qlink);
    io->queued = 0;
}

static void sweep_arm(struct sc_io_sweep *sw)
{
    struct timeval tv = {SC_IO_SWEEP_MS / 1000, (SC_IO_SWEEP_MS % 1000) * 1000};

    sw->armed = evtimer_add(sw->timer, &tv) == 0;
}

/* Marks io used in the current period; queues it if it was not. */
static inline void sweep_touch(struct sc_io *io)
{
    struct sc_io_sweep *sw = io->sw;

    if (sw == NULL) {
        return;
    }
    io->qgen = sw->gen;
    if (io->queued || sw->timer == NULL) {
        return;
    }
    LIST_INSERT_HEAD(&sw->head, io, qlink);
    io->queued = 1;
    if (!sw->armed) {
        sweep_arm(sw);
    }
}

/* A new TLS connection on a thread with a sweep: OpenSSL keeps its record
 * buffers between records, and the sweep gives them back when it idles. */
static void sweep_enter(struct sc_io *io)
{
    if (bound == NULL || bound->timer == NULL) {
        return;
    }
    io->sw = bound;
    bound->refs++;
    SSL_clear_mode(io->ssl, SSL_MODE_RELEASE_BUFFERS);
    sweep_touch(io);
}

static void sweep_leave(struct sc_io *io)
{
    if (io->sw == NULL) {
        return;
    }
    if (io->queued) {
        sweep_unlink(io);
    }
    sweep_unref(io->sw);
    io->sw = NULL;
}

void sc_io_sweep_run(struct sc_io_sweep *sw)
{
    struct sc_io *io, *next;
    size_t released = 0;

    for (io = LIST_FIRST(&sw->head); io != NULL; io = next) {
        next = LIST_NEXT(io, qlink);
        if (io->qgen == sw->gen) {
            continue; /* used in this period */
        }
        /* nothing read ahead or half-read, nothing unsent: OpenSSL checks
         * the last two itself and refuses */
        if (!SSL_is_init_finished(io->ssl) || SSL_has_pending(io->ssl) ||
            SSL_free_buffers(io->ssl) != 1) {
            continue; /* bytes in flight: try again next period */
        }
        sweep_unlink(io);
        sw->released++;
        released++;
    }
    /* Buffers freed in bulk (a burst of connections gone idle together)
     * leave holes malloc keeps: give the whole pages back to the kernel, so
     * idle connections cost no memory for what busy ones used. */
    if (released >= SWEEP_TRIM_AFTER) {
        malloc_trim(0);
    }
    sw->gen++;
    sw->armed = 0;
    if (!LIST_EMPTY(&sw->head) && sw->timer != NULL) {
        sweep_arm(sw);
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sc_io_sweep_run(arg);
}

struct sc_io_sweep *sc_io_sweep_new(struct event_base *base)
{
    struct sc_io_sweep *sw = calloc(1, sizeof(*sw));

    if (sw == NULL) {
        return NULL;
    }
    sw->refs = 1;
    sw->timer = evtimer_new(base, on_sweep, sw);
    if (sw->timer == NULL) {
        free(sw);
        return NULL;
    }
    return sw;
}

void sc_io_sweep_bind(struct sc_io_sweep *sw)
{
    bound = sw;
}

size_t sc_io_sweep_released(const struct sc_io_sweep *sw)
{
    return sw->released;
}

void sc_io_sweep_free(struct sc_io_sweep *sw)
{
    if (sw == NULL) {
        return;
    }
    if (bound == sw) {
        bound = NULL;
    }
    event_free(sw->timer);
    sw->timer = NULL;
    while (!LIST_EMPTY(&sw->head)) {
        sweep_unlink(LIST_FIRST(&sw->head));
    }
    sweep_unref(sw); /* connections still open hold theirs */
}

struct sc_io *sc_io_new(int fd, SSL *ssl)
{
    struct sc_io *io = sc_objcache_get(&io_cache);

    if (io != NULL) {
        memset(io, 0, sizeof(*io));
    } else if ((io = calloc(1, sizeof(*io))) == NULL) {
        return NULL;
    }
    io->fd = fd;
    io->ssl = ssl;
    if (ssl != NULL) {
        if (attach(io, ssl) != 0) {
            io_release(io);
            return NULL;
        }
        /* one read(2) may bring several records; the read loops run until
         * OpenSSL wants the socket again, so none is left unseen */
        SSL_set_read_ahead(ssl, 1);
        sweep_enter(io);
    }
    return io;
}

static void pair_notify(struct sc_io *io, short what)
{
    if (io->ev != NULL) {
        event_active(io->ev, what, 0);
    }
}

int sc_io_pair_new(struct sc_io *ends[2])
{
    for (int i = 0; i < 2; i++) {
        ends[i] = calloc(1, sizeof(*ends[i]));
        if (ends[i] != NULL) {
            ends[i]->fd = -1;
            ends[i]->pair = 1;
            ends[i]->pin = evbuffer_new();
        }
    }
    if (ends[0] == NULL || ends[1] == NULL || ends[0]->pin == NULL || ends[1]->pin == NULL) {
        for (int i = 0; i < 2; i++) {
            if (ends[i] != NULL && ends[i]->pin != NULL) {
                evbuffer_free(ends[i]->pin);
            }
            free(ends[i]);
            ends[i] = NULL;
        }
        return -1;
    }
    ends[0]->peer = ends[1];
    ends[1]->peer = ends[0];
    return 0;
}

void sc_io_set_event(struct sc_io *io, struct event *ev)
{
    if (io == NULL || !io->pair) {
        return;
    }
    io->ev = ev;
    /* as a socket's first edge after registration: the owner tries both
     * directions once */
    pair_notify(io, EV_READ | EV_WRITE);
}

static void pair_release(struct sc_io *io, int reset)
{
    struct sc_io *p = io->peer;

    if (p != NULL) {
        p->peer = NULL;
        p->peof = 1; /* a close is an end of stream, as a FIN */
        p->preset = reset;
        p->rdhup = 1;
        pair_notify(p, EV_READ | EV_WRITE | EV_CLOSED);
    }
    evbuffer_free(io->pin);
    free(io);
}

void sc_io_abort(struct sc_io *io)
{
    struct linger lg = {1, 0};

    if (io == NULL) {
        return;
    }
    if (io->pair) {
        pair_release(io, 1);
        return;
    }
    (void)setsockopt(io->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    sc_io_free(io);
}

void sc_io_free(struct sc_io *io)
{
    if (io == NULL) {
        return;
    }
    if (io->pair) {
        pair_release(io, 0);
        return;
    }
    sweep_leave(io);
    SSL_free(io->ssl);
    sc_io_gather_put(io->gbuf);
    if (io->fd >= 0) {
        close(io->fd);
    }
    io_release(io);
}

int sc_io_fd(const struct sc_io *io)
{
    return io->fd;
}

SSL *sc_io_ssl(const struct sc_io *io)
{
    return io->ssl;
}

void sc_io_ready(struct sc_io *io, short what)
{
    if (what & EV_CLOSED) {
        /* a FIN is waiting behind whatever we read next: a short read no
         * longer means "drained", or its edge would be lost */
        io->rdhup = 1;
        what |= EV_READ;
    }
    if (io->rd_wait & what) {
        io->rd_wait = 0;
    }
    if (io->wr_wait & what) {
        io->wr_wait = 0;
    }
}

int sc_io_can_read(const struct sc_io *io)
{
    /* records OpenSSL read ahead are there without a socket event, and so
     * is an end a read loop met after some bytes */
    return io->rd_wait == 0 || io->stashed || (io->ssl != NULL && SSL_has_pending(io->ssl));
}

int sc_io_peer_ended(const struct sc_io *io)
{
    return io->rdhup;
}

void sc_io_watched(struct sc_io *io)
{
    io->rd_wait = EV_READ;
}

int sc_io_can_write(const struct sc_io *io)
{
    return io->wr_wait == 0;
}

static ssize_t sys_error(struct sc_io *io, int e)
{
    io->err = e;
    snprintf(io->why, sizeof(io->why), "%s", strerror(e));
    return SC_IO_ERROR;
}

/* An SSL_read / SSL_write that returned n <= 0: maps OpenSSL's verdict to
 * ours; *wait is the direction's wait slot. */
static ssize_t tls_result(struct sc_io *io, int n, short *wait, int reading)
{
    int e = SSL_get_error(io->ssl, n);
    unsigned long first;

    switch (e) {
    case SSL_ERROR_WANT_READ:
        *wait = EV_READ;
        return SC_IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        *wait = EV_WRITE;
        return SC_IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return reading ? 0 : sys_error(io, EPIPE);
    case SSL_ERROR_SYSCALL:
        first = ERR_peek_error();
        if (first == 0) {
            int se = errno;

            ERR_clear_error();
            if (se == 0 && reading) {
                return 0; /* a FIN without close_notify */
            }
            return sys_error(io, se != 0 ? se : EPIPE);
        }
        break;
    default:
        first = ERR_peek_error();
        break;
    }
    {
        const char *rs = first != 0 ? ERR_reason_error_string(first) : NULL;

        io->err = 0;
        snprintf(io->why, sizeof(io->why), "tls: %s", rs != NULL ? rs : "protocol error");
    }
    ERR_clear_error();
    return SC_IO_ERROR;
}

/* A TLS read of more than a record for a bulk owner: SSL_read until the
 * buffer is full or both OpenSSL and the socket are empty (ngx_ssl_recv's
 * loop), so one write on the other side carries several records'
 * plaintext.  An end or an error met after some bytes is kept for the next
 * call. */
static ssize_t tls_read_bulk(struct sc_io *io, unsigned char *buf, size_t len)
{
    size_t tot = 0;
    int r;

    if (!io->big_rbuf) {
        /* With read-ahead OpenSSL fills its read buffer, by default one
         * record long: one recv(2) per 16 KiB.  A bulk direction's takes
         * four records per recv.  The buffer in use is kept (bytes may be
         * in it); the new length applies when it is next allocated, at
         * once if it can be given back now. */
        io->big_rbuf = 1;
        SSL_set_default_read_buffer_len(io->ssl, BULK_RBUF_LEN);
        if (!SSL_has_pending(io->ssl)) {
            (void)SSL_free_buffers(io->ssl);
        }
    }
    sweep_touch(io);
    ERR_clear_error();
    io->drained = 0;
    if (len > INT32_MAX) {
        len = INT32_MAX;
    }
    for (;;) {
        r = SSL_read(io->ssl, buf + tot, (int)(len - tot));
        if (r <= 0) {
            break;
        }
        tot += (size_t)r;
        if (tot == len || (io->drained && !SSL_has_pending(io->ssl))) {
            break; /* full, or a read(2) now would only say EAGAIN */
        }
    }
    if (r <= 0) {
        ssize_t v = tls_result(io, r, &io->rd_wait, 1);

        if (tot == 0 || v == SC_IO_AGAIN) {
            return tot > 0 ? (ssize_t)tot : v;
        }
        io->stashed = 1;
        io->stash = v;
        return (ssize_t)tot;
    }
    if (io->drained && !SSL_has_pending(io->ssl)) {
        io->rd_wait = EV_READ; /* the socket is empty, and so is OpenSSL */
    }
    return (ssize_t)tot;
}

int sc_io_pending(const struct sc_io *io)
{
    return io->gbuf != NULL && io->goff < io->glen;
}

ssize_t sc_io_flush(struct sc_io *io)
{
    int r;

    if (!sc_io_pending(io)) {
        return 0;
    }
    r = gather_send(io);
    if (r < 0) {
        return sys_error(io, errno);
    }
    if (r == 0) {
        io->wr_wait = EV_WRITE;
        return SC_IO_AGAIN;
    }
    if (io->shut_pending) {
        io->shut_pending = 0;
        (void)shutdown(io->fd, SHUT_WR);
    }
    return 0;
}

/* A TLS write of more than a record for a bulk owner: SSL_write (a record
 * per call, SSL_MODE_ENABLE_PARTIAL_WRITE) until all of it is taken or the
 * socket is full, the records gathered and sent four at a time. */
static ssize_t tls_write_bulk(struct sc_io *io, const unsigned char *buf, size_t len)
{
    size_t tot = 0;
    ssize_t fl;
    int r = 1;

    fl = sc_io_flush(io); /* what an earlier call left, first */
    if (fl != 0) {
        return fl;
    }
    if (io->gbuf == NULL && (io->gbuf = sc_io_gather_get()) == NULL) {
        return sys_error(io, ENOMEM);
    }
    sweep_touch(io);
    ERR_clear_error();
    io->gathering = 1;
    while (tot < len) {
        size_t want = len - tot;

        r = SSL_write(io->ssl, buf + tot, want > INT32_MAX ? INT32_MAX : (int)want);
        if (r <= 0) {
            break;
        }
        tot += (size_t)r;
    }
    io->gathering = 0;
    if (r <= 0) {
        ssize_t v = tls_result(io, r, &io->wr_wait, 0);

        if (v != SC_IO_AGAIN) {
            return v; /* the connection is broken: what waits goes with it */
        }
    }
    gather_release_if_empty(io); /* all sent on the way: nothing gathered */
    fl = sc_io_flush(io);
    if (fl == SC_IO_ERROR) {
        return fl;
    }
    return tot > 0 ? (ssize_t)tot : SC_IO_AGAIN;
}

static ssize_t pair_read(struct sc_io *io, void *buf, size_t len)
{
    size_t have = evbuffer_get_length(io->pin);
    int n;

    if (io->preset) {
        return sys_error(io, ECONNRESET);
    }
    if (have == 0) {
        if (io->peof) {
            return 0;
        }
        io->rd_wait = EV_READ;
        return SC_IO_AGAIN;
    }
    n = evbuffer_remove(io->pin, buf, len);
    if (n <= 0) {
        return sys_error(io, EIO);
    }
    if (evbuffer_get_length(io->pin) == 0 && !io->peof) {
        io->rd_wait = EV_READ; /* drained: the writer's next bytes wake us */
    }
    if (io->peer != NULL && io->peer->wr_wait != 0) {
        pair_notify(io->peer, EV_WRITE);
    }
    return n;
}

static ssize_t pair_write(struct sc_io *io, const void *buf, size_t len)
{
    struct sc_io *p = io->peer;
    size_t have, n;

    if (p == NULL || io->shut) {
        return sys_error(io, EPIPE);
    }
    have = evbuffer_get_length(p->pin);
    if (have >= PAIR_CAP) {
        io->wr_wait = EV_WRITE;
        return SC_IO_AGAIN;
    }
    n = len < PAIR_CAP - have ? len : PAIR_CAP - have;
    if (evbuffer_add(p->pin, buf, n) != 0) {
        return sys_error(io, ENOMEM);
    }
    if (n < len) {
        io->wr_wait = EV_WRITE; /* full */
    }
    if (n > 0 && have == 0) {
        pair_notify(p, EV_READ);
    }
    return n > 0 ? (ssize_t)n : SC_IO_AGAIN;
}

ssize_t sc_io_read(struct sc_io *io, void *buf, size_t len)
{
    ssize_t n;

    if (io->pair) {
        return pair_read(io, buf, len);
    }

    if (io->ssl != NULL && io->stashed) {
        io->stashed = 0;
        return io->stash;
    }
    if (io->ssl != NULL && io->bulk && len > SC_IO_BUF_SIZE) {
        return tls_read_bulk(io, buf, len);
    }
    if (io->ssl != NULL) {
        int r;

        sweep_touch(io);
        ERR_clear_error();
        io->drained = 0;
        r = SSL_read(io->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
        if (r > 0) {
            if (io->drained && !SSL_has_pending(io->ssl)) {
                io->rd_wait = EV_READ; /* the socket is empty, and so is OpenSSL */
            }
            return r;
        }
        return tls_result(io, r, &io->rd_wait, 1);
    }
    do {
        n = recv(io->fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        if ((size_t)n < len && !io->rdhup) {
            /* drained: edge-triggered, the next arrival (data, or a FIN
             * reported as EV_CLOSED) wakes us */
            io->rd_wait = EV_READ;
        }
        return n;
    }
    if (n == 0) {
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        io->rd_wait = EV_READ;
        return SC_IO_AGAIN;
    }
    return sys_error(io, errno);
}

ssize_t sc_io_write(struct sc_io *io, const void *buf, size_t len)
{
    ssize_t n;

    if (io->pair) {
        return pair_write(io, buf, len);
    }

    if (io->ssl != NULL && io->bulk && len > SC_IO_BUF_SIZE) {
        return tls_write_bulk(io, buf, len);
    }
    if (io->ssl != NULL) {
        int r;

        if (sc_io_pending(io) && (n = sc_io_flush(io)) != 0) {
            return n; /* gathered bytes go first */
        }
        sweep_touch(io);
        ERR_clear_error();
        r = SSL_write(io->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
        return r > 0 ? r : tls_result(io, r, &io->wr_wait, 0);
    }
    do {
        n = send(io->fd, buf, len, MSG_NOSIGNAL | (io->last ? MSG_MORE : 0));
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
        if ((size_t)n < len) {
            io->wr_wait = EV_WRITE; /* the socket buffer is full */
        }
        return n > 0 ? n : SC_IO_AGAIN;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        io->wr_wait = EV_WRITE;
        return SC_IO_AGAIN;
    }
    return sys_error(io, errno);
}

void sc_io_shutdown(struct sc_io *io)
{
    if (io->pair) {
        if (!io->shut && io->peer != NULL) {
            io->peer->peof = 1;
            io->peer->rdhup = 1;
            pair_notify(io->peer, EV_READ | EV_CLOSED);
        }
        io->shut = 1;
        return;
    }
    if (io->ssl != NULL) {
        sweep_touch(io);
        (void)SSL_shutdown(io->ssl);
        ERR_clear_error();
    }
    if (sc_io_pending(io) && sc_io_flush(io) == SC_IO_AGAIN) {
        io->shut_pending = 1; /* the FIN follows the gathered bytes */
        return;
    }
    (void)shutdown(io->fd, SHUT_WR);
}

void sc_io_set_bulk(struct sc_io *io, int on)
{
    io->bulk = on;
}

void sc_io_set_last(struct sc_io *io)
{
    io->last = 1;
}

const char *sc_io_error(const struct sc_io *io, int *err)
{
    if (err != NULL) {
        *err = io->err;
    }
    return io->why[0] != '\0' ? io->why : "connection error";
}

void sc_io_buf_drain(void)
{
    void *io;

    while ((io = sc_objcache_get(&io_cache)) != NULL) {
        free(io);
    }
    sc_io_lists_drain();
}
