#include "runtime.h"

#include <errno.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "config.h"
#include "crl.h"
#include "err.h"
#include "escape.h"
#include "log.h"
#include "snapshot.h"
#include "spiffe.h"
#include "stats.h"
#include "tlsctx.h"
#include "upool.h"
#include "upstream.h"
#include "validity.h"
#include "worker.h"
#include "x509.h"

#define EXPIRY_LOG_INTERVAL 3600

struct sc_runtime {
    struct event_base *base;
    struct sc_config *cfg;
    struct sc_tls_material *material;
    struct sc_snapshot *snap;
    struct sc_validity *validity; /* ERROR / INFO at each notAfter / notBefore */
    struct sc_worker **workers;
    struct sc_stats **stats;
    int n_workers;
    int started;
    int draining;
    time_t last_expiry_log;
    char last_rejection[512];
    char mark_problem[256]; /* socket_mark cannot be set: why; "" when fine */
    struct sc_runtime_counters counters;
};

/* A socket_mark the sidecar cannot set fails every outbound connection:
 * say so loudly (an ERROR now, readiness 503 until it is fixed) rather than
 * look LIVE while every request gets a 503. */
static void check_mark(struct sc_runtime *rt)
{
    char why[200];

    if (sc_upstream_mark_check(rt->cfg->socket_mark, why, sizeof(why)) == 0) {
        if (rt->mark_problem[0] != '\0') {
            sc_log(SC_LOG_INFO, NULL, "socket_mark %u: outbound connections can open again",
                   rt->cfg->socket_mark);
        }
        rt->mark_problem[0] = '\0';
        return;
    }
    snprintf(rt->mark_problem, sizeof(rt->mark_problem), "socket_mark: %s", why);
    sc_log(SC_LOG_ERR, NULL,
           "%s; every outbound connection will fail (give the sidecar "
           "CAP_NET_ADMIN, or set socket_mark: 0 and exempt it by uid)",
           rt->mark_problem);
}

struct sc_runtime *sc_runtime_new(struct event_base *base, struct sc_config *cfg)
{
    struct sc_runtime *rt = calloc(1, sizeof(*rt));

    if (rt == NULL) {
        sc_config_free(cfg);
        return NULL;
    }
    rt->base = base;
    rt->cfg = cfg;
    rt->validity = sc_validity_new(base);
    if (rt->validity == NULL) {
        sc_config_free(cfg);
        free(rt);
        return NULL;
    }
    check_mark(rt);
    return rt;
}

static int start_workers(struct sc_runtime *rt, struct sc_err *err)
{
    int n = rt->cfg->workers > 0 ? rt->cfg->workers : 1;

    rt->workers = calloc((size_t)n, sizeof(*rt->workers));
    rt->stats = calloc((size_t)n, sizeof(*rt->stats));
    if (rt->workers == NULL || rt->stats == NULL) {
        sc_err_set(err, "out of memory");
        return -1;
    }
    rt->n_workers = n;
    for (int i = 0; i < n; i++) {
        rt->workers[i] = sc_worker_new(i, rt->snap);
        if (rt->workers[i] == NULL) {
            sc_err_set(err, "worker %d: cannot open its listeners (see above)", i);
            return -1;
        }
        rt->stats[i] = sc_worker_stats(rt->workers[i]);
    }
    for (int i = 0; i < n; i++) {
        if (sc_worker_start(rt->workers[i]) != 0) {
            sc_err_set(err, "cannot start worker %d: %s", i, strerror(errno));
            return -1;
        }
    }
    rt->started = 1;
    for (int i = 0; rt->draining && i < n; i++) {
        sc_worker_drain(rt->workers[i], (enum sc_worker_drain)rt->draining); /* asked before */
    }
    sc_log(SC_LOG_INFO, NULL, "ready: %d worker(s) listening, node %s", n, rt->cfg->node.id);
    return 0;
}

