/* The L7 session's memory (l7_session_internal.h): sessions recycled per
 * worker, the buffers of both sides (16 KiB free-list buffers, a one-off
 * heap buffer only for a head or reply larger than that), and the request
 * bytes kept for the upstream and a retry, by reference where they were
 * read. */

#include "l7.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "http1.h"
#include "io.h"
#include "l7_internal.h"
#include "l7_session_internal.h"
#include "localreply.h"
#include "log.h"
#include "relay.h"
#include "magic.h"
#include "objcache.h"
#include "snapshot.h"
#include "stats.h"
#include "tlsctx.h"
#include "tlsverdict.h"
#include "upool.h"
#include "uuid.h"
#include "wctx.h"
#include "x509.h"
#include "xfcc.h"

/* ---- recycled sessions ------------------------------------------------
 * A connection per request makes and frees a session per request: the
 * worker keeps up to L7_CACHE_MAX freed ones, with their two events and
 * their two parsers (buffers included), for the next connections. */

#define L7_CACHE_MAX 32
#define L7_PARSER_KEEP 4096 /* a parser holding more goes back empty */

static __thread struct sc_objcache l7_cache = SC_OBJCACHE_INIT(sizeof(struct sc_l7), L7_CACHE_MAX);

void sc_l7_ev_drop(struct event **ev)
{
    if (*ev != NULL) {
        event_del(*ev);
        free(*ev);
        *ev = NULL;
    }
}

struct sc_l7 *sc_l7_alloc(void)
{
    struct sc_l7 *s = sc_objcache_get(&l7_cache);
    struct event *dev, *timer;
    struct sc_http1 *req, *resp;

    if (s == NULL) {
        return calloc(1, sizeof(*s));
    }
    dev = s->dev;
    timer = s->timer;
    req = s->req_parser;
    resp = s->resp_parser;
    memset(s, 0, sizeof(*s));
    s->dev = dev;
    s->timer = timer;
    s->req_parser = req;
    s->resp_parser = resp;
    return s;
}

/* The end of a session's memory: its events are already deleted. */
void sc_l7_release(struct sc_l7 *s)
{
    struct sc_http1 *p[2] = {s->req_parser, s->resp_parser};

    for (int i = 0; i < 2; i++) {
        if (p[i] != NULL) {
            sc_http1_reset(p[i]);
            if (sc_http1_held(p[i]) > L7_PARSER_KEEP) {
                sc_http1_trim(p[i]);
            }
        }
    }
    if (sc_objcache_put(&l7_cache, s) == 0) {
        return;
    }
    free(s->dev);
    free(s->timer);
    sc_http1_free(s->req_parser);
    sc_http1_free(s->resp_parser);
    free(s);
}

void sc_l7_cache_drain(void)
{
    struct sc_l7 *s;

    while ((s = sc_objcache_get(&l7_cache)) != NULL) {
        free(s->dev);
        free(s->timer);
        sc_http1_free(s->req_parser);
        sc_http1_free(s->resp_parser);
        free(s);
    }
}

void sc_l7_arm(struct sc_l7 *s, event_callback_fn cb, int ms)
{
    struct timeval tv;

    evtimer_del(s->timer);
    if (ms <= 0) {
        return;
    }
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_assign(s->timer, sc_wctx_base(s->p.w), cb, s);
    evtimer_add(s->timer, &tv);
}

/* ---- buffers -------------------------------------------------------------- */

void sc_l7_buf_put(unsigned char *b, int heap)
{
    if (heap) {
        free(b);
    } else {
        sc_io_buf_put(b);
    }
}

/* Room for n more bytes at the end of wbuf (a free-list buffer, or a
 * one-off from the heap for a head or reply larger than that).  The
 * bytes' address, or NULL when out of memory. */
static unsigned char *out_reserve(struct sc_l7 *s, size_t n)
{
    unsigned char *nb;
    size_t cap;

    if (s->wbuf == NULL) {
        s->wheap = n > SC_IO_BUF_SIZE;
        s->wbuf = s->wheap ? malloc(n) : sc_io_buf_get();
        s->wcap = s->wheap ? n : SC_IO_BUF_SIZE;
        s->woff = s->wlen = 0;
        return s->wbuf;
    }
    if (s->wcap - s->wlen >= n) {
        return s->wbuf + s->wlen;
    }
    if (s->woff > 0 && s->woff == s->wlen) {
        s->woff = s->wlen = 0;
    }
    if (s->wcap - s->wlen >= n) {
        return s->wbuf + s->wlen;
    }
    cap = s->wlen + n;
    nb = malloc(cap);
    if (nb == NULL) {
        return NULL;
    }
    memcpy(nb, s->wbuf, s->wlen);
    sc_l7_buf_put(s->wbuf, s->wheap);
    s->wbuf = nb;
    s->wcap = cap;
    s->wheap = 1;
    return s->wbuf + s->wlen;
}

