/* The plot kinds, which plot.c's table lists; each writes through
 * writer.h. */
#ifndef MT_PLOT_IMPL_H
#define MT_PLOT_IMPL_H

#include <stdio.h>
#include "memtrace/plot.h"
#include "plot/writer.h"

/* The kinds. */
int mt__plot_timeline(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                     FILE *dat, mt_diag *diag);
int mt__plot_diff(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp, FILE *dat,
                 mt_diag *diag);
int mt__plot_frames(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                   FILE *dat, mt_diag *diag);
int mt__plot_leaks(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp, FILE *dat,
                  mt_diag *diag);
int mt__plot_trace(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                   FILE *dat, mt_diag *diag);
int mt__plot_retained(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                     FILE *dat, mt_diag *diag);
int mt__plot_fleet(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                   FILE *dat, mt_diag *diag);
int mt__plot_cells(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                   FILE *dat, mt_diag *diag);
int mt__plot_gpu_segments(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o,
                          FILE *gp, FILE *dat, mt_diag *diag);
int mt__plot_gpu_timeline(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                          FILE *dat, mt_diag *diag);

#endif
