#include "ca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "x509.h"

/* See ca.h.  The CA's key never leaves this struct; minted keys leave only
 * as PEM in sc_ca_leaf (cleansed on cleanup). */

struct sc_ca {
    enum sc_ca_layout layout;
    X509 *cert; /* ca-cert.pem or the first of tls.crt */
    EVP_PKEY *key; /* ca-key.pem or tls.key */
    STACK_OF(X509) * inter; /* ca-cert first, then intermediates (no roots) */
    STACK_OF(X509) * roots; /* root-cert.pem or ca.crt */
    char *roots_pem;
    size_t roots_len;
    char *inter_pem; /* PEM of `inter`, appended to every leaf */
    size_t inter_len;
};

#define MAX_FILE (1024 * 1024)

/* ---- PEM helpers -------------------------------------------------------- */

/* PEM of every certificate in sk into a new NUL-terminated buffer. */
static int stack_pem(STACK_OF(X509) * sk, char **out, size_t *outlen)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    int i;

    *out = NULL;
    *outlen = 0;
    if (b == NULL) {
        return -1;
    }
    for (i = 0; i < sk_X509_num(sk); i++) {
        if (PEM_write_bio_X509(b, sk_X509_value(sk, i)) != 1) {
            BIO_free(b);
            return -1;
        }
    }
    n = BIO_get_mem_data(b, &data);
    *out = malloc((size_t)n + 1);
    if (*out != NULL) {
        if (n > 0) {
            memcpy(*out, data, (size_t)n);
        }
        (*out)[n] = '\0';
        *outlen = (size_t)n;
    }
    BIO_free(b);
    return *out == NULL ? -1 : 0;
}

static int in_stack(STACK_OF(X509) * sk, X509 *x)
{
    int i;

    for (i = 0; i < sk_X509_num(sk); i++) {
        if (X509_cmp(sk_X509_value(sk, i), x) == 0) {
            return 1;
        }
    }
    return 0;
}

static int self_signed(X509 *x)
{
    return X509_check_issued(x, x) == X509_V_OK;
}

/* ---- loading ------------------------------------------------------------ */

static EVP_PKEY *load_key(const char *path, struct sc_err *err)
{
    BIO *b = NULL;
    EVP_PKEY *k = NULL;
    struct stat st;

    if (stat(path, &st) != 0) {
        sc_err_set(err, "%s: missing", path);
        return NULL;
    }
    if (st.st_size > MAX_FILE) {
        sc_err_set(err, "%s: larger than 1 MiB", path);
        return NULL;
    }
    b = BIO_new_file(path, "r");
    if (b == NULL) {
        ERR_clear_error();
        sc_err_set(err, "%s: cannot read it", path);
        return NULL;
    }
    k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (k == NULL) {
        ERR_clear_error();
        sc_err_set(err, "%s: no PEM private key found", path);
    }
    return k;
}

/* The files of each layout: signing certificate (for cert-manager, followed
 * by its chain), its key, the roots, and Istio's optional chain file. */
struct layout_files {
    const char *cert, *key, *roots, *chain;
};

static const struct layout_files istio_files = {"ca-cert.pem", "ca-key.pem", "root-cert.pem",
                                                "cert-chain.pem"};
static const struct layout_files cm_files = {"tls.crt", "tls.key", "ca.crt", NULL};

#define LAYOUTS_HELP                                                                      \
    "Istio's cacerts layout (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem) or " \
    "cert-manager's (tls.crt, tls.key, ca.crt)"

static int file_exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

