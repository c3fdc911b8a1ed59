/* Unit tests for proxy/accesslog: Envoy's default line byte-exact (every
 * flag, unset values, escapes), the JSON form, record field handling, and
 * the sink (many writer threads into a file, a pipe that stops draining,
 * drops counted instead of blocking, reopen for rotation, OFF). */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"

static void full_record(struct sc_accesslog_rec *r)
{
    sc_accesslog_rec_init(r);
    r->start.tv_sec = 784111777; /* 1994-11-06T08:49:37 */
    r->start.tv_nsec = 123456789;
    r->response_code = 200;
    r->bytes_received = 5;
    r->bytes_sent = 1234;
    r->duration_ms = 17;
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_METHOD, "POST");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_PATH, "/api/v1?x=1");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_PROTOCOL, "HTTP/1.1");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_UPSTREAM_SERVICE_TIME, "12");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_FORWARDED_FOR, "10.1.2.3");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_USER_AGENT, "curl/7.88.1");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_REQUEST_ID, "4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a55");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_AUTHORITY, "httpbin.bar:8080");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_UPSTREAM_HOST, "127.0.0.1:18080");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_PEER_ID, "spiffe://cluster.local/ns/foo/sa/client");
}

static void line_eq(const struct sc_accesslog_rec *r, enum sc_accesslog_format f, const char *want)
{
    static char out[SC_ACCESSLOG_LINE_MAX];
    size_t n = sc_accesslog_format(r, f, out, sizeof out);

    ck_assert_msg(strcmp(out, want) == 0, "\n got: %s\nwant: %s", out, want);
    ck_assert_uint_eq(n, strlen(want));
}

/* ---- text ---------------------------------------------------------------- */

START_TEST(test_accesslog_text_is_envoys_default_line)
{
    struct sc_accesslog_rec r;

    full_record(&r);
    line_eq(
        &r, SC_ACCESSLOG_TEXT,
        "[1994-11-06T08:49:37.123Z] \"POST /api/v1?x=1 HTTP/1.1\" 200 - 5 1234 17 12 "
        "\"10.1.2.3\" \"curl/7.88.1\" \"4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a55\" "
        "\"httpbin.bar:8080\" \"127.0.0.1:18080\" \"-\" spiffe://cluster.local/ns/foo/sa/client\n");
}
END_TEST

START_TEST(test_accesslog_text_unset_values_are_dashes)
{
    struct sc_accesslog_rec r;

    sc_accesslog_rec_init(&r);
    r.start.tv_sec = 0;
    r.start.tv_nsec = 0;
    line_eq(
        &r, SC_ACCESSLOG_TEXT,
        "[1970-01-01T00:00:00.000Z] \"- - -\" 0 - 0 0 - - \"-\" \"-\" \"-\" \"-\" \"-\" \"-\" -\n");
    sc_accesslog_rec_set(&r, SC_ACCESSLOG_USER_AGENT, "", 0); /* empty is unset */
    sc_accesslog_rec_set(&r, SC_ACCESSLOG_PATH, NULL, 0);
    line_eq(
        &r, SC_ACCESSLOG_TEXT,
        "[1970-01-01T00:00:00.000Z] \"- - -\" 0 - 0 0 - - \"-\" \"-\" \"-\" \"-\" \"-\" \"-\" -\n");
}
END_TEST

START_TEST(test_accesslog_text_upstream_failure)
{
    struct sc_accesslog_rec r;

    full_record(&r);
    r.response_code = 503;
    r.flags = SC_ACCESSLOG_UF | SC_ACCESSLOG_URX;
    r.bytes_sent = 91;
    r.duration_ms = 0;
    sc_accesslog_rec_set(&r, SC_ACCESSLOG_UPSTREAM_SERVICE_TIME, NULL, 0);
    sc_accesslog_rec_sets(
        &r, SC_ACCESSLOG_TRANSPORT_FAILURE,
        "TLS_error:|167772294:SSL routines::certificate verify failed:TLS_error_end");
    line_eq(&r, SC_ACCESSLOG_TEXT,
            "[1994-11-06T08:49:37.123Z] \"POST /api/v1?x=1 HTTP/1.1\" 503 UF,URX 5 91 0 - "
            "\"10.1.2.3\" \"curl/7.88.1\" \"4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a55\" "
            "\"httpbin.bar:8080\" \"127.0.0.1:18080\" "
            "\"TLS_error:|167772294:SSL routines::certificate verify failed:TLS_error_end\" "
            "spiffe://cluster.local/ns/foo/sa/client\n");
}
END_TEST

