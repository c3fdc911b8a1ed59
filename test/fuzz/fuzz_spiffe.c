/* Fuzz target for common/spiffe.  The input is parsed as an ID; an accepted
 * ID must round-trip ("spiffe://" + trust_domain + path == input), be in its
 * own trust domain and match itself and "*".  An input "PATTERN\nID" also
 * drives the matchers with both parts.  Violations abort(). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spiffe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *cstr(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s == NULL) {
        abort();
    }
    if (n > 0) {
        memcpy(s, p, n);
    }
    s[n] = '\0';
    return s;
}

static void check_parsed(const uint8_t *data, size_t size, const struct sc_spiffe_id *id)
{
    size_t tdlen = strlen(id->trust_domain), plen = strlen(id->path);
    char ns[64], sa[64];
    char *s;

    if (tdlen == 0 || tdlen > SC_SPIFFE_TD_MAX || 9 + tdlen + plen != size ||
        memcmp(data, "spiffe://", 9) != 0 || memcmp(data + 9, id->trust_domain, tdlen) != 0 ||
        memcmp(data + 9 + tdlen, id->path, plen) != 0 || memchr(data, 0, size) != NULL) {
        abort();
    }
    s = cstr(data, size);
    if (sc_spiffe_in_trust_domain(s, id->trust_domain) != 1 || sc_spiffe_match(s, s) != 1 ||
        sc_spiffe_match("*", s) != 1) {
        abort();
    }
    if (sc_spiffe_istio_parts(id, ns, sizeof ns, sa, sizeof sa) == 0 &&
        (ns[0] == '\0' || sa[0] == '\0')) {
        abort();
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sc_spiffe_id id;
    const uint8_t *nl;
    char *s;

    if (sc_spiffe_parse((const char *)data, size, &id) == 0) {
        check_parsed(data, size, &id);
    } else if (id.trust_domain[0] != '\0' || id.path[0] != '\0') {
        abort();
    } else if (memchr(data, 0, size) == NULL) {
        s = cstr(data, size);
        if (sc_spiffe_match("*", s) != 0 || sc_spiffe_in_trust_domain(s, "cluster.local") != 0) {
            abort();
        }
        free(s);
    }

    nl = memchr(data, '\n', size);
    if (nl != NULL) {
        char *pat = cstr(data, (size_t)(nl - data));
        char *rest = cstr(nl + 1, size - (size_t)(nl - data) - 1);
        char *const pats[] = {pat, rest};

        (void)sc_spiffe_match(pat, rest);
        (void)sc_spiffe_match_any(pats, 2, rest);
        (void)sc_spiffe_in_trust_domain(rest, pat);
        free(rest);
        free(pat);
    }
    return 0;
}
