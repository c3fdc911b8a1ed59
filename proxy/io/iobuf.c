/* proxy/io/iobuf — the I/O layer's buffers: per-thread free lists of
 * fixed-size buffers (16 KiB, 64 KiB bulk, and the gather buffers of bulk
 * TLS writes), so a busy connection takes and gives back buffers without
 * malloc, and an idle one holds none.  See io.h. */
#include "io.h"
#include "io_internal.h"

#include <stdlib.h>

struct freebuf {
    struct freebuf *next;
};

/* one thread's spare buffers of one size */
struct freelist {
    struct freebuf *head;
    int count, max;
    size_t size;
};

static __thread struct freelist bufs = {NULL, 0, 64, SC_IO_BUF_SIZE};
/* few: only busy bulk connections take them */
static __thread struct freelist bulk_bufs = {NULL, 0, 8, SC_IO_BULK_SIZE};
static __thread struct freelist gather_bufs = {NULL, 0, 8, GATHER_CAP};

static unsigned char *list_get(struct freelist *l)
{
    struct freebuf *b = l->head;

    if (b != NULL) {
        l->head = b->next;
        l->count--;
        return (unsigned char *)b;
    }
    return malloc(l->size);
}

static void list_put(struct freelist *l, unsigned char *buf)
{
    struct freebuf *b = (struct freebuf *)(void *)buf;

    if (buf == NULL) {
        return;
    }
    if (l->count >= l->max) {
        free(buf);
        return;
    }
    b->next = l->head;
    l->head = b;
    l->count++;
}

static void list_drain(struct freelist *l)
{
    while (l->head != NULL) {
        struct freebuf *b = l->head;

        l->head = b->next;
        free(b);
    }
    l->count = 0;
}

unsigned char *sc_io_buf_get(void)
{
    return list_get(&bufs);
}

void sc_io_buf_put(unsigned char *buf)
{
    list_put(&bufs, buf);
}

unsigned char *sc_io_bulk_get(void)
{
    return list_get(&bulk_bufs);
}

void sc_io_bulk_put(unsigned char *buf)
{
    list_put(&bulk_bufs, buf);
}

unsigned char *sc_io_gather_get(void)
{
    return list_get(&gather_bufs);
}

void sc_io_gather_put(unsigned char *buf)
{
    list_put(&gather_bufs, buf);
}

void sc_io_lists_drain(void)
{
    list_drain(&bufs);
    list_drain(&bulk_bufs);
    list_drain(&gather_bufs);
}
