/* sds-agent: the local certificate server of mtls-sidecar.  Serves Envoy's
 * SDS v3 (StreamSecrets) on a Unix socket from a directory of certificates
 * or from a local CA (docs/sds-agent.md). */
#include <event2/event.h>
#include <getopt.h>
#include <nghttp2/nghttp2ver.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentadmin.h"
#include "agentcfg.h"
#include "ca.h"
#include "casrc.h"
#include "files.h"
#include "log.h"
#include "sdsserver.h"
#include "thread.h"
#include "x509.h"

#define SC_AGENT_VERSION "0.2.0"

static void usage(FILE *f)
{
    fprintf(f, "usage: sds-agent -c FILE [-l LEVEL] [--check]\n"
               "       sds-agent --version | --help\n"
               "Serves workload certificates over Envoy's SDS v3 on a Unix socket, from a\n"
               "certificate directory (source: files) or a local CA (source: ca).\n"
               "\n"
               "options:\n"
               "  -c, --config FILE     the YAML configuration (required)\n"
               "      --check           validate the configuration and load the certificate\n"
               "                        source once, then exit (0 = valid, 1 = not)\n"
               "  -l, --log-level LEVEL debug, info, warn or error (overrides log_level)\n"
               "      --version         print the version and the library versions, exit 0\n"
               "  -h, --help            print this help, exit 0\n"
               "\n"
               "configuration keys: socket, socket_mode, allowed_uids, trust_domain, log_level,\n"
               "  source, files.dir, ca.{dir,namespace,service_account,lifetime,renew_at,jitter,\n"
               "  root_overlap,trust_wait}, admin.address; see docs/sds-agent.md and the\n"
               "  annotated example conf/sds-agent.yaml.\n"
               "admin (when admin.address is set): GET /healthz/ready, GET /stats/prometheus\n"
               "\n"
               "signals:\n"
               "  SIGHUP           re-read the certificate source now\n"
               "  SIGTERM, SIGINT  close the sockets and exit 0\n"
               "\n"
               "exit status: 0 on a clean exit, 1 on a configuration or startup error,\n"
               "  2 on bad usage.\n");
}

/* --check: the config is valid; also say whether the source loads now. */
static int check_source(const struct sc_agent_config *cfg)
{
    struct sc_err err;
    char t[32];

    if (cfg->source == SC_AGENT_SOURCE_FILES) {
        struct sc_files_set set;

        if (sc_files_read(cfg->files.dir, time(NULL), &set, &err) != 0) {
            fprintf(stderr, "%s: files: %s\n", cfg->file, err.msg);
            return -1;
        }
        printf("%s: ok (files, %s, serial %s, not after %s)\n", cfg->file,
               sc_files_layout_name(set.layout), set.serial,
               sc_time_rfc3339(set.not_after, t, sizeof(t)));
        sc_files_set_cleanup(&set);
        return 0;
    } else {
        struct sc_ca *ca = sc_ca_load(cfg->ca.dir, &err);
        char desc[400];

        if (ca == NULL) {
            fprintf(stderr, "%s: ca: %s\n", cfg->file, err.msg);
            return -1;
        }
        printf("%s: ok (ca, %s, issuing %s)\n", cfg->file, sc_ca_describe(ca, desc, sizeof(desc)),
               cfg->ca.spiffe_id);
        sc_ca_free(ca);
        return 0;
    }
}

struct agent {
    struct event_base *base;
    struct sc_files_src *files;
    struct sc_ca_src *casrc;
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct agent *a = arg;

