/* Trend statistics over a series (libanalyze/src/stats/): how fast a
 * count grows and whether it grows at all, robust to outliers and without
 * assuming a distribution. The leak analysis (memtrace/leaks.h) rests on
 * them; they know nothing of snapshots. */
#ifndef MEMTRACE_TREND_H
#define MEMTRACE_TREND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Theil-Sen slope of y[0..n) against 0..n-1: the median of the slopes of
 * all pairs. 0 when n < 2. */
double mt_theil_sen(const double *y, size_t n);

typedef struct mt_mann_kendall {
    int64_t s;       /* Kendall's S: pairs rising minus pairs falling */
    double var;      /* variance of S under no trend, ties corrected */
    double z;        /* (S - sign(S)) / sqrt(var); 0 when S is 0 */
    double p;        /* two-sided p-value of no trend */
    int exact;       /* p from S's exact distribution (no ties, n <= 50) */
} mt_mann_kendall;

/* The Mann-Kendall test of a monotonic trend in y[0..n). Without ties and
 * for n <= 50 p is exact (S's distribution counted over permutations);
 * otherwise the normal approximation with continuity correction. n < 2
 * gives S = 0, p = 1. */
void mt_mann_kendall_test(const double *y, size_t n, mt_mann_kendall *out);

#ifdef __cplusplus
}
#endif

#endif
