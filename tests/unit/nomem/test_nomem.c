/* Allocation failure at every point: the library's malloc, calloc and
 * realloc are wrapped (ld --wrap, so libzstd and libc keep the real ones),
 * the k-th call fails, for every k below the number of calls a whole run
 * makes, and each run must end cleanly: MT_E_NOMEM with nothing returned,
 * or, where a failure is only a slowdown (the reader's prefetch), the
 * right result. Under ASan, nothing may leak either way. */
#include <stdio.h>
#include "memtrace/analyze.h"
#include "memtrace/torch.h"
#include "memtrace/gpu.h"
#include "../helpers.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);

static long fail_at = -1; /* the call that fails; -1: none */
static long calls; /* atomic: the reader's prefetch thread allocates too */

static int injected; /* the failing call came */
static int should_fail(void) {
    if (__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED) != fail_at) return 0;
    __atomic_store_n(&injected, 1, __ATOMIC_RELAXED);
    return 1;
}
void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { return should_fail() ? NULL : __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }

static void arm(long k) {
    __atomic_store_n(&calls, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&injected, 0, __ATOMIC_RELAXED);
    fail_at = k;
}

/* Calls a clean run makes. */
#define COUNT_CALLS(stmt) (arm(-1), (stmt), calls)

static char *fixture;

static void make_fixture(void) {
    fixture = tmp_path();
    mt_writer *w;
    mt_writer_opts o = { .block_bytes = 600, .level = 0, .background = 0 };
    ck_assert_int_eq(mt_writer_open(fixture, &o, &w, NULL), 0);
    mt_writer_meta_str(w, "tool", "nomem");
    for (uint32_t t = 1; t <= 3; t++) {
        char name[16];
        snprintf(name, sizeof name, "type%u", t);
        mt_type ty = { t, mt_str_c(name) };
        mt_writer_add(w, MT_KIND_TYPE, &ty);
    }
    for (uint32_t i = 0; i < 400; i++) {
        mt_object ob = { 1000 + i, i % 3 + 1, 8 * i, 1, i % 5, i % 3 };
        mt_writer_add(w, MT_KIND_OBJECT, &ob);
    }
    for (uint32_t i = 0; i < 800; i++) { /* unsorted sources, some labels */
        mt_ref r = { (i * 7919u) % 400, (i * 104729u) % 400, i % 9 == 0 ? MT_REF_WEAK : 0,
                     mt_str_c(i % 4 ? NULL : "label") };
        mt_writer_add(w, MT_KIND_REF, &r);
    }
    mt_root root = { 0, mt_str_c("module"), mt_str_c("m") };
    mt_writer_add(w, MT_KIND_ROOT, &root);
    mt_sample sm = { 1, mt_str_c("rss"), 1.0, mt_str_c(NULL), 0, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_SAMPLE, &sm);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
}

static int load_file(unsigned flags, uint64_t *refs) {
    mt_snapshot *s = NULL;
    mt_diag d;
    mt_diag_clear(&d);
    int rc = mt_snapshot_load(fixture, flags, &s, &d);
    if (rc) ck_assert_msg(rc == MT_E_NOMEM && s == NULL, "%s (%s)", mt_err_name(rc), d.msg);
    else *refs = mt_snapshot_graph(s)->n_refs;
    mt_snapshot_free(s);
    return rc;
}

START_TEST(load_fails_cleanly_at_every_allocation) {
    make_fixture();
    uint64_t refs = 0;
    long total = COUNT_CALLS(load_file(MT_LOAD_LABELS, &refs));
    ck_assert_int_gt(total, 20);
    int failures = 0;
    for (long k = 0; k < total; k++) {
        arm(k);
        refs = 0;
        int rc = load_file(MT_LOAD_LABELS, &refs);
        fail_at = -1;
        if (rc == 0) ck_assert_uint_eq(refs, 800);
        else failures++;
    }
    ck_assert_int_gt(failures, total / 2);
    /* And a salvage load of a truncated copy. */
    size_t n;
    unsigned char *data = slurp(fixture, &n);
    mt_snapshot *s = NULL;
    total = COUNT_CALLS(mt_snapshot_load_mem(data, n / 2, "half", MT_LOAD_LABELS | MT_LOAD_SALVAGE, &s, NULL));
    mt_snapshot_free(s);
    for (long k = 0; k < total; k++) {
        s = NULL;
        arm(k);
        int rc = mt_snapshot_load_mem(data, n / 2, "half", MT_LOAD_LABELS | MT_LOAD_SALVAGE, &s, NULL);
        fail_at = -1;
        ck_assert(rc == 0 || (rc == MT_E_NOMEM && s == NULL));
        mt_snapshot_free(s);
    }
    free(data);
    unlink(fixture);
    free(fixture);
}
END_TEST

