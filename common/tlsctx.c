#include "tlsctx.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x509.h"

struct sc_tls_material {
    EVP_PKEY *key;
    STACK_OF(X509) *chain;   /* leaf first */
    STACK_OF(X509) *roots;
};

const unsigned char sc_alpn_mesh_tcp[] = "\x05istio";
const unsigned int sc_alpn_mesh_tcp_len = 6;
const unsigned char sc_alpn_mesh_http[] = "\x0eistio-http/1.1\x05istio\x08http/1.1";
const unsigned int sc_alpn_mesh_http_len = 15 + 6 + 9;

/* TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only. */
static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static EVP_PKEY *load_key(const char *path, struct sc_err *err)
{
    EVP_PKEY *k;
    BIO *b = BIO_new_file(path, "r");

    if (b == NULL) {
        ERR_clear_error();
        sc_err_set(err, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (k == NULL) {
        ERR_clear_error();
        sc_err_set(err, "%s: no PEM private key found", path);
    }
    return k;
}

struct sc_tls_material *sc_tls_material_load(const char *chain_path, const char *key_path,
                                             const char *ca_path, struct sc_err *err)
{
    struct sc_tls_material *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        sc_err_set(err, "out of memory");
        return NULL;
    }
    m->chain = sc_x509_load_pem_file(chain_path, err);
    if (m->chain == NULL) {
        goto fail;
    }
    m->key = load_key(key_path, err);
    if (m->key == NULL) {
        goto fail;
    }
    if (X509_check_private_key(sk_X509_value(m->chain, 0), m->key) != 1) {
        ERR_clear_error();
        sc_err_set(err, "%s: key does not match the certificate in %s", key_path, chain_path);
        goto fail;
    }
    m->roots = sc_x509_load_pem_file(ca_path, err);
    if (m->roots == NULL) {
        goto fail;
    }
    return m;

fail:
    sc_tls_material_free(m);
    return NULL;
}

void sc_tls_material_free(struct sc_tls_material *m)
{
    if (m == NULL) {
        return;
    }
    EVP_PKEY_free(m->key);
    sc_x509_stack_free(m->chain);
    sc_x509_stack_free(m->roots);
    free(m);
}

X509 *sc_tls_material_leaf(const struct sc_tls_material *m)
{
    return sk_X509_value(m->chain, 0);
}

STACK_OF(X509) *sc_tls_material_roots(const struct sc_tls_material *m)
{
    return m->roots;
}

/* Server side: pick a mesh ALPN the client offered, preferring the client's
 * order; without one, no ALPN is negotiated (plain TLS still works). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned int i = 0;

    (void)ssl;
    (void)arg;
    while (i < inlen) {
        unsigned int l = in[i];
        const unsigned char *p = in + i + 1;

        if (i + 1 + l > inlen) {
            break;
        }
        if ((l == 5 && memcmp(p, "istio", 5) == 0) ||
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

static SSL_CTX *ctx_common(const struct sc_tls_material *m, int server, struct sc_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    X509_STORE *store;

    if (ctx == NULL) {
        sc_err_tls(err, "SSL_CTX_new");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        sc_err_tls(err, "TLS parameters");
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_ENABLE_PARTIAL_WRITE);
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
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *sc_tlsctx_server_new(const struct sc_tls_material *m, struct sc_err *err)
{
    static const unsigned char sid_ctx[] = "mtls-sidecar";
    SSL_CTX *ctx = ctx_common(m, 1, err);

    if (ctx == NULL) {
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    /* One ticket per handshake is enough for a sidecar peer to resume. */
    SSL_CTX_set_num_tickets(ctx, 1);
    if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1) {
        sc_err_tls(err, "session id context");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct sc_tls_session_sink *sink = SSL_get_app_data(ssl);

    if (sink == NULL || sink->put == NULL) {
        return 0;           /* not kept: OpenSSL frees it */
    }
    sink->put(sink->arg, sess);
    return 1;               /* the sink owns the reference now */
}

SSL_CTX *sc_tlsctx_client_new(const struct sc_tls_material *m, struct sc_err *err)
{
    SSL_CTX *ctx = ctx_common(m, 0, err);

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

SSL_CTX *sc_tlsctx_origin_new(const char *ca_file, const char *cert_file, const char *key_file,
                              struct sc_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        sc_err_tls(err, "SSL_CTX_new");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        sc_err_tls(err, "TLS parameters");
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            sc_err_tls(err, ca_file);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        sc_err_tls(err, "default trust store");
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
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}
