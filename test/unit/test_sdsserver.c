/* Unit tests for agent/sdsserver: our gRPC client (common/grpcconn) talks
 * SDS to the server over a Unix socket on a private event_base: initial
 * responses, ACK/NACK accounting, pushes on change only to subscribers, no
 * resend after a NACK, stale nonces, refused peers and bad requests. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "grpcconn.h"
#include "sdsproto.h"
#include "sdsserver.h"

#define W(s) ((char *)(uintptr_t)(s))

struct t {
    struct event_base *base;
    struct event *tick;
    char dir[64];
    char path[128];
    struct sc_sdsserver *srv;
    struct sc_grpc_conn *cli;
    int n_resp;
    struct sc_sds_response last;
    int closed;
    int status;
    char why[256];
};

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void run_ms(struct t *t, int ms)
{
    int i;

    for (i = 0; i < ms / 5; i++) {
        event_base_loop(t->base, EVLOOP_ONCE);
    }
}

static void set_default(struct t *t, const char *chain)
{
    struct sc_sds_secret s;

    memset(&s, 0, sizeof(s));
    s.name = W("default");
    s.cert_chain_pem = W(chain);
    s.cert_chain_len = strlen(chain);
    s.private_key_pem = W("KEY");
    s.private_key_len = 3;
    sc_sdsserver_set(t->srv, &s, "serial=test");
}

static void set_roots(struct t *t, const char *roots)
{
    struct sc_sds_secret s;

    memset(&s, 0, sizeof(s));
    s.name = W("ROOTCA");
    s.trusted_ca_pem = W(roots);
    s.trusted_ca_len = strlen(roots);
    ck_assert_int_ne(sc_sdsserver_set(t->srv, &s, "roots=1"), -1);
}

static void t_init(struct t *t, int allow_me)
{
    struct sc_sdsserver_opts o;
    struct sc_err err;
    uid_t uids[1];
    struct timeval tv = {0, 5000};

    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "/tmp/sc-sds-test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/sds.sock", t->dir);
    t->base = event_base_new();
    t->tick = event_new(t->base, -1, EV_PERSIST, tick_cb, NULL);
    event_add(t->tick, &tv);
    uids[0] = allow_me ? getuid() : getuid() + 4242;
    o.path = t->path;
    o.mode = 0600;
    o.uids = uids;
    o.n_uids = 1;
    t->srv = sc_sdsserver_new(t->base, &o, &err);
    ck_assert_msg(t->srv != NULL, "%s", err.msg);
    t->status = -1;
}

static void t_cleanup(struct t *t)
{
    sc_grpc_conn_free(t->cli);
    sc_sdsserver_free(t->srv);
    sc_sds_response_cleanup(&t->last);
    event_free(t->tick);
    event_base_free(t->base);
    rmdir(t->dir);
}

static void on_message(void *arg, const uint8_t *msg, size_t len)
{
    struct t *t = arg;
    struct sc_err err;

    sc_sds_response_cleanup(&t->last);
    ck_assert_msg(sc_sds_response_decode(msg, len, &t->last, &err) == 0, "%s", err.msg);
    t->n_resp++;
}

static void on_close(void *arg, int status, const char *why)
{
    struct t *t = arg;

    t->closed = 1;
    t->status = status;
    snprintf(t->why, sizeof(t->why), "%s", why);
}

static void connect_client(struct t *t)
{
    static const struct sc_grpc_client_cbs cbs = {on_message, on_close, NULL};
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, t->path, strlen(t->path));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    t->cli = sc_grpc_client_new(t->base, fd, "localhost", SC_SDS_METHOD_PATH, &cbs, t, 0);
    ck_assert_ptr_nonnull(t->cli);
}

static void send_req(struct t *t, const char *const *names, size_t n, const char *version,
                     const char *nonce, const char *error, const char *type_url)
{
    struct sc_sds_request r;
    uint8_t *buf;
    size_t len;

    memset(&r, 0, sizeof(r));
    r.version_info = W(version);
    r.nonce = W(nonce);
    r.type_url = W(type_url != NULL ? type_url : SC_SDS_TYPE_SECRET);
    r.node_id = W("test-node");
    r.resource_names = (char **)(uintptr_t)names;
    r.n_names = n;
    if (error != NULL) {
        r.has_error = 1;
        r.error_code = 3;
        r.error_message = W(error);
    }
    ck_assert_int_eq(sc_sds_request_encode(&r, &buf, &len), 0);
    ck_assert_int_eq(sc_grpc_client_send(t->cli, buf, len), 0);
    free(buf);
}

static const char *const both[] = {"default", "ROOTCA"};
static const char *const roots_only[] = {"ROOTCA"};

static const struct sc_sds_secret *find(const struct sc_sds_response *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n_secrets; i++) {
        if (strcmp(r->secrets[i].name, name) == 0) {
            return &r->secrets[i];
        }
    }
    return NULL;
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_sdsserver_socket_has_the_mode)
{
    struct t t;
    struct stat st;

    t_init(&t, 1);
    ck_assert_int_eq(stat(t.path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    t_cleanup(&t);
    ck_assert_int_eq(stat(t.path, &st), -1); /* unlinked on free */
}
END_TEST

