/* sidecar: the mtls-sidecar proxy daemon. */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "accesslog.h"
#include "filewatch.h"
#include "l7_internal.h"
#include "io.h"
#include "log.h"
#include "runtime.h"
#include "sandbox.h"
#include "sdsclient.h"
#include "thread.h"

#define SC_VERSION "0.2.0"
#define TICK_SECONDS 30 /* wall-clock checks (expiry) run at least this often */

/* Sanitizer runtimes make syscalls of their own (LeakSanitizer forks a
 * tracer and ptrace()s the threads at exit): their builds start without the
 * seccomp filter.  Capabilities and no_new_privs apply to every build. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SECCOMP_DEFAULT 0
#define SECCOMP_OFF_WHY "sanitizer build"
#else
#define SECCOMP_DEFAULT 1
#define SECCOMP_OFF_WHY "--no-seccomp"
#endif

struct proxy {
    const char *config_path;
    int seccomp; /* install the syscall allow-list */
    struct event *drain_tick; /* while draining: checks what is left */
    struct timespec drain_deadline;
    struct event_base *base;
    struct sc_runtime *rt;
    struct sc_admin *admin;
    struct sc_filewatch *files;
    struct sc_sdsclient *sds;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sidecar -c FILE [-l LEVEL] [--check] [--no-seccomp]\n"
            "       sidecar --version | --help\n"
            "\n"
            "The mtls-sidecar proxy: mutual TLS for a pod's inbound and outbound traffic,\n"
            "with Istio's PeerAuthentication and DestinationRule semantics.\n"
            "\n"
            "options:\n"
            "  -c, --config FILE   the YAML configuration (required; conf/sidecar.yaml shows\n"
            "                      every key)\n"
            "      --check         validate FILE, print the effective policy (one line per\n"
            "                      listener: address, direction, port, protocol, mode and\n"
            "                      the document that decided it) and exit: 0 when valid,\n"
            "                      1 with file:line:col and the reason when not\n"
            "  -l, --log-level L   debug, info, warn or error; overrides log_level in FILE\n"
            "      --no-seccomp    no syscall allow-list (debugging); capabilities are still\n"
            "                      dropped and no_new_privs still set\n"
            "  -V, --version       print the version, OpenSSL's and libevent's, and exit\n"
            "  -h, --help          print this text and exit\n"
            "\n"
            "signals:\n"
            "  SIGHUP              reload FILE: validated whole, the running config is kept\n"
            "                      when it is invalid (as POST /reload on the admin address)\n"
            "  SIGTERM             drain: stop accepting, readiness 503, let connections\n"
            "                      finish until timeouts.drain_ms, then exit 0 (as POST /drain)\n"
            "  SIGINT, SIGQUIT     exit at once\n"
            "\n"
            "The admin address lists its endpoints at GET /help.  Documentation:\n"
            "README.md, docs/config.md (every key, metrics, admin endpoints),\n"
            "docs/deploy.md; the annotated configuration is conf/sidecar.yaml.\n");
}

static void log_summary_line(void *arg, const char *line)
{
    (void)arg;
    sc_log(SC_LOG_INFO, NULL, "%s", line);
}

static void print_summary_line(void *arg, const char *line)
{
    fprintf(arg, "%s\n", line);
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *p = arg;
    struct timespec now;
    size_t left = sc_runtime_conn_count(p->rt);

    (void)fd;
    (void)what;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (left == 0 || now.tv_sec > p->drain_deadline.tv_sec ||
        (now.tv_sec == p->drain_deadline.tv_sec && now.tv_nsec >= p->drain_deadline.tv_nsec)) {
        sc_log(SC_LOG_INFO, NULL, "drain: %s, exiting",
               left == 0 ? "no connections left" : "deadline reached");
        event_base_loopexit(p->base, NULL);
    }
}

/* SIGTERM, POST /drain and POST /quitquitquit: stop accepting, turn
 * readiness to 503, let open connections finish (HTTP ones close after
 * their current response) until timeouts.drain_ms, then exit 0. */
