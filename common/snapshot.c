#include "snapshot.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "config.h"
#include "tlsctx.h"

struct sc_snapshot {
    atomic_int refs;
    uint64_t generation;
    struct sc_config *cfg;
    struct sc_tls_material *material;
    SSL_CTX *server_ctx;
    SSL_CTX *client_ctx;
};

static atomic_uint_fast64_t next_generation = 1;

struct sc_snapshot *sc_snapshot_new_with(struct sc_config *cfg, struct sc_tls_material *m,
                                         struct sc_err *err)
{
    struct sc_snapshot *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        sc_err_set(err, "out of memory");
        sc_config_free(cfg);
        sc_tls_material_free(m);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->cfg = cfg;
    s->material = m;
    s->generation = atomic_fetch_add(&next_generation, 1);
    if (m != NULL) {
        s->server_ctx = sc_tlsctx_server_new(m, err);
        if (s->server_ctx == NULL) {
            goto fail;
        }
        s->client_ctx = sc_tlsctx_client_new(m, err);
        if (s->client_ctx == NULL) {
            goto fail;
        }
    }
    return s;

fail:
    sc_snapshot_unref(s);
    return NULL;
}

struct sc_snapshot *sc_snapshot_new(struct sc_config *cfg, struct sc_err *err)
{
    struct sc_tls_material *m = NULL;

    if (cfg->secrets.cert_chain != NULL) {
        m = sc_tls_material_load(cfg->secrets.cert_chain, cfg->secrets.private_key,
                                 cfg->secrets.trusted_ca, err);
        if (m == NULL) {
            sc_config_free(cfg);
            return NULL;
        }
    }
    return sc_snapshot_new_with(cfg, m, err);
}

struct sc_snapshot *sc_snapshot_ref(struct sc_snapshot *snap)
{
    atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
    return snap;
}

void sc_snapshot_unref(struct sc_snapshot *snap)
{
    if (snap == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    SSL_CTX_free(snap->server_ctx);
    SSL_CTX_free(snap->client_ctx);
    sc_tls_material_free(snap->material);
    sc_config_free(snap->cfg);
    free(snap);
}

const struct sc_config *sc_snapshot_config(const struct sc_snapshot *snap)
{
    return snap->cfg;
}

const struct sc_tls_material *sc_snapshot_material(const struct sc_snapshot *snap)
{
    return snap->material;
}

SSL_CTX *sc_snapshot_server_ctx(const struct sc_snapshot *snap)
{
    return snap->server_ctx;
}

SSL_CTX *sc_snapshot_client_ctx(const struct sc_snapshot *snap)
{
    return snap->client_ctx;
}

uint64_t sc_snapshot_generation(const struct sc_snapshot *snap)
{
    return snap->generation;
}
