#ifndef SC_HBONE_POOL_H
#define SC_HBONE_POOL_H

#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "hbone_out.h"

/* Outbound HBONE: a worker's pool of HTTP/2 mTLS tunnels, one set per
 * (snapshot, destination address, expected identities), and the CONNECT
 * stream each app connection becomes.  A stream joins the fullest tunnel
 * that is up with room (hbone.max_streams_per_connection, the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS), else one still connecting with room,
 * else it waits one turn of the loop (the streams that turn shows
 * finished free their slots first) and only then is a new tunnel dialed,
 * shared by every stream still without room up to the limit: no handshake
 * per app connection, and no more tunnels than the streams need.  A
 * tunnel with no stream closes after hbone.idle_ms.  A stream whose tunnel
 * fails before its 200 (connect, handshake, identity, the tunnel closing,
 * REFUSED_STREAM) is tried once more on a tunnel opened after the failure
 * (the streams retried from one failure share it); after that the app
 * connection is reset and the reason reported.  A new snapshot (rotation,
 * reload) gets new tunnels; those of the old one finish their streams and
 * idle out.  A drain (sc_hbone_pool_drain) sends GOAWAY on every tunnel:
 * no new stream joins them, their open streams finish, then they close.
 *
 * Worker thread only. */

struct sc_io;
struct sc_snapshot;
struct sc_wctx;
struct sc_hbone_pool;
struct sc_hbone_out;

struct sc_hbone_pool *sc_hbone_pool_new(struct sc_wctx *w);
/* Closes every tunnel (their streams are reset, without callbacks).
 * Accepts NULL. */
void sc_hbone_pool_free(struct sc_hbone_pool *p);

/* The worker drains: every tunnel takes no new stream and sends GOAWAY,
 * its open streams finish, then it closes ("drained").  A stream opened
 * after this (an HTTP session still finishing its request) gets a tunnel
 * of its own that drains the same way once its streams are on it.
 * Accepts NULL. */
void sc_hbone_pool_drain(struct sc_hbone_pool *p);


/* Takes io, the stream's local end: an app connection's socket (L4), or
 * one end of an in-process pair (sc_io_pair_new) whose other end is an
 * HTTP session's upstream connection (L7, proxy/http/upool.c); closed, or
 * reset, by the stream.  It is read only after the 200, so a retry on
 * another tunnel loses nothing.  done() is called exactly once, never from
 * within this call.  NULL on allocation failure (io aborted). */
struct sc_hbone_out *sc_hbone_out_open_io(struct sc_hbone_pool *p,
                                          const struct sc_hbone_out_req *req, struct sc_io *io,
                                          sc_hbone_out_done_fn *done, void *arg);
/* The same for an app connection's socket fd (taken). */
struct sc_hbone_out *sc_hbone_out_open(struct sc_hbone_pool *p, const struct sc_hbone_out_req *req,
                                       int fd, sc_hbone_out_done_fn *done, void *arg);

/* The app connection's owner is going away: reset; done() not called.
 * Accepts NULL. */
void sc_hbone_out_cancel(struct sc_hbone_out *o);

#endif
