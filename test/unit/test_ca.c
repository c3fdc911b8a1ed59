/* Unit tests for agent/ca: loading an Istio cacerts directory, minting
 * workload certificates, the renewal arithmetic (with an injected clock,
 * including wall-clock jumps) and root bundle unions. */

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "agent_certs.h"
#include "ca.h"
#include "x509.h"

#define SPIFFE "spiffe://cluster.local/ns/foo/sa/client"
#define HOUR_MS (3600LL * 1000)

static STACK_OF(X509) * pem_stack(const char *pem, size_t len)
{
    struct sc_err err;
    STACK_OF(X509) *sk = sc_x509_load_pem_mem(pem, len, "test", &err);

    ck_assert_msg(sk != NULL, "%s", err.msg);
    return sk;
}

/* Verifies leaf (chain[0]) with chain[1..] against roots. */
static int verifies(STACK_OF(X509) * chain, X509 *root)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int i, ok;

    X509_STORE_add_cert(store, root);
    for (i = 1; i < sk_X509_num(chain); i++) {
        sk_X509_push(untrusted, sk_X509_value(chain, i));
    }
    X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), untrusted);
    ok = X509_verify_cert(ctx) == 1;
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

/* ---- sc_ca_load --------------------------------------------------------- */

START_TEST(test_ca_load_accepts_root_as_signer)
{
    char *dir = tc_tmpdir();
    X509 *root = tc_cacerts(dir, "a", 0);
    struct sc_err err;
    struct sc_ca *ca = sc_ca_load(dir, &err);
    size_t len;

    ck_assert_msg(ca != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(sc_ca_roots_pem(ca, &len), "BEGIN CERTIFICATE"));
    sc_ca_free(ca);
    X509_free(root);
    tc_rmdir(dir);
}
END_TEST

START_TEST(test_ca_load_accepts_intermediate_and_missing_chain_file)
{
    char *dir = tc_tmpdir();
    X509 *root = tc_cacerts(dir, "a", 1);
    struct sc_err err;
    struct sc_ca *ca;
    char path[4200];

    ca = sc_ca_load(dir, &err);
    ck_assert_msg(ca != NULL, "%s", err.msg);
    sc_ca_free(ca);
    snprintf(path, sizeof(path), "%s/cert-chain.pem", dir);
    ck_assert_int_eq(unlink(path), 0);
    ca = sc_ca_load(dir, &err);
    ck_assert_msg(ca != NULL, "%s", err.msg);
    sc_ca_free(ca);
    X509_free(root);
    tc_rmdir(dir);
}
END_TEST

START_TEST(test_ca_load_refuses_missing_files)
{
    char *dir = tc_tmpdir();
    struct sc_err err;
    X509 *root;
    char path[4200];

    ck_assert_ptr_null(sc_ca_load(dir, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "neither ca-cert.pem nor tls.crt found"));
    ck_assert_ptr_nonnull(strstr(err.msg, "(tls.crt, tls.key, ca.crt)"));
    ck_assert_ptr_null(sc_ca_load("/nonexistent/dir", &err));
    root = tc_cacerts(dir, "a", 1); /* Istio's layout with its key missing */
    snprintf(path, sizeof(path), "%s/ca-key.pem", dir);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_ptr_null(sc_ca_load(dir, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "ca-key.pem: missing"));
    X509_free(root);
    tc_rmdir(dir);
}
END_TEST

/* cert-manager's layout: root -> int1 -> int2; tls.crt = int2 then int1,
 * tls.key = int2's key, ca.crt = root.  Returns the root. */
