#include "tlsctx.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "crl.h"
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

const unsigned char sc_alpn_mesh_tcp[] = "\x05istio";
const unsigned int sc_alpn_mesh_tcp_len = 6;
const unsigned char sc_alpn_mesh_http[] = "\x0eistio-http/1.1\x05istio\x08http/1.1";
const unsigned int sc_alpn_mesh_http_len = 15 + 6 + 9;

/* TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only. */
static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

#define PEM_FILE_MAX (1 << 20)

/* Reads a whole (small) PEM file into a new NUL-terminated buffer. */
static char *read_file(const char *path, size_t *len, struct sc_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (f == NULL) {
        sc_err_set(err, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(PEM_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        sc_err_set(err, "out of memory");
        return NULL;
    }
    n = fread(buf, 1, PEM_FILE_MAX + 1, f);
    if (ferror(f) || n > PEM_FILE_MAX) {
        sc_err_set(err, "cannot read %s: %s", path,
                   n > PEM_FILE_MAX ? "larger than 1 MiB" : strerror(errno));
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
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

    chain = read_file(chain_path, &chain_len, err);
    if (chain == NULL) {
        goto out;
    }
    key = read_file(key_path, &key_len, err);
    if (key == NULL) {
        goto out;
    }
    ca = read_file(ca_path, &ca_len, err);
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
    char *text = read_file(path, &len, err);
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
    char *pem = read_file(path, &len, err);
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

/* Server side: pick a mesh ALPN the client offered, preferring the client's
 * order; without one, no ALPN is negotiated (plain TLS still works). */
static int hbone_idx = -1; /* SSL: accepted on an HBONE listener */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned int i = 0;
    int hbone = hbone_idx >= 0 && SSL_get_ex_data(ssl, hbone_idx) != NULL;

    (void)arg;
    while (i < inlen) {
        unsigned int l = in[i];
        const unsigned char *p = in + i + 1;

        if (i + 1 + l > inlen) {
            break;
        }
        if (hbone) {
            /* HBONE is HTTP/2: h2 or nothing */
            if (l == 2 && memcmp(p, "h2", 2) == 0) {
                *out = p;
                *outlen = 2;
                return SSL_TLSEXT_ERR_OK;
            }
        } else if ((l == 5 && memcmp(p, "istio", 5) == 0) ||
                   (l == 14 && memcmp(p, "istio-http/1.1", 14) == 0) ||
                   (l == 14 && memcmp(p, "istio-http/1.0", 14) == 0) ||
                   (l == 8 && memcmp(p, "istio-h2", 8) == 0) ||
                   (l == 8 && memcmp(p, "http/1.1", 8) == 0)) {
            *out = p;
            *outlen = (unsigned char)l;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + l;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static int verify_idx = -1;
static int grace_idx = -1; /* SSL: the sc_tls_root_grace it accepted */
static int grace_ctx_idx = -1; /* SSL_CTX: the grace, in seconds (0: refuse) */
static pthread_once_t verify_once = PTHREAD_ONCE_INIT;

/* Frees a malloc'd ex_data value with its SSL or SSL_SESSION. */
static void ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

static void verify_index_init(void)
{
    verify_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, ex_free);
    grace_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, ex_free);
    grace_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    hbone_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

void sc_tlsctx_set_root_grace(SSL_CTX *ctx, long seconds)
{
    pthread_once(&verify_once, verify_index_init);
    if (grace_ctx_idx >= 0) {
        SSL_CTX_set_ex_data(ctx, grace_ctx_idx, (void *)(intptr_t)(seconds > 0 ? seconds : 0));
    }
}

/* Whether the certificate OpenSSL is complaining about is the trust anchor
 * of the chain being verified (its last element, from the store). */
static int is_anchor(X509_STORE_CTX *xs, int depth)
{
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(xs);

    return chain != NULL && depth == sk_X509_num(chain) - 1 &&
           X509_STORE_CTX_get_num_untrusted(xs) <= depth;
}

/* secrets.on_root_expiry {grace_hours: N}: an expired trust anchor is
 * accepted for N hours after its notAfter; the acceptance is recorded on
 * the SSL for the caller to count and log.  Returns 1 when accepted. */
static int root_grace(SSL *ssl, X509_STORE_CTX *xs, X509 *cert, int depth)
{
    long grace = grace_ctx_idx >= 0
                     ? (long)(intptr_t)SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), grace_ctx_idx)
                     : 0;
    time_t na, now = time(NULL);
    struct sc_tls_root_grace *g;

    if (grace <= 0 || cert == NULL || !is_anchor(xs, depth)) {
        return 0;
    }
    na = sc_x509_not_after(cert);
    if (na > now || now - na >= grace) {
        return 0;
    }
    if (SSL_get_ex_data(ssl, grace_idx) == NULL) {
        g = calloc(1, sizeof(*g));
        if (g == NULL) {
            return 0;
        }
        sc_x509_name_str(X509_get_subject_name(cert), g->subject, sizeof(g->subject));
        sc_x509_serial_hex(cert, g->serial, sizeof(g->serial));
        g->not_after = na;
        g->grace_hours = (int)(grace / 3600);
        if (SSL_set_ex_data(ssl, grace_idx, g) != 1) {
            free(g);
            return 0;
        }
    }
    X509_STORE_CTX_set_error(xs, X509_V_OK);
    return 1;
}

int sc_tls_root_grace_get(const SSL *ssl, struct sc_tls_root_grace *out)
{
    const struct sc_tls_root_grace *g = grace_idx >= 0 ? SSL_get_ex_data(ssl, grace_idx) : NULL;

    if (g == NULL) {
        return -1;
    }
    *out = *g;
    return 0;
}

/* Keeps OpenSSL's verdict and records the first failure for the log, with
 * three exceptions for revocation: an issuer with no CRL is not checked (a
 * mesh may hold CRLs for some of its CAs only), and a CRL past its next
 * update, or not yet valid, is still used (the runtime WARNs about it; an
 * out-of-date CRL is not an outage).  A revoked certificate stays refused. */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl;
    X509 *cert;
    X509_CRL *crl;
    struct sc_tls_verify_info *vi;

    if (ok) {
        return ok;
    }
    switch (X509_STORE_CTX_get_error(xs)) {
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
        /* not a failure: SSL_get_verify_result must not report it later */
        X509_STORE_CTX_set_error(xs, X509_V_OK);
        return 1;
    default:
        break;
    }
    ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    if (ssl != NULL && X509_STORE_CTX_get_error(xs) == X509_V_ERR_CERT_HAS_EXPIRED &&
        root_grace(ssl, xs, X509_STORE_CTX_get_current_cert(xs),
                   X509_STORE_CTX_get_error_depth(xs))) {
        return 1;
    }
    if (ssl == NULL || verify_idx < 0 || SSL_get_ex_data(ssl, verify_idx) != NULL) {
        return ok;
    }
    vi = calloc(1, sizeof(*vi));
    if (vi == NULL) {
        return ok;
    }
    vi->error = X509_STORE_CTX_get_error(xs);
    vi->depth = X509_STORE_CTX_get_error_depth(xs);
    vi->anchor = is_anchor(xs, vi->depth);
    cert = X509_STORE_CTX_get_current_cert(xs);
    if (cert != NULL) {
        sc_x509_name_str(X509_get_subject_name(cert), vi->subject, sizeof(vi->subject));
        sc_x509_name_str(X509_get_issuer_name(cert), vi->issuer, sizeof(vi->issuer));
        sc_x509_serial_hex(cert, vi->serial, sizeof(vi->serial));
        sc_x509_sans_str(cert, vi->san, sizeof(vi->san));
        vi->not_before = sc_x509_not_before(cert);
        vi->not_after = sc_x509_not_after(cert);
    }
    crl = X509_STORE_CTX_get0_current_crl(xs);
    if (vi->error == X509_V_ERR_CERT_REVOKED && crl != NULL) {
        sc_crl_issuer_str(crl, vi->crl_issuer, sizeof(vi->crl_issuer));
        vi->crl_next_update = sc_crl_next_update(crl);
    }
    if (SSL_set_ex_data(ssl, verify_idx, vi) != 1) {
        free(vi);
    }
    return ok;
}

static int material_idx = -1; /* SSL_CTX: the material it trusts (a reference) */
static pthread_once_t material_once = PTHREAD_ONCE_INIT;

static void material_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                             void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    sc_tls_material_free(ptr);
}

static void material_index_init(void)
{
    material_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, material_ex_free);
}

