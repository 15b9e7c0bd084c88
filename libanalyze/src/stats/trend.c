/* Trend statistics for series of snapshots (leaks.h). */
#include <math.h>
#include <stdlib.h>
#include "memtrace/trend.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double mt_theil_sen(const double *y, size_t n) {
    if (n < 2) return 0;
    size_t m = n * (n - 1) / 2, k = 0;
    double *s = malloc(m * sizeof *s);
    if (!s) return 0; /* series are short: only a broken malloc gets here */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) s[k++] = (y[j] - y[i]) / (double)(j - i);
    qsort(s, m, sizeof *s, cmp_double);
    double med = m % 2 ? s[m / 2] : (s[m / 2 - 1] + s[m / 2]) / 2;
    free(s);
    return med;
}

size_t mt_theil_sen_xy(const double *x, const double *y, size_t n, double z, double *slope, double *lo,
                       double *hi) {
    *slope = *lo = *hi = 0;
    if (n < 2 || n > (size_t)1 << 30) return 0;
    size_t m = n * (n - 1) / 2, k = 0;
    double *s = malloc(m * sizeof *s);
    if (!s) return 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (x[j] != x[i]) s[k++] = (y[j] - y[i]) / (x[j] - x[i]);
    if (!k) {
        free(s);
        return 0;
    }
    qsort(s, k, sizeof *s, cmp_double);
    *slope = k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
    double c = z * sqrt((double)n * (double)(n - 1) * (2.0 * (double)n + 5) / 18);
    double r1 = ((double)k - c) / 2, r2 = ((double)k + c) / 2 + 1; /* 1-based ranks */
    size_t i1 = r1 < 1 ? 0 : (size_t)floor(r1) - 1, i2 = r2 > (double)k ? k - 1 : (size_t)ceil(r2) - 1;
    if (i1 >= k) i1 = k - 1;
    *lo = s[i1];
    *hi = s[i2];
    free(s);
    return k;
}

/* P(|S| >= |s|) for n values without ties: S = M - 2D, where D, the
 * inversions of a random permutation, follows the Mahonian numbers. */
static double exact_p(int64_t s, size_t n) {
    size_t M = n * (n - 1) / 2;
    double *c = calloc(M + 1, sizeof *c), *nc = calloc(M + 1, sizeof *nc);
    if (!c || !nc) {
        free(c);
        free(nc);
        return NAN;
    }
    c[0] = 1;
    size_t top = 0;
    for (size_t k = 2; k <= n; k++) { /* inserting the k-th element adds 0..k-1 inversions */
        size_t ntop = top + k - 1;
        for (size_t d = 0; d <= ntop; d++) {
            double v = 0;
            for (size_t j = 0; j < k && j <= d; j++)
                if (d - j <= top) v += c[d - j];
            nc[d] = v;
        }
        for (size_t d = 0; d <= ntop; d++) c[d] = nc[d];
        top = ntop;
    }
    double total = 0, tail = 0;
    int64_t as = s < 0 ? -s : s;
    for (size_t d = 0; d <= M; d++) {
        int64_t sd = (int64_t)M - 2 * (int64_t)d;
        total += c[d];
        if ((sd < 0 ? -sd : sd) >= as) tail += c[d];
    }
    free(c);
    free(nc);
    return tail / total;
}

void mt_mann_kendall_test(const double *y, size_t n, mt_mann_kendall *out) {
    out->s = 0;
    out->var = 0;
    out->z = 0;
    out->p = 1;
    out->exact = 0;
    if (n < 2) return;
    int ties = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            out->s += (y[j] > y[i]) - (y[j] < y[i]);
            ties |= y[j] == y[i];
        }
    /* Variance, corrected for each group of t equal values. */
    double v = (double)n * (double)(n - 1) * (double)(2 * n + 5);
    char *done = calloc(n, 1);
    for (size_t i = 0; done && i < n; i++) {
        if (done[i]) continue;
        double t = 0;
        for (size_t j = i; j < n; j++)
            if (y[j] == y[i]) {
                done[j] = 1;
                t++;
            }
        v -= t * (t - 1) * (2 * t + 5);
    }
    free(done);
    out->var = v / 18;
    if (out->s) out->z = ((double)out->s - (out->s > 0 ? 1 : -1)) / sqrt(out->var);
    if (!ties && n <= 50) {
        double p = exact_p(out->s, n);
        if (!isnan(p)) {
            out->p = p;
            out->exact = 1;
            return;
        }
    }
    out->p = out->var > 0 ? erfc(fabs(out->z) / sqrt(2.0)) : 1;
}
