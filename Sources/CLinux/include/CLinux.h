// CLinux: the Linux calls that Glibc's Swift module does not export (epoll, eventfd,
// timerfd, signalfd, accept4), and a few helpers whose C form is a macro or variadic.
#ifndef CLINUX_H
#define CLINUX_H

// No _GNU_SOURCE here: defining it changes glibc's struct definitions (fd_set, ...) and
// Swift then sees two incompatible copies, Glibc's and ours. The two GNU functions we
// need are declared by hand instead, exactly as glibc declares them.

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>
#include <sched.h>

extern int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
extern pid_t gettid(void);

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC, so an accepted socket is never blocking.
static inline int CLinux_accept4_nonblocking(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/// fcntl is variadic in C; Swift imports only fixed-arity functions.
static inline int CLinux_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/// The calling thread's errno (a macro in glibc).
static inline int CLinux_errno(void) { return errno; }

/// Installs a process-wide handler for `signo` that writes the signal number (one byte)
/// to `fd`, a non-blocking pipe; the reactor reads the other end. Async-signal-safe: the
/// handler only calls write(2) and preserves errno. Returns sigaction's result.
int CLinux_forward_signal(int signo, int fd);

/// The kernel thread id of the caller, for tests that prove which thread ran a job.
static inline long CLinux_gettid(void) { return (long)gettid(); }

/// Writes the numbers of the CPUs this process may run on (the main thread's
/// sched_getaffinity), in ascending order, into `cpus` (room for `capacity`); returns how
/// many, or -1.
int CLinux_allowed_cpus(int *cpus, int capacity);

/// Restricts `thread` to the one CPU `cpu` (pthread_setaffinity_np); 0 or an errno.
int CLinux_pin_thread(pthread_t thread, int cpu);

/// Lets `thread` run on every CPU the process may run on again; 0 or an errno.
int CLinux_unpin_thread(pthread_t thread);

/// The CPU the calling thread is running on now (sched_getcpu), or -1. For tests.
int CLinux_current_cpu(void);

/// The CPUs `thread` may run on, as in CLinux_allowed_cpus; -1 on error. For tests.
int CLinux_thread_cpus(pthread_t thread, int *cpus, int capacity);

/// How many connections wait in listening socket `fd`'s accept queue (TCP_INFO's
/// tcpi_unacked, which the kernel fills with the queue's length for a listener), or -1.
int CLinux_accept_queue_length(int fd);

/// Attaches to the SO_REUSEPORT group of listening socket `fd` a classic BPF program
/// that hands a new connection to the listener at index i when the CPU handling its
/// first packet is `cpus[i]`; for any other CPU the program answers an index beyond the
/// group, and the kernel falls back to its hash. 0, or -1 with errno set.
int CLinux_steer_reuseport_by_cpu(int fd, const int *cpus, int count);

#endif
