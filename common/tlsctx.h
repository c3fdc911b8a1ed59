#ifndef SC_TLSCTX_H
#define SC_TLSCTX_H

#include <openssl/ssl.h>
#include <time.h>

#include "err.h"
#include "tlsmaterial.h"
#include "tlssession.h"
#include "tlsverify.h"

/* TLS contexts (tlsctx), built on a workload's material (tlsmaterial), with
 * our verification (tlsverify) and resumption (tlssession); this header
 * includes the three. */

/* The key-exchange groups every context offers and accepts unless the
 * config says otherwise (tls.groups): no finite-field DH, whose large
 * groups cost a server hundreds of times the CPU of X25519 per handshake. */
#define SC_TLS_DEFAULT_GROUPS "X25519:P-256:P-384"

/* 1 when this OpenSSL can use name (one group, e.g. "X25519", "P-256",
 * "ffdhe2048") as a TLS key-exchange group, else 0. */
int sc_tls_group_known(const char *name);

/* Builds the SSL_CTX for terminating mesh mTLS (inbound) or originating it
 * (outbound): TLS 1.2 minimum, 1.3 preferred, ECDHE+AEAD only, no
 * renegotiation or compression, peer certificate required and verified
 * against the bundle.  groups is an OpenSSL groups list ("X25519:P-256"),
 * NULL for SC_TLS_DEFAULT_GROUPS; the context offers and accepts only those.
 * SPIFFE identity is checked by the caller after the handshake.  With CRLs
 * in the material, every certificate of the peer's chain whose issuer has a
 * CRL is checked against it (issuers without one are not checked); a
 * revoked one is refused (X509_V_ERR_CERT_REVOKED).  Returns a new SSL_CTX
 * or NULL with err set.
 *
 * Resumption: the client keeps the last ticket per upstream (the worker's
 * cache) and gives each new connection a private copy; the server issues
 * stateful TLS 1.3 tickets and keeps at most SC_TLS_SESSION_CACHE sessions
 * per context (per snapshot, shared by the workers), so a resumption reuses
 * the peer certificate decoded at the full handshake. */
#define SC_TLS_SESSION_CACHE 1024
SSL_CTX *sc_tlsctx_server_new(const struct sc_tls_material *m, const char *groups,
                              struct sc_err *err);
SSL_CTX *sc_tlsctx_client_new(const struct sc_tls_material *m, const char *groups,
                              struct sc_err *err);

/* Builds the SSL_CTX for originating TLS to a service outside the mesh
 * (DestinationRule SIMPLE, or MUTUAL with a client certificate): the server
 * is verified against ca_file (the system's default roots when NULL), and
 * the caller checks its name with SSL_set1_host.  cert_file/key_file may be
 * NULL (SIMPLE).  crl_file (DestinationRule caCrl; NULL: none) holds PEM
 * CRLs, each signed by a certificate of ca_file (required with it); the
 * server's chain is then checked against them as the mesh contexts do.
 * groups as for sc_tlsctx_server_new.  Returns a new SSL_CTX or NULL with
 * err set. */
SSL_CTX *sc_tlsctx_origin_new(const char *ca_file, const char *crl_file, const char *cert_file,
                              const char *key_file, const char *groups, struct sc_err *err);

/* ALPN lists our outbound offers (DESIGN.md, "Data path"), in wire format. */
/* Marks a server-side SSL as accepted on an HBONE listener: its ALPN is
 * h2 (and only h2) instead of the mesh's istio protocols.  0 or -1. */
int sc_tls_mark_hbone(SSL *ssl);

extern const unsigned char sc_alpn_mesh_tcp[];
extern const unsigned int sc_alpn_mesh_tcp_len;
extern const unsigned char sc_alpn_mesh_http[];
extern const unsigned int sc_alpn_mesh_http_len;
/* "TLSv1.3" etc. for the log. */
const char *sc_tls_version_name(const SSL *ssl);

#endif