int sc_ca_detect_layout(const char *dir, enum sc_ca_layout *out, struct sc_err *err)
{
    int istio = file_exists(dir, "ca-cert.pem"), cm = file_exists(dir, "tls.crt");

    if (istio && cm) {
        sc_err_set(err,
                   "%s: holds both ca-cert.pem (Istio's layout) and tls.crt "
                   "(cert-manager's): keep one of the two sets",
                   dir);
        return -1;
    }
    if (!istio && !cm) {
        sc_err_set(err, "%s: neither ca-cert.pem nor tls.crt found (expected " LAYOUTS_HELP ")",
                   dir);
        return -1;
    }
    *out = istio ? SC_CA_LAYOUT_ISTIO : SC_CA_LAYOUT_CERT_MANAGER;
    return 0;
}

const char *sc_ca_layout_name(enum sc_ca_layout l)
{
    return l == SC_CA_LAYOUT_CERT_MANAGER ? "cert-manager" : "istio";
}

enum sc_ca_layout sc_ca_get_layout(const struct sc_ca *ca)
{
    return ca->layout;
}

static STACK_OF(X509) *
    load_certs(const char *dir, const char *name, int optional, struct sc_err *err)
{
    char path[4096];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (stat(path, &st) != 0) {
        if (optional) {
            return sk_X509_new_null();
        }
        sc_err_set(err, "%s: missing (expected " LAYOUTS_HELP ")", path);
        return NULL;
    }
    if (st.st_size > MAX_FILE) {
        sc_err_set(err, "%s: larger than 1 MiB", path);
        return NULL;
    }
    return sc_x509_load_pem_file(path, err);
}

