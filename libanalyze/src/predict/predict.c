/* memtrace-predict's models: per operation, the result's rows and bytes
 * estimated from the inputs' shapes and key statistics, and the peak from
 * the terms that bench/predict/fit.py fitted on real pandas (the
 * constants in constants.h; the terms of each operation must stay
 * in step with fit.py's features()). The request, warnings and
 * suggestions are in run.c. */
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/nametable.h"
#include "memtrace/text.h"
#include "predict/predict_impl.h"
#include "common/array.h"
#include "common/names.h"
#include "predict/model.h"
#include "predict/constants.h"
#include "frames/pandas_model.h"

static const char *const op_names[MT_PREDICT_N_OPS] = { "merge", "groupby", "pivot_table", "concat", "sort",
                                                        "read_csv" };

const char *mt_predict_op_name(mt_predict_op op) { return mt__name_of(op_names, MT_PREDICT_N_OPS, (unsigned)op); }

int mt_predict_op_from_name(const char *name, mt_predict_op *out) {
    int i = mt__name_find(op_names, MT_PREDICT_N_OPS, name);
    if (i < 0) return MT_E_INVAL;
    *out = (mt_predict_op)i;
    return 0;
}

const char *mt_predict_pandas_version(void) { return MT_PREDICT_PANDAS; }

double mt_predict_hashtable_bytes(double hint, unsigned key_bytes) {
    return mt__pandas_hashtable_bytes(hint, hint, key_bytes);
}

/* ---- columns ---- */

int mt__pcol_is_object(const mt_pcol *c) { return mt__pandas_dtype_is_object(c->dtype); }
int mt__pcol_is_category(const mt_pcol *c) { return mt__pandas_dtype_is_category(c->dtype); }

double mt__pcol_itemsize(const mt_pcol *c) {
    if (mt__pcol_is_category(c)) return c->code_bytes ? c->code_bytes : 1;
    if (mt__pcol_is_object(c)) return 8;
    unsigned n = mt__pandas_dtype_itemsize(c->dtype, strlen(c->dtype));
    return n ? n : 8;
}

/* Bytes a column holds apart from its rows (a categorical's categories). */
static double fixed_bytes(const mt_pcol *c, double rows, int deep) {
    if (mt__pcol_is_category(c)) return deep ? c->categories_bytes : fmax(c->shallow - mt__pcol_itemsize(c) * rows, 0);
    return 0;
}

double mt__pcol_deep_per_row(const mt_pcol *c, double rows) {
    if (rows <= 0) return mt__pcol_itemsize(c);
    return fmax((c->deep - fixed_bytes(c, rows, 1)) / rows, mt__pcol_itemsize(c));
}

double mt__pcol_objects(const mt_pcol *c, double src_rows, double rows) {
    double per_row = src_rows > 0 ? fmax(c->deep - c->shallow, 0) / src_rows : 0;
    double all = c->has_objects ? c->objects : per_row * src_rows;
    return fmax(fmin(all, per_row * rows), 0);
}

/* What a column adds to a result of rows rows, taken from src_rows: a
 * take makes new arrays of values, codes or pointers; the objects and a
 * categorical's categories stay the input's, shared. */
static void col_into(const mt_pcol *c, double src_rows, double rows, mt_result *r) {
    double item = mt__pcol_itemsize(c);
    r->shallow += item * rows + fixed_bytes(c, src_rows, 0);
    r->deep += mt__pcol_deep_per_row(c, src_rows) * rows + fixed_bytes(c, src_rows, 1);
    if (mt__pcol_is_object(c)) {
        double objs = mt__pcol_objects(c, src_rows, rows);
        r->object += item * rows;
        r->real += item * rows + objs;
        r->shared += objs;
    } else if (mt__pcol_is_category(c)) {
        r->real += item * rows + fixed_bytes(c, src_rows, 1);
        r->shared += fixed_bytes(c, src_rows, 1);
    } else
        r->real += mt__pcol_deep_per_row(c, src_rows) * rows;
}

/* A column of one side of a join: rows with a row of that side hold its
 * values, the others a missing value (an object column: a float NaN). */
