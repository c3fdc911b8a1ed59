#ifndef SC_OBJCACHE_H
#define SC_OBJCACHE_H

#include <event2/event.h>
#include <stddef.h>

/* A bounded cache of freed objects of one size, for objects made and freed
 * once per connection (connections, L7 sessions): the next connection
 * takes one back instead of calling calloc, and keeps what its owner left
 * in it on purpose (events, parsers).  Not thread-safe: declare each cache
 * `static __thread` so every worker thread has its own and needs no lock.
 *
 * Objects with a magic number (common/magic.h) have it cleared by their
 * owner before they are cached, so a callback that reaches one after its
 * owner's free still aborts in the debug and sanitizer builds. */
struct sc_objcache {
    void *head;
    unsigned count;
    unsigned max; /* objects kept at most; more are freed by the caller */
    size_t size; /* bytes of each object (at least a pointer) */
};

#define SC_OBJCACHE_INIT(objsize, maxobjs) \
    {                                      \
        NULL, 0, (maxobjs), (objsize)      \
    }

/* An object put earlier, its bytes as its owner left them except the first
 * pointer's worth (the cache's link: the owner keeps nothing there), or
 * NULL when the cache is empty. */
void *sc_objcache_get(struct sc_objcache *c);

/* Keeps obj (0), or -1 when the cache is full: the caller frees it then. */
int sc_objcache_put(struct sc_objcache *c, void *obj);

/* An event a cached object keeps: *ev is storage of ours (malloc'ed once,
 * event_get_struct_event_size() bytes), (re)assigned here to base, fd, what,
 * cb and arg; it must not be pending.  0, or -1 (out of memory; *ev is
 * NULL then).  Its owner deletes it (event_del) before caching the object
 * and frees it with free(), never event_free(). */
int sc_objcache_event(struct event **ev, struct event_base *base, evutil_socket_t fd, short what,
                      event_callback_fn cb, void *arg);

#endif
