#ifndef SC_POLICY_H
#define SC_POLICY_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "yamlcfg.h"

/* Istio resources embedded in the sidecar's YAML stream, and their
 * resolution with Istio's precedence rules (docs/config.md, "Istio
 * resources"):
 *
 * PeerAuthentication (security.istio.io/v1beta1, v1): the workload policy (a
 * selector whose matchLabels all match our labels, in our namespace) over the
 * namespace-wide one (no selector, our namespace) over the mesh-wide one (no
 * selector, root namespace); portLevelMtls over the policy's own mode; UNSET
 * inherits from the next level; at the top PERMISSIVE.  Of two candidates at
 * the same level the older wins: by metadata.creationTimestamp (a policy
 * without one counts as newer than any with one), then by file order.  A
 * selector in the root namespace, a selector that does not match, or a policy
 * in another namespace is ignored.
 *
 * DestinationRule (networking.istio.io/v1alpha3, v1beta1, v1): supplies the
 * TLS mode for outbound hosts; see sc_policy_dest_tls.
 *
 * A struct sc_policy is built once while a config loads and is immutable
 * after sc_policy_bind. */

struct sc_policy;

/* The workload a policy set is resolved for (borrowed; the strings must
 * outlive the calls that take it). */
struct sc_policy_workload {
    const char *namespace_; /* node.namespace */
    const char *root_namespace; /* node.root_namespace */
    const struct sc_label *labels;
    size_t n_labels;
};

struct sc_policy *sc_policy_new(void);
void sc_policy_free(struct sc_policy *p); /* accepts NULL */

/* 1 when the document root is a mapping with apiVersion or kind, i.e. a
 * Kubernetes resource rather than our own config. */
int sc_policy_is_resource(const struct sc_yaml_node *doc);

/* Validates one resource document (sc_policy_is_resource) and adds it, in
 * file order.  Returns 0, or -1 with a positioned err: an unsupported kind or
 * apiVersion, an unknown mode, portLevelMtls without a selector, a bad
 * creationTimestamp, unknown keys inside spec.  Copies what it keeps; doc is
 * borrowed. */
int sc_policy_add(struct sc_policy *p, const struct sc_yaml_node *doc, struct sc_err *err);

/* Chooses the PeerAuthentication policies that apply to w (workload, namespace
 * and mesh level).  Call once, after every sc_policy_add. */
void sc_policy_bind(struct sc_policy *p, const struct sc_policy_workload *w);

/* The resolved PeerAuthentication mode for the workload's container port;
 * never UNSET.  PERMISSIVE when p is NULL or unbound. */
enum sc_mtls_mode sc_policy_port_mode(const struct sc_policy *p, int port);

/* Which PeerAuthentication decided port's mode.  The strings are borrowed
 * from the policy set; ns, name and level are NULL when no policy did (the
 * PERMISSIVE default). */
struct sc_policy_decision {
    enum sc_mtls_mode mode; /* never UNSET */
    const char *ns;
    const char *name;
    const char *level; /* "workload", "namespace" or "mesh" */
    int port_level; /* 1: its portLevelMtls entry for port decided */
};

void sc_policy_decide(const struct sc_policy *p, int port, struct sc_policy_decision *out);

/* Writes which policy decided port's mode, e.g.
 * "STRICT (PeerAuthentication istio-system/mtls-global, mesh)" or
 * "PERMISSIVE (default)".  Returns out. */
const char *sc_policy_explain(const struct sc_policy *p, int port, char *out, size_t outlen);

/* A string from an Istio document and where it was written. */
struct sc_policy_val {
    const char *s; /* NULL when absent */
    int line;
    int col;
};

/* The TLS settings a DestinationRule gives one destination.  Borrowed from
 * the policy set. */
struct sc_policy_tls {
    enum sc_tls_mode mode;
    struct sc_policy_val ca_certificates;
    struct sc_policy_val client_certificate;
    struct sc_policy_val private_key;
    struct sc_policy_val sni;
    struct sc_policy_val ca_crl; /* PEM CRLs checked against ca_certificates */
    const struct sc_strv *subject_alt_names; /* never NULL; may be empty */
    const char *rule; /* "namespace/name" of the rule */
    const char *file; /* where its tls: block is */
    int line;
    int col;
};

/* Finds the DestinationRule TLS settings for an outbound destination written
 * as host (a short name like "reviews" resolves in namespace_, "reviews.bar"
 * to reviews.bar.svc.cluster.local, anything longer is an FQDN) and port (0 =
 * unknown; then portLevelSettings never apply).  Among the rules whose
 * spec.host matches (exactly, or as a "*." suffix wildcard), those in
 * namespace_ win over those in the host's own namespace, over the root
 * namespace, over others; then the most specific host; then the oldest.
 * A matching portLevelSettings entry replaces the rule's tls (Istio does not
 * inherit destination-level fields into port-level settings); when the chosen
 * rule sets no tls for this port, no settings are returned.
 * Returns 1 and fills out, or 0 when no rule gives a tls mode. */
int sc_policy_dest_tls(const struct sc_policy *p, const struct sc_policy_workload *w,
                       const char *host, int port, struct sc_policy_tls *out);

/* Expands a host as Istio does for namespace ns (see above) into out.
 * Returns out. */
const char *sc_policy_expand_host(const char *host, const char *ns, char *out, size_t outlen);

/* Parse Istio's mode names, case-sensitively as Istio does.  0 or -1. */
int sc_policy_parse_mtls_mode(const char *s, enum sc_mtls_mode *out);
int sc_policy_parse_tls_mode(const char *s, enum sc_tls_mode *out);

/* Number of documents added, per kind (for /config_dump and tests). */
size_t sc_policy_n_peer_auth(const struct sc_policy *p);
size_t sc_policy_n_dest_rules(const struct sc_policy *p);

#endif
