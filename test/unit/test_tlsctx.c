/* Unit tests for common/tlsctx, common/x509 and common/snapshot: loading TLS
 * material (and the errors that name the file), the server and client
 * SSL_CTXs in real in-memory handshakes (BIO pairs, no sockets): trust
 * bundles with several roots, refused peers and their verify reasons,
 * protocol versions, cipher policy and ALPN; SPIFFE IDs and certificate
 * descriptions; snapshot reference counting.
 *
 * Certificates are made at start by scripts/gen-certs.sh (run from the
 * repository root) into a temporary directory removed at exit. */

#include <check.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "crl.h"
#include "snapshot.h"
#include "tlsctx.h"
#include "x509.h"

#define CLIENT_ID "spiffe://cluster.local/ns/foo/sa/client"
#define SERVER_ID "spiffe://cluster.local/ns/bar/sa/server"

static char certs[256];

static const char *path(const char *name)
{
    static char buf[4][512];
    static int n;
    char *p = buf[n++ % 4];

    snprintf(p, sizeof(buf[0]), "%s/%s", certs, name);
    return p;
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");

    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path(name));
        exit(EXIT_FAILURE);
    }
}

/* ---- material ------------------------------------------------------------ */

static struct sc_tls_material *load(const char *crt, const char *key, const char *ca,
                                    struct sc_err *err)
{
    char c[512], k[512], a[512];

    snprintf(c, sizeof(c), "%s", path(crt));
    snprintf(k, sizeof(k), "%s", path(key));
    snprintf(a, sizeof(a), "%s", path(ca));
    memset(err, 0, sizeof(*err));
    return sc_tls_material_load(c, k, a, 0, err);
}

static struct sc_tls_material *mat(const char *crt, const char *key, const char *ca)
{
    struct sc_err err;
    struct sc_tls_material *m = load(crt, key, ca, &err);

    ck_assert_msg(m != NULL, "loading %s/%s/%s: %s", crt, key, ca, err.msg);
    return m;
}

/* Loads expecting failure; the message must contain want1 and want2. */
static void load_fails(const char *crt, const char *key, const char *ca, const char *want1,
                       const char *want2)
{
    struct sc_err err;
    struct sc_tls_material *m = load(crt, key, ca, &err);

    ck_assert_msg(m == NULL, "loaded %s/%s/%s", crt, key, ca);
    ck_assert_msg(strstr(err.msg, want1) != NULL, "message '%s' lacks '%s'", err.msg, want1);
    ck_assert_msg(strstr(err.msg, want2) != NULL, "message '%s' lacks '%s'", err.msg, want2);
    ck_assert_int_eq(ERR_peek_error(), 0); /* nothing left for the next caller */
}

START_TEST(test_material_load_accepts_the_mesh_set)
{
    struct sc_tls_material *m = mat("client.crt", "client.key", "ca.crt");
    char id[256];

    ck_assert_ptr_nonnull(sc_tls_material_leaf(m));
    ck_assert_int_eq(sc_x509_spiffe_id(sc_tls_material_leaf(m), id, sizeof(id)), 0);
    ck_assert_str_eq(id, CLIENT_ID);
    ck_assert_int_eq(sk_X509_num(sc_tls_material_roots(m)), 1);
    ck_assert_int_eq(sk_X509_num(sc_tls_material_chain(m)), 1);
    sc_tls_material_free(m);

    m = mat("int-client.crt", "int-client.key", "ca.crt"); /* leaf + intermediate */
    ck_assert_int_eq(sk_X509_num(sc_tls_material_chain(m)), 2);
    sc_tls_material_free(m);
    sc_tls_material_free(NULL);
}
END_TEST

START_TEST(test_material_load_keeps_every_root_of_a_bundle)
{
    struct sc_tls_material *m = mat("server.crt", "server.key", "bundle-mesh-foo.pem");
    char subj[64];

    ck_assert_int_eq(sk_X509_num(sc_tls_material_roots(m)), 2);
    sc_x509_name_str(X509_get_subject_name(sk_X509_value(sc_tls_material_roots(m), 0)), subj,
                     sizeof(subj));
    ck_assert_str_eq(subj, "CN=mesh");
    sc_x509_name_str(X509_get_subject_name(sk_X509_value(sc_tls_material_roots(m), 1)), subj,
                     sizeof(subj));
    ck_assert_str_eq(subj, "CN=foo");
    sc_tls_material_free(m);
    /* a chain under the second root of the bundle loads as well */
    m = mat("foo-client.crt", "foo-client.key", "bundle-mesh-foo.pem");
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_material_load_names_a_missing_file)
{
    load_fails("nope.crt", "client.key", "ca.crt", path("nope.crt"), "cannot read");
    load_fails("client.crt", "nope.key", "ca.crt", path("nope.key"), "cannot read");
    load_fails("client.crt", "client.key", "nope-ca.crt", path("nope-ca.crt"), "cannot read");
}
END_TEST

START_TEST(test_material_load_refuses_a_key_of_another_cert)
{
    load_fails("server.crt", "client.key", "ca.crt", path("client.key"), "does not match");
    load_fails("server.crt", "client.key", "ca.crt", path("server.crt"), "does not match");
}
END_TEST

START_TEST(test_material_load_refuses_garbage_pem)
{
    load_fails("garbage.pem", "client.key", "ca.crt", path("garbage.pem"), ":");
    load_fails("client.crt", "client.key", "garbage.pem", path("garbage.pem"), ":");
    load_fails("client.crt", "garbage.pem", "ca.crt", path("garbage.pem"), "no PEM private key");
    load_fails("notpem.txt", "client.key", "ca.crt", path("notpem.txt"),
               "no PEM certificate found");
    /* a key where the chain should be */
    load_fails("client.key", "client.key", "ca.crt", path("client.key"),
               "no PEM certificate found");
}
END_TEST

START_TEST(test_material_load_refuses_an_empty_bundle)
{
    load_fails("client.crt", "client.key", "empty.pem", path("empty.pem"),
               "no PEM certificate found");
    load_fails("empty.pem", "client.key", "ca.crt", path("empty.pem"), "no PEM certificate found");
    load_fails("client.crt", "empty.pem", "ca.crt", path("empty.pem"), "no PEM private key");
}
END_TEST

/* One good root followed by a broken block is not half-loaded. */
START_TEST(test_material_load_refuses_a_bundle_with_a_broken_block)
{
    load_fails("client.crt", "client.key", "broken-bundle.pem", path("broken-bundle.pem"), ":");
}
END_TEST

START_TEST(test_material_load_refuses_a_directory)
{
    load_fails("client.crt", "client.key", ".", path("."), "");
}
END_TEST

START_TEST(test_material_load_refuses_a_chain_outside_the_bundle)
{
    load_fails("foo-client.crt", "foo-client.key", "ca.crt", path("foo-client.crt"),
               "does not lead to any of the 1 trusted root");
}
END_TEST

START_TEST(test_material_load_checks_leaf_time_only_when_asked)
{
    struct sc_err err;
    struct sc_tls_material *m;
    char c[512], k[512], a[512], why[256];

    snprintf(c, sizeof(c), "%s", path("expired-client.crt"));
    snprintf(k, sizeof(k), "%s", path("expired-client.key"));
    snprintf(a, sizeof(a), "%s", path("ca.crt"));
    memset(&err, 0, sizeof(err));
    m = sc_tls_material_load(c, k, a, time(NULL), &err);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, c) != NULL && strstr(err.msg, "expired") != NULL, "%s", err.msg);
    m = sc_tls_material_load(c, k, a, 0, &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(sc_tls_material_problem(m, time(NULL), why, sizeof(why)));
    ck_assert_msg(strstr(why, "expired") != NULL, "%s", why);
    sc_tls_material_free(m);
    m = mat("client.crt", "client.key", "ca.crt");
    ck_assert_ptr_null(sc_tls_material_problem(m, time(NULL), why, sizeof(why)));
    sc_tls_material_free(m);
}
END_TEST

