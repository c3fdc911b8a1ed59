/* sds-fetch: a small SDS v3 client on common/grpcconn + common/sdsproto, for
 * tests.  Connects to a Unix socket, subscribes, ACKs (or NACKs) every
 * response and prints one line per response:
 *
 *   RESP version=V nonce=N type=T secrets=K
 *   SECRET name=default chain_bytes=N key_bytes=N ca_bytes=N
 *
 * With -o DIR it writes DIR/<name>.chain.pem, .key.pem, .ca.pem (the latest
 * response) and the same into DIR/r<N>/ for the N-th response (from 1).
 *
 *   sds-fetch -s SOCKET [-n default,ROOTCA] [-c COUNT] [-t SECONDS] [-o DIR]
 *             [-N] [-i NODE_ID]
 *
 * -n "" subscribes with an empty resource list; -N NACKs every response.
 * Exits 0 after COUNT responses (default 1); 1 when the stream ends first
 * (printing "CLOSED status=S why=..."), 2 on a timeout, 3 on usage. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "err.h"
#include "grpcconn.h"
#include "sdsproto.h"

struct fetch {
    struct event_base *base;
    struct sc_grpc_conn *conn;
    char *names[8];
    size_t n_names;
    const char *outdir;
    const char *node_id;
    int nack;
    int want;
    int got;
    int rc;
};

static void write_pem(const char *dir, int n, const char *name, const char *suffix, const char *pem,
                      size_t len)
{
    char path[4096];
    FILE *f;

    if (dir == NULL || pem == NULL) {
        return;
    }
    if (n > 0) {
        snprintf(path, sizeof(path), "%s/r%d", dir, n);
        mkdir(path, 0700);
        snprintf(path, sizeof(path), "%s/r%d/%s.%s.pem", dir, n, name, suffix);
    } else {
        snprintf(path, sizeof(path), "%s/%s.%s.pem", dir, name, suffix);
    }
    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "sds-fetch: %s: %s\n", path, strerror(errno));
        return;
    }
    fwrite(pem, 1, len, f);
    fclose(f);
}

static int send_req(struct fetch *f, const char *version, const char *nonce, const char *error)
{
    struct sc_sds_request r;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    memset(&r, 0, sizeof(r));
    r.version_info = (char *)(uintptr_t)version;
    r.nonce = (char *)(uintptr_t)nonce;
    r.type_url = (char *)(uintptr_t)SC_SDS_TYPE_SECRET;
    r.node_id = (char *)(uintptr_t)f->node_id;
    r.resource_names = f->names;
    r.n_names = f->n_names;
    if (error != NULL) {
        r.has_error = 1;
        r.error_code = 3;
        r.error_message = (char *)(uintptr_t)error;
    }
    if (sc_sds_request_encode(&r, &buf, &len) != 0) {
        return -1;
    }
    rc = sc_grpc_client_send(f->conn, buf, len);
    free(buf);
    return rc;
}

static void on_message(void *arg, const uint8_t *msg, size_t len)
{
    struct fetch *f = arg;
    struct sc_sds_response r;
    struct sc_err err;
    size_t i;

    if (sc_sds_response_decode(msg, len, &r, &err) != 0) {
        printf("BADRESP nonce=%s %s\n", r.nonce != NULL ? r.nonce : "", err.msg);
        fflush(stdout);
        send_req(f, "", r.nonce != NULL ? r.nonce : "", err.msg); /* NACK */
        sc_sds_response_cleanup(&r);
        return;
    }
    printf("RESP version=%s nonce=%s type=%s secrets=%zu\n", r.version_info, r.nonce, r.type_url,
           r.n_secrets);
    for (i = 0; i < r.n_secrets; i++) {
        struct sc_sds_secret *s = &r.secrets[i];

        printf("SECRET name=%s chain_bytes=%zu key_bytes=%zu ca_bytes=%zu\n", s->name,
               s->cert_chain_len, s->private_key_len, s->trusted_ca_len);
        for (int n = 0; n <= 1; n++) {
            int idx = n == 0 ? 0 : f->got + 1;

            write_pem(f->outdir, idx, s->name, "chain", s->cert_chain_pem, s->cert_chain_len);
            write_pem(f->outdir, idx, s->name, "key", s->private_key_pem, s->private_key_len);
            write_pem(f->outdir, idx, s->name, "ca", s->trusted_ca_pem, s->trusted_ca_len);
        }
    }
    fflush(stdout);
    if (f->nack) {
        send_req(f, "", r.nonce, "sds-fetch: NACK (-N)");
    } else {
        send_req(f, r.version_info, r.nonce, NULL);
    }
    sc_sds_response_cleanup(&r);
    f->got++;
    if (f->got >= f->want) {
        f->rc = 0;
        /* give the ACK a moment to leave */
        struct timeval tv = {0, 100000};
        event_base_loopexit(f->base, &tv);
    }
}