static X509 *cm_cacerts(const char *dir)
{
    EVP_PKEY *rk = tc_key(), *k1 = tc_key(), *k2 = tc_key();
    X509 *root = tc_cert(rk, NULL, NULL, "cm-root", 1, -3600, 86400L * 365);
    X509 *i1 = tc_cert(k1, root, rk, "cm-int1", 1, -3600, 86400L * 300);
    X509 *i2 = tc_cert(k2, i1, k1, "cm-int2", 1, -3600, 86400L * 200);
    X509 *chain[2] = {i2, i1};

    tc_write(dir, "tls.crt", chain, 2, NULL);
    tc_write(dir, "tls.key", NULL, 0, k2);
    tc_write(dir, "ca.crt", &root, 1, NULL);
    X509_free(i2);
    X509_free(i1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(rk);
    return root;
}

START_TEST(test_ca_detect_layout)
{
    char *dir = tc_tmpdir(), *cm = tc_tmpdir();
    X509 *r1 = tc_cacerts(dir, "a", 1), *r2 = cm_cacerts(cm);
    enum sc_ca_layout l = 0;
    struct sc_err err;

    ck_assert_int_eq(sc_ca_detect_layout(dir, &l, &err), 0);
    ck_assert_int_eq(l, SC_CA_LAYOUT_ISTIO);
    ck_assert_int_eq(sc_ca_detect_layout(cm, &l, &err), 0);
    ck_assert_int_eq(l, SC_CA_LAYOUT_CERT_MANAGER);
    ck_assert_str_eq(sc_ca_layout_name(SC_CA_LAYOUT_CERT_MANAGER), "cert-manager");
    ck_assert_str_eq(sc_ca_layout_name(SC_CA_LAYOUT_ISTIO), "istio");
    /* both sets in one directory: which one is meant is unclear */
    tc_write_str(dir, "tls.crt", "", 0);
    ck_assert_int_eq(sc_ca_detect_layout(dir, &l, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "holds both ca-cert.pem (Istio's layout) and tls.crt "
                                          "(cert-manager's)"));
    ck_assert_ptr_null(sc_ca_load(dir, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "holds both"));
    X509_free(r1);
    X509_free(r2);
    tc_rmdir(dir);
    tc_rmdir(cm);
}
END_TEST

START_TEST(test_ca_load_cert_manager_layout)
{
    char *dir = tc_tmpdir();
    X509 *root = cm_cacerts(dir);
    struct sc_err err;
    struct sc_ca *ca = sc_ca_load(dir, &err);
    struct sc_ca_cert_info ci;
    struct sc_ca_leaf l;
    STACK_OF(X509) * chain, *roots;
    X509_STORE *store;
    X509_STORE_CTX *ctx;
    size_t len;
    const char *pem;
    char desc[400];

    ck_assert_msg(ca != NULL, "%s", err.msg);
    ck_assert_int_eq(sc_ca_get_layout(ca), SC_CA_LAYOUT_CERT_MANAGER);
    ck_assert_ptr_nonnull(strstr(sc_ca_describe(ca, desc, sizeof(desc)), "layout=cert-manager"));
    /* the roots are ca.crt */
    pem = sc_ca_roots_pem(ca, &len);
    roots = pem_stack(pem, len);
    ck_assert_int_eq(sk_X509_num(roots), 1);
    ck_assert_int_eq(X509_cmp(sk_X509_value(roots, 0), root), 0);
    /* signing = first of tls.crt, intermediate = the rest, then the root */
    ck_assert_int_eq(sc_ca_cert_info(ca, 0, &ci), 0);
    ck_assert_str_eq(ci.role, "signing");
    ck_assert_str_eq(ci.subject, "CN=cm-int2");
    ck_assert_int_eq(sc_ca_cert_info(ca, 1, &ci), 0);
    ck_assert_str_eq(ci.role, "intermediate");
    ck_assert_str_eq(ci.subject, "CN=cm-int1");
    ck_assert_int_eq(sc_ca_cert_info(ca, 2, &ci), 0);
    ck_assert_str_eq(ci.role, "root");
    ck_assert_str_eq(ci.subject, "CN=cm-root");
    ck_assert_int_eq(sc_ca_cert_info(ca, 3, &ci), -1);
    /* a minted leaf carries int2 and int1 and verifies against ca.crt */
    ck_assert_msg(sc_ca_mint(ca, SPIFFE, HOUR_MS, sc_ca_now_ms(), &l, &err) == 0, "%s", err.msg);
    chain = pem_stack(l.chain_pem, l.chain_len);
    ck_assert_int_eq(sk_X509_num(chain), 3);
    store = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    X509_STORE_add_cert(store, root);
    ck_assert_int_eq(X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), chain), 1);
    ck_assert_int_eq(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sc_x509_stack_free(chain);
    sc_x509_stack_free(roots);
    sc_ca_leaf_cleanup(&l);
    sc_ca_free(ca);
    X509_free(root);
    tc_rmdir(dir);
}
END_TEST

