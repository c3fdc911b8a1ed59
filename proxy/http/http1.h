#ifndef SC_HTTP1_H
#define SC_HTTP1_H

#include <stddef.h>
#include <stdint.h>

/* HTTP/1.1 message parsing and head rewriting on top of llhttp (strict, no
 * lenient flags).  One struct sc_http1 per direction of a connection: a
 * request parser for the downstream side, a response parser for the upstream
 * side.  No sockets and no libevent loop here: the caller feeds bytes and
 * acts on events (docs/http.md has the whole picture).
 *
 * The design: the parser copies the head (start line and header fields)
 * into a buffer it owns and hands it over as struct sc_http1_head; the caller
 * re-serializes the head itself (sc_http1_head_format/_write: hop-by-hop
 * fields removed, its own fields set) and forwards the body bytes exactly as
 * they arrived -- chunk framing, extensions and trailers included.  The parser
 * only tracks the framing so it knows where each message ends; it never
 * buffers a body.
 *
 * Pull style: each call to sc_http1_feed() returns one event and how many of
 * the given bytes belong to it.  The parser stops after every message (DONE),
 * so pipelined requests can be answered in order: the caller feeds the rest
 * when it is ready for the next message. */

struct evbuffer;

#define SC_HTTP1_DEFAULT_MAX_HEAD (60 * 1024) /* bytes, start line to final CRLF */
#define SC_HTTP1_DEFAULT_MAX_HEADERS 100

enum sc_http1_kind {
    SC_HTTP1_REQUEST = 0,
    SC_HTTP1_RESPONSE,
};

struct sc_http1_limits {
    size_t max_head_bytes; /* raw bytes of the head, from the first byte after
                                 the previous message to the blank line, both
                                 included; 0 = SC_HTTP1_DEFAULT_MAX_HEAD.  Also
                                 bounds the trailer section (names + values). */
    size_t max_headers; /* header fields (and, separately, trailer fields);
                                 0 = SC_HTTP1_DEFAULT_MAX_HEADERS */
};

enum sc_http1_ev {
    SC_HTTP1_EV_NEED_MORE = 0, /* every given byte was consumed (all head bytes,
                                  copied as needed); feed more */
    SC_HTTP1_EV_BEGIN, /* a message starts at data[*consumed] (the
                                  consumed bytes were empty lines before it) */
    SC_HTTP1_EV_HEAD, /* the head is complete: sc_http1_head(); the
                                  consumed bytes are the raw head (do not forward) */
    SC_HTTP1_EV_BODY, /* data[0..*consumed) is body: forward as is */
    SC_HTTP1_EV_DONE, /* data[0..*consumed) is the end of the body (may
                                  be empty), and the message is complete */
    SC_HTTP1_EV_UPGRADE, /* the message that just completed switched
                                  protocols (101, 2xx to CONNECT, or an upgrade
                                  request): every later byte is raw; nothing is
                                  consumed from now on */
    SC_HTTP1_EV_EOF, /* sc_http1_finish(): clean end between messages */
    SC_HTTP1_EV_ERROR, /* sc_http1_error(); the parser stays in error */
};

/* Why parsing stopped.  For requests the caller answers
 * sc_http1_error_status() (400 or 431) and closes; for responses it is an
 * upstream protocol error (502). */
enum sc_http1_error {
    SC_HTTP1_E_NONE = 0,
    SC_HTTP1_E_TOO_LARGE, /* head over max_head_bytes, or more than max_headers */
    SC_HTTP1_E_CL_AND_TE, /* Content-Length together with Transfer-Encoding */
    SC_HTTP1_E_BAD_CONTENT_LENGTH, /* duplicate (even equal) or malformed Content-Length */
    SC_HTTP1_E_BAD_TRANSFER_ENCODING, /* request whose last coding is not chunked,
                                     chunked twice, or any Transfer-Encoding in HTTP/1.0 */
    SC_HTTP1_E_BAD_CHUNK, /* invalid chunk size, extension or framing */
    SC_HTTP1_E_OBS_FOLD, /* line folding (obs-fold), or whitespace before
                                      the first header field */
    SC_HTTP1_E_BARE_CR, /* CR not followed by LF */
    SC_HTTP1_E_BARE_LF, /* LF not preceded by CR, in the head or the trailers */
    SC_HTTP1_E_BAD_HEADER, /* invalid field name or value characters */
    SC_HTTP1_E_BAD_TARGET, /* request-target with CTL, SP or DEL */
    SC_HTTP1_E_BAD_VERSION, /* anything but HTTP/1.0 and HTTP/1.1 */
    SC_HTTP1_E_BAD_HOST, /* HTTP/1.1 request without Host, or several Host */
    SC_HTTP1_E_BAD_STATUS, /* status outside 100..599 */
    SC_HTTP1_E_BAD_UPGRADE, /* 101 without an upgrade request, or without Upgrade */
    SC_HTTP1_E_TRUNCATED, /* EOF inside a message */
    SC_HTTP1_E_AFTER_CLOSE, /* bytes after a message that ends the connection */
    SC_HTTP1_E_MALFORMED, /* anything else llhttp rejects (method, start line...) */
    SC_HTTP1_E_N,
};

