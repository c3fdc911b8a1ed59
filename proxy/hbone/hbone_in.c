/* The server side of HBONE: the answer to one CONNECT stream (judged by
 * proxy/hbone/hbone_req.c), the app connection it asks for (plain, on
 * inbound.app_host), and, for protocol http ports, the hand-off of the
 * stream's bytes to the HTTP session (an in-process sc_io pair). */
#include "hbone_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "escape.h"
#include "io.h"
#include "l7_internal.h"
#include "log.h"

#include "snapshot.h"
#include "stats.h"
#include "wctx.h"

static long ms_since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* ---- the stream's log lines ------------------------------------------------ */

/* An inbound TCP stream's access-log record, as conn.c writes one for a
 * connection (HTTP ports: the HTTP session logs each request). */
static void stream_access_log(struct sc_hbone_stream *s, long ms)
{
    struct sc_hbone_tunnel *t = s->t;
    struct sc_accesslog_rec rec;
    char a[SC_ADDR_STRLEN], cluster[40], hb[48];

    sc_accesslog_rec_init_ago(&rec, ms);
    rec.flags = s->status == 503 ? SC_ACCESSLOG_UF : 0;
    rec.bytes_received = s->bytes[1];
    rec.bytes_sent = s->bytes[0];
    rec.duration_ms = ms;
    if (s->up_tried) {
        sc_accesslog_rec_sets(&rec, SC_ACCESSLOG_UPSTREAM_HOST,
                              sc_addr_str(&s->tgt.app, a, sizeof(a)));
    }
    sc_accesslog_rec_sets(&rec, SC_ACCESSLOG_PEER_ID, t->peer_id);
    snprintf(cluster, sizeof(cluster), "inbound|%d||", s->tgt.port);
    sc_accesslog_rec_sets(&rec, SC_ACCESSLOG_UPSTREAM_CLUSTER, cluster);
    sc_accesslog_rec_sets(&rec, SC_ACCESSLOG_DOWNSTREAM_LOCAL_ADDRESS, s->req.authority);
    sc_accesslog_rec_sets(&rec, SC_ACCESSLOG_DOWNSTREAM_REMOTE_ADDRESS,
                          sc_addr_str(&t->peer.addr, a, sizeof(a)));
    sc_accesslog_rec_sets(&rec, SC_ACCESSLOG_ROUTE_NAME, t->peer.listener);
    snprintf(hb, sizeof(hb), "%llu/%d", t->peer.tunnel_id, (int)s->id);
    sc_accesslog_rec_sets(&rec, SC_ACCESSLOG_HBONE, hb);
    sc_accesslog_sink_log(sc_l7_access_log, (unsigned)sc_wctx_id(t->w), &rec);
}

void sc_hbone_i_stream_log(struct sc_hbone_stream *s)
{
    struct sc_hbone_tunnel *t = s->t;
    char line[2600], da[SC_ADDR_STRLEN], ua[SC_ADDR_STRLEN], peer[512], end[400];

    if (t == NULL || t->client) {
        return;
    }
    /* an HTTP port's stream: the HTTP session logs its requests */
    if (sc_accesslog_sink_enabled(sc_l7_access_log) &&
        (s->tgt.protocol == SC_PROTO_TCP || s->status != 200)) {
        stream_access_log(s, ms_since(&s->t0));
    }
    if (!sc_log_record_enabled()) {
        return;
    }
    snprintf(
        line, sizeof(line),
        "%s conn id=%llu dir=inbound listener=%s port=%d mode=%s class=%s down=%s up=%s "
        "orig_dst=%s tls=%s peer=%s peer_root=- session=- bytes_received=%llu "
        "bytes_sent=%llu duration_ms=%ld hbone=%llu stream=%d status=%d end=%s",
        s->started, s->conn_id, t->peer.listener, s->tgt.port, sc_mtls_mode_name(s->tgt.mode),
        s->status == 200 ? "mesh_mtls" : "refused", sc_addr_str(&t->peer.addr, da, sizeof(da)),
        s->up_tried ? sc_addr_str(&s->tgt.app, ua, sizeof(ua)) : "-",
        s->req.authority[0] != '\0' ? s->req.authority : "-",
        t->peer.tls_version != NULL ? t->peer.tls_version : "-",
        sc_escape_text_str(t->peer_id, peer, sizeof(peer)), (unsigned long long)s->bytes[1],
        (unsigned long long)s->bytes[0], ms_since(&s->t0), t->peer.tunnel_id, (int)s->id, s->status,
        sc_escape_text_str(s->reason[0] != '\0' ? s->reason : "peer_closed", end, sizeof(end)));
    sc_log_record(line, strlen(line));
}

/* ---- the answer ------------------------------------------------------------- */