START_TEST(test_ca_load_cert_manager_self_signed_and_errors)
{
    char *dir = tc_tmpdir();
    EVP_PKEY *rk = tc_key(), *other = tc_key();
    X509 *root = tc_cert(rk, NULL, NULL, "cm-self", 1, -3600, 86400L * 365);
    struct sc_err err;
    struct sc_ca *ca;
    struct sc_ca_cert_info ci;

    /* cert-manager's CA issuer with a self-signed CA: tls.crt = ca.crt */
    tc_write(dir, "tls.crt", &root, 1, NULL);
    tc_write(dir, "tls.key", NULL, 0, rk);
    tc_write(dir, "ca.crt", &root, 1, NULL);
    ca = sc_ca_load(dir, &err);
    ck_assert_msg(ca != NULL, "%s", err.msg);
    ck_assert_int_eq(sc_ca_cert_info(ca, 0, &ci), 0);
    ck_assert_str_eq(ci.role, "signing");
    ck_assert_int_eq(sc_ca_cert_info(ca, 1, &ci), 0);
    ck_assert_str_eq(ci.role, "root");
    sc_ca_free(ca);
    /* errors name cert-manager's files */
    tc_write(dir, "tls.key", NULL, 0, other);
    ck_assert_ptr_null(sc_ca_load(dir, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "tls.key: does not match the certificate in"));
    ck_assert_ptr_nonnull(strstr(err.msg, "/tls.crt"));
    tc_write(dir, "tls.key", NULL, 0, rk);
    {
        char path[4200];

        snprintf(path, sizeof(path), "%s/ca.crt", dir);
        ck_assert_int_eq(unlink(path), 0);
    }
    ck_assert_ptr_null(sc_ca_load(dir, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "ca.crt: missing"));
    EVP_PKEY_free(other);
    EVP_PKEY_free(rk);
    X509_free(root);
    tc_rmdir(dir);
}
END_TEST

START_TEST(test_ca_load_refuses_mismatched_key)
{
    char *dir = tc_tmpdir();
    X509 *root = tc_cacerts(dir, "a", 1);
    EVP_PKEY *other = tc_key();
    struct sc_err err;

    tc_write(dir, "ca-key.pem", NULL, 0, other);
    ck_assert_ptr_null(sc_ca_load(dir, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "ca-key.pem: does not match"));
    EVP_PKEY_free(other);
    X509_free(root);
    tc_rmdir(dir);
}
END_TEST

START_TEST(test_ca_load_refuses_non_ca_certificate)
{
    char *dir = tc_tmpdir();
    X509 *root = tc_cacerts(dir, "a", 0);
    EVP_PKEY *k = tc_key();
    X509 *leaf = tc_cert(k, NULL, NULL, "not-a-ca", 0, -60, 3600);
    struct sc_err err;

    tc_write(dir, "ca-cert.pem", &leaf, 1, NULL);
    tc_write(dir, "ca-key.pem", NULL, 0, k);
    ck_assert_ptr_null(sc_ca_load(dir, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "not a CA certificate"));
    X509_free(leaf);
    EVP_PKEY_free(k);
    X509_free(root);
    tc_rmdir(dir);
}
END_TEST

START_TEST(test_ca_load_refuses_signer_outside_roots)
{
    char *dir = tc_tmpdir(), *other = tc_tmpdir();
    X509 *root = tc_cacerts(dir, "a", 1);
    X509 *root2 = tc_cacerts(other, "b", 0);
    struct sc_err err;

    tc_write(dir, "root-cert.pem", &root2, 1, NULL); /* roots of another CA */
    ck_assert_ptr_null(sc_ca_load(dir, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "does not chain to any of the 1 root(s)"));
    X509_free(root);
    X509_free(root2);
    tc_rmdir(dir);
    tc_rmdir(other);
}
END_TEST

START_TEST(test_ca_load_refuses_garbage_pem)
{
    char *dir = tc_tmpdir();
    X509 *root = tc_cacerts(dir, "a", 0);
    struct sc_err err;

    tc_write_str(dir, "root-cert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n", 33);
    ck_assert_ptr_null(sc_ca_load(dir, &err));
    X509_free(root);
    tc_rmdir(dir);
}
END_TEST

