/* Unit tests for common/x509: the SAN list written into refusal sentences
 * (every DNS, URI and IP SAN, escaped) and the DestinationRule
 * subjectAltNames match (DNS, wildcard DNS, URI).  Certificates are made in
 * memory with the SANs each case needs. */

#include <check.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "x509.h"

/* A self-signed certificate whose SAN extension holds the given names
 * (type GEN_DNS / GEN_URI / GEN_IPADD, value as raw bytes). */
struct san {
    int type;
    const char *value;
    size_t len; /* 0: strlen(value) */
};

static X509 *cert_with(const struct san *sans, size_t n)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    GENERAL_NAMES *gns = sk_GENERAL_NAME_new_null();

    ck_assert_ptr_nonnull(key);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(gns);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    for (size_t i = 0; i < n; i++) {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
        size_t len = sans[i].len != 0 ? sans[i].len : strlen(sans[i].value);

        ck_assert_int_eq(ASN1_OCTET_STRING_set(v, (const unsigned char *)sans[i].value, (int)len),
                         1);
        if (sans[i].type == GEN_IPADD) {
            GENERAL_NAME_set0_value(gn, GEN_IPADD, v);
        } else {
            ASN1_IA5STRING *s = ASN1_IA5STRING_new();

            ASN1_STRING_set(s, sans[i].value, (int)len);
            ASN1_OCTET_STRING_free(v);
            GENERAL_NAME_set0_value(gn, sans[i].type, s);
        }
        sk_GENERAL_NAME_push(gns, gn);
    }
    if (n > 0) {
        ck_assert_int_eq(X509_add1_ext_i2d(x, NID_subject_alt_name, gns, 0, 0), 1);
    }
    GENERAL_NAMES_free(gns);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    EVP_PKEY_free(key);
    return x;
}

START_TEST(test_sans_str_lists_dns_uri_ip)
{
    const struct san s[] = {
        {GEN_URI, "spiffe://cluster.local/ns/a/sa/b", 0},
        {GEN_DNS, "api.example.com", 0},
        {GEN_URI, "https://example.com/x", 0},
        {GEN_IPADD, "\x0a\x00\x00\x01", 4},
    };
    X509 *x = cert_with(s, 4);
    char out[256];

    sc_x509_sans_str(x, out, sizeof(out));
    ck_assert_str_eq(out, "spiffe://cluster.local/ns/a/sa/b,DNS:api.example.com,"
                          "URI:https://example.com/x,IP:10.0.0.1");
    X509_free(x);
}
END_TEST

START_TEST(test_sans_str_dns_only_is_not_none)
{
    const struct san s[] = {{GEN_DNS, "api.example.com", 0}};
    X509 *x = cert_with(s, 1), *none = cert_with(NULL, 0);
    char out[64];

    ck_assert_str_eq(sc_x509_sans_str(x, out, sizeof(out)), "DNS:api.example.com");
    ck_assert_str_eq(sc_x509_sans_str(none, out, sizeof(out)), "none");
    ck_assert_str_eq(sc_x509_sans_str(NULL, out, sizeof(out)), "none");
    X509_free(x);
    X509_free(none);
}
END_TEST

START_TEST(test_sans_str_escapes_control_bytes)
{
    /* a SAN that would forge a second log line */
    const struct san s[] = {
        {GEN_URI, "spiffe://cluster.local/ns/a\nclass=mesh_mtls peer=x", 0},
        {GEN_DNS, "a,b\\c", 0},
    };
    X509 *x = cert_with(s, 2);
    char out[256];

    sc_x509_sans_str(x, out, sizeof(out));
    ck_assert_ptr_null(strchr(out, '\n'));
    ck_assert_str_eq(out, "spiffe://cluster.local/ns/a\\x0Aclass=mesh_mtls peer=x,"
                          "DNS:a\\x2Cb\\x5Cc");
    X509_free(x);
}
END_TEST

