/* Unit tests for common/sdswire: gRPC length-prefixed message framing. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sdswire.h"

/* Feeds buf in chunks of `step` bytes (0 = all at once) and collects the
 * messages into out (concatenated, each prefixed by one length byte for
 * comparison).  Returns the number of messages, or -1 on a decode error. */
static int feed_all(struct sc_sdswire_dec *d, const uint8_t *buf, size_t len, size_t step,
                    uint8_t *out, size_t *outlen, struct sc_err *err)
{
    size_t off = 0, o = 0;
    int n = 0;

    while (off < len) {
        size_t chunk = step == 0 || step > len - off ? len - off : step;
        size_t coff = 0;

        while (coff < chunk) {
            const uint8_t *msg;
            size_t used, mlen;
            enum sc_sdswire_status st =
                sc_sdswire_dec_feed(d, buf + off + coff, chunk - coff, &used, &msg, &mlen, err);

            if (st == SC_SDSWIRE_ERROR) {
                return -1;
            }
            coff += used;
            if (st == SC_SDSWIRE_MESSAGE) {
                ck_assert_ptr_nonnull(msg);
                out[o++] = (uint8_t)mlen;
                memcpy(out + o, msg, mlen);
                o += mlen;
                n++;
            } else {
                ck_assert_uint_eq(coff, chunk);
            }
        }
        off += chunk;
    }
    *outlen = o;
    return n;
}

/* ---- prefix / encode ---------------------------------------------------- */

START_TEST(test_sdswire_prefix_is_flag_and_big_endian_length)
{
    uint8_t p[5];

    ck_assert_int_eq(sc_sdswire_prefix(p, 0x01020304u), 0);
    ck_assert_uint_eq(p[0], 0);
    ck_assert_uint_eq(p[1], 1);
    ck_assert_uint_eq(p[2], 2);
    ck_assert_uint_eq(p[3], 3);
    ck_assert_uint_eq(p[4], 4);
    ck_assert_int_eq(sc_sdswire_prefix(p, 0), 0);
    ck_assert_mem_eq(p, "\0\0\0\0\0", 5);
}
END_TEST

START_TEST(test_sdswire_prefix_refuses_over_32_bits)
{
    uint8_t p[5];

    ck_assert_int_eq(sc_sdswire_prefix(p, (size_t)UINT32_MAX + 1), -1);
}
END_TEST

START_TEST(test_sdswire_encode_frames_message)
{
    uint8_t *out = NULL;
    size_t len = 0;

    ck_assert_int_eq(sc_sdswire_encode((const uint8_t *)"hello", 5, &out, &len), 0);
    ck_assert_uint_eq(len, 10);
    ck_assert_mem_eq(out, "\0\0\0\0\5hello", 10);
    free(out);
    ck_assert_int_eq(sc_sdswire_encode(NULL, 0, &out, &len), 0);
    ck_assert_uint_eq(len, 5);
    free(out);
}
END_TEST

START_TEST(test_sdswire_encode_refuses_over_32_bits)
{
    uint8_t *out = (uint8_t *)1;
    size_t len = 7;

    ck_assert_int_eq(sc_sdswire_encode((const uint8_t *)"x", (size_t)UINT32_MAX + 1, &out, &len),
                     -1);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(len, 0);
}
END_TEST

/* ---- decoder ------------------------------------------------------------ */

static const uint8_t three[] = "\0\0\0\0\3abc"
                               "\0\0\0\0\0"
                               "\0\0\0\0\5hello";
#define THREE_LEN (sizeof(three) - 1)

