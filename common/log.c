#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static _Atomic int log_level = SC_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sc_log_set_level(enum sc_log_level lvl)
{
    atomic_store(&log_level, (int)lvl);
}

enum sc_log_level sc_log_get_level(void)
{
    return (enum sc_log_level)atomic_load(&log_level);
}

const char *sc_log_level_name(enum sc_log_level lvl)
{
    return (unsigned)lvl < sizeof(level_names) / sizeof(level_names[0]) ? level_names[lvl]
                                                                        : "unknown";
}

int sc_log_parse_level(const char *s, enum sc_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum sc_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = SC_LOG_WARN;
        return 0;
    }
    return -1;
}

size_t sc_log_time(char *out, size_t outlen)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n > 0 && n < outlen) {
        int m = snprintf(out + n, outlen - n, ".%03ldZ", ts.tv_nsec / 1000000L);
        if (m > 0 && (size_t)m < outlen - n) {
            n += (size_t)m;
        }
    }
    return n;
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) {
            return;
        }
        p += w;
        len -= (size_t)w;
    }
}

void sc_log(enum sc_log_level lvl, const struct sc_log_ctx *ctx, const char *fmt, ...)
{
    char line[2048];
    size_t n;
    va_list ap;
    int m;

    if ((int)lvl < atomic_load(&log_level)) {
        return;
    }
    n = sc_log_time(line, sizeof(line));
    m = snprintf(line + n, sizeof(line) - n, " %s ", level_names[lvl]);
    if (m > 0) {
        n += (size_t)m;
    }
    if (ctx != NULL && ctx->prefix != NULL && n < sizeof(line)) {
        n += ctx->prefix(ctx, line + n, sizeof(line) - n);
        if (n < sizeof(line) - 2) {
            line[n++] = ':';
            line[n++] = ' ';
        }
    }
    if (n < sizeof(line)) {
        va_start(ap, fmt);
        m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        if (m > 0) {
            n += (size_t)m;
        }
    }
    if (n > sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    write_all(STDERR_FILENO, line, n);
}

static pthread_once_t record_once = PTHREAD_ONCE_INIT;
static int record_on = 1;

static void record_check(void)
{
    struct stat st;

    if (fstat(STDOUT_FILENO, &st) != 0) {
        record_on = 0; /* closed */
    } else if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3) {
        record_on = 0; /* /dev/null (char 1,3 on Linux) */
    }
}

int sc_log_record_enabled(void)
{
    pthread_once(&record_once, record_check);
    return record_on;
}

void sc_log_record(const char *line, size_t len)
{
    char buf[4096];

    if (len + 1 <= sizeof(buf)) {
        memcpy(buf, line, len);
        buf[len] = '\n';
        write_all(STDOUT_FILENO, buf, len + 1);
    } else {
        write_all(STDOUT_FILENO, line, len);
        write_all(STDOUT_FILENO, "\n", 1);
    }
}