/* The verify info of ssl, created empty when verify_cb has not made one. */
static struct sc_tls_verify_info *verify_info(SSL *ssl)
{
    struct sc_tls_verify_info *vi = SSL_get_ex_data(ssl, verify_idx);

    if (vi == NULL) {
        vi = calloc(1, sizeof(*vi));
        if (vi != NULL && SSL_set_ex_data(ssl, verify_idx, vi) != 1) {
            free(vi);
            vi = NULL;
        }
    }
    return vi;
}

/* Federated trust: the chain is verified against the roots of the trust
 * domain its leaf's SPIFFE ID names.  Ours (or a leaf without a SPIFFE ID,
 * refused later by the identity check) takes the store of the context,
 * with its CRLs; another domain only its bundle; a domain with no bundle is
 * refused here, in words. */
static int cert_verify_cb(X509_STORE_CTX *xs, void *arg)
{
    const struct sc_tls_material *m = arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct sc_tls_verify_info *vi;
    struct sc_spiffe_id sid;
    char id[2048], own[256];
    STACK_OF(X509) *roots = NULL;
    size_t i;
    int ok;

    if (m == NULL || m->n_bundles == 0 || leaf == NULL ||
        sc_x509_spiffe_id(leaf, id, sizeof(id)) != 0 ||
        sc_spiffe_parse(id, strlen(id), &sid) != 0 ||
        strcmp(sid.trust_domain, sc_tls_material_own_domain(m, own, sizeof(own))) == 0) {
        return X509_verify_cert(xs);
    }
    for (i = 0; i < m->n_bundles; i++) {
        if (strcmp(m->bundles[i].domain, sid.trust_domain) == 0) {
            roots = m->bundles[i].roots;
            break;
        }
    }
    if (roots == NULL) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
        X509_STORE_CTX_set_error_depth(xs, 0);
        X509_STORE_CTX_set_current_cert(xs, leaf);
        if (ssl != NULL && verify_idx >= 0 && (vi = verify_info(ssl)) != NULL) {
            snprintf(vi->no_bundle, sizeof(vi->no_bundle), "%s", sid.trust_domain);
            vi->error = X509_V_ERR_APPLICATION_VERIFICATION;
            vi->depth = 0;
            sc_x509_name_str(X509_get_subject_name(leaf), vi->subject, sizeof(vi->subject));
            sc_x509_name_str(X509_get_issuer_name(leaf), vi->issuer, sizeof(vi->issuer));
            sc_x509_serial_hex(leaf, vi->serial, sizeof(vi->serial));
            sc_x509_sans_str(leaf, vi->san, sizeof(vi->san));
            vi->not_before = sc_x509_not_before(leaf);
            vi->not_after = sc_x509_not_after(leaf);
        }
        return 0;
    }
    X509_STORE_CTX_set0_trusted_stack(xs, roots);
    X509_VERIFY_PARAM_clear_flags(X509_STORE_CTX_get0_param(xs),
                                  X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    ok = X509_verify_cert(xs);
    if (ssl != NULL && verify_idx >= 0) {
        vi = ok == 1 ? SSL_get_ex_data(ssl, verify_idx) : verify_info(ssl);
        if (vi != NULL) {
            snprintf(vi->domain, sizeof(vi->domain), "%s", sid.trust_domain);
            vi->domain_roots = sk_X509_num(roots);
        }
    }
    return ok;
}