static int verify_ca(struct sc_ca *ca, const char *dir, const struct layout_files *lf,
                     struct sc_err *err)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int i, rc = -1;

    if (store == NULL || ctx == NULL) {
        sc_err_set(err, "out of memory");
        goto out;
    }
    for (i = 0; i < sk_X509_num(ca->roots); i++) {
        X509_STORE_add_cert(store, sk_X509_value(ca->roots, i));
    }
    if (X509_STORE_CTX_init(ctx, store, ca->cert, ca->inter) != 1) {
        sc_err_tls(err, "X509_STORE_CTX_init");
        goto out;
    }
    if (X509_verify_cert(ctx) != 1) {
        char issuer[256];

        sc_x509_name_str(X509_get_issuer_name(ca->cert), issuer, sizeof(issuer));
        sc_err_set(err, "%s/%s: does not chain to any of the %d root(s) in %s (issuer %s): %s", dir,
                   lf->cert, sk_X509_num(ca->roots), lf->roots, issuer,
                   X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    rc = 0;
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

struct sc_ca *sc_ca_load(const char *dir, struct sc_err *err)
{
    struct sc_ca *ca = calloc(1, sizeof(*ca));
    STACK_OF(X509) *certs = NULL, *chain = NULL;
    const struct layout_files *lf;
    char path[4096];
    int i;

    if (ca == NULL) {
        sc_err_set(err, "out of memory");
        return NULL;
    }
    if (sc_ca_detect_layout(dir, &ca->layout, err) != 0) {
        goto fail;
    }
    lf = ca->layout == SC_CA_LAYOUT_CERT_MANAGER ? &cm_files : &istio_files;
    certs = load_certs(dir, lf->cert, 0, err);
    if (certs == NULL) {
        goto fail;
    }
    ca->cert = sk_X509_shift(certs);
    snprintf(path, sizeof(path), "%s/%s", dir, lf->key);
    ca->key = load_key(path, err);
    if (ca->key == NULL) {
        goto fail;
    }
    if (X509_check_private_key(ca->cert, ca->key) != 1) {
        ERR_clear_error();
        sc_err_set(err, "%s: does not match the certificate in %s/%s", path, dir, lf->cert);
        goto fail;
    }
    if (X509_check_ca(ca->cert) < 1) {
        sc_err_set(err, "%s/%s: not a CA certificate (basicConstraints CA:TRUE needed)", dir,
                   lf->cert);
        goto fail;
    }
    ca->roots = load_certs(dir, lf->roots, 0, err);
    if (ca->roots == NULL) {
        goto fail;
    }
    if (lf->chain != NULL) {
        chain = load_certs(dir, lf->chain, 1, err);
    } else {
        /* cert-manager: the certificates after the CA's own in tls.crt */
        chain = certs;
        certs = NULL;
    }
    if (chain == NULL) {
        goto fail;
    }
    /* the chain a leaf carries: the signing certificate (unless it is a
     * root) and the intermediates above it, roots left out */
    ca->inter = sk_X509_new_null();
    if (ca->inter == NULL) {
        sc_err_set(err, "out of memory");
        goto fail;
    }
    if (!self_signed(ca->cert) && !in_stack(ca->roots, ca->cert)) {
        X509_up_ref(ca->cert);
        sk_X509_push(ca->inter, ca->cert);
    }
    for (i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);

        if (!self_signed(x) && !in_stack(ca->roots, x) && !in_stack(ca->inter, x)) {
            X509_up_ref(x);
            sk_X509_push(ca->inter, x);
        }
    }
    if (verify_ca(ca, dir, lf, err) != 0) {
        goto fail;
    }
    if (stack_pem(ca->roots, &ca->roots_pem, &ca->roots_len) != 0 ||
        stack_pem(ca->inter, &ca->inter_pem, &ca->inter_len) != 0) {
        sc_err_set(err, "out of memory");
        goto fail;
    }
    sc_x509_stack_free(certs);
    sc_x509_stack_free(chain);
    return ca;

fail:
    sc_x509_stack_free(certs);
    sc_x509_stack_free(chain);
    sc_ca_free(ca);
    return NULL;
}

void sc_ca_free(struct sc_ca *ca)
{
    if (ca == NULL) {
        return;
    }
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    sc_x509_stack_free(ca->inter);
    sc_x509_stack_free(ca->roots);
    free(ca->roots_pem);
    free(ca->inter_pem);
    free(ca);
}

const char *sc_ca_roots_pem(const struct sc_ca *ca, size_t *len)
{
    *len = ca->roots_len;
    return ca->roots_pem;
}

static int same_set(STACK_OF(X509) * a, STACK_OF(X509) * b)
{
    int i;

    for (i = 0; i < sk_X509_num(a); i++) {
        if (!in_stack(b, sk_X509_value(a, i))) {
            return 0;
        }
    }
    for (i = 0; i < sk_X509_num(b); i++) {
        if (!in_stack(a, sk_X509_value(b, i))) {
            return 0;
        }
    }
    return 1;
}

int sc_ca_same_roots(const struct sc_ca *a, const struct sc_ca *b)
{
    return same_set(a->roots, b->roots);
}

int sc_ca_same_signer(const struct sc_ca *a, const struct sc_ca *b)
{
    return X509_cmp(a->cert, b->cert) == 0 && EVP_PKEY_eq(a->key, b->key) == 1 &&
           a->inter_len == b->inter_len && memcmp(a->inter_pem, b->inter_pem, a->inter_len) == 0;
}

const char *sc_ca_describe(const struct sc_ca *ca, char *out, size_t outlen)
{
    char subject[256], serial[80];

    sc_x509_name_str(X509_get_subject_name(ca->cert), subject, sizeof(subject));
    snprintf(out, outlen, "subject=\"%s\" serial=%s roots=%d layout=%s", subject,
             sc_x509_serial_hex(ca->cert, serial, sizeof(serial)), sk_X509_num(ca->roots),
             sc_ca_layout_name(ca->layout));
    return out;
}

int sc_ca_cert_info(const struct sc_ca *ca, size_t i, struct sc_ca_cert_info *out)
{
    size_t n_inter = (size_t)sk_X509_num(ca->inter), n_roots = (size_t)sk_X509_num(ca->roots);
    size_t first_inter = 0;
    X509 *x;

    memset(out, 0, sizeof(*out));
    /* inter starts with the signing certificate unless that is a root */
    if (n_inter > 0 && X509_cmp(sk_X509_value(ca->inter, 0), ca->cert) == 0) {
        first_inter = 1;
    }
    if (i == 0) {
        x = ca->cert;
        out->role = "signing";
    } else if (first_inter + i - 1 < n_inter) {
        x = sk_X509_value(ca->inter, (int)(first_inter + i - 1));
        out->role = "intermediate";
    } else if (i - 1 - (n_inter - first_inter) < n_roots) {
        x = sk_X509_value(ca->roots, (int)(i - 1 - (n_inter - first_inter)));
        out->role = "root";
    } else {
        return -1;
    }
    sc_x509_name_str(X509_get_subject_name(x), out->subject, sizeof(out->subject));
    sc_x509_serial_hex(x, out->serial, sizeof(out->serial));
    out->not_after = sc_x509_not_after(x);
    return 0;
}

/* ---- minting ------------------------------------------------------------ */

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok;

    if (ext == NULL) {
        return -1;
    }
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

static int random_serial(X509 *x)
{
    unsigned char buf[16];
    BIGNUM *bn = NULL;
    int rc = -1;

    if (RAND_bytes(buf, sizeof(buf)) != 1) {
        return -1;
    }
    buf[0] &= 0x7f; /* positive */
    buf[0] |= 0x40; /* and 127 bits long, never zero */
    bn = BN_bin2bn(buf, sizeof(buf), NULL);
    if (bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL) {
        rc = 0;
    }
    BN_free(bn);
    return rc;
}

static int bio_string(BIO *b, char **out, size_t *outlen)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);

    *out = malloc((size_t)n + 1);
    if (*out == NULL) {
        return -1;
    }
    if (n > 0) {
        memcpy(*out, data, (size_t)n);
    }
    (*out)[n] = '\0';
    *outlen = (size_t)n;
    return 0;
}

