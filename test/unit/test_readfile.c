/* common/readfile and common/table: files read whole into buffers sized by
 * the file, and fixed tables whose untouched pages are not resident. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "readfile.h"
#include "table.h"

static char dir[64];

static const char *path_of(const char *name)
{
    static char p[128];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return p;
}

static void write_file(const char *name, const char *data, size_t len)
{
    FILE *f = fopen(path_of(name), "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sc-test-readfile.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_readfile_whole_file_nul_terminated)
{
    char *buf;
    size_t len;

    write_file("a.yaml", "workers: 1\n", 11);
    ck_assert_int_eq(sc_read_file(path_of("a.yaml"), 1024, 1, &buf, &len), 0);
    ck_assert_uint_eq(len, 11);
    ck_assert_str_eq(buf, "workers: 1\n");
    free(buf);
    write_file("empty", "", 0);
    ck_assert_int_eq(sc_read_file(path_of("empty"), 1024, 1, &buf, &len), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(buf, "");
    free(buf);
}
END_TEST

/* The buffer is the file's size, not the cap: a cap-sized temporary freed
 * at start-up would raise glibc's mmap threshold for the process's life. */
START_TEST(test_readfile_buffer_sized_by_the_file)
{
    char *buf;
    size_t len;

    write_file("small", "abc", 3);
    ck_assert_int_eq(sc_read_file(path_of("small"), 4u << 20, 0, &buf, &len), 0);
    ck_assert_uint_eq(len, 3);
    ck_assert_uint_lt(malloc_usable_size(buf), 4096);
    free(buf);
}
END_TEST

START_TEST(test_readfile_cap_is_exact)
{
    char data[100];
    char *buf = (char *)1;
    size_t len = 7;

    memset(data, 'x', sizeof(data));
    write_file("hundred", data, sizeof(data));
    ck_assert_int_eq(sc_read_file(path_of("hundred"), 100, 1, &buf, &len), 0);
    ck_assert_uint_eq(len, 100);
    ck_assert_int_eq(buf[100], '\0');
    free(buf);
    ck_assert_int_eq(sc_read_file(path_of("hundred"), 99, 1, &buf, &len), -1);
    ck_assert_int_eq(errno, EFBIG);
    ck_assert_ptr_null(buf);
    ck_assert_uint_eq(len, 0);
}
END_TEST

/* A file whose size stat does not tell (procfs) is read by growing. */
START_TEST(test_readfile_grows_when_stat_says_nothing)
{
    char *buf;
    size_t len;

    ck_assert_int_eq(sc_read_file("/proc/self/maps", 1u << 20, 0, &buf, &len), 0);
    ck_assert_uint_gt(len, 0);
    ck_assert_uint_eq(strlen(buf), len);
    ck_assert_ptr_nonnull(strstr(buf, "test_readfile"));
    free(buf);
    ck_assert_int_eq(sc_read_file("/proc/self/maps", 16, 0, &buf, &len), -1);
    ck_assert_int_eq(errno, EFBIG);
}
END_TEST

START_TEST(test_readfile_refuses_what_is_not_a_regular_file)
{
    char *buf;
    size_t len;

    ck_assert_int_eq(sc_read_file(dir, 1024, 1, &buf, &len), -1);
    ck_assert_int_eq(errno, EISDIR);
    ck_assert_int_eq(mkfifo(path_of("fifo"), 0600), 0);
    ck_assert_int_eq(sc_read_file(path_of("fifo"), 1024, 1, &buf, &len), -1); /* no hang */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(sc_read_file(path_of("missing"), 1024, 1, &buf, &len), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_table_is_zero_and_untouched_pages_are_not_resident)
{
    size_t size = 1u << 20, page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *t = sc_table_alloc(size);
    unsigned char vec[(1u << 20) / 4096];
    size_t resident = 0;

    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(page, 4096);
    t[5] = 1;
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    ck_assert_int_eq(mincore(t, size, vec), 0);
    for (size_t i = 0; i < sizeof(vec); i++) {
        resident += vec[i] & 1;
    }
    ck_assert_uint_eq(resident, 1); /* the page written, not the table */
#else
    (void)vec;
    (void)resident;
#endif
    for (size_t i = 0; i < size; i += 4099) {
        ck_assert_uint_eq(t[i], i == 5 ? 1 : 0);
    }
    sc_table_free(t, size);
    sc_table_free(NULL, size);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("readfile");
    TCase *tc = tcase_create("readfile");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_readfile_whole_file_nul_terminated);
    tcase_add_test(tc, test_readfile_buffer_sized_by_the_file);
    tcase_add_test(tc, test_readfile_cap_is_exact);
    tcase_add_test(tc, test_readfile_grows_when_stat_says_nothing);
    tcase_add_test(tc, test_readfile_refuses_what_is_not_a_regular_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("table");
    tcase_add_test(tc, test_table_is_zero_and_untouched_pages_are_not_resident);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
