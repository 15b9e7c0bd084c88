/* A notebook's memory over its cells (cells.h): the `cells` plot kind.
 * One bar a cell, from its rss before to its rss after, in the order the
 * cells ran; a mark at its peak; sessions apart by dashed lines. The data
 * holds numbers only: the script's labels are made here ("session 2",
 * "[3]"), never from the file's strings, but for the title's file name,
 * which mt__pw_title quotes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/cells.h"
#include "plot/plot_impl.h"
#include "plot/writer.h"

/* Colours (writer.c's palette): the bar of a cell that kept memory, one
 * that gave some back, a run of a growing cell. */
#define KEPT 0x4e79a7
#define FREED 0x59a14f
#define GROWING 0xe15759

/* Tic labels shown at most: more would overlap; every k-th is kept. */
#define MAX_TICS 60

int mt__plot_cells(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                   FILE *dat, mt_diag *diag) {
    (void)n;
    mt_cells *c;
    int rc = mt_cells_load(paths[0], &c, diag);
    if (rc) return rc;
    size_t nc, ns;
    const mt_cell *x = mt_cells_list(c, &nc);
    const mt_cell_session *ss = mt_cells_sessions(c, &ns);
    mt_cell_growth_set g;
    unsigned char *grows = calloc(nc, 1);
    if (!grows) {
        mt_cells_free(c);
        return mt_diag_set(diag, MT_E_NOMEM, "out of memory for the plot");
    }
    if ((rc = mt_cells_growing(c, MT_CELLS_DEFAULT_THRESHOLD, &g, diag))) goto out;
    for (size_t i = 0; i < g.n; i++)
        for (size_t r = 0; r < g.g[i].n_runs; r++) grows[g.g[i].runs[r]] = 1;
    double top = 0;
    for (size_t i = 0; i < nc; i++) {
        top = fmax(top, (double)x[i].rss_before);
        top = fmax(top, (double)mt_cell_peak_or_after(&x[i]));
    }
    double div;
    const char *unit = mt__pw_unit(top, &div);
    size_t w = 120 + 22 * nc;
    mt_pw pw;
    mt__pw_begin(&pw, k, o, paths, 1, gp, dat, w < 900 ? 900 : w > 4000 ? 4000 : (unsigned)w, 660);
    mt__pw_title(&pw, "memory by cell: %s (%zu cells, %zu session%s, %zu growing)", mt__pw_base(paths[0]), nc, ns,
                 ns == 1 ? "" : "s", g.n);
    /* Block 0: a row a cell, x its position in the order they ran. */
    mt__pw_block(&pw, "x\trss_before\trss_after\tpeak_exact\tpeak_sampled\tcolour\terror_at\tinterrupted_at\ttic\tsession"
                      "\tid");
    size_t every = nc > MAX_TICS ? (nc + MAX_TICS - 1) / MAX_TICS : 1;
    for (size_t i = 0; i < nc; i++) {
        const mt_cell *e = &x[i];
        unsigned colour = grows[i] ? GROWING : e->retained < 0 ? FREED : KEPT;
        fprintf(dat, "%zu\t%llu\t%llu\t", i + 1, (unsigned long long)e->rss_before, (unsigned long long)e->rss_after);
        if (e->peak == MT_CELL_PEAK_IS_EXACT) fprintf(dat, "%llu\tNaN\t", (unsigned long long)e->rss_peak);
        else if (e->peak == MT_CELL_PEAK_IS_SAMPLED) fprintf(dat, "NaN\t%llu\t", (unsigned long long)e->rss_peak);
        else fputs("NaN\tNaN\t", dat);
        fprintf(dat, "%u\t", colour);
        if (e->status == MT_CELL_ERROR) fprintf(dat, "%llu\tNaN\t", (unsigned long long)mt_cell_peak_or_after(e));
        else if (e->status == MT_CELL_INTERRUPTED)
            fprintf(dat, "NaN\t%llu\t", (unsigned long long)mt_cell_peak_or_after(e));
        else fputs("NaN\tNaN\t", dat);
        if (i % every == 0) fprintf(dat, "[%u]", e->exec_count);
        fprintf(dat, "\t%u\t%u\n", e->session, e->id);
    }
    fprintf(gp, "unit = %.17g\n", div);
    fprintf(gp, "set xlabel 'cells in the order they ran ([n]: execution count)'\nset ylabel 'rss (%s)'\n", unit);
    fprintf(gp, "set xrange [0.3:%zu.7]\nset yrange [0:*]\nset grid ytics\nset xtics rotate by 90 right font ',8'\n",
            nc);
    fprintf(gp, "set key below horizontal font ',9'\nset style fill solid 0.75 noborder\n");
    /* Sessions: a dashed line before each but the first, a label at each
     * start (every other one lower, so that short sessions' labels do not
     * overlap); one that did not end cleanly says so. */
    for (size_t i = 0, nth = 0; i < nc; i++) {
        if (i && x[i].session == x[i - 1].session) continue;
        if (i) fprintf(gp, "set arrow from %zu.5, graph 0 to %zu.5, graph 1 nohead dt 2 lc rgb '#555555'\n", i, i);
        int ended = 1;
        for (size_t s = 0; s < ns; s++)
            if (ss[s].session == x[i].session) ended = ss[s].ended;
        fprintf(gp, "set label 'session %u%s' at %zu.6, graph %s left font ',9'\n", x[i].session,
                ended ? "" : " (did not end cleanly)", i, nth++ % 2 ? "0.92" : "0.97");
    }
    fprintf(gp, "plot %s index 0 using 1:(($2+$3)/2/unit):($1-0.38):($1+0.38):($2/unit):($3/unit):6:xticlabels(9) "
                "with boxxyerror lc rgb variable title 'rss before to after (green: freed)', \\\n",
            MT_PW_DATA);
    fprintf(gp, "     %s index 0 using 1:($4/unit) with points pt 9 ps 1.2 lc rgb '#333333' title 'peak', \\\n",
            MT_PW_DATA);
    fprintf(gp, "     %s index 0 using 1:($5/unit) with points pt 8 ps 1.2 lc rgb '#333333' "
                "title 'peak, sampled (may miss a spike)', \\\n",
            MT_PW_DATA);
    fprintf(gp, "     %s index 0 using 1:($7/unit) with points pt 2 ps 1.6 lw 2 lc rgb '#d62728' title 'error', \\\n",
            MT_PW_DATA);
    fprintf(gp, "     %s index 0 using 1:($8/unit) with points pt 6 ps 1.6 lw 2 lc rgb '#f28e2b' title 'interrupted', \\\n",
            MT_PW_DATA);
    fprintf(gp, "     NaN with boxes lc rgb '#%06x' title 'a growing cell''s runs'\n", GROWING);
    rc = mt__pw_end(&pw, diag);
out:
    mt_cell_growth_free(&g);
    free(grows);
    mt_cells_free(c);
    return rc;
}
