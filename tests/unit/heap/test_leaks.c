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

/* One snapshot of the growing-groups fixture: objects ids[i] of type
 * types[i] (1 load, 2 cache, 3 also, 4 flat), sizes by type; the first
 * object (flat) is the root and refers to the second. */
static char *write_snap(const uint64_t *ids, const uint32_t *types, size_t n) {
    static const char *const names[] = { "", "load", "cache", "also", "flat" };
    static const uint64_t size[] = { 0, 10, 100, 10, 1 };
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    for (uint32_t t = 1; t <= 4; t++) {
        mt_type ty = { t, mt_str_c(names[t]) };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_TYPE, &ty), 0);
    }
    for (size_t i = 0; i < n; i++) {
        mt_object o = { ids[i], types[i], size[types[i]], 0, 0, 0 };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &o), 0);
    }
    mt_ref r = { 0, 1, 0, mt_str_c(NULL) }; /* flat -> the first cache entry */
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_REF, &r), 0);
    mt_root rt = { 0, mt_str_c("module"), mt_str_c("m") };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_ROOT, &rt), 0);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    return path;
}

START_TEST(growing_groups_come_ranked_by_bytes_per_snapshot) {
    /* load: 1, 5, 5 objects of 10 B, all added in one step: a one-time
     * load, bytes 10 50 50, Theil-Sen slope median(40, 20, 0) = 20.
     * also: the same shape under other ids, slope 20 too (a tie: the
     * lower group index first). cache: 1, 4, 4 objects of 100 B, two
     * evicted and two new in the last: a plateau, slope median(300, 150,
     * 0) = 150. flat: one object throughout, not growing. */
    static const uint64_t id0[] = { 200, 100, 1, 301 };
    static const uint32_t ty0[] = { 4, 2, 1, 3 };
    static const uint64_t id1[] = { 200, 100, 101, 102, 103, 1, 2, 3, 4, 5, 301, 302, 303, 304, 305 };
    static const uint32_t ty1[] = { 4, 2, 2, 2, 2, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3 };
    static const uint64_t id2[] = { 200, 100, 101, 104, 105, 1, 2, 3, 4, 5, 301, 302, 303, 304, 305 };
    char *paths[3] = { write_snap(id0, ty0, 4), write_snap(id1, ty1, 15), write_snap(id2, ty1, 15) };
    mt_leaks L;
    mt_snapshot *last;
    mt_diag d;
    mt_diag_clear(&d);
    int rc = mt_leaks_compute((const char *const *)paths, 3, 0, NULL, &L, &last, &d);
    ck_assert_msg(rc == 0, "%s: %s", d.file ? d.file : "-", d.msg);
    ck_assert_uint_eq(L.n_groups, 4);
    ck_assert_uint_eq(L.n_suspects, 0);
    ck_assert_uint_eq(L.n_growing, 3);
    const mt_leak_group *g0 = &L.groups[L.growing[0]], *g1 = &L.groups[L.growing[1]], *g2 = &L.groups[L.growing[2]];
    ck_assert_str_eq(g0->type, "cache");
    ck_assert_int_eq(g0->verdict, MT_LEAK_PLATEAU);
    ck_assert_double_eq(g0->bytes_slope, 150);
    ck_assert_int_eq(g1->verdict, MT_LEAK_ONE_TIME);
    ck_assert_int_eq(g2->verdict, MT_LEAK_ONE_TIME);
    ck_assert_double_eq(g1->bytes_slope, 20);
    ck_assert_double_eq(g2->bytes_slope, 20);
    ck_assert_uint_lt(L.growing[1], L.growing[2]);
    ck_assert_int_eq(!strcmp(g1->type, "load") + !strcmp(g2->type, "load"), 1);
    ck_assert_int_eq(!strcmp(g1->type, "also") + !strcmp(g2->type, "also"), 1);
    mt_leaks_free(&L);
    ck_assert_uint_eq(L.n_growing, 0);
    ck_assert_ptr_null(L.growing);
    mt_snapshot_free(last);
    for (int k = 0; k < 3; k++) {
        unlink(paths[k]);
        free(paths[k]);
    }
}
END_TEST

#include "point_series.h"

/* Five snapshots: "rec" grows in every one (5 a snapshot, MK p = 2/5! =
 * 1/60, confidence 1 - 1/60 over 4 of 4 generations), and so do "wref"
 * and "tiny". */
