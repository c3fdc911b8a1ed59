/* Fuzz target for proxy/adminhttp (the admin, health and stats server, its
 * head parsing by proxy/http1, bodies and limits): arbitrary bytes as what
 * one client sends on one connection, through a socketpair adopted by a
 * server on a private event_base, then the client's end is shut for
 * writing.  Routes stand in for the real endpoints (one taking a body); a
 * handler echoes path and query as JSON, as the admin endpoints quote what
 * they are given.  Nothing may crash, hang or leak; the connection must be
 * closed by the server (at the latest at its read timeout), and whatever it
 * answered must start with an HTTP/1.1 status line.  Violations abort(). */

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "adminhttp.h"
#include "escape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (64 * 1024)
#define MAX_ROUNDS 1000

static void on_echo(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep, void *arg)
{
    (void)arg;
    CHECK(req->path != NULL && req->path[0] == '/');
    CHECK(req->method == SC_ADMINHTTP_GET || req->method == SC_ADMINHTTP_HEAD ||
          req->method == SC_ADMINHTTP_POST);
    rep->content_type = "application/json";
    evbuffer_add(rep->body, "{\"path\":\"", 9);
    sc_escape_evbuffer(rep->body, sc_escape_json, req->path, strlen(req->path));
    evbuffer_add(rep->body, "\",\"query\":\"", 11);
    if (req->query != NULL) {
        sc_escape_evbuffer(rep->body, sc_escape_json, req->query, strlen(req->query));
    }
    evbuffer_add(rep->body, "\"}\n", 3);
}

static void on_status(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep, void *arg)
{
    (void)req;
    (void)arg;
    rep->status = 503;
    evbuffer_add(rep->body, "not ready\n", 10);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sc_adminhttp_limits lim;
    struct event_base *base;
    struct sc_adminhttp *srv;
    char answer[16 * 1024];
    size_t got = 0;
    int sv[2];

    if (size > MAX_INPUT) {
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    sc_adminhttp_default_limits(&lim);
    lim.read_timeout_ms = 20; /* an unfinished request ends soon */
    base = event_base_new();
    CHECK(base != NULL);
    srv = sc_adminhttp_new(base, "fuzz", &lim);
    CHECK(srv != NULL);
    CHECK(sc_adminhttp_route(srv, "/stats", 0, on_echo, NULL) == 0);
    CHECK(sc_adminhttp_route(srv, "/healthz/ready", 0, on_status, NULL) == 0);
    CHECK(sc_adminhttp_route(srv, "/logging", SC_ADMINHTTP_TAKES_BODY, on_echo, NULL) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    CHECK(sc_adminhttp_adopt(srv, sv[1]) == 0);
    for (size_t off = 0; off < size;) {
        ssize_t w = write(sv[0], data + off, size - off);

        CHECK(w > 0 || errno == EINTR);
        off += w > 0 ? (size_t)w : 0;
    }
    CHECK(shutdown(sv[0], SHUT_WR) == 0);
    for (int i = 0; i < MAX_ROUNDS && sc_adminhttp_conn_count(srv) > 0; i++) {
        ssize_t n;

        event_base_loop(base, EVLOOP_ONCE);
        while ((n = recv(sv[0], answer + got, sizeof(answer) - 1 - got, 0)) > 0) {
            got += (size_t)n;
            if (got == sizeof(answer) - 1) {
                got = sizeof(answer) / 2; /* keep the head, drop the rest */
            }
        }
    }
    CHECK(sc_adminhttp_conn_count(srv) == 0);
    if (got > 0) {
        CHECK(got >= 9 && memcmp(answer, "HTTP/1.1 ", 9) == 0);
    }
    sc_adminhttp_free(srv);
    close(sv[0]);
    event_base_free(base);
    return 0;
}
