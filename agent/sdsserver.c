#include "sdsserver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "escape.h"
#include "grpcconn.h"
#include "log.h"

/* See sdsserver.h. */

#define N_RES 2
#define MAX_PEERS 128
#define MAX_STREAMS 256
#define MAX_REQUEST (256 * 1024)
#define MAX_UIDS 64

static const char *const res_names[N_RES] = {SC_SDS_RESOURCE_DEFAULT, SC_SDS_RESOURCE_ROOTCA};

struct resource {
    int present;
    struct sc_sds_secret sec; /* owned copy */
    uint8_t hash[32];
    uint64_t gen; /* server generation of this content */
    char desc[256];
};

struct peer {
    struct sc_sdsserver *srv;
    struct sc_grpc_conn *conn;
    LIST_ENTRY(peer) link; /* the server's peers */
    uid_t uid;
    pid_t pid;
    unsigned id;
};

struct sstream {
    struct sc_sdsserver *srv;
    struct peer *peer;
    struct sc_grpc_stream *gs;
    LIST_ENTRY(sstream) link; /* the server's streams */
    unsigned id;
    char node[128];
    int have_request;
    int want[N_RES]; /* subscribed */
    int warned_unknown;
    uint64_t sent_gen[N_RES]; /* content generation last sent (0 = never) */
    uint64_t answered_gen[N_RES];
    uint64_t pending_gen[N_RES];
    char nonce[32]; /* of the last response */
    uint64_t n_nonce;
};

struct sc_sdsserver {
    struct event_base *base;
    char *path;
    int fd;
    struct event *accept_ev;
    uid_t uids[MAX_UIDS];
    size_t n_uids;
    struct resource res[N_RES];
    uint64_t gen;
    char version[64];
    LIST_HEAD(, peer) peers;
    size_t n_peers;
    LIST_HEAD(, sstream) streams;
    unsigned next_id;
    struct sc_sdsserver_stats st;
};

/* ---- resources ---------------------------------------------------------- */

