/* sidecarctl: one CLI for the questions operators ask a running sidecar,
 * over its admin API (docs/operator.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http.h"
#include "json.h"
#include "render.h"

#define TIMEOUT_MS 10000      /* a diagnose may take the sidecar 5 s */

typedef int render_fn(const struct sc_json_val *root, const struct sc_ctl_opts *o, FILE *out);

static const struct {
    enum sc_ctl_cmd cmd;
    const char *method;
    const char *path;
    render_fn *render;
    int own_json;             /* -o json: the renderer writes it (else the sidecar's document) */
} cmds[] = {
    {SC_CTL_CERTS, "GET", "/certs?format=list", sc_ctl_render_certs, 0},
    {SC_CTL_CHECK_ROOT, "GET", "/certs?format=list", sc_ctl_render_check_root, 1},
    {SC_CTL_ROOTS, "GET", "/certs/roots", sc_ctl_render_roots, 0},
    {SC_CTL_DESCRIBE, "GET", "/describe", sc_ctl_render_describe, 0},
    {SC_CTL_DIAGNOSE, "POST", "/diagnose", sc_ctl_render_diagnose, 0},
};

/* The one-line reason on stderr; returns status. */
static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int status, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "sidecarctl: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

/* {"address":...,"sni":...,"identity":...} into a new string. */
static char *diagnose_body(const struct sc_ctl_opts *o)
{
    const char *vals[3] = {o->target, o->sni, o->identity};
    static const char *const keys[3] = {"address", "sni", "identity"};
    size_t cap = 64, n = 0;
    char *b;

    for (int i = 0; i < 3; i++) {
        cap += 16 + (vals[i] != NULL ? strlen(vals[i]) * 6 : 4);
    }
    b = malloc(cap);
    if (b == NULL) {
        return NULL;
    }
    b[n++] = '{';
    for (int i = 0; i < 3; i++) {
        n += (size_t)snprintf(b + n, cap - n, "%s\"%s\":", i > 0 ? "," : "", keys[i]);
        if (vals[i] == NULL) {
            n += (size_t)snprintf(b + n, cap - n, "null");
            continue;
        }
        b[n++] = '"';
        for (const char *s = vals[i]; *s != '\0'; s++) {
            unsigned char ch = (unsigned char)*s;

            if (ch == '"' || ch == '\\') {
                n += (size_t)snprintf(b + n, cap - n, "\\%c", ch);
            } else if (ch < 0x20) {
                n += (size_t)snprintf(b + n, cap - n, "\\u%04x", ch);
            } else {
                b[n++] = (char)ch;
            }
        }
        b[n++] = '"';
    }
    snprintf(b + n, cap - n, "}");
    return b;
}

/* The sidecar's {"error":"..."} or its first line of text. */
static const char *server_error(const char *body, const struct sc_json_val *root, char *buf,
                                size_t len)
{
    const char *e = sc_json_str(sc_json_get(root, "error"), NULL);

    if (e != NULL) {
        return e;
    }
    snprintf(buf, len, "%.*s", (int)strcspn(body, "\r\n"), body);
    return buf;
}

int main(int argc, char **argv)
{
    struct sc_ctl_opts o;
    struct sc_ctl_http_resp resp = {0, NULL, 0};
    struct sc_json *doc = NULL;
    const struct sc_json_val *root;
    char why[1024], ebuf[512];
    char *body = NULL;
    size_t k = 0;
    int rc;

    if (sc_ctl_parse_args(argc, argv, &o, why, sizeof(why)) != 0) {
        fprintf(stderr, "sidecarctl: %s (sidecarctl --help)\n", why);
        return SC_CTL_USAGE;
    }
    if (o.cmd == SC_CTL_HELP) {
        fputs(sc_ctl_usage(), stdout);
        return SC_CTL_OK;
    }
    while (cmds[k].cmd != o.cmd) {
        k++;
    }
    if (o.cmd == SC_CTL_DIAGNOSE && (body = diagnose_body(&o)) == NULL) {
        return fail(SC_CTL_USAGE, "out of memory");
    }
    if (sc_ctl_http_request(o.admin, cmds[k].method, cmds[k].path, body, TIMEOUT_MS, &resp, why,
                            sizeof(why)) != 0) {
        free(body);
        return fail(SC_CTL_USAGE, "%s", why);
    }
    free(body);
    doc = sc_json_parse(resp.body, resp.body_len, why, sizeof(why));
    root = sc_json_root(doc);
    if (o.cmd == SC_CTL_ROOTS && resp.status == 404) {
        rc = fail(SC_CTL_USAGE, "this sidecar has no GET /certs/roots endpoint yet (no per-root "
                                "peer tracking): cannot tell which roots are safe to remove");
    } else if (resp.status != 200) {
        rc = fail(SC_CTL_USAGE, "the admin API answered %s: %s",
                  resp.status == 404 ? "404 (a sidecar too old for this command?)" : "an error",
                  server_error(resp.body, root, ebuf, sizeof(ebuf)));
    } else if (doc == NULL) {
        rc = fail(SC_CTL_USAGE, "the admin API's answer is not JSON: %s", why);
    } else if (o.json && !cmds[k].own_json) {
        fwrite(resp.body, 1, resp.body_len, stdout);
        rc = cmds[k].render(root, &o, NULL);
    } else {
        rc = cmds[k].render(root, &o, stdout);
    }
    if (rc == SC_CTL_USAGE && o.cmd == SC_CTL_DESCRIBE && resp.status == 200) {
        rc = fail(SC_CTL_USAGE, "the sidecar has no inbound port %d", o.port);
    }
    sc_json_free(doc);
    sc_ctl_http_resp_cleanup(&resp);
    return rc;
}
