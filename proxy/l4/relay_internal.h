#ifndef SC_RELAY_INTERNAL_H
#define SC_RELAY_INTERNAL_H

#include <stddef.h>

#include "relay.h"

/* For test_relay.c only: the relay's state seen from inside. */

/* Bytes of direction dir (0: down->up, 1: up->down) read and not yet
 * written. */
size_t sc_relay_pending(const struct sc_relay *r, int dir);
/* Whether the relay would read side (0: down, 1: up) now: not at its end
 * and not waiting for the other side to drain. */
int sc_relay_reading(const struct sc_relay *r, int side);
/* The socket of a side. */
int sc_relay_fd(const struct sc_relay *r, int side);
/* Whether direction dir has moved to 64 KiB reads and writes. */
int sc_relay_bulk(const struct sc_relay *r, int dir);

#endif
