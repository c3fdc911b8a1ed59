/* Unit tests for proxy/stats: per-worker counters summed over workers, the
 * Prometheus and text renderings, the fixed-size port table folding extra
 * ports into port 0, resetting counters, and Istio's families
 * (proxy/istio: labels, histograms, the bounded series table). */

#include <check.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "istio.h"
#include "snapshot.h"
#include "stats.h"

#define NW 3

static struct sc_stats *w[NW];

static void setup(void)
{
    for (int i = 0; i < NW; i++) {
        w[i] = sc_stats_new();
        ck_assert_ptr_nonnull(w[i]);
    }
}

static void teardown(void)
{
    for (int i = 0; i < NW; i++) {
        sc_stats_free(w[i]);
        w[i] = NULL;
    }
}

/* Renders into a NUL-terminated heap string (caller frees). */
static char *render(int prometheus, size_t n)
{
    struct evbuffer *b = evbuffer_new();
    size_t len;
    char *s;

    ck_assert_ptr_nonnull(b);
    if (prometheus) {
        sc_stats_render_prometheus(w, n, b);
    } else {
        sc_stats_render_text(w, n, b);
    }
    len = evbuffer_get_length(b);
    s = malloc(len + 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(evbuffer_remove(b, s, len), (int)len);
    s[len] = '\0';
    evbuffer_free(b);
    return s;
}

/* Asserts that text holds line as a whole line. */
static void assert_line(const char *text, const char *line)
{
    size_t l = strlen(line);
    const char *p = text;

    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[l] == '\n') {
            return;
        }
        p++;
    }
    ck_abort_msg("no line '%s' in:\n%.3000s", line, text);
}

static int count(const char *text, const char *part)
{
    int n = 0;

    for (const char *p = strstr(text, part); p != NULL; p = strstr(p + 1, part)) {
        n++;
    }
    return n;
}

static void assert_no_line_with(const char *text, const char *part)
{
    ck_assert_msg(strstr(text, part) == NULL, "unexpected '%s' in:\n%.3000s", part, text);
}

/* ---- sc_stats_conn_class / sc_stats_sum_class ---------------------------- */

START_TEST(test_stats_sum_class_adds_workers)
{
    for (int i = 0; i < 5; i++) {
        sc_stats_conn_class(w[0], SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS);
    }
    sc_stats_conn_class(w[1], SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS);
    sc_stats_conn_class(w[1], SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS);
    sc_stats_conn_class(w[2], SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS);

    ck_assert_uint_eq(sc_stats_sum_class(w, NW, SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS), 8);
    ck_assert_uint_eq(sc_stats_sum_class(w, 1, SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS), 5);
    ck_assert_uint_eq(sc_stats_sum_class(w, 2, SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS), 7);
    ck_assert_uint_eq(sc_stats_sum_class(w, 0, SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS), 0);
}
END_TEST

START_TEST(test_stats_sum_class_keeps_keys_apart)
{
    sc_stats_conn_class(w[0], SC_DIR_INBOUND, 8080, SC_CLASS_PLAINTEXT);
    sc_stats_conn_class(w[1], SC_DIR_OUTBOUND, 8080, SC_CLASS_REFUSED);
    sc_stats_conn_class(w[1], SC_DIR_OUTBOUND, 8080, SC_CLASS_REFUSED);
    sc_stats_conn_class(w[2], SC_DIR_INBOUND, 9090, SC_CLASS_APP_TLS);

    /* direction */
    ck_assert_uint_eq(sc_stats_sum_class(w, NW, SC_DIR_INBOUND, 8080, SC_CLASS_PLAINTEXT), 1);
    ck_assert_uint_eq(sc_stats_sum_class(w, NW, SC_DIR_OUTBOUND, 8080, SC_CLASS_PLAINTEXT), 0);
    ck_assert_uint_eq(sc_stats_sum_class(w, NW, SC_DIR_OUTBOUND, 8080, SC_CLASS_REFUSED), 2);
    ck_assert_uint_eq(sc_stats_sum_class(w, NW, SC_DIR_INBOUND, 8080, SC_CLASS_REFUSED), 0);
    /* port */
    ck_assert_uint_eq(sc_stats_sum_class(w, NW, SC_DIR_INBOUND, 9090, SC_CLASS_APP_TLS), 1);
    ck_assert_uint_eq(sc_stats_sum_class(w, NW, SC_DIR_INBOUND, 9090, SC_CLASS_PLAINTEXT), 0);
    ck_assert_uint_eq(sc_stats_sum_class(w, NW, SC_DIR_INBOUND, 8080, SC_CLASS_APP_TLS), 0);
    /* never seen */
    ck_assert_uint_eq(sc_stats_sum_class(w, NW, SC_DIR_INBOUND, 1234, SC_CLASS_MESH_MTLS), 0);
    ck_assert_uint_eq(sc_stats_sum_class(w, NW, SC_DIR_OUTBOUND, 0, SC_CLASS_MESH_MTLS), 0);
}
END_TEST

START_TEST(test_stats_port_range_ends_are_distinct)
{
    sc_stats_conn_class(w[0], SC_DIR_INBOUND, 1, SC_CLASS_PLAINTEXT);
    sc_stats_conn_class(w[0], SC_DIR_INBOUND, 65535, SC_CLASS_PLAINTEXT);
    sc_stats_conn_class(w[0], SC_DIR_OUTBOUND, 65535, SC_CLASS_PLAINTEXT);
    ck_assert_uint_eq(sc_stats_sum_class(w, 1, SC_DIR_INBOUND, 1, SC_CLASS_PLAINTEXT), 1);
    ck_assert_uint_eq(sc_stats_sum_class(w, 1, SC_DIR_INBOUND, 65535, SC_CLASS_PLAINTEXT), 1);
    ck_assert_uint_eq(sc_stats_sum_class(w, 1, SC_DIR_OUTBOUND, 65535, SC_CLASS_PLAINTEXT), 1);
}
END_TEST

