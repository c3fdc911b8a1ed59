#ifndef SC_ACCESSLOG_H
#define SC_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

/* HTTP access log: one record per request, formatted as Envoy's default
 * access-log line (or as JSON), and a sink that never blocks a worker.
 *
 * Text (Envoy's default format, then two fields of ours):
 *
 *   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
 *   %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
 *   %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%"
 *   "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%"
 *   "%UPSTREAM_HOST%" "%UPSTREAM_TRANSPORT_FAILURE_REASON%" <peer SPIFFE ID>\n
 *
 * on one line.  START_TIME is UTC with milliseconds (2026-11-24T10:00:00.123Z),
 * every unset or empty value prints as "-", RESPONSE_CODE is 0 when no
 * response was sent, several response flags are joined with "," in Envoy's
 * order.  Values are written as received (header values cannot hold control
 * characters; any other control byte is written as \xHH).
 *
 * JSON: one object per line with Istio's key names (start_time, method, path,
 * protocol, response_code, response_flags, bytes_received, bytes_sent,
 * duration, upstream_service_time, x_forwarded_for, user_agent, request_id,
 * authority, upstream_host, upstream_transport_failure_reason) and
 * peer_spiffe_id, and Istio's response_code_details,
 * connection_termination_details, upstream_cluster, upstream_local_address,
 * downstream_local_address, downstream_remote_address,
 * requested_server_name, route_name; numbers as numbers, unset values as
 * null.
 *
 * Istio (Istio's default accessLogFormat, field for field):
 *
 *   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
 *   %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%
 *   %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"
 *   %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
 *   "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%"
 *   "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER%
 *   %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS%
 *   %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n
 *
 * escaped and with "-" for unset values as in the text format. */

/* Response flags (Envoy's short names and meanings), in Envoy's order. */
#define SC_ACCESSLOG_UH (1u << 0) /* no healthy upstream (503) */
#define SC_ACCESSLOG_UT (1u << 1) /* upstream request timeout (504) */
#define SC_ACCESSLOG_LR (1u << 2) /* connection local reset */
#define SC_ACCESSLOG_UR (1u << 3) /* upstream remote reset */
#define SC_ACCESSLOG_UF (1u << 4) /* upstream connection failure (503) */
#define SC_ACCESSLOG_UC (1u << 5) /* upstream connection termination (503) */
#define SC_ACCESSLOG_UO (1u << 6) /* upstream overflow: pool and queue full (503) */
#define SC_ACCESSLOG_NR (1u << 7) /* no route configured (404) */
#define SC_ACCESSLOG_DC (1u << 8) /* downstream connection termination */
#define SC_ACCESSLOG_URX (1u << 9) /* upstream retry limit exceeded */
#define SC_ACCESSLOG_DPE (1u << 10) /* downstream protocol error (400, 431) */
#define SC_ACCESSLOG_UPE (1u << 11) /* upstream protocol error (502) */
#define SC_ACCESSLOG_FLAG_COUNT 12

/* The string fields of a record. */
enum sc_accesslog_field {
    SC_ACCESSLOG_METHOD = 0, /* %REQ(:METHOD)% */
    SC_ACCESSLOG_PATH, /* request-target (:PATH) */
    SC_ACCESSLOG_PROTOCOL, /* "HTTP/1.1", "HTTP/1.0" */
    SC_ACCESSLOG_UPSTREAM_SERVICE_TIME, /* %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% */
    SC_ACCESSLOG_FORWARDED_FOR, /* %REQ(X-FORWARDED-FOR)% */
    SC_ACCESSLOG_USER_AGENT, /* %REQ(USER-AGENT)% */
    SC_ACCESSLOG_REQUEST_ID, /* %REQ(X-REQUEST-ID)% (as forwarded) */
    SC_ACCESSLOG_AUTHORITY, /* %REQ(:AUTHORITY)%: Host */
    SC_ACCESSLOG_UPSTREAM_HOST, /* "10.0.0.7:8080" */
    SC_ACCESSLOG_TRANSPORT_FAILURE, /* %UPSTREAM_TRANSPORT_FAILURE_REASON% */
    SC_ACCESSLOG_PEER_ID, /* the mesh peer's SPIFFE ID (inbound: the
                                          caller; outbound: the server) */
    SC_ACCESSLOG_RESPONSE_CODE_DETAILS, /* %RESPONSE_CODE_DETAILS%: "via_upstream" */
    SC_ACCESSLOG_TERMINATION_DETAILS, /* %CONNECTION_TERMINATION_DETAILS% */
    SC_ACCESSLOG_UPSTREAM_CLUSTER, /* %UPSTREAM_CLUSTER%: "outbound|8080||host" */
    SC_ACCESSLOG_UPSTREAM_LOCAL_ADDRESS, /* %UPSTREAM_LOCAL_ADDRESS% */
    SC_ACCESSLOG_DOWNSTREAM_LOCAL_ADDRESS, /* %DOWNSTREAM_LOCAL_ADDRESS% */
    SC_ACCESSLOG_DOWNSTREAM_REMOTE_ADDRESS, /* %DOWNSTREAM_REMOTE_ADDRESS% */
    SC_ACCESSLOG_REQUESTED_SERVER_NAME, /* %REQUESTED_SERVER_NAME%: the SNI */
    SC_ACCESSLOG_ROUTE_NAME, /* %ROUTE_NAME% */
    SC_ACCESSLOG_HBONE, /* "<tunnel id>/<stream id>" when the request or
                                          connection rode an HBONE tunnel: text and istio
                                          lines end with " hbone=<value>", JSON has "hbone";
                                          absent otherwise */
    SC_ACCESSLOG_FIELD_N,
};

