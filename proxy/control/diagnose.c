#include "diagnose.h"

#include <errno.h>
#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "fdwait.h"
#include "json.h"
#include "snapshot.h"
#include "tlsctx.h"
#include "tlsverdict.h"
#include "x509.h"

/* A handshake the server side completes can still be refused by it: in
 * TLS 1.3 the server checks our certificate after our side is done.  Wait
 * this long for such an alert (or for the peer's first bytes). */
#define SETTLE_MS 300

/* What one attempt found out, before it is put into words. */
struct probe {
    int connected;
    int attempted;
    int hs_ok;
    long vr; /* our verify result of the peer's chain */
    unsigned long ssl_err; /* first OpenSSL error, 0 if none */
    char error[1024]; /* connect / handshake failure, "" if none */
    char peer_id[512];
    int id_ok;
    char id_problem[1024];
};

/* A connected non-blocking socket, or -1 with p->error set. */
static int dial(const struct sc_addr *a, int64_t deadline, struct probe *p)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        snprintf(p->error, sizeof(p->error), "socket: %s", strerror(errno));
        return -1;
    }
    if (sc_fdwait_connect(fd, (const struct sockaddr *)&a->ss, a->len, deadline) != 0) {
        snprintf(p->error, sizeof(p->error), "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void ssl_error_text(struct probe *p, const char *what)
{
    unsigned long e = ERR_peek_error();
    char buf[256];

    p->ssl_err = e;
    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        snprintf(p->error, sizeof(p->error), "%s: %s", what, buf);
    } else {
        snprintf(p->error, sizeof(p->error), "%s: the peer closed the connection", what);
    }
    ERR_clear_error();
}

/* Drives one SSL call (connect, or a read to settle) until it is done, it
 * fails or deadline passes.  1 done, 0 would still block at the deadline,
 * -1 failed. */
static int drive(SSL *ssl, int fd, int read_only, int64_t deadline)
{
    char byte;

    for (;;) {
        int r = read_only ? SSL_peek(ssl, &byte, 1) : SSL_connect(ssl);
        int e;

        if (r > 0) {
            return 1;
        }
        e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (!sc_fdwait(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
                return 0;
            }
            continue;
        }
        if (read_only && e == SSL_ERROR_ZERO_RETURN) {
            return 1; /* a clean close after the handshake: accepted */
        }
        return -1;
    }
}

static void handshake(SSL *ssl, int fd, const struct sc_diagnose_req *rq, int64_t deadline,
                      struct probe *p)
{
    int64_t settle;
    int r;

    p->attempted = 1;
    SSL_set_fd(ssl, fd);
    SSL_set_alpn_protos(ssl, sc_alpn_mesh_tcp, sc_alpn_mesh_tcp_len);
    if (rq->sni != NULL && rq->sni[0] != '\0') {
        SSL_set_tlsext_host_name(ssl, rq->sni);
    }
    ERR_clear_error();
    r = drive(ssl, fd, 0, deadline);
    p->vr = SSL_get_verify_result(ssl);
    if (r == 0) {
        snprintf(p->error, sizeof(p->error), "handshake: no answer within %d ms", rq->timeout_ms);
        return;
    }
    if (r < 0) {
        ssl_error_text(p, "handshake");
        return;
    }
    settle = sc_fdwait_now_ms() + SETTLE_MS;
    if (drive(ssl, fd, 1, settle < deadline ? settle : deadline) < 0) {
        ssl_error_text(p, "handshake");
        return;
    }
    p->hs_ok = 1;
}

static void cert_json(struct evbuffer *out, X509 *c, time_t now, int first)
{
    char buf[512], t1[32], t2[32];
    time_t nb = sc_x509_not_before(c), na = sc_x509_not_after(c);

    evbuffer_add_printf(out, "%s{\"subject\":", first ? "" : ",");
    sc_x509_name_str(X509_get_subject_name(c), buf, sizeof(buf));
    sc_json_put_str(out, buf);
    evbuffer_add_printf(out, ",\"issuer\":");
    sc_x509_name_str(X509_get_issuer_name(c), buf, sizeof(buf));
    sc_json_put_str(out, buf);
    evbuffer_add_printf(out, ",\"sans\":");
    sc_json_put_str(out, sc_x509_sans_str(c, buf, sizeof(buf)));
    evbuffer_add_printf(out, ",\"serial_number\":");
    sc_json_put_str(out, sc_x509_serial_hex(c, buf, sizeof(buf)));
    evbuffer_add_printf(out, ",\"not_before\":\"%s\",\"not_after\":\"%s\",\"status\":\"%s\"}",
                        sc_time_rfc3339(nb, t1, sizeof(t1)), sc_time_rfc3339(na, t2, sizeof(t2)),
                        na <= now  ? "EXPIRED"
                        : nb > now ? "NOT YET VALID"
                                   : "ACTIVE");
}

/* The CN of name, else the whole name. */
static const char *short_name(X509_NAME *name, char *out, size_t outlen)
{
    if (X509_NAME_get_text_by_NID(name, NID_commonName, out, (int)outlen) <= 0) {
        sc_x509_name_str(name, out, outlen);
    }
    return out;
}

/* Our roots' subjects, " or "-separated. */
static const char *roots_str(STACK_OF(X509) * roots, char *out, size_t outlen)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < sk_X509_num(roots) && used < outlen; i++) {
        char s[256];

        sc_x509_name_str(X509_get_subject_name(sk_X509_value(roots, i)), s, sizeof(s));
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", i > 0 ? " or " : "", s);
    }
    return out;
}

