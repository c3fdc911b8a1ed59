#ifndef SC_SANDBOX_H
#define SC_SANDBOX_H

/* Least privilege for the sidecar process, applied once at start-up on the
 * main thread before any other thread exists (capabilities and the bounding
 * set are per thread; threads created later inherit all of it):
 *
 *   - no_new_privs (prctl PR_SET_NO_NEW_PRIVS): nothing it could exec would
 *     gain privileges (it never execs);
 *   - capabilities: the bounding, permitted, effective, inheritable and
 *     ambient sets lose everything but the ones asked for, and of those only
 *     the ones the process already has are kept;
 *   - seccomp (optional): an allow-list of the syscalls the sidecar makes,
 *     installed with SECCOMP_FILTER_FLAG_TSYNC.  Anything else raises SIGSYS;
 *     the handler writes one line to stderr,
 *       "seccomp: forbidden syscall 101 (ptrace) - killed"
 *     and the process dies by SIGSYS.  A syscall of another architecture
 *     (x32, or a 32-bit compat syscall) kills it at once.  clone() is allowed
 *     for threads only (no fork); clone3() fails with ENOSYS so that the C
 *     library falls back to clone(). */

#include <stddef.h>

#include "err.h"

struct sc_sandbox_opts {
    int seccomp; /* 1: install the syscall allow-list */
    int keep_net_admin; /* keep CAP_NET_ADMIN (socket_mark is set) */
    int keep_net_bind_service; /* keep CAP_NET_BIND_SERVICE (a port < 1024) */
};

/* What sc_sandbox_apply did, for the start-up log line. */
struct sc_sandbox_result {
    int no_new_privs; /* 1 when set */
    int bounding_dropped; /* 1: the bounding set lost every capability not
                                 * kept; 0: it could not (no CAP_SETPCAP) */
    char kept[64]; /* capabilities kept, "CAP_NET_ADMIN" or "none" */
    int seccomp; /* 1 when the filter is installed */
    size_t n_allowed; /* syscalls on the allow-list */
};

/* Applies opts to the whole process.  Call it from the only thread.  Returns
 * 0 and fills *res (may be NULL), or -1 with the reason in err; after a
 * failure part of it may already be in place. */
int sc_sandbox_apply(const struct sc_sandbox_opts *opts, struct sc_sandbox_result *res,
                     struct sc_err *err);

/* The number of syscalls on the allow-list of this architecture. */
size_t sc_sandbox_allowed_count(void);

/* The name of syscall nr on this architecture if the module knows it (every
 * allowed syscall and a few notable forbidden ones), else NULL. */
const char *sc_sandbox_syscall_name(long nr);

#endif
