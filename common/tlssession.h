#ifndef SC_TLSSESSION_H
#define SC_TLSSESSION_H

#include <openssl/ssl.h>
#include <time.h>

/* TLS session resumption between sidecars: what a session remembers of the
 * chain it was verified with, the server's cache callback that bounds a
 * session by that chain, and the client's sink for new tickets. */

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

/* Creates the session ex_data index (once per process); a context builder
 * calls it before the context is shared. */
void sc_tls_session_init(void);

/* Installs the new-session callback of a mesh server context (each session
 * the cache keeps gets its trust record and ends when the chain's first
 * certificate expires) or client context (each ticket goes to the SSL's
 * sink with its trust record, never to OpenSSL's internal store). */
void sc_tls_session_server_setup(SSL_CTX *ctx);
void sc_tls_session_client_setup(SSL_CTX *ctx);

#endif
