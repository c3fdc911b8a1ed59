#include "fdwait.h"

#include <errno.h>
#include <poll.h>
#include <time.h>

int64_t sc_fdwait_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sc_fdwait(int fd, short events, int64_t deadline_ms)
{
    struct pollfd p = {fd, events, 0};
    int r;

    do {
        int64_t left = deadline_ms - sc_fdwait_now_ms();

        r = poll(&p, 1, left > 0 ? (int)left : 0);
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

int sc_fdwait_connect(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline_ms)
{
    int soerr = 0;
    socklen_t sl = sizeof(soerr);

    if (connect(fd, sa, len) == 0) {
        return 0;
    }
    if (errno != EINPROGRESS) {
        return -1;
    }
    if (!sc_fdwait(fd, POLLOUT, deadline_ms)) {
        errno = ETIMEDOUT;
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
        return -1;
    }
    errno = soerr;
    return soerr == 0 ? 0 : -1;
}
