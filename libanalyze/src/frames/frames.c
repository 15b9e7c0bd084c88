/* The DataFrame table of a snapshot (frames.h): df_frames, df_columns,
 * df_values, df_sketches and the step samples, copied out of the reader's
 * buffers into one string pool. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/frames.h"
#include "memtrace/u64map.h"
#include "common/array.h"
#include "frames/pandas_model.h"

/* While loading, strings hold pool offsets (ptr = offset + 1, so that an
 * empty string stays NULL); fix_str turns them into pointers once the
 * pool stops moving. */
typedef struct loader {
    mt_df_table *t;
    size_t cap_frames, cap_columns, cap_steps;
    mt_df_value *values;
    size_t n_values, cap_values;
    mt_df_sketch *sketches;
    size_t n_sketches, cap_sketches;
    mt_sample *samples;
    size_t n_samples, cap_samples;
    char *pool;
    size_t pool_len, pool_cap;
} loader;

struct mt_df_table_impl {
    mt_df_table pub;
    char *pool;
    mt_df_value *values;
    mt_df_sketch *sketches;
};

static int keep(loader *L, mt_str *s) {
    if (!s->len) {
        s->ptr = NULL;
        return 0;
    }
    size_t at;
    if (mt__pool_add(&L->pool, &L->pool_len, &L->pool_cap, s->ptr, s->len, &at)) return -1;
    s->ptr = (const char *)(uintptr_t)(at + 1);
    return 0;
}

static int keep_value(loader *L, mt_value *v) {
    return v->type == MT_VAL_STR || v->type == MT_VAL_BIN ? keep(L, &v->v.s) : 0;
}

static void fix_str(const char *pool, mt_str *s) {
    s->ptr = s->ptr ? pool + ((uintptr_t)s->ptr - 1) : "";
}

static void fix_value(const char *pool, mt_value *v) {
    if (v->type == MT_VAL_STR || v->type == MT_VAL_BIN) fix_str(pool, &v->v.s);
}

static int on_frame(void *arg, const void *rec) {
    loader *L = arg;
    mt_df_table *t = L->t;
    if (mt__grow((void **)&t->frames, &L->cap_frames, t->n_frames, sizeof *t->frames)) return MT_E_NOMEM;
    mt_df_frame_info *f = &t->frames[t->n_frames];
    memset(f, 0, sizeof *f);
    f->rec = *(const mt_df_frame *)rec;
    if (keep(L, &f->rec.name) || keep(L, &f->rec.index_kind) || keep(L, &f->rec.step) ||
        keep(L, &f->rec.columns_kind))
        return MT_E_NOMEM;
    t->n_frames++;
    return 0;
}

static int on_column(void *arg, const void *rec) {
    loader *L = arg;
    mt_df_table *t = L->t;
    if (mt__grow((void **)&t->columns, &L->cap_columns, t->n_columns, sizeof *t->columns)) return MT_E_NOMEM;
    mt_df_col_info *c = &t->columns[t->n_columns];
    memset(c, 0, sizeof *c);
    c->rec = *(const mt_df_column *)rec;
    if (keep(L, &c->rec.name) || keep(L, &c->rec.dtype) || keep_value(L, &c->rec.min) ||
        keep_value(L, &c->rec.max) || keep_value(L, &c->rec.fill_value) || keep(L, &c->rec.value_type) ||
        keep(L, &c->rec.datetime_format))
        return MT_E_NOMEM;
    t->n_columns++;
    return 0;
}

static int on_value(void *arg, const void *rec) {
    loader *L = arg;
    if (mt__grow((void **)&L->values, &L->cap_values, L->n_values, sizeof *L->values)) return MT_E_NOMEM;
    L->values[L->n_values] = *(const mt_df_value *)rec;
    if (keep_value(L, &L->values[L->n_values].value)) return MT_E_NOMEM;
    L->n_values++;
    return 0;
}

