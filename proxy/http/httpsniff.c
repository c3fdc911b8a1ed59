#include "httpsniff.h"

#include <string.h>

#define MAX_METHOD 32

static int is_tchar(unsigned char c)
{
    /* RFC 9110 token characters */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* buf[0..len) against the literal lit: 1 whole match, 0 mismatch, -1 a
 * proper prefix of it. */
static int literal(const unsigned char *buf, size_t len, const char *lit)
{
    size_t n = strlen(lit);

    if (memcmp(buf, lit, len < n ? len : n) != 0) {
        return 0;
    }
    return len >= n ? 1 : -1;
}

static enum sc_httpsniff_result request_line(const unsigned char *buf, size_t len)
{
    size_t i = 0, start;
    int v10, v11;

    /* method: 1..MAX_METHOD token characters, then SP */
    while (i < len && i < MAX_METHOD && is_tchar(buf[i])) {
        i++;
    }
    if (i == len) {
        return SC_HTTPSNIFF_NEED_MORE;
    }
    if (i == 0 || buf[i] != ' ') {
        return SC_HTTPSNIFF_NOT_HTTP; /* also a method longer than MAX_METHOD */
    }
    /* request-target: visible characters up to the next SP */
    start = ++i;
    while (i < len && buf[i] > 0x20 && buf[i] < 0x7f) {
        i++;
    }
    if (i == len) {
        return SC_HTTPSNIFF_NEED_MORE;
    }
    if (i == start || buf[i] != ' ') {
        return SC_HTTPSNIFF_NOT_HTTP;
    }
    /* HTTP-version, then CRLF */
    i++;
    v10 = literal(buf + i, len - i, "HTTP/1.0\r\n");
    v11 = literal(buf + i, len - i, "HTTP/1.1\r\n");
    if (v10 == 1 || v11 == 1) {
        return SC_HTTPSNIFF_HTTP1;
    }
    if (v10 == -1 || v11 == -1) {
        return SC_HTTPSNIFF_NEED_MORE;
    }
    return SC_HTTPSNIFF_NOT_HTTP;
}

enum sc_httpsniff_result sc_httpsniff(const unsigned char *buf, size_t len)
{
    enum sc_httpsniff_result r;

    if (len > SC_HTTPSNIFF_MAX_BYTES) {
        len = SC_HTTPSNIFF_MAX_BYTES;
    }
    r = request_line(buf, len);
    /* still undecided with all the bytes we ever look at: not HTTP */
    return r == SC_HTTPSNIFF_NEED_MORE && len == SC_HTTPSNIFF_MAX_BYTES ? SC_HTTPSNIFF_NOT_HTTP : r;
}
