/* A notebook's cell log (memtrace/cells.h) against figures worked out by
 * hand: testdata/cells.snap, whose table and derivations are in
 * tests/tools/mt-fixture.c (cells_fixture), and small logs written here. */
#include <math.h>
#include <sys/stat.h>
#include "memtrace/analyze.h"
#include "../helpers.h"

#define MIB 1048576ll
#define TESTDATA MT_SOURCE_DIR "/testdata/cells.snap"

static mt_cells *load_ok(const char *path) {
    mt_cells *c = NULL;
    mt_diag d;
    mt_diag_clear(&d);
    int rc = mt_cells_load(path, &c, &d);
    ck_assert_msg(rc == 0, "%s: %s", mt_err_name(rc), d.msg);
    return c;
}

START_TEST(fixture_cells_and_derived_figures) {
    mt_cells *c = load_ok(TESTDATA);
    size_t n;
    const mt_cell *x = mt_cells_list(c, &n);
    ck_assert_uint_eq(n, 15);
    ck_assert_int_eq(mt_cells_closed(c), 1);
    for (size_t i = 0; i < n; i++) ck_assert_uint_eq(x[i].id, i + 1); /* file order */
    /* Cell 2: 120 -> 220 MiB, peak 300 exact, 2 s, the frame df. */
    ck_assert_uint_eq(x[1].wall_ns, 2000000000ull);
    ck_assert_int_eq(x[1].retained, 100 * MIB);
    ck_assert_int_eq(x[1].peak, MT_CELL_PEAK_IS_EXACT);
    ck_assert_int_eq(x[1].peak_rise, 180 * MIB);
    ck_assert_str_eq(x[1].source, "df = load(\"a,b.csv\")");
    ck_assert_uint_eq(x[1].n_frames, 1);
    ck_assert_str_eq(x[1].frames[0].name, "df");
    ck_assert_uint_eq(x[1].frames[0].rows, 1000000);
    ck_assert_uint_eq(x[1].frames[0].columns, 4);
    ck_assert_uint_eq(x[1].frames[0].deep_bytes, 80 * MIB);
    ck_assert_int_eq(x[1].frames[0].estimated, 1);
    ck_assert_uint_eq(x[1].n_gpu, 1);
    ck_assert_uint_eq(x[1].gpu[0].device, 0);
    ck_assert(x[1].gpu[0].allocated == 1024.0 * MIB);
    ck_assert(x[1].gpu[0].reserved == 2048.0 * MIB);
    ck_assert(x[1].gpu[0].peak_allocated == 1536.0 * MIB);
    /* Cell 3: status "" reads ok; gc.dict 5000 -> 6000. */
    ck_assert_int_eq(x[2].status, MT_CELL_OK);
    ck_assert_uint_eq(x[2].n_types, 1);
    ck_assert_str_eq(x[2].types[0].type, "dict");
    ck_assert_int_eq(x[2].types[0].delta, 1000);
    /* Cell 1 holds the session's first counts: a baseline, no delta. */
    ck_assert_uint_eq(x[0].n_types, 0);
    /* Cell 4's peak was sampled; cell 5 failed with no peak. */
    ck_assert_int_eq(x[3].peak, MT_CELL_PEAK_IS_SAMPLED);
    ck_assert_int_eq(x[4].status, MT_CELL_ERROR);
    ck_assert_str_eq(x[4].error, "KeyError: 'x'");
    ck_assert_int_eq(x[4].peak, MT_CELL_PEAK_UNKNOWN);
    ck_assert_int_eq(x[4].peak_rise, 0);
    ck_assert_uint_eq(mt_cell_peak_or_after(&x[4]), 242 * MIB);
    ck_assert_uint_eq(x[4].wall_ns, 250000000ull);
    /* Cell 6: the spike, traced, its source's two lines kept. */
    ck_assert_uint_eq(x[5].rss_peak, 900 * MIB);
    ck_assert_int_eq(x[5].peak_rise, 658 * MIB);
    ck_assert_int_eq(x[5].traced, 1);
    ck_assert_uint_eq(x[5].traced_before, 10 * MIB);
    ck_assert_uint_eq(x[5].traced_after, 12 * MIB);
    ck_assert_uint_eq(x[5].traced_peak, 600 * MIB);
    ck_assert_uint_eq(x[5].overhead_ns, 2000000);
    ck_assert_uint_eq(x[5].source_len, strlen("big = make_temp()  # spike\nprint(len(big))"));
    ck_assert_uint_eq(x[5].n_frames, 1);
    ck_assert_int_eq(x[5].frames[0].estimated, 0);
    ck_assert_uint_eq(x[5].n_types, 1);
    ck_assert_str_eq(x[5].types[0].type, "list");
    ck_assert_int_eq(x[5].types[0].delta, 100);
    /* Session 3: cell 12's gc.dict is that session's baseline; cell 14
     * freed 20 MiB; cell 15 was interrupted. */
    ck_assert_uint_eq(x[11].n_types, 0);
    ck_assert_int_eq(x[13].retained, -20 * MIB);
    ck_assert_int_eq(x[14].status, MT_CELL_INTERRUPTED);
    ck_assert_str_eq(mt_cell_status_name(x[14].status), "interrupted");
    ck_assert_uint_eq(x[9].n_gpu, 1);
    ck_assert(x[9].gpu[0].peak_allocated == 3072.0 * MIB);
    mt_cells_free(c);
}
END_TEST