static void on_close(void *arg, int status, const char *why)
{
    struct fetch *f = arg;

    printf("CLOSED status=%d why=%s\n", status, why);
    fflush(stdout);
    if (f->got < f->want) {
        f->rc = 1;
    }
    sc_grpc_conn_free(f->conn);
    f->conn = NULL;
    event_base_loopbreak(f->base);
}

int main(int argc, char **argv)
{
    struct fetch f;
    struct sc_grpc_client_cbs cbs = {on_message, on_close, NULL};
    const char *sock = NULL;
    char *names = strdup("default,ROOTCA");
    double timeout = 10;
    struct sockaddr_un sa;
    struct timeval tv;
    int opt, fd;

    signal(SIGPIPE, SIG_IGN);
    memset(&f, 0, sizeof(f));
    f.want = 1;
    f.rc = 2;
    f.node_id = "sds-fetch";
    while ((opt = getopt(argc, argv, "s:n:c:t:o:Ni:")) != -1) {
        switch (opt) {
        case 's':
            sock = optarg;
            break;
        case 'n':
            free(names);
            names = strdup(optarg);
            break;
        case 'c':
            f.want = (int)strtol(optarg, NULL, 10);
            break;
        case 't':
            timeout = strtod(optarg, NULL);
            break;
        case 'o':
            f.outdir = optarg;
            break;
        case 'N':
            f.nack = 1;
            break;
        case 'i':
            f.node_id = optarg;
            break;
        default:
            fprintf(stderr, "usage: sds-fetch -s SOCKET [-n names] [-c N] [-t S] [-o DIR] [-N]\n");
            return 3;
        }
    }
    if (sock == NULL || names == NULL || strlen(sock) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "sds-fetch: -s SOCKET is required\n");
        return 3;
    }
    for (char *p = names, *save = NULL, *tok; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
        if (f.n_names < 8) {
            f.names[f.n_names++] = tok;
        }
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, sock, strlen(sock));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        printf("CLOSED status=14 why=connect %s: %s\n", sock, strerror(errno));
        return 1;
    }
    if (f.outdir != NULL) {
        mkdir(f.outdir, 0700);
    }
    f.base = event_base_new();
    f.conn = sc_grpc_client_new(f.base, fd, "localhost", SC_SDS_METHOD_PATH, &cbs, &f, 0);
    if (f.conn == NULL || send_req(&f, "", "", NULL) != 0) {
        fprintf(stderr, "sds-fetch: cannot start the stream\n");
        return 1;
    }
    tv.tv_sec = (time_t)timeout;
    tv.tv_usec = (suseconds_t)((timeout - (double)tv.tv_sec) * 1e6);
    event_base_loopexit(f.base, &tv);
    event_base_dispatch(f.base);
    if (f.rc == 2) {
        printf("TIMEOUT after %.1fs with %d of %d responses\n", timeout, f.got, f.want);
    }
    sc_grpc_conn_free(f.conn);
    event_base_free(f.base);
    free(names);
    return f.rc;
}
