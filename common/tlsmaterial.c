#include "tlsmaterial.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "crl.h"
#include "readfile.h"
#include "spiffe.h"
#include "x509.h"

struct sc_tls_material {
    int refs;
    EVP_PKEY *key;
    STACK_OF(X509) * chain; /* leaf first */
    STACK_OF(X509) * roots;
    STACK_OF(X509_CRL) * crls; /* NULL: no revocation checking */
    char own_domain[256]; /* "": the trust domain of our own leaf */
    struct sc_trust_bundle *bundles; /* federated trust domains */
    size_t n_bundles;
};

struct sc_trust_bundle {
    char domain[256];
    STACK_OF(X509) * roots;
};

#define PEM_FILE_MAX (1 << 20)

char *sc_tls_material_read_file(const char *path, size_t *len, struct sc_err *err)
{
    char *buf = NULL;

    if (sc_read_file(path, PEM_FILE_MAX, 0, &buf, len) != 0) {
        sc_err_set(err, "cannot read %s: %s", path,
                   errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
        return NULL;
    }
    return buf;
}

static EVP_PKEY *parse_key(const char *pem, size_t len, const char *what, struct sc_err *err)
{
    EVP_PKEY *k = NULL;
    BIO *b = BIO_new_mem_buf(pem, (int)len);

    if (b != NULL) {
        k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        BIO_free(b);
    }
    if (k == NULL) {
        ERR_clear_error();
        sc_err_set(err, "%s: no PEM private key found", what);
    }
    return k;
}

/* The chain must lead from the leaf to one of the roots.  Times are not
 * checked here: the leaf's are checked by the caller with a clear message,
 * and an expired root is reported (readiness, /certs, logs) rather than
 * refused, so an operator sees it instead of a sidecar with no secrets. */
static int verify_chain(const struct sc_tls_material *m, const char *what, struct sc_err *err)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int rc = -1;

    if (store == NULL || ctx == NULL || untrusted == NULL) {
        sc_err_set(err, "out of memory");
        goto out;
    }
    for (int i = 0; i < sk_X509_num(m->roots); i++) {
        X509_STORE_add_cert(store, sk_X509_value(m->roots, i));
    }
    ERR_clear_error();
    for (int i = 1; i < sk_X509_num(m->chain); i++) {
        sk_X509_push(untrusted, sk_X509_value(m->chain, i));
    }
    if (X509_STORE_CTX_init(ctx, store, sk_X509_value(m->chain, 0), untrusted) != 1) {
        sc_err_tls(err, "X509_STORE_CTX_init");
        goto out;
    }
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
    if (X509_verify_cert(ctx) != 1) {
        char issuer[256];
        int e = X509_STORE_CTX_get_error(ctx);

        sc_x509_name_str(X509_get_issuer_name(sk_X509_value(m->chain, 0)), issuer, sizeof(issuer));
        sc_err_set(err,
                   "%s: certificate chain does not lead to any of the %d trusted root(s) "
                   "(issuer %s): %s",
                   what, sk_X509_num(m->roots), issuer, X509_verify_cert_error_string(e));
        ERR_clear_error();
        goto out;
    }
    rc = 0;
out:
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

struct sc_tls_material *sc_tls_material_from_pem(const char *chain, size_t chain_len,
                                                 const char *key, size_t key_len, const char *ca,
                                                 size_t ca_len, const struct sc_tls_names *names,
                                                 time_t now, struct sc_err *err)
{
    struct sc_tls_material *m = calloc(1, sizeof(*m));
    X509 *leaf;
    char t[32];

    if (m == NULL) {
        sc_err_set(err, "out of memory");
        return NULL;
    }
    m->refs = 1;
    m->chain = sc_x509_load_pem_mem(chain, chain_len, names->chain, err);
    if (m->chain == NULL) {
        goto fail;
    }
    m->key = parse_key(key, key_len, names->key, err);
    if (m->key == NULL) {
        goto fail;
    }
    leaf = sk_X509_value(m->chain, 0);
    if (X509_check_private_key(leaf, m->key) != 1) {
        ERR_clear_error();
        sc_err_set(err, "%s: key does not match the certificate in %s", names->key, names->chain);
        goto fail;
    }
    m->roots = sc_x509_load_pem_mem(ca, ca_len, names->ca, err);
    if (m->roots == NULL) {
        goto fail;
    }
    if (now != 0 && sc_x509_not_after(leaf) <= now) {
        sc_err_set(err, "%s: certificate expired at %s", names->chain,
                   sc_time_rfc3339(sc_x509_not_after(leaf), t, sizeof(t)));
        goto fail;
    }
    if (now != 0 && sc_x509_not_before(leaf) > now) {
        sc_err_set(err, "%s: certificate is not valid before %s", names->chain,
                   sc_time_rfc3339(sc_x509_not_before(leaf), t, sizeof(t)));
        goto fail;
    }
    if (verify_chain(m, names->chain, err) != 0) {
        goto fail;
    }
    return m;

fail:
    sc_tls_material_free(m);
    return NULL;
}

struct sc_tls_material *sc_tls_material_load(const char *chain_path, const char *key_path,
                                             const char *ca_path, time_t now, struct sc_err *err)
{
    struct sc_tls_names names = {chain_path, key_path, ca_path};
    struct sc_tls_material *m = NULL;
    char *chain = NULL, *key = NULL, *ca = NULL;
    size_t chain_len = 0, key_len = 0, ca_len = 0;

    chain = sc_tls_material_read_file(chain_path, &chain_len, err);
    if (chain == NULL) {
        goto out;
    }
    key = sc_tls_material_read_file(key_path, &key_len, err);
    if (key == NULL) {
        goto out;
    }
    ca = sc_tls_material_read_file(ca_path, &ca_len, err);
    if (ca == NULL) {
        goto out;
    }
    m = sc_tls_material_from_pem(chain, chain_len, key, key_len, ca, ca_len, &names, now, err);
out:
    if (key != NULL) {
        OPENSSL_cleanse(key, key_len);
    }
    free(chain);
    free(key);
    free(ca);
    return m;
}

struct sc_tls_material *sc_tls_material_ref(struct sc_tls_material *m)
{
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
    return m;
}

void sc_tls_material_free(struct sc_tls_material *m)
{
    if (m == NULL) {
        return;
    }
    if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) > 0) {
        return;
    }
    EVP_PKEY_free(m->key);
    sc_x509_stack_free(m->chain);
    sc_x509_stack_free(m->roots);
    sc_crl_stack_free(m->crls);
    for (size_t i = 0; i < m->n_bundles; i++) {
        sc_x509_stack_free(m->bundles[i].roots);
    }
    free(m->bundles);
    free(m);
}

