#ifndef SC_XFCC_H
#define SC_XFCC_H

#include <stddef.h>
#include <openssl/x509.h>

/* x-forwarded-client-cert (XFCC), Envoy's format
 * (envoyproxy.io, "HTTP header manipulation", x-forwarded-client-cert):
 *
 *   the value is a comma-separated list of elements, one per proxy hop;
 *   an element is a semicolon-separated list of Key=Value pairs;
 *   keys are case-insensitive, values case-sensitive; a value holding
 *   ',', ';', '=' or '"' is double-quoted, with '"' escaped as \".
 *
 * The element this sidecar adds for an mTLS peer is, in Envoy's key order
 * and with Istio's set_current_client_cert_details (subject, uri, dns):
 *
 *   By=<our SPIFFE ID>;Hash=<hex SHA-256 of the peer certificate DER>;
 *   Subject="<peer subject, RFC 2253>";URI=<peer URI SAN>[;URI=...][;DNS=<dns SAN>...]
 *
 * Subject is always quoted (and present, "" when empty); URI is present
 * even without a URI SAN ("URI="); one DNS pair per DNS SAN, none without.
 *
 * Which element(s) reach the app is the mode's business (Envoy's
 * forward_client_cert_details); see sc_xfcc_action(). */

enum sc_xfcc_mode {
    SC_XFCC_SANITIZE = 0, /* never forward XFCC */
    SC_XFCC_FORWARD_ONLY, /* mTLS peer: forward as received; else remove */
    SC_XFCC_APPEND_FORWARD, /* mTLS peer: received + our element; else remove */
    SC_XFCC_SANITIZE_SET, /* mTLS peer: only our element; else remove */
    SC_XFCC_ALWAYS_FORWARD_ONLY, /* forward as received, even from plaintext peers */
    SC_XFCC_MODE_N,
};

enum sc_xfcc_action {
    SC_XFCC_REMOVE = 0, /* drop every incoming XFCC field */
    SC_XFCC_KEEP, /* forward incoming XFCC unchanged */
    SC_XFCC_SET, /* replace it with our element */
    SC_XFCC_APPEND, /* append our element to the incoming value */
};

/* What to do with a request's XFCC, given the mode and whether the
 * downstream connection is mesh mTLS with a verified peer certificate.  A
 * plaintext (or one-way TLS) request never gets an element and, unless the
 * mode is ALWAYS_FORWARD_ONLY, loses whatever XFCC it carried: a forged
 * header is never trusted. */
enum sc_xfcc_action sc_xfcc_action(enum sc_xfcc_mode mode, int peer_mtls);

/* Envoy's names: "SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD",
 * "SANITIZE_SET", "ALWAYS_FORWARD_ONLY" (case-sensitive).  0 or -1. */
int sc_xfcc_mode_parse(const char *s, enum sc_xfcc_mode *out);
const char *sc_xfcc_mode_name(enum sc_xfcc_mode m); /* "unknown" if out of range */

/* Formats the element for peer (borrowed).  by is our SPIFFE ID (NULL or ""
 * leaves By out).  Writes a NUL-terminated string to out; *len (may be NULL)
 * gets its length.  A SAN holding bytes a header value cannot carry (CTL,
 * DEL) is left out, the rest of the element stays: one such SAN must not
 * hide the peer's identity from the app.  The subject needs no such care:
 * RFC 2253 printing escapes control bytes.  Returns 0, or -1 when out is too
 * small, peer is NULL, or by holds such bytes.  The element depends only on
 * the two certificates: compute it once per connection. */
int sc_xfcc_element(X509 *peer, const char *by, char *out, size_t outlen, size_t *len);

/* Lowercase hex SHA-256 of the DER encoding (64 characters + NUL into out,
 * which must hold 65).  0 or -1. */
int sc_xfcc_cert_hash(X509 *cert, char out[65]);

/* Called for each Key=Value pair: element index (0-based), the key, the raw
 * value (without the surrounding quotes, escapes still in), and whether it
 * was quoted.  Return 0 to go on, -1 to stop (sc_xfcc_parse then fails). */
typedef int sc_xfcc_pair_fn(void *arg, size_t element, const char *key, size_t key_len,
                            const char *value, size_t value_len, int quoted);

/* Parses an XFCC value s[0..len) (not NUL-terminated).  fn may be NULL.
 * Returns the number of elements (0 for an empty or all-whitespace value),
 * or -1 for anything malformed: a key that is not [A-Za-z0-9_-]+, a missing
 * '=', an empty element or pair, an unterminated quote, a dangling backslash,
 * '"' or '=' inside an unquoted value, a control character.  Whitespace
 * around separators is allowed.  Never reads past len. */
int sc_xfcc_parse(const char *s, size_t len, sc_xfcc_pair_fn *fn, void *arg);

/* Removes the backslash escapes of a quoted value.  Writes at most outlen
 * bytes plus a NUL (outlen >= 1) and returns the unescaped length, which is
 * never more than vlen; -1 when out is too small. */
int sc_xfcc_unquote(const char *value, size_t vlen, char *out, size_t outlen);

/* One incoming XFCC field value. */
struct sc_xfcc_part {
    const char *p;
    size_t n;
};

/* The XFCC value to forward for action act, from the incoming field values
 * in[0..n_in) (all XFCC fields of the request, in order) and our element.
 *   REMOVE: nothing.
 *   KEEP:   the incoming values joined with ",".
 *   SET:    the element.
 *   APPEND: the incoming values joined with "," then "," and the element;
 *           when the incoming value does not parse (see sc_xfcc_parse) it is
 *           dropped and only the element is sent, so a malformed prefix (an
 *           open quote, say) cannot swallow or disguise our element.
 * Returns 1 and writes a NUL-terminated value to out (*len gets its length),
 * 0 when no XFCC field is to be forwarded, -1 when out is too small. */
int sc_xfcc_forward_value(enum sc_xfcc_action act, const struct sc_xfcc_part *in, size_t n_in,
                          const char *element, char *out, size_t outlen, size_t *len);

#endif
