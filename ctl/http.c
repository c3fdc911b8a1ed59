#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdwait.h"

static int dial_unix(const char *path, int64_t deadline, char *why, size_t whylen)
{
    struct sockaddr_un sun;
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(why, whylen, "unix socket path too long: %s", path);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || sc_fdwait_connect(fd, (struct sockaddr *)&sun, sizeof(sun), deadline) != 0) {
        snprintf(why, whylen, "cannot connect to the admin API at unix:%s: %s", path,
                 strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static int dial_tcp(const char *admin, int64_t deadline, char *why, size_t whylen)
{
    char host[256];
    const char *colon = strrchr(admin, ':');
    const char *h = admin;
    size_t hl;
    struct addrinfo hints, *res = NULL;
    int fd = -1, rc, err = 0;

    if (colon == NULL || colon[1] == '\0') {
        snprintf(why, whylen, "admin address \"%s\" is not HOST:PORT or unix:PATH", admin);
        return -1;
    }
    hl = (size_t)(colon - admin);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof(host)) {
        snprintf(why, whylen, "admin address \"%s\" is not HOST:PORT or unix:PATH", admin);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        snprintf(why, whylen, "admin address \"%s\": %s", admin, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0 && sc_fdwait_connect(fd, ai->ai_addr, ai->ai_addrlen, deadline) == 0) {
            break;
        }
        err = errno;
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(why, whylen, "cannot connect to the admin API at %s: %s", admin, strerror(err));
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!sc_fdwait(fd, POLLOUT, deadline)) {
                errno = ETIMEDOUT;
                return -1;
            }
        } else {
            return -1;
        }
    }
    return 0;
}

/* Reads to EOF into a new buffer (NUL-terminated). */
static char *read_all(int fd, int64_t deadline, size_t *len, char *why, size_t whylen)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);

    while (buf != NULL) {
        ssize_t r;

        if (n + 1 >= cap) {
            char *nb = cap >= SC_CTL_HTTP_MAX_BODY ? NULL : realloc(buf, cap * 2);

            if (nb == NULL) {
                snprintf(why, whylen, "the admin API's answer is over %d bytes",
                         SC_CTL_HTTP_MAX_BODY);
                goto fail;
            }
            buf = nb;
            cap *= 2;
        }
        r = recv(fd, buf + n, cap - n - 1, 0);
        if (r > 0) {
            n += (size_t)r;
        } else if (r == 0) {
            buf[n] = '\0';
            *len = n;
            return buf;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!sc_fdwait(fd, POLLIN, deadline)) {
                snprintf(why, whylen, "the admin API did not answer in time");
                goto fail;
            }
        } else {
            snprintf(why, whylen, "reading from the admin API: %s", strerror(errno));
            goto fail;
        }
    }
    snprintf(why, whylen, "out of memory");
fail:
    free(buf);
    return NULL;
}

int sc_ctl_http_request(const char *admin, const char *method, const char *path, const char *body,
                        int timeout_ms, struct sc_ctl_http_resp *resp, char *why, size_t whylen)
{
    int64_t deadline = sc_fdwait_now_ms() + timeout_ms;
    char head[1024];
    char *raw = NULL, *sep;
    size_t raw_len = 0, blen = body != NULL ? strlen(body) : 0;
    int fd, n;

    memset(resp, 0, sizeof(*resp));
    fd = strncmp(admin, "unix:", 5) == 0 ? dial_unix(admin + 5, deadline, why, whylen)
                                         : dial_tcp(admin, deadline, why, whylen);
    if (fd < 0) {
        return -1;
    }
    n = snprintf(head, sizeof(head),
                 "%s %s HTTP/1.1\r\nHost: sidecar-admin\r\nUser-Agent: sidecarctl\r\n"
                 "Connection: close\r\n%sContent-Length: %zu\r\n\r\n",
                 method, path, body != NULL ? "Content-Type: application/json\r\n" : "", blen);
    if (n < 0 || (size_t)n >= sizeof(head) || send_all(fd, head, (size_t)n, deadline) != 0 ||
        send_all(fd, body != NULL ? body : "", blen, deadline) != 0) {
        snprintf(why, whylen, "sending to the admin API at %s: %s", admin, strerror(errno));
        goto fail;
    }
    raw = read_all(fd, deadline, &raw_len, why, whylen);
    if (raw == NULL) {
        goto fail;
    }
    sep = strstr(raw, "\r\n\r\n");
    if (sep == NULL || sscanf(raw, "HTTP/1.%*d %d", &resp->status) != 1) {
        snprintf(why, whylen, "the admin API at %s sent no HTTP answer", admin);
        goto fail;
    }
    sep += 4;
    resp->body_len = raw_len - (size_t)(sep - raw);
    memmove(raw, sep, resp->body_len + 1);
    resp->body = raw;
    close(fd);
    return 0;

fail:
    free(raw);
    close(fd);
    return -1;
}

void sc_ctl_http_resp_cleanup(struct sc_ctl_http_resp *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}