START_TEST(test_sdswire_dec_yields_messages_at_every_split)
{
    /* _i is the chunk size: 1 byte at a time up to the whole buffer */
    struct sc_sdswire_dec d;
    struct sc_err err;
    uint8_t out[64];
    size_t outlen = 0;

    sc_sdswire_dec_init(&d, 0);
    ck_assert_int_eq(feed_all(&d, three, THREE_LEN, (size_t)_i, out, &outlen, &err), 3);
    ck_assert_uint_eq(outlen, 3 + 3 + 0 + 5);
    ck_assert_mem_eq(out, "\3abc\0\5hello", outlen);
    ck_assert_int_eq(sc_sdswire_dec_partial(&d), 0);
    sc_sdswire_dec_cleanup(&d);
}
END_TEST

START_TEST(test_sdswire_dec_yields_messages_split_at_every_boundary)
{
    /* two chunks, split at byte _i */
    struct sc_sdswire_dec d;
    struct sc_err err;
    uint8_t out[64];
    size_t o1 = 0, o2 = 0;
    int n1, n2;

    sc_sdswire_dec_init(&d, 0);
    n1 = feed_all(&d, three, (size_t)_i, 0, out, &o1, &err);
    n2 = feed_all(&d, three + _i, THREE_LEN - (size_t)_i, 0, out + o1, &o2, &err);
    ck_assert_int_eq(n1 + n2, 3);
    ck_assert_mem_eq(out, "\3abc\0\5hello", o1 + o2);
    sc_sdswire_dec_cleanup(&d);
}
END_TEST

START_TEST(test_sdswire_dec_reports_partial_message)
{
    struct sc_sdswire_dec d;
    struct sc_err err;
    uint8_t out[64];
    size_t outlen;

    sc_sdswire_dec_init(&d, 0);
    ck_assert_int_eq(sc_sdswire_dec_partial(&d), 0);
    ck_assert_int_eq(feed_all(&d, three, 2, 0, out, &outlen, &err), 0);
    ck_assert_int_eq(sc_sdswire_dec_partial(&d), 1); /* inside the prefix */
    ck_assert_int_eq(feed_all(&d, three + 2, 5, 0, out, &outlen, &err), 0);
    ck_assert_int_eq(sc_sdswire_dec_partial(&d), 1); /* inside the body */
    ck_assert_int_eq(feed_all(&d, three + 7, 1, 0, out, &outlen, &err), 1);
    ck_assert_int_eq(sc_sdswire_dec_partial(&d), 0);
    sc_sdswire_dec_cleanup(&d);
}
END_TEST

START_TEST(test_sdswire_dec_refuses_compressed_flag)
{
    struct sc_sdswire_dec d;
    struct sc_err err;
    uint8_t out[64];
    size_t outlen;

    sc_sdswire_dec_init(&d, 0);
    ck_assert_int_eq(feed_all(&d, (const uint8_t *)"\1\0\0\0\1x", 6, 0, out, &outlen, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "compressed"));
    sc_sdswire_dec_cleanup(&d);
}
END_TEST

START_TEST(test_sdswire_dec_refuses_invalid_flag)
{
    struct sc_sdswire_dec d;
    struct sc_err err;
    uint8_t out[64];
    size_t outlen;

    sc_sdswire_dec_init(&d, 0);
    ck_assert_int_eq(feed_all(&d, (const uint8_t *)"\x80\0\0\0\1x", 6, 1, out, &outlen, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "invalid compressed flag 0x80"));
    sc_sdswire_dec_cleanup(&d);
}
END_TEST

START_TEST(test_sdswire_dec_refuses_oversize_before_reading_body)
{
    struct sc_sdswire_dec d;
    struct sc_err err;
    uint8_t out[64];
    size_t outlen;

    sc_sdswire_dec_init(&d, 16);
    /* 17 bytes announced, only the prefix sent: refused at once */
    ck_assert_int_eq(feed_all(&d, (const uint8_t *)"\0\0\0\0\x11", 5, 0, out, &outlen, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "17 bytes exceeds the limit of 16"));
    sc_sdswire_dec_cleanup(&d);
}
END_TEST