/* ---- in-memory handshakes ---------------------------------------------------- */

struct hs {
    SSL *c, *s;
    int c_done, s_done, c_fail, s_fail;
    unsigned long c_err, s_err; /* first OpenSSL error on each side */
    int ok; /* both finished and a round trip of data */
};

static void side_step(SSL *ssl, int *done, int *fail, unsigned long *err)
{
    int r, e;

    if (*done || *fail) {
        return;
    }
    r = SSL_do_handshake(ssl);
    if (r == 1) {
        *done = 1;
        return;
    }
    e = SSL_get_error(ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        *fail = 1;
        *err = ERR_peek_error();
    }
    ERR_clear_error();
}

static int xfer(SSL *from, SSL *to, const char *msg, int *fail, unsigned long *err)
{
    char buf[16] = {0};
    int n = (int)strlen(msg), r;

    if (SSL_write(from, msg, n) != n) {
        ERR_clear_error();
        return 0;
    }
    r = SSL_read(to, buf, sizeof(buf) - 1);
    if (r != n || memcmp(buf, msg, (size_t)n) != 0) {
        *fail = 1;
        *err = ERR_peek_error();
        ERR_clear_error();
        return 0;
    }
    return 1;
}

/* Keeps the client's last ticket in *out (a reference the test frees). */
struct ticket_sink {
    struct sc_tls_session_sink base;
    SSL_SESSION **out;
};

static void ticket_put(struct sc_tls_session_sink *sink, SSL_SESSION *sess)
{
    struct ticket_sink *t = (struct ticket_sink *)sink;

    SSL_SESSION_free(*t->out);
    *t->out = sess;
}

/* Runs a handshake between an SSL from cctx and one from sctx over a BIO
 * pair, then sends "ping" up and "pong" back.  alpn (wire format) may be
 * NULL.  resume: a client session to offer, or NULL; ticket: where the
 * client keeps the ticket it gets, or NULL. */
static void handshake_resume(SSL_CTX *sctx, SSL_CTX *cctx, const unsigned char *alpn,
                             unsigned int alpn_len, SSL_SESSION *resume, SSL_SESSION **ticket,
                             struct hs *h);

static void handshake(SSL_CTX *sctx, SSL_CTX *cctx, const unsigned char *alpn,
                      unsigned int alpn_len, struct hs *h)
{
    handshake_resume(sctx, cctx, alpn, alpn_len, NULL, NULL, h);
}

static void handshake_resume(SSL_CTX *sctx, SSL_CTX *cctx, const unsigned char *alpn,
                             unsigned int alpn_len, SSL_SESSION *resume, SSL_SESSION **ticket,
                             struct hs *h)
{
    BIO *bc = NULL, *bs = NULL;

    memset(h, 0, sizeof(*h));
    ERR_clear_error();
    ck_assert_int_eq(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
    h->c = SSL_new(cctx);
    h->s = SSL_new(sctx);
    ck_assert_ptr_nonnull(h->c);
    ck_assert_ptr_nonnull(h->s);
    SSL_set_bio(h->c, bc, bc);
    SSL_set_bio(h->s, bs, bs);
    SSL_set_connect_state(h->c);
    SSL_set_accept_state(h->s);
    if (alpn != NULL) {
        ck_assert_int_eq(SSL_set_alpn_protos(h->c, alpn, alpn_len), 0);
    }
    if (resume != NULL) {
        ck_assert_int_eq(SSL_set_session(h->c, resume), 1);
    }
    if (ticket != NULL) {
        struct ticket_sink *t = calloc(1, sizeof(*t));

        ck_assert_ptr_nonnull(t);
        t->base.put = ticket_put;
        t->out = ticket;
        ck_assert_int_eq(sc_tls_set_session_sink(h->c, &t->base), 0);
    }
    for (int i = 0; i < 50; i++) {
        side_step(h->c, &h->c_done, &h->c_fail, &h->c_err);
        side_step(h->s, &h->s_done, &h->s_fail, &h->s_err);
        if ((h->c_done || h->c_fail) && (h->s_done || h->s_fail)) {
            break;
        }
    }
    if (h->c_done && h->s_done && !h->c_fail && !h->s_fail) {
        h->ok = xfer(h->c, h->s, "ping", &h->s_fail, &h->s_err) &&
                xfer(h->s, h->c, "pong", &h->c_fail, &h->c_err);
    } else if (h->c_done && h->s_fail) {
        /* TLS 1.3: the client finished first; the server's alert follows */
        char b;
        if (SSL_read(h->c, &b, 1) <= 0) {
            h->c_fail = 1;
            h->c_err = ERR_peek_error();
        }
    }
    ERR_clear_error();
}

static void hs_free(struct hs *h)
{
    SSL_free(h->c);
    SSL_free(h->s);
    h->c = h->s = NULL;
}

static SSL_CTX *server_ctx_groups(const char *crt, const char *key, const char *ca,
                                  const char *groups)
{
    struct sc_err err;
    struct sc_tls_material *m = mat(crt, key, ca);
    SSL_CTX *ctx;

    memset(&err, 0, sizeof(err));
    ctx = sc_tlsctx_server_new(m, groups, &err);
    ck_assert_msg(ctx != NULL, "%s", err.msg);
    sc_tls_material_free(m); /* the SSL_CTX keeps what it needs */
    return ctx;
}

static SSL_CTX *server_ctx(const char *crt, const char *key, const char *ca)
{
    return server_ctx_groups(crt, key, ca, NULL);
}

static SSL_CTX *client_ctx(const char *crt, const char *key, const char *ca)
{
    struct sc_err err;
    struct sc_tls_material *m = mat(crt, key, ca);
    SSL_CTX *ctx;

    memset(&err, 0, sizeof(err));
    ctx = sc_tlsctx_client_new(m, NULL, &err);
    ck_assert_msg(ctx != NULL, "%s", err.msg);
    sc_tls_material_free(m);
    return ctx;
}

static const char *errstr(unsigned long e)
{
    static char buf[256];

    ERR_error_string_n(e, buf, sizeof(buf));
    return buf;
}

static void peer_id(SSL *ssl, const char *want)
{
    char id[256];
    X509 *peer = SSL_get0_peer_certificate(ssl);

    ck_assert_ptr_nonnull(peer);
    ck_assert_int_eq(sc_x509_spiffe_id(peer, id, sizeof(id)), 0);
    ck_assert_str_eq(id, want);
}

START_TEST(test_handshake_mesh_peers_succeed_with_tls13)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "ca.crt");
    SSL_CTX *c = client_ctx("client.crt", "client.key", "ca.crt");
    struct hs h;

    handshake(s, c, sc_alpn_mesh_tcp, sc_alpn_mesh_tcp_len, &h);
    ck_assert_msg(h.ok, "client: %s / server: %s", errstr(h.c_err), errstr(h.s_err));
    ck_assert_int_eq(SSL_version(h.c), TLS1_3_VERSION);
    ck_assert_int_eq(SSL_version(h.s), TLS1_3_VERSION);
    ck_assert_str_eq(sc_tls_version_name(h.c), "TLSv1.3");
    ck_assert_str_eq(sc_tls_version_name(NULL), "-");
    ck_assert_int_eq(SSL_get_verify_result(h.s), X509_V_OK);
    ck_assert_int_eq(SSL_get_verify_result(h.c), X509_V_OK);
    peer_id(h.s, CLIENT_ID); /* the server saw the client's cert */
    peer_id(h.c, SERVER_ID);
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}
END_TEST

