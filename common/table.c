#include "table.h"

#include <stdlib.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TABLE_CALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TABLE_CALLOC 1
#endif
#endif

void *sc_table_alloc(size_t size)
{
#ifdef TABLE_CALLOC
    return calloc(1, size);
#else
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
#endif
}

void sc_table_free(void *p, size_t size)
{
    if (p == NULL) {
        return;
    }
#ifdef TABLE_CALLOC
    (void)size;
    free(p);
#else
    munmap(p, size);
#endif
}
