/* Plots of heap snapshots: diff (growth by group), retained (the largest
 * retainers) and leaks (a series' groups and their survivors). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/diff.h"
#include "memtrace/graph.h"
#include "memtrace/leaks.h"
#include "memtrace/units.h"
#include "plot/plot_impl.h"

/* Room beyond the bars' ends for their value labels: a fifth of the
 * plot's width on each side that has them. */
static void bar_range(double lo, double hi, double *xmin, double *xmax) {
    double span = hi - lo > 0 ? hi - lo : 1, f = 0.2;
    double total = span / (1 - f * ((lo < 0) + (hi > 0)));
    *xmin = lo < 0 ? lo - f * total : 0;
    *xmax = hi > 0 ? hi + f * total : 0.02 * total;
}

/* ---- diff ---- */

static int64_t delta_of(const mt_diff_row *r) { return (int64_t)(r->bytes_b - r->bytes_a); }

static int by_abs_delta(const void *a, const void *b) {
    const mt_diff_row *x = a, *y = b;
    int64_t dx = llabs(delta_of(x)), dy = llabs(delta_of(y));
    if (dx != dy) return dx > dy ? -1 : 1;
    return strcmp(x->group, y->group);
}

static int by_delta(const void *a, const void *b) {
    const mt_diff_row *x = a, *y = b;
    int64_t dx = delta_of(x), dy = delta_of(y);
    if (dx != dy) return dx > dy ? -1 : 1;
    return strcmp(x->group, y->group);
}

/* What a plot shows when there is nothing to draw, so that an unchanged
 * pair still gives a picture that says so. */
static void empty_plot(mt_pw *w, const char *what) {
    fprintf(w->gp, "set label 1 ");
    mt__pw_quote(w->gp, what, strlen(what));
    fprintf(w->gp, " at graph 0.5, graph 0.5 center\nset xrange [0:1]\nset yrange [0:1]\nunset xtics\nunset ytics\n"
                   "plot 2 notitle lc rgb '#ffffff'\n");
}