static void col_side(const mt_pcol *c, double src_rows, double rows, double filled, mt_result *r) {
    col_into(c, src_rows, filled, r);
    double item = mt__pcol_itemsize(c), missing = fmax(rows - filled, 0);
    r->shallow += item * missing;
    r->deep += (mt__pcol_is_object(c) ? 8 + MT__PANDAS_NAN_OBJECT_BYTES : item) * missing;
    if (mt__pcol_is_object(c)) r->object += item * missing;
    r->real += item * missing; /* an object column's missing values are all np.nan, one object */
}

static const char *key_kind(const mt_pcol *k) {
    return mt__pcol_is_category(k) ? "category" : mt__pcol_is_object(k) ? "object" : "number";
}

/* ---- lists of messages ---- */

void mt__list_add(mt_list *l, const char *fmt, ...) {
    if (l->fail) return;
    for (;;) {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        for (size_t i = 0; i < l->n; i++)
            if (!strcmp(l->v[i], buf)) return; /* said once */
        if (mt__grow((void **)&l->v, &l->cap, l->n, sizeof *l->v)) break;
        if (!(l->v[l->n] = strdup(buf))) break;
        l->n++;
        return;
    }
    l->fail = 1;
}

void mt__list_free(mt_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- finding frames and columns ---- */

/* "a, b, c" from the names of n items (the const char * at offset of each
 * item of size stride), cut with ", ..." when it would not fit in len. */
static void name_list(char *buf, size_t len, const void *items, size_t n, size_t stride, size_t offset) {
    mt_text_list(buf, len, (const char *)items + offset, n, stride, ", ");
}

const mt_pframe *mt__find_frame(mt_ctx *c, const char *name, const char *role) {
    if (!name || !*name) {
        mt_diag_set(c->diag, MT_E_INVAL, "--%s is needed for --op %s", role, op_names[c->q->op]);
        return NULL;
    }
    /* A pipeline records a frame at every step: the last is the latest. */
    const mt_pframe *found = NULL;
    size_t times = 0;
    for (size_t i = 0; i < c->s->n_frames; i++)
        if (!strcmp(c->s->frames[i].name, name)) found = &c->s->frames[i], times++;
    if (times > 1) mt__list_add(&c->assume, "frame '%s' is recorded %zu times: the last is used", name, times);
    if (found) return found;
    char have[200];
    name_list(have, sizeof have, c->s->frames, c->s->n_frames, sizeof *c->s->frames, offsetof(mt_pframe, name));
    mt_diag_set(c->diag, MT_E_NOTFOUND, "no frame named '%s' (%s: %s)", name, c->s->n_frames ? "there is" : "none",
                c->s->n_frames ? have : "the snapshot has no DataFrames");
    return NULL;
}

const mt_pcol *mt__pframe_col(const mt_pframe *f, const char *name) {
    for (size_t i = 0; i < f->n_cols; i++)
        if (!strcmp(f->cols[i].name, name)) return &f->cols[i];
    return NULL;
}

const mt_pcol *mt__find_col(mt_ctx *c, const mt_pframe *f, const char *name) {
    const mt_pcol *col = mt__pframe_col(f, name);
    if (col) return col;
    char have[200];
    name_list(have, sizeof have, f->cols, f->n_cols, sizeof *f->cols, offsetof(mt_pcol, name));
    mt_diag_set(c->diag, MT_E_NOTFOUND, "frame '%s' has no column '%s' (it has %s)", f->name, name,
                f->n_cols ? have : "no columns");
    return NULL;
}

int mt__names_has(const mt_names *n, const char *name) {
    for (size_t i = 0; i < n->n; i++)
        if (!strcmp(n->v[i], name)) return 1;
    return 0;
}

/* A key's distinct values, saying what was assumed when they are unknown. */
static double key_distinct(mt_ctx *c, const mt_pframe *f, const mt_pcol *k, double fallback, const char *why) {
    if (k->distinct >= 0) return k->distinct;
    mt__list_add(&c->assume, "%s.%s: %.0f distinct values (%s)", f->name, k->name, fallback, why);
    return fallback;
}

static double eval_model(mt_ctx *c, const char *group, double phase, const double *terms, size_t n) {
    size_t nt = sizeof mt_predict_table / sizeof mt_predict_table[0];
    for (size_t i = 0; i < nt; i++) {
        const mt_predict_constants *k = &mt_predict_table[i];
        if (strcmp(k->group, group)) continue;
        double sum = 0;
        for (size_t j = 0; j < n && j < MT_PREDICT_TERMS; j++) sum += k->b[j] * terms[j];
        c->model = k->group;
        return fmax(k->a[0] * phase + k->a[1], sum);
    }
    return NAN; /* every group the code names is in the table (test_predict) */
}

/* ---- merge ---- */

int mt__model_merge(mt_ctx *c, const mt_pframe *L, const mt_pframe *R, double scale, mt_est *e) {
    const mt_predict_request *q = c->q;
    const char *how = q->how ? q->how : "inner";
    if (!q->on.n) return mt_diag_set(c->diag, MT_E_INVAL, "--on is needed for --op merge");
    const mt_pcol *lk[16], *rk[16];
    if (q->on.n > 16) return mt_diag_set(c->diag, MT_E_INVAL, "at most 16 --on columns");
    for (size_t i = 0; i < q->on.n; i++) {
        if (!(lk[i] = mt__find_col(c, L, q->on.v[i])) || !(rk[i] = mt__find_col(c, R, q->on.v[i])))
            return c->diag->code;
    }
    double nl = L->rows * scale, nr = R->rows;
    double rows, wl, wr;
    if (q->on.n == 1) {
        const char *assumed = NULL;
        rows = mt__predict_join_rows(lk[0], L->rows, rk[0], R->rows, how, &assumed, &wl, &wr);
        if (assumed) mt__list_add(&c->assume, "%s", assumed);
        if (!lk[0]->top && lk[0]->distinct >= 0 && !c->s->is_inline)
            mt__list_add(&c->assume, "%s.%s has no recorded most common values or sketch (dump_frames(keys=[...])): "
                        "values taken as evenly spread", L->name, lk[0]->name);
    } else {
        /* Several keys: their combinations, from the product of the
         * distinct counts, capped by the rows. */
        mt_pcol l1 = *lk[0], r1 = *rk[0];
        double dl = 1, dr = 1;
        for (size_t i = 0; i < q->on.n; i++) {
            dl *= key_distinct(c, L, lk[i], L->rows, "not recorded: every row taken as distinct");
            dr *= key_distinct(c, R, rk[i], R->rows, "not recorded: every row taken as distinct");
        }
        l1.distinct = fmin(dl, L->rows);
        r1.distinct = fmin(dr, R->rows);
        l1.top = r1.top = NULL;
        l1.n_top = r1.n_top = 0;
        l1.sketch = r1.sketch = NULL;
        mt__list_add(&c->assume, "the key combinations are spread evenly and those of the side with fewer all occur "
                    "on the other (several keys have no joint statistics)");
        rows = mt__predict_join_rows(&l1, L->rows, &r1, R->rows, how, NULL, &wl, &wr);
    }
    /* Chunks of the left side: each left row keeps its matches. The right
     * side's unmatched rows come with every chunk of a right or outer
     * join; only inner and left joins are chunked (advice). */
    rows *= scale;
    wl *= scale;
    wr *= scale;
    mt_result res = { 0 };
    for (size_t i = 0; i < L->n_cols; i++) {
        /* The key column is the left's, filled from the right where the
         * left has no row. */
        int key = mt__names_has(&q->on, L->cols[i].name);
        col_side(&L->cols[i], L->rows, rows, key ? rows : wl, &res);
    }
    for (size_t i = 0; i < R->n_cols; i++)
        if (!mt__names_has(&q->on, R->cols[i].name)) col_side(&R->cols[i], R->rows, rows, wr, &res);
    res.shallow += 8 * rows; /* pandas 1.5 gives the result an Int64Index */
    res.deep += 8 * rows;
    res.real += 8 * rows;
    double dl = key_distinct(c, L, lk[0], L->rows, "not recorded: every row taken as distinct");
    double dr = key_distinct(c, R, rk[0], R->rows, "not recorded: every row taken as distinct");
    /* pandas factorizes both keys with one table made for the longer
     * side; it holds the union of their keys, at most dl + dr. */
    double terms[] = { rows, res.shallow, nl + nr, dl + dr, mt__pandas_hashtable_bytes(fmax(nl, nr), dl + dr, 8), 1 };
    snprintf(e->group, sizeof e->group, "merge/%s/%s", how, key_kind(lk[0]));
    e->peak = eval_model(c, e->group, 0, terms, 6);
    e->rows = rows;
    e->bytes = res.deep;
    e->real = res.real;
    e->shared = res.shared;
    return 0;
}

/* ---- groupby ---- */

static int numeric_agg(const char *agg) {
    return !strcmp(agg, "sum") || !strcmp(agg, "mean") || !strcmp(agg, "median") || !strcmp(agg, "std");
}

int mt__model_groupby(mt_ctx *c, const mt_pframe *F, double scale, int observed, mt_est *e) {
    const mt_predict_request *q = c->q;
    const char *agg = q->agg ? q->agg : "sum";
    if (!q->by.n) return mt_diag_set(c->diag, MT_E_INVAL, "--by is needed for --op groupby");
    if (q->by.n > 16) return mt_diag_set(c->diag, MT_E_INVAL, "at most 16 --by columns");
    const mt_pcol *k[16];
    for (size_t i = 0; i < q->by.n; i++)
        if (!(k[i] = mt__find_col(c, F, q->by.v[i]))) return c->diag->code;
    double n = F->rows * scale;
    /* The value columns: those asked for, or every other; numeric
     * aggregations leave out what is not a number (pandas 1.5 drops them
     * with a FutureWarning). */
    double V = 0;
    int is_size = !strcmp(agg, "size");
    for (size_t i = 0; i < F->n_cols && !is_size; i++) {
        const mt_pcol *v = &F->cols[i];
        if (q->columns.n ? !mt__names_has(&q->columns, v->name) : mt__names_has(&q->by, v->name)) continue;
        if (numeric_agg(agg) && (mt__pcol_is_object(v) || mt__pcol_is_category(v))) {
            mt__list_add(&c->warn, "%s.%s (%s) is not numeric: pandas drops it from %s (and pandas 2 raises)", F->name,
                        v->name, v->dtype, agg);
            continue;
        }
        V++;
    }
    for (size_t i = 0; i < q->columns.n; i++)
        if (!mt__find_col(c, F, q->columns.v[i])) return c->diag->code;
    /* Groups: the distinct values of the key (all categories with
     * observed=False), or for several keys the combinations expected
     * among the rows. */
    int cat = 0;
    double G = 1, dprod = 1;
    for (size_t i = 0; i < q->by.n; i++) {
        double d;
        if (mt__pcol_is_category(k[i]) && !observed) {
            d = k[i]->categories > 0 ? k[i]->categories : key_distinct(c, F, k[i], F->rows, "categories not recorded");
            cat = 1;
        } else {
            d = key_distinct(c, F, k[i], F->rows, "not recorded: every row taken as its own group");
            cat |= mt__pcol_is_category(k[i]);
        }
        dprod *= fmax(d, 1);
        G = d;
    }
    if (q->by.n > 1) {
        int any_unobserved = 0;
        for (size_t i = 0; i < q->by.n; i++) any_unobserved |= mt__pcol_is_category(k[i]) && !observed;
        double expect = dprod * -expm1(-F->rows / dprod);
        G = any_unobserved ? dprod : fmin(expect, F->rows);
        mt__list_add(&c->assume, "the %zu keys' combinations are spread evenly: %.0f groups expected", q->by.n, G);
    }
    /* A chunk of the rows meets fewer of the groups. */
    if (scale < 1 && G > 0) G = G * -expm1(-n / G);
    G = fmin(G, fmax(n, 1));
    const mt_pcol *k0 = k[0];
    int k0cat = mt__pcol_is_category(k0);
    unsigned kb = k0cat ? (k0->code_bytes ? k0->code_bytes : 1) : 8;
    double phase = 8 * n * V;
    if (k0cat) {
        /* observed=True finds the codes in use with a hash table (and the
         * categories again); then either way the codes become intp ids. */
        double extra = !strcmp(agg, "count") ? n : !strcmp(agg, "median") ? 8 * n + 8 * n * V
                     : !strcmp(agg, "std") ? 8 * n * V : 0;
        phase += fmax((observed ? mt__pandas_hashtable_bytes(n, G, kb) + 2 * mt__pandas_hashtable_bytes(G, G, 8) : 0) +
                          kb * n,
                      8 * n + kb * n + extra);
    } else
        phase += mt__pandas_hashtable_bytes(n, G, 8) + 8 * n + mt__pandas_vector_bytes(G, mt__pcol_is_object(k0)) +
                 (mt__pcol_is_object(k0) ? 8 * n : 0);
    for (size_t i = 1; i < q->by.n; i++) /* each further key is factorized too */
        phase += 8 * n + (mt__pcol_is_category(k[i]) ? 0 : mt__pandas_vector_bytes(fmin(G, F->rows), 0));
    /* With a categorical key the phases are known per row; the rest is
     * per group. */
    double terms[] = { k0cat ? 0 : n, k0cat ? 0 : n * V, G, G * V, mt__pandas_hashtable_bytes(G, G, 8), 1 };
    snprintf(e->group, sizeof e->group, "groupby/%s/%s", is_size ? "size" : !strcmp(agg, "median") ? "median" : "reduce",
             k0cat ? "category" : "other");
    e->peak = eval_model(c, e->group, phase, terms, 6);
    /* The result: V aggregates (size: one) a group, and the groups' index. */
    /* real: the same arrays, and the objects and categories each once,
     * shared with the input (the index takes the key's). */
    double index = 0, real = 0, shared = 0;
    for (size_t i = 0; i < q->by.n; i++) {
        const mt_pcol *ki = k[i];
        if (mt__pcol_is_category(ki)) {
            index += (q->by.n > 1 ? 8 : kb) * G + ki->categories_bytes;
            real += (q->by.n > 1 ? 8 : kb) * G;
            shared += ki->categories_bytes;
        } else if (mt__pcol_is_object(ki)) {
            double dk = fmin(G, ki->distinct >= 0 ? ki->distinct : G); /* one object a group */
            index += 8 * G + fmax(mt__pcol_deep_per_row(ki, F->rows) - 8, 0) * dk;
            real += 8 * G;
            shared += ki->has_objects && ki->distinct > 0 ? fmin(ki->objects, ki->objects / ki->distinct * dk)
                                                          : mt__pcol_objects(ki, F->rows, dk);
        } else
            index += 8 * G, real += 8 * G;
        if (q->by.n > 1) index += 8 * G, real += 8 * G; /* a MultiIndex level's codes */
    }
    e->rows = G;
    e->bytes = 8 * (is_size ? 1 : V) * G + index; /* each aggregate is 8 bytes: float64 or int64 */
    e->real = 8 * (is_size ? 1 : V) * G + real + shared;
    e->shared = shared;
    c->cat_unobserved = cat && !observed;
    return 0;
}

/* ---- pivot_table ---- */

int mt__model_pivot(mt_ctx *c, const mt_pframe *F, double scale, mt_est *e) {
    const mt_predict_request *q = c->q;
    const char *aggfunc = q->aggfunc ? q->aggfunc : "mean";
    if (!q->index || !q->pivot_columns || !q->values)
        return mt_diag_set(c->diag, MT_E_INVAL, "--index, --columns and --values are needed for --op pivot_table");
    const mt_pcol *ic = mt__find_col(c, F, q->index), *cc = ic ? mt__find_col(c, F, q->pivot_columns) : NULL;
    const mt_pcol *vc = cc ? mt__find_col(c, F, q->values) : NULL;
    if (!vc) return c->diag->code;
    double n = F->rows * scale;
    double R = key_distinct(c, F, ic, fmin(F->rows, 1000), "not recorded: 1000 taken");
    double C = key_distinct(c, F, cc, fmin(F->rows, 100), "not recorded: 100 taken");
    double cells = R * C;
    /* Cells that some row falls in, rows spread evenly over the grid. */
    double observed = cells > 0 ? cells * -expm1(-n / cells) : 0;
    /* Each key is factorized with a table made for every row, holding
     * its distinct values. */
    double terms[] = { n, cells, observed, mt__pandas_hashtable_bytes(n, fmax(R, C), 8), 1 };
    snprintf(e->group, sizeof e->group, "pivot_table/%s", aggfunc);
    e->peak = eval_model(c, e->group, 0, terms, 5);
    double index = 8 * R + (mt__pcol_is_object(ic) ? fmax(mt__pcol_deep_per_row(ic, F->rows) - 8, 0) * R : 0);
    e->rows = R;
    e->bytes = 8 * cells + index;
    /* The index holds the key's objects (shared), each once. */
    e->shared = !mt__pcol_is_object(ic) ? 0
              : ic->has_objects && ic->distinct > 0 ? fmin(ic->objects, ic->objects / ic->distinct * R)
                                                    : mt__pcol_objects(ic, F->rows, R);
    e->real = 8 * cells + 8 * R + e->shared;
    c->cells = cells;
    c->observed_cells = observed;
    return 0;
}

/* ---- concat ---- */

/* A frame's columns by name, so that a concat of wide frames looks each
 * name up once per frame and not by a scan of every column (100000
 * columns in three frames took minutes). The first of repeated names
 * counts, as in mt__pframe_col(). */
typedef struct colindex {
    mt__names names;
    size_t *pos; /* [names.n]: the column of name i */
    size_t cap;
} colindex;

static int colindex_build(colindex *x, const mt_pframe *f) {
    memset(x, 0, sizeof *x);
    for (size_t j = 0; j < f->n_cols; j++) {
        const char *nm = f->cols[j].name;
        if (mt__grow((void **)&x->pos, &x->cap, x->names.n, sizeof *x->pos)) return -1;
        size_t before = x->names.n;
        int64_t at = mt__names_index(&x->names, nm, strlen(nm));
        if (at < 0) return -1;
        if ((size_t)at == before) x->pos[at] = j;
    }
    return 0;
}

static const mt_pcol *colindex_find(const colindex *x, const mt_pframe *f, const char *name) {
    int64_t at = mt__names_find(&x->names, name, strlen(name));
    return at < 0 ? NULL : &f->cols[x->pos[at]];
}

static void colindex_free(colindex *x, size_t n) {
    for (size_t i = 0; x && i < n; i++) {
        mt__names_free(&x[i].names);
        free(x[i].pos);
    }
    free(x);
}

int mt__model_concat(mt_ctx *c, const mt_pframe *const *fs, size_t nf, mt_est *e) {
    mt_result res = { 0 };
    double rows = 0;
    int mismatch = 0;
    colindex *ix = calloc(nf ? nf : 1, sizeof *ix);
    if (!ix) return mt_diag_set(c->diag, MT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < nf; i++)
        if (colindex_build(&ix[i], fs[i])) {
            colindex_free(ix, i + 1);
            return mt_diag_set(c->diag, MT_E_NOMEM, "out of memory");
        }
    for (size_t i = 0; i < nf; i++) rows += fs[i]->rows;
    /* Every column name of any frame, in first-seen order; a frame that
     * lacks one gets missing values (8 bytes a row). */
    for (size_t i = 0; i < nf; i++)
        for (size_t j = 0; j < fs[i]->n_cols; j++) {
            const mt_pcol *col = &fs[i]->cols[j];
            int seen = 0;
            for (size_t a = 0; a < i && !seen; a++) seen = colindex_find(&ix[a], fs[a], col->name) != NULL;
            if (seen) continue;
            /* A column some frame lacks gets missing values there: an
             * integer becomes float64; a categorical stays one (pandas 1.5
             * fills in code -1) when the frames have the same categories,
             * which is taken for granted. */
            int all_have = 1, all_cat = 1;
            for (size_t a = 0; a < nf; a++) {
                const mt_pcol *other = colindex_find(&ix[a], fs[a], col->name);
                all_have &= other != NULL;
                all_cat &= other == NULL || mt__pcol_is_category(other);
            }
            mismatch |= !all_have;
            for (size_t a = 0; a < nf; a++) {
                const mt_pcol *other = colindex_find(&ix[a], fs[a], col->name);
                int to_object = mt__pcol_is_object(col) || (!all_cat && mt__pcol_is_category(col));
                if (!other && all_cat) {
                    res.shallow += mt__pcol_itemsize(col) * fs[a]->rows;
                    res.deep += mt__pcol_itemsize(col) * fs[a]->rows;
                    res.real += mt__pcol_itemsize(col) * fs[a]->rows;
                    continue;
                }
                if (!other) {
                    res.shallow += 8 * fs[a]->rows;
                    res.deep += (to_object ? 8 + MT__PANDAS_NAN_OBJECT_BYTES : 8) * fs[a]->rows;
                    if (to_object) res.object += 8 * fs[a]->rows;
                    res.real += 8 * fs[a]->rows; /* NaN: np.nan, one object */
                    continue;
                }
                if (mt__pcol_is_category(other) && !all_cat) {
                    double per = other->categories > 0 ? other->categories_bytes / other->categories : 8 + 57;
                    res.shallow += 8 * fs[a]->rows;
                    res.deep += per * fs[a]->rows;
                    res.object += 8 * fs[a]->rows;
                    /* pointers to the categories' objects */
                    res.real += 8 * fs[a]->rows + other->categories_bytes;
                    res.shared += other->categories_bytes;
                    continue;
                }
                mt_result part = { 0 };
                col_into(other, fs[a]->rows, fs[a]->rows, &part);
                if (all_cat) { /* the categories once, not per frame */
                    part.shallow -= fixed_bytes(other, fs[a]->rows, 0);
                    part.deep -= fixed_bytes(other, fs[a]->rows, 1);
                    part.real -= fixed_bytes(other, fs[a]->rows, 1);
                    part.shared -= fixed_bytes(other, fs[a]->rows, 1);
                }
                res.shallow += part.shallow;
                res.deep += part.deep;
                res.object += part.object;
                res.real += part.real;
                res.shared += part.shared;
            }
            if (all_cat) {
                res.shallow += fixed_bytes(col, fs[i]->rows, 0);
                res.deep += fixed_bytes(col, fs[i]->rows, 1);
                res.real += fixed_bytes(col, fs[i]->rows, 1);
                res.shared += fixed_bytes(col, fs[i]->rows, 1);
            }
        }
    colindex_free(ix, nf);
    res.shallow += 128; /* ignore_index=True: a RangeIndex */
    res.deep += 128;
    res.real += 128;
    double terms[] = { res.shallow, res.object, 1 };
    snprintf(e->group, sizeof e->group, "concat/%s", mismatch ? "mismatch" : "aligned");
    e->peak = eval_model(c, e->group, 0, terms, 3);
    e->rows = rows;
    e->bytes = res.deep;
    e->real = res.real;
    e->shared = res.shared;
    return 0;
}

/* ---- sort_values ---- */

int mt__model_sort(mt_ctx *c, const mt_pframe *F, mt_est *e) {
    const mt_predict_request *q = c->q;
    if (!q->by.n) return mt_diag_set(c->diag, MT_E_INVAL, "--by is needed for --op sort");
    const mt_pcol *k0 = NULL;
    for (size_t i = 0; i < q->by.n; i++) {
        const mt_pcol *k = mt__find_col(c, F, q->by.v[i]);
        if (!k) return c->diag->code;
        if (!i) k0 = k;
    }
    mt_result res = { 0 };
    for (size_t i = 0; i < F->n_cols; i++) col_into(&F->cols[i], F->rows, F->rows, &res);
    /* The sorted frame's index is the permuted old one: a RangeIndex
     * becomes an Int64Index. */
    double index = F->index_bytes > 8 * F->rows ? F->index_bytes : 8 * F->rows;
    res.shallow += index;
    res.deep += index;
    res.real += index;
    double terms[] = { F->rows, res.shallow, 1 };
    snprintf(e->group, sizeof e->group, "sort/%s", key_kind(k0));
    e->peak = eval_model(c, e->group, 0, terms, 3);
    e->rows = F->rows;
    e->bytes = res.deep;
    e->real = res.real;
    e->shared = res.shared;
    return 0;
}

/* ---- read_csv ---- */

/* Distinct values among n rows when a sample of s rows had d: the values
 * taken as drawn evenly from D, where d = D (1 - e^(-s/D)) gives D. */
static double file_distinct(double d, double s, double n) {
    if (s <= 0 || d <= 0) return 0;
    if (d >= s) return n; /* no repeat seen: as many as rows */
    double lo = d, hi = 1e18;
    for (int i = 0; i < 200 && hi - lo > 1e-6 * lo; i++) {
        double mid = lo < 1 ? (lo + hi) / 2 : sqrt(lo * hi);
        if (mid * -expm1(-s / mid) < d) lo = mid;
        else hi = mid;
    }
    return fmin(n, lo * -expm1(-n / lo));
}

int mt__model_read_csv(mt_ctx *c, const mt_csv_sample *smp, double scale, mt_est *e) {
    double R = smp->rows * scale, strs = 0, deep = 128, real = 128;
    for (size_t i = 0; i < smp->n_cols; i++) {
        const mt_csv_col *col = &smp->cols[i];
        double nonnull = smp->sampled_rows - col->nulls;
        if (col->kind != 'O') {
            deep += (col->kind == 'b' ? 1 : 8) * R;
            real += (col->kind == 'b' ? 1 : 8) * R;
            continue;
        }
        /* ASCII str objects; pandas' parser makes one object per distinct
         * string of a chunk, and a missing value is a float NaN. Distinct
         * strings of the file: as many as the sample has when they repeat
         * there, growing with the rows when they do not. */
        double len = nonnull > 0 ? col->text_bytes / nonnull : 0;
        double frac = smp->sampled_rows > 0 ? nonnull / smp->sampled_rows : 0;
        double d = file_distinct(col->distinct, nonnull, R * frac);
        double each = mt__pandas_ascii_str_bytes(len);
        strs += fmin(R * frac, d) * each;
        deep += 8 * R + R * frac * each + R * (1 - frac) * MT__PANDAS_NAN_OBJECT_BYTES;
        real += 8 * R + fmin(R * frac, d) * each; /* new strings, each once; NaN is np.nan */
    }
    double terms[] = { R * (double)smp->n_cols, strs, smp->file_bytes * scale, 1 };
    snprintf(e->group, sizeof e->group, "read_csv");
    e->peak = eval_model(c, e->group, 0, terms, 4);
    e->rows = R;
    e->bytes = deep;
    e->real = real; /* all new: nothing shared with a file */
    e->shared = 0;
    return 0;
}

int mt__model_run(mt_ctx *c, const mt_pframe *const *fs, size_t nf, const mt_csv_sample *smp, double scale,
                 int observed, mt_est *e) {
    switch (c->q->op) {
    case MT_PREDICT_MERGE: return mt__model_merge(c, fs[0], fs[1], scale, e);
    case MT_PREDICT_GROUPBY: return mt__model_groupby(c, fs[0], scale, observed, e);
    case MT_PREDICT_PIVOT_TABLE: return mt__model_pivot(c, fs[0], scale, e);
    case MT_PREDICT_CONCAT: return mt__model_concat(c, fs, nf, e);
    case MT_PREDICT_SORT: return mt__model_sort(c, fs[0], e);
    case MT_PREDICT_READ_CSV: return mt__model_read_csv(c, smp, scale, e);
    default: return mt_diag_set(c->diag, MT_E_INVAL, "unknown operation");
    }
}
