/* A stand-in for libnvidia-ml.so.1 with the calls the sampler resolves,
 * built twice: libnvidia-ml.so.1 in tests/fake_nvml/ with every call,
 * and in tests/fake_nvml_v1/ (FAKE_NVML_V1_ONLY) without the _v2 memory
 * and process calls, as drivers before R450/R470 are. Configured through
 * the environment, read at each nvmlInit_v2:
 *
 *   FAKE_NVML_DEVICES=N      devices (default 2); device i uses (i + 1) GiB
 *                            of 80 GiB, 256 MiB of it reserved (v2 only)
 *   FAKE_NVML_USED=a,b,...   device i uses a, b, ... bytes instead
 *   FAKE_NVML_FAIL=f[@i],... calls that return NVML_ERROR_UNKNOWN (999),
 *                            for device i only with @i; f is a call's
 *                            name without "nvml" (DeviceGetMemoryInfo_v2)
 *   FAKE_NVML_MEM_V2=mismatch|notfound   the _v2 memory call refuses its
 *                            struct version (25) or says it is absent (13)
 *   FAKE_NVML_PROC_V2=notfound|stride32|stride16   the _v2 process call
 *                            is absent (13), or writes 32-byte ("v3",
 *                            535.43-535.86) or 16-byte records
 *   FAKE_NVML_PROCS=d:pid:bytes,...   processes on device d; pid "self"
 *                            is the process that loaded the library,
 *                            bytes "na" NVML_VALUE_NOT_AVAILABLE; a pid
 *                            written +pid appears between the sizing
 *                            call and the call that reads the records,
 *                            and stays
 *   FAKE_NVML_SLEEP_MS=ms    every memory call takes that long (a hung
 *                            driver)
 *   FAKE_NVML_PROCS_FILE=f   the processes as FAKE_NVML_PROCS has them,
 *                            read from file f at every call, their sizes
 *                            added to their devices' used memory
 *                            (bench/gpu/dryrun.sh's fake CUDA writes it)
 *
 * fake_nvml_calls(name) counts the calls made to name since init, for
 * the tests that ask which call answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#define SUCCESS 0
#define ERROR_INVALID_ARGUMENT 2
#define ERROR_UNINITIALIZED 1
#define ERROR_INSUFFICIENT_SIZE 7
#define ERROR_FUNCTION_NOT_FOUND 13
#define ERROR_ARGUMENT_VERSION_MISMATCH 25
#define ERROR_UNKNOWN 999
#define NOT_AVAILABLE (~0ull)

typedef struct nvml_memory {
    unsigned long long total, free, used;
} nvml_memory;

typedef struct nvml_memory_v2 {
    unsigned version;
    unsigned long long total, reserved, free, used;
} nvml_memory_v2;

#define MAX_DEV 16
#define MAX_PROC 64

typedef struct proc {
    unsigned dev, pid;
    unsigned long long used;
    int late; /* +pid: only once a sizing call has been answered */
} proc;

static int inited;
static int devices[MAX_DEV];
static unsigned ndev;
static unsigned long long used_of[MAX_DEV];
static char fail[1024];
static char mem_v2[32], proc_v2[32];
static proc procs[MAX_PROC];
static unsigned nprocs;
static int sized; /* a sizing call was answered: the late processes are there */
static unsigned sleep_ms;
static char procs_file[1024];

static struct {
    const char *name;
    unsigned n;
} calls[] = {
    {"DeviceGetMemoryInfo", 0}, {"DeviceGetMemoryInfo_v2", 0},
    {"DeviceGetComputeRunningProcesses", 0}, {"DeviceGetComputeRunningProcesses_v2", 0},
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

unsigned fake_nvml_calls(const char *name) {
    unsigned n = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++)
        if (!strcmp(calls[i].name, name)) n = calls[i].n;
    pthread_mutex_unlock(&mu);
    return n;
}

static void count_call(const char *name) {
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++)
        if (!strcmp(calls[i].name, name)) calls[i].n++;
}

static const char *env(const char *k) {
    const char *v = getenv(k);
    return v ? v : "";
}

/* Whether name (for device dev, or any) is to fail. */
static int fails(const char *name, int dev) {
    char want[128], want_dev[128];
    snprintf(want, sizeof want, "%s", name);
    snprintf(want_dev, sizeof want_dev, "%s@%d", name, dev);
    char copy[sizeof fail];
    snprintf(copy, sizeof copy, "%s", fail);
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (!strcmp(t, want) || (dev >= 0 && !strcmp(t, want_dev))) return 1;
    return 0;
}

static int dev_index(void *dev) {
    long i = (int *)dev - devices;
    return i >= 0 && (unsigned long)i < ndev ? (int)i : -1;
}