START_TEST(test_ca_same_roots_and_signer)
{
    char *d1 = tc_tmpdir(), *d2 = tc_tmpdir();
    X509 *r1 = tc_cacerts(d1, "a", 0), *r2 = tc_cacerts(d2, "b", 0);
    struct sc_err err;
    struct sc_ca *a = sc_ca_load(d1, &err), *a2 = sc_ca_load(d1, &err), *b = sc_ca_load(d2, &err);

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(sc_ca_same_roots(a, a2), 1);
    ck_assert_int_eq(sc_ca_same_signer(a, a2), 1);
    ck_assert_int_eq(sc_ca_same_roots(a, b), 0);
    ck_assert_int_eq(sc_ca_same_signer(a, b), 0);
    sc_ca_free(a);
    sc_ca_free(a2);
    sc_ca_free(b);
    X509_free(r1);
    X509_free(r2);
    tc_rmdir(d1);
    tc_rmdir(d2);
}
END_TEST

/* ---- sc_ca_mint --------------------------------------------------------- */

static struct sc_ca *load_ok(const char *dir)
{
    struct sc_err err;
    struct sc_ca *ca = sc_ca_load(dir, &err);

    ck_assert_msg(ca != NULL, "%s", err.msg);
    return ca;
}

START_TEST(test_ca_mint_has_spiffe_san_ec_key_and_lifetime)
{
    char *dir = tc_tmpdir();
    X509 *root = tc_cacerts(dir, "a", 1);
    struct sc_ca *ca = load_ok(dir);
    struct sc_ca_leaf l;
    struct sc_err err;
    int64_t now = sc_ca_now_ms();
    STACK_OF(X509) * chain;
    X509 *leaf;
    EVP_PKEY *pub, *priv;
    BIO *b;
    char id[256];
    int crit = -1;
    GENERAL_NAMES *gens;

    ck_assert_msg(sc_ca_mint(ca, SPIFFE, 24 * HOUR_MS, now, &l, &err) == 0, "%s", err.msg);
    chain = pem_stack(l.chain_pem, l.chain_len);
    ck_assert_int_eq(sk_X509_num(chain), 2); /* leaf + intermediate, no root */
    leaf = sk_X509_value(chain, 0);
    /* SAN: exactly our SPIFFE ID, critical (the subject is empty) */
    ck_assert_int_eq(sc_x509_spiffe_id(leaf, id, sizeof(id)), 0);
    ck_assert_str_eq(id, SPIFFE);
    gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
    ck_assert_ptr_nonnull(gens);
    ck_assert_int_eq(sk_GENERAL_NAME_num(gens), 1);
    ck_assert_int_eq(crit, 1);
    GENERAL_NAMES_free(gens);
    ck_assert_int_eq(X509_NAME_entry_count(X509_get_subject_name(leaf)), 0);
    /* key: ECDSA P-256, matching the leaf */
    pub = X509_get0_pubkey(leaf);
    ck_assert_int_eq(EVP_PKEY_is_a(pub, "EC"), 1);
    ck_assert_int_eq(EVP_PKEY_get_bits(pub), 256);
    {
        char group[64];
        size_t glen = 0;

        ck_assert_int_eq(EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen), 1);
        ck_assert_str_eq(group, "prime256v1");
    }
    b = BIO_new_mem_buf(l.key_pem, (int)l.key_len);
    priv = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    ck_assert_ptr_nonnull(priv);
    ck_assert_int_eq(X509_check_private_key(leaf, priv), 1);
    EVP_PKEY_free(priv);
    /* lifetime from now, backdated at most 60 s */
    ck_assert_int_ge(l.not_after, (time_t)((now + 24 * HOUR_MS) / 1000) - 1);
    ck_assert_int_le(l.not_after, (time_t)((now + 24 * HOUR_MS) / 1000) + 1);
    ck_assert_int_eq(sc_x509_not_after(leaf), l.not_after);
    ck_assert_int_ge(l.not_before, (time_t)(now / 1000) - 60);
    ck_assert_int_le(l.not_before, (time_t)(now / 1000));
    /* not a CA; usable both ways */
    ck_assert_int_eq(X509_check_ca(leaf), 0);
    ck_assert_int_ne(X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT, 0);
    ck_assert_int_ne(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER, 0);
    /* issuer is ca-cert; the chain verifies against the root */
    ck_assert_int_eq(
        X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(sk_X509_value(chain, 1))),
        0);
    ck_assert_int_eq(verifies(chain, root), 1);
    sc_x509_stack_free(chain);
    sc_ca_leaf_cleanup(&l);
    sc_ca_leaf_cleanup(&l);
    sc_ca_free(ca);
    X509_free(root);
    tc_rmdir(dir);
}
END_TEST

