#include "bundle.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "x509.h"

#define BUNDLE_CERT_MAX (64 * 1024)

/* One base64 DER certificate (an x5c entry) into a certificate. */
static X509 *decode_x5c(const char *b64)
{
    size_t n = strlen(b64);
    unsigned char *der;
    const unsigned char *p;
    X509 *cert = NULL;
    int len;

    if (n == 0 || n > BUNDLE_CERT_MAX || n % 4 != 0) {
        return NULL;
    }
    der = malloc(n / 4 * 3 + 1);
    if (der == NULL) {
        return NULL;
    }
    len = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)n);
    if (len > 0) {
        /* EVP_DecodeBlock counts the '=' padding as zero bytes. */
        len -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
        p = der;
        cert = d2i_X509(NULL, &p, len);
        if (cert != NULL && p != der + len) {
            X509_free(cert); /* trailing bytes: not one certificate */
            cert = NULL;
        }
    }
    free(der);
    return cert;
}

static STACK_OF(X509) *
    parse_json(const char *text, size_t len, const char *what, struct sc_err *err)
{
    char why[128];
    struct sc_json *doc = sc_json_parse(text, len, why, sizeof(why));
    const struct sc_json_val *keys;
    STACK_OF(X509) *sk = NULL;

    if (doc == NULL) {
        sc_err_set(err, "%s: not a SPIFFE bundle: %s", what, why);
        return NULL;
    }
    keys = sc_json_get(sc_json_root(doc), "keys");
    if (sc_json_type(keys) != SC_JSON_ARR) {
        sc_err_set(err, "%s: not a SPIFFE bundle: no \"keys\" array", what);
        goto fail;
    }
    sk = sk_X509_new_null();
    if (sk == NULL) {
        sc_err_set(err, "%s: out of memory", what);
        goto fail;
    }
    for (size_t i = 0; i < sc_json_len(keys); i++) {
        const struct sc_json_val *k = sc_json_at(keys, i);
        const struct sc_json_val *x5c = sc_json_get(k, "x5c");
        const char *b64;
        X509 *cert;

        if (strcmp(sc_json_str(sc_json_get(k, "use"), ""), "x509-svid") != 0) {
            continue;
        }
        b64 = sc_json_str(sc_json_at(x5c, 0), NULL);
        if (b64 == NULL) {
            sc_err_set(err, "%s: keys[%zu]: an x509-svid key needs an x5c certificate", what, i);
            goto fail;
        }
        cert = decode_x5c(b64);
        if (cert == NULL) {
            sc_err_set(err, "%s: keys[%zu].x5c[0]: not a base64 DER certificate", what, i);
            goto fail;
        }
        if (sk_X509_push(sk, cert) == 0) {
            X509_free(cert);
            sc_err_set(err, "%s: out of memory", what);
            goto fail;
        }
    }
    if (sk_X509_num(sk) == 0) {
        sc_err_set(err, "%s: SPIFFE bundle has no x509-svid key", what);
        goto fail;
    }
    sc_json_free(doc);
    return sk;

fail:
    sc_x509_stack_free(sk);
    sc_json_free(doc);
    return NULL;
}

STACK_OF(X509) * sc_bundle_parse(const char *text, size_t len, const char *what, struct sc_err *err)
{
    size_t i = 0;

    while (i < len && strchr(" \t\r\n", text[i]) != NULL && text[i] != '\0') {
        i++;
    }
    if (i < len && text[i] == '{') {
        return parse_json(text, len, what, err);
    }
    return sc_x509_load_pem_mem(text, len, what, err);
}