/* More distinct ports than the table has slots: nothing crashes, nothing is
 * lost, the overflow lands on port 0 of the same direction. */
START_TEST(test_stats_many_ports_fold_into_port_zero)
{
    const int nports = 1500;
    uint64_t total, zero_in, zero_out;
    char line[200];
    char *text;

    for (int p = 1; p <= nports; p++) {
        sc_stats_conn_class(w[0], SC_DIR_INBOUND, 10000 + p, SC_CLASS_PLAINTEXT);
        sc_stats_conn_class(w[0], SC_DIR_OUTBOUND, 10000 + p, SC_CLASS_REFUSED);
    }
    /* Later connections to already-counted ports keep their own slots. */
    sc_stats_conn_class(w[0], SC_DIR_INBOUND, 10001, SC_CLASS_PLAINTEXT);
    ck_assert_uint_eq(sc_stats_sum_class(w, 1, SC_DIR_INBOUND, 10001, SC_CLASS_PLAINTEXT), 2);

    total = sc_stats_sum_class(w, 1, SC_DIR_INBOUND, 0, SC_CLASS_PLAINTEXT);
    for (int p = 1; p <= nports; p++) {
        total += sc_stats_sum_class(w, 1, SC_DIR_INBOUND, 10000 + p, SC_CLASS_PLAINTEXT);
    }
    ck_assert_uint_eq(total, (uint64_t)nports + 1);
    zero_in = sc_stats_sum_class(w, 1, SC_DIR_INBOUND, 0, SC_CLASS_PLAINTEXT);
    zero_out = sc_stats_sum_class(w, 1, SC_DIR_OUTBOUND, 0, SC_CLASS_REFUSED);
    ck_assert_uint_gt(zero_in, 0);
    ck_assert_uint_gt(zero_out, 0);
    total = zero_out;
    for (int p = 1; p <= nports; p++) {
        total += sc_stats_sum_class(w, 1, SC_DIR_OUTBOUND, 10000 + p, SC_CLASS_REFUSED);
    }
    ck_assert_uint_eq(total, (uint64_t)nports);
    /* a port past the table still counts, on port 0 */
    sc_stats_conn_class(w[0], SC_DIR_INBOUND, 60000, SC_CLASS_PLAINTEXT);
    ck_assert_uint_eq(sc_stats_sum_class(w, 1, SC_DIR_INBOUND, 0, SC_CLASS_PLAINTEXT), zero_in + 1);
    /* and the scrape shows the overflow as port 0 */
    text = render(1, 1);
    snprintf(line, sizeof(line),
             "sidecar_connections_total{direction=\"inbound\",port=\"0\","
             "classification=\"plaintext\"} %llu",
             (unsigned long long)zero_in + 1);
    assert_line(text, line);
    snprintf(line, sizeof(line),
             "sidecar_connections_total{direction=\"outbound\",port=\"0\","
             "classification=\"refused\"} %llu",
             (unsigned long long)zero_out);
    assert_line(text, line);
    free(text);
}
END_TEST

START_TEST(test_stats_many_ports_render_without_crashing)
{
    char *text;
    char line[200];

    for (int p = 1; p <= 1000; p++) {
        sc_stats_conn_class(w[p % NW], SC_DIR_INBOUND, p, SC_CLASS_MESH_MTLS);
    }
    /* 1000 distinct ports in all, fewer than 512 in each worker: every one
     * is rendered, none dropped for lack of room while rendering. */
    text = render(1, NW);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE sidecar_connections_total counter\n"));
    for (int p = 1; p <= 1000; p += 111) {
        snprintf(line, sizeof(line),
                 "sidecar_connections_total{direction=\"inbound\",port=\"%d\","
                 "classification=\"mesh_mtls\"} 1",
                 p);
        assert_line(text, line);
    }
    ck_assert_int_eq(count(text, "classification=\"mesh_mtls\"} 1\n"), 1000);
    ck_assert_int_eq(count(text, "classification=\"plaintext\"} 0\n"), 1000);
    free(text);
    text = render(0, NW);
    assert_line(text, "inbound.1.mesh_mtls: 1");
    assert_line(text, "inbound.1000.mesh_mtls: 1");
    ck_assert_int_eq(count(text, ".mesh_mtls: 1\n"), 1000);
    free(text);
}
END_TEST

/* ---- rendering ------------------------------------------------------------ */

