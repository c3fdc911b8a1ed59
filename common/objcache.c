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
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
/* A cached object is held through thread-local storage, which LeakSanitizer
 * does not always scan (a check's forked test, an exited thread): it is
 * not a leak. */
#define POISON(p, n) (__lsan_ignore_object(p), ASAN_POISON_MEMORY_REGION((p), (n)))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

void *sc_objcache_get(struct sc_objcache *c)
{
    void *obj = c->head;

    if (obj == NULL) {
        return NULL;
    }
    UNPOISON(obj, c->size);
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
    POISON(obj, c->size);
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
