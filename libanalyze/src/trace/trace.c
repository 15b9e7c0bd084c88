/* Allocation traces (trace.h): one streaming pass over the allocs records
 * at open, replays from checkpoints for other moments. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/trace.h"
#include "memtrace/fileio.h"
#include "memtrace/u64map.h"
#include "common/array.h"

/* A sum of weighted sizes and its variance (SPEC.md: the variance of a
 * sampled sum is sum of size^2 w (w - 1)). */
typedef struct acc {
    double v, var;
} acc;

/* Per-stack figures, one per distinct stack the records name. */
typedef struct stack_fig {
    uint32_t stack;
    int dirty;                    /* changed since the last peak copy */
    acc live, live_n;             /* now (during the pass), then at the end */
    acc peak, peak_n;             /* at the peak */
    acc alloc, alloc_n;
    acc temp, temp_n;
} stack_fig;

typedef struct checkpoint {
    uint64_t time_ns, upto;
    uint64_t first;               /* sequence number of its first trace_live record */
    uint64_t n;                   /* its records */
} checkpoint;

typedef struct curve_bucket {
    double max, end;
    int seen;
} curve_bucket;

struct mt_trace {
    mt_reader *r;
    void *map;                    /* the file, mapped (NULL when read whole) */
    size_t map_len;
    unsigned flags;
    mt_sites *sites;
    mt_trace_summary sum;
    double max_weight;            /* the most blocks one record stands for */
    mt_u64map idx;                /* stack id -> figs index */
    stack_fig *figs;
    size_t n_figs, cap_figs;
    uint32_t *dirty;
    size_t n_dirty, cap_dirty;
    size_t *ablocks;              /* allocs blocks (reader indices) in sequence order */
    size_t n_ablocks, cap_ablocks;
    size_t *lblocks;              /* trace_live blocks */
    size_t n_lblocks, cap_lblocks;
    checkpoint *cps;
    size_t n_cps, cap_cps;
    mt_trace_step *steps;
    size_t *step_name;            /* pool offsets */
    size_t n_steps, cap_steps, cap_step_name;
    char *pool;
    size_t pool_len, pool_cap;
    acc hist_n[MT_TRACE_SIZE_CLASSES], hist_b[MT_TRACE_SIZE_CLASSES];
    curve_bucket *curve;
    uint64_t curve_span;          /* duration + 1 */
};

static void add(acc *a, double x, double var) {
    a->v += x;
    a->var += var;
}

static mt_est est(acc a) {
    return (mt_est){ a.v, a.var > 0 ? sqrt(a.var) : 0 };
}

/* A sampled figure in bytes as reported. The variance summed from the records is
 * itself an estimate, and where a site has few samples it is far too
 * small (a site with one sample, or none freed, shows +- 0): bench/trace
 * found such intervals covering the truth 66% of the time. One sample's
 * worth more, sample_bytes^2, is the variance of the bytes a Poisson
 * sampler may have passed over unseen, and keeps a site honest when its
 * count is small while costing nothing where there are many samples. */
mt_est mt_trace_bytes_floor(const mt_trace *t, mt_est e) {
    if (t->sum.sampled && t->sum.sample_bytes > 0) e.se = sqrt(e.se * e.se + t->sum.sample_bytes * t->sum.sample_bytes);
    return e;
}

mt_est mt_trace_count_floor(const mt_trace *t, mt_est e) {
    if (!t->sum.sampled) return e;
    /* Blocks no sample hit are uncounted whatever their number: one
     * sample's worth of the smallest blocks an allocator hands out. */
    double w = fmax(t->max_weight, t->sum.sample_bytes / MT_TRACE_SMALLEST_BLOCK);
    e.se = sqrt(e.se * e.se + w * w);
    return e;
}

void mt_trace_summary_floor(const mt_trace *t, mt_trace_summary *S) {
    S->peak = mt_trace_bytes_floor(t, S->peak);
    S->end = mt_trace_bytes_floor(t, S->end);
    S->allocated = mt_trace_bytes_floor(t, S->allocated);
    S->temporary = mt_trace_bytes_floor(t, S->temporary);
    S->end_count = mt_trace_count_floor(t, S->end_count);
    S->allocated_count = mt_trace_count_floor(t, S->allocated_count);
    S->temporary_count = mt_trace_count_floor(t, S->temporary_count);
}

void mt_trace_sites_floor(const mt_trace *t, mt_trace_site *sites, size_t n) {
    for (size_t i = 0; i < n; i++) {
        mt_trace_site *s = &sites[i];
        s->live = mt_trace_bytes_floor(t, s->live);
        s->end = mt_trace_bytes_floor(t, s->end);
        s->allocated = mt_trace_bytes_floor(t, s->allocated);
        s->temporary = mt_trace_bytes_floor(t, s->temporary);
        s->live_count = mt_trace_count_floor(t, s->live_count);
        s->end_count = mt_trace_count_floor(t, s->end_count);
        s->allocated_count = mt_trace_count_floor(t, s->allocated_count);
        s->temporary_count = mt_trace_count_floor(t, s->temporary_count);
    }
}

