/* Fuzz target for common/grpcconn (HTTP/2 + gRPC on nghttp2, both roles)
 * feeding common/sdsproto, as the SDS client and sds-agent use them.
 *
 * The first input byte picks the role: even, the connection is a server
 * (sds-agent's side) and the rest of the input is what a client sends,
 * after the HTTP/2 client preface the harness writes first; odd, it is a
 * client (the sidecar's SDS client) and the rest is what a server sends.
 * The bytes go through one end of a socketpair on a private event_base,
 * then that end is shut for writing; the loop runs until the connection
 * reports its end.  Each whole gRPC message is decoded as an SDS request
 * or response; the server answers a request and finishes the stream, the
 * client answers an unreadable message with a NACK, as the real owners do.
 * Nothing may crash, hang or leak; the connection must end exactly once,
 * with a reason.  Violations abort(). */

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "grpcconn.h"
#include "sdsproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (64 * 1024) /* fits a socketpair's buffer: one write */
#define MAX_ROUNDS 20000

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct run {
    int closed;
    int streams; /* server: accepted and not yet closed */
};

/* ---- server role (sds-agent) -------------------------------------------- */

static void *srv_on_stream(void *arg, struct sc_grpc_stream *s, const char *path)
{
    struct run *r = arg;

    (void)s;
    CHECK(path != NULL);
    if (strcmp(path, SC_SDS_METHOD_PATH) != 0) {
        return NULL;
    }
    r->streams++;
    return s;
}

static void srv_on_message(void *stream_arg, const uint8_t *msg, size_t len)
{
    struct sc_grpc_stream *s = stream_arg;
    struct sc_sds_request req;
    struct sc_err err;
    static const uint8_t answer[] = {0x0a, 0x01, 0x31}; /* version_info "1" */

    if (sc_sds_request_decode(msg, len, &req, &err) != 0) {
        sc_grpc_stream_finish(s, SC_GRPC_INVALID_ARGUMENT, err.msg);
    } else {
        CHECK(req.version_info != NULL && req.nonce != NULL && req.node_id != NULL);
        (void)sc_grpc_stream_send(s, answer, sizeof(answer));
        if (req.has_error) {
            sc_grpc_stream_finish(s, SC_GRPC_OK, req.error_message);
        }
    }
    sc_sds_request_cleanup(&req);
}

static struct run *srv_run; /* the stream-close callback has only the stream */

static void srv_on_stream_close(void *stream_arg)
{
    (void)stream_arg;
    CHECK(srv_run->streams > 0);
    srv_run->streams--;
}

static void srv_on_conn_close(void *arg, struct sc_grpc_conn *c)
{
    struct run *r = arg;

    CHECK(!r->closed);
    CHECK(sc_grpc_conn_close_reason(c)[0] != '\0');
    r->closed = 1;
}

/* ---- client role (the sidecar's SDS client) ------------------------------ */

static struct sc_grpc_conn *cli_conn;

static void cli_on_message(void *arg, const uint8_t *msg, size_t len)
{
    struct sc_sds_response resp;
    struct sc_err err;

    (void)arg;
    if (sc_sds_response_decode(msg, len, &resp, &err) == 0) {
        CHECK(resp.version_info != NULL && resp.nonce != NULL && resp.type_url != NULL);
    }
    sc_sds_response_cleanup(&resp);
}

static void cli_on_close(void *arg, int status, const char *why)
{
    struct run *r = arg;

    CHECK(!r->closed);
    CHECK(why != NULL);
    (void)status;
    r->closed = 1;
}

static void cli_on_bad_message(void *arg, int status, const char *why)
{
    static const uint8_t nack[] = {0x2a, 0x01, 0x78}; /* response_nonce "x" */

    (void)arg;
    (void)status;
    CHECK(why != NULL);
    (void)sc_grpc_client_send(cli_conn, nack, sizeof(nack));
}

/* ---- driver -------------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;

    while (n > 0) {
        ssize_t w = write(fd, b, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct sc_grpc_server_cbs scbs = {srv_on_stream, srv_on_message,
                                                   srv_on_stream_close, srv_on_conn_close};
    static const struct sc_grpc_client_cbs ccbs = {cli_on_message, cli_on_close,
                                                   cli_on_bad_message};
    struct event_base *base;
    struct sc_grpc_conn *c;
    struct run r = {0, 0};
    int sv[2], server;
    char sink[4096];

    if (size == 0 || size > MAX_INPUT) {
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    server = (data[0] & 1) == 0;
    data++;
    size--;
    base = event_base_new();
    CHECK(base != NULL);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    if (server) {
        srv_run = &r;
        c = sc_grpc_server_new(base, sv[1], &scbs, &r, 64 * 1024);
        CHECK(write_all(sv[0], preface, sizeof(preface) - 1) == 0);
    } else {
        c = sc_grpc_client_new(base, sv[1], "localhost", SC_SDS_METHOD_PATH, &ccbs, &r, 64 * 1024);
        cli_conn = c;
    }
    CHECK(c != NULL);
    CHECK(write_all(sv[0], data, size) == 0);
    CHECK(shutdown(sv[0], SHUT_WR) == 0);
    for (int i = 0; i < MAX_ROUNDS && !r.closed; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        while (recv(sv[0], sink, sizeof(sink), MSG_DONTWAIT) > 0) {
        }
    }
    CHECK(r.closed); /* the end of the input ends the connection */
    sc_grpc_conn_free(c);
    CHECK(r.streams == 0);
    cli_conn = NULL;
    srv_run = NULL;
    close(sv[0]);
    event_base_free(base);
    return 0;
}
