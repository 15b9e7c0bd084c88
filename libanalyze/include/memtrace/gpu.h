/* GPU memory of a CUDA caching allocator (SPEC.md 4.5): what a PyTorch
 * snapshot's segments and blocks say about each device, pool and stream
 * (reserved, allocated, requested, fragmentation, what empty_cache would
 * return), the peak over its device trace and what was live then, and
 * each out-of-memory event classified as capacity or fragmentation.
 *
 * The measures (research notes, gpu.md section 2), for the blocks of a
 * device, pool and stream:
 *   R reserved       sum of segment sizes
 *   A allocated      sum of active_allocated block sizes
 *   Q requested      what their callers asked for (A - Q is rounding waste)
 *   P pending free   active_pending_free blocks (freed, waiting on a stream)
 *   F inactive       R - A - P: cached and free
 *   releasable       segments whose blocks are all inactive (empty_cache)
 *   stranded         F - releasable: free, but in segments still in use
 *   L largest free   the largest inactive block
 * internal fragmentation (A - Q) / A, external fragmentation 1 - L / F,
 * utilization A / R (each 0 when its denominator is).
 *
 * The trace is a ring buffer: its first entries may free blocks (and
 * segments) it never saw allocated. Such a block was live before the
 * trace began, as was every block of the snapshot's state that no trace
 * entry allocates: the replay starts from those, so the curve and the
 * peak hold the memory the trace no longer shows. "Active" in the trace
 * is PyTorch's: from alloc to free_completed (a block pending free still
 * holds its memory). */
#ifndef MEMTRACE_GPU_H
#define MEMTRACE_GPU_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"
#include "memtrace/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One row of measures: a device's pool and stream, or a device's total
 * (pool "" and all_streams 1). */
typedef struct mt_gpu_pool {
    uint32_t device;
    char pool[40];          /* "large", "small", "private:A,B"; "" for a device's total */
    uint64_t stream;
    int all_streams;        /* a total over the device's streams */
    uint32_t segments;
    uint32_t expandable;    /* of which expandable */
    uint32_t blocks;
    uint64_t reserved;      /* R */
    uint64_t allocated;     /* A */
    uint64_t requested;     /* Q */
    uint64_t pending_free;  /* P */
    uint64_t inactive;      /* F */
    uint64_t releasable;
    uint64_t stranded;
    uint64_t largest_free;  /* L */
    double internal_frag;
    double external_frag;
    double utilization;
} mt_gpu_pool;

/* What the device trace says about one device. */
typedef struct mt_gpu_trace_stats {
    uint64_t events;        /* trace entries of the device */
    int wrapped;            /* entries free what the trace never allocated */
    uint64_t start_active;  /* active bytes before the first entry */
    uint64_t peak_active;   /* the most active bytes after any entry */
    uint64_t peak_time_ns;  /* that entry's time_ns */
    uint64_t peak_index;    /* and its position in the device's trace */
    uint64_t peak_reserved; /* reserved bytes then */
    uint64_t max_reserved;  /* the most reserved bytes after any entry */
    uint64_t end_active;    /* after the last entry */
    uint64_t ooms;
} mt_gpu_trace_stats;

/* One device. */
typedef struct mt_gpu_device_report {
    uint32_t device;
    char name[64];
    uint64_t total;         /* capacity; 0 when the file does not say */
    uint64_t used;          /* device memory in use by everyone when the state was taken; 0 unknown */
    int has_used;
    int64_t outside;        /* used - reserved: the CUDA context, NCCL, other processes (has_used) */
    int64_t alloc_retries;  /* cudaMalloc retries (memory_stats' num_alloc_retries); -1 unknown */
    mt_gpu_pool all;        /* the device's totals */
    int has_trace;
    mt_gpu_trace_stats trace;
} mt_gpu_device_report;

/* Settings that would have avoided an OOM (mt_gpu_oom.helps). */
#define MT_GPU_HELP_EXPANDABLE 0x1u /* expandable_segments:True: the free bytes could have served it */
#define MT_GPU_HELP_MAX_SPLIT 0x2u  /* max_split_size_mb: a segment as large as the request was carved
                                     * by smaller ones, which would have gone elsewhere */