int sc_l7_out_add(struct sc_l7 *s, const void *p, size_t n)
{
    unsigned char *d = out_reserve(s, n);

    if (d == NULL) {
        return -1;
    }
    memcpy(d, p, n);
    s->wlen += n;
    return 0;
}

/* Bytes queued for the client and not yet written. */
size_t sc_l7_out_pending(const struct sc_l7 *s)
{
    return s->wlen - s->woff + s->blen;
}

/* The response head, written once, straight into wbuf.  Its length, or 0
 * when it cannot be written. */
size_t sc_l7_out_response_head(struct sc_l7 *s, const struct sc_http1_head *h, int close,
                               long service_ms)
{
    size_t need = 0;
    unsigned char *d = out_reserve(s, 512);

    if (d == NULL) {
        return 0;
    }
    if (sc_l7_format_response_head((char *)d, s->wcap - s->wlen, &need, h, close, service_ms) !=
        0) {
        if (need == 0 || (d = out_reserve(s, need)) == NULL ||
            sc_l7_format_response_head((char *)d, s->wcap - s->wlen, &need, h, close, service_ms) !=
                0) {
            return 0;
        }
    }
    s->wlen += need;
    return need;
}

/* ---- the request's bytes for the upstream --------------------------------- */

size_t sc_l7_req_len(const struct sc_l7 *s)
{
    return s->rlen + (s->rover != NULL ? evbuffer_get_length(s->rover) : 0);
}

/* Nothing held: rbuf goes back to the free list. */
void sc_l7_req_reset(struct sc_l7 *s)
{
    if (s->rover != NULL) {
        evbuffer_drain(s->rover, evbuffer_get_length(s->rover));
    }
    sc_io_buf_put(s->rbuf);
    s->rbuf = NULL;
    s->rlen = 0;
    s->req_off = 0;
}

static int rover_empty(const struct sc_l7 *s)
{
    return s->rover == NULL || evbuffer_get_length(s->rover) == 0;
}

/* Room for n more bytes in rbuf (none once rover holds bytes: order), or
 * NULL. */
unsigned char *sc_l7_req_room(struct sc_l7 *s, size_t n)
{
    if (!rover_empty(s)) {
        return NULL;
    }
    if (s->rbuf == NULL) {
        s->rbuf = sc_io_buf_get();
        s->rlen = 0;
    }
    return s->rbuf != NULL && SC_IO_BUF_SIZE - s->rlen >= n ? s->rbuf + s->rlen : NULL;
}

int sc_l7_req_add(struct sc_l7 *s, const void *p, size_t n)
{
    unsigned char *d = sc_l7_req_room(s, n);

    if (d != NULL) {
        memcpy(d, p, n);
        s->rlen += n;
        return 0;
    }
    if (s->rover == NULL && (s->rover = evbuffer_new()) == NULL) {
        return -1;
    }
    return evbuffer_add(s->rover, p, n);
}

/* Drops the bytes already written (not replayable any more). */
void sc_l7_req_drop_written(struct sc_l7 *s)
{
    if (s->req_off < s->rlen) {
        return; /* rbuf still has unwritten bytes: later */
    }
    if (s->rover != NULL) {
        evbuffer_drain(s->rover, s->req_off - s->rlen);
    }
    s->rlen = 0;
    s->req_off = 0;
}

/* A read buffer for the client's side, unless it has one.  0, or -1. */
int sc_l7_dbuf_get(struct sc_l7 *s)
{
    if (s->dbuf == NULL) {
        s->dbuf = sc_io_buf_get();
        s->dcap = SC_IO_BUF_SIZE;
        s->dheap = 0;
        s->doff = s->dlen = 0;
    }
    return s->dbuf != NULL ? 0 : -1;
}

/* The pump of the client's side runs from the loop, in the pass under way
 * (no system call to get there): callers may go on with the session. */
void sc_l7_down_kick(struct sc_l7 *s)
{
    if (s->dev != NULL) {
        event_active(s->dev, 0, 0);
    }
}

void sc_l7_ubuf_release(struct sc_l7 *s)
{
    s->uoff = s->ulen = 0;
    if (s->blen > 0) {
        s->ubuf_held = 1; /* bref still points into it */
        return;
    }
    sc_io_buf_put(s->ubuf);
    s->ubuf = NULL;
    s->ubuf_held = 0;
}
