/* The files a config names, read and checked at load time (STYLE.md,
 * "Config validation"): the mesh identity's certificate, key, CRLs and
 * trust bundles under secrets:, and a route's or DestinationRule's
 * certificates for SIMPLE/MUTUAL origination.  Every error names the key
 * (or the DestinationRule field) and its file:line:col. */

#include "config_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "bundle.h"
#include "crl.h"
#include "log.h"
#include "readfile.h"
#include "tlsctx.h"
#include "x509.h"

#define PEM_MAX (1024 * 1024) /* certificate/key files we read */

/* ---- files: certificates and keys ------------------------------------- */

static int read_small(const char *path, char **out, size_t *outlen)
{
    return sc_read_file(path, PEM_MAX, 1, out, outlen);
}

/* Why read_small failed, for "cannot read X: why". */
static const char *read_reason(int e)
{
    return e == EINVAL ? "not a regular file" : strerror(e);
}

void sc_config_where_node(struct where *w, const struct sc_yaml_node *n, const char *path)
{
    w->file = n->file;
    w->line = n->line;
    w->col = n->col;
    w->path = path;
}

/* Reads fname, which must hold one or more PEM certificates; returns the
 * first in *leaf when leaf is not NULL. */
int sc_config_check_certs(struct cfg_ctx *c, const struct where *w, const char *fname, X509 **leaf)
{
    char *data = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    X509 *x = NULL;
    int count = 0;
    int rc = -1;
    char why[256];

    if (read_small(fname, &data, &len) != 0) {
        return sc_config_fail_pos(c, w->file, w->line, w->col, w->path, "cannot read %s: %s", fname,
                                  read_reason(errno));
    }
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL) {
        sc_config_fail_pos(c, w->file, w->line, w->col, w->path, "out of memory");
        goto done;
    }
    ERR_clear_error();
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (count == 0 && leaf != NULL) {
            *leaf = x;
        } else {
            X509_free(x);
        }
        x = NULL;
        count++;
    }
    if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
        sc_tls_errors(why, sizeof(why));
        sc_config_fail_pos(c, w->file, w->line, w->col, w->path, "%s: bad PEM certificate: %s",
                           fname, why);
        goto done;
    }
    ERR_clear_error();
    if (count == 0) {
        sc_config_fail_pos(c, w->file, w->line, w->col, w->path, "%s holds no PEM certificate",
                           fname);
        goto done;
    }
    rc = 0;

done:
    if (rc != 0 && leaf != NULL) {
        X509_free(*leaf);
        *leaf = NULL;
    }
    BIO_free(bio);
    free(data);
    return rc;
}

static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Reads fname, a PEM private key that must match cert (named cert_path). */
int sc_config_check_key(struct cfg_ctx *c, const struct where *w, const char *fname, X509 *cert,
                        const char *cert_path)
{
    char *data = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    int rc = -1;

    if (read_small(fname, &data, &len) != 0) {
        return sc_config_fail_pos(c, w->file, w->line, w->col, w->path, "cannot read %s: %s", fname,
                                  read_reason(errno));
    }
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio != NULL) {
        key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    }
    ERR_clear_error();
    if (key == NULL) {
        sc_config_fail_pos(
            c, w->file, w->line, w->col, w->path,
            "cannot parse a PEM private key in %s (encrypted keys are not supported)", fname);
        goto done;
    }
    if (cert != NULL && X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        sc_config_fail_pos(c, w->file, w->line, w->col, w->path,
                           "key does not match the certificate in %s", cert_path);
        goto done;
    }
    rc = 0;

done:
    EVP_PKEY_free(key);
    BIO_free(bio);
    OPENSSL_cleanse(data, len);
    free(data);
    return rc;
}

/* The file must hold at least one PEM CRL; its signature is checked when
 * the certificates are loaded (against the trust bundle). */
static int check_crl(struct cfg_ctx *c, const struct where *w, const char *fname,
                     STACK_OF(X509_CRL) * *out)
{
    struct sc_err e;
    STACK_OF(X509_CRL) * crls;
    char *data = NULL;
    size_t len = 0;

    if (read_small(fname, &data, &len) != 0) {
        return sc_config_fail_pos(c, w->file, w->line, w->col, w->path, "cannot read %s: %s", fname,
                                  read_reason(errno));
    }
    crls = sc_crl_load_pem_mem(data, len, fname, &e);
    free(data);
    if (crls == NULL) {
        return sc_config_fail_pos(c, w->file, w->line, w->col, w->path, "%s", e.msg);
    }
    if (out != NULL) {
        *out = crls;
    } else {
        sc_crl_stack_free(crls);
    }
    return 0;
}

/* A DestinationRule caCrl: CRLs signed by one of caCertificates (a CRL
 * cannot be checked against the system's roots).  One past its next update
 * is accepted with a WARN. */
