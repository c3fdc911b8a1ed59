#ifndef SC_L7_SESSION_INTERNAL_H
#define SC_L7_SESSION_INTERNAL_H

/* The L7 session's layout and the functions its parts share: l7.c (the
 * client's side, replies, the session's life), l7_mem.c (recycled
 * sessions, the session's buffers, the request bytes kept for the upstream
 * and a retry) and l7_up.c (the upstream side: borrowing a pooled
 * connection, writing the request, reading and forwarding the response,
 * retries).  Part of the l7 module, for those files only. */

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "l7.h"
#include "l7_internal.h"
#include "magic.h"
#include "upstream.h"

struct sc_http1;
struct sc_http1_head;
struct sc_io;
struct sc_localreply;
struct sc_relay;
struct sc_upconn;
struct sc_upool_wait;

#define REPLAY_MAX (64 * 1024) /* a request is replayed on a fresh connection only if it fits */
enum state {
    S_HEAD = 0, /* waiting for a request head */
    S_WAIT_UP, /* head parsed, waiting for an upstream connection */
    S_EXCHANGE, /* request and response in flight */
    S_CLOSING, /* flushing the last bytes to downstream, then done */
    S_LINGER, /* write side shut; dropping what the client still sends */
};

struct sc_l7 {
    SC_MAGIC_FIELD
    struct sc_l7_params p; /* p.snap, p.up.snap: our own reference */
    const struct sc_config *cfg;
    sc_l7_done_fn *done;
    void *arg;
    /* The client's connection, on the raw I/O layer: its socket is
     * registered once (dev, edge-triggered).  What it sent is read into
     * dbuf and parsed where it lies (up to doff); what goes back waits in
     * wbuf (heads, local replies, small bodies gathered behind their head:
     * one TLS record) and then bref, body bytes still in ubuf.  Both
     * buffers come from the worker's free list and go back when empty, so
     * an idle keep-alive connection holds none. */
    struct sc_io *dio;
    struct event *dev;
    unsigned char *dbuf;
    size_t dcap, doff, dlen;
    int dheap;
    unsigned char *wbuf;
    size_t wcap, woff, wlen;
    int wheap;
    const unsigned char *bref;
    size_t blen;
    int ubuf_held; /* ubuf stays for bref after the exchange */
    struct sc_http1 *req_parser;
    struct sc_http1 *resp_parser;
    enum state state;
    int req_done; /* the request has been read completely */
    int resp_started; /* response bytes went downstream */
    int interim; /* the response parser is in a 1xx */
    int up_got; /* the upstream sent a byte in this exchange */
    size_t up_sent; /* request bytes that left for the upstream */
    int close_after; /* close the downstream after this response */
    int down_eof;
    size_t lingered; /* bytes dropped while lingering */
    int retries_left;
    struct sc_upconn *uc;
    struct sc_upool_wait *wait;
    /* The request's bytes for the upstream (rewritten head, then the body
     * as it comes): rbuf[0..rlen) (a free-list buffer: a head and a small
     * body need nothing else), then rover (an evbuffer, only for what does
     * not fit), written from req_off on.  While replayable, the bytes
     * already written stay too, so a retry sends them again from the same
     * memory (no copy); past REPLAY_MAX, or once answered, written bytes
     * are dropped as they go. */
    unsigned char *rbuf;
    size_t rlen;
    struct evbuffer *rover;
    size_t req_off;
    int replayable;
    int down_paused; /* reading the client waits for the upstream */
    int upgrade_wait; /* an upgrade request waits for its answer */
    int up_paused; /* reading the upstream waits for the client */
    unsigned char *ubuf; /* upstream bytes read, parsed up to uoff */
    size_t uoff, ulen;
    struct event *timer;
    struct sc_relay *relay;
    uint64_t bytes[2];
    struct sc_l7_req r; /* the current request's record */
    char xfcc_element[2048]; /* computed once per connection */
    int have_xfcc;
    char ended[256];
    char up_failure[1024]; /* the last upstream TLS failure, for the connection log */
};

long sc_l7_now_ms(void);
/* (Re)arms the session's one timer. */
void sc_l7_arm(struct sc_l7 *s, event_callback_fn cb, int ms);
void sc_l7_on_request_timeout(evutil_socket_t fd, short what, void *arg);

/* The response head for the client, formatted once into its write buffer;
 * its length, or 0. */
size_t sc_l7_out_response_head(struct sc_l7 *s, const struct sc_http1_head *h, int close,
                               long service_ms);
/* Bytes queued for the client and not yet written. */
size_t sc_l7_out_pending(const struct sc_l7 *s);
/* Runs the client side's pump from the loop, in the pass under way. */
void sc_l7_down_kick(struct sc_l7 *s);

/* The request's bytes for the upstream: how many are held, and dropping
 * those already written once no retry can need them. */
size_t sc_l7_req_len(const struct sc_l7 *s);
void sc_l7_req_drop_written(struct sc_l7 *s);

/* The upstream read buffer goes back (or stays while a body piece in it
 * waits for the client). */
void sc_l7_ubuf_release(struct sc_l7 *s);
/* Gives the borrowed connection back (or cancels the wait for one). */
void sc_l7_release_upstream(struct sc_l7 *s, int reusable);
/* The exchange is over: log it, then serve the next request or close. */
void sc_l7_request_done(struct sc_l7 *s, int up_reusable);
/* Answers the current request ourselves (Envoy's local reply). */
void sc_l7_local_reply(struct sc_l7 *s, const struct sc_localreply *lr, int close);
/* A 101 or a 2xx to CONNECT: both sides go to the L4 relay. */
void sc_l7_switch_to_relay(struct sc_l7 *s);

/* l7_up.c: borrows a connection for the current request (fresh=1 skips
 * idle ones: a retry) and starts the exchange when it is there. */
void sc_l7_get_upstream(struct sc_l7 *s, int fresh);

/* ---- l7_mem.c ---------------------------------------------------------- */

/* Deletes and frees the event *ev (may be NULL); *ev becomes NULL. */
void sc_l7_ev_drop(struct event **ev);
/* A zeroed session: from this worker's cache (with its two events'
 * storage and its two parsers), else calloc'ed; NULL when out of memory. */
struct sc_l7 *sc_l7_alloc(void);
/* Gives s (its events deleted, its buffers given back) to this worker's
 * cache with its parsers reset, or frees it with them. */
void sc_l7_release(struct sc_l7 *s);
/* Gives back a buffer: to the heap when heap, else to the free list. */
void sc_l7_buf_put(unsigned char *b, int heap);
/* A read buffer for the client's side, unless it has one.  0, or -1. */
int sc_l7_dbuf_get(struct sc_l7 *s);
/* Appends n bytes to what goes to the client.  0, or -1 when out of memory. */
int sc_l7_out_add(struct sc_l7 *s, const void *p, size_t n);
/* Appends n request bytes for the upstream: in the request buffer while
 * they fit, else behind it in an evbuffer.  0, or -1 when out of memory. */
int sc_l7_req_add(struct sc_l7 *s, const void *p, size_t n);
/* Forgets the request bytes kept for the upstream and a retry. */
void sc_l7_req_reset(struct sc_l7 *s);
/* Room for n more bytes in the request buffer, or NULL (none once bytes
 * wait behind it in the evbuffer: their order). */
unsigned char *sc_l7_req_room(struct sc_l7 *s, size_t n);

#endif
