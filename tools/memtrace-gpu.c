/* memtrace-gpu: a CUDA caching allocator's state and trace (SPEC.md 4.5),
 * measured per device, pool and stream, with the trace's peak, its OOMs
 * classified, and several devices or ranks side by side. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"
#include "memtrace/gpu.h"
#include "memtrace/sites.h"
#include "memtrace/units.h"

static const mt_tool tool = {
    "memtrace-gpu", "FILE...",
    "Show the GPU memory of PyTorch allocator snapshots (memtrace-convert --from torch, memtrace.dump_cuda): per\n"
    "device, pool and stream the reserved, allocated, requested and pending-free bytes, internal and external\n"
    "fragmentation, what empty_cache would return and what is stranded in segments still in use; memory outside\n"
    "PyTorch; the top allocation sites; the peak of the device trace and what was live then; each out-of-memory\n"
    "event classified as capacity or fragmentation, with the setting that would have avoided it. Several files\n"
    "(ranks) or devices are compared side by side. From steps that memtrace.gpu_steps recorded at two or more\n"
    "batch sizes: memory per sample and fixed, the largest batch that fits, and how sure that is.",
    1, 64,
    "A fragmentation OOM is one where the free bytes were there but in no one piece: S <= F + D and S > max(L, D)\n"
    "(S the request, F the free bytes of its pool and stream, L their largest block, D the device's free bytes).\n"
    "exit status: 0 success, 2 usage error, 3 bad or damaged input, or a file without GPU records\n",
};

enum { FMT_TEXT, FMT_JSON };

typedef struct file_view {
    const char *path;
    mt_snapshot *s;
    mt_sites *sites;
    mt_gpu_report *r;       /* NULL: the file holds no allocator state */
    mt_gpu_batch *b;        /* the batch fits; NULL: no step records */
    size_t nb;
    mt_gpu_nvml *nv;        /* a sampler's NVML series; NULL: none */
    size_t nnv;
} file_view;

/* The most any allocator file reserved on device d (its trace's most, or
 * its state's), for the memory outside PyTorch at NVML's peak; 0: none. */
static uint64_t most_reserved(const file_view *fs, size_t nf, uint32_t d) {
    uint64_t most = 0;
    for (size_t k = 0; k < nf; k++) {
        const mt_gpu_device_report *devs;
        size_t nd = fs[k].r ? mt_gpu_report_devices(fs[k].r, &devs) : 0;
        for (size_t i = 0; i < nd; i++) {
            if (devs[i].device != d) continue;
            uint64_t r = devs[i].has_trace && devs[i].trace.max_reserved > devs[i].all.reserved
                             ? devs[i].trace.max_reserved
                             : devs[i].all.reserved;
            if (r > most) most = r;
        }
    }
    return most;
}

static const char *hb(uint64_t v, char *buf) { return mt_human_bytes(v, buf); }

/* A file with step records only has no report: no devices, pools, OOMs. */
static size_t devices_of(const mt_gpu_report *r, const mt_gpu_device_report **out) {
    *out = NULL;
    return r ? mt_gpu_report_devices(r, out) : 0;
}
static size_t pools_of(const mt_gpu_report *r, const mt_gpu_pool **out) {
    *out = NULL;
    return r ? mt_gpu_report_pools(r, out) : 0;
}
static size_t ooms_of(const mt_gpu_report *r, const mt_gpu_oom **out) {
    *out = NULL;
    return r ? mt_gpu_report_ooms(r, out) : 0;
}

/* Whether a frame's file is PyTorch's own code ("/torch/" in its path):
 * where a snapshot's stacks end, and what a user cannot change. */
static int torch_file(mt_str file) {
    static const char pat[] = "/torch/";
    if (file.len >= 6 && !memcmp(file.ptr, "torch/", 6)) return 1;
    for (size_t i = 0; i + sizeof pat - 1 <= file.len; i++)
        if (!memcmp(file.ptr + i, pat, sizeof pat - 1)) return 1;
    return 0;
}

/* "function (file:line)" of one frame, appended at buf + *at. */
static void put_frame(const file_view *f, uint32_t stack, char *buf, size_t n, size_t *at) {
    mt_str file, fn;
    uint32_t line;
    int w;
    if (!mt_sites_frame(f->sites, stack, &file, &fn, &line))
        w = snprintf(buf + *at, n - *at, "<unknown>");
    else if (fn.len)
        w = snprintf(buf + *at, n - *at, "%s (%s:%" PRIu32 ")", mt_cli_str(fn), mt_cli_str(file), line);
    else
        w = snprintf(buf + *at, n - *at, "%s:%" PRIu32, mt_cli_str(file), line);
    if (w > 0) *at += (size_t)w < n - *at ? (size_t)w : n - *at - 1;
}

/* A site as shown: the innermost frame outside PyTorch's own code (the
 * innermost one when every frame is PyTorch's), or with whole every frame,
 * innermost first, joined by " < ". */
