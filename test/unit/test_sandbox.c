/* Unit tests for proxy/sandbox: each case applies the sandbox in a child
 * process of its own (it cannot be undone) and looks at how the child ends
 * and what it wrote to stderr.  Forbidden syscalls (ptrace, execve, fork, an
 * unknown one) kill it by SIGSYS with one line; allowed ones (threads,
 * sockets, files) and --no-seccomp leave it alive. */

#include <check.h>
#include <errno.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "thread.h"

typedef int body_fn(void); /* runs in the sandboxed child; returns its exit status */

/* ThreadSanitizer's runtime makes syscalls of its own when a thread starts
 * and defers signal handlers to points of its choosing, so a TSan sidecar
 * runs without the filter (proxy/main.c).  Its unit test leaves out the
 * cases that start a thread under the filter; the other builds run them. */
#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#else
#define TSAN_BUILD 0
#endif

struct outcome {
    int status; /* from waitpid */
    char err[1024]; /* the child's stderr */
};

/* Forks; the child sends stderr into a pipe, applies opts and runs body. */
static void run_sandboxed(const struct sc_sandbox_opts *opts, body_fn *body, struct outcome *o)
{
    int fds[2];
    size_t len = 0;
    ssize_t n;
    pid_t pid;

    memset(o, 0, sizeof(*o));
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct sc_err err;

        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        if (sc_sandbox_apply(opts, NULL, &err) != 0) {
            fprintf(stderr, "apply failed: %s\n", err.msg);
            _exit(100);
        }
        _exit(body());
    }
    close(fds[1]);
    while ((n = read(fds[0], o->err + len, sizeof(o->err) - 1 - len)) > 0) {
        len += (size_t)n;
    }
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &o->status, 0), pid);
}

static void assert_killed(const struct outcome *o, const char *line)
{
    ck_assert_msg(WIFSIGNALED(o->status) && WTERMSIG(o->status) == SIGSYS,
                  "child not killed by SIGSYS (status 0x%x), stderr: %s", o->status, o->err);
    /* Under TSan the handler's write(2) goes through TSan's interceptors,
     * which do not always get it out before the process dies: the plain
     * and ASan builds check the line. */
    if (TSAN_BUILD) {
        return;
    }
    ck_assert_msg(strstr(o->err, line) != NULL, "no \"%s\" in: %s", line, o->err);
}

static void assert_exit0(const struct outcome *o)
{
    ck_assert_msg(WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0,
                  "child status 0x%x, stderr: %s", o->status, o->err);
}

static const struct sc_sandbox_opts seccomp_on = {1, 0, 0};
static const struct sc_sandbox_opts seccomp_off = {0, 0, 0};

static int call_ptrace(void)
{
    syscall(__NR_ptrace, PTRACE_TRACEME, 0, 0, 0);
    return 3;
}

static int call_execve(void)
{
    static char name[] = "true";
    char *argv[] = {name, NULL};

    execve("/bin/true", argv, environ);
    return 3;
}

static int call_fork(void)
{
    pid_t pid = fork();

    if (pid == 0) {
        _exit(0);
    }
    return 3;
}

static int call_getppid(void)
{
    return syscall(__NR_getppid) > 0 ? 0 : 3;
}

static int call_prctl(void)
{
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    return 3;
}

/* A worker thread takes no signals but its faults (common/thread.c): the
 * SIGSYS handler still runs there.  (Were SIGSYS blocked, the kernel would
 * kill the process without the line.) */
static void *thread_getppid(void *arg)
{
    syscall(__NR_getppid);
    return arg;
}

static int call_in_worker_thread(void)
{
    pthread_t t;

    if (sc_thread_start(&t, thread_getppid, NULL) != 0) {
        return 1;
    }
    pthread_join(t, NULL);
    return 3;
}

static int call_unknown(void)
{
    syscall(4000); /* no such syscall on either architecture */
    return 3;
}

static void *thread_main(void *arg)
{
    return arg;
}

/* What the sidecar does all day: threads, sockets, pipes, files. */
static int call_allowed(void)
{
    static int cookie;
    pthread_t t;
    void *ret = NULL;
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);
    int fd, sv[2];
    FILE *f;
    char line[256];
    int seccomp = 0, nnp = 0;

    if (pthread_create(&t, NULL, thread_main, &cookie) != 0 || pthread_join(t, &ret) != 0 ||
        ret != (void *)&cookie) {
        return 1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &slen) != 0) {
        return 2;
    }
    close(fd);
    if (pipe(sv) != 0 || write(sv[1], "x", 1) != 1 || read(sv[0], line, 1) != 1) {
        return 3;
    }
    f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return 4;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        seccomp += strcmp(line, "Seccomp:\t2\n") == 0;
        nnp += strcmp(line, "NoNewPrivs:\t1\n") == 0;
    }
    fclose(f);
    return seccomp == 1 && nnp == 1 ? 0 : 5;
}

static int call_clone3(void)
{
    long rc = syscall(__NR_clone3, NULL, 0);

    return rc == -1 && errno == ENOSYS ? 0 : 3;
}

/* No capability left in any set, the bounding set included when we could
 * drop it; no_new_privs set; no seccomp filter. */
static int check_no_caps(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

    if (syscall(__NR_capget, &hdr, d) != 0) {
        return 1;
    }
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
        if (d[i].effective != 0 || d[i].permitted != 0 || d[i].inheritable != 0) {
            return 2;
        }
    }
    if (geteuid() == 0 && prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0) {
        return 3;
    }
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 || prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 0) {
        return 4;
    }
    return 0;
}

