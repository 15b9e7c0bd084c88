/* GPU memory through NVML, loaded with dlopen so that nothing links the
 * driver: a machine without one just has no gpu series. The calls and
 * struct layouts are NVML's stable C ABI (nvml.h; research notes in
 * /work/shared/research/gpu.md, section 3): every call returns an int,
 * 0 success.
 *
 * Two calls have versions that older drivers lack, so both are probed
 * with dlsym and each falls back to its unversioned (v1) form:
 *   nvmlDeviceGetMemoryInfo_v2           40-byte struct with `reserved`
 *   nvmlDeviceGetComputeRunningProcesses_v2   24-byte process records
 * The process records are the ABI trap: drivers 535.43 to 535.86 wrote
 * 32-byte records under the name _v3, and one driver a 16-byte stride,
 * without a version change. We never call _v3; we read _v2 with its
 * 24-byte stride into a buffer large enough for a 40-byte one (a driver
 * that writes a longer stride then overruns nothing), and check every
 * record: its pid must exist under /proc and its size must not exceed
 * the device's total. A record that fails is garbage read at the wrong
 * stride, or a pid of another pid namespace; either way it is left out,
 * and when the unversioned call (16 bytes, the one layout every driver
 * has kept) gives more records that pass, it is used from then on. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define NVML_SUCCESS 0
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_FUNCTION_NOT_FOUND 13
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_VALUE_NOT_AVAILABLE (~0ull)

typedef struct nvml_memory {
    unsigned long long total, free, used;
} nvml_memory;

typedef struct nvml_memory_v2 {
    unsigned version;
    unsigned long long total, reserved, free, used;
} nvml_memory_v2;
/* nvml.h's NVML_STRUCT_VERSION(Memory, 2): the size, version in the top byte. */
#define NVML_MEMORY_V2 ((unsigned)sizeof(nvml_memory_v2) | (2u << 24))

/* Both process layouts start {u32 pid; [pad]; u64 usedGpuMemory}. */
#define STRIDE_V1 16
#define STRIDE_V2 24
/* The longest stride a driver has been seen to write where 24 bytes were
 * asked (32, "v3"), with room to spare. */
#define STRIDE_ROOM 40
/* More processes than this on one device is taken for a garbled count. */
#define MAX_PROCS 4096

typedef int (*proc_fn)(void *dev, unsigned *count, void *infos);

struct mt_nvml {
    void *dl;
    int (*shutdown)(void);
    int (*mem)(void *dev, nvml_memory *m);
    int (*mem2)(void *dev, nvml_memory_v2 *m); /* NULL: absent, or refused once */
    proc_fn proc1, proc2;                       /* either may be NULL */
    int proc2_bad;                              /* _v2 read worse than v1 once */
    int proc2_sure;                             /* _v2 read two records or more right */
    unsigned count;
    void **dev;
    unsigned char *buf; /* the process records' buffer */
    size_t buf_len;
};

