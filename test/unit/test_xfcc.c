/* Unit tests for proxy/xfcc: the element for real certificates made at test
 * time with scripts/gen-certs.sh (hash checked against the openssl CLI),
 * quoting of awkward subjects and SANs from certificates built here, the
 * parser on good and malformed values, the per-mode decision and the value
 * forwarded for each action. */

#include <check.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xfcc.h"

static char certdir[256];

static void make_certs(void)
{
    char cmd[512];

    snprintf(certdir, sizeof certdir, "%s/sc-xfcc-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(certdir));
    snprintf(cmd, sizeof cmd, "scripts/gen-certs.sh mesh %s >/dev/null 2>&1", certdir);
    ck_assert_msg(system(cmd) == 0, "%s failed (run from the repo root)", cmd);
}

static void remove_certs(void)
{
    char cmd[512];

    if (certdir[0] != '\0') {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", certdir);
        ck_assert_int_eq(system(cmd), 0);
        certdir[0] = '\0';
    }
}

static X509 *load(const char *name)
{
    char path[512];
    FILE *f;
    X509 *x;

    snprintf(path, sizeof path, "%s/%s", certdir, name);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(x);
    return x;
}

/* The SHA-256 of the DER certificate as the openssl CLI computes it. */
static void cli_hash(const char *name, char out[65])
{
    char cmd[640];
    FILE *p;

    snprintf(cmd, sizeof cmd,
             "openssl x509 -in '%s/%s' -outform DER | openssl dgst -sha256 -r | cut -c1-64",
             certdir, name);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(fgets(out, 65, p));
    pclose(p);
    ck_assert_uint_eq(strlen(out), 64);
}

/* The subject as the openssl CLI prints it in RFC 2253 form. */
static void cli_subject(const char *name, char *out, size_t outlen)
{
    char cmd[640], line[512];
    FILE *p;
    size_t n;

    snprintf(cmd, sizeof cmd, "openssl x509 -in '%s/%s' -noout -subject -nameopt RFC2253", certdir,
             name);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
    pclose(p);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        line[--n] = '\0';
    }
    ck_assert_int_eq(strncmp(line, "subject=", 8), 0);
    ck_assert_uint_lt(n - 8, outlen);
    memcpy(out, line + 8, n - 8 + 1);
}

/* A self-signed certificate with the given subject entries and SANs
 * ("URI:..,DNS:.."), built in memory. */
static X509 *make_cert(const char *const *subject, size_t nsub, const char *sans)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    size_t i;

    ck_assert_ptr_nonnull(key);
    ck_assert_ptr_nonnull(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    for (i = 0; i + 1 < nsub; i += 2) {
        ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, subject[i], MBSTRING_UTF8,
                                                    (const unsigned char *)subject[i + 1], -1, -1,
                                                    0),
                         1);
    }
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, name);
    X509_NAME_free(name);
    X509_set_pubkey(x, key);
    if (sans != NULL) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);

        ck_assert_ptr_nonnull(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    EVP_PKEY_free(key);
    return x;
}

/* ---- parsing helper ---------------------------------------------------- */

struct kv {
    char text[4096];
    size_t n;
};

static int collect(void *arg, size_t element, const char *key, size_t klen, const char *value,
                   size_t vlen, int quoted)
{
    struct kv *kv = arg;
    char unq[1024];
    int u;

    ck_assert_uint_lt(vlen, sizeof unq);
    u = quoted ? sc_xfcc_unquote(value, vlen, unq, sizeof unq) : (int)vlen;
    if (!quoted) {
        memcpy(unq, value, vlen);
        unq[vlen] = '\0';
    }
    ck_assert_int_ge(u, 0);
    kv->n += (size_t)snprintf(kv->text + kv->n, sizeof kv->text - kv->n, "%zu:%.*s=%s%s|", element,
                              (int)klen, key, unq, quoted ? "(q)" : "");
    ck_assert_uint_lt(kv->n, sizeof kv->text);
    return 0;
}

