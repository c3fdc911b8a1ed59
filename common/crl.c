#include "crl.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>

#include "x509.h"

static STACK_OF(X509_CRL) * load_bio(BIO *b, const char *what, struct sc_err *err)
{
    STACK_OF(X509_CRL) *sk = sk_X509_CRL_new_null();
    X509_CRL *crl;
    unsigned long e;

    if (sk == NULL) {
        sc_err_set(err, "%s: out of memory", what);
        return NULL;
    }
    ERR_clear_error();
    while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_CRL_push(sk, crl) <= 0) {
            X509_CRL_free(crl);
            sc_err_set(err, "%s: out of memory", what);
            goto fail;
        }
    }
    e = ERR_peek_last_error();
    ERR_clear_error();
    if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
        sc_err_set(err, "%s: CRL %d does not parse: %s", what, sk_X509_CRL_num(sk) + 1,
                   ERR_reason_error_string(e) != NULL ? ERR_reason_error_string(e) : "?");
        goto fail;
    }
    if (sk_X509_CRL_num(sk) == 0) {
        sc_err_set(err, "%s: no PEM CRL found", what);
        goto fail;
    }
    return sk;

fail:
    sc_crl_stack_free(sk);
    return NULL;
}

STACK_OF(X509_CRL) *
    sc_crl_load_pem_mem(const char *pem, size_t len, const char *what, struct sc_err *err)
{
    STACK_OF(X509_CRL) * sk;
    BIO *b = BIO_new_mem_buf(pem, (int)len);

    if (b == NULL) {
        sc_err_set(err, "%s: out of memory", what);
        return NULL;
    }
    sk = load_bio(b, what, err);
    BIO_free(b);
    return sk;
}

/* 1 when one certificate of sk is the CRL's issuer and its key signed it. */
static int signed_by_one_of(X509_CRL *crl, STACK_OF(X509) * sk)
{
    for (int i = 0; sk != NULL && i < sk_X509_num(sk); i++) {
        X509 *c = sk_X509_value(sk, i);
        EVP_PKEY *k;

        if (X509_NAME_cmp(X509_get_subject_name(c), X509_CRL_get_issuer(crl)) != 0) {
            continue;
        }
        k = X509_get0_pubkey(c);
        if (k != NULL && X509_CRL_verify(crl, k) == 1) {
            return 1;
        }
        ERR_clear_error();
    }
    return 0;
}

int sc_crl_verify(STACK_OF(X509_CRL) * crls, STACK_OF(X509) * roots, STACK_OF(X509) * more,
                  const char *what, struct sc_err *err)
{
    for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(crls, i);
        char issuer[256];

        if (signed_by_one_of(crl, roots) || signed_by_one_of(crl, more)) {
            continue;
        }
        sc_crl_issuer_str(crl, issuer, sizeof(issuer));
        sc_err_set(err, "%s: CRL %d (issuer %s) is not signed by any trusted CA", what, i + 1,
                   issuer);
        return -1;
    }
    return 0;
}

const char *sc_crl_issuer_str(const X509_CRL *crl, char *out, size_t outlen)
{
    if (sc_x509_name_str(X509_CRL_get_issuer(crl), out, outlen) == 0) {
        snprintf(out, outlen, "-");
    }
    return out;
}

time_t sc_crl_next_update(const X509_CRL *crl)
{
    return sc_x509_time(X509_CRL_get0_nextUpdate(crl));
}

const char *sc_crl_problem(STACK_OF(X509_CRL) * crls, time_t now, int *from, char *out,
                           size_t outlen)
{
    for (int i = *from; i < sk_X509_CRL_num(crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(crls, i);
        time_t next = sc_crl_next_update(crl);
        time_t last = sc_x509_time(X509_CRL_get0_lastUpdate(crl));
        char issuer[256], t[32];

        *from = i + 1;
        if (next != 0 && next <= now) {
            snprintf(out, outlen, "CRL of %s is past its next update %s",
                     sc_crl_issuer_str(crl, issuer, sizeof(issuer)),
                     sc_time_rfc3339(next, t, sizeof(t)));
            return out;
        }
        if (last > now) {
            snprintf(out, outlen, "CRL of %s is not valid before %s",
                     sc_crl_issuer_str(crl, issuer, sizeof(issuer)),
                     sc_time_rfc3339(last, t, sizeof(t)));
            return out;
        }
    }
    *from = sk_X509_CRL_num(crls);
    return NULL;
}

const char *sc_crl_fingerprint(STACK_OF(X509_CRL) * crls, char *out, size_t outlen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char all[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    size_t used = 0;

    out[0] = '\0';
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        goto out;
    }
    for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
        unsigned char one[EVP_MAX_MD_SIZE];
        unsigned int len = 0;

        if (X509_CRL_digest(sk_X509_CRL_value(crls, i), EVP_sha256(), one, &len) == 1) {
            EVP_DigestUpdate(md, one, len);
        }
    }
    if (EVP_DigestFinal_ex(md, all, &n) != 1) {
        goto out;
    }
    for (unsigned int j = 0; j < n && j < 12 && used + 3 <= outlen; j++) {
        used += (size_t)snprintf(out + used, outlen - used, "%02x", all[j]);
    }
out:
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    return out;
}

int sc_crl_install(X509_STORE *store, STACK_OF(X509_CRL) * crls, struct sc_err *err)
{
    if (crls == NULL || sk_X509_CRL_num(crls) == 0) {
        return 0;
    }
    for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
        if (X509_STORE_add_crl(store, sk_X509_CRL_value(crls, i)) != 1) {
            unsigned long e = ERR_peek_last_error();

            if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
                sc_err_tls(err, "CRL");
                return -1;
            }
            ERR_clear_error();
        }
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return 0;
}

void sc_crl_stack_free(STACK_OF(X509_CRL) * crls)
{
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
}