mt_est mt_trace_sites_live_total(const mt_trace *t, const mt_trace_site *sites, size_t n) {
    mt_est sum = { 0, 0 };
    double var = 0;
    for (size_t i = 0; i < n; i++) {
        sum.value += sites[i].live.value;
        var += sites[i].live.se * sites[i].live.se;
    }
    sum.se = sqrt(var);
    return mt_trace_bytes_floor(t, sum);
}

size_t mt_trace_warnings(const mt_trace_summary *S, const mt_trace_at *at, unsigned which,
                         char out[][MT_TRACE_WARNING_LEN]) {
    size_t n = 0;
    if (which & MT_TRACE_WARN_FILE) {
        if (S->truncated)
            snprintf(out[n++], MT_TRACE_WARNING_LEN, "file cut short (no index: its writer did not close it); "
                     "read up to its last complete block, %llu allocs records", (unsigned long long)S->records);
        if (S->lost_blocks)
            snprintf(out[n++], MT_TRACE_WARNING_LEN, "salvage: %llu damaged allocs blocks left out (%llu records); "
                     "live bytes after them are off by what they held", (unsigned long long)S->lost_blocks,
                     (unsigned long long)S->lost_records);
        if (S->cut)
            snprintf(out[n++], MT_TRACE_WARNING_LEN, "a window cut out of a trace, %.3f s to %.3f s: what was live "
                     "at its start is counted as allocated then", S->cut_from_ns / 1e9, S->cut_to_ns / 1e9);
    }
    if ((which & MT_TRACE_WARN_MOMENT) && at && at->when == MT_TRACE_AT_TIME && at->time_ns > S->duration_ns)
        snprintf(out[n++], MT_TRACE_WARNING_LEN, "%.3f s is after the trace's last record (%.3f s): what was "
                 "live at its end", at->time_ns / 1e9, S->duration_ns / 1e9);
    return n;
}

/* The blocks a record stands for, and its variance terms. */
static double weight_of(const mt_alloc *a) {
    if (a->weight > 0) return a->weight;
    return a->count ? (double)a->count : 1.0;
}

static int fail_record(mt_diag *diag, int code, const mt_block_info *b, size_t bi, uint64_t seq, const char *why) {
    mt_diag_set(diag, code, "allocs record %llu (block %zu at offset %llu): %s", (unsigned long long)seq, bi,
                (unsigned long long)b->offset, why);
    if (diag) {
        diag->block = (int64_t)bi;
        diag->offset = (int64_t)b->offset;
        diag->kind = MT_KIND_ALLOC;
    }
    return code;
}

static int nomem(mt_diag *diag) { return mt_diag_set(diag, MT_E_NOMEM, "out of memory reading the trace"); }

/* Gives back the pages of a block read: they stay in the page cache, and
 * a later replay faults them in again. Without this the pages of a
 * mapped trace count in the resident set up to the file's size (130 MB
 * for 10 million events). Pages shared with the next block are kept. */
static void release(const mt_trace *t, const mt_block_info *b) {
    if (!t->map) return;
    uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE), end = b->offset + MT_BLOCK_HEADER_BYTES + b->stored;
    uint64_t lo = b->offset / pg * pg, hi = end / pg * pg;
    if (hi > t->map_len) hi = t->map_len / pg * pg;
    if (hi > lo) madvise((char *)t->map + lo, hi - lo, MADV_DONTNEED);
}

/* Maps a regular file and opens the reader over the mapping, so that
 * memory follows the blocks being decoded, not the file; anything else
 * (standard input, a pipe) is read whole as every reader does. A mapping
 * of a file that shrinks while it is read would fault: a tracer only
 * appends to its file, and a rewrite replaces it by rename, which leaves
 * the mapped one whole. */
static int open_reader(mt_trace *t, const char *path, mt_diag *diag) {
    mt_input in;
    mt_input_opts o = { 0 };
    if (strcmp(path, "-") && !mt_input_open(path, &o, &in, NULL)) {
        struct stat st;
        if (in.regular && !fstat(in.fd, &st) && st.st_size >= 16 && (uint64_t)st.st_size <= SIZE_MAX) {
            void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, in.fd, 0);
            if (m != MAP_FAILED) {
                /* The open scans every block header: one page each, not
                 * the kernel's fault-around and read-ahead around it. */
                madvise(m, (size_t)st.st_size, MADV_RANDOM);
                t->map = m;
                t->map_len = (size_t)st.st_size;
            }
        }
        mt_input_close(&in);
        if (t->map) {
            int rc = mt_reader_open_mem_growing(t->map, t->map_len, path, &t->r, diag);
            if (rc == MT_E_NOTSNAP) mt_diag_set(diag, MT_E_NOTSNAP, "not a memtrace snapshot (bad magic)");
            return rc;
        }
    }
    return mt_reader_open_growing(path, &t->r, diag);
}

/* A block that fails to open or decode: left out under salvage, else the
 * whole open fails naming it. Returns 0 to skip it. */
static int block_lost(mt_trace *t, int rc, mt_diag *d, mt_diag *diag) {
    if (rc == MT_E_NOMEM) return nomem(diag);
    if (t->flags & MT_LOAD_SALVAGE) return 0;
    if (diag) {
        const char *file = diag->file;
        *diag = *d;
        diag->file = file;
        diag->code = MT_E_DAMAGED;
    }
    return MT_E_DAMAGED;
}

/* ---- meta, steps, checkpoints ---- */