int sc_tls_verify_info_get(const SSL *ssl, struct sc_tls_verify_info *out)
{
    const struct sc_tls_verify_info *vi;

    if (verify_idx < 0) {
        return -1;
    }
    vi = SSL_get_ex_data(ssl, verify_idx);
    if (vi == NULL) {
        return -1;
    }
    *out = *vi;
    return 0;
}

X509 *sc_tls_peer_root(const SSL *ssl)
{
    STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
    int n = chain != NULL ? sk_X509_num(chain) : 0;

    return n > 0 ? sk_X509_value(chain, n - 1) : NULL;
}

int sc_tls_group_known(const char *name)
{
    SSL_CTX *ctx;
    int ok;

    if (name == NULL || name[0] == '\0' || strchr(name, ':') != NULL) {
        return 0;
    }
    ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL) {
        ERR_clear_error();
        return 0;
    }
    ok = SSL_CTX_set1_groups_list(ctx, name) == 1;
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return ok;
}

/* The trust record rides on the SSL_SESSION as ex_data: OpenSSL copies it
 * through the dup callback whenever it duplicates a session (a TLS 1.3
 * ticket issued on a resumption, SSL_SESSION_dup on the client). */
static int trust_idx = -1;
static pthread_once_t trust_once = PTHREAD_ONCE_INIT;