int sc_ca_mint(const struct sc_ca *ca, const char *spiffe_id, int64_t lifetime_ms, int64_t now_ms,
               struct sc_ca_leaf *out, struct sc_err *err)
{
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    BIO *cb = NULL, *kb = NULL;
    X509V3_CTX v3;
    const EVP_MD *md = EVP_sha256();
    char san[2200];
    int64_t backdate_s = lifetime_ms / 4000 < 60 ? lifetime_ms / 4000 : 60;
    time_t now_s = (time_t)(now_ms / 1000);

    memset(out, 0, sizeof(*out));
    if (strlen(spiffe_id) > 2048) {
        sc_err_set(err, "SPIFFE ID too long");
        return -1;
    }
    key = EVP_EC_gen("P-256");
    x = X509_new();
    if (key == NULL || x == NULL) {
        sc_err_tls(err, "generating an ECDSA P-256 key");
        goto fail;
    }
    out->not_before = now_s - (time_t)backdate_s;
    out->not_after = (time_t)((now_ms + lifetime_ms) / 1000);
    if (X509_set_version(x, 2) != 1 || random_serial(x) != 0 ||
        X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1 ||
        ASN1_TIME_set(X509_getm_notBefore(x), out->not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), out->not_after) == NULL ||
        X509_set_pubkey(x, key) != 1) {
        sc_err_tls(err, "building the certificate");
        goto fail;
    }
    X509V3_set_ctx(&v3, ca->cert, x, NULL, NULL, 0);
    snprintf(san, sizeof(san), "critical,URI:%s", spiffe_id);
    if (add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_ext(x, &v3, NID_key_usage, "critical,digitalSignature,keyEncipherment") != 0 ||
        add_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth") != 0 ||
        add_ext(x, &v3, NID_subject_key_identifier, "hash") != 0 ||
        add_ext(x, &v3, NID_authority_key_identifier, "keyid") != 0 ||
        add_ext(x, &v3, NID_subject_alt_name, san) != 0) {
        sc_err_tls(err, "adding certificate extensions");
        goto fail;
    }
    if (EVP_PKEY_is_a(ca->key, "ED25519") || EVP_PKEY_is_a(ca->key, "ED448")) {
        md = NULL;
    }
    if (X509_sign(x, ca->key, md) <= 0) {
        sc_err_tls(err, "signing the certificate");
        goto fail;
    }
    cb = BIO_new(BIO_s_mem());
    kb = BIO_new(BIO_s_secmem()); /* cleansed when freed */
    if (cb == NULL || kb == NULL || PEM_write_bio_X509(cb, x) != 1 ||
        BIO_write(cb, ca->inter_pem, (int)ca->inter_len) != (int)ca->inter_len ||
        PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        bio_string(cb, &out->chain_pem, &out->chain_len) != 0 ||
        bio_string(kb, &out->key_pem, &out->key_len) != 0) {
        sc_err_tls(err, "writing PEM");
        goto fail;
    }
    sc_x509_serial_hex(x, out->serial, sizeof(out->serial));
    out->issued_ms = now_ms;
    out->lifetime_ms = lifetime_ms;
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(key);
    return 0;

