#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A copy into a larger buffer, or NULL; either way the old one is
 * cleansed and freed. */
static char *grow(char *buf, size_t len, size_t ncap)
{
    char *nbuf = malloc(ncap);

    if (nbuf != NULL) {
        memcpy(nbuf, buf, len);
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    return nbuf;
}

int sc_read_file(const char *path, size_t max, int regular_only, char **out, size_t *len)
{
    char *buf = NULL;
    size_t n = 0, cap = max < 4096 ? max + 1 : 4096;
    struct stat st;
    int fd, saved;

    *out = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) == 0) {
        if (regular_only && !S_ISREG(st.st_mode)) {
            saved = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
            goto fail;
        }
        if (S_ISREG(st.st_mode) && st.st_size >= 0 && (size_t)st.st_size <= max) {
            cap = (size_t)st.st_size + 1; /* room to see EOF, or growth */
        }
    }
    /* cap <= max + 1 from here on, so a full buffer past max is EFBIG and
     * the loop ends with n < cap <= max + 1 */
    buf = malloc(cap);
    if (buf == NULL) {
        saved = ENOMEM;
        goto fail;
    }
    for (;;) {
        ssize_t r;

        if (n == cap) {
            size_t ncap = cap > max / 2 ? max + 1 : cap * 2;

            if (n > max) {
                saved = EFBIG;
                goto fail;
            }
            buf = grow(buf, n, ncap);
            if (buf == NULL) {
                saved = ENOMEM;
                goto fail;
            }
            cap = ncap;
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            saved = errno;
            goto fail;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;

fail:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, n < cap ? n : cap);
        free(buf);
    }
    close(fd);
    errno = saved;
    return -1;
}