START_TEST(test_groups_known_only_for_single_names_openssl_has)
{
    ck_assert_int_eq(sc_tls_group_known("X25519"), 1);
    ck_assert_int_eq(sc_tls_group_known("P-256"), 1);
    ck_assert_int_eq(sc_tls_group_known("ffdhe8192"), 1);
    ck_assert_int_eq(sc_tls_group_known("P-257"), 0);
    ck_assert_int_eq(sc_tls_group_known("x25519-typo"), 0);
    ck_assert_int_eq(sc_tls_group_known("X25519:P-256"), 0);
    ck_assert_int_eq(sc_tls_group_known(""), 0);
    ck_assert_int_eq(sc_tls_group_known(NULL), 0);
    ck_assert_int_eq(ERR_peek_error(), 0); /* no stale errors left */
}
END_TEST

/* A client that offers only finite-field groups (a replayed ClientHello
 * with ffdhe8192 costs the server 420 times the CPU of X25519) gets no
 * handshake; by default X25519 is what is negotiated. */
START_TEST(test_handshake_default_groups_refuse_ffdhe)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "ca.crt");
    SSL_CTX *c = client_ctx("client.crt", "client.key", "ca.crt");
    struct hs h;

    ck_assert_int_eq(SSL_CTX_set1_groups_list(c, "ffdhe8192:ffdhe2048"), 1);
    handshake(s, c, NULL, 0, &h);
    ck_assert(!h.ok);
    ck_assert(h.s_fail);
    hs_free(&h);
    ck_assert_int_eq(SSL_CTX_set1_groups_list(c, "ffdhe8192:X25519"), 1);
    handshake(s, c, NULL, 0, &h);
    ck_assert_msg(h.ok, "client: %s / server: %s", errstr(h.c_err), errstr(h.s_err));
    ck_assert_int_eq(SSL_get_negotiated_group(h.s), NID_X25519);
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}
END_TEST

START_TEST(test_handshake_follows_configured_groups)
{
    SSL_CTX *s = server_ctx_groups("server.crt", "server.key", "ca.crt", "P-384");
    SSL_CTX *c = client_ctx("client.crt", "client.key", "ca.crt");
    struct sc_err err;
    struct hs h;

    ck_assert_int_eq(SSL_CTX_set1_groups_list(c, "X25519"), 1);
    handshake(s, c, NULL, 0, &h);
    ck_assert(!h.ok);
    hs_free(&h);
    ck_assert_int_eq(SSL_CTX_set1_groups_list(c, "X25519:P-384"), 1);
    handshake(s, c, NULL, 0, &h);
    ck_assert_msg(h.ok, "client: %s / server: %s", errstr(h.c_err), errstr(h.s_err));
    ck_assert_int_eq(SSL_get_negotiated_group(h.s), NID_secp384r1);
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
    /* an origination context takes the same list; a bad one is an error */
    memset(&err, 0, sizeof(err));
    c = sc_tlsctx_origin_new(NULL, NULL, NULL, NULL, "P-257", &err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, "tls.groups") != NULL, "%s", err.msg);
}
END_TEST

static void hs_close(struct hs *h)
{
    /* a session freed without close_notify is not resumable */
    SSL_shutdown(h->c);
    SSL_shutdown(h->s);
    ERR_clear_error();
    hs_free(h);
}

/* A full handshake records the chain it verified on the session, on both
 * sides; copies carry it; a resumption is attributed to that root; and the
 * server's cached session ends when the chain's first certificate does. */
START_TEST(test_session_trust_is_recorded_and_checked)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "ca.crt");
    SSL_CTX *c = client_ctx("int-client.crt", "int-client.key", "ca.crt");
    struct sc_err err;
    STACK_OF(X509) *root = sc_x509_load_pem_file(path("ca.crt"), &err);
    STACK_OF(X509) *chain = sc_x509_load_pem_file(path("int-client.crt"), &err);
    const struct sc_tls_session_trust *t;
    struct sc_tls_session_trust pt;
    SSL_SESSION *ticket = NULL, *copy, *ss;
    char serial[80];
    time_t first = 0;
    struct hs h;

    ck_assert_ptr_nonnull(root);
    ck_assert_ptr_nonnull(chain);
    sc_x509_serial_hex(sk_X509_value(root, 0), serial, sizeof(serial));
    for (int i = 0; i < sk_X509_num(chain); i++) {
        time_t na = sc_x509_not_after(sk_X509_value(chain, i));
        if (first == 0 || na < first) {
            first = na;
        }
    }
    if (sc_x509_not_after(sk_X509_value(root, 0)) < first) {
        first = sc_x509_not_after(sk_X509_value(root, 0));
    }

    handshake_resume(s, c, NULL, 0, NULL, &ticket, &h);
    ck_assert_msg(h.ok, "client: %s / server: %s", errstr(h.c_err), errstr(h.s_err));
    ck_assert_ptr_nonnull(ticket);
    /* server: the cached session knows the client's root and chain */
    ss = SSL_get_session(h.s);
    t = sc_tls_session_trust_get(ss);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->root_serial, serial);
    ck_assert_str_eq(t->root_subject, "CN=mesh");
    ck_assert_int_eq((long)t->leaf_not_after, (long)sc_x509_not_after(sk_X509_value(chain, 0)));
    ck_assert_int_eq((long)t->chain_not_after, (long)first);
    ck_assert_int_le(SSL_SESSION_get_time(ss) + SSL_SESSION_get_timeout(ss), (long)first);
    /* client: the ticket knows the server's, and a copy does too */
    t = sc_tls_session_trust_get(ticket);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->root_serial, serial);
    copy = SSL_SESSION_dup(ticket);
    ck_assert_ptr_nonnull(copy);
    ck_assert_ptr_nonnull(sc_tls_session_trust_get(copy));
    ck_assert_ptr_ne(sc_tls_session_trust_get(copy), t);
    ck_assert_str_eq(sc_tls_session_trust_get(copy)->root_serial, serial);
    ck_assert_int_eq(sc_tls_session_trusted(copy, time(NULL)), 1);
    ck_assert_int_eq(sc_tls_session_trusted(copy, t->chain_not_after), 0);
    ck_assert_int_eq(sc_tls_session_trusted(NULL, time(NULL)), 0);
    hs_close(&h);

    /* a resumption verifies no chain but still names the root */
    handshake_resume(s, c, NULL, 0, copy, NULL, &h);
    ck_assert_msg(h.ok, "client: %s / server: %s", errstr(h.c_err), errstr(h.s_err));
    ck_assert_int_eq(SSL_session_reused(h.c), 1);
    ck_assert_int_eq(SSL_session_reused(h.s), 1);
    ck_assert_ptr_null(sc_tls_peer_root(h.s));
    ck_assert_int_eq(sc_tls_peer_trust(h.s, &pt), 0);
    ck_assert_str_eq(pt.root_serial, serial);
    ck_assert_int_eq(sc_tls_peer_trust(h.c, &pt), 0);
    ck_assert_str_eq(pt.root_serial, serial);
    hs_close(&h);

    SSL_SESSION_free(copy);
    SSL_SESSION_free(ticket);
    sc_x509_stack_free(root);
    sc_x509_stack_free(chain);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}
END_TEST

START_TEST(test_handshake_sends_the_intermediate)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "ca.crt");
    SSL_CTX *c = client_ctx("int-client.crt", "int-client.key", "ca.crt");
    struct hs h;

    handshake(s, c, NULL, 0, &h);
    ck_assert_msg(h.ok, "client: %s / server: %s (verify %ld)", errstr(h.c_err), errstr(h.s_err),
                  SSL_get_verify_result(h.s));
    peer_id(h.s, CLIENT_ID);
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}
END_TEST

