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
 *     the ones the process already has are kept. */

#include "err.h"

struct sc_sandbox_opts {
    int keep_net_admin;         /* keep CAP_NET_ADMIN (socket_mark is set) */
    int keep_net_bind_service;  /* keep CAP_NET_BIND_SERVICE (a port < 1024) */
};

/* What sc_sandbox_apply did, for the start-up log line. */
struct sc_sandbox_result {
    int no_new_privs;           /* 1 when set */
    int bounding_dropped;       /* 1: the bounding set lost every capability not
                                 * kept; 0: it could not (no CAP_SETPCAP) */
    char kept[64];              /* capabilities kept, "CAP_NET_ADMIN" or "none" */
};

/* Applies opts to the whole process.  Call it from the only thread.  Returns
 * 0 and fills *res (may be NULL), or -1 with the reason in err; after a
 * failure part of it may already be in place. */
int sc_sandbox_apply(const struct sc_sandbox_opts *opts, struct sc_sandbox_result *res,
                     struct sc_err *err);

#endif
