#ifndef SC_THREAD_H
#define SC_THREAD_H

#include <pthread.h>

/* Starts a thread that takes no signals but its own faults (SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS): every other signal the process
 * gets is then delivered to the main thread, whose event loop handles it (and
 * which may block them while it tears down).  Returns 0 or an errno. */
int sc_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* Blocks, in the calling thread, the signals that stop or reload the
 * process.  The main thread calls it once its event loop has returned:
 * a SIGTERM that arrives while the process is already exiting must not
 * kill it with the default action and turn exit status 0 into 143. */
void sc_thread_block_stop_signals(void);

#endif