START_TEST(test_stats_hbone_counters_sum_workers_by_direction)
{
    char *p;

    sc_stats_hbone(w[0], SC_DIR_INBOUND, SC_HBONE_TUNNEL_OPENED);
    sc_stats_hbone(w[1], SC_DIR_INBOUND, SC_HBONE_TUNNEL_OPENED);
    sc_stats_hbone(w[1], SC_DIR_OUTBOUND, SC_HBONE_TUNNEL_OPENED);
    sc_stats_hbone(w[0], SC_DIR_INBOUND, SC_HBONE_STREAM_OPENED);
    sc_stats_hbone(w[0], SC_DIR_INBOUND, SC_HBONE_STREAM_REFUSED);
    sc_stats_hbone(w[1], SC_DIR_OUTBOUND, SC_HBONE_STREAM_RESET);
    sc_stats_hbone_tunnel_closed(w[0], SC_DIR_INBOUND, 1);
    sc_stats_hbone_tunnel_closed(w[1], SC_DIR_OUTBOUND, 100);
    sc_stats_hbone_tunnel_closed(w[1], SC_DIR_OUTBOUND, 5000);
    p = render(1, NW);
    assert_line(p, "sidecar_hbone_tunnels_opened_total{direction=\"inbound\"} 2");
    assert_line(p, "sidecar_hbone_tunnels_opened_total{direction=\"outbound\"} 1");
    assert_line(p, "sidecar_hbone_tunnels_closed_total{direction=\"inbound\"} 1");
    assert_line(p, "sidecar_hbone_tunnels_closed_total{direction=\"outbound\"} 2");
    assert_line(p, "sidecar_hbone_tunnels_active{direction=\"inbound\"} 1");
    assert_line(
        p, "sidecar_hbone_tunnels_active{direction=\"outbound\"} -1"); /* closes without opens */
    assert_line(p, "sidecar_hbone_streams_opened_total{direction=\"inbound\"} 1");
    assert_line(p, "sidecar_hbone_streams_refused_total{direction=\"inbound\"} 1");
    assert_line(p, "sidecar_hbone_streams_reset_total{direction=\"outbound\"} 1");
    assert_line(p, "sidecar_hbone_streams_per_tunnel_bucket{direction=\"inbound\",le=\"1\"} 1");
    assert_line(p, "sidecar_hbone_streams_per_tunnel_bucket{direction=\"outbound\",le=\"50\"} 0");
    assert_line(p, "sidecar_hbone_streams_per_tunnel_bucket{direction=\"outbound\",le=\"100\"} 1");
    assert_line(p, "sidecar_hbone_streams_per_tunnel_bucket{direction=\"outbound\",le=\"1000\"} 1");
    assert_line(p, "sidecar_hbone_streams_per_tunnel_bucket{direction=\"outbound\",le=\"+Inf\"} 2");
    assert_line(p, "sidecar_hbone_streams_per_tunnel_count{direction=\"outbound\"} 2");
    assert_line(p, "sidecar_hbone_streams_per_tunnel_sum{direction=\"outbound\"} 5100");
    free(p);
    sc_stats_reset(w, NW);
    p = render(1, NW);
    assert_line(p, "sidecar_hbone_tunnels_opened_total{direction=\"inbound\"} 0");
    assert_line(p, "sidecar_hbone_streams_per_tunnel_count{direction=\"outbound\"} 0");
    /* a gauge: tunnels still open stay counted across /reset_counters */
    assert_line(p, "sidecar_hbone_tunnels_active{direction=\"inbound\"} 1");
    free(p);
}
END_TEST

START_TEST(test_stats_prometheus_renders_exact_lines)
{
    char *text;

    for (int i = 0; i < 4; i++) {
        sc_stats_conn_class(w[i % NW], SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS);
    }
    sc_stats_conn_class(w[2], SC_DIR_INBOUND, 8080, SC_CLASS_REFUSED);
    sc_stats_conn_class(w[1], SC_DIR_OUTBOUND, 9090, SC_CLASS_PLAINTEXT);
    sc_stats_handshake(w[0], SC_DIR_INBOUND, SC_HS_OK);
    sc_stats_handshake(w[1], SC_DIR_INBOUND, SC_HS_OK);
    sc_stats_handshake(w[2], SC_DIR_INBOUND, SC_HS_UNKNOWN_CA);
    sc_stats_handshake(w[2], SC_DIR_OUTBOUND, SC_HS_BAD_IDENTITY);
    sc_stats_active(w[0], 3);
    sc_stats_active(w[1], 2);
    sc_stats_active(w[0], -1);
    sc_stats_bytes(w[0], SC_DIR_INBOUND, 100, 200);
    sc_stats_bytes(w[2], SC_DIR_INBOUND, 1, 2);
    sc_stats_bytes(w[1], SC_DIR_OUTBOUND, 5000000000ull, 7);

    text = render(1, NW);
    assert_line(text, "# TYPE sidecar_connections_total counter");
    assert_line(text, "sidecar_connections_total{direction=\"inbound\",port=\"8080\","
                      "classification=\"mesh_mtls\"} 4");
    assert_line(text, "sidecar_connections_total{direction=\"inbound\",port=\"8080\","
                      "classification=\"refused\"} 1");
    assert_line(text, "sidecar_connections_total{direction=\"inbound\",port=\"8080\","
                      "classification=\"plaintext\"} 0");
    assert_line(text, "sidecar_connections_total{direction=\"inbound\",port=\"8080\","
                      "classification=\"app_tls_passthrough\"} 0");
    assert_line(text, "sidecar_connections_total{direction=\"outbound\",port=\"9090\","
                      "classification=\"plaintext\"} 1");
    assert_line(text, "# TYPE sidecar_tls_handshakes_total counter");
    assert_line(text, "sidecar_tls_handshakes_total{direction=\"inbound\",outcome=\"ok\"} 2");
    assert_line(text,
                "sidecar_tls_handshakes_total{direction=\"inbound\",outcome=\"unknown_ca\"} 1");
    assert_line(text, "sidecar_tls_handshakes_total{direction=\"outbound\","
                      "outcome=\"bad_identity\"} 1");
    assert_line(text, "sidecar_tls_handshakes_total{direction=\"outbound\",outcome=\"ok\"} 0");
    assert_line(text, "# TYPE sidecar_connections_active gauge");
    assert_line(text, "sidecar_connections_active 4");
    assert_line(text, "# TYPE sidecar_bytes_total counter");
    assert_line(text, "sidecar_bytes_total{direction=\"inbound\",flow=\"received\"} 101");
    assert_line(text, "sidecar_bytes_total{direction=\"inbound\",flow=\"sent\"} 202");
    assert_line(text, "sidecar_bytes_total{direction=\"outbound\",flow=\"received\"} 5000000000");
    assert_line(text, "sidecar_bytes_total{direction=\"outbound\",flow=\"sent\"} 7");
    /* only ports that were seen */
    assert_no_line_with(text, "direction=\"inbound\",port=\"9090\"");
    assert_no_line_with(text, "direction=\"outbound\",port=\"8080\"");
    assert_no_line_with(text, "port=\"0\"");
    free(text);
}
END_TEST