static void drain(struct proxy *p)
{
    struct timeval tv = {0, 100000};
    int ms = sc_runtime_config(p->rt)->timeouts.drain_ms;

    if (p->drain_tick != NULL) {
        return;
    }
    sc_log(SC_LOG_INFO, NULL, "draining: %zu connection(s) open, deadline %d ms",
           sc_runtime_conn_count(p->rt), ms);
    sc_runtime_drain(p->rt);
    clock_gettime(CLOCK_MONOTONIC, &p->drain_deadline);
    p->drain_deadline.tv_sec += ms / 1000;
    p->drain_deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (p->drain_deadline.tv_nsec >= 1000000000L) {
        p->drain_deadline.tv_sec++;
        p->drain_deadline.tv_nsec -= 1000000000L;
    }
    p->drain_tick = event_new(p->base, -1, EV_PERSIST, on_drain_tick, p);
    if (p->drain_tick == NULL || event_add(p->drain_tick, &tv) != 0) {
        event_base_loopexit(p->base, NULL);
    }
}

static void quit(void *arg)
{
    drain(arg);
}

/* POST /drain_listeners: Envoy's meaning, no exit (the process runs on
 * until SIGTERM, /drain or /quitquitquit). */
static void drain_listeners(void *arg, int graceful)
{
    struct proxy *p = arg;

    sc_log(SC_LOG_INFO, NULL, "draining listeners%s: %zu connection(s) open, not exiting",
           graceful ? " gracefully" : "", sc_runtime_conn_count(p->rt));
    sc_runtime_drain_listeners(p->rt, graceful);
}

static void sds_state(void *arg, struct sc_admin_sds *out)
{
    struct proxy *p = arg;

    if (p->sds != NULL) {
        sc_sdsclient_state(p->sds, out);
    }
}

/* SIGHUP and POST /reload: the new config is validated whole first; on
 * error the running one stays.  Listeners are added and removed, and modes
 * and routes apply to new connections; open ones keep their snapshot.
 * Routes that accept any server of the trust domain get their WARN again. */
static int reload(struct proxy *p, char *msg, size_t msglen)
{
    struct sc_config *cfg = NULL;
    struct sc_err err;

    if (sc_config_load(p->config_path, &cfg, &err) != 0 ||
        sc_runtime_set_config(p->rt, cfg, &err) != 0) {
        sc_err_str(&err, msg, msglen);
        sc_log(SC_LOG_ERR, NULL, "reload failed, keeping the running config: %s", msg);
        return -1;
    }
    sc_log(SC_LOG_INFO, NULL, "reloaded %s", p->config_path);
    sc_config_summary(sc_runtime_config(p->rt), log_summary_line, NULL);
    sc_config_warn_identities(sc_runtime_config(p->rt));
    if (p->files != NULL) {
        sc_filewatch_reload(p->files);
    }
    return 0;
}

static int admin_reload(void *arg, char *msg, size_t msglen)
{
    return reload(arg, msg, msglen);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct proxy *p = arg;

    (void)what;
    if (sig == SIGHUP) {
        char msg[1024];
        reload(p, msg, sizeof(msg));
        return;
    }
    if (sig == SIGTERM && p->drain_tick == NULL) {
        sc_log(SC_LOG_INFO, NULL, "signal %d: draining", (int)sig);
        drain(p);
        return;
    }
    sc_log(SC_LOG_INFO, NULL, "signal %d: shutting down", (int)sig);
    event_base_loopexit(p->base, NULL);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *p = arg;

    (void)fd;
    (void)what;
    sc_runtime_check_expiry(p->rt, time(NULL));
}

/* The access log: stdout by default, a file, or off (also when stdout is
 * /dev/null, as for the connection log); never blocks a worker (each
 * writes into its own ring, one thread drains them). */
static int open_access_log(const struct sc_config *cfg)
{
    struct sc_accesslog_sink_config alc;
    struct sc_err err;

    memset(&alc, 0, sizeof(alc));
    if (strcmp(cfg->access_log.path, "off") == 0) {
        return 0;
    }
    alc.dest =
        strcmp(cfg->access_log.path, "stdout") == 0 ? SC_ACCESSLOG_STDOUT : SC_ACCESSLOG_FILE;
    if (alc.dest == SC_ACCESSLOG_STDOUT && !sc_log_record_enabled()) {
        return 0; /* stdout goes nowhere (/dev/null): no record, no write(2) */
    }
    alc.path = cfg->access_log.path;
    alc.format = strcmp(cfg->access_log.format, "json") == 0    ? SC_ACCESSLOG_JSON
                 : strcmp(cfg->access_log.format, "istio") == 0 ? SC_ACCESSLOG_ISTIO
                                                                : SC_ACCESSLOG_TEXT;
    alc.workers = (unsigned)cfg->workers;
    sc_l7_access_log = sc_accesslog_sink_new(&alc, &err);
    if (sc_l7_access_log == NULL) {
        sc_log(SC_LOG_ERR, NULL, "access_log.path: %s", err.msg);
        return -1;
    }
    return 0;
}