static int res_index(const char *name)
{
    int i;

    for (i = 0; i < N_RES; i++) {
        if (name != NULL && strcmp(name, res_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static void hash_field(EVP_MD_CTX *md, const char *p, size_t len)
{
    uint64_t n = p == NULL ? UINT64_MAX : (uint64_t)len;

    EVP_DigestUpdate(md, &n, sizeof(n));
    if (p != NULL && len > 0) {
        EVP_DigestUpdate(md, p, len);
    }
}

static int hash_secret(const struct sc_sds_secret *s, uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned n = 0;
    int ok;

    if (md == NULL) {
        return -1;
    }
    ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    hash_field(md, s->name, s->name == NULL ? 0 : strlen(s->name));
    hash_field(md, s->cert_chain_pem, s->cert_chain_len);
    hash_field(md, s->private_key_pem, s->private_key_len);
    hash_field(md, s->trusted_ca_pem, s->trusted_ca_len);
    hash_field(md, s->crl_pem, s->crl_len);
    ok = ok && EVP_DigestFinal_ex(md, out, &n) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

static char *memdup0(const char *p, size_t len)
{
    char *s;

    if (p == NULL) {
        return NULL;
    }
    s = malloc(len + 1);
    if (s != NULL) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

static void update_version(struct sc_sdsserver *s)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t h[32];
    unsigned n = 0;
    int i;

    memset(h, 0, sizeof(h));
    if (md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        for (i = 0; i < N_RES; i++) {
            EVP_DigestUpdate(md, s->res[i].hash, sizeof(s->res[i].hash));
        }
        EVP_DigestFinal_ex(md, h, &n);
    }
    EVP_MD_CTX_free(md);
    snprintf(s->version, sizeof(s->version), "%llu-%02x%02x%02x%02x", (unsigned long long)s->gen,
             h[0], h[1], h[2], h[3]);
}

/* ---- streams ------------------------------------------------------------ */

/* At most max bytes of s (a client's node id, version, nonce, message),
 * escaped for a log line into out.  Returns out. */
static const char *esc(const char *s, size_t max, char *out, size_t outlen)
{
    struct sc_outbuf o;

    sc_outbuf_init(&o, out, outlen);
    sc_escape_text(&o, s, strnlen(s, max));
    out[o.len] = '\0';
    return out;
}

static void stream_finish(struct sstream *st, int status, const char *msg)
{
    char m[1024];

    /* msg may quote the client's bytes (a type URL, a decode error) */
    sc_log(SC_LOG_WARN, NULL, "sds stream=%u uid=%u node=%s: closing: %s", st->id,
           (unsigned)st->peer->uid, st->node, esc(msg, sizeof(m), m, sizeof(m)));
    sc_grpc_stream_finish(st->gs, status, msg);
}

/* Sends a response with every subscribed resource we have when one of them
 * changed since it was last sent (or force). */
static void stream_push(struct sstream *st, int force)
{
    struct sc_sdsserver *s = st->srv;
    struct sc_sds_response r;
    struct sc_sds_secret secs[N_RES];
    uint8_t *buf = NULL;
    size_t len = 0;
    int i, need = 0;
    char nonce[32];

    if (!st->have_request) {
        return;
    }
    memset(&r, 0, sizeof(r));
    for (i = 0; i < N_RES; i++) {
        if (st->want[i] && s->res[i].present) {
            secs[r.n_secrets++] = s->res[i].sec;
            if (force || st->sent_gen[i] != s->res[i].gen) {
                need = 1;
            }
        }
    }
    if (!need) {
        return;
    }
    st->n_nonce++;
    snprintf(nonce, sizeof(nonce), "%u-%llu", st->id, (unsigned long long)st->n_nonce);
    r.version_info = s->version;
    r.nonce = nonce;
    r.type_url = (char *)(uintptr_t)SC_SDS_TYPE_SECRET;
    r.secrets = secs;
    if (sc_sds_response_encode(&r, &buf, &len) != 0) {
        stream_finish(st, SC_GRPC_INTERNAL, "out of memory encoding a response");
        return;
    }
    if (sc_grpc_stream_send(st->gs, buf, len) != 0) {
        OPENSSL_cleanse(buf, len);
        free(buf);
        stream_finish(st, SC_GRPC_RESOURCE_EXHAUSTED, "client is not reading its responses");
        return;
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    snprintf(st->nonce, sizeof(st->nonce), "%s", nonce);
    s->st.pushes++;
    for (i = 0; i < N_RES; i++) {
        if (st->want[i] && s->res[i].present) {
            int changed = force || st->sent_gen[i] != s->res[i].gen;

            st->sent_gen[i] = s->res[i].gen;
            st->pending_gen[i] = s->res[i].gen;
            if (!changed) {
                continue; /* carried along unchanged: not worth a line */
            }
            sc_log(SC_LOG_INFO, NULL,
                   "sds push stream=%u uid=%u node=%s resource=%s version=%s nonce=%s %s", st->id,
                   (unsigned)st->peer->uid, st->node, res_names[i], s->version, nonce,
                   s->res[i].desc);
        }
    }
}

static void stream_subscribe(struct sstream *st, const struct sc_sds_request *req)
{
    char name[420];
    size_t i;
    int k;

    for (k = 0; k < N_RES; k++) {
        st->want[k] = req->n_names == 0;
    }
    for (i = 0; i < req->n_names; i++) {
        k = res_index(req->resource_names[i]);
        if (k >= 0) {
            st->want[k] = 1;
        } else if (!st->warned_unknown) {
            st->warned_unknown = 1;
            sc_log(SC_LOG_WARN, NULL,
                   "sds stream=%u uid=%u node=%s: unknown resource \"%s\" requested "
                   "(served: default, ROOTCA)",
                   st->id, (unsigned)st->peer->uid, st->node,
                   esc(req->resource_names[i], 100, name, sizeof(name)));
        }
    }
}

static void stream_request(struct sstream *st, const struct sc_sds_request *req)
{
    struct sc_sdsserver *s = st->srv;
    char nonce[164], ver[244], msg[1604];
    int k;

    if (req->node_id[0] != '\0') {
        esc(req->node_id, 100, st->node, sizeof(st->node));
    }
    if (req->nonce[0] == '\0') {
        /* initial request (or a client that lost its state): answer it */
        st->have_request = 1;
        stream_subscribe(st, req);
        sc_log(SC_LOG_INFO, NULL, "sds stream=%u uid=%u pid=%d node=%s: subscribed (%s%s%s)",
               st->id, (unsigned)st->peer->uid, (int)st->peer->pid, st->node,
               st->want[0] ? "default" : "", st->want[0] && st->want[1] ? ", " : "",
               st->want[1] ? "ROOTCA" : "");
        stream_push(st, 1);
        return;
    }
    if (strcmp(req->nonce, st->nonce) != 0) {
        sc_log(SC_LOG_DEBUG, NULL, "sds stream=%u: ignoring request with stale nonce %s", st->id,
               esc(req->nonce, 40, nonce, sizeof(nonce)));
        return;
    }
    for (k = 0; k < N_RES; k++) {
        if (st->want[k]) {
            st->answered_gen[k] = st->pending_gen[k];
        }
    }
    if (req->has_error) {
        s->st.nacks++;
        sc_log(SC_LOG_WARN, NULL,
               "sds NACK stream=%u uid=%u node=%s nonce=%s rejected version (last accepted "
               "version=%s): code=%d %s",
               st->id, (unsigned)st->peer->uid, st->node, esc(req->nonce, 40, nonce, sizeof(nonce)),
               req->version_info[0] != '\0' ? esc(req->version_info, 60, ver, sizeof(ver)) : "none",
               req->error_code, esc(req->error_message, 400, msg, sizeof(msg)));
    } else {
        s->st.acks++;
        sc_log(SC_LOG_INFO, NULL, "sds ACK stream=%u uid=%u node=%s version=%s nonce=%s", st->id,
               (unsigned)st->peer->uid, st->node, esc(req->version_info, 60, ver, sizeof(ver)),
               esc(req->nonce, 40, nonce, sizeof(nonce)));
    }
    /* a changed subscription gets what it newly asks for */
    stream_subscribe(st, req);
    stream_push(st, 0);
}

static void on_message(void *arg, const uint8_t *msg, size_t len)
{
    struct sstream *st = arg;
    struct sc_sds_request req;
    struct sc_err err;

    if (sc_sds_request_decode(msg, len, &req, &err) != 0) {
        st->srv->st.bad_requests++;
        stream_finish(st, SC_GRPC_INVALID_ARGUMENT, err.msg);
        return;
    }
    if (req.node_id[0] != '\0') {
        esc(req.node_id, 100, st->node, sizeof(st->node));
    }
    if (req.type_url[0] != '\0' && strcmp(req.type_url, SC_SDS_TYPE_SECRET) != 0) {
        char why[300];

        st->srv->st.bad_requests++;
        snprintf(why, sizeof(why), "type_url %.200s is not served here (only %s)", req.type_url,
                 "envoy.extensions.transport_sockets.tls.v3.Secret");
        stream_finish(st, SC_GRPC_INVALID_ARGUMENT, why);
        sc_sds_request_cleanup(&req);
        return;
    }
    stream_request(st, &req);
    sc_sds_request_cleanup(&req);
}

static void *on_stream(void *arg, struct sc_grpc_stream *gs, const char *path)
{
    struct peer *p = arg;
    struct sc_sdsserver *s = p->srv;
    struct sstream *st;

    if (strcmp(path, SC_SDS_METHOD_PATH) != 0) {
        char m[404];

        sc_log(SC_LOG_WARN, NULL, "sds uid=%u: unknown method %s", (unsigned)p->uid,
               esc(path, 100, m, sizeof(m)));
        return NULL;
    }
    if (s->st.streams >= MAX_STREAMS) {
        sc_log(SC_LOG_WARN, NULL, "sds uid=%u: refusing stream: %d streams open", (unsigned)p->uid,
               MAX_STREAMS);
        return NULL;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return NULL;
    }
    st->srv = s;
    st->peer = p;
    st->gs = gs;
    st->id = ++s->next_id;
    snprintf(st->node, sizeof(st->node), "-");
    LIST_INSERT_HEAD(&s->streams, st, link);
    s->st.streams++;
    return st;
}

static void on_stream_close(void *arg)
{
    struct sstream *st = arg;
    struct sc_sdsserver *s = st->srv;

    LIST_REMOVE(st, link);
    s->st.streams--;
    sc_log(SC_LOG_DEBUG, NULL, "sds stream=%u closed", st->id);
    free(st);
}

static void peer_unlink(struct peer *p)
{
    struct sc_sdsserver *s = p->srv;

    LIST_REMOVE(p, link);
    s->n_peers--;
}

static void on_conn_close(void *arg, struct sc_grpc_conn *c)
{
    struct peer *p = arg;

    sc_log(SC_LOG_INFO, NULL, "sds connection uid=%u pid=%d closed: %s", (unsigned)p->uid,
           (int)p->pid, sc_grpc_conn_close_reason(c));
    peer_unlink(p);
    sc_grpc_conn_free(c);
    free(p);
}

static const struct sc_grpc_server_cbs server_cbs = {on_stream, on_message, on_stream_close,
                                                     on_conn_close};

/* ---- accepting ---------------------------------------------------------- */

static int uid_allowed(const struct sc_sdsserver *s, uid_t uid)
{
    size_t i;

    for (i = 0; i < s->n_uids; i++) {
        if (s->uids[i] == uid) {
            return 1;
        }
    }
    return 0;
}

static void accept_one(struct sc_sdsserver *s, int fd)
{
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    struct peer *p;
    char allowed[256];
    size_t i, o = 0;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
        sc_log(SC_LOG_WARN, NULL, "sds: refused a peer: SO_PEERCRED: %s", strerror(errno));
        close(fd);
        s->st.refused_peers++;
        return;
    }
    if (!uid_allowed(s, cred.uid)) {
        allowed[0] = '\0';
        for (i = 0; i < s->n_uids && o < sizeof(allowed); i++) {
            o += (size_t)snprintf(allowed + o, sizeof(allowed) - o, "%s%u", i ? ", " : "",
                                  (unsigned)s->uids[i]);
        }
        sc_log(SC_LOG_WARN, NULL, "sds: refused peer uid=%u pid=%d: uid not in allowed_uids [%s]",
               (unsigned)cred.uid, (int)cred.pid, allowed);
        close(fd);
        s->st.refused_peers++;
        return;
    }
    if (s->n_peers >= MAX_PEERS) {
        sc_log(SC_LOG_WARN, NULL, "sds: refused peer uid=%u pid=%d: %d connections open",
               (unsigned)cred.uid, (int)cred.pid, MAX_PEERS);
        close(fd);
        return;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        close(fd);
        return;
    }
    p->srv = s;
    p->uid = cred.uid;
    p->pid = cred.pid;
    p->conn = sc_grpc_server_new(s->base, fd, &server_cbs, p, MAX_REQUEST);
    if (p->conn == NULL) {
        free(p);
        return;
    }
    LIST_INSERT_HEAD(&s->peers, p, link);
    s->n_peers++;
    s->st.connections++;
    sc_log(SC_LOG_INFO, NULL, "sds connection from uid=%u pid=%d", (unsigned)cred.uid,
           (int)cred.pid);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct sc_sdsserver *s = arg;
    int i;

    (void)what;
    for (i = 0; i < 32; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                sc_log(SC_LOG_WARN, NULL, "sds: accept: %s", strerror(errno));
            }
            return;
        }
        accept_one(s, fd);
    }
}

/* Removes a socket file left by an earlier run; refuses a live socket or a
 * non-socket. */
static int clear_stale(const char *path, struct sc_err *err)
{
    struct stat st;
    struct sockaddr_un sa;
    int fd, rc;

    if (lstat(path, &st) != 0) {
        return 0;
    }
    if (!S_ISSOCK(st.st_mode)) {
        sc_err_set(err, "%s exists and is not a socket", path);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        sc_err_set(err, "socket: %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    if (rc == 0) {
        sc_err_set(err, "%s is in use by another process", path);
        return -1;
    }
    if (unlink(path) != 0) {
        sc_err_set(err, "cannot remove the stale socket %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

struct sc_sdsserver *sc_sdsserver_new(struct event_base *base, const struct sc_sdsserver_opts *o,
                                      struct sc_err *err)
{
    struct sc_sdsserver *s = calloc(1, sizeof(*s));
    struct sockaddr_un sa;
    mode_t old;
    int rc;

    if (s == NULL) {
        sc_err_set(err, "out of memory");
        return NULL;
    }
    s->fd = -1;
    s->base = base;
    if (strlen(o->path) >= sizeof(sa.sun_path) || o->n_uids > MAX_UIDS) {
        sc_err_set(err, "%s: socket path too long", o->path);
        free(s);
        return NULL;
    }
    s->path = strdup(o->path);
    memcpy(s->uids, o->uids, o->n_uids * sizeof(*o->uids));
    s->n_uids = o->n_uids;
    if (s->path == NULL || clear_stale(o->path, err) != 0) {
        free(s->path);
        free(s);
        return NULL;
    }
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        sc_err_set(err, "socket: %s", strerror(errno));
        goto fail;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, o->path, strlen(o->path));
    old = umask((mode_t)(~o->mode & 0777));
    rc = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc != 0) {
        sc_err_set(err, "bind %s: %s", o->path, strerror(errno));
        goto fail;
    }
    if (chmod(o->path, o->mode) != 0 || listen(s->fd, 128) != 0) {
        sc_err_set(err, "listen %s: %s", o->path, strerror(errno));
        unlink(o->path);
        goto fail;
    }
    s->accept_ev = event_new(base, s->fd, EV_READ | EV_PERSIST, accept_cb, s);
    if (s->accept_ev == NULL || event_add(s->accept_ev, NULL) != 0) {
        sc_err_set(err, "out of memory");
        unlink(o->path);
        goto fail;
    }
    return s;

fail:
    if (s->fd >= 0) {
        close(s->fd);
    }
    free(s->path);
    free(s);
    return NULL;
}

void sc_sdsserver_free(struct sc_sdsserver *s)
{
    int i;

    if (s == NULL) {
        return;
    }
    while (!LIST_EMPTY(&s->peers)) {
        struct peer *p = LIST_FIRST(&s->peers);

        peer_unlink(p);
        sc_grpc_conn_free(p->conn); /* closes its streams (on_stream_close) */
        free(p);
    }
    if (s->accept_ev != NULL) {
        event_free(s->accept_ev);
    }
    if (s->fd >= 0) {
        close(s->fd);
        unlink(s->path);
    }
    for (i = 0; i < N_RES; i++) {
        sc_sds_secret_cleanup(&s->res[i].sec);
    }
    free(s->path);
    free(s);
}

/* ---- updates ------------------------------------------------------------ */

/* A copy of sec and its hash, made before anything is replaced.  0 or -1
 * (out of memory; *copy is then empty). */
static int prepare(const struct sc_sds_secret *sec, struct sc_sds_secret *copy, uint8_t h[32])
{
    memset(copy, 0, sizeof(*copy));
    if (hash_secret(sec, h) != 0) {
        return -1;
    }
    copy->name = strdup(sec->name);
    copy->cert_chain_pem = memdup0(sec->cert_chain_pem, sec->cert_chain_len);
    copy->cert_chain_len = sec->cert_chain_len;
    copy->private_key_pem = memdup0(sec->private_key_pem, sec->private_key_len);
    copy->private_key_len = sec->private_key_len;
    copy->trusted_ca_pem = memdup0(sec->trusted_ca_pem, sec->trusted_ca_len);
    copy->trusted_ca_len = sec->trusted_ca_len;
    copy->crl_pem = memdup0(sec->crl_pem, sec->crl_len);
    copy->crl_len = sec->crl_len;
    if (copy->name == NULL || (sec->cert_chain_pem != NULL && copy->cert_chain_pem == NULL) ||
        (sec->private_key_pem != NULL && copy->private_key_pem == NULL) ||
        (sec->trusted_ca_pem != NULL && copy->trusted_ca_pem == NULL) ||
        (sec->crl_pem != NULL && copy->crl_pem == NULL)) {
        sc_sds_secret_cleanup(copy);
        return -1;
    }
    return 0;
}

int sc_sdsserver_set_many(struct sc_sdsserver *s, const struct sc_sds_secret *secs,
                          const char *const *descs, size_t n)
{
    struct sc_sds_secret copy[N_RES];
    uint8_t h[N_RES][32];
    int idx[N_RES], any = 0, rc = -1;
    struct sstream *st, *next;
    size_t i, ready = 0;

    if (n > N_RES) {
        return -1;
    }
    /* all or nothing: every copy is made before any resource changes */
    for (i = 0; i < n; i++) {
        idx[i] = res_index(secs[i].name);
        if (idx[i] < 0 || prepare(&secs[i], &copy[i], h[i]) != 0) {
            goto out;
        }
        ready = i + 1;
    }
    for (i = 0; i < n; i++) {
        struct resource *r = &s->res[idx[i]];

        if (r->present && memcmp(h[i], r->hash, sizeof(h[i])) == 0) {
            continue;
        }
        sc_sds_secret_cleanup(&r->sec);
        r->sec = copy[i];
        memset(&copy[i], 0, sizeof(copy[i]));
        r->present = 1;
        memcpy(r->hash, h[i], sizeof(h[i]));
        r->gen = ++s->gen;
        snprintf(r->desc, sizeof(r->desc), "%s", descs != NULL && descs[i] != NULL ? descs[i] : "");
        any = 1;
    }
    rc = 1;
    if (any) {
        update_version(s);
        /* one response per stream, with every resource it wants
         * (stream_push sends only when one of them changed) */
        for (st = LIST_FIRST(&s->streams); st != NULL; st = next) {
            next = LIST_NEXT(st, link); /* pushing never closes a stream synchronously */
            stream_push(st, 0);
        }
        rc = 0;
    }
out:
    for (i = 0; i < ready; i++) {
        sc_sds_secret_cleanup(&copy[i]);
    }
    return rc;
}

int sc_sdsserver_set(struct sc_sdsserver *s, const struct sc_sds_secret *sec, const char *desc)
{
    return sc_sdsserver_set_many(s, sec, &desc, 1);
}

int sc_sdsserver_all_answered(const struct sc_sdsserver *s, const char *name)
{
    int k = res_index(name);
    const struct sstream *st;

    if (k < 0) {
        return 1;
    }
    LIST_FOREACH(st, &s->streams, link) {
        if (st->want[k] && st->have_request && st->answered_gen[k] < s->res[k].gen) {
            return 0;
        }
    }
    return 1;
}

const char *sc_sdsserver_version(const struct sc_sdsserver *s)
{
    return s->version;
}

void sc_sdsserver_get_stats(const struct sc_sdsserver *s, struct sc_sdsserver_stats *out)
{
    *out = s->st;
}