START_TEST(test_handshake_refuses_a_client_of_another_root)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "ca.crt"); /* mesh only */
    /* the foo client trusts mesh (for the server) and foo (its own chain) */
    SSL_CTX *c = client_ctx("foo-client.crt", "foo-client.key", "bundle-mesh-foo.pem");
    struct hs h;

    handshake(s, c, NULL, 0, &h);
    ck_assert(!h.ok);
    ck_assert(h.s_fail);
    ck_assert_msg(SSL_get_verify_result(h.s) == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                  "verify result %ld (%s)", SSL_get_verify_result(h.s),
                  X509_verify_cert_error_string(SSL_get_verify_result(h.s)));
    ck_assert_int_eq(ERR_GET_REASON(h.s_err), SSL_R_CERTIFICATE_VERIFY_FAILED);
    ck_assert(h.c_fail); /* and the client hears about it */
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}
END_TEST

START_TEST(test_handshake_trusts_every_root_of_a_bundle)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "bundle-mesh-foo.pem");
    SSL_CTX *c_mesh = client_ctx("client.crt", "client.key", "ca.crt");
    SSL_CTX *c_foo = client_ctx("foo-client.crt", "foo-client.key", "bundle-mesh-foo.pem");
    SSL_CTX *c_bar = client_ctx("bar-server.crt", "bar-server.key", "bundle-mesh-bar.pem");
    struct hs h;

    handshake(s, c_mesh, NULL, 0, &h);
    ck_assert_msg(h.ok, "mesh client: %s", errstr(h.s_err));
    hs_free(&h);
    handshake(s, c_foo, NULL, 0, &h);
    ck_assert_msg(h.ok, "foo client: %s", errstr(h.s_err));
    peer_id(h.s, CLIENT_ID);
    hs_free(&h);
    /* a third root, not in the bundle, is still refused */
    handshake(s, c_bar, NULL, 0, &h);
    ck_assert(!h.ok);
    ck_assert_int_eq(SSL_get_verify_result(h.s), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c_mesh);
    SSL_CTX_free(c_foo);
    SSL_CTX_free(c_bar);
}
END_TEST

START_TEST(test_handshake_client_refuses_a_server_of_another_root)
{
    SSL_CTX *s = server_ctx("bar-server.crt", "bar-server.key", "bundle-mesh-bar.pem");
    SSL_CTX *c = client_ctx("client.crt", "client.key", "ca.crt");
    struct hs h;

    handshake(s, c, NULL, 0, &h);
    ck_assert(!h.ok);
    ck_assert(h.c_fail);
    ck_assert_int_eq(SSL_get_verify_result(h.c), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    ck_assert_int_eq(ERR_GET_REASON(h.c_err), SSL_R_CERTIFICATE_VERIFY_FAILED);
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}
END_TEST

START_TEST(test_handshake_refuses_an_expired_client)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "ca.crt");
    SSL_CTX *c = client_ctx("expired-client.crt", "expired-client.key", "ca.crt");
    struct hs h;

    handshake(s, c, NULL, 0, &h);
    ck_assert(!h.ok);
    ck_assert_int_eq(SSL_get_verify_result(h.s), X509_V_ERR_CERT_HAS_EXPIRED);
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}
END_TEST

/* A client whose chain ends at "old", a root of the server's bundle that
 * expired a day ago, against secrets.on_root_expiry's grace (hours). */
static void expired_root_handshake(long grace_hours, const char *crt, const char *key, struct hs *h)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "bundle-old-mesh.pem");
    SSL_CTX *c = client_ctx(crt, key, "bundle-old-mesh.pem");

    sc_tlsctx_set_root_grace(s, grace_hours * 3600);
    handshake(s, c, NULL, 0, h);
    SSL_CTX_free(s); /* the SSLs keep their contexts */
    SSL_CTX_free(c);
}

/* The same, expecting a refusal for an expired certificate: the root
 * (anchor 1) or the peer's own (anchor 0), and no grace recorded. */
static void expect_expired_refused(long grace_hours, const char *crt, const char *key, int anchor)
{
    struct sc_tls_verify_info vi;
    struct sc_tls_root_grace g;
    struct hs h;

    expired_root_handshake(grace_hours, crt, key, &h);
    ck_assert(!h.ok);
    ck_assert_int_eq(SSL_get_verify_result(h.s), X509_V_ERR_CERT_HAS_EXPIRED);
    ck_assert_int_eq(sc_tls_verify_info_get(h.s, &vi), 0);
    ck_assert_int_eq(vi.anchor, anchor);
    ck_assert_int_eq(sc_tls_root_grace_get(h.s, &g), -1);
    hs_free(&h);
}

START_TEST(test_handshake_refuses_an_expired_root_by_default)
{
    expect_expired_refused(0, "old-client.crt", "old-client.key", 1);
}
END_TEST

START_TEST(test_handshake_accepts_an_expired_root_within_the_grace)
{
    struct sc_tls_root_grace g;
    struct hs h;

    expired_root_handshake(48, "old-client.crt", "old-client.key", &h);
    ck_assert_msg(h.ok, "%s", errstr(h.s_err));
    ck_assert_int_eq(SSL_get_verify_result(h.s), X509_V_OK);
    ck_assert_int_eq(sc_tls_root_grace_get(h.s, &g), 0);
    ck_assert_str_eq(g.subject, "CN=old");
    ck_assert_int_eq(g.grace_hours, 48);
    ck_assert_int_lt(g.not_after, time(NULL));
    hs_free(&h);
}
END_TEST

START_TEST(test_handshake_refuses_an_expired_root_past_the_grace)
{
    expect_expired_refused(1, "old-client.crt", "old-client.key", 1); /* expired a day ago */
}
END_TEST

START_TEST(test_handshake_grace_never_covers_an_expired_leaf)
{
    expect_expired_refused(48, "expired-client.crt", "expired-client.key", 0);
}
END_TEST

START_TEST(test_handshake_refuses_a_client_without_certificate)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "ca.crt");
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    struct hs h;

    ck_assert_ptr_nonnull(c);
    handshake(s, c, NULL, 0, &h);
    ck_assert(!h.ok);
    ck_assert(h.s_fail);
    ck_assert_msg(ERR_GET_REASON(h.s_err) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, "%s",
                  errstr(h.s_err));
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}
END_TEST

START_TEST(test_handshake_refuses_tls11)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "ca.crt");
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    struct hs h;

    ck_assert_ptr_nonnull(c);
    /* a client that really offers TLS 1.1 at most */
    ck_assert_int_eq(SSL_CTX_set_min_proto_version(c, TLS1_VERSION), 1);
    ck_assert_int_eq(SSL_CTX_set_max_proto_version(c, TLS1_1_VERSION), 1);
    ck_assert_int_eq(SSL_CTX_set_cipher_list(c, "DEFAULT:@SECLEVEL=0"), 1);
    handshake(s, c, NULL, 0, &h);
    ck_assert(!h.ok);
    ck_assert(h.s_fail);
    ck_assert_msg(ERR_GET_REASON(h.s_err) == SSL_R_UNSUPPORTED_PROTOCOL, "%s", errstr(h.s_err));
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}
END_TEST