/* Every connection costs two descriptors: the soft RLIMIT_NOFILE goes up to
 * the hard limit, and the start-up log says what it is. */
static void raise_nofile(void)
{
    struct rlimit rl;
    unsigned long long was;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        sc_log(SC_LOG_WARN, NULL, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return;
    }
    was = (unsigned long long)rl.rlim_cur;
    if (rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            sc_log(SC_LOG_WARN, NULL, "cannot raise RLIMIT_NOFILE from %llu to %llu: %s", was,
                   (unsigned long long)rl.rlim_max, strerror(errno));
            return;
        }
    }
    sc_log(SC_LOG_INFO, NULL, "file descriptors: RLIMIT_NOFILE %llu (was %llu, hard limit %llu)",
           (unsigned long long)rl.rlim_cur, was, (unsigned long long)rl.rlim_max);
}

static int port_below_1024(const struct sc_addr *a)
{
    int port = sc_addr_port(a);

    return port > 0 && port < 1024;
}

/* Whether any listener of cfg is on a privileged port.  Listeners can be
 * added by a reload but the capability cannot come back, so only a port in
 * the start-up config keeps CAP_NET_BIND_SERVICE. */
static int wants_low_port(const struct sc_config *cfg)
{
    int low = (cfg->has_admin && port_below_1024(&cfg->admin)) ||
              (cfg->has_health && port_below_1024(&cfg->health)) ||
              (cfg->has_stats && port_below_1024(&cfg->stats)) ||
              (cfg->has_inbound && port_below_1024(&cfg->inbound.address)) ||
              (cfg->has_outbound && port_below_1024(&cfg->outbound.address));

    for (size_t i = 0; i < cfg->n_listeners && !low; i++) {
        low = port_below_1024(&cfg->listeners[i].address);
    }
    return low;
}

/* no_new_privs, capabilities, seccomp (proxy/control/sandbox.h); one line says
 * which are on.  A failure stops the start-up. */
static int enter_sandbox(struct proxy *p)
{
    const struct sc_config *cfg = sc_runtime_config(p->rt);
    struct sc_sandbox_opts o;
    struct sc_sandbox_result r;
    struct sc_err err;
    char msg[512];

    memset(&o, 0, sizeof(o));
    o.seccomp = p->seccomp;
    o.keep_net_admin = cfg->socket_mark != 0;
    o.keep_net_bind_service = wants_low_port(cfg);
    if (sc_sandbox_apply(&o, &r, &err) != 0) {
        sc_log(SC_LOG_ERR, NULL, "sandbox: %s", sc_err_str(&err, msg, sizeof(msg)));
        return -1;
    }
    if (r.seccomp) {
        snprintf(msg, sizeof(msg), "on (%zu syscalls allowed)", r.n_allowed);
    } else {
        snprintf(msg, sizeof(msg), "off (%s)", SECCOMP_OFF_WHY);
    }
    sc_log(SC_LOG_INFO, NULL,
           "sandbox: no_new_privs on, capabilities kept: %s (bounding set %s), "
           "seccomp %s",
           r.kept, r.bounding_dropped ? "reduced to them" : "unchanged: no CAP_SETPCAP", msg);
    return 0;
}

