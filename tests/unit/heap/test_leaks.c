/* Generations and the leak analysis against values worked out by hand
 * (the trend statistics are tests/unit/stats/test_trend.c). */
#include <math.h>
#include "memtrace/analyze.h"
#include "../helpers.h"

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

int main(void) {
    Suite *s = suite_create("leaks");
    TCase *tc = tcase_create("leaks");
    tcase_add_test(tc, generations_count_unbroken_presence);
    tcase_add_test(tc, fewer_than_three_snapshots_are_refused);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