static int trust_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                     long argl, void *argp)
{
    struct sc_tls_session_trust *copy;

    (void)to;
    (void)from;
    (void)idx;
    (void)argl;
    (void)argp;
    if (*from_d == NULL) {
        return 1;
    }
    copy = malloc(sizeof(*copy));
    if (copy != NULL) {
        memcpy(copy, *from_d, sizeof(*copy));
    }
    *from_d = copy; /* NULL on failure: the copy is simply not attributed */
    return 1;
}

static void trust_index_init(void)
{
    trust_idx = SSL_SESSION_get_ex_new_index(0, NULL, NULL, trust_dup, ex_free);
}

/* Fills t from a verified chain (leaf first, root last); -1 when empty. */
static int trust_from_chain(STACK_OF(X509) * chain, struct sc_tls_session_trust *t)
{
    int n = chain != NULL ? sk_X509_num(chain) : 0;
    X509 *root;

    if (n <= 0) {
        return -1;
    }
    root = sk_X509_value(chain, n - 1);
    memset(t, 0, sizeof(*t));
    sc_x509_serial_hex(root, t->root_serial, sizeof(t->root_serial));
    sc_x509_name_str(X509_get_subject_name(root), t->root_subject, sizeof(t->root_subject));
    t->root_not_after = sc_x509_not_after(root);
    t->leaf_not_after = sc_x509_not_after(sk_X509_value(chain, 0));
    t->chain_not_after = t->root_not_after;
    for (int i = 0; i < n; i++) {
        time_t na = sc_x509_not_after(sk_X509_value(chain, i));
        if (na < t->chain_not_after) {
            t->chain_not_after = na;
        }
    }
    return 0;
}

const struct sc_tls_session_trust *sc_tls_session_trust_get(const SSL_SESSION *sess)
{
    pthread_once(&trust_once, trust_index_init);
    if (sess == NULL || trust_idx < 0) {
        return NULL;
    }
    return SSL_SESSION_get_ex_data(sess, trust_idx);
}

int sc_tls_session_trusted(const SSL_SESSION *sess, time_t now)
{
    const struct sc_tls_session_trust *t = sc_tls_session_trust_get(sess);

    return t != NULL && t->chain_not_after > now;
}

int sc_tls_peer_trust(const SSL *ssl, struct sc_tls_session_trust *out)
{
    const struct sc_tls_session_trust *t;

    if (trust_from_chain(SSL_get0_verified_chain(ssl), out) == 0) {
        return 0;
    }
    t = sc_tls_session_trust_get(SSL_get_session(ssl));
    if (t == NULL) {
        return -1;
    }
    *out = *t;
    return 0;
}

/* Attaches the trust record to a session about to be kept (the server's
 * cache, the client's ticket): from this handshake's verified chain after a
 * full handshake; a resumption's new session already carries the original
 * one (copied by trust_dup).  Returns the record, or NULL. */
static const struct sc_tls_session_trust *trust_attach(SSL *ssl, SSL_SESSION *sess)
{
    const struct sc_tls_session_trust *have = sc_tls_session_trust_get(sess);
    struct sc_tls_session_trust *t;

    if (have != NULL || trust_idx < 0) {
        return have;
    }
    t = malloc(sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    if (trust_from_chain(SSL_get0_verified_chain(ssl), t) != 0 ||
        SSL_SESSION_set_ex_data(sess, trust_idx, t) != 1) {
        free(t);
        return NULL;
    }
    return t;
}

/* Our TLS parameters, for every context: TLS 1.2 minimum, ECDHE+AEAD suites
 * for 1.2, the key-exchange groups given (or ours), no renegotiation, no
 * compression, buffers released when idle. */
static SSL_CTX *ctx_base(const SSL_METHOD *method, uint64_t options, long mode, const char *groups,
                         struct sc_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(method);

    if (ctx == NULL) {
        sc_err_tls(err, "SSL_CTX_new");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        sc_err_tls(err, "TLS parameters");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_set1_groups_list(ctx, groups != NULL ? groups : SC_TLS_DEFAULT_GROUPS) != 1) {
        sc_err_tls(err, "tls.groups");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF | options);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_ENABLE_PARTIAL_WRITE | mode);
    return ctx;
}

