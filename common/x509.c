#include "x509.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int sc_x509_spiffe_id(X509 *cert, char *out, size_t outlen)
{
    GENERAL_NAMES *names = NULL;
    int found = -1;

    if (outlen > 0) {
        out[0] = '\0';
    }
    if (cert == NULL) {
        return -1;
    }
    names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        const unsigned char *s;
        int len;

        if (gn->type != GEN_URI) {
            continue;
        }
        s = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
        len = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
        if (len < 9 || strncmp((const char *)s, "spiffe://", 9) != 0) {
            continue;
        }
        if ((size_t)len >= outlen || memchr(s, '\0', (size_t)len) != NULL) {
            continue;
        }
        memcpy(out, s, (size_t)len);
        out[len] = '\0';
        found = 0;
        break;
    }
    GENERAL_NAMES_free(names);
    return found;
}

const char *sc_x509_spiffe_id_or_none(X509 *cert, char *out, size_t outlen)
{
    if (sc_x509_spiffe_id(cert, out, outlen) != 0) {
        snprintf(out, outlen, "none");
    }
    return out;
}

/* Appends len bytes of s to out at *used, \xHH for anything unprintable
 * or a comma. */
static void put_escaped(char *out, size_t outlen, size_t *used, const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len && *used + 1 < outlen; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != ',' && s[i] != '\\') {
            out[(*used)++] = (char)s[i];
        } else if (*used + 4 < outlen) {
            *used += (size_t)snprintf(out + *used, outlen - *used, "\\x%02X", s[i]);
        } else {
            break;
        }
    }
    out[*used] = '\0';
}

const char *sc_x509_sans_str(X509 *cert, char *out, size_t outlen)
{
    GENERAL_NAMES *names;
    size_t used = 0;

    if (outlen == 0) {
        return out;
    }
    out[0] = '\0';
    names = cert != NULL ? X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL) : NULL;
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        const ASN1_STRING *v;
        const char *type;
        char ip[64];

        switch (gn->type) {
        case GEN_DNS:
            v = gn->d.dNSName;
            type = "DNS:";
            break;
        case GEN_URI:
            v = gn->d.uniformResourceIdentifier;
            type = ASN1_STRING_length(v) >= 9 &&
                           strncmp((const char *)ASN1_STRING_get0_data(v), "spiffe://", 9) == 0
                       ? ""
                       : "URI:";
            break;
        case GEN_IPADD:
            v = NULL;
            type = "IP:";
            if (gn->d.iPAddress->length == 4 || gn->d.iPAddress->length == 16) {
                inet_ntop(gn->d.iPAddress->length == 4 ? AF_INET : AF_INET6,
                          gn->d.iPAddress->data, ip, sizeof(ip));
            } else {
                snprintf(ip, sizeof(ip), "?");
            }
            break;
        default:
            continue;
        }
        if (used > 0 && used + 1 < outlen) {
            out[used++] = ',';
            out[used] = '\0';
        }
        if (used + strlen(type) < outlen) {
            used += (size_t)snprintf(out + used, outlen - used, "%s", type);
        }
        if (v != NULL) {
            put_escaped(out, outlen, &used, ASN1_STRING_get0_data(v),
                        (size_t)ASN1_STRING_length(v));
        } else {
            put_escaped(out, outlen, &used, (const unsigned char *)ip, strlen(ip));
        }
    }
    GENERAL_NAMES_free(names);
    if (used == 0) {
        snprintf(out, outlen, "none");
    }
    return out;
}

/* A DNS SAN (possibly "*.rest") against a host name, case-insensitively. */
static int dns_match(const unsigned char *san, size_t len, const char *name)
{
    size_t nlen = strlen(name);

    if (memchr(san, '\0', len) != NULL) {
        return 0;
    }
    if (len == nlen && strncasecmp((const char *)san, name, len) == 0) {
        return 1;
    }
    if (len > 2 && san[0] == '*' && san[1] == '.') {
        const char *dot = strchr(name, '.');

        /* one label replaced: "*.example.com" matches "api.example.com" */
        return dot != NULL && dot != name && strlen(dot) == len - 1 &&
               strncasecmp(dot, (const char *)san + 1, len - 1) == 0;
    }
    return 0;
}

int sc_x509_has_san(X509 *cert, const char *name)
{
    GENERAL_NAMES *names;
    int found = 0;

    if (cert == NULL || name == NULL) {
        return 0;
    }
    names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; !found && names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);

        if (gn->type == GEN_DNS) {
            found = dns_match(ASN1_STRING_get0_data(gn->d.dNSName),
                              (size_t)ASN1_STRING_length(gn->d.dNSName), name);
        } else if (gn->type == GEN_URI) {
            const ASN1_STRING *v = gn->d.uniformResourceIdentifier;

            found = (size_t)ASN1_STRING_length(v) == strlen(name) &&
                    memcmp(ASN1_STRING_get0_data(v), name, strlen(name)) == 0;
        }
    }
    GENERAL_NAMES_free(names);
    return found;
}