fail:
    ERR_clear_error();
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(key);
    sc_ca_leaf_cleanup(out);
    return -1;
}

void sc_ca_leaf_cleanup(struct sc_ca_leaf *l)
{
    if (l == NULL) {
        return;
    }
    if (l->key_pem != NULL) {
        OPENSSL_cleanse(l->key_pem, l->key_len);
    }
    free(l->key_pem);
    free(l->chain_pem);
    memset(l, 0, sizeof(*l));
}

/* ---- renewal arithmetic -------------------------------------------------- */

int64_t sc_ca_renew_time(int64_t issued_ms, int64_t lifetime_ms, double renew_at, double jitter,
                         double rnd)
{
    double frac = renew_at + jitter * (2.0 * rnd - 1.0);
    int64_t off = (int64_t)((double)lifetime_ms * frac);

    if (off < 1) {
        off = 1;
    }
    if (off > lifetime_ms - 1) {
        off = lifetime_ms - 1;
    }
    return issued_ms + off;
}

int sc_ca_renew_due(const struct sc_ca_leaf *l, int64_t renew_ms, int64_t now_ms)
{
    return now_ms >= renew_ms || now_ms >= (int64_t)l->not_after * 1000 ||
           now_ms < (int64_t)l->not_before * 1000;
}

int64_t sc_ca_sleep_ms(int64_t now_ms, int64_t renew_ms, int64_t max_sleep_ms)
{
    int64_t d = renew_ms - now_ms;

    if (d < 0) {
        return 0;
    }
    return d < max_sleep_ms ? d : max_sleep_ms;
}

int64_t sc_ca_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- bundles ------------------------------------------------------------ */

int sc_ca_bundle_union(const char *a, size_t alen, const char *b, size_t blen, char **out,
                       size_t *outlen, struct sc_err *err)
{
    STACK_OF(X509) *sa = NULL, *sb = NULL;
    int i, rc = -1;

    *out = NULL;
    *outlen = 0;
    sa = alen > 0 ? sc_x509_load_pem_mem(a, alen, "bundle", err) : sk_X509_new_null();
    if (sa == NULL) {
        goto out;
    }
    sb = blen > 0 ? sc_x509_load_pem_mem(b, blen, "bundle", err) : sk_X509_new_null();
    if (sb == NULL) {
        goto out;
    }
    for (i = 0; i < sk_X509_num(sb); i++) {
        X509 *x = sk_X509_value(sb, i);

        if (!in_stack(sa, x)) {
            X509_up_ref(x);
            sk_X509_push(sa, x);
        }
    }
    if (stack_pem(sa, out, outlen) != 0) {
        sc_err_set(err, "out of memory");
        goto out;
    }
    rc = 0;
out:
    sc_x509_stack_free(sa);
    sc_x509_stack_free(sb);
    return rc;
}