static int on_sketch(void *arg, const void *rec) {
    loader *L = arg;
    if (mt__grow((void **)&L->sketches, &L->cap_sketches, L->n_sketches, sizeof *L->sketches)) return MT_E_NOMEM;
    L->sketches[L->n_sketches] = *(const mt_df_sketch *)rec;
    if (keep(L, &L->sketches[L->n_sketches].kind) || keep(L, &L->sketches[L->n_sketches].data)) return MT_E_NOMEM;
    L->n_sketches++;
    return 0;
}

static int on_sample(void *arg, const void *rec) {
    loader *L = arg;
    const mt_sample *s = rec;
    if (!s->step.len) return 0;  /* only step samples make steps */
    if (mt__grow((void **)&L->samples, &L->cap_samples, L->n_samples, sizeof *L->samples)) return MT_E_NOMEM;
    L->samples[L->n_samples] = *s;
    if (keep(L, &L->samples[L->n_samples].series) || keep(L, &L->samples[L->n_samples].step)) return MT_E_NOMEM;
    L->n_samples++;
    return 0;
}

static int cmp_column(const void *a, const void *b) {
    const mt_df_col_info *x = a, *y = b;
    if (x->frame != y->frame) return x->frame < y->frame ? -1 : 1;
    return (x->rec.position > y->rec.position) - (x->rec.position < y->rec.position);
}

/* By frame and position, then most common first. */
static int cmp_value(const void *a, const void *b) {
    const mt_df_value *x = a, *y = b;
    if (x->frame != y->frame) return x->frame < y->frame ? -1 : 1;
    if (x->position != y->position) return x->position < y->position ? -1 : 1;
    return (x->count < y->count) - (x->count > y->count);
}

static int cmp_sketch(const void *a, const void *b) {
    const mt_df_sketch *x = a, *y = b;
    if (x->frame != y->frame) return x->frame < y->frame ? -1 : 1;
    return (x->position > y->position) - (x->position < y->position);
}

static mt_df_step *step_named(mt_df_table *t, size_t *cap, const char *name, uint64_t time_ns) {
    for (size_t i = 0; i < t->n_steps; i++)
        if (!strcmp(t->steps[i].name, name)) {
            if (time_ns < t->steps[i].time_ns) t->steps[i].time_ns = time_ns;
            return &t->steps[i];
        }
    if (mt__grow((void **)&t->steps, cap, t->n_steps, sizeof *t->steps)) return NULL;
    mt_df_step *s = &t->steps[t->n_steps++];
    memset(s, 0, sizeof *s);
    s->name = name;
    s->time_ns = time_ns;
    s->rss = s->traced = s->traced_peak = NAN;
    return s;
}

static int cmp_step(const void *a, const void *b) {
    const mt_df_step *x = a, *y = b;
    return (x->time_ns > y->time_ns) - (x->time_ns < y->time_ns);
}

/* Frame ids to frame indices, each id once. */
static int index_frames(mt_df_table *t, const char *pool, mt_u64map *ids, mt_diag *diag) {
    for (size_t i = 0; i < t->n_frames; i++) {
        mt_df_frame *f = &t->frames[i].rec;
        fix_str(pool, &f->name);
        fix_str(pool, &f->index_kind);
        fix_str(pool, &f->step);
        fix_str(pool, &f->columns_kind);
        uint32_t prev;
        if (mt_u64map_get(ids, f->id, &prev))
            return mt_diag_set(diag, MT_E_RECORD, "frame id %u is used twice (frames '%s' and '%s')", f->id,
                               t->frames[prev].rec.name.ptr, f->name.ptr);
        if (mt_u64map_put(ids, f->id, (uint32_t)i)) return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
        t->deep_bytes += f->deep_bytes;
        t->shallow_bytes += f->shallow_bytes;
    }
    return 0;
}