START_TEST(growth_is_judged_per_point_with_a_floor_and_one_suspect_a_cause) {
    char *paths[5];
    for (int k = 0; k < 5; k++) paths[k] = write_point_snap(k, 1);
    mt_leaks L;
    mt_snapshot *last;
    mt_diag d;
    mt_diag_clear(&d);
    int rc = mt_leaks_compute((const char *const *)paths, 5, 0, NULL, &L, &last, &d);
    ck_assert_msg(rc == 0, "%s", d.msg);
    const mt_graph *g = mt_snapshot_graph(last);
    /* The cache holds "rec" of generations 1 to 4 but stays at 4 entries:
     * no suspect. The small box adds 500 B a snapshot: under the floor.
     * The weak references are the leak's: merged into it. */
    ck_assert_uint_eq(L.floor, MT_LEAKS_FLOOR);
    ck_assert_uint_eq(L.n_suspects, 1);
    const mt_leak_suspect *sp = &L.suspects[0];
    ck_assert_uint_eq(g->id[sp->point], 2);
    ck_assert_str_eq(L.groups[sp->group].type, "rec");
    ck_assert_uint_eq(sp->type_objects_per_snapshot, 5);
    /* 5 rec and 5 wref a generation under the two points. */
    ck_assert_uint_eq(sp->objects_per_snapshot, 10);
    ck_assert_uint_eq(sp->bytes_per_snapshot, 5 * 1000 + 5 * 50);
    ck_assert_uint_eq(sp->n_also, 1);
    ck_assert_uint_eq(g->id[sp->also[0]], 4);
    ck_assert_uint_eq(sp->n_groups, 2);
    /* The points' retained bytes, found again in each snapshot: the box
     * (64 B) and its records, plus the list and its weak references. */
    for (int k = 0; k < 5; k++) ck_assert_uint_eq(sp->retained[k], 64 + 5000u * (k + 1) + 64 + 250u * (k + 1));
    ck_assert_double_eq_tol(sp->confidence, 1 - 1.0 / 60, 1e-9);
    ck_assert_double_eq_tol(sp->score, 5250 * (1 - 1.0 / 60), 1e-6);
    /* RSS grew by 80 MiB, the heap by 4 snapshots of 5 rec, 5 wref and 5
     * tiny: 4 (5000 + 250 + 500) B. */
    ck_assert_int_eq(L.rss_growth, 80 << 20);
    ck_assert_int_eq(L.heap_growth, 4 * 5750);
    ck_assert_int_eq(L.unaccounted, (80 << 20) - 4 * 5750);
    ck_assert_int_eq(L.native_growth, 1);
    mt_leaks_free(&L);
    mt_snapshot_free(last);
    /* Without a floor the small box is a suspect of its own, ranked
     * after the leak (500 B against 5250 B a snapshot). */
    mt_leaks_opts o = { .floor = 1 };
    ck_assert_int_eq(mt_leaks_compute((const char *const *)paths, 5, 0, &o, &L, &last, &d), 0);
    g = mt_snapshot_graph(last);
    ck_assert_uint_eq(L.n_suspects, 2);
    ck_assert_uint_eq(g->id[L.suspects[0].point], 2);
    ck_assert_uint_eq(g->id[L.suspects[1].point], 5);
    ck_assert_uint_eq(L.suspects[1].bytes_per_snapshot, 500);
    mt_leaks_free(&L);
    mt_snapshot_free(last);
    /* Without RSS in the meta: no native growth to tell. */
    for (int k = 0; k < 5; k++) {
        unlink(paths[k]);
        free(paths[k]);
    }
    for (int k = 0; k < 5; k++) paths[k] = write_point_snap(k, 0);
    ck_assert_int_eq(mt_leaks_compute((const char *const *)paths, 5, 0, NULL, &L, &last, &d), 0);
    ck_assert_int_eq(L.native_growth, 0);
    ck_assert_int_eq(L.rss_growth, 0);
    mt_leaks_free(&L);
    mt_snapshot_free(last);
    for (int k = 0; k < 5; k++) {
        unlink(paths[k]);
        free(paths[k]);
    }
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
    tcase_add_test(tc, generations_count_unbroken_presence);
    tcase_add_test(tc, fewer_than_three_snapshots_are_refused);
    tcase_add_test(tc, growing_groups_come_ranked_by_bytes_per_snapshot);
    tcase_add_test(tc, verdicts_are_named_both_ways);
    tcase_add_test(tc, growth_is_judged_per_point_with_a_floor_and_one_suspect_a_cause);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
