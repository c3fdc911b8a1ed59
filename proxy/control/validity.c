#include "validity.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "certs.h"
#include "log.h"
#include "x509.h"

enum state { NOT_YET_VALID, VALID, EXPIRED };

struct entry {
    enum sc_certs_role role;
    enum state state;
    time_t not_before, not_after;
    char subject[256];
    char serial[80];
    char resource[80];
};

struct sc_validity {
    struct event_base *base;
    struct event *timer;
    struct entry *e;
    size_t n;
};

static enum state state_at(const struct entry *e, time_t now)
{
    if (e->not_after <= now) {
        return EXPIRED;
    }
    return e->not_before > now ? NOT_YET_VALID : VALID;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sc_validity_check(arg, time(NULL));
}

struct sc_validity *sc_validity_new(struct event_base *base)
{
    struct sc_validity *v = calloc(1, sizeof(*v));

    if (v == NULL) {
        return NULL;
    }
    v->base = base;
    if (base != NULL) {
        v->timer = evtimer_new(base, on_timer, v);
        if (v->timer == NULL) {
            free(v);
            return NULL;
        }
    }
    return v;
}

time_t sc_validity_next(const struct sc_validity *v)
{
    time_t next = 0;

    for (size_t i = 0; i < v->n; i++) {
        const struct entry *e = &v->e[i];
        time_t t = e->state == NOT_YET_VALID ? e->not_before : e->state == VALID ? e->not_after : 0;

        if (t != 0 && (next == 0 || t < next)) {
            next = t;
        }
    }
    return next;
}

/* Wakes at the next transition by the wall clock (to the millisecond), or
 * after SC_VALIDITY_MAX_WAIT seconds, whichever is first. */
static void arm(struct sc_validity *v)
{
    time_t next = sc_validity_next(v);
    struct timeval now, tv;
    long long ms;

    if (v->timer == NULL) {
        return;
    }
    evtimer_del(v->timer);
    if (next == 0) {
        return;
    }
    gettimeofday(&now, NULL);
    ms = (long long)(next - now.tv_sec) * 1000 - now.tv_usec / 1000;
    if (ms < 5) {
        ms = 5;
    }
    if (ms > SC_VALIDITY_MAX_WAIT * 1000LL) {
        ms = SC_VALIDITY_MAX_WAIT * 1000LL;
    }
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(v->timer, &tv);
}

static void log_transition(const struct entry *e)
{
    char t[32];

    if (e->state == EXPIRED) {
        sc_log(SC_LOG_ERR, NULL,
               "certificate expired: role=%s resource=%s subject=\"%s\" serial=%s not_after=%s",
               sc_certs_role_name(e->role), e->resource, e->subject, e->serial,
               sc_time_rfc3339(e->not_after, t, sizeof(t)));
    } else if (e->state == VALID) {
        sc_log(SC_LOG_INFO, NULL,
               "certificate now valid: role=%s resource=%s subject=\"%s\" serial=%s "
               "not_before=%s",
               sc_certs_role_name(e->role), e->resource, e->subject, e->serial,
               sc_time_rfc3339(e->not_before, t, sizeof(t)));
    }
}

void sc_validity_check(struct sc_validity *v, time_t now)
{
    for (size_t i = 0; i < v->n; i++) {
        enum state s = state_at(&v->e[i], now);

        if (s != v->e[i].state) {
            v->e[i].state = s;
            log_transition(&v->e[i]);
        }
    }
    arm(v);
}

struct collect {
    struct entry *e;
    size_t n, cap;
};

static void collect_one(const struct sc_certs_item *it, void *arg)
{
    struct collect *c = arg;
    struct entry *e;

    if (c->n == c->cap) {
        size_t cap = c->cap != 0 ? c->cap * 2 : 16;
        struct entry *ne = realloc(c->e, cap * sizeof(*ne));

        if (ne == NULL) {
            sc_log(SC_LOG_WARN, NULL, "out of memory: certificate %s not watched", it->resource);
            return;
        }
        c->e = ne;
        c->cap = cap;
    }
    e = &c->e[c->n++];
    memset(e, 0, sizeof(*e));
    e->role = it->role;
    e->not_before = sc_x509_not_before(it->cert);
    e->not_after = sc_x509_not_after(it->cert);
    sc_x509_name_str(X509_get_subject_name(it->cert), e->subject, sizeof(e->subject));
    sc_x509_serial_hex(it->cert, e->serial, sizeof(e->serial));
    snprintf(e->resource, sizeof(e->resource), "%s", it->resource);
}

static const struct entry *find(const struct sc_validity *v, const struct entry *e)
{
    for (size_t i = 0; i < v->n; i++) {
        const struct entry *o = &v->e[i];

        if (o->role == e->role && strcmp(o->serial, e->serial) == 0 &&
            strcmp(o->subject, e->subject) == 0 && strcmp(o->resource, e->resource) == 0) {
            return o;
        }
    }
    return NULL;
}

void sc_validity_watch(struct sc_validity *v, const struct sc_tls_material *m,
                       const struct sc_snapshot *snap, const struct sc_certs_names *names,
                       time_t now)
{
    struct collect c = {NULL, 0, 0};

    sc_certs_each(m, snap, names, collect_one, &c);
    for (size_t i = 0; i < c.n; i++) {
        const struct entry *old = find(v, &c.e[i]);

        c.e[i].state = old != NULL ? old->state : state_at(&c.e[i], now);
    }
    free(v->e);
    v->e = c.e;
    v->n = c.n;
    sc_validity_check(v, now);
}

void sc_validity_free(struct sc_validity *v)
{
    if (v == NULL) {
        return;
    }
    if (v->timer != NULL) {
        event_free(v->timer);
    }
    free(v->e);
    free(v);
}
