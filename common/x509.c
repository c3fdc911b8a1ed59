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

#include "escape.h"

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
    char id[2048];

    if (sc_x509_spiffe_id(cert, id, sizeof(id)) != 0) {
        snprintf(out, outlen, "none");
        return out;
    }
    return sc_escape_text_str(id, out, outlen);
}

/* A SAN value for sc_x509_sans_str: sc_escape_text, and the separator
 * (',') as \x2C too. */
static void put_san(struct sc_outbuf *o, const char *s, size_t len)
{
    size_t start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == ',') {
            sc_escape_text(o, s + start, i - start);
            if (i < len) {
                sc_outbuf_put(o, "\\x2C", 4);
            }
            start = i + 1;
        }
    }
}

const char *sc_x509_sans_str(X509 *cert, char *out, size_t outlen)
{
    GENERAL_NAMES *names;
    struct sc_outbuf o;

    if (outlen == 0) {
        return out;
    }
    sc_outbuf_init(&o, out, outlen);
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
                inet_ntop(gn->d.iPAddress->length == 4 ? AF_INET : AF_INET6, gn->d.iPAddress->data,
                          ip, sizeof(ip));
            } else {
                snprintf(ip, sizeof(ip), "?");
            }
            break;
        default:
            continue;
        }
        if (o.len > 0) {
            sc_outbuf_put(&o, ",", 1);
        }
        sc_outbuf_puts(&o, type);
        if (v != NULL) {
            put_san(&o, (const char *)ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v));
        } else {
            put_san(&o, ip, strlen(ip));
        }
    }
    GENERAL_NAMES_free(names);
    out[o.len] = '\0';
    if (o.len == 0) {
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
    char subj[256], iss[256], id[512], san[512], serial[80] = "-";
    const ASN1_INTEGER *sn;
    BIGNUM *bn = NULL;
    int n;

    if (cert == NULL) {
        n = snprintf(out, outlen, "no certificate");
        return n > 0 ? (size_t)n : 0;
    }
    sc_x509_name_str(X509_get_subject_name(cert), subj, sizeof(subj));
    sc_x509_name_str(X509_get_issuer_name(cert), iss, sizeof(iss));
    if (sc_x509_spiffe_id(cert, id, sizeof(id)) != 0) {
        snprintf(san, sizeof(san), "-");
    } else {
        sc_escape_text_str(id, san, sizeof(san));
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
    n = snprintf(out, outlen, "subject=\"%s\" san=%s serial=%s issuer=\"%s\"", subj, san, serial,
                 iss);
    return n > 0 ? (size_t)n : 0;
}

void sc_x509_stack_free(STACK_OF(X509) * sk)
{
    sk_X509_pop_free(sk, X509_free);
}

static STACK_OF(X509) * load_bio(BIO *b, const char *what, struct sc_err *err)
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
        if (e != 0 &&
            !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
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

STACK_OF(X509) * sc_x509_load_pem_file(const char *path, struct sc_err *err)
{
    STACK_OF(X509) * sk;
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

STACK_OF(X509) *
    sc_x509_load_pem_mem(const char *pem, size_t len, const char *what, struct sc_err *err)
{
    STACK_OF(X509) * sk;
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
