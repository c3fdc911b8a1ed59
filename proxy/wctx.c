#include "wctx.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "addr.h"
#include "io.h"
#include "table.h"
#include "tlsctx.h"
#include "tlsverdict.h"
#include "uuid.h"

#define SCRATCH_BYTES 16384
#define SESSION_SLOTS 64

struct sc_wctx {
    int id;
    struct event_base *base; /* borrowed */
    struct sc_stats *stats; /* borrowed */
    struct sc_snapshot *snap; /* borrowed: the worker's reference */
    struct sc_upool *upool; /* borrowed */
    struct sc_hbone_pool *hbone; /* borrowed */
    struct sc_hslimit *hslimit; /* borrowed */
    sc_wctx_hbone_accept_fn *hbone_accept;
    sc_wctx_hbone_open_fn *hbone_open;
    sc_wctx_hbone_cancel_fn *hbone_cancel;
    struct sc_tlsv_seen grace_seen; /* root_expired_grace: identities logged */
    struct sc_uuid uuid;
    struct sc_conn_list conns; /* links in the connections */
    atomic_size_t n_conns;
    unsigned long long next_id;
    struct {
        unsigned long long gen;
        struct sc_addr up;
        SSL_SESSION *sess;
    } sessions[SESSION_SLOTS];
    unsigned char scratch[SCRATCH_BYTES];
};

struct sc_wctx *sc_wctx_new(int id, struct event_base *base, struct sc_stats *stats)
{
    struct sc_wctx *x = sc_table_alloc(sizeof(*x));

    if (x == NULL) {
        return NULL;
    }
    x->id = id;
    x->base = base;
    x->stats = stats;
    atomic_init(&x->n_conns, 0);
    sc_uuid_init(&x->uuid);
    return x;
}

void sc_wctx_free(struct sc_wctx *x)
{
    if (x == NULL) {
        return;
    }
    sc_uuid_cleanup(&x->uuid);
    for (size_t i = 0; i < SESSION_SLOTS; i++) {
        SSL_SESSION_free(x->sessions[i].sess);
    }
    sc_table_free(x, sizeof(*x));
}

void sc_wctx_set_snapshot(struct sc_wctx *x, struct sc_snapshot *snap)
{
    x->snap = snap;
}

void sc_wctx_set_upool(struct sc_wctx *x, struct sc_upool *p)
{
    x->upool = p;
}

void sc_wctx_set_hbone_pool(struct sc_wctx *x, struct sc_hbone_pool *p)
{
    x->hbone = p;
}

void sc_wctx_set_hslimit(struct sc_wctx *x, struct sc_hslimit *h)
{
    x->hslimit = h;
}

int sc_wctx_id(const struct sc_wctx *x)
{
    return x->id;
}

struct event_base *sc_wctx_base(struct sc_wctx *x)
{
    return x->base;
}

struct sc_snapshot *sc_wctx_snapshot(struct sc_wctx *x)
{
    return x->snap;
}

struct sc_stats *sc_wctx_stats(struct sc_wctx *x)
{
    return x->stats;
}

struct sc_tlsv_seen *sc_wctx_grace_seen(struct sc_wctx *x)
{
    return &x->grace_seen;
}

unsigned char *sc_wctx_scratch(struct sc_wctx *x, size_t *len)
{
    *len = sizeof(x->scratch);
    return x->scratch;
}

struct sc_upool *sc_wctx_upool(struct sc_wctx *x)
{
    return x->upool;
}

struct sc_uuid *sc_wctx_uuid(struct sc_wctx *x)
{
    return &x->uuid;
}

struct sc_hbone_pool *sc_wctx_hbone_pool(struct sc_wctx *x)
{
    return x->hbone;
}

struct sc_hslimit *sc_wctx_hslimit(struct sc_wctx *x)
{
    return x->hslimit;
}

static size_t session_slot(unsigned long long gen, const struct sc_addr *up)
{
    const unsigned char *p = (const unsigned char *)&up->ss;
    unsigned long long h = gen * 1099511628211ull;

    for (socklen_t i = 0; i < up->len; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return (size_t)(h % SESSION_SLOTS);
}

SSL_SESSION *sc_wctx_session_get(struct sc_wctx *x, unsigned long long gen,
                                 const struct sc_addr *up)
{
    size_t i = session_slot(gen, up);

    if (x->sessions[i].sess == NULL || x->sessions[i].gen != gen ||
        !sc_addr_equal(&x->sessions[i].up, up)) {
        return NULL;
    }
    /* No session outlives its trust: once a certificate of the chain the
     * ticket's full handshake verified has expired, the ticket is dropped
     * and the next handshake verifies the chain again. */
    if (!sc_tls_session_trusted(x->sessions[i].sess, time(NULL))) {
        SSL_SESSION_free(x->sessions[i].sess);
        x->sessions[i].sess = NULL;
        return NULL;
    }
    return x->sessions[i].sess;
}

void sc_wctx_session_put(struct sc_wctx *x, unsigned long long gen, const struct sc_addr *up,
                         SSL_SESSION *sess)
{
    size_t i = session_slot(gen, up);

    SSL_SESSION_free(x->sessions[i].sess);
    x->sessions[i].gen = gen;
    x->sessions[i].up = *up;
    x->sessions[i].sess = sess;
}

void sc_wctx_set_hbone_accept(struct sc_wctx *x, sc_wctx_hbone_accept_fn *fn)
{
    x->hbone_accept = fn;
}

void sc_wctx_hbone_accept(struct sc_wctx *x, int fd, const struct sc_conn_hbone *h)
{
    if (x->hbone_accept == NULL) {
        close(fd);
        return;
    }
    x->hbone_accept(x, fd, h);
}

void sc_wctx_set_hbone_out(struct sc_wctx *x, sc_wctx_hbone_open_fn *open,
                           sc_wctx_hbone_cancel_fn *cancel)
{
    x->hbone_open = open;
    x->hbone_cancel = cancel;
}

struct sc_hbone_out *sc_wctx_hbone_open(struct sc_wctx *x, const struct sc_hbone_out_req *req,
                                        struct sc_io *io, sc_hbone_out_done_fn *done, void *arg)
{
    if (x->hbone_open == NULL || x->hbone == NULL) {
        sc_io_abort(io);
        return NULL;
    }
    return x->hbone_open(x->hbone, req, io, done, arg);
}

void sc_wctx_hbone_cancel(struct sc_wctx *x, struct sc_hbone_out *o)
{
    if (o != NULL && x->hbone_cancel != NULL) {
        x->hbone_cancel(o);
    }
}

unsigned long long sc_wctx_next_conn_id(struct sc_wctx *x)
{
    /* Low byte: the worker, so ids never collide across workers. */
    return (++x->next_id << 8) | (unsigned)(x->id & 0xff);
}

struct sc_conn_list *sc_wctx_conns(struct sc_wctx *x)
{
    return &x->conns;
}

void sc_wctx_conn_counted(struct sc_wctx *x, int delta)
{
    if (delta > 0) {
        atomic_fetch_add(&x->n_conns, (size_t)delta);
    } else {
        atomic_fetch_sub(&x->n_conns, (size_t)-delta);
    }
}

size_t sc_wctx_conn_count(const struct sc_wctx *x)
{
    return atomic_load(&((struct sc_wctx *)(uintptr_t)x)->n_conns);
}
