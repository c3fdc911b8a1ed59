/* Unit tests for proxy/io: the raw-socket I/O layer under the relay, over
 * socket pairs, with real TLS 1.3 (a key and certificate made in memory):
 * partial reads and writes, records read ahead and delivered without a new
 * socket event, WANT_WRITE in the middle of a record and its retry,
 * close_notify vs FIN vs RST, 16 KiB records on the wire, the buffer free
 * list, OpenSSL's record buffers given back by the idle sweep, bulk
 * reads (one call for several records, and the end after them) and bulk
 * writes (four records to a send, bytes left waiting, flushed, and the end
 * after them). */

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"

static SSL_CTX *sctx, *cctx;

static void make_ctxs(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();

    ck_assert_ptr_nonnull(key);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"io", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    sctx = SSL_CTX_new(TLS_server_method());
    cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
    SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
    ck_assert_int_eq(SSL_CTX_use_certificate(sctx, x), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(sctx, key), 1);
    SSL_CTX_set_num_tickets(sctx, 0);
    SSL_CTX_set_options(sctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_options(cctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(sctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_mode(cctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void pair(int tcp, int fds[2])
{
    if (!tcp) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
        return;
    }
    {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof(sin);
        int l = socket(AF_INET, SOCK_STREAM, 0);

        ck_assert_int_eq(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
        ck_assert_int_eq(listen(l, 1), 0);
        ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sin, &sl), 0);
        fds[0] = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_eq(connect(fds[0], (struct sockaddr *)&sin, sizeof(sin)), 0);
        fds[1] = accept(l, NULL, NULL);
        ck_assert_int_ge(fds[1], 0);
        close(l);
        ck_assert_int_eq(ioctl(fds[0], FIONBIO, &(int){1}), 0);
        ck_assert_int_eq(ioctl(fds[1], FIONBIO, &(int){1}), 0);
    }
}

/* A TLS 1.3 pair: *a is the client's sc_io, *b the server's. */
static void tls_pair(int tcp, struct sc_io **a, struct sc_io **b)
{
    int fds[2], done = 0;
    SSL *c, *s;

    pair(tcp, fds);
    c = SSL_new(cctx);
    s = SSL_new(sctx);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    *a = sc_io_new(fds[0], c);
    *b = sc_io_new(fds[1], s);
    ck_assert_ptr_nonnull(*a);
    ck_assert_ptr_nonnull(*b);
    for (int i = 0; i < 1000 && done != 3; i++) {
        if (!(done & 1) && SSL_do_handshake(c) == 1) {
            done |= 1;
        }
        if (!(done & 2) && SSL_do_handshake(s) == 1) {
            done |= 2;
        }
    }
    ck_assert_int_eq(done, 3);
}

static size_t unread(int fd)
{
    int n = 0;

    ck_assert_int_eq(ioctl(fd, FIONREAD, &n), 0);
    return (size_t)n;
}

static void setup(void)
{
    make_ctxs();
}

static void teardown(void)
{
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    sc_io_buf_drain();
}

START_TEST(test_io_plain_partial_write_then_drained_read)
{
    int fds[2];
    struct sc_io *a, *b;
    static unsigned char big[1 << 20], got[1 << 20];
    ssize_t n;
    size_t sent = 0, recvd = 0;

    pair(0, fds);
    a = sc_io_new(fds[0], NULL);
    b = sc_io_new(fds[1], NULL);
    memset(big, 'x', sizeof(big));
    /* the socket takes less than 1 MiB: a partial write, then AGAIN */
    n = sc_io_write(a, big, sizeof(big));
    ck_assert_int_gt(n, 0);
    ck_assert_uint_lt((size_t)n, sizeof(big));
    ck_assert(!sc_io_can_write(a));
    sent = (size_t)n;
    /* the reader empties it; a short read says "drained" */
    while ((n = sc_io_read(b, got + recvd, sizeof(got) - recvd)) > 0) {
        recvd += (size_t)n;
        if (!sc_io_can_read(b)) {
            break;
        }
    }
    ck_assert_uint_eq(recvd, sent);
    ck_assert(!sc_io_can_read(b));
    sc_io_ready(b, EV_READ);
    ck_assert(sc_io_can_read(b));
    ck_assert_int_eq(sc_io_read(b, got, sizeof(got)), SC_IO_AGAIN);
    /* writable again once the event says so */
    sc_io_ready(a, EV_WRITE);
    ck_assert(sc_io_can_write(a));
    sc_io_free(a);
    sc_io_free(b);
}
END_TEST

START_TEST(test_io_tls_records_read_ahead_need_no_socket_event)
{
    struct sc_io *a, *b;
    unsigned char buf[64];
    size_t total = 0;

    tls_pair(0, &a, &b);
    /* three records, all in the socket before the reader looks */
    ck_assert_int_eq(sc_io_write(a, "one-", 4), 4);
    ck_assert_int_eq(sc_io_write(a, "two-", 4), 4);
    ck_assert_int_eq(sc_io_write(a, "three", 5), 5);
    /* one read(2) takes all of them (read-ahead); each SSL_read gives
     * one record, and the rest is seen as readable with nothing left in
     * the socket: no event is needed to deliver it */
    ck_assert_int_eq(sc_io_read(b, buf, sizeof(buf)), 4);
    ck_assert_uint_eq(unread(sc_io_fd(b)), 0);
    ck_assert(sc_io_can_read(b));
    total = 4;
    while (sc_io_can_read(b)) {
        ssize_t n = sc_io_read(b, buf + total, sizeof(buf) - total);

        if (n <= 0) {
            break;
        }
        total += (size_t)n;
    }
    ck_assert_uint_eq(total, 13);
    ck_assert_mem_eq(buf, "one-two-three", 13);
    ck_assert(!sc_io_can_read(b));
    sc_io_free(a);
    sc_io_free(b);
}
END_TEST

START_TEST(test_io_tls_want_write_mid_record_then_retry)
{
    struct sc_io *a, *b;
    static unsigned char rec[SC_IO_BUF_SIZE], got[SC_IO_BUF_SIZE];
    ssize_t n = 0;
    size_t writes = 0, recvd = 0, sent = 0;

    tls_pair(0, &a, &b);
    memset(rec, 'r', sizeof(rec));
    /* fill the socket until a record does not fit */
    for (writes = 0; writes < 10000; writes++) {
        n = sc_io_write(a, rec, sizeof(rec));
        if (n == SC_IO_AGAIN) {
            break;
        }
        ck_assert_int_eq(n, (ssize_t)sizeof(rec));
        sent += sizeof(rec);
    }
    ck_assert_int_eq(n, SC_IO_AGAIN);
    ck_assert(!sc_io_can_write(a));
    /* the reader drains; the same bytes go again and complete */
    for (int round = 0; round < 10000 && (n == SC_IO_AGAIN || recvd < sent); round++) {
        ssize_t r;

        sc_io_ready(b, EV_READ);
        while ((r = sc_io_read(b, got, sizeof(got))) > 0) {
            recvd += (size_t)r;
        }
        if (n == SC_IO_AGAIN) {
            sc_io_ready(a, EV_WRITE);
            n = sc_io_write(a, rec, sizeof(rec));
            if (n > 0) {
                ck_assert_int_eq(n, (ssize_t)sizeof(rec));
                sent += sizeof(rec);
            }
        }
    }
    ck_assert_int_eq(n, (ssize_t)sizeof(rec));
    ck_assert_uint_eq(recvd, sent);
    sc_io_free(a);
    sc_io_free(b);
}
END_TEST

START_TEST(test_io_tls_16k_records_on_the_wire)
{
    struct sc_io *a, *b;
    static unsigned char rec[SC_IO_BUF_SIZE], got[2 * SC_IO_BUF_SIZE];

    tls_pair(0, &a, &b);
    memset(rec, 'z', sizeof(rec));
    ck_assert_int_eq(sc_io_write(a, rec, sizeof(rec)), (ssize_t)sizeof(rec));
    /* one record: 16 KiB of plaintext plus the TLS 1.3 overhead (header 5,
     * content type 1, tag 16), and one SSL_read gives all of it */
    ck_assert_uint_eq(unread(sc_io_fd(b)), sizeof(rec) + 22);
    ck_assert_int_eq(sc_io_read(b, got, sizeof(got)), (ssize_t)sizeof(rec));
    sc_io_free(a);
    sc_io_free(b);
}
END_TEST

/* _i: 0 close_notify then FIN, 1 FIN alone, 2 RST (TCP). */
START_TEST(test_io_tls_close_notify_fin_rst)
{
    struct sc_io *a, *b;
    unsigned char buf[16];
    int err = -1;

    tls_pair(1, &a, &b);
    ck_assert_int_eq(sc_io_write(a, "last", 4), 4);
    if (_i == 0) {
        sc_io_shutdown(a);
    } else if (_i == 1) {
        ck_assert_int_eq(shutdown(sc_io_fd(a), SHUT_WR), 0);
    } else {
        struct linger lg = {1, 0};

        ck_assert_int_eq(setsockopt(sc_io_fd(a), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
        sc_io_free(a);
        a = NULL;
        usleep(20000);
    }
    usleep(20000);
    if (_i < 2) {
        ck_assert_int_eq(sc_io_read(b, buf, sizeof(buf)), 4);
        ck_assert_mem_eq(buf, "last", 4);
        ck_assert_int_eq(sc_io_read(b, buf, sizeof(buf)), 0); /* the end, cleanly */
    } else {
        ssize_t n = sc_io_read(b, buf, sizeof(buf));

        if (n == 4) {
            n = sc_io_read(b, buf, sizeof(buf));
        }
        ck_assert_int_eq(n, SC_IO_ERROR);
        (void)sc_io_error(b, &err);
        ck_assert_int_eq(err, ECONNRESET);
    }
    sc_io_free(a);
    sc_io_free(b);
}
END_TEST

START_TEST(test_io_tls_garbage_after_handshake_names_the_reason)
{
    struct sc_io *a, *b;
    unsigned char buf[16];
    int err = -1;
    /* an application-data record header with a body that does not decrypt */
    static const unsigned char junk[] = {
        0x17, 0x03, 0x03, 0x00, 0x20, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
        15,   16,   17,   18,   19,   20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

    tls_pair(0, &a, &b);
    ck_assert_int_eq(send(sc_io_fd(a), junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
    ck_assert_int_eq(sc_io_read(b, buf, sizeof(buf)), SC_IO_ERROR);
    ck_assert_str_eq(sc_io_error(b, &err), "tls: decryption failed or bad record mac");
    ck_assert_int_eq(err, 0);
    sc_io_free(a);
    sc_io_free(b);
}
END_TEST

/* _i: 0 the 16 KiB list, 1 the bulk (64 KiB) one. */
START_TEST(test_io_buffers_come_back)
{
    unsigned char *(*get)(void) = _i == 0 ? sc_io_buf_get : sc_io_bulk_get;
    void (*put)(unsigned char *) = _i == 0 ? sc_io_buf_put : sc_io_bulk_put;
    size_t size = _i == 0 ? SC_IO_BUF_SIZE : SC_IO_BULK_SIZE;
    unsigned char *x = get(), *y;

    ck_assert_ptr_nonnull(x);
    x[0] = 1;
    x[size - 1] = 2;
    put(x);
    y = get();
    ck_assert_ptr_eq(x, y); /* reused from the free list */
    put(y);
    put(NULL);
    sc_io_buf_drain();
}
END_TEST

static short pair_fired[2];

static void on_pair_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    *(short *)arg |= what;
}

/* An in-process pair: bytes, readiness made active on the owner's event,
 * a bounded buffer (backpressure), shutdown as end of stream, free as a
 * close, abort as a reset; no fd. */
START_TEST(test_io_pair_bytes_backpressure_shutdown_reset)
{
    struct event_base *base = event_base_new();
    struct sc_io *e[2], *f[2];
    struct event *ev[2];
    static unsigned char big[300 * 1024];
    unsigned char buf[1024];
    ssize_t n, total = 0;
    int err = 0;

    ck_assert_ptr_nonnull(base);
    ck_assert_int_eq(sc_io_pair_new(e), 0);
    ck_assert_int_eq(sc_io_fd(e[0]), -1);
    for (int i = 0; i < 2; i++) {
        pair_fired[i] = 0;
        ev[i] = event_new(base, -1, EV_READ | EV_WRITE | EV_PERSIST, on_pair_event, &pair_fired[i]);
        ck_assert_ptr_nonnull(ev[i]);
        sc_io_watched(e[i]);
        sc_io_set_event(e[i], ev[i]);
    }
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(pair_fired[1], EV_READ | EV_WRITE); /* the first edge */
    sc_io_ready(e[1], pair_fired[1]);
    ck_assert_int_eq(sc_io_read(e[1], buf, sizeof(buf)), SC_IO_AGAIN);
    ck_assert(!sc_io_can_read(e[1]));

    ck_assert_int_eq(sc_io_write(e[0], "hello", 5), 5);
    pair_fired[1] = 0;
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert(pair_fired[1] & EV_READ);
    sc_io_ready(e[1], pair_fired[1]);
    ck_assert(sc_io_can_read(e[1]));
    ck_assert_int_eq(sc_io_read(e[1], buf, sizeof(buf)), 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);

    /* 256 KiB unread at most: the writer waits, and a read wakes it */
    n = sc_io_write(e[0], big, sizeof(big));
    ck_assert_int_eq(n, 256 * 1024);
    ck_assert(!sc_io_can_write(e[0]));
    ck_assert_int_eq(sc_io_write(e[0], big, sizeof(big)), SC_IO_AGAIN);
    pair_fired[0] = 0;
    ck_assert_int_eq(sc_io_read(e[1], buf, sizeof(buf)), (ssize_t)sizeof(buf));
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert(pair_fired[0] & EV_WRITE);
    sc_io_ready(e[0], pair_fired[0]);
    ck_assert(sc_io_can_write(e[0]));
    while ((n = sc_io_read(e[1], buf, sizeof(buf))) > 0) {
        total += n;
    }
    ck_assert_int_eq(total, 256 * 1024 - (ssize_t)sizeof(buf));
    ck_assert_int_eq(n, SC_IO_AGAIN);

    /* shutdown: the other end reads its end of stream, may still write */
    sc_io_shutdown(e[0]);
    ck_assert(sc_io_peer_ended(e[1]));
    ck_assert_int_eq(sc_io_read(e[1], buf, sizeof(buf)), 0);
    ck_assert_int_eq(sc_io_write(e[0], "x", 1), SC_IO_ERROR);
    ck_assert_int_eq(sc_io_write(e[1], "back", 4), 4);
    ck_assert_int_eq(sc_io_read(e[0], buf, sizeof(buf)), 4);

    /* free is a close: the other end reads the end, writes fail */
    sc_io_set_event(e[1], NULL);
    event_free(ev[1]);
    sc_io_free(e[1]);
    ck_assert_int_eq(sc_io_read(e[0], buf, sizeof(buf)), 0);
    ck_assert_int_eq(sc_io_write(e[0], "y", 1), SC_IO_ERROR);
    sc_io_set_event(e[0], NULL);
    event_free(ev[0]);
    sc_io_free(e[0]);

    /* abort is a reset, even with bytes unread */
    ck_assert_int_eq(sc_io_pair_new(f), 0);
    ck_assert_int_eq(sc_io_write(f[0], "z", 1), 1);
    sc_io_abort(f[0]);
    ck_assert_int_eq(sc_io_read(f[1], buf, sizeof(buf)), SC_IO_ERROR);
    sc_io_error(f[1], &err);
    ck_assert_int_eq(err, ECONNRESET);
    sc_io_free(f[1]);
    event_base_free(base);
}
END_TEST

/* OpenSSL's allocations, counted through CRYPTO_set_mem_functions (set in
 * main, before OpenSSL allocates anything): bytes live, and the allocations
 * of a record buffer's size (16 KiB and more). */
#define HDR 16
static size_t ossl_live, ossl_big;

static void *ossl_malloc(size_t n, const char *file, int line)
{
    unsigned char *p = malloc(n + HDR);

    (void)file;
    (void)line;
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &n, sizeof(n));
    ossl_live += n;
    ossl_big += n >= SC_IO_BUF_SIZE;
    return p + HDR;
}

static void ossl_free(void *q, const char *file, int line)
{
    unsigned char *p = q;
    size_t n;

    (void)file;
    (void)line;
    if (p == NULL) {
        return;
    }
    p -= HDR;
    memcpy(&n, p, sizeof(n));
    ossl_live -= n;
    free(p);
}

static void *ossl_realloc(void *q, size_t n, const char *file, int line)
{
    unsigned char *p = q, *np;
    size_t old;

    if (p == NULL) {
        return ossl_malloc(n, file, line);
    }
    if (n == 0) {
        ossl_free(q, file, line);
        return NULL;
    }
    p -= HDR;
    memcpy(&old, p, sizeof(old));
    np = realloc(p, n + HDR);
    if (np == NULL) {
        return NULL;
    }
    memcpy(np, &n, sizeof(n));
    ossl_live = ossl_live - old + n;
    ossl_big += n >= SC_IO_BUF_SIZE;
    return np + HDR;
}

/* Writes len bytes of c on from, reads them all on to. */
static void round_trip(struct sc_io *from, struct sc_io *to, char c, size_t len)
{
    static unsigned char out[SC_IO_BUF_SIZE], in[SC_IO_BUF_SIZE];
    size_t got = 0;

    memset(out, c, len);
    ck_assert_int_eq(sc_io_write(from, out, len), (ssize_t)len);
    for (int i = 0; i < 100 && got < len; i++) {
        ssize_t n;

        sc_io_ready(to, EV_READ);
        n = sc_io_read(to, in + got, sizeof(in) - got);
        if (n > 0) {
            got += (size_t)n;
        }
    }
    ck_assert_uint_eq(got, len);
    ck_assert_int_eq(in[0], c);
    ck_assert_int_eq(in[len - 1], c);
}

START_TEST(test_io_tls_record_buffers_returned_when_idle)
{
    struct event_base *base = event_base_new();
    struct sc_io_sweep *sw = sc_io_sweep_new(base);
    struct sc_io *a, *b;
    unsigned char buf[16];
    size_t live, big;

    ck_assert_ptr_nonnull(sw);
    /* as tlsctx makes them: OpenSSL would free and allocate its record
     * buffers around every record */
    SSL_CTX_set_mode(sctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_mode(cctx, SSL_MODE_RELEASE_BUFFERS);
    sc_io_sweep_bind(sw);
    tls_pair(0, &a, &b);
    sc_io_sweep_bind(NULL);
    ck_assert(!(SSL_get_mode(sc_io_ssl(a)) & SSL_MODE_RELEASE_BUFFERS));

    /* busy: a keep-alive exchange allocates no record buffer once warm
     * (OpenSSL 3.0 still makes a few small allocations per record written) */
    round_trip(a, b, 'q', 300);
    round_trip(b, a, 'r', 3000);
    big = ossl_big;
    for (int i = 0; i < 100; i++) {
        round_trip(a, b, 'q', 300);
        round_trip(b, a, 'r', 3000);
    }
    ck_assert_uint_eq(ossl_big - big, 0);

    /* used in this period: the first sweep leaves both alone */
    live = ossl_live;
    sc_io_sweep_run(sw);
    ck_assert_uint_eq(sc_io_sweep_released(sw), 0);
    ck_assert_uint_eq(ossl_live, live);

    /* b has bytes it has not read yet: those survive the sweep */
    ck_assert_int_eq(sc_io_write(a, "0123456789", 10), 10);
    sc_io_ready(b, EV_READ);
    ck_assert_int_eq(sc_io_read(b, buf, 4), 4);
    ck_assert(SSL_has_pending(sc_io_ssl(b)));

    /* a whole period with no use: a's read and write buffers go back (two
     * records' worth at least); b keeps its own */
    sc_io_sweep_run(sw);
    sc_io_sweep_run(sw);
    ck_assert_uint_eq(sc_io_sweep_released(sw), 1);
    ck_assert_uint_ge(live - ossl_live, 2 * SC_IO_BUF_SIZE);
    ck_assert_int_eq(sc_io_read(b, buf, sizeof(buf)), 6);
    ck_assert_mem_eq(buf, "456789", 6);

    /* drained, b goes quiet too: both hold no record buffer now */
    live = ossl_live;
    sc_io_sweep_run(sw);
    sc_io_sweep_run(sw);
    ck_assert_uint_eq(sc_io_sweep_released(sw), 2);
    ck_assert_uint_ge(live - ossl_live, 2 * SC_IO_BUF_SIZE);

    /* the next use takes them again, and the bytes are intact */
    round_trip(a, b, 's', SC_IO_BUF_SIZE);
    round_trip(b, a, 't', 100);
    sc_io_sweep_run(sw);
    sc_io_sweep_run(sw);
    ck_assert_uint_eq(sc_io_sweep_released(sw), 4);

    /* the owner goes first: open connections keep working, unswept */
    sc_io_sweep_free(sw);
    round_trip(a, b, 'u', 10);
    sc_io_free(a);
    sc_io_free(b);
    event_base_free(base);
}
END_TEST

/* The timer: armed by a connection's use, it releases both ends after a
 * quiet period, and is not armed again once nothing is left to sweep (an
 * idle worker does not wake up every second). */
START_TEST(test_io_tls_sweep_timer_runs_only_while_needed)
{
    struct event_base *base = event_base_new();
    struct sc_io_sweep *sw = sc_io_sweep_new(base);
    struct sc_io *a, *b;

    ck_assert_ptr_nonnull(sw);
    ck_assert_int_eq(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED), 0);
    sc_io_sweep_bind(sw);
    tls_pair(0, &a, &b);
    sc_io_sweep_bind(NULL);
    round_trip(a, b, 'x', 100);
    ck_assert_int_eq(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED), 1);
    /* each pass waits for the timer; two or three periods release both */
    for (int i = 0; i < 10 && sc_io_sweep_released(sw) < 2; i++) {
        ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
    }
    ck_assert_uint_eq(sc_io_sweep_released(sw), 2);
    ck_assert_int_eq(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED), 0);
    /* used again: armed again */
    round_trip(b, a, 'y', 100);
    ck_assert_int_eq(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED), 1);
    sc_io_free(a);
    sc_io_free(b);
    sc_io_sweep_free(sw);
    event_base_free(base);
}
END_TEST

/* ---- bulk (sc_io_set_bulk) ------------------------------------------------ */

START_TEST(test_io_tls_bulk_read_takes_several_records_then_the_end)
{
    struct sc_io *a, *b;
    static unsigned char big[SC_IO_BULK_SIZE], got[SC_IO_BULK_SIZE];

    tls_pair(0, &a, &b);
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (unsigned char)(i * 7);
    }
    ck_assert_int_eq(sc_io_write(a, big, sizeof(big)), (ssize_t)sizeof(big));
    /* without bulk: one record per call */
    ck_assert_int_eq(sc_io_read(b, got, sizeof(got)), SC_IO_BUF_SIZE);
    ck_assert_mem_eq(got, big, SC_IO_BUF_SIZE);
    sc_io_set_bulk(b, 1);
    /* with it: the other three in one call, and nothing left */
    ck_assert_int_eq(sc_io_read(b, got, sizeof(got)), 3 * SC_IO_BUF_SIZE);
    ck_assert_mem_eq(got, big + SC_IO_BUF_SIZE, 3 * SC_IO_BUF_SIZE);
    ck_assert(!sc_io_can_read(b));
    ck_assert_int_eq(sc_io_write(a, big, sizeof(big)), (ssize_t)sizeof(big));
    sc_io_ready(b, EV_READ);
    /* four records, one call */
    ck_assert_int_eq(sc_io_read(b, got, sizeof(got)), (ssize_t)sizeof(got));
    ck_assert_mem_eq(got, big, sizeof(big));
    /* bytes then close_notify: the bytes first, the end on the next call */
    ck_assert_int_eq(sc_io_write(a, big, 20000), 20000);
    sc_io_shutdown(a);
    ck_assert_int_eq(sc_io_read(b, got, sizeof(got)), 20000);
    ck_assert_mem_eq(got, big, 20000);
    ck_assert(sc_io_can_read(b));
    ck_assert_int_eq(sc_io_read(b, got, sizeof(got)), 0);
    sc_io_free(a);
    sc_io_free(b);
}
END_TEST

/* A bulk write of 64 KiB leaves as one send(2) of four records, not four:
 * over a SOCK_SEQPACKET pair (put under the connection's fd after the
 * handshake) each send is one packet, so the boundaries can be counted. */
START_TEST(test_io_tls_bulk_write_gathers_four_records_per_send)
{
    struct sc_io *a, *b;
    static unsigned char big[SC_IO_BULK_SIZE], pkt[4 * SC_IO_BULK_SIZE];
    int sp[2];

    tls_pair(0, &a, &b);
    memset(big, 'g', sizeof(big));
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sp), 0);
    ck_assert_int_eq(dup2(sp[0], sc_io_fd(a)), sc_io_fd(a));
    close(sp[0]);
    /* without bulk: a send per record */
    ck_assert_int_eq(sc_io_write(a, big, sizeof(big)), (ssize_t)sizeof(big));
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(recv(sp[1], pkt, sizeof(pkt), 0), SC_IO_BUF_SIZE + 22);
    }
    ck_assert_int_eq(recv(sp[1], pkt, sizeof(pkt), 0), -1);
    /* as the sidecar's contexts: SSL_write returns after each record */
    SSL_set_mode(sc_io_ssl(a), SSL_MODE_ENABLE_PARTIAL_WRITE);
    sc_io_set_bulk(a, 1);
    ck_assert_int_eq(sc_io_write(a, big, sizeof(big)), (ssize_t)sizeof(big));
    ck_assert(!sc_io_pending(a));
    ck_assert_int_eq(recv(sp[1], pkt, sizeof(pkt), 0), 4 * (SC_IO_BUF_SIZE + 22));
    ck_assert_int_eq(recv(sp[1], pkt, sizeof(pkt), 0), -1);
    /* a write of at most a record is not gathered */
    ck_assert_int_eq(sc_io_write(a, big, 1000), 1000);
    ck_assert_int_eq(recv(sp[1], pkt, sizeof(pkt), 0), 1000 + 22);
    close(sp[1]);
    sc_io_free(a);
    sc_io_free(b);
}
END_TEST