static const char *site_text(const file_view *f, uint32_t stack, int whole, char *buf, size_t n) {
    if (!stack || !f->sites) {
        snprintf(buf, n, "<not recorded>");
        return buf;
    }
    size_t at = 0;
    buf[0] = 0;
    if (whole) {
        /* A chain that loops is cut after as many frames as the table has. */
        size_t left = mt_sites_count(f->sites) + 1;
        for (uint32_t s = stack; s && left-- && at + 8 < n; s = mt_sites_parent(f->sites, s)) {
            if (at) at += (size_t)snprintf(buf + at, n - at, " < ");
            put_frame(f, s, buf, n, &at);
        }
        return buf;
    }
    uint32_t pick = stack;
    size_t left = mt_sites_count(f->sites) + 1;
    for (uint32_t s = stack; s && left--; s = mt_sites_parent(f->sites, s)) {
        mt_str file, fn;
        uint32_t line;
        if (mt_sites_frame(f->sites, s, &file, &fn, &line) && !torch_file(file)) {
            pick = s;
            break;
        }
    }
    put_frame(f, pick, buf, n, &at);
    return buf;
}

static void text_pool(const mt_gpu_pool *p) {
    char b[8][16], st[32];
    if (p->all_streams) snprintf(st, sizeof st, "*");
    else snprintf(st, sizeof st, "%#" PRIx64, p->stream);
    printf("  %-14s %-14s %5" PRIu32 " %10s %10s %10s %10s %10s %10s %10s %10s %6.1f%% %6.1f%% %6.1f%%\n",
           p->all_streams ? "(all)" : p->pool, st, p->segments, hb(p->reserved, b[0]), hb(p->allocated, b[1]),
           hb(p->requested, b[2]), hb(p->pending_free, b[3]), hb(p->inactive, b[4]), hb(p->releasable, b[5]),
           hb(p->stranded, b[6]), hb(p->largest_free, b[7]), p->internal_frag * 100, p->external_frag * 100,
           p->utilization * 100);
}

static void text_oom(const file_view *f, const mt_gpu_oom *o, int whole) {
    char b[6][16], site[1024];
    printf("  OOM at trace entry %" PRIu64 ": %s requested on stream %#" PRIx64 "; device free %s, active %s,"
           " reserved %s\n",
           o->index, hb(o->size, b[0]), o->stream, hb(o->device_free, b[1]), hb(o->active, b[2]),
           hb(o->reserved, b[3]));
    if (o->fragmentation) {
        printf("    fragmentation: %s free in its pool and stream plus %s on the device would hold it, but the"
               " largest free block is %s\n",
               hb(o->pool_free, b[0]), hb(o->device_free, b[1]), hb(o->largest_free, b[2]));
        if (o->helps & MT_GPU_HELP_EXPANDABLE)
            printf("    would have helped: PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True\n");
        if (o->helps & MT_GPU_HELP_MAX_SPLIT)
            printf("    %s: PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:%" PRIu32
                   " (large cached blocks stay whole for requests this size)\n",
                   o->helps & MT_GPU_HELP_EXPANDABLE ? "or" : "would have helped", o->max_split_mb);
        if (!o->helps) printf("    no allocator setting would have helped: expandable segments are already on\n");
    } else if (o->cause == MT_GPU_OOM_FITS) {
        uint64_t ms = f->r ? mt_gpu_report_max_split(f->r) : 0;
        int block = o->largest_free >= o->device_free;
        printf("    fits: %s (%s) would have held it, as things stood then; something the snapshot does not show "
               "refused it", block ? "the largest free block of its pool and stream" : "the device's free memory",
               hb(block ? o->largest_free : o->device_free, b[0]));
        if (ms && o->largest_free > ms && o->size < ms)
            printf(" (max_split_size is %s: blocks above it serve only requests as large)", hb(ms, b[1]));
        else
            printf(" (a per-process memory fraction, another process taking the memory first)");
        putchar('\n');
    } else {
        printf("    capacity: short of %s even were every free byte of its pool (%s) and of the device (%s) one"
               " block; no allocator setting helps: use less memory\n",
               hb(o->shortfall, b[0]), hb(o->pool_free, b[1]), hb(o->device_free, b[2]));
    }
    if (o->stack) printf("    at %s\n", site_text(f, o->stack, whole, site, sizeof site));
}

/* The sites of a device at a moment as shown: stacks whose text is the
 * same (the innermost frame, or with --stack the whole stack) are one row,
 * so a line reached by several call paths is counted once; by bytes, the
 * top ones. */
typedef struct shown_site {
    char *text;
    uint64_t bytes, blocks;
    uint32_t stack;         /* the largest stack of the row */
    uint64_t stack_bytes;
} shown_site;

static size_t top_n;

static int cmp_shown(const void *a, const void *b) {
    const shown_site *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    return strcmp(x->text, y->text);
}

static size_t shown_sites(const file_view *f, uint32_t device, int at_peak, int whole, shown_site **out) {
    const mt_gpu_site *sites;
    size_t n = mt_gpu_report_sites(f->r, &sites), k = 0;
    shown_site *v = calloc(n + 1, sizeof *v);
    char site[2048];
    *out = v;
    if (!v) return 0;
    for (size_t i = 0; i < n; i++) {
        if (sites[i].device != device || sites[i].at_peak != at_peak) continue;
        const char *t = site_text(f, sites[i].stack, whole, site, sizeof site);
        size_t j = 0;
        while (j < k && strcmp(v[j].text, t)) j++;
        if (j == k) {
            if (!(v[k].text = strdup(t))) break;
            k++;
        }
        v[j].bytes += sites[i].bytes;
        v[j].blocks += sites[i].blocks;
        if (sites[i].bytes > v[j].stack_bytes) {
            v[j].stack_bytes = sites[i].bytes;
            v[j].stack = sites[i].stack;
        }
    }
    qsort(v, k, sizeof *v, cmp_shown);
    for (size_t i = top_n; i < k; i++) free(v[i].text);
    return k < top_n ? k : top_n;
}

