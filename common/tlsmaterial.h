#ifndef SC_TLSMATERIAL_H
#define SC_TLSMATERIAL_H

#include <openssl/ssl.h>
#include <time.h>

#include "err.h"

/* A workload's TLS material: its key, its certificate chain (leaf first) and
 * the trust bundle (one or more roots).  Immutable once built; owned by a
 * snapshot. */
struct sc_tls_material;

/* What to call the three parts in error messages (file paths, or SDS
 * resource names). */
struct sc_tls_names {
    const char *chain;
    const char *key;
    const char *ca;
};

/* Parses and validates PEM text: the chain holds at least the leaf, the key
 * matches the leaf, the bundle holds at least one certificate, the chain
 * leads to one of the bundle's roots, and (unless now is 0) the leaf is
 * valid at `now`.  An expired root is accepted here (reported by the
 * logs and /certs, and by sc_tls_material_problem once no root is valid).  Returns a new object, or NULL with err set
 * (the message names the part that failed). */
struct sc_tls_material *sc_tls_material_from_pem(const char *chain, size_t chain_len,
                                                 const char *key, size_t key_len, const char *ca,
                                                 size_t ca_len, const struct sc_tls_names *names,
                                                 time_t now, struct sc_err *err);

/* The same from files (each at most 1 MiB). */
struct sc_tls_material *sc_tls_material_load(const char *chain_path, const char *key_path,
                                             const char *ca_path, time_t now, struct sc_err *err);

/* Adds revocation lists (PEM, one or more CRLs) to material that was just
 * built and is not shared yet, replacing any it had.  Every CRL must be
 * signed by one of the material's roots or by an intermediate of its chain;
 * one that does not verify rejects the whole set (err names it, m keeps
 * what it had).  A CRL past its next update is accepted (reported by the
 * caller, still checked).  _load_crls reads a file (at most 1 MiB).
 * Returns 0 or -1. */
int sc_tls_material_set_crls(struct sc_tls_material *m, const char *pem, size_t len,
                             const char *what, struct sc_err *err);
int sc_tls_material_load_crls(struct sc_tls_material *m, const char *path, struct sc_err *err);
/* Borrowed; NULL when the material has no CRLs. */
STACK_OF(X509_CRL) * sc_tls_material_crls(const struct sc_tls_material *m);

/* Federated trust (secrets.trust_bundles), on material that was just built
 * and is not shared yet.  _set_trust_domain names our own trust domain
 * (node.trust_domain; unset: the trust domain of our leaf's SPIFFE ID),
 * whose peers are verified against the material's roots as before.
 * _add_bundle adds the roots of another trust domain from PEM or SPIFFE
 * bundle JSON text (sc_bundle_parse); _load_bundle reads a file (at most
 * 1 MiB).  Once a material has a bundle, a peer whose leaf names another
 * trust domain is verified only against that domain's roots (no CRLs), and
 * a peer from a domain with neither is refused: sc_tls_verify_info's
 * no_bundle names the domain.  Return 0 or -1 with err set. */
int sc_tls_material_set_trust_domain(struct sc_tls_material *m, const char *domain);
int sc_tls_material_add_bundle(struct sc_tls_material *m, const char *domain, const char *text,
                               size_t len, const char *what, struct sc_err *err);
int sc_tls_material_load_bundle(struct sc_tls_material *m, const char *domain, const char *path,
                                struct sc_err *err);
size_t sc_tls_material_n_bundles(const struct sc_tls_material *m);
/* Borrowed; NULL past the end. */
const char *sc_tls_material_bundle_domain(const struct sc_tls_material *m, size_t i);
STACK_OF(X509) * sc_tls_material_bundle_roots(const struct sc_tls_material *m, size_t i);
/* Our own trust domain, as above, into out ("-" when unknown). */
const char *sc_tls_material_own_domain(const struct sc_tls_material *m, char *out, size_t outlen);

/* Why this material cannot serve mesh traffic at all at `now`, written
 * into out: "no valid leaf: ..." (the leaf expired or is not yet valid) or
 * "no valid root CA left: root CA <subject> expired at <time>, ..." (every
 * root of the bundle is outside its validity).  NULL when it can serve: an
 * expired root beside a valid one is not a problem here. */
const char *sc_tls_material_problem(const struct sc_tls_material *m, time_t now, char *out,
                                    size_t outlen);
/* Material is shared by the snapshots built from it (a config reload keeps
 * the certificates): _ref adds a reference, _free drops one. */
struct sc_tls_material *sc_tls_material_ref(struct sc_tls_material *m);
void sc_tls_material_free(struct sc_tls_material *m);

/* Borrowed views. */
X509 *sc_tls_material_leaf(const struct sc_tls_material *m);
STACK_OF(X509) * sc_tls_material_roots(const struct sc_tls_material *m);
STACK_OF(X509) * sc_tls_material_chain(const struct sc_tls_material *m);

/* The private key (borrowed). */
EVP_PKEY *sc_tls_material_key(const struct sc_tls_material *m);

/* Reads a whole (small: at most 1 MiB) PEM file into a new NUL-terminated
 * buffer the caller frees, its length in *len; NULL with err set. */
char *sc_tls_material_read_file(const char *path, size_t *len, struct sc_err *err);

/* An ex_data free callback (CRYPTO_EX_free) for a malloc'd value that goes
 * with its SSL or SSL_SESSION: tlsverify's and tlssession's records. */
void sc_tls_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp);

#endif
