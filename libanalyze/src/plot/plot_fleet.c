/* Many workers' memory side by side (fleet.h): the `fleet` plot kind. One
 * bar a worker, stacked heap, DataFrames and unmanaged memory (which add
 * up to its rss where the dump has it), the median worker's rss as a
 * dashed line, outliers in red with their z-score. Worker names reach the
 * data through mt__pw_field only. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/fleet.h"
#include "memtrace/units.h"
#include "plot/plot_impl.h"
#include "plot/writer.h"

#define OUTLIER 0xe15759

int mt__plot_fleet(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                   FILE *dat, mt_diag *diag) {
    char **files;
    size_t nf;
    int rc = mt_fleet_paths(paths, n, &files, &nf, diag);
    if (rc) return rc;
    mt_fleet F;
    mt_fleet_opts fo = { 0 };
    fo.no_leaks = 1; /* the picture shows totals and outliers only */
    rc = mt_fleet_compute((const char *const *)files, nf, &fo, &F, diag);
    if (rc) {
        mt_fleet_paths_free(files, nf);
        return rc;
    }
    size_t rows = F.n_workers;
    double hi = 0;
    for (size_t i = 0; i < rows; i++) {
        const uint64_t *v = F.workers[i].values;
        double total = (double)(v[MT_FLEET_HEAP] + v[MT_FLEET_FRAMES] + v[MT_FLEET_UNMANAGED]);
        hi = fmax(hi, total);
    }
    double div;
    const char *unit = mt__pw_unit(hi, &div);
    mt_pw w;
    mt__pw_begin(&w, k, o, paths, n, gp, dat, 1000, mt__pw_bars_height(rows));
    mt__pw_title(&w, "memory by worker: %zu workers, %zu outlier%s (robust z above %.3g)", rows, F.n_outliers,
                 F.n_outliers == 1 ? "" : "s", F.threshold);
    /* Block 0: a row a worker, the first on top. */
    mt__pw_block(&w, "y\theap\tframes\tunmanaged\toutlier\tworker\tlabel");
    for (size_t i = 0; i < rows; i++) {
        const mt_fleet_worker *fw = &F.workers[i];
        char a[16], z[48] = "";
        if (fw->outlier) snprintf(z, sizeof z, ", outlier: %s z = %.1f", mt_fleet_metric_name(fw->worst), fw->z[fw->worst]);
        fprintf(dat, "%zu\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%d\t", rows - 1 - i, fw->values[MT_FLEET_HEAP],
                fw->values[MT_FLEET_FRAMES], fw->values[MT_FLEET_UNMANAGED], fw->outlier);
        mt__pw_field(dat, fw->name, strlen(fw->name));
        fprintf(dat, "\t%s%s\n", mt_human_bytes(fw->has_rss ? fw->values[MT_FLEET_RSS] : fw->values[MT_FLEET_HEAP], a), z);
    }
    fprintf(gp, "unit = %.1f\n", div);
    mt__pw_bars_axes(&w, rows, 0, hi > 0 ? hi / div * 1.45 : 1, unit, "bytes (heap + frames + unmanaged = rss)");
    if (F.spread[MT_FLEET_RSS].n)
        fprintf(gp, "set arrow from %.6g, graph 0 to %.6g, graph 1 nohead dt 2 lc rgb '#555555'\n",
                F.spread[MT_FLEET_RSS].median / div, F.spread[MT_FLEET_RSS].median / div);
    fprintf(gp, "set key below horizontal font ',9'\nset style fill solid 0.8 noborder\n");
    fprintf(gp,
            "plot %1$s index 0 using (0):1:(''):ytic(6) with labels notitle, \\\n"
            "     %1$s index 0 using (0):1:(0):($2/unit):($1-0.4):($1+0.4) with boxxyerror lc rgb '#4e79a7' "
            "title 'heap', \\\n"
            "     %1$s index 0 using (0):1:($2/unit):(($2+$3)/unit):($1-0.4):($1+0.4) with boxxyerror "
            "lc rgb '#f28e2b' title 'DataFrames', \\\n"
            "     %1$s index 0 using (0):1:(($2+$3)/unit):(($2+$3+$4)/unit):($1-0.4):($1+0.4) with boxxyerror "
            "lc rgb '#bab0ac' title 'unmanaged', \\\n"
            "     %1$s index 0 using (($2+$3+$4)/unit):1:($5 > 0 ? stringcolumn(7) : '') with labels left offset 0.6,0 "
            "font ',9' tc rgb '#%2$06x' notitle, \\\n"
            "     %1$s index 0 using (($2+$3+$4)/unit):1:($5 > 0 ? '' : stringcolumn(7)) with labels left offset 0.6,0 "
            "font ',9' notitle, \\\n"
            "     NaN with lines dt 2 lc rgb '#555555' title 'median rss'\n",
            MT_PW_DATA, OUTLIER);
    rc = mt__pw_end(&w, diag);
    mt_fleet_free(&F);
    mt_fleet_paths_free(files, nf);
    return rc;
}
