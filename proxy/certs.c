#include "certs.h"

#include <event2/buffer.h>
#include <openssl/x509.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rootstats.h"
#include "tlsctx.h"
#include "x509.h"

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

/* A JSON string of n bytes: quotes and backslashes escaped, control and
 * non-ASCII bytes as \\u00XX. */
static void json_bytes(struct evbuffer *out, const unsigned char *p, size_t n)
{
    evbuffer_add(out, "\"", 1);
    for (size_t j = 0; j < n; j++) {
        unsigned char ch = p[j];
        if (ch == '"' || ch == '\\') {
            evbuffer_add_printf(out, "\\%c", ch);
        } else if (ch < 0x20 || ch >= 0x7f) {
            evbuffer_add_printf(out, "\\u%04x", ch);
        } else {
            evbuffer_add(out, &ch, 1);
        }
    }
    evbuffer_add(out, "\"", 1);
}

static void json_cert(X509 *c, time_t now, struct evbuffer *out, int first)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
    char serial[80], from[32], to[32];
    time_t na = sc_x509_not_after(c);
    long days = na > now ? (long)((na - now) / 86400) : 0;
    int n_san = 0;

    evbuffer_add_printf(out, "%s{\"path\":\"<inline>\",\"serial_number\":\"%s\","
                             "\"subject_alt_names\":[",
                        first ? "" : ",", serial_lower(c, serial, sizeof(serial)));
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        const char *kind = gn->type == GEN_URI ? "uri" : gn->type == GEN_DNS ? "dns" : NULL;
        const ASN1_STRING *v = gn->type == GEN_URI ? gn->d.uniformResourceIdentifier
                                                   : gn->d.dNSName;

        if (kind == NULL) {
            continue;
        }
        evbuffer_add_printf(out, "%s{\"%s\":", n_san++ > 0 ? "," : "", kind);
        json_bytes(out, ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v));
        evbuffer_add(out, "}", 1);
    }
    GENERAL_NAMES_free(names);
    evbuffer_add_printf(out, "],\"days_until_expiration\":\"%ld\",\"valid_from\":\"%s\","
                             "\"expiration_time\":\"%s\"}",
                        days, sc_time_rfc3339(sc_x509_not_before(c), from, sizeof(from)),
                        sc_time_rfc3339(na, to, sizeof(to)));
}

void sc_certs_render_json(const struct sc_tls_material *m, time_t now, struct evbuffer *out)
{
    STACK_OF(X509) *roots, *chain;

    if (m == NULL) {
        evbuffer_add_printf(out, "{\"certificates\":[]}\n");
        return;
    }
    roots = sc_tls_material_roots(m);
    chain = sc_tls_material_chain(m);
    evbuffer_add_printf(out, "{\"certificates\":[{\"ca_cert\":[");
    for (int i = 0; i < sk_X509_num(roots); i++) {
        json_cert(sk_X509_value(roots, i), now, out, i == 0);
    }
    evbuffer_add_printf(out, "],\"cert_chain\":[");
    for (int i = 0; i < sk_X509_num(chain); i++) {
        json_cert(sk_X509_value(chain, i), now, out, i == 0);
    }
    evbuffer_add_printf(out, "]}]}\n");
}

static void table_row(struct evbuffer *out, const char *name, const char *type, X509 *c,
                      time_t now)
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
    evbuffer_add_printf(out, "%-18s %-14s %-14s %-11s %-40s %-21s %s\n", name, type, status, valid,
                        serial, to, from);
}

void sc_certs_render_table(const struct sc_tls_material *m, const struct sc_certs_names *names,
                           time_t now, struct evbuffer *out)
{
    STACK_OF(X509) *roots;

    evbuffer_add_printf(out, "%-18s %-14s %-14s %-11s %-40s %-21s %s\n", "RESOURCE NAME", "TYPE",
                        "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE");
    if (m == NULL) {
        table_row(out, names->cert, "Cert Chain", NULL, now);
        table_row(out, names->root, "CA", NULL, now);
        return;
    }
    table_row(out, names->cert, "Cert Chain", sc_tls_material_leaf(m), now);
    roots = sc_tls_material_roots(m);
    for (int i = 0; i < sk_X509_num(roots); i++) {
        table_row(out, names->root, "CA", sk_X509_value(roots, i), now);
    }
}

