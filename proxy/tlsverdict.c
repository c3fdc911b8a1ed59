#include "tlsverdict.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "log.h"
#include "spiffe.h"
#include "tlsctx.h"
#include "x509.h"

/* Puts a verify failure into words an operator can act on, then which
 * certificate (subject, SAN, serial), OpenSSL's own words last. */
void sc_tlsv_explain_verify(SSL *ssl, long vr, const struct sc_tlsv_ctx *ctx, char *out,
                            size_t outlen)
{
    struct sc_tls_verify_info vi;
    const char *whose;
    char t[32];
    size_t used;

    if (ssl == NULL || sc_tls_verify_info_get(ssl, &vi) != 0) {
        snprintf(out, outlen, "%s", X509_verify_cert_error_string(vr));
        return;
    }
    whose = vi.depth == 0 ? "peer certificate" : "certificate in the peer's chain";
    if (vi.no_bundle[0] != '\0') {
        snprintf(out, outlen, "no trust bundle for trust domain %s (subject %s, SAN %s, serial %s)",
                 vi.no_bundle, vi.subject, vi.san, vi.serial);
        return;
    }
    switch (vi.error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        if (vi.anchor) {
            /* secrets.on_root_expiry: refuse (or past its grace) */
            snprintf(out, outlen, "root %s expired at %s", vi.subject,
                     sc_time_rfc3339(vi.not_after, t, sizeof(t)));
            break;
        }
        snprintf(out, outlen, "%s expired at %s", whose,
                 sc_time_rfc3339(vi.not_after, t, sizeof(t)));
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        snprintf(out, outlen, "%s is not valid before %s", whose,
                 sc_time_rfc3339(vi.not_before, t, sizeof(t)));
        break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        if (vi.domain[0] != '\0') {
            snprintf(out, outlen,
                     "peer chain does not lead to any of %d roots of trust domain %s (issuer %s;",
                     vi.domain_roots, vi.domain, vi.issuer);
            break;
        }
        snprintf(out, outlen, "peer chain does not lead to any of %d trusted roots (issuer %s;",
                 ctx->n_roots, vi.issuer);
        break;
    case X509_V_ERR_CERT_REVOKED:
        snprintf(out, outlen, "%s serial %s revoked by CRL of %s (next update %s;", whose,
                 vi.serial, vi.crl_issuer[0] != '\0' ? vi.crl_issuer : "-",
                 vi.crl_next_update != 0 ? sc_time_rfc3339(vi.crl_next_update, t, sizeof(t))
                                         : "none");
        break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
        snprintf(out, outlen, "peer certificate does not name %s",
                 ctx->expected_host != NULL ? ctx->expected_host : "the expected host");
        break;
    default:
        snprintf(out, outlen, "%s", whose);
        break;
    }
    used = strlen(out);
    snprintf(out + used, outlen - used, "%ssubject %s, SAN %s, serial %s): %s",
             out[used - 1] == ';' ? " " : " (", vi.subject, vi.san, vi.serial,
             X509_verify_cert_error_string(vi.error));
}

/* " (subject ..., serial ...)" of the peer's certificate, appended to an
 * identity refusal so it names the certificate as a verify failure does. */
static void append_cert(X509 *peer, char *reason, size_t reasonlen)
{
    size_t used = strlen(reason);
    char subject[256], serial[80];

    if (peer == NULL || used >= reasonlen) {
        return;
    }
    sc_x509_name_str(X509_get_subject_name(peer), subject, sizeof(subject));
    sc_x509_serial_hex(peer, serial, sizeof(serial));
    snprintf(reason + used, reasonlen - used, " (subject %s, serial %s)", subject, serial);
}

/* "identity_rejected: peer SAN <san> not in [a, b]" and the certificate;
 * san is already escaped. */
static void not_in(X509 *peer, const char *san, const struct sc_strv *names, char *reason,
                   size_t reasonlen)
{
    size_t used =
        (size_t)snprintf(reason, reasonlen, "identity_rejected: peer SAN %s not in [", san);

    for (size_t i = 0; i < names->n && used < reasonlen; i++) {
        used += (size_t)snprintf(reason + used, reasonlen - used, "%s%s", i > 0 ? ", " : "",
                                 names->v[i]);
    }
    if (used < reasonlen) {
        snprintf(reason + used, reasonlen - used, "]");
    }
    append_cert(peer, reason, reasonlen);
}

static int reason_is(unsigned long e, int r)
{
    return e != 0 && ERR_GET_REASON(e) == r;
}

