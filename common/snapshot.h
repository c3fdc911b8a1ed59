#ifndef SC_SNAPSHOT_H
#define SC_SNAPSHOT_H

#include <openssl/ssl.h>
#include <stdint.h>

#include "err.h"

struct sc_config;
struct sc_tls_material;

/* Everything a connection reads that may change at run time: the config and
 * the TLS contexts built from its secrets.  Immutable and reference-counted:
 * a connection takes a reference at accept and drops it at close, so a
 * reload or a certificate rotation never changes what an open connection
 * sees (DESIGN.md, "Threads and sharing"). */
struct sc_snapshot;

/* Builds a snapshot from cfg, loading secrets from its files.  Takes
 * ownership of cfg (also on failure).  Returns a new snapshot with one
 * reference, or NULL with err set. */
struct sc_snapshot *sc_snapshot_new(struct sc_config *cfg, struct sc_err *err);

/* Builds a snapshot from cfg and already-validated material (both owned by
 * the snapshot from now on, also on failure). */
struct sc_snapshot *sc_snapshot_new_with(struct sc_config *cfg, struct sc_tls_material *m,
                                         struct sc_err *err);

/* Returns snap with one more reference.  Safe from any thread. */
struct sc_snapshot *sc_snapshot_ref(struct sc_snapshot *snap);
/* Drops a reference; frees on the last one.  Accepts NULL. */
void sc_snapshot_unref(struct sc_snapshot *snap);

/* Adds secrets.trust_bundles (each file, PEM or SPIFFE bundle JSON) and
 * node.trust_domain to material that was just loaded from files: the
 * bundles belong to the certificate set.  Returns 0 or -1 with err set. */
int sc_snapshot_load_bundles(struct sc_tls_material *m, const struct sc_config *cfg,
                             struct sc_err *err);

/* Borrowed views, valid while the caller holds a reference. */
const struct sc_config *sc_snapshot_config(const struct sc_snapshot *snap);
const struct sc_tls_material *sc_snapshot_material(const struct sc_snapshot *snap);
SSL_CTX *sc_snapshot_server_ctx(const struct sc_snapshot *snap);
SSL_CTX *sc_snapshot_client_ctx(const struct sc_snapshot *snap);
/* The SSL_CTX built for a SIMPLE / MUTUAL route or listener (identified by
 * its tls_files, which live in this snapshot's config), or NULL. */
struct sc_cfg_tls_files;
SSL_CTX *sc_snapshot_origin_ctx(const struct sc_snapshot *snap,
                                const struct sc_cfg_tls_files *files);
/* The SIMPLE / MUTUAL contexts one by one (i < sc_snapshot_n_origins), for
 * listing their certificates: *files and *name (what the operator calls it,
 * "outbound.routes[2]", "outbound.default" or "listener NAME") are borrowed
 * from the snapshot.  Returns NULL past the end. */
size_t sc_snapshot_n_origins(const struct sc_snapshot *snap);
SSL_CTX *sc_snapshot_origin_at(const struct sc_snapshot *snap, size_t i,
                               const struct sc_cfg_tls_files **files, const char **name);
/* Our own SPIFFE ID (the leaf's URI SAN), or NULL when there is no
 * material or the leaf carries none.  Borrowed, like the views above. */
const char *sc_snapshot_own_id(const struct sc_snapshot *snap);

uint64_t sc_snapshot_generation(const struct sc_snapshot *snap);

#endif
