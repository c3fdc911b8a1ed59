/* Unit tests for proxy/localreply: every reply byte-exact, Envoy's
 * transport failure reason from real OpenSSL handshake failures (memory BIO
 * pairs between certificates of two independent roots made with
 * scripts/gen-certs.sh), and the edge cases of the formatters. */

#include <check.h>
#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "localreply.h"

#define T_1994 784111777        /* Sun, 06 Nov 1994 08:49:37 GMT */

static char certdir[256];

static void make_certs(void)
{
    char cmd[512];

    snprintf(certdir, sizeof certdir, "%s/sc-lr-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(certdir));
    snprintf(cmd, sizeof cmd, "scripts/gen-certs.sh mesh %s >/dev/null 2>&1", certdir);
    ck_assert_msg(system(cmd) == 0, "%s failed (run from the repo root)", cmd);
}

static void remove_certs(void)
{
    char cmd[512];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", certdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- a TLS handshake over a BIO pair ------------------------------------ */

struct vinfo {
    int error;
    int depth;
};

static int vidx = -1;

static int record_verify(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct vinfo *vi = SSL_get_ex_data(ssl, vidx);

    if (!ok && vi != NULL && vi->error == 0) {
        vi->error = X509_STORE_CTX_get_error(xs);
        vi->depth = X509_STORE_CTX_get_error_depth(xs);
    }
    return ok;
}

static SSL_CTX *ctx_new(int server, const char *cert, const char *ca, int require_cert)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    char path[512];

    ck_assert_ptr_nonnull(ctx);
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);   /* as common/tlsctx does: send only the chain file */
    if (cert != NULL) {
        snprintf(path, sizeof path, "%s/%s.crt", certdir, cert);
        ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(ctx, path), 1);
        snprintf(path, sizeof path, "%s/%s.key", certdir, cert);
        ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM), 1);
    }
    if (ca != NULL) {
        snprintf(path, sizeof path, "%s/%s", certdir, ca);
        ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, path, NULL), 1);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (require_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       record_verify);
    return ctx;
}

/* Runs the handshake; returns 1 when the side `which` (0 client, 1 server)
 * failed.  Its error queue is left in this thread's queue for the caller;
 * the other side's errors are cleared. */