START_TEST(test_handshake_tls12_uses_ecdhe_aead)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "ca.crt");
    SSL_CTX *c = client_ctx("client.crt", "client.key", "ca.crt");
    struct hs h;
    const char *cipher;

    ck_assert_int_eq(SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION), 1);
    handshake(s, c, NULL, 0, &h);
    ck_assert_msg(h.ok, "client: %s / server: %s", errstr(h.c_err), errstr(h.s_err));
    ck_assert_int_eq(SSL_version(h.s), TLS1_2_VERSION);
    ck_assert_str_eq(sc_tls_version_name(h.s), "TLSv1.2");
    cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(h.s));
    ck_assert_msg(strncmp(cipher, "ECDHE-ECDSA-", 12) == 0 &&
                      (strstr(cipher, "GCM") != NULL || strstr(cipher, "CHACHA20") != NULL),
                  "%s", cipher);
    peer_id(h.s, CLIENT_ID);
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}
END_TEST

START_TEST(test_handshake_tls12_refuses_cbc_suites)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "ca.crt");
    SSL_CTX *c = client_ctx("client.crt", "client.key", "ca.crt");
    struct hs h;

    ck_assert_int_eq(SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION), 1);
    ck_assert_int_eq(SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA"),
                     1);
    handshake(s, c, NULL, 0, &h);
    ck_assert(!h.ok);
    ck_assert(h.s_fail);
    ck_assert_msg(ERR_GET_REASON(h.s_err) == SSL_R_NO_SHARED_CIPHER, "%s", errstr(h.s_err));
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}
END_TEST

START_TEST(test_ctx_settings)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "ca.crt");
    SSL_CTX *c = client_ctx("client.crt", "client.key", "ca.crt");
    SSL_CTX *both[2] = {s, c};

    for (int i = 0; i < 2; i++) {
        uint64_t opts = SSL_CTX_get_options(both[i]);

        ck_assert_int_eq(SSL_CTX_get_min_proto_version(both[i]), TLS1_2_VERSION);
        ck_assert(opts & SSL_OP_NO_RENEGOTIATION);
        ck_assert(opts & SSL_OP_NO_COMPRESSION);
        ck_assert_int_eq(SSL_CTX_get_verify_mode(both[i]),
                         SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
        ck_assert(SSL_CTX_get_mode(both[i]) & SSL_MODE_RELEASE_BUFFERS);
    }
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}
END_TEST

/* ---- ALPN -------------------------------------------------------------------- */

static void expect_alpn(const unsigned char *offer, unsigned int len, const char *want)
{
    SSL_CTX *s = server_ctx("server.crt", "server.key", "ca.crt");
    SSL_CTX *c = client_ctx("client.crt", "client.key", "ca.crt");
    const unsigned char *sel = NULL;
    unsigned int sel_len = 0;
    struct hs h;

    handshake(s, c, offer, len, &h);
    ck_assert_msg(h.ok, "client: %s / server: %s", errstr(h.c_err), errstr(h.s_err));
    SSL_get0_alpn_selected(h.c, &sel, &sel_len);
    if (want == NULL) {
        ck_assert_msg(sel_len == 0, "selected '%.*s'", (int)sel_len, (const char *)sel);
    } else {
        ck_assert_msg(sel_len == strlen(want) && memcmp(sel, want, sel_len) == 0,
                      "selected '%.*s', wanted '%s'", (int)sel_len,
                      sel != NULL ? (const char *)sel : "", want);
        SSL_get0_alpn_selected(h.s, &sel, &sel_len);
        ck_assert_uint_eq(sel_len, strlen(want));
    }
    hs_free(&h);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}

START_TEST(test_alpn_picks_istio)
{
    expect_alpn((const unsigned char *)"\x05istio", 6, "istio");
}
END_TEST

START_TEST(test_alpn_picks_none_for_h2_only)
{
    expect_alpn((const unsigned char *)"\x02h2", 3, NULL);
}
END_TEST

START_TEST(test_alpn_picks_none_for_no_offer)
{
    expect_alpn(NULL, 0, NULL);
}
END_TEST

START_TEST(test_alpn_skips_unknown_for_a_mesh_protocol)
{
    expect_alpn((const unsigned char *)"\x02h2\x08spdy/3.1\x05istio", 3 + 9 + 6, "istio");
    expect_alpn((const unsigned char *)"\x08istio-h2", 9, "istio-h2");
}
END_TEST

START_TEST(test_alpn_follows_the_client_order)
{
    expect_alpn(sc_alpn_mesh_http, sc_alpn_mesh_http_len, "istio-http/1.1");
    expect_alpn(sc_alpn_mesh_tcp, sc_alpn_mesh_tcp_len, "istio");
}
END_TEST

START_TEST(test_alpn_never_offers_peer_exchange)
{
    static const struct {
        const unsigned char *wire;
        int n;
    } lists[] = {{sc_alpn_mesh_tcp, 1}, {sc_alpn_mesh_http, 3}};

    for (size_t l = 0; l < 2; l++) {
        const unsigned char *w = lists[l].wire;
        unsigned int len = l == 0 ? sc_alpn_mesh_tcp_len : sc_alpn_mesh_http_len;
        unsigned int i = 0;
        int n = 0;

        /* well-formed: the length bytes add up to exactly len */
        while (i < len) {
            ck_assert_uint_gt(w[i], 0);
            ck_assert_msg(w[i] != 19 || memcmp(w + i + 1, "istio-peer-exchange", 19) != 0,
                          "offers istio-peer-exchange");
            i += 1u + w[i];
            n++;
        }
        ck_assert_uint_eq(i, len);
        ck_assert_int_eq(n, lists[l].n);
    }
}
END_TEST

/* ---- x509 ------------------------------------------------------------------------ */

