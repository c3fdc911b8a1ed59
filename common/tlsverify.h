#ifndef SC_TLSVERIFY_H
#define SC_TLSVERIFY_H

#include <openssl/ssl.h>
#include <time.h>

#include "err.h"

struct sc_tls_material;

/* How a context verifies its peer: OpenSSL's verdict, with revocation
 * lenient where a CRL is missing or out of date, an expired root accepted
 * within the context's grace, and the first failure recorded on the SSL so
 * a refused handshake can be explained in words. */

/* Makes ctx verify its peer that way.  With material m (a mesh context) the
 * peer must present a certificate, and when m has federated trust bundles
 * the context keeps a reference to m and verifies each peer against the
 * roots of the trust domain its leaf names.  Without (m NULL: a context
 * originating TLS outside the mesh) the context's own store decides.
 * Returns 0, or -1 with err set. */
int sc_tls_verify_attach(SSL_CTX *ctx, const struct sc_tls_material *m, struct sc_err *err);

/* What failed in the peer's chain, recorded by our verify callback so a
 * refused handshake can be explained in words: the OpenSSL verify error,
 * the depth, and the certificate it concerns. */
struct sc_tls_verify_info {
    int error; /* X509_V_ERR_* */
    int depth; /* 0 = the peer's own certificate */
    char subject[256];
    char issuer[256];
    char serial[80];
    char san[256]; /* its SANs (sc_x509_sans_str), or "none" */
    time_t not_before;
    time_t not_after;
    int anchor; /* 1: it is the trust anchor (a root of ours) */
    char crl_issuer[256]; /* X509_V_ERR_CERT_REVOKED: the CRL's issuer */
    time_t crl_next_update; /* and its nextUpdate (0: none) */
    char no_bundle[256]; /* the peer's trust domain has no trust bundle */
    char domain[256]; /* verified against this federated domain's
                                 * bundle ("": our own roots) */
    int domain_roots; /* how many roots that bundle has */
};

/* secrets.on_root_expiry {grace_hours: N}: sets the grace of a context's
 * verification (0: an expired root is refused, the default).  Call before
 * the context is shared. */
void sc_tlsctx_set_root_grace(SSL_CTX *ctx, long seconds);

/* A handshake whose chain ended at an expired root accepted within the
 * grace: which root, for the caller's count and log line. */
struct sc_tls_root_grace {
    char subject[256];
    char serial[80];
    time_t not_after;
    int grace_hours;
};

/* Copies the expired root this handshake accepted by grace into out.
 * Returns 0, or -1 when it accepted none. */
int sc_tls_root_grace_get(const SSL *ssl, struct sc_tls_root_grace *out);

/* Copies the first verification failure of this handshake into out.
 * Returns 0, or -1 when none was recorded. */
int sc_tls_verify_info_get(const SSL *ssl, struct sc_tls_verify_info *out);

/* The root the peer's verified chain ends at (borrowed), or NULL (e.g. a
 * resumed session, whose chain was verified in an earlier handshake: see
 * sc_tls_session_trust_get). */
X509 *sc_tls_peer_root(const SSL *ssl);

#endif