START_TEST(test_spiffe_id_is_raw_but_its_log_forms_are_escaped)
{
    const struct san s[] = {
        {GEN_URI,
         "spiffe://cluster.local/ns/a\nclass=mesh_mtls peer=spiffe://cluster.local/"
         "ns/istio-system/sa/admin",
         0},
    };
    X509 *x = cert_with(s, 1);
    char id[256], out[512];

    /* the identity check gets the bytes as they are (and refuses them) */
    ck_assert_int_eq(sc_x509_spiffe_id(x, id, sizeof(id)), 0);
    ck_assert_ptr_nonnull(strchr(id, '\n'));
    /* every form meant for a log line is one line */
    sc_x509_spiffe_id_or_none(x, out, sizeof(out));
    ck_assert_str_eq(out, "spiffe://cluster.local/ns/a\\x0Aclass=mesh_mtls "
                          "peer=spiffe://cluster.local/ns/istio-system/sa/admin");
    sc_x509_describe(x, out, sizeof(out));
    ck_assert_ptr_null(strchr(out, '\n'));
    ck_assert_ptr_nonnull(strstr(out, " san=spiffe://cluster.local/ns/a\\x0Aclass=mesh_mtls "));
    X509_free(x);
}
END_TEST

START_TEST(test_name_str_is_one_line)
{
    X509_NAME *n = X509_NAME_new();
    char out[256];

    ck_assert_int_eq(
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)"evil\nclass=mesh_mtls \"x\"", -1, -1, 0),
        1);
    ck_assert_uint_gt(sc_x509_name_str(n, out, sizeof(out)), 0);
    ck_assert_ptr_null(strchr(out, '\n'));
    ck_assert_str_eq(out, "CN=evil\\0Aclass=mesh_mtls \\\"x\\\"");
    X509_NAME_free(n);
}
END_TEST

START_TEST(test_sans_str_truncates)
{
    const struct san s[] = {{GEN_DNS, "api.example.com", 0}, {GEN_DNS, "b.example.com", 0}};
    X509 *x = cert_with(s, 2);
    char out[10];

    sc_x509_sans_str(x, out, sizeof(out));
    ck_assert_uint_eq(strlen(out), sizeof(out) - 1);
    ck_assert_str_eq(out, "DNS:api.e");
    X509_free(x);
}
END_TEST

START_TEST(test_has_san_dns_uri_wildcard)
{
    const struct san s[] = {
        {GEN_DNS, "API.example.com", 0},
        {GEN_DNS, "*.svc.example.com", 0},
        {GEN_URI, "spiffe://ext.example/api", 0},
    };
    X509 *x = cert_with(s, 3);

    ck_assert_int_eq(sc_x509_has_san(x, "api.example.com"), 1); /* case-insensitive */
    ck_assert_int_eq(sc_x509_has_san(x, "billing.example.com"), 0);
    ck_assert_int_eq(sc_x509_has_san(x, "a.svc.example.com"), 1); /* one label */
    ck_assert_int_eq(sc_x509_has_san(x, "a.b.svc.example.com"), 0); /* not two */
    ck_assert_int_eq(sc_x509_has_san(x, "svc.example.com"), 0);
    ck_assert_int_eq(sc_x509_has_san(x, "spiffe://ext.example/api"), 1);
    ck_assert_int_eq(sc_x509_has_san(x, "spiffe://ext.example/API"), 0); /* URI: exact */
    ck_assert_int_eq(sc_x509_has_san(x, "spiffe://ext.example"), 0);
    ck_assert_int_eq(sc_x509_has_san(NULL, "api.example.com"), 0);
    X509_free(x);
}
END_TEST

START_TEST(test_has_san_embedded_nul_never_matches)
{
    const struct san s[] = {{GEN_DNS, "api.example.com\0.evil.com", 25}};
    X509 *x = cert_with(s, 1);

    ck_assert_int_eq(sc_x509_has_san(x, "api.example.com"), 0);
    X509_free(x);
}
END_TEST

static Suite *x509_suite(void)
{
    Suite *s = suite_create("x509");
    TCase *tc = tcase_create("sans");

    tcase_add_test(tc, test_sans_str_lists_dns_uri_ip);
    tcase_add_test(tc, test_sans_str_dns_only_is_not_none);
    tcase_add_test(tc, test_sans_str_escapes_control_bytes);
    tcase_add_test(tc, test_sans_str_truncates);
    tcase_add_test(tc, test_spiffe_id_is_raw_but_its_log_forms_are_escaped);
    tcase_add_test(tc, test_name_str_is_one_line);
    tcase_add_test(tc, test_has_san_dns_uri_wildcard);
    tcase_add_test(tc, test_has_san_embedded_nul_never_matches);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(x509_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