/* Every non-comment line is "name{labels} value" or "name value". */
START_TEST(test_stats_prometheus_is_well_formed)
{
    char *text, *save = NULL, *line;
    int lines = 0;

    sc_stats_conn_class(w[0], SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS);
    sc_stats_active(w[0], 1);
    text = render(1, NW);
    ck_assert_uint_gt(strlen(text), 0);
    ck_assert_int_eq(text[strlen(text) - 1], '\n');
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        const char *sp = strrchr(line, ' ');
        char *end = NULL;

        lines++;
        if (line[0] == '#') {
            ck_assert_msg(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0,
                          "%s", line);
            continue;
        }
        ck_assert_msg(strncmp(line, "sidecar_", 8) == 0, "%s", line);
        ck_assert_ptr_nonnull(sp);
        (void)strtoll(sp + 1, &end, 10);
        ck_assert_msg(end != sp + 1 && *end == '\0', "value of '%s'", line);
        if (strchr(line, '{') != NULL) {
            ck_assert_msg(sp[-1] == '}', "%s", line);
        }
    }
    ck_assert_int_gt(lines, 10);
    free(text);
}
END_TEST

START_TEST(test_stats_prometheus_escapes_root_subject_label)
{
    /* an RFC 2253 subject (backslashes, quotes) with a newline in it: the
     * label carries Prometheus's escapes only, on one line */
    char *text;

    sc_stats_peer_root(w[0], SC_DIR_INBOUND, "AB12", "CN=root \\\"q\\\"\nclass=x\\,y", NULL, 0);
    text = render(1, NW);
    assert_line(text, "sidecar_tls_peer_root_total{direction=\"inbound\",root_serial=\"AB12\","
                      "root_subject=\"CN=root \\\\\\\"q\\\\\\\"\\nclass=x\\\\,y\"} 1");
    free(text);
}
END_TEST

START_TEST(test_stats_prometheus_empty_has_zeroes)
{
    char *text = render(1, NW);

    assert_line(text, "sidecar_connections_active 0");
    assert_line(text, "sidecar_tls_handshakes_total{direction=\"inbound\",outcome=\"ok\"} 0");
    assert_line(text, "sidecar_bytes_total{direction=\"outbound\",flow=\"sent\"} 0");
    assert_no_line_with(text, "sidecar_connections_total{");
    free(text);
    text = render(1, 0); /* no workers at all */
    assert_line(text, "sidecar_connections_active 0");
    free(text);
}
END_TEST

START_TEST(test_stats_prometheus_orders_ports)
{
    char *text;
    const char *a, *b, *c;

    sc_stats_conn_class(w[2], SC_DIR_INBOUND, 9000, SC_CLASS_PLAINTEXT);
    sc_stats_conn_class(w[0], SC_DIR_INBOUND, 80, SC_CLASS_PLAINTEXT);
    sc_stats_conn_class(w[1], SC_DIR_INBOUND, 443, SC_CLASS_PLAINTEXT);
    text = render(1, NW);
    a = strstr(text, "port=\"80\"");
    b = strstr(text, "port=\"443\"");
    c = strstr(text, "port=\"9000\"");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(c);
    ck_assert(a < b);
    ck_assert(b < c);
    /* each port once per class, even when several workers saw it */
    free(text);
    sc_stats_conn_class(w[0], SC_DIR_INBOUND, 9000, SC_CLASS_PLAINTEXT);
    text = render(1, NW);
    a = strstr(text, "port=\"9000\",classification=\"plaintext\"} 2\n");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(strstr(a + 1, "port=\"9000\",classification=\"plaintext\""));
    free(text);
}
END_TEST

START_TEST(test_stats_text_renders_exact_lines)
{
    char *text;

    sc_stats_conn_class(w[0], SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS);
    sc_stats_conn_class(w[1], SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS);
    sc_stats_conn_class(w[2], SC_DIR_OUTBOUND, 9090, SC_CLASS_PLAINTEXT);
    sc_stats_handshake(w[1], SC_DIR_OUTBOUND, SC_HS_EXPIRED);
    sc_stats_handshake(w[2], SC_DIR_INBOUND, SC_HS_NO_CLIENT_CERT);
    text = render(0, NW);
    assert_line(text, "inbound.8080.mesh_mtls: 2");
    assert_line(text, "inbound.8080.refused: 0");
    assert_line(text, "outbound.9090.plaintext: 1");
    assert_line(text, "outbound.handshake.expired: 1");
    assert_line(text, "inbound.handshake.no_client_cert: 1");
    assert_line(text, "inbound.handshake.protocol: 0");
    assert_no_line_with(text, "outbound.8080");
    free(text);
}
END_TEST

/* ---- names ------------------------------------------------------------------ */

START_TEST(test_stats_names)
{
    ck_assert_str_eq(sc_conn_class_name(SC_CLASS_MESH_MTLS), "mesh_mtls");
    ck_assert_str_eq(sc_conn_class_name(SC_CLASS_PLAINTEXT), "plaintext");
    ck_assert_str_eq(sc_conn_class_name(SC_CLASS_APP_TLS), "app_tls_passthrough");
    ck_assert_str_eq(sc_conn_class_name(SC_CLASS_REFUSED), "refused");
    ck_assert_str_eq(sc_conn_class_name(SC_CLASS_N), "-");
    ck_assert_str_eq(sc_hs_outcome_name(SC_HS_OK), "ok");
    ck_assert_str_eq(sc_hs_outcome_name(SC_HS_PROTOCOL), "protocol");
    ck_assert_str_eq(sc_hs_outcome_name(SC_HS_N), "-");
}
END_TEST