START_TEST(test_ca_mint_from_root_carries_no_root_in_chain)
{
    char *dir = tc_tmpdir();
    X509 *root = tc_cacerts(dir, "a", 0);
    struct sc_ca *ca = load_ok(dir);
    struct sc_ca_leaf l;
    struct sc_err err;
    STACK_OF(X509) * chain;

    ck_assert_int_eq(sc_ca_mint(ca, SPIFFE, 4000, sc_ca_now_ms(), &l, &err), 0);
    chain = pem_stack(l.chain_pem, l.chain_len);
    ck_assert_int_eq(sk_X509_num(chain), 1);
    ck_assert_int_eq(verifies(chain, root), 1);
    /* a 4 s lifetime is backdated by 1 s only */
    ck_assert_int_ge(l.not_before, (time_t)(l.issued_ms / 1000) - 1);
    sc_x509_stack_free(chain);
    sc_ca_leaf_cleanup(&l);
    sc_ca_free(ca);
    X509_free(root);
    tc_rmdir(dir);
}
END_TEST

START_TEST(test_ca_mint_uses_fresh_keys_and_random_serials)
{
    char *dir = tc_tmpdir();
    X509 *root = tc_cacerts(dir, "a", 0);
    struct sc_ca *ca = load_ok(dir);
    struct sc_ca_leaf a, b;
    struct sc_err err;

    ck_assert_int_eq(sc_ca_mint(ca, SPIFFE, HOUR_MS, sc_ca_now_ms(), &a, &err), 0);
    ck_assert_int_eq(sc_ca_mint(ca, SPIFFE, HOUR_MS, sc_ca_now_ms(), &b, &err), 0);
    ck_assert_str_ne(a.serial, b.serial);
    ck_assert_uint_ge(strlen(a.serial), 30); /* ~127 bits */
    ck_assert(a.key_len != b.key_len || memcmp(a.key_pem, b.key_pem, a.key_len) != 0);
    sc_ca_leaf_cleanup(&a);
    sc_ca_leaf_cleanup(&b);
    sc_ca_free(ca);
    X509_free(root);
    tc_rmdir(dir);
}
END_TEST

START_TEST(test_ca_mint_refuses_overlong_id)
{
    char *dir = tc_tmpdir();
    X509 *root = tc_cacerts(dir, "a", 0);
    struct sc_ca *ca = load_ok(dir);
    struct sc_ca_leaf l;
    struct sc_err err;
    char *id = malloc(3000);

    memset(id, 'a', 2999);
    id[2999] = '\0';
    ck_assert_int_eq(sc_ca_mint(ca, id, HOUR_MS, sc_ca_now_ms(), &l, &err), -1);
    ck_assert_ptr_null(l.chain_pem);
    free(id);
    sc_ca_free(ca);
    X509_free(root);
    tc_rmdir(dir);
}
END_TEST

/* ---- renewal arithmetic ------------------------------------------------- */

START_TEST(test_ca_renew_time_is_fraction_of_lifetime_with_jitter)
{
    int64_t t0 = 1700000000000LL, life = 24 * HOUR_MS;

    ck_assert_int_eq(sc_ca_renew_time(t0, life, 0.5, 0.0, 0.3), t0 + 12 * HOUR_MS);
    /* jitter 0.05: +- 1.2 h */
    ck_assert_int_eq(sc_ca_renew_time(t0, life, 0.5, 0.05, 0.0), t0 + 12 * HOUR_MS - 72 * 60000);
    ck_assert_int_eq(sc_ca_renew_time(t0, life, 0.5, 0.05, 0.5), t0 + 12 * HOUR_MS);
    ck_assert_int_le(sc_ca_renew_time(t0, life, 0.5, 0.05, 0.999999),
                     t0 + 12 * HOUR_MS + 72 * 60000);
    ck_assert_int_gt(sc_ca_renew_time(t0, life, 0.5, 0.05, 0.999999), t0 + 13 * HOUR_MS);
    /* 4 s lifetime: renew at 2 s */
    ck_assert_int_eq(sc_ca_renew_time(t0, 4000, 0.5, 0.0, 0.0), t0 + 2000);
}
END_TEST

