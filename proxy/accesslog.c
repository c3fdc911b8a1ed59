/* Access-log records, their text/JSON lines, and the non-blocking sink.
 * See accesslog.h. */

#include "accesslog.h"
#include "escape.h"
#include "outbuf.h"
#include "thread.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- records ------------------------------------------------------------ */

void sc_accesslog_rec_init(struct sc_accesslog_rec *r)
{
    memset(r, 0, offsetof(struct sc_accesslog_rec, buf));
    clock_gettime(CLOCK_REALTIME, &r->start);
    r->duration_ms = -1;
    r->keep = UINT32_MAX;
}

void sc_accesslog_rec_keep(struct sc_accesslog_rec *r, uint32_t mask)
{
    r->keep = mask;
}

int sc_accesslog_rec_wants(const struct sc_accesslog_rec *r, enum sc_accesslog_field f)
{
    return (unsigned)f < SC_ACCESSLOG_FIELD_N && (r->keep & (1u << f)) != 0;
}

void sc_accesslog_rec_init_ago(struct sc_accesslog_rec *r, long ms)
{
    sc_accesslog_rec_init(r);
    r->start.tv_sec -= ms / 1000;
    r->start.tv_nsec -= (ms % 1000) * 1000000;
    if (r->start.tv_nsec < 0) {
        r->start.tv_nsec += 1000000000;
        r->start.tv_sec--;
    }
}

void sc_accesslog_rec_set(struct sc_accesslog_rec *r, enum sc_accesslog_field f, const char *s,
                          size_t n)
{
    size_t room;

    if (!sc_accesslog_rec_wants(r, f)) {
        return;
    }
    r->len[f] = 0;
    r->off[f] = 0;
    if (s == NULL || n == 0) {
        return;
    }
    room = sizeof r->buf - r->used;
    if (n > SC_ACCESSLOG_FIELD_MAX) {
        n = SC_ACCESSLOG_FIELD_MAX;
    }
    if (n > room) {
        n = room;
    }
    memcpy(r->buf + r->used, s, n);
    r->off[f] = r->used;
    r->len[f] = (uint16_t)n;
    r->used = (uint16_t)(r->used + n);
}

void sc_accesslog_rec_sets(struct sc_accesslog_rec *r, enum sc_accesslog_field f, const char *s)
{
    sc_accesslog_rec_set(r, f, s, s != NULL ? strlen(s) : 0);
}

const char *sc_accesslog_rec_get(const struct sc_accesslog_rec *r, enum sc_accesslog_field f,
                                 size_t *n)
{
    if ((unsigned)f >= SC_ACCESSLOG_FIELD_N || r->len[f] == 0) {
        if (n != NULL) {
            *n = 0;
        }
        return NULL;
    }
    if (n != NULL) {
        *n = r->len[f];
    }
    return r->buf + r->off[f];
}

/* ---- flags and time ----------------------------------------------------- */

static const char *const flag_names[SC_ACCESSLOG_FLAG_COUNT] = {
    "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DC", "URX", "DPE", "UPE",
};

const char *sc_accesslog_flag_name(unsigned flag)
{
    unsigned i;

    for (i = 0; i < SC_ACCESSLOG_FLAG_COUNT; i++) {
        if (flag == 1u << i) {
            return flag_names[i];
        }
    }
    return NULL;
}

size_t sc_accesslog_flags_str(unsigned flags, char *out, size_t outlen)
{
    size_t n = 0, k;
    unsigned i;

    if (outlen == 0) {
        return 0;
    }
    out[0] = '\0';
    for (i = 0; i < SC_ACCESSLOG_FLAG_COUNT; i++) {
        if (!(flags & (1u << i))) {
            continue;
        }
        k = strlen(flag_names[i]);
        if (n + (n > 0) + k + 1 > outlen) {
            out[0] = '\0';
            return 0;
        }
        if (n > 0) {
            out[n++] = ',';
        }
        memcpy(out + n, flag_names[i], k);
        n += k;
    }
    if (n == 0) {
        if (outlen < 2) {
            return 0;
        }
        out[n++] = '-';
    }
    out[n] = '\0';
    return n;
}

