#include "adminhttp.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "addr.h"
#include "http1.h"
#include "localreply.h"
#include "log.h"

#define MAX_LISTENERS 2 /* TCP address + admin.unix_socket */
#define CAP_LOG_EVERY_S 10

enum conn_state {
    C_READING = 0, /* reading the request; the deadline runs */
    C_WRITING, /* the answer is queued; reading is off */
    C_LINGER, /* after an early answer (413, 431, 400...): our side is
                        shut, what the client still sends is dropped until
                        it closes or the deadline */
};

struct route {
    char *path;
    unsigned flags;
    sc_adminhttp_fn *fn;
    void *arg;
};

struct conn {
    struct sc_adminhttp *srv;
    struct bufferevent *bev;
    struct sc_http1 *parser;
    struct event *deadline;
    enum conn_state state;
    const struct route *route; /* from the head; NULL: unknown path */
    uint64_t body_bytes;
    struct evbuffer *body; /* KEEPS_BODY routes: what came so far */
    int linger; /* the answer went out before the request ended */
    LIST_ENTRY(conn) link;
};

struct sc_adminhttp {
    struct event_base *base;
    char *name;
    struct sc_adminhttp_limits lim;
    struct route routes[SC_ADMINHTTP_MAX_ROUTES];
    size_t n_routes;
    struct evconnlistener *listeners[MAX_LISTENERS];
    size_t n_listeners;
    struct event *resume; /* re-enables the listeners after EMFILE */
    char *unix_path; /* unlinked at free */
    LIST_HEAD(, conn) conns;
    size_t n_conns;
    uint64_t refused; /* closed at the cap since the last WARN */
    time_t refused_logged; /* CLOCK_MONOTONIC s of that WARN; 0: none yet */
};

void sc_adminhttp_default_limits(struct sc_adminhttp_limits *lim)
{
    lim->max_body_bytes = SC_ADMINHTTP_MAX_BODY;
    lim->max_head_bytes = SC_ADMINHTTP_MAX_HEAD;
    lim->read_timeout_ms = SC_ADMINHTTP_READ_TIMEOUT_MS;
    lim->max_conns = SC_ADMINHTTP_MAX_CONNS;
}

static void conn_free(struct conn *c)
{
    struct sc_adminhttp *s = c->srv;

    LIST_REMOVE(c, link);
    s->n_conns--;
    bufferevent_free(c->bev); /* closes the socket */
    c->bev = NULL;
    event_free(c->deadline);
    c->deadline = NULL;
    sc_http1_free(c->parser);
    c->parser = NULL;
    if (c->body != NULL) {
        evbuffer_free(c->body);
        c->body = NULL;
    }
    free(c);
}

static void arm_deadline(struct conn *c)
{
    struct timeval tv = {c->srv->lim.read_timeout_ms / 1000,
                         (c->srv->lim.read_timeout_ms % 1000) * 1000};

    evtimer_add(c->deadline, &tv);
}

/* Queues the answer and stops reading; on_write ends the connection once
 * it is out.  head_only: a HEAD request (no body bytes, same length). */
static void send_reply(struct conn *c, int status, const char *type, struct evbuffer *body,
                       int head_only)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t len = body != NULL ? evbuffer_get_length(body) : 0;

    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n\r\n",
                        status, sc_localreply_status_text(status), type, len);
    if (body != NULL && !head_only) {
        evbuffer_add_buffer(out, body);
    }
    c->state = C_WRITING;
    bufferevent_disable(c->bev, EV_READ);
    arm_deadline(c); /* writing gets the same time again */
}

/* An answer before (or instead of) reading the whole request: the rest of
 * what the client sends is dropped, not parsed. */
