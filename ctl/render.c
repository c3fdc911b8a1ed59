#include "render.h"

#include <event2/buffer.h>
#include <string.h>

#include "json.h"

#define G sc_json_get
#define S(v, k) sc_json_str(sc_json_get((v), (k)), "-")
#define N(v, k) sc_json_num(sc_json_get((v), (k)), 0)

/* printf to out unless out is NULL (status only). */
#define P(...)                         \
    do {                               \
        if (out != NULL) {             \
            fprintf(out, __VA_ARGS__); \
        }                              \
    } while (0)

static const char *const certs_fmt = "%-18s %-14s %-14s %-11s %-40s %-21s %s\n";

int sc_ctl_render_certs(const struct sc_json_val *root, const struct sc_ctl_opts *o, FILE *out)
{
    const struct sc_json_val *certs = G(root, "certificates");
    int rc = SC_CTL_OK;

    (void)o;
    P(certs_fmt, "RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER",
      "NOT BEFORE");
    if (sc_json_len(certs) == 0) {
        P(certs_fmt, "default", "Cert Chain", "WARMING", "false", "", "", "");
        P(certs_fmt, "ROOTCA", "CA", "WARMING", "false", "", "", "");
        return SC_CTL_BAD_NEWS;
    }
    for (size_t i = 0; i < sc_json_len(certs); i++) {
        const struct sc_json_val *c = sc_json_at(certs, i);
        int valid = sc_json_bool(G(c, "valid"), 0);

        P(certs_fmt, S(c, "resource"), S(c, "type"), S(c, "status"), valid ? "true" : "false",
          S(c, "serial_number"), S(c, "not_after"), S(c, "not_before"));
        if (!valid) {
            rc = SC_CTL_BAD_NEWS;
        }
    }
    return rc;
}

/* --- check-root ---------------------------------------------------------- */

static int is_ca_row(const struct sc_json_val *c)
{
    const char *role = S(c, "role");

    return strcmp(role, "root") == 0 || strcmp(role, "intermediate") == 0;
}

/* s as a JSON string literal on out (common/json's writer). */
static void json_str_out(FILE *out, const char *s)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL) {
        fputs("null", out);
        return;
    }
    sc_json_put_str(b, s);
    fwrite(evbuffer_pullup(b, -1), 1, evbuffer_get_length(b), out);
    evbuffer_free(b);
}

