/* A sampler's NVML series per device (gpu.h, mt_gpu_nvml_read). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/array.h"
#include "memtrace/gpu.h"

typedef struct pidseen {
    uint32_t device;
    char pid[24];
} pidseen;

typedef struct nctx {
    mt_gpu_nvml *v;
    size_t n, cap;
    pidseen *pids;
    size_t n_pids, cap_pids;
    uint64_t *last_total_ns, *last_used_ns, *last_drv_ns; /* per v: the newest point read so far */
} nctx;

static mt_gpu_nvml *dev_of(nctx *c, uint32_t d) {
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].device == d) return &c->v[i];
    size_t cap = c->cap;
    if (mt__grow((void **)&c->v, &c->cap, c->n, sizeof *c->v)) return NULL;
    if (c->cap != cap) {
        uint64_t *a = realloc(c->last_total_ns, c->cap * sizeof *a);
        if (a) c->last_total_ns = a;
        uint64_t *b = realloc(c->last_used_ns, c->cap * sizeof *b);
        if (b) c->last_used_ns = b;
        uint64_t *d3 = realloc(c->last_drv_ns, c->cap * sizeof *d3);
        if (d3) c->last_drv_ns = d3;
        if (!a || !b || !d3) return NULL;
    }
    c->last_total_ns[c->n] = c->last_used_ns[c->n] = c->last_drv_ns[c->n] = 0;
    mt_gpu_nvml *g = &c->v[c->n++];
    memset(g, 0, sizeof *g);
    g->device = d;
    return g;
}

int mt_gpu_series_split(mt_str series, uint32_t *device, char *what, size_t n) {
    char name[128];
    if (series.len < 5 || series.len >= sizeof name || memcmp(series.ptr, "gpu", 3)) return 0;
    memcpy(name, series.ptr, series.len);
    name[series.len] = 0;
    unsigned dev;
    int at = 0;
    if (name[3] < '0' || name[3] > '9' || sscanf(name, "gpu%u.%n", &dev, &at) != 1 || !at ||
        strlen(name + at) >= n)
        return 0;
    strcpy(what, name + at);
    *device = dev;
    return 1;
}

static int on_sample(void *arg, const void *rec) {
    nctx *c = arg;
    const mt_sample *s = rec;
    char what[96];
    uint32_t dev;
    if (!mt_gpu_series_split(s->series, &dev, what, sizeof what)) return 0;
    double v = s->span_ns ? s->max : s->value;
    if (!(v >= 0)) return 0;
    /* "gpuN.pid.PID", PID its decimal digits (SPEC.md 4.3). */
    char pid[24] = "";
    int is_pid = !strncmp(what, "pid.", 4) && what[4] && strlen(what + 4) < sizeof pid &&
                 strspn(what + 4, "0123456789") == strlen(what + 4);
    if (is_pid) strcpy(pid, what + 4);
    if (!is_pid && strcmp(what, "used") && strcmp(what, "total") && strcmp(what, "driver_reserved")) return 0;
    mt_gpu_nvml *g = dev_of(c, dev);
    if (!g) return MT_E_NOMEM;
    size_t k = (size_t)(g - c->v);
    if (is_pid) {
        size_t i;
        for (i = 0; i < c->n_pids; i++)
            if (c->pids[i].device == dev && !strcmp(c->pids[i].pid, pid)) break;
        if (i == c->n_pids) {
            if (mt__grow((void **)&c->pids, &c->cap_pids, c->n_pids, sizeof *c->pids)) return MT_E_NOMEM;
            c->pids[c->n_pids].device = dev;
            snprintf(c->pids[c->n_pids++].pid, sizeof pid, "%s", pid);
            g->processes++;
        }
        if (v > g->process_peak) {
            g->process_peak = v;
            snprintf(g->process_pid, sizeof g->process_pid, "%s", pid);
        }
    } else if (!strcmp(what, "used")) {
        if (v > g->used_peak) {
            g->used_peak = v;
            g->used_peak_ns = s->time_ns;
        }
        if (s->time_ns >= c->last_used_ns[k]) {
            c->last_used_ns[k] = s->time_ns;
            g->used_last = s->value;
        }
    } else if (!strcmp(what, "total")) {
        if (s->time_ns >= c->last_total_ns[k]) {
            c->last_total_ns[k] = s->time_ns;
            g->total = (uint64_t)v;
        }
    } else if (s->time_ns >= c->last_drv_ns[k]) {
        c->last_drv_ns[k] = s->time_ns;
        g->driver_reserved = s->value;
    }
    return 0;
}

static int cmp_dev(const void *a, const void *b) {
    const mt_gpu_nvml *x = a, *y = b;
    return x->device < y->device ? -1 : x->device > y->device;
}

int mt_gpu_nvml_read(const mt_snapshot *s, mt_gpu_nvml **out, size_t *n, mt_diag *diag) {
    nctx c = { 0 };
    *out = NULL;
    *n = 0;
    int rc = mt_snapshot_each(s, MT_KIND_SAMPLE, on_sample, &c, diag);
    if (rc == MT_E_NOMEM) rc = mt_diag_set(diag, rc, "out of memory for the NVML series");
    /* A device is NVML's only with gpuN.used (cell logs have other gpuN.*). */
    size_t w = 0;
    for (size_t i = 0; !rc && i < c.n; i++)
        if (c.v[i].used_peak > 0 || c.v[i].total) c.v[w++] = c.v[i];
    free(c.pids);
    free(c.last_total_ns);
    free(c.last_used_ns);
    free(c.last_drv_ns);
    if (!rc && !w) rc = mt_diag_set(diag, MT_E_NOTFOUND, "no NVML samples (gpuN.used: memtrace-sample records them)");
    if (rc) {
        free(c.v);
        return rc;
    }
    qsort(c.v, w, sizeof *c.v, cmp_dev);
    *out = c.v;
    *n = w;
    return 0;
}
