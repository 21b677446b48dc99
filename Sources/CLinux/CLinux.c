// The shims that need _GNU_SOURCE live here, compiled apart from the header Swift imports.
#define _GNU_SOURCE
#include <sched.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

int CLinux_available_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    return CPU_COUNT(&set);
}

/* Write ends of the pipes that signals are forwarded to, by signal number. Written before
   the handler is installed, read only by the handler. */
static volatile int forward_fds[65] = { [0 ... 64] = -1 };

static void forward_handler(int signo) {
    int saved = errno;
    if (signo > 0 && signo < 65 && forward_fds[signo] >= 0) {
        unsigned char byte = (unsigned char)signo;
        ssize_t ignored = write(forward_fds[signo], &byte, 1);
        (void)ignored;
    }
    errno = saved;
}

int CLinux_forward_signal(int signo, int fd) {
    if (signo <= 0 || signo >= 65) { errno = EINVAL; return -1; }
    forward_fds[signo] = fd;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = forward_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    return sigaction(signo, &action, NULL);
}
