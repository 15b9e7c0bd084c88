/* Trend statistics and generations against values worked out by hand
 * (tests/python/test_leaks.py checks p-values against scipy too). */
#include <math.h>
#include "memtrace/analyze.h"
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

START_TEST(generations_count_unbroken_presence) {
    mt_generations *g;
    ck_assert_int_eq(mt_generations_new(&g), 0);
    uint32_t b[4];
    uint64_t s0[] = { 1, 2, 3 }, s1[] = { 1, 3, 4 }, s2[] = { 1, 2, 4, 4 };
    ck_assert_int_eq(mt_generations_next(g, s0, 3, b), 0);
    ck_assert_uint_eq(b[0], 0);
    ck_assert_int_eq(mt_generations_next(g, s1, 3, b), 0);
    ck_assert_uint_eq(b[0], 0); /* 1 stayed */
    ck_assert_uint_eq(b[1], 0); /* 3 stayed */
    ck_assert_uint_eq(b[2], 1); /* 4 is new */
    ck_assert_int_eq(mt_generations_next(g, s2, 4, b), 0);
    ck_assert_uint_eq(b[0], 0);
    ck_assert_uint_eq(b[1], 2); /* 2 came back: born again */
    ck_assert_uint_eq(b[2], 1);
    ck_assert_uint_eq(b[3], 1); /* a duplicate shares the birth */
    mt_generations_free(g);
    /* Size tells reused addresses apart, except for types that resize. */
    mt_str by = mt_str_c("bytes"), li = mt_str_c("list");
    ck_assert(mt_identity_key(7, by, 40) != mt_identity_key(7, by, 41));
    ck_assert(mt_identity_key(7, li, 40) == mt_identity_key(7, li, 400));
    ck_assert(mt_identity_key(7, by, 40) != mt_identity_key(7, li, 40));
}
END_TEST

START_TEST(fewer_than_three_snapshots_are_refused) {
    const char *paths[] = { "a", "b" };
    mt_leaks L;
    mt_snapshot *last;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_leaks_compute(paths, 2, 0, NULL, &L, &last, &d), MT_E_INVAL);
    ck_assert_ptr_nonnull(strstr(d.msg, "at least 3 snapshots"));
    const char *missing[] = { "/nonexistent/a.snap", "/nonexistent/b.snap", "/nonexistent/c.snap" };
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_leaks_compute(missing, 3, 0, NULL, &L, &last, &d), MT_E_IO);
    ck_assert_str_eq(d.file, "/nonexistent/a.snap");
    ck_assert_ptr_null(last);
}
END_TEST

/* Each value's name reads back to the value; a name not in the table
 * (another spelling, another case, empty) is refused and leaves *out
 * alone; one past the last value has no name. */
START_TEST(verdicts_are_named_both_ways) {
    static const struct {
        mt_leak_verdict v;
        const char *name;
    } t[] = {
        { MT_LEAK_NONE, "none" },
        { MT_LEAK_SUSPECT, "suspect" },
        { MT_LEAK_PLATEAU, "plateau" },
        { MT_LEAK_ONE_TIME, "one-time" },
        { MT_LEAK_NOISE, "noise" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        ck_assert_str_eq(mt_leak_verdict_name(t[i].v), t[i].name);
        mt_leak_verdict v = (mt_leak_verdict)99;
        ck_assert_int_eq(mt_leak_verdict_from_name(t[i].name, &v), 0);
        ck_assert_int_eq(v, t[i].v);
    }
    ck_assert_str_eq(mt_leak_verdict_name((mt_leak_verdict)(MT_LEAK_NOISE + 1)), "?");
    const char *misses[] = { "one_time", "Suspect", "" };
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        mt_leak_verdict v = MT_LEAK_NOISE;
        ck_assert_int_eq(mt_leak_verdict_from_name(misses[i], &v), MT_E_INVAL);
        ck_assert_int_eq(v, MT_LEAK_NOISE);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("leaks");
    TCase *tc = tcase_create("leaks");
    tcase_add_test(tc, theil_sen_is_the_median_pairwise_slope);
    tcase_add_test(tc, mann_kendall_exact_and_with_ties);
    tcase_add_test(tc, generations_count_unbroken_presence);
    tcase_add_test(tc, fewer_than_three_snapshots_are_refused);
    tcase_add_test(tc, verdicts_are_named_both_ways);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