START_TEST(test_accesslog_text_escapes_control_bytes)
{
    struct sc_accesslog_rec r;
    static char out[SC_ACCESSLOG_LINE_MAX];

    sc_accesslog_rec_init(&r);
    sc_accesslog_rec_set(&r, SC_ACCESSLOG_USER_AGENT, "a\nb\x7f\"c\xc3\xa9\\\xff", 10);
    sc_accesslog_format(&r, SC_ACCESSLOG_TEXT, out, sizeof out);
    /* sc_escape_text: UTF-8 kept, a backslash escaped too so that "\x0A"
     * always means a byte that was there */
    ck_assert_ptr_nonnull(strstr(out, " \"a\\x0Ab\\x7F\"c\xc3\xa9\\x5C\\xFF\" "));
    ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
}
END_TEST

/* ---- flags --------------------------------------------------------------- */

START_TEST(test_accesslog_every_flag_alone)
{
    static const struct {
        unsigned flag;
        const char *name;
    } all[] = {
        {SC_ACCESSLOG_UH, "UH"},   {SC_ACCESSLOG_UT, "UT"},   {SC_ACCESSLOG_LR, "LR"},
        {SC_ACCESSLOG_UR, "UR"},   {SC_ACCESSLOG_UF, "UF"},   {SC_ACCESSLOG_UC, "UC"},
        {SC_ACCESSLOG_UO, "UO"},   {SC_ACCESSLOG_NR, "NR"},   {SC_ACCESSLOG_DC, "DC"},
        {SC_ACCESSLOG_URX, "URX"}, {SC_ACCESSLOG_DPE, "DPE"}, {SC_ACCESSLOG_UPE, "UPE"},
    };
    struct sc_accesslog_rec r;
    char want[512], s[64];
    size_t i;

    ck_assert_uint_eq(sizeof all / sizeof all[0], SC_ACCESSLOG_FLAG_COUNT);
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        sc_accesslog_rec_init(&r);
        r.start.tv_sec = 0;
        r.start.tv_nsec = 0;
        r.flags = all[i].flag;
        r.response_code = 503;
        ck_assert_str_eq(sc_accesslog_flag_name(all[i].flag), all[i].name);
        ck_assert_uint_eq(sc_accesslog_flags_str(all[i].flag, s, sizeof s), strlen(all[i].name));
        ck_assert_str_eq(s, all[i].name);
        snprintf(
            want, sizeof want,
            "[1970-01-01T00:00:00.000Z] \"- - -\" 503 %s 0 0 - - \"-\" \"-\" \"-\" \"-\" \"-\" "
            "\"-\" -\n",
            all[i].name);
        line_eq(&r, SC_ACCESSLOG_TEXT, want);
    }
}
END_TEST

START_TEST(test_accesslog_flags_joined_in_envoys_order)
{
    char s[128];

    ck_assert_uint_eq(sc_accesslog_flags_str(0, s, sizeof s), 1);
    ck_assert_str_eq(s, "-");
    sc_accesslog_flags_str(SC_ACCESSLOG_URX | SC_ACCESSLOG_UF, s, sizeof s);
    ck_assert_str_eq(s, "UF,URX");
    sc_accesslog_flags_str(SC_ACCESSLOG_DPE | SC_ACCESSLOG_DC, s, sizeof s);
    ck_assert_str_eq(s, "DC,DPE");
    sc_accesslog_flags_str(SC_ACCESSLOG_UPE | SC_ACCESSLOG_UC | SC_ACCESSLOG_UT, s, sizeof s);
    ck_assert_str_eq(s, "UT,UC,UPE");
    sc_accesslog_flags_str(~0u, s, sizeof s);
    ck_assert_str_eq(s, "UH,UT,LR,UR,UF,UC,UO,NR,DC,URX,DPE,UPE");
}
END_TEST

START_TEST(test_accesslog_flags_edge_cases)
{
    char s[8] = "junk";

    ck_assert_ptr_null(sc_accesslog_flag_name(0));
    ck_assert_ptr_null(sc_accesslog_flag_name(SC_ACCESSLOG_UF | SC_ACCESSLOG_UC));
    ck_assert_ptr_null(sc_accesslog_flag_name(1u << SC_ACCESSLOG_FLAG_COUNT));
    ck_assert_uint_eq(sc_accesslog_flags_str(SC_ACCESSLOG_UF | SC_ACCESSLOG_URX, s, 6), 0);
    ck_assert_str_eq(s, "");
    ck_assert_uint_eq(sc_accesslog_flags_str(SC_ACCESSLOG_UF | SC_ACCESSLOG_URX, s, 7), 6);
    ck_assert_uint_eq(sc_accesslog_flags_str(0, s, 1), 0);
    ck_assert_uint_eq(sc_accesslog_flags_str(0, s, 0), 0);
}
END_TEST

/* ---- JSON ---------------------------------------------------------------- */