int sc_ctl_render_check_root(const struct sc_json_val *root, const struct sc_ctl_opts *o, FILE *out)
{
    const struct sc_json_val *certs = G(root, "certificates");
    const struct sc_json_val *first = NULL;
    const char *status;
    char line[1024];
    int rc, n = 0;
    FILE *table = o->json ? NULL : out;

    if (table != NULL) {
        fprintf(table, "%-13s %-40s %-40s %-21s %s\n", "ROLE", "SUBJECT", "SERIAL NUMBER",
                "NOT AFTER", "DAYS LEFT");
    }
    for (size_t i = 0; i < sc_json_len(certs); i++) {
        const struct sc_json_val *c = sc_json_at(certs, i);

        if (!is_ca_row(c)) {
            continue;
        }
        n++;
        if (table != NULL) {
            fprintf(table, "%-13s %-40s %-40s %-21s %.0f\n", S(c, "role"), S(c, "subject"),
                    S(c, "serial_number"), S(c, "not_after"), N(c, "days_left"));
        }
        if (first == NULL || N(c, "not_after_unix") < N(first, "not_after_unix")) {
            first = c;
        }
    }
    if (first == NULL) {
        status = "WARNING";
        snprintf(line, sizeof(line),
                 "WARNING: no trusted root (the sidecar has no certificates yet)");
        rc = SC_CTL_BAD_NEWS;
    } else if (N(first, "days_left") < 0 || strcmp(S(first, "status"), "EXPIRED") == 0) {
        status = "EXPIRED";
        snprintf(line, sizeof(line), "EXPIRED: %s %s expired %.0f days ago (not after %s)",
                 S(first, "role"), S(first, "subject"), -N(first, "days_left"),
                 S(first, "not_after"));
        rc = SC_CTL_BAD_NEWS;
    } else if (N(first, "days_left") < o->days) {
        status = "WARNING";
        snprintf(line, sizeof(line),
                 "WARNING: %s %s expires in %.0f days (not after %s; "
                 "threshold %d days)",
                 S(first, "role"), S(first, "subject"), N(first, "days_left"),
                 S(first, "not_after"), o->days);
        rc = SC_CTL_BAD_NEWS;
    } else {
        status = "OK";
        snprintf(line, sizeof(line),
                 "OK: the first %s expires in %.0f days (%s, serial %s, "
                 "not after %s)",
                 S(first, "role"), N(first, "days_left"), S(first, "subject"),
                 S(first, "serial_number"), S(first, "not_after"));
        rc = SC_CTL_OK;
    }
    if (out == NULL) {
        return rc;
    }
    if (!o->json) {
        fprintf(out, "%s\n", line);
        return rc;
    }
    fprintf(out, "{\"threshold_days\":%d,\"status\":\"%s\",\"message\":", o->days, status);
    json_str_out(out, line);
    fprintf(out, ",\"certificates\":[");
    n = 0;
    for (size_t i = 0; i < sc_json_len(certs); i++) {
        const struct sc_json_val *c = sc_json_at(certs, i);

        if (!is_ca_row(c)) {
            continue;
        }
        fprintf(out, "%s{\"role\":", n++ > 0 ? "," : "");
        json_str_out(out, S(c, "role"));
        fprintf(out, ",\"subject\":");
        json_str_out(out, S(c, "subject"));
        fprintf(out, ",\"serial_number\":");
        json_str_out(out, S(c, "serial_number"));
        fprintf(out, ",\"not_after\":");
        json_str_out(out, S(c, "not_after"));
        fprintf(out, ",\"status\":");
        json_str_out(out, S(c, "status"));
        fprintf(out, ",\"days_left\":%.0f}", N(c, "days_left"));
    }
    fprintf(out, "]}\n");
    return rc;
}

/* --- roots --------------------------------------------------------------- */

int sc_ctl_render_roots(const struct sc_json_val *root, const struct sc_ctl_opts *o, FILE *out)
{
    const struct sc_json_val *roots = G(root, "roots");
    static const char *const fmt = "%-32s %-24s %-21s %-6s %-21s %-15s %s\n";
    char hs[48], pc[24];
    int safe = 0;

    (void)o;
    P("window: the last %.0f s\n", N(root, "window_seconds"));
    P(fmt, "ROOT", "SERIAL NUMBER", "NOT AFTER", "PEERS", "LAST SEEN", "FULL/RESUMED",
      "SAFE TO REMOVE");
    for (size_t i = 0; i < sc_json_len(roots); i++) {
        const struct sc_json_val *r = sc_json_at(roots, i);
        const struct sc_json_val *h = G(r, "handshakes");
        int ok = sc_json_bool(G(r, "safe_to_remove"), 0);
        const char *why = ok                                   ? "yes"
                          : sc_json_bool(G(r, "our_chain"), 0) ? "no: our own chain ends at it"
                          : sc_json_len(G(r, "peers")) > 0     ? "no: peers still chain to it"
                                                               : "no: it is the only valid root";

        snprintf(hs, sizeof(hs), "%.0f/%.0f", N(h, "full"), N(h, "resumed"));
        snprintf(pc, sizeof(pc), "%zu%s", sc_json_len(G(r, "peers")),
                 sc_json_bool(G(r, "peers_truncated"), 0) ? "+" : "");
        P(fmt, S(r, "subject"), S(r, "serial_number"), S(r, "not_after"), pc,
          sc_json_type(G(r, "last_seen")) == SC_JSON_NULL ? "never" : S(r, "last_seen"), hs, why);
        safe += ok;
        for (size_t j = 0; j < sc_json_len(G(r, "peers")); j++) {
            P("    peer %s\n", sc_json_str(sc_json_at(G(r, "peers"), j), "-"));
        }
    }
    P("%d of %zu trusted root(s) safe to remove\n", safe, sc_json_len(roots));
    return SC_CTL_OK;
}