START_TEST(test_stats_free_accepts_null)
{
    sc_stats_free(NULL);
}
END_TEST

START_TEST(test_stats_accept_errors_and_limited_handshakes_sum_workers)
{
    char *text;

    sc_stats_accept_error(w[0], SC_ACCEPT_EMFILE);
    sc_stats_accept_error(w[1], SC_ACCEPT_EMFILE);
    sc_stats_accept_error(w[1], SC_ACCEPT_OTHER);
    sc_stats_handshake_limited(w[0]);
    sc_stats_handshake_limited(w[2]);
    sc_stats_handshake_limited(w[2]);
    text = render(1, NW);
    assert_line(text, "# TYPE sidecar_accept_errors_total counter");
    assert_line(text, "sidecar_accept_errors_total{reason=\"emfile\"} 2");
    assert_line(text, "sidecar_accept_errors_total{reason=\"enfile\"} 0");
    assert_line(text, "sidecar_accept_errors_total{reason=\"other\"} 1");
    assert_line(text, "# TYPE sidecar_handshakes_limited_total counter");
    assert_line(text, "sidecar_handshakes_limited_total 3");
    free(text);
    text = render(0, NW);
    assert_line(text, "accept_errors.emfile: 2");
    assert_line(text, "handshakes_limited: 3");
    free(text);
    ck_assert_str_eq(sc_accept_error_name(SC_ACCEPT_ENFILE), "enfile");
    ck_assert_str_eq(sc_accept_error_name(SC_ACCEPT_N), "-");
}
END_TEST

/* ---- sc_stats_reset ------------------------------------------------------ */

START_TEST(test_stats_reset_zeroes_counters_keeps_gauge)
{
    char *out;

    sc_stats_conn_class(w[0], SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS);
    sc_stats_handshake(w[1], SC_DIR_OUTBOUND, SC_HS_OK);
    sc_stats_request(w[2], SC_DIR_INBOUND, 8080, 200, 1, "-", 3);
    sc_stats_bytes(w[0], SC_DIR_INBOUND, 10, 20);
    sc_stats_active(w[0], 2);
    sc_stats_reset(w, NW);
    out = render(1, NW);
    assert_line(out, "sidecar_connections_total{direction=\"inbound\",port=\"8080\","
                     "classification=\"mesh_mtls\"} 0");
    assert_line(out, "sidecar_tls_handshakes_total{direction=\"outbound\",outcome=\"ok\"} 0");
    assert_line(out, "sidecar_requests_total{direction=\"inbound\",port=\"8080\","
                     "response_code=\"200\",connection_security_policy=\"mutual_tls\","
                     "response_flags=\"-\"} 0");
    assert_line(out, "sidecar_bytes_total{direction=\"inbound\",flow=\"received\"} 0");
    assert_line(out, "sidecar_connections_active 2");
    free(out);
    /* counting goes on from zero */
    sc_stats_conn_class(w[0], SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS);
    ck_assert_uint_eq(sc_stats_sum_class(w, NW, SC_DIR_INBOUND, 8080, SC_CLASS_MESH_MTLS), 1);
}
END_TEST

START_TEST(test_stats_reset_of_nothing_is_harmless)
{
    sc_stats_reset(w, 0);
    sc_stats_reset(w, NW);
    ck_assert_uint_eq(sc_stats_sum_class(w, NW, SC_DIR_INBOUND, 1, SC_CLASS_MESH_MTLS), 0);
}
END_TEST

/* ---- Istio's families (proxy/istio) ------------------------------------- */

#define CLIENT "spiffe://cluster.local/ns/foo/sa/client"
#define SERVER "spiffe://cluster.local/ns/bar/sa/server"

static struct sc_snapshot *snap;

/* A snapshot without certificates for node `id` in namespace bar. */
static struct sc_snapshot *node_snapshot(const char *id)
{
    struct sc_config *cfg = NULL;
    struct sc_snapshot *s;
    struct sc_err err;
    char yaml[256];

    snprintf(yaml, sizeof(yaml),
             "node: {id: %s, namespace: bar}\nsecrets: {sds_socket: /nonexistent}\n", id);
    ck_assert_msg(sc_config_load_string("t.yaml", yaml, &cfg, &err) == 0, "%s", err.msg);
    s = sc_snapshot_new_with(cfg, NULL, &err);
    ck_assert_ptr_nonnull(s);
    return s;
}

static void istio_setup(void)
{
    setup();
    snap = node_snapshot("server");
}

static void istio_teardown(void)
{
    sc_snapshot_unref(snap);
    snap = NULL;
    teardown();
}

/* The labels this snapshot gives an inbound request from CLIENT (our own
 * principal is unknown: the snapshot has no certificate). */
#define IN_LABELS                                                                            \
    "reporter=\"destination\",source_workload=\"client\",source_workload_namespace=\"foo\"," \
    "source_principal=\"" CLIENT "\",destination_workload=\"server\","                       \
    "destination_workload_namespace=\"bar\",destination_principal=\"unknown\","              \
    "destination_service=\"server.bar.svc.cluster.local\",destination_port=\"8080\","        \
    "request_protocol=\"http\",connection_security_policy=\"mutual_tls\""

