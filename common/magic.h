#ifndef SC_MAGIC_H
#define SC_MAGIC_H

/* A debug-build guard against use after free on the big asynchronous
 * objects (snapshots, connections, L7 sessions, upstream connects, pooled
 * connections).  Each carries a magic number set when it is made and
 * overwritten in its one teardown; the functions that receive the object
 * from a callback or a borrowed pointer check it first, so a freed or
 * foreign object aborts at once with its type and place, instead of being
 * read.  Compiled in with -DSC_DEBUG_MAGIC (the sanitizer builds and
 * `make DEBUG=1`); in release builds the field and the checks vanish.
 *
 *   struct thing { SC_MAGIC_FIELD ... };
 *   SC_MAGIC_SET(t, SC_MAGIC_THING);     after allocation
 *   SC_MAGIC_CHECK(t, SC_MAGIC_THING);   where it is used
 *   SC_MAGIC_CLEAR(t);                   just before free()
 */

#include <stdint.h>

#define SC_MAGIC_SNAPSHOT 0x534e4150u /* "SNAP" */
#define SC_MAGIC_CONN 0x434f4e4eu /* "CONN" */
#define SC_MAGIC_L7 0x4c375353u /* "L7SS" */
#define SC_MAGIC_UPSTREAM 0x55505354u /* "UPST" */
#define SC_MAGIC_UPCONN 0x5550434eu /* "UPCN" */
#define SC_MAGIC_FREED 0x46524545u /* "FREE" */

/* Reports a failed check (the expected and found values, where) on stderr
 * and aborts. */
void sc_magic_fail(uint32_t found, uint32_t want, const char *what, const char *file, int line)
    __attribute__((noreturn));

#ifdef SC_DEBUG_MAGIC
#define SC_MAGIC_FIELD uint32_t magic;
#define SC_MAGIC_SET(o, m) ((o)->magic = (m))
#define SC_MAGIC_CLEAR(o) ((o)->magic = SC_MAGIC_FREED)
#define SC_MAGIC_CHECK(o, m)                                        \
    do {                                                            \
        if ((o)->magic != (m)) {                                    \
            sc_magic_fail((o)->magic, (m), #o, __FILE__, __LINE__); \
        }                                                           \
    } while (0)
#else
#define SC_MAGIC_FIELD
#define SC_MAGIC_SET(o, m) ((void)(o))
#define SC_MAGIC_CLEAR(o) ((void)(o))
#define SC_MAGIC_CHECK(o, m) ((void)(o))
#endif

#endif