START_TEST(test_sdsserver_initial_request_gets_both_resources)
{
    struct t t;
    struct sc_sdsserver_stats st;
    const struct sc_sds_secret *d, *r;

    t_init(&t, 1);
    set_default(&t, "CHAIN-1");
    set_roots(&t, "ROOTS-1");
    connect_client(&t);
    send_req(&t, both, 2, "", "", NULL, NULL);
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 1);
    ck_assert_str_eq(t.last.version_info, sc_sdsserver_version(t.srv));
    ck_assert_str_eq(t.last.type_url, SC_SDS_TYPE_SECRET);
    d = find(&t.last, "default");
    r = find(&t.last, "ROOTCA");
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(d->cert_chain_pem, "CHAIN-1");
    ck_assert_str_eq(d->private_key_pem, "KEY");
    ck_assert_str_eq(r->trusted_ca_pem, "ROOTS-1");
    sc_sdsserver_get_stats(t.srv, &st);
    ck_assert_uint_eq(st.connections, 1);
    ck_assert_uint_eq(st.streams, 1);
    ck_assert_uint_eq(st.pushes, 1);
    t_cleanup(&t);
}
END_TEST

START_TEST(test_sdsserver_empty_names_mean_both)
{
    struct t t;

    t_init(&t, 1);
    set_default(&t, "CHAIN-1");
    set_roots(&t, "ROOTS-1");
    connect_client(&t);
    send_req(&t, NULL, 0, "", "", NULL, NULL);
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 1);
    ck_assert_uint_eq(t.last.n_secrets, 2);
    t_cleanup(&t);
}
END_TEST

START_TEST(test_sdsserver_waits_until_it_has_secrets)
{
    struct t t;

    t_init(&t, 1);
    connect_client(&t);
    send_req(&t, both, 2, "", "", NULL, NULL);
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 0);
    set_roots(&t, "ROOTS-1");
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 1);
    ck_assert_uint_eq(t.last.n_secrets, 1);
    set_default(&t, "CHAIN-1");
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 2);
    ck_assert_uint_eq(t.last.n_secrets, 2);
    t_cleanup(&t);
}
END_TEST