/* Gathered bytes that do not fit the socket wait in the connection: it
 * says so (sc_io_pending, no writing until flushed), sc_io_flush sends them
 * once the reader drains, and a shutdown's close_notify and FIN come after
 * them.  Every byte arrives, in order. */
START_TEST(test_io_tls_bulk_write_pending_flush_and_shutdown_after)
{
    struct sc_io *a, *b;
    static unsigned char big[SC_IO_BULK_SIZE], got[SC_IO_BULK_SIZE];
    const size_t total = 2u << 20;
    size_t sent = 0, recvd = 0;
    int saw_pending = 0, shut = 0, ended = 0, snd = 4096;

    tls_pair(0, &a, &b);
    ck_assert_int_eq(setsockopt(sc_io_fd(a), SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)), 0);
    SSL_set_mode(sc_io_ssl(a), SSL_MODE_ENABLE_PARTIAL_WRITE);
    sc_io_set_bulk(a, 1);
    sc_io_set_bulk(b, 1);
    for (int round = 0; round < 100000 && !ended; round++) {
        ssize_t n;

        if (sc_io_pending(a)) {
            saw_pending = 1;
            ck_assert(!sc_io_can_write(a));
            sc_io_ready(a, EV_WRITE);
            n = sc_io_flush(a);
            ck_assert(n == 0 || n == SC_IO_AGAIN);
        } else if (sent < total && sc_io_can_write(a)) {
            size_t want = total - sent < sizeof(big) ? total - sent : sizeof(big);

            for (size_t i = 0; i < want; i++) {
                big[i] = (unsigned char)((sent + i) * 13 + 1);
            }
            n = sc_io_write(a, big, want);
            ck_assert(n > 0 || n == SC_IO_AGAIN);
            if (n > 0) {
                /* what was not taken is offered again next round */
                sent += (size_t)n;
            }
        } else if (sent == total && !shut) {
            sc_io_shutdown(a); /* possibly with bytes still gathered */
            shut = 1;
        } else {
            sc_io_ready(a, EV_WRITE);
        }
        sc_io_ready(b, EV_READ);
        while ((n = sc_io_read(b, got, sizeof(got))) > 0) {
            for (ssize_t i = 0; i < n; i++) {
                ck_assert_uint_eq(got[i], (unsigned char)((recvd + (size_t)i) * 13 + 1));
            }
            recvd += (size_t)n;
        }
        if (n == 0) {
            ended = 1;
        } else {
            ck_assert_int_eq(n, SC_IO_AGAIN);
        }
    }
    ck_assert(saw_pending);
    ck_assert_uint_eq(recvd, total);
    ck_assert(ended); /* the end came after every byte */
    sc_io_free(a);
    sc_io_free(b);
}
END_TEST

static Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30); /* the sweep timer's test waits two periods */
    tcase_add_test(tc, test_io_plain_partial_write_then_drained_read);
    tcase_add_test(tc, test_io_tls_records_read_ahead_need_no_socket_event);
    tcase_add_test(tc, test_io_tls_want_write_mid_record_then_retry);
    tcase_add_test(tc, test_io_tls_16k_records_on_the_wire);
    tcase_add_loop_test(tc, test_io_tls_close_notify_fin_rst, 0, 3);
    tcase_add_test(tc, test_io_tls_garbage_after_handshake_names_the_reason);
    tcase_add_loop_test(tc, test_io_buffers_come_back, 0, 2);
    tcase_add_test(tc, test_io_tls_record_buffers_returned_when_idle);
    tcase_add_test(tc, test_io_tls_sweep_timer_runs_only_while_needed);
    tcase_add_test(tc, test_io_pair_bytes_backpressure_shutdown_reset);
    tcase_add_test(tc, test_io_tls_bulk_read_takes_several_records_then_the_end);
    tcase_add_test(tc, test_io_tls_bulk_write_gathers_four_records_per_send);
    tcase_add_test(tc, test_io_tls_bulk_write_pending_flush_and_shutdown_after);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(io_suite());
    int failed;

    /* before OpenSSL allocates anything */
    if (CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) != 1) {
        fprintf(stderr, "test_io: CRYPTO_set_mem_functions refused\n");
        return EXIT_FAILURE;
    }
    signal(SIGPIPE, SIG_IGN);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
