#ifndef SC_ADDR_H
#define SC_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* A socket address (IPv4 or IPv6), embedded by value. */
struct sc_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* An address prefix such as 10.96.12.0/24 or fd00::/8. */
struct sc_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char bytes[16]; /* network byte order, host bits zeroed */
    int prefix; /* 0..32 or 0..128 */
};

#define SC_ADDR_STRLEN 64 /* "[ipv6]:port" fits */

/* Parses "1.2.3.4:80", "[::1]:80" or "*:80"/":80" (any IPv4 address).
 * Numeric hosts only.  Returns 0, or -1 with a reason in why. */
int sc_addr_parse(const char *s, struct sc_addr *out, const char **why);

/* Parses a numeric host (no port) and sets the port. */
int sc_addr_from_host(const char *host, int port, struct sc_addr *out);

/* Writes "1.2.3.4:80" or "[::1]:80"; returns out. */
const char *sc_addr_str(const struct sc_addr *a, char *out, size_t outlen);
const char *sc_sockaddr_str(const struct sockaddr *sa, char *out, size_t outlen);

int sc_addr_port(const struct sc_addr *a);
void sc_addr_set_port(struct sc_addr *a, int port);
/* 1 when both hold the same family, address and port. */
int sc_addr_equal(const struct sc_addr *a, const struct sc_addr *b);

/* Parses "10.0.0.0/8" or a bare address (a /32 or /128). */
int sc_cidr_parse(const char *s, struct sc_cidr *out, const char **why);
/* 1 when a's address lies inside c. */
int sc_cidr_contains(const struct sc_cidr *c, const struct sc_addr *a);

#endif