START_TEST(test_accesslog_json_line)
{
    struct sc_accesslog_rec r;

    full_record(&r);
    r.flags = SC_ACCESSLOG_UO;
    r.response_code = 503;
    line_eq(
        &r, SC_ACCESSLOG_JSON,
        "{\"start_time\":\"1994-11-06T08:49:37.123Z\",\"method\":\"POST\",\"path\":\"/api/v1?x=1\","
        "\"protocol\":\"HTTP/1.1\",\"response_code\":503,\"response_flags\":\"UO\","
        "\"bytes_received\":5,\"bytes_sent\":1234,\"duration\":17,\"upstream_service_time\":\"12\","
        "\"x_forwarded_for\":\"10.1.2.3\",\"user_agent\":\"curl/7.88.1\","
        "\"request_id\":\"4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a55\",\"authority\":\"httpbin.bar:8080\","
        "\"upstream_host\":\"127.0.0.1:18080\",\"upstream_transport_failure_reason\":null,"
        "\"peer_spiffe_id\":\"spiffe://cluster.local/ns/foo/sa/client\","
        "\"response_code_details\":null,\"connection_termination_details\":null,"
        "\"upstream_cluster\":null,\"upstream_local_address\":null,"
        "\"downstream_local_address\":null,\"downstream_remote_address\":null,"
        "\"requested_server_name\":null,\"route_name\":null}\n");
}
END_TEST

START_TEST(test_accesslog_json_unset_and_escapes)
{
    struct sc_accesslog_rec r;

    sc_accesslog_rec_init(&r);
    r.start.tv_sec = 0;
    r.start.tv_nsec = 999999999;
    sc_accesslog_rec_set(&r, SC_ACCESSLOG_USER_AGENT, "q\"b\\c\n\t\x01\xff", 9);
    line_eq(&r, SC_ACCESSLOG_JSON,
            "{\"start_time\":\"1970-01-01T00:00:00.999Z\",\"method\":null,\"path\":null,"
            "\"protocol\":null,\"response_code\":0,\"response_flags\":\"-\",\"bytes_received\":0,"
            "\"bytes_sent\":0,\"duration\":null,\"upstream_service_time\":null,"
            "\"x_forwarded_for\":null,\"user_agent\":\"q\\\"b\\\\c\\u000A\\u0009\\u0001\\u00FF\","
            "\"request_id\":null,\"authority\":null,\"upstream_host\":null,"
            "\"upstream_transport_failure_reason\":null,\"peer_spiffe_id\":null,"
            "\"response_code_details\":null,\"connection_termination_details\":null,"
            "\"upstream_cluster\":null,\"upstream_local_address\":null,"
            "\"downstream_local_address\":null,\"downstream_remote_address\":null,"
            "\"requested_server_name\":null,\"route_name\":null}\n");
}
END_TEST

/* ---- istio -------------------------------------------------------------- */

static void istio_fields(struct sc_accesslog_rec *r)
{
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_RESPONSE_CODE_DETAILS, "via_upstream");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_UPSTREAM_CLUSTER, "outbound|8080||httpbin.bar");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_DOWNSTREAM_LOCAL_ADDRESS, "10.96.0.5:8080");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_DOWNSTREAM_REMOTE_ADDRESS, "10.1.2.3:40000");
    sc_accesslog_rec_sets(r, SC_ACCESSLOG_ROUTE_NAME, "default");
}

START_TEST(test_accesslog_istio_is_istios_default_line)
{
    struct sc_accesslog_rec r;

    full_record(&r);
    istio_fields(&r);
    line_eq(&r, SC_ACCESSLOG_ISTIO,
            "[1994-11-06T08:49:37.123Z] \"POST /api/v1?x=1 HTTP/1.1\" 200 - via_upstream - \"-\" "
            "5 1234 17 12 \"10.1.2.3\" \"curl/7.88.1\" \"4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a55\" "
            "\"httpbin.bar:8080\" \"127.0.0.1:18080\" outbound|8080||httpbin.bar - 10.96.0.5:8080 "
            "10.1.2.3:40000 - default\n");
    r.flags = SC_ACCESSLOG_UF;
    r.response_code = 503;
    sc_accesslog_rec_sets(&r, SC_ACCESSLOG_RESPONSE_CODE_DETAILS,
                          "upstream_reset_before_response_started{connection_failure}");
    sc_accesslog_rec_sets(&r, SC_ACCESSLOG_TRANSPORT_FAILURE, "TLS error: bad \"cert\"\n");
    sc_accesslog_rec_sets(&r, SC_ACCESSLOG_REQUESTED_SERVER_NAME, "outbound_.8080_._.httpbin");
    sc_accesslog_rec_sets(&r, SC_ACCESSLOG_UPSTREAM_LOCAL_ADDRESS, "127.0.0.1:50000");
    sc_accesslog_rec_sets(&r, SC_ACCESSLOG_TERMINATION_DETAILS, "rbac_access_denied");
    line_eq(&r, SC_ACCESSLOG_ISTIO,
            "[1994-11-06T08:49:37.123Z] \"POST /api/v1?x=1 HTTP/1.1\" 503 UF "
            "upstream_reset_before_response_started{connection_failure} rbac_access_denied "
            "\"TLS error: bad \"cert\"\\x0A\" 5 1234 17 12 \"10.1.2.3\" \"curl/7.88.1\" "
            "\"4f9c1c2a-7b5e-4c1d-9a3e-2b6f8d0e1a55\" \"httpbin.bar:8080\" \"127.0.0.1:18080\" "
            "outbound|8080||httpbin.bar 127.0.0.1:50000 10.96.0.5:8080 10.1.2.3:40000 "
            "outbound_.8080_._.httpbin default\n");
}
END_TEST

