#ifndef SC_CTL_HTTP_H
#define SC_CTL_HTTP_H

#include <stddef.h>

/* sidecarctl's HTTP/1.1 client: one blocking request per connection to the
 * sidecar's admin API, over TCP ("HOST:PORT", "[V6]:PORT", numeric or a
 * name) or a Unix socket ("unix:PATH").  The admin server answers with
 * Content-Length and Connection: close; the answer is read to EOF and
 * capped at SC_CTL_HTTP_MAX_BODY. */

#define SC_CTL_HTTP_MAX_BODY (16 * 1024 * 1024)

struct sc_ctl_http_resp {
    int status; /* e.g. 200 */
    char *body; /* NUL-terminated, owned: free with sc_ctl_http_resp_cleanup */
    size_t body_len;
};

/* Sends method path (with body and Content-Type: application/json when
 * body is not NULL) to admin and waits at most timeout_ms in all.  Returns
 * 0 and fills resp, or -1 with a one-line reason in why (connection
 * refused, timeout, a malformed answer). */
int sc_ctl_http_request(const char *admin, const char *method, const char *path, const char *body,
                        int timeout_ms, struct sc_ctl_http_resp *resp, char *why, size_t whylen);

void sc_ctl_http_resp_cleanup(struct sc_ctl_http_resp *resp);

#endif