static SSL_CTX *ctx_common(const struct sc_tls_material *m, int server, const char *groups,
                           struct sc_err *err)
{
    /* Send exactly the configured chain (leaf + intermediates), never the
     * root OpenSSL would otherwise add from the trust store. */
    SSL_CTX *ctx = ctx_base(server ? TLS_server_method() : TLS_client_method(),
                            SSL_OP_CIPHER_SERVER_PREFERENCE, SSL_MODE_NO_AUTO_CHAIN, groups, err);
    X509_STORE *store;

    if (ctx == NULL) {
        return NULL;
    }
    if (SSL_CTX_use_certificate(ctx, sk_X509_value(m->chain, 0)) != 1) {
        sc_err_tls(err, "certificate");
        goto fail;
    }
    for (int i = 1; i < sk_X509_num(m->chain); i++) {
        if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(m->chain, i)) != 1) {
            sc_err_tls(err, "certificate chain");
            goto fail;
        }
    }
    if (SSL_CTX_use_PrivateKey(ctx, m->key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        sc_err_tls(err, "private key");
        goto fail;
    }
    store = SSL_CTX_get_cert_store(ctx);
    for (int i = 0; i < sk_X509_num(m->roots); i++) {
        if (X509_STORE_add_cert(store, sk_X509_value(m->roots, i)) != 1) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
                sc_err_tls(err, "trust bundle");
                goto fail;
            }
            ERR_clear_error();
        }
    }
    if (sc_crl_install(store, m->crls, err) != 0) {
        goto fail;
    }
    pthread_once(&verify_once, verify_index_init);
    pthread_once(&trust_once, trust_index_init);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
    if (m->n_bundles > 0) {
        /* The context keeps the material its callback reads. */
        struct sc_tls_material *held = sc_tls_material_ref((struct sc_tls_material *)(uintptr_t)m);

        pthread_once(&material_once, material_index_init);
        if (material_idx < 0 || SSL_CTX_set_ex_data(ctx, material_idx, held) != 1) {
            sc_tls_material_free(held);
            sc_err_set(err, "out of memory");
            goto fail;
        }
        SSL_CTX_set_cert_verify_callback(ctx, cert_verify_cb, held);
    }
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* The server is about to keep a session in its cache (a ticket is being
 * issued).  The session ends when the first certificate of the peer's
 * chain (its leaf, an intermediate, the root) expires: OpenSSL does not
 * resume a timed-out session, so a ticket presented after that point gets
 * a full handshake, which verifies the chain again.  A resumption's new
 * session is capped again from its own issue time. */
static int server_new_session(SSL *ssl, SSL_SESSION *sess)
{
    const struct sc_tls_session_trust *t = trust_attach(ssl, sess);
    long limit = SSL_CTX_get_timeout(SSL_get_SSL_CTX(ssl));
    long left;

    if (t == NULL) {
        /* No verified chain to bound it by: never resumed. */
        SSL_CTX_remove_session(SSL_get_SSL_CTX(ssl), sess);
        return 0;
    }
    left = (long)(t->chain_not_after - (time_t)SSL_SESSION_get_time(sess));
    if (left <= 0) {
        SSL_CTX_remove_session(SSL_get_SSL_CTX(ssl), sess);
        return 0;
    }
    if (left < limit) {
        SSL_SESSION_set_timeout(sess, left);
    }
    return 0; /* the cache keeps its own reference */
}

SSL_CTX *sc_tlsctx_server_new(const struct sc_tls_material *m, const char *groups,
                              struct sc_err *err)
{
    static const unsigned char sid_ctx[] = "mtls-sidecar";
    SSL_CTX *ctx = ctx_common(m, 1, groups, err);