int sc_config_check_origin_crl(struct cfg_ctx *c, const struct where *w, const char *fname,
                               const char *ca_file)
{
    STACK_OF(X509_CRL) *crls = NULL;
    STACK_OF(X509) *roots = NULL;
    struct sc_err e;
    char why[512];
    int from = 0, rc = -1;

    if (ca_file == NULL) {
        return sc_config_fail_pos(c, w->file, w->line, w->col, w->path,
                                  "needs caCertificates (the CRL is checked against them)");
    }
    if (check_crl(c, w, fname, &crls) != 0) {
        return -1;
    }
    roots = sc_x509_load_pem_file(ca_file, &e);
    if (roots == NULL || sc_crl_verify(crls, roots, NULL, fname, &e) != 0) {
        sc_config_fail_pos(c, w->file, w->line, w->col, w->path, "%s", e.msg);
        goto done;
    }
    while (from < sk_X509_CRL_num(crls)) {
        if (sc_crl_problem(crls, time(NULL), &from, why, sizeof(why)) != NULL) {
            sc_log(SC_LOG_WARN, NULL,
                   "%s:%d:%d: %s: %s: %s; revocation is still checked against it", w->file, w->line,
                   w->col, w->path, fname, why);
        }
    }
    rc = 0;

done:
    sc_x509_stack_free(roots);
    sc_crl_stack_free(crls);
    return rc;
}

/* A trust bundle file: PEM or SPIFFE bundle JSON with at least one root. */
static int check_bundle(struct cfg_ctx *c, const struct where *w, const char *fname)
{
    char *data = NULL;
    size_t len = 0;
    struct sc_err err;
    STACK_OF(X509) * roots;

    if (read_small(fname, &data, &len) != 0) {
        return sc_config_fail_pos(c, w->file, w->line, w->col, w->path, "cannot read %s: %s", fname,
                                  read_reason(errno));
    }
    roots = sc_bundle_parse(data, len, fname, &err);
    free(data);
    if (roots == NULL) {
        return sc_config_fail_pos(c, w->file, w->line, w->col, w->path, "%s", err.msg);
    }
    sc_x509_stack_free(roots);
    return 0;
}

int sc_config_check_secrets(struct cfg_ctx *c)
{
    struct sc_config *cfg = c->cfg;
    const struct sc_yaml_node *sec = sc_yaml_get(c->root, "secrets");
    int nfiles = (cfg->secrets.cert_chain != NULL) + (cfg->secrets.private_key != NULL) +
                 (cfg->secrets.trusted_ca != NULL);
    struct where w;
    X509 *leaf = NULL;
    int rc = -1;

    if (cfg->secrets.sds_socket == NULL && nfiles == 0) {
        const struct sc_yaml_node *at = sec != NULL ? sec : c->root;

        return sc_config_fail_pos(
            c, at->file, at->line, at->col, "secrets",
            "either sds_socket or cert_chain, private_key and trusted_ca must be "
            "given");
    }
    if (nfiles == 0 && cfg->secrets.crl != NULL) {
        sc_config_where_node(&w, sc_yaml_get(sec, "crl"), "secrets.crl");
        return sc_config_fail_pos(c, w.file, w.line, w.col, w.path,
                                  "only with certificate files; with SDS the CRL comes in the "
                                  "validation context of %s",
                                  cfg->secrets.sds_root_name != NULL ? cfg->secrets.sds_root_name
                                                                     : "ROOTCA");
    }
    if (nfiles == 0 && cfg->secrets.n_trust_bundles > 0) {
        sc_config_where_node(&w, sc_yaml_get(sec, "trust_bundles"), "secrets.trust_bundles");
        return sc_config_fail_pos(c, w.file, w.line, w.col, w.path,
                                  "only with certificate files (cert_chain, private_key, "
                                  "trusted_ca)");
    }
    if (nfiles == 0) {
        return 0;
    }
    if (nfiles != 3) {
        return sc_config_fail_pos(c, sec->file, sec->line, sec->col, "secrets",
                                  "cert_chain, private_key and trusted_ca must be given together");
    }
    sc_config_where_node(&w, sc_yaml_get(sec, "cert_chain"), "secrets.cert_chain");
    if (sc_config_check_certs(c, &w, cfg->secrets.cert_chain, &leaf) != 0) {
        goto done;
    }
    sc_config_where_node(&w, sc_yaml_get(sec, "private_key"), "secrets.private_key");
    if (sc_config_check_key(c, &w, cfg->secrets.private_key, leaf, "secrets.cert_chain") != 0) {
        goto done;
    }
    sc_config_where_node(&w, sc_yaml_get(sec, "trusted_ca"), "secrets.trusted_ca");
    if (sc_config_check_certs(c, &w, cfg->secrets.trusted_ca, NULL) != 0) {
        goto done;
    }
    if (cfg->secrets.crl != NULL) {
        sc_config_where_node(&w, sc_yaml_get(sec, "crl"), "secrets.crl");
        if (check_crl(c, &w, cfg->secrets.crl, NULL) != 0) {
            goto done;
        }
    }
    for (size_t i = 0; i < cfg->secrets.n_trust_bundles; i++) {
        const struct sc_yaml_node *tb = sc_yaml_get(sec, "trust_bundles");
        char path[300];

        snprintf(path, sizeof(path), "secrets.trust_bundles.%s", cfg->secrets.trust_bundles[i].key);
        sc_config_where_node(&w, tb != NULL && i < tb->n ? tb->items[i] : tb, path);
        if (check_bundle(c, &w, cfg->secrets.trust_bundles[i].value) != 0) {
            goto done;
        }
    }
    rc = 0;

done:
    X509_free(leaf);
    return rc;
}

/* ---- outbound TLS: explicit, DestinationRule, or the default ---------- */
