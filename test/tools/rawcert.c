/* Makes a certificate whose names hold any bytes, for the tests that check
 * what the sidecar does with hostile names (log injection): openssl's
 * config syntax cannot put a newline into a SAN or a subject.
 *
 *   rawcert OUT (--self | --ca CA.crt CA.key) [--is-ca] [--cn CN] [--uri URI]... [--dns DNS]...
 *
 * Writes OUT.crt and OUT.key (a new P-256 key), valid from an hour ago for a
 * day.  Each value is taken byte for byte from its argument, so a test
 * passes a newline with bash's $'...'.  With --self the certificate is
 * self-signed (its issuer is itself); with --ca it is signed by that CA
 * (the PEM files of `gen-certs.sh`).  --is-ca makes a CA certificate
 * (basicConstraints CA:TRUE, keyUsage keyCertSign), e.g. a root whose
 * subject is hostile. */

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "rawcert: %s\n", what);
    exit(1);
}

static void add_san(GENERAL_NAMES *gns, int type, const char *value)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();

    if (gn == NULL || s == NULL || ASN1_STRING_set(s, value, (int)strlen(value)) != 1) {
        die("out of memory");
    }
    GENERAL_NAME_set0_value(gn, type, s);
    sk_GENERAL_NAME_push(gns, gn);
}

static void *read_pem(const char *path, int key)
{
    FILE *f = fopen(path, "r");
    void *v;

    if (f == NULL) {
        die(path);
    }
    v = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
            : (void *)PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (v == NULL) {
        die(path);
    }
    return v;
}

static void write_out(const char *prefix, X509 *x, EVP_PKEY *key)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s.crt", prefix);
    f = fopen(path, "w");
    if (f == NULL || PEM_write_X509(f, x) != 1) {
        die(path);
    }
    fclose(f);
    snprintf(path, sizeof(path), "%s.key", prefix);
    f = fopen(path, "w");
    if (f == NULL || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1) {
        die(path);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    EVP_PKEY *key = EVP_EC_gen("P-256"), *ca_key = NULL;
    X509 *x = X509_new(), *ca = NULL;
    GENERAL_NAMES *gns = sk_GENERAL_NAME_new_null();
    X509_NAME *name = X509_NAME_new();
    int self = 0, is_ca = 0;

    if (argc < 3 || key == NULL || x == NULL || gns == NULL || name == NULL) {
        die("usage: rawcert OUT (--self | --ca CA.crt CA.key) [--is-ca] [--cn CN] [--uri URI]... [--dns DNS]...");
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--self") == 0) {
            self = 1;
        } else if (strcmp(argv[i], "--is-ca") == 0) {
            is_ca = 1;
        } else if (strcmp(argv[i], "--ca") == 0 && i + 2 < argc) {
            ca = read_pem(argv[i + 1], 0);
            ca_key = read_pem(argv[i + 2], 1);
            i += 2;
        } else if (strcmp(argv[i], "--cn") == 0 && i + 1 < argc) {
            /* a UTF8String set as it is: no 64-byte upper bound checked */
            if (X509_NAME_add_entry_by_txt(name, "CN", V_ASN1_UTF8STRING,
                                           (const unsigned char *)argv[++i], -1, -1, 0) != 1) {
                die("bad --cn");
            }
        } else if (strcmp(argv[i], "--uri") == 0 && i + 1 < argc) {
            add_san(gns, GEN_URI, argv[++i]);
        } else if (strcmp(argv[i], "--dns") == 0 && i + 1 < argc) {
            add_san(gns, GEN_DNS, argv[++i]);
        } else {
            die("unknown argument (see the usage at the top of test/tools/rawcert.c)");
        }
    }
    if (self == (ca != NULL)) {
        die("give exactly one of --self and --ca");
    }
    X509_set_version(x, 2);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(rand() & 0x7fffffff) | 0x1000);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, self ? name : X509_get_subject_name(ca));
    X509_set_pubkey(x, key);
    if (sk_GENERAL_NAME_num(gns) > 0 &&
        X509_add1_ext_i2d(x, NID_subject_alt_name, gns, 0, 0) != 1) {
        die("cannot add the SANs");
    }
    if (is_ca) {
        X509V3_CTX ctx;
        X509_EXTENSION *bc, *ku;

        X509V3_set_ctx(&ctx, self ? x : ca, x, NULL, NULL, 0);
        bc = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
        ku = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
        if (bc == NULL || ku == NULL || X509_add_ext(x, bc, -1) != 1 ||
            X509_add_ext(x, ku, -1) != 1) {
            die("cannot add the CA extensions");
        }
        X509_EXTENSION_free(bc);
        X509_EXTENSION_free(ku);
    }
    if (X509_sign(x, self ? key : ca_key, EVP_sha256()) <= 0) {
        die("cannot sign");
    }
    write_out(argv[1], x, key);
    GENERAL_NAMES_free(gns);
    X509_NAME_free(name);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    X509_free(x);
    EVP_PKEY_free(key);
    return 0;
}
