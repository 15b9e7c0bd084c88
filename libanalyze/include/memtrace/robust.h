/* Robust spread statistics (libanalyze/src/stats/robust.c): the median,
 * the median absolute deviation and the z-score built on them, which one
 * far value cannot drag the way it drags a mean and a standard deviation.
 * The fleet view (memtrace/fleet.h) finds outlying workers with them; they
 * know nothing of snapshots. */
#ifndef MEMTRACE_ROBUST_H
#define MEMTRACE_ROBUST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 / Phi^-1(3/4): scales the MAD to estimate a normal distribution's
 * standard deviation (Iglewicz and Hoaglin, 1993). */
#define MT_MAD_SCALE 1.4826

/* The median of x[0..n): the middle value, or the mean of the two middle
 * ones for an even n; 0 when n is 0. x is sorted in place (a caller that
 * needs its order passes a copy). */
double mt_median_inplace(double *x, size_t n);

/* The median absolute deviation of x[0..n) from med: the median of
 * |x[i] - med|. x is overwritten with those deviations (sorted). 0 when n
 * is 0. */
double mt_mad_inplace(double *x, size_t n, double med);

/* The robust (modified) z-score of v: (v - med) / scale, with scale the
 * larger of MT_MAD_SCALE * mad and floor. A floor above 0 keeps a spread
 * of nearly identical values (mad 0) from calling a tiny difference far;
 * with both 0, v == med gives 0 and any other v +-HUGE_VAL. */
double mt_robust_z(double v, double med, double mad, double floor);

#ifdef __cplusplus
}
#endif
#endif
