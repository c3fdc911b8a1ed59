/* HBONE, the client's side of a tunnel and what its pool asks of one:
 * opening a CONNECT stream for an app connection (its end an sc_io: a
 * socket, or one end of an in-process pair), the 200 that makes it ready,
 * cancelling it, and the tunnel's stream counts and identity
 * (hbone_internal.h; hbone.c is the tunnel itself). */

#include "hbone.h"

#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2nv.h"
#include "hbone_internal.h"
#include "io.h"
#include "log.h"
#include "snapshot.h"
#include "stats.h"
#include "wctx.h"

size_t sc_hbone_tunnel_streams(const struct sc_hbone_tunnel *t)
{
    return t->n_open;
}

int sc_hbone_tunnel_has_room(const struct sc_hbone_tunnel *t, size_t max)
{
    uint32_t peer_max;

    if (t->ended || t->draining || t->goaway) {
        return 0;
    }
    peer_max = nghttp2_session_get_remote_settings(t->ngh, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return t->n_open < max && t->n_open < peer_max;
}

size_t sc_hbone_tunnel_finishing(const struct sc_hbone_tunnel *t)
{
    size_t n = 0;

    for (const struct sc_hbone_stream *s = LIST_FIRST(&t->streams); s != NULL;
         s = LIST_NEXT(s, link)) {
        n += s->local_eof || s->remote_eof;
    }
    return n;
}

unsigned long long sc_hbone_tunnel_id(const struct sc_hbone_tunnel *t)
{
    return t->peer.tunnel_id;
}

const char *sc_hbone_tunnel_peer_id(const struct sc_hbone_tunnel *t)
{
    return t->peer_id;
}

/* ---- client streams ------------------------------------------------------- */

void sc_hbone_i_client_response(struct sc_hbone_stream *s)
{
    struct sc_hbone_tunnel *t = s->t;

    s->status = s->resp_status;
    if (s->status == 200) {
        sc_stats_hbone(sc_wctx_stats(t->w), t->dir, SC_HBONE_STREAM_OPENED);
        if (s->deferred) {
            s->deferred = 0;
            nghttp2_session_resume_data(t->ngh, s->id);
        }
        if (s->ready != NULL && s->done != NULL) {
            struct sc_hbone_stream_end e;

            memset(&e, 0, sizeof(e));
            e.status = 200;
            e.stream_id = s->id;
            e.tunnel_id = t->peer.tunnel_id;
            s->ready(s->arg, &e);
        }
        return;
    }
    sc_stats_hbone(sc_wctx_stats(t->w), t->dir, SC_HBONE_STREAM_REFUSED);
    sc_hbone_i_stream_set_reason(s, "hbone_refused: the peer answered %d to CONNECT", s->status);
    nghttp2_submit_rst_stream(t->ngh, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
}

struct sc_hbone_stream *sc_hbone_stream_open(struct sc_hbone_tunnel *t, struct sc_io *io,
                                             const char *authority, const char *forwarded_for,
                                             sc_hbone_stream_ready_fn *ready,
                                             sc_hbone_stream_done_fn *done, void *arg)
{
    struct sc_hbone_stream *s = NULL;
    nghttp2_data_provider prov;
    nghttp2_nv h[3];
    size_t nh = 2;
    char fwd[80];

    sc_hbone_i_enter(t);
    s = sc_hbone_i_stream_new(t);
    if (s == NULL) {
        sc_io_abort(io);
        goto out;
    }
    if (sc_hbone_i_stream_attach_io(s, io) != 0) {
        s->h2_closed = 1;
        sc_hbone_i_stream_free(s, 1);
        s = NULL;
        goto out;
    }
    h[0] = sc_h2_nv(":method", "CONNECT");
    h[1] = sc_h2_nv(":authority", authority);
    if (forwarded_for != NULL) {
        snprintf(fwd, sizeof(fwd), "for=%s", forwarded_for);
        h[nh++] = sc_h2_nv("forwarded", fwd);
    }
    prov.source.ptr = s;
    prov.read_callback = sc_hbone_i_data_read;
    s->deferred = 1; /* the local socket is read once the 200 is in */
    s->id = nghttp2_submit_request(t->ngh, NULL, h, nh, &prov, s);
    if (s->id < 0) {
        s->h2_closed = 1;
        s->id = 0;
        sc_hbone_i_stream_free(s, 1);
        s = NULL;
        goto out;
    }
    s->ready = ready;
    s->done = done;
    s->arg = arg;
    /* sent from the tunnel's own callback in this loop turn, with every
     * other stream opened meanwhile (and no callback from within here) */
    event_active(t->ev, EV_WRITE, 0);
out:
    sc_hbone_i_leave(t);
    return s;
}

void sc_hbone_stream_cancel(struct sc_hbone_stream *s)
{
    struct sc_hbone_tunnel *t;

    if (s == NULL) {
        return;
    }
    t = s->t;
    s->done = NULL;
    s->ready = NULL;
    sc_hbone_i_enter(t);
    sc_hbone_i_stream_reset(s, NGHTTP2_CANCEL);
    sc_hbone_i_tunnel_pump(t);
    sc_hbone_i_leave(t);
}