static int read_small(mt_trace *t, int *is_trace, mt_diag *diag) {
    mt_reader *r = t->r;
    for (size_t i = 0; i < mt_reader_block_count(r); i++) {
        const mt_block_info *b = mt_reader_block(r, i);
        if (b->status != MT_BLOCK_OK) continue;
        if (b->kind == MT_KIND_ALLOC) {
            if (mt__grow((void **)&t->ablocks, &t->cap_ablocks, t->n_ablocks, sizeof(size_t))) return nomem(diag);
            t->ablocks[t->n_ablocks++] = i;
            continue;
        }
        if (b->kind == MT_KIND_TRACE_LIVE) {
            if (mt__grow((void **)&t->lblocks, &t->cap_lblocks, t->n_lblocks, sizeof(size_t))) return nomem(diag);
            t->lblocks[t->n_lblocks++] = i;
        } else if (b->kind != MT_KIND_META && b->kind != MT_KIND_EVENT)
            continue;
        mt_cursor c;
        mt_record rec;
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        int rc = mt_reader_block_open(r, i, &c, &d);
        uint64_t seq = b->first;
        while (!rc && (rc = mt_cursor_next(&c, &rec.u, &d)) == 1) {
            rc = 0;
            if (b->kind == MT_KIND_META) {
                const mt_meta *m = &rec.u.meta;
                const mt_value *v = &m->value;
                double num = v->type == MT_VAL_UINT ? (double)v->v.u : v->type == MT_VAL_FLOAT ? v->v.f : -1;
                if (m->key.len == 10 && !memcmp(m->key.ptr, "trace_mode", 10)) {
                    *is_trace = 1;
                    t->sum.sampled = v->type == MT_VAL_STR && v->v.s.len == 7 && !memcmp(v->v.s.ptr, "sampled", 7);
                } else if (m->key.len == 12 && !memcmp(m->key.ptr, "sample_bytes", 12))
                    t->sum.sample_bytes = num >= 0 ? num : 0; /* the last entry counts, even one unusable */
                else if (m->key.len == 10 && !memcmp(m->key.ptr, "start_time", 10))
                    t->sum.start_time = v->type == MT_VAL_UINT ? v->v.u : 0;
                else if (m->key.len == 11 && !memcmp(m->key.ptr, "cut_from_ns", 11) && v->type == MT_VAL_UINT)
                    t->sum.cut = 1, t->sum.cut_from_ns = v->v.u;
                else if (m->key.len == 9 && !memcmp(m->key.ptr, "cut_to_ns", 9) && v->type == MT_VAL_UINT)
                    t->sum.cut_to_ns = v->v.u;
            } else if (b->kind == MT_KIND_EVENT) {
                const mt_event *e = &rec.u.event;
                if (e->kind.len != 4 || memcmp(e->kind.ptr, "step", 4)) continue;
                if (mt__grow((void **)&t->steps, &t->cap_steps, t->n_steps, sizeof *t->steps) ||
                    mt__grow((void **)&t->step_name, &t->cap_step_name, t->n_steps, sizeof(size_t)) ||
                    mt__pool_add(&t->pool, &t->pool_len, &t->pool_cap, e->name.ptr, e->name.len,
                                 &t->step_name[t->n_steps]))
                    return nomem(diag);
                t->steps[t->n_steps++].time_ns = e->time_ns;
            } else {
                const mt_trace_live *l = &rec.u.trace_live;
                checkpoint *last = t->n_cps ? &t->cps[t->n_cps - 1] : NULL;
                if (last && last->time_ns == l->time_ns && last->upto == l->upto && last->first + last->n == seq)
                    last->n++;
                else {
                    if (mt__grow((void **)&t->cps, &t->cap_cps, t->n_cps, sizeof *t->cps)) return nomem(diag);
                    t->cps[t->n_cps++] = (checkpoint){ l->time_ns, l->upto, seq, 1 };
                }
                seq++;
            }
        }
        if (rc < 0 && (rc = block_lost(t, rc, &d, diag))) return rc;
    }
    return 0;
}

static int cmp_block_first(const void *a, const void *b, void *r) {
    const mt_block_info *x = mt_reader_block(r, *(const size_t *)a), *y = mt_reader_block(r, *(const size_t *)b);
    return x->first < y->first ? -1 : x->first > y->first;
}

static int cmp_step(const void *a, const void *b) {
    const mt_trace_step *x = a, *y = b;
    return x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
}

static int cmp_cp(const void *a, const void *b) {
    const checkpoint *x = a, *y = b;
    if (x->upto != y->upto) return x->upto < y->upto ? -1 : 1;
    return x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
}

/* ---- the pass ---- */

static int fig_of(mt_trace *t, uint32_t stack, uint32_t *at) {
    if (mt_u64map_get(&t->idx, stack, at)) return 0;
    if (mt__grow((void **)&t->figs, &t->cap_figs, t->n_figs, sizeof *t->figs) ||
        mt_u64map_put(&t->idx, stack, (uint32_t)t->n_figs))
        return MT_E_NOMEM;
    memset(&t->figs[t->n_figs], 0, sizeof *t->figs);
    t->figs[t->n_figs].stack = stack;
    *at = (uint32_t)t->n_figs++;
    return 0;
}

static unsigned size_class(uint64_t size) {
    unsigned k = 0;
    while (size > 1) {
        size >>= 1;
        k++;
    }
    return k;
}

