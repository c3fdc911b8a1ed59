#include "files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "dirwatch.h"
#include "log.h"
#include "readfile.h"
#include "sdsserver.h"
#include "tlsctx.h"
#include "x509.h"

/* See files.h. */

#define MAX_FILE (1024 * 1024)
#define DEBOUNCE_MS 200
#define RECHECK_MS 30000

static const char *const names_cm[3] = {"tls.crt", "tls.key", "ca.crt"};
static const char *const names_istio[3] = {"cert-chain.pem", "key.pem", "root-cert.pem"};

static int exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

enum sc_files_layout sc_files_detect(const char *dir)
{
    if (exists(dir, names_cm[0])) {
        return SC_FILES_CERT_MANAGER;
    }
    if (exists(dir, names_istio[0])) {
        return SC_FILES_ISTIO;
    }
    return SC_FILES_UNKNOWN;
}

const char *sc_files_layout_name(enum sc_files_layout l)
{
    switch (l) {
    case SC_FILES_CERT_MANAGER:
        return "cert-manager (tls.crt, tls.key, ca.crt)";
    case SC_FILES_ISTIO:
        return "istio (cert-chain.pem, key.pem, root-cert.pem)";
    default:
        return "unknown";
    }
}

/* Reads path (at most MAX_FILE bytes) into a new NUL-terminated buffer. */
static int read_file(const char *path, char **out, size_t *outlen, struct sc_err *err)
{
    if (sc_read_file(path, MAX_FILE, 0, out, outlen) != 0) {
        sc_err_set(err, "%s: %s", path, errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
        return -1;
    }
    return 0;
}

void sc_files_set_cleanup(struct sc_files_set *s)
{
    if (s == NULL) {
        return;
    }
    if (s->key != NULL) {
        OPENSSL_cleanse(s->key, s->key_len);
    }
    free(s->key);
    free(s->chain);
    free(s->roots);
    memset(s, 0, sizeof(*s));
}

static int same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static int read_three(const char *dir, const char *const names[3], struct sc_files_set *out,
                      char paths[3][4096], struct sc_err *err)
{
    int i;
    char **bufs[3] = {&out->chain, &out->key, &out->roots};
    size_t *lens[3] = {&out->chain_len, &out->key_len, &out->roots_len};

    for (i = 0; i < 3; i++) {
        snprintf(paths[i], 4096, "%s/%s", dir, names[i]);
        if (read_file(paths[i], bufs[i], lens[i], err) != 0) {
            return -1;
        }
    }
    return 0;
}

int sc_files_read(const char *dir, time_t now, struct sc_files_set *out, struct sc_err *err)
{
    const char *const *names;
    char paths[3][4096];
    struct sc_tls_names tn;
    struct sc_tls_material *m = NULL;
    struct sc_files_set again;

    memset(out, 0, sizeof(*out));
    memset(&again, 0, sizeof(again));
    out->layout = sc_files_detect(dir);
    if (out->layout == SC_FILES_UNKNOWN) {
        sc_err_set(err, "%s: neither tls.crt (cert-manager) nor cert-chain.pem (istio) found", dir);
        return -1;
    }
    names = out->layout == SC_FILES_CERT_MANAGER ? names_cm : names_istio;
    if (read_three(dir, names, out, paths, err) != 0) {
        goto fail;
    }
    tn.chain = paths[0];
    tn.key = paths[1];
    tn.ca = paths[2];
    m = sc_tls_material_from_pem(out->chain, out->chain_len, out->key, out->key_len, out->roots,
                                 out->roots_len, &tn, now, err);
    if (m == NULL) {
        goto fail;
    }
    sc_x509_serial_hex(sc_tls_material_leaf(m), out->serial, sizeof(out->serial));
    out->not_after = sc_x509_not_after(sc_tls_material_leaf(m));
    out->n_roots = sk_X509_num(sc_tls_material_roots(m));
    for (int i = 0; i < out->n_roots; i++) {
        X509 *r = sk_X509_value(sc_tls_material_roots(m), i);

        if (i == 0 || sc_x509_not_after(r) < out->root_not_after) {
            out->root_not_after = sc_x509_not_after(r);
            sc_x509_name_str(X509_get_subject_name(r), out->root_subject,
                             sizeof(out->root_subject));
            sc_x509_serial_hex(r, out->root_serial, sizeof(out->root_serial));
        }
    }
    sc_tls_material_free(m);
    /* re-read: a writer caught between two files makes them differ */
    if (read_three(dir, names, &again, paths, err) != 0) {
        goto fail;
    }
    if (!same_bytes(out->chain, out->chain_len, again.chain, again.chain_len) ||
        !same_bytes(out->key, out->key_len, again.key, again.key_len) ||
        !same_bytes(out->roots, out->roots_len, again.roots, again.roots_len)) {
        sc_err_set(err, "%s: files changed while being read", dir);
        goto fail;
    }
    sc_files_set_cleanup(&again);
    return 0;

fail:
    sc_files_set_cleanup(&again);
    sc_files_set_cleanup(out);
    return -1;
}

/* ---- the running source ------------------------------------------------- */

struct sc_files_src {
    struct event_base *base;
    char *dir;
    struct sc_sdsserver *srv;
    struct sc_dirwatch *watch;
    struct event *recheck_ev;
    struct sc_files_set cur; /* what is served */
    int have;
    char last_problem[512];
    int expired_logged;
    int root_expired_logged;
};

/* Both resources in one response: a sidecar validates the set as a whole,
 * and a new root pushed alone would not sign the leaf it holds. */
static int push(struct sc_files_src *f, struct sc_files_set *set)
{
    struct sc_sds_secret sec[2];
    char root_desc[64], leaf_desc[256], t[32];
    const char *descs[2] = {root_desc, leaf_desc};

    sc_time_rfc3339(set->not_after, t, sizeof(t));
    memset(sec, 0, sizeof(sec));
    sec[0].name = (char *)(uintptr_t)SC_SDS_RESOURCE_ROOTCA;
    sec[0].trusted_ca_pem = set->roots;
    sec[0].trusted_ca_len = set->roots_len;
    snprintf(root_desc, sizeof(root_desc), "roots=%d", set->n_roots);
    sec[1].name = (char *)(uintptr_t)SC_SDS_RESOURCE_DEFAULT;
    sec[1].cert_chain_pem = set->chain;
    sec[1].cert_chain_len = set->chain_len;
    sec[1].private_key_pem = set->key;
    sec[1].private_key_len = set->key_len;
    snprintf(leaf_desc, sizeof(leaf_desc), "serial=%s not_after=%s", set->serial, t);
    if (sc_sdsserver_set_many(f->srv, sec, descs, 2) < 0) {
        sc_log(SC_LOG_ERR, NULL, "files %s: out of memory serving serial=%s; will retry", f->dir,
               set->serial);
        return -1;
    }
    sc_log(SC_LOG_INFO, NULL, "files %s: serving %s: serial=%s not_after=%s roots=%d", f->dir,
           sc_files_layout_name(set->layout), set->serial, t, set->n_roots);
    return 0;
}

static void check_expiry(struct sc_files_src *f, time_t now)
{
    char t[32];

    /* a root is not refused (peers may still chain to others in the
     * bundle), but it is said loudly: every peer under it will be refused */
    if (f->have && f->cur.n_roots > 0 && f->cur.root_not_after <= now && !f->root_expired_logged) {
        f->root_expired_logged = 1;
        sc_log(SC_LOG_ERR, NULL,
               "files %s: root CA %s (serial %s) in the served bundle expired at %s; peers "
               "whose chain ends there are refused",
               f->dir, f->cur.root_subject, f->cur.root_serial,
               sc_time_rfc3339(f->cur.root_not_after, t, sizeof(t)));
    }

    if (f->have && f->cur.not_after <= now && !f->expired_logged) {
        f->expired_logged = 1;
        sc_log(SC_LOG_ERR, NULL,
               "files %s: the served certificate serial=%s expired at %s and no valid "
               "replacement is in the directory",
               f->dir, f->cur.serial, sc_time_rfc3339(f->cur.not_after, t, sizeof(t)));
    }
}

static void attempt(struct sc_files_src *f)
{
    struct sc_files_set set;
    struct sc_err err;
    time_t now = time(NULL);

    if (sc_files_read(f->dir, now, &set, &err) != 0) {
        if (strcmp(err.msg, f->last_problem) != 0) {
            snprintf(f->last_problem, sizeof(f->last_problem), "%s", err.msg);
            sc_log(SC_LOG_WARN, NULL, "files %s: held back (%s): %s", f->dir,
                   f->have ? "still serving the previous certificate" : "nothing served yet",
                   err.msg);
        }
        check_expiry(f, now);
        return;
    }
    f->last_problem[0] = '\0';
    if (f->have && same_bytes(set.chain, set.chain_len, f->cur.chain, f->cur.chain_len) &&
        same_bytes(set.key, set.key_len, f->cur.key, f->cur.key_len) &&
        same_bytes(set.roots, set.roots_len, f->cur.roots, f->cur.roots_len)) {
        sc_files_set_cleanup(&set);
        return;
    }
    if (push(f, &set) != 0) {
        sc_files_set_cleanup(&set); /* not adopted: the next recheck tries again */
        return;
    }
    sc_files_set_cleanup(&f->cur);
    f->cur = set;
    f->have = 1;
    f->expired_logged = 0;
    f->root_expired_logged = 0;
    check_expiry(f, now);
}

static void on_change(void *arg)
{
    attempt(arg);
}

static void recheck_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    attempt(arg);
}

