/* Unit tests for common/sdsproto: the typed view of Envoy's
 * DiscoveryRequest / DiscoveryResponse / Secret, round trips, and the pushes
 * we refuse.  Hand-built protobuf bytes (pb_* below) stand in for what other
 * implementations send, including fields we do not know. */

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdsproto.h"

/* ---- a tiny protobuf writer -------------------------------------------- */

struct pb {
    uint8_t b[8192];
    size_t n;
};

static void pb_varint(struct pb *p, uint64_t v)
{
    do {
        uint8_t byte = v & 0x7f;

        v >>= 7;
        p->b[p->n++] = byte | (v ? 0x80 : 0);
    } while (v);
}

static void pb_ld(struct pb *p, int field, const void *data, size_t len)
{
    pb_varint(p, ((uint64_t)field << 3) | 2);
    pb_varint(p, len);
    memcpy(p->b + p->n, data, len);
    p->n += len;
}

static void pb_str(struct pb *p, int field, const char *s)
{
    pb_ld(p, field, s, strlen(s));
}

static void pb_msg(struct pb *p, int field, const struct pb *m)
{
    pb_ld(p, field, m->b, m->n);
}

static void pb_int(struct pb *p, int field, uint64_t v)
{
    pb_varint(p, ((uint64_t)field << 3) | 0);
    pb_varint(p, v);
}

/* A DiscoveryResponse holding one Secret (raw bytes) in an Any. */
static void response_with(struct pb *out, const char *type_url, const struct pb *secret)
{
    struct pb any = {0};

    pb_str(&any, 1, type_url);
    pb_msg(&any, 2, secret);
    memset(out, 0, sizeof(*out));
    pb_str(out, 1, "v1");
    pb_msg(out, 2, &any);
    pb_str(out, 4, SC_SDS_TYPE_SECRET);
    pb_str(out, 5, "n1");
}

/* Secret{name, tls_certificate{certificate_chain=DS(field ds_field: val), private_key}} */
static void tls_secret(struct pb *out, const char *name, int ds_field, const char *val)
{
    struct pb ds = {0}, key = {0}, tc = {0};

    pb_str(&ds, ds_field, val);
    pb_str(&key, 2, "KEY");
    pb_msg(&tc, 1, &ds);
    pb_msg(&tc, 2, &key);
    memset(out, 0, sizeof(*out));
    pb_str(out, 1, name);
    pb_msg(out, 2, &tc);
}

static char *S(const char *s)
{
    return strdup(s);
}

/* a string literal where the struct wants char * (encoding only borrows) */
#define W(s) ((char *)(uintptr_t)(s))

/* ---- responses ---------------------------------------------------------- */

START_TEST(test_sdsproto_response_round_trips)
{
    struct sc_sds_response r, d;
    struct sc_err err;
    uint8_t *buf = NULL;
    size_t len = 0;

    memset(&r, 0, sizeof(r));
    r.version_info = S("3-abcdef");
    r.nonce = S("7");
    r.type_url = S(SC_SDS_TYPE_SECRET);
    r.n_secrets = 2;
    r.secrets = calloc(2, sizeof(*r.secrets));
    r.secrets[0].name = S("default");
    r.secrets[0].cert_chain_pem = S("CHAIN");
    r.secrets[0].cert_chain_len = 5;
    r.secrets[0].private_key_pem = malloc(6);
    memcpy(r.secrets[0].private_key_pem, "KEY\0X", 6);
    r.secrets[0].private_key_len = 5; /* bytes, NUL included */
    r.secrets[1].name = S("ROOTCA");
    r.secrets[1].trusted_ca_pem = S("ROOTS");
    r.secrets[1].trusted_ca_len = 5;
    r.secrets[1].crl_pem = S("CRLS");
    r.secrets[1].crl_len = 4;
    ck_assert_int_eq(sc_sds_response_encode(&r, &buf, &len), 0);
    ck_assert_int_eq(sc_sds_response_decode(buf, len, &d, &err), 0);
    ck_assert_str_eq(d.version_info, "3-abcdef");
    ck_assert_str_eq(d.nonce, "7");
    ck_assert_str_eq(d.type_url, SC_SDS_TYPE_SECRET);
    ck_assert_uint_eq(d.n_secrets, 2);
    ck_assert_str_eq(d.secrets[0].name, "default");
    ck_assert_uint_eq(d.secrets[0].cert_chain_len, 5);
    ck_assert_str_eq(d.secrets[0].cert_chain_pem, "CHAIN");
    ck_assert_uint_eq(d.secrets[0].private_key_len, 5);
    ck_assert_mem_eq(d.secrets[0].private_key_pem, "KEY\0X", 5);
    ck_assert_ptr_null(d.secrets[0].trusted_ca_pem);
    ck_assert_str_eq(d.secrets[1].name, "ROOTCA");
    ck_assert_str_eq(d.secrets[1].trusted_ca_pem, "ROOTS");
    ck_assert_str_eq(d.secrets[1].crl_pem, "CRLS");
    ck_assert_uint_eq(d.secrets[1].crl_len, 4);
    ck_assert_ptr_null(d.secrets[0].crl_pem);
    ck_assert_ptr_null(d.secrets[1].cert_chain_pem);
    ck_assert_ptr_null(d.secrets[1].private_key_pem);
    free(buf);
    sc_sds_response_cleanup(&d);
    sc_sds_response_cleanup(&r);
    sc_sds_response_cleanup(&r); /* twice is fine */
    sc_sds_response_cleanup(NULL);
}
END_TEST