static size_t curve_index(const mt_trace *t, uint64_t time_ns) {
    double x = (double)time_ns / (double)t->curve_span * MT_TRACE_CURVE_RES;
    if (!(x >= 0)) return 0;
    return x >= MT_TRACE_CURVE_RES - 1 ? MT_TRACE_CURVE_RES - 1 : (size_t)x;
}

/* Checks one allocs record the way every pass relies on. */
static const char *bad_record(const mt_alloc *a, uint64_t last_ns) {
    if (a->op != MT_ALLOC_ALLOC && a->op != MT_ALLOC_FREE) return "op is not 0 (alloc) or 1 (free), as a trace needs";
    if (!(a->weight >= 0) || isinf(a->weight)) return "weight is negative or not a number";
    if (a->time_ns < last_ns) return "time_ns goes back: a trace's records are in time order";
    return NULL;
}

/* The time of the last allocs record (the last intact block's last). */
static int find_duration(mt_trace *t, mt_diag *diag) {
    for (size_t k = t->n_ablocks; k-- > 0;) {
        mt_cursor c;
        mt_record rec;
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        int rc = mt_reader_block_open(t->r, t->ablocks[k], &c, &d), got = 0;
        uint64_t last = 0;
        while (!rc && (rc = mt_cursor_next(&c, &rec.u, &d)) == 1) {
            rc = 0;
            last = rec.u.alloc.time_ns;
            got = 1;
        }
        if (rc < 0) {
            if ((rc = block_lost(t, rc, &d, diag))) return rc;
            continue;
        }
        if (got) {
            t->sum.duration_ns = last;
            return 0;
        }
    }
    return 0;
}

static int pass(mt_trace *t, uint64_t thr, const mt_trace_opts *opts, mt_diag *diag) {
    acc live = { 0, 0 }, live_n = { 0, 0 };
    uint64_t last_ns = 0, done = 0, total = 0;
    int have_peak = 0;
    for (size_t k = 0; k < t->n_ablocks; k++) total += mt_reader_block(t->r, t->ablocks[k])->count;
    mt_reader_prefetch(t->r, t->ablocks, t->n_ablocks);
    size_t cur_bucket = 0;
    int in_bucket = 0;
    for (size_t k = 0; k < t->n_ablocks; k++) {
        size_t bi = t->ablocks[k];
        const mt_block_info *b = mt_reader_block(t->r, bi);
        mt_cursor c;
        mt_record rec;
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        int rc = mt_reader_block_open(t->r, bi, &c, &d);
        uint64_t seq = b->first;
        while (!rc && (rc = mt_cursor_next(&c, &rec.u, &d)) == 1) {
            rc = 0;
            const mt_alloc *a = &rec.u.alloc;
            const char *why = bad_record(a, last_ns);
            if (why) return fail_record(diag, MT_E_RECORD, b, bi, seq, why);
            last_ns = a->time_ns;
            uint32_t fi;
            if (fig_of(t, a->stack, &fi)) return nomem(diag);
            stack_fig *f = &t->figs[fi];
            double w = weight_of(a), sz = (double)a->size;
            if (a->weight > t->max_weight) t->max_weight = a->weight;
            double x = sz * w, var = a->weight > 0 ? sz * sz * w * (w - 1) : 0,
                   var_n = a->weight > 0 ? w * (w - 1) : 0;
            if (a->op == MT_ALLOC_ALLOC) {
                add(&f->live, x, var);
                add(&f->live_n, w, var_n);
                add(&f->alloc, x, var);
                add(&f->alloc_n, w, var_n);
                add(&live, x, var);
                add(&live_n, w, var_n);
                unsigned sc = size_class(a->size);
                add(&t->hist_n[sc], w, var_n);
                add(&t->hist_b[sc], x, var);
                t->sum.allocs++;
            } else {
                add(&f->live, -x, -var);
                add(&f->live_n, -w, -var_n);
                add(&live, -x, -var);
                add(&live_n, -w, -var_n);
                if (a->time_ns >= a->born_ns && a->time_ns - a->born_ns <= thr) {
                    add(&f->temp, x, var);
                    add(&f->temp_n, w, var_n);
                }
                t->sum.frees++;
            }
            if (!f->dirty) {
                if (mt__grow((void **)&t->dirty, &t->cap_dirty, t->n_dirty, sizeof *t->dirty)) return nomem(diag);
                t->dirty[t->n_dirty++] = fi;
                f->dirty = 1;
            }
            /* A new peak copies only the stacks changed since the last one:
             * each record dirties one stack once, so the copies cost no
             * more than the records. */
            if (!have_peak || live.v > t->sum.peak.value) {
                have_peak = 1;
                t->sum.peak = est(live);
                t->sum.peak_ns = a->time_ns;
                t->sum.peak_seq = seq;
                for (size_t j = 0; j < t->n_dirty; j++) {
                    stack_fig *g = &t->figs[t->dirty[j]];
                    g->peak = g->live;
                    g->peak_n = g->live_n;
                    g->dirty = 0;
                }
                t->n_dirty = 0;
            }
            size_t ci = curve_index(t, a->time_ns);
            if (!in_bucket || ci != cur_bucket) {
                double carried = in_bucket ? t->curve[cur_bucket].end : 0;
                t->curve[ci].max = carried;
                t->curve[ci].seen = 1;
                cur_bucket = ci;
                in_bucket = 1;
            }
            if (live.v > t->curve[ci].max) t->curve[ci].max = live.v;
            t->curve[ci].end = live.v;
            seq++;
            t->sum.records++;
        }
        if (rc < 0) {
            if ((rc = block_lost(t, rc, &d, diag))) return rc;
            t->sum.lost_blocks++;
            t->sum.lost_records += b->count - (seq - b->first);
        }
        release(t, b);
        done += b->count;
        if (opts && opts->progress) opts->progress(opts->progress_arg, done, total);
    }
    mt_reader_prefetch(t->r, NULL, 0);
    t->sum.end = est(live);
    t->sum.end_count = est(live_n);
    acc al = { 0, 0 }, aln = { 0, 0 }, tp = { 0, 0 }, tpn = { 0, 0 };
    for (size_t i = 0; i < t->n_figs; i++) {
        add(&al, t->figs[i].alloc.v, t->figs[i].alloc.var);
        add(&aln, t->figs[i].alloc_n.v, t->figs[i].alloc_n.var);
        add(&tp, t->figs[i].temp.v, t->figs[i].temp.var);
        add(&tpn, t->figs[i].temp_n.v, t->figs[i].temp_n.var);
    }
    t->sum.allocated = est(al);
    t->sum.allocated_count = est(aln);
    t->sum.temporary = est(tp);
    t->sum.temporary_count = est(tpn);
    t->sum.stacks = t->n_figs;
    return 0;
}