START_TEST(test_accesslog_istio_tcp_and_unset)
{
    struct sc_accesslog_rec r;

    sc_accesslog_rec_init(&r);
    r.start.tv_sec = 0;
    r.start.tv_nsec = 0;
    line_eq(&r, SC_ACCESSLOG_ISTIO,
            "[1970-01-01T00:00:00.000Z] \"- - -\" 0 - - - \"-\" 0 0 - - \"-\" \"-\" \"-\" \"-\" "
            "\"-\" - - - - - -\n");
    /* an L4 connection, as Envoy's TCP proxy logs it */
    r.bytes_received = 12;
    r.bytes_sent = 34;
    r.duration_ms = 5;
    r.flags = SC_ACCESSLOG_UC;
    sc_accesslog_rec_sets(&r, SC_ACCESSLOG_UPSTREAM_HOST, "127.0.0.1:9000");
    sc_accesslog_rec_sets(&r, SC_ACCESSLOG_UPSTREAM_CLUSTER, "inbound|9000||");
    sc_accesslog_rec_sets(&r, SC_ACCESSLOG_ROUTE_NAME, "in");
    line_eq(&r, SC_ACCESSLOG_ISTIO,
            "[1970-01-01T00:00:00.000Z] \"- - -\" 0 UC - - \"-\" 12 34 5 - \"-\" \"-\" \"-\" \"-\" "
            "\"127.0.0.1:9000\" inbound|9000|| - - - - in\n");
}
END_TEST

/* ---- records and sizes --------------------------------------------------- */

