/* common/table — memory for a fixed table that a thread makes once, sized
 * for the most it will ever hold, and fills sparsely: per-worker stats
 * slots, the handshake limiter, the upstream pool's buckets, the TLS
 * session slots.
 *
 * It is mapped, not taken from the heap, so a page costs resident memory
 * only once something is written to it: an idle sidecar pays for the
 * slots it uses, not for the table.  (calloc from the heap clears, and so
 * touches, every page; above glibc's mmap threshold it would map too, but
 * that threshold moves at run time.)  Sanitizer builds use calloc, so the
 * tables stay checked. */
#ifndef SC_TABLE_H
#define SC_TABLE_H

#include <stddef.h>

/* size bytes of zeroes, or NULL.  Give back with sc_table_free(p, size). */
void *sc_table_alloc(size_t size);
void sc_table_free(void *p, size_t size);

#endif
