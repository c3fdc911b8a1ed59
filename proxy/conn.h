#ifndef SC_CONN_H
#define SC_CONN_H

#include <sys/socket.h>

#include "worker.h"

/* One proxied connection, from accept to close: original-destination
 * lookup, the PeerAuthentication / route decision, sniffing, the TLS
 * handshakes, the upstream connect, then the L4 relay.  Owned by its worker;
 * sc_conn's teardown frees everything it holds and writes the connection
 * log line. */
struct sc_conn;

struct sc_conn_link {
    struct sc_conn *prev;
    struct sc_conn *next;
};

/* Takes ownership of the accepted fd.  `listener` names the explicit
 * listener (kind SC_LISTENER_EXPLICIT), else is ignored. */
void sc_conn_accept(struct sc_worker *w, enum sc_listener_kind kind, const char *listener,
                    int fd, const struct sockaddr *peer, int peerlen);

/* Ends the connection now with the given reason (worker shutdown). */
void sc_conn_abort(struct sc_conn *c, const char *reason);

/* Draining: an HTTP connection closes after its current response (at once
 * when idle); an L4 connection runs on until it ends or the drain deadline. */
void sc_conn_drain(struct sc_conn *c);

struct sc_conn_link *sc_conn_link(struct sc_conn *c);

#endif
