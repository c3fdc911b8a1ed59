#include "sandbox.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH_NR AUDIT_ARCH_X86_64
#define X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define ARCH_NR AUDIT_ARCH_AARCH64
#define X32_BIT 0u
#else
#error "seccomp allow-list: only x86_64 and aarch64"
#endif

#define MAX_INSNS 512

static const long allowed[] = {
#define SC_SYSCALL(name) __NR_##name,
#include "sandbox_syscalls.h"
#undef SC_SYSCALL
};

struct sysname {
    long nr;
    const char *name;
};

/* Allowed syscalls, then notable forbidden ones, for the SIGSYS line. */
static const struct sysname names[] = {
#define SC_SYSCALL(name) {__NR_##name, #name},
#include "sandbox_syscalls.h"
#undef SC_SYSCALL
    {__NR_clone, "clone"},
    {__NR_clone3, "clone3"},
    {__NR_execve, "execve"},
    {__NR_execveat, "execveat"},
    {__NR_ptrace, "ptrace"},
    {__NR_mount, "mount"},
    {__NR_umount2, "umount2"},
    {__NR_unshare, "unshare"},
    {__NR_setns, "setns"},
    {__NR_pivot_root, "pivot_root"},
    {__NR_chroot, "chroot"},
    {__NR_bpf, "bpf"},
    {__NR_perf_event_open, "perf_event_open"},
    {__NR_kexec_load, "kexec_load"},
    {__NR_init_module, "init_module"},
    {__NR_finit_module, "finit_module"},
    {__NR_process_vm_readv, "process_vm_readv"},
    {__NR_process_vm_writev, "process_vm_writev"},
    {__NR_keyctl, "keyctl"},
    {__NR_add_key, "add_key"},
    {__NR_setuid, "setuid"},
    {__NR_setgid, "setgid"},
    {__NR_capset, "capset"},
    {__NR_personality, "personality"},
    {__NR_kill, "kill"},
    {__NR_wait4, "wait4"},
    {__NR_seccomp, "seccomp"},
    {__NR_memfd_create, "memfd_create"},
    {__NR_userfaultfd, "userfaultfd"},
    {__NR_io_uring_setup, "io_uring_setup"},
    {__NR_prctl, "prctl"},
    {__NR_getppid, "getppid"},
    {__NR_sigaltstack, "sigaltstack"},
    {__NR_prlimit64, "prlimit64"},
    {__NR_socketpair, "socketpair"},
    {__NR_sendmsg, "sendmsg"},
    {__NR_recvmsg, "recvmsg"},
    {__NR_fchmodat, "fchmodat"},
};

size_t sc_sandbox_allowed_count(void)
{
    /* the filter also lets clone through, for threads */
    return sizeof(allowed) / sizeof(allowed[0]) + 1;
}

const char *sc_sandbox_syscall_name(long nr)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].nr == nr) {
            return names[i].name;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- SIGSYS */

static size_t put_str(char *out, size_t at, size_t cap, const char *s)
{
    while (*s != '\0' && at < cap) {
        out[at++] = *s++;
    }
    return at;
}

static size_t put_long(char *out, size_t at, size_t cap, long v)
{
    char digits[24];
    size_t n = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;

    if (v < 0 && at < cap) {
        out[at++] = '-';
    }
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0 && n < sizeof(digits));
    while (n > 0 && at < cap) {
        out[at++] = digits[--n];
    }
    return at;
}

/* Async-signal-safe: one write(2), then death by SIGSYS itself. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
    char line[128];
    size_t n = 0;
    const char *name = sc_sandbox_syscall_name(si->si_syscall);
    struct sigaction dfl;
    sigset_t set;

    (void)uctx;
    n = put_str(line, n, sizeof(line), "seccomp: forbidden syscall ");
    n = put_long(line, n, sizeof(line), (long)si->si_syscall);
    n = put_str(line, n, sizeof(line), " (");
    n = put_str(line, n, sizeof(line), name != NULL ? name : "unknown");
    n = put_str(line, n, sizeof(line), ") - killed\n");
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nothing more to say */
    }
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    syscall(__NR_tgkill, getpid(), (pid_t)syscall(__NR_gettid), sig);
    _exit(128 + sig);
}

/* ---------------------------------------------------------------- seccomp */

static size_t emit(struct sock_filter *f, size_t n, struct sock_filter insn)
{
    if (n < MAX_INSNS) {
        f[n] = insn;
    }
    return n + 1;
}

#define STMT(code, k) ((struct sock_filter)BPF_STMT((code), (k)))
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP((code), (k), (jt), (jf)))
#define LOAD(field) STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define RET(v) STMT(BPF_RET | BPF_K, (v))

/* The program: architecture check, x32 refusal, clone for threads only,
 * clone3 ENOSYS, then one comparison per allowed syscall, else SIGSYS. */