    (void)what;
    if (sig == SIGHUP) {
        sc_log(SC_LOG_INFO, NULL, "SIGHUP: re-reading the certificate source");
        if (a->files != NULL) {
            sc_files_src_recheck(a->files);
        }
        if (a->casrc != NULL) {
            sc_ca_src_recheck(a->casrc);
        }
        return;
    }
    sc_log(SC_LOG_INFO, NULL, "signal %d: shutting down", (int)sig);
    event_base_loopexit(a->base, NULL);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'C'},
        {"log-level", required_argument, NULL, 'l'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *level = NULL;
    int check = 0, opt, rc = 1;
    struct sc_agent_config *cfg = NULL;
    struct sc_err err;
    char msg[1024];
    struct event_base *base = NULL;
    struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL;
    struct agent ag;
    struct sc_sdsserver *srv = NULL;
    struct sc_files_src *files = NULL;
    struct sc_ca_src *casrc = NULL;
    struct sc_agentadmin *admin = NULL;
    struct sc_sdsserver_opts so;
    struct sc_sdsserver_stats st;
    enum sc_log_level lvl;

    while ((opt = getopt_long(argc, argv, "c:l:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'C':
            check = 1;
            break;
        case 'l':
            level = optarg;
            break;
        case 'V':
            printf("sds-agent (mtls-sidecar) %s, %s, libevent %s, nghttp2 %s\n", SC_AGENT_VERSION,
                   OpenSSL_version(OPENSSL_VERSION), event_get_version(), NGHTTP2_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (path == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (level != NULL && sc_log_parse_level(level, &lvl) != 0) {
        fprintf(stderr, "sds-agent: unknown log level \"%s\"\n", level);
        return 2;
    }
    if (sc_agent_config_load(path, &cfg, &err) != 0) {
        fprintf(stderr, "%s\n", sc_err_str(&err, msg, sizeof(msg)));
        return 1;
    }
    if (check) {
        rc = check_source(cfg) == 0 ? 0 : 1;
        sc_agent_config_free(cfg);
        return rc;
    }
    sc_log_set_level(level != NULL ? lvl : (enum sc_log_level)cfg->log_level);
    signal(SIGPIPE, SIG_IGN);

    base = event_base_new();
    if (base == NULL) {
        fprintf(stderr, "sds-agent: event_base_new failed\n");
        goto out;
    }
    so.path = cfg->socket;
    so.mode = cfg->socket_mode;
    so.uids = cfg->allowed_uids;
    so.n_uids = cfg->n_allowed_uids;
    srv = sc_sdsserver_new(base, &so, &err);
    if (srv == NULL) {
        sc_log(SC_LOG_ERR, NULL, "%s", err.msg);
        goto out;
    }
    if (cfg->source == SC_AGENT_SOURCE_FILES) {
        files = sc_files_src_new(base, cfg->files.dir, srv, &err);
    } else {
        struct sc_ca_src_opts co = {
            cfg->ca.dir,    cfg->ca.spiffe_id,       cfg->ca.lifetime_ms,   cfg->ca.renew_at,
            cfg->ca.jitter, cfg->ca.root_overlap_ms, cfg->ca.trust_wait_ms,
        };
        casrc = sc_ca_src_new(base, &co, srv, &err);
    }
    if (files == NULL && casrc == NULL) {
        sc_log(SC_LOG_ERR, NULL, "%s", err.msg);
        goto out;
    }
    if (cfg->admin.enabled) {
        struct sc_agentadmin_env env = {srv, files, casrc};
        char as[SC_ADDR_STRLEN];

        admin = sc_agentadmin_new(base, &cfg->admin.addr, &env, &err);
        if (admin == NULL) {
            sc_log(SC_LOG_ERR, NULL, "%s", err.msg);
            goto out;
        }
        sc_log(SC_LOG_INFO, NULL, "admin listening on %s (/healthz/ready, /stats/prometheus)",
               sc_addr_str(&cfg->admin.addr, as, sizeof(as)));
    }
    ag.base = base;
    ag.files = files;
    ag.casrc = casrc;
    sigterm = evsignal_new(base, SIGTERM, on_signal, &ag);
    sigint = evsignal_new(base, SIGINT, on_signal, &ag);
    sighup = evsignal_new(base, SIGHUP, on_signal, &ag);
    if (sigterm == NULL || sigint == NULL || sighup == NULL || event_add(sigterm, NULL) != 0 ||
        event_add(sigint, NULL) != 0 || event_add(sighup, NULL) != 0) {
        sc_log(SC_LOG_ERR, NULL, "cannot install signal handlers");
        goto out;
    }
    sc_log(SC_LOG_INFO, NULL, "sds-agent %s serving SDS on %s (mode %04o, source %s)",
           SC_AGENT_VERSION, cfg->socket, cfg->socket_mode,
           cfg->source == SC_AGENT_SOURCE_FILES ? "files" : "ca");
    event_base_dispatch(base);
    sc_sdsserver_get_stats(srv, &st);
    sc_log(SC_LOG_INFO, NULL,
           "sds-agent exiting: connections=%llu refused_peers=%llu pushes=%llu acks=%llu "
           "nacks=%llu",
           (unsigned long long)st.connections, (unsigned long long)st.refused_peers,
           (unsigned long long)st.pushes, (unsigned long long)st.acks,
           (unsigned long long)st.nacks);
    rc = 0;

out:
    sc_thread_block_stop_signals();
    sc_agentadmin_free(admin);
    sc_files_src_free(files);
    sc_ca_src_free(casrc);
    sc_sdsserver_free(srv);
    if (sigterm != NULL) {
        event_free(sigterm);
    }
    if (sigint != NULL) {
        event_free(sigint);
    }
    if (sighup != NULL) {
        event_free(sighup);
    }
    if (base != NULL) {
        event_base_free(base);
    }
    sc_agent_config_free(cfg);
    return rc;
}