START_TEST(test_sdsserver_ack_then_push_on_change_with_new_version)
{
    struct t t;
    struct sc_sdsserver_stats st;
    char v1[64], n1[64];

    t_init(&t, 1);
    set_default(&t, "CHAIN-1");
    set_roots(&t, "ROOTS-1");
    connect_client(&t);
    send_req(&t, both, 2, "", "", NULL, NULL);
    run_ms(&t, 100);
    snprintf(v1, sizeof(v1), "%s", t.last.version_info);
    snprintf(n1, sizeof(n1), "%s", t.last.nonce);
    ck_assert_int_eq(sc_sdsserver_all_answered(t.srv, "ROOTCA"), 0);
    send_req(&t, both, 2, v1, n1, NULL, NULL);
    run_ms(&t, 100);
    ck_assert_int_eq(sc_sdsserver_all_answered(t.srv, "ROOTCA"), 1);
    ck_assert_int_eq(t.n_resp, 1); /* an ACK gets no response */
    set_default(&t, "CHAIN-2");
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 2);
    ck_assert_str_ne(t.last.version_info, v1);
    ck_assert_str_ne(t.last.nonce, n1);
    ck_assert_str_eq(find(&t.last, "default")->cert_chain_pem, "CHAIN-2");
    sc_sdsserver_get_stats(t.srv, &st);
    ck_assert_uint_eq(st.acks, 1);
    ck_assert_uint_eq(st.nacks, 0);
    ck_assert_uint_eq(st.pushes, 2);
    t_cleanup(&t);
}
END_TEST

/* A new root and a new leaf set together reach the client in one response:
 * a client that validates the pair never sees the new root beside the old
 * leaf. */
START_TEST(test_sdsserver_set_many_is_one_response)
{
    struct t t;
    struct sc_sds_secret s[2];
    const char *descs[2] = {"roots=1", "serial=2"};
    char v1[64], n1[64];

    t_init(&t, 1);
    set_default(&t, "CHAIN-1");
    set_roots(&t, "ROOTS-1");
    connect_client(&t);
    send_req(&t, both, 2, "", "", NULL, NULL);
    run_ms(&t, 100);
    snprintf(v1, sizeof(v1), "%s", t.last.version_info);
    snprintf(n1, sizeof(n1), "%s", t.last.nonce);
    send_req(&t, both, 2, v1, n1, NULL, NULL);
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 1);
    memset(s, 0, sizeof(s));
    s[0].name = W("ROOTCA");
    s[0].trusted_ca_pem = W("ROOTS-2");
    s[0].trusted_ca_len = 7;
    s[1].name = W("default");
    s[1].cert_chain_pem = W("CHAIN-2");
    s[1].cert_chain_len = 7;
    s[1].private_key_pem = W("KEY");
    s[1].private_key_len = 3;
    ck_assert_int_eq(sc_sdsserver_set_many(t.srv, s, descs, 2), 0);
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 2);
    ck_assert_str_eq(find(&t.last, "ROOTCA")->trusted_ca_pem, "ROOTS-2");
    ck_assert_str_eq(find(&t.last, "default")->cert_chain_pem, "CHAIN-2");
    /* the same again changes nothing; an unknown name changes nothing */
    ck_assert_int_eq(sc_sdsserver_set_many(t.srv, s, descs, 2), 1);
    s[1].name = W("other");
    s[0].trusted_ca_pem = W("ROOTS-3");
    ck_assert_int_eq(sc_sdsserver_set_many(t.srv, s, descs, 2), -1);
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 2);
    t_cleanup(&t);
}
END_TEST

START_TEST(test_sdsserver_same_content_is_not_pushed)
{
    struct t t;
    char v1[64];

    t_init(&t, 1);
    set_default(&t, "CHAIN-1");
    set_roots(&t, "ROOTS-1");
    connect_client(&t);
    send_req(&t, both, 2, "", "", NULL, NULL);
    run_ms(&t, 100);
    snprintf(v1, sizeof(v1), "%s", sc_sdsserver_version(t.srv));
    {
        struct sc_sds_secret s;

        memset(&s, 0, sizeof(s));
        s.name = W("ROOTCA");
        s.trusted_ca_pem = W("ROOTS-1");
        s.trusted_ca_len = 7;
        ck_assert_int_eq(sc_sdsserver_set(t.srv, &s, NULL), 1);
        s.name = W("nope");
        ck_assert_int_eq(sc_sdsserver_set(t.srv, &s, NULL), -1);
    }
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 1);
    ck_assert_str_eq(sc_sdsserver_version(t.srv), v1);
    t_cleanup(&t);
}
END_TEST

