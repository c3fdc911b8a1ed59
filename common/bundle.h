#ifndef SC_BUNDLE_H
#define SC_BUNDLE_H

#include <openssl/x509.h>
#include <stddef.h>

#include "err.h"

/* A federated trust domain's bundle: its roots, from PEM text (one or more
 * certificates) or a SPIFFE bundle JSON document
 *   {"keys": [{"use": "x509-svid", "kty": "RSA", "x5c": ["<base64 DER>"]}, ...]}
 * where every key whose use is "x509-svid" contributes the first
 * certificate of its x5c (keys of other uses, e.g. "jwt-svid", are
 * skipped).  A text starting with '{' is JSON.  Returns a new stack (free
 * with sc_x509_stack_free) holding at least one certificate, or NULL with
 * err set ("<what>: ..."). */
STACK_OF(X509) *
    sc_bundle_parse(const char *text, size_t len, const char *what, struct sc_err *err);

#endif
