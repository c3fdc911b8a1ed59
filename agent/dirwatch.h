#ifndef SC_DIRWATCH_H
#define SC_DIRWATCH_H

#include "err.h"

struct event_base;

/* Watches a directory with inotify and calls fn once things have been quiet
 * for debounce_ms after the last change (a writer that updates the key
 * after the certificate produces one call, not two).  Events watched:
 * IN_CLOSE_WRITE, IN_MOVED_TO, IN_MOVED_FROM, IN_CREATE, IN_DELETE,
 * IN_ATTRIB, so Kubernetes' atomic "..data" symlink swap is seen (it
 * renames a new symlink over ..data).  When the directory does not exist or
 * is removed, the watch is retried every second and fn is called once it
 * is back. */

struct sc_dirwatch;

typedef void sc_dirwatch_fn(void *arg);

/* Returns a new watcher, or NULL with err (inotify unavailable).  A missing
 * directory is not an error.  dir is copied. */
struct sc_dirwatch *sc_dirwatch_new(struct event_base *base, const char *dir, int debounce_ms,
                                    sc_dirwatch_fn *fn, void *arg, struct sc_err *err);
/* Accepts NULL. */
void sc_dirwatch_free(struct sc_dirwatch *w);

#endif
