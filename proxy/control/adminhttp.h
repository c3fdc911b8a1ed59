#ifndef SC_ADMINHTTP_H
#define SC_ADMINHTTP_H

#include <stddef.h>

/* A small HTTP/1.1 server for the admin, health and stats endpoints, built
 * to stay bounded whoever connects (docs/config.md, "admin, health, stats"):
 *
 *   - a request head over max_head_bytes (one endless line included) is
 *     answered 431;
 *   - a body over max_body_bytes, or any body on an endpoint that takes
 *     none (and on unknown paths), is answered 413 as soon as the head says
 *     so (chunked bodies: as soon as their bytes as sent, chunk framing
 *     included, pass the limit); body bytes are counted and dropped, never
 *     kept;
 *   - a connection whose request is not complete read_timeout_ms after it
 *     was accepted is closed without an answer (slowloris, silent
 *     connections); writing the answer gets the same time again;
 *   - at most max_conns connections are open per server: one more is
 *     accepted and closed at once (one WARN line every 10 s at most);
 *   - one request per connection (every answer says Connection: close), so
 *     nothing is held between requests.
 *
 * The head is parsed by proxy/http1 (llhttp, strict).  Handlers run on the
 * loop's thread and answer at once.  Everything a connection holds is
 * bounded by the limits, so memory does not grow with the number of bytes
 * or connections thrown at a server. */

struct event_base;
struct evbuffer;
struct sc_addr;
struct sc_adminhttp;

#define SC_ADMINHTTP_MAX_BODY (64 * 1024) /* bytes */
#define SC_ADMINHTTP_MAX_HEAD (8 * 1024) /* bytes, request line to blank line */
#define SC_ADMINHTTP_READ_TIMEOUT_MS 5000
#define SC_ADMINHTTP_MAX_CONNS 64 /* per server */
#define SC_ADMINHTTP_MAX_ROUTES 24

struct sc_adminhttp_limits {
    size_t max_body_bytes;
    size_t max_head_bytes;
    int read_timeout_ms;
    int max_conns;
};

/* The defaults above. */
void sc_adminhttp_default_limits(struct sc_adminhttp_limits *lim);

enum sc_adminhttp_method {
    SC_ADMINHTTP_GET = 0,
    SC_ADMINHTTP_HEAD,
    SC_ADMINHTTP_POST,
};

/* One request, as a handler sees it.  The strings are the server's and
 * live until the handler returns. */
struct sc_adminhttp_req {
    enum sc_adminhttp_method method; /* HEAD is answered like GET, without the body */
    const char *path; /* the target up to '?' */
    const char *query; /* after '?', or NULL */
    const char *body; /* SC_ADMINHTTP_KEEPS_BODY routes: the request
                                       * body, NUL-terminated ("" when none) */
    size_t body_len;
};

/* What a handler fills in.  status starts at 200 and content_type at
 * "text/plain"; body is the server's (the handler appends to it). */
struct sc_adminhttp_reply {
    int status;
    const char *content_type; /* a static string */
    struct evbuffer *body;
};

typedef void sc_adminhttp_fn(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                             void *arg);

/* Route flags. */
#define SC_ADMINHTTP_TAKES_BODY \
    1u /* the endpoint accepts a request body
                                         (up to max_body_bytes; it is dropped) */
#define SC_ADMINHTTP_KEEPS_BODY \
    2u /* with TAKES_BODY: the body is kept (at most
                                         max_body_bytes) and given to the handler;
                                         it must come with Content-Length (else 411) */

/* A server with no listener yet, on base (borrowed; outlives the server).
 * name ("admin", "health", "stats") prefixes its log lines and is copied.
 * lim may be NULL (the defaults).  NULL when out of memory. */
struct sc_adminhttp *sc_adminhttp_new(struct event_base *base, const char *name,
                                      const struct sc_adminhttp_limits *lim);

/* Serves path (exact match, copied) with fn(arg).  0, or -1 when the table
 * (SC_ADMINHTTP_MAX_ROUTES) is full. */
int sc_adminhttp_route(struct sc_adminhttp *s, const char *path, unsigned flags,
                       sc_adminhttp_fn *fn, void *arg);

/* Listens on a TCP address.  0, or -1 with a logged reason. */
int sc_adminhttp_listen(struct sc_adminhttp *s, const struct sc_addr *addr);

/* Listens on a Unix socket at path (an old socket file there is replaced;
 * mode 0600).  The file is unlinked by sc_adminhttp_free.  0, or -1 with a
 * logged reason. */
int sc_adminhttp_listen_unix(struct sc_adminhttp *s, const char *path);

/* Serves one connected, non-blocking socket as if it had been accepted
 * (the listeners use it; so do the unit tests, with a socketpair).  Takes
 * ownership of fd: it is closed at once when the server is at max_conns.
 * 0 when the connection is served, -1 when it was closed. */
int sc_adminhttp_adopt(struct sc_adminhttp *s, int fd);

/* Connections open now. */
size_t sc_adminhttp_conn_count(const struct sc_adminhttp *s);

/* Closes the listeners and every connection.  Accepts NULL. */
void sc_adminhttp_free(struct sc_adminhttp *s);

#endif