size_t sc_accesslog_time(const struct timespec *ts, char out[32])
{
    struct tm tm;
    time_t t = ts->tv_sec;
    long ms = ts->tv_nsec / 1000000;
    int n;

    if (ms < 0 || ms > 999) {
        ms = 0;
    }
    if (gmtime_r(&t, &tm) == NULL) {
        memset(&tm, 0, sizeof tm);
    }
    n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return n > 0 && n < 32 ? (size_t)n : 0;
}

/* ---- lines -------------------------------------------------------------- */


static void put_u64(struct sc_outbuf *o, uint64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%llu", (unsigned long long)v);

    sc_outbuf_put(o, num, (size_t)n);
}

static void put_i64(struct sc_outbuf *o, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", (long long)v);

    sc_outbuf_put(o, num, (size_t)n);
}

/* A text value: "-" when unset, else sc_escape_text. */
static void put_text(struct sc_outbuf *o, const struct sc_accesslog_rec *r,
                     enum sc_accesslog_field f)
{
    size_t n;
    const char *v = sc_accesslog_rec_get(r, f, &n);

    if (v == NULL) {
        sc_outbuf_put(o, "-", 1);
        return;
    }
    sc_escape_text(o, v, n);
}

/* A JSON string (or null), by sc_escape_json: always valid JSON, whatever
 * the bytes were. */
static void put_json_str(struct sc_outbuf *o, const char *v, size_t n)
{
    if (v == NULL) {
        sc_outbuf_puts(o, "null");
        return;
    }
    sc_outbuf_put(o, "\"", 1);
    sc_escape_json(o, v, n);
    sc_outbuf_put(o, "\"", 1);
}

static void put_json_field(struct sc_outbuf *o, const char *key, const struct sc_accesslog_rec *r,
                           enum sc_accesslog_field f)
{
    size_t n;
    const char *v = sc_accesslog_rec_get(r, f, &n);

    sc_outbuf_put(o, ",\"", 2);
    sc_outbuf_puts(o, key);
    sc_outbuf_put(o, "\":", 2);
    put_json_str(o, v, n);
}

/* The two text formats as tables: each item is the literal written before
 * it, then one value (accesslog.h describes both lines). */
enum item_value {
    V_START, /* the start time */
    V_FIELD, /* a text field: "-" when unset */
    V_CODE, /* the response code */
    V_FLAGS, /* the response flags */
    V_RECEIVED, /* bytes received */
    V_SENT, /* bytes sent */
    V_DURATION, /* milliseconds, "-" when unknown */
    V_NONE, /* the literal alone (the line's end) */
    V_HBONE, /* " hbone=<tunnel>/<stream>", only when set (HBONE traffic) */
};

struct item {
    const char *before;
    enum item_value v;
    enum sc_accesslog_field f; /* for V_FIELD */
};

#define F(before, field)                      \
    {                                         \
        before, V_FIELD, SC_ACCESSLOG_##field \
    }
#define V(before, value) \
    {                    \
        before, value, 0 \
    }

/* Envoy's default text format, and our peer SPIFFE ID at the end */
static const struct item envoy_text[] = {
    V("[", V_START),
    F("] \"", METHOD),
    F(" ", PATH),
    F(" ", PROTOCOL),
    V("\" ", V_CODE),
    V(" ", V_FLAGS),
    V(" ", V_RECEIVED),
    V(" ", V_SENT),
    V(" ", V_DURATION),
    F(" ", UPSTREAM_SERVICE_TIME),
    F(" \"", FORWARDED_FOR),
    F("\" \"", USER_AGENT),
    F("\" \"", REQUEST_ID),
    F("\" \"", AUTHORITY),
    F("\" \"", UPSTREAM_HOST),
    F("\" \"", TRANSPORT_FAILURE),
    F("\" ", PEER_ID),
    V("", V_HBONE),
    V("\n", V_NONE),
};