START_TEST(save_and_export_fail_cleanly) {
    make_fixture();
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(fixture, MT_LOAD_LABELS, &s, NULL), 0);
    char *out = tmp_path();
    long total = COUNT_CALLS(mt_snapshot_save(s, out, NULL));
    for (long k = 0; k < total; k++) {
        arm(k);
        int rc = mt_snapshot_save(s, out, NULL);
        fail_at = -1;
        ck_assert_msg(rc == 0 || rc == MT_E_NOMEM, "save, allocation %ld: %s", k, mt_err_name(rc));
    }
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    total = COUNT_CALLS(mt_heapjson_export(s, f, NULL));
    fclose(f);
    free(buf);
    for (long k = 0; k < total; k++) {
        buf = NULL;
        f = open_memstream(&buf, &len);
        arm(k);
        int rc = mt_heapjson_export(s, f, NULL);
        fail_at = -1;
        fclose(f);
        free(buf);
        ck_assert_int_eq(rc, MT_E_NOMEM);
    }
    mt_snapshot_free(s);
    unlink(out);
    free(out);
    unlink(fixture);
    free(fixture);
}
END_TEST

static int write_some(const char *path, int background) {
    mt_writer *w = NULL;
    /* With the background thread, small blocks: it allocates too. */
    mt_writer_opts opts = { .block_bytes = 256, .level = 0, .background = 1 };
    int rc = mt_writer_open(path, background ? &opts : NULL, &w, NULL);
    for (uint32_t i = 0; !rc && i < (background ? 2000u : 100u); i++) {
        mt_object o = { i, 1, 1, 0, 0, 0 };
        rc = mt_writer_add(w, MT_KIND_OBJECT, &o);
    }
    if (w && rc) mt_writer_abandon(w);
    else if (w) rc = mt_writer_close(w, NULL);
    return rc;
}

START_TEST(writer_and_import_fail_cleanly) {
    const char *json = "{\"meta\": {\"a\": \"b\", \"n\": 1}, \"objects\": ["
                       "{\"id\": 1, \"type\": \"x\", \"size\": 1, \"refs\": [2, {\"id\": 2, \"label\": \"l\"}]},"
                       "{\"id\": 2, \"type\": \"y\", \"size\": 2}], \"roots\": [1, {\"id\": 2, \"kind\": \"c\"}]}";
    char *out = tmp_path();
    mt_diag d;
    long total = COUNT_CALLS(import_str(json, out, &d));
    ck_assert_int_gt(total, 10);
    for (long k = 0; k < total; k++) {
        arm(k);
        int rc = import_str(json, out, &d);
        fail_at = -1;
        ck_assert_msg(rc == MT_E_NOMEM, "import, allocation %ld of %ld: %s %s", k, total, mt_err_name(rc), d.msg);
    }
    for (int background = 0; background < 2; background++) {
        total = COUNT_CALLS(write_some(out, background));
        for (long k = 0; k < total; k++) {
            arm(k);
            int rc = write_some(out, background);
            fail_at = -1;
            /* With the thread, how many buffers are reused, and so how
             * many calls a run makes, depends on timing: a run may end
             * before its k-th call. */
            ck_assert_msg(rc == (injected ? MT_E_NOMEM : 0), "background %d, allocation %ld of %ld: %s", background,
                          k, total, mt_err_name(rc));
            ck_assert(injected || background);
        }
    }
    unlink(out);
    free(out);
}
END_TEST

/* Every analysis over a loaded snapshot, in turn; the first error, or 1
 * for a wrong result. No ck_assert while armed: Check allocates too. */
static int analyze_all(const mt_snapshot *s) {
    const mt_graph *g = mt_snapshot_graph(s);
    mt_dominators d;
    int rc = mt_dominators_compute(g, &d, NULL);
    if (rc) return d.idom ? 1 : rc;
    uint64_t tr[8];
    rc = mt_dominators_type_retained(g, &d, tr, NULL);
    mt_dominators_free(&d);
    if (rc) return rc;
    mt_cycles c;
    if ((rc = mt_cycles_compute(g, &c, NULL))) return rc;
    mt_cycles_free(&c);
    mt_path p;
    rc = mt_path_to_root(g, 399, &p, NULL);
    mt_path_free(&p);
    if (rc && rc != MT_E_NOTFOUND) return rc;
    for (int by = MT_BY_TYPE; by <= MT_BY_TRACEBACK; by++) {
        mt_diff df;
        if ((rc = mt_diff_compute(s, s, (mt_group_by)by, &df, NULL))) return rc;
        int wrong = df.total.count_b != 400;
        mt_diff_free(&df);
        if (wrong) return 1;
    }
    return 0;
}

START_TEST(analyses_fail_cleanly_at_every_allocation) {
    make_fixture();
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(fixture, MT_LOAD_LABELS, &s, NULL), 0);
    int clean = 0;
    long total = COUNT_CALLS(clean = analyze_all(s));
    ck_assert_int_eq(clean, 0);
    ck_assert_int_gt(total, 20);
    for (long k = 0; k < total; k++) {
        arm(k);
        int rc = analyze_all(s);
        fail_at = -1;
        ck_assert_msg(rc == 0 || rc == MT_E_NOMEM, "call %ld: %s", k, mt_err_name(rc));
    }
    mt_snapshot_free(s);
    /* The leak analysis, over three copies of the fixture. */
    const char *paths[] = { fixture, fixture, fixture };
    mt_leaks L;
    mt_snapshot *last = NULL;
    total = COUNT_CALLS(clean = mt_leaks_compute(paths, 3, 0, NULL, &L, &last, NULL));
    ck_assert_int_eq(clean, 0);
    mt_leaks_free(&L);
    mt_snapshot_free(last);
    for (long k = 0; k < total; k++) {
        arm(k);
        int rc = mt_leaks_compute(paths, 3, 0, NULL, &L, &last, NULL);
        fail_at = -1;
        ck_assert_msg(rc == 0 || (rc == MT_E_NOMEM && last == NULL), "call %ld: %s", k, mt_err_name(rc));
        mt_leaks_free(&L);
        mt_snapshot_free(last);
    }
    unlink(fixture);
    free(fixture);
}
END_TEST