static int finish(loader *L, mt_diag *diag) {
    mt_df_table *t = L->t;
    const char *pool = L->pool;
    mt_u64map ids = MT_U64MAP_INIT;
    int rc = index_frames(t, pool, &ids, diag);
    for (size_t i = 0; i < t->n_columns && !rc; i++) {
        mt_df_col_info *c = &t->columns[i];
        fix_str(pool, &c->rec.name);
        fix_str(pool, &c->rec.dtype);
        fix_str(pool, &c->rec.value_type);
        fix_str(pool, &c->rec.datetime_format);
        fix_value(pool, &c->rec.min);
        fix_value(pool, &c->rec.max);
        fix_value(pool, &c->rec.fill_value);
        uint32_t fi;
        if (!mt_u64map_get(&ids, c->rec.frame, &fi)) {
            rc = mt_diag_set(diag, MT_E_RECORD, "column '%s' (position %u) names frame %u, which has no frame record",
                             c->rec.name.ptr, c->rec.position, c->rec.frame);
            break;
        }
        c->frame = fi;
        /* Whole values of integer, float and object columns. */
        const char *d = c->rec.dtype.ptr;
        if (mt__pandas_dtype_may_fit_int(d) && (c->rec.flags & MT_COL_INTEGRAL || strstr(d, "int") || strstr(d, "Int")))
            c->int_fit = mt_df_int_fit(&c->rec.min, &c->rec.max);
    }
    mt_u64map_free(&ids);
    if (rc) return rc;
    if (t->n_columns) qsort(t->columns, t->n_columns, sizeof *t->columns, cmp_column);
    for (size_t i = 0; i < t->n_columns; i++) {
        mt_df_frame_info *f = &t->frames[t->columns[i].frame];
        if (!f->n_columns) f->first_column = i;
        f->n_columns++;
    }
    for (size_t i = 0; i < t->n_frames; i++) {
        uint64_t real = mt_df_frame_real_bytes(t, i), shared = t->frames[i].rec.shared_bytes;
        t->real_bytes += real - (shared < real ? shared : real);
    }
    /* Values and sketches, attached to their columns. */
    for (size_t i = 0; i < L->n_values; i++) fix_value(pool, &L->values[i].value);
    for (size_t i = 0; i < L->n_sketches; i++) {
        fix_str(pool, &L->sketches[i].kind);
        fix_str(pool, &L->sketches[i].data);
    }
    if (L->n_values) qsort(L->values, L->n_values, sizeof *L->values, cmp_value);
    if (L->n_sketches) qsort(L->sketches, L->n_sketches, sizeof *L->sketches, cmp_sketch);
    size_t v = 0, k = 0;
    for (size_t i = 0; i < t->n_columns; i++) {
        mt_df_col_info *c = &t->columns[i];
        uint32_t fid = c->rec.frame, pos = c->rec.position;
        while (v < L->n_values && (L->values[v].frame < fid || (L->values[v].frame == fid && L->values[v].position < pos)))
            v++;
        if (v < L->n_values && L->values[v].frame == fid && L->values[v].position == pos) c->top = &L->values[v];
        while (v < L->n_values && L->values[v].frame == fid && L->values[v].position == pos) {
            c->n_top++;
            v++;
        }
        while (k < L->n_sketches &&
               (L->sketches[k].frame < fid || (L->sketches[k].frame == fid && L->sketches[k].position < pos)))
            k++;
        for (; k < L->n_sketches && L->sketches[k].frame == fid && L->sketches[k].position == pos; k++)
            if (L->sketches[k].kind.len == 3 && !memcmp(L->sketches[k].kind.ptr, "kmv", 3))
                c->sketch = &L->sketches[k];
    }
    /* Steps: from the samples and the frames that name one. */
    size_t cap_steps = 0;
    for (size_t i = 0; i < L->n_samples; i++) {
        mt_sample *s = &L->samples[i];
        fix_str(pool, &s->series);
        fix_str(pool, &s->step);
        mt_df_step *st = step_named(t, &cap_steps, s->step.ptr, s->time_ns);
        if (!st) return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
        /* A bucket of thinned points stands for them by its max: the step
         * needed at least that much, which the mean would hide. */
        double sv = s->span_ns ? s->max : s->value;
        if (!strcmp(s->series.ptr, "rss")) st->rss = sv;
        else if (!strcmp(s->series.ptr, "traced")) st->traced = sv;
        else if (!strcmp(s->series.ptr, "traced_peak")) st->traced_peak = sv;
    }
    for (size_t i = 0; i < t->n_frames; i++) {
        const mt_df_frame *f = &t->frames[i].rec;
        if (!f->step.len) continue;
        mt_df_step *st = step_named(t, &cap_steps, f->step.ptr, f->time_ns);
        if (!st) return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
        st->frames_deep += f->deep_bytes;
        uint64_t real = mt_df_frame_real_bytes(t, i);
        st->frames_real += real - (f->shared_bytes < real ? f->shared_bytes : real);
        st->n_frames++;
    }
    if (t->n_steps) qsort(t->steps, t->n_steps, sizeof *t->steps, cmp_step);
    return 0;
}

