/* A stand-in for libnvidia-ml.so.1 with the calls the sampler resolves:
 * two devices, device i using (i + 1) GiB of 80 GiB. */
typedef struct nvml_memory {
    unsigned long long total, free, used;
} nvml_memory;

static int devices[2];
static int inited;

int nvmlInit_v2(void) {
    inited = 1;
    return 0;
}
int nvmlShutdown(void) {
    inited = 0;
    return 0;
}
int nvmlDeviceGetCount_v2(unsigned *n) {
    if (!inited) return 1;
    *n = 2;
    return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned i, void **dev) {
    if (!inited || i >= 2) return 2;
    *dev = &devices[i];
    return 0;
}
int nvmlDeviceGetMemoryInfo(void *dev, nvml_memory *m) {
    if (!inited) return 1;
    unsigned long long i = (unsigned long long)((int *)dev - devices);
    m->total = 80ull << 30;
    m->used = (i + 1) << 30;
    m->free = m->total - m->used;
    return 0;
}
