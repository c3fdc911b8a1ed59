#include "tlsctx.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crl.h"
#include "x509.h"

/* SSL_CTX construction: our TLS parameters, the mesh server and client
 * contexts on a workload's material (tlsmaterial), their verification
 * (tlsverify) and resumption (tlssession), and the contexts that originate
 * TLS to services outside the mesh. */

const unsigned char sc_alpn_mesh_tcp[] = "\x05istio";
const unsigned int sc_alpn_mesh_tcp_len = 6;
const unsigned char sc_alpn_mesh_http[] = "\x0eistio-http/1.1\x05istio\x08http/1.1";
const unsigned int sc_alpn_mesh_http_len = 15 + 6 + 9;

/* TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only. */
static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
/* TLS 1.3: OpenSSL's three suites, AES-128-GCM first as in Envoy (BoringSSL
 * with AES hardware) and in the 1.2 list above; OpenSSL's own order starts
 * with AES-256-GCM, whose 14 rounds cost a bulk transfer ~8 % more CPU. */
static const char tls13_suites[] = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                   "TLS_CHACHA20_POLY1305_SHA256";

static int hbone_idx = -1; /* SSL: accepted on an HBONE listener */
static pthread_once_t hbone_once = PTHREAD_ONCE_INIT;

static void hbone_index_init(void)
{
    hbone_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Server side: pick a mesh ALPN the client offered, preferring the client's
 * order; without one, no ALPN is negotiated (plain TLS still works). */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned int i = 0;
    int hbone = hbone_idx >= 0 && SSL_get_ex_data(ssl, hbone_idx) != NULL;

    (void)arg;
    while (i < inlen) {
        unsigned int l = in[i];
        const unsigned char *p = in + i + 1;

        if (i + 1 + l > inlen) {
            break;
        }
        if (hbone) {
            /* HBONE is HTTP/2: h2 or nothing */
            if (l == 2 && memcmp(p, "h2", 2) == 0) {
                *out = p;
                *outlen = 2;
                return SSL_TLSEXT_ERR_OK;
            }
        } else if ((l == 5 && memcmp(p, "istio", 5) == 0) ||
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

int sc_tls_group_known(const char *name)
{
    SSL_CTX *ctx;
    int ok;

    if (name == NULL || name[0] == '\0' || strchr(name, ':') != NULL) {
        return 0;
    }
    ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL) {
        ERR_clear_error();
        return 0;
    }
    ok = SSL_CTX_set1_groups_list(ctx, name) == 1;
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return ok;
}

/* Our TLS parameters, for every context: TLS 1.2 minimum, ECDHE+AEAD suites
 * for 1.2, AES-128-GCM first (1.2 and 1.3, in the server's order), the
 * key-exchange groups given (or ours), no renegotiation, no compression,
 * buffers released when idle. */
static SSL_CTX *ctx_base(const SSL_METHOD *method, uint64_t options, long mode, const char *groups,
                         struct sc_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(method);

    if (ctx == NULL) {
        sc_err_tls(err, "SSL_CTX_new");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, tls13_suites) != 1) {
        sc_err_tls(err, "TLS parameters");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_set1_groups_list(ctx, groups != NULL ? groups : SC_TLS_DEFAULT_GROUPS) != 1) {
        sc_err_tls(err, "tls.groups");
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* the server's order decides (a client's AES-256 first does not) */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 options);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_ENABLE_PARTIAL_WRITE | mode);
    return ctx;
}

static SSL_CTX *ctx_common(const struct sc_tls_material *m, int server, const char *groups,
                           struct sc_err *err)
{
    /* Send exactly the configured chain (leaf + intermediates), never the
     * root OpenSSL would otherwise add from the trust store. */
    SSL_CTX *ctx = ctx_base(server ? TLS_server_method() : TLS_client_method(),
                            SSL_OP_CIPHER_SERVER_PREFERENCE, SSL_MODE_NO_AUTO_CHAIN, groups, err);
    X509_STORE *store;
    STACK_OF(X509) * roots;

