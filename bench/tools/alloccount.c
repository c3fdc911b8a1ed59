/* bench/tools/alloccount.c -- an LD_PRELOAD shim for bench/allocs.sh: counts
 * malloc, calloc, realloc and the aligned allocations of one process, by
 * the object that called them (the sidecar itself, libevent, OpenSSL's
 * libssl/libcrypto, anything else), in a small file mapped in memory
 * ($ALLOCCOUNT_DIR/<pid>) that the script reads before and after a run.
 * Not part of the product: built by the script, with the system compiler. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { K_SELF, K_EVENT, K_SSL, K_OTHER, K_N };

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static _Atomic uint64_t *counts;        /* K_N counters, in the mapped file */
static __thread int busy;

static int kind_of(const void *ra)
{
    Dl_info info;
    const char *f;

    if (dladdr(ra, &info) == 0 || info.dli_fname == NULL) {
        return K_OTHER;
    }
    f = strrchr(info.dli_fname, '/');
    f = f != NULL ? f + 1 : info.dli_fname;
    if (strncmp(f, "libevent", 8) == 0) {
        return K_EVENT;
    }
    if (strncmp(f, "libssl", 6) == 0 || strncmp(f, "libcrypto", 9) == 0) {
        return K_SSL;
    }
    if (strcmp(f, "sidecar") == 0 || info.dli_fbase == dlopen(NULL, RTLD_NOLOAD) ||
        strstr(info.dli_fname, "/bin/sidecar") != NULL) {
        return K_SELF;
    }
    return K_OTHER;
}

/* A small cache of return address -> kind: dladdr is slow. */
#define CACHE 4096
static _Atomic uintptr_t cache_ra[CACHE];
static _Atomic int cache_kind[CACHE];

static void count(const void *ra)
{
    uintptr_t a = (uintptr_t)ra;
    unsigned h = (unsigned)((a >> 3) % CACHE);
    int k;

    if (counts == NULL || busy) {
        return;
    }
    busy = 1;
    if (atomic_load_explicit(&cache_ra[h], memory_order_relaxed) == a) {
        k = atomic_load_explicit(&cache_kind[h], memory_order_relaxed);
    } else {
        k = kind_of(ra);
        atomic_store_explicit(&cache_kind[h], k, memory_order_relaxed);
        atomic_store_explicit(&cache_ra[h], a, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&counts[k], 1, memory_order_relaxed);
    busy = 0;
}

__attribute__((constructor)) static void init(void)
{
    const char *dir = getenv("ALLOCCOUNT_DIR");
    char path[4096];
    int fd;
    void *m;

    if (dir == NULL) {
        return;
    }
    snprintf(path, sizeof(path), "%s/%d", dir, (int)getpid());
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)(K_N * sizeof(uint64_t))) != 0) {
        return;
    }
    m = mmap(NULL, K_N * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m != MAP_FAILED) {
        counts = m;
    }
}

void *malloc(size_t n)
{
    count(__builtin_return_address(0));
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    count(__builtin_return_address(0));
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    count(__builtin_return_address(0));
    return __libc_realloc(p, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p;

    count(__builtin_return_address(0));
    p = __libc_memalign(align, n);
    if (p == NULL) {
        return 12; /* ENOMEM */
    }
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
    count(__builtin_return_address(0));
    return __libc_memalign(align, n);
}
