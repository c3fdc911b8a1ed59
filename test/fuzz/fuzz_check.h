#ifndef SC_FUZZ_CHECK_H
#define SC_FUZZ_CHECK_H

/* CHECK(cond): a fuzz target's invariant.  When it does not hold, names the
 * target's file, the condition and the line on stderr and abort()s, which
 * both libFuzzer and the replay main() report as a crash with its input. */

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                         \
    do {                                                                                 \
        if (!(c)) {                                                                      \
            fprintf(stderr, "%s: check failed: %s (line %d)\n", __FILE__, #c, __LINE__); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#endif
