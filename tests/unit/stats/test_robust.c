/* Median, MAD and the robust z-score (memtrace/robust.h) against values
 * worked out by hand. */
#include <math.h>
#include "memtrace/robust.h"
#include "../helpers.h"

START_TEST(median_odd_even_and_empty) {
    double odd[] = { 7, 1, 3 };
    ck_assert_double_eq(mt_median_inplace(odd, 3), 3);
    double even[] = { 4, 1, 3, 10 }; /* sorted 1 3 4 10: (3 + 4) / 2 */
    ck_assert_double_eq(mt_median_inplace(even, 4), 3.5);
    ck_assert_double_eq(mt_median_inplace(NULL, 0), 0);
}
END_TEST

START_TEST(mad_and_z_by_hand) {
    /* 1 2 3 4 100: median 3; deviations 2 1 0 1 97, sorted 0 1 1 2 97:
     * MAD 1. z of 100 = 97 / 1.4826 = 65.425...; of 1 = -2 / 1.4826. */
    double x[] = { 1, 2, 3, 4, 100 };
    double med = mt_median_inplace(x, 5);
    ck_assert_double_eq(med, 3);
    double mad = mt_mad_inplace(x, 5, med);
    ck_assert_double_eq(mad, 1);
    ck_assert_double_eq_tol(mt_robust_z(100, med, mad, 0), 97 / 1.4826, 1e-12);
    ck_assert_double_eq_tol(mt_robust_z(1, med, mad, 0), -2 / 1.4826, 1e-12);
    /* The floor: a scale of 10 instead of 1.4826. */
    ck_assert_double_eq_tol(mt_robust_z(100, med, mad, 10), 9.7, 1e-12);
}
END_TEST

START_TEST(identical_values_give_no_outlier) {
    /* Four identical workers and a fifth 1% above: MAD 0. Without a floor
     * the fifth is infinitely far; with a floor of 5% of the median it
     * is 0.2 scales away, and the identical ones 0. */
    double x[] = { 100, 100, 100, 100, 101 };
    double med = mt_median_inplace(x, 5);
    double mad = mt_mad_inplace(x, 5, med);
    ck_assert_double_eq(mad, 0);
    ck_assert_double_eq(mt_robust_z(100, med, mad, 0), 0);
    ck_assert(isinf(mt_robust_z(101, med, mad, 0)));
    ck_assert_double_eq_tol(mt_robust_z(101, med, mad, 0.05 * med), 0.2, 1e-12);
    ck_assert_double_eq(mt_robust_z(100, med, mad, 0.05 * med), 0);
    /* One worker three times the others: 200 / 5 = 40 scales, far above 3.5. */
    ck_assert_double_eq_tol(mt_robust_z(300, med, mad, 0.05 * med), 40, 1e-12);
}
END_TEST

int main(void) {
    Suite *s = suite_create("robust");
    TCase *tc = tcase_create("robust");
    tcase_add_test(tc, median_odd_even_and_empty);
    tcase_add_test(tc, mad_and_z_by_hand);
    tcase_add_test(tc, identical_values_give_no_outlier);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
