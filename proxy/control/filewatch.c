#include "filewatch.h"

#include <errno.h>
#include <event2/event.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "crl.h"
#include "err.h"
#include "log.h"
#include "runtime.h"
#include "snapshot.h"
#include "tlsctx.h"
#include "x509.h"

#define DEBOUNCE_MS 200
#define MAX_DIRS 3

struct sc_filewatch {
    struct event_base *base;
    struct sc_runtime *rt;
    int fd;
    struct event *ev;
    struct event *debounce;
    char fingerprint[1024]; /* of the installed set: leaf serial, roots, CRLs */
};

static void fingerprint(const struct sc_tls_material *m, char *out, size_t outlen)
{
    char serial[80];
    STACK_OF(X509) *roots = sc_tls_material_roots(m);
    size_t used;

    sc_x509_serial_hex(sc_tls_material_leaf(m), serial, sizeof(serial));
    used = (size_t)snprintf(out, outlen, "%s/%d", serial, sk_X509_num(roots));
    for (int i = 0; i < sk_X509_num(roots) && used < outlen; i++) {
        used +=
            (size_t)snprintf(out + used, outlen - used, "/%s",
                             sc_x509_serial_hex(sk_X509_value(roots, i), serial, sizeof(serial)));
    }
    for (size_t b = 0; b < sc_tls_material_n_bundles(m) && used < outlen; b++) {
        STACK_OF(X509) *br = sc_tls_material_bundle_roots(m, b);

        used += (size_t)snprintf(out + used, outlen - used, "/%s:%d",
                                 sc_tls_material_bundle_domain(m, b), sk_X509_num(br));
        for (int i = 0; i < sk_X509_num(br) && used < outlen; i++) {
            used +=
                (size_t)snprintf(out + used, outlen - used, "/%s",
                                 sc_x509_serial_hex(sk_X509_value(br, i), serial, sizeof(serial)));
        }
    }
    if (sc_tls_material_crls(m) != NULL && used < outlen) {
        char crl[32];

        snprintf(out + used, outlen - used, "/crl:%s",
                 sc_crl_fingerprint(sc_tls_material_crls(m), crl, sizeof(crl)));
    }
}

int sc_filewatch_reload(struct sc_filewatch *fw)
{
    const struct sc_config *cfg = sc_runtime_config(fw->rt);
    struct sc_tls_material *m;
    struct sc_err err;
    char fp[1024];

    m = sc_tls_material_load(cfg->secrets.cert_chain, cfg->secrets.private_key,
                             cfg->secrets.trusted_ca, time(NULL), &err);
    /* The CRLs belong to the set: one that does not verify against the
     * trust bundle rejects the whole set, and the running one stays. */
    if (m != NULL &&
        ((cfg->secrets.crl != NULL && sc_tls_material_load_crls(m, cfg->secrets.crl, &err) != 0) ||
         sc_snapshot_load_bundles(m, cfg, &err) != 0)) {
        sc_tls_material_free(m);
        m = NULL;
    }
    if (m == NULL) {
        sc_log(SC_LOG_WARN, NULL, "certificate files rejected, keeping the running ones: %s",
               err.msg);
        sc_runtime_count_rejected(fw->rt, err.msg);
        return -1;
    }
    fingerprint(m, fp, sizeof(fp));
    if (strcmp(fp, fw->fingerprint) == 0) {
        sc_tls_material_free(m);
        return 0;
    }
    if (sc_runtime_set_material(fw->rt, m, "files", &err) != 0) {
        sc_log(SC_LOG_ERR, NULL, "certificate files could not be installed: %s", err.msg);
        return -1;
    }
    snprintf(fw->fingerprint, sizeof(fw->fingerprint), "%s", fp);
    return 0;
}

static void on_debounced(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sc_filewatch_reload(arg);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    struct sc_filewatch *fw = arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct timeval tv = {0, DEBOUNCE_MS * 1000};
    ssize_t n;
    int any = 0;

    (void)what;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        any = 1;
    }
    if (any) {
        evtimer_add(fw->debounce, &tv); /* restarts the quiet period */
    }
}

static int watch_dir(struct sc_filewatch *fw, const char *file)
{
    char copy[PATH_MAX];
    const char *dir;

    snprintf(copy, sizeof(copy), "%s", file);
    dir = dirname(copy);
    if (inotify_add_watch(fw->fd, dir,
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                              IN_ATTRIB) < 0) {
        sc_log(SC_LOG_WARN, NULL, "cannot watch %s for certificate changes: %s", dir,
               strerror(errno));
        return -1;
    }
    return 0;
}

struct sc_filewatch *sc_filewatch_new(struct event_base *base, struct sc_runtime *rt)
{
    const struct sc_config *cfg = sc_runtime_config(rt);
    struct sc_filewatch *fw = calloc(1, sizeof(*fw));

    if (fw == NULL) {
        return NULL;
    }
    fw->base = base;
    fw->rt = rt;
    fw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fw->fd < 0) {
        sc_log(SC_LOG_WARN, NULL, "inotify: %s; certificate files are re-read on SIGHUP only",
               strerror(errno));
    } else {
        /* Watching the same directory twice returns the same watch. */
        watch_dir(fw, cfg->secrets.cert_chain);
        watch_dir(fw, cfg->secrets.private_key);
        watch_dir(fw, cfg->secrets.trusted_ca);
        if (cfg->secrets.crl != NULL) {
            watch_dir(fw, cfg->secrets.crl);
        }
        for (size_t i = 0; i < cfg->secrets.n_trust_bundles; i++) {
            watch_dir(fw, cfg->secrets.trust_bundles[i].value);
        }
        fw->ev = event_new(base, fw->fd, EV_READ | EV_PERSIST, on_inotify, fw);
        if (fw->ev == NULL || event_add(fw->ev, NULL) != 0) {
            goto fail;
        }
    }
    fw->debounce = evtimer_new(base, on_debounced, fw);
    if (fw->debounce == NULL) {
        goto fail;
    }
    return fw;

fail:
    sc_filewatch_free(fw);
    return NULL;
}

void sc_filewatch_free(struct sc_filewatch *fw)
{
    if (fw == NULL) {
        return;
    }
    if (fw->ev != NULL) {
        event_free(fw->ev);
    }
    if (fw->debounce != NULL) {
        event_free(fw->debounce);
    }
    if (fw->fd >= 0) {
        close(fw->fd);
    }
    free(fw);
}