static void refuse(struct conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(struct conn *c, int status, const char *fmt, ...)
{
    struct evbuffer *b = evbuffer_new();
    va_list ap;

    sc_log(SC_LOG_DEBUG, NULL, "%s server: answered %d", c->srv->name, status);
    if (b != NULL) {
        va_start(ap, fmt);
        evbuffer_add_vprintf(b, fmt, ap);
        va_end(ap);
    }
    c->linger = 1;
    send_reply(c, status, "text/plain", b, 0);
    if (b != NULL) {
        evbuffer_free(b);
    }
}

static const struct route *find_route(const struct sc_adminhttp *s, const char *target, size_t len)
{
    const char *q = memchr(target, '?', len);
    size_t plen = q != NULL ? (size_t)(q - target) : len;

    for (size_t i = 0; i < s->n_routes; i++) {
        if (strlen(s->routes[i].path) == plen && memcmp(s->routes[i].path, target, plen) == 0) {
            return &s->routes[i];
        }
    }
    return NULL;
}

/* The head is in: decide whether the request may go on. */
static void on_head(struct conn *c)
{
    const struct sc_http1_head *h = sc_http1_head(c->parser);
    size_t max = c->srv->lim.max_body_bytes;

    if (strcmp(h->method, "GET") != 0 && strcmp(h->method, "HEAD") != 0 &&
        strcmp(h->method, "POST") != 0) {
        refuse(c, 501, "use GET, HEAD or POST\n");
        return;
    }
    c->route = find_route(c->srv, h->target, h->target_len);
    if (h->framing == SC_HTTP1_BODY_NONE) {
        return;
    }
    if (c->route == NULL || !(c->route->flags & SC_ADMINHTTP_TAKES_BODY)) {
        refuse(c, 413, "this endpoint takes no request body\n");
        return;
    }
    if (h->framing == SC_HTTP1_BODY_LENGTH && h->content_length > max) {
        refuse(c, 413, "request body over %zu bytes\n", max);
        return;
    }
    if (h->framing != SC_HTTP1_BODY_LENGTH && (c->route->flags & SC_ADMINHTTP_KEEPS_BODY)) {
        refuse(c, 411, "this endpoint needs a Content-Length body\n");
        return;
    }
    if (h->expect_continue) {
        evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
    }
}

/* The whole request is in: run its handler and send the answer. */
static void dispatch(struct conn *c)
{
    const struct sc_http1_head *h = sc_http1_head(c->parser);
    struct sc_adminhttp_reply rep = {200, "text/plain", NULL};
    struct sc_adminhttp_req req;
    char *target = NULL, *q;

    rep.body = evbuffer_new();
    target = strndup(h->target, h->target_len);
    if (rep.body == NULL || target == NULL) {
        goto fail;
    }
    req.method = strcmp(h->method, "POST") == 0   ? SC_ADMINHTTP_POST
                 : strcmp(h->method, "HEAD") == 0 ? SC_ADMINHTTP_HEAD
                                                  : SC_ADMINHTTP_GET;
    q = strchr(target, '?');
    if (q != NULL) {
        *q++ = '\0';
    }
    req.path = target;
    req.query = q;
    req.body = "";
    req.body_len = 0;
    if (c->body != NULL && evbuffer_add(c->body, "", 1) == 0) {
        req.body_len = evbuffer_get_length(c->body) - 1;
        req.body = (const char *)evbuffer_pullup(c->body, -1);
    }
    if (c->route != NULL) {
        c->route->fn(&req, &rep, c->route->arg);
    } else {
        evbuffer_add_printf(rep.body, "not found\n");
        rep.status = 404;
    }
    send_reply(c, rep.status, rep.content_type, rep.body, req.method == SC_ADMINHTTP_HEAD);
    free(target);
    evbuffer_free(rep.body);
    return;

fail:
    free(target);
    if (rep.body != NULL) {
        evbuffer_free(rep.body);
    }
    conn_free(c);
}

/* Moves n body bytes from in to the connection's body when its route
 * keeps it (the cap is checked by the caller), else drops them. */
static void keep_body(struct conn *c, struct evbuffer *in, size_t n)
{
    if (c->route != NULL && (c->route->flags & SC_ADMINHTTP_KEEPS_BODY) &&
        c->body_bytes + n <= c->srv->lim.max_body_bytes) {
        if (c->body == NULL) {
            c->body = evbuffer_new();
        }
        if (c->body != NULL && evbuffer_remove_buffer(in, c->body, n) == (int)n) {
            return;
        }
    }
    evbuffer_drain(in, n);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t body;

    while (c->state == C_READING) {
        switch (sc_http1_feed_evbuffer(c->parser, in, &body)) {
        case SC_HTTP1_EV_NEED_MORE:
            return;
        case SC_HTTP1_EV_BEGIN:
            break;
        case SC_HTTP1_EV_HEAD:
            on_head(c);
            break;
        case SC_HTTP1_EV_BODY:
        case SC_HTTP1_EV_DONE:
            keep_body(c, in, body);
            c->body_bytes += body;
            if (c->body_bytes > c->srv->lim.max_body_bytes) {
                refuse(c, 413, "request body over %zu bytes\n", c->srv->lim.max_body_bytes);
            } else if (sc_http1_in_message(c->parser) == 0) {
                dispatch(c); /* may free c */
                return;
            }
            break;
        case SC_HTTP1_EV_ERROR:
            refuse(c, sc_http1_error_status(sc_http1_error(c->parser)), "bad request: %s\n",
                   sc_http1_error_name(sc_http1_error(c->parser)));
            break;
        case SC_HTTP1_EV_UPGRADE:
        case SC_HTTP1_EV_EOF:
            conn_free(c);
            return;
        }
    }
    if (c->state == C_LINGER) {
        evbuffer_drain(in, evbuffer_get_length(in));
    }
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->state != C_WRITING) {
        return; /* a 100 Continue went out */
    }
    if (!c->linger) {
        conn_free(c);
        return;
    }
    /* The client may still be sending the body we refused: closing now
     * would reset the connection and could destroy the answer before it
     * is read.  Shut our side and drop what comes until it closes. */
    (void)shutdown(bufferevent_getfd(bev), SHUT_WR);
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
    c->state = C_LINGER;
    bufferevent_enable(bev, EV_READ);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if ((what & BEV_EVENT_EOF) && c->state == C_WRITING) {
        return; /* half-closed after its request: answer it */
    }
    conn_free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    sc_log(SC_LOG_DEBUG, NULL, "%s server: request not complete within %d ms; closed", c->srv->name,
           c->srv->lim.read_timeout_ms);
    conn_free(c);
}

