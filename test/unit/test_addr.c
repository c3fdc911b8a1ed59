/* Unit tests for common/addr: "host:port" / "[v6]:port" parsing (numeric
 * hosts only), printing, comparison, CIDR parsing and containment. */

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"

/* ---- helpers ------------------------------------------------------------ */

static struct sc_addr addr_of(const char *s)
{
    struct sc_addr a;
    const char *why = NULL;

    ck_assert_msg(sc_addr_parse(s, &a, &why) == 0, "%s: %s", s, why != NULL ? why : "?");
    return a;
}

static struct sc_addr host_of(const char *host)
{
    struct sc_addr a;

    ck_assert_msg(sc_addr_from_host(host, 1, &a) == 0, "%s", host);
    return a;
}

static struct sc_cidr cidr_of(const char *s)
{
    struct sc_cidr c;
    const char *why = NULL;

    ck_assert_msg(sc_cidr_parse(s, &c, &why) == 0, "%s: %s", s, why != NULL ? why : "?");
    return c;
}

static int contains(const char *cidr, const char *host)
{
    struct sc_cidr c = cidr_of(cidr);
    struct sc_addr a = host_of(host);

    return sc_cidr_contains(&c, &a);
}

/* ---- sc_addr_parse ------------------------------------------------------- */

START_TEST(test_addr_parse_accepts_ipv4)
{
    struct sc_addr a = addr_of("10.1.2.3:8080");
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a.ss;

    ck_assert_int_eq(a.ss.ss_family, AF_INET);
    ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in));
    ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0x0a010203u);
    ck_assert_int_eq(ntohs(sin->sin_port), 8080);
    ck_assert_int_eq(sc_addr_port(&a), 8080);
}
END_TEST

START_TEST(test_addr_parse_accepts_bracketed_ipv6)
{
    struct sc_addr a = addr_of("[2001:db8::1]:443");
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a.ss;
    struct in6_addr want;

    ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", &want), 1);
    ck_assert_int_eq(a.ss.ss_family, AF_INET6);
    ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in6));
    ck_assert_mem_eq(&sin6->sin6_addr, &want, 16);
    ck_assert_int_eq(sc_addr_port(&a), 443);

    a = addr_of("[::]:15006");
    ck_assert_int_eq(a.ss.ss_family, AF_INET6);
    ck_assert_int_eq(sc_addr_port(&a), 15006);
    a = addr_of("[::ffff:10.0.0.1]:80"); /* v4-mapped stays IPv6 */
    ck_assert_int_eq(a.ss.ss_family, AF_INET6);
}
END_TEST

START_TEST(test_addr_parse_wildcards_mean_any_ipv4)
{
    static const char *const forms[] = {"*:80", ":80"};

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct sc_addr a = addr_of(forms[i]);
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a.ss;

        ck_assert_int_eq(a.ss.ss_family, AF_INET);
        ck_assert_uint_eq(sin->sin_addr.s_addr, htonl(INADDR_ANY));
        ck_assert_int_eq(sc_addr_port(&a), 80);
    }
}
END_TEST

START_TEST(test_addr_parse_accepts_port_range_ends)
{
    ck_assert_int_eq(sc_addr_port((struct sc_addr[]){addr_of("127.0.0.1:1")}), 1);
    ck_assert_int_eq(sc_addr_port((struct sc_addr[]){addr_of("127.0.0.1:65535")}), 65535);
    ck_assert_int_eq(sc_addr_port((struct sc_addr[]){addr_of("[::1]:65535")}), 65535);
}
END_TEST

