/* The rows of a join, from what dump_frames records of the two key
 * columns: every most common value is known exactly; every other value is
 * taken to occur its side's average of the rest; the values both sides
 * share come from the kmv sketches (Beyer et al.). pandas joins missing
 * keys to missing keys. Checked against pandas by bench/predict. */
#include <math.h>
#include <string.h>
#include "predict/predict_impl.h"

/* Equal as pandas compares keys: numbers by value across int, uint and
 * float (an int key with nulls is float64 on one side only). */
static int value_eq(const mt_value *a, const mt_value *b) {
    int an = a->type == MT_VAL_INT || a->type == MT_VAL_UINT || a->type == MT_VAL_FLOAT || a->type == MT_VAL_BOOL;
    int bn = b->type == MT_VAL_INT || b->type == MT_VAL_UINT || b->type == MT_VAL_FLOAT || b->type == MT_VAL_BOOL;
    if (an && bn) {
        double x = a->type == MT_VAL_INT ? (double)a->v.i : a->type == MT_VAL_UINT ? (double)a->v.u
                 : a->type == MT_VAL_BOOL ? a->v.b : a->v.f;
        double y = b->type == MT_VAL_INT ? (double)b->v.i : b->type == MT_VAL_UINT ? (double)b->v.u
                 : b->type == MT_VAL_BOOL ? b->v.b : b->v.f;
        return x == y;
    }
    if (a->type != b->type || (a->type != MT_VAL_STR && a->type != MT_VAL_BIN)) return 0;
    return a->v.s.len == b->v.s.len && memcmp(a->v.s.ptr, b->v.s.ptr, a->v.s.len) == 0;
}

static double top_sum(const mt_pcol *c) {
    double s = 0;
    for (size_t i = 0; i < c->n_top; i++) s += (double)c->top[i].count;
    return s;
}

/* Rows per value among the values that are not most common. */
static double rest_avg(const mt_pcol *c, double rows) {
    double n = rows - c->nulls - top_sum(c);
    double d = c->distinct - (double)c->n_top;
    return d > 0 && n > 0 ? n / d : 0.0;
}

/* Distinct non-null values in both columns. */
static double shared_distinct(const mt_pcol *l, const mt_pcol *r, const char **assumed) {
    if (l->sketch && r->sketch) {
        mt_kmv_estimate e;
        if (mt_kmv_compare(l->sketch, l->sketch_len, l->sketch_full, r->sketch, r->sketch_len, r->sketch_full, &e) == 0)
            return fmin(e.both, fmin(l->distinct, r->distinct));
    }
    /* Without sketches: the side with fewer values has all of them in the
     * other (a foreign key into a dimension table). */
    if (assumed && !*assumed) *assumed = "the key values of the side with fewer of them all occur on the other side";
    return fmin(l->distinct, r->distinct);
}

double mt__predict_join_rows(const mt_pcol *lk, double lrows, const mt_pcol *rk, double rrows, const char *how,
                            const char **assumed, double *with_left, double *with_right) {
    mt_pcol L = *lk, R = *rk;
    if (assumed) *assumed = NULL;
    if (L.distinct < 0 || R.distinct < 0) {
        /* Nothing known of the keys: many-to-one onto the right, every
         * left key matching. */
        if (assumed) *assumed = "the right key is unique and every left key matches one (many-to-one)";
        if (R.distinct < 0) R.distinct = rrows - R.nulls;
        if (L.distinct < 0) L.distinct = fmin(lrows - L.nulls, R.distinct);
    }
    double both = shared_distinct(&L, &R, assumed);
    double aL = rest_avg(&L, lrows), aR = rest_avg(&R, rrows);
    double pL = L.distinct > 0 ? both / L.distinct : 0; /* a left value is on the right */
    double pR = R.distinct > 0 ? both / R.distinct : 0;
    double inner = 0, ml = 0, mr = 0, shared_top = 0;
    /* Most common values: the left's, then the right's not among them. */
    for (size_t i = 0; i < L.n_top; i++) {
        double fl = (double)L.top[i].count, fr = aR, share = pL;
        for (size_t j = 0; j < R.n_top; j++)
            if (value_eq(&L.top[i].value, &R.top[j].value)) {
                fr = (double)R.top[j].count;
                share = 1.0;
                break;
            }
        inner += share * fl * fr;
        ml += share * fl;
        mr += share * fr;
        shared_top += share;
    }
    for (size_t j = 0; j < R.n_top; j++) {
        int seen = 0;
        for (size_t i = 0; i < L.n_top && !seen; i++) seen = value_eq(&L.top[i].value, &R.top[j].value);
        if (seen) continue;
        double fr = (double)R.top[j].count;
        inner += pR * aL * fr;
        ml += pR * aL;
        mr += pR * fr;
        shared_top += pR;
    }
    double rest = fmax(both - shared_top, 0.0);
    inner += rest * aL * aR;
    ml += rest * aL;
    mr += rest * aR;
    inner += L.nulls * R.nulls;
    double ul = fmax(lrows - ml - (R.nulls > 0 ? L.nulls : 0), 0.0);
    double ur = fmax(rrows - mr - (L.nulls > 0 ? R.nulls : 0), 0.0);
    int keep_l = !strcmp(how, "left") || !strcmp(how, "outer"), keep_r = !strcmp(how, "right") || !strcmp(how, "outer");
    if (with_left) *with_left = inner + (keep_l ? ul : 0);
    if (with_right) *with_right = inner + (keep_r ? ur : 0);
    if (!strcmp(how, "left")) return inner + ul;
    if (!strcmp(how, "right")) return inner + ur;
    if (!strcmp(how, "outer")) return inner + ul + ur;
    return inner;
}
