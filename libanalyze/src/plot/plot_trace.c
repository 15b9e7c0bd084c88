/* An allocation trace's memory over time (trace.h), its top sites
 * stacked: the `trace` plot kind. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/trace.h"
#include "memtrace/units.h"
#include "plot/plot_impl.h"
#include "plot/writer.h"

/* Moments drawn: enough for a smooth curve; all of them come from one
 * replay of the trace (mt_trace_sites_over()). */
#define POINTS 200

/* One row of block 0 per moment: where each band ends, then the total. */
typedef struct band_rows {
    FILE *dat;
    const uint64_t *times;
    const uint32_t *top;
    size_t shown;
} band_rows;

static int band_row(void *arg, size_t k, const mt_trace_site *at, size_t n_at) {
    band_rows *b = arg;
    double sum = 0, all = 0;
    fprintf(b->dat, "%llu", (unsigned long long)b->times[k]);
    for (size_t i = 0; i < n_at; i++) all += at[i].live.value;
    for (size_t s = 0; s < b->shown; s++) {
        for (size_t i = 0; i < n_at; i++)
            if (at[i].stack == b->top[s]) sum += at[i].live.value;
        fprintf(b->dat, "\t%.0f", sum);
    }
    fprintf(b->dat, "\t%.0f\n", all);
    return 0;
}

int mt__plot_trace(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                   FILE *dat, mt_diag *diag) {
    (void)n;
    mt_trace *t;
    int rc = mt_trace_open(paths[0], 0, NULL, &t, diag);
    if (rc) {
        if (diag) diag->file = paths[0];
        return rc;
    }
    mt_trace_summary S;
    mt_trace_summary_get(t, &S);
    mt_trace_site *peak = NULL;
    size_t n_peak = 0;
    uint32_t *top = NULL;
    mt_trace_point *curve = NULL;
    /* The stacks shown: the most bytes live at the peak. */
    if ((rc = mt_trace_sites(t, NULL, &peak, &n_peak, diag))) goto out;
    mt_trace_sites_sort(peak, n_peak, MT_TRACE_BY_PEAK);
    size_t ntop = o->top ? o->top : k->default_top;
    size_t shown = 0;
    top = malloc((ntop ? ntop : 1) * sizeof *top);
    curve = malloc(MT_TRACE_CURVE_RES * sizeof *curve);
    if (!top || !curve) {
        rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory for the plot");
        goto out;
    }
    for (size_t i = 0; i < n_peak && shown < ntop; i++)
        if (peak[i].live.value > 0) top[shown++] = peak[i].stack;
    double div, tdiv = S.duration_ns >= 120e9 ? 60e9 : 1e9;
    const char *unit = mt__pw_unit(S.peak.value, &div);
    mt_pw w;
    mt__pw_begin(&w, k, o, paths, 1, gp, dat, 1100, 600);
    char hb[16];
    mt__pw_title(&w, "live bytes over time by call site: %s (peak %s at %.3f s%s)", mt__pw_base(paths[0]),
                 mt_human_bytes((uint64_t)llround(S.peak.value), hb), S.peak_ns / 1e9,
                 S.sampled ? ", sampled estimates" : "");
    /* Block 0: at each moment, where each band ends (the sites cumulated,
     * largest at the peak first), then the total. */
    mt__pw_block(&w, "time_ns\tthen where each site's band ends, bytes (site 1, 1+2, ...)\tthen every site (the rest included)");
    uint64_t times[POINTS + 1];
    for (size_t p = 0; p <= POINTS; p++) times[p] = (uint64_t)((double)S.duration_ns * (double)p / POINTS);
    band_rows rows = { dat, times, top, shown };
    rc = mt_trace_sites_over(t, times, POINTS + 1, band_row, &rows, diag);
    if (rc) goto out;
    /* Block 1: the most bytes live in each stretch of time (the curve the
     * trace reader keeps), so a peak between two moments still shows. */
    size_t got = 0;
    mt_trace_curve(t, MT_TRACE_CURVE_RES, curve, &got);
    mt__pw_block(&w, "time_ns\tmost bytes live in the stretch from it");
    for (size_t i = 0; i < got; i++)
        fprintf(dat, "%llu\t%.0f\n", (unsigned long long)curve[i].time_ns, curve[i].max_bytes);
    fprintf(gp, "unit = %.17g\ntunit = %.17g\n", div, tdiv);
    fprintf(gp, "set xlabel 'time (%s)'\nset ylabel '%s'\nset yrange [0:*]\nset key outside right top\n",
            tdiv == 60e9 ? "min" : "s", unit);
    fprintf(gp, "plot %s index 0 using ($1/tunit):($%zu/unit) with filledcurves x1 lc rgb '#bab0ac' title 'other sites'",
            MT_PW_DATA, shown + 2);
    for (size_t s = shown; s-- > 0;) {
        char site[512];
        const mt_sites *tab = mt_trace_stacks(t);
        size_t len = mt_sites_format(tab, top[s], 0, site, sizeof site);
        if (len >= sizeof site) len = sizeof site - 1;
        fprintf(gp, ", \\\n     %s index 0 using ($1/tunit):($%zu/unit) with filledcurves x1 lc %zu title ", MT_PW_DATA,
                s + 2, s % 9 + 1);
        mt__pw_quote(gp, site, len);
    }
    fprintf(gp, ", \\\n     %s index 1 using ($1/tunit):($2/unit) with steps lc rgb '#333333' lw 1 title 'most live'\n",
            MT_PW_DATA);
    rc = mt__pw_end(&w, diag);
out:
    free(peak);
    free(top);
    free(curve);
    mt_trace_free(t);
    return rc;
}