#define SC_ACCESSLOG_REC_BYTES 4096 /* all string fields of one record */
#define SC_ACCESSLOG_FIELD_MAX 1024 /* one field; longer values are cut */
#define SC_ACCESSLOG_LINE_MAX 32768 /* any record's line fits in this */

/* One request.  The caller embeds it (e.g. in its per-request state),
 * sc_accesslog_rec_init()s it at the request's start, fills it as the
 * request goes, and formats it once at the end.  String fields are copied
 * in, so the parser's buffers can be reused meanwhile. */
struct sc_accesslog_rec {
    struct timespec start; /* CLOCK_REALTIME at the first byte */
    int response_code; /* 0: no response was sent */
    unsigned flags; /* SC_ACCESSLOG_UF | ... */
    uint64_t bytes_received; /* request body bytes */
    uint64_t bytes_sent; /* response body bytes */
    int64_t duration_ms; /* start to last byte sent; < 0 prints "-" */
    uint16_t off[SC_ACCESSLOG_FIELD_N];
    uint16_t len[SC_ACCESSLOG_FIELD_N];
    uint16_t used;
    uint32_t keep; /* the fields rec_set stores, a bit each (all, after init) */
    char buf[SC_ACCESSLOG_REC_BYTES];
};

/* Clears r (not its string buffer: nothing in it is read before it is
 * set); start is set to now; duration_ms to -1; every field is kept. */
void sc_accesslog_rec_init(struct sc_accesslog_rec *r);
/* Only these fields (a mask of 1u << field) are stored from now on: when
 * no access log is written, a request keeps what its metrics read, and
 * copies no string only a log line would print. */
void sc_accesslog_rec_keep(struct sc_accesslog_rec *r, uint32_t mask);
/* Whether field f is stored: a caller may skip formatting a value. */
int sc_accesslog_rec_wants(const struct sc_accesslog_rec *r, enum sc_accesslog_field f);
/* The same for a record logged at its end: it started ms milliseconds ago
 * (an L4 connection or stream). */
void sc_accesslog_rec_init_ago(struct sc_accesslog_rec *r, long ms);

/* Copies s[0..n) into field f (s may be NULL when n is 0: unset).  Values
 * are cut at SC_ACCESSLOG_FIELD_MAX and at what is left of the record's
 * buffer.  Setting a field again replaces it (the old copy's space is not
 * reused). */
void sc_accesslog_rec_set(struct sc_accesslog_rec *r, enum sc_accesslog_field f, const char *s,
                          size_t n);
void sc_accesslog_rec_sets(struct sc_accesslog_rec *r, enum sc_accesslog_field f, const char *s);

/* The field's value (not NUL-terminated) and its length; NULL when unset. */
const char *sc_accesslog_rec_get(const struct sc_accesslog_rec *r, enum sc_accesslog_field f,
                                 size_t *n);

enum sc_accesslog_format {
    SC_ACCESSLOG_TEXT = 0,
    SC_ACCESSLOG_JSON,
    SC_ACCESSLOG_ISTIO, /* Istio's default text format */
};

