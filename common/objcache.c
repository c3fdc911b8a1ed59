#include "objcache.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define SC_OBJCACHE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SC_OBJCACHE_ASAN 1
#endif
#endif

#ifdef SC_OBJCACHE_ASAN
#include <sanitizer/lsan_interface.h>
/* A cached object is held through thread-local storage, which LeakSanitizer
 * does not always scan (a check's forked test, an exited thread): it is not
 * a leak, and what it keeps (its events) is reached through it. */
#define KEEP(p) __lsan_ignore_object(p)
#else
#define KEEP(p) ((void)(p))
#endif

void *sc_objcache_get(struct sc_objcache *c)
{
    void *obj = c->head;

    if (obj == NULL) {
        return NULL;
    }
    memcpy(&c->head, obj, sizeof(void *));
    c->count--;
    return obj;
}

int sc_objcache_put(struct sc_objcache *c, void *obj)
{
    if (obj == NULL || c->count >= c->max || c->size < sizeof(void *)) {
        return -1;
    }
    memcpy(obj, &c->head, sizeof(void *));
    c->head = obj;
    c->count++;
    KEEP(obj);
    return 0;
}

int sc_objcache_event(struct event **ev, struct event_base *base, evutil_socket_t fd, short what,
                      event_callback_fn cb, void *arg)
{
    if (*ev == NULL && (*ev = malloc(event_get_struct_event_size())) == NULL) {
        return -1;
    }
    if (event_assign(*ev, base, fd, what, cb, arg) != 0) {
        free(*ev);
        *ev = NULL;
        return -1;
    }
    return 0;
}