#include "../heap/point_series.h"

START_TEST(leaks_with_suspects_fail_cleanly_at_every_allocation) {
    char *paths[5];
    for (int k = 0; k < 5; k++) paths[k] = write_point_snap(k, 1);
    mt_leaks L;
    mt_snapshot *last = NULL;
    int clean = 0;
    long total = COUNT_CALLS(clean = mt_leaks_compute((const char *const *)paths, 5, 0, NULL, &L, &last, NULL));
    ck_assert_int_eq(clean, 0);
    ck_assert_uint_eq(L.n_suspects, 1);
    ck_assert_uint_eq(L.suspects[0].n_also, 1);
    mt_leaks_free(&L);
    mt_snapshot_free(last);
    for (long k = 0; k < total; k++) {
        arm(k);
        int rc = mt_leaks_compute((const char *const *)paths, 5, 0, NULL, &L, &last, NULL);
        fail_at = -1;
        ck_assert_msg(rc == 0 || (rc == MT_E_NOMEM && last == NULL), "call %ld: %s", k, mt_err_name(rc));
        mt_leaks_free(&L);
        mt_snapshot_free(last);
    }
    for (int k = 0; k < 5; k++) {
        unlink(paths[k]);
        free(paths[k]);
    }
}
END_TEST

/* A snapshot of two frames with columns, values, a sketch and steps. */
static void make_frames_fixture(const char *path) {
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    for (uint32_t id = 1; id <= 2; id++) {
        mt_df_frame f = { .id = id, .name = mt_str_c(id == 1 ? "a" : "b"), .rows = 5, .columns = 3,
                          .step = mt_str_c(id == 1 ? "load" : "join"), .deep_bytes = 100 * id };
        mt_writer_add(w, MT_KIND_DF_FRAME, &f);
        for (uint32_t p = 0; p < 3; p++) {
            mt_df_column c = { .frame = id, .position = p, .name = mt_str_c("col"), .dtype = mt_str_c("int64"),
                               .min = { MT_VAL_STR, { .s = { "lo", 2 } } }, .max = { MT_VAL_UINT, { .u = 9 } } };
            mt_writer_add(w, MT_KIND_DF_COLUMN, &c);
            mt_df_value v = { id, p, { MT_VAL_STR, { .s = { "x", 1 } } }, 3 };
            mt_writer_add(w, MT_KIND_DF_VALUE, &v);
        }
        mt_df_sketch k = { id, 0, mt_str_c("kmv"), { "12345678", 8 } };
        mt_writer_add(w, MT_KIND_DF_SKETCH, &k);
        mt_sample sm = { id, mt_str_c("rss"), 1e6, f.step, 0, 0, 0, 0 };
        mt_writer_add(w, MT_KIND_SAMPLE, &sm);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
}

START_TEST(frames_table_fails_cleanly_at_every_allocation) {
    char *path = tmp_path();
    make_frames_fixture(path);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, NULL), 0);
    mt_df_table *t = NULL;
    int clean = 0;
    long total = COUNT_CALLS(clean = mt_df_table_load(s, &t, NULL));
    ck_assert_int_eq(clean, 0);
    ck_assert_uint_eq(t->n_columns, 6);
    mt_df_table_free(t);
    for (long k = 0; k < total; k++) {
        arm(k);
        int rc = mt_df_table_load(s, &t, NULL);
        fail_at = -1;
        ck_assert_msg(rc == 0 || (rc == MT_E_NOMEM && !t), "call %ld: %s", k, mt_err_name(rc));
        if (!rc) ck_assert_uint_eq(t->n_steps, 2);
        mt_df_table_free(t);
    }
    mt_snapshot_free(s);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(rules_and_advice_fail_cleanly_at_every_allocation) {
    size_t len;
    char *yaml = (char *)slurp(MT_SOURCE_DIR "/rules/default.yaml", &len);
    char *path = tmp_path();
    make_frames_fixture(path);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, NULL), 0);
    mt_df_table *t = NULL;
    ck_assert_int_eq(mt_df_table_load(s, &t, NULL), 0);
    mt_rules *r = NULL;
    int clean = 0;
    long total = COUNT_CALLS((mt_rules_new(&r), clean = mt_rules_add(r, "default.yaml", yaml, len, NULL)));
    ck_assert_int_eq(clean, 0);
    size_t n_rules = mt_rules_count(r);
    mt_rules_free(r);
    for (long k = 0; k < total; k++) {
        r = NULL;
        arm(k);
        int rc = mt_rules_new(&r);
        if (!rc) rc = mt_rules_add(r, "default.yaml", yaml, len, NULL);
        fail_at = -1;
        ck_assert_msg(rc == 0 || rc == MT_E_NOMEM, "call %ld: %s", k, mt_err_name(rc));
        if (r) ck_assert_uint_eq(mt_rules_count(r), rc ? 0 : n_rules);
        mt_rules_free(r);
    }
    ck_assert_int_eq(mt_rules_new(&r), 0);
    ck_assert_int_eq(mt_rules_add(r, "default.yaml", yaml, len, NULL), 0);
    const char *every = "rules: [{id: every, scope: column, action: {message: '{frame}.{column}: {bytes}'}}]";
    ck_assert_int_eq(mt_rules_add(r, "every.yaml", every, strlen(every), NULL), 0);
    mt_advise_input in = { t, NULL, 0, 1e6, 0, 0, NULL };
    mt_advice_list *l = NULL;
    total = COUNT_CALLS(clean = mt_advise(r, &in, &l, NULL));
    ck_assert_int_eq(clean, 0);
    size_t n_advice = l->n;
    ck_assert_uint_gt(n_advice, 0);
    mt_advice_list_free(l);
    for (long k = 0; k < total; k++) {
        arm(k);
        int rc = mt_advise(r, &in, &l, NULL);
        fail_at = -1;
        ck_assert_msg(rc == 0 || (rc == MT_E_NOMEM && !l), "call %ld: %s", k, mt_err_name(rc));
        if (!rc) ck_assert_uint_eq(l->n, n_advice);
        mt_advice_list_free(l);
    }
    mt_rules_free(r);
    mt_df_table_free(t);
    mt_snapshot_free(s);
    unlink(path);
    free(path);
    free(yaml);
}
END_TEST

