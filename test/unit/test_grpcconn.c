/* Unit tests for common/grpcconn: our gRPC client and server talking to each
 * other over a socketpair on a private event_base, and each of them facing
 * hand-written (and broken) HTTP/2 from a raw socket.  Interoperability
 * with a real gRPC implementation (Node's @grpc/grpc-js) is covered by
 * test/integration/80-sds-agent-node.sh. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "grpcconn.h"
#include "sdswire.h"

#define PATH_OK "/test.Echo/Stream"

struct h {
    struct event_base *base;
    struct event *tick;
    struct sc_grpc_conn *cli;
    struct sc_grpc_conn *srv;
    /* client side */
    int cli_msgs;
    size_t cli_bytes;
    uint8_t cli_first;
    int cli_closed;
    int cli_status;
    char cli_why[256];
    int free_in_on_message;
    int cli_bad; /* on_bad_message calls */
    int cli_bad_before_close; /* on_bad_message came before on_close */
    const char *answer_bad; /* sent from on_bad_message */
    /* server side */
    int srv_streams;
    int srv_msgs;
    size_t srv_bytes;
    int srv_stream_closed;
    int srv_conn_closed;
    struct sc_grpc_stream *stream;
    int echo; /* send every message back */
    int reply_count; /* send this many big replies on the first msg */
    size_t reply_size;
    int finish_on_msg; /* finish with (status, msg) on the first msg */
    int finish_status;
    const char *finish_msg;
    int token; /* stream arg target */
};

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void h_init(struct h *h)
{
    struct timeval tv = {0, 5000};

    memset(h, 0, sizeof(*h));
    h->base = event_base_new();
    ck_assert_ptr_nonnull(h->base);
    h->tick = event_new(h->base, -1, EV_PERSIST, tick_cb, NULL);
    event_add(h->tick, &tv);
    h->cli_status = -1;
}

static void h_cleanup(struct h *h)
{
    sc_grpc_conn_free(h->cli);
    sc_grpc_conn_free(h->srv);
    event_free(h->tick);
    event_base_free(h->base);
}

/* Runs the loop until *flag is non-zero or 5 s pass; returns *flag. */
static int run_until(struct h *h, const int *flag)
{
    int i;

    for (i = 0; i < 1000 && *flag == 0; i++) {
        event_base_loop(h->base, EVLOOP_ONCE);
    }
    return *flag;
}

/* Runs the loop for about ms milliseconds. */
static void run_for(struct h *h, int ms)
{
    int i;

    for (i = 0; i < ms / 5; i++) {
        event_base_loop(h->base, EVLOOP_ONCE);
    }
}

/* ---- callbacks ---------------------------------------------------------- */

static void cli_on_message(void *arg, const uint8_t *msg, size_t len)
{
    struct h *h = arg;

    if (h->cli_msgs == 0 && len > 0) {
        h->cli_first = msg[0];
    }
    h->cli_msgs++;
    h->cli_bytes += len;
    if (h->free_in_on_message) {
        sc_grpc_conn_free(h->cli);
        h->cli = NULL;
    }
}

static void cli_on_close(void *arg, int status, const char *why)
{
    struct h *h = arg;

    h->cli_closed++;
    h->cli_status = status;
    snprintf(h->cli_why, sizeof(h->cli_why), "%s", why);
}

static void cli_on_bad_message(void *arg, int status, const char *why)
{
    struct h *h = arg;

    (void)status;
    (void)why;
    h->cli_bad++;
    h->cli_bad_before_close = h->cli_closed == 0;
    if (h->answer_bad != NULL) {
        ck_assert_int_eq(
            sc_grpc_client_send(h->cli, (const uint8_t *)h->answer_bad, strlen(h->answer_bad)), 0);
    }
}

static const struct sc_grpc_client_cbs cli_cbs = {cli_on_message, cli_on_close, cli_on_bad_message};

static void *srv_on_stream(void *arg, struct sc_grpc_stream *s, const char *path)
{
    struct h *h = arg;

    if (strcmp(path, PATH_OK) != 0) {
        return NULL;
    }
    h->srv_streams++;
    h->stream = s;
    return h;
}

