/* A small test backend for the integration tests, demos and benchmarks.
 *
 *   backend --listen 127.0.0.1:PORT --mode MODE [--bytes N] [--banner TEXT] [--quiet]
 *           [--keepalive-ms MS [--lazy-close]]
 *   backend --gen N          writes the "source" stream of N bytes to stdout
 *
 * MODE:
 *   echo    echoes every byte; after the client's FIN it finishes echoing and
 *           then shuts down its own side (half-close).
 *   http    HTTP/1.1 with keep-alive and pipelining.  Request bodies
 *           (Content-Length or chunked) are read before the response is sent.
 *           By request-target:
 *             /headers      200, the body is the request's header block
 *             /say/TEXT     200, the body is "TEXT\n"
 *             /bytes/N      200 with N bytes of the "source" stream (N may
 *                           have a k/m/g suffix), Content-Length framed
 *             /chunked/N    the same bytes, chunked
 *             /eof          200 "hello from backend\n" without Content-Length:
 *                           the body ends when the backend closes
 *             /sink         200, the body is "COUNT SHA256HEX\n" of the
 *                           request body
 *             /delay/MS     200 "hello from backend\n" after MS milliseconds
 *             /drop         no answer: the backend closes the connection
 *                           ("req ... dropped")
 *             /no-upgrade   200 "hello from backend\n", ignoring any Upgrade
 *             anything else 200 "hello from backend\n"
 *           A request with "Connection: upgrade" and an Upgrade field gets
 *           101 Switching Protocols (with Sec-WebSocket-Accept when it sent
 *           Sec-WebSocket-Key) and the connection then echoes raw bytes.
 *           "Expect: 100-continue" with a body gets "100 Continue" first.
 *           HEAD gets the same head without the body.
 *           Unless --quiet, every request head is logged as
 *           "req CONN METHOD TARGET".
 *           --keepalive-ms MS: a keep-alive connection idle for MS after a
 *           response is closed (FIN), like a server's keep-alive timeout.
 *           --lazy-close: instead, the connection stays open until the next
 *           request arrives, which is then dropped unanswered and the
 *           connection closed ("req ... dropped: keep-alive expired"): the
 *           keep-alive race (the server's FIN crossing the client's request)
 *           made deterministic.
 *   source  writes N bytes (--bytes, default 1 MiB) of deterministic
 *           pseudo-random data, then closes.  `backend --gen N` prints the
 *           same bytes, so a test can compute the expected sha256.
 *   sink    reads until EOF, then writes "COUNT SHA256HEX\n" and closes.
 *   banner  server-first: writes TEXT (--banner, default "hello from
 *           banner\n") at accept, then echoes like echo.
 *   reset   resets every connection at accept (SO_LINGER 0).
 *
 * N accepts a k/m/g suffix (powers of 1024).  PORT 0 picks a free port.
 * Prints "listening on ADDR" on stdout when ready, and (unless --quiet) one
 * line per connection at open and at close ("conn ID close in=N out=N end=..").
 * SIGTERM or SIGINT stops it (exit 0).  Loopback use only: it trusts its
 * clients. */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/evp.h>

enum mode { M_ECHO, M_HTTP, M_SOURCE, M_SINK, M_BANNER, M_RESET };

/* http: how the current request's body is framed, and what to answer. */
enum body_kind { B_NONE, B_LENGTH, B_CHUNKED };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };
enum http_action {
    A_HELLO,
    A_HEADERS,
    A_SAY,
    A_BYTES,
    A_CHUNKED,
    A_EOF,
    A_SINK,
    A_DELAY,
    A_DROP,
    A_UPGRADE
};

#define HIGH_WATER (1u << 20) /* echo: stop reading above this much pending output */
#define SOURCE_CHUNK (64u * 1024)
#define HTTP_MAX_HEADER (64u * 1024)
#define LINGER_SEC 5

struct server;

