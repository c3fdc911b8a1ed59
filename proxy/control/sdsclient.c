#include "sdsclient.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "err.h"
#include "escape.h"
#include "grpcconn.h"
#include "log.h"
#include "runtime.h"
#include "sdsproto.h"
#include "tlsctx.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000

struct pem {
    char *buf;
    size_t len;
};

struct sc_sdsclient {
    struct event_base *base;
    struct sc_runtime *rt;
    struct sc_grpc_conn *conn;
    struct event *retry;
    int backoff_ms;
    int connected;
    /* The set in use (copies of the PEMs last installed), so a push that
     * carries only one of the two resources completes with the other. */
    struct pem chain, key, roots;
    struct pem crl; /* the ROOTCA's CRLs; none when buf is NULL */
    char version[64]; /* last accepted version_info */
    uint64_t accepted, rejected, connects;
};

static void pem_set(struct pem *p, const char *buf, size_t len)
{
    if (p->buf != NULL) {
        OPENSSL_cleanse(p->buf, p->len);
        free(p->buf);
    }
    p->buf = NULL;
    p->len = 0;
    if (buf != NULL) {
        p->buf = malloc(len + 1);
        if (p->buf != NULL) {
            memcpy(p->buf, buf, len);
            p->buf[len] = '\0';
            p->len = len;
        }
    }
}

