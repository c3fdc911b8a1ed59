#ifndef SC_POLICY_INTERNAL_H
#define SC_POLICY_INTERNAL_H

/* Shared by policy.c (documents, PeerAuthentication) and policy_dest.c
 * (DestinationRule), and by nothing else. */

#include <stddef.h>

#include "policy.h"

#define CLUSTER_SUFFIX ".svc.cluster.local"
#define HOST_MAX 512

struct pos_str { /* an owned string and its position */
    char *s;
    int line;
    int col;
};

struct tls_set {
    int present;
    enum sc_tls_mode mode;
    struct pos_str ca, cert, key, sni, crl;
    struct sc_strv sans;
    int line;
    int col;
};

struct meta {
    char *kind_name; /* "PeerAuthentication ns/name" for messages */
    char *ns; /* NULL: the workload's namespace */
    char *name;
    int has_ts;
    long long ts_sec;
    long ts_nsec;
    size_t order; /* file order */
    char *file;
    int has_selector; /* a non-empty matchLabels */
    struct sc_label *match;
    size_t n_match;
};

struct port_mode {
    int port;
    enum sc_mtls_mode mode;
};

struct peer_auth {
    struct meta m;
    enum sc_mtls_mode mode;
    struct port_mode *ports;
    size_t n_ports;
};

struct port_tls {
    int port;
    struct tls_set tls;
};

struct dest_rule {
    struct meta m;
    char *host;
    struct tls_set tls;
    struct port_tls *pls;
    size_t n_pls;
};

struct sc_policy {
    struct peer_auth *pa;
    size_t n_pa;
    struct dest_rule *dr;
    size_t n_dr;
    size_t n_docs;

    int bound;
    const struct peer_auth *level[3]; /* workload, namespace, mesh */
    char *node_ns; /* for messages about policies without a namespace */
};

/* Helpers for parsing Istio documents.  Errors are "what: message" at node
 * n (what names the resource, e.g. "DestinationRule foo/r"). */
void sc_policy_perr(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int sc_policy_oom(struct sc_err *err, const struct sc_yaml_node *n);
int sc_policy_get_str(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                      const char *key, char **out);
int sc_policy_want_map(struct sc_err *err, const struct sc_yaml_node *n, const char *what,
                       const char *key);
int sc_policy_check_keys(struct sc_err *err, const struct sc_yaml_node *map, const char *what,
                         const char *path, const char *const *known, const char *const *ignored);
void sc_policy_strv_free(struct sc_strv *v);
int sc_policy_parse_uint(const struct sc_yaml_node *n, long max, long *out);
int sc_policy_parse_meta(struct sc_err *err, const struct sc_yaml_node *doc, const char *kind,
                         struct meta *m);
int sc_policy_parse_selector(struct sc_err *err, const struct sc_yaml_node *sel, const char *what,
                             const char *path, struct meta *m);
int sc_policy_labels_match(const struct meta *m, const struct sc_policy_workload *w);
int sc_policy_older(const struct meta *a, const struct meta *b);
const char *sc_policy_meta_ns(const struct meta *m, const struct sc_policy_workload *w);
void sc_policy_meta_cleanup(struct meta *m);
int sc_policy_parse_dest_rule(struct sc_err *err, const struct sc_yaml_node *doc,
                              struct dest_rule *dr);
void sc_policy_dest_rule_cleanup(struct dest_rule *dr);

#endif
