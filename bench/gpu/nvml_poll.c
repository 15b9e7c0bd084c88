/* bench_nvml_poll [LIB|- [N]]: what one poll of the sampler's GPU thread
 * costs: mt_nvml_memory on every device, and mt_nvml_processes on every
 * device, each timed over N rounds (default 10000), in microseconds per
 * round. LIB is the NVML library (default or -: libnvidia-ml.so.1, the real
 * driver, where the cost is the driver's and varies with it and with
 * persistence mode; the test suite's fake, tests/fake_nvml/, measures
 * memtrace's own share). The fake is configured through its environment
 * (FAKE_NVML_PROCS and the rest: tests/unit/sampler/fake_nvml.c).
 * Also prints how long mt_nvml_open took (nvmlInit: slow on a driver
 * without persistence mode). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sampler.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
    const char *lib = argc > 1 && strcmp(argv[1], "-") ? argv[1] : NULL;
    long rounds = argc > 2 ? atol(argv[2]) : 10000;
    if (rounds < 1) rounds = 1;
    double t0 = now_us();
    mt_nvml *nv = mt_nvml_open(lib);
    double open_us = now_us() - t0;
    if (!nv) {
        fprintf(stderr, "bench_nvml_poll: cannot open NVML (%s)\n", lib ? lib : "libnvidia-ml.so.1");
        return 1;
    }
    unsigned nd = mt_nvml_count(nv);
    mt_nvml_proc procs[256];
    uint64_t total[1024] = {0};
    int mem_v2 = 0, proc_v = 0;
    size_t nprocs = 0;
    t0 = now_us();
    for (long r = 0; r < rounds; r++)
        for (unsigned d = 0; d < nd && d < 1024; d++) {
            mt_nvml_mem m;
            if (mt_nvml_memory(nv, d, &m) == 0) total[d] = m.total, mem_v2 = m.v2;
        }
    double mem_us = (now_us() - t0) / (double)rounds;
    t0 = now_us();
    for (long r = 0; r < rounds; r++)
        for (unsigned d = 0; d < nd && d < 1024; d++) {
            size_t k = 0;
            int v = 0;
            if (mt_nvml_processes(nv, d, "", total[d], procs, 256, &k, &v) == 0) proc_v = v;
            if (d == 0) nprocs = k;
        }
    double proc_us = (now_us() - t0) / (double)rounds;
    mt_nvml_close(nv);
    printf("devices %u, open %.0f us\n", nd, open_us);
    printf("memory, all devices: %.2f us per poll (v%d)\n", mem_us, mem_v2 ? 2 : 1);
    printf("processes, all devices: %.2f us per poll (v%d, %zu on device 0)\n", proc_us, proc_v, nprocs);
    return 0;
}