/* A connection was closed at the cap: one WARN at most every
 * CAP_LOG_EVERY_S seconds, with how many there were. */
static void refused(struct sc_adminhttp *s)
{
    struct timespec now;

    s->refused++;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (s->refused_logged != 0 && now.tv_sec - s->refused_logged < CAP_LOG_EVERY_S) {
        return;
    }
    sc_log(SC_LOG_WARN, NULL,
           "%s server: %d connections open (the cap); closed %llu new one(s) at once", s->name,
           s->lim.max_conns, (unsigned long long)s->refused);
    s->refused = 0;
    s->refused_logged = now.tv_sec > 0 ? now.tv_sec : 1;
}

int sc_adminhttp_adopt(struct sc_adminhttp *s, int fd)
{
    struct sc_http1_limits hl = {s->lim.max_head_bytes, 0};
    struct conn *c = NULL;

    if (s->n_conns >= (size_t)s->lim.max_conns) {
        close(fd);
        refused(s);
        return -1;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return -1;
    }
    c->srv = s;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        close(fd);
        goto fail;
    }
    c->parser = sc_http1_new(SC_HTTP1_REQUEST, &hl);
    c->deadline = evtimer_new(s->base, on_deadline, c);
    if (c->parser == NULL || c->deadline == NULL) {
        goto fail;
    }
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    if (bufferevent_enable(c->bev, EV_READ) != 0) {
        goto fail;
    }
    LIST_INSERT_HEAD(&s->conns, c, link);
    s->n_conns++;
    arm_deadline(c);
    return 0;

fail:
    if (c->deadline != NULL) {
        event_free(c->deadline);
    }
    sc_http1_free(c->parser);
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
    }
    free(c);
    return -1;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    (void)sc_adminhttp_adopt(arg, fd);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct sc_adminhttp *s = arg;

    (void)fd;
    (void)what;
    for (size_t i = 0; i < s->n_listeners; i++) {
        evconnlistener_enable(s->listeners[i]);
    }
}