static void srv_on_message(void *stream_arg, const uint8_t *msg, size_t len)
{
    struct h *h = stream_arg;
    int i;

    h->srv_msgs++;
    h->srv_bytes += len;
    if (h->echo) {
        ck_assert_int_eq(sc_grpc_stream_send(h->stream, msg, len), 0);
    }
    if (h->reply_count > 0 && h->srv_msgs == 1) {
        uint8_t *big = malloc(h->reply_size);

        memset(big, 'R', h->reply_size);
        for (i = 0; i < h->reply_count; i++) {
            ck_assert_int_eq(sc_grpc_stream_send(h->stream, big, h->reply_size), 0);
        }
        free(big);
    }
    if (h->finish_on_msg && h->srv_msgs == 1) {
        sc_grpc_stream_finish(h->stream, h->finish_status, h->finish_msg);
    }
}

static void srv_on_stream_close(void *stream_arg)
{
    struct h *h = stream_arg;

    h->srv_stream_closed++;
    h->stream = NULL;
}

static void srv_on_conn_close(void *arg, struct sc_grpc_conn *c)
{
    struct h *h = arg;

    ck_assert_ptr_eq(c, h->srv);
    h->srv_conn_closed++;
}

static const struct sc_grpc_server_cbs srv_cbs = {srv_on_stream, srv_on_message,
                                                  srv_on_stream_close, srv_on_conn_close};

/* A client and a server connected by a socketpair. */
static void pair(struct h *h, const char *path, size_t cli_max, size_t srv_max)
{
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    h->srv = sc_grpc_server_new(h->base, sv[1], &srv_cbs, h, srv_max);
    ck_assert_ptr_nonnull(h->srv);
    h->cli = sc_grpc_client_new(h->base, sv[0], "localhost", path, &cli_cbs, h, cli_max);
    ck_assert_ptr_nonnull(h->cli);
}

/* A client connected to a raw socket (returned) that the test drives. */
static int raw_server(struct h *h, size_t cli_max)
{
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    h->cli = sc_grpc_client_new(h->base, sv[0], "localhost", PATH_OK, &cli_cbs, h, cli_max);
    ck_assert_ptr_nonnull(h->cli);
    return sv[1];
}

/* A server connected to a raw socket (returned) that the test drives. */
static int raw_client(struct h *h)
{
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    h->srv = sc_grpc_server_new(h->base, sv[1], &srv_cbs, h, 0);
    ck_assert_ptr_nonnull(h->srv);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    return sv[0];
}

static void drain(int fd)
{
    char buf[4096];

    while (read(fd, buf, sizeof(buf)) > 0) {
    }
}

static void put(int fd, const void *p, size_t n)
{
    ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
}

