/* mt_predict_run: checks the request, runs the operation's model, and
 * says what to do when the peak does not fit: chunks, smaller dtypes,
 * fewer columns, observed=True, an engine out of core; each with the peak
 * it would need. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/text.h"
#include "memtrace/units.h"
#include "common/array.h"
#include "predict/model.h"
#include "frames/pandas_model.h"

/* Headroom: a plan is said to fit when its peak is under this share of
 * the memory available. */
#define FIT_SHARE 0.8

typedef struct suggestions {
    mt_suggestion *v;
    size_t n, cap;
    int fail;
} suggestions;

static void suggest(suggestions *s, double peak, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void suggest(suggestions *s, double peak, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (s->fail) return;
    if (mt__grow((void **)&s->v, &s->cap, s->n, sizeof *s->v)) { s->fail = 1; return; }
    if (!(s->v[s->n].text = strdup(buf))) { s->fail = 1; return; }
    s->v[s->n++].peak_bytes = peak;
}

static const char *hb(double n, char *buf) { return mt_human_bytes(n > 0 ? (uint64_t)n : 0, buf); }

static double frame_bytes(const mt_pframe *f) {
    double b = f->index_bytes;
    for (size_t i = 0; i < f->n_cols; i++) b += f->cols[i].deep;
    return b;
}

static int one_of(const char *v, const char *const *ok) {
    for (size_t i = 0; ok[i]; i++)
        if (!strcmp(v, ok[i])) return 1;
    return 0;
}

/* "a, b or c" from a NULL-terminated table, so that a message lists what
 * the table holds. */
static const char *choices(const char *const *ok, char *buf, size_t n) {
    size_t count = 0;
    while (ok[count]) count++;
    return mt_text_list(buf, n, ok, count, 0, " or ");
}

/* ---- inline shapes: naming the key columns ---- */

/* Gives the columns a request names to a copy of an inline frame: a name
 * the frame lacks goes to its first unnamed column. A name not given
 * (NULL: a pivot_table without --values) is left for the model to report. */
static int bind_names(mt_ctx *c, mt_pframe *f, const char *const *names, size_t n, int keys) {
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || mt__pframe_col(f, names[i])) continue;
        mt_pcol *free_col = NULL;
        for (size_t j = 0; j < f->n_cols && !free_col; j++)
            if (!f->cols[j].named) free_col = &f->cols[j];
        if (!free_col)
            return mt_diag_set(c->diag, MT_E_NOTFOUND, "frame '%s' has no column '%s' and no unnamed column left for it",
                               f->name, names[i]);
        free_col->name = names[i];
        free_col->named = 1;
        if (keys && free_col->inline_dtype) {
            free_col->dtype = "int64";
            free_col->shallow = free_col->deep = 8 * f->rows;
        }
        mt__list_add(&c->assume, "%s.%s: column %zu, %s%s", f->name, names[i], (size_t)(free_col - f->cols) + 1,
                    free_col->dtype, free_col->inline_dtype ? " (assumed)" : "");
    }
    return 0;
}

/* ---- advice ---- */

/* A copy of f: with only the columns in keep or keep2 (keep NULL: all),
 * and with shrink each column shrunk to the dtype it fits (listed in what,
 * the bytes saved added to *saved). */
static mt_pframe *frame_variant(const mt_pframe *f, const mt_names *keep, const mt_names *keep2, int shrink,
                                char *what, size_t what_len, double *saved) {
    mt_pframe *g = malloc(sizeof *g);
    if (!g) return NULL;
    *g = *f;
    g->cols = malloc((f->n_cols ? f->n_cols : 1) * sizeof *g->cols);
    if (!g->cols) { free(g); return NULL; }
    g->n_cols = 0;
    size_t at = 0, listed = 0;
    for (size_t i = 0; i < f->n_cols; i++) {
        mt_pcol col = f->cols[i];
        if (keep && !mt__names_has(keep, col.name) && !(keep2 && mt__names_has(keep2, col.name))) continue;
        if (shrink && col.fit_bytes > 0 && col.fit_bytes < mt__pcol_itemsize(&col)) {
            double before = col.deep;
            if (!strcmp(col.fit_dtype, "category")) {
                col.dtype = "category";
                col.code_bytes = (unsigned)col.fit_bytes;
                col.categories = col.distinct;
                double k = fmax(col.distinct, 0), each = (col.deep - col.shallow) / fmax(f->rows - col.nulls, 1);
                col.categories_bytes = mt__pandas_categories_bytes(k, 8, each * k);
                col.shallow = col.fit_bytes * f->rows + mt__pandas_categories_bytes(k, 8, 0);
                col.deep = col.fit_bytes * f->rows + col.categories_bytes;
            } else {
                col.dtype = col.fit_dtype;
                col.shallow = col.deep = col.fit_bytes * f->rows;
            }
            *saved += before - col.deep;
            if (listed < 4 && at < what_len)
                at += (size_t)snprintf(what + at, what_len - at, "%s%s.%s to %s", listed ? ", " : "", f->name, col.name,
                                       col.fit_dtype);
            else if (listed == 4 && at < what_len)
                at += (size_t)snprintf(what + at, what_len - at, ", ...");
            listed++;
        }
        g->cols[g->n_cols++] = col;
    }
    return g;
}

