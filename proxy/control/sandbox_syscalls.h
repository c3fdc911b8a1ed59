/* The sidecar's syscall allow-list, included by sandbox.c only, with
 * SC_SYSCALL(name) defined.  What the process calls after sc_sandbox_apply,
 * in `strace -f` of the integration tests (L4 and L7 traffic, SDS and file
 * certificates, inotify rotation, SIGHUP and POST /reload, the admin
 * endpoints, descriptor exhaustion, drain and exit), plus the few a rarer
 * path needs, each said below; docs/deploy.md tells how to redo it.
 * clone and clone3 are handled in sandbox.c (threads only). */

/* Memory and threads (malloc, pthread_create, thread exit) */
SC_SYSCALL(brk)
SC_SYSCALL(mmap)
SC_SYSCALL(munmap)
SC_SYSCALL(mremap) /* realloc of a large (mmapped) block */
SC_SYSCALL(mprotect)
SC_SYSCALL(madvise)
SC_SYSCALL(futex)
SC_SYSCALL(set_robust_list)
SC_SYSCALL(rseq)
SC_SYSCALL(exit)
SC_SYSCALL(exit_group)

/* Time, identity, randomness */
SC_SYSCALL(clock_gettime) /* the vDSO's fallbacks */
SC_SYSCALL(gettimeofday)
SC_SYSCALL(clock_nanosleep) /* the access-log writer's back-off */
SC_SYSCALL(getrandom)
SC_SYSCALL(getpid)
SC_SYSCALL(gettid) /* the SIGSYS handler */
SC_SYSCALL(getuid)
SC_SYSCALL(geteuid)
SC_SYSCALL(getgid)
SC_SYSCALL(getegid)
SC_SYSCALL(sysinfo)
SC_SYSCALL(sched_getaffinity) /* workers: 0 (the core count) on a reload */

/* Signals */
SC_SYSCALL(rt_sigaction)
SC_SYSCALL(rt_sigprocmask)
SC_SYSCALL(rt_sigreturn)
SC_SYSCALL(tgkill) /* the SIGSYS handler, abort() */

/* Files: config and certificate re-reads, inotify, the access log, the
 * admin Unix socket removed at exit */
SC_SYSCALL(openat)
SC_SYSCALL(close)
SC_SYSCALL(read)
SC_SYSCALL(pread64) /* stdio and OpenSSL file readers */
SC_SYSCALL(readv)
SC_SYSCALL(write)
SC_SYSCALL(writev)
SC_SYSCALL(lseek) /* stdio readers */
SC_SYSCALL(newfstatat)
SC_SYSCALL(unlinkat) /* unlink() on aarch64 */
SC_SYSCALL(fcntl)
SC_SYSCALL(ioctl)
SC_SYSCALL(pipe2)
SC_SYSCALL(eventfd2)
SC_SYSCALL(inotify_init1)
SC_SYSCALL(inotify_add_watch)

/* Event loop */
SC_SYSCALL(epoll_create1)
SC_SYSCALL(epoll_ctl)
SC_SYSCALL(epoll_pwait) /* epoll_wait() on aarch64 */
SC_SYSCALL(ppoll) /* poll() on aarch64 */

/* Sockets: listeners (a reload adds them), upstreams, SDS */
SC_SYSCALL(socket)
SC_SYSCALL(bind)
SC_SYSCALL(listen)
SC_SYSCALL(accept4)
SC_SYSCALL(connect)
SC_SYSCALL(getsockname)
SC_SYSCALL(getsockopt)
SC_SYSCALL(setsockopt)
SC_SYSCALL(shutdown)
SC_SYSCALL(sendto)
SC_SYSCALL(recvfrom)
SC_SYSCALL(socketpair) /* an HBONE stream to an auto port, or an outbound HTTP session's stream */

#if defined(__x86_64__)
/* x86_64 only: the older forms the C library and libevent call there */
SC_SYSCALL(unlink)
SC_SYSCALL(poll)
SC_SYSCALL(epoll_wait)
SC_SYSCALL(time)
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* Sanitizer builds: what their runtime adds in a thread's life.  (The
 * sidecar itself starts without seccomp in these builds: LeakSanitizer's
 * exit check forks and ptrace()s; see proxy/main.c.) */
SC_SYSCALL(sigaltstack)
SC_SYSCALL(sched_yield)
SC_SYSCALL(prlimit64)
#endif