START_TEST(test_sdsproto_response_empty_round_trips)
{
    struct sc_sds_response r, d;
    struct sc_err err;
    uint8_t *buf = NULL;
    size_t len = 0;

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(sc_sds_response_encode(&r, &buf, &len), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(sc_sds_response_decode(buf, len, &d, &err), 0);
    ck_assert_str_eq(d.version_info, "");
    ck_assert_str_eq(d.nonce, "");
    ck_assert_uint_eq(d.n_secrets, 0);
    free(buf);
    sc_sds_response_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_response_accepts_inline_string)
{
    struct pb secret, resp;
    struct sc_sds_response d;
    struct sc_err err;

    tls_secret(&secret, "default", 3, "PEM-AS-STRING");
    response_with(&resp, SC_SDS_TYPE_SECRET, &secret);
    ck_assert_int_eq(sc_sds_response_decode(resp.b, resp.n, &d, &err), 0);
    ck_assert_str_eq(d.secrets[0].cert_chain_pem, "PEM-AS-STRING");
    ck_assert_uint_eq(d.secrets[0].cert_chain_len, 13);
    ck_assert_str_eq(d.secrets[0].private_key_pem, "KEY");
    sc_sds_response_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_response_skips_unknown_fields)
{
    struct pb secret, resp, cp = {0};
    struct sc_sds_response d;
    struct sc_err err;

    tls_secret(&secret, "default", 2, "PEM");
    pb_int(&secret, 99, 12345); /* unknown in Secret */
    response_with(&resp, SC_SDS_TYPE_SECRET, &secret);
    pb_int(&resp, 3, 1); /* canary */
    pb_str(&cp, 1, "control-plane-id");
    pb_msg(&resp, 6, &cp); /* control_plane */
    pb_str(&resp, 1000, "from the future");
    ck_assert_int_eq(sc_sds_response_decode(resp.b, resp.n, &d, &err), 0);
    ck_assert_str_eq(d.version_info, "v1");
    ck_assert_str_eq(d.secrets[0].cert_chain_pem, "PEM");
    sc_sds_response_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_response_refuses_filename)
{
    struct pb secret, resp;
    struct sc_sds_response d;
    struct sc_err err;

    tls_secret(&secret, "default", 1, "/etc/shadow");
    response_with(&resp, SC_SDS_TYPE_SECRET, &secret);
    ck_assert_int_eq(sc_sds_response_decode(resp.b, resp.n, &d, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "secret \"default\""));
    ck_assert_ptr_nonnull(strstr(err.msg, "DataSource.filename is refused"));
    ck_assert_ptr_null(d.secrets);
    ck_assert_uint_eq(d.n_secrets, 0);
    /* what identifies the response survives, to NACK it */
    ck_assert_str_eq(d.version_info, "v1");
    ck_assert_str_eq(d.nonce, "n1");
    sc_sds_response_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_response_refuses_filename_in_trusted_ca)
{
    struct pb ds = {0}, vc = {0}, secret = {0}, resp;
    struct sc_sds_response d;
    struct sc_err err;

    pb_str(&ds, 1, "/etc/ssl/certs/ca.pem");
    pb_msg(&vc, 1, &ds);
    pb_str(&secret, 1, "ROOTCA");
    pb_msg(&secret, 4, &vc);
    response_with(&resp, SC_SDS_TYPE_SECRET, &secret);
    ck_assert_int_eq(sc_sds_response_decode(resp.b, resp.n, &d, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "validation_context.trusted_ca"));
    sc_sds_response_cleanup(&d);
}
END_TEST

/* Envoy's CertificateValidationContext.crl is field 7, built here by hand
 * (not by our encoder) so a wrong field number in proto/ fails. */
START_TEST(test_sdsproto_response_reads_the_crl_field)
{
    struct pb ca = {0}, crl = {0}, vc = {0}, secret = {0}, resp;
    struct sc_sds_response d;
    struct sc_err err;

    pb_str(&ca, 2, "ROOTS"); /* DataSource.inline_bytes */
    pb_str(&crl, 3, "CRLS"); /* DataSource.inline_string */
    pb_msg(&vc, 1, &ca);
    pb_msg(&vc, 7, &crl);
    pb_str(&secret, 1, "ROOTCA");
    pb_msg(&secret, 4, &vc);
    response_with(&resp, SC_SDS_TYPE_SECRET, &secret);
    ck_assert_int_eq(sc_sds_response_decode(resp.b, resp.n, &d, &err), 0);
    ck_assert_str_eq(d.secrets[0].trusted_ca_pem, "ROOTS");
    ck_assert_str_eq(d.secrets[0].crl_pem, "CRLS");
    sc_sds_response_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_response_refuses_filename_in_crl)
{
    struct pb ca = {0}, crl = {0}, vc = {0}, secret = {0}, resp;
    struct sc_sds_response d;
    struct sc_err err;

    pb_str(&ca, 2, "ROOTS");
    pb_str(&crl, 1, "/etc/ssl/crl.pem"); /* DataSource.filename */
    pb_msg(&vc, 1, &ca);
    pb_msg(&vc, 7, &crl);
    pb_str(&secret, 1, "ROOTCA");
    pb_msg(&secret, 4, &vc);
    response_with(&resp, SC_SDS_TYPE_SECRET, &secret);
    ck_assert_int_eq(sc_sds_response_decode(resp.b, resp.n, &d, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "validation_context.crl"));
    ck_assert_ptr_nonnull(strstr(err.msg, "DataSource.filename is refused"));
    sc_sds_response_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_response_refuses_environment_variable)
{
    struct pb secret, resp;
    struct sc_sds_response d;
    struct sc_err err;

    tls_secret(&secret, "default", 4, "HOME");
    response_with(&resp, SC_SDS_TYPE_SECRET, &secret);
    ck_assert_int_eq(sc_sds_response_decode(resp.b, resp.n, &d, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "environment_variable is refused"));
    sc_sds_response_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_response_refuses_wrong_any_type)
{
    struct pb secret, resp;
    struct sc_sds_response d;
    struct sc_err err;

    tls_secret(&secret, "default", 2, "PEM");
    response_with(&resp, "type.googleapis.com/envoy.config.cluster.v3.Cluster", &secret);
    ck_assert_int_eq(sc_sds_response_decode(resp.b, resp.n, &d, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "resources[0]"));
    ck_assert_ptr_nonnull(strstr(err.msg, "envoy.config.cluster.v3.Cluster"));
    sc_sds_response_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_response_refuses_v2_secret_type)
{
    struct pb secret, resp;
    struct sc_sds_response d;
    struct sc_err err;

    tls_secret(&secret, "default", 2, "PEM");
    response_with(&resp, "type.googleapis.com/envoy.api.v2.auth.Secret", &secret);
    ck_assert_int_eq(sc_sds_response_decode(resp.b, resp.n, &d, &err), -1);
    sc_sds_response_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_response_refuses_garbage)
{
    static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    struct sc_sds_response d;
    struct sc_err err;

    ck_assert_int_eq(sc_sds_response_decode(garbage, sizeof(garbage), &d, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a valid protobuf"));
}
END_TEST

START_TEST(test_sdsproto_response_refuses_garbage_secret)
{
    struct pb bad = {0}, resp;
    struct sc_sds_response d;
    struct sc_err err;

    bad.b[0] = 0x0a; /* field 1, length-delimited ... */
    bad.b[1] = 0x20; /* ... 32 bytes that are not there */
    bad.n = 2;
    response_with(&resp, SC_SDS_TYPE_SECRET, &bad);
    ck_assert_int_eq(sc_sds_response_decode(resp.b, resp.n, &d, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a valid Secret"));
    sc_sds_response_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_response_refuses_truncated_message)
{
    struct sc_sds_response r, d;
    struct sc_err err;
    uint8_t *buf = NULL;
    size_t len = 0, cut;

    memset(&r, 0, sizeof(r));
    r.version_info = S("v");
    r.n_secrets = 1;
    r.secrets = calloc(1, sizeof(*r.secrets));
    r.secrets[0].name = S("ROOTCA");
    r.secrets[0].trusted_ca_pem = S("ROOTS");
    r.secrets[0].trusted_ca_len = 5;
    ck_assert_int_eq(sc_sds_response_encode(&r, &buf, &len), 0);
    for (cut = 1; cut < len; cut++) {
        /* every strict prefix either fails or decodes to fewer fields; it
         * must never crash or leak */
        if (sc_sds_response_decode(buf, cut, &d, &err) == 0) {
            sc_sds_response_cleanup(&d);
        }
    }
    ck_assert_int_eq(sc_sds_response_decode(buf, len - 1, &d, &err), -1);
    free(buf);
    sc_sds_response_cleanup(&r);
}
END_TEST

/* ---- requests ----------------------------------------------------------- */

START_TEST(test_sdsproto_request_round_trips_ack)
{
    struct sc_sds_request r, d;
    struct sc_err err;
    char *names[] = {W("default"), W("ROOTCA")};
    uint8_t *buf = NULL;
    size_t len = 0;

    memset(&r, 0, sizeof(r));
    r.version_info = W("5-aa");
    r.nonce = W("9");
    r.type_url = W(SC_SDS_TYPE_SECRET);
    r.node_id = W("sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local");
    r.node_cluster = W("httpbin.foo");
    r.resource_names = names;
    r.n_names = 2;
    ck_assert_int_eq(sc_sds_request_encode(&r, &buf, &len), 0);
    ck_assert_int_eq(sc_sds_request_decode(buf, len, &d, &err), 0);
    ck_assert_str_eq(d.version_info, "5-aa");
    ck_assert_str_eq(d.nonce, "9");
    ck_assert_str_eq(d.type_url, SC_SDS_TYPE_SECRET);
    ck_assert_str_eq(d.node_id, r.node_id);
    ck_assert_str_eq(d.node_cluster, "httpbin.foo");
    ck_assert_uint_eq(d.n_names, 2);
    ck_assert_str_eq(d.resource_names[0], "default");
    ck_assert_str_eq(d.resource_names[1], "ROOTCA");
    ck_assert_int_eq(d.has_error, 0);
    ck_assert_str_eq(d.error_message, "");
    free(buf);
    sc_sds_request_cleanup(&d);
    sc_sds_request_cleanup(NULL);
}
END_TEST

START_TEST(test_sdsproto_request_round_trips_nack)
{
    struct sc_sds_request r, d;
    struct sc_err err;
    uint8_t *buf = NULL;
    size_t len = 0;

    memset(&r, 0, sizeof(r));
    r.nonce = W("3");
    r.has_error = 1;
    r.error_code = 3;
    r.error_message = W("key does not match certificate");
    ck_assert_int_eq(sc_sds_request_encode(&r, &buf, &len), 0);
    ck_assert_int_eq(sc_sds_request_decode(buf, len, &d, &err), 0);
    ck_assert_int_eq(d.has_error, 1);
    ck_assert_int_eq(d.error_code, 3);
    ck_assert_str_eq(d.error_message, "key does not match certificate");
    ck_assert_str_eq(d.version_info, "");
    ck_assert_str_eq(d.node_id, "");
    ck_assert_uint_eq(d.n_names, 0);
    ck_assert_ptr_null(d.resource_names);
    free(buf);
    sc_sds_request_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_request_empty_error_detail_is_still_a_nack)
{
    struct pb req = {0}, st = {0};
    struct sc_sds_request d;
    struct sc_err err;

    pb_str(&req, 5, "1");
    pb_msg(&req, 6, &st); /* error_detail present but empty */
    ck_assert_int_eq(sc_sds_request_decode(req.b, req.n, &d, &err), 0);
    ck_assert_int_eq(d.has_error, 1);
    ck_assert_int_eq(d.error_code, 0);
    sc_sds_request_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_request_skips_unknown_fields)
{
    struct pb req = {0}, node = {0}, loc = {0};

    struct sc_sds_request d;
    struct sc_err err;

    pb_str(&node, 1, "id-1");
    pb_str(&loc, 1, "region");
    pb_msg(&node, 4, &loc); /* locality */
    pb_str(&node, 6, "envoy"); /* user_agent_name */
    pb_str(&node, 10, "feature.x"); /* client_features */
    pb_msg(&req, 2, &node);
    pb_str(&req, 3, "default");
    pb_str(&req, 7, "locator"); /* resource_locators (not ours) */
    pb_str(&req, 4, SC_SDS_TYPE_SECRET);
    ck_assert_int_eq(sc_sds_request_decode(req.b, req.n, &d, &err), 0);
    ck_assert_str_eq(d.node_id, "id-1");
    ck_assert_uint_eq(d.n_names, 1);
    ck_assert_str_eq(d.resource_names[0], "default");
    sc_sds_request_cleanup(&d);
}
END_TEST

START_TEST(test_sdsproto_request_refuses_garbage)
{
    static const uint8_t garbage[] = {0x1a, 0x05, 'a', 'b'};
    static const uint8_t badtag[] = {0x07, 0x00};
    struct sc_sds_request d;
    struct sc_err err;

    ck_assert_int_eq(sc_sds_request_decode(garbage, sizeof(garbage), &d, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "DiscoveryRequest"));
    ck_assert_ptr_null(d.resource_names);
    ck_assert_int_eq(sc_sds_request_decode(badtag, sizeof(badtag), &d, &err), -1);
}
END_TEST

START_TEST(test_sdsproto_request_refuses_wrong_wire_type)
{
    struct pb req = {0};
    struct sc_sds_request d;
    struct sc_err err;

    pb_int(&req, 3, 5); /* resource_names as a varint */
    ck_assert_int_eq(sc_sds_request_decode(req.b, req.n, &d, &err), -1);
}
END_TEST

static Suite *sdsproto_suite(void)
{
    Suite *s = suite_create("sdsproto");
    TCase *tc;

    tc = tcase_create("sc_sds_response");
    tcase_add_test(tc, test_sdsproto_response_round_trips);
    tcase_add_test(tc, test_sdsproto_response_empty_round_trips);
    tcase_add_test(tc, test_sdsproto_response_accepts_inline_string);
    tcase_add_test(tc, test_sdsproto_response_skips_unknown_fields);
    tcase_add_test(tc, test_sdsproto_response_refuses_filename);
    tcase_add_test(tc, test_sdsproto_response_refuses_filename_in_trusted_ca);
    tcase_add_test(tc, test_sdsproto_response_reads_the_crl_field);
    tcase_add_test(tc, test_sdsproto_response_refuses_filename_in_crl);
    tcase_add_test(tc, test_sdsproto_response_refuses_environment_variable);
    tcase_add_test(tc, test_sdsproto_response_refuses_wrong_any_type);
    tcase_add_test(tc, test_sdsproto_response_refuses_v2_secret_type);
    tcase_add_test(tc, test_sdsproto_response_refuses_garbage);
    tcase_add_test(tc, test_sdsproto_response_refuses_garbage_secret);
    tcase_add_test(tc, test_sdsproto_response_refuses_truncated_message);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_sds_request");
    tcase_add_test(tc, test_sdsproto_request_round_trips_ack);
    tcase_add_test(tc, test_sdsproto_request_round_trips_nack);
    tcase_add_test(tc, test_sdsproto_request_empty_error_detail_is_still_a_nack);
    tcase_add_test(tc, test_sdsproto_request_skips_unknown_fields);
    tcase_add_test(tc, test_sdsproto_request_refuses_garbage);
    tcase_add_test(tc, test_sdsproto_request_refuses_wrong_wire_type);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sdsproto_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