/* The cause of an OOM (mt_gpu_oom.cause). */
#define MT_GPU_OOM_CAPACITY 0      /* short even were every free byte one block */
#define MT_GPU_OOM_FRAGMENTATION 1 /* the bytes were there, in no one piece */
#define MT_GPU_OOM_FITS 2          /* a free block or the device's free bytes would have held it */

/* "capacity", "fragmentation", "fits"; "?" for another value. */
const char *mt_gpu_oom_cause_name(int cause);

/* An out-of-memory trace entry (action "oom"), classified. The request
 * of size S draws on its pool (small up to 1 MiB, else large) and stream:
 * F is what that pool and stream held free then, L its largest free
 * block, D the device's free bytes. It is a fragmentation OOM when the
 * bytes were there (S <= F + D) but in no one piece (S > max(L, D)); a
 * capacity OOM when they were not, short of S - (F + D) bytes; and when
 * S <= max(L, D), the state the file holds would have served it ("fits"):
 * something the snapshot does not show refused it (max_split_size keeps
 * blocks above it for requests as large, a per-process memory fraction,
 * another process taking the memory first). */
typedef struct mt_gpu_oom {
    uint32_t device;
    uint64_t time_ns;
    uint64_t index;         /* position in the device's trace */
    uint64_t size;          /* S */
    uint64_t stream;
    uint64_t device_free;   /* D */
    uint64_t active;        /* the device's active bytes then */
    uint64_t reserved;      /* its reserved bytes then */
    uint64_t pool_free;     /* F of the request's pool and stream */
    uint64_t largest_free;  /* L there */
    int cause;              /* MT_GPU_OOM_* */
    int fragmentation;      /* cause == MT_GPU_OOM_FRAGMENTATION */
    uint64_t shortfall;     /* capacity: S - (F + D) */
    unsigned helps;         /* MT_GPU_HELP_* (only what would have helped) */
    uint32_t max_split_mb;  /* with MT_GPU_HELP_MAX_SPLIT: the value to set */
    uint32_t stack;
} mt_gpu_oom;

/* Live bytes of one allocation stack on a device: in the snapshot's state
 * (at_peak 0) or at the trace's peak (at_peak 1). */
typedef struct mt_gpu_site {
    uint32_t device;
    int at_peak;
    uint32_t stack;         /* 0: not recorded */
    uint64_t bytes;
    uint64_t blocks;
} mt_gpu_site;

typedef struct mt_gpu_opts {
    int device;             /* only this device; -1 (or an all-zero opts with device_set 0): every device */
    int device_set;
    size_t top;             /* sites per device and moment by bytes; 0: 10; SIZE_MAX: every one */
} mt_gpu_opts;

typedef struct mt_gpu_report mt_gpu_report;

/* Analyses the GPU records of s. opts may be NULL (every device, 10
 * sites). A file with no gpu records gives MT_E_NOTFOUND, so that a tool
 * can say the file holds no GPU state.
 * @return 0; MT_E_NOTFOUND (no gpu_devices, gpu_segments or gpu_events
 *         records, or none of opts->device); MT_E_NOMEM; what
 *         mt_snapshot_each() returns. */
int mt_gpu_analyze(const mt_snapshot *s, const mt_gpu_opts *opts, mt_gpu_report **out, mt_diag *diag);

/* NULL is a no-op. */
void mt_gpu_report_free(mt_gpu_report *r);

/* The report's devices by index, rows (a device's total first, then its
 * pools and streams by reserved bytes, the most first), OOMs in trace
 * order and sites (per device, snapshot sites then peak sites, by bytes).
 * Each returns the count and sets *out (valid until the report is freed). */
size_t mt_gpu_report_devices(const mt_gpu_report *r, const mt_gpu_device_report **out);
size_t mt_gpu_report_pools(const mt_gpu_report *r, const mt_gpu_pool **out);
size_t mt_gpu_report_ooms(const mt_gpu_report *r, const mt_gpu_oom **out);
size_t mt_gpu_report_sites(const mt_gpu_report *r, const mt_gpu_site **out);

/* Whether the file's allocator had expandable segments on (meta
 * gpu.expandable_segments = 1): a predicate, 1 or 0. */
int mt_gpu_report_expandable(const mt_gpu_report *r);

/* What in the file does not hold together, which the figures above take
 * as it is: segments whose blocks leave space uncovered (counted free) or
 * overlap or run past their end, blocks in a state PyTorch does not name,
 * trace actions this version does not know (they change nothing). */
