/* proxy/validity: when the next transition is due among the certificates
 * held, and that a transition moves it on.  The lines themselves are
 * checked by test/integration/75-chain-expiry.sh. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certs.h"
#include "tlsctx.h"
#include "validity.h"
#include "x509.h"

static char certs[64] = "/tmp/sc-test-validity.XXXXXX";
static const struct sc_certs_names names = {"default", "ROOTCA"};

static struct sc_tls_material *load(void)
{
    char crt[128], key[128], ca[128];
    struct sc_err err;
    struct sc_tls_material *m;

    snprintf(crt, sizeof(crt), "%s/int-client.crt", certs);
    snprintf(key, sizeof(key), "%s/int-client.key", certs);
    snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
    m = sc_tls_material_load(crt, key, ca, 0, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    return m;
}

/* The earliest notAfter of leaf, intermediate and root. */
static time_t first_not_after(const struct sc_tls_material *m)
{
    STACK_OF(X509) *chain = sc_tls_material_chain(m);
    time_t t = sc_x509_not_after(sk_X509_value(sc_tls_material_roots(m), 0));

    for (int i = 0; i < sk_X509_num(chain); i++) {
        time_t na = sc_x509_not_after(sk_X509_value(chain, i));
        t = na < t ? na : t;
    }
    return t;
}

START_TEST(test_validity_next_is_the_earliest_not_after)
{
    struct sc_validity *v = sc_validity_new(NULL);
    struct sc_tls_material *m = load();
    time_t first = first_not_after(m);

    sc_validity_watch(v, m, NULL, &names, time(NULL));
    ck_assert_int_eq(sc_validity_next(v), first);
    sc_validity_free(v);
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_validity_transition_moves_next_on)
{
    struct sc_validity *v = sc_validity_new(NULL);
    struct sc_tls_material *m = load();
    time_t first = first_not_after(m);

    sc_validity_watch(v, m, NULL, &names, time(NULL));
    sc_validity_check(v, first);
    ck_assert_int_gt(sc_validity_next(v), first);
    sc_validity_free(v);
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_validity_not_yet_valid_waits_for_not_before)
{
    struct sc_validity *v = sc_validity_new(NULL);
    struct sc_tls_material *m = load();
    time_t nb = sc_x509_not_before(sc_tls_material_leaf(m));

    sc_validity_watch(v, m, NULL, &names, nb - 100);
    ck_assert_int_le(sc_validity_next(v), nb);
    ck_assert_int_gt(sc_validity_next(v), nb - 100);
    sc_validity_free(v);
    sc_tls_material_free(m);
}
END_TEST

START_TEST(test_validity_nothing_held_nothing_due)
{
    struct sc_validity *v = sc_validity_new(NULL);

    sc_validity_watch(v, NULL, NULL, &names, time(NULL));
    ck_assert_int_eq(sc_validity_next(v), 0);
    sc_validity_check(v, time(NULL));
    ck_assert_int_eq(sc_validity_next(v), 0);
    sc_validity_free(v);
}
END_TEST

START_TEST(test_validity_all_expired_nothing_due)
{
    struct sc_validity *v = sc_validity_new(NULL);
    struct sc_tls_material *m = load();

    sc_validity_watch(v, m, NULL, &names, time(NULL));
    sc_validity_check(v, (time_t)4102444800); /* 2100 */
    ck_assert_int_eq(sc_validity_next(v), 0);
    sc_validity_free(v);
    sc_validity_free(NULL);
    sc_tls_material_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("validity");
    TCase *tc;
    SRunner *sr;
    char cmd[256];
    int failed;

    if (mkdtemp(certs) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(cmd, sizeof(cmd), "scripts/gen-certs.sh mesh '%s' >/dev/null", certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "making certificates failed (run from the repository root)\n");
        return 1;
    }
    tc = tcase_create("sc_validity_next");
    tcase_add_test(tc, test_validity_next_is_the_earliest_not_after);
    tcase_add_test(tc, test_validity_transition_moves_next_on);
    tcase_add_test(tc, test_validity_not_yet_valid_waits_for_not_before);
    tcase_add_test(tc, test_validity_nothing_held_nothing_due);
    tcase_add_test(tc, test_validity_all_expired_nothing_due);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", certs);
    }
    return failed == 0 ? 0 : 1;
}
