#include "certs.h"

#include <event2/buffer.h>
#include <openssl/x509.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "escape.h"
#include "json.h"
#include "rootstats.h"
#include "snapshot.h"
#include "tlsctx.h"
#include "x509.h"

const char *sc_certs_role_name(enum sc_certs_role role)
{
    switch (role) {
    case SC_CERTS_LEAF:
        return "leaf";
    case SC_CERTS_INTERMEDIATE:
        return "intermediate";
    case SC_CERTS_ROOT:
        return "root";
    }
    return "-";
}

const char *sc_certs_status(time_t not_before, time_t not_after, time_t now)
{
    if (not_after <= now) {
        return "EXPIRED";
    }
    if (not_before > now) {
        return "NOT YET VALID";
    }
    return "ACTIVE";
}

/* Envoy prints serial numbers as lower-case hex. */
static const char *serial_lower(const X509 *c, char *out, size_t outlen)
{
    sc_x509_serial_hex(c, out, outlen);
    for (char *p = out; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'F') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
    return out;
}

static void json_cert(X509 *c, enum sc_certs_role role, time_t now, struct evbuffer *out, int first)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
    char serial[80], from[32], to[32];
    time_t na = sc_x509_not_after(c);
    long days = na > now ? (long)((na - now) / 86400) : 0;
    int n_san = 0;

    evbuffer_add_printf(out,
                        "%s{\"path\":\"<inline>\",\"serial_number\":\"%s\","
                        "\"subject_alt_names\":[",
                        first ? "" : ",", serial_lower(c, serial, sizeof(serial)));
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        const char *kind = gn->type == GEN_URI ? "uri" : gn->type == GEN_DNS ? "dns" : NULL;
        const ASN1_STRING *v =
            gn->type == GEN_URI ? gn->d.uniformResourceIdentifier : gn->d.dNSName;

        if (kind == NULL) {
            continue;
        }
        evbuffer_add_printf(out, "%s{\"%s\":\"", n_san++ > 0 ? "," : "", kind);
        sc_escape_evbuffer(out, sc_escape_json, (const char *)ASN1_STRING_get0_data(v),
                           (size_t)ASN1_STRING_length(v));
        evbuffer_add(out, "\"}", 2);
    }
    GENERAL_NAMES_free(names);
    evbuffer_add_printf(out,
                        "],\"days_until_expiration\":\"%ld\",\"valid_from\":\"%s\","
                        "\"expiration_time\":\"%s\",\"role\":\"%s\"}",
                        days, sc_time_rfc3339(sc_x509_not_before(c), from, sizeof(from)),
                        sc_time_rfc3339(na, to, sizeof(to)), sc_certs_role_name(role));
}

static void visit_td(sc_certs_visit_fn *fn, void *arg, X509 *c, enum sc_certs_role role,
                     const char *resource, const char *trust_domain)
{
    struct sc_certs_item it = {c, role, resource, 0, trust_domain};

    if (c != NULL) {
        fn(&it, arg);
    }
}

static void visit(sc_certs_visit_fn *fn, void *arg, X509 *c, enum sc_certs_role role,
                  const char *resource, int route)
{
    struct sc_certs_item it = {c, role, resource, route, NULL};

    if (c != NULL) {
        fn(&it, arg);
    }
}

/* A SIMPLE / MUTUAL context's certificates: the CA file's (not the system
 * store's, which is not ours to report), the client certificate and the
 * extras of its chain file. */
static void origin_each(SSL_CTX *ctx, const struct sc_cfg_tls_files *files, const char *name,
                        sc_certs_visit_fn *fn, void *arg)
{
    STACK_OF(X509) *extra = NULL;

    if (files->ca_certificates != NULL) {
        STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));

        for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
            X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);

            if (X509_OBJECT_get_type(o) == X509_LU_X509) {
                visit(fn, arg, X509_OBJECT_get0_X509(o), SC_CERTS_ROOT, name, 1);
            }
        }
    }
    visit(fn, arg, SSL_CTX_get0_certificate(ctx), SC_CERTS_LEAF, name, 1);
    if (SSL_CTX_get0_certificate(ctx) != NULL && SSL_CTX_get0_chain_certs(ctx, &extra) == 1) {
        for (int i = 0; i < sk_X509_num(extra); i++) {
            visit(fn, arg, sk_X509_value(extra, i), SC_CERTS_INTERMEDIATE, name, 1);
        }
    }
}

