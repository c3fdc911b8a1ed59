#ifndef SC_TLSVERDICT_H
#define SC_TLSVERDICT_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "stats.h"

struct bufferevent;

/* What a finished or failed handshake means, in the words the connection
 * log and the local replies use.  Shared by the downstream (server) and
 * upstream (client) sides. */

struct sc_tlsv_ctx {
    enum sc_direction dir;
    int strict_inbound; /* a STRICT port: non-TLS bytes mean plaintext_refused_strict */
    int n_roots; /* size of the trust bundle, for the message */
    const char *expected_host; /* SIMPLE / MUTUAL: the name checked, or NULL */
};

struct sc_tlsv_failure {
    enum sc_hs_outcome outcome; /* for the handshake metric */
    unsigned long ssl_error; /* the first OpenSSL error (0 if none) */
    long verify_result; /* X509_V_OK, or why the chain failed */
    int verify_depth;
    char reason[1024]; /* the log's end= text, e.g. "tls_verify_failed: ..." */
};

/* Explains a handshake that ended with `what` (BEV_EVENT_ERROR/EOF) on the
 * OpenSSL bufferevent bev, draining its error queue. */
void sc_tlsv_failure(struct bufferevent *bev, short what, const struct sc_tlsv_ctx *ctx,
                     struct sc_tlsv_failure *out);

/* What an error (BEV_EVENT_ERROR) on bev after the handshake means, in
 * words: "tls: <OpenSSL's reason>" (e.g. "tls: unexpected message") when
 * the TLS layer failed, else sock_err's strerror, else "connection error".
 * Drains bev's OpenSSL errors and the thread's queue.  Writes into buf and
 * returns it. */
const char *sc_tlsv_io_error(struct bufferevent *bev, int sock_err, char *buf, size_t len);

/* Puts the chain verification failure vr of ssl into words (which check
 * failed, then the certificate's subject, SAN and serial, OpenSSL's words
 * last), e.g. "peer chain does not lead to any of 2 trusted roots (issuer
 * CN=foo; subject ..., SAN ..., serial ...): unable to get local issuer
 * certificate". */
void sc_tlsv_explain_verify(SSL *ssl, long vr, const struct sc_tlsv_ctx *ctx, char *out,
                            size_t outlen);

/* Checks the peer's SPIFFE ID after a completed mesh handshake: one of
 * principals when that list is non-empty, else any ID in trust_domain.
 * Fills id (the peer's SPIFFE ID, "" if none).  Returns 0, or -1 with
 * reason set to "identity_rejected: ...". */
int sc_tlsv_identity(SSL *ssl, const struct sc_strv *principals, const char *trust_domain, char *id,
                     size_t idlen, char *reason, size_t reasonlen);

/* Checks a SIMPLE / MUTUAL server's certificate against the names pinned
 * by DestinationRule subjectAltNames (or the route's expected_identities):
 * it must carry one of them as a DNS or URI SAN (sc_x509_has_san).  An
 * empty or NULL list pins nothing.  Returns 0, or -1 with reason set to
 * "identity_rejected: peer SAN <its SANs> not in [<names>] (subject ...,
 * serial ...)". */
int sc_tlsv_san_pin(SSL *ssl, const struct sc_strv *names, char *reason, size_t reasonlen);

/* The serial (and subject) of the root the peer chained to; for a resumed
 * session, the root of the full handshake it came from.  "-" when no chain
 * was verified ("resumed" for a session that carries no record).  Returns
 * 1 when a root was found (worth counting), 0 otherwise. */
int sc_tlsv_root(SSL *ssl, char *serial, size_t serial_len, char *subject, size_t subject_len);

/* Peer identities already logged for root_expired_grace, per worker (only
 * its thread touches it): the last SC_TLSV_SEEN, as hashes. */
#define SC_TLSV_SEEN 256
struct sc_tlsv_seen {
    uint64_t h[SC_TLSV_SEEN];
    size_t next;
};

/* After a completed and accepted handshake: SC_HS_ROOT_EXPIRED_GRACE when
 * the peer's chain ended at an expired root accepted by
 * secrets.on_root_expiry's grace (then a WARN line the first time this
 * peer identity is seen: "root_expired_grace: <dir> peer <id> accepted
 * although its root <subject> (serial <hex>) expired at <time> ..."),
 * SC_HS_OK otherwise.  peer may be NULL or "" (logged as "-"). */
enum sc_hs_outcome sc_tlsv_accepted(SSL *ssl, const char *peer, enum sc_direction dir,
                                    struct sc_tlsv_seen *seen);

#endif