mt_nvml *mt_nvml_open(const char *lib) {
    if (lib && !*lib) return NULL;
    void *dl = dlopen(lib ? lib : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!dl) return NULL;
    int (*init)(void) = (int (*)(void))dlsym(dl, "nvmlInit_v2");
    int (*count)(unsigned *) = (int (*)(unsigned *))dlsym(dl, "nvmlDeviceGetCount_v2");
    int (*handle)(unsigned, void **) = (int (*)(unsigned, void **))dlsym(dl, "nvmlDeviceGetHandleByIndex_v2");
    int (*mem)(void *, nvml_memory *) = (int (*)(void *, nvml_memory *))dlsym(dl, "nvmlDeviceGetMemoryInfo");
    int (*shutdown)(void) = (int (*)(void))dlsym(dl, "nvmlShutdown");
    if (!init || !count || !handle || !mem || !shutdown || init() != 0) {
        dlclose(dl);
        return NULL;
    }
    unsigned n = 0;
    mt_nvml *nv = calloc(1, sizeof *nv);
    if (count(&n) != 0 || n == 0 || n > 1024 || !nv || !(nv->dev = calloc(n, sizeof *nv->dev))) {
        shutdown();
        if (nv) free(nv);
        dlclose(dl);
        return NULL;
    }
    nv->dl = dl;
    nv->shutdown = shutdown;
    nv->mem = mem;
    nv->mem2 = (int (*)(void *, nvml_memory_v2 *))dlsym(dl, "nvmlDeviceGetMemoryInfo_v2");
    nv->proc1 = (proc_fn)dlsym(dl, "nvmlDeviceGetComputeRunningProcesses");
    nv->proc2 = (proc_fn)dlsym(dl, "nvmlDeviceGetComputeRunningProcesses_v2");
    /* Device i stays NVML's index i (gpuN names it), also when one of
     * them gives no handle: that one just reads as an error. */
    unsigned good = 0;
    for (unsigned i = 0; i < n; i++) {
        if (handle(i, &nv->dev[i]) == 0)
            good++;
        else
            nv->dev[i] = NULL;
    }
    nv->count = n;
    if (!good) {
        mt_nvml_close(nv);
        return NULL;
    }
    return nv;
}

unsigned mt_nvml_count(const mt_nvml *n) {
    return n ? n->count : 0;
}

int mt_nvml_memory(mt_nvml *n, unsigned i, mt_nvml_mem *out) {
    if (!n || i >= n->count) return MT_E_INVAL;
    if (!n->dev[i]) return MT_E_IO;
    memset(out, 0, sizeof *out);
    if (n->mem2) {
        nvml_memory_v2 m;
        memset(&m, 0, sizeof m);
        m.version = NVML_MEMORY_V2;
        int rc = n->mem2(n->dev[i], &m);
        if (rc == NVML_SUCCESS) {
            out->total = m.total;
            out->used = m.used;
            out->free = m.free;
            out->reserved = m.reserved;
            out->v2 = 1;
            return 0;
        }
        /* A library that exports the name but not this struct version:
         * v1 from now on. Any other failure is this device's, this time. */
        if (rc != NVML_ERROR_ARGUMENT_VERSION_MISMATCH && rc != NVML_ERROR_FUNCTION_NOT_FOUND) return MT_E_IO;
        n->mem2 = NULL;
    }
    nvml_memory m;
    if (n->mem(n->dev[i], &m) != NVML_SUCCESS) return MT_E_IO;
    out->total = m.total;
    out->used = m.used;
    out->free = m.free;
    return 0;
}

/* One process call: the sizing call (count 0), then the real one, again
 * once if the count grew in between. The records stay in n->buf;
 * *got their number. @return an NVML code. */
static int query(mt_nvml *n, proc_fn fn, void *dev, unsigned *got) {
    unsigned c = 0;
    *got = 0;
    int rc = fn(dev, &c, NULL);
    if (rc == NVML_SUCCESS) return rc; /* no processes */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (rc != NVML_ERROR_INSUFFICIENT_SIZE) return rc;
        if (c == 0 || c > MAX_PROCS) return NVML_ERROR_INSUFFICIENT_SIZE;
        size_t need = (size_t)c * STRIDE_ROOM;
        if (n->buf_len < need) {
            unsigned char *b = realloc(n->buf, need);
            if (!b) return NVML_ERROR_INSUFFICIENT_SIZE;
            n->buf = b;
            n->buf_len = need;
        }
        memset(n->buf, 0, need);
        unsigned k = c;
        rc = fn(dev, &k, n->buf);
        if (rc == NVML_SUCCESS) {
            *got = k <= c ? k : c;
            return rc;
        }
        /* More processes than at the sizing call: k is what it takes now. */
        if (rc == NVML_ERROR_INSUFFICIENT_SIZE) c = k > c ? k : c + 1;
    }
    return rc;
}