int mt__plot_diff(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp, FILE *dat,
                 mt_diag *diag) {
    (void)n;
    mt_snapshot *a = NULL, *b = NULL;
    mt_diff d = { 0 };
    int rc = mt__pw_load(paths[0], 0, &a, diag);
    if (!rc) rc = mt__pw_load(paths[1], 0, &b, diag);
    if (!rc) rc = mt_diff_compute(a, b, o->by, &d, diag);
    if (rc) goto out;

    /* The largest changes either way, then shown growth first. */
    uint32_t top = o->top ? o->top : k->default_top;
    if (d.n_rows) qsort(d.rows, d.n_rows, sizeof *d.rows, by_abs_delta);
    size_t rows = 0;
    while (rows < d.n_rows && rows < top && delta_of(&d.rows[rows])) rows++;
    if (rows) qsort(d.rows, rows, sizeof *d.rows, by_delta);

    double lo = 0, hi = 0;
    for (size_t i = 0; i < rows; i++) {
        double v = (double)delta_of(&d.rows[i]);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    double div;
    const char *unit = mt__pw_unit(fmax(-lo, hi), &div);
    mt_pw w;
    mt__pw_begin(&w, k, o, paths, 2, gp, dat, 1000, mt__pw_bars_height(rows));
    char total[24];
    mt_signed_bytes(delta_of(&d.total), total);
    mt__pw_title(&w, "Change by %s: %s to %s (total %s)", mt_group_by_name(o->by), mt__pw_base(paths[0]),
                mt__pw_base(paths[1]), total);
    mt__pw_block(&w, "y\tdelta_bytes\tbytes_a\tbytes_b\tcount_a\tcount_b\tgroup\tlabel");
    for (size_t i = 0; i < rows; i++) {
        const mt_diff_row *r = &d.rows[i];
        char delta[24];
        fprintf(dat, "%zu\t%" PRId64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t", rows - 1 - i,
                delta_of(r), r->bytes_a, r->bytes_b, r->count_a, r->count_b);
        mt__pw_field(dat, r->group, strlen(r->group));
        fprintf(dat, "\t%s (%+" PRId64 ")\n", mt_signed_bytes(delta_of(r), delta),
                (int64_t)(r->count_b - r->count_a));
    }
    if (!rows) {
        empty_plot(&w, "no group changed");
    } else {
        double xmin, xmax;
        bar_range(lo / div, hi / div, &xmin, &xmax);
        fprintf(gp, "unit = %.1f\n", div);
        mt__pw_bars_axes(&w, rows, xmin, xmax, unit, "bytes gained");
        /* A side with no bars gets no clauses: gnuplot 5.4 crashes on a
         * 'with labels' whose every point is undefined. */
        fprintf(gp, "plot %s index 0 using (0):1:(''):ytic(7) with labels", MT_PW_DATA);
        if (hi > 0)
            fprintf(gp,
                    ", \\\n     %1$s index 0 using (0):($2 > 0 ? $1 : 1/0):(0):($2/unit):($1-0.4):($1+0.4) "
                    "with boxxyerror lc 3 title 'grew'"
                    ", \\\n     %1$s index 0 using ($2 > 0 ? $2/unit : 1/0):1:8 with labels left offset 0.6,0 "
                    "font ',9'",
                    MT_PW_DATA);
        if (lo < 0)
            fprintf(gp,
                    ", \\\n     %1$s index 0 using (0):($2 < 0 ? $1 : 1/0):($2/unit):(0):($1-0.4):($1+0.4) "
                    "with boxxyerror lc 5 title 'shrank'"
                    ", \\\n     %1$s index 0 using ($2 < 0 ? $2/unit : 1/0):1:8 with labels right offset -0.6,0 "
                    "font ',9'",
                    MT_PW_DATA);
        fputc('\n', gp);
    }
    rc = mt__pw_end(&w, diag);
out:
    mt_diff_free(&d);
    mt_snapshot_free(a);
    mt_snapshot_free(b);
    return rc;
}

/* ---- retained ---- */

/* What a value label needs beyond its bar's end, in pixels: the tool's
 * labels are font size 9, whose characters (digits, mostly) measure at
 * most 6.5 px in pngcairo and SVG at their default resolutions, plus the
 * label's offset. */
static double label_px(size_t chars) { return 6.5 * (double)chars + 12; }

int mt__plot_retained(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                     FILE *dat, mt_diag *diag) {
    (void)n;
    mt_snapshot *s = NULL;
    mt_dominators dom = { 0 };
    uint32_t *cand = NULL, *top_obj = NULL, *row_of = NULL;
    uint64_t *below = NULL;
    size_t *value_len = NULL;
    int rc = mt__pw_load(paths[0], MT_LOAD_LABELS, &s, diag);
    if (rc) return rc;
    const mt_graph *g = mt_snapshot_graph(s);
    if (!g->n_objects) {
        rc = mt_diag_set(diag, MT_E_NOTFOUND, "no objects: a retained plot needs a heap snapshot");
        if (diag) diag->file = paths[0];
        goto out;
    }
    if ((rc = mt_dominators_compute(g, &dom, diag))) goto out;
    uint32_t top = o->top ? o->top : k->default_top;
    /* Candidates beyond top: the rows that only repeat a parent's bytes
     * are skipped, and others take their places. */
    uint32_t want = top > (UINT32_MAX - 16) / 4 ? UINT32_MAX : top * 4 + 16;
    if (want > g->n_objects) want = g->n_objects;
    cand = malloc((size_t)want * sizeof *cand);
    top_obj = malloc((size_t)top * sizeof *top_obj);
    below = calloc(top ? top : 1, sizeof *below);
    value_len = calloc(top ? top : 1, sizeof *value_len);
    row_of = calloc(g->n_objects, sizeof *row_of);
    if (!cand || !top_obj || !below || !value_len || !row_of) {
        rc = mt_diag_set(diag, MT_E_NOMEM, "no memory for %u retainers", top);
        goto out;
    }
    uint32_t nc = mt_dominators_top(&dom, want, cand), rows = 0;
    /* An object inside a row above (in its dominator subtree) retains part
     * of that row's bytes. One that retains nearly all of them (95%: a
     * module and its dict) is the same bytes again and is left out; the
     * others stay, and the row above marks how much of its bar the rows
     * below hold, so that no byte reads as two. */
    for (uint32_t c = 0; c < nc && rows < top; c++) {
        uint32_t v = cand[c], up = dom.idom[v], parent = 0;
        for (; up < g->n_objects && !parent; up = dom.idom[up]) parent = row_of[up];
        if (parent && (double)dom.retained[v] >= 0.95 * (double)dom.retained[top_obj[parent - 1]]) continue;
        if (parent) below[parent - 1] += dom.retained[v];
        top_obj[rows++] = v;
        row_of[v] = rows;
    }
    double div;
    const char *unit = mt__pw_unit(rows ? (double)dom.retained[top_obj[0]] : 0, &div);
    mt_pw w;
    mt__pw_begin(&w, k, o, paths, 1, gp, dat, 1100, mt__pw_bars_height(rows));
    char reach[16];
    mt__pw_title(&w, "Largest retainers: %s (%s reachable)", mt__pw_base(paths[0]),
                mt_human_bytes(dom.reachable_bytes, reach));
    mt__pw_block(&w, "y\tretained_bytes\tsize\tobjects\tid\tobject\tlabel\tin_rows_below_bytes");
    size_t ytic_max = 0;
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t v = top_obj[i];
        mt_str t = g->type_names[g->type[v]];
        char h[16], hb[16], value[96];
        fprintf(dat, "%u\t%" PRIu64 "\t%" PRIu64 "\t%u\t%" PRIu64 "\t", rows - 1 - i, dom.retained[v], g->size[v],
                dom.retained_count[v], g->id[v]);
        /* "TYPE: PATH": the type first, since a long label is cut in its
         * middle. */
        mt_path p;
        char *via = NULL;
        if (!mt_path_to_root(g, v, &p, NULL)) {
            via = mt_path_format(s, &p);
            mt_path_free(&p);
        }
        size_t len = t.len + (via ? strlen(via) + 2 : 0);
        char *label = malloc(len + 1);
        if (label) {
            memcpy(label, t.ptr, t.len);
            if (via) {
                memcpy(label + t.len, ": ", 2);
                memcpy(label + t.len + 2, via, strlen(via));
            }
            mt__pw_field(dat, label, len);
        } else {
            mt__pw_field(dat, t.ptr, t.len);
        }
        ytic_max = len > 56 ? 56 : len > ytic_max ? len : ytic_max;
        free(label);
        free(via);
        if (below[i])
            snprintf(value, sizeof value, "%s (%u objects; %s in rows below)", mt_human_bytes(dom.retained[v], h),
                     dom.retained_count[v], mt_human_bytes(below[i], hb));
        else
            snprintf(value, sizeof value, "%s (%u object%s)", mt_human_bytes(dom.retained[v], h),
                     dom.retained_count[v], dom.retained_count[v] == 1 ? "" : "s");
        value_len[i] = strlen(value);
        fprintf(dat, "\t%s\t%" PRIu64 "\n", value, below[i]);
    }
    /* The axis reaches far enough that every value label fits beside its
     * bar: bar + label <= the plot's width, in pixels, with the plot's
     * width estimated from the picture's less the type labels at its left
     * (at most 56 characters, mt__pw_field) and the margins. */
    double width = o->width ? o->width : 1100, plot_px = width - label_px(ytic_max) - 40, xmax = 0;
    if (plot_px < 200) plot_px = 200;
    for (uint32_t i = 0; i < rows; i++) {
        double q = label_px(value_len[i]) / plot_px;
        if (q > 0.7) q = 0.7;
        xmax = fmax(xmax, (double)dom.retained[top_obj[i]] / div / (1 - q));
    }
    if (!rows) xmax = 1;
    fprintf(gp, "unit = %.1f\n", div);
    mt__pw_bars_axes(&w, rows, 0, xmax, unit, "bytes retained");
    fprintf(gp,
            "plot %1$s index 0 using (0):1:(0):($2/unit):($1-0.4):($1+0.4) with boxxyerror lc 1 "
            "title 'retained', \\\n"
            "     %1$s index 0 using (0):($8 > 0 ? $1 : 1/0):(($2-$8)/unit):($2/unit):($1-0.4):($1+0.4) "
            "with boxxyerror lc rgb '#a0bcd8' title 'of it, in rows below', \\\n"
            "     %1$s index 0 using (0):1:(0):($3/unit):($1-0.15):($1+0.15) with boxxyerror lc 2 "
            "title 'its own size', \\\n"
            "     %1$s index 0 using ($2/unit):1:7:ytic(6) with labels left offset 0.6,0 font ',9'\n",
            MT_PW_DATA);
    rc = mt__pw_end(&w, diag);
out:
    free(cand);
    free(top_obj);
    free(below);
    free(value_len);
    free(row_of);
    mt_dominators_free(&dom);
    mt_snapshot_free(s);
    return rc;
}