size_t sc_x509_name_str(const X509_NAME *name, char *out, size_t outlen)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n;

    if (outlen == 0) {
        return 0;
    }
    out[0] = '\0';
    if (b == NULL || name == NULL) {
        BIO_free(b);
        return 0;
    }
    X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    n = BIO_read(b, out, (int)outlen - 1);
    out[n > 0 ? n : 0] = '\0';
    BIO_free(b);
    return n > 0 ? (size_t)n : 0;
}

size_t sc_x509_describe(X509 *cert, char *out, size_t outlen)
{
    char subj[256], iss[256], san[512], serial[80] = "-";
    const ASN1_INTEGER *sn;
    BIGNUM *bn = NULL;
    int n;

    if (cert == NULL) {
        n = snprintf(out, outlen, "no certificate");
        return n > 0 ? (size_t)n : 0;
    }
    sc_x509_name_str(X509_get_subject_name(cert), subj, sizeof(subj));
    sc_x509_name_str(X509_get_issuer_name(cert), iss, sizeof(iss));
    if (sc_x509_spiffe_id(cert, san, sizeof(san)) != 0) {
        snprintf(san, sizeof(san), "-");
    }
    sn = X509_get0_serialNumber(cert);
    bn = ASN1_INTEGER_to_BN(sn, NULL);
    if (bn != NULL) {
        char *hex = BN_bn2hex(bn);
        if (hex != NULL) {
            snprintf(serial, sizeof(serial), "%s", hex);
            OPENSSL_free(hex);
        }
        BN_free(bn);
    }
    n = snprintf(out, outlen, "subject=\"%s\" san=%s serial=%s issuer=\"%s\"", subj, san,
                 serial, iss);
    return n > 0 ? (size_t)n : 0;
}

void sc_x509_stack_free(STACK_OF(X509) *sk)
{
    sk_X509_pop_free(sk, X509_free);
}

static STACK_OF(X509) *load_bio(BIO *b, const char *what, struct sc_err *err)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x = NULL;

    if (sk == NULL) {
        sc_err_set(err, "%s: out of memory", what);
        return NULL;
    }
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(sk, x) <= 0) {
            X509_free(x);
            goto fail;
        }
    }
    /* The loop ends with a "no start line" error at end of file; anything
     * else means a broken PEM block. */
    {
        unsigned long e = ERR_peek_last_error();
        if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
            sc_err_tls(err, what);
            goto fail_quiet;
        }
        ERR_clear_error();
    }
    if (sk_X509_num(sk) == 0) {
        sc_err_set(err, "%s: no PEM certificate found", what);
        goto fail_quiet;
    }
    return sk;

fail:
    sc_err_set(err, "%s: out of memory", what);
fail_quiet:
    ERR_clear_error();
    sc_x509_stack_free(sk);
    return NULL;
}

STACK_OF(X509) *sc_x509_load_pem_file(const char *path, struct sc_err *err)
{
    STACK_OF(X509) *sk;
    BIO *b = BIO_new_file(path, "r");

    if (b == NULL) {
        ERR_clear_error();
        sc_err_set(err, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    sk = load_bio(b, path, err);
    BIO_free(b);
    return sk;
}

STACK_OF(X509) *sc_x509_load_pem_mem(const char *pem, size_t len, const char *what,
                                     struct sc_err *err)
{
    STACK_OF(X509) *sk;
    BIO *b = BIO_new_mem_buf(pem, (int)len);

    if (b == NULL) {
        sc_err_set(err, "%s: out of memory", what);
        return NULL;
    }
    sk = load_bio(b, what, err);
    BIO_free(b);
    return sk;
}

time_t sc_x509_time(const ASN1_TIME *t)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return timegm(&tm);
}

time_t sc_x509_not_before(const X509 *cert)
{
    return sc_x509_time(X509_get0_notBefore(cert));
}

time_t sc_x509_not_after(const X509 *cert)
{
    return sc_x509_time(X509_get0_notAfter(cert));
}

const char *sc_x509_serial_hex(const X509 *cert, char *out, size_t outlen)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

    snprintf(out, outlen, "%s", hex != NULL ? hex : "-");
    OPENSSL_free(hex);
    BN_free(bn);
    return out;
}

const char *sc_time_rfc3339(time_t t, char *out, size_t outlen)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(out, outlen, "-");
    }
    return out;
}
