#ifndef SC_TLSCTX_H
#define SC_TLSCTX_H

#include <openssl/ssl.h>
#include <time.h>

#include "err.h"

/* A workload's TLS material: its key, its certificate chain (leaf first) and
 * the trust bundle (one or more roots).  Immutable once built; owned by a
 * snapshot. */
struct sc_tls_material;

/* What to call the three parts in error messages (file paths, or SDS
 * resource names). */
struct sc_tls_names {
    const char *chain;
    const char *key;
    const char *ca;
};

/* Parses and validates PEM text: the chain holds at least the leaf, the key
 * matches the leaf, the bundle holds at least one certificate, the chain
 * leads to one of the bundle's roots, and (unless now is 0) the leaf is
 * valid at `now`.  An expired root is accepted here (reported by the
 * logs and /certs, and by sc_tls_material_problem once no root is valid).  Returns a new object, or NULL with err set
 * (the message names the part that failed). */
struct sc_tls_material *sc_tls_material_from_pem(const char *chain, size_t chain_len,
                                                 const char *key, size_t key_len, const char *ca,
                                                 size_t ca_len, const struct sc_tls_names *names,
                                                 time_t now, struct sc_err *err);

/* The same from files (each at most 1 MiB). */
struct sc_tls_material *sc_tls_material_load(const char *chain_path, const char *key_path,
                                             const char *ca_path, time_t now, struct sc_err *err);

/* Adds revocation lists (PEM, one or more CRLs) to material that was just
 * built and is not shared yet, replacing any it had.  Every CRL must be
 * signed by one of the material's roots or by an intermediate of its chain;
 * one that does not verify rejects the whole set (err names it, m keeps
 * what it had).  A CRL past its next update is accepted (reported by the
 * caller, still checked).  _load_crls reads a file (at most 1 MiB).
 * Returns 0 or -1. */
int sc_tls_material_set_crls(struct sc_tls_material *m, const char *pem, size_t len,
                             const char *what, struct sc_err *err);
int sc_tls_material_load_crls(struct sc_tls_material *m, const char *path, struct sc_err *err);
/* Borrowed; NULL when the material has no CRLs. */
STACK_OF(X509_CRL) * sc_tls_material_crls(const struct sc_tls_material *m);

/* Federated trust (secrets.trust_bundles), on material that was just built
 * and is not shared yet.  _set_trust_domain names our own trust domain
 * (node.trust_domain; unset: the trust domain of our leaf's SPIFFE ID),
 * whose peers are verified against the material's roots as before.
 * _add_bundle adds the roots of another trust domain from PEM or SPIFFE
 * bundle JSON text (sc_bundle_parse); _load_bundle reads a file (at most
 * 1 MiB).  Once a material has a bundle, a peer whose leaf names another
 * trust domain is verified only against that domain's roots (no CRLs), and
 * a peer from a domain with neither is refused: sc_tls_verify_info's
 * no_bundle names the domain.  Return 0 or -1 with err set. */
int sc_tls_material_set_trust_domain(struct sc_tls_material *m, const char *domain);
int sc_tls_material_add_bundle(struct sc_tls_material *m, const char *domain, const char *text,
                               size_t len, const char *what, struct sc_err *err);
int sc_tls_material_load_bundle(struct sc_tls_material *m, const char *domain, const char *path,
                                struct sc_err *err);
size_t sc_tls_material_n_bundles(const struct sc_tls_material *m);
/* Borrowed; NULL past the end. */
const char *sc_tls_material_bundle_domain(const struct sc_tls_material *m, size_t i);
STACK_OF(X509) * sc_tls_material_bundle_roots(const struct sc_tls_material *m, size_t i);
/* Our own trust domain, as above, into out ("-" when unknown). */
const char *sc_tls_material_own_domain(const struct sc_tls_material *m, char *out, size_t outlen);

/* Why this material cannot serve mesh traffic at all at `now`, written
 * into out: "no valid leaf: ..." (the leaf expired or is not yet valid) or
 * "no valid root CA left: root CA <subject> expired at <time>, ..." (every
 * root of the bundle is outside its validity).  NULL when it can serve: an
 * expired root beside a valid one is not a problem here. */
const char *sc_tls_material_problem(const struct sc_tls_material *m, time_t now, char *out,
                                    size_t outlen);
/* Material is shared by the snapshots built from it (a config reload keeps
 * the certificates): _ref adds a reference, _free drops one. */
struct sc_tls_material *sc_tls_material_ref(struct sc_tls_material *m);
void sc_tls_material_free(struct sc_tls_material *m);

/* Borrowed views. */
X509 *sc_tls_material_leaf(const struct sc_tls_material *m);
STACK_OF(X509) * sc_tls_material_roots(const struct sc_tls_material *m);
STACK_OF(X509) * sc_tls_material_chain(const struct sc_tls_material *m);

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

/* Client-side session resumption between sidecars: a connection attaches a
 * heap-allocated sink to the SSL before the handshake; the client SSL_CTX
 * hands every new session (a TLS 1.3 ticket, which may arrive long after the
 * handshake) to sink->put, which takes ownership of the session reference.
 * The sink is freed with the SSL. */
struct sc_tls_session_sink {
    void (*put)(struct sc_tls_session_sink *sink, SSL_SESSION *sess);
};

/* Takes ownership of sink (malloc'd; it may be the first member of a larger
 * struct).  Returns 0, or -1 (sink freed). */
int sc_tls_set_session_sink(SSL *ssl, struct sc_tls_session_sink *sink);

/* ALPN lists our outbound offers (DESIGN.md, "Data path"), in wire format. */
/* Marks a server-side SSL as accepted on an HBONE listener: its ALPN is
 * h2 (and only h2) instead of the mesh's istio protocols.  0 or -1. */
int sc_tls_mark_hbone(SSL *ssl);

extern const unsigned char sc_alpn_mesh_tcp[];
extern const unsigned int sc_alpn_mesh_tcp_len;
extern const unsigned char sc_alpn_mesh_http[];
extern const unsigned int sc_alpn_mesh_http_len;

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

/* What a session remembers of the chain its full handshake verified, so a
 * resumption can be attributed to that root and refused once the chain
 * would no longer verify.  Attached to the server's cached sessions and the
 * client's tickets; OpenSSL's session copies carry a copy. */
struct sc_tls_session_trust {
    char root_serial[80];
    char root_subject[256];
    time_t root_not_after;
    time_t leaf_not_after; /* the peer's own certificate */
    time_t chain_not_after; /* the earliest notAfter in the chain */
};

/* The record on sess (borrowed, lives as long as sess), or NULL. */
const struct sc_tls_session_trust *sc_tls_session_trust_get(const SSL_SESSION *sess);

/* 1 when sess carries a record and every certificate of that chain is
 * still valid at now; 0 otherwise (the client then drops the ticket and
 * makes a full handshake).  The server refuses such sessions by itself:
 * their cache lifetime ends when the chain's first certificate expires. */
int sc_tls_session_trusted(const SSL_SESSION *sess, time_t now);

/* The trust record of an established connection: from its verified chain
 * (a full handshake) or from its session (a resumption).  Returns 0, or -1
 * when neither is known. */
int sc_tls_peer_trust(const SSL *ssl, struct sc_tls_session_trust *out);

/* "TLSv1.3" etc. for the log. */
const char *sc_tls_version_name(const SSL *ssl);

#endif
