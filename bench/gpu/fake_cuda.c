/* A stand-in for libcuda.so.1 with the calls cuda_alloc.c makes, for
 * bench/gpu/dryrun.sh: its device memory is a number, which it writes
 * after every change to the file FAKE_CUDA_STATE as "0:PID:BYTES" (the
 * fake libnvidia-ml.so.1 reads it through FAKE_NVML_PROCS_FILE, the fake
 * nvidia-smi too). The context takes 300 MiB, as a real one takes some. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned long long used;

static void publish(void) {
    const char *path = getenv("FAKE_CUDA_STATE");
    if (!path) return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "0:%d:%llu\n", (int)getpid(), used);
    fclose(f);
    rename(tmp, path);
}

int cuInit(unsigned flags) {
    (void)flags;
    return 0;
}
int cuGetErrorString(int e, const char **s) {
    (void)e;
    *s = "fake";
    return 0;
}
int cuDeviceGet(int *d, int i) {
    *d = i;
    return 0;
}
int cuDevicePrimaryCtxRetain(void **c, int d) {
    (void)d;
    *c = (void *)1;
    used += 300ull << 20;
    publish();
    return 0;
}
int cuCtxSetCurrent(void *c) {
    (void)c;
    return 0;
}
int cuMemAlloc_v2(unsigned long long *p, size_t n) {
    used += n;
    *p = (unsigned long long)n; /* the size: cuMemFree_v2 takes it back */
    publish();
    return 0;
}
int cuMemFree_v2(unsigned long long p) {
    used -= p;
    publish();
    return 0;
}
int cuMemGetInfo_v2(size_t *free_b, size_t *total_b) {
    *total_b = 80ull << 30;
    *free_b = *total_b - used;
    return 0;
}
