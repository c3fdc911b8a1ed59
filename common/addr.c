#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when s is one or more ASCII digits and nothing else (strtol alone
 * would also take leading blanks and a sign). */
static int all_digits(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return 0;
        }
    }
    return 1;
}

static int parse_port(const char *s, int *port)
{
    char *end = NULL;
    long v;

    if (!all_digits(s)) {
        return -1;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 65535) {
        return -1;
    }
    *port = (int)v;
    return 0;
}

int sc_addr_from_host(const char *host, int port, struct sc_addr *out)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short)port);
        out->len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short)port);
        out->len = sizeof(*sin6);
        return 0;
    }
    return -1;
}

int sc_addr_parse(const char *s, struct sc_addr *out, const char **why)
{
    char host[128];
    const char *colon;
    const char *portstr;
    size_t hlen;
    int port = 0;

    if (s == NULL || *s == '\0') {
        *why = "empty address";
        return -1;
    }
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            *why = "expected [ipv6]:port";
            return -1;
        }
        hlen = (size_t)(close - s - 1);
        if (hlen >= sizeof(host)) {
            *why = "host too long";
            return -1;
        }
        memcpy(host, s + 1, hlen);
        host[hlen] = '\0';
        portstr = close + 2;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            *why = "expected host:port";
            return -1;
        }
        if (strchr(s, ':') != colon) {
            *why = "an IPv6 address needs brackets: [addr]:port";
            return -1;
        }
        hlen = (size_t)(colon - s);
        if (hlen >= sizeof(host)) {
            *why = "host too long";
            return -1;
        }
        memcpy(host, s, hlen);
        host[hlen] = '\0';
        if (hlen == 0 || strcmp(host, "*") == 0) {
            snprintf(host, sizeof(host), "0.0.0.0");
        }
        portstr = colon + 1;
    }
    if (parse_port(portstr, &port) != 0) {
        *why = "port must be a number in 1..65535";
        return -1;
    }
    if (sc_addr_from_host(host, port, out) != 0) {
        *why = "host must be a numeric IPv4 or IPv6 address";
        return -1;
    }
    if (s[0] == '[' && out->ss.ss_family != AF_INET6) {
        *why = "brackets hold an IPv6 address only";
        return -1;
    }
    return 0;
}

const char *sc_sockaddr_str(const struct sockaddr *sa, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(out, outlen, "%s:%d", host, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(out, outlen, "[%s]:%d", host, ntohs(sin6->sin6_port));
    } else {
        snprintf(out, outlen, "-");
    }
    return out;
}

const char *sc_addr_str(const struct sc_addr *a, char *out, size_t outlen)
{
    return sc_sockaddr_str((const struct sockaddr *)&a->ss, out, outlen);
}

int sc_addr_port(const struct sc_addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    }
    if (a->ss.ss_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    }
    return 0;
}

void sc_addr_set_port(struct sc_addr *a, int port)
{
    if (a->ss.ss_family == AF_INET) {
        ((struct sockaddr_in *)&a->ss)->sin_port = htons((unsigned short)port);
    } else if (a->ss.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((unsigned short)port);
    }
}

int sc_addr_equal(const struct sc_addr *a, const struct sc_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family || sc_addr_port(a) != sc_addr_port(b)) {
        return 0;
    }
    if (a->ss.ss_family == AF_INET) {
        return memcmp(&((const struct sockaddr_in *)&a->ss)->sin_addr,
                      &((const struct sockaddr_in *)&b->ss)->sin_addr, 4) == 0;
    }
    if (a->ss.ss_family == AF_INET6) {
        return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
                      &((const struct sockaddr_in6 *)&b->ss)->sin6_addr, 16) == 0;
    }
    return 0;
}

int sc_cidr_parse(const char *s, struct sc_cidr *out, const char **why)
{
    char host[128];
    const char *slash = strchr(s, '/');
    size_t hlen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    int maxp;

    memset(out, 0, sizeof(*out));
    if (hlen == 0 || hlen >= sizeof(host)) {
        *why = "expected address/prefix";
        return -1;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, out->bytes) == 1) {
        out->family = AF_INET;
        maxp = 32;
    } else if (inet_pton(AF_INET6, host, out->bytes) == 1) {
        out->family = AF_INET6;
        maxp = 128;
    } else {
        *why = "not a numeric IPv4 or IPv6 address";
        return -1;
    }
    out->prefix = maxp;
    if (slash != NULL) {
        char *end = NULL;
        long p;

        errno = 0;
        p = strtol(slash + 1, &end, 10);
        if (!all_digits(slash + 1) || errno != 0 || *end != '\0' || p < 0 || p > maxp) {
            *why = "prefix length out of range";
            return -1;
        }
        out->prefix = (int)p;
    }
    for (int bit = out->prefix; bit < maxp; bit++) {
        out->bytes[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    }
    return 0;
}

int sc_cidr_contains(const struct sc_cidr *c, const struct sc_addr *a)
{
    const unsigned char *ab;
    int full, rest;

    if (a->ss.ss_family != c->family) {
        return 0;
    }
    ab = c->family == AF_INET
             ? (const unsigned char *)&((const struct sockaddr_in *)&a->ss)->sin_addr
             : (const unsigned char *)&((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
    full = c->prefix / 8;
    rest = c->prefix % 8;
    if (memcmp(ab, c->bytes, (size_t)full) != 0) {
        return 0;
    }
    if (rest != 0) {
        unsigned char mask = (unsigned char)(0xffu << (8 - rest));
        return (ab[full] & mask) == c->bytes[full];
    }
    return 1;
}