/* Istio's default text format */
static const struct item istio_text[] = {
    V("[", V_START),
    F("] \"", METHOD),
    F(" ", PATH),
    F(" ", PROTOCOL),
    V("\" ", V_CODE),
    V(" ", V_FLAGS),
    F(" ", RESPONSE_CODE_DETAILS),
    F(" ", TERMINATION_DETAILS),
    F(" \"", TRANSPORT_FAILURE),
    V("\" ", V_RECEIVED),
    V(" ", V_SENT),
    V(" ", V_DURATION),
    F(" ", UPSTREAM_SERVICE_TIME),
    F(" \"", FORWARDED_FOR),
    F("\" \"", USER_AGENT),
    F("\" \"", REQUEST_ID),
    F("\" \"", AUTHORITY),
    F("\" \"", UPSTREAM_HOST),
    F("\" ", UPSTREAM_CLUSTER),
    F(" ", UPSTREAM_LOCAL_ADDRESS),
    F(" ", DOWNSTREAM_LOCAL_ADDRESS),
    F(" ", DOWNSTREAM_REMOTE_ADDRESS),
    F(" ", REQUESTED_SERVER_NAME),
    F(" ", ROUTE_NAME),
    V("", V_HBONE),
    V("\n", V_NONE),
};

#undef F
#undef V

static void format_items(struct sc_outbuf *o, const struct item *items, size_t n,
                         const struct sc_accesslog_rec *r, const char *when, const char *flags)
{
    for (size_t i = 0; i < n; i++) {
        sc_outbuf_puts(o, items[i].before);
        switch (items[i].v) {
        case V_START:
            sc_outbuf_puts(o, when);
            break;
        case V_FIELD:
            put_text(o, r, items[i].f);
            break;
        case V_CODE:
            put_i64(o, r->response_code);
            break;
        case V_FLAGS:
            sc_outbuf_puts(o, flags);
            break;
        case V_RECEIVED:
            put_u64(o, r->bytes_received);
            break;
        case V_SENT:
            put_u64(o, r->bytes_sent);
            break;
        case V_DURATION:
            if (r->duration_ms < 0) {
                sc_outbuf_put(o, "-", 1);
            } else {
                put_i64(o, r->duration_ms);
            }
            break;
        case V_NONE:
            break;
        case V_HBONE:
            if (sc_accesslog_rec_get(r, SC_ACCESSLOG_HBONE, NULL) != NULL) {
                sc_outbuf_put(o, " hbone=", 7);
                put_text(o, r, SC_ACCESSLOG_HBONE);
            }
            break;
        }
    }
}

static void format_json(struct sc_outbuf *o, const struct sc_accesslog_rec *r, const char *when,
                        const char *flags)
{
    sc_outbuf_put(o, "{\"start_time\":", 14);
    put_json_str(o, when, strlen(when));
    put_json_field(o, "method", r, SC_ACCESSLOG_METHOD);
    put_json_field(o, "path", r, SC_ACCESSLOG_PATH);
    put_json_field(o, "protocol", r, SC_ACCESSLOG_PROTOCOL);
    sc_outbuf_puts(o, ",\"response_code\":");
    put_i64(o, r->response_code);
    sc_outbuf_puts(o, ",\"response_flags\":");
    put_json_str(o, flags, strlen(flags));
    sc_outbuf_puts(o, ",\"bytes_received\":");
    put_u64(o, r->bytes_received);
    sc_outbuf_puts(o, ",\"bytes_sent\":");
    put_u64(o, r->bytes_sent);
    sc_outbuf_puts(o, ",\"duration\":");
    if (r->duration_ms < 0) {
        sc_outbuf_puts(o, "null");
    } else {
        put_i64(o, r->duration_ms);
    }
    put_json_field(o, "upstream_service_time", r, SC_ACCESSLOG_UPSTREAM_SERVICE_TIME);
    put_json_field(o, "x_forwarded_for", r, SC_ACCESSLOG_FORWARDED_FOR);
    put_json_field(o, "user_agent", r, SC_ACCESSLOG_USER_AGENT);
    put_json_field(o, "request_id", r, SC_ACCESSLOG_REQUEST_ID);
    put_json_field(o, "authority", r, SC_ACCESSLOG_AUTHORITY);
    put_json_field(o, "upstream_host", r, SC_ACCESSLOG_UPSTREAM_HOST);
    put_json_field(o, "upstream_transport_failure_reason", r, SC_ACCESSLOG_TRANSPORT_FAILURE);
    put_json_field(o, "peer_spiffe_id", r, SC_ACCESSLOG_PEER_ID);
    put_json_field(o, "response_code_details", r, SC_ACCESSLOG_RESPONSE_CODE_DETAILS);
    put_json_field(o, "connection_termination_details", r, SC_ACCESSLOG_TERMINATION_DETAILS);
    put_json_field(o, "upstream_cluster", r, SC_ACCESSLOG_UPSTREAM_CLUSTER);
    put_json_field(o, "upstream_local_address", r, SC_ACCESSLOG_UPSTREAM_LOCAL_ADDRESS);
    put_json_field(o, "downstream_local_address", r, SC_ACCESSLOG_DOWNSTREAM_LOCAL_ADDRESS);
    put_json_field(o, "downstream_remote_address", r, SC_ACCESSLOG_DOWNSTREAM_REMOTE_ADDRESS);
    put_json_field(o, "requested_server_name", r, SC_ACCESSLOG_REQUESTED_SERVER_NAME);
    put_json_field(o, "route_name", r, SC_ACCESSLOG_ROUTE_NAME);
    if (sc_accesslog_rec_get(r, SC_ACCESSLOG_HBONE, NULL) != NULL) {
        put_json_field(o, "hbone", r, SC_ACCESSLOG_HBONE);
    }
    sc_outbuf_put(o, "}\n", 2);
}