static void parse_eq(const char *v, int elements, const char *want)
{
    struct kv kv;

    memset(&kv, 0, sizeof kv);
    ck_assert_int_eq(sc_xfcc_parse(v, strlen(v), collect, &kv), elements);
    ck_assert_msg(strcmp(kv.text, want) == 0, "%s\n  got:  %s\n  want: %s", v, kv.text, want);
}

/* ---- the element -------------------------------------------------------- */

START_TEST(test_xfcc_element_for_a_mesh_client)
{
    X509 *peer = load("client.crt");
    char el[1024], want[1024], hash[65], cli[65], subj[256];
    size_t len = 0;

    cli_hash("client.crt", cli);
    cli_subject("client.crt", subj, sizeof subj);
    ck_assert_str_eq(subj, "CN=client.foo.svc.cluster.local");
    ck_assert_int_eq(sc_xfcc_cert_hash(peer, hash), 0);
    ck_assert_str_eq(hash, cli);
    ck_assert_int_eq(
        sc_xfcc_element(peer, "spiffe://cluster.local/ns/bar/sa/server", el, sizeof el, &len), 0);
    snprintf(want, sizeof want,
             "By=spiffe://cluster.local/ns/bar/sa/server;Hash=%s;Subject=\"%s\";"
             "URI=spiffe://cluster.local/ns/foo/sa/client",
             cli, subj);
    ck_assert_str_eq(el, want);
    ck_assert_uint_eq(len, strlen(want));
    X509_free(peer);
}
END_TEST

START_TEST(test_xfcc_element_parses_back)
{
    X509 *peer = load("int-client.crt");
    char el[1024], hash[65], want[512], subj[256];

    cli_subject("int-client.crt", subj, sizeof subj);
    ck_assert_int_eq(
        sc_xfcc_element(peer, "spiffe://cluster.local/ns/bar/sa/server", el, sizeof el, NULL), 0);
    ck_assert_int_eq(sc_xfcc_cert_hash(peer, hash), 0);
    snprintf(want, sizeof want,
             "0:By=spiffe://cluster.local/ns/bar/sa/server|0:Hash=%s|0:Subject=%s(q)|"
             "0:URI=spiffe://cluster.local/ns/foo/sa/client|",
             hash, subj);
    parse_eq(el, 1, want);
    X509_free(peer);
}
END_TEST

START_TEST(test_xfcc_element_without_by)
{
    X509 *peer = load("server.crt");
    char el[1024], hash[65], want[512], subj[256];

    cli_subject("server.crt", subj, sizeof subj);
    ck_assert_int_eq(sc_xfcc_cert_hash(peer, hash), 0);
    snprintf(want, sizeof want,
             "Hash=%s;Subject=\"%s\";URI=spiffe://cluster.local/ns/bar/sa/server", hash, subj);
    ck_assert_int_eq(sc_xfcc_element(peer, NULL, el, sizeof el, NULL), 0);
    ck_assert_str_eq(el, want);
    ck_assert_int_eq(sc_xfcc_element(peer, "", el, sizeof el, NULL), 0);
    ck_assert_str_eq(el, want);
    X509_free(peer);
}
END_TEST

START_TEST(test_xfcc_element_quotes_awkward_values)
{
    static const char *const subj[] = {"O", "Acme, Inc.", "CN", "say \"hi\"; x=y\\z"};
    X509 *x = make_cert(subj, 4, "URI:spiffe://td/a;b=c,DNS:a.example,DNS:b.example,URI:urn:two");
    char el[2048], hash[65], want[2048];

    ck_assert_int_eq(sc_xfcc_cert_hash(x, hash), 0);
    ck_assert_int_eq(sc_xfcc_element(x, "spiffe://td/me", el, sizeof el, NULL), 0);
    /* RFC 2253 order (last RDN first) and escapes; the URI SAN with ; and = quoted */
    snprintf(want, sizeof want,
             "By=spiffe://td/me;Hash=%s;Subject=\"CN=say \\\"hi\\\"\\; x=y\\\\z,O=Acme\\, Inc.\";"
             "URI=\"spiffe://td/a;b=c\";URI=urn:two;DNS=a.example;DNS=b.example",
             hash);
    ck_assert_str_eq(el, want);
    snprintf(want, sizeof want,
             "0:By=spiffe://td/me|0:Hash=%s|0:Subject=CN=say \"hi\"; x=y\\z,O=Acme, Inc.(q)|"
             "0:URI=spiffe://td/a;b=c(q)|0:URI=urn:two|0:DNS=a.example|0:DNS=b.example|",
             hash);
    parse_eq(el, 1, want);
    X509_free(x);
}
END_TEST