typedef struct mt_gpu_oddities {
    size_t gaps;              /* segments with space no block covers */
    size_t overlaps;          /* segments whose blocks overlap or run past the segment */
    size_t unknown_states;    /* blocks */
    size_t unknown_actions;   /* trace entries */
} mt_gpu_oddities;
void mt_gpu_report_oddities(const mt_gpu_report *r, mt_gpu_oddities *out);

/* The allocator's max_split_size in bytes (meta gpu.max_split_size), 0
 * when the file does not give it or it is unset (PyTorch's SIZE_MAX). */
uint64_t mt_gpu_report_max_split(const mt_gpu_report *r);

/* The live-bytes curve of one device's trace for a plot: the active and
 * reserved bytes after each entry, at most max points: every
 * entry when it has no more; else the first and the last entry and, for
 * each stretch of entries between, its least and most active entries in
 * their order (the swings and the peak kept), with the stretch's most
 * reserved. The caller owns the arrays it passes, max long each.
 * @return the points written; 0 when the device has no trace. */
size_t mt_gpu_report_curve(const mt_gpu_report *r, uint32_t device, size_t max, uint64_t *time_ns,
                           uint64_t *active, uint64_t *reserved);

/* Spread of a measure over devices (or ranks): the largest, the smallest,
 * the mean and the imbalance, (max - mean) / mean (0 for one value or a
 * mean of 0). v holds n values. */
typedef struct mt_gpu_spread {
    double max, min, mean, imbalance;
    size_t max_at, min_at;  /* indices into v */
} mt_gpu_spread;
void mt_gpu_spread_of(const double *v, size_t n, mt_gpu_spread *out);

/* ---- batch size ------------------------------------------------------ */

/* One batch size's steps (samples gpuN.step.*, SPEC.md 4.5): the highest
 * peaks over its steps. */
typedef struct mt_gpu_batch_point {
    double batch;
    uint64_t peak_allocated;
    uint64_t peak_reserved;   /* 0 when not recorded */
    uint32_t steps;
    int oom;                  /* a step of this size ran out of memory */
} mt_gpu_batch_point;

/* How far the fit may be trusted (mt_gpu_batch.confidence). */
typedef enum mt_gpu_confidence {
    MT_GPU_CONF_NONE = 0,     /* one batch size: no fit */
    MT_GPU_CONF_LOW,          /* two sizes (no check that memory grows linearly), a poor fit, or far beyond */
    MT_GPU_CONF_MEDIUM,       /* three or more sizes, within 4x of the largest measured */
    MT_GPU_CONF_HIGH          /* three or more sizes fitting within 2% and within 2x of the largest */
} mt_gpu_confidence;

/* Batch-size advice for one device: peak allocated = fixed + batch x
 * per_sample by least squares over every step (the research notes'
 * empirical method), and the largest batch whose peak, grown by the
 * measured fragmentation (the highest peak reserved / peak allocated - 1),
 * fits the device's capacity less the margin and the memory outside
 * PyTorch. With three or more sizes, max_batch_safe uses the upper 95%
 * prediction bound of the fit instead of the fit itself. A static
 * estimate of the model's states (weights + gradients + optimizer state,
 * from meta gpu.model.* or the caller's opts) is compared with the fit's
 * fixed memory: they disagree when fixed is below 85% of it (the peaks do
 * not hold the optimizer's state, or the fit is off) or above twice it
 * plus 512 MiB (something else stays across steps, or the activations do
 * not grow linearly). */