static int parse_args(int argc, char **argv, struct proxy *p, int *check, const char **level)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'V'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {"no-seccomp", no_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "c:l:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            p->config_path = optarg;
            break;
        case 'k':
            *check = 1;
            break;
        case 'l':
            *level = optarg;
            break;
        case 'S':
            p->seccomp = 0;
            break;
        case 'V':
            printf("sidecar (mtls-sidecar) %s, %s, libevent %s\n", SC_VERSION,
                   OpenSSL_version(OPENSSL_VERSION), event_get_version());
            exit(0);
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (p->config_path == NULL) {
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct proxy p;
    struct sc_config *cfg = NULL;
    struct sc_err err;
    struct event *sigs[4] = {NULL, NULL, NULL, NULL};
    const int signums[4] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    struct event *tick = NULL;
    struct timeval tick_tv = {TICK_SECONDS, 0};
    struct sc_admin_env env;
    struct sc_admin_info info;
    const char *level = NULL;
    char msg[1024];
    int check = 0, rc = 1;
    enum sc_log_level lvl;

    memset(&p, 0, sizeof(p));
    p.seccomp = SECCOMP_DEFAULT;
    if (parse_args(argc, argv, &p, &check, &level) != 0) {
        return 2;
    }
    if (sc_config_load(p.config_path, &cfg, &err) != 0) {
        fprintf(stderr, "%s\n", sc_err_str(&err, msg, sizeof(msg)));
        return 1;
    }
    if (check) {
        sc_config_summary(cfg, print_summary_line, stdout);
        sc_config_warn_identities(cfg);
        printf("%s: configuration is valid\n", p.config_path);
        sc_config_free(cfg);
        return 0;
    }
    info.log_level = level; /* -l only: cfg is freed on reload */
    if (level == NULL) {
        level = cfg->log_level;
    }
    if (level != NULL && sc_log_parse_level(level, &lvl) != 0) {
        fprintf(stderr, "unknown log level \"%s\"\n", level);
        sc_config_free(cfg);
        return 2;
    }
    if (level != NULL) {
        sc_log_set_level(lvl);
    }
    sc_config_summary(cfg, log_summary_line, NULL);
    sc_config_warn_identities(cfg);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    if (evthread_use_pthreads() != 0) {
        fprintf(stderr, "libevent without pthreads support\n");
        sc_config_free(cfg);
        return 1;
    }
    p.base = event_base_new();
    if (p.base == NULL) {
        sc_config_free(cfg);
        return 1;
    }
    p.rt = sc_runtime_new(p.base, cfg); /* takes cfg */
    if (p.rt == NULL) {
        goto out;
    }
    for (int i = 0; i < 4; i++) {
        sigs[i] = evsignal_new(p.base, signums[i], on_signal, &p);
        if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0) {
            goto out;
        }
    }
    tick = event_new(p.base, -1, EV_PERSIST, on_tick, &p);
    if (tick == NULL || event_add(tick, &tick_tv) != 0) {
        goto out;
    }
    /* Health and admin answer before the certificates are in (503 with the
     * reason); the data listeners open only once they are. */
    info.version = SC_VERSION;
    info.config_path = p.config_path;
    info.started = time(NULL);
    env.rt = p.rt;
    env.info = &info;
    env.quit = quit;
    env.drain_listeners = drain_listeners;
    env.reload = admin_reload;
    env.sds_state = sds_state;
    env.arg = &p;
    p.admin = sc_admin_new(p.base, &env);
    if (p.admin == NULL) {
        goto out;
    }
    /* Before the first thread (the access-log writer, the workers): they
     * inherit what the main thread keeps. */
    if (enter_sandbox(&p) != 0 || open_access_log(sc_runtime_config(p.rt)) != 0) {
        goto out;
    }
    if (sc_runtime_config(p.rt)->secrets.sds_socket != NULL) {
        p.sds = sc_sdsclient_new(p.base, p.rt);
        if (p.sds == NULL) {
            goto out;
        }
    } else {
        p.files = sc_filewatch_new(p.base, p.rt);
        if (p.files == NULL) {
            goto out;
        }
        if (sc_filewatch_reload(p.files) != 0 && sc_runtime_material(p.rt) == NULL) {
            sc_log(SC_LOG_ERR, NULL,
                   "%s: no valid certificates; not listening until the "
                   "files are fixed",
                   p.config_path);
        }
    }
    event_base_dispatch(p.base);
    rc = 0;

out:
    sc_thread_block_stop_signals();
    sc_sdsclient_free(p.sds);
    sc_filewatch_free(p.files);
    sc_admin_free(p.admin);
    sc_runtime_free(p.rt);
    sc_io_buf_drain(); /* buffers freed on this thread at shutdown */
    sc_accesslog_sink_free(sc_l7_access_log);
    sc_l7_access_log = NULL;
    if (tick != NULL) {
        event_free(tick);
    }
    if (p.drain_tick != NULL) {
        event_free(p.drain_tick);
    }
    for (int i = 0; i < 4; i++) {
        if (sigs[i] != NULL) {
            event_free(sigs[i]);
        }
    }
    if (p.base != NULL) {
        event_base_free(p.base);
    }
    sc_log(SC_LOG_INFO, NULL, "exiting (%d)", rc);
    return rc;
}