/* Every certificate of the new snapshot is watched for its next transition. */
static void watch(struct sc_runtime *rt)
{
    struct sc_certs_names names = {rt->cfg->secrets.sds_cert_name, rt->cfg->secrets.sds_root_name};

    sc_validity_watch(rt->validity, rt->material, rt->snap, &names, time(NULL));
}

/* Builds and publishes a snapshot of the current config and material. */
static int publish(struct sc_runtime *rt, struct sc_err *err)
{
    struct sc_snapshot *snap =
        sc_snapshot_new_with(sc_config_ref(rt->cfg), sc_tls_material_ref(rt->material), err);

    if (snap == NULL) {
        return -1;
    }
    sc_snapshot_unref(rt->snap);
    rt->snap = snap;
    watch(rt);
    if (!rt->started) {
        return start_workers(rt, err);
    }
    for (int i = 0; i < rt->n_workers; i++) {
        sc_worker_publish(rt->workers[i], snap);
    }
    return 0;
}

static void describe_leaf(const struct sc_tls_material *m, char *out, size_t outlen)
{
    X509 *leaf = sc_tls_material_leaf(m);
    char raw[512], id[512], serial[80], t[32];

    /* an SDS push chooses the leaf: its SPIFFE ID is escaped for the log */
    if (sc_x509_spiffe_id(leaf, raw, sizeof(raw)) != 0) {
        snprintf(id, sizeof(id), "-");
    } else {
        sc_escape_text_str(raw, id, sizeof(id));
    }
    snprintf(out, outlen, "%s serial=%s not_after=%s roots=%d crls=%d", id,
             sc_x509_serial_hex(leaf, serial, sizeof(serial)),
             sc_time_rfc3339(sc_x509_not_after(leaf), t, sizeof(t)),
             sk_X509_num(sc_tls_material_roots(m)),
             sc_tls_material_crls(m) != NULL ? sk_X509_CRL_num(sc_tls_material_crls(m)) : 0);
    for (size_t i = 0; i < sc_tls_material_n_bundles(m); i++) {
        size_t used = strlen(out);

        snprintf(out + used, outlen - used, "%s%s:%d", i == 0 ? " trust_bundles=" : ",",
                 sc_tls_material_bundle_domain(m, i),
                 sk_X509_num(sc_tls_material_bundle_roots(m, i)));
    }
}

/* WARN when our certificate's trust domain is not node.trust_domain: every
 * peer is checked against the latter, so the mesh would refuse us. */
static void check_trust_domain(const struct sc_runtime *rt)
{
    const char *id = rt->snap != NULL ? sc_snapshot_own_id(rt->snap) : NULL;
    struct sc_spiffe_id sid;

    if (id == NULL || sc_spiffe_parse(id, strlen(id), &sid) != 0 ||
        strcmp(sid.trust_domain, rt->cfg->node.trust_domain) == 0) {
        return;
    }
    sc_log(SC_LOG_WARN, NULL,
           "our certificate %s is in trust domain %s, not node.trust_domain %s: peers are "
           "checked against %s and will refuse it",
           id, sid.trust_domain, rt->cfg->node.trust_domain, rt->cfg->node.trust_domain);
}

int sc_runtime_set_material(struct sc_runtime *rt, struct sc_tls_material *m, const char *source,
                            struct sc_err *err)
{
    struct sc_tls_material *old = rt->material;
    char desc[768];

    rt->material = m;
    if (publish(rt, err) != 0) {
        rt->material = old;
        sc_tls_material_free(m);
        sc_runtime_count_rejected(rt, err->msg);
        return -1;
    }
    sc_tls_material_free(old);
    rt->counters.secrets_accepted++;
    describe_leaf(m, desc, sizeof(desc));
    sc_log(SC_LOG_INFO, NULL, "certificates installed from %s: %s (snapshot %llu)", source, desc,
           (unsigned long long)sc_snapshot_generation(rt->snap));
    rt->last_expiry_log = 0;
    sc_runtime_check_expiry(rt, time(NULL));
    check_trust_domain(rt);
    return 0;
}

