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

/* Theil-Sen slope of y against x over n points (x need not be evenly
 * spaced or sorted; pairs with equal x are skipped): the median of the
 * pairwise slopes, with Sen's (1968) distribution-free confidence
 * interval from Kendall's S: with N the usable pairs and
 * C = z * sqrt(n (n - 1) (2n + 5) / 18), *lo and *hi are the pairwise
 * slopes of rank (N - C) / 2 and (N + C) / 2 + 1 (clamped to the ends).
 * z is the two-sided normal quantile of the interval (1.96 for 95%).
 * The pairs are counted in memory (8 bytes each): a caller bounds n.
 * @return the number of usable pairs (0: *slope, *lo and *hi are 0, also
 *         when n < 2 or memory runs out). */
size_t mt_theil_sen_xy(const double *x, const double *y, size_t n, double z, double *slope, double *lo,
                       double *hi);

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