static int is_chain_error(long vr)
{
    return vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
           vr == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
           vr == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
           vr == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
           vr == X509_V_ERR_CERT_SIGNATURE_FAILURE;
}

/* The verdict, the message and what to fix, in words. */
static const char *verdict(SSL *ssl, const struct sc_diagnose_req *rq, const struct probe *p,
                           STACK_OF(X509) * roots, const char *td, char *msg, size_t msglen,
                           char *fix, size_t fixlen)
{
    STACK_OF(X509) *chain = ssl != NULL ? SSL_get_peer_cert_chain(ssl) : NULL;
    char ours[1024], a[256], b[256];

    fix[0] = '\0';
    roots_str(roots, ours, sizeof(ours));
    if (!p->connected) {
        snprintf(msg, msglen, "cannot reach %s (%s)", rq->address, p->error);
        snprintf(fix, fixlen, "check the address and that the peer listens there");
        return "unreachable";
    }
    if (!p->hs_ok && p->vr != X509_V_OK && is_chain_error(p->vr) && sk_X509_num(chain) > 0) {
        X509 *top = sk_X509_value(chain, sk_X509_num(chain) - 1);
        char full[256];

        sc_x509_name_str(X509_get_issuer_name(top), full, sizeof(full));
        short_name(X509_get_issuer_name(top), a, sizeof(a));
        snprintf(msg, msglen, "the peer's chain leads to %s, which this sidecar does not trust",
                 full);
        snprintf(fix, fixlen,
                 "add %s's root to the trust bundle or re-issue the peer from cluster root %s", a,
                 ours);
        return "refused";
    }
    if (!p->hs_ok && p->vr != X509_V_OK) {
        struct sc_tlsv_ctx vctx = {SC_DIR_OUTBOUND, 0, sk_X509_num(roots), NULL};

        sc_tlsv_explain_verify(ssl, p->vr, &vctx, msg, msglen);
        if (p->vr == X509_V_ERR_CERT_HAS_EXPIRED || p->vr == X509_V_ERR_CERT_NOT_YET_VALID) {
            snprintf(fix, fixlen, "re-issue the certificate named above (from cluster root %s)",
                     ours);
        } else {
            snprintf(fix, fixlen, "re-issue the peer's certificate from cluster root %s", ours);
        }
        return "refused";
    }
    if (!p->hs_ok) {
        int reason = ERR_GET_REASON(p->ssl_err);
        const char *e = p->error;

        if (strncmp(e, "handshake: ", 11) == 0) {
            e += 11;
        }
        snprintf(msg, msglen, "the handshake failed: %s", e);
        if (reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA || reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
            reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN ||
            reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED ||
            reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED) {
            snprintf(fix, fixlen,
                     "the peer refused this sidecar's certificate: add this sidecar's root %s "
                     "to the peer's trust bundle, or check that this sidecar's certificate is "
                     "valid (sidecarctl certs)",
                     ours);
        } else {
            snprintf(fix, fixlen,
                     "check that the peer speaks mTLS on this port (a sidecar, "
                     "not the application itself)");
        }
        return "refused";
    }
    if (!p->id_ok) {
        snprintf(msg, msglen, "%s", p->id_problem);
        if (rq->identity != NULL) {
            snprintf(fix, fixlen,
                     "the peer is %s, not %s: check the address, or expect %s "
                     "(outbound expected_identities / DestinationRule subjectAltNames)",
                     p->peer_id[0] != '\0' ? p->peer_id : "without a SPIFFE ID", rq->identity,
                     p->peer_id[0] != '\0' ? p->peer_id : "the peer's identity");
        } else {
            snprintf(fix, fixlen, "re-issue the peer with a SPIFFE ID in trust domain %s", td);
        }
        return "refused";
    }
    {
        X509 *root = sc_tls_peer_root(ssl);

        snprintf(msg, msglen, "mTLS to %s works: the peer %s chains to %s and would be accepted",
                 rq->address, p->peer_id,
                 root != NULL ? (sc_x509_name_str(X509_get_subject_name(root), b, sizeof(b)), b)
                              : "a trusted root");
    }
    return "accepted";
}