static int handshake_fails(SSL_CTX *cctx, SSL_CTX *sctx, int which, struct vinfo *vi)
{
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *bc = NULL, *bs = NULL;
    int i, failed = 0, cdone = 0, sdone = 0;

    if (vidx < 0) {
        vidx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    }
    ck_assert_int_eq(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    SSL_set_ex_data(which == 0 ? c : s, vidx, vi);
    ERR_clear_error();
    for (i = 0; i < 20 && !failed; i++) {
        int rc;

        if (!cdone || which == 0) {
            rc = SSL_do_handshake(c);
            if (rc == 1) {
                cdone = 1;
                /* TLS 1.3: the server's verdict on our certificate arrives later */
                SSL_read(c, (char[1]){ 0 }, 1);
            } else if (SSL_get_error(c, rc) == SSL_ERROR_SSL) {
                if (which == 0) {
                    failed = 1;
                    break;
                }
                ERR_clear_error();
                cdone = 1;
            }
            if (which != 0) {
                ERR_clear_error();
            }
        }
        if (!sdone) {
            rc = SSL_do_handshake(s);
            if (rc == 1) {
                sdone = 1;
            } else if (SSL_get_error(s, rc) == SSL_ERROR_SSL) {
                if (which == 1) {
                    failed = 1;
                    break;
                }
                sdone = 1;
            }
            if (which != 1) {
                ERR_clear_error();
            }
        }
    }
    SSL_free(c);
    SSL_free(s);
    return failed;
}

START_TEST(test_localreply_two_signers_body_is_exact)
{
    SSL_CTX *cctx = ctx_new(0, "foo-client", "foo-ca.crt", 0);   /* trusts only "foo" */
    SSL_CTX *sctx = ctx_new(1, "bar-server", "bar-ca.crt", 1);   /* signed by "bar" */
    struct vinfo vi = { 0, -1 };
    struct sc_localreply r;
    char why[1024], want[1200];
    size_t n;

    ck_assert_int_eq(handshake_fails(cctx, sctx, 0, &vi), 1);
    ck_assert_int_eq(vi.error, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    ck_assert_int_eq(vi.depth, 0);
    n = sc_localreply_tls_reason_from_queue(why, sizeof why, vi.error, vi.depth);
    ck_assert_uint_eq(ERR_peek_error(), 0);            /* the queue was drained */
    /* 167772294 = ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED) */
    ck_assert_uint_eq(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED), 167772294UL);
    ck_assert_str_eq(why, "TLS_error:|167772294:SSL routines::certificate verify failed:"
                          "verify cert failed: X509_verify_cert: certificate verification error "
                          "at depth 0: unable to get local issuer certificate:TLS_error_end");
    ck_assert_uint_eq(n, strlen(why));

    sc_localreply_upstream_reset(&r, SC_RESET_CONNECTION_FAILURE, 0, why);
    snprintf(want, sizeof want,
             "upstream connect error or disconnect/reset before headers. reset reason: connection "
             "failure, transport failure reason: %s", why);
    ck_assert_str_eq(r.body, want);
    ck_assert_uint_eq(r.body_len, strlen(want));
    ck_assert_int_eq(r.status, 503);
    ck_assert_uint_eq(r.flags, SC_ACCESSLOG_UF);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}
END_TEST

START_TEST(test_localreply_server_side_unknown_ca)
{
    SSL_CTX *cctx = ctx_new(0, "foo-client", "foo-ca.crt", 0);
    SSL_CTX *sctx = ctx_new(1, "bar-server", "bar-ca.crt", 1);
    struct vinfo vi = { 0, -1 };
    char why[512], want[256];

    ck_assert_int_eq(handshake_fails(cctx, sctx, 1, &vi), 1);
    sc_localreply_tls_reason_from_queue(why, sizeof why, vi.error, vi.depth);
    snprintf(want, sizeof want, "TLS_error:|%lu:SSL routines::tlsv1 alert unknown ca:TLS_error_end",
             (unsigned long)ERR_PACK(ERR_LIB_SSL, 0, SSL_R_TLSV1_ALERT_UNKNOWN_CA));
    ck_assert_str_eq(why, want);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}
END_TEST

START_TEST(test_localreply_peer_without_certificate)
{
    SSL_CTX *cctx = ctx_new(0, NULL, "mesh-ca.crt", 0);          /* presents nothing */
    SSL_CTX *sctx = ctx_new(1, "server", "mesh-ca.crt", 1);
    struct vinfo vi = { 0, -1 };
    char why[512], want[256];

    ck_assert_int_eq(handshake_fails(cctx, sctx, 1, &vi), 1);
    sc_localreply_tls_reason_from_queue(why, sizeof why, vi.error, vi.depth);
    snprintf(want, sizeof want,
             "TLS_error:|%lu:SSL routines::peer did not return a certificate:peer did not provide "
             "required client certificate:TLS_error_end",
             (unsigned long)ERR_PACK(ERR_LIB_SSL, 0, SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE));
    ck_assert_str_eq(why, want);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}
END_TEST

START_TEST(test_localreply_expired_certificate_detail)
{
    SSL_CTX *cctx = ctx_new(0, NULL, "mesh-ca.crt", 0);
    SSL_CTX *sctx = ctx_new(1, "expired-client", "mesh-ca.crt", 0);
    struct vinfo vi = { 0, -1 };
    char why[1024];

    ck_assert_int_eq(handshake_fails(cctx, sctx, 0, &vi), 1);
    ck_assert_int_eq(vi.error, X509_V_ERR_CERT_HAS_EXPIRED);
    sc_localreply_tls_reason_from_queue(why, sizeof why, vi.error, vi.depth);
    ck_assert_str_eq(why, "TLS_error:|167772294:SSL routines::certificate verify failed:"
                          "verify cert failed: X509_verify_cert: certificate verification error "
                          "at depth 0: certificate has expired:TLS_error_end");
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}
END_TEST

START_TEST(test_localreply_empty_queue_gives_no_reason)
{
    char why[64] = "junk";

    ERR_clear_error();
    ck_assert_uint_eq(sc_localreply_tls_reason_from_queue(why, sizeof why, X509_V_OK, 0), 0);
    ck_assert_str_eq(why, "");
}
END_TEST

START_TEST(test_localreply_tls_reason_from_codes)
{
    unsigned long e[2] = { ERR_PACK(ERR_LIB_SSL, 0, SSL_R_WRONG_VERSION_NUMBER),
                           ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED) };
    char why[256], want[256];
    size_t n;

    n = sc_localreply_tls_reason(why, sizeof why, e, 1, NULL);
    snprintf(want, sizeof want, "TLS_error:|%lu:SSL routines::wrong version number:TLS_error_end", e[0]);
    ck_assert_str_eq(why, want);
    ck_assert_uint_eq(n, strlen(want));
    sc_localreply_tls_reason(why, sizeof why, e, 2, "");
    snprintf(want, sizeof want,
             "TLS_error:|%lu:SSL routines::wrong version number|%lu:SSL routines::certificate verify "
             "failed:TLS_error_end", e[0], e[1]);
    ck_assert_str_eq(why, want);
    ck_assert_uint_eq(sc_localreply_tls_reason(why, sizeof why, e, 0, "x"), 0);
    ck_assert_str_eq(why, "");
}
END_TEST