static void frame_variant_free(mt_pframe *g) {
    if (g) free(g->cols);
    free(g);
}

/* The peak of the request's model on other frames (variants) or on a
 * chunk (scale < 1); NAN when the model fails. Warnings and assumptions
 * of the rerun are dropped; running out of memory is remembered. */
static double peak_of(mt_ctx *c, const mt_pframe *a, const mt_pframe *b, const mt_csv_sample *smp, double scale,
                      int observed) {
    mt_ctx c2 = *c;
    mt_diag d = { 0 };
    mt_est e;
    memset(&c2.warn, 0, sizeof c2.warn);
    memset(&c2.assume, 0, sizeof c2.assume);
    c2.diag = &d;
    const mt_pframe *fs[2] = { a, b };
    int rc = mt__model_run(&c2, fs, b ? 2 : 1, smp, scale, observed, &e);
    c->oom |= rc == MT_E_NOMEM || c2.warn.fail || c2.assume.fail;
    mt__list_free(&c2.warn);
    mt__list_free(&c2.assume);
    return rc ? NAN : e.peak;
}

static double rerun(mt_ctx *c, const mt_pframe *a, const mt_pframe *b, int observed) {
    return peak_of(c, a, b, NULL, 1, observed);
}

/* The fewest chunks of the first frame (up to 65536) whose peak fits the
 * budget; 0 when none does. */
static double chunks_needed(mt_ctx *c, const mt_pframe *a, const mt_pframe *b, const mt_csv_sample *smp,
                            double rows, double budget, int observed, double *peak) {
    for (double n = 2; n <= 65536 && n <= rows; n = ceil(n * 1.25)) {
        double pk = peak_of(c, a, b, smp, 1 / n, observed);
        if (isnan(pk)) return 0;
        if (pk <= budget) {
            *peak = pk;
            return n;
        }
    }
    return 0;
}

