/* Unit tests for common/bundle: a federated trust domain's roots from PEM
 * or a SPIFFE bundle JSON document (keys[].x5c, x509-svid keys only). */

#include <check.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "x509.h"

static X509 *make_ca(const char *cn)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *n;

    ck_assert_ptr_nonnull(k);
    ck_assert_ptr_nonnull(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    ck_assert_int_gt(X509_sign(x, k, EVP_sha256()), 0);
    EVP_PKEY_free(k);
    return x;
}

/* base64 of x's DER, plus `extra` zero bytes after it (0: none). */
static char *b64_der(X509 *x, int extra)
{
    unsigned char *der = NULL, *buf;
    int len = i2d_X509(x, &der);
    char *out;

    ck_assert_int_gt(len, 0);
    buf = calloc(1, (size_t)len + (size_t)extra);
    memcpy(buf, der, (size_t)len);
    out = malloc(((size_t)len + (size_t)extra) / 3 * 4 + 8);
    EVP_EncodeBlock((unsigned char *)out, buf, len + extra);
    OPENSSL_free(der);
    free(buf);
    return out;
}

static char *pem_of(X509 *a, X509 *b)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p, *out;
    long n;

    PEM_write_bio_X509(bio, a);
    if (b != NULL) {
        PEM_write_bio_X509(bio, b);
    }
    n = BIO_get_mem_data(bio, &p);
    out = strndup(p, (size_t)n);
    BIO_free(bio);
    return out;
}

static STACK_OF(X509) * parse(const char *text, struct sc_err *err)
{
    memset(err, 0, sizeof(*err));
    return sc_bundle_parse(text, strlen(text), "b.json", err);
}

START_TEST(test_bundle_pem_gives_every_certificate)
{
    X509 *a = make_ca("a"), *b = make_ca("b");
    char *pem = pem_of(a, b);
    struct sc_err err;
    STACK_OF(X509) *sk = parse(pem, &err);

    ck_assert_ptr_nonnull(sk);
    ck_assert_int_eq(sk_X509_num(sk), 2);
    ck_assert_int_eq(X509_cmp(sk_X509_value(sk, 0), a), 0);
    ck_assert_int_eq(X509_cmp(sk_X509_value(sk, 1), b), 0);
    sc_x509_stack_free(sk);
    free(pem);
    X509_free(a);
    X509_free(b);
}
END_TEST

START_TEST(test_bundle_json_takes_x509_svid_keys_only)
{
    X509 *a = make_ca("a"), *b = make_ca("b");
    char *da = b64_der(a, 0), *db = b64_der(b, 0);
    char doc[8192];
    struct sc_err err;
    STACK_OF(X509) * sk;

    snprintf(doc, sizeof(doc),
             "  \n{\"spiffe_sequence\": 3, \"spiffe_refresh_hint\": 60, \"keys\": ["
             "{\"use\": \"jwt-svid\", \"kty\": \"EC\", \"kid\": \"k\", \"x5c\": [\"%s\"]},"
             "{\"use\": \"x509-svid\", \"kty\": \"EC\", \"crv\": \"P-256\", \"x5c\": [\"%s\"]},"
             "{\"use\": \"x509-svid\", \"kty\": \"EC\", \"x5c\": [\"%s\"]}]}",
             db, da, db);
    sk = parse(doc, &err);
    ck_assert_msg(sk != NULL, "%s", err.msg);
    ck_assert_int_eq(sk_X509_num(sk), 2);
    ck_assert_int_eq(X509_cmp(sk_X509_value(sk, 0), a), 0);
    ck_assert_int_eq(X509_cmp(sk_X509_value(sk, 1), b), 0);
    sc_x509_stack_free(sk);
    free(da);
    free(db);
    X509_free(a);
    X509_free(b);
}
END_TEST

static void refused(const char *doc, const char *why)
{
    struct sc_err err;
    STACK_OF(X509) *sk = parse(doc, &err);

    ck_assert_ptr_null(sk);
    ck_assert_msg(strstr(err.msg, why) != NULL, "\"%s\" does not say \"%s\"", err.msg, why);
    ck_assert_msg(strncmp(err.msg, "b.json: ", 8) == 0, "\"%s\" does not name the file", err.msg);
}

START_TEST(test_bundle_json_refuses_what_holds_no_root)
{
    refused("{\"keys\": []}", "SPIFFE bundle has no x509-svid key");
    refused("{\"keys\": [{\"use\": \"jwt-svid\", \"kty\": \"EC\"}]}",
            "SPIFFE bundle has no x509-svid key");
    refused("{\"spiffe_sequence\": 1}", "not a SPIFFE bundle: no \"keys\" array");
    refused("{\"keys\": {}}", "not a SPIFFE bundle: no \"keys\" array");
    refused("{\"keys\": [", "not a SPIFFE bundle");
    refused("{\"keys\": [{\"use\": \"x509-svid\", \"kty\": \"EC\"}]}",
            "keys[0]: an x509-svid key needs an x5c certificate");
    refused("{\"keys\": [{\"use\": \"x509-svid\", \"x5c\": []}]}",
            "keys[0]: an x509-svid key needs an x5c certificate");
    refused("{\"keys\": [{\"use\": \"x509-svid\", \"x5c\": [42]}]}",
            "keys[0]: an x509-svid key needs an x5c certificate");
}
END_TEST

START_TEST(test_bundle_json_refuses_bad_certificates)
{
    X509 *a = make_ca("a");
    char *trailing = b64_der(a, 3);
    char doc[8192];

    refused("{\"keys\": [{\"use\": \"x509-svid\", \"x5c\": [\"not base64!\"]}]}",
            "keys[0].x5c[0]: not a base64 DER certificate");
    refused("{\"keys\": [{\"use\": \"x509-svid\", \"x5c\": [\"\"]}]}",
            "keys[0].x5c[0]: not a base64 DER certificate");
    refused("{\"keys\": [{\"use\": \"x509-svid\", \"x5c\": [\"AAAA\"]}]}",
            "keys[0].x5c[0]: not a base64 DER certificate");
    snprintf(doc, sizeof(doc), "{\"keys\": [{\"use\": \"x509-svid\", \"x5c\": [\"%s\"]}]}",
             trailing);
    refused(doc, "keys[0].x5c[0]: not a base64 DER certificate");
    free(trailing);
    X509_free(a);
}
END_TEST

START_TEST(test_bundle_refuses_empty_and_non_pem)
{
    struct sc_err err;

    ck_assert_ptr_null(parse("", &err));
    ck_assert_ptr_null(parse("hello", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "b.json"));
}
END_TEST

static Suite *bundle_suite(void)
{
    Suite *s = suite_create("bundle");
    TCase *tc = tcase_create("sc_bundle_parse");

    tcase_add_test(tc, test_bundle_pem_gives_every_certificate);
    tcase_add_test(tc, test_bundle_json_takes_x509_svid_keys_only);
    tcase_add_test(tc, test_bundle_json_refuses_what_holds_no_root);
    tcase_add_test(tc, test_bundle_json_refuses_bad_certificates);
    tcase_add_test(tc, test_bundle_refuses_empty_and_non_pem);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bundle_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