void sc_certs_each(const struct sc_tls_material *m, const struct sc_snapshot *snap,
                   const struct sc_certs_names *names, sc_certs_visit_fn *fn, void *arg)
{
    if (m != NULL) {
        STACK_OF(X509) *chain = sc_tls_material_chain(m), *roots = sc_tls_material_roots(m);
        char own[256];

        sc_tls_material_own_domain(m, own, sizeof(own));
        for (int i = 0; i < sk_X509_num(chain); i++) {
            visit_td(fn, arg, sk_X509_value(chain, i),
                     i == 0 ? SC_CERTS_LEAF : SC_CERTS_INTERMEDIATE, names->cert, own);
        }
        for (int i = 0; i < sk_X509_num(roots); i++) {
            visit_td(fn, arg, sk_X509_value(roots, i), SC_CERTS_ROOT, names->root, own);
        }
        for (size_t b = 0; b < sc_tls_material_n_bundles(m); b++) {
            STACK_OF(X509) *br = sc_tls_material_bundle_roots(m, b);
            const char *td = sc_tls_material_bundle_domain(m, b);

            for (int i = 0; i < sk_X509_num(br); i++) {
                visit_td(fn, arg, sk_X509_value(br, i), SC_CERTS_ROOT, td, td);
            }
        }
    }
    for (size_t i = 0; snap != NULL && i < sc_snapshot_n_origins(snap); i++) {
        const struct sc_cfg_tls_files *files;
        const char *name;
        SSL_CTX *ctx = sc_snapshot_origin_at(snap, i, &files, &name);

        origin_each(ctx, files, name, fn, arg);
    }
}

/* JSON: one "certificates" entry for the mesh set, one per route (with its
 * "resource"); each entry's roots in ca_cert, the rest in cert_chain. */
struct json_state {
    struct evbuffer *out, *ca, *chain;
    const char *entry; /* the route being written, NULL: the mesh set */
    int open, n_entries, n_ca, n_chain;
    time_t now;
};

static void json_flush(struct json_state *st)
{
    if (!st->open) {
        return;
    }
    evbuffer_add_printf(st->out, "\"ca_cert\":[");
    evbuffer_add_buffer(st->out, st->ca);
    evbuffer_add_printf(st->out, "],\"cert_chain\":[");
    evbuffer_add_buffer(st->out, st->chain);
    evbuffer_add_printf(st->out, "]}");
    st->open = 0;
}

static void json_visit(const struct sc_certs_item *it, void *arg)
{
    struct json_state *st = arg;
    const char *entry = it->route ? it->resource : NULL;

    if (!st->open || entry != st->entry) {
        json_flush(st);
        evbuffer_add_printf(st->out, "%s{", st->n_entries++ == 0 ? "" : ",");
        if (entry != NULL) {
            evbuffer_add_printf(st->out, "\"resource\":\"%s\",", entry);
        }
        st->entry = entry;
        st->open = 1;
        st->n_ca = st->n_chain = 0;
    }
    if (it->role == SC_CERTS_ROOT) {
        json_cert(it->cert, it->role, st->now, st->ca, st->n_ca++ == 0);
    } else {
        json_cert(it->cert, it->role, st->now, st->chain, st->n_chain++ == 0);
    }
}

void sc_certs_render_json(const struct sc_tls_material *m, const struct sc_snapshot *snap,
                          time_t now, struct evbuffer *out)
{
    struct sc_certs_names names = {"default", "ROOTCA"};
    struct json_state st = {out, evbuffer_new(), evbuffer_new(), NULL, 0, 0, 0, 0, now};

    evbuffer_add_printf(out, "{\"certificates\":[");
    if (st.ca != NULL && st.chain != NULL) {
        sc_certs_each(m, snap, &names, json_visit, &st);
        json_flush(&st);
    }
    evbuffer_add_printf(out, "]}\n");
    evbuffer_free(st.ca);
    evbuffer_free(st.chain);
}

