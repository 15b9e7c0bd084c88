/* Theil-Sen and Mann-Kendall (memtrace/trend.h) against values worked out
 * by hand (tests/python/test_leaks.py checks p-values against scipy too). */
#include <math.h>
#include "memtrace/trend.h"
#include "../helpers.h"

START_TEST(theil_sen_is_the_median_pairwise_slope) {
    /* Pairs of 1, 2, 4, 3: slopes 1, 1.5, 0.667, 2, 0.5, -1; median of
     * the six sorted (-1, .5, .667, 1, 1.5, 2) is (0.667 + 1) / 2. */
    double y[] = { 1, 2, 4, 3 };
    ck_assert_double_eq_tol(mt_theil_sen(y, 4), (2.0 / 3 + 1) / 2, 1e-12);
    /* An outlier does not move it: 0, 1, 2, 100, 4 -> slope 1. */
    double z[] = { 0, 1, 2, 100, 4 };
    ck_assert_double_eq_tol(mt_theil_sen(z, 5), 1.0, 1e-12);
    ck_assert_double_eq(mt_theil_sen(y, 1), 0);
}
END_TEST

START_TEST(mann_kendall_exact_and_with_ties) {
    mt_mann_kendall mk;
    /* Strictly rising, n = 6: S = 15, and only the identity permutation
     * (and its reverse, for the two-sided test) reach |S| = 15: p = 2/720. */
    double up[] = { 1, 2, 3, 4, 5, 6 };
    mt_mann_kendall_test(up, 6, &mk);
    ck_assert_int_eq(mk.s, 15);
    ck_assert_int_eq(mk.exact, 1);
    ck_assert_double_eq_tol(mk.p, 2.0 / 720, 1e-12);
    ck_assert_double_eq_tol(mk.var, 6.0 * 5 * 17 / 18, 1e-9);
    /* n = 4, one swap (1, 3, 2, 4): S = 5 - 1 = 4. Permutations of 4 with 0
     * or 1 inversions (|S| >= 4): 1 + 3, and as many mirrored: p = 8/24. */
    double one[] = { 1, 3, 2, 4 };
    mt_mann_kendall_test(one, 4, &mk);
    ck_assert_int_eq(mk.s, 4);
    ck_assert_double_eq_tol(mk.p, 8.0 / 24, 1e-12);
    /* Ties, n = 5 (1, 2, 2, 3, 3): S = 8; var = (5*4*15 - 2*(2*1*9)) / 18
     * = 264 / 18; z = 7 / sqrt(14.667) = 1.8278; p = 2 (1 - Phi(z)). */
    double tie[] = { 1, 2, 2, 3, 3 };
    mt_mann_kendall_test(tie, 5, &mk);
    ck_assert_int_eq(mk.s, 8);
    ck_assert_int_eq(mk.exact, 0);
    ck_assert_double_eq_tol(mk.var, 264.0 / 18, 1e-9);
    ck_assert_double_eq_tol(mk.z, 7 / sqrt(264.0 / 18), 1e-12);
    ck_assert_double_eq_tol(mk.p, erfc(7 / sqrt(264.0 / 18) / sqrt(2.0)), 1e-12);
    ck_assert_double_eq_tol(mk.p, 0.06758, 1e-5); /* normal table: 2 * (1 - 0.96621) */
    /* Flat: no trend at all. */
    double flat[] = { 2, 2, 2 };
    mt_mann_kendall_test(flat, 3, &mk);
    ck_assert_int_eq(mk.s, 0);
    ck_assert_double_eq(mk.p, 1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("trend");
    TCase *tc = tcase_create("trend");
    tcase_add_test(tc, theil_sen_is_the_median_pairwise_slope);
    tcase_add_test(tc, mann_kendall_exact_and_with_ties);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
