/* Median, MAD and the robust z-score (memtrace/robust.h). */
#include <math.h>
#include <stdlib.h>
#include "memtrace/robust.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double mt_median_inplace(double *x, size_t n) {
    if (!n) return 0;
    qsort(x, n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

double mt_mad_inplace(double *x, size_t n, double med) {
    for (size_t i = 0; i < n; i++) x[i] = fabs(x[i] - med);
    return mt_median_inplace(x, n);
}

double mt_robust_z(double v, double med, double mad, double floor) {
    double scale = MT_MAD_SCALE * mad;
    if (scale < floor) scale = floor;
    if (v == med) return 0;
    if (scale <= 0) return v > med ? HUGE_VAL : -HUGE_VAL;
    return (v - med) / scale;
}