/* accept failed (EMFILE, ENFILE, ENOBUFS...): pause this server's
 * listeners for a second instead of spinning on the ready socket. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct sc_adminhttp *s = arg;
    struct timeval tv = {1, 0};
    int err = EVUTIL_SOCKET_ERROR();

    (void)l;
    sc_log(SC_LOG_WARN, NULL, "%s server: accept: %s; pausing for 1 s", s->name, strerror(err));
    for (size_t i = 0; i < s->n_listeners; i++) {
        evconnlistener_disable(s->listeners[i]);
    }
    evtimer_add(s->resume, &tv);
}

static int add_listener(struct sc_adminhttp *s, struct evconnlistener *l)
{
    if (l == NULL) {
        return -1;
    }
    evconnlistener_set_error_cb(l, on_accept_error);
    s->listeners[s->n_listeners++] = l;
    return 0;
}

struct sc_adminhttp *sc_adminhttp_new(struct event_base *base, const char *name,
                                      const struct sc_adminhttp_limits *lim)
{
    struct sc_adminhttp *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->base = base;
    LIST_INIT(&s->conns);
    if (lim != NULL) {
        s->lim = *lim;
    } else {
        sc_adminhttp_default_limits(&s->lim);
    }
    s->name = strdup(name);
    s->resume = evtimer_new(base, on_resume, s);
    if (s->name == NULL || s->resume == NULL) {
        goto fail;
    }
    return s;

fail:
    sc_adminhttp_free(s);
    return NULL;
}

int sc_adminhttp_route(struct sc_adminhttp *s, const char *path, unsigned flags,
                       sc_adminhttp_fn *fn, void *arg)
{
    struct route *r;

    if (s->n_routes == SC_ADMINHTTP_MAX_ROUTES) {
        return -1;
    }
    r = &s->routes[s->n_routes];
    r->path = strdup(path);
    if (r->path == NULL) {
        return -1;
    }
    r->flags = flags;
    r->fn = fn;
    r->arg = arg;
    s->n_routes++;
    return 0;
}

int sc_adminhttp_listen(struct sc_adminhttp *s, const struct sc_addr *addr)
{
    char as[SC_ADDR_STRLEN];
    struct evconnlistener *l;

    if (s->n_listeners == MAX_LISTENERS) {
        return -1;
    }
    l = evconnlistener_new_bind(s->base, on_accept, s,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
                                128, (const struct sockaddr *)&addr->ss, (int)addr->len);
    if (add_listener(s, l) != 0) {
        sc_log(SC_LOG_ERR, NULL, "%s server: cannot listen on %s: %s", s->name,
               sc_addr_str(addr, as, sizeof(as)), strerror(errno));
        return -1;
    }
    return 0;
}

int sc_adminhttp_listen_unix(struct sc_adminhttp *s, const char *path)
{
    struct sockaddr_un sun;
    int fd = -1;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path) || s->n_listeners == MAX_LISTENERS) {
        sc_log(SC_LOG_ERR, NULL, "%s server: unix socket path too long: %s", s->name, path);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        goto fail;
    }
    (void)unlink(path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || chmod(path, 0600) != 0 ||
        listen(fd, 64) != 0) {
        goto fail;
    }
    /* backlog -1: fd already listens; the listener owns it from here */
    if (add_listener(s, evconnlistener_new(s->base, on_accept, s,
                                           LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
                                           fd)) != 0) {
        goto fail;
    }
    s->unix_path = strdup(path);
    return 0;

fail:
    sc_log(SC_LOG_ERR, NULL, "%s server: unix socket %s: %s", s->name, path, strerror(errno));
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

size_t sc_adminhttp_conn_count(const struct sc_adminhttp *s)
{
    return s->n_conns;
}

void sc_adminhttp_free(struct sc_adminhttp *s)
{
    if (s == NULL) {
        return;
    }
    while (!LIST_EMPTY(&s->conns)) {
        conn_free(LIST_FIRST(&s->conns));
    }
    for (size_t i = 0; i < s->n_listeners; i++) {
        evconnlistener_free(s->listeners[i]);
        s->listeners[i] = NULL;
    }
    if (s->resume != NULL) {
        event_free(s->resume);
    }
    for (size_t i = 0; i < s->n_routes; i++) {
        free(s->routes[i].path);
    }
    if (s->unix_path != NULL) {
        (void)unlink(s->unix_path);
        free(s->unix_path);
    }
    free(s->name);
    free(s);
}