size_t sc_accesslog_format(const struct sc_accesslog_rec *r, enum sc_accesslog_format fmt,
                           char *out, size_t outlen)
{
    struct sc_outbuf o;

    sc_outbuf_init(&o, out, outlen);
    char when[32], flags[64];

    if (outlen == 0) {
        return 0;
    }
    if (sc_accesslog_time(&r->start, when) == 0) {
        memcpy(when, "-", 2);
    }
    sc_accesslog_flags_str(r->flags, flags, sizeof flags);
    if (fmt == SC_ACCESSLOG_JSON) {
        format_json(&o, r, when, flags);
    } else if (fmt == SC_ACCESSLOG_ISTIO) {
        format_items(&o, istio_text, sizeof istio_text / sizeof istio_text[0], r, when, flags);
    } else {
        format_items(&o, envoy_text, sizeof envoy_text / sizeof envoy_text[0], r, when, flags);
    }
    if (o.bad) {
        out[0] = '\0';
        return 0;
    }
    out[o.len] = '\0';
    return o.len;
}

/* ---- the sink ----------------------------------------------------------- */

#define CACHELINE 64
#define STAGE_BYTES (64 * 1024)
#define SHUTDOWN_WAIT_MS 1000

struct ring {
    _Atomic size_t head; /* bytes ever queued (producer) */
    char pad0[CACHELINE - sizeof(size_t)];
    _Atomic size_t tail; /* bytes ever taken (writer) */
    char pad1[CACHELINE - sizeof(size_t)];
    _Atomic uint64_t lines;
    _Atomic uint64_t dropped;
    size_t mask;
    char *buf;
};

struct sc_accesslog_sink {
    enum sc_accesslog_dest dest;
    enum sc_accesslog_format format;
    char *path;
    int fd;
    int own_fd;
    int stream; /* pipe/socket/tty: writes of at most PIPE_BUF */
    unsigned nrings;
    struct ring *rings;
    unsigned flush_ms;
    int efd;
    pthread_t thread;
    int running;
    _Atomic int stop;
    struct timespec stop_deadline; /* set before stop; the writer gives up after it */
    int give_up; /* writer only */
    _Atomic int sleeping;
    _Atomic int reopen;
    _Atomic uint64_t bytes_written;
    _Atomic uint64_t write_errors;
    char *stage;
};

static void wake(struct sc_accesslog_sink *s)
{
    uint64_t one = 1;

    if (s->efd >= 0) {
        (void)!write(s->efd, &one, sizeof one);
    }
}