START_TEST(plots_fail_cleanly_at_every_allocation) {
    make_fixture();
    char *frames = tmp_path();
    make_frames_fixture(frames);
    const char *series[] = { fixture, fixture, fixture };
    struct { const char *kind; const char *const *paths; size_t n; } cases[] = {
        { "timeline", series, 1 }, { "diff", series, 2 }, { "retained", series, 1 },
        { "leaks", series, 3 },    { "frames", (const char *const[]){ frames }, 1 },
        { "cells", (const char *const[]){ MT_SOURCE_DIR "/testdata/cells.snap" }, 1 },
    };
    mt_plot_opts o = { .image = "p.png", .data = "p.dat" };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const mt_plot_kind *k = NULL;
        ck_assert_int_eq(mt_plot_kind_from_name(cases[c].kind, &k), 0);
        char *gp = NULL, *dat = NULL;
        size_t glen, dlen;
        FILE *g = open_memstream(&gp, &glen), *d = open_memstream(&dat, &dlen);
        int clean = 0;
        long total = COUNT_CALLS(clean = mt_plot_write(k, cases[c].paths, cases[c].n, &o, g, d, NULL));
        ck_assert_msg(clean == 0, "%s: %s", cases[c].kind, mt_err_name(clean));
        fclose(g);
        fclose(d);
        char *want_gp = gp, *want_dat = dat;
        for (long i = 0; i < total; i++) {
            gp = dat = NULL;
            g = open_memstream(&gp, &glen);
            d = open_memstream(&dat, &dlen);
            arm(i);
            int rc = mt_plot_write(k, cases[c].paths, cases[c].n, &o, g, d, NULL);
            fail_at = -1;
            fclose(g);
            fclose(d);
            /* Success only where the failure cost nothing (the reader's
             * prefetch) or a label its path to a root. */
            ck_assert_msg(rc == MT_E_NOMEM || rc == 0, "%s, allocation %ld: %s", cases[c].kind, i, mt_err_name(rc));
            if (!rc && strcmp(cases[c].kind, "retained"))
                ck_assert_msg(!strcmp(gp, want_gp) && !strcmp(dat, want_dat), "%s, allocation %ld: other output",
                              cases[c].kind, i);
            free(gp);
            free(dat);
        }
        free(want_gp);
        free(want_dat);
    }
    unlink(frames);
    free(frames);
    unlink(fixture);
    free(fixture);
}
END_TEST

START_TEST(predictions_fail_cleanly_at_every_allocation) {
    /* A merge that does not fit: every kind of advice is computed. */
    const char *text = "orders=2Mx5:k=int64~100k/float64*2/str/category~40,cust=100kx3:k=int64~100k/str";
    const char *on[] = { "k" };
    mt_predict_request q = { .op = MT_PREDICT_MERGE, .left = "orders", .right = "cust", .on = { on, 1 },
                             .available_bytes = 1e8 };
    mt_shapes *s = NULL;
    mt_prediction clean;
    long total = COUNT_CALLS((mt_shapes_parse(text, &s, NULL), mt_predict_run(s, &q, &clean, NULL)));
    ck_assert_uint_ge(clean.n_suggestions, 2);
    mt_shapes_free(s);
    for (long k = 0; k < total; k++) {
        mt_prediction p;
        arm(k);
        int rc = mt_shapes_parse(text, &s, NULL);
        if (!rc) rc = mt_predict_run(s, &q, &p, NULL);
        fail_at = -1;
        ck_assert_msg(rc == 0 || rc == MT_E_NOMEM, "call %ld: %s", k, mt_err_name(rc));
        if (!rc) {
            /* Nothing silently left out. */
            ck_assert_double_eq(p.peak_bytes, clean.peak_bytes);
            ck_assert_uint_eq(p.n_suggestions, clean.n_suggestions);
            ck_assert_uint_eq(p.n_assumptions, clean.n_assumptions);
            mt_prediction_free(&p);
        }
        mt_shapes_free(s);
        s = NULL;
    }
    mt_prediction_free(&clean);
}
END_TEST

