/* Unit tests for proxy/sandbox: each case applies the sandbox in a child
 * process of its own (it cannot be undone) and looks at how the child ends:
 * every capability gone but the one asked for, no_new_privs set. */

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

typedef int body_fn(void);  /* runs in the sandboxed child; returns its exit status */

struct outcome {
    int status;             /* from waitpid */
    char err[1024];         /* the child's stderr */
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

static void assert_exit0(const struct outcome *o)
{
    ck_assert_msg(WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0,
                  "child status 0x%x, stderr: %s", o->status, o->err);
}

/* No capability left in any set, the bounding set included when we could
 * drop it; no_new_privs set. */
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
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
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
    if (d[0].effective != CAP_TO_MASK(CAP_NET_ADMIN) || d[0].permitted != CAP_TO_MASK(CAP_NET_ADMIN) ||
        d[1].effective != 0 || d[1].permitted != 0) {
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

START_TEST(test_sandbox_drops_every_capability)
{
    struct outcome o;

    static const struct sc_sandbox_opts none = {0, 0};

    run_sandboxed(&none, check_no_caps, &o);
    assert_exit0(&o);
}
END_TEST

START_TEST(test_sandbox_keeps_net_admin_for_socket_mark)
{
    static const struct sc_sandbox_opts keep = {1, 0};
    struct outcome o;

    if (geteuid() != 0) {
        return;             /* nothing to keep without root */
    }
    run_sandboxed(&keep, check_net_admin_kept, &o);
    assert_exit0(&o);
}
END_TEST

static Suite *sandbox_suite(void)
{
    Suite *s = suite_create("sandbox");
    TCase *tc = tcase_create("sc_sandbox_apply");

    tcase_add_test(tc, test_sandbox_drops_every_capability);
    tcase_add_test(tc, test_sandbox_keeps_net_admin_for_socket_mark);
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