int sc_accesslog_sink_write(struct sc_accesslog_sink *s, unsigned worker, const char *line,
                            size_t len)
{
    struct ring *r;
    size_t head, tail, cap, at, first;

    if (s == NULL || s->dest == SC_ACCESSLOG_OFF || len == 0) {
        return 0;
    }
    r = &s->rings[worker % s->nrings];
    cap = r->mask + 1;
    head = atomic_load_explicit(&r->head, memory_order_relaxed);
    tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (len > SC_ACCESSLOG_LINE_MAX || len > cap - (head - tail)) {
        atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
        return -1;
    }
    at = head & r->mask;
    first = len < cap - at ? len : cap - at;
    memcpy(r->buf + at, line, first);
    memcpy(r->buf, line + first, len - first);
    /* seq_cst pairs with the writer's store to `sleeping` then load of
     * `head`: either it sees this line or this thread sees it asleep */
    atomic_store(&r->head, head + len);
    atomic_fetch_add_explicit(&r->lines, 1, memory_order_relaxed);
    if (atomic_load(&s->sleeping)) {
        wake(s);
    }
    return 0;
}

int sc_accesslog_sink_enabled(const struct sc_accesslog_sink *s)
{
    return s != NULL && s->dest != SC_ACCESSLOG_OFF;
}

int sc_accesslog_sink_log(struct sc_accesslog_sink *s, unsigned worker,
                          const struct sc_accesslog_rec *r)
{
    char line[SC_ACCESSLOG_LINE_MAX];
    size_t n;

    if (s == NULL || s->dest == SC_ACCESSLOG_OFF) {
        return 0;
    }
    n = sc_accesslog_format(r, s->format, line, sizeof line);
    if (n == 0) {
        atomic_fetch_add_explicit(&s->rings[worker % s->nrings].dropped, 1, memory_order_relaxed);
        return -1;
    }
    return sc_accesslog_sink_write(s, worker, line, n);
}

static int past(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Waits until fd takes bytes.  Once stop is set, gives up for good at the
 * shutdown deadline.  1 writable, 0 give up. */
static int wait_writable(struct sc_accesslog_sink *s)
{
    for (;;) {
        struct pollfd p = {s->fd, POLLOUT, 0};
        int rc;

        if (s->give_up) {
            return 0;
        }
        rc = poll(&p, 1, 100);
        if (rc > 0) {
            return (p.revents & (POLLERR | POLLNVAL)) ? 0 : 1;
        }
        if (rc < 0 && errno != EINTR) {
            return 0;
        }
        if (atomic_load(&s->stop) && past(&s->stop_deadline)) {
            s->give_up = 1;
            return 0;
        }
    }
}

/* Writes all of p[0..n) or counts an error.  */
static void write_all(struct sc_accesslog_sink *s, const char *p, size_t n)
{
    size_t guard = n + 1;

    while (n > 0 && guard-- > 0) {
        ssize_t w;

        if (s->stream && !wait_writable(s)) {
            break;
        }
        w = write(s->fd, p, n);
        if (w > 0) {
            atomic_fetch_add_explicit(&s->bytes_written, (uint64_t)w, memory_order_relaxed);
            p += w;
            n -= (size_t)w;
            guard = n + 1;
            continue;
        }
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
            if (!s->stream && !wait_writable(s)) {
                break;
            }
            continue;
        }
        break;
    }
    if (n > 0) {
        atomic_fetch_add_explicit(&s->write_errors, 1, memory_order_relaxed);
    }
}

/* Copies n queued bytes from position pos of r into the stage buffer. */
static void copy_out(struct sc_accesslog_sink *s, const struct ring *r, size_t pos, size_t n)
{
    size_t at = pos & r->mask;
    size_t first = n < r->mask + 1 - at ? n : r->mask + 1 - at;

    memcpy(s->stage, r->buf + at, first);
    memcpy(s->stage + first, r->buf, n - first);
}