    if (ctx == NULL) {
        return NULL;
    }
    if (SSL_CTX_use_certificate(ctx, sc_tls_material_leaf(m)) != 1) {
        sc_err_tls(err, "certificate");
        goto fail;
    }
    for (int i = 1; i < sk_X509_num(sc_tls_material_chain(m)); i++) {
        if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(sc_tls_material_chain(m), i)) != 1) {
            sc_err_tls(err, "certificate chain");
            goto fail;
        }
    }
    if (SSL_CTX_use_PrivateKey(ctx, sc_tls_material_key(m)) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        sc_err_tls(err, "private key");
        goto fail;
    }
    store = SSL_CTX_get_cert_store(ctx);
    roots = sc_tls_material_roots(m);
    for (int i = 0; i < sk_X509_num(roots); i++) {
        if (X509_STORE_add_cert(store, sk_X509_value(roots, i)) != 1) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
                sc_err_tls(err, "trust bundle");
                goto fail;
            }
            ERR_clear_error();
        }
    }
    if (sc_crl_install(store, sc_tls_material_crls(m), err) != 0) {
        goto fail;
    }
    sc_tls_session_init();
    if (sc_tls_verify_attach(ctx, m, err) != 0) {
        goto fail;
    }
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *sc_tlsctx_server_new(const struct sc_tls_material *m, const char *groups,
                              struct sc_err *err)
{
    static const unsigned char sid_ctx[] = "mtls-sidecar";
    SSL_CTX *ctx = ctx_common(m, 1, groups, err);

    if (ctx == NULL) {
        return NULL;
    }
    pthread_once(&hbone_once, hbone_index_init); /* before the context is shared */
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    sc_tls_session_server_setup(ctx);
    /* One ticket per handshake is enough for a sidecar peer to resume. */
    SSL_CTX_set_num_tickets(ctx, 1);
    /* Stateful TLS 1.3 tickets: the ticket names a session kept in this
     * context's cache, so a resumption finds the decoded peer certificate
     * there instead of decoding it again from a stateless ticket (OpenSSL
     * 3.0 spends a third of a resumed handshake on that).  The cache is
     * bounded (SC_TLS_SESSION_CACHE sessions, the oldest dropped first) and
     * belongs to this snapshot's context, so a new trust bundle or leaf
     * starts with an empty one. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, SC_TLS_SESSION_CACHE);
    if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1) {
        sc_err_tls(err, "session id context");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

SSL_CTX *sc_tlsctx_client_new(const struct sc_tls_material *m, const char *groups,
                              struct sc_err *err)
{
    SSL_CTX *ctx = ctx_common(m, 0, groups, err);

    if (ctx == NULL) {
        return NULL;
    }
    sc_tls_session_client_setup(ctx);
    return ctx;
}

const char *sc_tls_version_name(const SSL *ssl)
{
    return ssl != NULL ? SSL_get_version(ssl) : "-";
}

/* The CRLs of crl_file, signed by certificates of ca_file, into store. */
static int origin_crls(X509_STORE *store, const char *ca_file, const char *crl_file,
                       struct sc_err *err)
{
    STACK_OF(X509) *roots = NULL;
    STACK_OF(X509_CRL) *crls = NULL;
    char *pem = NULL;
    size_t len = 0;
    int rc = -1;

    if (ca_file == NULL) {
        sc_err_set(err, "%s: a CRL needs caCertificates to be checked against", crl_file);
        return -1;
    }
    pem = sc_tls_material_read_file(crl_file, &len, err);
    if (pem == NULL) {
        goto out;
    }
    crls = sc_crl_load_pem_mem(pem, len, crl_file, err);
    if (crls == NULL) {
        goto out;
    }
    roots = sc_x509_load_pem_file(ca_file, err);
    if (roots == NULL || sc_crl_verify(crls, roots, NULL, crl_file, err) != 0 ||
        sc_crl_install(store, crls, err) != 0) {
        goto out;
    }
    rc = 0;
out:
    sc_crl_stack_free(crls); /* the store keeps its own references */
    sc_x509_stack_free(roots);
    free(pem);
    return rc;
}

SSL_CTX *sc_tlsctx_origin_new(const char *ca_file, const char *crl_file, const char *cert_file,
                              const char *key_file, const char *groups, struct sc_err *err)
{
    SSL_CTX *ctx = ctx_base(TLS_client_method(), 0, 0, groups, err);

    if (ctx == NULL) {
        return NULL;
    }
    if (ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            sc_err_tls(err, ca_file);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        sc_err_tls(err, "default trust store");
        goto fail;
    }
    if (crl_file != NULL && origin_crls(SSL_CTX_get_cert_store(ctx), ca_file, crl_file, err) != 0) {
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
    (void)sc_tls_verify_attach(ctx, NULL, err); /* no material: cannot fail */
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int sc_tls_mark_hbone(SSL *ssl)
{
    static char mark;

    pthread_once(&hbone_once, hbone_index_init);
    return hbone_idx >= 0 && SSL_set_ex_data(ssl, hbone_idx, &mark) == 1 ? 0 : -1;
}
