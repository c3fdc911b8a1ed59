/* sidecarctl: one CLI for the questions operators ask a running sidecar,
 * over its admin API (docs/operator.md). */
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http.h"
#include "json.h"
#include "render.h"

#define TIMEOUT_MS 10000 /* a diagnose may take the sidecar 5 s */

typedef int render_fn(const struct sc_json_val *root, const struct sc_ctl_opts *o, FILE *out);

static const struct {
    enum sc_ctl_cmd cmd;
    const char *method;
    const char *path;
    render_fn *render;
    int own_json; /* -o json: the renderer writes it (else the sidecar's document) */
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

/* {"address":...,"sni":...,"identity":...} into a new string, or NULL. */
static char *diagnose_body(const struct sc_ctl_opts *o)
{
    struct evbuffer *b = evbuffer_new();
    char *out = NULL;
    size_t len;

    if (b == NULL) {
        return NULL;
    }
    evbuffer_add_printf(b, "{\"address\":");
    sc_json_put_str(b, o->target);
    evbuffer_add_printf(b, ",\"sni\":");
    sc_json_put_str_or_null(b, o->sni);
    evbuffer_add_printf(b, ",\"identity\":");
    sc_json_put_str_or_null(b, o->identity);
    evbuffer_add_printf(b, "}");
    len = evbuffer_get_length(b);
    out = malloc(len + 1);
    if (out != NULL) {
        evbuffer_remove(b, out, len);
        out[len] = '\0';
    }
    evbuffer_free(b);
    return out;
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
        rc = fail(SC_CTL_USAGE, "this sidecar has no GET /certs/roots endpoint (an older "
                                "version): cannot tell which roots are safe to remove");
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
