#ifndef SC_FDWAIT_H
#define SC_FDWAIT_H

#include <stdint.h>
#include <sys/socket.h>

/* Blocking waits with one deadline on non-blocking sockets, for the few
 * places that may block on purpose: sidecarctl's client and the admin's
 * POST /diagnose.  Never on the data path. */

/* CLOCK_MONOTONIC in milliseconds; deadlines are on this clock. */
int64_t sc_fdwait_now_ms(void);

/* Waits (poll) for events on fd until deadline_ms, retrying on EINTR.
 * 1 when ready, 0 when the deadline passed. */
int sc_fdwait(int fd, short events, int64_t deadline_ms);

/* Connects the non-blocking socket fd to sa before deadline_ms.  0, or -1
 * with errno set (ETIMEDOUT at the deadline). */
int sc_fdwait_connect(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline_ms);

#endif