START_TEST(fixture_sessions) {
    mt_cells *c = load_ok(TESTDATA);
    size_t n;
    const mt_cell_session *s = mt_cells_sessions(c, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(s[0].session, 1);
    ck_assert_str_eq(s[0].kernel, "k-one");
    ck_assert_str_eq(s[0].detail, "ipykernel");
    ck_assert_uint_eq(s[0].start_ns, 1800000000000000000ull);
    ck_assert_uint_eq(s[0].n_cells, 7);
    ck_assert_int_eq(s[0].ended, 1);
    ck_assert_uint_eq(s[0].peak, 900 * MIB);
    ck_assert_int_eq(s[0].retained, 158 * MIB);
    ck_assert_str_eq(s[1].kernel, "k-two");
    ck_assert_uint_eq(s[1].n_cells, 3);
    ck_assert_int_eq(s[1].ended, 0); /* abandoned: no session_end */
    ck_assert_uint_eq(s[1].peak, 400 * MIB);
    ck_assert_int_eq(s[1].retained, 85 * MIB);
    ck_assert_uint_eq(s[2].n_cells, 5);
    ck_assert_int_eq(s[2].ended, 1);
    ck_assert_uint_eq(s[2].peak, 420 * MIB);
    ck_assert_int_eq(s[2].retained, 81 * MIB);
    mt_cells_free(c);
}
END_TEST

static void check_order(const mt_cells *c, mt_cells_order by, const uint32_t *want_ids) {
    size_t n;
    const mt_cell *x = mt_cells_list(c, &n);
    uint32_t order[15];
    ck_assert_int_eq(mt_cells_sort(c, by, order), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(x[order[i]].id == want_ids[i], "%s: position %zu: cell %u, not %u", mt_cells_order_name(by), i,
                      x[order[i]].id, want_ids[i]);
}

START_TEST(fixture_sorting) {
    mt_cells *c = load_ok(TESTDATA);
    /* The peaks (after for 5 and 11) and the retained and wall figures of
     * the fixture's table, largest first, ties by id. */
    static const uint32_t by_id[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
    static const uint32_t by_peak[] = { 6, 12, 10, 2, 7, 4, 5, 3, 14, 13, 15, 9, 8, 1, 11 };
    static const uint32_t by_retained[] = { 2, 10, 12, 13, 1, 8, 11, 9, 4, 7, 3, 6, 15, 5, 14 };
    static const uint32_t by_wall[] = { 15, 10, 12, 6, 2, 13, 14, 3, 4, 7, 9, 1, 8, 11, 5 };
    check_order(c, MT_CELLS_BY_ID, by_id);
    check_order(c, MT_CELLS_BY_PEAK, by_peak);
    check_order(c, MT_CELLS_BY_RETAINED, by_retained);
    check_order(c, MT_CELLS_BY_WALL, by_wall);
    mt_cells_order o;
    ck_assert_int_eq(mt_cells_order_from_name("retained", &o), 0);
    ck_assert_int_eq(o, MT_CELLS_BY_RETAINED);
    ck_assert_int_eq(mt_cells_order_from_name("size", &o), MT_E_INVAL);
    ck_assert_str_eq(mt_cells_order_name(MT_CELLS_BY_WALL), "wall");
    ck_assert_str_eq(mt_cells_order_name((mt_cells_order)9), "?");
    mt_cells_free(c);
}
END_TEST

START_TEST(fixture_growing) {
    mt_cells *c = load_ok(TESTDATA);
    size_t n;
    const mt_cell *x = mt_cells_list(c, &n);
    mt_cell_growth_set g;
    ck_assert_int_eq(mt_cells_growing(c, MT_CELLS_DEFAULT_THRESHOLD, &g, NULL), 0);
    /* Only cache.append in session 1: model.fit kept 50 MiB once in each
     * of two sessions (a restart between), load_x kept 30 then -20. */
    ck_assert_uint_eq(g.n, 1);
    ck_assert_str_eq(g.g[0].source, "cache.append(df.copy())");
    ck_assert_str_eq(g.g[0].source_hash, "00000000000000a3");
    ck_assert_uint_eq(g.g[0].session, 1);
    ck_assert_uint_eq(g.g[0].n_runs, 3);
    ck_assert_uint_eq(x[g.g[0].runs[0]].id, 3);
    ck_assert_uint_eq(x[g.g[0].runs[1]].id, 4);
    ck_assert_uint_eq(x[g.g[0].runs[2]].id, 7);
    ck_assert_uint_eq(g.g[0].n_kept, 3);
    ck_assert_double_eq_tol(g.g[0].kept_mean, 11.0 * MIB, 1e-6);
    ck_assert_double_eq_tol(g.g[0].kept_sd, 1.0 * MIB, 1e-6); /* sqrt((1 + 1 + 0) / 2) MiB */
    ck_assert_int_eq(g.g[0].total, 33 * MIB);
    ck_assert_uint_eq(g.g[0].n_elsewhere, 1); /* cell 9, session 2 */
    ck_assert_uint_eq(g.g[0].n_types, 1);
    ck_assert_str_eq(g.g[0].types[0].type, "dict");
    ck_assert_int_eq(g.g[0].types[0].delta, 3000);
    mt_cell_growth_free(&g);
    /* Above 11 MiB only cell 4's 12 MiB is kept: one run, not growing. */
    ck_assert_int_eq(mt_cells_growing(c, 11 * MIB, &g, NULL), 0);
    ck_assert_uint_eq(g.n, 0);
    mt_cell_growth_free(&g);
    /* Above 9 MiB all three still are. */
    ck_assert_int_eq(mt_cells_growing(c, 9 * MIB, &g, NULL), 0);
    ck_assert_uint_eq(g.n, 1);
    mt_cell_growth_free(&g);
    mt_cell_growth_free(&g); /* a zeroed set: a no-op */
    mt_cell_growth_free(NULL);
    mt_cells_free(c);
}
END_TEST

/* A small log written here: rows of (session, hash, source, before,
 * after in MiB), one writer per session change; sessions named in
 * `ended` get a session_end. */
typedef struct row {
    uint32_t session;
    const char *hash, *source;
    int before, after;
} row;

static char *write_log(const row *rows, size_t n, int with_events) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    uint32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        if (with_events && rows[i].session != cur) {
            cur = rows[i].session;
            mt_event e = { i, mt_str_c("session"), mt_str_c("k"), cur, mt_str_c("") };
            mt_writer_add(w, MT_KIND_EVENT, &e);
        }
        mt_nb_cell nb = { .id = (uint32_t)i + 1, .exec_count = (uint32_t)i + 1, .source = mt_str_c(rows[i].source),
                          .start_ns = 100 + i * 10, .end_ns = 105 + i * 10,
                          .rss_before = (uint64_t)rows[i].before * MIB, .rss_after = (uint64_t)rows[i].after * MIB,
                          .session = rows[i].session, .source_hash = mt_str_c(rows[i].hash) };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_NB_CELL, &nb), 0);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    return path;
}