static void render(struct evbuffer *out, SSL *ssl, const struct sc_diagnose_req *rq,
                   const struct probe *p, STACK_OF(X509) * roots, const char *td)
{
    STACK_OF(X509) *chain = ssl != NULL ? SSL_get_peer_cert_chain(ssl) : NULL;
    /* our side may have verified the chain even when the peer then refused us */
    X509 *root = p->attempted && p->vr == X509_V_OK && ssl != NULL ? sc_tls_peer_root(ssl) : NULL;
    char msg[2048], fix[2048], buf[512], vwhy[1024];
    const char *v = verdict(ssl, rq, p, roots, td, msg, sizeof(msg), fix, sizeof(fix));
    time_t now = time(NULL);
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;

    evbuffer_add_printf(out, "{\"address\":");
    sc_json_put_str(out, rq->address);
    evbuffer_add_printf(out, ",\"sni\":");
    sc_json_put_str_or_null(out, rq->sni);
    evbuffer_add_printf(out, ",\"identity\":");
    sc_json_put_str_or_null(out, rq->identity);
    evbuffer_add_printf(
        out, ",\"connected\":%s,\"handshake\":\"%s\",\"error\":", p->connected ? "true" : "false",
        !p->attempted ? "not_attempted"
        : p->hs_ok    ? "ok"
                      : "failed");
    sc_json_put_str_or_null(out, p->error[0] != '\0' ? p->error : NULL);
    if (p->hs_ok) {
        int nid = SSL_get_negotiated_group(ssl);
        const char *g = nid != 0 ? SSL_group_to_name(ssl, nid) : NULL;

        SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
        snprintf(buf, sizeof(buf), "%.*s", (int)alpn_len, alpn != NULL ? (const char *)alpn : "");
        evbuffer_add_printf(out, ",\"protocol\":");
        sc_json_put_str(out, SSL_get_version(ssl));
        evbuffer_add_printf(out, ",\"cipher\":");
        sc_json_put_str(out, SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
        evbuffer_add_printf(out, ",\"group\":");
        sc_json_put_str_or_null(out, g != NULL ? g : (nid != 0 ? OBJ_nid2sn(nid) : NULL));
        evbuffer_add_printf(out, ",\"alpn\":");
        sc_json_put_str_or_null(out, alpn_len > 0 ? buf : NULL);
    } else {
        evbuffer_add_printf(out, ",\"protocol\":null,\"cipher\":null,\"group\":null,\"alpn\":null");
    }
    evbuffer_add_printf(out, ",\"peer_chain\":[");
    for (int i = 0; i < sk_X509_num(chain); i++) {
        cert_json(out, sk_X509_value(chain, i), now, i == 0);
    }
    evbuffer_add_printf(out, "],\"chain_verified\":%s,\"root\":",
                        p->attempted && p->vr == X509_V_OK && sk_X509_num(chain) > 0 ? "true"
                                                                                     : "false");
    if (root != NULL) {
        evbuffer_add_printf(out, "{\"subject\":");
        sc_x509_name_str(X509_get_subject_name(root), buf, sizeof(buf));
        sc_json_put_str(out, buf);
        evbuffer_add_printf(out, ",\"serial_number\":");
        sc_json_put_str(out, sc_x509_serial_hex(root, buf, sizeof(buf)));
        evbuffer_add_printf(out, "}");
    } else {
        evbuffer_add_printf(out, "null");
    }
    evbuffer_add_printf(out, ",\"root_problem\":");
    if (p->attempted && p->vr != X509_V_OK) {
        struct sc_tlsv_ctx vctx = {SC_DIR_OUTBOUND, 0, sk_X509_num(roots), NULL};

        sc_tlsv_explain_verify(ssl, p->vr, &vctx, vwhy, sizeof(vwhy));
        sc_json_put_str(out, vwhy);
    } else {
        sc_json_put_str_or_null(out,
                                root == NULL && p->hs_ok ? "resumed session: no chain seen" : NULL);
    }
    evbuffer_add_printf(out, ",\"peer_identity\":");
    sc_json_put_str_or_null(out, p->peer_id[0] != '\0' ? p->peer_id : NULL);
    evbuffer_add_printf(out, ",\"expected_identity\":");
    if (rq->identity != NULL) {
        sc_json_put_str(out, rq->identity);
    } else {
        snprintf(buf, sizeof(buf), "any identity in trust domain %s", td);
        sc_json_put_str(out, buf);
    }
    evbuffer_add_printf(out, ",\"identity_accepted\":%s,\"identity_problem\":",
                        p->hs_ok && p->id_ok ? "true" : "false");
    sc_json_put_str_or_null(out, p->id_problem[0] != '\0' ? p->id_problem : NULL);
    evbuffer_add_printf(out, ",\"trusted_roots\":[");
    for (int i = 0; i < sk_X509_num(roots); i++) {
        sc_x509_name_str(X509_get_subject_name(sk_X509_value(roots, i)), buf, sizeof(buf));
        if (i > 0) {
            evbuffer_add(out, ",", 1);
        }
        sc_json_put_str(out, buf);
    }
    evbuffer_add_printf(out, "],\"verdict\":\"%s\",\"message\":", v);
    sc_json_put_str(out, msg);
    evbuffer_add_printf(out, ",\"fix\":");
    sc_json_put_str_or_null(out, fix[0] != '\0' ? fix : NULL);
    evbuffer_add_printf(out, "}\n");
}

/* Whether the peer's identity would be accepted, as an outbound mesh
 * route checks it: rq->identity, else any ID of our trust domain. */
static void check_identity(SSL *ssl, const struct sc_diagnose_req *rq, const char *td,
                           struct probe *p)
{
    char *one[1] = {(char *)(uintptr_t)rq->identity};
    struct sc_strv ids = {one, rq->identity != NULL ? 1 : 0};
    const char *prefix = "identity_rejected: ";
    char reason[1024] = "";

    p->id_ok = sc_tlsv_identity(ssl, &ids, td, p->peer_id, sizeof(p->peer_id), reason,
                                sizeof(reason)) == 0;
    if (!p->id_ok) {
        snprintf(p->id_problem, sizeof(p->id_problem), "%s",
                 strncmp(reason, prefix, strlen(prefix)) == 0 ? reason + strlen(prefix) : reason);
    }
}

int sc_diagnose_run(struct sc_snapshot *snap, const struct sc_diagnose_req *rq,
                    struct evbuffer *out, char *why, size_t whylen)
{
    const struct sc_config *cfg = sc_snapshot_config(snap);
    STACK_OF(X509) *roots = sc_tls_material_roots(sc_snapshot_material(snap));
    SSL_CTX *ctx = sc_snapshot_client_ctx(snap);
    struct probe p;
    struct sc_addr a;
    const char *perr = NULL;
    int64_t deadline = sc_fdwait_now_ms() + rq->timeout_ms;
    SSL *ssl = NULL;
    int fd = -1;

    memset(&p, 0, sizeof(p));
    if (rq->address == NULL || sc_addr_parse(rq->address, &a, &perr) != 0) {
        snprintf(why, whylen, "address: %s", perr != NULL ? perr : "missing (HOST:PORT)");
        return -1;
    }
    if (ctx == NULL) {
        snprintf(why, whylen, "no certificates yet");
        return -1;
    }
    fd = dial(&a, deadline, &p);
    if (fd >= 0) {
        p.connected = 1;
        ssl = SSL_new(ctx);
        if (ssl == NULL) {
            ssl_error_text(&p, "SSL_new");
        } else {
            handshake(ssl, fd, rq, deadline, &p);
            if (p.hs_ok) {
                check_identity(ssl, rq, cfg->node.trust_domain, &p);
            } else if (sk_X509_num(SSL_get_peer_cert_chain(ssl)) > 0 &&
                       sc_x509_spiffe_id(sk_X509_value(SSL_get_peer_cert_chain(ssl), 0), p.peer_id,
                                         sizeof(p.peer_id)) != 0) {
                p.peer_id[0] = '\0';
            }
        }
    }
    render(out, ssl, rq, &p, roots, cfg->node.trust_domain);
    if (ssl != NULL && p.hs_ok) {
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    if (fd >= 0) {
        close(fd);
    }
    ERR_clear_error();
    return 0;
}
