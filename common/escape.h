#ifndef SC_ESCAPE_H
#define SC_ESCAPE_H

#include <stddef.h>

#include "outbuf.h"

/* One escaper per output format, for every value that comes from the
 * network or a certificate (SANs, subjects, SPIFFE IDs, request fields) and
 * reaches a log line, JSON or a metric label.  Each appends the escaped
 * form of s[0..len) to o, never splitting an escape sequence: when the room
 * runs out, o->bad is set and the value is cut before the sequence that did
 * not fit.  None writes quotes around the value; the format's caller does.
 * The output of each is one line and valid UTF-8, whatever the input. */

/* Text logs (the connection log, sc_log lines, the text access log):
 * control bytes (below 0x20), DEL, C1 controls (U+0080..U+009F), the
 * backslash and bytes that are not part of valid UTF-8 become \xHH
 * (upper-case hex), so "\x0A" in a log line always means a byte that was
 * there, never a line that was not.  Valid UTF-8 passes as it is. */
void sc_escape_text(struct sc_outbuf *o, const char *s, size_t len);

/* The contents of a JSON string (RFC 8259): '"' and '\' as \" and \\,
 * control bytes and DEL as \u00XX; a byte that is not part of valid UTF-8
 * as \u00XX too (read as Latin-1), so the document always parses. */
void sc_escape_json(struct sc_outbuf *o, const char *s, size_t len);

/* A Prometheus text-format label value: '\', '"' and newline as \\, \" and
 * \n (the only escapes the format has); other control bytes and bytes that
 * are not valid UTF-8 become U+FFFD, since the format cannot carry them. */
void sc_escape_prom_label(struct sc_outbuf *o, const char *s, size_t len);

/* The signature of the three escapers above. */
typedef void sc_escape_fn(struct sc_outbuf *o, const char *s, size_t len);

struct evbuffer;

/* Appends fn's escaped form of s[0..len) to b, whole (b grows as needed:
 * for the admin endpoints, not the data path).  Returns 0, or -1 when out
 * of memory (nothing is appended then). */
int sc_escape_evbuffer(struct evbuffer *b, sc_escape_fn *fn, const char *s, size_t len);

/* sc_escape_text of the NUL-terminated s (NULL reads as "-") into
 * out[0..outlen), NUL-terminated, cut at a sequence boundary when it does
 * not fit.  Returns out, for a printf argument. */
const char *sc_escape_text_str(const char *s, char *out, size_t outlen);

#endif