int mt_df_table_load(const mt_snapshot *s, mt_df_table **out, mt_diag *diag) {
    *out = NULL;
    struct mt_df_table_impl *impl = calloc(1, sizeof *impl);
    if (!impl) return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
    loader L;
    memset(&L, 0, sizeof L);
    L.t = &impl->pub;
    int rc = mt_snapshot_each(s, MT_KIND_DF_FRAME, on_frame, &L, diag);
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_DF_COLUMN, on_column, &L, diag);
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_DF_VALUE, on_value, &L, diag);
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_DF_SKETCH, on_sketch, &L, diag);
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_SAMPLE, on_sample, &L, diag);
    if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory reading DataFrame records");
    if (!rc) rc = finish(&L, diag);
    impl->pool = L.pool;
    impl->values = L.values;
    impl->sketches = L.sketches;
    free(L.samples);  /* their strings point into the pool, kept */
    if (rc) {
        mt_df_table_free(&impl->pub);
        return rc;
    }
    *out = &impl->pub;
    return 0;
}

void mt_df_table_free(mt_df_table *t) {
    if (!t) return;
    struct mt_df_table_impl *impl = (struct mt_df_table_impl *)t;
    free(t->frames);
    free(t->columns);
    free(t->steps);
    free(impl->pool);
    free(impl->values);
    free(impl->sketches);
    free(impl);
}

static uint64_t hash_at(const void *data, size_t i) {
    const unsigned char *p = (const unsigned char *)data + i * 8;
    uint64_t v = 0;
    for (int j = 7; j >= 0; j--) v = v << 8 | p[j];
    return v;
}

double mt_kmv_distinct(const void *data, size_t len, int full) {
    size_t k = len / 8;
    if (!full || k < 2) return (double)k;
    double u = ((double)hash_at(data, k - 1) + 1.0) / 18446744073709551616.0;
    return (double)(k - 1) / u;
}

int mt_kmv_compare(const void *a, size_t alen, int a_full, const void *b, size_t blen, int b_full,
                   mt_kmv_estimate *out) {
    memset(out, 0, sizeof *out);
    if (alen % 8 || blen % 8) return MT_E_INVAL;
    size_t na = alen / 8, nb = blen / 8;
    out->distinct_a = mt_kmv_distinct(a, alen, a_full);
    out->distinct_b = mt_kmv_distinct(b, blen, b_full);
    out->exact = !a_full && !b_full;
    /* k: the smaller full sketch bounds how much of the union is known. */
    size_t k = SIZE_MAX;
    if (a_full) k = na;
    if (b_full && nb < k) k = nb;
    size_t i = 0, j = 0, taken = 0, both = 0;
    uint64_t last = 0;
    while ((i < na || j < nb) && taken < k) {
        uint64_t x = i < na ? hash_at(a, i) : UINT64_MAX, y = j < nb ? hash_at(b, j) : UINT64_MAX;
        if (i < na && j < nb && x == y) {
            both++;
            last = x;
            i++;
            j++;
        } else if (j >= nb || (i < na && x < y)) {
            last = x;
            i++;
        } else {
            last = y;
            j++;
        }
        taken++;
    }
    if (!taken) return 0;
    out->jaccard = (double)both / (double)taken;
    if (out->exact || taken < 2) out->union_ = (double)taken;
    else out->union_ = (double)(taken - 1) / (((double)last + 1.0) / 18446744073709551616.0);
    out->both = out->exact ? (double)both : out->jaccard * out->union_;
    return 0;
}