void sc_certs_render_prometheus(const struct sc_tls_material *m, struct evbuffer *out)
{
    STACK_OF(X509) *roots;
    char serial[80];

    evbuffer_add_printf(out, "# HELP sidecar_certificate_expiration_timestamp_seconds notAfter "
                             "of each certificate in use.\n"
                             "# TYPE sidecar_certificate_expiration_timestamp_seconds gauge\n");
    if (m == NULL) {
        return;
    }
    evbuffer_add_printf(out,
                        "sidecar_certificate_expiration_timestamp_seconds{resource=\"default\","
                        "serial=\"%s\"} %lld\n",
                        serial_lower(sc_tls_material_leaf(m), serial, sizeof(serial)),
                        (long long)sc_x509_not_after(sc_tls_material_leaf(m)));
    roots = sc_tls_material_roots(m);
    for (int i = 0; i < sk_X509_num(roots); i++) {
        X509 *r = sk_X509_value(roots, i);
        evbuffer_add_printf(out,
                            "sidecar_certificate_expiration_timestamp_seconds{resource=\"ROOTCA\","
                            "serial=\"%s\"} %lld\n",
                            serial_lower(r, serial, sizeof(serial)),
                            (long long)sc_x509_not_after(r));
    }
}

static void json_text(struct evbuffer *out, const char *s)
{
    json_bytes(out, (const unsigned char *)s, strlen(s));
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

void sc_certs_render_roots(const struct sc_tls_material *m, struct sc_rootstats *const *seen,
                           size_t n, time_t now, long window, struct evbuffer *out)
{
    STACK_OF(X509) *roots = m != NULL ? sc_tls_material_roots(m) : NULL;
    int n_roots = roots != NULL ? sk_X509_num(roots) : 0, n_valid = 0;
    struct sc_rootstats_view *v = malloc(sizeof(*v));

    if (v == NULL) {
        evbuffer_add_printf(out, "{\"error\":\"out of memory\"}\n");
        return;
    }
    for (int i = 0; i < n_roots; i++) {
        X509 *r = sk_X509_value(roots, i);
        if (sc_x509_not_before(r) <= now && sc_x509_not_after(r) > now) {
            n_valid++;
        }
    }
    evbuffer_add_printf(out, "{\"window_seconds\":%ld,\"roots\":[", window);
    for (int i = 0; i < n_roots; i++) {
        X509 *r = sk_X509_value(roots, i);
        char serial[80], subject[256], t[32];
        int valid = sc_x509_not_before(r) <= now && sc_x509_not_after(r) > now;
        int ours = own_chain_uses(m, r), used;

        sc_x509_serial_hex(r, serial, sizeof(serial));
        sc_rootstats_view(seen, n, serial, now, window, v);
        sc_x509_name_str(X509_get_subject_name(r), subject, sizeof(subject));
        evbuffer_add_printf(out, "%s{\"subject\":", i > 0 ? "," : "");
        json_text(out, subject);
        evbuffer_add_printf(out, ",\"serial_number\":\"%s\",\"not_after\":\"%s\",\"peers\":[",
                            serial_lower(r, serial, sizeof(serial)),
                            sc_time_rfc3339(sc_x509_not_after(r), t, sizeof(t)));
        for (size_t k = 0; k < v->n_peers; k++) {
            if (k > 0) {
                evbuffer_add(out, ",", 1);
            }
            json_text(out, v->peers[k]);
        }
        evbuffer_add_printf(out, "],\"peers_truncated\":%s,\"last_seen\":",
                            v->peers_dropped ? "true" : "false");
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
    evbuffer_add_printf(out, "]}\n");
    free(v);
}