/* Each bad input, and a word the reason must contain. */
static const struct {
    const char *in;
    const char *why;
} bad_addrs[] = {
    {"", "empty"},
    {"10.0.0.1", "host:port"}, /* missing port */
    {"10.0.0.1:", "port"}, /* empty port */
    {"10.0.0.1:0", "port"},
    {"10.0.0.1:65536", "port"},
    {"10.0.0.1:99999999999999999999", "port"},
    {"10.0.0.1:-1", "port"},
    {"10.0.0.1:80x", "port"},
    {"10.0.0.1:0x50", "port"},
    {"10.0.0.1:80 ", "port"},
    {"10.0.0.1: 80", "port"}, /* strtol would skip the space */
    {"10.0.0.1:+80", "port"}, /* ... and take the sign */
    {"10.0.0.1:\t80", "port"},
    {"junk", "host:port"},
    {"junk:80", "numeric"},
    {"localhost:80", "numeric"}, /* hostnames are rejected */
    {"example.com:443", "numeric"},
    {"10.0.0.256:80", "numeric"},
    {"10.0.0:80", "numeric"},
    {"1.2.3.4.5:80", "numeric"},
    {"::1:80", "brackets"}, /* unbracketed IPv6 */
    {"2001:db8::1:443", "brackets"},
    {"::80", "brackets"},
    {"[::1]", "[ipv6]:port"}, /* bracketed, no port */
    {"[::1]80", "[ipv6]:port"},
    {"[::1", "[ipv6]:port"},
    {"[::1]:", "port"},
    {"[::1]:0", "port"},
    {"[::1]:65536", "port"},
    {"[]:80", "numeric"},
    {"[::g]:80", "numeric"},
    {"[fe80::1%lo]:80", "numeric"}, /* no zone ids */
    {"[10.0.0.1]:80", "IPv6"}, /* brackets are for IPv6 only */
    {"[localhost]:80", "numeric"},
    {"**:80", "numeric"},
};

START_TEST(test_addr_parse_refuses_bad_input)
{
    struct sc_addr a;
    const char *why = NULL;

    ck_assert_msg(sc_addr_parse(bad_addrs[_i].in, &a, &why) == -1, "accepted '%s'",
                  bad_addrs[_i].in);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, bad_addrs[_i].why) != NULL, "'%s': reason '%s' lacks '%s'",
                  bad_addrs[_i].in, why, bad_addrs[_i].why);
}
END_TEST

START_TEST(test_addr_parse_refuses_null_and_long_hosts)
{
    struct sc_addr a;
    const char *why = NULL;
    char longhost[300];

    ck_assert_int_eq(sc_addr_parse(NULL, &a, &why), -1);
    ck_assert_str_eq(why, "empty address");

    memset(longhost, '1', sizeof(longhost));
    memcpy(longhost + sizeof(longhost) - 4, ":80", 4);
    why = NULL;
    ck_assert_int_eq(sc_addr_parse(longhost, &a, &why), -1);
    ck_assert_str_eq(why, "host too long");

    longhost[0] = '[';
    memcpy(longhost + sizeof(longhost) - 5, "]:80", 5);
    why = NULL;
    ck_assert_int_eq(sc_addr_parse(longhost, &a, &why), -1);
    ck_assert_str_eq(why, "host too long");
}
END_TEST

/* ---- sc_addr_from_host, ports -------------------------------------------- */

START_TEST(test_addr_from_host_accepts_numeric_hosts)
{
    struct sc_addr a;

    ck_assert_int_eq(sc_addr_from_host("127.0.0.1", 8080, &a), 0);
    ck_assert_int_eq(a.ss.ss_family, AF_INET);
    ck_assert_int_eq(sc_addr_port(&a), 8080);
    ck_assert_int_eq(sc_addr_from_host("::1", 8080, &a), 0);
    ck_assert_int_eq(a.ss.ss_family, AF_INET6);
    ck_assert_int_eq(sc_addr_port(&a), 8080);
}
END_TEST

START_TEST(test_addr_from_host_refuses_names_and_brackets)
{
    struct sc_addr a;

    ck_assert_int_eq(sc_addr_from_host("localhost", 80, &a), -1);
    ck_assert_int_eq(sc_addr_from_host("[::1]", 80, &a), -1);
    ck_assert_int_eq(sc_addr_from_host("10.0.0.1:80", 80, &a), -1);
    ck_assert_int_eq(sc_addr_from_host("", 80, &a), -1);
}
END_TEST

START_TEST(test_addr_set_port_changes_only_the_port)
{
    struct sc_addr a = addr_of("10.0.0.1:80");
    struct sc_addr b = addr_of("10.0.0.1:9090");
    struct sc_addr c = addr_of("[fd77::2]:80");
    struct sc_addr d = addr_of("[fd77::2]:9090");
    struct sc_addr none;

    sc_addr_set_port(&a, 9090);
    ck_assert(sc_addr_equal(&a, &b));
    sc_addr_set_port(&c, 9090);
    ck_assert(sc_addr_equal(&c, &d));

    memset(&none, 0, sizeof(none)); /* AF_UNSPEC: no port, no crash */
    sc_addr_set_port(&none, 80);
    ck_assert_int_eq(sc_addr_port(&none), 0);
}
END_TEST

