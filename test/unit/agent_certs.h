/* Test helpers for the agent's unit tests: throw-away CAs made with the
 * OpenSSL API in a temporary directory (nothing is committed).  Static
 * functions; include from one test file each. */
#ifndef SC_TEST_AGENT_CERTS_H
#define SC_TEST_AGENT_CERTS_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static EVP_PKEY *tc_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");

    ck_assert_ptr_nonnull(k);
    return k;
}

static void tc_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *e;

    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    ck_assert_ptr_nonnull(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* A certificate for key, signed by issuer/ikey (self-signed when issuer is
 * NULL), valid from now+from_s to now+to_s.  is_ca: CA:TRUE. */
static X509 *tc_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, const char *cn, int is_ca,
                     long from_s, long to_s)
{
    X509 *x = X509_new();
    static long serial = 1000;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer)
                                           : X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), from_s);
    X509_gmtime_adj(X509_getm_notAfter(x), to_s);
    X509_set_pubkey(x, key);
    tc_ext(x, issuer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    tc_ext(x, issuer, NID_key_usage, is_ca ? "critical,keyCertSign,cRLSign"
                                           : "critical,digitalSignature");
    tc_ext(x, issuer, NID_subject_key_identifier, "hash");
    ck_assert_int_gt(X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()), 0);
    return x;
}

static void tc_write(const char *dir, const char *name, X509 *const *certs, size_t n,
                     EVP_PKEY *key)
{
    char path[4096];
    FILE *f;
    size_t i;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (i = 0; i < n; i++) {
        PEM_write_X509(f, certs[i]);
    }
    if (key != NULL) {
        PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    }
    fclose(f);
}

static void tc_write_str(const char *dir, const char *name, const char *s, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fwrite(s, 1, len, f);
    fclose(f);
}

static char *tc_tmpdir(void)
{
    char *d = strdup("/tmp/sc-agent-test.XXXXXX");

    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static void tc_rmdir(char *d)
{
    char cmd[4200];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
    free(d);
}

/* A CA in dir with Istio's cacerts layout.  with_int: root -> intermediate
 * (the intermediate signs); else the root signs.  Returns the root (caller
 * frees). */
static X509 *tc_cacerts(const char *dir, const char *name, int with_int)
{
    EVP_PKEY *rk = tc_key();
    char cn[128];
    X509 *root;

    snprintf(cn, sizeof(cn), "%s-root", name);
    root = tc_cert(rk, NULL, NULL, cn, 1, -3600, 86400L * 365);
    tc_write(dir, "root-cert.pem", &root, 1, NULL);
    if (with_int) {
        EVP_PKEY *ik = tc_key();
        X509 *inter;

        snprintf(cn, sizeof(cn), "%s-int", name);
        inter = tc_cert(ik, root, rk, cn, 1, -3600, 86400L * 365);
        tc_write(dir, "ca-cert.pem", &inter, 1, NULL);
        tc_write(dir, "ca-key.pem", NULL, 0, ik);
        {
            X509 *chain[2] = {inter, root};

            tc_write(dir, "cert-chain.pem", chain, 2, NULL);
        }
        X509_free(inter);
        EVP_PKEY_free(ik);
    } else {
        tc_write(dir, "ca-cert.pem", &root, 1, NULL);
        tc_write(dir, "ca-key.pem", NULL, 0, rk);
        tc_write(dir, "cert-chain.pem", &root, 1, NULL);
    }
    EVP_PKEY_free(rk);
    return root;
}

#endif