static const char *table_type(const struct sc_certs_item *it)
{
    switch (it->role) {
    case SC_CERTS_LEAF:
        return "Cert Chain";
    case SC_CERTS_INTERMEDIATE:
        return "Intermediate";
    case SC_CERTS_ROOT:
        return "CA";
    }
    return "-";
}

static void table_row(struct evbuffer *out, const char *name, const char *type, X509 *c,
                      const char *trust_domain, time_t now)
{
    char serial[80] = "", from[32] = "", to[32] = "";
    const char *status = "WARMING";
    const char *valid = "false";

    if (c != NULL) {
        time_t nb = sc_x509_not_before(c), na = sc_x509_not_after(c);
        status = sc_certs_status(nb, na, now);
        valid = strcmp(status, "ACTIVE") == 0 ? "true" : "false";
        serial_lower(c, serial, sizeof(serial));
        sc_time_rfc3339(na, to, sizeof(to));
        sc_time_rfc3339(nb, from, sizeof(from));
    }
    evbuffer_add_printf(out, "%-18s %-14s %-14s %-11s %-40s %-21s %-21s %s\n", name, type, status,
                        valid, serial, to, from, trust_domain != NULL ? trust_domain : "-");
}

struct table_state {
    struct evbuffer *out;
    time_t now;
};

static void table_visit(const struct sc_certs_item *it, void *arg)
{
    struct table_state *st = arg;

    table_row(st->out, it->resource, table_type(it), it->cert, it->trust_domain, st->now);
}

void sc_certs_render_table(const struct sc_tls_material *m, const struct sc_snapshot *snap,
                           const struct sc_certs_names *names, time_t now, struct evbuffer *out)
{
    struct table_state st = {out, now};

    evbuffer_add_printf(out, "%-18s %-14s %-14s %-11s %-40s %-21s %-21s %s\n", "RESOURCE NAME",
                        "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE",
                        "TRUST DOMAIN");
    if (m == NULL) {
        table_row(out, names->cert, "Cert Chain", NULL, NULL, now);
        table_row(out, names->root, "CA", NULL, NULL, now);
    }
    sc_certs_each(m, snap, names, table_visit, &st);
}

/* One row of /certs?format=list. */
static void list_row(struct evbuffer *out, const char *name, const char *type, const char *role,
                     X509 *c, time_t now, int first)
{
    char serial[80], from[32], to[32], subj[256], iss[256];
    time_t nb = sc_x509_not_before(c), na = sc_x509_not_after(c);
    const char *status = sc_certs_status(nb, na, now);
    /* whole days left, rounded down; negative once expired */
    long long days =
        na >= now ? (long long)((na - now) / 86400) : -(long long)((now - na + 86399) / 86400);

    sc_x509_name_str(X509_get_subject_name(c), subj, sizeof(subj));
    sc_x509_name_str(X509_get_issuer_name(c), iss, sizeof(iss));
    evbuffer_add_printf(out, "%s{\"resource\":", first ? "" : ",");
    sc_json_put_str(out, name);
    evbuffer_add_printf(out,
                        ",\"type\":\"%s\",\"role\":\"%s\",\"status\":\"%s\","
                        "\"valid\":%s,\"serial_number\":\"%s\",\"subject\":",
                        type, role, status, strcmp(status, "ACTIVE") == 0 ? "true" : "false",
                        serial_lower(c, serial, sizeof(serial)));
    sc_json_put_str(out, subj);
    evbuffer_add_printf(out, ",\"issuer\":");
    sc_json_put_str(out, iss);
    evbuffer_add_printf(out,
                        ",\"not_after\":\"%s\",\"not_before\":\"%s\","
                        "\"not_after_unix\":%lld,\"days_left\":%lld}",
                        sc_time_rfc3339(na, to, sizeof(to)),
                        sc_time_rfc3339(nb, from, sizeof(from)), (long long)na, days);
}