static void advise(mt_ctx *c, const mt_prediction *p, const mt_pframe *a, const mt_pframe *b,
                   const mt_csv_sample *smp, int observed, suggestions *out) {
    const mt_predict_request *q = c->q;
    double avail = q->available_bytes;
    double budget = FIT_SHARE * avail;
    char b1[16], b2[16], b3[16];
    int cheap_fit = 0;
    /* observed=True matters whatever the memory: the groups of unused
     * categories are made and kept. */
    if (q->op == MT_PREDICT_GROUPBY && c->cat_unobserved) {
        double pk = rerun(c, a, NULL, 1);
        if (pk < p->peak_bytes)
            suggest(out, pk, "pass observed=True: the unused categories' groups are not made (peak %s instead of %s)",
                    hb(pk, b1), hb(p->peak_bytes, b2));
    }
    if (avail <= 0 || p->peak_bytes <= budget) return;
    /* Smaller dtypes first. */
    if (a && q->op != MT_PREDICT_READ_CSV && q->op != MT_PREDICT_CONCAT) {
        char what[200] = "";
        double saved = 0;
        mt_pframe *sa = frame_variant(a, NULL, NULL, 1, what, sizeof what, &saved);
        /* The second frame's list follows the first's after ", ". */
        size_t at = strlen(what);
        int sep = b && at && at + 3 < sizeof what;
        if (sep) memcpy(what + at, ", ", 3);
        mt_pframe *sb = b ? frame_variant(b, NULL, NULL, 1, what + strlen(what), sizeof what - strlen(what), &saved) : NULL;
        if (sep && !what[at + 2]) what[at] = 0; /* nothing listed for b */
        c->oom |= !sa || (b && !sb);
        if (sa && (!b || sb) && saved > 0) {
            double pk = rerun(c, sa, sb, observed);
            if (pk < 0.95 * p->peak_bytes) {
                suggest(out, pk, "reduce dtypes first (%s): the inputs shrink by %s and the peak is %s", what,
                        hb(saved, b1), hb(pk, b2));
                cheap_fit |= pk <= budget;
            }
        }
        frame_variant_free(sa);
        frame_variant_free(sb);
    }
    /* Only the columns the operation needs. */
    if (q->op == MT_PREDICT_MERGE || (q->op == MT_PREDICT_GROUPBY && !q->columns.n) || q->op == MT_PREDICT_SORT) {
        const mt_names *keys = q->op == MT_PREDICT_MERGE ? &q->on : &q->by;
        /* A groupby keeps one value column to aggregate. */
        const char *first = NULL;
        for (size_t i = 0; q->op == MT_PREDICT_GROUPBY && i < a->n_cols && !first; i++) {
            int is_key = 0;
            for (size_t k = 0; k < keys->n && !is_key; k++) is_key = !strcmp(keys->v[k], a->cols[i].name);
            if (!is_key) first = a->cols[i].name;
        }
        mt_names one = { &first, first ? 1 : 0 };
        double saved = 0;
        mt_pframe *sa = frame_variant(a, keys, &one, 0, NULL, 0, &saved);
        mt_pframe *sb = b ? frame_variant(b, keys, NULL, 0, NULL, 0, &saved) : NULL;
        c->oom |= !sa || (b && !sb);
        size_t dropped = a->n_cols - (sa ? sa->n_cols : 0) + (b && sb ? b->n_cols - sb->n_cols : 0);
        if (sa && (!b || sb) && dropped) {
            double pk = rerun(c, sa, sb, observed);
            if (pk < 0.95 * p->peak_bytes) {
                suggest(out, pk, "select the columns you need first: with the keys%s alone the peak is %s, and each "
                        "of the %zu other columns adds about %s", first ? " and one column" : "", hb(pk, b1), dropped,
                        hb((p->peak_bytes - pk) / (double)dropped, b2));
                cheap_fit |= pk <= budget;
            }
        }
        frame_variant_free(sa);
        frame_variant_free(sb);
    }
    /* Chunks. */
    int chunkable = (q->op == MT_PREDICT_MERGE && (!q->how || !strcmp(q->how, "inner") || !strcmp(q->how, "left"))) ||
                    (q->op == MT_PREDICT_GROUPBY && !(q->agg && !strcmp(q->agg, "median"))) ||
                    q->op == MT_PREDICT_READ_CSV;
    int fits_chunked = 0;
    if (chunkable) {
        double rows = q->op == MT_PREDICT_READ_CSV ? smp->rows : a->rows, pk = 0;
        double n = chunks_needed(c, a, b, smp, rows, budget, observed, &pk);
        if (n > 0) {
            fits_chunked = 1;
            double per = ceil(rows / n);
            if (q->op == MT_PREDICT_MERGE)
                suggest(out, pk, "merge in %.0f chunks of %.0f rows of %s, writing each result out: each chunk peaks at "
                        "%s (keeping all the results in memory needs %s more)", n, per, a->name, hb(pk, b1),
                        hb(p->result_real_bytes - p->result_shared_bytes, b2)); /* what the results allocate */
            else if (q->op == MT_PREDICT_GROUPBY)
                suggest(out, pk, "aggregate in %.0f chunks of %.0f rows and combine the partial results (%s): each "
                        "chunk peaks at %s", n, per,
                        q->agg && !strcmp(q->agg, "mean") ? "sum and count, then divide"
                        : q->agg && !strcmp(q->agg, "std") ? "count, sum and sum of squares"
                                                           : "the same aggregation again", hb(pk, b1));
            else
                suggest(out, pk, "read in chunks: pd.read_csv(..., chunksize=%.0f) (%.0f chunks), each peaking at %s",
                        per, n, hb(pk, b1));
        }
    }
    if (!cheap_fit && !fits_chunked)
        suggest(out, NAN, "nothing above fits in %s: use an engine that works out of core, such as DuckDB "
                "(SET memory_limit='%s') or Dask (partitions of about %s each)", hb(budget, b1), hb(budget, b2),
                hb(budget / 4, b3));
}