START_TEST(test_istio_request_sums_workers_with_istio_labels)
{
    struct sc_istio_ends e = {snap, SC_DIR_INBOUND, 1, CLIENT, NULL, NULL, 8080};
    char *out;

    sc_istio_request(sc_stats_istio(w[0]), &e, 200, "-", 3, 0, 42);
    sc_istio_request(sc_stats_istio(w[2]), &e, 200, "-", 700, 5, 4200);
    out = render(1, NW);
    assert_line(out, "# TYPE istio_requests_total counter");
    assert_line(out,
                "istio_requests_total{" IN_LABELS ",response_code=\"200\",response_flags=\"-\"} 2");
    assert_line(out, "# TYPE istio_request_duration_milliseconds histogram");
    assert_line(out, "istio_request_duration_milliseconds_bucket{" IN_LABELS
                     ",response_code=\"200\",response_flags=\"-\",le=\"1\"} 0");
    assert_line(out, "istio_request_duration_milliseconds_bucket{" IN_LABELS
                     ",response_code=\"200\",response_flags=\"-\",le=\"5\"} 1");
    assert_line(out, "istio_request_duration_milliseconds_bucket{" IN_LABELS
                     ",response_code=\"200\",response_flags=\"-\",le=\"1000\"} 2");
    assert_line(out, "istio_request_duration_milliseconds_bucket{" IN_LABELS
                     ",response_code=\"200\",response_flags=\"-\",le=\"3600000\"} 2");
    assert_line(out, "istio_request_duration_milliseconds_sum{" IN_LABELS
                     ",response_code=\"200\",response_flags=\"-\"} 703");
    assert_line(out, "istio_request_bytes_bucket{" IN_LABELS
                     ",response_code=\"200\",response_flags=\"-\",le=\"1\"} 1");
    assert_line(out, "istio_response_bytes_bucket{" IN_LABELS
                     ",response_code=\"200\",response_flags=\"-\",le=\"100\"} 1");
    assert_line(out, "istio_response_bytes_count{" IN_LABELS
                     ",response_code=\"200\",response_flags=\"-\"} 2");
    /* one series, printed once although two workers hold it */
    ck_assert_int_eq(count(out, "\nistio_requests_total{"), 1);
    ck_assert_int_eq(count(out, "\nistio_request_duration_milliseconds_bucket{"), 20);
    ck_assert_int_eq(count(out, "\nistio_request_bytes_bucket{"), 9);
    assert_no_line_with(out, "istio_tcp_connections_opened_total{");
    free(out);
}
END_TEST

START_TEST(test_istio_tcp_has_no_response_code)
{
    struct sc_addr dst;
    struct sc_istio_ends e = {snap, SC_DIR_OUTBOUND, 1, SERVER, NULL, &dst, 9090};
    char *out;

    ck_assert_int_eq(sc_addr_parse("10.1.2.3:9090", &dst, NULL), 0);
    sc_istio_tcp(sc_stats_istio(w[1]), &e, "-", 1, 0, 0, 0);
    sc_istio_tcp(sc_stats_istio(w[1]), &e, "-", 0, 1, 11, 22);
    out = render(1, NW);
    assert_line(out,
                "istio_tcp_connections_closed_total{reporter=\"source\",source_workload=\"server\","
                "source_workload_namespace=\"bar\",source_principal=\"unknown\","
                "destination_workload=\"server\",destination_workload_namespace=\"bar\","
                "destination_principal=\"" SERVER "\",destination_service=\"10.1.2.3\","
                "destination_port=\"9090\",request_protocol=\"tcp\","
                "connection_security_policy=\"mutual_tls\",response_flags=\"-\"} 1");
    ck_assert_int_eq(count(out, "istio_tcp_connections_opened_total{"), 1);
    ck_assert_int_eq(count(out, "istio_tcp_received_bytes_total{"), 1);
    ck_assert_int_eq(count(out, "\"} 11\n"), 1);
    ck_assert_int_eq(count(out, "\"} 22\n"), 1);
    assert_no_line_with(out, "response_code=\"0\"");
    assert_no_line_with(out, "istio_requests_total{");
    free(out);
}
END_TEST

START_TEST(test_istio_unknown_without_mtls_or_istio_id)
{
    struct sc_istio_ends e = {snap, SC_DIR_INBOUND, 0, CLIENT, NULL, NULL, 8080};
    char l[SC_ISTIO_LABELS_MAX];

    /* no mTLS: the peer's ID is not trusted for labels */
    sc_istio_labels(&e, 1, l, sizeof(l));
    ck_assert_ptr_nonnull(strstr(l, "source_workload=\"unknown\",source_workload_namespace="
                                    "\"unknown\",source_principal=\"unknown\""));
    ck_assert_ptr_nonnull(strstr(l, "connection_security_policy=\"none\""));
    /* mTLS, but an ID not of Istio's shape: the principal, unknown parts */
    e.mtls = 1;
    e.peer_id = "spiffe://cluster.local/workload/x";
    sc_istio_labels(&e, 1, l, sizeof(l));
    ck_assert_ptr_nonnull(strstr(l, "source_workload=\"unknown\",source_workload_namespace="
                                    "\"unknown\",source_principal=\"spiffe://cluster.local/"
                                    "workload/x\""));
    /* no peer at all */
    e.peer_id = NULL;
    sc_istio_labels(&e, 0, l, sizeof(l));
    ck_assert_ptr_nonnull(strstr(l, "source_principal=\"unknown\""));
    ck_assert_ptr_nonnull(strstr(l, "request_protocol=\"tcp\""));
}
END_TEST