/* --- describe ------------------------------------------------------------ */

static const char *level_words(const char *level)
{
    return strcmp(level, "mesh") == 0        ? "mesh-wide"
           : strcmp(level, "namespace") == 0 ? "namespace-wide"
           : strcmp(level, "workload") == 0  ? "workload selector"
                                             : level;
}

static void describe_port(const struct sc_json_val *p, FILE *out)
{
    const struct sc_json_val *d = G(p, "decided_by");
    const struct sc_json_val *c = G(p, "connections");
    const struct sc_json_val *h = G(p, "last_hour");
    const char *mode = S(p, "mode");
    double refused = N(h, "plaintext") + N(h, "non_mesh_tls");

    P("%-5.0f  %-10s  ", N(p, "port"), mode);
    if (sc_json_type(d) == SC_JSON_OBJ) {
        P("decided by %s %s/%s (%s); port-level override: %s\n", S(d, "kind"), S(d, "namespace"),
          S(d, "name"), level_words(S(d, "level")),
          sc_json_bool(G(p, "port_level_override"), 0) ? "yes, portLevelMtls of this policy"
                                                       : "none");
    } else {
        P("decided by no PeerAuthentication (the default); port-level override: none\n");
    }
    P("       %s; connections: mesh_mtls %.0f, plaintext %.0f, app_tls_passthrough %.0f, "
      "refused %.0f\n",
      S(p, "source"), N(c, "mesh_mtls"), N(c, "plaintext"), N(c, "app_tls_passthrough"),
      N(c, "refused"));
    if (strcmp(mode, "PERMISSIVE") != 0) {
        return;
    }
    if (refused == 0) {
        P("       STRICT would have refused no one in the last hour\n");
    } else {
        P("       STRICT would have refused %.0f connections in the last hour (%.0f plaintext, "
          "%.0f non-mesh TLS); last: %s at %s\n",
          refused, N(h, "plaintext"), N(h, "non_mesh_tls"), S(h, "last_client"), S(h, "last_seen"));
    }
}

static void describe_route(const struct sc_json_val *r, const char *td, FILE *out)
{
    const struct sc_json_val *ids = G(r, "expected_identities");
    const char *tls = S(r, "tls");
    const char *dr = sc_json_str(G(r, "destination_rule"), NULL);
    char dest[300];

    if (sc_json_str(G(r, "host"), NULL) != NULL && strcmp(S(r, "kind"), "listener") == 0) {
        snprintf(dest, sizeof(dest), "%s (%s:%.0f)", S(r, "name"), S(r, "host"), N(r, "port"));
    } else if (sc_json_str(G(r, "host"), NULL) != NULL) {
        snprintf(dest, sizeof(dest), "%s:%.0f", S(r, "host"), N(r, "port"));
    } else {
        snprintf(dest, sizeof(dest), "%s", S(r, "name"));
    }
    P("%-30s  %-12s  ", dest, tls);
    if (strcmp(tls, "DISABLE") == 0) {
        P("no TLS, no identity");
    } else if (sc_json_len(ids) > 0) {
        P("expects ");
        for (size_t i = 0; i < sc_json_len(ids); i++) {
            P("%s%s", i > 0 ? ", " : "", sc_json_str(sc_json_at(ids, i), "-"));
        }
    } else if (strcmp(tls, "ISTIO_MUTUAL") == 0) {
        P("any identity in trust domain %s", td);
    } else {
        P("server checked by %s", S(r, "identity_check"));
    }
    if (strcmp(sc_json_str(G(r, "transport"), "tls"), "hbone") == 0) {
        P("; over HBONE (CONNECT on a pooled HTTP/2 tunnel)");
    }
    if (dr != NULL) {
        P("; set by DestinationRule %s\n", dr);
    } else {
        P("; set by %s\n",
          strcmp(S(r, "kind"), "default") == 0 ? "the default" : "the sidecar's config");
    }
}

