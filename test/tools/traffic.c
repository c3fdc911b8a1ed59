/* traffic: load for the certificate-rotation tests, against an echo service
 * (test/tools/backend --mode echo), usually through a sidecar pair.
 *
 *   traffic stream HOST:PORT [-i MS] [-d SECONDS] [-t MS]
 *   traffic loop   HOST:PORT [-i MS] [-d SECONDS] [-t MS]
 *
 * stream  one long-lived connection: writes "seq N\n" every -i ms (default
 *         100) and reads the echo, checking that every line comes back, in
 *         order.  It measures the gap between consecutive echoes and each
 *         line's round trip.  At the end it stops writing, waits for the
 *         outstanding echoes, half-closes and waits for the far side's EOF.
 * loop    a new connection every -i ms (default 200), one at a time: connect,
 *         write "conn N ...\n", half-close, read the echo up to EOF and
 *         compare.  Any refusal, reset, timeout or wrong byte is a failure,
 *         logged as "FAIL n=N at_ms=T why=...".
 *
 * Both run for -d seconds (default: until SIGTERM or SIGINT, which end the
 * run cleanly).  -t is the time limit of one step (connect, an echo, one
 * loop connection; default 3000 ms).  Once a second they print
 *
 *   PROGRESS t_ms=T sent=N echoed=N max_gap_ms=G          (stream)
 *   PROGRESS t_ms=T attempts=N ok=N failed=N              (loop)
 *
 * and at the end
 *
 *   DONE mode=stream sent=N echoed=N max_gap_ms=G max_rtt_ms=R max_stall_ms=S eof=yes|no errors=E
 *   DONE mode=loop attempts=N ok=N failed=N max_ms=M max_stall_ms=S
 *
 * max_stall_ms is the longest time this process itself did not run when it
 * meant to (a wake-up later than planned, e.g. the machine was busy): a gap
 * that long says nothing about what is being measured.
 *
 * Exit status: 0 when nothing failed, 1 otherwise, 2 on usage errors.
 * Loopback use only; numeric IPv4/IPv6 addresses. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define LINE_MAX_LEN 256
#define LOOP_PAD "0123456789abcdefghijklmnopqrstuvwxyz"

static volatile sig_atomic_t stop_flag;

struct opts {
    int stream; /* 1 = stream, 0 = loop */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int64_t interval_ms;
    int64_t duration_ms; /* 0 = until a signal */
    int64_t timeout_ms;
};

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    size_t hl;
    char *end = NULL;
    long port;

    if (colon == NULL) {
        return -1;
    }
    hl = (size_t)(colon - s);
    if (hl == 0 || hl >= sizeof(host)) {
        return -1;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port <= 0 || port > 65535) {
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1) {
            return -1;
        }
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
        return 0;
    }
    {
        struct sockaddr_in *in4 = (struct sockaddr_in *)ss;

        if (inet_pton(AF_INET, host, &in4->sin_addr) != 1) {
            return -1;
        }
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof(*in4);
    }
    return 0;
}

/* Waits for EVENTS on fd until the absolute deadline (monotonic ms).
 * Returns 1 when ready, 0 on timeout, -1 on error; a signal does not end
 * the wait unless stop_ok is set (then it returns 0). */
static int wait_fd(int fd, short events, int64_t deadline, int stop_ok)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int64_t left = deadline - now_ms();
        int rc;

        if (stop_ok && stop_flag) {
            return 0;
        }
        if (left <= 0) {
            return 0;
        }
        rc = poll(&p, 1, left > 1000 ? 1000 : (int)left);
        if (rc < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (rc > 0) {
            return 1;
        }
    }
}

/* A non-blocking connect bounded by timeout_ms.  Returns the fd or -1 with
 * the reason in why. */
