#ifndef SC_IO_H
#define SC_IO_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <sys/types.h>

struct bufferevent;
struct event;
struct event_base;
struct evbuffer;
struct sc_io;
struct sc_io_sweep;

/* One side of a data connection on a raw non-blocking socket, with or
 * without TLS: the I/O layer under the relay.  No bufferevent, no FIONREAD,
 * no per-operation event changes: the owner registers the fd once
 * (edge-triggered, persistent, read and write) and reports each wake-up
 * with sc_io_ready(); the object remembers which readiness each direction
 * waits for, so sc_io_can_read() / sc_io_can_write() say whether trying
 * again can make progress.
 *
 * TLS: SSL_read / SSL_write directly, read-ahead on, so one read(2) serves
 * several records; a read loop runs until OpenSSL has nothing more (a
 * record already read ahead is delivered without a new socket event).
 * After SSL_write returns WANT_WRITE the caller retries with the same
 * bytes (at least as many), which its fixed buffer guarantees.
 *
 * Ownership: sc_io_new takes the fd and the SSL; sc_io_free closes and
 * frees both. */

#define SC_IO_BUF_SIZE 16384 /* one TLS record of plaintext */
#define SC_IO_BULK_SIZE 65536 /* a bulk relay direction's reads and writes */

enum {
    SC_IO_AGAIN = -1, /* would block: wait for the readiness it named */
    SC_IO_ERROR = -2, /* reset, or a TLS failure: see sc_io_error() */
};

struct sc_io *sc_io_new(int fd, SSL *ssl);
void sc_io_free(struct sc_io *io);

/* Two connected ends in one thread, with no socket: what one end writes
 * (up to 256 KiB unread, as a socket buffer) the other reads, shutdown is
 * the other's end of stream, sc_io_free a close and sc_io_abort a reset.
 * An HBONE stream hands its bytes to the HTTP session this way, with no
 * copy through the kernel and no system call.  An end has no fd
 * (sc_io_fd is -1): its owner makes an event with fd -1 and gives it to
 * sc_io_set_event, which the other end makes active (EV_READ, EV_WRITE,
 * EV_CLOSED) as a socket's readiness would.  Each end is freed by its
 * owner.  0, or -1 (out of memory). */
int sc_io_pair_new(struct sc_io *ends[2]);
/* The event to make active (a pair's end; nothing for a socket), or NULL
 * before the owner frees it.  Setting one reports both directions once, as
 * a socket's first edge does. */
void sc_io_set_event(struct sc_io *io, struct event *ev);
/* Frees with a reset: a socket closes with a TCP RST (SO_LINGER 0), a
 * pair's other end reads ECONNRESET. */
void sc_io_abort(struct sc_io *io);

int sc_io_fd(const struct sc_io *io);
SSL *sc_io_ssl(const struct sc_io *io);

/* The owner's event fired with `what` (EV_READ, EV_WRITE, EV_CLOSED: the
 * owner registers EV_CLOSED too, so a FIN that arrives with the last bytes
 * is not missed). */
void sc_io_ready(struct sc_io *io, short what);
int sc_io_can_read(const struct sc_io *io);
/* The peer has ended its sending half (EV_CLOSED seen), whether or not we
 * have read up to that end yet. */
int sc_io_peer_ended(const struct sc_io *io);
int sc_io_can_write(const struct sc_io *io);

/* The owner has just registered the fd (edge-triggered): reads wait for its
 * first event.  Registering an fd that already has bytes (or a FIN)
 * waiting reports them at once, so nothing is missed, and a connection
 * handed from one owner to another costs no read(2) that would only say
 * EAGAIN. */
void sc_io_watched(struct sc_io *io);

/* > 0 bytes read, 0 at the peer's end of stream (FIN, or close_notify for
 * TLS; a FIN without close_notify counts as the end too, as it did with
 * dirty shutdowns allowed), SC_IO_AGAIN, or SC_IO_ERROR. */
ssize_t sc_io_read(struct sc_io *io, void *buf, size_t len);

/* > 0 bytes written (possibly fewer than len), SC_IO_AGAIN or SC_IO_ERROR. */
ssize_t sc_io_write(struct sc_io *io, const void *buf, size_t len);

/* Bulk transfers (the L4 relay sets it on both its connections).  With it
 * on, a TLS read asked for more than SC_IO_BUF_SIZE bytes loops SSL_read
 * until the buffer is full or OpenSSL and the socket are both empty (one
 * record per SSL_read: without the loop a 64 KiB buffer would get 16 KiB),
 * and an end or error met after some bytes is returned by the next call
 * (sc_io_can_read() says to make it).  A TLS write of more than
 * SC_IO_BUF_SIZE bytes takes all it can, its records gathered four to a
 * send(2) (sc_io_flush, below); and OpenSSL's read buffer grows to four
 * records, so a read(2) brings four.  Smaller reads and writes and plain
 * sockets behave as without it. */