START_TEST(test_xfcc_element_empty_subject_and_no_uri)
{
    X509 *x = make_cert(NULL, 0, "DNS:only.example");
    char el[1024], hash[65], want[512];

    ck_assert_int_eq(sc_xfcc_cert_hash(x, hash), 0);
    ck_assert_int_eq(sc_xfcc_element(x, "spiffe://td/me", el, sizeof el, NULL), 0);
    snprintf(want, sizeof want, "By=spiffe://td/me;Hash=%s;Subject=\"\";URI=;DNS=only.example",
             hash);
    ck_assert_str_eq(el, want);
    X509_free(x);
}
END_TEST

START_TEST(test_xfcc_element_refuses_control_characters)
{
    X509 *x = make_cert(NULL, 0, "URI:spiffe://td/ok");
    char el[1024];
    size_t len = 9;

    ck_assert_int_eq(sc_xfcc_element(x, "spiffe://td/a\r\nX-Evil: 1", el, sizeof el, &len), -1);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(el, "");
    ck_assert_int_eq(sc_xfcc_element(x, "spiffe://td/\x7f", el, sizeof el, NULL), -1);
    X509_free(x);
}
END_TEST

START_TEST(test_xfcc_element_leaves_out_a_san_no_header_can_carry)
{
    /* one hostile SAN must not take the caller's identity away from the app */
    X509 *x = make_cert(NULL, 0, "URI:spiffe://td/ns/a/sa/b");
    X509_EXTENSION *ext = NULL;
    GENERAL_NAMES *gns = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *v = ASN1_IA5STRING_new();
    EVP_PKEY *key = EVP_EC_gen("P-256");
    char el[1024];

    ASN1_STRING_set(v, "a\r\nX-Evil: 1", -1);
    GENERAL_NAME_set0_value(gn, GEN_DNS, v);
    sk_GENERAL_NAME_push(gns, gn);
    ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gns);
    X509_EXTENSION_free(X509_delete_ext(x, X509_get_ext_by_NID(x, NID_subject_alt_name, -1)));
    X509_add_ext(x, ext, -1);
    X509_sign(x, key, EVP_sha256());
    ck_assert_int_eq(sc_xfcc_element(x, "spiffe://td/by", el, sizeof el, NULL), 0);
    ck_assert_ptr_nonnull(strstr(el, ";URI=spiffe://td/ns/a/sa/b"));
    ck_assert_ptr_null(strstr(el, "DNS="));
    ck_assert_ptr_null(strpbrk(el, "\r\n"));
    X509_EXTENSION_free(ext);
    GENERAL_NAMES_free(gns);
    EVP_PKEY_free(key);
    X509_free(x);
}
END_TEST

START_TEST(test_xfcc_element_refuses_small_buffers_and_null)
{
    X509 *peer = load("client.crt");
    char el[1024], hash[65];
    size_t full = 0, n;

    ck_assert_int_eq(
        sc_xfcc_element(peer, "spiffe://cluster.local/ns/bar/sa/server", el, sizeof el, &full), 0);
    for (n = 0; n <= full; n++) { /* full + 1 is the first size that fits */
        char small[1024];

        memset(small, 'Z', sizeof small);
        ck_assert_int_eq(
            sc_xfcc_element(peer, "spiffe://cluster.local/ns/bar/sa/server", small, n, NULL), -1);
        ck_assert_int_eq(small[n], 'Z'); /* never writes past outlen */
    }
    ck_assert_int_eq(
        sc_xfcc_element(peer, "spiffe://cluster.local/ns/bar/sa/server", el, full + 1, NULL), 0);
    ck_assert_int_eq(sc_xfcc_element(NULL, "x", el, sizeof el, NULL), -1);
    ck_assert_int_eq(sc_xfcc_cert_hash(NULL, hash), -1);
    ck_assert_str_eq(hash, "");
    X509_free(peer);
}
END_TEST