/* ---- leaks ---- */

/* A group with what it is ranked by, so that sorting needs no state. */
typedef struct ranked {
    const mt_leak_group *g;
    size_t rank;                 /* 1 + the suspect it stands for (or is part of); 0: none */
    int lead;                    /* the suspect's representative group */
    int growing;                 /* in L.growing: at its place there + 1 */
    int64_t gained;              /* objects, first to last snapshot */
    uint64_t last;
} ranked;

/* The order memtrace-leaks reports in: each suspect's group in the
 * library's ranking (mt_leaks.suspects), then the other groups of those
 * suspects, then the growing groups that are no leak (mt_leaks.growing's
 * order), then the rest by objects gained and by objects. A heuristic of
 * the plot's own had put str, list and dict (suspects by their counts
 * alone) before the ranking's first suspect. */
static int by_interest(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    int cx = x->rank ? (x->lead ? 0 : 1) : x->growing ? 2 : 3, cy = y->rank ? (y->lead ? 0 : 1) : y->growing ? 2 : 3;
    if (cx != cy) return cx - cy;
    if (cx < 2 && x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    if (cx == 2) return x->growing - y->growing;
    if (x->gained != y->gained) return x->gained > y->gained ? -1 : 1;
    if (x->last != y->last) return x->last > y->last ? -1 : 1;
    return strcmp(x->g->type, y->g->type);
}

int mt__plot_leaks(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp, FILE *dat,
                  mt_diag *diag) {
    mt_leaks L = { 0 };
    mt_snapshot *last = NULL;
    ranked *order = NULL;
    int rc = mt_leaks_compute(paths, n, 0, NULL, &L, &last, diag);
    if (rc) return rc;
    if (!L.n_groups) {
        rc = mt_diag_set(diag, MT_E_NOTFOUND, "no objects in the series: a leaks plot needs heap snapshots");
        goto out;
    }
    if (!(order = malloc(L.n_groups * sizeof *order))) {
        rc = mt_diag_set(diag, MT_E_NOMEM, "no memory for %zu groups", L.n_groups);
        goto out;
    }
    for (size_t i = 0; i < L.n_groups; i++) {
        const mt_leak_group *g = &L.groups[i];
        order[i] = (ranked){ g, 0, 0, 0, (int64_t)(g->count[n - 1] - g->count[0]), g->count[n - 1] };
    }
    /* A group in two suspects goes with the first (the better ranked). */
    for (size_t r = L.n_suspects; r-- > 0;) {
        const mt_leak_suspect *sp = &L.suspects[r];
        for (size_t j = 0; j < sp->n_groups; j++) {
            order[sp->groups[j]].rank = r + 1;
            order[sp->groups[j]].lead = 0;
        }
        order[sp->group].rank = r + 1;
        order[sp->group].lead = 1;
    }
    for (size_t r = 0; r < L.n_growing; r++)
        if (!order[L.growing[r]].rank) order[L.growing[r]].growing = (int)(r + 1);
    qsort(order, L.n_groups, sizeof *order, by_interest);
    size_t shown = o->top ? o->top : k->default_top;
    if (shown > L.n_groups) shown = L.n_groups;

    mt_pw w;
    mt__pw_begin(&w, k, o, paths, n, gp, dat, 1000, 900 + (unsigned)(shown > 16 ? (shown - 16) * 36 : 0));
    fprintf(gp, "set multiplot layout 2,1\nset key outside right top\nset lmargin at screen 0.08\nset rmargin at screen 0.7\nset grid\nset xtics 1\n");
    if (n > 30) fprintf(gp, "set xtics autofreq\n");
    mt__pw_title(&w, "Objects per type across %zu snapshots (%s ... %s)", n, mt__pw_base(paths[0]),
                mt__pw_base(paths[n - 1]));
    fprintf(gp, "set xlabel 'snapshot'\nset ylabel 'objects'\nset yrange [0:*]\n");

    mt__pw_block(&w, "snapshot\tobjects of each type shown (the plot's legend order)");
    for (size_t s = 0; s < n; s++) {
        fprintf(dat, "%zu", s);
        for (size_t i = 0; i < shown; i++) fprintf(dat, "\t%" PRIu64, order[i].g->count[s]);
        fputc('\n', dat);
    }
    /* Counts of thousands (str) beside a leak's hundreds flatten it: a
     * log scale when the shown counts span more than 50 times; a count of
     * 0 is then left out of its line. Each line has its own dash and
     * point type too, so that lines on top of each other (a Leaked and
     * the bytes each one holds) still show. */
    uint64_t cmax = 0, cmin = UINT64_MAX;
    for (size_t i = 0; i < shown; i++)
        for (size_t s = 0; s < n; s++) {
            uint64_t c = order[i].g->count[s];
            if (c > cmax) cmax = c;
            if (c && c < cmin) cmin = c;
        }
    int logy = cmin != UINT64_MAX && (double)cmax > 50.0 * (double)cmin;
    if (logy) fprintf(gp, "set logscale y\nset yrange [*:*]\nset ylabel 'objects (log scale)'\n");
    fprintf(gp, "plot");
    for (size_t i = 0; i < shown; i++) {
        const mt_leak_group *gr = order[i].g;
        char title[600];
        if (order[i].rank && order[i].lead)
            snprintf(title, sizeof title, "%s (suspect %zu, %.0f%%)", gr->type, order[i].rank,
                     100 * L.suspects[order[i].rank - 1].confidence);
        else if (order[i].rank)
            snprintf(title, sizeof title, "%s (with suspect %zu)", gr->type, order[i].rank);
        else if (order[i].growing)
            snprintf(title, sizeof title, "%s (%s)", gr->type, mt_leak_verdict_name(gr->verdict));
        else
            snprintf(title, sizeof title, "%s", gr->type);
        /* A line exactly on an earlier one says so: only its points show. */
        for (size_t j = 0; j < i; j++)
            if (!memcmp(order[j].g->count, gr->count, n * sizeof *gr->count)) {
                size_t at = strlen(title);
                snprintf(title + at, sizeof title - at, " on the line of %s", order[j].g->type);
                break;
            }
        if (logy)
            fprintf(gp, "%s %s index 0 using 1:($%zu > 0 ? $%zu : NaN) with linespoints lc %zu dt %zu pt %zu title ",
                    i ? ", \\\n    " : "", MT_PW_DATA, i + 2, i + 2, i + 1, i % 5 + 1, i % 13 + 1);
        else
            fprintf(gp, "%s %s index 0 using 1:%zu with linespoints lc %zu dt %zu pt %zu title ", i ? ", \\\n    " : "",
                    MT_PW_DATA, i + 2, i + 1, i % 5 + 1, i % 13 + 1);
        mt__pw_quote(gp, title, strlen(title));
    }
    fputc('\n', gp);
    if (logy) fprintf(gp, "unset logscale y\nset yrange [0:*]\nset ylabel 'objects'\n");

    /* Generation 0 is whatever the first snapshot held; the later ones
     * are where a leak shows, as a band every generation adds to. */
    uint64_t gen0 = 0;
    for (size_t i = 0; i < shown; i++) gen0 += order[i].g->survivors[0];
    fprintf(gp, "set title 'Objects of the last snapshot by the snapshot they first appeared in "
                "(stacked; %" PRIu64 " from the first left out)'\n",
            gen0);
    fprintf(gp, "set xlabel 'birth snapshot'\nset ylabel 'surviving objects'\nset xrange [1:%zu]\n", n - 1);
    mt__pw_block(&w, "birth\t0 then the running sums of each type's survivors (stacked in legend order)");
    for (size_t gen = 1; gen < n; gen++) {
        uint64_t sum = 0;
        fprintf(dat, "%zu\t0", gen);
        for (size_t i = 0; i < shown; i++) {
            sum += order[i].g->survivors[gen];
            fprintf(dat, "\t%" PRIu64, sum);
        }
        fputc('\n', dat);
    }
    fprintf(gp, "plot");
    for (size_t i = 0; i < shown; i++)
        fprintf(gp, "%s %s index 1 using 1:%zu:%zu with filledcurves fs solid 0.7 lc %zu notitle",
                i ? ", \\\n    " : "", MT_PW_DATA, i + 2, i + 3, i + 1);
    fprintf(gp, "\nunset multiplot\n");
    rc = mt__pw_end(&w, diag);
out:
    free(order);
    mt_leaks_free(&L);
    mt_snapshot_free(last);
    return rc;
}