static int connect_to(const struct opts *o, char *why, size_t wlen)
{
    int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    int err = 0;
    socklen_t elen = sizeof(err);
    int rc;

    if (fd < 0) {
        snprintf(why, wlen, "socket: %s", strerror(errno));
        return -1;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&o->addr, o->addrlen) == 0) {
        return fd;
    }
    if (errno != EINPROGRESS) {
        snprintf(why, wlen, "connect: %s", strerror(errno));
        goto fail;
    }
    rc = wait_fd(fd, POLLOUT, now_ms() + o->timeout_ms, 0);
    if (rc <= 0) {
        snprintf(why, wlen, "connect: %s", rc == 0 ? "timed out" : strerror(errno));
        goto fail;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
        snprintf(why, wlen, "connect: %s", strerror(err != 0 ? err : errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* Writes all of buf (non-blocking fd), bounded by the deadline. */
static int write_all(int fd, const char *buf, size_t len, int64_t deadline, char *why, size_t wlen)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLOUT, deadline, 0) <= 0) {
                snprintf(why, wlen, "write: timed out");
                return -1;
            }
            continue;
        }
        snprintf(why, wlen, "write: %s", n < 0 ? strerror(errno) : "wrote nothing");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ loop */

/* One loop connection.  Returns 0 when the echo came back whole, then EOF. */
static int loop_once(const struct opts *o, uint64_t n, char *why, size_t wlen)
{
    char out[LINE_MAX_LEN];
    char in[LINE_MAX_LEN * 2];
    size_t have = 0;
    int64_t deadline = now_ms() + o->timeout_ms;
    int len = snprintf(out, sizeof(out), "conn %" PRIu64 " %s\n", n, LOOP_PAD);
    int fd = connect_to(o, why, wlen);

    if (fd < 0) {
        return -1;
    }
    if (write_all(fd, out, (size_t)len, deadline, why, wlen) != 0) {
        goto fail;
    }
    if (shutdown(fd, SHUT_WR) != 0) {
        snprintf(why, wlen, "shutdown: %s", strerror(errno));
        goto fail;
    }
    for (;;) {
        ssize_t r = recv(fd, in + have, sizeof(in) - have, 0);

        if (r == 0) {
            break;
        }
        if (r > 0) {
            have += (size_t)r;
            if (have == sizeof(in)) {
                snprintf(why, wlen, "read: more than %zu bytes came back", sizeof(in));
                goto fail;
            }
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(fd, POLLIN, deadline, 0);

            if (rc <= 0) {
                snprintf(why, wlen, "read: %s after %zu of %d bytes",
                         rc == 0 ? "timed out" : strerror(errno), have, len);
                goto fail;
            }
            continue;
        }
        snprintf(why, wlen, "read: %s after %zu of %d bytes", strerror(errno), have, len);
        goto fail;
    }
    if (have != (size_t)len || memcmp(in, out, (size_t)len) != 0) {
        snprintf(why, wlen, "echo: got %zu bytes, expected %d (closed early or wrong bytes)", have,
                 len);
        goto fail;
    }
    close(fd);
    return 0;
fail:
    close(fd);
    return -1;
}

static int run_loop(const struct opts *o)
{
    int64_t t0 = now_ms();
    int64_t next = t0;
    int64_t next_report = t0 + 1000;
    int64_t max_ms = 0;
    int64_t max_stall = 0;
    uint64_t attempts = 0, ok = 0, failed = 0;

    while (!stop_flag && (o->duration_ms == 0 || now_ms() - t0 < o->duration_ms)) {
        int64_t t = now_ms();
        char why[200] = "";

        if (t < next) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(next - t) * 1000000L};

            nanosleep(&ts, NULL);
            if (now_ms() - next > max_stall) {
                max_stall = now_ms() - next; /* woke up late */
            }
            continue;
        }
        next = t + o->interval_ms;
        attempts++;
        if (loop_once(o, attempts, why, sizeof(why)) == 0) {
            ok++;
        } else {
            failed++;
            say("FAIL n=%" PRIu64 " at_ms=%" PRId64 " why=%s\n", attempts, t - t0, why);
        }
        if (now_ms() - t > max_ms) {
            max_ms = now_ms() - t;
        }
        if (now_ms() >= next_report) {
            next_report += 1000;
            say("PROGRESS t_ms=%" PRId64 " attempts=%" PRIu64 " ok=%" PRIu64 " failed=%" PRIu64
                "\n",
                now_ms() - t0, attempts, ok, failed);
        }
    }
    say("DONE mode=loop attempts=%" PRIu64 " ok=%" PRIu64 " failed=%" PRIu64 " max_ms=%" PRId64
        " max_stall_ms=%" PRId64 "\n",
        attempts, ok, failed, max_ms, max_stall);
    return failed == 0 && attempts > 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- stream */

