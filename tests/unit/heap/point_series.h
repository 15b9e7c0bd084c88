/* A five-snapshot series of accumulation points, shared by the leak
 * analysis's tests (tests/unit/heap/test_leaks.c) and its allocation
 * failure test (tests/unit/nomem/test_nomem.c). Needs helpers.h's
 * tmp_path and Check. */
#ifndef MT_TEST_POINT_SERIES_H
#define MT_TEST_POINT_SERIES_H

#include <check.h>
#include "memtrace/format.h"

/* Snapshot k of the per-point fixture (ids are stable across snapshots):
 *   0 root "mod" (64 B) refers to the four containers below;
 *   1 "leakbox" holds 5 (k + 1) "rec" of 1000 B: the leak, +5000 B a snapshot;
 *   2 "cachebox" holds 4 "rec" of 1000 B, one of the oldest evicted and one
 *     new each snapshot (entries of every generation, a constant size);
 *   3 "wlist" holds one "wref" of 50 B per record, each with a weak
 *     reference to its record: logging's handler list beside its loggers;
 *   4 "smallbox" holds 5 (k + 1) "tiny" of 100 B: +500 B a snapshot.
 * RSS is 100 MiB + 20 MiB a snapshot when rss is set. */
static char *write_point_snap(int k, int rss) {
    static const char *const names[] = { "", "mod", "leakbox", "cachebox", "wlist", "smallbox", "rec", "wref", "tiny" };
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    if (rss) ck_assert_int_eq(mt_writer_meta_uint(w, "rss", (100u << 20) + (uint64_t)k * (20u << 20)), 0);
    for (uint32_t t = 1; t <= 8; t++) {
        mt_type ty = { t, mt_str_c(names[t]) };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_TYPE, &ty), 0);
    }
    uint32_t n = 0;
#define OBJ(id_, type_, size_)                                                                                         \
    do {                                                                                                               \
        mt_object o = { (id_), (type_), (size_), 0, 0, 0 };                                                            \
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &o), 0);                                                     \
        n++;                                                                                                           \
    } while (0)
#define REF(a, b, f)                                                                                                   \
    do {                                                                                                               \
        mt_ref r = { (a), (b), (f), mt_str_c(NULL) };                                                                  \
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_REF, &r), 0);                                                        \
    } while (0)
    for (uint32_t c = 1; c <= 5; c++) OBJ(c, c, 64);
    for (uint32_t c = 1; c <= 4; c++) REF(0, c, 0);
    uint32_t recs = 5 * (uint32_t)(k + 1), first_rec = n;
    for (uint32_t j = 0; j < recs; j++) {
        OBJ(1000 + j, 6, 1000);
        REF(1, n - 1, 0);
    }
    /* The cache: entries 2000 + k .. 2000 + k + 3. */
    for (uint32_t j = 0; j < 4; j++) {
        OBJ(2000 + (uint64_t)k + j, 6, 1000);
        REF(2, n - 1, 0);
    }
    for (uint32_t j = 0; j < recs; j++) {
        OBJ(3000 + j, 7, 50);
        REF(3, n - 1, 0);
        REF(n - 1, first_rec + j, MT_REF_WEAK);
    }
    for (uint32_t j = 0; j < recs; j++) {
        OBJ(4000 + j, 8, 100);
        REF(4, n - 1, 0);
    }
#undef OBJ
#undef REF
    mt_root rt = { 0, mt_str_c("module"), mt_str_c("m") };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_ROOT, &rt), 0);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    return path;
}

#endif