/* How the body of a message is delimited (after the head was checked). */
enum sc_http1_framing {
    SC_HTTP1_BODY_NONE = 0, /* no body: no Content-Length nor Transfer-Encoding
                                 in a request, Content-Length: 0, a response to
                                 HEAD, 1xx/204/304, an upgrade/CONNECT without body */
    SC_HTTP1_BODY_LENGTH, /* Content-Length: content_length bytes */
    SC_HTTP1_BODY_CHUNKED, /* chunked, last coding of Transfer-Encoding */
    SC_HTTP1_BODY_EOF, /* response delimited by the connection closing */
};

struct sc_http1_header {
    const char *name; /* as received (case kept), NUL-terminated */
    size_t name_len;
    const char *value; /* leading and trailing whitespace removed, NUL-terminated */
    size_t value_len;
};

/* A parsed head.  Every pointer points into the parser's buffer and stays
 * valid until the parser returns BEGIN for the next message, or until
 * sc_http1_reset/_trim/_free.  No string holds a NUL, CR or LF byte. */
struct sc_http1_head {
    int is_request;
    int version_minor; /* HTTP/1.<minor>: 0 or 1 */
    /* requests */
    const char *method; /* "GET" (a static string) */
    const char *target; /* request-target as received */
    size_t target_len;
    int head_method; /* the method is HEAD */
    int connect; /* the method is CONNECT */
    int expect_continue; /* Expect: 100-continue in an HTTP/1.1 request */
    /* responses */
    int status; /* 100..599 */
    const char *reason; /* reason phrase, possibly "" */
    size_t reason_len;
    /* both */
    const struct sc_http1_header *headers;
    size_t n_headers;
    enum sc_http1_framing framing;
    uint64_t content_length; /* when framing is SC_HTTP1_BODY_LENGTH */
    int keep_alive; /* RFC 9112 §9.3: the connection may carry another
                                 message after this one (Connection: close, HTTP/1.0
                                 without keep-alive and EOF framing say no) */
    int upgrade; /* request: asks to switch protocols (Upgrade with
                                 Connection: upgrade, h2c excepted) or CONNECT;
                                 response: 101, or 2xx to CONNECT */
};

struct sc_http1;

/* A parser for one direction.  lim may be NULL (defaults).  NULL when out
 * of memory.  Nothing is allocated for the head until bytes arrive. */
struct sc_http1 *sc_http1_new(enum sc_http1_kind kind, const struct sc_http1_limits *lim);

/* Frees the parser and its buffers.  Accepts NULL. */
void sc_http1_free(struct sc_http1 *h);

/* Back to the state of a new parser (e.g. for another connection); keeps
 * the kind and limits, and the buffers' memory. */
void sc_http1_reset(struct sc_http1 *h);

/* Releases the head buffers when no message is in progress (for idle
 * keep-alive connections); the last head becomes invalid.  Returns 0, or -1
 * (nothing done) in the middle of a message. */
int sc_http1_trim(struct sc_http1 *h);

/* Bytes of head buffers the parser holds (what sc_http1_trim would free). */
size_t sc_http1_held(const struct sc_http1 *h);

/* Response parsers only: the request this response answers, before its
 * first byte is fed (it stays in force across 1xx interim responses).  A
 * response to HEAD has no body; a 2xx to CONNECT and a 101 to an upgrade
 * request switch protocols; a 101 to anything else is an error.  req may be
 * NULL (a plain GET-like request).  Only a few flags are copied. */
void sc_http1_expect_response(struct sc_http1 *h, const struct sc_http1_head *req);

/* Feeds data[0..len) (len may be 0: some events need no bytes, e.g. DONE
 * right after the HEAD of a bodiless message) and returns the next event;
 * *consumed is how many of the bytes it covers (see enum sc_http1_ev).  The
 * caller loops, advancing by *consumed, until NEED_MORE -- or stops after
 * DONE to answer a pipelined request first, and feeds the remaining bytes
 * later.  Never reads past len, never blocks, never buffers body bytes. */
enum sc_http1_ev sc_http1_feed(struct sc_http1 *h, const char *data, size_t len, size_t *consumed);

