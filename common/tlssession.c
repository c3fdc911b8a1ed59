#include "tlssession.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tlsmaterial.h"
#include "x509.h"

/* The trust record rides on the SSL_SESSION as ex_data: OpenSSL copies it
 * through the dup callback whenever it duplicates a session (a TLS 1.3
 * ticket issued on a resumption, SSL_SESSION_dup on the client). */
static int trust_idx = -1;
static pthread_once_t trust_once = PTHREAD_ONCE_INIT;

static int trust_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                     long argl, void *argp)
{
    struct sc_tls_session_trust *copy;

    (void)to;
    (void)from;
    (void)idx;
    (void)argl;
    (void)argp;
    if (*from_d == NULL) {
        return 1;
    }
    copy = malloc(sizeof(*copy));
    if (copy != NULL) {
        memcpy(copy, *from_d, sizeof(*copy));
    }
    *from_d = copy; /* NULL on failure: the copy is simply not attributed */
    return 1;
}

static void trust_index_init(void)
{
    trust_idx = SSL_SESSION_get_ex_new_index(0, NULL, NULL, trust_dup, sc_tls_ex_free);
}

/* Fills t from a verified chain (leaf first, root last); -1 when empty. */
static int trust_from_chain(STACK_OF(X509) * chain, struct sc_tls_session_trust *t)
{
    int n = chain != NULL ? sk_X509_num(chain) : 0;
    X509 *root;

    if (n <= 0) {
        return -1;
    }
    root = sk_X509_value(chain, n - 1);
    memset(t, 0, sizeof(*t));
    sc_x509_serial_hex(root, t->root_serial, sizeof(t->root_serial));
    sc_x509_name_str(X509_get_subject_name(root), t->root_subject, sizeof(t->root_subject));
    t->root_not_after = sc_x509_not_after(root);
    t->leaf_not_after = sc_x509_not_after(sk_X509_value(chain, 0));
    t->chain_not_after = t->root_not_after;
    for (int i = 0; i < n; i++) {
        time_t na = sc_x509_not_after(sk_X509_value(chain, i));
        if (na < t->chain_not_after) {
            t->chain_not_after = na;
        }
    }
    return 0;
}

const struct sc_tls_session_trust *sc_tls_session_trust_get(const SSL_SESSION *sess)
{
    pthread_once(&trust_once, trust_index_init);
    if (sess == NULL || trust_idx < 0) {
        return NULL;
    }
    return SSL_SESSION_get_ex_data(sess, trust_idx);
}

int sc_tls_session_trusted(const SSL_SESSION *sess, time_t now)
{
    const struct sc_tls_session_trust *t = sc_tls_session_trust_get(sess);

    return t != NULL && t->chain_not_after > now;
}

int sc_tls_peer_trust(const SSL *ssl, struct sc_tls_session_trust *out)
{
    const struct sc_tls_session_trust *t;

    if (trust_from_chain(SSL_get0_verified_chain(ssl), out) == 0) {
        return 0;
    }
    t = sc_tls_session_trust_get(SSL_get_session(ssl));
    if (t == NULL) {
        return -1;
    }
    *out = *t;
    return 0;
}

/* Attaches the trust record to a session about to be kept (the server's
 * cache, the client's ticket): from this handshake's verified chain after a
 * full handshake; a resumption's new session already carries the original
 * one (copied by trust_dup).  Returns the record, or NULL. */
static const struct sc_tls_session_trust *trust_attach(SSL *ssl, SSL_SESSION *sess)
{
    const struct sc_tls_session_trust *have = sc_tls_session_trust_get(sess);
    struct sc_tls_session_trust *t;

    if (have != NULL || trust_idx < 0) {
        return have;
    }
    t = malloc(sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    if (trust_from_chain(SSL_get0_verified_chain(ssl), t) != 0 ||
        SSL_SESSION_set_ex_data(sess, trust_idx, t) != 1) {
        free(t);
        return NULL;
    }
    return t;
}


void sc_tls_session_init(void)
{
    pthread_once(&trust_once, trust_index_init);
}

/* The server is about to keep a session in its cache (a ticket is being
 * issued).  The session ends when the first certificate of the peer's
 * chain (its leaf, an intermediate, the root) expires: OpenSSL does not
 * resume a timed-out session, so a ticket presented after that point gets
 * a full handshake, which verifies the chain again.  A resumption's new
 * session is capped again from its own issue time. */
static int server_new_session(SSL *ssl, SSL_SESSION *sess)
{
    const struct sc_tls_session_trust *t = trust_attach(ssl, sess);
    long limit = SSL_CTX_get_timeout(SSL_get_SSL_CTX(ssl));
    long left;

    if (t == NULL) {
        /* No verified chain to bound it by: never resumed. */
        SSL_CTX_remove_session(SSL_get_SSL_CTX(ssl), sess);
        return 0;
    }
    left = (long)(t->chain_not_after - (time_t)SSL_SESSION_get_time(sess));
    if (left <= 0) {
        SSL_CTX_remove_session(SSL_get_SSL_CTX(ssl), sess);
        return 0;
    }
    if (left < limit) {
        SSL_SESSION_set_timeout(sess, left);
    }
    return 0; /* the cache keeps its own reference */
}


static int sink_idx = -1;
static pthread_once_t sink_once = PTHREAD_ONCE_INIT;

static void sink_index_init(void)
{
    sink_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, sc_tls_ex_free);
}

int sc_tls_set_session_sink(SSL *ssl, struct sc_tls_session_sink *sink)
{
    pthread_once(&sink_once, sink_index_init);
    if (sink_idx < 0 || SSL_set_ex_data(ssl, sink_idx, sink) != 1) {
        free(sink);
        return -1;
    }
    return 0;
}

static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct sc_tls_session_sink *sink = sink_idx >= 0 ? SSL_get_ex_data(ssl, sink_idx) : NULL;

    if (sink == NULL || sink->put == NULL) {
        return 0; /* not kept: OpenSSL frees it */
    }
    if (trust_attach(ssl, sess) == NULL) {
        return 0; /* nothing to check it against later: not kept */
    }
    sink->put(sink, sess);
    return 1; /* the sink owns the reference now */
}


void sc_tls_session_server_setup(SSL_CTX *ctx)
{
    SSL_CTX_sess_set_new_cb(ctx, server_new_session);
}

void sc_tls_session_client_setup(SSL_CTX *ctx)
{
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session);
}
