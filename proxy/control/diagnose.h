#ifndef SC_DIAGNOSE_H
#define SC_DIAGNOSE_H

#include <stddef.h>

/* POST /diagnose (admin only): one mTLS handshake from this sidecar to a
 * peer, with the snapshot's own client certificate and trust bundle (the
 * key never leaves the process), reported as JSON for sidecarctl.  The
 * connect and handshake block the calling thread for at most timeout_ms:
 * an admin-only diagnostic on the main thread. */

struct evbuffer;
struct sc_snapshot;

struct sc_diagnose_req {
    const char *address; /* numeric "HOST:PORT" or "[V6]:PORT" */
    const char *sni; /* server name to send, or NULL */
    const char *identity; /* SPIFFE ID the peer must present, or NULL:
                               * any ID of our trust domain */
    int timeout_ms; /* connect + handshake */
};

/* Runs the handshake and appends one JSON object to out:
 *   {"address","sni","identity","connected","handshake":"ok"|"failed"|"not_attempted",
 *    "error","protocol","cipher","group","alpn",
 *    "peer_chain":[{"subject","issuer","sans","serial_number","not_before","not_after","status"}],
 *    "chain_verified","root":{"subject","serial_number"}|null,"root_problem",
 *    "peer_identity","expected_identity","identity_accepted","identity_problem",
 *    "trusted_roots":["CN=..."],
 *    "verdict":"accepted"|"refused"|"unreachable","message","fix"}
 * (absent facts are null).  snap is borrowed.  Returns 0, or -1 when the
 * request itself is unusable (why says so; nothing is appended). */
int sc_diagnose_run(struct sc_snapshot *snap, const struct sc_diagnose_req *rq,
                    struct evbuffer *out, char *why, size_t whylen);

#endif
