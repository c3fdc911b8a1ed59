#ifndef SC_SDSSERVER_H
#define SC_SDSSERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "sdsproto.h"

struct event_base;

/* The agent's SDS v3 server: StreamSecrets (state of the world) over gRPC on
 * a Unix socket, serving two resources, "default" (TlsCertificate: chain +
 * key) and "ROOTCA" (CertificateValidationContext.trusted_ca).  docs/sds.md
 * describes the protocol, docs/sds-agent.md the behaviour:
 *
 * - peers are checked with SO_PEERCRED against the allowed uids (refused
 *   and logged otherwise);
 * - a request names resources (empty = both); unknown names are logged and
 *   skipped; the response carries every subscribed resource we have;
 * - the version_info changes on every content change ("<gen>-<hash>");
 *   each stream remembers what it was sent and gets a push only when a
 *   resource it subscribed to changed;
 * - a request carrying the last response's nonce is an ACK, or a NACK when
 *   it has error_detail (logged and counted; the same version is not sent
 *   again); requests with a stale nonce are ignored. */

struct sc_sdsserver;

struct sc_sdsserver_opts {
    const char *path; /* socket path (copied) */
    unsigned mode; /* e.g. 0600 */
    const uid_t *uids; /* allowed peer uids (copied) */
    size_t n_uids;
};

struct sc_sdsserver_stats {
    uint64_t connections; /* accepted and allowed */
    uint64_t refused_peers; /* uid not allowed */
    uint64_t streams; /* open now */
    uint64_t pushes; /* responses sent */
    uint64_t acks;
    uint64_t nacks;
    uint64_t bad_requests; /* undecodable or wrong type_url */
};

/* Binds path (a stale socket left behind is replaced; a live one or a
 * non-socket is an error) with the mode set atomically (umask), listens,
 * and serves on base.  Returns the server, or NULL with err. */
struct sc_sdsserver *sc_sdsserver_new(struct event_base *base, const struct sc_sdsserver_opts *o,
                                      struct sc_err *err);

/* Closes every connection, the socket, and unlinks the path.  Accepts NULL. */
void sc_sdsserver_free(struct sc_sdsserver *s);

/* Replaces the resource named sec->name (SC_SDS_RESOURCE_DEFAULT or
 * SC_SDS_RESOURCE_ROOTCA; the PEMs are copied) and pushes it to every stream
 * subscribed to it.  desc (may be NULL) goes into the push log lines, e.g.
 * "serial=1A2B not_after=2026-05-12T09:59:00Z".  Returns 0 when the content
 * changed, 1 when it is the same as before (nothing pushed), -1 on an
 * unknown name or out of memory. */
int sc_sdsserver_set(struct sc_sdsserver *s, const struct sc_sds_secret *sec, const char *desc);

/* The same for n resources at once (descs may be NULL): every stream gets
 * one response with all of them, so a client that validates the set as a
 * whole never sees a new root next to the old leaf, or the reverse.  0 when
 * any changed, 1 when none did, -1 on an unknown name (nothing changed) or
 * out of memory. */
int sc_sdsserver_set_many(struct sc_sdsserver *s, const struct sc_sds_secret *secs,
                          const char *const *descs, size_t n);

/* 1 when every stream subscribed to name has answered (ACKed or NACKed) the
 * resource's current content, or no stream is subscribed; else 0. */
int sc_sdsserver_all_answered(const struct sc_sdsserver *s, const char *name);

/* The current version_info ("" before the first set). */
const char *sc_sdsserver_version(const struct sc_sdsserver *s);

void sc_sdsserver_get_stats(const struct sc_sdsserver *s, struct sc_sdsserver_stats *out);

#endif