size_t mt_df_steps_grew_most(const mt_df_table *t, size_t n, size_t *step, double *gain) {
    size_t k = 0;
    for (size_t i = 1; n && i < t->n_steps; i++) {
        const mt_df_step *s = &t->steps[i], *p = &t->steps[i - 1];
        double g = !isnan(s->rss) && !isnan(p->rss)           ? s->rss - p->rss
                   : !isnan(s->traced) && !isnan(p->traced) ? s->traced - p->traced
                                                              : 0;
        if (!(g > 0) || (k == n && !(g > gain[n - 1]))) continue;
        /* Insertion into the sorted top: n is a report's handful. */
        size_t j = k < n ? k++ : n - 1;
        while (j > 0 && gain[j - 1] < g) {
            gain[j] = gain[j - 1];
            step[j] = step[j - 1];
            j--;
        }
        gain[j] = g;
        step[j] = i;
    }
    return k;
}

uint64_t mt_df_col_real_bytes(const mt_df_col_info *c) { return mt_df_column_real_bytes(&c->rec); }

uint64_t mt_df_frame_real_bytes(const mt_df_table *t, size_t i) {
    const mt_df_frame_info *f = &t->frames[i];
    if (f->rec.real_bytes || (f->rec.flags & MT_FRAME_REAL_RECORDED)) return f->rec.real_bytes;
    uint64_t sum = f->rec.index_bytes;
    for (size_t k = 0; k < f->n_columns; k++) sum += mt_df_col_real_bytes(&t->columns[f->first_column + k]);
    return sum;
}

uint64_t mt_df_frame_shared_bytes(const mt_df_table *t, size_t i) {
    uint64_t real = mt_df_frame_real_bytes(t, i), sh = t->frames[i].rec.shared_bytes;
    return sh < real ? sh : real;
}

uint64_t mt_df_index_real_bytes(const mt_df_table *t, size_t i) {
    const mt_df_frame_info *f = &t->frames[i];
    uint64_t all = mt_df_frame_real_bytes(t, i), cols = 0;
    for (size_t k = 0; k < f->n_columns; k++) cols += mt_df_col_real_bytes(&t->columns[f->first_column + k]);
    return all > cols ? all - cols : 0;
}

int mt_df_frame_real_estimated(const mt_df_table *t, size_t i) {
    const mt_df_frame_info *f = &t->frames[i];
    for (size_t k = 0; k < f->n_columns; k++)
        if (t->columns[f->first_column + k].rec.flags & MT_COL_REAL_EST) return 1;
    return 0;
}

int mt_df_frames_real(const mt_df_table *t, const size_t *frames, size_t n, int subset, mt_df_real *out) {
    size_t ns = t->n_steps ? t->n_steps : 1;
    uint64_t *real = calloc(ns, sizeof *real), *shared = calloc(ns, sizeof *shared);
    memset(out, 0, sizeof *out);
    if (!real || !shared) {
        free(real);
        free(shared);
        return MT_E_NOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = frames[k], at = 0;
        const mt_df_frame *f = &t->frames[i].rec;
        for (size_t j = 0; t->n_steps && j < t->n_steps; j++)
            if (f->step.len && !strcmp(t->steps[j].name, f->step.ptr)) at = j;
        /* A subset may leave out the frame that holds the shared bytes
         * first: they are then this frame's to show. */
        real[at] += mt_df_frame_real_bytes(t, i) - (subset ? 0 : mt_df_frame_shared_bytes(t, i));
        shared[at] += mt_df_frame_shared_bytes(t, i);
    }
    for (size_t j = 0; j < ns; j++) out->n_steps += real[j] || shared[j];
    size_t best = 0;
    for (size_t j = 1; j < ns; j++)
        if (real[j] > real[best]) best = j;
    out->real = real[best];
    out->shared = shared[best];
    int steps = 0;
    for (size_t k = 0; k < n; k++) steps |= t->frames[frames[k]].rec.step.len > 0;
    out->step = t->n_steps && steps ? t->steps[best].name : NULL;
    free(real);
    free(shared);
    return 0;
}
