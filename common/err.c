#include "err.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void sc_err_set(struct sc_err *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return;
    }
    memset(err, 0, sizeof(*err));
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

void sc_err_at(struct sc_err *err, const char *file, int line, int col, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return;
    }
    memset(err, 0, sizeof(*err));
    snprintf(err->file, sizeof(err->file), "%s", file != NULL ? file : "");
    err->line = line;
    err->col = col;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

const char *sc_tls_errors(char *out, size_t outlen)
{
    unsigned long e;
    size_t used = 0;

    if (outlen == 0) {
        return out;
    }
    out[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        char one[256];

        ERR_error_string_n(e, one, sizeof(one));
        if (used + strlen(one) + 3 < outlen) {
            used += (size_t)snprintf(out + used, outlen - used, "%s%s", used > 0 ? "; " : "", one);
        }
    }
    return out;
}

void sc_err_tls(struct sc_err *err, const char *what)
{
    char reasons[256];

    sc_tls_errors(reasons, sizeof(reasons));
    if (err == NULL) {
        return;
    }
    sc_err_set(err, "%s: %s", what, reasons[0] != '\0' ? reasons : "unknown TLS error");
}

const char *sc_err_str(const struct sc_err *err, char *out, size_t outlen)
{
    if (err->file[0] != '\0' && err->line > 0) {
        snprintf(out, outlen, "%s:%d:%d: %s", err->file, err->line, err->col, err->msg);
    } else if (err->file[0] != '\0') {
        snprintf(out, outlen, "%s: %s", err->file, err->msg);
    } else {
        snprintf(out, outlen, "%s", err->msg);
    }
    return out;
}
