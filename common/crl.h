#ifndef SC_CRL_H
#define SC_CRL_H

#include <openssl/x509.h>
#include <time.h>

#include "err.h"

/* Certificate revocation lists: parsed from PEM, checked against the
 * certificates that may sign them, described for the log.  A stack of CRLs
 * is immutable once built and owned by whoever built it (free with
 * sc_crl_stack_free). */

/* Reads every PEM "X509 CRL" in pem into a new stack.  Fails (NULL, err set
 * with `what` in the message) when there is none or one does not parse. */
STACK_OF(X509_CRL) *
    sc_crl_load_pem_mem(const char *pem, size_t len, const char *what, struct sc_err *err);

/* Every CRL must be signed by one of the certificates in the given stacks
 * (trusted roots, intermediates we hold) whose subject is the CRL's
 * issuer; either stack may be NULL.  Returns 0, or -1 with err naming the
 * first CRL that does not verify (one bad CRL rejects the whole set). */
int sc_crl_verify(STACK_OF(X509_CRL) * crls, STACK_OF(X509) * roots, STACK_OF(X509) * more,
                  const char *what, struct sc_err *err);

/* "CN=mesh" for the CRL's issuer into out. */
const char *sc_crl_issuer_str(const X509_CRL *crl, char *out, size_t outlen);

/* nextUpdate as a Unix time; 0 when the CRL has none. */
time_t sc_crl_next_update(const X509_CRL *crl);

/* Why a CRL of this stack is not current at `now` ("CRL of CN=mesh is past
 * its next update 2026-...Z" or "... not valid before ..."), written into
 * out; NULL when all are current.  Starting at *from (updated to the index
 * after the one reported), so a caller can list them all. */
const char *sc_crl_problem(STACK_OF(X509_CRL) * crls, time_t now, int *from, char *out,
                           size_t outlen);

/* A short digest of the whole set (hex), to tell one set from another. */
const char *sc_crl_fingerprint(STACK_OF(X509_CRL) * crls, char *out, size_t outlen);

/* Adds every CRL to store (a reference each) and turns on CRL checking for
 * the whole chain.  An issuer without a CRL in the store is left unchecked
 * by our verify callback (X509_V_ERR_UNABLE_TO_GET_CRL is accepted there).
 * Returns 0, or -1 with err set. */
int sc_crl_install(X509_STORE *store, STACK_OF(X509_CRL) * crls, struct sc_err *err);

/* Frees the stack and its CRLs.  Accepts NULL. */
void sc_crl_stack_free(STACK_OF(X509_CRL) * crls);

#endif
