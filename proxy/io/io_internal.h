/* proxy/io/io_internal.h — between io.c and iobuf.c only. */
#ifndef SC_IO_INTERNAL_H
#define SC_IO_INTERNAL_H

#include "io.h"

/* the gather buffer of a bulk TLS write: four whole TLS 1.3 records of
 * 16 KiB (5 header, 1 type, 16 tag bytes each) */
#define GATHER_CAP (4 * (SC_IO_BUF_SIZE + 22))

/* GATHER_CAP bytes from the calling thread's free list (NULL when out of
 * memory); given back with sc_io_gather_put (NULL is ignored). */
unsigned char *sc_io_gather_get(void);
void sc_io_gather_put(unsigned char *buf);

/* Frees the calling thread's spare buffers of every list. */
void sc_io_lists_drain(void);

#endif
