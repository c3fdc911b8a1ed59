/* common/readfile — reading a small file (config, certificate, key) whole.
 *
 * One reader for every file the programs load at start-up and on reload.
 * The buffer is sized by the file (fstat), not by the cap: a cap-sized
 * temporary (1-4 MiB) freed at start-up raises glibc's dynamic mmap
 * threshold for the life of the process, after which every large calloc
 * comes from the heap and is cleared page by page, and stays resident. */
#ifndef SC_READFILE_H
#define SC_READFILE_H

#include <stddef.h>

/* Reads path into a new NUL-terminated buffer (*out, owned by the caller,
 * to free; *len excludes the NUL).  At most max bytes.  With regular_only,
 * anything but a regular file is refused without reading it (EISDIR for a
 * directory, EINVAL otherwise), and it is opened non-blocking so a FIFO
 * cannot hang the caller.  Buffers given up while growing are cleansed
 * (they may hold a private key).  Returns 0, or -1 with errno set (EFBIG
 * when the file holds more than max bytes) and *out NULL. */
int sc_read_file(const char *path, size_t max, int regular_only, char **out, size_t *len);

#endif