START_TEST(test_sdsserver_nack_is_counted_and_not_resent)
{
    struct t t;
    struct sc_sdsserver_stats st;
    char n1[64];

    t_init(&t, 1);
    set_default(&t, "CHAIN-1");
    set_roots(&t, "ROOTS-1");
    connect_client(&t);
    send_req(&t, both, 2, "", "", NULL, NULL);
    run_ms(&t, 100);
    snprintf(n1, sizeof(n1), "%s", t.last.nonce);
    send_req(&t, both, 2, "", n1, "key does not match the certificate", NULL);
    run_ms(&t, 150);
    ck_assert_int_eq(t.n_resp, 1); /* the same version is not sent again */
    sc_sdsserver_get_stats(t.srv, &st);
    ck_assert_uint_eq(st.nacks, 1);
    ck_assert_uint_eq(st.acks, 0);
    ck_assert_int_eq(sc_sdsserver_all_answered(t.srv, "default"), 1);
    set_default(&t, "CHAIN-2"); /* a change is pushed again */
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 2);
    t_cleanup(&t);
}
END_TEST

START_TEST(test_sdsserver_stale_nonce_is_ignored)
{
    struct t t;
    struct sc_sdsserver_stats st;
    char n1[64];

    t_init(&t, 1);
    set_default(&t, "CHAIN-1");
    set_roots(&t, "ROOTS-1");
    connect_client(&t);
    send_req(&t, both, 2, "", "", NULL, NULL);
    run_ms(&t, 100);
    snprintf(n1, sizeof(n1), "%s", t.last.nonce);
    set_default(&t, "CHAIN-2");
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 2);
    send_req(&t, both, 2, "x", n1, "late NACK of the first response", NULL);
    run_ms(&t, 100);
    sc_sdsserver_get_stats(t.srv, &st);
    ck_assert_uint_eq(st.nacks, 0);
    ck_assert_uint_eq(st.acks, 0);
    t_cleanup(&t);
}
END_TEST

START_TEST(test_sdsserver_pushes_only_to_subscribers)
{
    struct t t;

    t_init(&t, 1);
    set_default(&t, "CHAIN-1");
    set_roots(&t, "ROOTS-1");
    connect_client(&t);
    send_req(&t, roots_only, 1, "", "", NULL, NULL);
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 1);
    ck_assert_uint_eq(t.last.n_secrets, 1);
    ck_assert_str_eq(t.last.secrets[0].name, "ROOTCA");
    set_default(&t, "CHAIN-2"); /* not subscribed: nothing */
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 1);
    set_roots(&t, "ROOTS-2");
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 2);
    ck_assert_str_eq(t.last.secrets[0].trusted_ca_pem, "ROOTS-2");
    t_cleanup(&t);
}
END_TEST

START_TEST(test_sdsserver_unknown_names_are_skipped)
{
    struct t t;
    static const char *const names[] = {"file-cert:/etc/x", "ROOTCA"};

    t_init(&t, 1);
    set_default(&t, "CHAIN-1");
    set_roots(&t, "ROOTS-1");
    connect_client(&t);
    send_req(&t, names, 2, "", "", NULL, NULL);
    run_ms(&t, 100);
    ck_assert_int_eq(t.n_resp, 1);
    ck_assert_uint_eq(t.last.n_secrets, 1);
    t_cleanup(&t);
}
END_TEST

START_TEST(test_sdsserver_refuses_other_uids)
{
    struct t t;
    struct sc_sdsserver_stats st;

    t_init(&t, 0);
    set_default(&t, "CHAIN-1");
    connect_client(&t);
    send_req(&t, both, 2, "", "", NULL, NULL);
    run_ms(&t, 200);
    ck_assert_int_eq(t.closed, 1);
    ck_assert_int_eq(t.status, SC_GRPC_UNAVAILABLE);
    ck_assert_int_eq(t.n_resp, 0);
    sc_sdsserver_get_stats(t.srv, &st);
    ck_assert_uint_eq(st.refused_peers, 1);
    ck_assert_uint_eq(st.connections, 0);
    t_cleanup(&t);
}
END_TEST