int sc_tls_material_set_trust_domain(struct sc_tls_material *m, const char *domain)
{
    if (domain == NULL || strlen(domain) >= sizeof(m->own_domain)) {
        return -1;
    }
    snprintf(m->own_domain, sizeof(m->own_domain), "%s", domain);
    return 0;
}

int sc_tls_material_add_bundle(struct sc_tls_material *m, const char *domain, const char *text,
                               size_t len, const char *what, struct sc_err *err)
{
    STACK_OF(X509) * roots;
    struct sc_trust_bundle *nb;

    if (strlen(domain) >= sizeof(nb->domain)) {
        sc_err_set(err, "%s: trust domain name too long", what);
        return -1;
    }
    roots = sc_bundle_parse(text, len, what, err);
    if (roots == NULL) {
        return -1;
    }
    nb = realloc(m->bundles, (m->n_bundles + 1) * sizeof(*nb));
    if (nb == NULL) {
        sc_x509_stack_free(roots);
        sc_err_set(err, "%s: out of memory", what);
        return -1;
    }
    m->bundles = nb;
    snprintf(nb[m->n_bundles].domain, sizeof(nb->domain), "%s", domain);
    nb[m->n_bundles].roots = roots;
    m->n_bundles++;
    return 0;
}

int sc_tls_material_load_bundle(struct sc_tls_material *m, const char *domain, const char *path,
                                struct sc_err *err)
{
    size_t len = 0;
    char *text = sc_tls_material_read_file(path, &len, err);
    int rc;

    if (text == NULL) {
        return -1;
    }
    rc = sc_tls_material_add_bundle(m, domain, text, len, path, err);
    free(text);
    return rc;
}

size_t sc_tls_material_n_bundles(const struct sc_tls_material *m)
{
    return m->n_bundles;
}

const char *sc_tls_material_bundle_domain(const struct sc_tls_material *m, size_t i)
{
    return i < m->n_bundles ? m->bundles[i].domain : NULL;
}

STACK_OF(X509) * sc_tls_material_bundle_roots(const struct sc_tls_material *m, size_t i)
{
    return i < m->n_bundles ? m->bundles[i].roots : NULL;
}