    if (ctx == NULL) {
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    SSL_CTX_sess_set_new_cb(ctx, server_new_session);
    /* One ticket per handshake is enough for a sidecar peer to resume. */
    SSL_CTX_set_num_tickets(ctx, 1);
    /* Stateful TLS 1.3 tickets: the ticket names a session kept in this
     * context's cache, so a resumption finds the decoded peer certificate
     * there instead of decoding it again from a stateless ticket (OpenSSL
     * 3.0 spends a third of a resumed handshake on that).  The cache is
     * bounded (SC_TLS_SESSION_CACHE sessions, the oldest dropped first) and
     * belongs to this snapshot's context, so a new trust bundle or leaf
     * starts with an empty one. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, SC_TLS_SESSION_CACHE);
    if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1) {
        sc_err_tls(err, "session id context");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int sink_idx = -1;
static pthread_once_t sink_once = PTHREAD_ONCE_INIT;

static void sink_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

static void sink_index_init(void)
{
    sink_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, sink_free);
}

int sc_tls_set_session_sink(SSL *ssl, struct sc_tls_session_sink *sink)
{
    pthread_once(&sink_once, sink_index_init);
    if (sink_idx < 0 || SSL_set_ex_data(ssl, sink_idx, sink) != 1) {
        free(sink);
        return -1;
    }
    return 0;
}

static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct sc_tls_session_sink *sink = sink_idx >= 0 ? SSL_get_ex_data(ssl, sink_idx) : NULL;

    if (sink == NULL || sink->put == NULL) {
        return 0; /* not kept: OpenSSL frees it */
    }
    if (trust_attach(ssl, sess) == NULL) {
        return 0; /* nothing to check it against later: not kept */
    }
    sink->put(sink, sess);
    return 1; /* the sink owns the reference now */
}

SSL_CTX *sc_tlsctx_client_new(const struct sc_tls_material *m, const char *groups,
                              struct sc_err *err)
{
    SSL_CTX *ctx = ctx_common(m, 0, groups, err);

    if (ctx == NULL) {
        return NULL;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session);
    return ctx;
}

const char *sc_tls_version_name(const SSL *ssl)
{
    return ssl != NULL ? SSL_get_version(ssl) : "-";
}

/* The CRLs of crl_file, signed by certificates of ca_file, into store. */
static int origin_crls(X509_STORE *store, const char *ca_file, const char *crl_file,
                       struct sc_err *err)
{
    STACK_OF(X509) *roots = NULL;
    STACK_OF(X509_CRL) *crls = NULL;
    char *pem = NULL;
    size_t len = 0;
    int rc = -1;

    if (ca_file == NULL) {
        sc_err_set(err, "%s: a CRL needs caCertificates to be checked against", crl_file);
        return -1;
    }
    pem = read_file(crl_file, &len, err);
    if (pem == NULL) {
        goto out;
    }
    crls = sc_crl_load_pem_mem(pem, len, crl_file, err);
    if (crls == NULL) {
        goto out;
    }
    roots = sc_x509_load_pem_file(ca_file, err);
    if (roots == NULL || sc_crl_verify(crls, roots, NULL, crl_file, err) != 0 ||
        sc_crl_install(store, crls, err) != 0) {
        goto out;
    }
    rc = 0;
out:
    sc_crl_stack_free(crls); /* the store keeps its own references */
    sc_x509_stack_free(roots);
    free(pem);
    return rc;
}

SSL_CTX *sc_tlsctx_origin_new(const char *ca_file, const char *crl_file, const char *cert_file,
                              const char *key_file, const char *groups, struct sc_err *err)
{
    SSL_CTX *ctx = ctx_base(TLS_client_method(), 0, 0, groups, err);

    if (ctx == NULL) {
        return NULL;
    }
    if (ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            sc_err_tls(err, ca_file);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        sc_err_tls(err, "default trust store");
        goto fail;
    }
    if (crl_file != NULL && origin_crls(SSL_CTX_get_cert_store(ctx), ca_file, crl_file, err) != 0) {
        goto fail;
    }
    if (cert_file != NULL && key_file != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
            sc_err_tls(err, cert_file);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            sc_err_tls(err, key_file);
            goto fail;
        }
    }
    pthread_once(&verify_once, verify_index_init);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int sc_tls_mark_hbone(SSL *ssl)
{
    static char mark;

    pthread_once(&verify_once, verify_index_init);
    return hbone_idx >= 0 && SSL_set_ex_data(ssl, hbone_idx, &mark) == 1 ? 0 : -1;
}