/* ---- the parser ---------------------------------------------------------- */

START_TEST(test_xfcc_parse_good_values)
{
    parse_eq("By=a;Hash=b", 1, "0:By=a|0:Hash=b|");
    parse_eq("By=a,By=b;URI=c", 2, "0:By=a|1:By=b|1:URI=c|");
    parse_eq(" By=a ; Hash=b , By=c ", 2, "0:By=a|0:Hash=b|1:By=c|");
    parse_eq("Subject=\"a\\\"b,c;d=e\"", 1, "0:Subject=a\"b,c;d=e(q)|");
    parse_eq("URI=;DNS=x", 1, "0:URI=|0:DNS=x|");
    parse_eq("Subject=\"\"", 1, "0:Subject=(q)|");
    parse_eq("Cert=\"-----BEGIN%20CERTIFICATE-----%0A\"", 1,
             "0:Cert=-----BEGIN%20CERTIFICATE-----%0A(q)|");
    parse_eq("x-y_z=1", 1, "0:x-y_z=1|");
    parse_eq("", 0, "");
    parse_eq("  \t ", 0, "");
}
END_TEST

START_TEST(test_xfcc_parse_refuses_malformed_values)
{
    static const char *const bad[] = {
        "By", /* no = */
        "=a", /* no key */
        "By=a;", /* dangling ; */
        "By=a,", /* dangling , */
        "By=a,,By=b", /* empty element */
        "By=a;;Hash=b", /* empty pair */
        ",By=a",        "By=\"a", /* unterminated quote */
        "By=\"a\\", /* dangling escape */
        "By=a\"b", /* quote inside a token */
        "By=a=b", /* = inside a token */
        "By=a\\b", /* backslash inside a token */
        "By=\"a\"b", /* text after a quoted value */
        "By=a\r\nX: y", /* control characters */
        "By=\"a\x01\"", "By=\"a\\\x01\"", "B y=a", "By:a", "By=a\x7f",
    };
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(sc_xfcc_parse(bad[i], strlen(bad[i]), NULL, NULL) == -1, "accepted %s",
                      bad[i]);
    }
}
END_TEST

static int stop_at_second(void *arg, size_t element, const char *key, size_t klen,
                          const char *value, size_t vlen, int quoted)
{
    int *n = arg;

    (void)element, (void)key, (void)klen, (void)value, (void)vlen, (void)quoted;
    return ++*n >= 2 ? -1 : 0;
}

START_TEST(test_xfcc_parse_callback_can_stop)
{
    int n = 0;

    ck_assert_int_eq(sc_xfcc_parse("a=1;b=2;c=3", 11, stop_at_second, &n), -1);
    ck_assert_int_eq(n, 2);
}
END_TEST

START_TEST(test_xfcc_parse_never_reads_past_len)
{
    /* a valid prefix followed by bytes that would be invalid */
    ck_assert_int_eq(sc_xfcc_parse("By=a;\"", 4, NULL, NULL), 1);
    ck_assert_int_eq(sc_xfcc_parse("By=\"a\"XYZ", 6, NULL, NULL), 1);
    ck_assert_int_eq(sc_xfcc_parse("By=\"a\"", 5, NULL, NULL), -1);
}
END_TEST

