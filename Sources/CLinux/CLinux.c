// The shims that need _GNU_SOURCE live here, compiled apart from the header Swift imports.
#define _GNU_SOURCE
#include <sched.h>

int CLinux_available_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    return CPU_COUNT(&set);
}
