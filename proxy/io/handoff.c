/* proxy/io/handoff — a connection taken out of the bufferevent that did its
 * handshake (or its sniff) and put on the I/O layer: see
 * sc_io_from_bufferevent in io.h. */
#include "io.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

struct sc_io *sc_io_from_bufferevent(struct bufferevent *bev, struct evbuffer *in,
                                     struct evbuffer *out)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    int fd = (int)bufferevent_getfd(bev);
    struct sc_io *io;

    bufferevent_disable(bev, EV_READ | EV_WRITE);
    /* a bufferevent freezes the front of its output (only it may drain
     * it): thaw it to take the bytes it had not written */
    evbuffer_unfreeze(bufferevent_get_output(bev), 1);
    if (evbuffer_add_buffer(in, bufferevent_get_input(bev)) != 0 ||
        evbuffer_add_buffer(out, bufferevent_get_output(bev)) != 0) {
        bufferevent_free(bev);
        return NULL;
    }
    if (fd < 0 || (ssl != NULL && SSL_up_ref(ssl) != 1)) {
        bufferevent_free(bev);
        return NULL;
    }
    /* For TLS, sc_io_new() gives the SSL our BIO, which does not report
     * its fd: the bufferevent's teardown (now, or deferred to the loop)
     * then finds no fd to close, and frees only its reference to the SSL.
     * A socket bufferevent closes the fd it holds: give it none. */
    io = sc_io_new(fd, ssl);
    if (io == NULL) {
        /* the bufferevent still owns both: it closes and frees them */
        SSL_free(ssl);
        bufferevent_free(bev);
        return NULL;
    }
    if (ssl == NULL) {
        bufferevent_setfd(bev, -1);
    }
    bufferevent_free(bev);
    return io;
}