void sc_certs_render_list(const struct sc_tls_material *m, const struct sc_certs_names *names,
                          time_t now, struct evbuffer *out)
{
    STACK_OF(X509) * roots, *chain;
    int first = 1;

    evbuffer_add_printf(out, "{\"now_unix\":%lld,\"certificates\":[", (long long)now);
    if (m == NULL) {
        evbuffer_add_printf(out, "],\"warming\":true}\n");
        return;
    }
    chain = sc_tls_material_chain(m);
    for (int i = 0; i < sk_X509_num(chain); i++) {
        list_row(out, names->cert, i == 0 ? "Cert Chain" : "Intermediate",
                 i == 0 ? "leaf" : "intermediate", sk_X509_value(chain, i), now, first);
        first = 0;
    }
    roots = sc_tls_material_roots(m);
    for (int i = 0; i < sk_X509_num(roots); i++) {
        X509 *r = sk_X509_value(roots, i);
        int self = X509_check_issued(r, r) == X509_V_OK;

        list_row(out, names->root, "CA", self ? "root" : "intermediate", r, now, first);
        first = 0;
    }
    evbuffer_add_printf(out, "],\"warming\":false}\n");
}

static time_t min_not_after(STACK_OF(X509) * certs, time_t first)
{
    for (int i = 0; i < sk_X509_num(certs); i++) {
        time_t na = sc_x509_not_after(sk_X509_value(certs, i));

        if (na < first) {
            first = na;
        }
    }
    return first;
}

long sc_certs_days_until_first_expiring(const struct sc_tls_material *m, time_t now)
{
    time_t first;

    if (m == NULL) {
        return -1;
    }
    first = sc_x509_not_after(sc_tls_material_leaf(m));
    first = min_not_after(sc_tls_material_chain(m), first);
    first = min_not_after(sc_tls_material_roots(m), first);
    return first <= now ? 0 : (long)((first - now) / 86400);
}

static void prom_visit(const struct sc_certs_item *it, void *arg)
{
    struct evbuffer *out = arg;
    char serial[80];

    evbuffer_add_printf(out,
                        "sidecar_certificate_expiration_timestamp_seconds{resource=\"%s\","
                        "role=\"%s\",serial=\"%s\"} %lld\n",
                        it->resource, sc_certs_role_name(it->role),
                        serial_lower(it->cert, serial, sizeof(serial)),
                        (long long)sc_x509_not_after(it->cert));
}

void sc_certs_render_prometheus(const struct sc_tls_material *m, const struct sc_snapshot *snap,
                                const struct sc_certs_names *names, time_t now,
                                struct evbuffer *out)
{
    long days = sc_certs_days_until_first_expiring(m, now);

    evbuffer_add_printf(out, "# HELP envoy_server_days_until_first_cert_expiring Whole days "
                             "until the first certificate in use (ours, intermediates, roots) "
                             "expires; 0 once one has.\n"
                             "# TYPE envoy_server_days_until_first_cert_expiring gauge\n");
    if (days >= 0) {
        evbuffer_add_printf(out, "envoy_server_days_until_first_cert_expiring %ld\n", days);
    }
    evbuffer_add_printf(out, "# HELP sidecar_certificate_expiration_timestamp_seconds notAfter "
                             "of each certificate held (role: leaf, intermediate or root).\n"
                             "# TYPE sidecar_certificate_expiration_timestamp_seconds gauge\n");
    sc_certs_each(m, snap, names, prom_visit, out);
}

static void json_text(struct evbuffer *out, const char *s)
{
    evbuffer_add(out, "\"", 1);
    sc_escape_evbuffer(out, sc_escape_json, s, strlen(s));
    evbuffer_add(out, "\"", 1);
}

/* Whether our own chain ends at root: its topmost certificate is the root
 * itself or was issued (and signed) by it. */
static int own_chain_uses(const struct sc_tls_material *m, X509 *root)
{
    STACK_OF(X509) *chain = sc_tls_material_chain(m);
    X509 *top = sk_X509_value(chain, sk_X509_num(chain) - 1);
    EVP_PKEY *key;
    int ok;

    if (X509_cmp(top, root) == 0) {
        return 1;
    }
    if (X509_check_issued(root, top) != X509_V_OK) {
        return 0;
    }
    key = X509_get0_pubkey(root);
    ok = key != NULL && X509_verify(top, key) == 1;
    ERR_clear_error();
    return ok;
}