/* ---- sc_addr_str ----------------------------------------------------------- */

START_TEST(test_addr_str_round_trips)
{
    static const char *const canon[] = {
        "10.1.2.3:8080",       "0.0.0.0:1",  "255.255.255.255:65535", "[::1]:443",
        "[2001:db8::1]:15001", "[::]:15006", "[fd77::2]:8080",        "[::ffff:10.0.0.1]:80",
    };
    char buf[SC_ADDR_STRLEN];

    for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
        struct sc_addr a = addr_of(canon[i]);
        struct sc_addr b;

        ck_assert_str_eq(sc_addr_str(&a, buf, sizeof(buf)), canon[i]);
        b = addr_of(buf);
        ck_assert_msg(sc_addr_equal(&a, &b), "%s", canon[i]);
    }
}
END_TEST

START_TEST(test_addr_str_canonicalises)
{
    char buf[SC_ADDR_STRLEN];
    struct sc_addr a = addr_of("[2001:DB8:0:0::1]:80");

    ck_assert_str_eq(sc_addr_str(&a, buf, sizeof(buf)), "[2001:db8::1]:80");
    a = addr_of("*:80");
    ck_assert_str_eq(sc_addr_str(&a, buf, sizeof(buf)), "0.0.0.0:80");
    a = addr_of("10.0.0.1:080");
    ck_assert_str_eq(sc_addr_str(&a, buf, sizeof(buf)), "10.0.0.1:80");
}
END_TEST

