/* GPU memory through NVML, loaded with dlopen so that nothing links the
 * driver: a machine without one just has no gpu series. The calls and
 * struct layouts are NVML's stable C ABI (nvml.h; research notes in
 * /work/shared/research/gpu.md): every call returns an int, 0 success. */
#include <dlfcn.h>
#include <stdlib.h>

#include "internal.h"

typedef struct nvml_memory {
    unsigned long long total, free, used;
} nvml_memory;

struct mt_nvml {
    void *dl;
    int (*shutdown)(void);
    int (*mem)(void *dev, nvml_memory *m);
    unsigned count;
    void **dev;
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

int mt_nvml_memory(mt_nvml *n, unsigned i, uint64_t *used, uint64_t *total) {
    if (!n || i >= n->count) return MT_E_INVAL;
    if (!n->dev[i]) return MT_E_IO;
    nvml_memory m;
    if (n->mem(n->dev[i], &m) != 0) return MT_E_IO;
    *used = m.used;
    *total = m.total;
    return 0;
}

void mt_nvml_close(mt_nvml *n) {
    if (!n) return;
    n->shutdown();
    dlclose(n->dl);
    free(n->dev);
    free(n);
}