/* Moves whole lines from one ring to the destination.  Returns bytes taken. */
static size_t drain_ring(struct sc_accesslog_sink *s, struct ring *r)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load(&r->head);
    size_t avail = head - tail, taken = 0;
    size_t limit = s->stream ? PIPE_BUF : STAGE_BYTES;

    while (avail > 0) {
        size_t want = avail < limit ? avail : limit;
        size_t cut;

        copy_out(s, r, tail, want);
        /* whole lines only, at most `limit` bytes unless one line is longer */
        cut = want;
        while (cut > 0 && s->stage[cut - 1] != '\n') {
            cut--;
        }
        if (cut == 0) {
            char *nl;

            want = avail < STAGE_BYTES ? avail : STAGE_BYTES;
            copy_out(s, r, tail, want);
            nl = memchr(s->stage, '\n', want);
            cut = nl != NULL ? (size_t)(nl - s->stage) + 1 : want;
        }
        write_all(s, s->stage, cut);
        tail += cut;
        avail -= cut;
        taken += cut;
        atomic_store_explicit(&r->tail, tail, memory_order_release);
    }
    return taken;
}

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static void do_reopen(struct sc_accesslog_sink *s)
{
    int fd;

    if (s->dest != SC_ACCESSLOG_FILE) {
        return;
    }
    fd = open_file(s->path);
    if (fd < 0) {
        atomic_fetch_add_explicit(&s->write_errors, 1, memory_order_relaxed);
        return; /* keep writing to the old file */
    }
    close(s->fd);
    s->fd = fd;
}

static int rings_empty(struct sc_accesslog_sink *s)
{
    unsigned i;

    for (i = 0; i < s->nrings; i++) {
        if (atomic_load(&s->rings[i].head) != atomic_load(&s->rings[i].tail)) {
            return 0;
        }
    }
    return 1;
}

/* how long the writer lets lines gather after a worker wakes it */
#define COALESCE_MS 2

static void *writer_main(void *arg)
{
    struct sc_accesslog_sink *s = arg;

    for (;;) {
        size_t moved = 0;
        unsigned i;
        uint64_t junk;
        int woken;

        if (atomic_exchange(&s->reopen, 0)) {
            do_reopen(s);
        }
        for (i = 0; i < s->nrings; i++) {
            moved += drain_ring(s, &s->rings[i]);
        }
        if (moved > 0) {
            continue;
        }
        if (atomic_load(&s->stop)) {
            break;
        }
        atomic_store(&s->sleeping, 1);
        woken = 0;
        if (rings_empty(s) && !atomic_load(&s->stop) && !atomic_load(&s->reopen)) {
            struct pollfd p = {s->efd, POLLIN, 0};

            woken = poll(&p, 1, (int)s->flush_ms) > 0;
        }
        atomic_store(&s->sleeping, 0);
        while (read(s->efd, &junk, sizeof junk) == (ssize_t)sizeof junk) {
            /* drained; the eventfd is non-blocking */
        }
        if (woken && !atomic_load(&s->stop)) {
            /* A worker woke us for a line: let the lines of the next
             * COALESCE_MS gather (workers do not wake an awake writer), so
             * a busy sidecar costs one wake-up and one write(2) per batch,
             * not per request. */
            (void)poll(NULL, 0, COALESCE_MS);
        }
    }
    return NULL;
}

static size_t round_pow2(size_t n)
{
    size_t p = 64 * 1024;

    while (p < n && p < ((size_t)1 << 30)) {
        p <<= 1;
    }
    return p;
}

struct sc_accesslog_sink *sc_accesslog_sink_new(const struct sc_accesslog_sink_config *cfg,
                                                struct sc_err *err)
{
    struct sc_accesslog_sink *s = calloc(1, sizeof *s);
    size_t ring_bytes;
    unsigned i;
    struct stat st;
    int rc;