struct conn {
    struct conn *prev, *next;
    struct server *srv;
    struct bufferevent *bev;
    struct event *linger; /* after our FIN: wait for the peer's, bounded */
    uint64_t id;
    uint64_t in, out;
    uint64_t left; /* source: bytes still to produce */
    uint64_t rng; /* source: generator state */
    EVP_MD_CTX *md; /* sink */
    int peer_eof; /* the peer sent FIN */
    int want_close; /* shut down our side once output drains */
    int shut; /* shutdown(SHUT_WR) done */
    /* http */
    int http_close; /* close after this response */
    int in_request; /* head parsed; body and response to come */
    int busy; /* a response is under way (delay, bytes) */
    int in_process; /* http_process() is on the stack */
    int upgraded; /* after a 101: echo */
    int expired; /* --lazy-close: the keep-alive time ran out */
    int chunked_out; /* the bytes response is chunked */
    int head_req; /* the request is HEAD: no response body */
    enum body_kind body;
    enum chunk_state chunk;
    uint64_t body_left; /* B_LENGTH: bytes to go; B_CHUNKED: in this chunk */
    uint64_t body_bytes; /* request body bytes read */
    size_t held; /* input left unprocessed (counted in `in`) */
    enum http_action action;
    uint64_t arg; /* A_BYTES: N; A_DELAY: ms */
    char *hdrs; /* A_HEADERS: the request's head */
    size_t hlen;
    char say[256]; /* A_SAY: the text; A_UPGRADE: the WebSocket key */
    struct event *ka_timer; /* --keepalive-ms */
    struct event *delay_timer; /* /delay/MS */
};

struct server {
    struct event_base *base;
    enum mode mode;
    uint64_t bytes;
    const char *banner;
    int quiet;
    int keepalive_ms; /* http: close idle keep-alive connections; 0 = never */
    int lazy_close;
    uint64_t next_id;
    struct conn *conns;
};

static const char HTTP_BODY[] = "hello from backend\n";

static void conn_free(struct conn *c, const char *why)
{
    struct server *s = c->srv;

    if (!s->quiet) {
        printf("conn %" PRIu64 " close in=%" PRIu64 " out=%" PRIu64 " end=%s\n", c->id, c->in,
               c->out, why);
        fflush(stdout);
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    if (c->linger != NULL) {
        event_free(c->linger);
    }
    if (c->ka_timer != NULL) {
        event_free(c->ka_timer);
    }
    if (c->delay_timer != NULL) {
        event_free(c->delay_timer);
    }
    free(c->hdrs);
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
    }
    EVP_MD_CTX_free(c->md);
    free(c);
}

/* xorshift64*: the "source" stream; the same for every connection. */
static uint64_t rng_next(uint64_t *st)
{
    uint64_t x = *st;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * UINT64_C(2685821657736338717);
}

#define RNG_SEED UINT64_C(0x9e3779b97f4a7c15)

static void rng_fill(uint64_t *st, unsigned char *p, size_t n)
{
    while (n > 0) {
        uint64_t v = rng_next(st);
        size_t k = n < 8 ? n : 8;

        memcpy(p, &v, k);
        p += k;
        n -= k;
    }
}

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_free(arg, "linger_timeout");
}

/* Output has drained and we are done: send FIN.  If the peer has not sent
 * its FIN yet, keep reading (and dropping) for a while so that closing does
 * not turn into a reset that could destroy data still in flight to it. */
static void do_shutdown(struct conn *c)
{
    struct timeval tv = {LINGER_SEC, 0};

    c->shut = 1;
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    if (c->peer_eof) {
        conn_free(c, "done");
        return;
    }
    c->linger = evtimer_new(c->srv->base, linger_cb, c);
    if (c->linger == NULL) {
        conn_free(c, "done");
        return;
    }
    evtimer_add(c->linger, &tv);
    bufferevent_enable(c->bev, EV_READ);
}

static void want_close(struct conn *c)
{
    c->want_close = 1;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        do_shutdown(c);
    }
}

static void out_add(struct conn *c, const void *p, size_t n)
{
    if (evbuffer_add(bufferevent_get_output(c->bev), p, n) == 0) {
        c->out += n;
    }
}

static int parse_size(const char *s, uint64_t *out);
static void http_process(struct conn *c);
static void http_bytes_done(struct conn *c);

static void source_fill(struct conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    unsigned char chunk[SOURCE_CHUNK];

    while (c->left > 0 && evbuffer_get_length(out) < 4 * SOURCE_CHUNK) {
        size_t n = c->left < sizeof(chunk) ? (size_t)c->left : sizeof(chunk);

        rng_fill(&c->rng, chunk, n);
        if (c->chunked_out) {
            char size[24];
            int k = snprintf(size, sizeof(size), "%zx\r\n", n);

            out_add(c, size, (size_t)k);
        }
        out_add(c, chunk, n);
        if (c->chunked_out) {
            out_add(c, "\r\n", 2);
        }
        c->left -= n;
    }
    if (c->left > 0) {
        return;
    }
    if (c->srv->mode == M_HTTP) {
        if (c->chunked_out) {
            out_add(c, "0\r\n\r\n", 5);
        }
        http_bytes_done(c);
    } else if (!c->want_close) {
        want_close(c);
    }
}

