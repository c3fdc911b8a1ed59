#include "snapshot.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "magic.h"
#include "spiffe.h"
#include "tlsctx.h"
#include "x509.h"

struct sc_snapshot {
    SC_MAGIC_FIELD
    atomic_int refs;
    uint64_t generation;
    struct sc_config *cfg;
    struct sc_tls_material *material;
    SSL_CTX *server_ctx;
    SSL_CTX *client_ctx;
    struct origin { /* SIMPLE / MUTUAL routes and listeners */
        const struct sc_cfg_tls_files *files;
        SSL_CTX *ctx;
        char name[80]; /* "outbound.routes[2]", "listener out" */
    } * origins;
    size_t n_origins;
    char *own_id; /* our leaf's SPIFFE ID, or NULL */
};

static atomic_uint_fast64_t next_generation = 1;

static int add_origin(struct sc_snapshot *s, enum sc_tls_mode mode,
                      const struct sc_cfg_tls_files *f, const char *name, struct sc_err *err)
{
    SSL_CTX *ctx;

    if (mode != SC_TLS_SIMPLE && mode != SC_TLS_MUTUAL) {
        return 0;
    }
    ctx = sc_tlsctx_origin_new(
        f->ca_certificates, f->ca_crl, mode == SC_TLS_MUTUAL ? f->client_certificate : NULL,
        mode == SC_TLS_MUTUAL ? f->private_key : NULL, s->cfg->tls_groups, err);
    if (ctx == NULL) {
        return -1;
    }
    sc_tlsctx_set_root_grace(ctx, (long)s->cfg->secrets.root_grace_hours * 3600);
    s->origins[s->n_origins].files = f;
    s->origins[s->n_origins].ctx = ctx;
    snprintf(s->origins[s->n_origins].name, sizeof(s->origins[s->n_origins].name), "%s", name);
    s->n_origins++;
    return 0;
}

