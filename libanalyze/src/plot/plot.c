/* The plot kinds' table, and the checks every kind's options pass before
 * the kind writes (through writer.c). */
#include <string.h>
#include "common/nametable.h"
#include "plot/plot_impl.h"

/* New kinds (GPU, allocation traces) go here; the tool's help, its man
 * page's list and its checks follow this table. */
static const mt_plot_kind kinds[] = {
    { "timeline", "FILE...", 1, (size_t)-1, 0,
      "memory over time: a pipeline's samples with its steps, or one point a snapshot (rss, traced, heap)",
      mt__plot_timeline },
    { "diff", "A B", 2, 2, 20, "the groups that grew (or shrank) most from A to B, as bars", mt__plot_diff },
    { "frames", "FILE", 1, 1, 30, "DataFrames as stacked bars of their columns' and index's bytes", mt__plot_frames },
    { "leaks", "FILE FILE FILE...", 3, (size_t)-1, 8,
      "objects per type across a snapshot series, and the last one's survivors by birth generation",
      mt__plot_leaks },
    { "retained", "FILE", 1, 1, 20, "the objects that retain the most memory, with their paths from roots",
      mt__plot_retained },
    { "trace", "FILE", 1, 1, 8, "an allocation trace's live bytes over time, its top sites at the peak stacked",
      mt__plot_trace },
    { "cells", "FILE", 1, 1, 0,
      "a notebook's cell log: each cell's rss before, after and at its peak, sessions, errors and growing cells",
      mt__plot_cells },
    { "fleet", "FILE...|DIR", 1, (size_t)-1, 0,
      "many workers' dumps: a bar a worker (heap, DataFrames, unmanaged), the median rss, outliers in red",
      mt__plot_fleet },
    { "gpu-segments", "FILE", 1, 1, 40,
      "a GPU allocator's segments as rows of blocks in use, pending free and free, the last OOM in the title",
      mt__plot_gpu_segments },
    { "gpu-timeline", "FILE...", 1, 64, 0,
      "active and reserved GPU bytes over the allocator's trace, per device of each file, OOMs marked",
      mt__plot_gpu_timeline },
};

const mt_plot_kind *mt_plot_kinds(size_t *n) {
    *n = sizeof kinds / sizeof kinds[0];
    return kinds;
}

int mt_plot_kind_from_name(const char *name, const mt_plot_kind **out) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i].name, name)) {
            *out = &kinds[i];
            return 0;
        }
    return MT_E_INVAL;
}

static const char *const format_names[] = { "png", "svg" };

const char *mt_plot_format_name(mt_plot_format f) { return mt__name_of(format_names, MT__NAMES_N(format_names), (unsigned)f); }

int mt_plot_format_from_name(const char *name, mt_plot_format *out) {
    int i = mt__name_find(format_names, MT__NAMES_N(format_names), name);
    if (i < 0) return MT_E_INVAL;
    *out = (mt_plot_format)i;
    return 0;
}

int mt_plot_write(const mt_plot_kind *kind, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *script,
                  FILE *data, mt_diag *diag) {
    if (n < kind->min_files || n > kind->max_files) {
        if (kind->min_files == kind->max_files)
            return mt_diag_set(diag, MT_E_INVAL, "a %s plot takes %zu file%s, not %zu", kind->name, kind->min_files,
                               kind->min_files == 1 ? "" : "s", n);
        return mt_diag_set(diag, MT_E_INVAL, "a %s plot takes at least %zu file%s, not %zu", kind->name,
                           kind->min_files, kind->min_files == 1 ? "" : "s", n);
    }
    if (o->top && !kind->default_top)
        return mt_diag_set(diag, MT_E_INVAL, "--top does not apply to a %s plot", kind->name);
    if (o->by != MT_BY_TYPE && kind->write != mt__plot_diff)
        return mt_diag_set(diag, MT_E_INVAL, "--by applies to a diff plot only");
    return kind->write(kind, paths, n, o, script, data, diag);
}
