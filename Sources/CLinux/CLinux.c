// The shims that need _GNU_SOURCE live here, compiled apart from the header Swift imports.
#define _GNU_SOURCE
#include <sched.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

static int cpus_of_set(const cpu_set_t *set, int *cpus, int capacity) {
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && count < capacity; cpu++) {
        if (CPU_ISSET(cpu, set)) cpus[count++] = cpu;
    }
    return count;
}

/* The process's CPUs are the main thread's (its id is the process id): the calling thread
   may be a pinned loop, or a thread that inherited a loop's mask from its creator. */
static int process_cpu_set(cpu_set_t *set) {
    CPU_ZERO(set);
    return sched_getaffinity(getpid(), sizeof(*set), set);
}

int CLinux_allowed_cpus(int *cpus, int capacity) {
    cpu_set_t set;
    if (process_cpu_set(&set) != 0) return -1;
    return cpus_of_set(&set, cpus, capacity);
}

int CLinux_pin_thread(pthread_t thread, int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(thread, sizeof(set), &set);
}

int CLinux_unpin_thread(pthread_t thread) {
    cpu_set_t set;
    if (process_cpu_set(&set) != 0) return errno;
    return pthread_setaffinity_np(thread, sizeof(set), &set);
}

int CLinux_current_cpu(void) { return sched_getcpu(); }

int CLinux_thread_cpus(pthread_t thread, int *cpus, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (pthread_getaffinity_np(thread, sizeof(set), &set) != 0) return -1;
    return cpus_of_set(&set, cpus, capacity);
}

int CLinux_accept_queue_length(int fd) {
    struct tcp_info info;
    socklen_t length = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return -1;
    return (int)info.tcpi_unacked;
}

/* The program, for count CPUs: load the CPU number, then one compare per listener,
 *     A = cpu;  if A == cpus[0] return 0;  ...;  if A == cpus[n-1] return n-1;  return n
 * A jump offset is an unsigned char, so at most 255 instructions may lie between a
 * compare and its return: the returns are interleaved with the compares to keep every
 * jump at +0 (fall through to the next compare) or +1 (the return right after). */
int CLinux_steer_reuseport_by_cpu(int fd, const int *cpus, int count) {
    enum { max_listeners = 1024 };
    if (count <= 0 || count > max_listeners) {
        errno = EINVAL;
        return -1;
    }
    struct sock_filter *code = calloc((size_t)(2 + 2 * count), sizeof(struct sock_filter));
    if (code == NULL) return -1;
    int length = 0;
    code[length++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (unsigned)(SKF_AD_OFF + SKF_AD_CPU));
    for (int index = 0; index < count; index++) {
        /* true: the next instruction (the return); false: skip it, to the next compare. */
        code[length++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)cpus[index], 0, 1);
        code[length++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (unsigned)index);
    }
    code[length++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (unsigned)count);
    struct sock_fprog program = { .len = (unsigned short)length, .filter = code };
    int result = setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof(program));
    int saved = errno;
    free(code);
    errno = saved;
    return result;
}