static X509 *read_cert(const char *name)
{
    FILE *f = fopen(path(name), "r");
    X509 *x;

    ck_assert_ptr_nonnull(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(x);
    return x;
}

/* What `openssl x509 -noout -serial` prints, after "serial=". */
static void cli_serial(const char *name, char *out, size_t outlen)
{
    char cmd[700];
    FILE *p;

    snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -serial", path(name));
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(fgets(out, (int)outlen, p));
    pclose(p);
    out[strcspn(out, "\n")] = '\0';
    ck_assert_msg(strncmp(out, "serial=", 7) == 0, "%s", out);
    memmove(out, out + 7, strlen(out + 7) + 1);
}

START_TEST(test_x509_spiffe_id_reads_the_uri_san)
{
    X509 *c = read_cert("client.crt"), *s = read_cert("server.crt"), *o = read_cert("other-td.crt");
    char id[256];

    ck_assert_int_eq(sc_x509_spiffe_id(c, id, sizeof(id)), 0);
    ck_assert_str_eq(id, CLIENT_ID);
    ck_assert_int_eq(sc_x509_spiffe_id(s, id, sizeof(id)), 0);
    ck_assert_str_eq(id, SERVER_ID);
    ck_assert_int_eq(sc_x509_spiffe_id(o, id, sizeof(id)), 0);
    ck_assert_str_eq(id, "spiffe://example.org/ns/foo/sa/client");
    X509_free(c);
    X509_free(s);
    X509_free(o);
}
END_TEST

START_TEST(test_x509_spiffe_id_refuses_missing_or_long)
{
    X509 *ca = read_cert("ca.crt"), *c = read_cert("client.crt");
    char id[256];

    memset(id, 'x', sizeof(id));
    ck_assert_int_eq(sc_x509_spiffe_id(ca, id, sizeof(id)), -1); /* no SAN at all */
    ck_assert_str_eq(id, "");
    memset(id, 'x', sizeof(id));
    ck_assert_int_eq(sc_x509_spiffe_id(NULL, id, sizeof(id)), -1);
    ck_assert_str_eq(id, "");
    /* exactly one byte short for the NUL */
    memset(id, 'x', sizeof(id));
    ck_assert_int_eq(sc_x509_spiffe_id(c, id, strlen(CLIENT_ID)), -1);
    ck_assert_str_eq(id, "");
    ck_assert_int_eq(sc_x509_spiffe_id(c, id, strlen(CLIENT_ID) + 1), 0);
    ck_assert_str_eq(id, CLIENT_ID);
    ck_assert_int_eq(sc_x509_spiffe_id(c, id, 0), -1);
    X509_free(ca);
    X509_free(c);
}
END_TEST

START_TEST(test_x509_describe_names_subject_san_serial_issuer)
{
    X509 *c = read_cert("client.crt");
    char d[1024], serial[128], want[256], hex[128];

    cli_serial("client.crt", serial, sizeof(serial));
    sc_x509_describe(c, d, sizeof(d));
    ck_assert_msg(strstr(d, "subject=\"CN=client.foo.svc.cluster.local\"") != NULL, "%s", d);
    ck_assert_msg(strstr(d, "san=" CLIENT_ID " ") != NULL, "%s", d);
    snprintf(want, sizeof(want), "serial=%s ", serial);
    ck_assert_msg(strstr(d, want) != NULL, "'%s' lacks '%s'", d, want);
    ck_assert_msg(strstr(d, "issuer=\"CN=mesh\"") != NULL, "%s", d);
    ck_assert_ptr_null(strstr(d, "PRIVATE"));
    ck_assert_ptr_null(strstr(d, "BEGIN"));
    ck_assert_str_eq(sc_x509_serial_hex(c, hex, sizeof(hex)), serial);
    X509_free(c);
}
END_TEST

START_TEST(test_x509_describe_without_san_or_cert)
{
    X509 *ca = read_cert("ca.crt");
    char d[512];

    sc_x509_describe(ca, d, sizeof(d));
    ck_assert_msg(strstr(d, "subject=\"CN=mesh\"") != NULL, "%s", d);
    ck_assert_msg(strstr(d, "san=- ") != NULL, "%s", d);
    ck_assert_msg(strstr(d, "issuer=\"CN=mesh\"") != NULL, "%s", d);
    sc_x509_describe(NULL, d, sizeof(d));
    ck_assert_str_eq(d, "no certificate");
    X509_free(ca);
}
END_TEST

START_TEST(test_x509_describe_truncates_safely)
{
    X509 *c = read_cert("client.crt");
    char d[16];

    memset(d, 'z', sizeof(d));
    sc_x509_describe(c, d, sizeof(d));
    ck_assert_uint_eq(strlen(d), sizeof(d) - 1);
    ck_assert_str_eq(d, "subject=\"CN=cli");
    X509_free(c);
}
END_TEST

START_TEST(test_x509_load_pem_mem_counts_and_refuses)
{
    static const char garbage[] =
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    struct sc_err err;
    STACK_OF(X509) * sk;
    char *pem = NULL;
    size_t len = 0;
    FILE *f = fopen(path("bundle-mesh-foo.pem"), "r");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(getdelim(&pem, &len, '\0', f), 1);
    fclose(f);
    memset(&err, 0, sizeof(err));
    sk = sc_x509_load_pem_mem(pem, strlen(pem), "bundle", &err);
    ck_assert_ptr_nonnull(sk);
    ck_assert_int_eq(sk_X509_num(sk), 2);
    sc_x509_stack_free(sk);
    /* the first certificate alone when the length stops after it */
    sk = sc_x509_load_pem_mem(pem, (size_t)(strstr(pem, "-----END CERTIFICATE-----") - pem) + 26,
                              "bundle", &err);
    ck_assert_ptr_nonnull(sk);
    ck_assert_int_eq(sk_X509_num(sk), 1);
    sc_x509_stack_free(sk);
    free(pem);

    ck_assert_ptr_null(sc_x509_load_pem_mem("", 0, "empty-thing", &err));
    ck_assert_msg(strstr(err.msg, "empty-thing") != NULL, "%s", err.msg);
    ck_assert_ptr_null(sc_x509_load_pem_mem(garbage, sizeof(garbage) - 1, "junk-thing", &err));
    ck_assert_msg(strstr(err.msg, "junk-thing") != NULL, "%s", err.msg);
    ck_assert_int_eq(ERR_peek_error(), 0);
    sc_x509_stack_free(NULL);
}
END_TEST

/* ---- snapshot ------------------------------------------------------------------- */

static int ctx_index = -1;
static int ctx_freed;
static int ctx_marker;

static void on_ctx_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (ptr == &ctx_marker) {
        __atomic_add_fetch(&ctx_freed, 1, __ATOMIC_RELAXED);
    }
}

static struct sc_snapshot *snapshot(void)
{
    char yaml[2048];
    struct sc_config *cfg = NULL;
    struct sc_err err;
    struct sc_snapshot *s;

    snprintf(yaml, sizeof(yaml),
             "node: {id: t, trust_domain: cluster.local, namespace: foo}\n"
             "secrets: {cert_chain: \"%s/client.crt\", private_key: \"%s/client.key\","
             " trusted_ca: \"%s/ca.crt\"}\n",
             certs, certs, certs);
    memset(&err, 0, sizeof(err));
    ck_assert_msg(sc_config_load_string("t.yaml", yaml, &cfg, &err) == 0, "%s", err.msg);
    s = sc_snapshot_new(cfg, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    if (ctx_index < 0) {
        ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, on_ctx_free);
        ck_assert_int_ge(ctx_index, 0);
    }
    ck_assert_ptr_nonnull(sc_snapshot_server_ctx(s));
    ck_assert_ptr_nonnull(sc_snapshot_client_ctx(s));
    SSL_CTX_set_ex_data(sc_snapshot_server_ctx(s), ctx_index, &ctx_marker);
    SSL_CTX_set_ex_data(sc_snapshot_client_ctx(s), ctx_index, &ctx_marker);
    ctx_freed = 0;
    return s;
}

START_TEST(test_snapshot_unref_frees_on_the_last_reference)
{
    struct sc_snapshot *s = snapshot();
    struct sc_snapshot *r1 = sc_snapshot_ref(s), *r2 = sc_snapshot_ref(s);

    ck_assert_ptr_eq(r1, s);
    ck_assert_ptr_eq(r2, s);
    sc_snapshot_unref(r1);
    sc_snapshot_unref(s);
    ck_assert_int_eq(ctx_freed, 0);
    /* the last holder still sees everything */
    ck_assert_ptr_nonnull(sc_snapshot_config(r2));
    ck_assert_ptr_nonnull(sc_snapshot_material(r2));
    ck_assert_ptr_nonnull(sc_tls_material_leaf(sc_snapshot_material(r2)));
    sc_snapshot_unref(r2);
    ck_assert_int_eq(ctx_freed, 2); /* both SSL_CTXs went with it */
    sc_snapshot_unref(NULL);
}
END_TEST

/* A connection's SSL keeps working after the snapshot it came from is gone. */
START_TEST(test_snapshot_outlived_by_its_connections)
{
    struct sc_snapshot *s = snapshot();
    SSL_CTX *c = client_ctx("client.crt", "client.key", "ca.crt");
    struct hs h;

    handshake(sc_snapshot_server_ctx(s), c, NULL, 0, &h);
    ck_assert(h.ok);
    sc_snapshot_unref(s);
    ck_assert_int_eq(ctx_freed, 1); /* the client ctx; the server one is held by h.s */
    ck_assert(xfer(h.c, h.s, "again", &h.s_fail, &h.s_err));
    hs_free(&h);
    ck_assert_int_eq(ctx_freed, 2);
    SSL_CTX_free(c);
}
END_TEST

START_TEST(test_snapshot_generations_increase)
{
    struct sc_snapshot *a = snapshot(), *b = snapshot();

    ck_assert_uint_gt(sc_snapshot_generation(b), sc_snapshot_generation(a));
    sc_snapshot_unref(a);
    sc_snapshot_unref(b);
}
END_TEST

