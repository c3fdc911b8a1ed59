#include "certs.h"

#include <event2/buffer.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"
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
        evbuffer_add_printf(out, "%s{\"%s\":\"", n_san++ > 0 ? "," : "", kind);
        sc_escape_evbuffer(out, sc_escape_json, (const char *)ASN1_STRING_get0_data(v),
                           (size_t)ASN1_STRING_length(v));
        evbuffer_add(out, "\"}", 2);
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