/* The same on the front of an evbuffer.  Bytes of the head (and empty lines
 * between messages) are drained by the parser itself.  For BODY and DONE,
 * *body_len bytes at the front of `in` are body bytes: the caller removes
 * exactly those (evbuffer_remove_buffer to forward them without a copy, or
 * evbuffer_drain) before the next call.  *body_len is 0 for other events. */
enum sc_http1_ev sc_http1_feed_evbuffer(struct sc_http1 *h, struct evbuffer *in, size_t *body_len);

/* The peer closed its side: ends a body delimited by EOF (returns DONE),
 * returns EOF between messages (or after a message that closes the
 * connection), ERROR (TRUNCATED) inside a message, UPGRADE after one. */
enum sc_http1_ev sc_http1_finish(struct sc_http1 *h);

/* After an upgrade request whose response did not switch protocols (no 101
 * / no 2xx to CONNECT): parse the following bytes as HTTP again.  Returns 0,
 * or -1 when the parser is not stopped at an upgrade request. */
int sc_http1_resume_after_upgrade(struct sc_http1 *h);

/* The head of the current (or last) message, or NULL before the first HEAD. */
const struct sc_http1_head *sc_http1_head(const struct sc_http1 *h);

/* 1 while a message has begun and not completed. */
int sc_http1_in_message(const struct sc_http1 *h);

enum sc_http1_error sc_http1_error(const struct sc_http1 *h);

/* A short human-readable reason for the error (llhttp's when it found it),
 * for logs; "" when there is none.  A static string or the parser's. */
const char *sc_http1_error_reason(const struct sc_http1 *h);

/* "too_large", "cl_and_te", ... (static; "unknown" for out of range). */
const char *sc_http1_error_name(enum sc_http1_error e);

/* What a server answers a request parse error with: 431 for TOO_LARGE,
 * 400 otherwise (0 for SC_HTTP1_E_NONE). */
int sc_http1_error_status(enum sc_http1_error e);

/* ---- head helpers ------------------------------------------------------ */

/* The value of the first field named `name` (case-insensitive), or NULL;
 * *len (may be NULL) gets its length. */
const char *sc_http1_head_get(const struct sc_http1_head *head, const char *name, size_t *len);

/* How many fields are named `name` (case-insensitive). */
size_t sc_http1_head_count(const struct sc_http1_head *head, const char *name);

/* 1 when the comma-separated list value[0..len) holds `token`
 * (case-insensitive, whitespace and ";params" around elements ignored). */
int sc_http1_has_token(const char *value, size_t len, const char *token);

/* ---- forwarding a head ------------------------------------------------- */

/* A field to set (replacing every field of that name) or, with value NULL,
 * to remove.  Names are matched case-insensitively and emitted as given. */
struct sc_http1_field {
    const char *name;
    const char *value;
};

enum sc_http1_connection {
    SC_HTTP1_CONN_NONE = 0, /* no Connection field (HTTP/1.1 persistent) */
    SC_HTTP1_CONN_CLOSE, /* Connection: close */
    SC_HTTP1_CONN_KEEP_ALIVE, /* Connection: keep-alive (for HTTP/1.0 peers) */
};

struct sc_http1_rewrite {
    const struct sc_http1_field *fields; /* may be NULL when n_fields is 0 */
    size_t n_fields;
    enum sc_http1_connection connection; /* ignored when the head upgrades:
                                              then "Connection: upgrade" */
};

/* Serializes head for forwarding:
 *  - start line: requests keep method, target and version (an HTTP/1.0
 *    request stays HTTP/1.0, so the upstream never answers it chunked);
 *    responses become "HTTP/1.1 <status> <reason>";
 *  - hop-by-hop fields removed (RFC 9110 §7.6.1): Connection and every field
 *    it names, Keep-Alive, Proxy-Connection, TE (re-added as "TE: trailers"
 *    when it listed trailers), Upgrade (kept only when head->upgrade),
 *    HTTP2-Settings.  Content-Length, Transfer-Encoding and Host are never
 *    removed because Connection names them: the body is forwarded as received,
 *    so its framing fields go with it unchanged;
 *  - rw->fields applied (rw may be NULL), appended after the kept fields;
 *  - the Connection field chosen by rw->connection, or "Connection: upgrade".
 * Writes at most cap bytes to out (out may be NULL when cap is 0) and sets
 * *need to the full length.  Returns 0 when it fit, -1 when it did not
 * (*need says how much is needed) or when a rewrite field is invalid (a name
 * that is not a token, a value with CR, LF or NUL: *need is then 0). */
int sc_http1_head_format(const struct sc_http1_head *head, const struct sc_http1_rewrite *rw,
                         char *out, size_t cap, size_t *need);

/* The same, appended to out in one contiguous reservation.  0 or -1. */
int sc_http1_head_write(const struct sc_http1_head *head, const struct sc_http1_rewrite *rw,
                        struct evbuffer *out);

#endif
