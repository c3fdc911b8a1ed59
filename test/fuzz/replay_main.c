/* A main() for fuzz targets built without libFuzzer (gcc, `make fuzz-replay`):
 * runs LLVMFuzzerTestOneInput over every file named on the command line and
 * every regular file inside a directory argument (recursing a few levels),
 * so the harnesses and their corpora keep working in `make test`.
 *
 * Each input is also run truncated (empty, 1 byte, half, all but one), each
 * time from a heap copy of exactly that many bytes so AddressSanitizer sees
 * any read past the end.  A crash aborts the process; otherwise it prints
 * "fuzz-replay <name>: N inputs ok" and exits 0.  Exit 1: an argument could
 * not be read; exit 2: usage, or no inputs at all.  Arguments starting with
 * '-' (libFuzzer flags) are ignored. */

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
/* Present only in sanitizer builds. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

#define REPLAY_MAX_INPUT (16u << 20) /* bigger files are refused, not truncated */
#define MAX_DEPTH 4

/* The input being run, named when the process dies (signal or sanitizer). */
static const char *volatile current_input;
static volatile size_t current_len;

static void say_where(void)
{
    const char *p = current_input;
    char num[32];
    size_t n = current_len, i = sizeof num;

    if (p == NULL) {
        return;
    }
    current_input = NULL; /* say it once */
    do { /* async-signal-safe formatting */
        num[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0 && i > 0);
    (void)!write(2, "fuzz-replay: died on input ", 27);
    (void)!write(2, p, strlen(p));
    (void)!write(2, " (first ", 8);
    (void)!write(2, num + i, sizeof num - i);
    (void)!write(2, " bytes)\n", 8);
}

static void on_fatal(int sig)
{
    say_where();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_reporters(void)
{
    static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    size_t i;

    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        struct sigaction old;

        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        /* leave a sanitizer's own handler in place */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
            sigaction(sigs[i], &sa, NULL);
        }
    }
    if (__sanitizer_set_death_callback != NULL) {
        __sanitizer_set_death_callback(say_where);
    }
}

struct replay {
    size_t inputs;
    int errors;
};

/* Runs one input from an exact-size heap copy (malloc(0) may be NULL: use 1). */
static void run_exact(const unsigned char *data, size_t n)
{
    unsigned char *copy = malloc(n > 0 ? n : 1);

    if (copy == NULL) {
        fprintf(stderr, "fuzz-replay: out of memory\n");
        abort();
    }
    if (n > 0) {
        memcpy(copy, data, n);
    }
    current_len = n;
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
}

static void run_input(const unsigned char *data, size_t n)
{
    size_t cuts[4];
    size_t i, j;

    run_exact(data, n);
    cuts[0] = 0;
    cuts[1] = 1;
    cuts[2] = n / 2;
    cuts[3] = n > 0 ? n - 1 : 0;
    for (i = 0; i < 4; i++) {
        int dup = cuts[i] >= n;

        for (j = 0; j < i && !dup; j++) {
            dup = cuts[j] == cuts[i];
        }
        if (!dup) {
            run_exact(data, cuts[i]);
        }
    }
}

static int read_file(const char *path, unsigned char **out, size_t *outlen)
{
    FILE *f = NULL;
    unsigned char *buf = NULL;
    struct stat st;
    size_t n;

    f = fopen(path, "rb");
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        goto fail;
    }
    if (st.st_size < 0 || (unsigned long long)st.st_size > REPLAY_MAX_INPUT) {
        errno = EFBIG;
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        goto fail;
    }
    n = fread(buf, 1, (size_t)st.st_size + 1, f);
    if (ferror(f) || n > (size_t)st.st_size) {
        errno = EIO;
        goto fail;
    }
    fclose(f);
    *out = buf;
    *outlen = n;
    return 0;

fail:
    free(buf);
    if (f != NULL) {
        fclose(f);
    }
    return -1;
}

static void replay_path(struct replay *r, const char *path, int depth);

static void replay_dir(struct replay *r, const char *path, int depth)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (d == NULL) {
        fprintf(stderr, "fuzz-replay: %s: %s\n", path, strerror(errno));
        r->errors++;
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char sub[4096];
        int len;

        if (e->d_name[0] == '.') { /* ., .., and hidden files */
            continue;
        }
        len = snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (len < 0 || (size_t)len >= sizeof sub) {
            fprintf(stderr, "fuzz-replay: %s/%s: path too long\n", path, e->d_name);
            r->errors++;
            continue;
        }
        replay_path(r, sub, depth + 1);
    }
    closedir(d);
}

static void replay_path(struct replay *r, const char *path, int depth)
{
    struct stat st;
    unsigned char *data = NULL;
    size_t n = 0;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz-replay: %s: %s\n", path, strerror(errno));
        r->errors++;
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        if (depth < MAX_DEPTH) {
            replay_dir(r, path, depth);
        }
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        return;
    }
    if (read_file(path, &data, &n) != 0) {
        fprintf(stderr, "fuzz-replay: %s: %s\n", path, strerror(errno));
        r->errors++;
        return;
    }
    current_input = path;
    run_input(data, n);
    current_input = NULL;
    free(data);
    r->inputs++;
}

int main(int argc, char **argv)
{
    struct replay r = {0, 0};
    const char *name = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 : argv[0];
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    install_reporters();
    if (LLVMFuzzerInitialize != NULL) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    for (i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            continue;
        }
        replay_path(&r, argv[i], 0);
    }
    if (r.errors > 0) {
        fprintf(stderr, "fuzz-replay %s: %d unreadable argument(s)\n", name, r.errors);
        return 1;
    }
    if (r.inputs == 0) {
        fprintf(stderr, "fuzz-replay %s: no inputs\n", name);
        return 2;
    }
    printf("fuzz-replay %s: %zu inputs ok\n", name, r.inputs);
    return 0;
}