/* "COUNT SHA256HEX\n" of what went through c->md; 0 on failure. */
static int digest_line(struct conn *c, uint64_t count, char *line, size_t cap)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int n;

    if (c->md == NULL || EVP_DigestFinal_ex(c->md, md, &mdlen) != 1) {
        mdlen = 0;
    }
    n = snprintf(line, cap, "%" PRIu64 " ", count);
    for (unsigned int i = 0; i < mdlen && n > 0 && (size_t)n + 3 < cap; i++) {
        n += snprintf(line + n, cap - (size_t)n, "%02x", md[i]);
    }
    if (n <= 0 || (size_t)n + 1 >= cap) {
        return 0;
    }
    line[n++] = '\n';
    line[n] = '\0';
    return n;
}

static void sink_finish(struct conn *c)
{
    char line[32 + 2 * EVP_MAX_MD_SIZE + 2];
    int n = digest_line(c, c->in, line, sizeof(line));

    if (n > 0) {
        out_add(c, line, (size_t)n);
    }
    want_close(c);
}

static int header_value(const char *hdrs, const char *name, char *val, size_t vlen)
{
    size_t nlen = strlen(name);
    const char *p = strstr(hdrs, "\r\n");

    while (p != NULL) {
        const char *line = p + 2;
        const char *eol = strstr(line, "\r\n");

        if (eol == NULL || eol == line) {
            break;
        }
        if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 &&
            line[nlen] == ':') {
            const char *v = line + nlen + 1;
            size_t n;

            while (v < eol && (*v == ' ' || *v == '\t')) {
                v++;
            }
            n = (size_t)(eol - v);
            while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
                n--;
            }
            if (n >= vlen) {
                n = vlen - 1;
            }
            memcpy(val, v, n);
            val[n] = '\0';
            return 1;
        }
        p = eol;
    }
    return 0;
}

static void http_reply(struct conn *c, int status, const char *reason, const char *body,
                       size_t blen)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nserver: sc-test-backend\r\n"
                     "content-type: text/plain\r\ncontent-length: %zu\r\n%s\r\n",
                     status, reason, blen, c->http_close ? "connection: close\r\n" : "");

    if (n > 0 && (size_t)n < sizeof(head)) {
        out_add(c, head, (size_t)n);
    }
    if (!c->head_req) {
        out_add(c, body, blen);
    }
}

/* A request we cannot parse: 400 (or 431) and close. */
static void http_refuse(struct conn *c, int status, const char *reason)
{
    c->http_close = 1;
    http_reply(c, status, reason, "", 0);
    want_close(c);
}

static void ka_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->srv->lazy_close) {
        c->expired = 1;
        return;
    }
    if (!c->srv->quiet) {
        printf("conn %" PRIu64 " keep-alive timeout\n", c->id);
        fflush(stdout);
    }
    want_close(c);
}

/* The response is queued: close, or wait (at most --keepalive-ms) for the
 * next request. */
static void response_done(struct conn *c)
{
    free(c->hdrs);
    c->hdrs = NULL;
    if (c->http_close) {
        want_close(c);
        return;
    }
    if (c->srv->keepalive_ms > 0 && c->ka_timer != NULL) {
        struct timeval tv = {c->srv->keepalive_ms / 1000, (c->srv->keepalive_ms % 1000) * 1000};

        evtimer_add(c->ka_timer, &tv);
    }
}

static void http_bytes_done(struct conn *c)
{
    c->busy = 0;
    response_done(c);
    if (!c->in_process) {
        http_process(c); /* pipelined requests */
    }
}

static void delay_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    c->busy = 0;
    if (c->shut) {
        return;
    }
    http_reply(c, 200, "OK", HTTP_BODY, sizeof(HTTP_BODY) - 1);
    response_done(c);
    http_process(c);
}

/* Takes up to want body bytes from in (hashing them for /sink).  Returns
 * how many. */
static uint64_t body_take(struct conn *c, struct evbuffer *in, uint64_t want)
{
    size_t avail = evbuffer_get_length(in);
    size_t k = avail < want ? avail : (size_t)want;

    if (k == 0) {
        return 0;
    }
    if (c->action == A_SINK && c->md != NULL) {
        struct evbuffer_iovec v[16];
        size_t done = 0;

        while (done < k) {
            struct evbuffer_ptr pos;
            int nv;

            evbuffer_ptr_set(in, &pos, done, EVBUFFER_PTR_SET);
            nv = evbuffer_peek(in, (ev_ssize_t)(k - done), &pos, v, 16);
            if (nv <= 0) {
                break;
            }
            for (int i = 0; i < nv && i < 16 && done < k; i++) {
                size_t m = v[i].iov_len < k - done ? v[i].iov_len : k - done;

                EVP_DigestUpdate(c->md, v[i].iov_base, m);
                done += m;
            }
        }
    }
    evbuffer_drain(in, k);
    c->body_bytes += k;
    return k;
}

