/* sidecar: the mtls-sidecar proxy daemon. */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "log.h"
#include "snapshot.h"
#include "stats.h"
#include "worker.h"

#define SC_VERSION "0.1.0"

struct proxy {
    const char *config_path;
    struct event_base *base;        /* signals and the admin servers */
    struct sc_snapshot *snap;       /* the published snapshot */
    struct sc_worker **workers;
    struct sc_stats **stats;
    int n_workers;
    int ready;
    struct sc_admin *admin;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sidecar -c FILE [--check]\n"
               "       sidecar --version\n"
               "  -c, --config FILE  the YAML configuration (see conf/sidecar.yaml)\n"
               "      --check        validate the configuration and exit (0 = valid)\n"
               "  -l, --log-level L  debug, info, warn or error (overrides log_level)\n");
}

static struct sc_snapshot *current(void *arg)
{
    struct proxy *p = arg;
    return sc_snapshot_ref(p->snap);
}

static const char *not_ready(void *arg)
{
    struct proxy *p = arg;
    return p->ready ? NULL : "listeners are not up yet";
}

static void quit(void *arg)
{
    struct proxy *p = arg;
    event_base_loopexit(p->base, NULL);
}

static void reload(struct proxy *p)
{
    struct sc_config *cfg = NULL;
    struct sc_snapshot *snap;
    struct sc_err err;
    char msg[1024];

    if (sc_config_load(p->config_path, &cfg, &err) != 0) {
        sc_log(SC_LOG_ERR, NULL, "reload failed, keeping the running config: %s",
               sc_err_str(&err, msg, sizeof(msg)));
        return;
    }
    snap = sc_snapshot_new(cfg, &err);
    if (snap == NULL) {
        sc_log(SC_LOG_ERR, NULL, "reload failed, keeping the running config: %s",
               sc_err_str(&err, msg, sizeof(msg)));
        return;
    }
    for (int i = 0; i < p->n_workers; i++) {
        sc_worker_publish(p->workers[i], snap);
    }
    sc_snapshot_unref(p->snap);
    p->snap = snap;
    sc_log(SC_LOG_INFO, NULL, "reloaded %s (snapshot %llu); listener changes need a restart",
           p->config_path, (unsigned long long)sc_snapshot_generation(snap));
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct proxy *p = arg;

    (void)what;
    if (sig == SIGHUP) {
        reload(p);
        return;
    }
    sc_log(SC_LOG_INFO, NULL, "signal %d: shutting down", (int)sig);
    event_base_loopexit(p->base, NULL);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'V'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct proxy p;
    struct sc_config *cfg = NULL;
    struct sc_err err;
    struct event *sigs[4] = {NULL, NULL, NULL, NULL};
    const int signums[4] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    struct sc_admin_env env;
    const char *level = NULL;
    char msg[1024];
    int check = 0, opt, rc = 1;
    enum sc_log_level lvl;

    memset(&p, 0, sizeof(p));
    while ((opt = getopt_long(argc, argv, "c:l:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            p.config_path = optarg;
            break;
        case 'k':
            check = 1;
            break;
        case 'l':
            level = optarg;
            break;
        case 'V':
            printf("sidecar (mtls-sidecar) %s, %s, %s\n", SC_VERSION, OpenSSL_version(OPENSSL_VERSION),
                   event_get_version());
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (p.config_path == NULL) {
        usage(stderr);
        return 2;
    }
    if (sc_config_load(p.config_path, &cfg, &err) != 0) {
        fprintf(stderr, "%s\n", sc_err_str(&err, msg, sizeof(msg)));
        return 1;
    }
    if (check) {
        printf("%s: configuration is valid\n", p.config_path);
        sc_config_free(cfg);
        return 0;
    }
    if (level == NULL) {
        level = cfg->log_level;
    }
    if (level != NULL) {
        if (sc_log_parse_level(level, &lvl) != 0) {
            fprintf(stderr, "unknown log level \"%s\"\n", level);
            sc_config_free(cfg);
            return 2;
        }
        sc_log_set_level(lvl);
    }
    signal(SIGPIPE, SIG_IGN);
    if (evthread_use_pthreads() != 0) {
        fprintf(stderr, "libevent without pthreads support\n");
        sc_config_free(cfg);
        return 1;
    }
    p.n_workers = cfg->workers > 0 ? cfg->workers : 1;
    p.snap = sc_snapshot_new(cfg, &err);    /* takes cfg */
    cfg = NULL;
    if (p.snap == NULL) {
        sc_log(SC_LOG_ERR, NULL, "%s", sc_err_str(&err, msg, sizeof(msg)));
        return 1;
    }
    if (sc_snapshot_server_ctx(p.snap) == NULL) {
        sc_log(SC_LOG_ERR, NULL, "secrets.sds_socket is not supported yet by this build; "
                                 "use cert_chain, private_key and trusted_ca");
        goto out;
    }
    p.base = event_base_new();
    p.workers = calloc((size_t)p.n_workers, sizeof(*p.workers));
    p.stats = calloc((size_t)p.n_workers, sizeof(*p.stats));
    if (p.base == NULL || p.workers == NULL || p.stats == NULL) {
        goto out;
    }
    for (int i = 0; i < 4; i++) {
        sigs[i] = evsignal_new(p.base, signums[i], on_signal, &p);
        if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0) {
            goto out;
        }
    }
    env.stats = p.stats;
    env.n_stats = (size_t)p.n_workers;
    env.current = current;
    env.not_ready = not_ready;
    env.quit = quit;
    env.arg = &p;
    p.admin = sc_admin_new(p.base, &env, p.snap);
    if (p.admin == NULL) {
        goto out;
    }
    for (int i = 0; i < p.n_workers; i++) {
        p.workers[i] = sc_worker_new(i, p.snap);
        if (p.workers[i] == NULL) {
            goto out;
        }
        p.stats[i] = sc_worker_stats(p.workers[i]);
    }
    for (int i = 0; i < p.n_workers; i++) {
        if (sc_worker_start(p.workers[i]) != 0) {
            sc_log(SC_LOG_ERR, NULL, "cannot start worker %d: %s", i, strerror(errno));
            goto out;
        }
    }
    p.ready = 1;
    sc_log(SC_LOG_INFO, NULL, "ready: %d worker(s), config %s, node %s", p.n_workers,
           p.config_path, sc_snapshot_config(p.snap)->node.id);
    event_base_dispatch(p.base);
    rc = 0;

out:
    p.ready = 0;
    for (int i = 0; p.workers != NULL && i < p.n_workers; i++) {
        if (p.workers[i] != NULL) {
            sc_worker_stop(p.workers[i]);
        }
    }
    for (int i = 0; p.workers != NULL && i < p.n_workers; i++) {
        sc_worker_free(p.workers[i]);
    }
    sc_admin_free(p.admin);
    for (int i = 0; i < 4; i++) {
        if (sigs[i] != NULL) {
            event_free(sigs[i]);
        }
    }
    free(p.workers);
    free(p.stats);
    sc_snapshot_unref(p.snap);
    if (p.base != NULL) {
        event_base_free(p.base);
    }
    sc_log(SC_LOG_INFO, NULL, "exiting (%d)", rc);
    return rc;
}