START_TEST(test_ca_renew_time_stays_inside_the_lifetime)
{
    int64_t t0 = 1000;

    ck_assert_int_eq(sc_ca_renew_time(t0, 2000, 0.999, 0.5, 0.9999), t0 + 1999);
    ck_assert_int_eq(sc_ca_renew_time(t0, 2000, 0.001, 0.5, 0.0), t0 + 1);
}
END_TEST

START_TEST(test_ca_renew_due_follows_the_wall_clock)
{
    /* a 24 h leaf issued at T renews at T+12h; the clock jumps around */
    struct sc_ca_leaf l;
    int64_t t = 1700000000000LL, renew;

    memset(&l, 0, sizeof(l));
    l.issued_ms = t;
    l.not_before = (time_t)(t / 1000) - 60;
    l.not_after = (time_t)(t / 1000) + 24 * 3600;
    renew = sc_ca_renew_time(t, 24 * HOUR_MS, 0.5, 0.0, 0.0);
    ck_assert_int_eq(sc_ca_renew_due(&l, renew, t), 0);
    ck_assert_int_eq(sc_ca_renew_due(&l, renew, t + HOUR_MS), 0);
    ck_assert_int_eq(sc_ca_renew_due(&l, renew, t + 12 * HOUR_MS - 1), 0);
    ck_assert_int_eq(sc_ca_renew_due(&l, renew, t + 12 * HOUR_MS), 1);
    /* a suspend: the machine wakes up 13 h later, or after expiry */
    ck_assert_int_eq(sc_ca_renew_due(&l, renew, t + 13 * HOUR_MS), 1);
    ck_assert_int_eq(sc_ca_renew_due(&l, renew, t + 30 * HOUR_MS), 1);
    /* the wall clock jumps back before notBefore: renew too */
    ck_assert_int_eq(sc_ca_renew_due(&l, renew, t - 2 * HOUR_MS), 1);
    ck_assert_int_eq(sc_ca_renew_due(&l, renew, t - 59 * 1000), 0);
}
END_TEST

START_TEST(test_ca_sleep_is_bounded_so_jumps_are_noticed)
{
    int64_t t = 1700000000000LL;

    ck_assert_int_eq(sc_ca_sleep_ms(t, t + 12 * HOUR_MS, 30000), 30000);
    ck_assert_int_eq(sc_ca_sleep_ms(t, t + 1500, 30000), 1500);
    ck_assert_int_eq(sc_ca_sleep_ms(t, t, 30000), 0);
    ck_assert_int_eq(sc_ca_sleep_ms(t + 13 * HOUR_MS, t + 12 * HOUR_MS, 30000), 0);
}
END_TEST

START_TEST(test_ca_renewal_survives_a_simulated_suspend)
{
    /* drive the loop as casrc does with an injected clock: wake up, check,
     * sleep at most 30 s; the clock jumps 20 h during one sleep */
    struct sc_ca_leaf l;
    int64_t t = 1700000000000LL, now = t, renew;
    int wakeups = 0, renewed_at = -1;

    memset(&l, 0, sizeof(l));
    l.not_before = (time_t)(t / 1000);
    l.not_after = (time_t)(t / 1000) + 24 * 3600;
    renew = sc_ca_renew_time(t, 24 * HOUR_MS, 0.5, 0.0, 0.0);
    while (wakeups < 10) {
        int64_t s = sc_ca_sleep_ms(now, renew, 30000);

        ck_assert_int_le(s, 30000);
        now += s;
        if (wakeups == 2) {
            now += 20 * HOUR_MS; /* suspended */
        }
        wakeups++;
        if (sc_ca_renew_due(&l, renew, now)) {
            renewed_at = wakeups;
            break;
        }
    }
    ck_assert_int_eq(renewed_at, 3); /* the first wake-up after the jump */
}
END_TEST

/* ---- bundles ------------------------------------------------------------ */