static void free_shown(shown_site *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) free(v[i].text);
    free(v);
}

static void text_sites(const file_view *f, uint32_t device, int at_peak, int whole) {
    shown_site *v;
    size_t n = shown_sites(f, device, at_peak, whole, &v);
    char b[16];
    if (n) printf("  top sites %s:\n", at_peak ? "at the trace's peak" : "of the snapshot's live blocks");
    for (size_t i = 0; i < n; i++)
        printf("    %10s %6" PRIu64 " block%s  %s\n", hb(v[i].bytes, b), v[i].blocks, v[i].blocks == 1 ? " " : "s",
               v[i].text);
    free_shown(v, n);
}

static const char *conf_name(mt_gpu_confidence c) {
    static const char *n[] = { "none", "low", "medium", "high" };
    return n[c];
}

/* --at: a batch size to predict the peak of; 0: none. */
static double predict_at;

static void text_batch(const mt_gpu_batch *b) {
    char x[6][16];
    printf("device %" PRIu32 " batch size: %" PRIu64 " steps at %zu sizes\n", b->device, b->steps, b->n_points);
    printf("  %10s %6s %12s %12s\n", "batch", "steps", "peak alloc", "peak resv");
    for (size_t i = 0; i < b->n_points; i++) {
        const mt_gpu_batch_point *p = &b->points[i];
        printf("  %10g %6" PRIu32 " %12s %12s%s", p->batch, p->steps, hb(p->peak_allocated, x[0]),
               p->peak_reserved ? hb(p->peak_reserved, x[1]) : "-", p->oom ? "  out of memory" : "");
        if (b->fitted && !p->oom) {
            double r = (double)p->peak_allocated - mt_gpu_batch_predict(b, p->batch);
            printf("  fit %s, residual %s%s", hb((uint64_t)(mt_gpu_batch_predict(b, p->batch) + 0.5), x[2]),
                   r < 0 ? "-" : "+", hb((uint64_t)(fabs(r) + 0.5), x[3]));
        }
        putchar('\n');
    }
    if (!b->fitted) {
        printf("  one batch size: no fit; record steps at a second (and a third) size\n");
    } else {
        printf("  per sample %s, fixed %s%s; residual rms %s, max %s\n", hb((uint64_t)(b->per_sample > 0 ? b->per_sample : 0), x[0]),
               b->fixed < 0 ? "-" : "", hb((uint64_t)fabs(b->fixed), x[1]), hb((uint64_t)b->residual_rms, x[2]),
               hb((uint64_t)b->residual_max, x[3]));
        if (!b->total)
            printf("  the device's capacity is unknown: give --capacity SIZE for the largest batch that fits\n");
        else if (b->max_batch < 0)
            printf("  not even batch 1 fits %s (capacity %s less %.0f%% margin and %s outside PyTorch, peaks grown "
                   "by %.1f%% fragmentation)\n", hb((uint64_t)(b->budget > 0 ? b->budget : 0), x[0]), hb(b->total, x[1]),
                   b->margin * 100, hb(b->outside, x[2]), b->fragmentation * 100);
        else
            printf("  largest batch that fits: %" PRId64 " (%" PRId64 " with the fit's upper 95%% bound), %.1fx the"
                   " largest measured; capacity %s less %.0f%% margin and %s outside PyTorch, peaks grown by %.1f%%"
                   " fragmentation; confidence %s (%s)\n", b->max_batch, b->max_batch_safe, b->extrapolation,
                   hb(b->total, x[0]), b->margin * 100, hb(b->outside, x[1]), b->fragmentation * 100,
                   conf_name(b->confidence), b->why);
        if (b->oom_contradicts)
            printf("  batch %" PRId64 " ran out of memory, yet the fit says it fits: the fit under-predicts there "
                   "(memory grows faster than linearly, or a spike); the advice stays below it\n", b->oom_batch);
        else if (b->oom_batch > 0)
            printf("  batch %" PRId64 " ran out of memory: the advice stays below it\n", b->oom_batch);
        if (predict_at > 0) {
            double y = mt_gpu_batch_predict(b, predict_at), hi = mt_gpu_batch_predict_high(b, predict_at);
            printf("  at batch %g: peak allocated %s", predict_at, hb((uint64_t)(y > 0 ? y : 0), x[0]));
            if (hi > y) printf(" (at most %s with 95%% confidence)", hb((uint64_t)hi, x[1]));
            printf(", reserved about %s with the fragmentation measured\n",
                   hb((uint64_t)((y > 0 ? y : 0) * (1 + b->fragmentation)), x[2]));
        }
    }
    if (b->has_static) {
        uint64_t st = b->weights + b->gradients + b->optimizer_state;
        printf("  model states: weights %s + gradients %s + optimizer %s = %s", hb(b->weights, x[0]),
               hb(b->gradients, x[1]), hb(b->optimizer_state, x[2]), hb(st, x[3]));
        if (!b->fitted) putchar('\n');
        else if (!b->disagree) printf("; the fit's fixed memory agrees\n");
        else if (b->fixed < (double)st)
            printf("; DISAGREES with the fit's fixed memory (%s less): the peaks may not hold the optimizer's state"
                   " (record after the first step), or the fit is off\n", hb((uint64_t)((double)st - b->fixed), x[4]));
        else
            printf("; DISAGREES with the fit's fixed memory (%s more): something else stays across steps, or"
                   " memory does not grow linearly with the batch\n", hb((uint64_t)(b->fixed - (double)st), x[4]));
    }
}