START_TEST(test_addr_str_longest_fits)
{
    char buf[SC_ADDR_STRLEN];
    const char *longest = "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535";
    struct sc_addr a = addr_of(longest);

    sc_addr_str(&a, buf, sizeof(buf));
    ck_assert_uint_lt(strlen(buf), sizeof(buf) - 1);
    ck_assert_str_eq(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}
END_TEST

START_TEST(test_addr_str_truncates_safely)
{
    char buf[8];
    struct sc_addr a = addr_of("[2001:db8::1]:15001");

    memset(buf, 'X', sizeof(buf));
    ck_assert_ptr_eq(sc_addr_str(&a, buf, sizeof(buf)), buf);
    ck_assert_uint_eq(strlen(buf), sizeof(buf) - 1);
    ck_assert_str_eq(buf, "[2001:d");
}
END_TEST

START_TEST(test_addr_str_unknown_family_is_dash)
{
    char buf[SC_ADDR_STRLEN];
    struct sc_addr a;
    struct sockaddr_un un;

    memset(&a, 0, sizeof(a));
    ck_assert_str_eq(sc_addr_str(&a, buf, sizeof(buf)), "-");
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    ck_assert_str_eq(sc_sockaddr_str((const struct sockaddr *)&un, buf, sizeof(buf)), "-");
}
END_TEST

/* ---- sc_addr_equal --------------------------------------------------------- */

START_TEST(test_addr_equal_matches_same_address_and_port)
{
    struct sc_addr a = addr_of("10.0.0.1:80"), b = addr_of("10.0.0.1:80");
    struct sc_addr c = addr_of("[::1]:80"), d = addr_of("[0:0::1]:80");

    ck_assert_int_eq(sc_addr_equal(&a, &b), 1);
    ck_assert_int_eq(sc_addr_equal(&c, &d), 1);
    /* Fields outside address and port do not matter. */
    ((struct sockaddr_in6 *)&d.ss)->sin6_flowinfo = htonl(7);
    ck_assert_int_eq(sc_addr_equal(&c, &d), 1);
}
END_TEST

START_TEST(test_addr_equal_refuses_differences)
{
    struct sc_addr v4 = addr_of("10.0.0.1:80");
    struct sc_addr v4port = addr_of("10.0.0.1:81");
    struct sc_addr v4other = addr_of("10.0.0.2:80");
    struct sc_addr mapped = addr_of("[::ffff:10.0.0.1]:80");
    struct sc_addr v6 = addr_of("[fd77::2]:80");
    struct sc_addr v6other = addr_of("[fd77::3]:80");
    struct sc_addr v6port = addr_of("[fd77::2]:8080");
    struct sc_addr u1, u2;

    ck_assert_int_eq(sc_addr_equal(&v4, &v4port), 0);
    ck_assert_int_eq(sc_addr_equal(&v4, &v4other), 0);
    ck_assert_int_eq(sc_addr_equal(&v4, &mapped), 0); /* families differ */
    ck_assert_int_eq(sc_addr_equal(&mapped, &v4), 0);
    ck_assert_int_eq(sc_addr_equal(&v6, &v6other), 0);
    ck_assert_int_eq(sc_addr_equal(&v6, &v6port), 0);
    memset(&u1, 0, sizeof(u1));
    memset(&u2, 0, sizeof(u2));
    ck_assert_int_eq(sc_addr_equal(&u1, &u2), 0); /* AF_UNSPEC never equal */
}
END_TEST

/* ---- sc_cidr_parse --------------------------------------------------------- */

START_TEST(test_cidr_parse_accepts_ipv4)
{
    struct sc_cidr c = cidr_of("10.96.12.0/24");
    static const unsigned char want[4] = {10, 96, 12, 0};

    ck_assert_int_eq(c.family, AF_INET);
    ck_assert_int_eq(c.prefix, 24);
    ck_assert_mem_eq(c.bytes, want, 4);
}
END_TEST

START_TEST(test_cidr_parse_accepts_ipv6)
{
    struct sc_cidr c = cidr_of("fd00::/8");
    unsigned char want[16] = {0xfd};

    ck_assert_int_eq(c.family, AF_INET6);
    ck_assert_int_eq(c.prefix, 8);
    ck_assert_mem_eq(c.bytes, want, 16);
    c = cidr_of("2001:db8::/32");
    ck_assert_int_eq(c.prefix, 32);
    c = cidr_of("::/128");
    ck_assert_int_eq(c.prefix, 128);
}
END_TEST

START_TEST(test_cidr_parse_bare_address_is_host_prefix)
{
    struct sc_cidr c = cidr_of("10.77.0.2");
    static const unsigned char want4[4] = {10, 77, 0, 2};
    unsigned char want6[16] = {0xfd, 0x77};

    ck_assert_int_eq(c.family, AF_INET);
    ck_assert_int_eq(c.prefix, 32);
    ck_assert_mem_eq(c.bytes, want4, 4);
    c = cidr_of("fd77::2");
    want6[15] = 2;
    ck_assert_int_eq(c.family, AF_INET6);
    ck_assert_int_eq(c.prefix, 128);
    ck_assert_mem_eq(c.bytes, want6, 16);
}
END_TEST

START_TEST(test_cidr_parse_zeroes_host_bits)
{
    struct sc_cidr c = cidr_of("10.96.12.77/20");
    static const unsigned char want4[4] = {10, 96, 0, 0};
    unsigned char want6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x80};

    ck_assert_int_eq(c.prefix, 20);
    ck_assert_mem_eq(c.bytes, want4, 4);
    c = cidr_of("255.255.255.255/1");
    ck_assert_uint_eq(c.bytes[0], 0x80);
    ck_assert_uint_eq(c.bytes[1] | c.bytes[2] | c.bytes[3], 0);
    c = cidr_of("2001:db8:12ff:ffff::1/41");
    ck_assert_mem_eq(c.bytes, want6, 16);
    c = cidr_of("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127");
    ck_assert_uint_eq(c.bytes[15], 0xfe);
    ck_assert_uint_eq(c.bytes[14], 0xff);
}
END_TEST

START_TEST(test_cidr_parse_accepts_zero_prefix)
{
    struct sc_cidr c = cidr_of("10.1.2.3/0");
    unsigned char zero[16] = {0};

    ck_assert_int_eq(c.family, AF_INET);
    ck_assert_int_eq(c.prefix, 0);
    ck_assert_mem_eq(c.bytes, zero, 16);
    c = cidr_of("fd00::1/0");
    ck_assert_int_eq(c.family, AF_INET6);
    ck_assert_int_eq(c.prefix, 0);
    ck_assert_mem_eq(c.bytes, zero, 16);
}
END_TEST

