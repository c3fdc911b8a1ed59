/* Fuzz target for common/x509 (and the XFCC element built from a
 * certificate): arbitrary bytes as PEM (sc_x509_load_pem_mem) when they
 * start with "-----", else as DER (d2i_X509), the way a peer's or a pushed
 * certificate arrives.  Every decoded certificate goes through each
 * description helper.  Nothing may crash or leak, and everything meant for
 * a log line or a header must stay one line (no CR, LF or NUL before the
 * end): a certificate's names cannot forge a log line.  Violations abort(). */

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "xfcc.h"
#include "x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One line: no CR or LF, NUL-terminated within outlen. */
static void one_line(const char *s, size_t outlen)
{
    size_t n = strnlen(s, outlen);

    CHECK(n < outlen);
    CHECK(memchr(s, '\n', n) == NULL);
    CHECK(memchr(s, '\r', n) == NULL);
}

static void exercise(X509 *x)
{
    static const char *const names[] = {"api.example.com", "spiffe://cluster.local/ns/a/sa/b", "x",
                                        ""};
    char id[2049], out[1024], small[16], el[2048];
    size_t len;

    if (sc_x509_spiffe_id(x, id, sizeof(id)) == 0) {
        CHECK(strncmp(id, "spiffe://", 9) == 0);
    } else {
        CHECK(id[0] == '\0');
    }
    one_line(sc_x509_spiffe_id_or_none(x, out, sizeof(out)), sizeof(out));
    one_line(sc_x509_sans_str(x, out, sizeof(out)), sizeof(out));
    one_line(sc_x509_sans_str(x, small, sizeof(small)), sizeof(small));
    len = sc_x509_describe(x, out, sizeof(out));
    (void)len;
    one_line(out, sizeof(out));
    sc_x509_name_str(X509_get_subject_name(x), out, sizeof(out));
    one_line(out, sizeof(out));
    sc_x509_name_str(X509_get_issuer_name(x), small, sizeof(small));
    one_line(small, sizeof(small));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int m = sc_x509_has_san(x, names[i]);

        CHECK(m == 0 || m == 1);
    }
    (void)sc_x509_not_before(x);
    (void)sc_x509_not_after(x);
    one_line(sc_x509_serial_hex(x, out, sizeof(out)), sizeof(out));
    if (sc_xfcc_element(x, "spiffe://cluster.local/ns/bar/sa/server", el, sizeof(el), &len) == 0) {
        CHECK(len == strlen(el));
        one_line(el, sizeof(el));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 5 && memcmp(data, "-----", 5) == 0) {
        struct sc_err err;
        STACK_OF(X509) * sk;

        memset(&err, 0, sizeof(err));
        sk = sc_x509_load_pem_mem((const char *)data, size, "fuzz", &err);
        if (sk == NULL) {
            CHECK(err.msg[0] != '\0');
        } else {
            CHECK(sk_X509_num(sk) > 0);
            for (int i = 0; i < sk_X509_num(sk); i++) {
                exercise(sk_X509_value(sk, i));
            }
            sc_x509_stack_free(sk);
        }
    } else {
        const unsigned char *p = data;
        X509 *x = d2i_X509(NULL, &p, (long)size);

        if (x != NULL) {
            CHECK(p > data && p <= data + size);
            exercise(x);
            X509_free(x);
        }
    }
    ERR_clear_error();
    return 0;
}