START_TEST(test_sdsserver_refuses_other_types)
{
    struct t t;
    struct sc_sdsserver_stats st;

    t_init(&t, 1);
    set_default(&t, "CHAIN-1");
    connect_client(&t);
    send_req(&t, both, 2, "", "", NULL, "type.googleapis.com/envoy.config.cluster.v3.Cluster");
    run_ms(&t, 200);
    ck_assert_int_eq(t.closed, 1);
    ck_assert_int_eq(t.status, SC_GRPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(t.why, "is not served here"));
    sc_sdsserver_get_stats(t.srv, &st);
    ck_assert_uint_eq(st.bad_requests, 1);
    t_cleanup(&t);
}
END_TEST

START_TEST(test_sdsserver_refuses_undecodable_requests)
{
    struct t t;
    static const uint8_t junk[] = {0x1a, 0x7f, 0x00};

    t_init(&t, 1);
    connect_client(&t);
    ck_assert_int_eq(sc_grpc_client_send(t.cli, junk, sizeof(junk)), 0);
    run_ms(&t, 200);
    ck_assert_int_eq(t.closed, 1);
    ck_assert_int_eq(t.status, SC_GRPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(t.why, "DiscoveryRequest"));
    t_cleanup(&t);
}
END_TEST

START_TEST(test_sdsserver_replaces_stale_socket_but_not_files)
{
    struct t t;
    struct sc_sdsserver_opts o;
    struct sc_err err;
    uid_t uid = getuid();
    char file[160];

    t_init(&t, 1);
    o.path = t.path;
    o.mode = 0600;
    o.uids = &uid;
    o.n_uids = 1;
    /* a live socket: refused */
    ck_assert_ptr_null(sc_sdsserver_new(t.base, &o, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "in use by another process"));
    /* a regular file: refused */
    snprintf(file, sizeof(file), "%s/plain", t.dir);
    close(open(file, O_CREAT | O_WRONLY, 0600));
    o.path = file;
    ck_assert_ptr_null(sc_sdsserver_new(t.base, &o, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "is not a socket"));
    unlink(file);
    t_cleanup(&t);
}
END_TEST

static Suite *sdsserver_suite(void)
{
    Suite *s = suite_create("sdsserver");
    TCase *tc = tcase_create("sc_sdsserver");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_sdsserver_socket_has_the_mode);
    tcase_add_test(tc, test_sdsserver_initial_request_gets_both_resources);
    tcase_add_test(tc, test_sdsserver_empty_names_mean_both);
    tcase_add_test(tc, test_sdsserver_waits_until_it_has_secrets);
    tcase_add_test(tc, test_sdsserver_ack_then_push_on_change_with_new_version);
    tcase_add_test(tc, test_sdsserver_set_many_is_one_response);
    tcase_add_test(tc, test_sdsserver_same_content_is_not_pushed);
    tcase_add_test(tc, test_sdsserver_nack_is_counted_and_not_resent);
    tcase_add_test(tc, test_sdsserver_stale_nonce_is_ignored);
    tcase_add_test(tc, test_sdsserver_pushes_only_to_subscribers);
    tcase_add_test(tc, test_sdsserver_unknown_names_are_skipped);
    tcase_add_test(tc, test_sdsserver_refuses_other_uids);
    tcase_add_test(tc, test_sdsserver_refuses_other_types);
    tcase_add_test(tc, test_sdsserver_refuses_undecodable_requests);
    tcase_add_test(tc, test_sdsserver_replaces_stale_socket_but_not_files);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sdsserver_suite());
    int failed;

    signal(SIGPIPE, SIG_IGN);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