START_TEST(test_istio_outbound_service_host_escaped_and_cut)
{
    struct sc_addr dst;
    struct sc_istio_ends e = {snap, SC_DIR_OUTBOUND, 0, NULL, "we\"ird\\host", &dst, 80};
    char host[600], l[SC_ISTIO_LABELS_MAX];

    ck_assert_int_eq(sc_addr_parse("[fd00::1]:80", &dst, NULL), 0);
    sc_istio_labels(&e, 1, l, sizeof(l));
    ck_assert_ptr_nonnull(
        strstr(l, "destination_service=\"we\\\"ird\\\\host.bar.svc.cluster.local\""));
    e.host = "reviews"; /* a short name, as Istio: in node.namespace */
    sc_istio_labels(&e, 1, l, sizeof(l));
    ck_assert_ptr_nonnull(strstr(l, "destination_service=\"reviews.bar.svc.cluster.local\""));
    e.host = "reviews.foo.svc.cluster.local";
    sc_istio_labels(&e, 1, l, sizeof(l));
    ck_assert_ptr_nonnull(strstr(l, "destination_service=\"reviews.foo.svc.cluster.local\""));
    e.host = NULL;
    sc_istio_labels(&e, 1, l, sizeof(l));
    ck_assert_ptr_nonnull(strstr(l, "destination_service=\"fd00::1\""));
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    e.host = host;
    sc_istio_labels(&e, 1, l, sizeof(l));
    ck_assert_ptr_nonnull(strstr(l, "destination_service=\"hhh"));
    ck_assert_ptr_null(strstr(l, host)); /* cut at SC_ISTIO_VALUE_MAX */
}
END_TEST

START_TEST(test_istio_series_are_bounded_with_overflow)
{
    struct sc_istio *t = sc_stats_istio(w[0]);
    struct sc_istio_ends e = {snap, SC_DIR_INBOUND, 1, CLIENT, NULL, NULL, 0};
    char *out;

    for (int p = 1; p <= SC_ISTIO_MAX_SERIES + 100; p++) {
        e.port = p;
        sc_istio_tcp(t, &e, "-", 1, 0, 0, 0);
    }
    ck_assert_uint_eq(sc_istio_series(t), SC_ISTIO_MAX_SERIES + 1);
    /* full: an HTTP request gets the HTTP overflow series */
    sc_istio_request(t, &e, 200, "-", 1, 0, 0);
    sc_istio_request(t, &e, 404, "NR", 1, 0, 0);
    ck_assert_uint_eq(sc_istio_series(t), SC_ISTIO_MAX_SERIES + 2);
    out = render(1, NW);
    assert_line(out, "istio_tcp_connections_opened_total{reporter=\"destination\","
                     "source_workload=\"overflow\",source_workload_namespace=\"overflow\","
                     "source_principal=\"overflow\",destination_workload=\"overflow\","
                     "destination_workload_namespace=\"overflow\",destination_principal="
                     "\"overflow\",destination_service=\"overflow\",destination_port="
                     "\"overflow\",request_protocol=\"tcp\",connection_security_policy="
                     "\"overflow\",response_flags=\"overflow\"} 100");
    assert_line(out, "istio_requests_total{reporter=\"destination\",source_workload=\"overflow\","
                     "source_workload_namespace=\"overflow\",source_principal=\"overflow\","
                     "destination_workload=\"overflow\",destination_workload_namespace="
                     "\"overflow\",destination_principal=\"overflow\",destination_service="
                     "\"overflow\",destination_port=\"overflow\",request_protocol=\"http\","
                     "connection_security_policy=\"overflow\",response_code=\"overflow\","
                     "response_flags=\"overflow\"} 2");
    ck_assert_int_eq(count(out, "\nistio_tcp_connections_opened_total{"), SC_ISTIO_MAX_SERIES + 1);
    ck_assert_int_eq(count(out, "\nistio_requests_total{"), 1);
    free(out);
}
END_TEST

START_TEST(test_istio_repeated_labels_follow_every_change)
{
    struct sc_istio *t = sc_stats_istio(w[0]);
    struct sc_istio_ends e = {snap, SC_DIR_INBOUND, 1, CLIENT, NULL, NULL, 8080};
    struct sc_snapshot *other;
    char *out;

    sc_istio_request(t, &e, 200, "-", 1, 0, 0);
    e.peer_id = "spiffe://cluster.local/ns/baz/sa/other";
    sc_istio_request(t, &e, 200, "-", 1, 0, 0);
    e.peer_id = CLIENT;
    sc_istio_request(t, &e, 200, "-", 1, 0, 0);
    e.port = 8081;
    sc_istio_request(t, &e, 200, "-", 1, 0, 0);
    e.port = 8080;
    e.mtls = 0;
    sc_istio_request(t, &e, 200, "-", 1, 0, 0);
    e.mtls = 1;
    sc_istio_tcp(t, &e, "-", 1, 0, 0, 0);
    other = node_snapshot("renamed");
    e.snap = other;
    sc_istio_request(t, &e, 200, "-", 1, 0, 0);
    ck_assert_uint_eq(sc_istio_series(t), 6);
    out = render(1, NW);
    assert_line(out,
                "istio_requests_total{" IN_LABELS ",response_code=\"200\",response_flags=\"-\"} 2");
    ck_assert_int_eq(count(out, "source_workload=\"other\",source_workload_namespace=\"baz\""),
                     1 + 20 + 2 + 9 * 2 + 4);
    ck_assert_int_eq(count(out, "\nistio_requests_total{reporter=\"destination\",source_workload="
                                "\"client\",source_workload_namespace=\"foo\",source_principal="
                                "\"" CLIENT "\",destination_workload=\"renamed\""),
                     1);
    ck_assert_int_eq(count(out, "destination_port=\"8081\",request_protocol=\"http\","
                                "connection_security_policy=\"mutual_tls\",response_code=\"200\","
                                "response_flags=\"-\"} 1\n"),
                     5); /* the count, the duration's sum, the three histograms' counts */
    ck_assert_int_eq(count(out, "\nistio_tcp_connections_opened_total{"), 1);
    free(out);
    sc_snapshot_unref(other);
}
END_TEST