static void refuse(struct sc_hbone_stream *s, int status, const char *why)
{
    struct sc_hbone_tunnel *t = s->t;

    snprintf(s->reason, sizeof(s->reason), "hbone_refused: %d %s", status, why);
    sc_stats_hbone(sc_wctx_stats(t->w), t->dir, SC_HBONE_STREAM_REFUSED);
    if (sc_hbone_i_stream_submit_response(s, status, why) != 0) {
        nghttp2_submit_rst_stream(t->ngh, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    }
}

static void answer_200(struct sc_hbone_stream *s)
{
    struct sc_hbone_tunnel *t = s->t;

    if (sc_hbone_i_stream_submit_response(s, 200, NULL) != 0) {
        nghttp2_submit_rst_stream(t->ngh, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    sc_stats_hbone(sc_wctx_stats(t->w), t->dir, SC_HBONE_STREAM_OPENED);
}

static void established(struct sc_hbone_stream *s, int fd)
{
    if (sc_hbone_i_stream_attach_local(s, fd) != 0) {
        refuse(s, 503, "internal_error: out of memory");
        return;
    }
    answer_200(s);
}

static void established_io(struct sc_hbone_stream *s, struct sc_io *io)
{
    if (sc_hbone_i_stream_attach_io(s, io) != 0) {
        refuse(s, 503, "internal_error: out of memory");
        return;
    }
    answer_200(s);
}

static void on_app_connect(evutil_socket_t fd, short what, void *arg)
{
    struct sc_hbone_stream *s = arg;
    struct sc_hbone_tunnel *t = s->t;
    int err = 0;
    socklen_t len = sizeof(err);
    char why[200];

    event_free(s->connect_ev);
    s->connect_ev = NULL;
    s->local_fd = -1;
    if (what & EV_TIMEOUT) {
        close(fd);
        refuse(s, 503, "upstream_connect_timeout");
    } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        close(fd);
        snprintf(why, sizeof(why), "upstream_connect_failed: %s", strerror(err != 0 ? err : errno));
        refuse(s, 503, why);
    } else {
        established(s, fd);
    }
    sc_hbone_i_tunnel_kick(t);
}

static void connect_app(struct sc_hbone_stream *s)
{
    struct sc_hbone_tunnel *t = s->t;
    const struct sc_config *cfg = sc_snapshot_config(t->snap);
    int fd = socket(s->tgt.app.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    char why[200];
    struct timeval tv;

    s->up_tried = 1;
    if (fd < 0) {
        snprintf(why, sizeof(why), "upstream_connect_failed: socket: %s", strerror(errno));
        refuse(s, 503, why);
        return;
    }
    if (cfg->socket_mark != 0) {
        unsigned mark = cfg->socket_mark;

        (void)setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
    }
    if (connect(fd, (const struct sockaddr *)&s->tgt.app.ss, s->tgt.app.len) == 0) {
        established(s, fd);
        return;
    }
    if (errno != EINPROGRESS) {
        snprintf(why, sizeof(why), "upstream_connect_failed: %s", strerror(errno));
        close(fd);
        refuse(s, 503, why);
        return;
    }
    s->local_fd = fd;
    s->connect_ev = event_new(sc_wctx_base(t->w), fd, EV_WRITE, on_app_connect, s);
    tv.tv_sec = s->tgt.timeouts->connect_ms / 1000;
    tv.tv_usec = (s->tgt.timeouts->connect_ms % 1000) * 1000;
    if (s->connect_ev == NULL || event_add(s->connect_ev, &tv) != 0) {
        refuse(s, 503, "internal_error: event_new");
    }
}

/* protocol http (or auto) ports: the stream's bytes go to the HTTP session
 * as if they had come on a connection of their own; the session connects
 * to the app and answers for it (503 when it is down).  An http port's
 * session reads and writes the stream through an in-process pair of
 * sc_io ends (no socket, no system call per chunk); an auto port's
 * sniffer peeks at a socket, so it gets one end of a socketpair. */
static void hand_to_http(struct sc_hbone_stream *s)
{
    struct sc_hbone_tunnel *t = s->t;
    struct sc_conn_hbone info;
    struct sc_io *ends[2] = {NULL, NULL};
    int sv[2] = {-1, -1};

    if (s->tgt.protocol == SC_PROTO_HTTP) {
        if (sc_io_pair_new(ends) != 0) {
            refuse(s, 503, "internal_error: out of memory");
            return;
        }
    } else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        char why[160];

        snprintf(why, sizeof(why), "internal_error: socketpair: %s", strerror(errno));
        refuse(s, 503, why);
        return;
    }
    memset(&info, 0, sizeof(info));
    info.port = s->tgt.port;
    info.peer_addr = t->peer.addr;
    info.peer_id = t->peer_id;
    info.tls_version = t->peer.tls_version;
    info.peer_cert = t->peer_cert;
    info.tunnel_id = t->peer.tunnel_id;
    info.stream_id = s->id;
    info.io = ends[1];
    s->up_tried = 1;
    s->http = 1;
    if (ends[0] != NULL) {
        established_io(s, ends[0]);
    } else {
        established(s, sv[0]);
    }
    sc_wctx_hbone_accept(t->w, sv[1], &info);
}

void sc_hbone_i_server_request(struct sc_hbone_stream *s)
{
    struct sc_hbone_tunnel *t = s->t;
    char why[300];
    int status = sc_hbone_req_decide(&s->req, sc_snapshot_config(t->snap), t->peer_id, &s->tgt, why,
                                     sizeof(why));

    if (status != 200) {
        refuse(s, status, why);
        return;
    }
    if (s->tgt.protocol != SC_PROTO_TCP) {
        hand_to_http(s);
        return;
    }
    connect_app(s);
}