static int build_origins(struct sc_snapshot *s, struct sc_err *err)
{
    const struct sc_config *cfg = s->cfg;
    size_t max = cfg->n_listeners + cfg->outbound.n_routes + 1;
    char name[80];

    s->origins = calloc(max, sizeof(*s->origins));
    if (s->origins == NULL) {
        sc_err_set(err, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->outbound.n_routes; i++) {
        snprintf(name, sizeof(name), "outbound.routes[%zu]", i);
        if (add_origin(s, cfg->outbound.routes[i].tls, &cfg->outbound.routes[i].tls_files, name,
                       err) != 0) {
            return -1;
        }
    }
    if (add_origin(s, cfg->outbound.def.tls, &cfg->outbound.def.tls_files, "outbound.default",
                   err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        snprintf(name, sizeof(name), "listener %s",
                 cfg->listeners[i].name != NULL ? cfg->listeners[i].name : "-");
        if (cfg->listeners[i].direction == SC_DIR_OUTBOUND &&
            add_origin(s, cfg->listeners[i].tls, &cfg->listeners[i].tls_files, name, err) != 0) {
            return -1;
        }
    }
    return 0;
}

SSL_CTX *sc_snapshot_origin_ctx(const struct sc_snapshot *snap,
                                const struct sc_cfg_tls_files *files)
{
    SC_MAGIC_CHECK(snap, SC_MAGIC_SNAPSHOT);
    for (size_t i = 0; i < snap->n_origins; i++) {
        if (snap->origins[i].files == files) {
            return snap->origins[i].ctx;
        }
    }
    return NULL;
}

size_t sc_snapshot_n_origins(const struct sc_snapshot *snap)
{
    SC_MAGIC_CHECK(snap, SC_MAGIC_SNAPSHOT);
    return snap->n_origins;
}

SSL_CTX *sc_snapshot_origin_at(const struct sc_snapshot *snap, size_t i,
                               const struct sc_cfg_tls_files **files, const char **name)
{
    SC_MAGIC_CHECK(snap, SC_MAGIC_SNAPSHOT);
    if (i >= snap->n_origins) {
        return NULL;
    }
    *files = snap->origins[i].files;
    *name = snap->origins[i].name;
    return snap->origins[i].ctx;
}

/* Read once here, so that the data path never parses our own SAN. */
static void own_id(struct sc_snapshot *s)
{
    char id[SC_SPIFFE_MAX + 1];

    if (sc_x509_spiffe_id(sc_tls_material_leaf(s->material), id, sizeof(id)) == 0) {
        s->own_id = strdup(id);
    }
}

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
    SC_MAGIC_SET(s, SC_MAGIC_SNAPSHOT);
    atomic_init(&s->refs, 1);
    s->cfg = cfg;
    s->material = m;
    s->generation = atomic_fetch_add(&next_generation, 1);
    if (m != NULL) {
        s->server_ctx = sc_tlsctx_server_new(m, cfg->tls_groups, err);
        if (s->server_ctx == NULL) {
            goto fail;
        }
        s->client_ctx = sc_tlsctx_client_new(m, cfg->tls_groups, err);
        if (s->client_ctx == NULL) {
            goto fail;
        }
        sc_tlsctx_set_root_grace(s->server_ctx, (long)cfg->secrets.root_grace_hours * 3600);
        sc_tlsctx_set_root_grace(s->client_ctx, (long)cfg->secrets.root_grace_hours * 3600);
        own_id(s);
    }
    if (build_origins(s, err) != 0) {
        goto fail;
    }
    return s;

fail:
    sc_snapshot_unref(s);
    return NULL;
}

int sc_snapshot_load_bundles(struct sc_tls_material *m, const struct sc_config *cfg,
                             struct sc_err *err)
{
    if (cfg->secrets.n_trust_bundles == 0) {
        return 0;
    }
    if (sc_tls_material_set_trust_domain(m, cfg->node.trust_domain) != 0) {
        sc_err_set(err, "node.trust_domain: too long");
        return -1;
    }
    for (size_t i = 0; i < cfg->secrets.n_trust_bundles; i++) {
        if (sc_tls_material_load_bundle(m, cfg->secrets.trust_bundles[i].key,
                                        cfg->secrets.trust_bundles[i].value, err) != 0) {
            return -1;
        }
    }
    return 0;
}

struct sc_snapshot *sc_snapshot_new(struct sc_config *cfg, struct sc_err *err)
{
    struct sc_tls_material *m = NULL;

    if (cfg->secrets.cert_chain != NULL) {
        m = sc_tls_material_load(cfg->secrets.cert_chain, cfg->secrets.private_key,
                                 cfg->secrets.trusted_ca, 0, err);
        if (m != NULL && ((cfg->secrets.crl != NULL &&
                           sc_tls_material_load_crls(m, cfg->secrets.crl, err) != 0) ||
                          sc_snapshot_load_bundles(m, cfg, err) != 0)) {
            sc_tls_material_free(m);
            m = NULL;
        }
        if (m == NULL) {
            sc_config_free(cfg);
            return NULL;
        }
    }
    return sc_snapshot_new_with(cfg, m, err);
}

struct sc_snapshot *sc_snapshot_ref(struct sc_snapshot *snap)
{
    SC_MAGIC_CHECK(snap, SC_MAGIC_SNAPSHOT);
    atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
    return snap;
}

void sc_snapshot_unref(struct sc_snapshot *snap)
{
    if (snap == NULL) {
        return;
    }
    SC_MAGIC_CHECK(snap, SC_MAGIC_SNAPSHOT);
    if (atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    for (size_t i = 0; i < snap->n_origins; i++) {
        SSL_CTX_free(snap->origins[i].ctx);
    }
    free(snap->origins);
    free(snap->own_id);
    SSL_CTX_free(snap->server_ctx);
    SSL_CTX_free(snap->client_ctx);
    sc_tls_material_free(snap->material);
    sc_config_free(snap->cfg);
    SC_MAGIC_CLEAR(snap);
    free(snap);
}

const struct sc_config *sc_snapshot_config(const struct sc_snapshot *snap)
{
    SC_MAGIC_CHECK(snap, SC_MAGIC_SNAPSHOT);
    return snap->cfg;
}

const struct sc_tls_material *sc_snapshot_material(const struct sc_snapshot *snap)
{
    SC_MAGIC_CHECK(snap, SC_MAGIC_SNAPSHOT);
    return snap->material;
}

SSL_CTX *sc_snapshot_server_ctx(const struct sc_snapshot *snap)
{
    SC_MAGIC_CHECK(snap, SC_MAGIC_SNAPSHOT);
    return snap->server_ctx;
}

SSL_CTX *sc_snapshot_client_ctx(const struct sc_snapshot *snap)
{
    SC_MAGIC_CHECK(snap, SC_MAGIC_SNAPSHOT);
    return snap->client_ctx;
}

uint64_t sc_snapshot_generation(const struct sc_snapshot *snap)
{
    SC_MAGIC_CHECK(snap, SC_MAGIC_SNAPSHOT);
    return snap->generation;
}

const char *sc_snapshot_own_id(const struct sc_snapshot *snap)
{
    SC_MAGIC_CHECK(snap, SC_MAGIC_SNAPSHOT);
    return snap->own_id;
}