/* HTTP/2 frame header */
static void frame(int fd, size_t len, uint8_t type, uint8_t flags, uint32_t id, const void *payload)
{
    uint8_t hd[9] = {
        (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len,       type,       flags,
        (uint8_t)(id >> 24),  (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};

    put(fd, hd, 9);
    if (len > 0) {
        put(fd, payload, len);
    }
}

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* ---- client and server together ----------------------------------------- */

START_TEST(test_grpcconn_messages_flow_both_ways)
{
    struct h h;
    int i;

    h_init(&h);
    h.echo = 1;
    pair(&h, PATH_OK, 0, 0);
    for (i = 0; i < 10; i++) {
        uint8_t msg[3] = {(uint8_t)i, 'x', 'y'};

        ck_assert_int_eq(sc_grpc_client_send(h.cli, msg, sizeof(msg)), 0);
    }
    ck_assert_int_eq(sc_grpc_client_send(h.cli, NULL, 0), 0); /* empty message */
    run_for(&h, 200);
    ck_assert_int_eq(h.srv_streams, 1);
    ck_assert_int_eq(h.srv_msgs, 11);
    ck_assert_int_eq(h.cli_msgs, 11);
    ck_assert_uint_eq(h.cli_bytes, 30);
    ck_assert_uint_eq(h.cli_first, 0);
    ck_assert_int_eq(h.cli_closed, 0);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_large_messages_respect_flow_control)
{
    struct h h;

    h_init(&h);
    h.reply_count = 3;
    h.reply_size = 2560u * 1024u; /* > every HTTP/2 window; 3 of them fit the cap */
    pair(&h, PATH_OK, 0, 0);
    ck_assert_int_eq(sc_grpc_client_send(h.cli, (const uint8_t *)"go", 2), 0);
    run_for(&h, 50);
    while (h.cli_msgs < 3 && h.cli_closed == 0) {
        event_base_loop(h.base, EVLOOP_ONCE);
    }
    ck_assert_int_eq(h.cli_msgs, 3);
    ck_assert_uint_eq(h.cli_bytes, 3 * h.reply_size);
    ck_assert_uint_eq(h.cli_first, 'R');
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_send_refuses_past_output_cap)
{
    struct h h;
    uint8_t *big;
    size_t sz = 512 * 1024;
    int i, refused = 0;

    h_init(&h);
    pair(&h, PATH_OK, sz, sz);
    big = calloc(1, sz);
    /* nothing runs the loop: the queue fills up to the cap (2*max+64K) */
    for (i = 0; i < 8; i++) {
        if (sc_grpc_client_send(h.cli, big, sz) != 0) {
            refused++;
        }
    }
    ck_assert_int_ge(refused, 1);
    free(big);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_finish_sends_status_and_message)
{
    struct h h;

    h_init(&h);
    h.echo = 1;
    h.finish_on_msg = 1;
    h.finish_status = 7;
    h.finish_msg = "uid 1000 not allowed: 100% sure\n";
    pair(&h, PATH_OK, 0, 0);
    ck_assert_int_eq(sc_grpc_client_send(h.cli, (const uint8_t *)"a", 1), 0);
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_eq(h.cli_status, 7);
    ck_assert_str_eq(h.cli_why, "uid 1000 not allowed: 100% sure?");
    ck_assert_int_eq(h.cli_msgs, 1); /* the echo before the trailers */
    run_for(&h, 50);
    ck_assert_int_eq(h.srv_stream_closed, 1);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_finish_without_messages_is_trailers_only)
{
    struct h h;

    h_init(&h);
    h.finish_on_msg = 1;
    h.finish_status = 0;
    pair(&h, PATH_OK, 0, 0);
    ck_assert_int_eq(sc_grpc_client_send(h.cli, (const uint8_t *)"a", 1), 0);
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_eq(h.cli_status, 0);
    ck_assert_int_eq(h.cli_msgs, 0);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_unknown_path_is_unimplemented)
{
    struct h h;

    h_init(&h);
    pair(&h, "/no.Such/Method", 0, 0);
    ck_assert_int_eq(sc_grpc_client_send(h.cli, (const uint8_t *)"a", 1), 0);
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_eq(h.cli_status, SC_GRPC_UNIMPLEMENTED);
    ck_assert_int_eq(h.srv_streams, 0);
    ck_assert_int_eq(h.srv_msgs, 0);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_server_refuses_oversize_request)
{
    struct h h;
    uint8_t big[2048];

    h_init(&h);
    pair(&h, PATH_OK, 0, 1024);
    memset(big, 1, sizeof(big));
    ck_assert_int_eq(sc_grpc_client_send(h.cli, big, sizeof(big)), 0);
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_eq(h.cli_status, SC_GRPC_RESOURCE_EXHAUSTED);
    ck_assert_ptr_nonnull(strstr(h.cli_why, "exceeds the limit of 1024"));
    ck_assert_int_eq(h.srv_msgs, 0);
    run_for(&h, 50);
    ck_assert_int_eq(h.srv_stream_closed, 1);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_client_refuses_oversize_response)
{
    struct h h;

    h_init(&h);
    h.reply_count = 1;
    h.reply_size = 4096;
    pair(&h, PATH_OK, 1024, 0);
    ck_assert_int_eq(sc_grpc_client_send(h.cli, (const uint8_t *)"go", 2), 0);
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_eq(h.cli_status, SC_GRPC_RESOURCE_EXHAUSTED);
    ck_assert_int_eq(h.cli_msgs, 0);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_client_free_inside_on_message_is_safe)
{
    struct h h;

    h_init(&h);
    h.echo = 1;
    h.free_in_on_message = 1;
    pair(&h, PATH_OK, 0, 0);
    ck_assert_int_eq(sc_grpc_client_send(h.cli, (const uint8_t *)"a", 1), 0);
    ck_assert_int_eq(sc_grpc_client_send(h.cli, (const uint8_t *)"b", 1), 0);
    run_for(&h, 100);
    ck_assert_int_eq(h.cli_msgs, 1);
    ck_assert_int_eq(h.cli_closed, 0); /* freed: no on_close */
    ck_assert_int_eq(run_until(&h, &h.srv_conn_closed), 1);
    ck_assert_int_eq(h.srv_stream_closed, 1);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_server_close_reports_unavailable)
{
    struct h h;

    h_init(&h);
    pair(&h, PATH_OK, 0, 0);
    ck_assert_int_eq(sc_grpc_client_send(h.cli, (const uint8_t *)"a", 1), 0);
    run_for(&h, 50);
    ck_assert_int_eq(h.srv_streams, 1);
    sc_grpc_conn_free(h.srv); /* the stream gets on_stream_close */
    h.srv = NULL;
    ck_assert_int_eq(h.srv_stream_closed, 1);
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_eq(h.cli_status, SC_GRPC_UNAVAILABLE);
    ck_assert_int_eq(sc_grpc_client_send(h.cli, (const uint8_t *)"a", 1), -1);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_client_close_closes_server_stream)
{
    struct h h;

    h_init(&h);
    pair(&h, PATH_OK, 0, 0);
    ck_assert_int_eq(sc_grpc_client_send(h.cli, (const uint8_t *)"a", 1), 0);
    run_for(&h, 50);
    sc_grpc_conn_free(h.cli);
    h.cli = NULL;
    ck_assert_int_eq(run_until(&h, &h.srv_conn_closed), 1);
    ck_assert_int_eq(h.srv_stream_closed, 1);
    ck_assert_str_eq(sc_grpc_conn_close_reason(h.srv), "connection closed by peer");
    h_cleanup(&h);
}
END_TEST

/* ---- the client facing a raw server --------------------------------------- */

START_TEST(test_grpcconn_client_reports_truncated_message)
{
    struct h h;
    int fd;
    static const uint8_t status200 = 0x88; /* HPACK static :status 200 */
    static const uint8_t partial[] = "\0\0\0\0\x10"
                                     "abc";

    h_init(&h);
    fd = raw_server(&h, 0);
    run_for(&h, 20);
    frame(fd, 0, 4, 0, 0, NULL); /* SETTINGS */
    frame(fd, 1, 1, 0x4, 1, &status200); /* HEADERS, END_HEADERS */
    frame(fd, 8, 0, 0x1, 1, partial); /* DATA, END_STREAM */
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_eq(h.cli_status, SC_GRPC_INTERNAL);
    ck_assert_ptr_nonnull(strstr(h.cli_why, "truncated"));
    ck_assert_int_eq(h.cli_msgs, 0);
    ck_assert_int_eq(h.cli_bad, 1);
    close(fd);
    h_cleanup(&h);
}
END_TEST

/* What the owner sends from on_bad_message (a NACK) reaches the server
 * before the connection ends. */
START_TEST(test_grpcconn_client_answers_bad_message_before_closing)
{
    struct h h;
    int fd;
    static const uint8_t status200 = 0x88;
    static const uint8_t partial[] = "\0\0\0\0\x10"
                                     "abc";
    char got[8192];
    size_t n = 0;
    ssize_t r;

    h_init(&h);
    h.answer_bad = "NACK-THIS-PUSH";
    fd = raw_server(&h, 0);
    run_for(&h, 20);
    frame(fd, 0, 4, 0, 0, NULL);
    frame(fd, 1, 1, 0x4, 1, &status200);
    frame(fd, 8, 0, 0x1, 1, partial); /* truncated, END_STREAM */
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_eq(h.cli_bad, 1);
    ck_assert_int_eq(h.cli_bad_before_close, 1);
    ck_assert_ptr_nonnull(strstr(h.cli_why, "truncated"));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    while (n < sizeof(got) && (r = read(fd, got + n, sizeof(got) - n)) > 0) {
        n += (size_t)r;
    }
    ck_assert_ptr_nonnull(memmem(got, n, h.answer_bad, strlen(h.answer_bad)));
    close(fd);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_client_refuses_compressed_message)
{
    struct h h;
    int fd;
    static const uint8_t status200 = 0x88;
    static const uint8_t comp[] = "\1\0\0\0\3"
                                  "abc";

    h_init(&h);
    fd = raw_server(&h, 0);
    run_for(&h, 20);
    frame(fd, 0, 4, 0, 0, NULL);
    frame(fd, 1, 1, 0x4, 1, &status200);
    frame(fd, 8, 0, 0x0, 1, comp);
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_eq(h.cli_status, SC_GRPC_INTERNAL);
    ck_assert_ptr_nonnull(strstr(h.cli_why, "compressed"));
    close(fd);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_client_reports_missing_grpc_status)
{
    struct h h;
    int fd;
    static const uint8_t status200 = 0x88;

    h_init(&h);
    fd = raw_server(&h, 0);
    run_for(&h, 20);
    frame(fd, 0, 4, 0, 0, NULL);
    frame(fd, 1, 1, 0x5, 1, &status200); /* END_HEADERS|END_STREAM */
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_eq(h.cli_status, SC_GRPC_INTERNAL);
    ck_assert_ptr_nonnull(strstr(h.cli_why, "without grpc-status"));
    close(fd);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_client_maps_http_status)
{
    struct h h;
    int fd;
    static const uint8_t status404 = 0x8d; /* HPACK static :status 404 */

    h_init(&h);
    fd = raw_server(&h, 0);
    run_for(&h, 20);
    frame(fd, 0, 4, 0, 0, NULL);
    frame(fd, 1, 1, 0x5, 1, &status404);
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_eq(h.cli_status, SC_GRPC_UNIMPLEMENTED);
    ck_assert_ptr_nonnull(strstr(h.cli_why, "HTTP status 404"));
    close(fd);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_client_survives_garbage)
{
    struct h h;
    int fd;

    h_init(&h);
    fd = raw_server(&h, 0);
    run_for(&h, 20);
    put(fd, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_eq(h.cli_status, SC_GRPC_INTERNAL);
    ck_assert_ptr_nonnull(strstr(h.cli_why, "HTTP/2"));
    close(fd);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_client_survives_random_bytes)
{
    struct h h;
    int fd, i;
    uint8_t junk[512];
    unsigned seed = (unsigned)_i * 7919u + 1u;

    h_init(&h);
    fd = raw_server(&h, 0);
    run_for(&h, 10);
    frame(fd, 0, 4, 0, 0, NULL);
    for (i = 0; i < (int)sizeof(junk); i++) {
        seed = seed * 1103515245u + 12345u;
        junk[i] = (uint8_t)(seed >> 16);
    }
    put(fd, junk, sizeof(junk));
    close(fd);
    ck_assert_int_eq(run_until(&h, &h.cli_closed), 1);
    ck_assert_int_ne(h.cli_status, SC_GRPC_OK);
    h_cleanup(&h);
}
END_TEST

/* ---- the server facing a raw client --------------------------------------- */

START_TEST(test_grpcconn_server_closes_on_bad_preface)
{
    struct h h;
    int fd;

    h_init(&h);
    fd = raw_client(&h);
    put(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    ck_assert_int_eq(run_until(&h, &h.srv_conn_closed), 1);
    ck_assert_ptr_nonnull(strstr(sc_grpc_conn_close_reason(h.srv), "HTTP/2"));
    ck_assert_int_eq(h.srv_streams, 0);
    close(fd);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_server_refuses_non_grpc_request)
{
    struct h h;
    int fd;
    /* :method GET, :scheme http, :path / (HPACK static 2, 6, 4) */
    static const uint8_t get[] = {0x82, 0x86, 0x84};

    h_init(&h);
    fd = raw_client(&h);
    put(fd, preface, sizeof(preface) - 1);
    frame(fd, 0, 4, 0, 0, NULL);
    frame(fd, sizeof(get), 1, 0x5, 1, get);
    run_for(&h, 100);
    ck_assert_int_eq(h.srv_streams, 0);
    ck_assert_int_eq(h.srv_conn_closed, 0); /* the connection stays usable */
    drain(fd);
    close(fd);
    ck_assert_int_eq(run_until(&h, &h.srv_conn_closed), 1);
    h_cleanup(&h);
}
END_TEST

START_TEST(test_grpcconn_server_survives_random_frames)
{
    struct h h;
    int fd, i;
    uint8_t junk[256];
    unsigned seed = (unsigned)_i * 104729u + 3u;

    h_init(&h);
    fd = raw_client(&h);
    put(fd, preface, sizeof(preface) - 1);
    frame(fd, 0, 4, 0, 0, NULL);
    for (i = 0; i < (int)sizeof(junk); i++) {
        seed = seed * 1103515245u + 12345u;
        junk[i] = (uint8_t)(seed >> 16);
    }
    junk[3] = (uint8_t)(_i % 10); /* a plausible frame type first */
    put(fd, junk, sizeof(junk));
    run_for(&h, 30);
    drain(fd);
    close(fd);
    ck_assert_int_eq(run_until(&h, &h.srv_conn_closed), 1);
    ck_assert_int_eq(h.srv_stream_closed, h.srv_streams);
    h_cleanup(&h);
}
END_TEST

static Suite *grpcconn_suite(void)
{
    Suite *s = suite_create("grpcconn");
    TCase *tc;

    tc = tcase_create("client_and_server");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_grpcconn_messages_flow_both_ways);
    tcase_add_test(tc, test_grpcconn_large_messages_respect_flow_control);
    tcase_add_test(tc, test_grpcconn_send_refuses_past_output_cap);
    tcase_add_test(tc, test_grpcconn_finish_sends_status_and_message);
    tcase_add_test(tc, test_grpcconn_finish_without_messages_is_trailers_only);
    tcase_add_test(tc, test_grpcconn_unknown_path_is_unimplemented);
    tcase_add_test(tc, test_grpcconn_server_refuses_oversize_request);
    tcase_add_test(tc, test_grpcconn_client_refuses_oversize_response);
    tcase_add_test(tc, test_grpcconn_client_free_inside_on_message_is_safe);
    tcase_add_test(tc, test_grpcconn_server_close_reports_unavailable);
    tcase_add_test(tc, test_grpcconn_client_close_closes_server_stream);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_grpc_client_new");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_grpcconn_client_reports_truncated_message);
    tcase_add_test(tc, test_grpcconn_client_answers_bad_message_before_closing);
    tcase_add_test(tc, test_grpcconn_client_refuses_compressed_message);
    tcase_add_test(tc, test_grpcconn_client_reports_missing_grpc_status);
    tcase_add_test(tc, test_grpcconn_client_maps_http_status);
    tcase_add_test(tc, test_grpcconn_client_survives_garbage);
    tcase_add_loop_test(tc, test_grpcconn_client_survives_random_bytes, 0, 20);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_grpc_server_new");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_grpcconn_server_closes_on_bad_preface);
    tcase_add_test(tc, test_grpcconn_server_refuses_non_grpc_request);
    tcase_add_loop_test(tc, test_grpcconn_server_survives_random_frames, 0, 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(grpcconn_suite());
    int failed;

    signal(SIGPIPE, SIG_IGN); /* as the daemons do */
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