const char *sc_tlsv_io_error(struct bufferevent *bev, int sock_err, char *buf, size_t len)
{
    unsigned long e, first = 0;
    const char *rs = NULL;

    while (bev != NULL && (e = bufferevent_get_openssl_error(bev)) != 0) {
        if (first == 0) {
            first = e;
        }
    }
    ERR_clear_error();
    if (first != 0) {
        rs = ERR_reason_error_string(first);
        if (rs != NULL) {
            snprintf(buf, len, "tls: %s", rs);
        } else {
            snprintf(buf, len, "tls: error %d", ERR_GET_REASON(first));
        }
    } else if (sock_err != 0) {
        snprintf(buf, len, "%s", strerror(sock_err));
    } else {
        snprintf(buf, len, "connection error");
    }
    return buf;
}

void sc_tlsv_failure(struct bufferevent *bev, short what, const struct sc_tlsv_ctx *ctx,
                     struct sc_tlsv_failure *out)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e, first = 0;
    const char *rs = NULL;

    while ((e = bufferevent_get_openssl_error(bev)) != 0) {
        if (first == 0) {
            first = e;
        }
    }
    ERR_clear_error();
    out->ssl_error = first;
    out->verify_result = vr;
    out->verify_depth = 0;
    {
        struct sc_tls_verify_info vi;
        if (ssl != NULL && sc_tls_verify_info_get(ssl, &vi) == 0) {
            out->verify_depth = vi.depth;
        }
    }
    if (first != 0) {
        rs = ERR_reason_error_string(first);
    }
    if (rs == NULL) {
        rs = "unknown";
    }
    if (reason_is(first, SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)) {
        out->outcome = SC_HS_NO_CLIENT_CERT;
        snprintf(out->reason, sizeof(out->reason),
                 "tls_no_peer_cert: client presented no certificate: %s", rs);
        return;
    }
    if (vr != X509_V_OK) {
        char why[900];

        sc_tlsv_explain_verify(ssl, vr, ctx, why, sizeof(why));
        out->outcome = vr == X509_V_ERR_CERT_HAS_EXPIRED || vr == X509_V_ERR_CERT_NOT_YET_VALID
                           ? SC_HS_EXPIRED
                       : vr == X509_V_ERR_CERT_REVOKED ? SC_HS_REVOKED
                                                       : SC_HS_UNKNOWN_CA;
        snprintf(out->reason, sizeof(out->reason), "tls_verify_failed: %s", why);
        return;
    }
    if (reason_is(first, SSL_R_TLSV1_ALERT_UNKNOWN_CA) ||
        reason_is(first, SSL_R_SSLV3_ALERT_BAD_CERTIFICATE) ||
        reason_is(first, SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED) ||
        reason_is(first, SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED)) {
        X509 *ours = ssl != NULL ? SSL_get_certificate(ssl) : NULL;
        char serial[80] = "-", san[256], issuer[256] = "-", why[400] = "";

        sc_x509_spiffe_id_or_none(ours, san, sizeof(san));
        if (ours != NULL) {
            sc_x509_serial_hex(ours, serial, sizeof(serial));
            sc_x509_name_str(X509_get_issuer_name(ours), issuer, sizeof(issuer));
        }
        if (reason_is(first, SSL_R_TLSV1_ALERT_UNKNOWN_CA)) {
            /* the peer's trust bundle lacks the CA that issued ours */
            snprintf(why, sizeof(why), "the peer does not trust its issuer %s: ", issuer);
        }
        out->outcome = reason_is(first, SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED)   ? SC_HS_EXPIRED
                       : reason_is(first, SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED) ? SC_HS_REVOKED
                                                                                 : SC_HS_UNKNOWN_CA;
        snprintf(out->reason, sizeof(out->reason),
                 "tls_handshake_failed: the peer refused our certificate (SAN %s, serial %s): %s%s",
                 san, serial, why, rs);
        return;
    }
    out->outcome = SC_HS_PROTOCOL;
    if (ctx->strict_inbound &&
        (reason_is(first, SSL_R_HTTP_REQUEST) || reason_is(first, SSL_R_WRONG_VERSION_NUMBER) ||
         reason_is(first, SSL_R_PACKET_LENGTH_TOO_LONG) ||
         reason_is(first, SSL_R_UNSUPPORTED_PROTOCOL) ||
         reason_is(first, SSL_R_HTTPS_PROXY_REQUEST))) {
        snprintf(out->reason, sizeof(out->reason), "plaintext_refused_strict");
        return;
    }
    if (first == 0 && (what & BEV_EVENT_EOF)) {
        snprintf(out->reason, sizeof(out->reason),
                 "tls_handshake_failed: connection closed by peer");
        return;
    }
    if (first == 0) {
        int err = EVUTIL_SOCKET_ERROR();
        snprintf(out->reason, sizeof(out->reason), "tls_handshake_failed: %s",
                 err != 0 ? strerror(err) : "connection error");
        return;
    }
    snprintf(out->reason, sizeof(out->reason), "tls_handshake_failed: %s", rs);
}