static void json_batch(mt_jw *w, const mt_gpu_batch *b) {
    mt_jw_begin_object(w, NULL);
    mt_jw_uint(w, "device", b->device);
    mt_jw_uint(w, "steps", b->steps);
    mt_jw_begin_array(w, "points");
    for (size_t i = 0; i < b->n_points; i++) {
        mt_jw_begin_object(w, NULL);
        mt_jw_double(w, "batch", b->points[i].batch);
        mt_jw_uint(w, "steps", b->points[i].steps);
        mt_jw_uint(w, "peak_allocated", b->points[i].peak_allocated);
        if (b->points[i].peak_reserved) mt_jw_uint(w, "peak_reserved", b->points[i].peak_reserved);
        else mt_jw_null(w, "peak_reserved");
        mt_jw_bool(w, "oom", b->points[i].oom);
        mt_jw_end_object(w);
    }
    mt_jw_end_array(w);
    mt_jw_bool(w, "fitted", b->fitted);
    mt_jw_double(w, "per_sample", b->per_sample);
    mt_jw_double(w, "fixed", b->fixed);
    mt_jw_double(w, "residual_rms", b->residual_rms);
    mt_jw_double(w, "residual_max", b->residual_max);
    mt_jw_double(w, "fragmentation", b->fragmentation);
    if (b->total) mt_jw_uint(w, "total", b->total);
    else mt_jw_null(w, "total");
    mt_jw_uint(w, "outside", b->outside);
    mt_jw_double(w, "margin", b->margin);
    if (b->max_batch >= 0) mt_jw_int(w, "max_batch", b->max_batch);
    else mt_jw_null(w, "max_batch");
    if (b->max_batch_safe >= 0) mt_jw_int(w, "max_batch_safe", b->max_batch_safe);
    else mt_jw_null(w, "max_batch_safe");
    if (b->oom_batch >= 0) mt_jw_int(w, "oom_batch", b->oom_batch);
    else mt_jw_null(w, "oom_batch");
    mt_jw_double(w, "extrapolation", b->extrapolation);
    mt_jw_cstr(w, "confidence", conf_name(b->confidence));
    mt_jw_cstr(w, "confidence_why", b->why);
    mt_jw_bool(w, "oom_contradicts_fit", b->oom_contradicts);
    if (predict_at > 0 && b->fitted) {
        mt_jw_begin_object(w, "at");
        mt_jw_double(w, "batch", predict_at);
        mt_jw_double(w, "peak_allocated", mt_gpu_batch_predict(b, predict_at));
        mt_jw_double(w, "peak_allocated_high", mt_gpu_batch_predict_high(b, predict_at));
        mt_jw_double(w, "peak_reserved", mt_gpu_batch_predict(b, predict_at) * (1 + b->fragmentation));
        mt_jw_end_object(w);
    } else {
        mt_jw_null(w, "at");
    }
    if (b->has_static) {
        mt_jw_begin_object(w, "static");
        mt_jw_uint(w, "weights", b->weights);
        mt_jw_uint(w, "gradients", b->gradients);
        mt_jw_uint(w, "optimizer_state", b->optimizer_state);
        mt_jw_uint(w, "total", b->weights + b->gradients + b->optimizer_state);
        mt_jw_bool(w, "disagrees", b->disagree);
        mt_jw_end_object(w);
    } else {
        mt_jw_null(w, "static");
    }
    mt_jw_end_object(w);
}

/* A device's peak as the side-by-side table and the spread take it: its
 * trace's, or what is allocated where it has no trace. */
static uint64_t device_peak(const mt_gpu_device_report *d) {
    return d->has_trace ? d->trace.peak_active : d->all.allocated;
}

/* The spread of every device's peak over the files; *rows the devices. */
static void peaks_spread(const file_view *fs, size_t nf, mt_gpu_spread *sp, size_t *rows) {
    size_t n = 0;
    for (size_t k = 0; k < nf; k++) {
        const mt_gpu_device_report *devs;
        n += devices_of(fs[k].r, &devs);
    }
    double *peak = malloc((n + 1) * sizeof *peak);
    size_t at = 0;
    for (size_t k = 0; peak && k < nf; k++) {
        const mt_gpu_device_report *devs;
        size_t nd = devices_of(fs[k].r, &devs);
        for (size_t d = 0; d < nd; d++) peak[at++] = (double)device_peak(&devs[d]);
    }
    mt_gpu_spread_of(peak, peak ? n : 0, sp);
    free(peak);
    *rows = n;
}