/* ---- the run ---- */

int mt_predict_run(const mt_shapes *s, const mt_predict_request *q, mt_prediction *out, mt_diag *diag) {
    static const char *const hows[] = { "inner", "left", "right", "outer", NULL };
    static const char *const aggs[] = { "sum", "mean", "count", "min", "max", "median", "std", "size", NULL };
    static const char *const aggfuncs[] = { "mean", "sum", "count", NULL };
    memset(out, 0, sizeof *out);
    if ((unsigned)q->op >= MT_PREDICT_N_OPS) return mt_diag_set(diag, MT_E_INVAL, "unknown operation");
    if (q->op != MT_PREDICT_READ_CSV && !s)
        return mt_diag_set(diag, MT_E_INVAL, "--shapes is needed for --op %s", mt_predict_op_name(q->op));
    char list[128];
    if (q->how && !one_of(q->how, hows))
        return mt_diag_set(diag, MT_E_INVAL, "--how must be %s, not '%s'", choices(hows, list, sizeof list), q->how);
    if (q->agg && !one_of(q->agg, aggs))
        return mt_diag_set(diag, MT_E_INVAL, "--agg must be %s, not '%s'", choices(aggs, list, sizeof list), q->agg);
    if (q->aggfunc && !one_of(q->aggfunc, aggfuncs))
        return mt_diag_set(diag, MT_E_INVAL, "--aggfunc must be %s, not '%s'", choices(aggfuncs, list, sizeof list),
                           q->aggfunc);
    mt_ctx c = { .s = s, .q = q, .diag = diag };
    mt_est e = { 0 };
    mt_pframe *bound[64] = { 0 };
    const mt_pframe *f[64] = { 0 };
    size_t nf = 0;
    mt_csv_sample smp = { 0 };
    int observed = q->observed > 0;
    int rc = 0;
    const char *roles[2] = { "frame", NULL };
    const char *names[2] = { q->frame, NULL };
    if (q->op == MT_PREDICT_MERGE) {
        roles[0] = "left", roles[1] = "right";
        names[0] = q->left, names[1] = q->right;
        nf = 2;
    } else if (q->op == MT_PREDICT_CONCAT) {
        if (!q->frames.n) return mt_diag_set(diag, MT_E_INVAL, "--frames is needed for --op concat");
        if (q->frames.n > 64) return mt_diag_set(diag, MT_E_INVAL, "at most 64 --frames");
        nf = q->frames.n;
    } else if (q->op != MT_PREDICT_READ_CSV) {
        nf = 1;
    }
    for (size_t i = 0; i < nf; i++) {
        const char *name = q->op == MT_PREDICT_CONCAT ? q->frames.v[i] : names[i];
        if (!(f[i] = mt__find_frame(&c, name, q->op == MT_PREDICT_CONCAT ? "frames" : roles[i]))) { rc = diag->code; goto done; }
        if (s->is_inline) {
            /* A copy whose unnamed columns take the names the request uses. */
            double unused = 0;
            if (!(bound[i] = frame_variant(f[i], NULL, NULL, 0, NULL, 0, &unused))) {
                rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory");
                goto done;
            }
            const char *one[3] = { q->index, q->pivot_columns, q->values };
            if ((rc = bind_names(&c, bound[i], q->on.v, q->on.n, 1)) || (rc = bind_names(&c, bound[i], q->by.v, q->by.n, 1)))
                goto done;
            if (q->op == MT_PREDICT_PIVOT_TABLE &&
                ((rc = bind_names(&c, bound[i], one, 2, 1)) || (rc = bind_names(&c, bound[i], one + 2, 1, 0))))
                goto done;
            if ((rc = bind_names(&c, bound[i], q->columns.v, q->columns.n, 0))) goto done;
            f[i] = bound[i];
        }
    }
    if (q->op == MT_PREDICT_READ_CSV) {
        if (!q->csv) rc = mt_diag_set(diag, MT_E_INVAL, "--csv is needed for --op read_csv");
        else if (!(rc = mt__csv_sample_read(q->csv, q->sample_rows, &smp, diag)) && !smp.exact)
            mt__list_add(&c.assume, "%.0f rows, from the file's size over the bytes a row takes in the first %.0f",
                        smp.rows, smp.sampled_rows);
    }
    if (!rc) rc = mt__model_run(&c, f, nf, &smp, 1, observed, &e);
    if (rc) goto done;
    if (!isfinite(e.peak) || e.peak > 9.0e18 || e.rows > 9.0e18) {
        rc = mt_diag_set(diag, MT_E_RANGE, "the shapes are too large to model (a peak of %g bytes)", e.peak);
        goto done;
    }
    out->op = q->op;
    out->peak_bytes = e.peak;
    out->result_rows = e.rows;
    out->result_bytes = e.bytes;
    out->result_real_bytes = e.real;
    out->result_shared_bytes = e.shared;
    for (size_t i = 0; i < nf; i++) out->input_bytes += frame_bytes(f[i]);
    /* Real bytes need each object column's distinct objects. */
    for (size_t i = 0; i < nf; i++)
        for (size_t j = 0; j < f[i]->n_cols; j++) {
            const mt_pcol *col = &f[i]->cols[j];
            if (mt__pcol_is_object(col) && !col->has_objects && col->deep > col->shallow)
                mt__list_add(&c.assume, "%s.%s: distinct objects not recorded: each row's taken as its own in the "
                             "result's real bytes", f[i]->name, col->name);
        }
    if (q->op == MT_PREDICT_READ_CSV) out->input_bytes = smp.file_bytes;
    out->multiplier = out->input_bytes > 0 ? out->peak_bytes / out->input_bytes : NAN;
    out->available_bytes = q->available_bytes;
    out->fits = q->available_bytes > 0 ? out->peak_bytes <= q->available_bytes : -1;
    out->model = c.model;
    if (s && s->pandas_version && strncmp(s->pandas_version, "1.5.", 4))
        mt__list_add(&c.warn, "the frames were recorded under pandas %s; the models are calibrated on pandas %s",
                    s->pandas_version, mt_predict_pandas_version());
    if (s && s->is_inline)
        mt__list_add(&c.assume, "inline shapes: columns not described are float64, strings 8 characters");
    if (q->op == MT_PREDICT_PIVOT_TABLE && c.cells > 1e6 && c.cells > 10 * c.observed_cells)
        mt__list_add(&c.warn, "the pivot's grid has %.0f cells of which about %.0f hold a value: %.0f%% of the result "
                    "is NaN", c.cells, c.observed_cells, 100 * (1 - c.observed_cells / c.cells));
    {
        char b1[16], b2[16];
        double avail = q->available_bytes;
        if (avail > 0 && out->peak_bytes > avail)
            mt__list_add(&c.warn, "the predicted peak, %s, is more than the %s available: the operation will not fit",
                        hb(out->peak_bytes, b1), hb(avail, b2));
        else if (avail > 0 && out->peak_bytes > FIT_SHARE * avail)
            mt__list_add(&c.warn, "the predicted peak, %s, is over %.0f%% of the %s available", hb(out->peak_bytes, b1),
                        100 * FIT_SHARE, hb(avail, b2));
    }
    suggestions sg = { 0 };
    advise(&c, out, f[0], nf > 1 && q->op == MT_PREDICT_MERGE ? f[1] : NULL, &smp, observed, &sg);
    out->suggestions = sg.v;
    out->n_suggestions = sg.n;
    out->warnings = c.warn.v;
    out->n_warnings = c.warn.n;
    out->assumptions = c.assume.v;
    out->n_assumptions = c.assume.n;
    if (sg.fail || c.warn.fail || c.assume.fail || c.oom) {
        mt_prediction_free(out);
        rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory");
    }
    memset(&c.warn, 0, sizeof c.warn);
    memset(&c.assume, 0, sizeof c.assume);
done:
    mt__list_free(&c.warn);
    mt__list_free(&c.assume);
    for (size_t i = 0; i < nf; i++) frame_variant_free(bound[i]);
    mt__csv_sample_free(&smp);
    return rc;
}

void mt_prediction_free(mt_prediction *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_warnings; i++) free(p->warnings[i]);
    for (size_t i = 0; i < p->n_suggestions; i++) free(p->suggestions[i].text);
    for (size_t i = 0; i < p->n_assumptions; i++) free(p->assumptions[i]);
    free(p->warnings);
    free(p->suggestions);
    free(p->assumptions);
    memset(p, 0, sizeof *p);
}