/* As root: CAP_NET_ADMIN is kept in every set but inheritable, and SO_MARK
 * can still be set; nothing else is left. */
static int check_net_admin_kept(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    unsigned mark = 1337;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (syscall(__NR_capget, &hdr, d) != 0) {
        return 1;
    }
    if (d[0].effective != CAP_TO_MASK(CAP_NET_ADMIN) ||
        d[0].permitted != CAP_TO_MASK(CAP_NET_ADMIN) || d[1].effective != 0 ||
        d[1].permitted != 0) {
        return 2;
    }
    if (prctl(PR_CAPBSET_READ, CAP_NET_ADMIN, 0, 0, 0) != 1 ||
        prctl(PR_CAPBSET_READ, CAP_NET_RAW, 0, 0, 0) != 0) {
        return 3;
    }
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
        return 4;
    }
    return 0;
}

START_TEST(test_sandbox_ptrace_is_killed_with_a_line)
{
    struct outcome o;
    char want[128];

    run_sandboxed(&seccomp_on, call_ptrace, &o);
    snprintf(want, sizeof(want), "seccomp: forbidden syscall %d (ptrace) - killed\n", __NR_ptrace);
    assert_killed(&o, want);
}
END_TEST

/* Each forbidden syscall, and the words of its line. */
static const struct {
    body_fn *body;
    const char *line;
} forbidden[] = {
    {call_execve, "(execve) - killed\n"},
    {call_fork, "(clone) - killed\n"}, /* fork: clone without CLONE_THREAD */
    {call_getppid, "(getppid) - killed\n"}, /* harmless, but not on the list */
    {call_in_worker_thread, "(getppid) - killed\n"},
    {call_prctl, "(prctl) - killed\n"},
    {call_unknown, "seccomp: forbidden syscall 4000 (unknown) - killed\n"},
};

START_TEST(test_sandbox_forbidden_syscalls_are_killed)
{
    struct outcome o;

    if (TSAN_BUILD && forbidden[_i].body == call_in_worker_thread) {
        return;
    }
    run_sandboxed(&seccomp_on, forbidden[_i].body, &o);
    assert_killed(&o, forbidden[_i].line);
}
END_TEST

START_TEST(test_sandbox_allows_threads_sockets_files)
{
    struct outcome o;

    if (TSAN_BUILD) {
        return;
    }
    run_sandboxed(&seccomp_on, call_allowed, &o);
    assert_exit0(&o);
    ck_assert_str_eq(o.err, "");
}
END_TEST

START_TEST(test_sandbox_clone3_fails_with_enosys)
{
    struct outcome o;

    run_sandboxed(&seccomp_on, call_clone3, &o);
    assert_exit0(&o);
}
END_TEST

START_TEST(test_sandbox_no_seccomp_allows_anything)
{
    struct outcome o;

    run_sandboxed(&seccomp_off, call_getppid, &o);
    assert_exit0(&o);
    run_sandboxed(&seccomp_off, call_fork, &o);
    ck_assert_msg(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 3, "status 0x%x", o.status);
}
END_TEST

START_TEST(test_sandbox_drops_every_capability)
{
    struct outcome o;

    run_sandboxed(&seccomp_off, check_no_caps, &o);
    assert_exit0(&o);
}
END_TEST

START_TEST(test_sandbox_keeps_net_admin_for_socket_mark)
{
    static const struct sc_sandbox_opts keep = {0, 1, 0};
    struct outcome o;

    if (geteuid() != 0) {
        return; /* nothing to keep without root */
    }
    run_sandboxed(&keep, check_net_admin_kept, &o);
    assert_exit0(&o);
}
END_TEST

START_TEST(test_sandbox_syscall_names)
{
    ck_assert_str_eq(sc_sandbox_syscall_name(__NR_ptrace), "ptrace");
    ck_assert_str_eq(sc_sandbox_syscall_name(__NR_exit_group), "exit_group");
    ck_assert_str_eq(sc_sandbox_syscall_name(__NR_accept4), "accept4");
    ck_assert_ptr_null(sc_sandbox_syscall_name(4000));
    ck_assert_ptr_null(sc_sandbox_syscall_name(-1));
    ck_assert_uint_gt(sc_sandbox_allowed_count(), 50);
}
END_TEST

static Suite *sandbox_suite(void)
{
    Suite *s = suite_create("sandbox");
    TCase *tc = tcase_create("sc_sandbox_apply");

    tcase_add_test(tc, test_sandbox_ptrace_is_killed_with_a_line);
    tcase_add_loop_test(tc, test_sandbox_forbidden_syscalls_are_killed, 0,
                        (int)(sizeof(forbidden) / sizeof(forbidden[0])));
    tcase_add_test(tc, test_sandbox_allows_threads_sockets_files);
    tcase_add_test(tc, test_sandbox_clone3_fails_with_enosys);
    tcase_add_test(tc, test_sandbox_no_seccomp_allows_anything);
    tcase_add_test(tc, test_sandbox_drops_every_capability);
    tcase_add_test(tc, test_sandbox_keeps_net_admin_for_socket_mark);
    suite_add_tcase(s, tc);
    tc = tcase_create("sc_sandbox_syscall_name");
    tcase_add_test(tc, test_sandbox_syscall_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sandbox_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
