#include "agentadmin.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "addr.h"
#include "adminhttp.h"
#include "ca.h"
#include "casrc.h"
#include "files.h"
#include "sdsserver.h"

/* See agentadmin.h.  Metric names are listed in docs/sds-agent.md. */

struct sc_agentadmin {
    struct sc_agentadmin_env env;
    struct sc_adminhttp *http;
};

const char *sc_agentadmin_not_ready(const struct sc_agentadmin_env *env, time_t now, char *buf,
                                    size_t len)
{
    if (env->casrc != NULL) {
        return sc_ca_src_not_ready(env->casrc, now, buf, len);
    }
    if (env->files != NULL) {
        return sc_files_src_not_ready(env->files, now, buf, len);
    }
    snprintf(buf, len, "no certificate source");
    return buf;
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static const char *label(const char *s, char *out, size_t outlen)
{
    size_t o = 0;

    for (; *s != '\0' && o + 3 < outlen; s++) {
        if (*s == '\\' || *s == '"') {
            out[o++] = '\\';
            out[o++] = *s;
        } else if (*s == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
    return out;
}

static void header(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric with one unlabelled series. */
static void metric(struct evbuffer *out, const char *name, const char *type, const char *help,
                   uint64_t v)
{
    header(out, name, type, help);
    evbuffer_add_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

static void ca_expiry(struct evbuffer *out, const char *role, const char *subject,
                      const char *serial, time_t not_after)
{
    char subj[600];

    evbuffer_add_printf(out,
                        "sds_agent_ca_expiration_timestamp_seconds{role=\"%s\",subject=\"%s\","
                        "serial=\"%s\"} %lld\n",
                        role, label(subject, subj, sizeof(subj)), serial, (long long)not_after);
}

void sc_agentadmin_render_prometheus(const struct sc_agentadmin_env *env, time_t now,
                                     struct evbuffer *out)
{
    struct sc_sdsserver_stats st;
    struct sc_ca_src_stats cs;
    char buf[512];
    const char *serial = NULL;
    time_t leaf_na = 0;

    sc_sdsserver_get_stats(env->srv, &st);
    memset(&cs, 0, sizeof(cs));
    if (env->casrc != NULL) {
        sc_ca_src_get_stats(env->casrc, &cs);
    }
    metric(out, "sds_agent_ready", "gauge",
           "1 when the agent can serve a valid certificate (what /healthz/ready says).",
           sc_agentadmin_not_ready(env, now, buf, sizeof(buf)) == NULL);
    metric(out, "sds_agent_clients", "gauge", "SDS streams open now.", st.streams);
    metric(out, "sds_agent_connections_total", "counter",
           "SDS connections accepted from an allowed uid.", st.connections);
    metric(out, "sds_agent_refused_peers_total", "counter",
           "SDS connections closed because the peer uid is not in allowed_uids.", st.refused_peers);
    metric(out, "sds_agent_bad_requests_total", "counter",
           "SDS requests that could not be decoded or had the wrong type_url.", st.bad_requests);
    metric(out, "sds_agent_pushes_total", "counter", "SDS responses sent to clients.", st.pushes);
    header(out, "sds_agent_push_replies_total", "counter",
           "Client answers to pushes: ack (installed) or nack (rejected).");
    evbuffer_add_printf(out,
                        "sds_agent_push_replies_total{result=\"ack\"} %llu\n"
                        "sds_agent_push_replies_total{result=\"nack\"} %llu\n",
                        (unsigned long long)st.acks, (unsigned long long)st.nacks);
    metric(out, "sds_agent_certificates_minted_total", "counter",
           "Workload certificates issued by the ca source.", cs.minted);
    metric(out, "sds_agent_certificate_mint_failures_total", "counter",
           "Failed issuances of the ca source (retried after 5 s).", cs.mint_failures);

    header(out, "sds_agent_certificate_expiration_timestamp_seconds", "gauge",
           "notAfter of the workload certificate served as default.");
    if (env->casrc != NULL && sc_ca_src_leaf(env->casrc) != NULL) {
        serial = sc_ca_src_leaf(env->casrc)->serial;
        leaf_na = sc_ca_src_leaf(env->casrc)->not_after;
    } else if (env->files != NULL && sc_files_src_current(env->files) != NULL) {
        serial = sc_files_src_current(env->files)->serial;
        leaf_na = sc_files_src_current(env->files)->not_after;
    }
    if (serial != NULL) {
        evbuffer_add_printf(out,
                            "sds_agent_certificate_expiration_timestamp_seconds{serial=\"%s\"} "
                            "%lld\n",
                            serial, (long long)leaf_na);
    }

    header(out, "sds_agent_ca_expiration_timestamp_seconds", "gauge",
           "notAfter of each CA certificate: the signing certificate, its intermediates and "
           "the roots (files source: the root that expires first).");
    if (env->casrc != NULL && sc_ca_src_ca(env->casrc) != NULL) {
        struct sc_ca_cert_info ci;
        size_t i;

        for (i = 0; sc_ca_cert_info(sc_ca_src_ca(env->casrc), i, &ci) == 0; i++) {
            ca_expiry(out, ci.role, ci.subject, ci.serial, ci.not_after);
        }
    } else if (env->files != NULL && sc_files_src_current(env->files) != NULL) {
        const struct sc_files_set *set = sc_files_src_current(env->files);

        if (set->n_roots > 0) {
            ca_expiry(out, "root", set->root_subject, set->root_serial, set->root_not_after);
        }
    }
}

static void on_ready(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep, void *arg)
{
    struct sc_agentadmin *a = arg;
    char buf[768];
    const char *why = sc_agentadmin_not_ready(&a->env, time(NULL), buf, sizeof(buf));

    (void)req;
    rep->content_type = "text/plain";
    if (why == NULL) {
        evbuffer_add_printf(rep->body, "LIVE\n");
        rep->status = 200;
    } else {
        evbuffer_add_printf(rep->body, "not ready: %s\n", why);
        rep->status = 503;
    }
}

static void on_prometheus(const struct sc_adminhttp_req *req, struct sc_adminhttp_reply *rep,
                          void *arg)
{
    struct sc_agentadmin *a = arg;

    (void)req;
    rep->status = 200;
    rep->content_type = "text/plain; version=0.0.4";
    sc_agentadmin_render_prometheus(&a->env, time(NULL), rep->body);
}

struct sc_agentadmin *sc_agentadmin_new(struct event_base *base, const struct sc_addr *addr,
                                        const struct sc_agentadmin_env *env, struct sc_err *err)
{
    struct sc_agentadmin *a = calloc(1, sizeof(*a));
    char as[SC_ADDR_STRLEN];

    if (a == NULL) {
        sc_err_set(err, "out of memory");
        return NULL;
    }
    a->env = *env;
    a->http = sc_adminhttp_new(base, "admin", NULL);
    if (a->http == NULL || sc_adminhttp_route(a->http, "/healthz/ready", 0, on_ready, a) != 0 ||
        sc_adminhttp_route(a->http, "/stats/prometheus", 0, on_prometheus, a) != 0) {
        sc_err_set(err, "out of memory");
        goto fail;
    }
    if (sc_adminhttp_listen(a->http, addr) != 0) {
        sc_err_set(err, "admin: cannot listen on %s", sc_addr_str(addr, as, sizeof(as)));
        goto fail;
    }
    return a;

fail:
    sc_agentadmin_free(a);
    return NULL;
}

void sc_agentadmin_free(struct sc_agentadmin *a)
{
    if (a == NULL) {
        return;
    }
    sc_adminhttp_free(a->http);
    free(a);
}