static const char *const bad_cidrs[] = {
    "",
    "/8",
    "10.0.0.0/",
    "10.0.0.0/33",
    "10.0.0.0/-1",
    "10.0.0.0/8x",
    "10.0.0.0/8/8",
    "10.0.0.0/ 8",
    "10.0.0.0/+8",
    "10.0.0.0/99999999999999999999",
    "10.0.0/8",
    "10.0.0.256/8",
    "fd00::/129",
    "fd00::/200",
    "[fd00::]/8",
    "example.com/24",
    "localhost",
    "fd00::1%lo/64",
    "junk",
};

START_TEST(test_cidr_parse_refuses_bad_input)
{
    struct sc_cidr c;
    const char *why = NULL;

    ck_assert_msg(sc_cidr_parse(bad_cidrs[_i], &c, &why) == -1, "accepted '%s' (prefix %d)",
                  bad_cidrs[_i], c.prefix);
    ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(test_cidr_parse_refuses_long_input)
{
    struct sc_cidr c;
    const char *why = NULL;
    char s[200];

    memset(s, '1', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    ck_assert_int_eq(sc_cidr_parse(s, &c, &why), -1);
    ck_assert_ptr_nonnull(why);
}
END_TEST

/* ---- sc_cidr_contains ------------------------------------------------------ */

START_TEST(test_cidr_contains_ipv4_boundaries)
{
    ck_assert_int_eq(contains("10.96.12.0/24", "10.96.12.0"), 1);
    ck_assert_int_eq(contains("10.96.12.0/24", "10.96.12.255"), 1);
    ck_assert_int_eq(contains("10.96.12.0/24", "10.96.13.0"), 0);
    ck_assert_int_eq(contains("10.96.12.0/24", "10.96.11.255"), 0);
    /* a prefix that does not end on a byte */
    ck_assert_int_eq(contains("10.96.0.0/20", "10.96.15.255"), 1);
    ck_assert_int_eq(contains("10.96.0.0/20", "10.96.16.0"), 0);
    ck_assert_int_eq(contains("10.96.0.0/20", "10.95.255.255"), 0);
    ck_assert_int_eq(contains("128.0.0.0/1", "255.1.1.1"), 1);
    ck_assert_int_eq(contains("128.0.0.0/1", "127.255.255.255"), 0);
    ck_assert_int_eq(contains("10.0.0.0/31", "10.0.0.1"), 1);
    ck_assert_int_eq(contains("10.0.0.0/31", "10.0.0.2"), 0);
    /* written with host bits: they were zeroed */
    ck_assert_int_eq(contains("10.96.12.77/24", "10.96.12.1"), 1);
}
END_TEST

START_TEST(test_cidr_contains_host_prefix_is_exact)
{
    ck_assert_int_eq(contains("10.77.0.2/32", "10.77.0.2"), 1);
    ck_assert_int_eq(contains("10.77.0.2", "10.77.0.2"), 1);
    ck_assert_int_eq(contains("10.77.0.2/32", "10.77.0.3"), 0);
    ck_assert_int_eq(contains("10.77.0.2/32", "10.77.0.1"), 0);
    ck_assert_int_eq(contains("fd77::2/128", "fd77::2"), 1);
    ck_assert_int_eq(contains("fd77::2/128", "fd77::3"), 0);
    ck_assert_int_eq(contains("fd77::2/128", "fe77::2"), 0);
}
END_TEST

START_TEST(test_cidr_contains_zero_prefix_is_whole_family)
{
    ck_assert_int_eq(contains("0.0.0.0/0", "0.0.0.0"), 1);
    ck_assert_int_eq(contains("0.0.0.0/0", "255.255.255.255"), 1);
    ck_assert_int_eq(contains("0.0.0.0/0", "::1"), 0);
    ck_assert_int_eq(contains("::/0", "::1"), 1);
    ck_assert_int_eq(contains("::/0", "ffff::ffff"), 1);
    ck_assert_int_eq(contains("::/0", "10.0.0.1"), 0);
}
END_TEST

START_TEST(test_cidr_contains_ipv6_boundaries)
{
    ck_assert_int_eq(contains("fd00::/8", "fdff:ffff::1"), 1);
    ck_assert_int_eq(contains("fd00::/8", "fc00::1"), 0);
    ck_assert_int_eq(contains("fd00::/8", "fe00::"), 0);
    ck_assert_int_eq(contains("2001:db8:1:2::/64", "2001:db8:1:2:ffff:ffff:ffff:ffff"), 1);
    ck_assert_int_eq(contains("2001:db8:1:2::/64", "2001:db8:1:3::"), 0);
    ck_assert_int_eq(contains("2001:db8::/33", "2001:db8:7fff::1"), 1);
    ck_assert_int_eq(contains("2001:db8::/33", "2001:db8:8000::"), 0);
    ck_assert_int_eq(contains("::/127", "::1"), 1);
    ck_assert_int_eq(contains("::/127", "::2"), 0);
}
END_TEST

START_TEST(test_cidr_contains_refuses_other_family)
{
    /* An IPv4-mapped IPv6 address is not inside an IPv4 prefix, nor the
     * reverse: routes are written per family. */
    ck_assert_int_eq(contains("10.0.0.0/8", "::ffff:10.0.0.1"), 0);
    ck_assert_int_eq(contains("::ffff:10.0.0.0/104", "10.0.0.1"), 0);
    ck_assert_int_eq(contains("::ffff:10.0.0.0/104", "::ffff:10.0.0.1"), 1);
}
END_TEST

START_TEST(test_cidr_contains_refuses_unset_address)
{
    struct sc_cidr c = cidr_of("0.0.0.0/0");
    struct sc_addr a;

    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(sc_cidr_contains(&c, &a), 0);
}
END_TEST

static Suite *addr_suite(void)
{
    Suite *s = suite_create("addr");
    TCase *tc = tcase_create("sc_addr_parse");

    tcase_add_test(tc, test_addr_parse_accepts_ipv4);
    tcase_add_test(tc, test_addr_parse_accepts_bracketed_ipv6);
    tcase_add_test(tc, test_addr_parse_wildcards_mean_any_ipv4);
    tcase_add_test(tc, test_addr_parse_accepts_port_range_ends);
    tcase_add_loop_test(tc, test_addr_parse_refuses_bad_input, 0,
                        (int)(sizeof(bad_addrs) / sizeof(bad_addrs[0])));
    tcase_add_test(tc, test_addr_parse_refuses_null_and_long_hosts);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_addr_from_host");
    tcase_add_test(tc, test_addr_from_host_accepts_numeric_hosts);
    tcase_add_test(tc, test_addr_from_host_refuses_names_and_brackets);
    tcase_add_test(tc, test_addr_set_port_changes_only_the_port);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_addr_str");
    tcase_add_test(tc, test_addr_str_round_trips);
    tcase_add_test(tc, test_addr_str_canonicalises);
    tcase_add_test(tc, test_addr_str_longest_fits);
    tcase_add_test(tc, test_addr_str_truncates_safely);
    tcase_add_test(tc, test_addr_str_unknown_family_is_dash);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_addr_equal");
    tcase_add_test(tc, test_addr_equal_matches_same_address_and_port);
    tcase_add_test(tc, test_addr_equal_refuses_differences);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_cidr_parse");
    tcase_add_test(tc, test_cidr_parse_accepts_ipv4);
    tcase_add_test(tc, test_cidr_parse_accepts_ipv6);
    tcase_add_test(tc, test_cidr_parse_bare_address_is_host_prefix);
    tcase_add_test(tc, test_cidr_parse_zeroes_host_bits);
    tcase_add_test(tc, test_cidr_parse_accepts_zero_prefix);
    tcase_add_loop_test(tc, test_cidr_parse_refuses_bad_input, 0,
                        (int)(sizeof(bad_cidrs) / sizeof(bad_cidrs[0])));
    tcase_add_test(tc, test_cidr_parse_refuses_long_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_cidr_contains");
    tcase_add_test(tc, test_cidr_contains_ipv4_boundaries);
    tcase_add_test(tc, test_cidr_contains_host_prefix_is_exact);
    tcase_add_test(tc, test_cidr_contains_zero_prefix_is_whole_family);
    tcase_add_test(tc, test_cidr_contains_ipv6_boundaries);
    tcase_add_test(tc, test_cidr_contains_refuses_other_family);
    tcase_add_test(tc, test_cidr_contains_refuses_unset_address);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(addr_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