START_TEST(test_istio_reset_keeps_series)
{
    struct sc_istio_ends e = {snap, SC_DIR_INBOUND, 1, CLIENT, NULL, NULL, 8080};
    char *out;

    sc_istio_request(sc_stats_istio(w[0]), &e, 503, "UF", 9, 1, 1);
    sc_stats_reset(w, NW);
    ck_assert_uint_eq(sc_istio_series(sc_stats_istio(w[0])), 1);
    out = render(1, NW);
    assert_line(out, "istio_requests_total{" IN_LABELS
                     ",response_code=\"503\",response_flags=\"UF\"} 0");
    assert_line(out, "istio_request_duration_milliseconds_count{" IN_LABELS
                     ",response_code=\"503\",response_flags=\"UF\"} 0");
    free(out);
}
END_TEST

START_TEST(test_istio_free_accepts_null)
{
    sc_istio_free(NULL);
}
END_TEST

static void addr(struct sc_addr *a, const char *s)
{
    const char *why = NULL;

    ck_assert_int_eq(sc_addr_parse(s, a, &why), 0);
}

START_TEST(test_stats_nonmesh_counts_the_last_hour_and_last_client)
{
    struct sc_stats_nonmesh_sum sum;
    struct sc_addr a1, a2;
    char as[SC_ADDR_STRLEN];
    time_t t0 = 1700000000;

    addr(&a1, "10.0.0.1:4000");
    addr(&a2, "[fd00::2]:5000");
    sc_stats_nonmesh(w[0], 9090, SC_CLASS_PLAINTEXT, &a1, t0 - 7200); /* too old */
    sc_stats_nonmesh(w[0], 9090, SC_CLASS_PLAINTEXT, &a1, t0 - 600);
    sc_stats_nonmesh(w[1], 9090, SC_CLASS_APP_TLS, &a2, t0 - 60);
    sc_stats_nonmesh(w[1], 9090, SC_CLASS_MESH_MTLS, &a1, t0); /* not counted */
    sc_stats_nonmesh(w[2], 8080, SC_CLASS_PLAINTEXT, &a1, t0); /* another port */
    sc_stats_sum_nonmesh(w, NW, 9090, t0, &sum);
    ck_assert_uint_eq(sum.plaintext, 1);
    ck_assert_uint_eq(sum.app_tls, 1);
    ck_assert_int_eq(sum.has_last, 1);
    ck_assert_int_eq((long)sum.last_at, (long)(t0 - 60));
    ck_assert_str_eq(sc_addr_str(&sum.last_peer, as, sizeof(as)), "[fd00::2]:5000");
    /* an hour later, nothing is left */
    sc_stats_sum_nonmesh(w, NW, 9090, t0 + 3700, &sum);
    ck_assert_uint_eq(sum.plaintext + sum.app_tls, 0);
    ck_assert_int_eq(sum.has_last, 0);
    sc_stats_sum_nonmesh(w, NW, 1234, t0, &sum);
    ck_assert_uint_eq(sum.plaintext, 0);
}
END_TEST

START_TEST(test_stats_nonmesh_ignores_ports_past_its_table)
{
    struct sc_stats_nonmesh_sum sum;
    struct sc_addr a;
    time_t t0 = 1700000000;

    addr(&a, "10.0.0.1:4000");
    for (int p = 1; p <= 100; p++) {
        sc_stats_nonmesh(w[0], p, SC_CLASS_PLAINTEXT, &a, t0);
    }
    sc_stats_sum_nonmesh(w, NW, 1, t0, &sum);
    ck_assert_uint_eq(sum.plaintext, 1);
    sc_stats_sum_nonmesh(w, NW, 100, t0, &sum);
    ck_assert_uint_eq(sum.plaintext, 0);
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("sc_stats_sum_class");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stats_sum_class_adds_workers);
    tcase_add_test(tc, test_stats_sum_class_keeps_keys_apart);
    tcase_add_test(tc, test_stats_port_range_ends_are_distinct);
    tcase_add_test(tc, test_stats_many_ports_fold_into_port_zero);
    tcase_add_test(tc, test_stats_many_ports_render_without_crashing);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_stats_render");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stats_prometheus_renders_exact_lines);
    tcase_add_test(tc, test_stats_hbone_counters_sum_workers_by_direction);
    tcase_add_test(tc, test_stats_prometheus_is_well_formed);
    tcase_add_test(tc, test_stats_prometheus_escapes_root_subject_label);
    tcase_add_test(tc, test_stats_prometheus_empty_has_zeroes);
    tcase_add_test(tc, test_stats_prometheus_orders_ports);
    tcase_add_test(tc, test_stats_text_renders_exact_lines);
    tcase_add_test(tc, test_stats_accept_errors_and_limited_handshakes_sum_workers);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_stats_reset");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stats_reset_zeroes_counters_keeps_gauge);
    tcase_add_test(tc, test_stats_reset_of_nothing_is_harmless);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_istio");
    tcase_add_checked_fixture(tc, istio_setup, istio_teardown);
    tcase_add_test(tc, test_istio_request_sums_workers_with_istio_labels);
    tcase_add_test(tc, test_istio_tcp_has_no_response_code);
    tcase_add_test(tc, test_istio_unknown_without_mtls_or_istio_id);
    tcase_add_test(tc, test_istio_outbound_service_host_escaped_and_cut);
    tcase_add_test(tc, test_istio_series_are_bounded_with_overflow);
    tcase_add_test(tc, test_istio_repeated_labels_follow_every_change);
    tcase_add_test(tc, test_istio_reset_keeps_series);
    tcase_add_test(tc, test_istio_free_accepts_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_stats_nonmesh");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stats_nonmesh_counts_the_last_hour_and_last_client);
    tcase_add_test(tc, test_stats_nonmesh_ignores_ports_past_its_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("names");
    tcase_add_test(tc, test_stats_names);
    tcase_add_test(tc, test_stats_free_accepts_null);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stats_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