void sc_io_set_bulk(struct sc_io *io, int on);

/* What is written from now on is the last before our end (sc_io_shutdown,
 * or sc_io_free's close, in the same loop turn as the last write): sends
 * carry MSG_MORE, so the kernel holds a short tail until the FIN joins it
 * and the peer gets bytes and end in one segment (one wake-up, one ACK
 * fewer).  Held bytes leave at the end or when an ACK makes room; a write
 * that waits for the socket does not wait longer for it. */
void sc_io_set_last(struct sc_io *io);

/* Ends our sending half: a TLS close_notify (best effort), then a TCP FIN
 * (after any gathered bytes, below). */
void sc_io_shutdown(struct sc_io *io);

/* A bulk TLS write (sc_io_set_bulk, more than SC_IO_BUF_SIZE bytes) gathers
 * its records and sends them together: bytes it reported written may still
 * wait in the connection.  sc_io_pending() says whether some do;
 * sc_io_flush() sends them: 0 when none are left, SC_IO_AGAIN (wait for
 * writability, then flush again) or SC_IO_ERROR.  An owner flushes on
 * every writability event and does not free a connection whose bytes
 * wait unless it means to drop them. */
int sc_io_pending(const struct sc_io *io);
ssize_t sc_io_flush(struct sc_io *io);

/* Why the last SC_IO_ERROR happened: *err is the socket errno (0 for a TLS
 * failure) and the words are strerror's or OpenSSL's ("tls: unexpected
 * message"). */
const char *sc_io_error(const struct sc_io *io, int *err);

/* Takes the socket and the SSL (if any) out of a bufferevent made with
 * BEV_OPT_CLOSE_ON_FREE, and frees it: the bytes it had read and not
 * delivered are appended to in, those it had not yet written to out.
 * Returns the new object, or NULL (the bufferevent is freed either way, the
 * socket closed on failure). */
struct sc_io *sc_io_from_bufferevent(struct bufferevent *bev, struct evbuffer *in,
                                     struct evbuffer *out);

/* Fixed SC_IO_BUF_SIZE buffers from the calling thread's free list (each
 * worker is one thread, so the list needs no lock); a buffer goes back when
 * a connection has nothing in flight, so an idle connection holds none. */
unsigned char *sc_io_buf_get(void);
void sc_io_buf_put(unsigned char *buf);
/* The same for SC_IO_BULK_SIZE bytes (a bulk relay direction's buffer): a
 * short list, as few connections are busy with bulk at once. */
unsigned char *sc_io_bulk_get(void);
void sc_io_bulk_put(unsigned char *buf);
/* Frees the calling thread's free list, and its cache of freed socket
 * objects (a worker calls it as it exits). */
void sc_io_buf_drain(void);

/* OpenSSL's record buffers (about 17 KiB each way) released when a
 * connection goes idle, not around every record.  A worker makes one sweep
 * on its event_base and binds it to its thread; each TLS connection made
 * there afterwards (sc_io_new, sc_io_from_bufferevent) runs without
 * SSL_MODE_RELEASE_BUFFERS and is stamped with the sweep's generation as it
 * reads and writes.  Every SC_IO_SWEEP_MS (only while some connection may
 * hold buffers) the sweep calls SSL_free_buffers on those not used for a
 * whole period and with nothing pending either way: an idle connection,
 * pooled, relayed or an HBONE tunnel, holds no record buffer, and a busy one
 * costs no allocation per record.  Connections made on a thread with no
 * sweep keep SSL_MODE_RELEASE_BUFFERS as their SSL_CTX set it.
 *
 * sc_io_sweep_new: NULL on failure.  sc_io_sweep_free removes the timer
 * (call it before freeing the base); connections still open keep a
 * reference to the object and simply stop being swept. */
#define SC_IO_SWEEP_MS 1000
struct sc_io_sweep *sc_io_sweep_new(struct event_base *base);
void sc_io_sweep_free(struct sc_io_sweep *sw);
/* Connections the calling thread makes from now on join sw (NULL: none). */
void sc_io_sweep_bind(struct sc_io_sweep *sw);
/* One period's end, as the timer runs it (tests call it directly). */
void sc_io_sweep_run(struct sc_io_sweep *sw);
/* How many times a connection's record buffers were given back. */
size_t sc_io_sweep_released(const struct sc_io_sweep *sw);

#endif
