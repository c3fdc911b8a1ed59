#ifndef SC_CONFIG_INTERNAL_H
#define SC_CONFIG_INTERNAL_H

/* Shared by the parts of the config module, and by nothing else:
 * config_keytab.c (the table engine), config_keys.c (the key tables: YAML
 * values to typed fields), config_files.c (the checks of the certificate,
 * key, CRL and bundle files a config names) and config.c (loading,
 * cross-field checks, TLS resolution, the public API). */

#include <stddef.h>

#include "config.h"
#include "policy.h"
#include "yamlcfg.h"

struct cfg_ctx {
    struct sc_err *err;
    struct sc_config *cfg;
    const struct sc_yaml_node *root;
    struct sc_policy_workload w;
    char path[256]; /* key path of the node being converted */
};

/* Fill c->err with "path: message" at a position (path may be NULL or ""),
 * or at node n with the key path being converted (c->path).  Return -1. */
int sc_config_fail_pos(struct cfg_ctx *c, const char *file, int line, int col, const char *path,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int sc_config_fail(struct cfg_ctx *c, const struct sc_yaml_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sc_config_oom(struct cfg_ctx *c, const struct sc_yaml_node *n);

/* Append ".key" or "[i]" to c->path; return the length to restore with
 * sc_config_pop. */
size_t sc_config_push_key(struct cfg_ctx *c, const char *key);
size_t sc_config_push_index(struct cfg_ctx *c, size_t i);
void sc_config_pop(struct cfg_ctx *c, size_t saved);

enum ktype {
    K_STR, /* char *, non-empty */
    K_INT, /* int in [min, max] */
    K_SIZE, /* size_t in [min, max] */
    K_ADDR, /* struct sc_addr */
    K_PROTO, /* enum sc_proto */
    K_TLS, /* enum sc_tls_mode */
    K_DIR, /* enum sc_direction */
    K_IDS, /* struct sc_strv of SPIFFE ID patterns */
    K_BOOL, /* int 0/1 from a plain true or false */
    K_FN, /* custom */
};

typedef int conv_fn(struct cfg_ctx *c, const struct sc_yaml_node *v, void *base);

struct key {
    const char *name;
    enum ktype type;
    long long min;
    long long max;
    size_t off;
    conv_fn *fn;
};

#define KEY(n, t, s, f)                  \
    {                                    \
        n, t, 0, 0, offsetof(s, f), NULL \
    }
#define KEYR(n, t, lo, hi, s, f)           \
    {                                      \
        n, t, lo, hi, offsetof(s, f), NULL \
    }
#define KEYFN(n, fn)         \
    {                        \
        n, K_FN, 0, 0, 0, fn \
    }
#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

enum {
    R_HOST,
    R_CIDR,
    R_PORT,
    R_PROTO,
    R_TLS,
    R_IDS,
    R_SNI,
    R_CA,
    R_CERT,
    R_KEY,
    R_TIMEOUTS,
    R_TRANSPORT,
    R_HBONE_PORT,
    R_COUNT
};

enum {
    L_NAME,
    L_DIR,
    L_ADDR,
    L_UP,
    L_HOST,
    L_PORT,
    L_TLS,
    L_PROTO,
    L_IDS,
    L_PRINC,
    L_SNI,
    L_CA,
    L_CERT,
    L_KEY,
    L_TIMEOUTS,
    L_TRANSPORT,
    L_HBONE_PORT,
    L_COUNT
};

extern const struct key sc_config_route_keys[R_COUNT];
/* "tls" or "hbone" into *out.  0 or -1 with c->err. */
int sc_config_conv_transport(struct cfg_ctx *c, const struct sc_yaml_node *v,
                             enum sc_transport *out);
/* config_keytab.c: the table engine. */

/* -1 with an error unless n is a non-null scalar ("expected <what>"). */
int sc_config_want_scalar(struct cfg_ctx *c, const struct sc_yaml_node *n, const char *what);
/* Replaces *out with a copy of scalar n's string.  0 or -1 (out of memory). */
int sc_config_dup(struct cfg_ctx *c, const struct sc_yaml_node *n, char **out);
/* Converts every key of map (a mapping, or null meaning empty) through tab
 * into base.  Sets bit i of *seen for each tab[i] given a non-null value. */
int sc_config_apply(struct cfg_ctx *c, const struct sc_yaml_node *map, const struct key *tab,
                    size_t n, void *base, unsigned *seen);
/* Converts a list of mappings into a new array (*out, *n elements of size
 * sz, each first filled by init()); (*seen)[i] as sc_config_apply's. */
int sc_config_apply_list(struct cfg_ctx *c, const struct sc_yaml_node *seq, const struct key *tab,
                         size_t ntab, size_t sz, void (*init)(void *), void **out, size_t *n,
                         unsigned **seen);

/* Per-entry timeouts start unset (-1) and inherit the global ones. */
void sc_config_timeouts_unset(struct sc_cfg_timeouts *t);
void sc_config_timeouts_inherit(struct sc_cfg_timeouts *t, const struct sc_cfg_timeouts *g);
extern const struct key sc_config_listener_keys[L_COUNT];

/* Converts the top-level mapping c->root into c->cfg through the key
 * tables (types, ranges, unknown keys).  0 or -1 with c->err. */
int sc_config_apply_top(struct cfg_ctx *c);

/* Cross-field checks of listeners[i] (YAML mapping n; bit k of seen set
 * when sc_config_listener_keys[k] was given): required keys, unique names,
 * direction-specific keys, upstream and port defaults. */
int sc_config_check_listener(struct cfg_ctx *c, const struct sc_yaml_node *n, size_t i,
                             unsigned seen);

/* config_identity.c: with outbound.require_expected_identities, an error
 * at the first resolved route, outbound listener or outbound.default that
 * accepts any identity of our trust domain.  0 or -1 with c->err. */
int sc_config_check_identities(struct cfg_ctx *c);

/* ---- config_files.c ---------------------------------------------------- */

struct where { /* where a file name was written */
    const char *file;
    int line;
    int col;
    const char *path; /* its key path, for the message */
};


struct x509_st;

/* w = where node n (the value of key path path) was written; n may be NULL. */
void sc_config_where_node(struct where *w, const struct sc_yaml_node *n, const char *path);
/* The PEM certificates in fname parse (at least one); *leaf (when not NULL)
 * gets the first, ours to X509_free.  0, or -1 with c->err at w. */
int sc_config_check_certs(struct cfg_ctx *c, const struct where *w, const char *fname,
                          struct x509_st **leaf);
/* The private key in fname parses, has no password and matches cert (the
 * certificate named at cert_path).  0 or -1 with c->err at w. */
int sc_config_check_key(struct cfg_ctx *c, const struct where *w, const char *fname,
                        struct x509_st *cert, const char *cert_path);
/* A DestinationRule's caCrl: PEM CRLs signed by a CA in ca_file. */
int sc_config_check_origin_crl(struct cfg_ctx *c, const struct where *w, const char *fname,
                               const char *ca_file);
/* secrets: the files of the mesh identity (cert_chain, private_key,
 * trusted_ca, crl, trust_bundles), read and checked now so that a bad file
 * is an error at its key, not at the first handshake. */
int sc_config_check_secrets(struct cfg_ctx *c);

#endif