START_TEST(test_xfcc_unquote)
{
    char out[16];

    ck_assert_int_eq(sc_xfcc_unquote("a\\\"b\\\\c", 7, out, sizeof out), 5);
    ck_assert_str_eq(out, "a\"b\\c");
    ck_assert_int_eq(sc_xfcc_unquote("", 0, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(sc_xfcc_unquote("abcdef", 6, out, 6), -1);
    ck_assert_int_eq(sc_xfcc_unquote("abcdef", 6, out, 7), 6);
    ck_assert_int_eq(sc_xfcc_unquote("abc", 3, out, 0), -1);
}
END_TEST

/* ---- modes and forwarding ----------------------------------------------- */

START_TEST(test_xfcc_action_per_mode)
{
    ck_assert_int_eq(sc_xfcc_action(SC_XFCC_SANITIZE, 1), SC_XFCC_REMOVE);
    ck_assert_int_eq(sc_xfcc_action(SC_XFCC_SANITIZE, 0), SC_XFCC_REMOVE);
    ck_assert_int_eq(sc_xfcc_action(SC_XFCC_FORWARD_ONLY, 1), SC_XFCC_KEEP);
    ck_assert_int_eq(sc_xfcc_action(SC_XFCC_FORWARD_ONLY, 0), SC_XFCC_REMOVE);
    ck_assert_int_eq(sc_xfcc_action(SC_XFCC_APPEND_FORWARD, 1), SC_XFCC_APPEND);
    ck_assert_int_eq(sc_xfcc_action(SC_XFCC_APPEND_FORWARD, 0), SC_XFCC_REMOVE);
    ck_assert_int_eq(sc_xfcc_action(SC_XFCC_SANITIZE_SET, 1), SC_XFCC_SET);
    ck_assert_int_eq(sc_xfcc_action(SC_XFCC_SANITIZE_SET, 0), SC_XFCC_REMOVE);
    ck_assert_int_eq(sc_xfcc_action(SC_XFCC_ALWAYS_FORWARD_ONLY, 0), SC_XFCC_KEEP);
    ck_assert_int_eq(sc_xfcc_action((enum sc_xfcc_mode)99, 1), SC_XFCC_REMOVE);
}
END_TEST

START_TEST(test_xfcc_mode_names)
{
    enum sc_xfcc_mode m = SC_XFCC_SANITIZE;
    int i;

    for (i = 0; i < SC_XFCC_MODE_N; i++) {
        ck_assert_int_eq(sc_xfcc_mode_parse(sc_xfcc_mode_name((enum sc_xfcc_mode)i), &m), 0);
        ck_assert_int_eq(m, i);
    }
    ck_assert_str_eq(sc_xfcc_mode_name(SC_XFCC_SANITIZE_SET), "SANITIZE_SET");
    ck_assert_int_eq(sc_xfcc_mode_parse("sanitize_set", &m), -1);
    ck_assert_int_eq(sc_xfcc_mode_parse("", &m), -1);
    ck_assert_int_eq(sc_xfcc_mode_parse(NULL, &m), -1);
    ck_assert_str_eq(sc_xfcc_mode_name(SC_XFCC_MODE_N), "unknown");
}
END_TEST

static int fwd(enum sc_xfcc_action act, const char *const *in, size_t n, const char *el, char *out,
               size_t outlen)
{
    struct sc_xfcc_part parts[8];
    size_t i, len = 77;
    int r;

    for (i = 0; i < n; i++) {
        parts[i].p = in[i];
        parts[i].n = strlen(in[i]);
    }
    r = sc_xfcc_forward_value(act, parts, n, el, out, outlen, &len);
    if (r == 1) {
        ck_assert_uint_eq(len, strlen(out));
    } else {
        ck_assert_uint_eq(len, 0);
    }
    return r;
}

START_TEST(test_xfcc_forward_value_per_action)
{
    static const char *const two[] = {"By=a;URI=x", " By=b "};
    static const char *const forged[] = {
        "By=spiffe://evil;URI=spiffe://cluster.local/ns/x/sa/admin"};
    char out[256];

    ck_assert_int_eq(fwd(SC_XFCC_REMOVE, two, 2, "By=me", out, sizeof out), 0);
    ck_assert_int_eq(fwd(SC_XFCC_KEEP, two, 2, "By=me", out, sizeof out), 1);
    ck_assert_str_eq(out, "By=a;URI=x,By=b");
    ck_assert_int_eq(fwd(SC_XFCC_KEEP, NULL, 0, "By=me", out, sizeof out), 0);
    ck_assert_int_eq(fwd(SC_XFCC_SET, forged, 1, "By=me;URI=peer", out, sizeof out), 1);
    ck_assert_str_eq(out, "By=me;URI=peer");
    ck_assert_int_eq(fwd(SC_XFCC_SET, forged, 1, NULL, out, sizeof out), 0);
    ck_assert_int_eq(fwd(SC_XFCC_APPEND, two, 2, "By=me", out, sizeof out), 1);
    ck_assert_str_eq(out, "By=a;URI=x,By=b,By=me");
    ck_assert_int_eq(fwd(SC_XFCC_APPEND, NULL, 0, "By=me", out, sizeof out), 1);
    ck_assert_str_eq(out, "By=me");
}
END_TEST

START_TEST(test_xfcc_append_drops_a_malformed_prefix)
{
    /* an open quote would swallow our element in a naive reader */
    static const char *const open_quote[] = {"By=x;Subject=\"abc"};
    static const char *const mixed[] = {"By=a", "Hash=\"unterminated"};
    static const char *const empty[] = {"", "  "};
    char out[256];

    ck_assert_int_eq(fwd(SC_XFCC_APPEND, open_quote, 1, "By=me;URI=peer", out, sizeof out), 1);
    ck_assert_str_eq(out, "By=me;URI=peer");
    ck_assert_int_eq(fwd(SC_XFCC_APPEND, mixed, 2, "By=me", out, sizeof out), 1);
    ck_assert_str_eq(out, "By=me");
    ck_assert_int_eq(fwd(SC_XFCC_APPEND, empty, 2, "By=me", out, sizeof out), 1);
    ck_assert_str_eq(out, "By=me");
    ck_assert_int_eq(fwd(SC_XFCC_KEEP, empty, 2, "By=me", out, sizeof out), 0);
}
END_TEST

START_TEST(test_xfcc_forward_value_refuses_small_buffers)
{
    static const char *const one[] = {"By=a"};
    char out[16];

    memset(out, 'Z', sizeof out);
    ck_assert_int_eq(fwd(SC_XFCC_APPEND, one, 1, "By=me", out, 10), -1); /* needs 11 */
    ck_assert_int_eq(out[10], 'Z');
    ck_assert_int_eq(fwd(SC_XFCC_APPEND, one, 1, "By=me", out, 11), 1);
    ck_assert_str_eq(out, "By=a,By=me");
    ck_assert_int_eq(fwd(SC_XFCC_SET, one, 1, "By=me", out, 0), -1);
}
END_TEST

static Suite *xfcc_suite(void)
{
    Suite *s = suite_create("xfcc");
    TCase *tc;

    tc = tcase_create("sc_xfcc_element");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, make_certs, remove_certs);
    tcase_add_test(tc, test_xfcc_element_for_a_mesh_client);
    tcase_add_test(tc, test_xfcc_element_parses_back);
    tcase_add_test(tc, test_xfcc_element_without_by);
    tcase_add_test(tc, test_xfcc_element_quotes_awkward_values);
    tcase_add_test(tc, test_xfcc_element_empty_subject_and_no_uri);
    tcase_add_test(tc, test_xfcc_element_refuses_control_characters);
    tcase_add_test(tc, test_xfcc_element_leaves_out_a_san_no_header_can_carry);
    tcase_add_test(tc, test_xfcc_element_refuses_small_buffers_and_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_xfcc_parse");
    tcase_add_test(tc, test_xfcc_parse_good_values);
    tcase_add_test(tc, test_xfcc_parse_refuses_malformed_values);
    tcase_add_test(tc, test_xfcc_parse_callback_can_stop);
    tcase_add_test(tc, test_xfcc_parse_never_reads_past_len);
    tcase_add_test(tc, test_xfcc_unquote);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_xfcc_action");
    tcase_add_test(tc, test_xfcc_action_per_mode);
    tcase_add_test(tc, test_xfcc_mode_names);
    tcase_add_test(tc, test_xfcc_forward_value_per_action);
    tcase_add_test(tc, test_xfcc_append_drops_a_malformed_prefix);
    tcase_add_test(tc, test_xfcc_forward_value_refuses_small_buffers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(xfcc_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