/* The trace reader: open (meta, steps, checkpoints, stacks, the pass) and
 * a replay from a checkpoint, failing at every allocation. */
START_TEST(trace_fails_cleanly_at_every_allocation) {
    char *path = tmp_path();
    mt_writer *w;
    mt_writer_opts o = { .block_bytes = 200, .level = 0, .background = 0 };
    ck_assert_int_eq(mt_writer_open(path, &o, &w, NULL), 0);
    mt_writer_meta_str(w, "trace_mode", "all");
    for (uint32_t i = 1; i <= 6; i++) {
        mt_frame f = { i, mt_str_c("fn"), mt_str_c("f.py"), i };
        mt_stack st = { i, i, i - 1 };
        mt_writer_add(w, MT_KIND_FRAME, &f);
        mt_writer_add(w, MT_KIND_STACK, &st);
    }
    mt_event e = { 5, mt_str_c("step"), mt_str_c("load"), 0, mt_str_c("") };
    mt_writer_add(w, MT_KIND_EVENT, &e);
    for (uint64_t i = 0; i < 120; i++) {
        mt_alloc a = { 0 };
        a.time_ns = i * 10;
        a.op = i % 3 == 2;
        a.size = 100 + i % 7;
        a.stack = 1 + (uint32_t)(i % 6);
        a.born_ns = a.op ? a.time_ns - 5 : 0;
        mt_writer_add(w, MT_KIND_ALLOC, &a);
        if (i == 60) {
            mt_writer_flush(w);
            mt_trace_live l = { 600, 1, 100, 1, 61 };
            mt_writer_add(w, MT_KIND_TRACE_LIVE, &l);
        }
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_trace *t = NULL;
    mt_trace_at at = { MT_TRACE_AT_TIME, 900 };
    mt_trace_site *s = NULL;
    size_t n = 0;
    int clean = 0;
    long total = COUNT_CALLS((clean = mt_trace_open(path, 0, NULL, &t, NULL)) == 0 &&
                             (clean = mt_trace_sites(t, &at, &s, &n, NULL)) == 0);
    ck_assert_int_eq(clean, 0);
    ck_assert_uint_gt(n, 0);
    free(s);
    mt_trace_free(t);
    for (long k = 0; k < total; k++) {
        arm(k);
        t = NULL;
        int rc = mt_trace_open(path, 0, NULL, &t, NULL);
        if (!rc) {
            s = NULL;
            rc = mt_trace_sites(t, &at, &s, &n, NULL);
            ck_assert_msg(rc == 0 || (rc == MT_E_NOMEM && !s), "call %ld (sites): %s", k, mt_err_name(rc));
            free(s);
            mt_trace_free(t);
        } else
            ck_assert_msg(rc == MT_E_NOMEM && !t, "call %ld: %s", k, mt_err_name(rc));
        fail_at = -1;
    }
    unlink(path);
    free(path);
}
END_TEST

/* The cell log of testdata/: its load, growing cells and sorting. */
static int cells_run(mt_cells **c, mt_cell_growth_set *g, uint32_t *order) {
    *c = NULL;
    memset(g, 0, sizeof *g);
    int rc = mt_cells_load(MT_SOURCE_DIR "/testdata/cells.snap", c, NULL);
    if (!rc) rc = mt_cells_growing(*c, MT_CELLS_DEFAULT_THRESHOLD, g, NULL);
    if (!rc) rc = mt_cells_sort(*c, MT_CELLS_BY_PEAK, order);
    return rc;
}

START_TEST(cells_fail_cleanly_at_every_allocation) {
    mt_cells *c;
    mt_cell_growth_set g;
    uint32_t order[15];
    int clean = 0;
    long total = COUNT_CALLS(clean = cells_run(&c, &g, order));
    ck_assert_int_eq(clean, 0);
    ck_assert_uint_eq(g.n, 1);
    mt_cell_growth_free(&g);
    mt_cells_free(c);
    for (long k = 0; k < total; k++) {
        arm(k);
        int rc = cells_run(&c, &g, order);
        fail_at = -1;
        ck_assert_msg(rc == 0 || rc == MT_E_NOMEM, "call %ld: %s", k, mt_err_name(rc));
        /* A failed growing search leaves its set empty; past it, only the
         * sort can fail, which leaves the cells in file order. */
        if (rc == MT_E_NOMEM && g.n) ck_assert_uint_eq(order[0], 0);
        if (!rc) ck_assert_uint_eq(g.n, 1);
        mt_cell_growth_free(&g);
        mt_cells_free(c);
    }
}
END_TEST

/* The PyTorch snapshot importer, from memory and from a file, on the
 * fixtures of testdata/torch/ (each release's layout, the settings, two
 * devices, shared frames). */
START_TEST(torch_import_fails_cleanly_at_every_allocation) {
    static const char *const names[] = { "legacy.pickle", "newest-two-devices.pickle", "frag-oom.pickle" };
    char *out = tmp_path();
    for (size_t f = 0; f < sizeof names / sizeof *names; f++) {
        char path[512];
        snprintf(path, sizeof path, MT_SOURCE_DIR "/testdata/torch/%s", names[f]);
        size_t len;
        unsigned char *data = slurp(path, &len);
        mt_meta extra = { mt_str_c("gpu0.stats.num_ooms"), { .type = MT_VAL_UINT, .v.u = 2 } };
        mt_torch_opts o = { .tool = "nomem", .meta = &extra, .nmeta = 1 };
        for (int from_file = 0; from_file < 2; from_file++) {
            mt_diag d;
            mt_torch_counts c;
#define RUN() (from_file ? mt_torch_import(path, out, &o, &c, &d) : mt_torch_import_mem(data, len, out, &o, &c, &d))
            long total = COUNT_CALLS(RUN());
            ck_assert_int_gt(total, 20);
            for (long k = 0; k < total; k++) {
                arm(k);
                int rc = RUN();
                fail_at = -1;
                ck_assert_msg(rc == MT_E_NOMEM, "%s, %s, allocation %ld of %ld: %s %s", names[f],
                              from_file ? "file" : "memory", k, total, mt_err_name(rc), d.msg);
            }
#undef RUN
        }
        free(data);
    }
    /* Arguments the contract refuses, before any allocation. */
    mt_diag d;
    ck_assert_int_eq(mt_torch_import_mem(NULL, 5, out, NULL, NULL, &d), MT_E_INVAL);
    ck_assert_int_eq(mt_torch_import_mem("}.", 2, NULL, NULL, NULL, NULL), MT_E_INVAL);
    ck_assert_int_eq(mt_torch_import(NULL, out, NULL, NULL, NULL), MT_E_INVAL);
    unlink(out);
    free(out);
}
END_TEST

/* A GPU allocator's state as memtrace-gpu reads it: two devices with
 * segments, blocks, a trace that wrapped, map/unmap, OOMs, steps of three
 * batch sizes (one out of memory), NVML series with processes. */
static void make_gpu_fixture(const char *path) {
    mt_writer *w;
    mt_writer_opts o = { .block_bytes = 700, .level = 0, .background = 0 };
    ck_assert_int_eq(mt_writer_open(path, &o, &w, NULL), 0);
    mt_writer_meta_str(w, "tool", "nomem");
    mt_writer_meta_uint(w, "gpu.max_split_size", 64ull << 20);
    mt_writer_meta_uint(w, "gpu0.free_memory", 70ull << 30);
    mt_writer_meta_uint(w, "gpu0.total_memory", 80ull << 30);
    mt_writer_meta_uint(w, "gpu0.stats.num_alloc_retries", 2);
    mt_writer_meta_uint(w, "gpu.model.param_bytes", 1u << 30);
    for (uint32_t k = 1; k <= 3; k++) {
        mt_frame fr = { k, mt_str_c(k == 1 ? "forward" : "step"),
                        mt_str_c(k == 1 ? "/x/torch/nn/linear.py" : "train.py"), 10 * k };
        mt_writer_add(w, MT_KIND_FRAME, &fr);
        mt_stack st = { k, k, k > 1 ? k - 1 : 0 };
        mt_writer_add(w, MT_KIND_STACK, &st);
    }
    mt_gpu_device dv = { 0, mt_str_c("A100"), 80ull << 30, 0, 0 };
    mt_writer_add(w, MT_KIND_GPU_DEVICE, &dv);
    const uint64_t MiB = 1u << 20;
    for (uint32_t d = 0; d < 2; d++)
        for (uint64_t g = 0; g < 6; g++) {
            uint64_t a = 0x10000000000ull * (d + 1) + g * (1ull << 30), size = g == 5 ? 2 * MiB : 20 * MiB;
            mt_gpu_segment sg = { d, a, size, g % 2 ? 7 : 0, mt_str_c(g == 5 ? "small" : g == 4 ? "private:1,0" : "large"),
                                  8 * MiB, 6 * MiB, 10 * MiB, g == 3 ? MT_GPU_SEG_EXPANDABLE : 0, 2 };
            mt_writer_add(w, MT_KIND_GPU_SEGMENT, &sg);
            mt_gpu_block b1 = { d, a, size / 2, size / 2 - 100, mt_str_c("active_allocated"), (uint32_t)(g % 3 + 1) };
            mt_gpu_block b2 = { d, a + size / 2, size / 4, 0, mt_str_c(g == 2 ? "active_pending_free" : "inactive"), 0 };
            mt_writer_add(w, MT_KIND_GPU_BLOCK, &b1);
            mt_writer_add(w, MT_KIND_GPU_BLOCK, &b2);
        }
    static const char *const actions[] = { "free_completed", "segment_alloc", "alloc", "free_requested",
                                           "free_completed", "segment_map", "segment_unmap", "oom",
                                           "annotate", "alloc", "segment_free", "oom" };
    for (uint32_t d = 0; d < 2; d++)
        for (uint64_t i = 0; i < 36; i++) {
            const char *act = actions[i % 12];
            uint64_t a = 0x10000000000ull * (d + 1) + (i % 6) * (1ull << 30) + (i % 2) * 5 * MiB;
            mt_gpu_event e = { d, 1000 * i, mt_str_c(act), a, (i % 4 + 1) * MiB, i % 2 ? 7 : 0, 3,
                               !strcmp(act, "oom") ? MiB : 0 };
            if (!strcmp(act, "oom")) e.size = (i % 3 ? 30 : 3) * MiB;
            mt_writer_add(w, MT_KIND_GPU_EVENT, &e);
        }
    static const double sizes[] = { 8, 16, 24, 64 };
    for (uint32_t i = 0; i < 4; i++) {
        char label[32];
        snprintf(label, sizeof label, "%g", sizes[i]);
        static const char *const series[] = { "gpu0.step.peak_allocated", "gpu0.step.peak_reserved",
                                              "gpu0.step.reserved", "gpu0.step.used", "gpu0.step.total" };
        double values[] = { (1 + sizes[i] / 4) * (double)(1u << 30), (1.2 + sizes[i] / 4) * (double)(1u << 30),
                            (1.2 + sizes[i] / 4) * (double)(1u << 30), (1.5 + sizes[i] / 4) * (double)(1u << 30),
                            80.0 * (double)(1u << 30) };
        for (int k = 0; k < 5; k++) {
            mt_sample sm = { 100 + i, mt_str_c(series[k]), values[k], mt_str_c(label), 0, 0, 0, 0 };
            mt_writer_add(w, MT_KIND_SAMPLE, &sm);
        }
    }
    mt_event oom = { 200, mt_str_c("oom"), mt_str_c("64"), 0, mt_str_c(NULL) };
    mt_writer_add(w, MT_KIND_EVENT, &oom);
    for (uint32_t i = 0; i < 20; i++) {
        static const char *const nv[] = { "gpu0.used", "gpu0.total", "gpu0.driver_reserved", "gpu0.pid.42",
                                          "gpu1.pid.43" };
        for (int k = 0; k < 5; k++) {
            mt_sample sm = { 1000000ull * i, mt_str_c(nv[k]), (double)((k + 1) * (i + 1)) * (double)(1u << 20),
                             mt_str_c(NULL), 0, 0, 0, 0 };
            mt_writer_add(w, MT_KIND_SAMPLE, &sm);
        }
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
}

/* One GPU analysis at fail_at, whatever it returns; its output as text. */
static int gpu_run(int which, const char *path, char **text) {
    mt_snapshot *s = NULL;
    mt_diag d;
    mt_diag_clear(&d);
    size_t len;
    FILE *f = open_memstream(text, &len);
    int rc = mt_snapshot_load(path, 0, &s, &d);
    if (!rc && which == 0) {
        mt_gpu_report *r = NULL;
        mt_gpu_opts o = { 0, 0, 5 };
        if (!(rc = mt_gpu_analyze(s, &o, &r, &d))) {
            const mt_gpu_pool *p;
            size_t np = mt_gpu_report_pools(r, &p);
            for (size_t i = 0; i < np; i++) fprintf(f, "%s %llu %llu %llu\n", p[i].pool, (unsigned long long)p[i].reserved,
                                                   (unsigned long long)p[i].largest_free, (unsigned long long)p[i].stranded);
            const mt_gpu_oom *o2;
            size_t no = mt_gpu_report_ooms(r, &o2);
            for (size_t i = 0; i < no; i++) fprintf(f, "oom %d %llu\n", o2[i].cause, (unsigned long long)o2[i].pool_free);
            const mt_gpu_site *st;
            size_t ns = mt_gpu_report_sites(r, &st);
            for (size_t i = 0; i < ns; i++) fprintf(f, "site %u %llu\n", st[i].stack, (unsigned long long)st[i].bytes);
            uint64_t t[8], a[8], re[8];
            size_t nc = mt_gpu_report_curve(r, 0, 8, t, a, re);
            for (size_t i = 0; i < nc; i++) fprintf(f, "c %llu\n", (unsigned long long)a[i]);
        }
        mt_gpu_report_free(r);
    } else if (!rc && which == 1) {
        mt_gpu_batch *b = NULL;
        size_t n = 0;
        if (!(rc = mt_gpu_batch_fit(s, NULL, &b, &n, &d)))
            for (size_t i = 0; i < n; i++) fprintf(f, "%g %g %lld\n", b[i].per_sample, b[i].fixed, (long long)b[i].max_batch);
        mt_gpu_batches_free(b, n);
    } else if (!rc && which == 2) {
        mt_gpu_nvml *v = NULL;
        size_t n = 0;
        if (!(rc = mt_gpu_nvml_read(s, &v, &n, &d)))
            for (size_t i = 0; i < n; i++) fprintf(f, "%u %g %u\n", v[i].device, v[i].used_peak, v[i].processes);
        free(v);
    } else if (!rc && which == 3) {
        mt_df_table *t = NULL;
        mt_gpu_device *g = NULL;
        size_t ng = 0;
        mt_gpu_report *r = NULL;
        if (!(rc = mt_advise_load(s, &t, &g, &ng, &r, &d))) {
            mt_rules *rules = NULL;
            mt_advice_list *l = NULL;
            if (!(rc = mt_rules_new(&rules)) &&
                !(rc = mt_rules_add_file(rules, MT_SOURCE_DIR "/rules/default.yaml", &d))) {
                mt_advise_input in = { t, g, ng, 1e9, 0, 8, r };
                if (!(rc = mt_advise(rules, &in, &l, &d)))
                    for (size_t i = 0; i < l->n; i++) fprintf(f, "%s\n", l->items[i].rule);
                mt_advice_list_free(l);
            }
            mt_rules_free(rules);
            mt_df_table_free(t);
            mt_gpu_devices_free(g, ng);
            mt_gpu_report_free(r);
        }
    }
    mt_snapshot_free(s);
    fclose(f);
    return rc;
}

START_TEST(gpu_fails_cleanly_at_every_allocation) {
    char *path = tmp_path();
    make_gpu_fixture(path);
    for (int which = 0; which < 4; which++) {
        char *want = NULL;
        int clean = 0;
        long total = COUNT_CALLS(clean = gpu_run(which, path, &want));
        ck_assert_msg(clean == 0, "gpu %d: %s", which, mt_err_name(clean));
        ck_assert_msg(want[0], "gpu %d: nothing came out", which);
        for (long i = 0; i < total; i++) {
            char *got = NULL;
            arm(i);
            int rc = gpu_run(which, path, &got);
            fail_at = -1;
            ck_assert_msg(rc == MT_E_NOMEM || rc == 0, "gpu %d, allocation %ld: %s", which, i, mt_err_name(rc));
            if (!rc) ck_assert_msg(!strcmp(got, want), "gpu %d, allocation %ld: other output", which, i);
            free(got);
        }
        free(want);
    }
    /* The GPU plots, the same way. */
    static const char *const kinds[] = { "gpu-segments", "gpu-timeline" };
    mt_plot_opts o = { .image = "p.png", .data = "p.dat" };
    for (int k = 0; k < 2; k++) {
        const mt_plot_kind *kind = NULL;
        ck_assert_int_eq(mt_plot_kind_from_name(kinds[k], &kind), 0);
        const char *paths[] = { path };
        char *gp = NULL, *dat = NULL;
        size_t glen, dlen;
        FILE *g = open_memstream(&gp, &glen), *dd = open_memstream(&dat, &dlen);
        int clean = 0;
        long total = COUNT_CALLS(clean = mt_plot_write(kind, paths, 1, &o, g, dd, NULL));
        ck_assert_msg(clean == 0, "%s: %s", kinds[k], mt_err_name(clean));
        fclose(g);
        fclose(dd);
        for (long i = 0; i < total; i++) {
            char *gp2 = NULL, *dat2 = NULL;
            g = open_memstream(&gp2, &glen);
            dd = open_memstream(&dat2, &dlen);
            arm(i);
            int rc = mt_plot_write(kind, paths, 1, &o, g, dd, NULL);
            fail_at = -1;
            fclose(g);
            fclose(dd);
            ck_assert_msg(rc == MT_E_NOMEM || rc == 0, "%s, allocation %ld: %s", kinds[k], i, mt_err_name(rc));
            if (!rc) ck_assert_msg(!strcmp(gp2, gp) && !strcmp(dat2, dat), "%s, allocation %ld: other output", kinds[k], i);
            free(gp2);
            free(dat2);
        }
        free(gp);
        free(dat);
    }
    unlink(path);
    free(path);
}
END_TEST

int main(void) {
    Suite *s = suite_create("nomem");
    TCase *tc = tcase_create("nomem");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, load_fails_cleanly_at_every_allocation);
    tcase_add_test(tc, analyses_fail_cleanly_at_every_allocation);
    tcase_add_test(tc, leaks_with_suspects_fail_cleanly_at_every_allocation);
    tcase_add_test(tc, save_and_export_fail_cleanly);
    tcase_add_test(tc, writer_and_import_fail_cleanly);
    tcase_add_test(tc, frames_table_fails_cleanly_at_every_allocation);
    tcase_add_test(tc, rules_and_advice_fail_cleanly_at_every_allocation);
    tcase_add_test(tc, plots_fail_cleanly_at_every_allocation);
    tcase_add_test(tc, predictions_fail_cleanly_at_every_allocation);
    tcase_add_test(tc, trace_fails_cleanly_at_every_allocation);
    tcase_add_test(tc, cells_fail_cleanly_at_every_allocation);
    tcase_add_test(tc, torch_import_fails_cleanly_at_every_allocation);
    tcase_add_test(tc, gpu_fails_cleanly_at_every_allocation);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
