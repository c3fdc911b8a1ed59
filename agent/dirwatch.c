#include "dirwatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

/* See dirwatch.h. */

#define WATCH_MASK                                                                      \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct sc_dirwatch {
    struct event_base *base;
    char *dir;
    int fd; /* inotify instance */
    int wd; /* -1 while the directory is not watched */
    int debounce_ms;
    struct event *read_ev;
    struct event *debounce_ev;
    struct event *retry_ev;
    sc_dirwatch_fn *fn;
    void *arg;
    int missing_logged;
};

static void arm(struct event *ev, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_add(ev, &tv);
}

static int add_watch(struct sc_dirwatch *w)
{
    w->wd = inotify_add_watch(w->fd, w->dir, WATCH_MASK);
    if (w->wd < 0) {
        if (!w->missing_logged) {
            sc_log(SC_LOG_WARN, NULL, "watch %s: %s; retrying every second", w->dir,
                   strerror(errno));
            w->missing_logged = 1;
        }
        arm(w->retry_ev, 1000);
        return -1;
    }
    if (w->missing_logged) {
        sc_log(SC_LOG_INFO, NULL, "watch %s: watching again", w->dir);
        w->missing_logged = 0;
    }
    return 0;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sc_dirwatch *w = arg;

    (void)fd;
    (void)what;
    if (add_watch(w) == 0) {
        arm(w->debounce_ev, w->debounce_ms); /* it may have changed meanwhile */
    }
}

static void debounce_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sc_dirwatch *w = arg;

    (void)fd;
    (void)what;
    w->fn(w->arg);
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sc_dirwatch *w = arg;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    int i, changed = 0, lost = 0;

    (void)what;
    for (i = 0; i < 64; i++) { /* bounded: the fd is non-blocking */
        ssize_t n = read(fd, buf, sizeof(buf));
        size_t off = 0;

        if (n <= 0) {
            break;
        }
        while (off + sizeof(struct inotify_event) <= (size_t)n) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + off);

            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                lost = 1;
            }
            if (ev->mask & IN_Q_OVERFLOW) {
                changed = 1;
            }
            if (ev->mask & (WATCH_MASK & ~IN_ONLYDIR)) {
                changed = 1;
            }
            off += sizeof(struct inotify_event) + ev->len;
        }
    }
    if (lost && w->wd >= 0) {
        inotify_rm_watch(w->fd, w->wd);
        w->wd = -1;
        arm(w->retry_ev, 1000);
    }
    if (changed) {
        arm(w->debounce_ev, w->debounce_ms); /* re-arming restarts the quiet period */
    }
}

struct sc_dirwatch *sc_dirwatch_new(struct event_base *base, const char *dir, int debounce_ms,
                                    sc_dirwatch_fn *fn, void *arg, struct sc_err *err)
{
    struct sc_dirwatch *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        sc_err_set(err, "out of memory");
        return NULL;
    }
    w->fd = -1;
    w->wd = -1;
    w->base = base;
    w->fn = fn;
    w->arg = arg;
    w->debounce_ms = debounce_ms;
    w->dir = strdup(dir);
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->dir == NULL || w->fd < 0) {
        sc_err_set(err, "inotify_init1: %s", strerror(errno));
        goto fail;
    }
    w->read_ev = event_new(base, w->fd, EV_READ | EV_PERSIST, read_cb, w);
    w->debounce_ev = evtimer_new(base, debounce_cb, w);
    w->retry_ev = evtimer_new(base, retry_cb, w);
    if (w->read_ev == NULL || w->debounce_ev == NULL || w->retry_ev == NULL ||
        event_add(w->read_ev, NULL) != 0) {
        sc_err_set(err, "out of memory");
        goto fail;
    }
    add_watch(w);
    return w;

fail:
    sc_dirwatch_free(w);
    return NULL;
}

void sc_dirwatch_free(struct sc_dirwatch *w)
{
    if (w == NULL) {
        return;
    }
    if (w->read_ev != NULL) {
        event_free(w->read_ev);
    }
    if (w->debounce_ev != NULL) {
        event_free(w->debounce_ev);
    }
    if (w->retry_ev != NULL) {
        event_free(w->retry_ev);
    }
    if (w->fd >= 0) {
        close(w->fd);
    }
    free(w->dir);
    free(w);
}
