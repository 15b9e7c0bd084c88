/* cuda_alloc MiB...: allocates device memory of known sizes through the
 * CUDA driver API, one step at a time, for bench/gpu/nvml_check.sh.
 * libcuda.so.1 is loaded with dlopen and the few calls used are declared
 * here, so that this builds without the CUDA toolkit (cc cuda_alloc.c
 * -ldl). The protocol, one line each on stdout (line-buffered):
 *   pid PID                      at start
 *   step context 0 FREE TOTAL    the primary context made current (it
 *                                takes device memory of its own)
 *   step N BYTES FREE TOTAL      after cuMemAlloc of the N-th size: BYTES
 *                                allocated in all, FREE/TOTAL cuMemGetInfo's
 *   step freed 0 FREE TOTAL      after every block was freed
 * after each it waits for a line on stdin (the checker's "next") before
 * going on, and exits 0 after the last (EOF on stdin also goes on).
 * cuda_alloc --probe loads libcuda and initializes it only.
 * Exit status: 0, 2 libcuda.so.1 cannot be loaded or lacks a call, 3 a
 * CUDA call failed (the message names it and CUDA's error). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int CUresult; /* 0: CUDA_SUCCESS */
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef unsigned long long CUdeviceptr;

static CUresult (*cuInit)(unsigned);
static CUresult (*cuDeviceGet)(CUdevice *, int);
static CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
static CUresult (*cuCtxSetCurrent)(CUcontext);
static CUresult (*cuMemAlloc_v2)(CUdeviceptr *, size_t);
static CUresult (*cuMemFree_v2)(CUdeviceptr);
static CUresult (*cuMemGetInfo_v2)(size_t *, size_t *);
static CUresult (*cuGetErrorString)(CUresult, const char **);

static void *need(void *dl, const char *name) {
    void *f = dlsym(dl, name);
    if (!f) {
        fprintf(stderr, "cuda_alloc: libcuda.so.1 has no %s\n", name);
        exit(2);
    }
    return f;
}

static void check(CUresult rc, const char *what) {
    if (rc == 0) return;
    const char *msg = NULL;
    if (cuGetErrorString) cuGetErrorString(rc, &msg);
    fprintf(stderr, "cuda_alloc: %s failed: CUDA error %d (%s)\n", what, rc, msg ? msg : "?");
    exit(3);
}

static void step(const char *name, unsigned long long bytes) {
    size_t free_b = 0, total_b = 0;
    check(cuMemGetInfo_v2(&free_b, &total_b), "cuMemGetInfo");
    printf("step %s %llu %zu %zu\n", name, bytes, free_b, total_b);
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin)) return; /* EOF: go on */
}

int main(int argc, char **argv) {
    void *dl = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fprintf(stderr, "cuda_alloc: cannot load libcuda.so.1 (no NVIDIA driver here?): %s\n", dlerror());
        return 2;
    }
    *(void **)&cuInit = need(dl, "cuInit");
    *(void **)&cuGetErrorString = need(dl, "cuGetErrorString");
    *(void **)&cuDeviceGet = need(dl, "cuDeviceGet");
    *(void **)&cuDevicePrimaryCtxRetain = need(dl, "cuDevicePrimaryCtxRetain");
    *(void **)&cuCtxSetCurrent = need(dl, "cuCtxSetCurrent");
    *(void **)&cuMemAlloc_v2 = need(dl, "cuMemAlloc_v2");
    *(void **)&cuMemFree_v2 = need(dl, "cuMemFree_v2");
    *(void **)&cuMemGetInfo_v2 = need(dl, "cuMemGetInfo_v2");
    check(cuInit(0), "cuInit");
    if (argc > 1 && !strcmp(argv[1], "--probe")) return 0;
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    CUdevice dev;
    CUcontext ctx;
    check(cuDeviceGet(&dev, 0), "cuDeviceGet");
    check(cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
    check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
    step("context", 0);
    CUdeviceptr *p = calloc((size_t)argc, sizeof *p);
    unsigned long long total = 0;
    for (int i = 1; i < argc; i++) {
        unsigned long long bytes = strtoull(argv[i], NULL, 10) << 20;
        check(cuMemAlloc_v2(&p[i], (size_t)bytes), "cuMemAlloc");
        total += bytes;
        char name[16];
        snprintf(name, sizeof name, "%d", i);
        step(name, total);
    }
    for (int i = 1; i < argc; i++) check(cuMemFree_v2(p[i]), "cuMemFree");
    step("freed", 0);
    free(p);
    return 0;
}
