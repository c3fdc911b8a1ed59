#include "magic.h"

#include <stdio.h>
#include <stdlib.h>

void sc_magic_fail(uint32_t found, uint32_t want, const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: %s: bad magic 0x%08x (want 0x%08x)%s\n", file, line, what,
            (unsigned)found, (unsigned)want,
            found == SC_MAGIC_FREED ? ": used after free" : ": not this kind of object");
    abort();
}
