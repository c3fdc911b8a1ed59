#ifndef SC_SPIFFE_H
#define SC_SPIFFE_H

#include <stddef.h>

/* SPIFFE IDs (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md):
 *
 *   spiffe://<trust-domain>[/<segment>...]
 *
 * - the scheme is exactly "spiffe://" (lowercase);
 * - the trust domain is 1..255 of [a-z0-9._-] (no uppercase, port, userinfo);
 * - the path is empty or "/"-separated segments of [A-Za-z0-9._-], none
 *   empty (no "//", no trailing "/"), none "." or "..";
 * - so no percent-encoding, query, fragment or NUL byte can appear;
 * - the whole ID is at most SC_SPIFFE_MAX bytes.
 * This is what go-spiffe's ParseID accepts. */

#define SC_SPIFFE_MAX 2048
#define SC_SPIFFE_TD_MAX 255

struct sc_spiffe_id {
    char trust_domain[256]; /* "cluster.local" */
    char path[SC_SPIFFE_MAX]; /* "/ns/foo/sa/bar", or "" for a trust domain ID */
};

/* Parses s[0..len) (not NUL-terminated; an embedded NUL is invalid).
 * Returns 0 and fills out, or -1 (out cleared) for anything invalid. */
int sc_spiffe_parse(const char *s, size_t len, struct sc_spiffe_id *out);

/* 1 when id (a NUL-terminated SPIFFE ID) is valid and in trust domain td,
 * given as "cluster.local" or "spiffe://cluster.local"; else 0. */
int sc_spiffe_in_trust_domain(const char *id, const char *td);

/* Pattern match as Istio's principals: exact, "*" (any valid ID),
 * "prefix*" or "*suffix".  A '*' anywhere else is a literal character (so
 * it never matches).  Exact and prefix patterns may be written with or
 * without the "spiffe://" scheme, as Istio's principals
 * ("cluster.local/ns/foo/sa/x") are: one that does not start with
 * "spiffe://" is matched against the id without it.  Suffix patterns are
 * matched against the whole id.  id must be a valid SPIFFE ID, or nothing
 * matches.  Returns 1 or 0; NULL or empty arguments give 0. */
int sc_spiffe_match(const char *pattern, const char *id);

/* 1 when id matches any of patterns[0..n) (n may be 0 → returns 0). */
int sc_spiffe_match_any(char *const *patterns, size_t n, const char *id);

/* Istio-style parts: namespace and service account from a path that is
 * exactly /ns/<ns>/sa/<sa>.  Copies both NUL-terminated; returns 0, or -1
 * when the path has another shape or a buffer is too small. */
int sc_spiffe_istio_parts(const struct sc_spiffe_id *id, char *ns, size_t nslen, char *sa,
                          size_t salen);

#endif
