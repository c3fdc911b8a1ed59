#include "tlsverify.h"

#include <openssl/x509.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crl.h"
#include "spiffe.h"
#include "tlsmaterial.h"
#include "x509.h"

static int verify_idx = -1;
static int grace_idx = -1; /* SSL: the sc_tls_root_grace it accepted */
static int grace_ctx_idx = -1; /* SSL_CTX: the grace, in seconds (0: refuse) */
static pthread_once_t verify_once = PTHREAD_ONCE_INIT;

static void verify_index_init(void)
{
    verify_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, sc_tls_ex_free);
    grace_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, sc_tls_ex_free);
    grace_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
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

    if (m == NULL || sc_tls_material_n_bundles(m) == 0 || leaf == NULL ||
        sc_x509_spiffe_id(leaf, id, sizeof(id)) != 0 ||
        sc_spiffe_parse(id, strlen(id), &sid) != 0 ||
        strcmp(sid.trust_domain, sc_tls_material_own_domain(m, own, sizeof(own))) == 0) {
        return X509_verify_cert(xs);
    }
    for (i = 0; i < sc_tls_material_n_bundles(m); i++) {
        if (strcmp(sc_tls_material_bundle_domain(m, i), sid.trust_domain) == 0) {
            roots = sc_tls_material_bundle_roots(m, i);
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

int sc_tls_verify_attach(SSL_CTX *ctx, const struct sc_tls_material *m, struct sc_err *err)
{
    pthread_once(&verify_once, verify_index_init);
    if (m == NULL) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
        return 0;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
    if (sc_tls_material_n_bundles(m) > 0) {
        /* The context keeps the material its callback reads. */
        struct sc_tls_material *held = sc_tls_material_ref((struct sc_tls_material *)(uintptr_t)m);

        pthread_once(&material_once, material_index_init);
        if (material_idx < 0 || SSL_CTX_set_ex_data(ctx, material_idx, held) != 1) {
            sc_tls_material_free(held);
            sc_err_set(err, "out of memory");
            return -1;
        }
        SSL_CTX_set_cert_verify_callback(ctx, cert_verify_cb, held);
    }
    return 0;
}
