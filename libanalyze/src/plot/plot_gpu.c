/* A CUDA caching allocator's state as pictures (gpu.h): the segment and
 * block map (`gpu-segments`) and the active and reserved bytes over the
 * device trace (`gpu-timeline`). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/array.h"
#include "memtrace/gpu.h"
#include "memtrace/units.h"
#include "plot/plot_impl.h"
#include "plot/writer.h"

/* Points of a device's curve: the report keeps each entry's figures and
 * gives at most this many, each the highest of the entries it stands for. */
#define CURVE_POINTS 2000

typedef struct gseg {
    uint32_t device;
    uint64_t address, size, stream;
    char pool[40];
} gseg;

typedef struct gblk {
    uint32_t device;
    uint64_t address, size;
    int state; /* 0 in use, 1 pending free, 2 inactive */
} gblk;

typedef struct gload {
    gseg *segs;
    size_t n_segs, cap_segs;
    gblk *blks;
    size_t n_blks, cap_blks;
} gload;

static int on_seg(void *arg, const void *rec) {
    gload *l = arg;
    const mt_gpu_segment *g = rec;
    if (mt__grow((void **)&l->segs, &l->cap_segs, l->n_segs, sizeof *l->segs)) return MT_E_NOMEM;
    gseg *s = &l->segs[l->n_segs++];
    memset(s, 0, sizeof *s);
    s->device = g->device;
    s->address = g->address;
    s->size = g->size;
    s->stream = g->stream;
    size_t n = g->pool.len < sizeof s->pool - 1 ? g->pool.len : sizeof s->pool - 1;
    if (n) memcpy(s->pool, g->pool.ptr, n);
    return 0;
}

static int on_blk(void *arg, const void *rec) {
    gload *l = arg;
    const mt_gpu_block *b = rec;
    if (mt__grow((void **)&l->blks, &l->cap_blks, l->n_blks, sizeof *l->blks)) return MT_E_NOMEM;
    int st = 2;
    if (b->state.len == 16 && !memcmp(b->state.ptr, "active_allocated", 16)) st = 0;
    else if (b->state.len > 7 && !memcmp(b->state.ptr, "active_", 7)) st = 1; /* pending (or awaiting) free */
    l->blks[l->n_blks++] = (gblk){ b->device, b->address, b->size, st };
    return 0;
}

static int cmp_gseg_size(const void *a, const void *b) {
    const gseg *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    return x->address < y->address ? -1 : x->address > y->address;
}

static int cmp_gseg_place(const void *a, const void *b) {
    const gseg *x = a, *y = b;
    int c = strcmp(x->pool, y->pool);
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    if (c) return c;
    if (x->stream != y->stream) return x->stream < y->stream ? -1 : 1;
    return x->address < y->address ? -1 : x->address > y->address;
}

static int cmp_gblk(const void *a, const void *b) {
    const gblk *x = a, *y = b;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    return x->address < y->address ? -1 : x->address > y->address;
}