static void print_text(const file_view *fs, size_t nf, int whole) {
    char b[6][16];
    size_t rows = 0;
    for (size_t k = 0; k < nf; k++) {
        const file_view *f = &fs[k];
        const mt_gpu_device_report *devs;
        size_t nd = devices_of(f->r, &devs);
        const mt_gpu_pool *pools;
        size_t np = pools_of(f->r, &pools);
        const mt_gpu_oom *ooms;
        size_t no = ooms_of(f->r, &ooms);
        rows += nd;
        if (nf > 1) printf("== %s\n", mt_cli_cstr(f->path));
        for (size_t d = 0; d < nd; d++) {
            const mt_gpu_device_report *dr = &devs[d];
            printf("device %" PRIu32 " (%s)", dr->device, mt_cli_cstr(dr->name));
            if (dr->total) printf(": capacity %s", hb(dr->total, b[0]));
            if (dr->has_used) {
                printf(", in use %s", hb(dr->used, b[1]));
                if (dr->outside >= 0) printf(", outside PyTorch %s", hb((uint64_t)dr->outside, b[2]));
                else printf(", %s less in use than PyTorch reserved", hb((uint64_t)-dr->outside, b[2]));
            }
            printf("\n  %-14s %-14s %5s %10s %10s %10s %10s %10s %10s %10s %10s %7s %7s %7s\n", "pool", "stream", "segs",
                   "reserved", "allocated", "requested", "pending", "inactive", "releasable", "stranded", "largest",
                   "intfrag", "extfrag", "util");
            for (size_t i = 0; i < np; i++)
                if (pools[i].device == dr->device) text_pool(&pools[i]);
            if (dr->all.reserved > dr->all.allocated)
                printf("  reserved but unallocated: %s (empty_cache would return %s)\n",
                       hb(dr->all.reserved - dr->all.allocated, b[0]), hb(dr->all.releasable, b[1]));
            if (dr->all.expandable) printf("  expandable segments: %" PRIu32 "\n", dr->all.expandable);
            if (dr->alloc_retries > 0)
                printf("  cudaMalloc retries: %" PRId64 " (PyTorch freed its cache and synchronized to retry; "
                       "garbage_collection_threshold reclaims earlier)\n", dr->alloc_retries);
            if (dr->has_trace) {
                const mt_gpu_trace_stats *t = &dr->trace;
                printf("  trace: %" PRIu64 " entr%s%s; active %s at its start, peak %s at entry %" PRIu64
                       " (reserved %s then), %s at its end; most reserved %s\n",
                       t->events, t->events == 1 ? "y" : "ies", t->wrapped ? " (a ring buffer that wrapped: it frees blocks allocated before it)" : "",
                       hb(t->start_active, b[0]), hb(t->peak_active, b[1]), t->peak_index, hb(t->peak_reserved, b[2]),
                       hb(t->end_active, b[3]), hb(t->max_reserved, b[4]));
            }
            for (size_t i = 0; i < no; i++)
                if (ooms[i].device == dr->device) text_oom(f, &ooms[i], whole);
            text_sites(f, dr->device, 0, whole);
            text_sites(f, dr->device, 1, whole);
        }
        for (size_t i = 0; i < f->nb; i++) text_batch(&f->b[i]);
        for (size_t i = 0; i < f->nnv; i++) {
            const mt_gpu_nvml *g = &f->nv[i];
            printf("device %" PRIu32 " (NVML): used at most %s at %.3f s", g->device,
                   hb((uint64_t)g->used_peak, b[0]), (double)g->used_peak_ns / 1e9);
            if (g->total) printf(" of %s", hb(g->total, b[1]));
            printf(", %s at the end", hb((uint64_t)g->used_last, b[2]));
            if (g->driver_reserved > 0) printf(", %s reserved by the driver", hb((uint64_t)g->driver_reserved, b[3]));
            putchar('\n');
            if (g->processes)
                printf("  %" PRIu32 " process%s on it; the most, pid %s, used %s\n", g->processes,
                       g->processes == 1 ? "" : "es", g->process_pid, hb((uint64_t)g->process_peak, b[0]));
            uint64_t r = most_reserved(fs, nf, g->device);
            if (r && g->used_peak > (double)r)
                printf("  outside PyTorch at that peak: at least %s (NVML's %s less the most PyTorch reserved, %s)\n",
                       hb((uint64_t)(g->used_peak - (double)r), b[0]), hb((uint64_t)g->used_peak, b[1]), hb(r, b[2]));
        }
    }
    if (rows < 2) return;
    /* Side by side: every device of every file, and the spread of peaks. */
    printf("\nside by side:\n  %-32s %6s %10s %10s %10s %10s\n", "file", "device", "reserved", "allocated", "peak",
           "outside");
    for (size_t k = 0; k < nf; k++) {
        const mt_gpu_device_report *devs;
        size_t nd = devices_of(fs[k].r, &devs);
        for (size_t d = 0; d < nd; d++) {
            const mt_gpu_device_report *dr = &devs[d];
            uint64_t p = device_peak(dr);
            char out[16];
            if (dr->has_used && dr->outside >= 0) hb((uint64_t)dr->outside, out);
            else snprintf(out, sizeof out, "-");
            printf("  %-32s %6" PRIu32 " %10s %10s %10s %10s\n", mt_cli_strw((mt_str){ fs[k].path, strlen(fs[k].path) }, 32),
                   dr->device, hb(dr->all.reserved, b[0]), hb(dr->all.allocated, b[1]), hb(p, b[2]), out);
        }
    }
    mt_gpu_spread sp;
    peaks_spread(fs, nf, &sp, &rows);
    printf("  peak (allocated where no trace): max %s, min %s, mean %s; imbalance %.1f%% above the mean\n",
           hb((uint64_t)sp.max, b[0]), hb((uint64_t)sp.min, b[1]), hb((uint64_t)sp.mean, b[2]), sp.imbalance * 100);
}