START_TEST(test_accesslog_rec_fields)
{
    struct sc_accesslog_rec r;
    char big[SC_ACCESSLOG_FIELD_MAX + 100];
    const char *v;
    size_t n = 5;
    int i;

    sc_accesslog_rec_init(&r);
    ck_assert_int_eq(r.duration_ms, -1);
    ck_assert_ptr_null(sc_accesslog_rec_get(&r, SC_ACCESSLOG_PATH, &n));
    ck_assert_uint_eq(n, 0);
    sc_accesslog_rec_sets(&r, SC_ACCESSLOG_PATH, "/a");
    sc_accesslog_rec_sets(&r, SC_ACCESSLOG_PATH, "/bb"); /* replaces */
    v = sc_accesslog_rec_get(&r, SC_ACCESSLOG_PATH, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(memcmp(v, "/bb", 3), 0);
    memset(big, 'p', sizeof big);
    sc_accesslog_rec_set(&r, SC_ACCESSLOG_PATH, big, sizeof big); /* cut */
    sc_accesslog_rec_get(&r, SC_ACCESSLOG_PATH, &n);
    ck_assert_uint_eq(n, SC_ACCESSLOG_FIELD_MAX);
    for (i = 0; i < 10; i++) { /* exhausts the buffer */
        sc_accesslog_rec_set(&r, SC_ACCESSLOG_USER_AGENT, big, sizeof big);
    }
    ck_assert_uint_le(r.used, SC_ACCESSLOG_REC_BYTES);
    sc_accesslog_rec_get(&r, SC_ACCESSLOG_USER_AGENT, &n);
    ck_assert_uint_eq(n, 0); /* nothing left */
    sc_accesslog_rec_sets(&r, (enum sc_accesslog_field)99, "x"); /* ignored */
    ck_assert_ptr_null(sc_accesslog_rec_get(&r, (enum sc_accesslog_field)99, NULL));
}
END_TEST

/* With no log written, a record keeps only what the metrics read. */
START_TEST(test_accesslog_rec_keep)
{
    struct sc_accesslog_rec r;
    size_t n = 0;

    sc_accesslog_rec_init(&r);
    ck_assert(sc_accesslog_rec_wants(&r, SC_ACCESSLOG_PATH));
    sc_accesslog_rec_keep(&r, 1u << SC_ACCESSLOG_PEER_ID);
    ck_assert(!sc_accesslog_rec_wants(&r, SC_ACCESSLOG_PATH));
    ck_assert(sc_accesslog_rec_wants(&r, SC_ACCESSLOG_PEER_ID));
    ck_assert(!sc_accesslog_rec_wants(&r, (enum sc_accesslog_field)99));
    sc_accesslog_rec_sets(&r, SC_ACCESSLOG_PATH, "/a");
    sc_accesslog_rec_sets(&r, SC_ACCESSLOG_PEER_ID, "spiffe://td/ns/a/sa/b");
    ck_assert_ptr_null(sc_accesslog_rec_get(&r, SC_ACCESSLOG_PATH, &n));
    ck_assert_uint_eq(r.used, strlen("spiffe://td/ns/a/sa/b"));
    ck_assert_ptr_nonnull(sc_accesslog_rec_get(&r, SC_ACCESSLOG_PEER_ID, &n));
    ck_assert_uint_eq(n, strlen("spiffe://td/ns/a/sa/b"));
    sc_accesslog_rec_init(&r); /* keeps everything again */
    ck_assert(sc_accesslog_rec_wants(&r, SC_ACCESSLOG_PATH));
}
END_TEST

START_TEST(test_accesslog_worst_case_fits_line_max)
{
    struct sc_accesslog_rec r;
    char ctl[SC_ACCESSLOG_FIELD_MAX];
    static char out[SC_ACCESSLOG_LINE_MAX];
    int f;

    memset(ctl, 1, sizeof ctl);
    sc_accesslog_rec_init(&r);
    r.response_code = -2147483647;
    r.bytes_received = r.bytes_sent = UINT64_MAX;
    r.duration_ms = INT64_MAX;
    r.flags = ~0u;
    for (f = 0; f < SC_ACCESSLOG_FIELD_N; f++) {
        sc_accesslog_rec_set(&r, (enum sc_accesslog_field)f, ctl, sizeof ctl);
    }
    ck_assert_uint_gt(sc_accesslog_format(&r, SC_ACCESSLOG_JSON, out, sizeof out), 6 * 4000);
    ck_assert_uint_gt(sc_accesslog_format(&r, SC_ACCESSLOG_TEXT, out, sizeof out), 4 * 4000);
    ck_assert_uint_gt(sc_accesslog_format(&r, SC_ACCESSLOG_ISTIO, out, sizeof out), 4 * 4000);
}
END_TEST

START_TEST(test_accesslog_format_too_small)
{
    struct sc_accesslog_rec r;
    char out[64];

    full_record(&r);
    memset(out, 'Z', sizeof out);
    ck_assert_uint_eq(sc_accesslog_format(&r, SC_ACCESSLOG_TEXT, out, 63), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(out[63], 'Z');
    ck_assert_uint_eq(sc_accesslog_format(&r, SC_ACCESSLOG_JSON, out, 0), 0);
}
END_TEST

START_TEST(test_accesslog_time_format)
{
    struct timespec ts = {1764000000, 5000000};
    char s[32];

    ck_assert_uint_eq(sc_accesslog_time(&ts, s), 24);
    ck_assert_str_eq(s, "2025-11-24T16:00:00.005Z");
    ts.tv_nsec = -5; /* nonsense is clamped */
    sc_accesslog_time(&ts, s);
    ck_assert_str_eq(s, "2025-11-24T16:00:00.000Z");
}
END_TEST

/* ---- the sink ------------------------------------------------------------ */

static char tmpd[256];

static void mk_tmp(void)
{
    snprintf(tmpd, sizeof tmpd, "%s/sc-al-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpd));
}

static void rm_tmp(void)
{
    char cmd[300];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpd);
    ck_assert_int_eq(system(cmd), 0);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b;
    long n;

    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

#define WORKERS 4
#define PER_WORKER 20000

struct producer {
    struct sc_accesslog_sink *s;
    unsigned id;
    unsigned dropped;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    unsigned i;

    for (i = 0; i < PER_WORKER; i++) {
        char line[128];
        int n = snprintf(line, sizeof line, "w=%u seq=%u %s\n", p->id, i,
                         "padding-padding-padding-padding");

        while (sc_accesslog_sink_write(p->s, p->id, line, (size_t)n) != 0) {
            struct timespec ms = {0, 200000};

            p->dropped++; /* ring full: back off, retry */
            nanosleep(&ms, NULL);
        }
    }
    return NULL;
}

START_TEST(test_accesslog_sink_file_from_many_workers)
{
    struct sc_accesslog_sink_config cfg = {SC_ACCESSLOG_FILE, NULL, -1, SC_ACCESSLOG_TEXT,
                                           WORKERS,           0,    0};
    struct producer pr[WORKERS];
    pthread_t th[WORKERS];
    struct sc_accesslog_sink_stats st;
    struct sc_err err;
    char path[300], *data, *p;
    unsigned next[WORKERS] = {0};
    size_t len, lines = 0, drops = 0;
    unsigned i;

    snprintf(path, sizeof path, "%s/access.log", tmpd);
    cfg.path = path;
    pr[0].s = sc_accesslog_sink_new(&cfg, &err);
    ck_assert_ptr_nonnull(pr[0].s);
    for (i = 0; i < WORKERS; i++) {
        pr[i].s = pr[0].s;
        pr[i].id = i;
        pr[i].dropped = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, produce, &pr[i]), 0);
    }
    for (i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        drops += pr[i].dropped;
    }
    ck_assert_int_eq(sc_accesslog_sink_flush(pr[0].s, 10000), 0);
    sc_accesslog_sink_stats(pr[0].s, &st);
    ck_assert_uint_eq(st.lines, WORKERS * PER_WORKER);
    ck_assert_uint_eq(st.dropped, drops);
    ck_assert_uint_eq(st.write_errors, 0);
    sc_accesslog_sink_free(pr[0].s);

    data = slurp(path, &len);
    ck_assert_uint_eq(st.bytes_written, len);
    for (p = data; *p != '\0'; lines++) { /* every line whole, each worker in order */
        unsigned w, seq;
        char *nl = strchr(p, '\n');

        ck_assert_ptr_nonnull(nl);
        ck_assert_int_eq(sscanf(p, "w=%u seq=%u", &w, &seq), 2);
        ck_assert_uint_lt(w, WORKERS);
        ck_assert_uint_eq(seq, next[w]);
        next[w]++;
        ck_assert_int_eq(strncmp(nl - 31, "padding-padding-padding-padding", 31), 0);
        p = nl + 1;
    }
    ck_assert_uint_eq(lines, WORKERS * PER_WORKER);
    free(data);
}
END_TEST

struct reader {
    int fd;
    size_t bytes;
    size_t lines;
    int bad;
};

static void *read_pipe(void *arg)
{
    struct reader *rd = arg;
    char buf[8192], carry[256];
    size_t cl = 0;
    ssize_t n;

    while ((n = read(rd->fd, buf, sizeof buf)) > 0) {
        ssize_t i;

        rd->bytes += (size_t)n;
        for (i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                carry[cl] = '\0';
                if (strncmp(carry, "line ", 5) != 0 || cl != 60) {
                    rd->bad++;
                }
                rd->lines++;
                cl = 0;
            } else if (cl < sizeof carry - 1) {
                carry[cl++] = buf[i];
            }
        }
    }
    return NULL;
}

