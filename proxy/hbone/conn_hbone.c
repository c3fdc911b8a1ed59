#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "conn_internal.h"
#include "hbone.h"
#include "hbone_pool.h"
#include "io.h"
#include "snapshot.h"

/* A connection as HBONE sees it (conn_internal.h): an HBONE listener's
 * tunnel, a CONNECT stream of an inbound tunnel served as a connection of
 * its own, and an outbound connection carried as a CONNECT stream on a
 * pooled tunnel.  Part of the conn module; the tunnels themselves are
 * proxy/hbone/hbone.c's. */

/* Inbound: the tunnel's handshake is done; HTTP/2 takes the connection. */
static void on_hbone_done(void *arg, const char *reason, uint64_t streams, const uint64_t bytes[2])
{
    struct sc_conn *c = arg;

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    c->hbone = NULL; /* it frees itself when we return */
    c->hb_streams = streams;
    c->bytes[0] = bytes[0];
    c->bytes[1] = bytes[1];
    sc_conn_finish(c, "%s", reason);
}

void sc_conn_hbone_tunnel(struct sc_conn *c, SSL *ssl)
{
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    struct sc_hbone_peer peer;

    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
        sc_conn_finish(c, "hbone_refused: the client did not offer ALPN h2");
        return;
    }
    memset(&peer, 0, sizeof(peer));
    peer.tunnel_id = c->id;
    peer.addr = c->down_addr;
    peer.peer_id = c->peer_id;
    peer.tls_version = c->tls_version;
    peer.listener = c->lname;
    c->action = "while serving HBONE";
    c->hbone = sc_hbone_server_new(c->w, c->snap, c->down, &peer, on_hbone_done, c);
    c->down = NULL; /* the tunnel's now, even when it failed */
    if (c->hbone == NULL) {
        sc_conn_finish(c, "internal_error: hbone");
    }
}

/* Outbound: the app connection is a CONNECT stream on a pooled tunnel. */
static void on_hbone_out_done(void *arg, const struct sc_hbone_out_end *e)
{
    struct sc_conn *c = arg;

    SC_MAGIC_CHECK(c, SC_MAGIC_CONN);
    c->hout = NULL;
    c->bytes[0] = e->bytes[0];
    c->bytes[1] = e->bytes[1];
    c->hb_tunnel = e->tunnel_id;
    c->hb_stream = e->stream_id;
    if (e->peer_id != NULL && e->peer_id[0] != '\0') {
        free(c->peer_id);
        c->peer_id = strdup(e->peer_id);
    }
    if (e->tls_version != NULL) {
        c->tls_version = e->tls_version;
    }
    if (e->status == 200) {
        sc_conn_classify(c, SC_CLASS_MESH_MTLS);
        c->tcp_state = TCP_OPENED;
        sc_conn_count_tcp(c, 1, 0, "-");
    }
    sc_conn_finish(c, "%s", e->reason);
}

void sc_conn_hbone_out(struct sc_conn *c)
{
    struct sc_hbone_out_req req;
    int fd = c->fd;

    memset(&req, 0, sizeof(req));
    req.snap = c->snap;
    req.dst = c->has_orig ? c->orig_dst : c->up_addr; /* capture, or the listener's upstream */
    req.hbone_port = c->hb_port;
    req.expected = c->principals;
    req.host = c->host;
    req.source = &c->down_addr;
    req.connect_ms = c->to->connect_ms;
    req.handshake_ms = c->to->handshake_ms;
    req.mark = c->cfg->socket_mark;
    c->fd = -1;
    c->action = "while tunnelling over HBONE";
    c->up_tried = 1;
    c->up_addr = req.dst;
    sc_addr_set_port(&c->up_addr, req.hbone_port);
    c->tcp_state = TCP_CONNECTING;
    c->hb_stream = 0;
    evtimer_del(c->timer);
    c->hout = sc_hbone_out_open(sc_wctx_hbone_pool(c->w), &req, fd, on_hbone_out_done, c);
    if (c->hout == NULL) {
        sc_conn_finish(c, "internal_error: out of memory");
    }
}

/* An HBONE listener's connection: a tunnel's mTLS, then HTTP/2. */
void sc_conn_hbone_listener(struct sc_conn *c)
{
    c->hbone_listener = 1;
    c->hb_tunnel = c->id;
    c->hb_stream = -1;
    sc_conn_wait_first_bytes(c);
}

void sc_conn_accept_hbone(struct sc_wctx *w, int fd, const struct sc_conn_hbone *h)
{
    struct sc_conn *c =
        sc_conn_new(w, NULL, fd, (const struct sockaddr *)&h->peer_addr.ss, (int)h->peer_addr.len);
    const char *host;
    struct sc_route r;

    if (c == NULL) {
        sc_io_free(h->io);
        return;
    }
    c->dio = h->io;
    c->lname = "hbone";
    c->dir = SC_DIR_INBOUND;
    host = c->cfg->inbound.app_host != NULL ? c->cfg->inbound.app_host : "127.0.0.1";
    c->hb_tunnel = h->tunnel_id;
    c->hb_stream = h->stream_id;
    c->tls_version = h->tls_version;
    c->peer_id = h->peer_id != NULL ? strdup(h->peer_id) : NULL;
    if (h->peer_cert != NULL && X509_up_ref(h->peer_cert) == 1) {
        c->hb_cert = h->peer_cert;
    }
    if (c->timer == NULL || sc_addr_from_host(host, h->port, &c->orig_dst) != 0) {
        sc_conn_finish(c, "internal_error: hbone stream");
        return;
    }
    c->has_orig = 1;
    sc_route_hbone_stream(c->cfg, h->port, &r);
    sc_conn_apply_route(c, &r);
    if (r.action == SC_ROUTE_REFUSE) {
        sc_conn_finish(c, "%s", r.reason);
        return;
    }
    sc_conn_classify(c, SC_CLASS_MESH_MTLS);
    if (c->dio != NULL && c->proto != SC_PROTO_HTTP) {
        sc_conn_finish(c, "internal_error: hbone stream for an http port");
        return;
    }
    sc_conn_serve(c);
}
