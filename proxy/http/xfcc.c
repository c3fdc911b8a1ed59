/* x-forwarded-client-cert: formatting our element, parsing incoming
 * values, and the per-mode decision.  See xfcc.h. */

#include "xfcc.h"
#include "outbuf.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <string.h>

/* ---- modes -------------------------------------------------------------- */

static const char *const mode_names[SC_XFCC_MODE_N] = {
    [SC_XFCC_SANITIZE] = "SANITIZE",
    [SC_XFCC_FORWARD_ONLY] = "FORWARD_ONLY",
    [SC_XFCC_APPEND_FORWARD] = "APPEND_FORWARD",
    [SC_XFCC_SANITIZE_SET] = "SANITIZE_SET",
    [SC_XFCC_ALWAYS_FORWARD_ONLY] = "ALWAYS_FORWARD_ONLY",
};

enum sc_xfcc_action sc_xfcc_action(enum sc_xfcc_mode mode, int peer_mtls)
{
    switch (mode) {
    case SC_XFCC_ALWAYS_FORWARD_ONLY:
        return SC_XFCC_KEEP;
    case SC_XFCC_FORWARD_ONLY:
        return peer_mtls ? SC_XFCC_KEEP : SC_XFCC_REMOVE;
    case SC_XFCC_APPEND_FORWARD:
        return peer_mtls ? SC_XFCC_APPEND : SC_XFCC_REMOVE;
    case SC_XFCC_SANITIZE_SET:
        return peer_mtls ? SC_XFCC_SET : SC_XFCC_REMOVE;
    case SC_XFCC_SANITIZE:
    default:
        return SC_XFCC_REMOVE;
    }
}

int sc_xfcc_mode_parse(const char *s, enum sc_xfcc_mode *out)
{
    int i;

    for (i = 0; s != NULL && i < SC_XFCC_MODE_N; i++) {
        if (strcmp(s, mode_names[i]) == 0) {
            *out = (enum sc_xfcc_mode)i;
            return 0;
        }
    }
    return -1;
}

const char *sc_xfcc_mode_name(enum sc_xfcc_mode m)
{
    return (unsigned)m < SC_XFCC_MODE_N ? mode_names[m] : "unknown";
}

/* ---- formatting --------------------------------------------------------- */


static int needs_quotes(const unsigned char *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (v[i] == ',' || v[i] == ';' || v[i] == '=' || v[i] == '"' || v[i] == '\\' ||
            v[i] == ' ' || v[i] == '\t') {
            return 1;
        }
    }
    return 0;
}

/* Key=value, quoted (with '"' and '\' escaped) when the value needs it.
 * force_quotes is for the subject: always quoted, and taken as is because
 * RFC 2253 printing already escaped it (Envoy does the same).  Bytes a field
 * value cannot carry make the element invalid. */
static void put_pair(struct sc_outbuf *o, const char *key, const unsigned char *v, size_t n,
                     int force_quotes)
{
    size_t i;
    int q = force_quotes || needs_quotes(v, n);

    if (o->len > 0) {
        sc_outbuf_put(o, ";", 1);
    }
    sc_outbuf_puts(o, key);
    sc_outbuf_put(o, "=", 1);
    if (q) {
        sc_outbuf_put(o, "\"", 1);
    }
    for (i = 0; i < n; i++) {
        if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f) {
            o->bad = 1;
            return;
        }
        if (q && !force_quotes && (v[i] == '"' || v[i] == '\\')) {
            sc_outbuf_put(o, "\\", 1);
        }
        sc_outbuf_put(o, (const char *)v + i, 1);
    }
    if (q) {
        sc_outbuf_put(o, "\"", 1);
    }
}

int sc_xfcc_cert_hash(X509 *cert, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    out[0] = '\0';
    if (cert == NULL || X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

/* The subject as Envoy prints it: X509_NAME_print_ex with XN_FLAG_RFC2253,
 * which already escapes '"', '\', ',', ';', '+', '<', '>', control
 * characters and non-ASCII bytes with backslashes. */
static void put_subject(struct sc_outbuf *o, X509 *cert)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;

    if (b == NULL || X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
        BIO_free(b);
        o->bad = 1;
        return;
    }
    n = BIO_get_mem_data(b, &data);
    put_pair(o, "Subject", (const unsigned char *)(n > 0 ? data : ""), n > 0 ? (size_t)n : 0, 1);
    BIO_free(b);
}

/* Bytes a header value cannot carry: CTL (but tab) and DEL. */
static int has_ctl(const unsigned char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f) {
            return 1;
        }
    }
    return 0;
}

/* One pair per SAN of type `type` (GEN_URI or GEN_DNS) that a header can
 * carry; with always, an empty pair when there is none. */
static void put_sans(struct sc_outbuf *o, X509 *cert, int type, const char *key, int always)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int i, found = 0;

    for (i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        const ASN1_STRING *s;

        if (gn->type != type) {
            continue;
        }
        s = type == GEN_URI ? gn->d.uniformResourceIdentifier : gn->d.dNSName;
        if (has_ctl(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s))) {
            continue; /* no header can carry it: left out, not the element */
        }
        put_pair(o, key, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s), 0);
        found = 1;
    }
    GENERAL_NAMES_free(names);
    if (!found && always) {
        put_pair(o, key, (const unsigned char *)"", 0, 0);
    }
}