/* Reads the request body: 1 when it is complete, 0 when more is needed, -1
 * when its chunked framing is broken. */
static int body_consume(struct conn *c, struct evbuffer *in)
{
    for (;;) {
        char *line, *e = NULL;
        size_t n;
        unsigned long long size;
        char crlf[2];

        switch (c->body) {
        case B_NONE:
            return 1;
        case B_LENGTH:
            c->body_left -= body_take(c, in, c->body_left);
            if (c->body_left > 0) {
                return 0;
            }
            c->body = B_NONE;
            return 1;
        case B_CHUNKED:
            break;
        }
        switch (c->chunk) {
        case CH_SIZE:
        case CH_TRAILER:
            line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT);
            if (line == NULL) {
                return evbuffer_get_length(in) > 4096 ? -1 : 0;
            }
            if (c->chunk == CH_TRAILER) {
                free(line);
                if (n == 0) {
                    c->body = B_NONE;
                    return 1;
                }
                continue;
            }
            errno = 0;
            size = strtoull(line, &e, 16);
            if (!isxdigit((unsigned char)line[0]) || errno != 0 ||
                (*e != '\0' && *e != ';' && *e != ' ' && *e != '\t')) {
                free(line);
                return -1;
            }
            free(line);
            if (size == 0) {
                c->chunk = CH_TRAILER;
            } else {
                c->body_left = size;
                c->chunk = CH_DATA;
            }
            continue;
        case CH_DATA:
            c->body_left -= body_take(c, in, c->body_left);
            if (c->body_left > 0) {
                return 0;
            }
            c->chunk = CH_DATA_END;
            continue;
        case CH_DATA_END:
            if (evbuffer_get_length(in) < 2) {
                return 0;
            }
            evbuffer_remove(in, crlf, 2);
            if (crlf[0] != '\r' || crlf[1] != '\n') {
                return -1;
            }
            c->chunk = CH_SIZE;
            continue;
        }
    }
}

/* Sec-WebSocket-Accept for key (RFC 6455 §4.2.2). */
static void ws_accept(const char *key, char *out, size_t cap)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char buf[256 + sizeof(guid)];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int n = snprintf(buf, sizeof(buf), "%s%s", key, guid);

    out[0] = '\0';
    if (n <= 0 || (size_t)n >= sizeof(buf) || cap < 64 ||
        EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha1(), NULL) != 1) {
        return;
    }
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

/* The request (head and body) is in: answer it. */
static void http_respond(struct conn *c)
{
    char line[512];
    int n;

    switch (c->action) {
    case A_HELLO:
        http_reply(c, 200, "OK", HTTP_BODY, sizeof(HTTP_BODY) - 1);
        break;
    case A_HEADERS:
        http_reply(c, 200, "OK", c->hdrs, c->hlen);
        break;
    case A_SAY:
        n = snprintf(line, sizeof(line), "%s\n", c->say);
        http_reply(c, 200, "OK", line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0);
        break;
    case A_SINK:
        n = digest_line(c, c->body_bytes, line, sizeof(line));
        http_reply(c, 200, "OK", line, n > 0 ? (size_t)n : 0);
        break;
    case A_EOF:
        c->http_close = 1;
        n = snprintf(line, sizeof(line),
                     "HTTP/1.1 200 OK\r\nserver: sc-test-backend\r\n"
                     "content-type: text/plain\r\nconnection: close\r\n\r\n");
        out_add(c, line, (size_t)n);
        if (!c->head_req) {
            out_add(c, HTTP_BODY, sizeof(HTTP_BODY) - 1);
        }
        break;
    case A_BYTES:
    case A_CHUNKED:
        c->chunked_out = c->action == A_CHUNKED;
        if (c->chunked_out) {
            n = snprintf(line, sizeof(line),
                         "HTTP/1.1 200 OK\r\nserver: sc-test-backend\r\n"
                         "content-type: application/octet-stream\r\n"
                         "transfer-encoding: chunked\r\n%s\r\n",
                         c->http_close ? "connection: close\r\n" : "");
        } else {
            n = snprintf(line, sizeof(line),
                         "HTTP/1.1 200 OK\r\nserver: sc-test-backend\r\n"
                         "content-type: application/octet-stream\r\n"
                         "content-length: %" PRIu64 "\r\n%s\r\n",
                         c->arg, c->http_close ? "connection: close\r\n" : "");
        }
        out_add(c, line, (size_t)n);
        if (c->head_req) {
            break; /* the head only */
        }
        c->busy = 1;
        c->left = c->arg;
        c->rng = RNG_SEED;
        source_fill(c); /* calls http_bytes_done() at the end */
        return;
    case A_DELAY: {
        struct timeval tv = {(time_t)(c->arg / 1000), (suseconds_t)((c->arg % 1000) * 1000)};

        c->busy = 1;
        if (c->delay_timer == NULL) {
            c->delay_timer = evtimer_new(c->srv->base, delay_cb, c);
        }
        if (c->delay_timer == NULL) {
            want_close(c);
            return;
        }
        evtimer_add(c->delay_timer, &tv);
        return;
    }
    case A_DROP:
        if (!c->srv->quiet) {
            printf("req %" PRIu64 " dropped: /drop\n", c->id);
            fflush(stdout);
        }
        c->http_close = 1;
        free(c->hdrs);
        c->hdrs = NULL;
        want_close(c); /* FIN without a byte of response */
        return;
    case A_UPGRADE: {
        char acc[64];

        ws_accept(c->say, acc, sizeof(acc));
        n = snprintf(line, sizeof(line),
                     "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                     "connection: Upgrade\r\n%s%s%s\r\n",
                     acc[0] != '\0' ? "sec-websocket-accept: " : "", acc,
                     acc[0] != '\0' ? "\r\n" : "");
        if (n > 0 && (size_t)n < sizeof(line)) {
            out_add(c, line, (size_t)n);
        }
        free(c->hdrs);
        c->hdrs = NULL;
        c->upgraded = 1; /* raw bytes from now on: echo */
        return;
    }
    }
    response_done(c);
}