static void *ref_storm(void *arg)
{
    struct sc_snapshot *s = arg;

    for (int i = 0; i < 20000; i++) {
        struct sc_snapshot *r = sc_snapshot_ref(s);
        sc_snapshot_unref(r);
    }
    return NULL;
}

START_TEST(test_snapshot_refcount_is_thread_safe)
{
    struct sc_snapshot *s = snapshot();
    pthread_t t[4];

    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_create(&t[i], NULL, ref_storm, s), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
    ck_assert_int_eq(ctx_freed, 0);
    sc_snapshot_unref(s);
    ck_assert_int_eq(ctx_freed, 2);
}
END_TEST

/* ---- revocation ---------------------------------------------------------- */

/* The server's material with the CRLs of crl (NULL: none) added. */
static SSL_CTX *server_ctx_crl(const char *ca, const char *crl)
{
    struct sc_err err;
    struct sc_tls_material *m = mat("server.crt", "server.key", ca);
    SSL_CTX *ctx;

    memset(&err, 0, sizeof(err));
    ck_assert_msg(sc_tls_material_load_crls(m, path(crl), &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(sc_tls_material_crls(m));
    ctx = sc_tlsctx_server_new(m, NULL, &err);
    ck_assert_msg(ctx != NULL, "%s", err.msg);
    sc_tls_material_free(m);
    return ctx;
}

/* A handshake of the client (crt/key, trusting ca) with s; returns the
 * server's verify result, and its recorded failure in vi. */
static long client_against(SSL_CTX *s, const char *crt, const char *ca, int *ok,
                           struct sc_tls_verify_info *vi)
{
    char key[128];
    SSL_CTX *c;
    struct hs h;
    long vr;

    snprintf(key, sizeof(key), "%.*s.key", (int)(strlen(crt) - 4), crt);
    c = client_ctx(crt, key, ca);
    handshake(s, c, NULL, 0, &h);
    *ok = h.ok;
    vr = SSL_get_verify_result(h.s);
    memset(vi, 0, sizeof(*vi));
    if (!h.ok) {
        ck_assert_int_eq(sc_tls_verify_info_get(h.s, vi), 0);
    }
    hs_free(&h);
    SSL_CTX_free(c);
    return vr;
}

START_TEST(test_crl_refuses_a_revoked_client_and_names_the_crl)
{
    SSL_CTX *s = server_ctx_crl("ca.crt", "revoke-client.crl");
    struct sc_tls_verify_info vi;
    char serial[80];
    int ok;
    long vr = client_against(s, "client.crt", "ca.crt", &ok, &vi);

    ck_assert(!ok);
    ck_assert_int_eq(vr, X509_V_ERR_CERT_REVOKED);
    ck_assert_int_eq(vi.error, X509_V_ERR_CERT_REVOKED);
    ck_assert_int_eq(vi.depth, 0);
    ck_assert_str_eq(vi.crl_issuer, "CN=mesh");
    ck_assert(vi.crl_next_update > time(NULL));
    {
        FILE *f = fopen(path("client.crt"), "r");
        X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

        ck_assert_ptr_nonnull(x);
        ck_assert_str_eq(vi.serial, sc_x509_serial_hex(x, serial, sizeof(serial)));
        X509_free(x);
        fclose(f);
    }
    SSL_CTX_free(s);
}
END_TEST

START_TEST(test_crl_leaves_unlisted_peers_and_issuers_without_a_crl_alone)
{
    /* a CRL of the mesh root only; the foo root and the mesh-int
     * intermediate have none */
    SSL_CTX *s = server_ctx_crl("bundle-mesh-foo.pem", "revoke-client.crl");
    struct sc_tls_verify_info vi;
    int ok;

    /* accepted, and no CRL error left behind in the verify result */
    ck_assert_int_eq(client_against(s, "int-client.crt", "ca.crt", &ok, &vi), X509_V_OK);
    ck_assert_msg(ok, "int-client: %s", X509_verify_cert_error_string(vi.error));
    ck_assert_int_eq(client_against(s, "foo-client.crt", "bundle-mesh-foo.pem", &ok, &vi),
                     X509_V_OK);
    ck_assert_msg(ok, "foo-client: %s", X509_verify_cert_error_string(vi.error));
    client_against(s, "expired-client.crt", "ca.crt", &ok, &vi);
    ck_assert(!ok); /* other failures are still failures */
    ck_assert_int_eq(vi.error, X509_V_ERR_CERT_HAS_EXPIRED);
    SSL_CTX_free(s);
}
END_TEST

START_TEST(test_crl_refuses_a_revoked_intermediate)
{
    SSL_CTX *s = server_ctx_crl("ca.crt", "revoke-int.crl");
    struct sc_tls_verify_info vi;
    int ok;

    ck_assert_int_eq(client_against(s, "int-client.crt", "ca.crt", &ok, &vi),
                     X509_V_ERR_CERT_REVOKED);
    ck_assert(!ok);
    ck_assert_int_eq(vi.depth, 1);
    ck_assert_str_eq(vi.crl_issuer, "CN=mesh");
    client_against(s, "client.crt", "ca.crt", &ok, &vi);
    ck_assert(ok);
    SSL_CTX_free(s);
}
END_TEST

START_TEST(test_crl_expired_still_revokes_and_lets_others_through)
{
    SSL_CTX *s = server_ctx_crl("ca.crt", "expired.crl");
    struct sc_tls_verify_info vi;
    int ok;

    ck_assert_int_eq(client_against(s, "client.crt", "ca.crt", &ok, &vi), X509_V_ERR_CERT_REVOKED);
    ck_assert(!ok);
    ck_assert_int_eq(client_against(s, "int-client.crt", "ca.crt", &ok, &vi), X509_V_OK);
    ck_assert(ok);
    SSL_CTX_free(s);
}
END_TEST

START_TEST(test_crl_set_refuses_an_untrusted_signer_whole)
{
    struct sc_tls_material *m = mat("server.crt", "server.key", "ca.crt");
    struct sc_err err;

    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(sc_tls_material_load_crls(m, path("revoke-client.crl"), &err), 0);
    /* good CRL + one by another key also named CN=mesh: the whole set fails,
     * the material keeps the CRL it had */
    ck_assert_int_eq(sc_tls_material_load_crls(m, path("good-and-evil.crl"), &err), -1);
    ck_assert_msg(strstr(err.msg, "CRL 2 (issuer CN=mesh) is not signed by any trusted CA") != NULL,
                  "%s", err.msg);
    ck_assert_int_eq(sk_X509_CRL_num(sc_tls_material_crls(m)), 1);
    ck_assert_int_eq(sc_tls_material_load_crls(m, path("garbage.pem"), &err), -1);
    ck_assert_msg(strstr(err.msg, "CRL 1 does not parse") != NULL, "%s", err.msg);
    ck_assert_int_eq(sc_tls_material_load_crls(m, path("ca.crt"), &err), -1);
    ck_assert_msg(strstr(err.msg, "no PEM CRL found") != NULL, "%s", err.msg);
    ck_assert_int_eq(sc_tls_material_load_crls(m, path("missing.crl"), &err), -1);
    ck_assert_msg(strstr(err.msg, "cannot read") != NULL, "%s", err.msg);
    ck_assert_int_eq(sk_X509_CRL_num(sc_tls_material_crls(m)), 1);
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_crl_problem_reports_an_expired_crl)
{
    struct sc_tls_material *m = mat("server.crt", "server.key", "ca.crt");
    struct sc_err err;
    char why[256];
    int from = 0;

    ck_assert_int_eq(sc_tls_material_load_crls(m, path("revoke-client.crl"), &err), 0);
    ck_assert_ptr_null(
        sc_crl_problem(sc_tls_material_crls(m), time(NULL), &from, why, sizeof(why)));
    ck_assert_int_eq(sc_tls_material_load_crls(m, path("expired.crl"), &err), 0);
    from = 0;
    ck_assert_ptr_nonnull(
        sc_crl_problem(sc_tls_material_crls(m), time(NULL), &from, why, sizeof(why)));
    ck_assert_msg(strncmp(why, "CRL of CN=mesh is past its next update 20", 41) == 0, "%s", why);
    ck_assert_int_eq(from, 1);
    sc_tls_material_free(m);
}
END_TEST

static Suite *tlsctx_suite(void)
{
    Suite *s = suite_create("tlsctx");
    TCase *tc = tcase_create("sc_tls_material_load");

    tcase_add_test(tc, test_material_load_accepts_the_mesh_set);
    tcase_add_test(tc, test_material_load_keeps_every_root_of_a_bundle);
    tcase_add_test(tc, test_material_load_names_a_missing_file);
    tcase_add_test(tc, test_material_load_refuses_a_key_of_another_cert);
    tcase_add_test(tc, test_material_load_refuses_garbage_pem);
    tcase_add_test(tc, test_material_load_refuses_an_empty_bundle);
    tcase_add_test(tc, test_material_load_refuses_a_bundle_with_a_broken_block);
    tcase_add_test(tc, test_material_load_refuses_a_directory);
    tcase_add_test(tc, test_material_load_refuses_a_chain_outside_the_bundle);
    tcase_add_test(tc, test_material_load_checks_leaf_time_only_when_asked);
    suite_add_tcase(s, tc);

    tc = tcase_create("handshake");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_handshake_mesh_peers_succeed_with_tls13);
    tcase_add_test(tc, test_groups_known_only_for_single_names_openssl_has);
    tcase_add_test(tc, test_handshake_default_groups_refuse_ffdhe);
    tcase_add_test(tc, test_handshake_follows_configured_groups);
    tcase_add_test(tc, test_session_trust_is_recorded_and_checked);
    tcase_add_test(tc, test_handshake_sends_the_intermediate);
    tcase_add_test(tc, test_handshake_refuses_a_client_of_another_root);
    tcase_add_test(tc, test_handshake_trusts_every_root_of_a_bundle);
    tcase_add_test(tc, test_handshake_client_refuses_a_server_of_another_root);
    tcase_add_test(tc, test_handshake_refuses_an_expired_client);
    tcase_add_test(tc, test_handshake_refuses_an_expired_root_by_default);
    tcase_add_test(tc, test_handshake_accepts_an_expired_root_within_the_grace);
    tcase_add_test(tc, test_handshake_refuses_an_expired_root_past_the_grace);
    tcase_add_test(tc, test_handshake_grace_never_covers_an_expired_leaf);
    tcase_add_test(tc, test_handshake_refuses_a_client_without_certificate);
    tcase_add_test(tc, test_handshake_refuses_tls11);
    tcase_add_test(tc, test_handshake_tls12_uses_ecdhe_aead);
    tcase_add_test(tc, test_handshake_tls12_refuses_cbc_suites);
    tcase_add_test(tc, test_ctx_settings);
    suite_add_tcase(s, tc);

    tc = tcase_create("crl");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_crl_refuses_a_revoked_client_and_names_the_crl);
    tcase_add_test(tc, test_crl_leaves_unlisted_peers_and_issuers_without_a_crl_alone);
    tcase_add_test(tc, test_crl_refuses_a_revoked_intermediate);
    tcase_add_test(tc, test_crl_expired_still_revokes_and_lets_others_through);
    tcase_add_test(tc, test_crl_set_refuses_an_untrusted_signer_whole);
    tcase_add_test(tc, test_crl_problem_reports_an_expired_crl);
    suite_add_tcase(s, tc);

    tc = tcase_create("alpn");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_alpn_picks_istio);
    tcase_add_test(tc, test_alpn_picks_none_for_h2_only);
    tcase_add_test(tc, test_alpn_picks_none_for_no_offer);
    tcase_add_test(tc, test_alpn_skips_unknown_for_a_mesh_protocol);
    tcase_add_test(tc, test_alpn_follows_the_client_order);
    tcase_add_test(tc, test_alpn_never_offers_peer_exchange);
    suite_add_tcase(s, tc);

    tc = tcase_create("x509");
    tcase_add_test(tc, test_x509_spiffe_id_reads_the_uri_san);
    tcase_add_test(tc, test_x509_spiffe_id_refuses_missing_or_long);
    tcase_add_test(tc, test_x509_describe_names_subject_san_serial_issuer);
    tcase_add_test(tc, test_x509_describe_without_san_or_cert);
    tcase_add_test(tc, test_x509_describe_truncates_safely);
    tcase_add_test(tc, test_x509_load_pem_mem_counts_and_refuses);
    suite_add_tcase(s, tc);

    tc = tcase_create("snapshot");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_snapshot_unref_frees_on_the_last_reference);
    tcase_add_test(tc, test_snapshot_outlived_by_its_connections);
    tcase_add_test(tc, test_snapshot_generations_increase);
    tcase_add_test(tc, test_snapshot_refcount_is_thread_safe);
    suite_add_tcase(s, tc);
    return s;
}