static size_t build_filter(struct sock_filter *f)
{
    size_t n = 0;

    n = emit(f, n, LOAD(arch));
    n = emit(f, n, JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_NR, 1, 0));
    n = emit(f, n, RET(SECCOMP_RET_KILL_PROCESS));
    n = emit(f, n, LOAD(nr));
    if (X32_BIT != 0) {
        n = emit(f, n, JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 1));
        n = emit(f, n, RET(SECCOMP_RET_KILL_PROCESS));
    }
    n = emit(f, n, JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1));
    n = emit(f, n, RET(SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)));
    /* clone(flags, ...): a thread shares everything; fork does not */
    n = emit(f, n, JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4));
    n = emit(f, n, LOAD(args[0])); /* low 32 bits on little-endian */
    n = emit(f, n, JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1));
    n = emit(f, n, RET(SECCOMP_RET_ALLOW));
    n = emit(f, n, RET(SECCOMP_RET_TRAP));
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        n = emit(f, n, JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)allowed[i], 0, 1));
        n = emit(f, n, RET(SECCOMP_RET_ALLOW));
    }
    n = emit(f, n, RET(SECCOMP_RET_TRAP));
    return n;
}

static int install_seccomp(struct sc_err *err)
{
    struct sock_filter insns[MAX_INSNS];
    struct sock_fprog prog;
    struct sigaction sa;
    size_t n = build_filter(insns);

    if (n > MAX_INSNS) {
        sc_err_set(err, "seccomp: the filter needs %zu instructions, more than %d", n, MAX_INSNS);
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) != 0) {
        sc_err_set(err, "seccomp: sigaction(SIGSYS): %s", strerror(errno));
        return -1;
    }
    prog.len = (unsigned short)n;
    prog.filter = insns;
    if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0) {
        sc_err_set(err, "seccomp: cannot install the filter: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- capabilities */

static int last_cap(void)
{
    int c = CAP_LAST_CAP;

    /* a newer kernel may know more than our headers */
    while (prctl(PR_CAPBSET_READ, (unsigned long)c + 1, 0, 0, 0) >= 0) {
        c++;
    }
    return c;
}

static int drop_caps(const struct sc_sandbox_opts *opts, struct sc_sandbox_result *res,
                     struct sc_err *err)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    unsigned want[_LINUX_CAPABILITY_U32S_3] = {0, 0};
    int top = last_cap();
    int na, nb;

    if (opts->keep_net_admin) {
        want[CAP_TO_INDEX(CAP_NET_ADMIN)] |= CAP_TO_MASK(CAP_NET_ADMIN);
    }
    if (opts->keep_net_bind_service) {
        want[CAP_TO_INDEX(CAP_NET_BIND_SERVICE)] |= CAP_TO_MASK(CAP_NET_BIND_SERVICE);
    }
    memset(data, 0, sizeof(data));
    if (syscall(__NR_capget, &hdr, data) != 0) {
        sc_err_set(err, "capget: %s", strerror(errno));
        return -1;
    }
    /* The bounding set first: dropping needs CAP_SETPCAP, dropped below. */
    res->bounding_dropped = 1;
    for (int c = 0; c <= top; c++) {
        if ((want[CAP_TO_INDEX(c)] & CAP_TO_MASK(c)) != 0 ||
            prctl(PR_CAPBSET_READ, (unsigned long)c, 0, 0, 0) != 1) {
            continue;
        }
        if (prctl(PR_CAPBSET_DROP, (unsigned long)c, 0, 0, 0) != 0) {
            if (errno != EPERM) {
                sc_err_set(err, "prctl(PR_CAPBSET_DROP, %d): %s", c, strerror(errno));
                return -1;
            }
            res->bounding_dropped = 0; /* no CAP_SETPCAP: harmless under no_new_privs */
            break;
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
        sc_err_set(err, "prctl(PR_CAP_AMBIENT_CLEAR_ALL): %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
        data[i].permitted &= want[i];
        data[i].effective = data[i].permitted;
        data[i].inheritable = 0;
    }
    if (syscall(__NR_capset, &hdr, data) != 0) {
        sc_err_set(err, "capset: %s", strerror(errno));
        return -1;
    }
    na = (data[CAP_TO_INDEX(CAP_NET_ADMIN)].permitted & CAP_TO_MASK(CAP_NET_ADMIN)) != 0;
    nb = (data[CAP_TO_INDEX(CAP_NET_BIND_SERVICE)].permitted & CAP_TO_MASK(CAP_NET_BIND_SERVICE)) !=
         0;
    snprintf(res->kept, sizeof(res->kept), "%s%s%s%s", na ? "CAP_NET_ADMIN" : "",
             na && nb ? "," : "", nb ? "CAP_NET_BIND_SERVICE" : "", !na && !nb ? "none" : "");
    return 0;
}

int sc_sandbox_apply(const struct sc_sandbox_opts *opts, struct sc_sandbox_result *res,
                     struct sc_err *err)
{
    struct sc_sandbox_result local;

    if (res == NULL) {
        res = &local;
    }
    memset(res, 0, sizeof(*res));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        sc_err_set(err, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        return -1;
    }
    res->no_new_privs = 1;
    if (drop_caps(opts, res, err) != 0) {
        return -1;
    }
    if (opts->seccomp) {
        if (install_seccomp(err) != 0) {
            return -1;
        }
        res->seccomp = 1;
        res->n_allowed = sc_sandbox_allowed_count();
    }
    return 0;
}
