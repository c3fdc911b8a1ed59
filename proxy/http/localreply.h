#ifndef SC_LOCALREPLY_H
#define SC_LOCALREPLY_H

#include <stddef.h>
#include <time.h>

#include "http1.h"

/* Responses the sidecar makes itself, with the bodies Envoy users know:
 *
 *   503  upstream connect error or disconnect/reset before headers. reset reason: <reason>
 *        [, transport failure reason: <why>]                 (UF, UC, UO ...)
 *        ("... headers. retried and the latest reset reason: ..." after a retry)
 *   502  the same with reset reason "protocol error"         (UPE)
 *   504  upstream request timeout                            (UT)
 *   503  no healthy upstream                                 (UH)
 *   400  Bad Request                                         (DPE)
 *   431  Request Header Fields Too Large                     (DPE)
 *   404  (empty body)                                        (NR)
 *   408  request timeout
 *
 * For TLS failures the transport failure reason is "TLS error: " and the
 * sentence the connection log writes for that handshake (docs/http.md);
 * the caller builds it.
 *
 * A reply is a full HTTP/1.1 response: status line, content-length,
 * content-type: text/plain (when there is a body), date, and connection:
 * close when the caller closes after it.  Header names are lower-case, as
 * Envoy sends them. */

enum sc_reset_reason {
    SC_RESET_CONNECTION_FAILURE = 0, /* "connection failure" (connect or TLS failed) */
    SC_RESET_CONNECTION_TERMINATION, /* "connection termination" (closed before headers) */
    SC_RESET_OVERFLOW, /* "overflow" (pool and pending queue full) */
    SC_RESET_CONNECTION_TIMEOUT, /* "connection timeout" */
    SC_RESET_LOCAL_RESET, /* "local reset" */
    SC_RESET_REMOTE_RESET, /* "remote reset" */
    SC_RESET_PROTOCOL_ERROR, /* "protocol error" (a malformed response: 502) */
    SC_RESET_LOCAL_CONNECTION_FAILURE, /* "local connection failure" */
    SC_RESET_REMOTE_CONNECTION_FAILURE, /* "remote connection failure" */
    SC_RESET_N,
};

#define SC_LOCALREPLY_BODY_MAX 2048

struct sc_localreply {
    int status;
    unsigned flags; /* access-log response flags it implies */
    size_t body_len;
    char body[SC_LOCALREPLY_BODY_MAX]; /* NUL-terminated */
};

/* Envoy's wording of the reason ("connection failure"); "unknown" when out of range. */
const char *sc_localreply_reset_reason_str(enum sc_reset_reason why);

/* 503 (502 for PROTOCOL_ERROR) "upstream connect error or disconnect/reset
 * before headers. ..."; retried adds "retried and the latest "; a non-empty
 * transport_failure adds ", transport failure reason: <it>" (cut to fit).
 * Flags: UF for the connection failures and timeout, UC for termination, UO
 * for overflow, UR for remote reset, LR for local reset, UPE for protocol
 * error.  URX (retries exhausted) is the caller's to add. */
void sc_localreply_upstream_reset(struct sc_localreply *r, enum sc_reset_reason why, int retried,
                                  const char *transport_failure);

void sc_localreply_upstream_timeout(struct sc_localreply *r); /* 504, UT */
void sc_localreply_bad_request(struct sc_localreply *r); /* 400, DPE */
void sc_localreply_too_large(struct sc_localreply *r); /* 431, DPE */
void sc_localreply_request_timeout(struct sc_localreply *r); /* 408 */

/* The reply for a request the parser refused: 431 for TOO_LARGE, else 400. */
void sc_localreply_for_http1_error(struct sc_localreply *r, enum sc_http1_error e);

/* Serializes r.  close adds "connection: close"; head_request (the request
 * was HEAD) keeps content-length but sends no body; now is the Date.  Writes
 * at most cap bytes and sets *need; 0 when it fit, -1 when not. */
int sc_localreply_format(const struct sc_localreply *r, int close, int head_request, time_t now,
                         char *out, size_t cap, size_t *need);
int sc_localreply_write(const struct sc_localreply *r, int close, int head_request, time_t now,
                        struct evbuffer *out);

/* "Service Unavailable" for 503 and so on ("Unknown" for others). */
const char *sc_localreply_status_text(int status);

/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (29 characters + NUL). */
size_t sc_localreply_http_date(time_t t, char out[32]);

#endif