static size_t growing_count(const char *path, uint64_t threshold) {
    mt_cells *c = load_ok(path);
    mt_cell_growth_set g;
    ck_assert_int_eq(mt_cells_growing(c, threshold, &g, NULL), 0);
    size_t n = g.n;
    mt_cell_growth_free(&g);
    mt_cells_free(c);
    return (size_t)n;
}

START_TEST(retains_once_then_nothing_is_not_growing) {
    static const row rows[] = { { 1, "h", "a()", 100, 150 }, { 1, "h", "a()", 150, 150 }, { 1, "h", "a()", 150, 151 } };
    char *p = write_log(rows, 3, 1);
    /* 50 MiB once, then 0 and exactly 1 MiB (not more than 1 MiB). */
    ck_assert_uint_eq(growing_count(p, MT_CELLS_DEFAULT_THRESHOLD), 0);
    /* With a threshold below 1 MiB the last run counts too. */
    ck_assert_uint_eq(growing_count(p, 512 * 1024), 1);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(growth_split_by_a_restart_is_not_growing) {
    static const row rows[] = { { 1, "h", "a()", 100, 150 }, { 1, "x", "b()", 150, 160 },
                                { 2, "h", "a()", 100, 150 }, { 3, "h", "a()", 100, 150 } };
    char *p = write_log(rows, 4, 1);
    ck_assert_uint_eq(growing_count(p, MT_CELLS_DEFAULT_THRESHOLD), 0);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(without_hash_runs_match_by_source) {
    /* Two growing cells, with no hash, told apart by their source; the
     * larger total first. Sessions with no session event still count. */
    static const row rows[] = { { 1, "", "a()", 100, 110 }, { 1, "", "b()", 110, 140 }, { 1, "", "a()", 140, 150 },
                                { 1, "", "b()", 150, 180 }, { 1, "", "b()", 180, 170 } };
    char *p = write_log(rows, 5, 0);
    mt_cells *c = load_ok(p);
    mt_cell_growth_set g;
    ck_assert_int_eq(mt_cells_growing(c, MT_CELLS_DEFAULT_THRESHOLD, &g, NULL), 0);
    ck_assert_uint_eq(g.n, 2);
    ck_assert_str_eq(g.g[0].source, "b()");
    ck_assert_int_eq(g.g[0].total, 50 * MIB); /* 30 + 30 - 10 */
    ck_assert_uint_eq(g.g[0].n_runs, 3);
    ck_assert_uint_eq(g.g[0].n_kept, 2);
    ck_assert_double_eq_tol(g.g[0].kept_sd, 0, 1e-9);
    ck_assert_str_eq(g.g[1].source, "a()");
    ck_assert_int_eq(g.g[1].total, 20 * MIB);
    mt_cell_growth_free(&g);
    size_t ns;
    const mt_cell_session *s = mt_cells_sessions(c, &ns);
    ck_assert_uint_eq(ns, 1);
    ck_assert_str_eq(s[0].kernel, "");
    ck_assert_int_eq(s[0].ended, 0);
    ck_assert_uint_eq(s[0].start_ns, 100);
    ck_assert_uint_eq(s[0].n_cells, 5);
    mt_cells_free(c);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(odd_records_read_safely) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    /* A session_end before any session, a session with no usable number,
     * then session 4 twice (its second event ends). */
    mt_event ev[] = { { 1, mt_str_c("session_end"), mt_str_c(""), 0, mt_str_c("") },
                      { 2, mt_str_c("session"), mt_str_c("bad"), 1.5, mt_str_c("") },
                      { 3, mt_str_c("session_end"), mt_str_c(""), 0, mt_str_c("") },
                      { 4, mt_str_c("session"), mt_str_c("k4"), 4, mt_str_c("jupyter") },
                      { 5, mt_str_c("step"), mt_str_c("other"), 0, mt_str_c("") },
                      { 6, mt_str_c("session"), mt_str_c("k4b"), 4, mt_str_c("") },
                      { 7, mt_str_c("session_end"), mt_str_c(""), 4, mt_str_c("") } };
    for (size_t i = 0; i < sizeof ev / sizeof *ev; i++) mt_writer_add(w, MT_KIND_EVENT, &ev[i]);
    /* End before start, an unknown status, peak flags both set. */
    mt_nb_cell a = { .id = 7, .source = mt_str_c("a"), .start_ns = 50, .end_ns = 40, .rss_before = 10, .rss_after = 5,
                     .session = 4, .status = mt_str_c("crashed"), .rss_peak = 30,
                     .flags = MT_CELL_PEAK_EXACT | MT_CELL_PEAK_SAMPLED };
    mt_nb_cell b = { .id = 7, .source = mt_str_c("dup id"), .start_ns = 60, .end_ns = 70, .session = 4,
                     .rss_after = UINT64_MAX };
    mt_writer_add(w, MT_KIND_NB_CELL, &a);
    mt_writer_add(w, MT_KIND_NB_CELL, &b);
    /* Samples and frames whose step names no cell, or no cell of the
     * log, or a series that is none of the cell log's. */
    const char *steps[] = { "cell:7", "cell:", "cell:x", "cell:99", "load", "cell:99999999999" };
    const char *series[] = { "gpu1.allocated", "gpu.allocated", "gpu1x", "gpu1.used", "rss", "gc.", "gpu0.reserved",
                             "gpu1.peak_allocated" };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
        for (size_t j = 0; j < sizeof series / sizeof *series; j++) {
            mt_sample s = { 1, mt_str_c(series[j]), 1.0 + (double)j, mt_str_c(steps[i]), 0, 0, 0, 0 };
            mt_writer_add(w, MT_KIND_SAMPLE, &s);
        }
    mt_df_frame f = { .id = 1, .name = mt_str_c("f"), .step = mt_str_c("nocell") };
    mt_writer_add(w, MT_KIND_DF_FRAME, &f);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_cells *c = load_ok(path);
    size_t n;
    const mt_cell *x = mt_cells_list(c, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(x[0].wall_ns, 0);
    ck_assert_int_eq(x[0].retained, -5);
    ck_assert_int_eq(x[0].status, MT_CELL_ERROR);
    ck_assert_int_eq(x[0].peak, MT_CELL_PEAK_IS_EXACT);
    ck_assert_int_eq(x[1].retained, INT64_MAX); /* saturated */
    /* The samples of step cell:7 go to the first cell 7: two devices. */
    ck_assert_uint_eq(x[0].n_gpu, 2);
    ck_assert_uint_eq(x[0].gpu[0].device, 0);
    ck_assert(isnan(x[0].gpu[0].allocated));
    ck_assert(x[0].gpu[0].reserved == 7.0);
    ck_assert_uint_eq(x[0].gpu[1].device, 1);
    ck_assert(x[0].gpu[1].allocated == 1.0);
    ck_assert(x[0].gpu[1].peak_allocated == 8.0);
    ck_assert(isnan(x[0].gpu[1].reserved));
    ck_assert_uint_eq(x[1].n_gpu, 0);
    ck_assert_uint_eq(x[0].n_frames, 0);
    size_t ns;
    const mt_cell_session *s = mt_cells_sessions(c, &ns);
    ck_assert_uint_eq(ns, 1);
    ck_assert_uint_eq(s[0].session, 4);
    ck_assert_str_eq(s[0].kernel, "k4");
    ck_assert_str_eq(s[0].detail, "jupyter");
    ck_assert_int_eq(s[0].ended, 1);
    ck_assert_uint_eq(s[0].peak, UINT64_MAX);
    mt_cells_free(c);
    mt_cells_free(NULL);
    unlink(path);
    free(path);
}
END_TEST

/* A session's baseline counts (step "session:N", written when recording
 * starts) give its first cell a delta, and a type missing from the
 * baseline had none at the start. Session 1: dict 100 at the start, 130
 * after cell 1 (+30), 125 after cell 2 (-5); list, not in the baseline, 7
 * after cell 1 (+7) and 9 after cell 2 (+2). Session 2's baseline is dict
 * 50: its cell 3 at 80 is +30, not 80 - 125; Node, absent from it, +40.
 * Without a baseline a type's first count is its baseline
 * (fixture_cells_and_derived_figures). */
START_TEST(session_baseline_gives_first_cell_a_delta) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    for (uint32_t i = 1; i <= 3; i++) {
        mt_nb_cell c = { .id = i, .source = mt_str_c("x"), .session = i < 3 ? 1 : 2 };
        mt_writer_add(w, MT_KIND_NB_CELL, &c);
    }
    struct { const char *series, *step; double v; } smp[] = {
        { "gc.dict", "session:1", 100 }, { "gc.dict", "cell:1", 130 }, { "gc.list", "cell:1", 7 },
        { "gc.dict", "cell:2", 125 },    { "gc.list", "cell:2", 9 },   { "gc.dict", "session:2", 50 },
        { "gc.dict", "cell:3", 80 },     { "gc.set", "session:x", 5 }, { "gpu0.allocated", "session:1", 9 },
        { "gc.Node", "cell:3", 40 },
        /* No session's baseline: ignored. */
        { "gc.dict", "session:", 7 }, { "gc.dict", "session:99999999999", 7 }, { "gc.dict", "sessionx1", 7 },
    };
    for (size_t i = 0; i < sizeof smp / sizeof *smp; i++) {
        mt_sample m = { 1, mt_str_c(smp[i].series), smp[i].v, mt_str_c(smp[i].step), 0, 0, 0, 0 };
        mt_writer_add(w, MT_KIND_SAMPLE, &m);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_cells *c = load_ok(path);
    size_t n;
    const mt_cell *x = mt_cells_list(c, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(x[0].n_types, 2);
    ck_assert_str_eq(x[0].types[0].type, "dict");
    ck_assert_int_eq(x[0].types[0].delta, 30);
    ck_assert_str_eq(x[0].types[1].type, "list");
    ck_assert_int_eq(x[0].types[1].delta, 7);
    ck_assert_uint_eq(x[1].n_types, 2);
    ck_assert_str_eq(x[1].types[0].type, "dict");
    ck_assert_int_eq(x[1].types[0].delta, -5);
    ck_assert_str_eq(x[1].types[1].type, "list");
    ck_assert_int_eq(x[1].types[1].delta, 2);
    /* Node was not in session 2's baseline: none of them at its start. */
    ck_assert_uint_eq(x[2].n_types, 2);
    ck_assert_str_eq(x[2].types[0].type, "Node");
    ck_assert_int_eq(x[2].types[0].delta, 40);
    ck_assert_int_eq(x[2].types[1].delta, 30);
    ck_assert_uint_eq(x[0].n_gpu, 0);
    mt_cells_free(c);
    unlink(path);
    free(path);
}
END_TEST

/* The cell a kernel died in: a session without session_end whose last
 * cell_start names a cell it has no record of. Session 1 started cells 1
 * and 2, recorded 1, died in 2; session 2 numbers its first cell 2 again
 * (the dead cell left no record), finishes it and ends cleanly; session 3
 * died after its cell 3 finished (its last start has a record): no cell
 * to blame. */
START_TEST(died_in_the_cell_it_started) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    struct { const char *kind, *name, *detail; double v; } ev[] = {
        /* Ignored: a start before any session, kinds of the same lengths
         * that are not these, names that are no cell's. */
        { "cell_start", "cell:1", "before", 1 }, { "cell_stare", "cell:1", "", 1 },
        { "session_enx", "", "", 1 },          { "sessiox", "", "", 1 },
        { "session", "k1", "", 1 },        { "cell_start", "cell:1", "a = 1", 100 },
        { "cell_start", "cell:", "", 1 },  { "cell_start", "cell:12a", "", 1 },
        { "cell_start", "cell:99999999999", "", 1 }, { "cell_start", "cellx:1", "", 1 },
        { "cell_start", "cell:2", "big = load()", 200 }, { "session", "k2", "", 2 },
        { "cell_start", "cell:2", "b = 2", 50 }, { "session_end", "", "", 2 },
        { "session", "k3", "", 3 },        { "cell_start", "cell:3", "c = 3", 60 },
        { "cell_start", "cell:x", "not a cell", 1 },
    };
    for (size_t i = 0; i < sizeof ev / sizeof *ev; i++) {
        mt_event e = { 1000 + i, mt_str_c(ev[i].kind), mt_str_c(ev[i].name), ev[i].v, mt_str_c(ev[i].detail) };
        mt_writer_add(w, MT_KIND_EVENT, &e);
    }
    uint32_t ids[] = { 1, 2, 3 }, sess[] = { 1, 2, 3 };
    for (size_t i = 0; i < 3; i++) {
        mt_nb_cell c = { .id = ids[i], .source = mt_str_c("x"), .session = sess[i] };
        mt_writer_add(w, MT_KIND_NB_CELL, &c);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_cells *c = load_ok(path);
    size_t ns;
    const mt_cell_session *s = mt_cells_sessions(c, &ns);
    ck_assert_uint_eq(ns, 3);
    ck_assert_uint_eq(s[0].died_in, 2);
    ck_assert_str_eq(s[0].died_source, "big = load()");
    ck_assert_uint_eq(s[0].died_rss_before, 200);
    ck_assert_uint_eq(s[0].died_start_ns, 1010);
    ck_assert_uint_eq(s[1].died_in, 0);
    ck_assert_int_eq(s[1].ended, 1);
    ck_assert_uint_eq(s[2].died_in, 0);
    ck_assert_str_eq(s[2].died_source, "");
    mt_cells_free(c);
    unlink(path);
    free(path);
}
END_TEST

/* A leak that refills memory the allocator held: rss does not move, but
 * tracemalloc saw 24 MiB more each run; and one tracemalloc cannot see
 * (C allocations): rss grew, traced did not. Both are growing cells. */
START_TEST(growing_seen_by_rss_or_traced) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    for (uint32_t i = 1; i <= 4; i++) {
        int traced_leak = i <= 2;
        mt_nb_cell c = { .id = i, .source = mt_str_c(traced_leak ? "keep.append(a)" : "cbuf.grow()"),
                         .source_hash = mt_str_c(traced_leak ? "h1" : "h2"), .session = 1,
                         .rss_before = 1000u << 20, .rss_after = (1000u << 20) + (traced_leak ? 0 : (8u << 20)),
                         .flags = MT_CELL_TRACED, .traced_before = 100u << 20,
                         .traced_after = (100u << 20) + (traced_leak ? (24u << 20) : 0) };
        mt_writer_add(w, MT_KIND_NB_CELL, &c);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_cells *c = load_ok(path);
    size_t n;
    const mt_cell *x = mt_cells_list(c, &n);
    ck_assert_int_eq(x[0].retained, 0);
    ck_assert_int_eq(mt_cell_kept(&x[0]), 24 << 20);
    ck_assert_int_eq(mt_cell_kept(&x[2]), 8 << 20);
    mt_cell_growth_set g;
    ck_assert_int_eq(mt_cells_growing(c, 1u << 20, &g, NULL), 0);
    ck_assert_uint_eq(g.n, 2);
    for (size_t i = 0; i < g.n; i++) {
        ck_assert_uint_eq(g.g[i].n_kept, 2);
        ck_assert(g.g[i].kept_mean == (double)(strcmp(g.g[i].source_hash, "h1") ? 8 << 20 : 24 << 20));
    }
    mt_cell_growth_free(&g);
    mt_cells_free(c);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(not_a_cell_log_is_an_error) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    mt_sample s = { 1, mt_str_c("rss"), 1, mt_str_c(""), 0, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_SAMPLE, &s);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_cells *c = (mt_cells *)1;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_cells_load(path, &c, &d), MT_E_NOTFOUND);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(d.file, path);
    ck_assert_str_eq(d.msg, "not a cell log: no nb_cells records");
    unlink(path);
    /* A missing file. */
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_cells_load(path, &c, &d), MT_E_IO);
    ck_assert_str_eq(d.file, path);
    free(path);
}
END_TEST

START_TEST(cut_and_damaged_files) {
    size_t n;
    unsigned char *b = slurp(TESTDATA, &n);
    char *path = tmp_path();
    /* Cut in the middle, as a kernel killed while writing leaves it: the
     * whole blocks before the cut are read, the rest left out. */
    spit(path, b, n / 2);
    mt_cells *c = NULL;
    mt_diag d;
    mt_diag_clear(&d);
    int rc = mt_cells_load(path, &c, &d);
    ck_assert_msg(rc == 0, "%s", d.msg);
    size_t nc;
    mt_cells_list(c, &nc);
    ck_assert_uint_gt(nc, 0);
    ck_assert_uint_lt(nc, 15);
    ck_assert_int_eq(mt_cells_closed(c), 0);
    mt_cells_free(c);
    /* A flipped byte inside a block's payload: damage, named. */
    unsigned char *x = malloc(n);
    memcpy(x, b, n);
    x[n / 3] ^= 0x55;
    spit(path, x, n);
    mt_diag_clear(&d);
    c = NULL;
    rc = mt_cells_load(path, &c, &d);
    ck_assert_int_eq(rc, MT_E_DAMAGED);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(d.file, path);
    free(x);
    free(b);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(unclosed_log_reads_its_flushed_cells) {
    /* Appended to, flushed, then abandoned: a kernel killed mid-session. */
    char *path = tmp_path();
    unlink(path);
    mt_writer *w;
    ck_assert_int_eq(mt_writer_append(path, NULL, &w, NULL), 0);
    mt_event e = { 1, mt_str_c("session"), mt_str_c("k"), 1, mt_str_c("") };
    mt_writer_add(w, MT_KIND_EVENT, &e);
    mt_nb_cell nb = { .id = 1, .source = mt_str_c("a"), .rss_before = 0, .rss_after = 2 * MIB, .session = 1 };
    mt_writer_add(w, MT_KIND_NB_CELL, &nb);
    ck_assert_int_eq(mt_writer_flush(w), 0);
    nb.id = 2;
    mt_writer_add(w, MT_KIND_NB_CELL, &nb); /* never flushed */
    mt_writer_abandon(w);
    mt_cells *c = load_ok(path);
    size_t n, ns;
    mt_cells_list(c, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(mt_cells_closed(c), 0);
    const mt_cell_session *s = mt_cells_sessions(c, &ns);
    ck_assert_uint_eq(ns, 1);
    ck_assert_int_eq(s[0].ended, 0);
    mt_cells_free(c);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(saturation_ties_and_type_order) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    /* Session numbers 0 and 5e9 name no session. */
    mt_event e0 = { 1, mt_str_c("session"), mt_str_c("zero"), 0, mt_str_c("") };
    mt_event e1 = { 2, mt_str_c("session"), mt_str_c("big"), 5e9, mt_str_c("") };
    mt_writer_add(w, MT_KIND_EVENT, &e0);
    mt_writer_add(w, MT_KIND_EVENT, &e1);
    /* id hash status before after (MiB; M is 2^64-1 bytes):
     *  1 z  ok!          0  0   gc dict 100, list 100, set 100 (baselines)
     *  2 a  no          10 15   dict 200 (+100), list 110 (+10), set NaN
     *  3 b  interruptes 15 20
     *  4 a  ok          20 25   dict 300 (+100), list 120 (+10), set 50 (after NaN: no delta)
     *  5 b  ok          25 30
     *  6 c  ok           M  0   retained saturates at INT64_MIN, twice:
     *  7 c  ok           M  0   the session's sum stays there
     * a and b each total 10 MiB: the tie goes to a, whose first run came first;
     * a's types: dict +200 before list +20. */
    static const char *const hash[] = { "z", "a", "b", "a", "b", "c", "c" };
    static const char *const status[] = { "ok!", "no", "interruptes", "ok", "ok", "ok", "ok" };
    static const uint64_t before[] = { 0, 10, 15, 20, 25, UINT64_MAX, UINT64_MAX },
                          after[] = { 0, 15, 20, 25, 30, 0, 0 };
    for (uint32_t i = 0; i < 7; i++) {
        uint64_t m = (uint64_t)MIB;
        mt_nb_cell nb = { .id = i + 1, .source = mt_str_c(hash[i]), .session = 1, .status = mt_str_c(status[i]),
                          .source_hash = mt_str_c(hash[i]),
                          .rss_before = before[i] == UINT64_MAX ? UINT64_MAX : before[i] * m,
                          .rss_after = after[i] * m };
        mt_writer_add(w, MT_KIND_NB_CELL, &nb);
    }
    static const struct { const char *step, *series; double v; } gc[] = {
        { "cell:1", "gc.dict", 100 }, { "cell:1", "gc.list", 100 }, { "cell:1", "gc.set", 100 },
        { "cell:2", "gc.dict", 200 }, { "cell:2", "gc.list", 110 }, { "cell:2", "gc.set", NAN },
        { "cell:4", "gc.dict", 300 }, { "cell:4", "gc.list", 120 }, { "cell:4", "gc.set", 50 },
    };
    for (size_t i = 0; i < sizeof gc / sizeof *gc; i++) {
        mt_sample sm = { 1, mt_str_c(gc[i].series), gc[i].v, mt_str_c(gc[i].step), 0, 0, 0, 0 };
        mt_writer_add(w, MT_KIND_SAMPLE, &sm);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_cells *c = load_ok(path);
    size_t n, ns;
    const mt_cell *x = mt_cells_list(c, &n);
    ck_assert_int_eq(x[0].status, MT_CELL_ERROR);
    ck_assert_int_eq(x[1].status, MT_CELL_ERROR);
    ck_assert_int_eq(x[2].status, MT_CELL_ERROR);
    ck_assert_int_eq(x[3].status, MT_CELL_OK);
    ck_assert_int_eq(x[5].retained, INT64_MIN);
    ck_assert_uint_eq(x[1].n_types, 2); /* set's NaN is no delta */
    ck_assert_uint_eq(x[3].n_types, 2);
    const mt_cell_session *s = mt_cells_sessions(c, &ns);
    ck_assert_uint_eq(ns, 1);
    ck_assert_str_eq(s[0].kernel, "");
    ck_assert_int_eq(s[0].retained, INT64_MIN);
    mt_cell_growth_set g;
    ck_assert_int_eq(mt_cells_growing(c, MT_CELLS_DEFAULT_THRESHOLD, &g, NULL), 0);
    ck_assert_uint_eq(g.n, 2);
    ck_assert_str_eq(g.g[0].source_hash, "a");
    ck_assert_str_eq(g.g[1].source_hash, "b");
    ck_assert_int_eq(g.g[0].total, 10 * MIB);
    ck_assert_int_eq(g.g[1].total, 10 * MIB);
    ck_assert_uint_eq(g.g[0].n_types, 2);
    ck_assert_str_eq(g.g[0].types[0].type, "dict");
    ck_assert_int_eq(g.g[0].types[0].delta, 200);
    ck_assert_str_eq(g.g[0].types[1].type, "list");
    ck_assert_int_eq(g.g[0].types[1].delta, 20);
    ck_assert_uint_eq(g.g[1].n_types, 0);
    mt_cell_growth_free(&g);
    uint32_t order[7];
    ck_assert_int_eq(mt_cells_sort(c, MT_CELLS_BY_RETAINED, order), 0);
    ck_assert_uint_eq(order[5], 5); /* the two INT64_MIN last, in file order */
    ck_assert_uint_eq(order[6], 6);
    ck_assert_int_eq(mt_cells_sort(c, MT_CELLS_BY_PEAK, order), 0);
    ck_assert_uint_eq(order[0], 4); /* 30 MiB after, the highest; unknown peaks */
    mt_cells_free(c);
    unlink(path);
    free(path);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cells");
    TCase *tc = tcase_create("cells");
    tcase_add_test(tc, fixture_cells_and_derived_figures);
    tcase_add_test(tc, fixture_sessions);
    tcase_add_test(tc, fixture_sorting);
    tcase_add_test(tc, fixture_growing);
    tcase_add_test(tc, retains_once_then_nothing_is_not_growing);
    tcase_add_test(tc, growth_split_by_a_restart_is_not_growing);
    tcase_add_test(tc, without_hash_runs_match_by_source);
    tcase_add_test(tc, odd_records_read_safely);
    tcase_add_test(tc, session_baseline_gives_first_cell_a_delta);
    tcase_add_test(tc, died_in_the_cell_it_started);
    tcase_add_test(tc, growing_seen_by_rss_or_traced);
    tcase_add_test(tc, not_a_cell_log_is_an_error);
    tcase_add_test(tc, cut_and_damaged_files);
    tcase_add_test(tc, unclosed_log_reads_its_flushed_cells);
    tcase_add_test(tc, saturation_ties_and_type_order);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
