#ifndef SC_X509_H
#define SC_X509_H

#include <stddef.h>
#include <time.h>
#include <openssl/x509.h>

#include "err.h"

/* Copies the certificate's first spiffe:// URI SAN into out (NUL-terminated),
 * byte for byte as the certificate has it: not validated (sc_spiffe_parse
 * does that) and not escaped, so it may hold control bytes.  Escape it
 * (common/escape.h) before it reaches any output.
 * Returns 0, or -1 when it has none (out is then ""). */
int sc_x509_spiffe_id(X509 *cert, char *out, size_t outlen);

/* The same for log lines: out holds the SPIFFE ID escaped by
 * sc_escape_text, or "none" when the certificate (or cert NULL) has none.
 * Returns out. */
const char *sc_x509_spiffe_id_or_none(X509 *cert, char *out, size_t outlen);

/* Every DNS, URI and IP SAN of the certificate for a log line, joined by
 * ",": a SPIFFE ID as it is, others with their type
 * ("spiffe://td/ns/a/sa/b,DNS:api.example.com,URI:https://x,IP:10.0.0.1"),
 * "none" when it has none (or cert is NULL).  Each value is escaped by
 * sc_escape_text, and the separator as \x2C, so a SAN cannot forge a line.
 * Truncated to outlen.  Returns out. */
const char *sc_x509_sans_str(X509 *cert, char *out, size_t outlen);

/* 1 when the certificate carries name as a DNS SAN (case-insensitive; a
 * "*.example.com" SAN matches one leftmost label) or as a URI SAN (exact),
 * else 0.  What DestinationRule subjectAltNames pin for SIMPLE / MUTUAL. */
int sc_x509_has_san(X509 *cert, const char *name);

/* One-line description for logs: subject, SPIFFE ID (escaped by
 * sc_escape_text), serial (hex) and issuer,
 * e.g. `subject="CN=client" san=spiffe://... serial=1A2B issuer="CN=foo"`.
 * Never prints key material. */
size_t sc_x509_describe(X509 *cert, char *out, size_t outlen);

/* Name as "CN=foo,O=bar" (RFC 2253 order reversed to read left to right).
 * RFC 2253 escaping already writes control bytes as \XX and '"', '\', ','
 * with a backslash; non-ASCII characters come out as UTF-8.  The result is
 * one line, fit for a text log; escape it again for JSON or a label. */
size_t sc_x509_name_str(const X509_NAME *name, char *out, size_t outlen);

/* Reads every PEM certificate in path into a new stack (caller frees with
 * sc_x509_stack_free).  Fails when the file holds none. */
STACK_OF(X509) * sc_x509_load_pem_file(const char *path, struct sc_err *err);
STACK_OF(X509) *
    sc_x509_load_pem_mem(const char *pem, size_t len, const char *what, struct sc_err *err);
void sc_x509_stack_free(STACK_OF(X509) * sk);

/* An ASN1_TIME as a Unix time (0 when NULL or unreadable). */
time_t sc_x509_time(const ASN1_TIME *t);
/* notBefore / notAfter as Unix times (0 when unreadable). */
time_t sc_x509_not_before(const X509 *cert);
time_t sc_x509_not_after(const X509 *cert);

/* The serial number as upper-case hex ("-" when unreadable). */
const char *sc_x509_serial_hex(const X509 *cert, char *out, size_t outlen);

/* Formats a Unix time as RFC 3339 UTC ("2026-05-12T09:59:00Z"). */
const char *sc_time_rfc3339(time_t t, char *out, size_t outlen);

#endif
