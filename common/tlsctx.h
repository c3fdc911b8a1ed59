#ifndef SC_TLSCTX_H
#define SC_TLSCTX_H

#include <openssl/ssl.h>

#include "err.h"

/* A workload's TLS material: its key, its certificate chain (leaf first) and
 * the trust bundle (one or more roots).  Immutable once built; owned by a
 * snapshot. */
struct sc_tls_material;

/* Loads and validates PEM files: the chain must hold at least the leaf, the
 * key must match the leaf, the bundle must hold at least one certificate.
 * Returns a new object, or NULL with err set (err->msg names the file). */
struct sc_tls_material *sc_tls_material_load(const char *chain_path, const char *key_path,
                                             const char *ca_path, struct sc_err *err);
void sc_tls_material_free(struct sc_tls_material *m);

/* Borrowed views. */
X509 *sc_tls_material_leaf(const struct sc_tls_material *m);
STACK_OF(X509) *sc_tls_material_roots(const struct sc_tls_material *m);

/* Builds the SSL_CTX for terminating mesh mTLS (inbound) or originating it
 * (outbound): TLS 1.2 minimum, 1.3 preferred, ECDHE+AEAD only, no
 * renegotiation or compression, peer certificate required and verified
 * against the bundle.  SPIFFE identity is checked by the caller after the
 * handshake.  Returns a new SSL_CTX or NULL with err set. */
SSL_CTX *sc_tlsctx_server_new(const struct sc_tls_material *m, struct sc_err *err);
SSL_CTX *sc_tlsctx_client_new(const struct sc_tls_material *m, struct sc_err *err);

/* Builds the SSL_CTX for originating TLS to a service outside the mesh
 * (DestinationRule SIMPLE, or MUTUAL with a client certificate): the server
 * is verified against ca_file (the system's default roots when NULL), and
 * the caller checks its name with SSL_set1_host.  cert_file/key_file may be
 * NULL (SIMPLE).  Returns a new SSL_CTX or NULL with err set. */
SSL_CTX *sc_tlsctx_origin_new(const char *ca_file, const char *cert_file, const char *key_file,
                              struct sc_err *err);

/* Client-side session resumption between sidecars: a connection sets an
 * sc_tls_session_sink as the SSL's app data before the handshake, and the
 * client SSL_CTX hands every new session (TLS 1.3 ticket) to sink->put,
 * which takes ownership of the session reference. */
struct sc_tls_session_sink {
    void (*put)(void *arg, SSL_SESSION *sess);
    void *arg;
};

/* ALPN lists our outbound offers (DESIGN.md, "Data path"), in wire format. */
extern const unsigned char sc_alpn_mesh_tcp[];
extern const unsigned int sc_alpn_mesh_tcp_len;
extern const unsigned char sc_alpn_mesh_http[];
extern const unsigned int sc_alpn_mesh_http_len;

/* "TLSv1.3" etc. for the log. */
const char *sc_tls_version_name(const SSL *ssl);

#endif