/* The FAKE_NVML_PROCS syntax into procs. */
static void parse_procs(const char *text) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", text);
    nprocs = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",\n", &save); t && nprocs < MAX_PROC; t = strtok_r(NULL, ",\n", &save)) {
        proc p = {0, 0, 0, 0};
        char pid[32], bytes[32];
        if (sscanf(t, "%u:%31[^:]:%31s", &p.dev, pid, bytes) != 3) continue;
        const char *q = pid;
        if (*q == '+') p.late = 1, q++;
        p.pid = !strcmp(q, "self") ? (unsigned)getpid() : (unsigned)strtoul(q, NULL, 10);
        p.used = !strcmp(bytes, "na") ? NOT_AVAILABLE : strtoull(bytes, NULL, 10);
        procs[nprocs++] = p;
    }
}

/* FAKE_NVML_PROCS_FILE, read again. */
static void reread(void) {
    if (!procs_file[0]) return;
    char text[1024] = "";
    FILE *f = fopen(procs_file, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = 0;
        fclose(f);
    }
    parse_procs(text);
}

/* Device i's used memory: its configured use and, with a processes
 * file, what the processes there use. */
static unsigned long long used_now(int i) {
    unsigned long long u = used_of[i];
    if (!procs_file[0]) return u;
    reread();
    for (unsigned j = 0; j < nprocs; j++)
        if (procs[j].dev == (unsigned)i && procs[j].used != NOT_AVAILABLE) u += procs[j].used;
    return u;
}

static int impl_nvmlInit_v2(void) {
    snprintf(fail, sizeof fail, "%s", env("FAKE_NVML_FAIL"));
    if (fails("Init_v2", -1)) return ERROR_UNKNOWN;
    const char *d = getenv("FAKE_NVML_DEVICES");
    ndev = d ? (unsigned)atoi(d) : 2;
    if (ndev > MAX_DEV) ndev = MAX_DEV;
    for (unsigned i = 0; i < MAX_DEV; i++) used_of[i] = (unsigned long long)(i + 1) << 30;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", env("FAKE_NVML_USED"));
    unsigned k = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && k < MAX_DEV; t = strtok_r(NULL, ",", &save))
        used_of[k++] = strtoull(t, NULL, 10);
    snprintf(mem_v2, sizeof mem_v2, "%s", env("FAKE_NVML_MEM_V2"));
    snprintf(proc_v2, sizeof proc_v2, "%s", env("FAKE_NVML_PROC_V2"));
    sleep_ms = (unsigned)atoi(env("FAKE_NVML_SLEEP_MS"));
    sized = 0;
    parse_procs(env("FAKE_NVML_PROCS"));
    snprintf(procs_file, sizeof procs_file, "%s", env("FAKE_NVML_PROCS_FILE"));
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) calls[i].n = 0;
    inited = 1;
    return SUCCESS;
}

static int impl_nvmlShutdown(void) {
    inited = 0;
    return SUCCESS;
}

static int impl_nvmlDeviceGetCount_v2(unsigned *n) {
    if (!inited) return ERROR_UNINITIALIZED;
    if (fails("DeviceGetCount_v2", -1)) return ERROR_UNKNOWN;
    *n = ndev;
    return SUCCESS;
}

static int impl_nvmlDeviceGetHandleByIndex_v2(unsigned i, void **dev) {
    if (!inited) return ERROR_UNINITIALIZED;
    if (i >= ndev) return ERROR_INVALID_ARGUMENT;
    if (fails("DeviceGetHandleByIndex_v2", (int)i)) return ERROR_UNKNOWN;
    *dev = &devices[i];
    return SUCCESS;
}