static void json_pool(mt_jw *w, const mt_gpu_pool *p) {
    mt_jw_begin_object(w, NULL);
    if (p->all_streams) mt_jw_null(w, "pool");
    else mt_jw_cstr(w, "pool", p->pool);
    if (p->all_streams) mt_jw_null(w, "stream");
    else mt_jw_uint(w, "stream", p->stream);
    mt_jw_uint(w, "segments", p->segments);
    mt_jw_uint(w, "expandable_segments", p->expandable);
    mt_jw_uint(w, "blocks", p->blocks);
    mt_jw_uint(w, "reserved", p->reserved);
    mt_jw_uint(w, "allocated", p->allocated);
    mt_jw_uint(w, "requested", p->requested);
    mt_jw_uint(w, "pending_free", p->pending_free);
    mt_jw_uint(w, "inactive", p->inactive);
    mt_jw_uint(w, "reserved_unallocated", p->reserved - (p->allocated < p->reserved ? p->allocated : p->reserved));
    mt_jw_uint(w, "releasable", p->releasable);
    mt_jw_uint(w, "stranded", p->stranded);
    mt_jw_uint(w, "largest_free", p->largest_free);
    mt_jw_double(w, "internal_fragmentation", p->internal_frag);
    mt_jw_double(w, "external_fragmentation", p->external_frag);
    mt_jw_double(w, "utilization", p->utilization);
    mt_jw_end_object(w);
}

static void json_sites(mt_jw *w, const file_view *f, uint32_t device, int at_peak, int whole) {
    shown_site *v;
    size_t n = shown_sites(f, device, at_peak, whole, &v);
    mt_jw_begin_array(w, at_peak ? "sites_at_peak" : "sites");
    for (size_t i = 0; i < n; i++) {
        mt_jw_begin_object(w, NULL);
        mt_jw_uint(w, "bytes", v[i].bytes);
        mt_jw_uint(w, "blocks", v[i].blocks);
        mt_jw_uint(w, "stack", v[i].stack);
        if (v[i].stack && f->sites) mt_jw_cstr(w, "site", v[i].text);
        else mt_jw_null(w, "site");
        mt_jw_end_object(w);
    }
    mt_jw_end_array(w);
    free_shown(v, n);
}

static void print_json(const file_view *fs, size_t nf, int whole) {
    mt_jw w;
    mt_jw_init(&w, stdout);
    mt_jw_begin_object(&w, NULL);
    mt_jw_begin_array(&w, "files");
    size_t rows = 0;
    for (size_t k = 0; k < nf; k++) {
        const file_view *f = &fs[k];
        const mt_gpu_device_report *devs;
        size_t nd = devices_of(f->r, &devs);
        const mt_gpu_pool *pools;
        size_t np = pools_of(f->r, &pools);
        const mt_gpu_oom *ooms;
        size_t no = ooms_of(f->r, &ooms);
        rows += nd;
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "file", f->path);
        mt_jw_bool(&w, "expandable_segments", f->r && mt_gpu_report_expandable(f->r));
        mt_gpu_oddities odd = { 0, 0, 0, 0 };
        if (f->r) mt_gpu_report_oddities(f->r, &odd);
        mt_jw_begin_object(&w, "oddities");
        mt_jw_uint(&w, "segments_with_gaps", odd.gaps);
        mt_jw_uint(&w, "segments_with_overlaps", odd.overlaps);
        mt_jw_uint(&w, "unknown_block_states", odd.unknown_states);
        mt_jw_uint(&w, "unknown_actions", odd.unknown_actions);
        mt_jw_end_object(&w);
        mt_jw_begin_array(&w, "devices");
        for (size_t d = 0; d < nd; d++) {
            const mt_gpu_device_report *dr = &devs[d];
            mt_jw_begin_object(&w, NULL);
            mt_jw_uint(&w, "device", dr->device);
            mt_jw_cstr(&w, "name", dr->name);
            if (dr->total) mt_jw_uint(&w, "total", dr->total);
            else mt_jw_null(&w, "total");
            if (dr->has_used) {
                mt_jw_uint(&w, "used", dr->used);
                mt_jw_int(&w, "outside_pytorch", dr->outside);
            } else {
                mt_jw_null(&w, "used");
                mt_jw_null(&w, "outside_pytorch");
            }
            if (dr->alloc_retries >= 0) mt_jw_int(&w, "alloc_retries", dr->alloc_retries);
            else mt_jw_null(&w, "alloc_retries");
            mt_jw_begin_array(&w, "pools");
            for (size_t i = 0; i < np; i++)
                if (pools[i].device == dr->device) json_pool(&w, &pools[i]);
            mt_jw_end_array(&w);
            if (dr->has_trace) {
                const mt_gpu_trace_stats *t = &dr->trace;
                mt_jw_begin_object(&w, "trace");
                mt_jw_uint(&w, "events", t->events);
                mt_jw_bool(&w, "wrapped", t->wrapped);
                mt_jw_uint(&w, "start_active", t->start_active);
                mt_jw_uint(&w, "peak_active", t->peak_active);
                mt_jw_uint(&w, "peak_index", t->peak_index);
                mt_jw_uint(&w, "peak_time_ns", t->peak_time_ns);
                mt_jw_uint(&w, "peak_reserved", t->peak_reserved);
                mt_jw_uint(&w, "max_reserved", t->max_reserved);
                mt_jw_uint(&w, "end_active", t->end_active);
                mt_jw_uint(&w, "ooms", t->ooms);
                mt_jw_end_object(&w);
            } else {
                mt_jw_null(&w, "trace");
            }
            mt_jw_begin_array(&w, "ooms");
            char site[4096];
            for (size_t i = 0; i < no; i++) {
                const mt_gpu_oom *o = &ooms[i];
                if (o->device != dr->device) continue;
                mt_jw_begin_object(&w, NULL);
                mt_jw_uint(&w, "index", o->index);
                mt_jw_uint(&w, "time_ns", o->time_ns);
                mt_jw_uint(&w, "size", o->size);
                mt_jw_uint(&w, "stream", o->stream);
                mt_jw_uint(&w, "device_free", o->device_free);
                mt_jw_uint(&w, "active", o->active);
                mt_jw_uint(&w, "reserved", o->reserved);
                mt_jw_uint(&w, "pool_free", o->pool_free);
                mt_jw_uint(&w, "largest_free", o->largest_free);
                mt_jw_cstr(&w, "cause", mt_gpu_oom_cause_name(o->cause));
                mt_jw_uint(&w, "shortfall", o->shortfall);
                mt_jw_begin_array(&w, "would_help");
                if (o->helps & MT_GPU_HELP_EXPANDABLE) mt_jw_cstr(&w, NULL, "expandable_segments:True");
                if (o->helps & MT_GPU_HELP_MAX_SPLIT) {
                    char set[48];
                    snprintf(set, sizeof set, "max_split_size_mb:%" PRIu32, o->max_split_mb);
                    mt_jw_cstr(&w, NULL, set);
                }
                mt_jw_end_array(&w);
                if (o->stack && f->sites) mt_jw_cstr(&w, "site", site_text(f, o->stack, whole, site, sizeof site));
                else mt_jw_null(&w, "site");
                mt_jw_end_object(&w);
            }
            mt_jw_end_array(&w);
            json_sites(&w, f, dr->device, 0, whole);
            json_sites(&w, f, dr->device, 1, whole);
            mt_jw_end_object(&w);
        }
        mt_jw_end_array(&w);
        mt_jw_begin_array(&w, "batch");
        for (size_t i = 0; i < f->nb; i++) json_batch(&w, &f->b[i]);
        mt_jw_end_array(&w);
        mt_jw_begin_array(&w, "nvml");
        for (size_t i = 0; i < f->nnv; i++) {
            const mt_gpu_nvml *g = &f->nv[i];
            mt_jw_begin_object(&w, NULL);
            mt_jw_uint(&w, "device", g->device);
            if (g->total) mt_jw_uint(&w, "total", g->total);
            else mt_jw_null(&w, "total");
            mt_jw_double(&w, "used_peak", g->used_peak);
            mt_jw_uint(&w, "used_peak_ns", g->used_peak_ns);
            mt_jw_double(&w, "used_last", g->used_last);
            mt_jw_double(&w, "driver_reserved", g->driver_reserved);
            mt_jw_uint(&w, "processes", g->processes);
            mt_jw_double(&w, "process_peak", g->process_peak);
            mt_jw_cstr(&w, "process_pid", g->process_pid);
            uint64_t r = most_reserved(fs, nf, g->device);
            if (r && g->used_peak > (double)r) mt_jw_double(&w, "outside_pytorch_at_least", g->used_peak - (double)r);
            else mt_jw_null(&w, "outside_pytorch_at_least");
            mt_jw_end_object(&w);
        }
        mt_jw_end_array(&w);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    mt_gpu_spread sp;
    peaks_spread(fs, nf, &sp, &rows);
    mt_jw_begin_object(&w, "spread");
    mt_jw_uint(&w, "devices", rows);
    mt_jw_double(&w, "max", sp.max);
    mt_jw_double(&w, "min", sp.min);
    mt_jw_double(&w, "mean", sp.mean);
    mt_jw_double(&w, "imbalance", sp.imbalance);
    mt_jw_end_object(&w);
    mt_jw_end_object(&w);
    putchar('\n');
}

