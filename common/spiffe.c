/* SPIFFE ID parsing and Istio-style principal matching. */

#include "spiffe.h"

#include <string.h>

#define SCHEME "spiffe://"
#define SCHEME_LEN (sizeof SCHEME - 1)

static int td_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int path_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

/* Checks a trust domain name td[0..len). */
static int td_valid(const char *td, size_t len)
{
    size_t i;

    if (len == 0 || len > SC_SPIFFE_TD_MAX) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!td_char((unsigned char)td[i])) {
            return 0;
        }
    }
    return 1;
}

/* Checks a path p[0..len): empty, or "/seg" repeated. */
static int path_valid(const char *p, size_t len)
{
    size_t i = 0;

    while (i < len) { /* one segment per pass */
        size_t start, seglen;

        if (p[i] != '/') {
            return 0;
        }
        start = ++i;
        while (i < len && p[i] != '/') {
            if (!path_char((unsigned char)p[i])) {
                return 0;
            }
            i++;
        }
        seglen = i - start;
        if (seglen == 0) { /* "//" or a trailing "/" */
            return 0;
        }
        if ((seglen == 1 && p[start] == '.') ||
            (seglen == 2 && p[start] == '.' && p[start + 1] == '.')) {
            return 0;
        }
    }
    return 1;
}

int sc_spiffe_parse(const char *s, size_t len, struct sc_spiffe_id *out)
{
    const char *td;
    size_t tdlen;
    const char *slash;

    if (out != NULL) {
        out->trust_domain[0] = '\0';
        out->path[0] = '\0';
    }
    if (s == NULL || len > SC_SPIFFE_MAX || len < SCHEME_LEN ||
        memcmp(s, SCHEME, SCHEME_LEN) != 0) {
        return -1;
    }
    td = s + SCHEME_LEN;
    slash = memchr(td, '/', len - SCHEME_LEN);
    tdlen = slash != NULL ? (size_t)(slash - td) : len - SCHEME_LEN;
    if (!td_valid(td, tdlen) || !path_valid(td + tdlen, len - SCHEME_LEN - tdlen)) {
        return -1;
    }
    if (out != NULL) {
        memcpy(out->trust_domain, td, tdlen);
        out->trust_domain[tdlen] = '\0';
        memcpy(out->path, td + tdlen, len - SCHEME_LEN - tdlen);
        out->path[len - SCHEME_LEN - tdlen] = '\0';
    }
    return 0;
}

/* Validates a NUL-terminated id without running past SC_SPIFFE_MAX + 1. */
static int id_valid(const char *id, struct sc_spiffe_id *out)
{
    size_t len;

    if (id == NULL) {
        return 0;
    }
    len = strnlen(id, SC_SPIFFE_MAX + 1);
    return sc_spiffe_parse(id, len, out) == 0;
}

int sc_spiffe_in_trust_domain(const char *id, const char *td)
{
    struct sc_spiffe_id parsed;
    size_t tdlen;

    if (td == NULL || !id_valid(id, &parsed)) {
        return 0;
    }
    if (strncmp(td, SCHEME, SCHEME_LEN) == 0) {
        td += SCHEME_LEN;
    }
    tdlen = strnlen(td, SC_SPIFFE_TD_MAX + 1);
    if (!td_valid(td, tdlen)) {
        return 0;
    }
    return strcmp(parsed.trust_domain, td) == 0;
}

/* The match itself; id is already known valid. */
static int match_valid(const char *pattern, const char *id)
{
    size_t plen, ilen;

    if (pattern == NULL || pattern[0] == '\0') {
        return 0;
    }
    if (strcmp(pattern, "*") == 0) {
        return 1;
    }
    plen = strlen(pattern);
    if (pattern[0] == '*' && strchr(pattern + 1, '*') == NULL) {
        /* suffix: the same with or without the scheme */
        ilen = strlen(id);
        return ilen >= plen - 1 && memcmp(id + ilen - (plen - 1), pattern + 1, plen - 1) == 0;
    }
    if (strncmp(pattern, SCHEME, SCHEME_LEN) != 0) {
        id += SCHEME_LEN; /* Istio principal form */
    }
    ilen = strlen(id);
    if (pattern[plen - 1] == '*' && memchr(pattern, '*', plen - 1) == NULL) {
        return ilen >= plen - 1 && memcmp(id, pattern, plen - 1) == 0;
    }
    return strcmp(pattern, id) == 0;
}

int sc_spiffe_match(const char *pattern, const char *id)
{
    if (!id_valid(id, NULL)) {
        return 0;
    }
    return match_valid(pattern, id);
}

int sc_spiffe_match_any(char *const *patterns, size_t n, const char *id)
{
    size_t i;

    if (patterns == NULL || n == 0 || !id_valid(id, NULL)) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (match_valid(patterns[i], id)) {
            return 1;
        }
    }
    return 0;
}

/* Copies the segment p[0..n) into dst (dstlen bytes with the NUL). */
static int copy_seg(char *dst, size_t dstlen, const char *p, size_t n)
{
    if (dst == NULL || dstlen <= n) {
        return -1;
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
    return 0;
}

int sc_spiffe_istio_parts(const struct sc_spiffe_id *id, char *ns, size_t nslen, char *sa,
                          size_t salen)
{
    const char *p, *ns_end, *sa_start;

    if (id == NULL || memchr(id->path, '\0', sizeof id->path) == NULL) {
        return -1;
    }
    p = id->path;
    if (strncmp(p, "/ns/", 4) != 0) {
        return -1;
    }
    p += 4;
    ns_end = strchr(p, '/');
    if (ns_end == NULL || ns_end == p || strncmp(ns_end, "/sa/", 4) != 0) {
        return -1;
    }
    sa_start = ns_end + 4;
    if (sa_start[0] == '\0' || strchr(sa_start, '/') != NULL) {
        return -1;
    }
    if (copy_seg(ns, nslen, p, (size_t)(ns_end - p)) != 0 ||
        copy_seg(sa, salen, sa_start, strlen(sa_start)) != 0) {
        return -1;
    }
    return 0;
}