START_TEST(test_ca_bundle_union_dedupes_and_keeps_order)
{
    char *d1 = tc_tmpdir(), *d2 = tc_tmpdir();
    X509 *r1 = tc_cacerts(d1, "a", 0), *r2 = tc_cacerts(d2, "b", 0);
    struct sc_ca *a = load_ok(d1), *b = load_ok(d2);
    const char *pa, *pb;
    size_t la, lb, lu = 0, lu2 = 0;
    char *u = NULL, *u2 = NULL;
    struct sc_err err;
    STACK_OF(X509) * sk;

    pa = sc_ca_roots_pem(a, &la);
    pb = sc_ca_roots_pem(b, &lb);
    ck_assert_int_eq(sc_ca_bundle_union(pa, la, pb, lb, &u, &lu, &err), 0);
    sk = pem_stack(u, lu);
    ck_assert_int_eq(sk_X509_num(sk), 2);
    ck_assert_int_eq(X509_cmp(sk_X509_value(sk, 0), r1), 0);
    ck_assert_int_eq(X509_cmp(sk_X509_value(sk, 1), r2), 0);
    sc_x509_stack_free(sk);
    /* union with itself adds nothing */
    ck_assert_int_eq(sc_ca_bundle_union(u, lu, pa, la, &u2, &lu2, &err), 0);
    ck_assert_uint_eq(lu2, lu);
    free(u2);
    /* empty sides */
    ck_assert_int_eq(sc_ca_bundle_union("", 0, pb, lb, &u2, &lu2, &err), 0);
    ck_assert_uint_eq(lu2, lb);
    free(u2);
    free(u);
    sc_ca_free(a);
    sc_ca_free(b);
    X509_free(r1);
    X509_free(r2);
    tc_rmdir(d1);
    tc_rmdir(d2);
}
END_TEST

START_TEST(test_ca_bundle_union_refuses_garbage)
{
    char *u = NULL;
    size_t lu = 0;
    struct sc_err err;

    ck_assert_int_eq(sc_ca_bundle_union("garbage", 7, "", 0, &u, &lu, &err), -1);
    ck_assert_ptr_null(u);
    ck_assert_int_eq(sc_ca_bundle_union("", 0, "-----BEGIN CERTIFICATE-----\n", 28, &u, &lu, &err),
                     -1);
}
END_TEST

static Suite *ca_suite(void)
{
    Suite *s = suite_create("ca");
    TCase *tc;

    tc = tcase_create("sc_ca_load");
    tcase_add_test(tc, test_ca_load_accepts_root_as_signer);
    tcase_add_test(tc, test_ca_load_accepts_intermediate_and_missing_chain_file);
    tcase_add_test(tc, test_ca_load_refuses_missing_files);
    tcase_add_test(tc, test_ca_detect_layout);
    tcase_add_test(tc, test_ca_load_cert_manager_layout);
    tcase_add_test(tc, test_ca_load_cert_manager_self_signed_and_errors);
    tcase_add_test(tc, test_ca_load_refuses_mismatched_key);
    tcase_add_test(tc, test_ca_load_refuses_non_ca_certificate);
    tcase_add_test(tc, test_ca_load_refuses_signer_outside_roots);
    tcase_add_test(tc, test_ca_load_refuses_garbage_pem);
    tcase_add_test(tc, test_ca_same_roots_and_signer);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_ca_mint");
    tcase_add_test(tc, test_ca_mint_has_spiffe_san_ec_key_and_lifetime);
    tcase_add_test(tc, test_ca_mint_from_root_carries_no_root_in_chain);
    tcase_add_test(tc, test_ca_mint_uses_fresh_keys_and_random_serials);
    tcase_add_test(tc, test_ca_mint_refuses_overlong_id);
    suite_add_tcase(s, tc);

    tc = tcase_create("renewal");
    tcase_add_test(tc, test_ca_renew_time_is_fraction_of_lifetime_with_jitter);
    tcase_add_test(tc, test_ca_renew_time_stays_inside_the_lifetime);
    tcase_add_test(tc, test_ca_renew_due_follows_the_wall_clock);
    tcase_add_test(tc, test_ca_sleep_is_bounded_so_jumps_are_noticed);
    tcase_add_test(tc, test_ca_renewal_survives_a_simulated_suspend);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_ca_bundle_union");
    tcase_add_test(tc, test_ca_bundle_union_dedupes_and_keeps_order);
    tcase_add_test(tc, test_ca_bundle_union_refuses_garbage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ca_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