int mt__plot_gpu_segments(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o,
                          FILE *gp, FILE *dat, mt_diag *diag) {
    (void)n;
    mt_snapshot *s;
    int rc = mt__pw_load(paths[0], 0, &s, diag);
    if (rc) return rc;
    gload l = { 0 };
    mt_gpu_report *r = NULL;
    rc = mt_snapshot_each(s, MT_KIND_GPU_SEGMENT, on_seg, &l, diag);
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_GPU_BLOCK, on_blk, &l, diag);
    if (!rc && !l.n_segs) {
        rc = mt_diag_set(diag, MT_E_NOTFOUND, "holds no GPU segments (an allocator's state: memtrace-convert "
                                              "--from torch, memtrace.dump_cuda)");
        if (diag) diag->file = paths[0];
    }
    if (!rc) rc = mt_gpu_analyze(s, NULL, &r, diag);
    if (rc) goto out;
    /* The largest segments, drawn in their pool, stream and address order. */
    size_t total = l.n_segs, shown = o->top ? o->top : k->default_top;
    mt__qsort(l.segs, l.n_segs, sizeof *l.segs, cmp_gseg_size);
    if (shown > l.n_segs) shown = l.n_segs;
    mt__qsort(l.segs, shown, sizeof *l.segs, cmp_gseg_place);
    mt__qsort(l.blks, l.n_blks, sizeof *l.blks, cmp_gblk);
    uint64_t widest = 0;
    for (size_t i = 0; i < shown; i++)
        if (l.segs[i].size > widest) widest = l.segs[i].size;
    double div;
    const char *unit = mt__pw_unit((double)widest, &div);
    mt_pw w;
    mt__pw_begin(&w, k, o, paths, 1, gp, dat, 1100, mt__pw_bars_height(shown));
    const mt_gpu_oom *ooms;
    size_t no = mt_gpu_report_ooms(r, &ooms);
    char h1[16], h2[16];
    if (no) {
        const mt_gpu_oom *last = &ooms[no - 1];
        mt__pw_title(&w, "GPU segments and blocks: %s (OOM: %s requested, largest free %s, %s)", mt__pw_base(paths[0]),
                     mt_human_bytes(last->size, h1), mt_human_bytes(last->largest_free, h2),
                     mt_gpu_oom_cause_name(last->cause));
    } else if (shown < total) {
        mt__pw_title(&w, "GPU segments and blocks: %s (the %zu largest of %zu segments)", mt__pw_base(paths[0]), shown,
                     total);
    } else {
        mt__pw_title(&w, "GPU segments and blocks: %s", mt__pw_base(paths[0]));
    }
    /* Block 0: one box per block (and per stretch no block covers): its
     * middle and half-width from the segment's start, the segment's row,
     * and its state (0 in use, 1 pending free, 2 free). */
    mt__pw_block(&w, "x_mid_bytes\trow\thalf_width_bytes\tstate (0 in use, 1 pending free, 2 free)");
    for (size_t i = 0; i < shown; i++) {
        const gseg *g = &l.segs[i];
        size_t row = shown - 1 - i; /* the first at the top */
        /* The blocks of g, by binary search for the first at or past it. */
        size_t lo = 0, hi = l.n_blks;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (l.blks[mid].device < g->device || (l.blks[mid].device == g->device && l.blks[mid].address < g->address))
                lo = mid + 1;
            else
                hi = mid;
        }
        uint64_t at = g->address, end = g->address + g->size;
        for (size_t j = lo; j < l.n_blks && l.blks[j].device == g->device && l.blks[j].address < end; j++) {
            const gblk *b = &l.blks[j];
            if (b->address > at)
                fprintf(dat, "%.1f\t%zu\t%.1f\t2\n", (double)(at - g->address) + (double)(b->address - at) / 2, row,
                        (double)(b->address - at) / 2);
            fprintf(dat, "%.1f\t%zu\t%.1f\t%d\n", (double)(b->address - g->address) + (double)b->size / 2, row,
                    (double)b->size / 2, b->state);
            if (b->address + b->size > at) at = b->address + b->size;
        }
        if (end > at)
            fprintf(dat, "%.1f\t%zu\t%.1f\t2\n", (double)(at - g->address) + (double)(end - at) / 2, row,
                    (double)(end - at) / 2);
    }
    /* Block 1: the rows' labels. */
    mt__pw_block(&w, "row\tlabel");
    for (size_t i = 0; i < shown; i++) {
        const gseg *g = &l.segs[i];
        char label[128];
        int len = g->stream ? snprintf(label, sizeof label, "cuda:%u %s@%#" PRIx64 " %s", g->device, g->pool, g->stream,
                                       mt_human_bytes(g->size, h1))
                            : snprintf(label, sizeof label, "cuda:%u %s %s", g->device, g->pool,
                                       mt_human_bytes(g->size, h1));
        fprintf(dat, "%zu\t", shown - 1 - i);
        mt__pw_field(dat, label, (size_t)len < sizeof label ? (size_t)len : sizeof label - 1);
        fputc('\n', dat);
    }
    fprintf(gp, "unit = %.17g\n", div);
    fprintf(gp, "set xlabel 'offset in the segment (%s)'\nset xrange [0:*]\nset yrange [-0.6:%zu.6]\n", unit,
            shown ? shown - 1 : 0);
    fprintf(gp, "set ytics scale 0 font ',8'\nset key outside right top\nset style fill solid 0.9 border lc rgb '#555555'\n");
    fprintf(gp, "color(s) = s == 0 ? 0x4e79a7 : (s == 1 ? 0xf28e2b : 0xdddddd)\n");
    fprintf(gp, "plot %s index 0 using ($1/unit):2:($3/unit):(0.38):(color($4)) with boxxyerror lc rgb "
                "variable notitle, \\\n",
            MT_PW_DATA);
    fprintf(gp, "     %s index 1 using (0):1:ytic(2) with points ps 0 notitle, \\\n", MT_PW_DATA);
    fprintf(gp, "     NaN with boxes lc rgb '#4e79a7' title 'in use', \\\n"
                "     NaN with boxes lc rgb '#f28e2b' title 'pending free', \\\n"
                "     NaN with boxes lc rgb '#dddddd' title 'free'\n");
    rc = mt__pw_end(&w, diag);