int sc_runtime_set_config(struct sc_runtime *rt, struct sc_config *cfg, struct sc_err *err)
{
    struct sc_config *old = rt->cfg;

    rt->cfg = cfg;
    if (rt->material != NULL && publish(rt, err) != 0) {
        rt->cfg = old;
        sc_config_free(cfg);
        return -1;
    }
    sc_config_free(old);
    check_mark(rt);
    check_trust_domain(rt);
    return 0;
}

const struct sc_config *sc_runtime_config(const struct sc_runtime *rt)
{
    return rt->cfg;
}

struct sc_snapshot *sc_runtime_current(struct sc_runtime *rt)
{
    return rt->snap != NULL ? sc_snapshot_ref(rt->snap) : NULL;
}

const struct sc_tls_material *sc_runtime_material(const struct sc_runtime *rt)
{
    return rt->material;
}

const char *sc_runtime_not_ready(struct sc_runtime *rt, time_t now, char *buf, size_t len)
{
    if (rt->material == NULL) {
        snprintf(buf, len, "waiting for certificates (%s)%s%s",
                 rt->cfg->secrets.sds_socket != NULL ? "SDS" : "files",
                 rt->last_rejection[0] != '\0' ? "; last set refused: " : "", rt->last_rejection);
        return buf;
    }
    if (rt->draining) {
        snprintf(buf, len, "draining");
        return buf;
    }
    if (!rt->started) {
        snprintf(buf, len, "listeners are not up");
        return buf;
    }
    if (rt->mark_problem[0] != '\0') {
        snprintf(buf, len, "%s", rt->mark_problem);
        return buf;
    }
    return sc_tls_material_problem(rt->material, now, buf, len);
}

/* ERROR once expired; WARN when less than the warning window is left.  The
 * window is expiry_warning_days, but at most a quarter of the certificate's
 * lifetime: a 24-hour workload certificate that rotates at half-life is
 * worth a warning only once its renewal is late, not from the start. */
struct check_state {
    time_t now;
    int warn_days;
};

static const char *what_of(const struct sc_certs_item *it)
{
    if (it->route) {
        return it->role == SC_CERTS_ROOT   ? "route CA"
               : it->role == SC_CERTS_LEAF ? "route client certificate"
                                           : "route intermediate CA";
    }
    return it->role == SC_CERTS_ROOT   ? "root CA"
           : it->role == SC_CERTS_LEAF ? "workload certificate"
                                       : "intermediate CA";
}

static void check_one(const struct sc_certs_item *it, void *arg)
{
    const struct check_state *st = arg;
    X509 *c = it->cert;
    char subj[256], t[32], serial[80], name[300] = "", res[120] = "";
    time_t na = sc_x509_not_after(c), nb = sc_x509_not_before(c), now = st->now;
    time_t window = (time_t)st->warn_days * 86400;

    if (na > nb && (na - nb) / 4 < window) {
        window = (na - nb) / 4;
    }
    if (sc_x509_name_str(X509_get_subject_name(c), subj, sizeof(subj)) > 0) {
        snprintf(name, sizeof(name), " %s", subj);
    }
    if (it->route) {
        snprintf(res, sizeof(res), " of %s", it->resource);
    }
    sc_x509_serial_hex(c, serial, sizeof(serial));
    sc_time_rfc3339(na, t, sizeof(t));
    if (na <= now) {
        sc_log(SC_LOG_ERR, NULL, "%s%s%s (serial %s) expired at %s", what_of(it), res, name, serial,
               t);
    } else if (na - now <= window) {
        sc_log(SC_LOG_WARN, NULL, "%s%s%s (serial %s) expires at %s, in %ld minutes", what_of(it),
               res, name, serial, t, (long)((na - now) / 60));
    }
}