struct stream {
    const struct opts *o;
    int fd;
    int64_t t0;
    uint64_t sent, echoed;
    int64_t sent_at[64]; /* ring: send time of line N at [N % 64] */
    int64_t last_echo; /* time of the last echo (or of the start) */
    int64_t max_gap, max_rtt;
    int64_t max_stall; /* our own longest late wake-up */
    char buf[LINE_MAX_LEN];
    size_t have;
    int eof;
    int errors;
};

/* Consumes whole lines from the buffer; each must be the next "seq N". */
static int stream_lines(struct stream *s)
{
    char *nl;

    while ((nl = memchr(s->buf, '\n', s->have)) != NULL) {
        size_t ll = (size_t)(nl - s->buf) + 1;
        char want[64];
        int wl = snprintf(want, sizeof(want), "seq %" PRIu64 "\n", s->echoed + 1);
        int64_t t = now_ms();

        if (s->echoed >= s->sent || (size_t)wl != ll || memcmp(s->buf, want, ll) != 0) {
            say("ERROR at_ms=%" PRId64 " echo out of order or wrong: got '%.*s', expected "
                "'seq %" PRIu64 "'\n",
                t - s->t0, (int)(ll - 1), s->buf, s->echoed + 1);
            s->errors++;
            return -1;
        }
        s->echoed++;
        if (t - s->last_echo > s->max_gap) {
            s->max_gap = t - s->last_echo;
        }
        if (t - s->sent_at[s->echoed % 64] > s->max_rtt) {
            s->max_rtt = t - s->sent_at[s->echoed % 64];
        }
        s->last_echo = t;
        memmove(s->buf, s->buf + ll, s->have - ll);
        s->have -= ll;
    }
    if (s->have == sizeof(s->buf)) {
        say("ERROR a line longer than %zu bytes came back\n", sizeof(s->buf));
        s->errors++;
        return -1;
    }
    return 0;
}

/* Reads what is there.  Returns -1 on an error, 0 otherwise (s->eof set at
 * the far side's EOF). */