struct sc_files_src *sc_files_src_new(struct event_base *base, const char *dir,
                                      struct sc_sdsserver *srv, struct sc_err *err)
{
    struct sc_files_src *f = calloc(1, sizeof(*f));
    struct timeval tv = {RECHECK_MS / 1000, 0};

    if (f == NULL || (f->dir = strdup(dir)) == NULL) {
        free(f);
        sc_err_set(err, "out of memory");
        return NULL;
    }
    f->base = base;
    f->srv = srv;
    f->watch = sc_dirwatch_new(base, dir, DEBOUNCE_MS, on_change, f, err);
    f->recheck_ev = event_new(base, -1, EV_PERSIST, recheck_cb, f);
    if (f->watch == NULL || f->recheck_ev == NULL || event_add(f->recheck_ev, &tv) != 0) {
        sc_files_src_free(f);
        return NULL;
    }
    attempt(f);
    return f;
}

void sc_files_src_recheck(struct sc_files_src *f)
{
    f->last_problem[0] = '\0'; /* say it again if it is still wrong */
    attempt(f);
}

const struct sc_files_set *sc_files_src_current(const struct sc_files_src *f)
{
    return f->have ? &f->cur : NULL;
}

const char *sc_files_src_not_ready(const struct sc_files_src *f, time_t now, char *buf, size_t len)
{
    char t[32];

    if (!f->have) {
        snprintf(buf, len, "no valid certificate set in %s%s%s", f->dir,
                 f->last_problem[0] != '\0' ? ": " : "", f->last_problem);
        return buf;
    }
    if (f->cur.not_after <= now) {
        snprintf(buf, len, "the served certificate serial=%s expired at %s", f->cur.serial,
                 sc_time_rfc3339(f->cur.not_after, t, sizeof(t)));
        return buf;
    }
    return NULL;
}

void sc_files_src_free(struct sc_files_src *f)
{
    if (f == NULL) {
        return;
    }
    sc_dirwatch_free(f->watch);
    if (f->recheck_ev != NULL) {
        event_free(f->recheck_ev);
    }
    sc_files_set_cleanup(&f->cur);
    free(f->dir);
    free(f);
}