typedef struct mt_gpu_batch {
    uint32_t device;
    mt_gpu_batch_point *points; /* by batch size */
    size_t n_points;
    uint64_t steps;
    int fitted;               /* two or more batch sizes */
    double per_sample;        /* bytes per sample */
    double fixed;             /* bytes at batch 0 */
    double residual_rms;      /* of the fit over the steps' batch maxima, bytes */
    double residual_max;
    double fragmentation;     /* peak reserved / peak allocated - 1, the highest; 0 unknown */
    uint64_t total;           /* capacity (0: unknown: no advice) */
    uint64_t outside;         /* used - reserved at the step ends, the highest */
    double margin;            /* of total, kept free */
    double budget;            /* total x (1 - margin) - outside */
    int64_t max_batch;        /* -1: no advice (no fit, no capacity, or nothing fits) */
    int64_t max_batch_safe;   /* with the fit's upper 95% bound; -1 as above */
    int64_t oom_batch;        /* the smallest batch recorded running out of memory; -1 none */
    double extrapolation;     /* max_batch / the largest batch measured */
    mt_gpu_confidence confidence;
    const char *why;          /* the confidence's reason, a sentence (static) */
    int oom_contradicts;      /* oom_batch fits by the fit: it under-predicts there */
    int has_static;
    uint64_t weights, gradients, optimizer_state; /* the static estimate's parts */
    int disagree;             /* the static estimate and the fit disagree */
    /* The fit's spread, for mt_gpu_batch_predict_high(). */
    size_t fit_n;             /* batch sizes fitted (those that did not run out of memory) */
    double fit_xbar, fit_sxx; /* their mean and sum of squared deviations */
    double fit_s;             /* the residual standard error (fit_n - 2 degrees of freedom) */
} mt_gpu_batch;

typedef struct mt_gpu_batch_opts {
    int device;               /* as mt_gpu_opts */
    int device_set;
    double margin;            /* 0: 0.05 (Lightning's default) */
    uint64_t total;           /* capacity when the file gives none; 0: the file's */
    /* The model, overriding the file's meta: 0 = not given. */
    uint64_t param_bytes, trainable_bytes;
    double optimizer_states;  /* optimizer state per trainable byte (Adam 2, SGD with momentum 1); < 0: not given */
} mt_gpu_batch_opts;

/* The batch-size fits of the devices with step samples in s, *n of them,
 * by device; free with mt_gpu_batches_free(). opts may be NULL.
 * @return 0; MT_E_NOTFOUND (no gpuN.step.peak_allocated samples, or none of
 *         opts->device); MT_E_INVAL (a step label that is not a positive
 *         number: diag names it); MT_E_NOMEM; what mt_snapshot_each()
 *         returns. */
int mt_gpu_batch_fit(const mt_snapshot *s, const mt_gpu_batch_opts *opts, mt_gpu_batch **out, size_t *n,
                     mt_diag *diag);
void mt_gpu_batches_free(mt_gpu_batch *b, size_t n);

/* The fit's peak allocated at batch (fixed + batch x per_sample). */
double mt_gpu_batch_predict(const mt_gpu_batch *b, double batch);

/* Its upper 95% prediction bound at batch: the fit plus Student's t times
 * the standard error of a new step's peak there. With fewer than three
 * sizes there is no spread to go by and it is the fit itself. */
double mt_gpu_batch_predict_high(const mt_gpu_batch *b, double batch);

/* ---- NVML samples ----------------------------------------------------- */

/* What a sampler's NVML series (gpuN.used, gpuN.total,
 * gpuN.driver_reserved, gpuN.pid.PID; SPEC.md 4.3) say about device N: the
 * memory in use by everyone, which PyTorch's allocator does not see. A
 * thinned bucket counts at its max. */
typedef struct mt_gpu_nvml {
    uint32_t device;
    uint64_t total;           /* the last gpuN.total; 0 unknown */
    double used_peak;         /* the most gpuN.used */
    uint64_t used_peak_ns;    /* when (the samples' clock) */
    double used_last;         /* the last gpuN.used */
    double driver_reserved;   /* the last gpuN.driver_reserved; 0 unknown */
    uint32_t processes;       /* distinct pids with a gpuN.pid.PID series */
    double process_peak;      /* the most any one process used */
    char process_pid[24];     /* that process's pid ("" when none) */
} mt_gpu_nvml;

/* Splits a GPU series name "gpuN.WHAT" (SPEC.md 4.3): a predicate, 1 with
 * *device = N and WHAT copied into what (n bytes, NUL-terminated; a longer
 * WHAT is not a match), else 0. */
int mt_gpu_series_split(mt_str series, uint32_t *device, char *what, size_t n);

/* The NVML figures of s per device, *n of them by device; free with
 * free(). @return 0; MT_E_NOTFOUND (no gpuN.used samples); MT_E_NOMEM;
 * what mt_snapshot_each() returns. */
int mt_gpu_nvml_read(const mt_snapshot *s, mt_gpu_nvml **out, size_t *n, mt_diag *diag);

#ifdef __cplusplus
}
#endif

#endif
