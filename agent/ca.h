#ifndef SC_CA_H
#define SC_CA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

/* The sds-agent's local CA: a "cacerts" directory, in Istio's layout
 * (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem) or cert-manager's
 * (tls.crt, tls.key, ca.crt: a kubernetes.io/tls Secret mounted as files,
 * as istiod also accepts), and the workload certificates minted from it,
 * plus the renewal arithmetic.  Everything takes the clock as an argument
 * (milliseconds of wall-clock time), so tests can jump it. */

struct sc_ca;

enum sc_ca_layout {
    SC_CA_LAYOUT_ISTIO = 1,
    SC_CA_LAYOUT_CERT_MANAGER,
};

/* Which layout dir holds: Istio's when ca-cert.pem exists, cert-manager's
 * when tls.crt exists.  Returns 0 with *out set, or -1 with err naming the
 * files when both exist or neither does. */
int sc_ca_detect_layout(const char *dir, enum sc_ca_layout *out, struct sc_err *err);
/* "istio" or "cert-manager" (static). */
const char *sc_ca_layout_name(enum sc_ca_layout l);

/* Loads the directory in the layout it holds (sc_ca_detect_layout).
 * Istio: ca-cert.pem (the signing certificate), ca-key.pem (its key),
 * root-cert.pem (the root bundle, one or more) and, when present,
 * cert-chain.pem (ca-cert and the intermediates above it).  cert-manager:
 * tls.crt (the signing certificate, then the intermediates above it),
 * tls.key, ca.crt (the roots).  Roots found among the intermediates are
 * skipped.  Checks: the key matches the signing certificate, it is a CA,
 * and it (with the intermediates) verifies against the roots.  Returns a
 * new CA or NULL with err naming the file and the problem. */
struct sc_ca *sc_ca_load(const char *dir, struct sc_err *err);
enum sc_ca_layout sc_ca_get_layout(const struct sc_ca *ca);

/* One certificate of a loaded CA, for metrics. */
struct sc_ca_cert_info {
    const char *role; /* "signing", "intermediate" or "root" (static) */
    char subject[256];
    char serial[80]; /* hex */
    time_t not_after;
};

/* The i-th certificate of ca: 0 is the signing certificate, then the
 * intermediates above it, then the roots.  Returns 0 with *out filled, or
 * -1 when i is past the last one. */
int sc_ca_cert_info(const struct sc_ca *ca, size_t i, struct sc_ca_cert_info *out);
void sc_ca_free(struct sc_ca *ca);

/* The root bundle as PEM (borrowed, NUL-terminated), normalised (one PEM
 * block per root, no text). */
const char *sc_ca_roots_pem(const struct sc_ca *ca, size_t *len);
/* 1 when a and b hold the same set of roots. */
int sc_ca_same_roots(const struct sc_ca *a, const struct sc_ca *b);
/* 1 when a and b sign with the same certificate and chain. */
int sc_ca_same_signer(const struct sc_ca *a, const struct sc_ca *b);
/* "subject=... serial=... roots=N layout=..." of the signing certificate,
 * for logs. */
const char *sc_ca_describe(const struct sc_ca *ca, char *out, size_t outlen);

/* A minted workload certificate.  All owned; free with _cleanup. */
struct sc_ca_leaf {
    char *chain_pem; /* leaf, then ca-cert and intermediates */
    size_t chain_len;
    char *key_pem; /* PKCS#8 PEM of a fresh ECDSA P-256 key */
    size_t key_len;
    char serial[80]; /* hex */
    time_t not_before;
    time_t not_after;
    int64_t issued_ms; /* the clock at issuance */
    int64_t lifetime_ms;
};

/* Mints a certificate for spiffe_id (URI SAN, critical; empty subject, as
 * Istio's), valid from now (backdated by min(60 s, lifetime/4) for clock
 * skew) for lifetime_ms, with a random 127-bit serial, key usage
 * digitalSignature+keyEncipherment, extended key usage serverAuth+clientAuth,
 * signed by ca-cert's key.  Returns 0, or -1 with err. */
int sc_ca_mint(const struct sc_ca *ca, const char *spiffe_id, int64_t lifetime_ms, int64_t now_ms,
               struct sc_ca_leaf *out, struct sc_err *err);
void sc_ca_leaf_cleanup(struct sc_ca_leaf *l);

/* When to renew a leaf issued at issued_ms: issued + lifetime * (renew_at +
 * jitter * (2*rnd - 1)), with rnd in [0, 1); never before issued + 1 ms nor
 * after issued + lifetime - 1 ms. */
int64_t sc_ca_renew_time(int64_t issued_ms, int64_t lifetime_ms, double renew_at, double jitter,
                         double rnd);

/* 1 when the leaf must be renewed at now_ms: the renewal time has passed,
 * the leaf has expired, or the clock is before its notBefore (the wall clock
 * jumped backwards).  Re-evaluate on every wake-up. */
int sc_ca_renew_due(const struct sc_ca_leaf *l, int64_t renew_ms, int64_t now_ms);

/* How long to sleep before looking again: until renew_ms, at most
 * max_sleep_ms (so suspends and clock jumps are noticed), at least 0. */
int64_t sc_ca_sleep_ms(int64_t now_ms, int64_t renew_ms, int64_t max_sleep_ms);

/* The union of two PEM bundles: a's certificates, then those of b not in a
 * (compared by DER), as PEM in a new buffer (*out, free()).  Either may be
 * empty.  Returns 0, or -1 with err (unparsable input). */
int sc_ca_bundle_union(const char *a, size_t alen, const char *b, size_t blen, char **out,
                       size_t *outlen, struct sc_err *err);

/* The wall clock in milliseconds (CLOCK_REALTIME). */
int64_t sc_ca_now_ms(void);

#endif