static int count_valid(STACK_OF(X509) * roots, time_t now)
{
    int n_valid = 0;

    for (int i = 0; i < sk_X509_num(roots); i++) {
        X509 *r = sk_X509_value(roots, i);
        if (sc_x509_not_before(r) <= now && sc_x509_not_after(r) > now) {
            n_valid++;
        }
    }
    return n_valid;
}

/* One root of /certs/roots; n_valid counts the valid roots of its set (our
 * bundle, or a federated domain's), so removing it leaves one. */
static void root_entry(struct evbuffer *out, X509 *r, const char *trust_domain, int ours,
                       int n_valid, struct sc_rootstats *const *seen, size_t n, time_t now,
                       long window, struct sc_rootstats_view *v)
{
    char serial[80], subject[256], t[32];
    int valid = sc_x509_not_before(r) <= now && sc_x509_not_after(r) > now;
    int used;

    sc_x509_serial_hex(r, serial, sizeof(serial));
    sc_rootstats_view(seen, n, serial, now, window, v);
    sc_x509_name_str(X509_get_subject_name(r), subject, sizeof(subject));
    evbuffer_add_printf(out, "{\"subject\":");
    json_text(out, subject);
    evbuffer_add_printf(out, ",\"serial_number\":\"%s\",\"not_after\":\"%s\",\"trust_domain\":",
                        serial_lower(r, serial, sizeof(serial)),
                        sc_time_rfc3339(sc_x509_not_after(r), t, sizeof(t)));
    json_text(out, trust_domain);
    evbuffer_add_printf(out, ",\"peers\":[");
    for (size_t k = 0; k < v->n_peers; k++) {
        if (k > 0) {
            evbuffer_add(out, ",", 1);
        }
        json_text(out, v->peers[k]);
    }
    evbuffer_add_printf(
        out, "],\"peers_truncated\":%s,\"last_seen\":", v->peers_dropped ? "true" : "false");
    if (v->last_seen != 0) {
        evbuffer_add_printf(out, "\"%s\"", sc_time_rfc3339(v->last_seen, t, sizeof(t)));
    } else {
        evbuffer_add_printf(out, "null");
    }
    used = v->last_seen > now - window;
    evbuffer_add_printf(out,
                        ",\"handshakes\":{\"full\":%llu,\"resumed\":%llu},"
                        "\"our_chain\":%s,\"safe_to_remove\":%s}",
                        (unsigned long long)v->full, (unsigned long long)v->resumed,
                        ours ? "true" : "false",
                        !used && !ours && n_valid - valid > 0 ? "true" : "false");
}

void sc_certs_render_roots(const struct sc_tls_material *m, struct sc_rootstats *const *seen,
                           size_t n, time_t now, long window, struct evbuffer *out)
{
    STACK_OF(X509) *roots = m != NULL ? sc_tls_material_roots(m) : NULL;
    struct sc_rootstats_view *v = malloc(sizeof(*v));
    int n_valid = count_valid(roots, now), any = 0;
    char own[256];

    if (v == NULL) {
        evbuffer_add_printf(out, "{\"error\":\"out of memory\"}\n");
        return;
    }
    if (m != NULL) {
        sc_tls_material_own_domain(m, own, sizeof(own));
    }
    evbuffer_add_printf(out, "{\"window_seconds\":%ld,\"roots\":[", window);
    for (int i = 0; i < sk_X509_num(roots); i++) {
        X509 *r = sk_X509_value(roots, i);

        evbuffer_add_printf(out, "%s", any++ > 0 ? "," : "");
        root_entry(out, r, own, own_chain_uses(m, r), n_valid, seen, n, now, window, v);
    }
    for (size_t b = 0; m != NULL && b < sc_tls_material_n_bundles(m); b++) {
        STACK_OF(X509) *br = sc_tls_material_bundle_roots(m, b);
        int nv = count_valid(br, now);

        for (int i = 0; i < sk_X509_num(br); i++) {
            evbuffer_add_printf(out, "%s", any++ > 0 ? "," : "");
            root_entry(out, sk_X509_value(br, i), sc_tls_material_bundle_domain(m, b), 0, nv, seen,
                       n, now, window, v);
        }
    }
    evbuffer_add_printf(out, "]}\n");
    free(v);
}