/* Formats r as one line ending in '\n', NUL-terminated.  Returns its length;
 * with outlen >= SC_ACCESSLOG_LINE_MAX it always fits, otherwise 0 is
 * returned when it does not (out is then ""). */
size_t sc_accesslog_format(const struct sc_accesslog_rec *r, enum sc_accesslog_format fmt,
                           char *out, size_t outlen);

/* "-" or e.g. "UF,URX" into out; returns the length (0 if it does not fit). */
size_t sc_accesslog_flags_str(unsigned flags, char *out, size_t outlen);

/* The short name of one flag ("UF"), or NULL for anything else. */
const char *sc_accesslog_flag_name(unsigned flag);

/* START_TIME: "2026-11-24T10:00:00.123Z" (24 characters + NUL). */
size_t sc_accesslog_time(const struct timespec *ts, char out[32]);

/* ---- the sink ------------------------------------------------------------
 * Workers never block on it: each worker owns a ring buffer (single
 * producer, single consumer, lock-free); a line is copied in whole or, when
 * the ring is full, dropped and counted.  One writer thread drains the rings
 * into the destination: whole lines per write(2); on pipes, sockets and
 * terminals at most PIPE_BUF bytes per write so lines never interleave with
 * other writers (the connection log shares stdout).  The writer sleeps on an
 * eventfd; a worker pays one atomic load per line, plus one write(2) to wake
 * a sleeping writer. */

enum sc_accesslog_dest {
    SC_ACCESSLOG_OFF = 0,
    SC_ACCESSLOG_STDOUT,
    SC_ACCESSLOG_FILE, /* path, opened O_APPEND|O_CREAT (0644) */
    SC_ACCESSLOG_FD, /* fd, borrowed (tests, pipes) */
};

struct sc_accesslog_sink_config {
    enum sc_accesslog_dest dest;
    const char *path;
    int fd;
    enum sc_accesslog_format format; /* for sc_accesslog_sink_log */
    unsigned workers; /* rings; 0 means 1 */
    size_t ring_bytes; /* per ring, rounded up to a power of two;
                                          0 = 256 KiB; at least 64 KiB */
    unsigned flush_ms; /* the writer's longest sleep; 0 = 1000 */
};

struct sc_accesslog_sink_stats {
    uint64_t lines; /* queued */
    uint64_t dropped; /* ring full, or longer than SC_ACCESSLOG_LINE_MAX */
    uint64_t bytes_written;
    uint64_t write_errors; /* failed writes (their bytes are lost) */
};

struct sc_accesslog_sink;

/* Opens the destination and starts the writer (none for OFF).  NULL with
 * err filled when the file cannot be opened or the thread not started. */
struct sc_accesslog_sink *sc_accesslog_sink_new(const struct sc_accesslog_sink_config *cfg,
                                                struct sc_err *err);

/* Writes what is queued (waiting at most about a second for a destination
 * that does not drain), stops the writer, closes a FILE.  Accepts NULL. */
void sc_accesslog_sink_free(struct sc_accesslog_sink *s);

/* Queues line[0..len) (it should end in '\n') on worker's ring.  Returns 0
 * when queued (or the sink is OFF/NULL), -1 when dropped.  Only the thread
 * that owns `worker` may call this for it. */
int sc_accesslog_sink_write(struct sc_accesslog_sink *s, unsigned worker, const char *line,
                            size_t len);

/* Formats r in the sink's format and queues it.  0 or -1 like _write. */
/* Whether lines sent to s are written anywhere (not NULL, not "off"). */
int sc_accesslog_sink_enabled(const struct sc_accesslog_sink *s);
int sc_accesslog_sink_log(struct sc_accesslog_sink *s, unsigned worker,
                          const struct sc_accesslog_rec *r);

/* Asks the writer to reopen a FILE destination (log rotation); async. */
void sc_accesslog_sink_reopen(struct sc_accesslog_sink *s);

/* Waits until every queued line was written, at most timeout_ms.  0, or -1
 * on timeout.  For shutdown and tests, never on a worker. */
int sc_accesslog_sink_flush(struct sc_accesslog_sink *s, int timeout_ms);

void sc_accesslog_sink_stats(const struct sc_accesslog_sink *s,
                             struct sc_accesslog_sink_stats *out);

#endif
