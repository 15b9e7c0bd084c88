/* The fleet view (memtrace/fleet.h) on hand-made dumps whose medians, MAD
 * and z-scores are worked out by hand below. */
#include <math.h>
#include "memtrace/fleet.h"
#include "memtrace/format.h"
#include "../helpers.h"

#define MiB (1024.0 * 1024)

/* A dump of worker name: a MiB objects of type "a", b MiB of "b" (objects
 * of 1 MiB), rss meta heap + 50 MiB. */
static char *write_dump(const char *name, unsigned a, unsigned b) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    ck_assert_int_eq(mt_writer_meta_str(w, "label.worker", name), 0);
    ck_assert_int_eq(mt_writer_meta_str(w, "host", "h"), 0);
    ck_assert_int_eq(mt_writer_meta_uint(w, "rss", (uint64_t)((a + b + 50) * MiB)), 0);
    mt_type ta = { 1, mt_str_c("a") }, tb = { 2, mt_str_c("b") };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_TYPE, &ta), 0);
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_TYPE, &tb), 0);
    uint64_t id = 1;
    for (unsigned i = 0; i < a + b; i++) {
        mt_object o = { id++, i < a ? 1 : 2, (uint64_t)MiB, 0, 0, 0 };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &o), 0);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    return path;
}

START_TEST(outlier_by_robust_z_and_what_sets_it_apart) {
    /* Heaps (MiB): w1 11 (its earlier dump 5 is not its latest), w2 12,
     * w3 11, w4 10, w5 30. Median 11; deviations 0 1 0 1 19: MAD 1 MiB;
     * scale max(1.4826 MiB, 5% of 11 MiB, 1 MiB) = 1.4826 MiB; z of w5 =
     * 19 / 1.4826 = 12.8, of w2 = 0.674. Type b: 1 2 1 0 20, median 1:
     * w5 holds 19 MiB of b above the median worker, and a (10 = median 10)
     * nothing. */
    char *p[6] = {
        write_dump("w1", 5, 0), write_dump("w1", 10, 1), write_dump("w2", 10, 2),
        write_dump("w3", 10, 1), write_dump("w4", 10, 0), write_dump("w5", 10, 20),
    };
    mt_fleet F;
    mt_fleet_opts o = { 0 };
    o.no_leaks = 1;
    mt_diag d = { .file = NULL };
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_fleet_compute((const char *const *)p, 6, &o, &F, &d), 0);
    ck_assert_uint_eq(F.n_workers, 5);
    ck_assert_str_eq(F.workers[0].name, "w1");
    ck_assert_uint_eq(F.workers[0].n_dumps, 2);
    ck_assert_uint_eq(F.workers[0].values[MT_FLEET_HEAP], (uint64_t)(11 * MiB));
    ck_assert_double_eq(F.spread[MT_FLEET_HEAP].median, 11 * MiB);
    ck_assert_double_eq(F.spread[MT_FLEET_HEAP].mad, 1 * MiB);
    ck_assert_double_eq(F.spread[MT_FLEET_HEAP].max, 30 * MiB);
    ck_assert_uint_eq(F.spread[MT_FLEET_HEAP].max_worker, 4);
    ck_assert_double_eq_tol(F.workers[4].z[MT_FLEET_HEAP], 19 / 1.4826, 1e-9);
    ck_assert_double_eq_tol(F.workers[1].z[MT_FLEET_HEAP], 1 / 1.4826, 1e-9);
    /* Unmanaged is 50 MiB everywhere: z 0. */
    ck_assert_uint_eq(F.workers[4].values[MT_FLEET_UNMANAGED], (uint64_t)(50 * MiB));
    ck_assert_double_eq(F.workers[4].z[MT_FLEET_UNMANAGED], 0);
    ck_assert_uint_eq(F.n_outliers, 1);
    ck_assert_int_eq(F.workers[4].outlier, 1);
    ck_assert_int_eq(F.workers[4].worst, MT_FLEET_HEAP);
    for (int k = 0; k < 4; k++) ck_assert_int_eq(F.workers[k].outlier, 0);
    ck_assert_uint_eq(F.workers[4].n_types, 1);
    ck_assert_str_eq(F.workers[4].types[0].name, "b");
    ck_assert_uint_eq(F.workers[4].types[0].count, 20);
    ck_assert_double_eq(F.workers[4].types[0].median_count, 1);
    ck_assert_double_eq(F.workers[4].types[0].median_bytes, 1 * MiB);
    ck_assert_int_eq(F.workers[4].types[0].delta_bytes, (int64_t)(19 * MiB));
    ck_assert_int_eq(F.leaks_done, 0);
    mt_fleet_free(&F);
    /* A threshold above 12.8 leaves no outlier. */
    o.threshold = 13;
    ck_assert_int_eq(mt_fleet_compute((const char *const *)p, 6, &o, &F, &d), 0);
    ck_assert_uint_eq(F.n_outliers, 0);
    mt_fleet_free(&F);
    for (int i = 0; i < 6; i++) {
        unlink(p[i]);
        free(p[i]);
    }
}
END_TEST

START_TEST(identical_workers_give_no_outlier) {
    char *p[4] = { write_dump("a", 10, 1), write_dump("b", 10, 1), write_dump("c", 10, 1), write_dump("d", 10, 1) };
    mt_fleet F;
    mt_fleet_opts o = { 0 };
    o.no_leaks = 1;
    mt_diag d = { .file = NULL };
    ck_assert_int_eq(mt_fleet_compute((const char *const *)p, 4, &o, &F, &d), 0);
    ck_assert_double_eq(F.spread[MT_FLEET_HEAP].mad, 0);
    ck_assert_uint_eq(F.n_outliers, 0);
    for (int k = 0; k < 4; k++) ck_assert_double_eq(F.workers[k].z[MT_FLEET_HEAP], 0);
    mt_fleet_free(&F);
    for (int i = 0; i < 4; i++) {
        unlink(p[i]);
        free(p[i]);
    }
}
END_TEST

START_TEST(a_missing_file_is_named) {
    const char *p[] = { "/nonexistent/x.snap" };
    mt_fleet F;
    mt_diag d = { .file = NULL };
    mt_diag_clear(&d);
    ck_assert_int_lt(mt_fleet_compute(p, 1, NULL, &F, &d), 0);
    ck_assert_str_eq(d.file, "/nonexistent/x.snap");
    mt_fleet_free(&F);
    ck_assert_int_eq(mt_fleet_compute(p, 0, NULL, &F, &d), MT_E_INVAL);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fleet");
    TCase *tc = tcase_create("fleet");
    tcase_add_test(tc, outlier_by_robust_z_and_what_sets_it_apart);
    tcase_add_test(tc, identical_workers_give_no_outlier);
    tcase_add_test(tc, a_missing_file_is_named);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