out:
    mt_gpu_report_free(r);
    free(l.segs);
    free(l.blks);
    mt_snapshot_free(s);
    return rc;
}

/* A sampler's gpuN.used points of one file (SPEC.md 4.3), by device. */
typedef struct npt {
    uint32_t device;
    uint64_t t;
    double v;
} npt;

typedef struct nload {
    npt *v;
    size_t n, cap;
} nload;

static int on_nvml(void *arg, const void *rec) {
    nload *l = arg;
    const mt_sample *s = rec;
    char what[8];
    uint32_t dev;
    if (!mt_gpu_series_split(s->series, &dev, what, sizeof what) || strcmp(what, "used")) return 0;
    if (mt__grow((void **)&l->v, &l->cap, l->n, sizeof *l->v)) return MT_E_NOMEM;
    l->v[l->n++] = (npt){ dev, s->time_ns, s->span_ns ? s->max : s->value };
    return 0;
}

static int cmp_npt(const void *a, const void *b) {
    const npt *x = a, *y = b;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

int mt__plot_gpu_timeline(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                          FILE *dat, mt_diag *diag) {
    mt_snapshot **ss = calloc(n, sizeof *ss);
    mt_gpu_report **rs = calloc(n, sizeof *rs);
    uint64_t *t = malloc(CURVE_POINTS * sizeof *t), *act = malloc(CURVE_POINTS * sizeof *act),
             *res = malloc(CURVE_POINTS * sizeof *res);
    int rc = ss && rs && t && act && res ? 0 : mt_diag_set(diag, MT_E_NOMEM, "out of memory for the plot");
    nload *nv = calloc(n, sizeof *nv);
    int *seq = calloc(n, sizeof *seq); /* per file: its trace counts entries, has no clock */
    if ((!nv || !seq) && !rc) rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory for the plot");
    int sequence = 0, timed = 0;
    double most = 0;
    size_t curves = 0;
    for (size_t f = 0; f < n && !rc; f++) {
        if ((rc = mt__pw_load(paths[f], 0, &ss[f], diag))) break;
        /* NVML's samples (a memtrace-sample run) count as curves too. */
        if ((rc = mt_snapshot_each(ss[f], MT_KIND_SAMPLE, on_nvml, &nv[f], diag))) break;
        mt__qsort(nv[f].v, nv[f].n, sizeof *nv[f].v, cmp_npt);
        for (size_t i = 0; i < nv[f].n; i++) {
            if (!i || nv[f].v[i].device != nv[f].v[i - 1].device) curves++;
            if (nv[f].v[i].v > most) most = nv[f].v[i].v;
        }
        rc = mt_gpu_analyze(ss[f], NULL, &rs[f], diag);
        if (rc == MT_E_NOTFOUND && nv[f].n) {
            rc = 0; /* NVML samples only */
            continue;
        }
        if (rc) {
            if (diag) diag->file = paths[f];
            break;
        }
        const mt_value *clock = mt_snapshot_meta_get(ss[f], "gpu_clock");
        if (clock && clock->type == MT_VAL_STR && clock->v.s.len == 8 && !memcmp(clock->v.s.ptr, "sequence", 8))
            seq[f] = 1;
        sequence |= seq[f];
        timed |= !seq[f];
        const mt_gpu_device_report *d;
        size_t nd = mt_gpu_report_devices(rs[f], &d);
        for (size_t i = 0; i < nd; i++) {
            if (!d[i].has_trace) continue;
            curves++;
            if ((double)d[i].trace.max_reserved > most) most = (double)d[i].trace.max_reserved;
            if ((double)d[i].trace.peak_active > most) most = (double)d[i].trace.peak_active;
        }
    }
    if (!rc && !curves) {
        rc = mt_diag_set(diag, MT_E_NOTFOUND, "holds no GPU device trace (gpu_events: record one with "
                                              "torch.cuda.memory._record_memory_history() before the snapshot) "
                                              "and no NVML samples (gpuN.used: memtrace-sample)");
        if (diag) diag->file = paths[n - 1];
    }
    if (rc) goto out;
    double div;
    const char *unit = mt__pw_unit(most, &div);
    mt_pw w;
    mt__pw_begin(&w, k, o, paths, n, gp, dat, 1100, 600);
    mt__pw_title(&w, "GPU memory over the allocator's trace: %s%s", mt__pw_base(paths[0]), n > 1 ? " and others" : "");
    /* Per file: a block per device of its NVML samples (x from the run's
     * first sample), then per device of its allocator trace a block of
     * its curve (x from the trace's first entry: seconds, or the entry's
     * number on a sequence clock) and a block of its OOMs. The clocks of
     * a run and a trace differ: each curve starts at its own 0. */
    size_t block = 0;
    char title[256];
    fprintf(gp, "unit = %.17g\n", div);
    fprintf(gp, "set xlabel '%s'\nset ylabel '%s'\nset yrange [0:*]\nset key outside right top\n",
            !sequence ? "time since the first trace entry or sample (s)"
            : timed   ? "seconds since the first trace entry or sample, or the entry's number for a trace without times"
                      : "trace entry",
            unit);
    fprintf(gp, "plot ");
    int first = 1;
    for (size_t f = 0; f < n; f++) {
        const char *base = mt__pw_base(paths[f]);
        /* NVML: x from the run's first sample, in seconds. */
        for (size_t i = 0; i < nv[f].n;) {
            size_t j = i;
            while (j < nv[f].n && nv[f].v[j].device == nv[f].v[i].device) j++;
            mt__pw_block(&w, "x\tnvml_used_bytes");
            for (size_t q = i; q < j; q++)
                fprintf(dat, "%.9g\t%.0f\n", (double)(nv[f].v[q].t - nv[f].v[i].t) / 1e9, nv[f].v[q].v);
            int len = snprintf(title, sizeof title, "%s%scuda:%u NVML used (from its first sample)", n > 1 ? base : "",
                               n > 1 ? " " : "", nv[f].v[i].device);
            fprintf(gp, "%s%s index %zu using 1:($2/unit) with lines lw 1 lc rgb '#7f7f7f' title ", first ? "" : ", \\\n     ",
                    MT_PW_DATA, block);
            mt__pw_quote(gp, title, (size_t)len < sizeof title ? (size_t)len : sizeof title - 1);
            first = 0;
            block++;
            i = j;
        }
        if (!rs[f]) continue;
        const mt_gpu_device_report *d;
        size_t nd = mt_gpu_report_devices(rs[f], &d);
        const mt_gpu_oom *ooms;
        size_t no = mt_gpu_report_ooms(rs[f], &ooms);
        for (size_t i = 0; i < nd; i++) {
            if (!d[i].has_trace) continue;
            size_t got = mt_gpu_report_curve(rs[f], d[i].device, CURVE_POINTS, t, act, res);
            uint64_t t0 = got ? t[0] : 0;
            mt__pw_block(&w, "x\tactive_bytes\treserved_bytes");
            for (size_t p = 0; p < got; p++)
                fprintf(dat, "%.9g\t%" PRIu64 "\t%" PRIu64 "\n", seq[f] ? (double)t[p] : (double)(t[p] - t0) / 1e9,
                        act[p], res[p]);
            mt__pw_block(&w, "x\trequested_bytes (an out-of-memory event)");
            for (size_t q = 0; q < no; q++)
                if (ooms[q].device == d[i].device)
                    fprintf(dat, "%.9g\t%" PRIu64 "\n",
                            seq[f] ? (double)ooms[q].time_ns : (double)(ooms[q].time_ns - t0) / 1e9,
                            ooms[q].active + ooms[q].size);
            for (int which = 0; which < 2; which++) {
                int len = snprintf(title, sizeof title, "%s%scuda:%u %s", n > 1 ? base : "", n > 1 ? " " : "", d[i].device,
                                   which ? "reserved" : "active");
                fprintf(gp, "%s%s index %zu using 1:($%d/unit) with steps lw %d dt %d lc %zu title ", first ? "" : ", \\\n     ",
                        MT_PW_DATA, block, which ? 3 : 2, which ? 1 : 2, which ? 2 : 1, (block / 2) % 8 + 1);
                mt__pw_quote(gp, title, (size_t)len < sizeof title ? (size_t)len : sizeof title - 1);
                first = 0;
            }
            if (no) {
                int len = snprintf(title, sizeof title, "%s%scuda:%u OOM (active + request)", n > 1 ? base : "",
                                   n > 1 ? " " : "", d[i].device);
                fprintf(gp, ", \\\n     %s index %zu using 1:($2/unit) with points pt 7 ps 1.5 lc rgb '#d62728' title ",
                        MT_PW_DATA, block + 1);
                mt__pw_quote(gp, title, (size_t)len < sizeof title ? (size_t)len : sizeof title - 1);
            }
            block += 2;
        }
    }
    fputc('\n', gp);
    rc = mt__pw_end(&w, diag);
out:
    for (size_t f = 0; ss && rs && f < n; f++) {
        mt_gpu_report_free(rs[f]);
        mt_snapshot_free(ss[f]);
        if (nv) free(nv[f].v);
    }
    free(nv);
    free(seq);
    free(ss);
    free(rs);
    free(t);
    free(act);
    free(res);
    return rc;
}