static int stream_read(struct stream *s)
{
    for (;;) {
        ssize_t r = recv(s->fd, s->buf + s->have, sizeof(s->buf) - s->have, 0);

        if (r > 0) {
            s->have += (size_t)r;
            if (stream_lines(s) != 0) {
                return -1;
            }
            continue;
        }
        if (r == 0) {
            s->eof = 1;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        say("ERROR at_ms=%" PRId64 " read: %s\n", now_ms() - s->t0, strerror(errno));
        s->errors++;
        return -1;
    }
}

static int run_stream(const struct opts *o)
{
    struct stream s;
    char why[200] = "";
    int64_t next, next_report, deadline;

    memset(&s, 0, sizeof(s));
    s.o = o;
    s.t0 = now_ms();
    s.fd = connect_to(o, why, sizeof(why));
    if (s.fd < 0) {
        say("ERROR %s\n", why);
        s.errors++;
        goto done;
    }
    s.last_echo = now_ms();
    next = s.last_echo;
    next_report = s.t0 + 1000;
    while (!stop_flag && (o->duration_ms == 0 || now_ms() - s.t0 < o->duration_ms)) {
        int64_t t = now_ms();

        if (t >= next) {
            char line[64];
            int ll = snprintf(line, sizeof(line), "seq %" PRIu64 "\n", s.sent + 1);

            if (s.sent - s.echoed >= 60) {
                say("ERROR at_ms=%" PRId64 " 60 lines without an echo (last echo %" PRId64
                    " ms ago)\n",
                    t - s.t0, t - s.last_echo);
                s.errors++;
                goto done;
            }
            if (write_all(s.fd, line, (size_t)ll, t + o->timeout_ms, why, sizeof(why)) != 0) {
                say("ERROR at_ms=%" PRId64 " %s\n", t - s.t0, why);
                s.errors++;
                goto done;
            }
            s.sent++;
            s.sent_at[s.sent % 64] = t;
            next += o->interval_ms;
        }
        if (s.sent > s.echoed && t - s.last_echo > o->timeout_ms) {
            say("ERROR at_ms=%" PRId64 " no echo for %" PRId64 " ms\n", t - s.t0, t - s.last_echo);
            s.errors++;
            goto done;
        }
        if (wait_fd(s.fd, POLLIN, next, 1) < 0) {
            say("ERROR poll: %s\n", strerror(errno));
            s.errors++;
            goto done;
        }
        if (now_ms() - next > s.max_stall) {
            s.max_stall = now_ms() - next; /* woke up later than planned */
        }
        if (stream_read(&s) != 0) {
            goto done;
        }
        if (s.eof) {
            say("ERROR at_ms=%" PRId64 " the connection closed under the stream\n",
                now_ms() - s.t0);
            s.errors++;
            goto done;
        }
        if (now_ms() >= next_report) {
            next_report += 1000;
            say("PROGRESS t_ms=%" PRId64 " sent=%" PRIu64 " echoed=%" PRIu64 " max_gap_ms=%" PRId64
                "\n",
                now_ms() - s.t0, s.sent, s.echoed, s.max_gap);
        }
    }
    /* the end: the outstanding echoes, then a half-close answered by EOF */
    deadline = now_ms() + o->timeout_ms;
    while (s.echoed < s.sent && !s.eof) {
        if (wait_fd(s.fd, POLLIN, deadline, 0) <= 0) {
            say("ERROR %" PRIu64 " lines not echoed at the end\n", s.sent - s.echoed);
            s.errors++;
            goto done;
        }
        if (stream_read(&s) != 0) {
            goto done;
        }
    }
    if (shutdown(s.fd, SHUT_WR) != 0) {
        say("ERROR shutdown: %s\n", strerror(errno));
        s.errors++;
        goto done;
    }
    deadline = now_ms() + o->timeout_ms;
    while (!s.eof) {
        if (wait_fd(s.fd, POLLIN, deadline, 0) <= 0) {
            say("ERROR no EOF within %" PRId64 " ms of our half-close\n", o->timeout_ms);
            s.errors++;
            goto done;
        }
        if (stream_read(&s) != 0) {
            goto done;
        }
    }
done:
    if (s.sent != s.echoed && s.errors == 0) {
        s.errors++;
    }
    say("DONE mode=stream sent=%" PRIu64 " echoed=%" PRIu64 " max_gap_ms=%" PRId64
        " max_rtt_ms=%" PRId64 " max_stall_ms=%" PRId64 " eof=%s errors=%d\n",
        s.sent, s.echoed, s.max_gap, s.max_rtt, s.max_stall, s.eof ? "yes" : "no", s.errors);
    if (s.fd >= 0) {
        close(s.fd);
    }
    return s.errors == 0 && s.sent > 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ main */

static int usage(void)
{
    fprintf(stderr, "usage: traffic stream|loop HOST:PORT [-i MS] [-d SECONDS] [-t MS]\n");
    return 2;
}

static int number(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct sigaction sa;
    int i;

    memset(&o, 0, sizeof(o));
    if (argc < 3) {
        return usage();
    }
    if (strcmp(argv[1], "stream") == 0) {
        o.stream = 1;
        o.interval_ms = 100;
    } else if (strcmp(argv[1], "loop") == 0) {
        o.interval_ms = 200;
    } else {
        return usage();
    }
    if (parse_addr(argv[2], &o.addr, &o.addrlen) != 0) {
        fprintf(stderr, "traffic: not a numeric HOST:PORT: %s\n", argv[2]);
        return 2;
    }
    o.timeout_ms = 3000;
    for (i = 3; i < argc; i += 2) {
        int64_t v = 0;

        if (i + 1 >= argc) {
            return usage();
        }
        if (strcmp(argv[i], "-i") == 0 && number(argv[i + 1], 1, 60000, &v) == 0) {
            o.interval_ms = v;
        } else if (strcmp(argv[i], "-d") == 0 && number(argv[i + 1], 1, 3600, &v) == 0) {
            o.duration_ms = v * 1000;
        } else if (strcmp(argv[i], "-t") == 0 && number(argv[i + 1], 1, 600000, &v) == 0) {
            o.timeout_ms = v;
        } else {
            return usage();
        }
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return o.stream ? run_stream(&o) : run_loop(&o);
}