int main(int argc, char **argv) {
    int fmt = FMT_TEXT, salvage = 0, whole = 0, batch_only = 0, optimizer = -1;
    uint64_t device = UINT64_MAX, top = 10, capacity = 0, param_bytes = 0, trainable = 0;
    double margin = 0.05;
    /* Optimizer state per trainable byte, in the order of the names. */
    static const double states[] = { 2, 2, 1, 0, 1, 1, 0 };
    const mt_opt opts[] = {
        MT_OPT_UINT_RANGE('d', "device", "N", &device, 0, UINT32_MAX, "only CUDA device N (default: every device)"),
        MT_OPT_TOP_RANGE(&top, 1, 100000, "allocation sites shown per device and moment (default: 10)"),
        MT_OPT_FLAG(0, "stack", &whole, "show each site's whole stack, innermost frame first"),
        MT_OPT_FLAG(0, "batch", &batch_only, "show only the batch-size advice of the files' step records"),
        MT_OPT_SIZE(0, "capacity", "SIZE", &capacity,
                    "the device's memory, where the step records do not give it; units KiB, MiB, GiB, KB, MB, GB"),
        MT_OPT_DOUBLE(0, "margin", "FRACTION", &margin, 0, 0.9, "share of the device kept free (default: 0.05)"),
        MT_OPT_DOUBLE(0, "at", "BATCH", &predict_at, 1e-9, 1e12, "also predict the peak at this batch size"),
        MT_OPT_SIZE(0, "param-bytes", "SIZE", &param_bytes, "the model's parameters' bytes (default: the file's)"),
        MT_OPT_SIZE(0, "trainable-bytes", "SIZE", &trainable,
                    "of those, the trainable ones' (default: the file's, else all)"),
        MT_OPT_CHOICE(0, "optimizer", &optimizer, MT_NAMES("adam", "adamw", "sgd-momentum", "sgd", "rmsprop", "adagrad", "none"),
                      "the optimizer, for its state (default: the file's)"),
        MT_OPT_SALVAGE_FILES(&salvage),
        MT_OPT_FORMAT(&fmt, MT_NAMES("text", "json"), "output format (default: text)"),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    file_view *fs = calloc((size_t)c.nargs, sizeof *fs);
    int code = fs ? MT_EXIT_OK : MT_EXIT_INPUT;
    /* Every stack from the library: rows are merged by their text here. */
    mt_gpu_opts go = { device == UINT64_MAX ? -1 : (int)device, device != UINT64_MAX, SIZE_MAX };
    top_n = (size_t)top;
    mt_gpu_batch_opts bo = { go.device, go.device_set, margin > 0 ? margin : 1e-9, capacity, param_bytes, trainable,
                             optimizer >= 0 ? states[optimizer] : -1 };
    for (int i = 0; i < c.nargs && !code; i++) {
        file_view *f = &fs[i];
        f->path = c.args[i];
        /* A pickle (PROTO opcode first) is a PyTorch snapshot to convert. */
        FILE *pk = strcmp(f->path, "-") ? fopen(f->path, "rb") : NULL;
        int first = pk ? fgetc(pk) : EOF;
        if (pk) fclose(pk);
        if (first == 0x80) {
            fprintf(stderr, "%s: %s: a pickle, not a memtrace snapshot: convert a PyTorch snapshot first with "
                            "memtrace-convert --from torch %s OUT.snap\n",
                    tool.name, mt_cli_cstr(f->path), mt_cli_cstr(f->path));
            code = MT_EXIT_INPUT;
            break;
        }
        code = mt_cli_load(tool.name, f->path, 0, salvage, &f->s);
        if (code) break;
        mt_diag diag = { 0 };
        mt_diag_clear(&diag);
        diag.file = f->path;
        /* The allocator's state, the step records, or both. */
        int ra = batch_only ? MT_E_NOTFOUND : mt_gpu_analyze(f->s, &go, &f->r, &diag);
        if (ra && ra != MT_E_NOTFOUND) {
            code = mt_cli_fail(tool.name, f->path, &diag);
            break;
        }
        mt_diag bd = { 0 };
        mt_diag_clear(&bd);
        bd.file = f->path;
        int rb = mt_gpu_batch_fit(f->s, &bo, &f->b, &f->nb, &bd);
        if (rb && rb != MT_E_NOTFOUND) {
            code = mt_cli_fail(tool.name, f->path, &bd);
            /* A step label that is not a batch size is the file's fault. */
            if (rb == MT_E_INVAL) code = MT_EXIT_INPUT;
            break;
        }
        mt_diag nd = { 0 };
        mt_diag_clear(&nd);
        int rn = batch_only ? MT_E_NOTFOUND : mt_gpu_nvml_read(f->s, &f->nv, &f->nnv, &nd);
        if (rn && rn != MT_E_NOTFOUND) {
            code = mt_cli_fail(tool.name, f->path, &nd);
            break;
        }
        if (go.device_set) { /* --device: only that device's NVML figures */
            size_t w = 0;
            for (size_t k = 0; k < f->nnv; k++)
                if (f->nv[k].device == (uint32_t)go.device) f->nv[w++] = f->nv[k];
            f->nnv = w;
        }
        if (ra && rb && !f->nnv) {
            if (!go.device_set)
                mt_diag_set(&diag, MT_E_NOTFOUND, "no GPU records: neither an allocator's state (gpu_segments, "
                            "gpu_events), step records (gpuN.step.* samples) nor NVML samples (gpuN.used)");
            code = mt_cli_fail(tool.name, f->path, batch_only ? &bd : &diag);
            break;
        }
        if (mt_sites_load(f->s, &f->sites, &diag)) code = mt_cli_fail(tool.name, f->path, &diag);
        if (f->r) {
            /* What does not hold together, said once per file on stderr. */
            mt_gpu_oddities o;
            mt_gpu_report_oddities(f->r, &o);
            if (o.gaps)
                mt_cli_warn(tool.name, f->path, "%zu segment%s with space no block covers (counted free)", o.gaps,
                            o.gaps == 1 ? "" : "s");
            if (o.overlaps)
                mt_cli_warn(tool.name, f->path, "%zu segment%s whose blocks overlap or run past its end", o.overlaps,
                            o.overlaps == 1 ? "" : "s");
            if (o.unknown_states)
                mt_cli_warn(tool.name, f->path, "%zu block%s in a state PyTorch does not name (counted free)",
                            o.unknown_states, o.unknown_states == 1 ? "" : "s");
            if (o.unknown_actions)
                mt_cli_warn(tool.name, f->path, "%zu trace entr%s with an action this version does not know "
                            "(they change nothing)", o.unknown_actions, o.unknown_actions == 1 ? "y" : "ies");
        }
    }
    if (!code) {
        if (fmt == FMT_JSON) print_json(fs, (size_t)c.nargs, whole);
        else print_text(fs, (size_t)c.nargs, whole);
        code = mt_cli_finish(tool.name);
    } else if (!fs) {
        fprintf(stderr, "%s: out of memory\n", tool.name);
    }
    for (int i = 0; fs && i < c.nargs; i++) {
        mt_gpu_report_free(fs[i].r);
        mt_gpu_batches_free(fs[i].b, fs[i].nb);
        free(fs[i].nv);
        mt_sites_free(fs[i].sites);
        mt_snapshot_free(fs[i].s);
    }
    free(fs);
    free(c.args);
    return code;
}