START_TEST(test_localreply_tls_reason_cuts_safely)
{
    unsigned long e = ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED);
    char full[256], small[20];
    size_t n, m;

    memset(small, 'Z', sizeof small);
    n = sc_localreply_tls_reason(full, sizeof full, &e, 1, "detail");
    m = sc_localreply_tls_reason(small, 10, &e, 1, "detail");
    ck_assert_uint_eq(n, m);                         /* snprintf-style full length */
    ck_assert_uint_eq(strlen(small), 9);
    ck_assert_int_eq(memcmp(small, full, 9), 0);
    ck_assert_int_eq(small[10], 'Z');
    ck_assert_uint_eq(sc_localreply_tls_reason(NULL, 0, &e, 1, NULL), n - strlen(":detail"));
}
END_TEST

START_TEST(test_localreply_verify_detail)
{
    char d[256];

    ck_assert_uint_gt(sc_localreply_verify_detail(d, sizeof d, X509_V_ERR_CERT_HAS_EXPIRED, 1), 0);
    ck_assert_str_eq(d, "verify cert failed: X509_verify_cert: certificate verification error at "
                        "depth 1: certificate has expired");
}
END_TEST

/* ---- bodies -------------------------------------------------------------- */

START_TEST(test_localreply_reset_bodies)
{
    static const struct {
        enum sc_reset_reason why;
        int retried;
        int status;
        unsigned flags;
        const char *body;
    } cases[] = {
        { SC_RESET_CONNECTION_FAILURE, 0, 503, SC_ACCESSLOG_UF,
          "upstream connect error or disconnect/reset before headers. reset reason: connection failure" },
        { SC_RESET_CONNECTION_TERMINATION, 0, 503, SC_ACCESSLOG_UC,
          "upstream connect error or disconnect/reset before headers. reset reason: connection termination" },
        { SC_RESET_OVERFLOW, 0, 503, SC_ACCESSLOG_UO,
          "upstream connect error or disconnect/reset before headers. reset reason: overflow" },
        { SC_RESET_CONNECTION_TIMEOUT, 0, 503, SC_ACCESSLOG_UF,
          "upstream connect error or disconnect/reset before headers. reset reason: connection timeout" },
        { SC_RESET_REMOTE_RESET, 0, 503, SC_ACCESSLOG_UR,
          "upstream connect error or disconnect/reset before headers. reset reason: remote reset" },
        { SC_RESET_LOCAL_RESET, 0, 503, SC_ACCESSLOG_LR,
          "upstream connect error or disconnect/reset before headers. reset reason: local reset" },
        { SC_RESET_PROTOCOL_ERROR, 0, 502, SC_ACCESSLOG_UPE,
          "upstream connect error or disconnect/reset before headers. reset reason: protocol error" },
        { SC_RESET_REMOTE_CONNECTION_FAILURE, 1, 503, SC_ACCESSLOG_UF,
          "upstream connect error or disconnect/reset before headers. retried and the latest reset "
          "reason: remote connection failure" },
        { SC_RESET_LOCAL_CONNECTION_FAILURE, 0, 503, SC_ACCESSLOG_UF,
          "upstream connect error or disconnect/reset before headers. reset reason: local connection "
          "failure" },
    };
    struct sc_localreply r;
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sc_localreply_upstream_reset(&r, cases[i].why, cases[i].retried, NULL);
        ck_assert_str_eq(r.body, cases[i].body);
        ck_assert_uint_eq(r.body_len, strlen(cases[i].body));
        ck_assert_int_eq(r.status, cases[i].status);
        ck_assert_uint_eq(r.flags, cases[i].flags);
        sc_localreply_upstream_reset(&r, cases[i].why, cases[i].retried, "");
        ck_assert_str_eq(r.body, cases[i].body);      /* "" adds nothing */
    }
}
END_TEST

