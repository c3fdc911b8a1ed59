#ifndef SC_LOG_H
#define SC_LOG_H

#include <stddef.h>

enum sc_log_level {
    SC_LOG_DEBUG = 0,
    SC_LOG_INFO,
    SC_LOG_WARN,
    SC_LOG_ERR,
};

/* Something that can describe itself as a log-line prefix, such as a
 * connection ("conn=12 w=0 inbound 127.0.0.1:4711 while handshaking").
 * The first member of any struct passed as `ctx` to sc_log. */
struct sc_log_ctx;
typedef size_t sc_log_prefix_fn(const struct sc_log_ctx *ctx, char *out, size_t outlen);
struct sc_log_ctx {
    sc_log_prefix_fn *prefix;
};

/* Lines at or above this level are written.  Set once at start-up (and by
 * the admin server later); read without locking. */
void sc_log_set_level(enum sc_log_level lvl);
enum sc_log_level sc_log_get_level(void);
int sc_log_parse_level(const char *s, enum sc_log_level *out);
/* "debug", "info", "warn", "error". */
const char *sc_log_level_name(enum sc_log_level lvl);

/* Writes one line to stderr with one write(2): time, level, the context's
 * prefix (ctx may be NULL) and the message.  Thread-safe. */
void sc_log(enum sc_log_level lvl, const struct sc_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes one already-formatted record line (a connection log line) to
 * stdout with one write(2), appending the newline. */
void sc_log_record(const char *line, size_t len);

/* 0 when the connection log goes nowhere (stdout is /dev/null or closed):
 * the caller may skip formatting the line, and no write(2) is made per
 * connection.  Decided once, at the first call. */
int sc_log_record_enabled(void);

/* Formats the wall clock as RFC 3339 UTC with milliseconds. */
size_t sc_log_time(char *out, size_t outlen);

#endif