void sc_runtime_check_expiry(struct sc_runtime *rt, time_t now)
{
    struct check_state st = {now, rt->cfg->secrets.expiry_warning_days}; /* 0: ERROR only */
    struct sc_certs_names names = {rt->cfg->secrets.sds_cert_name, rt->cfg->secrets.sds_root_name};
    STACK_OF(X509_CRL) * crls;
    int from = 0;
    char why[512];

    if (rt->material == NULL) {
        return;
    }
    sc_validity_check(rt->validity, now);
    /* Compared against the wall clock at every call, so a suspend or a
     * clock jump is noticed at the next wake-up, not after a stale timer. */
    if (rt->last_expiry_log != 0 && now >= rt->last_expiry_log &&
        now - rt->last_expiry_log < EXPIRY_LOG_INTERVAL) {
        return;
    }
    rt->last_expiry_log = now;
    sc_certs_each(rt->material, rt->snap, &names, check_one, &st);
    crls = sc_tls_material_crls(rt->material);
    while (crls != NULL && from < sk_X509_CRL_num(crls)) {
        if (sc_crl_problem(crls, now, &from, why, sizeof(why)) != NULL) {
            sc_log(SC_LOG_WARN, NULL, "%s; revocation is still checked against it", why);
        }
    }
}

struct sc_stats *const *sc_runtime_stats(const struct sc_runtime *rt, size_t *n)
{
    *n = rt->started ? (size_t)rt->n_workers : 0;
    return rt->stats;
}

const struct sc_runtime_counters *sc_runtime_counters(const struct sc_runtime *rt)
{
    return &rt->counters;
}

void sc_runtime_count_rejected(struct sc_runtime *rt, const char *why)
{
    rt->counters.secrets_rejected++;
    snprintf(rt->last_rejection, sizeof(rt->last_rejection), "%s", why);
}

static void drain(struct sc_runtime *rt, int level)
{
    if (rt->draining >= level) {
        return;
    }
    rt->draining = level;
    for (int i = 0; rt->started && i < rt->n_workers; i++) {
        sc_worker_drain(rt->workers[i], (enum sc_worker_drain)level);
    }
}

void sc_runtime_drain(struct sc_runtime *rt)
{
    drain(rt, SC_WORKER_DRAIN_ALL);
}

void sc_runtime_drain_listeners(struct sc_runtime *rt, int graceful)
{
    drain(rt, graceful ? SC_WORKER_DRAIN_ALL : SC_WORKER_DRAIN_LISTENERS);
}

int sc_runtime_draining(const struct sc_runtime *rt)
{
    return rt->draining;
}

size_t sc_runtime_conn_count(const struct sc_runtime *rt)
{
    size_t n = 0;

    for (int i = 0; rt->started && i < rt->n_workers; i++) {
        n += sc_worker_conn_count(rt->workers[i]);
    }
    return n;
}

void sc_runtime_pool_gauges(const struct sc_runtime *rt, struct sc_upool_gauges *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; rt->started && i < rt->n_workers; i++) {
        struct sc_upool_gauges g;
        struct sc_upool *p = sc_worker_upool(rt->workers[i]);

        if (p == NULL) {
            continue;
        }
        sc_upool_gauges(p, &g);
        out->active += g.active;
        out->idle += g.idle;
        out->pending += g.pending;
        out->connecting += g.connecting;
        out->overflows += g.overflows;
        out->created += g.created;
        out->reused += g.reused;
    }
}

void sc_runtime_free(struct sc_runtime *rt)
{
    if (rt == NULL) {
        return;
    }
    for (int i = 0; rt->workers != NULL && i < rt->n_workers; i++) {
        if (rt->workers[i] != NULL) {
            sc_worker_stop(rt->workers[i]);
        }
    }
    for (int i = 0; rt->workers != NULL && i < rt->n_workers; i++) {
        sc_worker_free(rt->workers[i]);
    }
    free(rt->workers);
    free(rt->stats);
    sc_validity_free(rt->validity);
    sc_snapshot_unref(rt->snap);
    sc_tls_material_free(rt->material);
    sc_config_free(rt->cfg);
    free(rt);
}