START_TEST(test_accesslog_sink_pipe_lines_stay_whole)
{
    int fds[2];
    struct sc_accesslog_sink_config cfg = {SC_ACCESSLOG_FD, NULL, -1, SC_ACCESSLOG_TEXT, 1, 0, 0};
    struct sc_accesslog_sink *s;
    struct reader rd = {0, 0, 0, 0};
    pthread_t th;
    struct sc_err err;
    char line[64];
    unsigned i;

    ck_assert_int_eq(pipe(fds), 0);
    cfg.fd = fds[1];
    s = sc_accesslog_sink_new(&cfg, &err);
    ck_assert_ptr_nonnull(s);
    rd.fd = fds[0];
    ck_assert_int_eq(pthread_create(&th, NULL, read_pipe, &rd), 0);
    memset(line, 'x', sizeof line);
    memcpy(line, "line ", 5);
    line[60] = '\n';
    for (i = 0; i < 50000; i++) {
        while (sc_accesslog_sink_write(s, 0, line, 61) != 0) {
            struct timespec ms = {0, 100000};

            nanosleep(&ms, NULL);
        }
    }
    ck_assert_int_eq(sc_accesslog_sink_flush(s, 10000), 0);
    sc_accesslog_sink_free(s);
    close(fds[1]);
    pthread_join(th, NULL);
    close(fds[0]);
    ck_assert_uint_eq(rd.lines, 50000);
    ck_assert_uint_eq(rd.bad, 0);
}
END_TEST

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

START_TEST(test_accesslog_sink_drops_instead_of_blocking)
{
    int fds[2];
    struct sc_accesslog_sink_config cfg = {SC_ACCESSLOG_FD, NULL, -1, SC_ACCESSLOG_TEXT, 2,
                                           64 * 1024,       0};
    struct sc_accesslog_sink *s;
    struct sc_accesslog_sink_stats st;
    struct sc_err err;
    char line[200];
    unsigned i, refused = 0;
    double t0, worst = 0;

    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(pipe(fds), 0); /* nobody reads it */
    cfg.fd = fds[1];
    s = sc_accesslog_sink_new(&cfg, &err);
    ck_assert_ptr_nonnull(s);
    memset(line, 'y', sizeof line);
    line[sizeof line - 1] = '\n';
    for (i = 0; i < 5000; i++) { /* 1 MB: far more than pipe + ring */
        double t;

        t0 = now_s();
        refused += sc_accesslog_sink_write(s, 1, line, sizeof line) != 0;
        t = now_s() - t0;
        if (t > worst) {
            worst = t;
        }
    }
    ck_assert_uint_gt(refused, 0);
    ck_assert_msg(worst < 0.5, "a write took %.3f s", worst);
    ck_assert_int_eq(sc_accesslog_sink_flush(s, 50), -1); /* cannot drain */
    sc_accesslog_sink_stats(s, &st);
    ck_assert_uint_eq(st.dropped, refused);
    ck_assert_uint_eq(st.lines, 5000 - refused);
    /* the reader goes away: the writer gets EPIPE, counts it, and free() returns */
    close(fds[0]);
    t0 = now_s();
    sc_accesslog_sink_free(s);
    ck_assert_msg(now_s() - t0 < 5, "free took %.1f s", now_s() - t0);
    close(fds[1]);
}
END_TEST

