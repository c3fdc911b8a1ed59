#ifndef SC_HTTPSNIFF_H
#define SC_HTTPSNIFF_H

#include <stddef.h>

/* `protocol: auto`: is this connection HTTP/1.x?  From the first bytes the
 * client sent (peeked, or read after TLS), decide by the whole request
 * line, as Envoy's HTTP inspector does: a method token, SP, a target
 * without spaces or controls, SP, "HTTP/1.0" or "HTTP/1.1", CRLF.
 * Anything else is TCP: NATS' "CONNECT {...}", Redis' "SET k v", an
 * HTTP/2 preface ("PRI * HTTP/2.0").  A pure function: no allocation, no
 * I/O, no global state. */

enum sc_httpsniff_result {
    SC_HTTPSNIFF_NEED_MORE = 0, /* a request line so far, not yet complete */
    SC_HTTPSNIFF_HTTP1, /* a complete HTTP/1.0 or 1.1 request line */
    SC_HTTPSNIFF_NOT_HTTP, /* cannot be one: serve as TCP */
};

/* Callers never peek more than this; a request line not complete within
 * it is NOT_HTTP (llhttp would refuse a longer head anyway). */
#define SC_HTTPSNIFF_MAX_BYTES 8192

/* Classifies buf[0..len); bytes past SC_HTTPSNIFF_MAX_BYTES are ignored,
 * bytes after the request line are not looked at.  Prefix-stable: once a
 * prefix gives anything but NEED_MORE, every longer one gives the same. */
enum sc_httpsniff_result sc_httpsniff(const unsigned char *buf, size_t len);

#endif