static void nap(void) {
    if (!sleep_ms) return;
    struct timespec ts = {sleep_ms / 1000, (long)(sleep_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

#define TOTAL (80ull << 30)
#define RESERVED (256ull << 20)

static int impl_nvmlDeviceGetMemoryInfo(void *dev, nvml_memory *m) {
    int i = dev_index(dev);
    count_call("DeviceGetMemoryInfo");
    if (!inited) return ERROR_UNINITIALIZED;
    if (i < 0) return ERROR_INVALID_ARGUMENT;
    nap();
    if (fails("DeviceGetMemoryInfo", i)) return ERROR_UNKNOWN;
    m->total = TOTAL;
    m->used = used_now(i);
    m->free = m->total - m->used;
    return SUCCESS;
}

#ifndef FAKE_NVML_V1_ONLY
static int impl_nvmlDeviceGetMemoryInfo_v2(void *dev, nvml_memory_v2 *m) {
    int i = dev_index(dev);
    count_call("DeviceGetMemoryInfo_v2");
    if (!inited) return ERROR_UNINITIALIZED;
    if (i < 0) return ERROR_INVALID_ARGUMENT;
    if (!strcmp(mem_v2, "notfound")) return ERROR_FUNCTION_NOT_FOUND;
    /* NVML_STRUCT_VERSION(Memory, 2): the struct's size, 2 in the top byte. */
    if (!strcmp(mem_v2, "mismatch") || m->version != (sizeof *m | 2u << 24)) return ERROR_ARGUMENT_VERSION_MISMATCH;
    nap();
    if (fails("DeviceGetMemoryInfo_v2", i)) return ERROR_UNKNOWN;
    m->total = TOTAL;
    m->reserved = RESERVED;
    m->used = used_now(i);
    m->free = m->total - m->used;
    return SUCCESS;
}
#endif

/* Writes device i's processes as records of the given stride, the
 * pid at offset 0 and the size at 8 as every layout has them; 32-byte
 * records carry a usedGpuCcProtectedMemory of 0 at 24. */
static int processes(const char *name, void *dev, unsigned *count, void *infos, size_t stride) {
    int i = dev_index(dev);
    count_call(name);
    if (!inited) return ERROR_UNINITIALIZED;
    if (i < 0 || !count) return ERROR_INVALID_ARGUMENT;
    if (fails(name, i)) return ERROR_UNKNOWN;
    reread();
    unsigned n = 0;
    for (unsigned j = 0; j < nprocs; j++)
        if (procs[j].dev == (unsigned)i && (!procs[j].late || sized)) n++;
    if (*count < n || (!infos && n)) {
        *count = n;
        sized = 1; /* the late ones start now, as a process that starts meanwhile */
        return ERROR_INSUFFICIENT_SIZE;
    }
    unsigned char *out = infos;
    unsigned k = 0;
    for (unsigned j = 0; j < nprocs; j++) {
        if (procs[j].dev != (unsigned)i || (procs[j].late && !sized)) continue;
        unsigned char *r = out + (size_t)k++ * stride;
        memset(r, 0, stride);
        memcpy(r, &procs[j].pid, 4);
        memcpy(r + 8, &procs[j].used, 8);
        if (stride >= 24) {
            unsigned gi = 0xffffffffu, ci = 0xffffffffu; /* no MIG */
            memcpy(r + 16, &gi, 4);
            memcpy(r + 20, &ci, 4);
        }
    }
    *count = n;
    return SUCCESS;
}

static int impl_nvmlDeviceGetComputeRunningProcesses(void *dev, unsigned *count, void *infos) {
    return processes("DeviceGetComputeRunningProcesses", dev, count, infos, 16);
}

#ifndef FAKE_NVML_V1_ONLY
static int impl_nvmlDeviceGetComputeRunningProcesses_v2(void *dev, unsigned *count, void *infos) {
    if (!strcmp(proc_v2, "notfound")) {
        count_call("DeviceGetComputeRunningProcesses_v2");
        return ERROR_FUNCTION_NOT_FOUND;
    }
    size_t stride = !strcmp(proc_v2, "stride32") ? 32 : !strcmp(proc_v2, "stride16") ? 16 : 24;
    return processes("DeviceGetComputeRunningProcesses_v2", dev, count, infos, stride);
}
#endif

/* Every call under one lock, as NVML is thread safe: two samplers of one
 * process (a test's, one after the other on detached threads) share the
 * fake's state (mu, above). */

int nvmlInit_v2(void) {
    pthread_mutex_lock(&mu);
    int rc = impl_nvmlInit_v2();
    pthread_mutex_unlock(&mu);
    return rc;
}
int nvmlShutdown(void) {
    pthread_mutex_lock(&mu);
    int rc = impl_nvmlShutdown();
    pthread_mutex_unlock(&mu);
    return rc;
}
int nvmlDeviceGetCount_v2(unsigned *n) {
    pthread_mutex_lock(&mu);
    int rc = impl_nvmlDeviceGetCount_v2(n);
    pthread_mutex_unlock(&mu);
    return rc;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned i, void **dev) {
    pthread_mutex_lock(&mu);
    int rc = impl_nvmlDeviceGetHandleByIndex_v2(i, dev);
    pthread_mutex_unlock(&mu);
    return rc;
}
int nvmlDeviceGetMemoryInfo(void *dev, nvml_memory *m) {
    pthread_mutex_lock(&mu);
    int rc = impl_nvmlDeviceGetMemoryInfo(dev, m);
    pthread_mutex_unlock(&mu);
    return rc;
}
#ifndef FAKE_NVML_V1_ONLY
int nvmlDeviceGetMemoryInfo_v2(void *dev, nvml_memory_v2 *m) {
    pthread_mutex_lock(&mu);
    int rc = impl_nvmlDeviceGetMemoryInfo_v2(dev, m);
    pthread_mutex_unlock(&mu);
    return rc;
}
#endif
int nvmlDeviceGetComputeRunningProcesses(void *dev, unsigned *count, void *infos) {
    pthread_mutex_lock(&mu);
    int rc = impl_nvmlDeviceGetComputeRunningProcesses(dev, count, infos);
    pthread_mutex_unlock(&mu);
    return rc;
}
#ifndef FAKE_NVML_V1_ONLY
int nvmlDeviceGetComputeRunningProcesses_v2(void *dev, unsigned *count, void *infos) {
    pthread_mutex_lock(&mu);
    int rc = impl_nvmlDeviceGetComputeRunningProcesses_v2(dev, count, infos);
    pthread_mutex_unlock(&mu);
    return rc;
}
#endif