static void schedule_retry(struct sc_sdsclient *c)
{
    unsigned char r;
    int ms = c->backoff_ms;
    struct timeval tv;

    /* ±20 % jitter, so a fleet of sidecars does not reconnect in step. */
    if (RAND_bytes(&r, 1) == 1) {
        ms = ms * (80 + (r % 41)) / 100;
    }
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(c->retry, &tv);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static int send_request(struct sc_sdsclient *c, const char *nonce, const char *error)
{
    const struct sc_config *cfg = sc_runtime_config(c->rt);
    char *names[2] = {cfg->secrets.sds_cert_name, cfg->secrets.sds_root_name};
    struct sc_sds_request req;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    memset(&req, 0, sizeof(req));
    req.version_info = c->version;
    req.nonce = (char *)(uintptr_t)(nonce != NULL ? nonce : "");
    req.type_url = (char *)(uintptr_t)SC_SDS_TYPE_SECRET;
    req.node_id = cfg->node.id;
    req.node_cluster = cfg->node.namespace_;
    req.resource_names = names;
    req.n_names = 2;
    if (error != NULL) {
        req.has_error = 1;
        req.error_code = SC_GRPC_INVALID_ARGUMENT;
        req.error_message = (char *)(uintptr_t)error;
    }
    if (sc_sds_request_encode(&req, &buf, &len) != 0) {
        return -1;
    }
    rc = sc_grpc_client_send(c->conn, buf, len);
    free(buf);
    return rc;
}

/* Builds the candidate set: this push's resources over the ones in use. */
static void on_response(struct sc_sdsclient *c, const struct sc_sds_response *resp)
{
    const struct sc_config *cfg = sc_runtime_config(c->rt);
    const struct pem *chain = &c->chain, *key = &c->key, *roots = &c->roots, *crl = &c->crl;
    struct pem nchain = {NULL, 0}, nkey = {NULL, 0}, nroots = {NULL, 0}, ncrl = {NULL, 0};
    struct sc_tls_names names = {cfg->secrets.sds_cert_name, cfg->secrets.sds_cert_name,
                                 cfg->secrets.sds_root_name};
    struct sc_tls_material *m;
    struct sc_err err;
    char v1[256], v2[256], msg[1024];
    char source[128];

    if (strcmp(resp->type_url, SC_SDS_TYPE_SECRET) != 0) {
        snprintf(err.msg, sizeof(err.msg), "unexpected type_url \"%s\"", resp->type_url);
        goto nack;
    }
    for (size_t i = 0; i < resp->n_secrets; i++) {
        const struct sc_sds_secret *s = &resp->secrets[i];

        if (strcmp(s->name, cfg->secrets.sds_cert_name) == 0) {
            if (s->cert_chain_pem == NULL || s->private_key_pem == NULL) {
                snprintf(err.msg, sizeof(err.msg),
                         "secret \"%s\" has no tls_certificate chain and key", s->name);
                goto nack;
            }
            nchain.buf = s->cert_chain_pem;
            nchain.len = s->cert_chain_len;
            nkey.buf = s->private_key_pem;
            nkey.len = s->private_key_len;
            chain = &nchain;
            key = &nkey;
        } else if (strcmp(s->name, cfg->secrets.sds_root_name) == 0) {
            if (s->trusted_ca_pem == NULL) {
                snprintf(err.msg, sizeof(err.msg),
                         "secret \"%s\" has no validation_context trusted_ca", s->name);
                goto nack;
            }
            nroots.buf = s->trusted_ca_pem;
            nroots.len = s->trusted_ca_len;
            roots = &nroots;
            ncrl.buf = s->crl_pem; /* a ROOTCA without crl: no CRLs */
            ncrl.len = s->crl_len;
            crl = &ncrl;
        }
    }
    if (chain->buf == NULL || roots->buf == NULL) {
        /* Half a set (the server sends resources one by one): keep it and
         * wait for the rest.  ACK, since nothing in it is wrong. */
        if (nchain.buf != NULL) {
            pem_set(&c->chain, nchain.buf, nchain.len);
            pem_set(&c->key, nkey.buf, nkey.len);
        }
        if (nroots.buf != NULL) {
            pem_set(&c->roots, nroots.buf, nroots.len);
            pem_set(&c->crl, ncrl.buf, ncrl.len);
        }
        snprintf(c->version, sizeof(c->version), "%s", resp->version_info);
        send_request(c, resp->nonce, NULL);
        return;
    }
    m = sc_tls_material_from_pem(chain->buf, chain->len, key->buf, key->len, roots->buf, roots->len,
                                 &names, time(NULL), &err);
    if (m == NULL) {
        goto nack;
    }
    if (crl->buf != NULL) {
        char what[160];

        /* One CRL no trusted CA signed rejects the whole push. */
        snprintf(what, sizeof(what), "secret \"%s\": validation_context.crl",
                 cfg->secrets.sds_root_name);
        if (sc_tls_material_set_crls(m, crl->buf, crl->len, what, &err) != 0) {
            sc_tls_material_free(m);
            goto nack;
        }
    }
    snprintf(source, sizeof(source), "SDS version %s", resp->version_info);
    if (sc_runtime_set_material(c->rt, m, source, &err) != 0) {
        goto nack;
    }
    if (chain == &nchain) {
        pem_set(&c->chain, nchain.buf, nchain.len);
        pem_set(&c->key, nkey.buf, nkey.len);
    }
    if (roots == &nroots) {
        pem_set(&c->roots, nroots.buf, nroots.len);
        pem_set(&c->crl, ncrl.buf, ncrl.len);
    }
    snprintf(c->version, sizeof(c->version), "%s", resp->version_info);
    c->accepted++;
    send_request(c, resp->nonce, NULL);
    return;

nack:
    c->rejected++;
    sc_runtime_count_rejected(c->rt, err.msg);
    /* version strings and messages come from the server: escaped */
    sc_log(SC_LOG_WARN, NULL, "SDS push version %s rejected (NACK), keeping version %s: %s",
           sc_escape_text_str(resp->version_info, v1, sizeof(v1)),
           c->version[0] != '\0' ? sc_escape_text_str(c->version, v2, sizeof(v2)) : "(none)",
           sc_escape_text_str(err.msg, msg, sizeof(msg)));
    send_request(c, resp->nonce, err.msg);
}

static void on_message(void *arg, const uint8_t *msg, size_t len)
{
    struct sc_sdsclient *c = arg;
    struct sc_sds_response resp;
    struct sc_err err;
    char v1[256], v2[256], m[1024];

    if (sc_sds_response_decode(msg, len, &resp, &err) != 0) {
        /* A message that parsed but carried something we refuse (a
         * DataSource.filename, a foreign type) still has its nonce: NACK
         * exactly that push. */
        c->rejected++;
        sc_runtime_count_rejected(c->rt, err.msg);
        sc_log(SC_LOG_WARN, NULL, "SDS push undecodable (NACK): %s (version %s, keeping %s)",
               sc_escape_text_str(err.msg, m, sizeof(m)),
               resp.version_info != NULL && resp.version_info[0] != '\0'
                   ? sc_escape_text_str(resp.version_info, v1, sizeof(v1))
                   : "-",
               c->version[0] != '\0' ? sc_escape_text_str(c->version, v2, sizeof(v2)) : "(none)");
        send_request(c, resp.nonce != NULL ? resp.nonce : "", err.msg);
        sc_sds_response_cleanup(&resp);
        return;
    }
    c->backoff_ms = BACKOFF_MIN_MS; /* a working server resets the backoff */
    on_response(c, &resp);
    sc_sds_response_cleanup(&resp);
}

/* A message the server framed so that it cannot be read (truncated by the
 * end of the stream, compressed, oversize): a rejected push like any other,
 * NACKed on the stream before it closes.  It has no nonce to name; the
 * stream ends right after, so the NACK cannot be taken for a new
 * subscription.  on_close follows and reconnects. */
static void on_bad_message(void *arg, int status, const char *why)
{
    struct sc_sdsclient *c = arg;
    char v2[256], m[1024];

    (void)status;
    c->rejected++;
    sc_runtime_count_rejected(c->rt, why);
    sc_log(SC_LOG_WARN, NULL, "SDS push unreadable (NACK): %s (keeping %s)",
           sc_escape_text_str(why, m, sizeof(m)),
           c->version[0] != '\0' ? sc_escape_text_str(c->version, v2, sizeof(v2)) : "(none)");
    send_request(c, "", why);
}

static void on_close(void *arg, int status, const char *why)
{
    struct sc_sdsclient *c = arg;
    char m[1024];

    sc_log(SC_LOG_WARN, NULL, "SDS stream closed (grpc-status %d: %s); %s, reconnecting", status,
           sc_escape_text_str(why, m, sizeof(m)),
           sc_runtime_material(c->rt) != NULL ? "keeping the current certificates"
                                              : "no certificates yet");
    c->connected = 0;
    sc_grpc_conn_free(c->conn);
    c->conn = NULL;
    schedule_retry(c);
}

static void connect_sds(struct sc_sdsclient *c)
{
    const struct sc_config *cfg = sc_runtime_config(c->rt);
    struct sockaddr_un sun;
    struct sc_grpc_client_cbs cbs = {on_message, on_close, on_bad_message};
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(cfg->secrets.sds_socket) >= sizeof(sun.sun_path)) {
        sc_log(SC_LOG_ERR, NULL, "secrets.sds_socket: path too long");
        return;
    }
    memcpy(sun.sun_path, cfg->secrets.sds_socket, strlen(cfg->secrets.sds_socket));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        int e = errno;

        if (fd >= 0) {
            close(fd);
        }
        sc_log(c->connects == 0 ? SC_LOG_WARN : SC_LOG_DEBUG, NULL, "SDS server %s: %s; retrying",
               cfg->secrets.sds_socket, strerror(e));
        schedule_retry(c);
        return;
    }
    c->conn = sc_grpc_client_new(c->base, fd, "localhost", SC_SDS_METHOD_PATH, &cbs, c, 0);
    if (c->conn == NULL || send_request(c, "", NULL) != 0) {
        sc_grpc_conn_free(c->conn);
        c->conn = NULL;
        schedule_retry(c);
        return;
    }
    c->connected = 1;
    c->connects++;
    sc_log(SC_LOG_INFO, NULL, "SDS: subscribed to %s and %s on %s", cfg->secrets.sds_cert_name,
           cfg->secrets.sds_root_name, cfg->secrets.sds_socket);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    connect_sds(arg);
}

struct sc_sdsclient *sc_sdsclient_new(struct event_base *base, struct sc_runtime *rt)
{
    struct sc_sdsclient *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->base = base;
    c->rt = rt;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->retry = evtimer_new(base, on_retry, c);
    if (c->retry == NULL) {
        free(c);
        return NULL;
    }
    connect_sds(c);
    return c;
}

void sc_sdsclient_state(const struct sc_sdsclient *c, struct sc_admin_sds *out)
{
    out->enabled = 1;
    out->connected = c->connected;
    out->pushes_accepted = c->accepted;
    out->pushes_rejected = c->rejected;
    out->connects = c->connects;
    snprintf(out->version, sizeof(out->version), "%s", c->version);
}

void sc_sdsclient_free(struct sc_sdsclient *c)
{
    if (c == NULL) {
        return;
    }
    sc_grpc_conn_free(c->conn);
    event_free(c->retry);
    pem_set(&c->chain, NULL, 0);
    pem_set(&c->key, NULL, 0);
    pem_set(&c->roots, NULL, 0);
    pem_set(&c->crl, NULL, 0);
    free(c);
}