START_TEST(test_sdswire_dec_refuses_4gib_announcement_by_default)
{
    struct sc_sdswire_dec d;
    struct sc_err err;
    uint8_t out[64];
    size_t outlen;

    sc_sdswire_dec_init(&d, 0);
    ck_assert_uint_eq(d.max, SC_SDSWIRE_DEFAULT_MAX);
    ck_assert_int_eq(feed_all(&d, (const uint8_t *)"\0\xff\xff\xff\xff", 5, 0, out, &outlen, &err),
                     -1);
    sc_sdswire_dec_cleanup(&d);
}
END_TEST

START_TEST(test_sdswire_dec_accepts_exact_max)
{
    struct sc_sdswire_dec d;
    struct sc_err err;
    uint8_t out[64];
    size_t outlen;

    sc_sdswire_dec_init(&d, 3);
    ck_assert_int_eq(feed_all(&d, (const uint8_t *)"\0\0\0\0\3abc", 8, 0, out, &outlen, &err), 1);
    sc_sdswire_dec_cleanup(&d);
}
END_TEST

START_TEST(test_sdswire_dec_stays_failed)
{
    struct sc_sdswire_dec d;
    struct sc_err err;
    uint8_t out[64];
    size_t outlen;

    sc_sdswire_dec_init(&d, 0);
    ck_assert_int_eq(feed_all(&d, (const uint8_t *)"\1\0\0\0\0", 5, 0, out, &outlen, &err), -1);
    ck_assert_int_eq(feed_all(&d, (const uint8_t *)"\0\0\0\0\0", 5, 0, out, &outlen, &err), -1);
    sc_sdswire_dec_cleanup(&d);
    sc_sdswire_dec_cleanup(&d); /* twice is fine */
}
END_TEST

START_TEST(test_sdswire_dec_cleanup_frees_partial_message)
{
    struct sc_sdswire_dec d;
    struct sc_err err;
    uint8_t out[64];
    size_t outlen;

    /* leak checkers (ASan) flag it if cleanup misses the buffer */
    sc_sdswire_dec_init(&d, 0);
    ck_assert_int_eq(feed_all(&d, (const uint8_t *)"\0\0\0\0\x10xyz", 8, 0, out, &outlen, &err), 0);
    sc_sdswire_dec_cleanup(&d);
}
END_TEST

static Suite *sdswire_suite(void)
{
    Suite *s = suite_create("sdswire");
    TCase *tc;

    tc = tcase_create("sc_sdswire_prefix");
    tcase_add_test(tc, test_sdswire_prefix_is_flag_and_big_endian_length);
    tcase_add_test(tc, test_sdswire_prefix_refuses_over_32_bits);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_sdswire_encode");
    tcase_add_test(tc, test_sdswire_encode_frames_message);
    tcase_add_test(tc, test_sdswire_encode_refuses_over_32_bits);
    suite_add_tcase(s, tc);

    tc = tcase_create("sc_sdswire_dec_feed");
    tcase_add_loop_test(tc, test_sdswire_dec_yields_messages_at_every_split, 1, (int)THREE_LEN + 1);
    tcase_add_loop_test(tc, test_sdswire_dec_yields_messages_split_at_every_boundary, 0,
                        (int)THREE_LEN + 1);
    tcase_add_test(tc, test_sdswire_dec_reports_partial_message);
    tcase_add_test(tc, test_sdswire_dec_refuses_compressed_flag);
    tcase_add_test(tc, test_sdswire_dec_refuses_invalid_flag);
    tcase_add_test(tc, test_sdswire_dec_refuses_oversize_before_reading_body);
    tcase_add_test(tc, test_sdswire_dec_refuses_4gib_announcement_by_default);
    tcase_add_test(tc, test_sdswire_dec_accepts_exact_max);
    tcase_add_test(tc, test_sdswire_dec_stays_failed);
    tcase_add_test(tc, test_sdswire_dec_cleanup_frees_partial_message);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sdswire_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