START_TEST(test_accesslog_sink_free_gives_up_on_a_stuck_destination)
{
    int fds[2];
    struct sc_accesslog_sink_config cfg = {SC_ACCESSLOG_FD, NULL, -1, SC_ACCESSLOG_TEXT, 1, 0, 0};
    struct sc_accesslog_sink *s;
    struct sc_err err;
    char line[1000];
    unsigned i;
    double t0;

    ck_assert_int_eq(pipe(fds), 0);
    cfg.fd = fds[1];
    s = sc_accesslog_sink_new(&cfg, &err);
    memset(line, 'z', sizeof line);
    line[sizeof line - 1] = '\n';
    for (i = 0; i < 200; i++) { /* 200 KB > the pipe's 64 KB */
        sc_accesslog_sink_write(s, 0, line, sizeof line);
    }
    t0 = now_s();
    sc_accesslog_sink_free(s); /* the pipe stays full */
    ck_assert_msg(now_s() - t0 < 5, "free took %.1f s", now_s() - t0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(test_accesslog_sink_reopen_after_rotation)
{
    struct sc_accesslog_sink_config cfg = {SC_ACCESSLOG_FILE, NULL, -1, SC_ACCESSLOG_TEXT, 1, 0, 0};
    struct sc_accesslog_sink *s;
    struct sc_err err;
    char path[300], old[300], *a, *b;
    size_t la, lb;
    int i;

    snprintf(path, sizeof path, "%s/rot.log", tmpd);
    snprintf(old, sizeof old, "%s/rot.log.1", tmpd);
    cfg.path = path;
    s = sc_accesslog_sink_new(&cfg, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(sc_accesslog_sink_write(s, 0, "first\n", 6), 0);
    ck_assert_int_eq(sc_accesslog_sink_flush(s, 5000), 0);
    ck_assert_int_eq(rename(path, old), 0);
    sc_accesslog_sink_reopen(s);
    for (i = 0; i < 2000; i++) { /* the reopen is asynchronous */
        struct stat st;
        struct timespec ms = {0, 1000000};

        if (stat(path, &st) == 0) {
            break;
        }
        nanosleep(&ms, NULL);
    }
    ck_assert_int_eq(sc_accesslog_sink_write(s, 0, "second\n", 7), 0);
    sc_accesslog_sink_free(s);
    a = slurp(old, &la);
    b = slurp(path, &lb);
    ck_assert_str_eq(a, "first\n");
    ck_assert_str_eq(b, "second\n");
    free(a);
    free(b);
}
END_TEST

START_TEST(test_accesslog_sink_log_formats_records)
{
    struct sc_accesslog_sink_config cfg = {SC_ACCESSLOG_FILE, NULL, -1, SC_ACCESSLOG_JSON, 1, 0, 0};
    struct sc_accesslog_sink *s;
    struct sc_accesslog_rec r;
    struct sc_err err;
    char path[300], *data, line[SC_ACCESSLOG_LINE_MAX];
    size_t len;

    snprintf(path, sizeof path, "%s/json.log", tmpd);
    cfg.path = path;
    s = sc_accesslog_sink_new(&cfg, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert(sc_accesslog_sink_enabled(s));
    full_record(&r);
    ck_assert_int_eq(sc_accesslog_sink_log(s, 0, &r), 0);
    ck_assert_int_eq(sc_accesslog_sink_log(s, 7, &r), 0); /* worker ids wrap */
    sc_accesslog_sink_free(s);
    data = slurp(path, &len);
    sc_accesslog_format(&r, SC_ACCESSLOG_JSON, line, sizeof line);
    ck_assert_uint_eq(len, 2 * strlen(line));
    ck_assert_int_eq(strncmp(data, line, strlen(line)), 0);
    free(data);
}
END_TEST

START_TEST(test_accesslog_sink_refuses_oversized_lines)
{
    struct sc_accesslog_sink_config cfg = {SC_ACCESSLOG_FILE, NULL, -1, SC_ACCESSLOG_TEXT, 1, 0, 0};
    struct sc_accesslog_sink *s;
    struct sc_accesslog_sink_stats st;
    struct sc_err err;
    char path[300], *big = malloc(SC_ACCESSLOG_LINE_MAX + 1);

    snprintf(path, sizeof path, "%s/big.log", tmpd);
    cfg.path = path;
    s = sc_accesslog_sink_new(&cfg, &err);
    memset(big, 'b', SC_ACCESSLOG_LINE_MAX + 1);
    ck_assert_int_eq(sc_accesslog_sink_write(s, 0, big, SC_ACCESSLOG_LINE_MAX + 1), -1);
    ck_assert_int_eq(sc_accesslog_sink_write(s, 0, big, SC_ACCESSLOG_LINE_MAX), 0);
    ck_assert_int_eq(sc_accesslog_sink_write(s, 0, big, 0), 0); /* nothing */
    sc_accesslog_sink_stats(s, &st);
    ck_assert_uint_eq(st.dropped, 1);
    ck_assert_uint_eq(st.lines, 1);
    sc_accesslog_sink_free(s);
    free(big);
}
END_TEST

START_TEST(test_accesslog_sink_off_and_null)
{
    struct sc_accesslog_sink_config cfg = {SC_ACCESSLOG_OFF, NULL, -1, SC_ACCESSLOG_TEXT, 4, 0, 0};
    struct sc_accesslog_sink *s;
    struct sc_accesslog_sink_stats st;
    struct sc_accesslog_rec r;
    struct sc_err err;

    s = sc_accesslog_sink_new(&cfg, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert(!sc_accesslog_sink_enabled(s));
    ck_assert(!sc_accesslog_sink_enabled(NULL));
    full_record(&r);
    ck_assert_int_eq(sc_accesslog_sink_write(s, 0, "x\n", 2), 0);
    ck_assert_int_eq(sc_accesslog_sink_log(s, 3, &r), 0);
    ck_assert_int_eq(sc_accesslog_sink_flush(s, 0), 0);
    sc_accesslog_sink_reopen(s);
    sc_accesslog_sink_stats(s, &st);
    ck_assert_uint_eq(st.lines + st.dropped + st.bytes_written, 0);
    sc_accesslog_sink_free(s);
    ck_assert_int_eq(sc_accesslog_sink_write(NULL, 0, "x\n", 2), 0);
    sc_accesslog_sink_stats(NULL, &st);
    sc_accesslog_sink_free(NULL);
}
END_TEST

START_TEST(test_accesslog_sink_bad_destinations)
{
    struct sc_accesslog_sink_config cfg = {
        SC_ACCESSLOG_FILE, "/nonexistent-dir/x/access.log", -1, SC_ACCESSLOG_TEXT, 1, 0, 0};
    struct sc_err err;

    memset(&err, 0, sizeof err);
    ck_assert_ptr_null(sc_accesslog_sink_new(&cfg, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent-dir/x/access.log"));
    cfg.path = "";
    ck_assert_ptr_null(sc_accesslog_sink_new(&cfg, &err));
    cfg.path = NULL;
    ck_assert_ptr_null(sc_accesslog_sink_new(&cfg, &err));
    cfg.dest = SC_ACCESSLOG_FD;
    cfg.fd = -1;
    ck_assert_ptr_null(sc_accesslog_sink_new(&cfg, &err));
    cfg.dest = (enum sc_accesslog_dest)42;
    ck_assert_ptr_null(sc_accesslog_sink_new(&cfg, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "destination"));
}
END_TEST

static Suite *accesslog_suite(void)
{
    Suite *s = suite_create("accesslog");
    TCase *tc;

    tc = tcase_create("sc_accesslog_format");
    tcase_add_test(tc, test_accesslog_text_is_envoys_default_line);
    tcase_add_test(tc, test_accesslog_text_unset_values_are_dashes);
    tcase_add_test(tc, test_accesslog_text_upstream_failure);
    tcase_add_test(tc, test_accesslog_text_escapes_control_bytes);
    tcase_add_test(tc, test_accesslog_json_line);
    tcase_add_test(tc, test_accesslog_istio_is_istios_default_line);
    tcase_add_test(tc, test_accesslog_istio_tcp_and_unset);
    tcase_add_test(tc, test_accesslog_json_unset_and_escapes);
    tcase_add_test(tc, test_accesslog_worst_case_fits_line_max);
    tcase_add_test(tc, test_accesslog_format_too_small);
    tcase_add_test(tc, test_accesslog_time_format);
    suite_add_tcase(s, tc);

    tc = tcase_create("flags");
    tcase_add_test(tc, test_accesslog_every_flag_alone);
    tcase_add_test(tc, test_accesslog_flags_joined_in_envoys_order);
    tcase_add_test(tc, test_accesslog_flags_edge_cases);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_accesslog_rec");
    tcase_add_test(tc, test_accesslog_rec_fields);
    tcase_add_test(tc, test_accesslog_rec_keep);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_accesslog_sink");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, mk_tmp, rm_tmp);
    tcase_add_test(tc, test_accesslog_sink_file_from_many_workers);
    tcase_add_test(tc, test_accesslog_sink_pipe_lines_stay_whole);
    tcase_add_test(tc, test_accesslog_sink_drops_instead_of_blocking);
    tcase_add_test(tc, test_accesslog_sink_free_gives_up_on_a_stuck_destination);
    tcase_add_test(tc, test_accesslog_sink_reopen_after_rotation);
    tcase_add_test(tc, test_accesslog_sink_log_formats_records);
    tcase_add_test(tc, test_accesslog_sink_refuses_oversized_lines);
    tcase_add_test(tc, test_accesslog_sink_off_and_null);
    tcase_add_test(tc, test_accesslog_sink_bad_destinations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(accesslog_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