int sc_ctl_render_describe(const struct sc_json_val *root, const struct sc_ctl_opts *o, FILE *out)
{
    const struct sc_json_val *in = G(root, "inbound");
    const struct sc_json_val *ob = G(root, "outbound");
    double counts[4] = {0, 0, 0, 0};
    static const char *const modes[4] = {"STRICT", "PERMISSIVE", "DISABLE", NULL};
    int shown = 0;

    for (size_t i = 0; o->port != 0 && i < sc_json_len(in); i++) {
        shown += (int)N(sc_json_at(in, i), "port") == o->port;
    }
    if (o->port != 0 && shown == 0) {
        return SC_CTL_USAGE;
    }
    shown = 0;
    P("INBOUND\n");
    for (size_t i = 0; i < sc_json_len(in); i++) {
        const struct sc_json_val *p = sc_json_at(in, i);

        if (o->port != 0 && (int)N(p, "port") != o->port) {
            continue;
        }
        describe_port(p, out);
        for (int m = 0; m < 3; m++) {
            counts[m] += strcmp(S(p, "mode"), modes[m]) == 0;
        }
        shown++;
    }
    if (shown == 0) {
        P("  (no inbound ports)\n");
    }
    P("ports: %d (%.0f STRICT, %.0f PERMISSIVE, %.0f DISABLE)\n", shown, counts[0], counts[1],
      counts[2]);
    if (o->port != 0) {
        return SC_CTL_OK;
    }
    P("OUTBOUND\n");
    for (size_t i = 0; i < sc_json_len(ob); i++) {
        describe_route(sc_json_at(ob, i), S(root, "trust_domain"), out);
    }
    if (sc_json_len(ob) == 0) {
        P("  (no outbound routes)\n");
    }
    return SC_CTL_OK;
}

/* --- diagnose ------------------------------------------------------------ */

int sc_ctl_render_diagnose(const struct sc_json_val *root, const struct sc_ctl_opts *o, FILE *out)
{
    const struct sc_json_val *chain = G(root, "peer_chain");
    const struct sc_json_val *r = G(root, "root");
    const char *v = S(root, "verdict");
    const char *fix = sc_json_str(G(root, "fix"), NULL);

    (void)o;
    P("peer:      %s (sni %s)\n", S(root, "address"), sc_json_str(G(root, "sni"), "-"));
    if (strcmp(S(root, "handshake"), "ok") == 0) {
        P("handshake: ok, %s, %s, group %s, alpn %s\n", S(root, "protocol"), S(root, "cipher"),
          S(root, "group"), S(root, "alpn"));
    } else {
        P("handshake: %s%s%s\n", S(root, "handshake"),
          sc_json_str(G(root, "error"), NULL) != NULL ? ": " : "",
          sc_json_str(G(root, "error"), ""));
    }
    P("peer chain:%s\n", sc_json_len(chain) == 0 ? " none received" : "");
    for (size_t i = 0; i < sc_json_len(chain); i++) {
        const struct sc_json_val *c = sc_json_at(chain, i);

        P("  [%zu] subject %s\n      issuer %s\n      SANs %s\n      serial %s\n"
          "      valid %s to %s (%s)\n",
          i, S(c, "subject"), S(c, "issuer"), S(c, "sans"), S(c, "serial_number"),
          S(c, "not_before"), S(c, "not_after"), S(c, "status"));
    }
    if (sc_json_type(r) == SC_JSON_OBJ) {
        P("root:      %s (serial %s)\n", S(r, "subject"), S(r, "serial_number"));
    } else {
        P("root:      none: %s\n", sc_json_str(G(root, "root_problem"), "no chain verified"));
    }
    P("identity:  %s, expected %s: %s\n", sc_json_str(G(root, "peer_identity"), "none"),
      S(root, "expected_identity"),
      sc_json_bool(G(root, "identity_accepted"), 0)
          ? "accepted"
          : sc_json_str(G(root, "identity_problem"), "not checked"));
    P("verdict:   %s: %s\n",
      strcmp(v, "accepted") == 0      ? "OK"
      : strcmp(v, "unreachable") == 0 ? "UNREACHABLE"
                                      : "REFUSED",
      S(root, "message"));
    if (fix != NULL) {
        P("fix:       %s\n", fix);
    }
    return strcmp(v, "accepted") == 0 ? SC_CTL_OK : SC_CTL_BAD_NEWS;
}