static int pid_exists(const char *root, unsigned pid) {
    char rel[32], path[4096];
    snprintf(rel, sizeof rel, "/proc/%u", pid);
    if (mt__root_path(path, sizeof path, root, rel)) return 0;
    return access(path, F_OK) == 0;
}

/* Reads got records of the given stride from n->buf into out (the ones
 * that pass, sizes known), *kept their number. @return how many records
 * passed, NOT_AVAILABLE sizes included: the layout's score. */
static size_t parse(const mt_nvml *n, unsigned got, size_t stride, const char *root, uint64_t total,
                    mt_nvml_proc *out, size_t cap, size_t *kept) {
    size_t good = 0;
    *kept = 0;
    for (unsigned j = 0; j < got; j++) {
        uint32_t pid;
        uint64_t used;
        memcpy(&pid, n->buf + j * stride, sizeof pid);
        memcpy(&used, n->buf + j * stride + 8, sizeof used);
        if (!pid || !pid_exists(root, pid)) continue;
        if (used != NVML_VALUE_NOT_AVAILABLE && used > total) continue;
        good++;
        if (used == NVML_VALUE_NOT_AVAILABLE || *kept >= cap) continue;
        out[*kept].pid = pid;
        out[*kept].used = used;
        ++*kept;
    }
    return good;
}

int mt_nvml_processes(mt_nvml *n, unsigned i, const char *root, uint64_t total, mt_nvml_proc *out, size_t cap,
                      size_t *count, int *version) {
    *count = 0;
    if (version) *version = 0;
    if (!n || i >= n->count) return MT_E_INVAL;
    if (!n->dev[i]) return MT_E_IO;
    if (!root) root = "";
    unsigned got;
    size_t good2 = 0, kept2 = 0;
    int tried2 = 0;
    if (n->proc2 && !n->proc2_bad) {
        int rc = query(n, n->proc2, n->dev[i], &got);
        if (rc == NVML_ERROR_FUNCTION_NOT_FOUND || rc == NVML_ERROR_ARGUMENT_VERSION_MISMATCH) {
            n->proc2 = NULL;
        } else if (rc != NVML_SUCCESS && !n->proc1) {
            return MT_E_IO;
        } else if (rc == NVML_SUCCESS) {
            tried2 = 1;
            good2 = parse(n, got, STRIDE_V2, root, total, out, cap, &kept2);
            /* A second record that passes was read at the right stride:
             * the layout is this driver's, and v1 need not be asked to
             * compare again (records of other pid namespaces fail on
             * every poll of a container). */
            if (good2 >= 2) n->proc2_sure = 1;
            /* Every record passed (none at all included): this is the answer. */
            if (good2 == got || !n->proc1 || n->proc2_sure) {
                *count = kept2;
                if (version) *version = 2;
                return 0;
            }
        }
    }
    if (!n->proc1) return MT_E_IO;
    int rc = query(n, n->proc1, n->dev[i], &got);
    if (rc != NVML_SUCCESS) {
        if (!tried2) return MT_E_IO;
        /* v1 failed where _v2 answered: _v2's records that passed. */
        *count = kept2;
        if (version) *version = 2;
        return 0;
    }
    /* v1's records go after _v2's kept ones, so that the better can win
     * without a second buffer. */
    size_t kept1 = 0;
    size_t room = cap > kept2 ? cap - kept2 : 0;
    size_t good1 = parse(n, got, STRIDE_V1, root, total, out + kept2, room, &kept1);
    if (tried2 && good1 <= good2) {
        *count = kept2;
        if (version) *version = 2;
        return 0;
    }
    /* The unversioned call read better: _v2 has this driver's wrong
     * stride, and is not asked again. */
    if (tried2) n->proc2_bad = 1;
    memmove(out, out + kept2, kept1 * sizeof *out);
    *count = kept1;
    if (version) *version = 1;
    return 0;
}

void mt_nvml_close(mt_nvml *n) {
    if (!n) return;
    n->shutdown();
    dlclose(n->dl);
    free(n->dev);
    free(n->buf);
    free(n);
}