int sc_xfcc_element(X509 *peer, const char *by, char *out, size_t outlen, size_t *len)
{
    struct sc_outbuf o;

    sc_outbuf_init(&o, out, outlen);
    char hash[65];

    if (len != NULL) {
        *len = 0;
    }
    if (outlen > 0) {
        out[0] = '\0';
    }
    if (peer == NULL || sc_xfcc_cert_hash(peer, hash) != 0) {
        return -1;
    }
    if (by != NULL && by[0] != '\0') {
        put_pair(&o, "By", (const unsigned char *)by, strlen(by), 0);
    }
    put_pair(&o, "Hash", (const unsigned char *)hash, 64, 0);
    put_subject(&o, peer);
    put_sans(&o, peer, GEN_URI, "URI", 1);
    put_sans(&o, peer, GEN_DNS, "DNS", 0);
    if (o.bad) {
        if (outlen > 0) {
            out[0] = '\0';
        }
        return -1;
    }
    out[o.len] = '\0';
    if (len != NULL) {
        *len = o.len;
    }
    return 0;
}

/* ---- parsing ------------------------------------------------------------ */

static int is_ows(int c)
{
    return c == ' ' || c == '\t';
}

static int is_key_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static int is_ctl(int c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

int sc_xfcc_parse(const char *s, size_t len, sc_xfcc_pair_fn *fn, void *arg)
{
    size_t i = 0, element = 0;

    while (i < len && is_ows((unsigned char)s[i])) {
        i++;
    }
    if (i == len) {
        return 0;
    }
    for (;;) { /* one pair per turn; i only grows */
        size_t k0, k1, v0, v1;
        int quoted = 0;

        while (i < len && is_ows((unsigned char)s[i])) {
            i++;
        }
        k0 = i;
        while (i < len && is_key_char((unsigned char)s[i])) {
            i++;
        }
        k1 = i;
        if (k1 == k0 || i >= len || s[i] != '=') {
            return -1;
        }
        i++;
        if (i < len && s[i] == '"') {
            quoted = 1;
            v0 = ++i;
            while (i < len && s[i] != '"') {
                if (is_ctl((unsigned char)s[i])) {
                    return -1;
                }
                if (s[i] == '\\') {
                    if (i + 1 >= len || is_ctl((unsigned char)s[i + 1])) {
                        return -1;
                    }
                    i++;
                }
                i++;
            }
            if (i >= len) {
                return -1; /* unterminated quote */
            }
            v1 = i++;
        } else {
            v0 = i;
            while (i < len && s[i] != ';' && s[i] != ',') {
                unsigned char c = (unsigned char)s[i];

                if (c == '"' || c == '=' || c == '\\' || is_ctl(c)) {
                    return -1;
                }
                i++;
            }
            v1 = i;
            while (v1 > v0 && is_ows((unsigned char)s[v1 - 1])) {
                v1--;
            }
        }
        if (fn != NULL && fn(arg, element, s + k0, k1 - k0, s + v0, v1 - v0, quoted) != 0) {
            return -1;
        }
        while (i < len && is_ows((unsigned char)s[i])) {
            i++;
        }
        if (i == len) {
            return (int)(element + 1);
        }
        if (s[i] == ',') {
            element++;
            if (element >= (size_t)1 << 30) {
                return -1;
            }
        } else if (s[i] != ';') {
            return -1;
        }
        i++;
        while (i < len && is_ows((unsigned char)s[i])) {
            i++;
        }
        if (i == len) {
            return -1; /* a dangling separator */
        }
    }
}

int sc_xfcc_unquote(const char *value, size_t vlen, char *out, size_t outlen)
{
    size_t i, n = 0;

    if (outlen == 0) {
        return -1;
    }
    for (i = 0; i < vlen; i++) {
        if (value[i] == '\\' && i + 1 < vlen) {
            i++;
        }
        if (n + 1 >= outlen) {
            out[0] = '\0';
            return -1;
        }
        out[n++] = value[i];
    }
    out[n] = '\0';
    return (int)n;
}

int sc_xfcc_forward_value(enum sc_xfcc_action act, const struct sc_xfcc_part *in, size_t n_in,
                          const char *element, char *out, size_t outlen, size_t *len)
{
    struct sc_outbuf o;

    sc_outbuf_init(&o, out, outlen);
    int use_in = act == SC_XFCC_KEEP || act == SC_XFCC_APPEND;
    int use_el =
        (act == SC_XFCC_SET || act == SC_XFCC_APPEND) && element != NULL && element[0] != '\0';
    size_t i;

    if (len != NULL) {
        *len = 0;
    }
    if (outlen > 0) {
        out[0] = '\0';
    }
    if (act == SC_XFCC_APPEND) {
        /* every incoming part must parse, or none is kept */
        for (i = 0; i < n_in; i++) {
            if (sc_xfcc_parse(in[i].p, in[i].n, NULL, NULL) < 0) {
                use_in = 0;
            }
        }
    }
    for (i = 0; use_in && i < n_in; i++) {
        size_t a = 0, b = in[i].n;

        while (a < b && is_ows((unsigned char)in[i].p[a])) {
            a++;
        }
        while (b > a && is_ows((unsigned char)in[i].p[b - 1])) {
            b--;
        }
        if (a == b) {
            continue;
        }
        if (o.len > 0) {
            sc_outbuf_put(&o, ",", 1);
        }
        sc_outbuf_put(&o, in[i].p + a, b - a);
    }
    if (use_el) {
        if (o.len > 0) {
            sc_outbuf_put(&o, ",", 1);
        }
        sc_outbuf_puts(&o, element);
    }
    if (o.bad) {
        if (outlen > 0) {
            out[0] = '\0';
        }
        return -1;
    }
    if (o.len == 0) {
        return 0;
    }
    out[o.len] = '\0';
    if (len != NULL) {
        *len = o.len;
    }
    return 1;
}
