/* Two traces compared site by site (tracediff.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/names.h"
#include "memtrace/tracediff.h"

/* Sums of values and of variances, per group, while the sites are added. */
typedef struct acc {
    double v[4], var[4]; /* bytes a, bytes b, count a, count b */
} acc;

typedef struct impl {
    mt__names names;
    acc *acc;
    size_t cap;
} impl;

static int add_side(impl *im, mt_trace *t, mt_group_by by, mt_trace_when when, int side, mt_diag *diag) {
    mt_trace_at at = { when, 0 };
    mt_trace_site *sites;
    size_t n;
    int rc = mt_trace_sites(t, &at, &sites, &n, diag);
    if (rc) return rc;
    const mt_sites *tab = mt_trace_stacks(t);
    char buf[4096];
    for (size_t i = 0; i < n && !rc; i++) {
        const mt_trace_site *s = &sites[i];
        if (s->live.value == 0 && s->live_count.value == 0) continue;
        size_t len = mt_sites_format(tab, s->stack, by == MT_BY_TRACEBACK, buf, sizeof buf);
        if (len >= sizeof buf) len = sizeof buf - 1;
        if (mt__reserve((void **)&im->acc, &im->cap, im->names.n + 1, sizeof *im->acc)) {
            rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory for the groups of the diff");
            break;
        }
        size_t before = im->names.n;
        int64_t g = mt__names_index(&im->names, buf, len);
        if (g < 0) {
            rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory for the groups of the diff");
            break;
        }
        if ((size_t)g == before) memset(&im->acc[g], 0, sizeof im->acc[g]);
        acc *a = &im->acc[g];
        a->v[side] += s->live.value;
        a->var[side] += s->live.se * s->live.se;
        a->v[2 + side] += s->live_count.value;
        a->var[2 + side] += s->live_count.se * s->live_count.se;
    }
    free(sites);
    return rc;
}

/* Each side's bytes as a reported figure (mt_trace_bytes_floor()). */
static void fill_row(mt_trace_diff_row *r, const acc *a, const mt_trace *ta, const mt_trace *tb) {
    r->bytes_a = mt_trace_bytes_floor(ta, (mt_est){ a->v[0], sqrt(a->var[0]) });
    r->bytes_b = mt_trace_bytes_floor(tb, (mt_est){ a->v[1], sqrt(a->var[1]) });
    r->count_a = mt_trace_count_floor(ta, (mt_est){ a->v[2], sqrt(a->var[2]) });
    r->count_b = mt_trace_count_floor(tb, (mt_est){ a->v[3], sqrt(a->var[3]) });
    r->delta = (mt_est){ a->v[1] - a->v[0], sqrt(r->bytes_a.se * r->bytes_a.se + r->bytes_b.se * r->bytes_b.se) };
}

int mt_trace_diff_compute(mt_trace *a, mt_trace *b, mt_group_by by, mt_trace_when when, mt_trace_diff *d,
                          mt_diag *diag) {
    memset(d, 0, sizeof *d);
    if (by != MT_BY_SITE && by != MT_BY_TRACEBACK)
        return mt_diag_set(diag, MT_E_INVAL, "traces are compared by site or traceback");
    if (when != MT_TRACE_AT_END && when != MT_TRACE_AT_PEAK)
        return mt_diag_set(diag, MT_E_INVAL, "traces are compared at their end or their peak");
    impl *im = calloc(1, sizeof *im);
    if (!im) return mt_diag_set(diag, MT_E_NOMEM, "out of memory for the diff");
    d->impl = im;
    d->by = by;
    d->when = when;
    mt_trace_summary sa, sb;
    mt_trace_summary_get(a, &sa);
    mt_trace_summary_get(b, &sb);
    d->sampled = sa.sampled || sb.sampled;
    int rc = add_side(im, a, by, when, 0, diag);
    if (!rc) rc = add_side(im, b, by, when, 1, diag);
    if (!rc && im->names.n && !(d->rows = calloc(im->names.n, sizeof *d->rows)))
        rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory for the rows of the diff");
    if (rc) {
        mt_trace_diff_free(d);
        return rc;
    }
    acc total;
    memset(&total, 0, sizeof total);
    for (size_t g = 0; g < im->names.n; g++) {
        d->rows[g].group = mt__names_str(&im->names, g);
        fill_row(&d->rows[g], &im->acc[g], a, b);
        for (int k = 0; k < 4; k++) {
            total.v[k] += im->acc[g].v[k];
            total.var[k] += im->acc[g].var[k];
        }
    }
    d->n_rows = im->names.n;
    d->total.group = "total";
    fill_row(&d->total, &total, a, b);
    return 0;
}

static int row_cmp(const void *x, const void *y, void *arg) {
    const mt_trace_diff_row *a = x, *b = y;
    mt_diff_key sort_key = *(const mt_diff_key *)arg;
    double ka = sort_key == MT_DIFF_BY_BYTES ? a->bytes_b.value : sort_key == MT_DIFF_BY_COUNT ? a->count_b.value : a->delta.value;
    double kb = sort_key == MT_DIFF_BY_BYTES ? b->bytes_b.value : sort_key == MT_DIFF_BY_COUNT ? b->count_b.value : b->delta.value;
    if (ka != kb) return ka > kb ? -1 : 1;
    return strcmp(a->group, b->group);
}

void mt_trace_diff_sort(mt_trace_diff *d, mt_diff_key key) {
    if (d->n_rows) qsort_r(d->rows, d->n_rows, sizeof *d->rows, row_cmp, &key);
}

void mt_trace_diff_free(mt_trace_diff *d) {
    impl *im = d->impl;
    if (im) {
        mt__names_free(&im->names);
        free(im->acc);
        free(im);
    }
    free(d->rows);
    memset(d, 0, sizeof *d);
}