static int open_rest(mt_trace *t, unsigned flags, const mt_trace_opts *opts, mt_diag *diag);

int mt_trace_open(const char *path, unsigned flags, const mt_trace_opts *opts, mt_trace **out, mt_diag *diag) {
    *out = NULL;
    mt_trace *t = calloc(1, sizeof *t);
    if (!t) return nomem(diag);
    t->flags = flags;
    int rc = open_reader(t, path, diag);
    if (!rc) rc = open_rest(t, flags, opts, diag);
    if (rc) {
        mt_trace_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int mt_trace_open_mem(const void *data, size_t size, const char *name, unsigned flags, const mt_trace_opts *opts,
                      mt_trace **out, mt_diag *diag) {
    *out = NULL;
    mt_trace *t = calloc(1, sizeof *t);
    if (!t) return nomem(diag);
    t->flags = flags;
    int rc = mt_reader_open_mem_growing(data, size, name, &t->r, diag);
    if (!rc) rc = open_rest(t, flags, opts, diag);
    if (rc) {
        mt_trace_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

static int open_rest(mt_trace *t, unsigned flags, const mt_trace_opts *opts, mt_diag *diag) {
    int rc;
    t->sum.truncated = !mt_reader_closed(t->r);
    if (mt_reader_damage_count(t->r) && !(flags & MT_LOAD_SALVAGE)) {
        rc = mt_damage_diag(mt_reader_damage(t->r, 0), MT_E_DAMAGED, diag);
        return rc;
    }
    int is_trace = 0;
    if ((rc = read_small(t, &is_trace, diag))) return rc;
    if (!is_trace) {
        rc = mt_diag_set(diag, MT_E_NOTFOUND, "not an allocation trace: its meta has no trace_mode (SPEC.md 4.3)");
        return rc;
    }
    if (!t->n_ablocks) {
        rc = mt_diag_set(diag, MT_E_NOTFOUND, "trace has no allocs records: nothing was traced, or the file was cut "
                                           "short before its first allocs block");
        return rc;
    }
    /* (Empty arrays are NULL, which qsort must not be given.) */
    if (t->n_ablocks > 1) qsort_r(t->ablocks, t->n_ablocks, sizeof *t->ablocks, cmp_block_first, t->r);
    if (t->n_lblocks > 1) qsort_r(t->lblocks, t->n_lblocks, sizeof *t->lblocks, cmp_block_first, t->r);
    /* Names point into the pool once it stops moving. */
    for (size_t i = 0; i < t->n_steps; i++) t->steps[i].name = t->pool + t->step_name[i];
    if (t->n_steps > 1) qsort(t->steps, t->n_steps, sizeof *t->steps, cmp_step);
    if (t->n_cps > 1) qsort(t->cps, t->n_cps, sizeof *t->cps, cmp_cp);
    t->sum.checkpoints = t->n_cps;
    if ((rc = mt_sites_read(t->r, (flags & MT_LOAD_SALVAGE) != 0, &t->sites, diag))) return rc;
    if ((rc = find_duration(t, diag))) return rc;
    /* What the reader's scan of the block headers mapped (217 MB of a
     * 1.3 GB file, 100M events, before MADV_RANDOM): given back before
     * the pass, which reads the blocks in file order. */
    if (t->map) {
        madvise(t->map, t->map_len, MADV_DONTNEED);
        madvise(t->map, t->map_len, MADV_SEQUENTIAL);
    }
    t->curve_span = t->sum.duration_ns == UINT64_MAX ? UINT64_MAX : t->sum.duration_ns + 1;
    if (!(t->curve = calloc(MT_TRACE_CURVE_RES, sizeof *t->curve))) {
        rc = nomem(diag);
        return rc;
    }
    uint64_t thr = opts && opts->temporary_set ? opts->temporary_ns : MT_TRACE_TEMPORARY_NS;
    t->sum.temporary_ns = thr;
    if ((rc = pass(t, thr, opts, diag))) return rc;
    if (!t->sum.records) return mt_diag_set(diag, MT_E_NOTFOUND, "trace has no readable allocs records");
    return 0;
}

void mt_trace_free(mt_trace *t) {
    if (!t) return;
    mt_reader_free(t->r);
    if (t->map) munmap(t->map, t->map_len);
    mt_sites_free(t->sites);
    mt_u64map_free(&t->idx);
    free(t->figs);
    free(t->dirty);
    free(t->ablocks);
    free(t->lblocks);
    free(t->cps);
    free(t->steps);
    free(t->step_name);
    free(t->pool);
    free(t->curve);
    free(t);
}

void mt_trace_summary_get(const mt_trace *t, mt_trace_summary *out) { *out = t->sum; }

const mt_sites *mt_trace_stacks(const mt_trace *t) { return t->sites; }

/* ---- other moments ---- */

/* The checkpoint to start from for time_ns: the last at or before it that
 * covers records the file has, or NULL for the start. Sampled traces
 * always replay from the start: a checkpoint carries bytes and blocks but
 * not their variance, and a sampled trace has few records anyway. */
static const checkpoint *start_for(const mt_trace *t, uint64_t time_ns) {
    if ((t->flags & MT_TRACE_NO_CHECKPOINTS) || t->sum.sampled) return NULL;
    const checkpoint *best = NULL;
    uint64_t have = t->sum.records + t->sum.lost_records;
    for (size_t i = 0; i < t->n_cps; i++) {
        const checkpoint *c = &t->cps[i];
        if (c->time_ns <= time_ns && c->upto <= have && (!best || c->upto >= best->upto)) best = c;
    }
    return best;
}

/* Live figures at time_ns into live/live_n (indexed as figs). */
static int replay(mt_trace *t, uint64_t time_ns, acc *live, acc *live_n, mt_diag *diag) {
    const checkpoint *cp = start_for(t, time_ns);
    uint64_t from = 0;
    if (cp) {
        from = cp->upto;
        for (size_t k = 0; k < t->n_lblocks; k++) {
            size_t bi = t->lblocks[k];
            const mt_block_info *b = mt_reader_block(t->r, bi);
            if (b->first + b->count <= cp->first || b->first >= cp->first + cp->n) continue;
            mt_cursor c;
            mt_record rec;
            mt_diag d = { 0 };
            mt_diag_clear(&d);
            int rc = mt_reader_block_open(t->r, bi, &c, &d);
            uint64_t seq = b->first;
            while (!rc && (rc = mt_cursor_next(&c, &rec.u, &d)) == 1) {
                rc = 0;
                uint32_t fi;
                /* A stack no record names can only come from a lost block. */
                if (seq >= cp->first && seq < cp->first + cp->n && mt_u64map_get(&t->idx, rec.u.trace_live.stack, &fi)) {
                    live[fi].v += rec.u.trace_live.bytes;
                    live_n[fi].v += rec.u.trace_live.count;
                }
                seq++;
            }
            if (rc < 0 && (rc = block_lost(t, rc, &d, diag))) return rc;
        }
    }
    for (size_t k = 0; k < t->n_ablocks; k++) {
        size_t bi = t->ablocks[k];
        const mt_block_info *b = mt_reader_block(t->r, bi);
        /* Whole blocks before the checkpoint are skipped by their headers. */
        if (b->first + b->count <= from) continue;
        mt_cursor c;
        mt_record rec;
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        int rc = mt_reader_block_open(t->r, bi, &c, &d);
        uint64_t seq = b->first;
        while (!rc && (rc = mt_cursor_next(&c, &rec.u, &d)) == 1) {
            rc = 0;
            const mt_alloc *a = &rec.u.alloc;
            if (seq++ < from) continue;
            if (a->time_ns > time_ns) {
                release(t, b);
                return 0;
            }
            uint32_t fi;
            if (!mt_u64map_get(&t->idx, a->stack, &fi)) continue; /* the pass saw every stack */
            double w = weight_of(a), sz = (double)a->size, s = a->op == MT_ALLOC_ALLOC ? 1 : -1;
            double var = a->weight > 0 ? sz * sz * w * (w - 1) : 0, var_n = a->weight > 0 ? w * (w - 1) : 0;
            add(&live[fi], s * sz * w, s * var);
            add(&live_n[fi], s * w, s * var_n);
        }
        release(t, b);
        if (rc < 0 && (rc = block_lost(t, rc, &d, diag))) return rc;
    }
    return 0;
}

int mt_trace_sites(mt_trace *t, const mt_trace_at *at, mt_trace_site **out, size_t *n, mt_diag *diag) {
    *out = NULL;
    *n = 0;
    mt_trace_when when = at ? at->when : MT_TRACE_AT_PEAK;
    acc *live = NULL, *live_n = NULL;
    if (when == MT_TRACE_AT_TIME) {
        live = calloc(t->n_figs + 1, sizeof *live);
        live_n = calloc(t->n_figs + 1, sizeof *live_n);
        if (!live || !live_n) {
            free(live);
            free(live_n);
            return nomem(diag);
        }
        int rc = replay(t, at->time_ns, live, live_n, diag);
        if (rc) {
            free(live);
            free(live_n);
            return rc;
        }
    }
    mt_trace_site *s = calloc(t->n_figs ? t->n_figs : 1, sizeof *s);
    if (!s) {
        free(live);
        free(live_n);
        return nomem(diag);
    }
    size_t k = 0;
    for (size_t i = 0; i < t->n_figs; i++) {
        const stack_fig *f = &t->figs[i];
        mt_trace_site x = { f->stack, { 0, 0 }, { 0, 0 }, est(f->live), est(f->live_n),
                            est(f->alloc), est(f->alloc_n), est(f->temp), est(f->temp_n) };
        if (when == MT_TRACE_AT_PEAK) {
            x.live = est(f->peak);
            x.live_count = est(f->peak_n);
        } else if (when == MT_TRACE_AT_END) {
            x.live = x.end;
            x.live_count = x.end_count;
        } else {
            x.live = est(live[i]);
            x.live_count = est(live_n[i]);
        }
        if (x.live.value != 0 || x.live_count.value != 0 || x.end.value != 0 || x.allocated_count.value != 0)
            s[k++] = x;
    }
    free(live);
    free(live_n);
    if (!k) {
        free(s);
        s = NULL;
    }
    *out = s;
    *n = k;
    return 0;
}

/* Moment k of mt_trace_sites_over(): the stacks with anything live. */
static int emit_moment(mt_trace *t, size_t k, const acc *live, const acc *live_n, mt_trace_site *buf,
                       mt_trace_moment_fn fn, void *arg) {
    size_t m = 0;
    for (size_t i = 0; i < t->n_figs; i++)
        if (live[i].v != 0 || live_n[i].v != 0) {
            memset(&buf[m], 0, sizeof buf[m]);
            buf[m].stack = t->figs[i].stack;
            buf[m].live = est(live[i]);
            buf[m].live_count = est(live_n[i]);
            m++;
        }
    return fn(arg, k, m ? buf : NULL, m);
}

int mt_trace_sites_over(mt_trace *t, const uint64_t *times, size_t n, mt_trace_moment_fn fn, void *arg,
                        mt_diag *diag) {
    for (size_t k = 1; k < n; k++)
        if (times[k] < times[k - 1]) return mt_diag_set(diag, MT_E_INVAL, "moments must not go back in time");
    acc *live = calloc(t->n_figs + 1, sizeof *live), *live_n = calloc(t->n_figs + 1, sizeof *live_n);
    mt_trace_site *buf = calloc(t->n_figs + 1, sizeof *buf);
    int rc = 0;
    size_t k = 0;
    if (!live || !live_n || !buf) rc = nomem(diag);
    for (size_t j = 0; j < t->n_ablocks && !rc && k < n; j++) {
        size_t bi = t->ablocks[j];
        const mt_block_info *b = mt_reader_block(t->r, bi);
        mt_cursor c;
        mt_record rec;
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        int brc = mt_reader_block_open(t->r, bi, &c, &d);
        while (!brc && !rc && k < n && (brc = mt_cursor_next(&c, &rec.u, &d)) == 1) {
            brc = 0;
            const mt_alloc *a = &rec.u.alloc;
            while (!rc && k < n && a->time_ns > times[k]) rc = emit_moment(t, k++, live, live_n, buf, fn, arg);
            uint32_t fi;
            if (rc || !mt_u64map_get(&t->idx, a->stack, &fi)) continue;
            double w = weight_of(a), sz = (double)a->size, sg = a->op == MT_ALLOC_ALLOC ? 1 : -1;
            double var = a->weight > 0 ? sz * sz * w * (w - 1) : 0, var_n = a->weight > 0 ? w * (w - 1) : 0;
            add(&live[fi], sg * sz * w, sg * var);
            add(&live_n[fi], sg * w, sg * var_n);
        }
        release(t, b);
        if (!rc && brc < 0) rc = block_lost(t, brc, &d, diag);
    }
    while (!rc && k < n) rc = emit_moment(t, k++, live, live_n, buf, fn, arg);
    free(live);
    free(live_n);
    free(buf);
    return rc;
}

int mt_trace_live_total(mt_trace *t, const mt_trace_at *at, mt_est *bytes, mt_diag *diag) {
    mt_trace_when when = at ? at->when : MT_TRACE_AT_PEAK;
    if (when == MT_TRACE_AT_PEAK) {
        *bytes = t->sum.peak;
        return 0;
    }
    if (when == MT_TRACE_AT_END) {
        *bytes = t->sum.end;
        return 0;
    }
    mt_trace_site *s;
    size_t n;
    int rc = mt_trace_sites(t, at, &s, &n, diag);
    if (rc) return rc;
    acc a = { 0, 0 };
    for (size_t i = 0; i < n; i++) add(&a, s[i].live.value, s[i].live.se * s[i].live.se);
    free(s);
    *bytes = est(a);
    return 0;
}

/* ---- sorting ---- */

static const char *const by_names[] = { "peak", "allocated", "count", "temporary", "leaked" };

const char *mt_trace_by_name(mt_trace_by by) {
    return (unsigned)by < sizeof by_names / sizeof *by_names ? by_names[by] : "unknown";
}

int mt_trace_by_from_name(const char *name, mt_trace_by *out) {
    for (size_t i = 0; name && i < sizeof by_names / sizeof *by_names; i++)
        if (!strcmp(name, by_names[i])) {
            *out = (mt_trace_by)i;
            return 0;
        }
    return MT_E_INVAL;
}

mt_est mt_trace_site_figure(const mt_trace_site *s, mt_trace_by by) {
    switch (by) {
    case MT_TRACE_BY_ALLOCATED: return s->allocated;
    case MT_TRACE_BY_COUNT: return s->allocated_count;
    case MT_TRACE_BY_TEMPORARY: return s->temporary_count;
    case MT_TRACE_BY_LEAKED: return s->end;
    default: return s->live;
    }
}

static int cmp_site(const void *a, const void *b, void *arg) {
    mt_trace_by by = *(const mt_trace_by *)arg;
    double x = mt_trace_site_figure(a, by).value, y = mt_trace_site_figure(b, by).value;
    if (x != y) return x > y ? -1 : 1;
    uint32_t p = ((const mt_trace_site *)a)->stack, q = ((const mt_trace_site *)b)->stack;
    return p < q ? -1 : p > q;
}

void mt_trace_sites_sort(mt_trace_site *sites, size_t n, mt_trace_by by) {
    if (n > 1) qsort_r(sites, n, sizeof *sites, cmp_site, &by);
}

/* ---- sizes, curve, steps ---- */

void mt_trace_histogram(const mt_trace *t, mt_trace_size_class *out) {
    for (unsigned k = 0; k < MT_TRACE_SIZE_CLASSES; k++) {
        out[k].low = k ? (uint64_t)1 << k : 0;
        out[k].high = k == 63 ? UINT64_MAX : ((uint64_t)1 << (k + 1)) - 1;
        out[k].count = est(t->hist_n[k]);
        out[k].bytes = est(t->hist_b[k]);
    }
}

void mt_trace_curve(const mt_trace *t, size_t n, mt_trace_point *out, size_t *got) {
    if (n > MT_TRACE_CURVE_RES) n = MT_TRACE_CURVE_RES;
    *got = n;
    double carried = 0;
    size_t b = 0;
    for (size_t i = 0; i < n; i++) {
        size_t hi = (i + 1) * MT_TRACE_CURVE_RES / n;
        double mx = carried;
        int any = 0;
        for (; b < hi; b++) {
            const curve_bucket *c = &t->curve[b];
            if (!c->seen) continue;
            mx = any ? (c->max > mx ? c->max : mx) : c->max;
            any = 1;
            carried = c->end;
        }
        out[i].time_ns = (uint64_t)((double)t->curve_span * (double)i / (double)n);
        out[i].max_bytes = mx;
        out[i].end_bytes = carried;
    }
}

size_t mt_trace_step_count(const mt_trace *t) { return t->n_steps; }

const mt_trace_step *mt_trace_step_get(const mt_trace *t, size_t i) { return i < t->n_steps ? &t->steps[i] : NULL; }

const mt_trace_step *mt_trace_step_at(const mt_trace *t, uint64_t time_ns) {
    const mt_trace_step *s = NULL;
    for (size_t i = 0; i < t->n_steps && t->steps[i].time_ns <= time_ns; i++) s = &t->steps[i];
    return s;
}

const mt_trace_step *mt_trace_step_find(const mt_trace *t, const char *name) {
    for (size_t i = 0; i < t->n_steps; i++)
        if (!strcmp(t->steps[i].name, name)) return &t->steps[i];
    return NULL;
}

/* ---- folded stacks ---- */

static size_t put(char *buf, size_t n, size_t at, const char *s, size_t len, int clean) {
    for (size_t i = 0; i < len; i++, at++)
        if (at + 1 < n) {
            char ch = s[i];
            buf[at] = clean && (ch == ';' || ch == '\n' || ch == '\r') ? '_' : ch;
            buf[at + 1] = 0;
        }
    return at;
}

size_t mt_trace_folded(const mt_trace *t, uint32_t stack, char *buf, size_t n) {
    if (n) buf[0] = 0;
    /* Innermost first into a small array, then written outermost first; a
     * chain longer than the table loops and is cut. */
    size_t cap = mt_sites_count(t->sites) + 1, depth = 0;
    if (cap > 4096) cap = 4096;
    uint32_t chain[4096];
    for (uint32_t s = stack; depth < cap; s = mt_sites_parent(t->sites, s)) {
        chain[depth++] = s;
        if (!s || !mt_sites_parent(t->sites, s)) break;
    }
    size_t at = 0;
    for (size_t i = depth; i-- > 0;) {
        if (i + 1 < depth) at = put(buf, n, at, ";", 1, 0);
        mt_str file, fn;
        uint32_t line;
        if (!mt_sites_frame(t->sites, chain[i], &file, &fn, &line)) {
            at = put(buf, n, at, "<unknown>", 9, 0);
            continue;
        }
        char ln[16];
        int k = snprintf(ln, sizeof ln, ":%u)", line);
        at = put(buf, n, at, fn.ptr, fn.len, 1);
        at = put(buf, n, at, " (", 2, 0);
        at = put(buf, n, at, file.ptr, file.len, 1);
        at = put(buf, n, at, ln, (size_t)k, 0);
    }
    return at;
}