const char *sc_tls_material_own_domain(const struct sc_tls_material *m, char *out, size_t outlen)
{
    char id[2048];
    struct sc_spiffe_id sid;

    if (m->own_domain[0] != '\0') {
        snprintf(out, outlen, "%s", m->own_domain);
    } else if (sc_x509_spiffe_id(sk_X509_value(m->chain, 0), id, sizeof(id)) == 0 &&
               sc_spiffe_parse(id, strlen(id), &sid) == 0) {
        snprintf(out, outlen, "%s", sid.trust_domain);
    } else {
        snprintf(out, outlen, "-");
    }
    return out;
}

/* A CRL may be signed by one of our roots or by an intermediate of our own
 * chain (which verify_chain has already led to a root). */
static int set_crls(struct sc_tls_material *m, STACK_OF(X509_CRL) * crls, const char *what,
                    struct sc_err *err)
{
    STACK_OF(X509) *ints = sk_X509_new_null();
    int rc;

    if (ints == NULL) {
        sc_err_set(err, "out of memory");
        sc_crl_stack_free(crls);
        return -1;
    }
    for (int i = 1; i < sk_X509_num(m->chain); i++) {
        sk_X509_push(ints, sk_X509_value(m->chain, i));
    }
    rc = sc_crl_verify(crls, m->roots, ints, what, err);
    sk_X509_free(ints);
    if (rc != 0) {
        sc_crl_stack_free(crls);
        return -1;
    }
    sc_crl_stack_free(m->crls);
    m->crls = crls;
    return 0;
}

int sc_tls_material_set_crls(struct sc_tls_material *m, const char *pem, size_t len,
                             const char *what, struct sc_err *err)
{
    STACK_OF(X509_CRL) *crls = sc_crl_load_pem_mem(pem, len, what, err);

    return crls != NULL ? set_crls(m, crls, what, err) : -1;
}

int sc_tls_material_load_crls(struct sc_tls_material *m, const char *path, struct sc_err *err)
{
    size_t len = 0;
    char *pem = sc_tls_material_read_file(path, &len, err);
    int rc;

    if (pem == NULL) {
        return -1;
    }
    rc = sc_tls_material_set_crls(m, pem, len, path, err);
    free(pem);
    return rc;
}

STACK_OF(X509_CRL) * sc_tls_material_crls(const struct sc_tls_material *m)
{
    return m->crls;
}

X509 *sc_tls_material_leaf(const struct sc_tls_material *m)
{
    return sk_X509_value(m->chain, 0);
}

STACK_OF(X509) * sc_tls_material_roots(const struct sc_tls_material *m)
{
    return m->roots;
}

STACK_OF(X509) * sc_tls_material_chain(const struct sc_tls_material *m)
{
    return m->chain;
}

const char *sc_tls_material_problem(const struct sc_tls_material *m, time_t now, char *out,
                                    size_t outlen)
{
    X509 *leaf = sk_X509_value(m->chain, 0);
    size_t used;
    char t[32];

    if (sc_x509_not_after(leaf) <= now) {
        snprintf(out, outlen, "no valid leaf: workload certificate expired at %s",
                 sc_time_rfc3339(sc_x509_not_after(leaf), t, sizeof(t)));
        return out;
    }
    if (sc_x509_not_before(leaf) > now) {
        snprintf(out, outlen, "no valid leaf: workload certificate is not valid before %s",
                 sc_time_rfc3339(sc_x509_not_before(leaf), t, sizeof(t)));
        return out;
    }
    /* One valid root is enough to serve: an expired one beside it is
     * reported (log, /certs, the gauge), not a readiness failure. */
    for (int i = 0; i < sk_X509_num(m->roots); i++) {
        X509 *r = sk_X509_value(m->roots, i);

        if (sc_x509_not_before(r) <= now && sc_x509_not_after(r) > now) {
            return NULL;
        }
    }
    used = (size_t)snprintf(out, outlen, "no valid root CA left:");
    for (int i = 0; i < sk_X509_num(m->roots) && used < outlen; i++) {
        X509 *r = sk_X509_value(m->roots, i);
        int expired = sc_x509_not_after(r) <= now;
        char subj[256];

        sc_x509_name_str(X509_get_subject_name(r), subj, sizeof(subj));
        used += (size_t)snprintf(
            out + used, outlen - used, "%s root CA %s %s %s", i > 0 ? "," : "", subj,
            expired ? "expired at" : "is not valid before",
            sc_time_rfc3339(expired ? sc_x509_not_after(r) : sc_x509_not_before(r), t, sizeof(t)));
    }
    return out;
}

EVP_PKEY *sc_tls_material_key(const struct sc_tls_material *m)
{
    return m->key;
}

void sc_tls_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}
