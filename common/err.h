#ifndef SC_ERR_H
#define SC_ERR_H

#include <stddef.h>

/* A setup-time error: what went wrong and where in which file.  Callers
 * embed it on the stack; nothing in it needs freeing.  line/col are 1-based,
 * 0 when unknown. */
struct sc_err {
    char msg[512];
    char file[256];
    int line;
    int col;
};

/* Fills err (which may be NULL) with a formatted message and no position. */
void sc_err_set(struct sc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fills err with a position and a message. */
void sc_err_at(struct sc_err *err, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Appends the drained OpenSSL error queue to err's message, as
 * "what: reason; reason", and leaves the queue empty. */
void sc_err_tls(struct sc_err *err, const char *what);

/* Formats err as "file:line:col: msg" (or just msg) into out. */
const char *sc_err_str(const struct sc_err *err, char *out, size_t outlen);

/* Drains OpenSSL's error queue into out ("" when empty), returning out.
 * The format is OpenSSL's "error:CODE:lib:func:reason", joined by "; ". */
const char *sc_tls_errors(char *out, size_t outlen);

#endif