/* Makes the certificates and the odd files the tests load. */
static int make_certs(void)
{
    const char *tmp = getenv("TMPDIR");
    char cmd[2048];

    snprintf(certs, sizeof(certs), "%s/sc-tlsctx.XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(certs) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(
        cmd, sizeof(cmd),
        "scripts/gen-certs.sh mesh '%s' >/dev/null && "
        "scripts/gen-certs.sh ca '%s' old --expired >/dev/null && "
        "scripts/gen-certs.sh leaf '%s' old old-client spiffe://cluster.local/ns/foo/sa/client "
        ">/dev/null && cat '%s/old-ca.crt' '%s/mesh-ca.crt' >'%s/bundle-old-mesh.pem'",
        certs, certs, certs, certs, certs, certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "scripts/gen-certs.sh mesh %s failed (run from the repository root)\n",
                certs);
        return -1;
    }
    return 0;
}

int main(void)
{
    SRunner *sr;
    int failed;
    char cmd[1024];

    if (make_certs() != 0) {
        return EXIT_FAILURE;
    }
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && cat mesh-ca.crt foo-ca.crt >bundle-mesh-foo.pem &&"
             " cat mesh-ca.crt bar-ca.crt >bundle-mesh-bar.pem &&"
             " { cat ca.crt; printf -- '-----BEGIN CERTIFICATE-----\\nMIIB!!broken\\n"
             "-----END CERTIFICATE-----\\n'; } >broken-bundle.pem &&"
             " G=\"$OLDPWD/scripts/gen-certs.sh\" &&"
             " $G crl . mesh --revoke client --out revoke-client.crl &&"
             " $G crl . mesh --revoke mesh-int --out revoke-int.crl &&"
             " $G crl . mesh --revoke client --expired --out expired.crl &&"
             " mkdir -p evil && $G ca evil mesh && $G crl evil mesh --out evil.crl &&"
             " cat revoke-client.crl evil.crl >good-and-evil.crl",
             certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot make bundles in %s\n", certs);
        return EXIT_FAILURE;
    }
    write_file("garbage.pem", "-----BEGIN CERTIFICATE-----\nThis is not base64 at all!!\n"
                              "-----END CERTIFICATE-----\n");
    write_file("notpem.txt", "just some text, no PEM blocks here\n");
    write_file("empty.pem", "");

    sr = srunner_create(tlsctx_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", certs);
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