int sc_tlsv_identity(SSL *ssl, const struct sc_strv *principals, const char *trust_domain, char *id,
                     size_t idlen, char *reason, size_t reasonlen)
{
    X509 *peer = SSL_get0_peer_certificate(ssl);
    char shown[1024]; /* the id, escaped for the log */

    if (sc_x509_spiffe_id(peer, id, idlen) != 0) {
        snprintf(reason, reasonlen, "identity_rejected: peer certificate has no SPIFFE ID");
        append_cert(peer, reason, reasonlen);
        return -1;
    }
    if (principals != NULL && principals->n > 0) {
        if (sc_spiffe_match_any(principals->v, principals->n, id)) {
            return 0;
        }
        not_in(peer, sc_escape_text_str(id, shown, sizeof(shown)), principals, reason, reasonlen);
        return -1;
    }
    if (!sc_spiffe_in_trust_domain(id, trust_domain)) {
        snprintf(reason, reasonlen, "identity_rejected: peer SAN %s is not in trust domain %s",
                 sc_escape_text_str(id, shown, sizeof(shown)), trust_domain);
        append_cert(peer, reason, reasonlen);
        return -1;
    }
    return 0;
}

int sc_tlsv_san_pin(SSL *ssl, const struct sc_strv *names, char *reason, size_t reasonlen)
{
    X509 *peer = SSL_get0_peer_certificate(ssl);
    char sans[512];

    if (names == NULL || names->n == 0) {
        return 0;
    }
    for (size_t i = 0; i < names->n; i++) {
        if (sc_x509_has_san(peer, names->v[i])) {
            return 0;
        }
    }
    not_in(peer, sc_x509_sans_str(peer, sans, sizeof(sans)), names, reason, reasonlen);
    return -1;
}

int sc_tlsv_root(SSL *ssl, char *serial, size_t serial_len, char *subject, size_t subject_len)
{
    X509 *root = sc_tls_peer_root(ssl);
    const struct sc_tls_session_trust *t;

    if (root != NULL) {
        sc_x509_serial_hex(root, serial, serial_len);
        sc_x509_name_str(X509_get_subject_name(root), subject, subject_len);
        return 1;
    }
    /* A resumption verified no chain: its session remembers the root of
     * the full handshake it came from. */
    t = SSL_session_reused(ssl) ? sc_tls_session_trust_get(SSL_get_session(ssl)) : NULL;
    if (t != NULL) {
        snprintf(serial, serial_len, "%s", t->root_serial);
        snprintf(subject, subject_len, "%s", t->root_subject);
        return 1;
    }
    snprintf(serial, serial_len, "%s", SSL_session_reused(ssl) ? "resumed" : "-");
    snprintf(subject, subject_len, "-");
    return 0;
}

/* FNV-1a: the seen set keeps hashes, not identities. */
static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return h != 0 ? h : 1;
}

/* 1 the first time id is seen (it is then remembered, the oldest forgotten). */
static int first_time(struct sc_tlsv_seen *seen, const char *id)
{
    uint64_t h = hash_id(id);

    for (size_t i = 0; i < SC_TLSV_SEEN; i++) {
        if (seen->h[i] == h) {
            return 0;
        }
    }
    seen->h[seen->next] = h;
    seen->next = (seen->next + 1) % SC_TLSV_SEEN;
    return 1;
}

enum sc_hs_outcome sc_tlsv_accepted(SSL *ssl, const char *peer, enum sc_direction dir,
                                    struct sc_tlsv_seen *seen)
{
    struct sc_tls_root_grace g;
    char t[32];

    if (ssl == NULL || sc_tls_root_grace_get(ssl, &g) != 0) {
        return SC_HS_OK;
    }
    if (peer == NULL || peer[0] == '\0') {
        peer = "-";
    }
    if (first_time(seen, peer)) {
        sc_log(SC_LOG_WARN, NULL,
               "root_expired_grace: %s peer %s accepted although its root %s (serial %s) "
               "expired at %s (secrets.on_root_expiry grace_hours %d; logged once per peer "
               "identity)",
               dir == SC_DIR_INBOUND ? "inbound" : "outbound", peer, g.subject, g.serial,
               sc_time_rfc3339(g.not_after, t, sizeof(t)), g.grace_hours);
    }
    return SC_HS_ROOT_EXPIRED_GRACE;
}