/* Parses one request head from in: 1 when one was parsed (the request is
 * set up), 0 when more bytes are needed, -1 when it was refused. */
static int http_head(struct conn *c, struct evbuffer *in)
{
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    char *hdrs;
    size_t hlen;
    char val[256];
    char method[16] = "", path[256] = "", version[16] = "";

    if (end.pos < 0) {
        if (evbuffer_get_length(in) > HTTP_MAX_HEADER) {
            http_refuse(c, 431, "Request Header Fields Too Large");
            return -1;
        }
        return 0;
    }
    hlen = (size_t)end.pos + 4;
    hdrs = malloc(hlen + 1);
    if (hdrs == NULL) {
        want_close(c);
        return -1;
    }
    evbuffer_remove(in, hdrs, hlen);
    hdrs[hlen] = '\0';
    if (sscanf(hdrs, "%15s %255s %15s", method, path, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
        free(hdrs);
        http_refuse(c, 400, "Bad Request");
        return -1;
    }
    if (!c->srv->quiet) {
        printf("req %" PRIu64 " %s %s\n", c->id, method, path);
        fflush(stdout);
    }
    c->http_close = strcmp(version, "HTTP/1.0") == 0;
    c->head_req = strcmp(method, "HEAD") == 0;
    c->action = A_HELLO;
    c->body = B_NONE;
    c->body_bytes = 0;
    c->arg = 0;
    if (header_value(hdrs, "connection", val, sizeof(val))) {
        if (strcasecmp(val, "close") == 0) {
            c->http_close = 1;
        } else if (strcasecmp(val, "keep-alive") == 0) {
            c->http_close = 0;
        }
        if (strcasestr(val, "upgrade") != NULL && header_value(hdrs, "upgrade", val, sizeof(val))) {
            c->action = A_UPGRADE;
            c->say[0] = '\0';
            if (header_value(hdrs, "sec-websocket-key", val, sizeof(val))) {
                snprintf(c->say, sizeof(c->say), "%s", val);
            }
        }
    }
    if (header_value(hdrs, "transfer-encoding", val, sizeof(val))) {
        if (strcasecmp(val, "chunked") != 0) {
            free(hdrs);
            c->http_close = 1;
            http_reply(c, 501, "Not Implemented", "only chunked is supported\n", 26);
            want_close(c);
            return -1;
        }
        c->body = B_CHUNKED;
        c->chunk = CH_SIZE;
    } else if (header_value(hdrs, "content-length", val, sizeof(val))) {
        char *e = NULL;
        unsigned long long cl;

        errno = 0;
        cl = strtoull(val, &e, 10);
        if (errno != 0 || e == val || *e != '\0' || val[0] == '-') {
            free(hdrs);
            http_refuse(c, 400, "Bad Request");
            return -1;
        }
        c->body = cl > 0 ? B_LENGTH : B_NONE;
        c->body_left = cl;
    }
    if (c->body != B_NONE && strcmp(version, "HTTP/1.1") == 0 &&
        header_value(hdrs, "expect", val, sizeof(val)) && strcasecmp(val, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

        out_add(c, cont, sizeof(cont) - 1);
    }
    if (strcmp(path, "/no-upgrade") == 0) {
        c->action = A_HELLO; /* an upgrade request answered as plain HTTP */
    } else if (c->action == A_UPGRADE) {
        /* decided above */
    } else if (strcmp(path, "/drop") == 0) {
        c->action = A_DROP;
    } else if (strcmp(path, "/headers") == 0) {
        c->action = A_HEADERS;
    } else if (strncmp(path, "/say/", 5) == 0) {
        c->action = A_SAY;
        snprintf(c->say, sizeof(c->say), "%s", path + 5);
    } else if (strncmp(path, "/bytes/", 7) == 0 && parse_size(path + 7, &c->arg) == 0) {
        c->action = A_BYTES;
    } else if (strncmp(path, "/chunked/", 9) == 0 && parse_size(path + 9, &c->arg) == 0) {
        c->action = A_CHUNKED;
    } else if (strcmp(path, "/eof") == 0) {
        c->action = A_EOF;
    } else if (strcmp(path, "/sink") == 0) {
        c->action = A_SINK;
        if (c->md == NULL) {
            c->md = EVP_MD_CTX_new();
        }
        if (c->md == NULL || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
            free(hdrs);
            http_refuse(c, 500, "Internal Server Error");
            return -1;
        }
    } else if (strncmp(path, "/delay/", 7) == 0 && parse_size(path + 7, &c->arg) == 0) {
        c->action = A_DELAY;
    }
    free(c->hdrs);
    c->hdrs = hdrs;
    c->hlen = hlen;
    c->in_request = 1;
    if (c->ka_timer != NULL) {
        evtimer_del(c->ka_timer);
    }
    return 1;
}

/* Handles as many complete requests as the input holds, one at a time. */
static void http_process(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    c->in_process = 1;
    while (!c->want_close && !c->shut) {
        if (c->upgraded) {
            size_t n = evbuffer_get_length(in);

            evbuffer_add_buffer(bufferevent_get_output(c->bev), in);
            c->out += n;
            break;
        }
        if (c->busy) {
            break; /* pipelined requests wait for this response */
        }
        if (c->in_request) {
            int r = body_consume(c, in);

            if (r < 0) {
                http_refuse(c, 400, "Bad Request");
                break;
            }
            if (r == 0) {
                break;
            }
            c->in_request = 0;
            http_respond(c);
            continue;
        }
        if (evbuffer_get_length(in) == 0 || http_head(c, in) <= 0) {
            break;
        }
    }
    c->in_process = 0;
    c->held = evbuffer_get_length(in); /* read_cb counts only what is new */
    /* The client half-closed: once every complete request it sent is
     * answered, close our side too. */
    if (c->peer_eof && !c->busy && !c->want_close && !c->shut) {
        want_close(c);
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);

    c->in += n - c->held; /* http may leave a partial request behind */
    c->held = 0;
    if (c->shut || c->want_close) {
        evbuffer_drain(in, n); /* lingering: drop */
        return;
    }
    switch (c->srv->mode) {
    case M_ECHO:
    case M_BANNER:
        evbuffer_add_buffer(bufferevent_get_output(bev), in);
        c->out += n;
        if (evbuffer_get_length(bufferevent_get_output(bev)) > HIGH_WATER) {
            bufferevent_disable(bev, EV_READ);
        }
        break;
    case M_SINK: {
        unsigned char tmp[16384];
        int k;

        while ((k = evbuffer_remove(in, tmp, sizeof(tmp))) > 0) {
            EVP_DigestUpdate(c->md, tmp, (size_t)k);
        }
        break;
    }
    case M_HTTP:
        if (c->expired) {
            /* --lazy-close: as if our FIN had crossed this request */
            if (!c->srv->quiet) {
                printf("req %" PRIu64 " dropped: keep-alive expired\n", c->id);
                fflush(stdout);
            }
            conn_free(c, "keepalive_expired");
            return;
        }
        if (c->ka_timer != NULL) {
            evtimer_del(c->ka_timer);
        }
        http_process(c);
        break;
    case M_SOURCE:
    case M_RESET:
        evbuffer_drain(in, n);
        break;
    }
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (c->shut) {
        return;
    }
    if (c->left > 0 && !c->want_close) {
        source_fill(c); /* source mode, or an http /bytes response */
        return;
    }
    if (c->want_close) {
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
            do_shutdown(c);
        }
        return;
    }
    if ((c->srv->mode == M_ECHO || c->srv->mode == M_BANNER) && !c->peer_eof) {
        bufferevent_enable(c->bev, EV_READ); /* backpressure released */
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (what & BEV_EVENT_ERROR) {
        char why[128];

        snprintf(why, sizeof(why), "error: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        conn_free(c, why);
        return;
    }
    if (!(what & BEV_EVENT_EOF)) {
        return;
    }
    c->peer_eof = 1;
    if (c->shut) {
        conn_free(c, "done");
        return;
    }
    switch (c->srv->mode) {
    case M_ECHO:
    case M_BANNER:
        want_close(c); /* after what is pending has been written */
        break;
    case M_HTTP:
        http_process(c); /* answers what is complete, then closes */
        break;
    case M_SINK:
        sink_finish(c);
        break;
    case M_SOURCE:
        if (c->left == 0) {
            want_close(c);
        }
        break;
    case M_RESET:
        conn_free(c, "done");
        break;
    }
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct server *s = arg;
    struct conn *c;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    (void)l;
    (void)salen;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)sa;

        inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
        port = ntohs(in4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    s->next_id++;
    if (!s->quiet) {
        printf("conn %" PRIu64 " open from %s:%d\n", s->next_id, host, port);
        fflush(stdout);
    }
    if (s->mode == M_RESET) {
        struct linger lg = {1, 0};

        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        evutil_closesocket(fd);
        if (!s->quiet) {
            printf("conn %" PRIu64 " close in=0 out=0 end=reset\n", s->next_id);
            fflush(stdout);
        }
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->srv = s;
    c->id = s->next_id;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    switch (s->mode) {
    case M_SINK:
        c->md = EVP_MD_CTX_new();
        if (c->md == NULL || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
            conn_free(c, "error: sha256 init");
        }
        break;
    case M_SOURCE:
        c->left = s->bytes;
        c->rng = RNG_SEED;
        source_fill(c);
        break;
    case M_BANNER:
        out_add(c, s->banner, strlen(s->banner));
        break;
    case M_HTTP:
        if (s->keepalive_ms > 0) {
            c->ka_timer = evtimer_new(s->base, ka_timer_cb, c);
            if (c->ka_timer == NULL) {
                conn_free(c, "error: evtimer_new");
            }
        }
        break;
    default:
        break;
    }
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    fprintf(stderr, "backend: accept: %s\n", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static int parse_size(const char *s, uint64_t *out)
{
    char *e = NULL;
    unsigned long long v;
    uint64_t mul = 1;

    errno = 0;
    v = strtoull(s, &e, 10);
    if (errno != 0 || e == s || s[0] == '-') {
        return -1;
    }
    switch (*e) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mul = 1024;
        e++;
        break;
    case 'm':
    case 'M':
        mul = 1024 * 1024;
        e++;
        break;
    case 'g':
    case 'G':
        mul = 1024 * 1024 * 1024;
        e++;
        break;
    default:
        return -1;
    }
    if (*e != '\0' || (v != 0 && UINT64_MAX / mul < v)) {
        return -1;
    }
    *out = (uint64_t)v * mul;
    return 0;
}

/* "A.B.C.D:PORT" or "[V6]:PORT", PORT 0..65535 (libevent's parser refuses 0). */
static int parse_addr(const char *s, struct sockaddr_storage *ss, int *len)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(s, ':');
    char *e = NULL;
    long port;
    size_t hl;

    if (colon == NULL || colon == s) {
        return -1;
    }
    hl = (size_t)(colon - s);
    if (hl >= sizeof(host)) {
        return -1;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    errno = 0;
    port = strtol(colon + 1, &e, 10);
    if (errno != 0 || e == colon + 1 || *e != '\0' || port < 0 || port > 65535) {
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;

        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1) {
            return -1;
        }
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = (int)sizeof(*in6);
        return 0;
    } else {
        struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)ss;

        if (inet_pton(AF_INET, host, &in4->sin_addr) != 1) {
            return -1;
        }
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = (int)sizeof(*in4);
        return 0;
    }
}

static int gen(uint64_t n)
{
    unsigned char chunk[SOURCE_CHUNK];
    uint64_t st = RNG_SEED;

    while (n > 0) {
        size_t k = n < sizeof(chunk) ? (size_t)n : sizeof(chunk);

        rng_fill(&st, chunk, k);
        if (fwrite(chunk, 1, k, stdout) != k) {
            return 1;
        }
        n -= k;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: backend --listen ADDR:PORT --mode echo|http|source|sink|banner|reset\n"
                    "               [--bytes N] [--banner TEXT] [--quiet]\n"
                    "               [--keepalive-ms MS [--lazy-close]]\n"
                    "       backend --gen N\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct server srv;
    const char *listen_at = NULL, *mode = NULL;
    struct sockaddr_storage ss;
    int sslen = (int)sizeof(ss);
    socklen_t sl = sizeof(ss);
    struct evconnlistener *lst = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    struct rlimit rl;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    memset(&srv, 0, sizeof(srv));
    srv.bytes = 1024 * 1024;
    srv.banner = "hello from banner\n";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--quiet") == 0) {
            srv.quiet = 1;
            continue;
        }
        if (strcmp(a, "--lazy-close") == 0) {
            srv.lazy_close = 1;
            continue;
        }
        if (v == NULL) {
            usage();
        }
        i++;
        if (strcmp(a, "--listen") == 0) {
            listen_at = v;
        } else if (strcmp(a, "--mode") == 0) {
            mode = v;
        } else if (strcmp(a, "--bytes") == 0) {
            if (parse_size(v, &srv.bytes) != 0) {
                fprintf(stderr, "backend: bad --bytes: %s\n", v);
                return 2;
            }
        } else if (strcmp(a, "--banner") == 0) {
            srv.banner = v;
        } else if (strcmp(a, "--keepalive-ms") == 0) {
            char *e = NULL;
            long ms;

            errno = 0;
            ms = strtol(v, &e, 10);
            if (errno != 0 || e == v || *e != '\0' || ms < 0 || ms > 3600000) {
                fprintf(stderr, "backend: bad --keepalive-ms: %s\n", v);
                return 2;
            }
            srv.keepalive_ms = (int)ms;
        } else if (strcmp(a, "--gen") == 0) {
            uint64_t n;

            if (parse_size(v, &n) != 0) {
                fprintf(stderr, "backend: bad --gen: %s\n", v);
                return 2;
            }
            return gen(n);
        } else {
            usage();
        }
    }
    if (listen_at == NULL || mode == NULL) {
        usage();
    }
    if (strcmp(mode, "echo") == 0) {
        srv.mode = M_ECHO;
    } else if (strcmp(mode, "http") == 0) {
        srv.mode = M_HTTP;
    } else if (strcmp(mode, "source") == 0) {
        srv.mode = M_SOURCE;
    } else if (strcmp(mode, "sink") == 0) {
        srv.mode = M_SINK;
    } else if (strcmp(mode, "banner") == 0) {
        srv.mode = M_BANNER;
    } else if (strcmp(mode, "reset") == 0) {
        srv.mode = M_RESET;
    } else {
        fprintf(stderr, "backend: unknown mode: %s\n", mode);
        return 2;
    }
    if (parse_addr(listen_at, &ss, &sslen) != 0) {
        fprintf(stderr, "backend: bad --listen address: %s\n", listen_at);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    srv.base = event_base_new();
    if (srv.base == NULL) {
        fprintf(stderr, "backend: event_base_new failed\n");
        return 1;
    }
    lst = evconnlistener_new_bind(srv.base, accept_cb, &srv,
                                  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4096,
                                  (struct sockaddr *)&ss, sslen);
    if (lst == NULL) {
        fprintf(stderr, "backend: cannot listen on %s: %s\n", listen_at,
                evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        event_base_free(srv.base);
        return 1;
    }
    evconnlistener_set_error_cb(lst, accept_error_cb);
    sigterm = evsignal_new(srv.base, SIGTERM, signal_cb, srv.base);
    sigint = evsignal_new(srv.base, SIGINT, signal_cb, srv.base);
    if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) != 0 ||
        evsignal_add(sigint, NULL) != 0) {
        fprintf(stderr, "backend: cannot catch signals\n");
        return 1;
    }
    if (getsockname(evconnlistener_get_fd(lst), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)&ss;

            inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
            port = ntohs(in4->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)&ss;

            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
            port = ntohs(in6->sin6_port);
        }
    }
    printf(ss.ss_family == AF_INET6 ? "listening on [%s]:%d mode=%s\n"
                                    : "listening on %s:%d mode=%s\n",
           host, port, mode);
    fflush(stdout);

    event_base_dispatch(srv.base);

    while (srv.conns != NULL) {
        conn_free(srv.conns, "shutdown");
    }
    evconnlistener_free(lst);
    event_free(sigterm);
    event_free(sigint);
    event_base_free(srv.base);
    return 0;
}