    if (s == NULL) {
        sc_err_set(err, "access log: out of memory");
        return NULL;
    }
    s->fd = -1;
    s->efd = -1;
    s->dest = cfg->dest;
    s->format = cfg->format;
    s->flush_ms = cfg->flush_ms > 0 ? cfg->flush_ms : 1000;
    if (s->dest == SC_ACCESSLOG_OFF) {
        return s;
    }
    switch (s->dest) {
    case SC_ACCESSLOG_STDOUT:
        s->fd = STDOUT_FILENO;
        break;
    case SC_ACCESSLOG_FD:
        s->fd = cfg->fd;
        break;
    case SC_ACCESSLOG_FILE:
        if (cfg->path == NULL || cfg->path[0] == '\0') {
            sc_err_set(err, "access log: no file path");
            goto fail;
        }
        s->path = strdup(cfg->path);
        s->fd = s->path != NULL ? open_file(s->path) : -1;
        if (s->fd < 0) {
            sc_err_set(err, "access log: cannot open %s: %s", cfg->path, strerror(errno));
            goto fail;
        }
        s->own_fd = 1;
        break;
    default:
        sc_err_set(err, "access log: unknown destination %d", (int)cfg->dest);
        goto fail;
    }
    if (s->fd < 0 || fstat(s->fd, &st) != 0) {
        sc_err_set(err, "access log: bad file descriptor %d", s->fd);
        goto fail;
    }
    s->stream = !S_ISREG(st.st_mode);
    s->nrings = cfg->workers > 0 ? cfg->workers : 1;
    s->rings = calloc(s->nrings, sizeof *s->rings);
    s->stage = malloc(STAGE_BYTES);
    if (s->rings == NULL || s->stage == NULL) {
        sc_err_set(err, "access log: out of memory");
        goto fail;
    }
    ring_bytes = round_pow2(cfg->ring_bytes > 0 ? cfg->ring_bytes : 256 * 1024);
    for (i = 0; i < s->nrings; i++) {
        s->rings[i].buf = malloc(ring_bytes);
        if (s->rings[i].buf == NULL) {
            sc_err_set(err, "access log: out of memory");
            goto fail;
        }
        s->rings[i].mask = ring_bytes - 1;
    }
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->efd < 0) {
        sc_err_set(err, "access log: eventfd: %s", strerror(errno));
        goto fail;
    }
    /* the writer takes no signals (a closed pipe gives it EPIPE, not SIGPIPE) */
    rc = sc_thread_start(&s->thread, writer_main, s);
    if (rc != 0) {
        sc_err_set(err, "access log: cannot start the writer: %s", strerror(rc));
        goto fail;
    }
    s->running = 1;
    return s;

fail:
    sc_accesslog_sink_free(s);
    return NULL;
}

void sc_accesslog_sink_free(struct sc_accesslog_sink *s)
{
    unsigned i;

    if (s == NULL) {
        return;
    }
    if (s->running) {
        clock_gettime(CLOCK_MONOTONIC, &s->stop_deadline);
        s->stop_deadline.tv_sec += SHUTDOWN_WAIT_MS / 1000;
        atomic_store(&s->stop, 1);
        wake(s);
        pthread_join(s->thread, NULL);
        s->running = 0;
    }
    if (s->efd >= 0) {
        close(s->efd);
    }
    if (s->own_fd && s->fd >= 0) {
        close(s->fd);
    }
    for (i = 0; s->rings != NULL && i < s->nrings; i++) {
        free(s->rings[i].buf);
    }
    free(s->rings);
    free(s->stage);
    free(s->path);
    free(s);
}

void sc_accesslog_sink_reopen(struct sc_accesslog_sink *s)
{
    if (s == NULL || !s->running) {
        return;
    }
    atomic_store(&s->reopen, 1);
    wake(s);
}

int sc_accesslog_sink_flush(struct sc_accesslog_sink *s, int timeout_ms)
{
    int waited = 0;

    if (s == NULL || !s->running) {
        return 0;
    }
    while (!rings_empty(s)) {
        struct timespec ms = {0, 1000000};

        if (waited >= timeout_ms) {
            return -1;
        }
        wake(s);
        nanosleep(&ms, NULL);
        waited++;
    }
    return 0;
}

void sc_accesslog_sink_stats(const struct sc_accesslog_sink *s, struct sc_accesslog_sink_stats *out)
{
    unsigned i;

    memset(out, 0, sizeof *out);
    if (s == NULL) {
        return;
    }
    for (i = 0; s->rings != NULL && i < s->nrings; i++) {
        out->lines += atomic_load_explicit(&s->rings[i].lines, memory_order_relaxed);
        out->dropped += atomic_load_explicit(&s->rings[i].dropped, memory_order_relaxed);
    }
    out->bytes_written = atomic_load_explicit(&s->bytes_written, memory_order_relaxed);
    out->write_errors = atomic_load_explicit(&s->write_errors, memory_order_relaxed);
}