START_TEST(test_localreply_connect_refused_reason)
{
    struct sc_localreply r;

    sc_localreply_upstream_reset(&r, SC_RESET_CONNECTION_FAILURE, 1,
                                 "delayed connect error: Connection refused");
    ck_assert_str_eq(r.body, "upstream connect error or disconnect/reset before headers. retried and "
                             "the latest reset reason: connection failure, transport failure reason: "
                             "delayed connect error: Connection refused");
}
END_TEST

START_TEST(test_localreply_other_bodies)
{
    struct sc_localreply r;

    sc_localreply_upstream_timeout(&r);
    ck_assert_int_eq(r.status, 504);
    ck_assert_str_eq(r.body, "upstream request timeout");
    ck_assert_uint_eq(r.flags, SC_ACCESSLOG_UT);
    sc_localreply_bad_request(&r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(r.body, "Bad Request");
    ck_assert_uint_eq(r.flags, SC_ACCESSLOG_DPE);
    sc_localreply_too_large(&r);
    ck_assert_int_eq(r.status, 431);
    ck_assert_str_eq(r.body, "Request Header Fields Too Large");
    ck_assert_uint_eq(r.flags, SC_ACCESSLOG_DPE);
    sc_localreply_request_timeout(&r);
    ck_assert_int_eq(r.status, 408);
    ck_assert_str_eq(r.body, "request timeout");
    sc_localreply_for_http1_error(&r, SC_HTTP1_E_TOO_LARGE);
    ck_assert_int_eq(r.status, 431);
    sc_localreply_for_http1_error(&r, SC_HTTP1_E_OBS_FOLD);
    ck_assert_int_eq(r.status, 400);
    ck_assert_uint_eq(r.flags, SC_ACCESSLOG_DPE);
}
END_TEST

START_TEST(test_localreply_long_transport_reason_is_cut)
{
    struct sc_localreply r;
    char why[4096];

    memset(why, 'x', sizeof why - 1);
    why[sizeof why - 1] = '\0';
    sc_localreply_upstream_reset(&r, SC_RESET_CONNECTION_FAILURE, 0, why);
    ck_assert_uint_eq(r.body_len, SC_LOCALREPLY_BODY_MAX - 1);
    ck_assert_uint_eq(strlen(r.body), r.body_len);
}
END_TEST

/* ---- whole responses ----------------------------------------------------- */

static void reply_eq(const struct sc_localreply *r, int close, int head, const char *want)
{
    char out[4096];
    size_t need = 0, n;
    struct evbuffer *eb = evbuffer_new();

    ck_assert_int_eq(sc_localreply_format(r, close, head, T_1994, out, sizeof out, &need), 0);
    ck_assert_uint_eq(need, strlen(want));
    ck_assert_int_eq(memcmp(out, want, need), 0);
    ck_assert_int_eq(sc_localreply_write(r, close, head, T_1994, eb), 0);
    n = evbuffer_get_length(eb);
    ck_assert_uint_eq(n, need);
    ck_assert_int_eq(memcmp(evbuffer_pullup(eb, -1), want, n), 0);
    evbuffer_free(eb);
}

START_TEST(test_localreply_full_response_503)
{
    struct sc_localreply r;

    sc_localreply_upstream_reset(&r, SC_RESET_OVERFLOW, 0, NULL);
    reply_eq(&r, 0, 0,
             "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 81\r\ncontent-type: text/plain\r\n"
             "date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
             "upstream connect error or disconnect/reset before headers. reset reason: overflow");
    reply_eq(&r, 1, 0,
             "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 81\r\ncontent-type: text/plain\r\n"
             "date: Sun, 06 Nov 1994 08:49:37 GMT\r\nconnection: close\r\n\r\n"
             "upstream connect error or disconnect/reset before headers. reset reason: overflow");
}
END_TEST

START_TEST(test_localreply_full_response_400_closes)
{
    struct sc_localreply r;

    sc_localreply_bad_request(&r);
    reply_eq(&r, 1, 0,
             "HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\n"
             "date: Sun, 06 Nov 1994 08:49:37 GMT\r\nconnection: close\r\n\r\nBad Request");
}
END_TEST

START_TEST(test_localreply_head_request_has_no_body)
{
    struct sc_localreply r;

    sc_localreply_upstream_timeout(&r);
    reply_eq(&r, 0, 1,
             "HTTP/1.1 504 Gateway Timeout\r\ncontent-length: 24\r\ncontent-type: text/plain\r\n"
             "date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
}
END_TEST

START_TEST(test_localreply_empty_body_has_no_content_type)
{
    struct sc_localreply r = {404, 0, 0, ""};

    reply_eq(&r, 0, 0,
             "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
}
END_TEST

START_TEST(test_localreply_format_reports_needed_size)
{
    struct sc_localreply r;
    char out[512];
    size_t need = 0, full;

    sc_localreply_bad_request(&r);
    ck_assert_int_eq(sc_localreply_format(&r, 0, 0, T_1994, out, sizeof out, &full), 0);
    memset(out, 'Z', sizeof out);
    ck_assert_int_eq(sc_localreply_format(&r, 0, 0, T_1994, out, full - 1, &need), -1);
    ck_assert_uint_eq(need, full);
    ck_assert_int_eq(out[0], 'Z');                   /* nothing written */
    ck_assert_int_eq(sc_localreply_format(&r, 0, 0, T_1994, NULL, 0, &need), -1);
    ck_assert_uint_eq(need, full);
}
END_TEST

START_TEST(test_localreply_names_and_dates)
{
    char d[32];

    ck_assert_str_eq(sc_localreply_reset_reason_str(SC_RESET_OVERFLOW), "overflow");
    ck_assert_str_eq(sc_localreply_reset_reason_str(SC_RESET_N), "unknown");
    ck_assert_str_eq(sc_localreply_reset_reason_str((enum sc_reset_reason)-1), "unknown");
    ck_assert_str_eq(sc_localreply_status_text(503), "Service Unavailable");
    ck_assert_str_eq(sc_localreply_status_text(405), "Method Not Allowed");
    ck_assert_str_eq(sc_localreply_status_text(501), "Not Implemented");
    ck_assert_str_eq(sc_localreply_status_text(299), "Unknown");
    ck_assert_uint_eq(sc_localreply_http_date(0, d), 29);
    ck_assert_str_eq(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    ck_assert_uint_eq(sc_localreply_http_date(T_1994, d), 29);
    ck_assert_str_eq(d, "Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_uint_eq(sc_localreply_http_date(951782400, d), 29);   /* a leap day */
    ck_assert_str_eq(d, "Tue, 29 Feb 2000 00:00:00 GMT");
}
END_TEST

static Suite *localreply_suite(void)
{
    Suite *s = suite_create("localreply");
    TCase *tc;

    tc = tcase_create("transport failure reason");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, make_certs, remove_certs);
    tcase_add_test(tc, test_localreply_two_signers_body_is_exact);
    tcase_add_test(tc, test_localreply_server_side_unknown_ca);
    tcase_add_test(tc, test_localreply_peer_without_certificate);
    tcase_add_test(tc, test_localreply_expired_certificate_detail);
    tcase_add_test(tc, test_localreply_empty_queue_gives_no_reason);
    tcase_add_test(tc, test_localreply_tls_reason_from_codes);
    tcase_add_test(tc, test_localreply_tls_reason_cuts_safely);
    tcase_add_test(tc, test_localreply_verify_detail);
    suite_add_tcase(s, tc);

    tc = tcase_create("bodies");
    tcase_add_test(tc, test_localreply_reset_bodies);
    tcase_add_test(tc, test_localreply_connect_refused_reason);
    tcase_add_test(tc, test_localreply_other_bodies);
    tcase_add_test(tc, test_localreply_long_transport_reason_is_cut);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_localreply_format");
    tcase_add_test(tc, test_localreply_full_response_503);
    tcase_add_test(tc, test_localreply_full_response_400_closes);
    tcase_add_test(tc, test_localreply_head_request_has_no_body);
    tcase_add_test(tc, test_localreply_empty_body_has_no_content_type);
    tcase_add_test(tc, test_localreply_format_reports_needed_size);
    tcase_add_test(tc, test_localreply_names_and_dates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(localreply_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
