/* Batch-size advice from per-step GPU peaks (gpu.h, mt_gpu_batch_fit). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/array.h"
#include "memtrace/gpu.h"

/* One step sample, kept until the steps are grouped. */
typedef struct pt {
    uint32_t device;
    double batch;
    int what; /* W_* */
    double value;
    uint64_t t; /* the sample's time: one step's samples share it */
} pt;

enum { W_PEAK, W_PEAK_RES, W_ALLOC, W_RES, W_TOTAL, W_USED, W_N };

typedef struct collect {
    pt *v;
    size_t n, cap;
    /* OOM events: their labels' batch sizes. */
    double *oom;
    size_t n_oom, cap_oom;
    int device;
    int bad;          /* a label that is not a number */
    char bad_label[64];
} collect;

static int label_batch(mt_str step, double *out) {
    char buf[64];
    if (!step.len || step.len >= sizeof buf) return -1;
    memcpy(buf, step.ptr, step.len);
    buf[step.len] = 0;
    char *end;
    double v = strtod(buf, &end);
    if (*end || !(v > 0) || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int on_sample(void *arg, const void *rec) {
    collect *c = arg;
    const mt_sample *s = rec;
    static const char *names[W_N] = { "peak_allocated", "peak_reserved", "allocated", "reserved", "total", "used" };
    char series[96];
    if (s->series.len >= sizeof series || s->series.len < 9 || memcmp(s->series.ptr, "gpu", 3)) return 0;
    memcpy(series, s->series.ptr, s->series.len);
    series[s->series.len] = 0;
    unsigned dev;
    int used = 0;
    if (sscanf(series, "gpu%u.step.%n", &dev, &used) != 1 || !used) return 0;
    if (c->device >= 0 && (unsigned)c->device != dev) return 0;
    int what = -1;
    for (int i = 0; i < W_N; i++)
        if (!strcmp(series + used, names[i])) what = i;
    if (what < 0) return 0;
    double b;
    if (label_batch(s->step, &b)) {
        if (!c->bad) {
            size_t n = s->step.len < sizeof c->bad_label - 1 ? s->step.len : sizeof c->bad_label - 1;
            if (n) memcpy(c->bad_label, s->step.ptr, n);
            c->bad_label[n] = 0;
        }
        c->bad = 1;
        return 0;
    }
    if (mt__grow((void **)&c->v, &c->cap, c->n, sizeof *c->v)) return MT_E_NOMEM;
    c->v[c->n++] = (pt){ dev, b, what, s->value, s->time_ns };
    return 0;
}

static int on_event(void *arg, const void *rec) {
    collect *c = arg;
    const mt_event *e = rec;
    double b;
    if (e->kind.len != 3 || memcmp(e->kind.ptr, "oom", 3) || label_batch(e->name, &b)) return 0;
    if (mt__grow((void **)&c->oom, &c->cap_oom, c->n_oom, sizeof *c->oom)) return MT_E_NOMEM;
    c->oom[c->n_oom++] = b;
    return 0;
}

static int cmp_pt(const void *a, const void *b) {
    const pt *x = a, *y = b;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    return x->batch < y->batch ? -1 : x->batch > y->batch;
}

/* One-sided 95% Student t quantiles by degrees of freedom. */
static double t95(size_t dof) {
    static const double t[] = { 0, 6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812 };
    if (dof <= 10) return t[dof];
    if (dof <= 20) return 1.725;
    if (dof <= 30) return 1.697;
    return 1.645;
}

double mt_gpu_batch_predict(const mt_gpu_batch *b, double batch) {
    return b->fixed + batch * b->per_sample;
}

double mt_gpu_batch_predict_high(const mt_gpu_batch *b, double batch) {
    double y = mt_gpu_batch_predict(b, batch);
    if (b->fit_n < 3 || b->fit_sxx <= 0) return y;
    double d = batch - b->fit_xbar;
    return y + t95(b->fit_n - 2) * b->fit_s * sqrt(1 + 1.0 / (double)b->fit_n + d * d / b->fit_sxx);
}

/* Least squares over the points (x the batch, y its highest peak). */
typedef struct fit {
    double xbar, sxx, s; /* s: the residual standard error (n - 2 dof) */
    size_t n;
} fit;


/* The largest integer batch whose (upper, with safe) peak, grown by the
 * fragmentation, fits the budget; -1 when not even 1 does. */
static int64_t largest_fit(const mt_gpu_batch *b, int safe) {
    double grow = 1 + b->fragmentation;
    if (b->per_sample <= 0) return -1;
#define FITS(x) ((safe ? mt_gpu_batch_predict_high(b, (double)(x)) : mt_gpu_batch_predict(b, (double)(x))) * grow <= b->budget)
    if (!FITS(1)) return -1;
    int64_t lo = 1, hi = 2;
    while (hi < ((int64_t)1 << 40) && FITS(hi)) {
        lo = hi;
        hi *= 2;
    }
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (FITS(mid)) lo = mid;
        else hi = mid;
    }
#undef FITS
    return lo;
}

/* A size that ran out of memory stopped before its peak: its figures
 * are not the step's, so the fit leaves it out (it bounds the advice). */
static void fit_device(mt_gpu_batch *b, const mt_gpu_batch_opts *o, const mt_snapshot *s) {
    size_t n = 0, last = 0;
    for (size_t i = 0; i < b->n_points; i++)
        if (!b->points[i].oom) {
            n++;
            last = i;
        }
    fit f = { 0, 0, 0, n };
    double ybar = 0;
    for (size_t i = 0; i < b->n_points; i++) {
        if (b->points[i].oom) continue;
        f.xbar += b->points[i].batch;
        ybar += (double)b->points[i].peak_allocated;
    }
    f.xbar /= n ? (double)n : 1;
    ybar /= n ? (double)n : 1;
    double sxy = 0;
    for (size_t i = 0; i < b->n_points; i++) {
        if (b->points[i].oom) continue;
        double dx = b->points[i].batch - f.xbar;
        f.sxx += dx * dx;
        sxy += dx * ((double)b->points[i].peak_allocated - ybar);
    }
    b->fitted = n >= 2 && f.sxx > 0;
    b->max_batch = b->max_batch_safe = -1;
    if (b->fitted) {
        b->per_sample = sxy / f.sxx;
        b->fixed = ybar - b->per_sample * f.xbar;
        double ss = 0;
        for (size_t i = 0; i < b->n_points; i++) {
            if (b->points[i].oom) continue;
            double r = (double)b->points[i].peak_allocated - mt_gpu_batch_predict(b, b->points[i].batch);
            ss += r * r;
            if (fabs(r) > b->residual_max) b->residual_max = fabs(r);
        }
        b->residual_rms = sqrt(ss / (double)n);
        f.s = n > 2 ? sqrt(ss / (double)(n - 2)) : 0;
    }
    b->fit_n = f.n;
    b->fit_xbar = f.xbar;
    b->fit_sxx = f.sxx;
    b->fit_s = f.s;
    b->margin = o && o->margin > 0 ? o->margin : 0.05;
    if (!b->total && o) b->total = o->total;
    b->budget = (double)b->total * (1 - b->margin) - (double)b->outside;
    if (b->fitted && b->total) {
        b->max_batch = largest_fit(b, 0);
        b->max_batch_safe = n >= 3 ? largest_fit(b, 1) : b->max_batch;
    }
    /* A size that ran out of memory bounds the advice, whatever the fit. */
    if (b->oom_batch > 0) {
        if (b->max_batch >= b->oom_batch) b->max_batch = b->oom_batch - 1;
        if (b->max_batch_safe >= b->oom_batch) b->max_batch_safe = b->oom_batch - 1;
    }
    double largest = b->points[last].batch;
    b->extrapolation = b->max_batch > 0 ? (double)b->max_batch / largest : 0;
    double top = (double)b->points[last].peak_allocated;
    /* A size that ran out of memory where the fit says it fits: the fit
     * under-predicts there (growth faster than linear, a spike). */
    b->oom_contradicts = b->fitted && b->oom_batch > 0 && b->total &&
                         mt_gpu_batch_predict(b, (double)b->oom_batch) * (1 + b->fragmentation) <= b->budget;
    if (!b->fitted) {
        b->confidence = MT_GPU_CONF_NONE;
        b->why = "one batch size: no fit";
    } else if (n < 3) {
        b->confidence = MT_GPU_CONF_LOW;
        b->why = "two batch sizes: nothing checks that memory grows linearly";
    } else if (b->oom_contradicts) {
        b->confidence = MT_GPU_CONF_LOW;
        b->why = "a size the fit says fits ran out of memory: the fit under-predicts there";
    } else if (b->residual_max > 0.1 * top) {
        b->confidence = MT_GPU_CONF_LOW;
        b->why = "the fit misses a measured peak by more than 10%";
    } else if (b->extrapolation > 4) {
        b->confidence = MT_GPU_CONF_LOW;
        b->why = "more than 4x beyond the largest batch measured";
    } else if (b->residual_max <= 0.02 * top && b->extrapolation <= 2) {
        b->confidence = MT_GPU_CONF_HIGH;
        b->why = "three or more sizes fit within 2%, within 2x of the largest measured";
    } else {
        b->confidence = MT_GPU_CONF_MEDIUM;
        b->why = b->extrapolation > 2 ? "three or more sizes, between 2x and 4x beyond the largest measured"
                                      : "three or more sizes, with residuals between 2% and 10%";
    }
    /* The static estimate. */
    double v, pb = 0, tb = 0, states = -1, ob = -1;
    if (o && o->param_bytes) pb = (double)o->param_bytes;
    else if (mt_snapshot_meta_number(s, "gpu.model.param_bytes", &v)) pb = v;
    if (o && o->trainable_bytes) tb = (double)o->trainable_bytes;
    else if (mt_snapshot_meta_number(s, "gpu.model.trainable_bytes", &v)) tb = v;
    else tb = pb;
    if (o && o->optimizer_states >= 0) states = o->optimizer_states;
    else if (mt_snapshot_meta_number(s, "gpu.model.optimizer_bytes", &v)) ob = v;
    if (pb > 0) {
        b->has_static = 1;
        b->weights = (uint64_t)pb;
        b->gradients = (uint64_t)tb;
        b->optimizer_state = (uint64_t)(states >= 0 ? states * tb : ob >= 0 ? ob : 0);
        double st = (double)(b->weights + b->gradients + b->optimizer_state);
        if (b->fitted) b->disagree = b->fixed < 0.85 * st || b->fixed > 2 * st + 512.0 * 1048576;
    }
}

int mt_gpu_batch_fit(const mt_snapshot *s, const mt_gpu_batch_opts *opts, mt_gpu_batch **out, size_t *nout,
                     mt_diag *diag) {
    *out = NULL;
    *nout = 0;
    collect c = { 0 };
    c.device = opts && opts->device_set ? opts->device : -1;
    int rc = mt_snapshot_each(s, MT_KIND_SAMPLE, on_sample, &c, diag);
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_EVENT, on_event, &c, diag);
    if (rc == MT_E_NOMEM) rc = mt_diag_set(diag, rc, "out of memory for the step samples");
    if (!rc && c.bad)
        rc = mt_diag_set(diag, MT_E_INVAL, "step label '%s' is not a batch size (a positive number)", c.bad_label);
    size_t peaks = 0;
    for (size_t i = 0; i < c.n; i++) peaks += c.v[i].what == W_PEAK;
    if (!rc && !peaks)
        rc = mt_diag_set(diag, MT_E_NOTFOUND, "no GPU step records (gpuN.step.peak_allocated samples)%s",
                         c.device >= 0 ? " of that device" : "");
    mt_gpu_batch *bs = NULL;
    size_t nb = 0;
    if (!rc) {
        qsort(c.v, c.n, sizeof *c.v, cmp_pt);
        bs = calloc(c.n, sizeof *bs);
        if (!bs) rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory for the batch fit");
    }
    for (size_t i = 0; !rc && i < c.n;) {
        size_t j = i;
        while (j < c.n && c.v[j].device == c.v[i].device) j++;
        mt_gpu_batch *b = &bs[nb];
        b->device = c.v[i].device;
        b->oom_batch = -1;
        if (!(b->points = calloc(j - i, sizeof *b->points))) {
            rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory for the batch fit");
            break;
        }
        nb++;
        for (size_t k = i; k < j; k++) {
            const pt *p = &c.v[k];
            mt_gpu_batch_point *q = b->n_points ? &b->points[b->n_points - 1] : NULL;
            if (!q || q->batch != p->batch) {
                q = &b->points[b->n_points++];
                q->batch = p->batch;
            }
            uint64_t v = p->value > 0 ? (uint64_t)p->value : 0;
            switch (p->what) {
            case W_PEAK:
                q->steps++;
                b->steps++;
                if (v > q->peak_allocated) q->peak_allocated = v;
                break;
            case W_PEAK_RES:
                if (v > q->peak_reserved) q->peak_reserved = v;
                break;
            case W_TOTAL:
                if (v > b->total) b->total = v;
                break;
            }
        }
        /* Memory outside PyTorch at each step's end: used - reserved of
         * the same step (the same label and time), never one step's use
         * with another's reserve. */
        for (size_t k = i; k < j; k++) {
            if (c.v[k].what != W_USED) continue;
            for (size_t m = i; m < j; m++)
                if (c.v[m].what == W_RES && c.v[m].batch == c.v[k].batch && c.v[m].t == c.v[k].t &&
                    c.v[k].value > c.v[m].value) {
                    uint64_t out_ = (uint64_t)(c.v[k].value - c.v[m].value);
                    if (out_ > b->outside) b->outside = out_;
                    break;
                }
        }
        /* Batch sizes with only other samples are dropped from the fit. */
        size_t w = 0;
        for (size_t k = 0; k < b->n_points; k++)
            if (b->points[k].steps) b->points[w++] = b->points[k];
        b->n_points = w;
        for (size_t k = 0; k < b->n_points; k++) {
            const mt_gpu_batch_point *q = &b->points[k];
            if (q->peak_reserved && q->peak_allocated) {
                double fr = (double)q->peak_reserved / (double)q->peak_allocated - 1;
                if (fr > b->fragmentation) b->fragmentation = fr;
            }
        }
        for (size_t k = 0; k < c.n_oom; k++) {
            for (size_t m = 0; m < b->n_points; m++)
                if (b->points[m].batch == c.oom[k]) b->points[m].oom = 1;
            if (b->oom_batch < 0 || c.oom[k] < (double)b->oom_batch) b->oom_batch = (int64_t)ceil(c.oom[k]);
        }
        if (!b->n_points) {
            free(b->points);
            nb--;
        } else {
            fit_device(b, opts, s);
        }
        i = j;
    }
    free(c.v);
    free(c.oom);
    if (!rc && !nb) rc = mt_diag_set(diag, MT_E_NOTFOUND, "no GPU step records (gpuN.step.peak_allocated samples)");
    if (rc) {
        mt_gpu_batches_free(bs, nb);
        return rc;
    }
    *out = bs;
    *nout = nb;
    return 0;
}

void mt_gpu_batches_free(mt_gpu_batch *b, size_t n) {
    if (!b) return;
    for (size_t i = 0; i < n; i++) free(b[i].points);
    free(b);
}
