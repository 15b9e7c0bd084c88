/* The trace reader (trace.h) against hand-computed traces written with
 * the formats writer, and against an oracle the test keeps itself. */
#include <math.h>
#include <sys/stat.h>
#include "memtrace/analyze.h"
#include "../helpers.h"

#define MS 1000000ull

/* ---- writing traces ---- */

static mt_writer *open_trace(const char *path, const char *mode, size_t block_bytes) {
    mt_writer_opts o = { 0 };
    o.block_bytes = block_bytes;
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_writer_open(path, &o, &w, &d), 0);
    if (mode) ck_assert_int_eq(mt_writer_meta_str(w, "trace_mode", mode), 0);
    ck_assert_int_eq(mt_writer_meta_uint(w, "start_time", 1700000000000000000ull), 0);
    return w;
}

/* Frames main a.py:1, load b.py:10, parse c.py:20, tmp d.py:30; stacks
 * 1 main, 2 load<main, 3 parse<load<main, 4 tmp<main. */
static void add_stacks(mt_writer *w) {
    const char *fn[] = { "main", "load", "parse", "tmp" }, *file[] = { "a.py", "b.py", "c.py", "d.py" };
    uint32_t line[] = { 1, 10, 20, 30 }, parent[] = { 0, 1, 2, 1 };
    for (uint32_t i = 0; i < 4; i++) {
        mt_frame f = { i + 1, mt_str_c(fn[i]), mt_str_c(file[i]), line[i] };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_FRAME, &f), 0);
        mt_stack s = { i + 1, i + 1, parent[i] };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_STACK, &s), 0);
    }
}

static void ev(mt_writer *w, uint64_t t, uint32_t op, uint64_t size, uint32_t stack, double weight, uint64_t born) {
    mt_alloc a = { 0 };
    a.time_ns = t;
    a.op = op;
    a.address = 0x1000 + size; /* a reader must not need it */
    a.size = size;
    a.stack = stack;
    a.weight = weight;
    a.born_ns = born;
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_ALLOC, &a), 0);
}

static void cp(mt_writer *w, uint64_t t, uint32_t stack, double bytes, double count, uint64_t upto) {
    mt_trace_live l = { t, stack, bytes, count, upto };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_TRACE_LIVE, &l), 0);
}

static void step(mt_writer *w, uint64_t t, const char *name) {
    mt_event e = { t, mt_str_c("step"), mt_str_c(name), 0, mt_str_c("") };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_EVENT, &e), 0);
}

static void close_ok(mt_writer *w) {
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_writer_close(w, &d), 0);
}

/* The hand-made trace (mode all). Records by sequence number:
 *   0  0 ms   alloc A 1000 @2           live 1000
 *   1  1 ms   alloc B  500 @3           1500
 *   2  2 ms   alloc C   64 @4           1564
 *   3  2.5 ms free  C (born 2 ms)       1500   temporary (0.5 ms)
 *   4  5 ms   alloc D 2000 @3           3500   the peak
 *   5  6 ms   free  A (born 0)          2500
 *   6  7 ms   free  D (born 5 ms)        500   not temporary (2 ms)
 *   7  8 ms   alloc E  300 @2            800   A.. gone; B and E leak
 * checkpoints: (3 ms, upto 4): @2 1000/1, @3 500/1; (7 ms, upto 7): @3 500/1.
 * steps: load 0, parse 4 ms, eval 7.5 ms. */
static char *write_hand(int with_cps, size_t block_bytes) {
    char *p = tmp_path();
    mt_writer *w = open_trace(p, "all", block_bytes);
    add_stacks(w);
    step(w, 0, "load");
    step(w, 4 * MS, "parse");
    step(w, 7 * MS + MS / 2, "eval");
    ev(w, 0, 0, 1000, 2, 0, 0);
    ev(w, 1 * MS, 0, 500, 3, 0, 0);
    ev(w, 2 * MS, 0, 64, 4, 0, 0);
    ev(w, 2 * MS + MS / 2, 1, 64, 4, 0, 2 * MS);
    if (with_cps) {
        ck_assert_int_eq(mt_writer_flush(w), 0);
        cp(w, 3 * MS, 2, 1000, 1, 4);
        cp(w, 3 * MS, 3, 500, 1, 4);
    }
    ev(w, 5 * MS, 0, 2000, 3, 0, 0);
    ev(w, 6 * MS, 1, 1000, 2, 0, 0);
    ev(w, 7 * MS, 1, 2000, 3, 0, 5 * MS);
    if (with_cps) {
        ck_assert_int_eq(mt_writer_flush(w), 0);
        cp(w, 7 * MS, 3, 500, 1, 7);
    }
    ev(w, 8 * MS, 0, 300, 2, 0, 0);
    close_ok(w);
    return p;
}

static mt_trace *open_ok(const char *p, unsigned flags) {
    mt_trace *t;
    mt_diag d;
    mt_diag_clear(&d);
    int rc = mt_trace_open(p, flags, NULL, &t, &d);
    if (rc) fprintf(stderr, "open: %s\n", d.msg);
    ck_assert_int_eq(rc, 0);
    return t;
}

static const mt_trace_site *site_of(const mt_trace_site *s, size_t n, uint32_t stack) {
    for (size_t i = 0; i < n; i++)
        if (s[i].stack == stack) return &s[i];
    return NULL;
}

static double live_of(const mt_trace_site *s, size_t n, uint32_t stack) {
    const mt_trace_site *x = site_of(s, n, stack);
    return x ? x->live.value : 0;
}

START_TEST(summary_hand) {
    char *p = write_hand(1, 0);
    mt_trace *t = open_ok(p, 0);
    mt_trace_summary S;
    mt_trace_summary_get(t, &S);
    ck_assert_int_eq(S.sampled, 0);
    ck_assert_uint_eq(S.records, 8);
    ck_assert_uint_eq(S.allocs, 5);
    ck_assert_uint_eq(S.frees, 3);
    ck_assert_uint_eq(S.duration_ns, 8 * MS);
    ck_assert_double_eq(S.peak.value, 3500);
    ck_assert_double_eq(S.peak.se, 0);
    ck_assert_uint_eq(S.peak_ns, 5 * MS);
    ck_assert_uint_eq(S.peak_seq, 4);
    ck_assert_double_eq(S.end.value, 800);
    ck_assert_double_eq(S.end_count.value, 2);
    ck_assert_double_eq(S.allocated.value, 3864);
    ck_assert_double_eq(S.allocated_count.value, 5);
    ck_assert_double_eq(S.temporary.value, 64);
    ck_assert_double_eq(S.temporary_count.value, 1);
    ck_assert_uint_eq(S.temporary_ns, MT_TRACE_TEMPORARY_NS);
    ck_assert_uint_eq(S.stacks, 3);
    ck_assert_uint_eq(S.checkpoints, 2);
    ck_assert_int_eq(S.truncated, 0);
    ck_assert_uint_eq(S.start_time, 1700000000000000000ull);
    /* Steps, in time order. */
    ck_assert_uint_eq(mt_trace_step_count(t), 3);
    ck_assert_str_eq(mt_trace_step_at(t, S.peak_ns)->name, "parse");
    ck_assert_ptr_null(mt_trace_step_find(t, "nope"));
    ck_assert_uint_eq(mt_trace_step_find(t, "eval")->time_ns, 7 * MS + MS / 2);
    mt_trace_free(t);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(sites_peak_end_time) {
    char *p = write_hand(1, 0);
    mt_trace *t = open_ok(p, 0);
    mt_trace_site *s;
    size_t n;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_trace_sites(t, NULL, &s, &n, &d), 0); /* the peak */
    ck_assert_double_eq(live_of(s, n, 2), 1000);
    ck_assert_double_eq(live_of(s, n, 3), 2500);
    ck_assert_double_eq(live_of(s, n, 4), 0);
    const mt_trace_site *x = site_of(s, n, 3);
    ck_assert_double_eq(x->live_count.value, 2);
    ck_assert_double_eq(x->allocated.value, 2500);
    ck_assert_double_eq(x->end.value, 500);
    x = site_of(s, n, 4);
    ck_assert_ptr_nonnull(x);
    ck_assert_double_eq(x->temporary.value, 64);
    ck_assert_double_eq(x->temporary_count.value, 1);
    ck_assert_double_eq(x->end.value, 0);
    /* Sorting: by peak 3, 2; by allocated 3, 2, 4; by leaked 3 (500), 2 (300). */
    mt_trace_sites_sort(s, n, MT_TRACE_BY_PEAK);
    ck_assert_uint_eq(s[0].stack, 3);
    ck_assert_uint_eq(s[1].stack, 2);
    mt_trace_sites_sort(s, n, MT_TRACE_BY_TEMPORARY);
    ck_assert_uint_eq(s[0].stack, 4);
    mt_trace_sites_sort(s, n, MT_TRACE_BY_LEAKED);
    ck_assert_uint_eq(s[0].stack, 3);
    ck_assert_uint_eq(s[1].stack, 2);
    free(s);
    mt_trace_at end = { MT_TRACE_AT_END, 0 };
    ck_assert_int_eq(mt_trace_sites(t, &end, &s, &n, &d), 0);
    ck_assert_double_eq(live_of(s, n, 2), 300);
    ck_assert_double_eq(live_of(s, n, 3), 500);
    free(s);
    /* Moments: (time, @2, @3, @4). 6.5 ms starts at the first checkpoint;
     * 7 ms and 9 ms at the second; 0.5 ms before any. */
    static const struct { uint64_t t; double a, b, c; } M[] = {
        { 0, 1000, 0, 0 },          { MS / 2, 1000, 0, 0 },   { 2 * MS, 1000, 500, 64 },
        { 3 * MS, 1000, 500, 0 },   { 5 * MS, 1000, 2500, 0 }, { 6 * MS + MS / 2, 0, 2500, 0 },
        { 7 * MS, 0, 500, 0 },      { 9 * MS, 300, 500, 0 },
    };
    for (size_t i = 0; i < sizeof M / sizeof *M; i++) {
        mt_trace_at at = { MT_TRACE_AT_TIME, M[i].t };
        ck_assert_int_eq(mt_trace_sites(t, &at, &s, &n, &d), 0);
        ck_assert_double_eq(live_of(s, n, 2), M[i].a);
        ck_assert_double_eq(live_of(s, n, 3), M[i].b);
        ck_assert_double_eq(live_of(s, n, 4), M[i].c);
        mt_est tot;
        ck_assert_int_eq(mt_trace_live_total(t, &at, &tot, &d), 0);
        ck_assert_double_eq(tot.value, M[i].a + M[i].b + M[i].c);
        free(s);
    }
    mt_trace_free(t);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(histogram_curve_folded) {
    char *p = write_hand(0, 0);
    mt_trace *t = open_ok(p, 0);
    mt_trace_size_class h[MT_TRACE_SIZE_CLASSES];
    mt_trace_histogram(t, h);
    /* 64 -> class 6; 300, 500 -> 8; 1000 -> 9; 2000 -> 10. */
    ck_assert_double_eq(h[6].count.value, 1);
    ck_assert_double_eq(h[8].count.value, 2);
    ck_assert_double_eq(h[8].bytes.value, 800);
    ck_assert_double_eq(h[9].bytes.value, 1000);
    ck_assert_double_eq(h[10].bytes.value, 2000);
    ck_assert_uint_eq(h[8].low, 256);
    ck_assert_uint_eq(h[8].high, 511);
    double total = 0;
    for (int k = 0; k < MT_TRACE_SIZE_CLASSES; k++) total += h[k].bytes.value;
    ck_assert_double_eq(total, 3864);
    /* 8 points over [0, 8 ms]: each 1 ms + 1/8 ns wide. */
    mt_trace_point pt[8];
    size_t got;
    mt_trace_curve(t, 8, pt, &got);
    ck_assert_uint_eq(got, 8);
    double mx = 0;
    for (size_t i = 0; i < got; i++) mx = pt[i].max_bytes > mx ? pt[i].max_bytes : mx;
    ck_assert_double_eq(mx, 3500);
    ck_assert_double_eq(pt[got - 1].end_bytes, 800);
    ck_assert_double_eq(pt[0].max_bytes, 1500); /* A at 0, B at 1 ms: inside [0, 1.000000125 ms) */
    ck_assert_double_eq(pt[3].max_bytes, 1500); /* nothing happens in [3, 4) ms: carried */
    char buf[256];
    mt_trace_folded(t, 3, buf, sizeof buf);
    ck_assert_str_eq(buf, "main (a.py:1);load (b.py:10);parse (c.py:20)");
    size_t need = mt_trace_folded(t, 3, buf, 10);
    ck_assert_uint_eq(need, strlen("main (a.py:1);load (b.py:10);parse (c.py:20)"));
    ck_assert_str_eq(buf, "main (a.p");
    mt_trace_free(t);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(temporary_threshold) {
    char *p = write_hand(0, 0);
    mt_trace *t;
    mt_diag d;
    mt_diag_clear(&d);
    /* 2 ms: D (freed 2 ms after) becomes temporary too; 0: none. */
    mt_trace_opts o = { 2 * MS, 1, NULL, NULL };
    ck_assert_int_eq(mt_trace_open(p, 0, &o, &t, &d), 0);
    mt_trace_summary S;
    mt_trace_summary_get(t, &S);
    ck_assert_double_eq(S.temporary.value, 2064);
    mt_trace_free(t);
    o.temporary_ns = 0;
    ck_assert_int_eq(mt_trace_open(p, 0, &o, &t, &d), 0);
    mt_trace_summary_get(t, &S);
    ck_assert_double_eq(S.temporary.value, 0);
    mt_trace_free(t);
    unlink(p);
    free(p);
}
END_TEST

/* Weights by hand: alloc 100 B at w 4 (@2), alloc 200 B at w 2 (@3), free
 * the first. Bytes 400 (var 100^2*4*3 = 120000) and 400 (var 200^2*2*1 =
 * 80000). */
START_TEST(sampled_estimates) {
    char *p = tmp_path();
    mt_writer *w = open_trace(p, "sampled", 0);
    ck_assert_int_eq(mt_writer_meta_uint(w, "sample_bytes", 1000), 0);
    add_stacks(w);
    ev(w, 10, 0, 100, 2, 4, 0);
    ev(w, 20, 0, 200, 3, 2, 0);
    ev(w, 30, 1, 100, 2, 4, 10);
    /* A checkpoint that disagrees: sampled traces must not use it (it has
     * no variance), so it must not change the answer. */
    cp(w, 25, 2, 99999, 9, 2);
    close_ok(w);
    mt_trace *t = open_ok(p, 0);
    mt_trace_summary S;
    mt_trace_summary_get(t, &S);
    ck_assert_int_eq(S.sampled, 1);
    ck_assert_double_eq(S.sample_bytes, 1000);
    ck_assert_double_eq(S.peak.value, 800);
    ck_assert_double_eq_tol(S.peak.se, sqrt(200000.0), 1e-9);
    ck_assert_uint_eq(S.peak_seq, 1);
    ck_assert_double_eq(S.end.value, 400);
    ck_assert_double_eq_tol(S.end.se, sqrt(80000.0), 1e-9);
    ck_assert_double_eq(S.allocated.value, 800);
    ck_assert_double_eq_tol(S.allocated.se, sqrt(200000.0), 1e-9);
    ck_assert_double_eq(S.allocated_count.value, 6);
    ck_assert_double_eq_tol(S.allocated_count.se, sqrt(4 * 3 + 2 * 1.0), 1e-9);
    /* 30 - 10 ns <= 1 ms: the freed block is temporary. */
    ck_assert_double_eq(S.temporary.value, 400);
    ck_assert_double_eq_tol(S.temporary.se, sqrt(120000.0), 1e-9);
    mt_trace_site *s;
    size_t n;
    mt_diag d;
    mt_diag_clear(&d);
    mt_trace_at at = { MT_TRACE_AT_TIME, 26 };
    ck_assert_int_eq(mt_trace_sites(t, &at, &s, &n, &d), 0);
    ck_assert_double_eq(live_of(s, n, 2), 400);
    ck_assert_double_eq_tol(site_of(s, n, 2)->live.se, sqrt(120000.0), 1e-9);
    ck_assert_double_eq(live_of(s, n, 3), 400);
    free(s);
    mt_trace_free(t);
    unlink(p);
    free(p);
}
END_TEST

/* A random trace with checkpoints, tiny blocks, and an oracle kept here:
 * live per stack after every record. Every moment asked must agree with
 * the oracle, from checkpoints and from a full replay alike. */
#define NSTACK 4
#define NREC 3000
static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

START_TEST(checkpoints_match_full_replay) {
    char *p = tmp_path();
    mt_writer *w = open_trace(p, "all", 200);
    add_stacks(w);
    /* Live blocks the test tracks: size, stack, born. */
    static uint64_t bsize[NREC], bborn[NREC];
    static uint32_t bstack[NREC];
    size_t nb = 0;
    static double hist[NREC + 1][NSTACK + 1]; /* live per stack after record i */
    static uint64_t when[NREC];
    double live[NSTACK + 1] = { 0 }, peak = -1;
    uint64_t now = 0, peak_seq = 0;
    for (uint64_t i = 0; i < NREC; i++) {
        now += next() % 3 * 1000; /* repeats of one time too */
        if (nb && next() % 5 < 2) {
            size_t k = next() % nb;
            ev(w, now, 1, bsize[k], bstack[k], 0, bborn[k]);
            live[bstack[k]] -= (double)bsize[k];
            nb--;
            bsize[k] = bsize[nb];
            bstack[k] = bstack[nb];
            bborn[k] = bborn[nb];
        } else {
            uint64_t sz = 1 + next() % 5000;
            uint32_t st = 1 + (uint32_t)(next() % NSTACK);
            ev(w, now, 0, sz, st, 0, 0);
            bsize[nb] = sz;
            bstack[nb] = st;
            bborn[nb++] = now;
            live[st] += (double)sz;
        }
        double tot = 0;
        for (int s = 1; s <= NSTACK; s++) tot += hist[i][s] = live[s];
        if (tot > peak) {
            peak = tot;
            peak_seq = i;
        }
        when[i] = now;
        if (i % 97 == 96) { /* a checkpoint after record i: upto i + 1 */
            ck_assert_int_eq(mt_writer_flush(w), 0);
            for (uint32_t s = 1; s <= NSTACK; s++)
                if (live[s] != 0) cp(w, now, s, live[s], 1, i + 1);
        }
    }
    close_ok(w);
    mt_trace *a = open_ok(p, 0), *b = open_ok(p, MT_TRACE_NO_CHECKPOINTS);
    mt_trace_summary S;
    mt_trace_summary_get(a, &S);
    ck_assert_uint_gt(S.checkpoints, 20);
    ck_assert_uint_eq(S.peak_seq, peak_seq);
    ck_assert_double_eq(S.peak.value, peak);
    mt_diag d;
    mt_diag_clear(&d);
    mt_trace_site *s;
    size_t n;
    ck_assert_int_eq(mt_trace_sites(a, NULL, &s, &n, &d), 0);
    for (uint32_t k = 1; k <= NSTACK; k++) ck_assert_double_eq(live_of(s, n, k), hist[peak_seq][k]);
    free(s);
    for (int q = 0; q < 200; q++) {
        uint64_t i = next() % NREC;
        /* The last record at that time holds the live bytes then. */
        while (i + 1 < NREC && when[i + 1] == when[i]) i++;
        mt_trace_at at = { MT_TRACE_AT_TIME, when[i] };
        mt_trace_site *sa, *sb;
        size_t na, nbb;
        ck_assert_int_eq(mt_trace_sites(a, &at, &sa, &na, &d), 0);
        ck_assert_int_eq(mt_trace_sites(b, &at, &sb, &nbb, &d), 0);
        for (uint32_t k = 1; k <= NSTACK; k++) {
            ck_assert_double_eq(live_of(sa, na, k), hist[i][k]);
            ck_assert_double_eq(live_of(sb, nbb, k), hist[i][k]);
        }
        free(sa);
        free(sb);
    }
    mt_trace_free(a);
    mt_trace_free(b);
    unlink(p);
    free(p);
}
END_TEST

/* A writer killed mid-block: the file ends inside its last allocs block
 * and has no index; the reader uses every complete block and says so. */
START_TEST(truncated_file) {
    char *p = tmp_path();
    mt_writer *w = open_trace(p, "all", 100);
    add_stacks(w);
    for (uint64_t i = 0; i < 200; i++) ev(w, i * 10, 0, 100, 2, 0, 0);
    close_ok(w);
    mt_reader *r;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_reader_open(p, &r, &d), 0);
    const mt_block_info *last = NULL;
    for (size_t i = 0; i < mt_reader_block_count(r); i++)
        if (mt_reader_block(r, i)->kind == MT_KIND_ALLOC) last = mt_reader_block(r, i);
    ck_assert_ptr_nonnull(last);
    uint64_t cut = last->offset + 40, kept = last->first;
    mt_reader_free(r);
    ck_assert_int_eq(truncate(p, (off_t)cut), 0);
    mt_trace *t = open_ok(p, 0);
    mt_trace_summary S;
    mt_trace_summary_get(t, &S);
    ck_assert_int_eq(S.truncated, 1);
    ck_assert_uint_eq(S.records, kept);
    ck_assert_double_eq(S.end.value, 100.0 * (double)kept);
    mt_trace_free(t);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(not_a_trace) {
    mt_trace *t;
    mt_diag d;
    /* trace_mode but no allocs. */
    char *p = tmp_path();
    mt_writer *w = open_trace(p, "all", 0);
    add_stacks(w);
    close_ok(w);
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_trace_open(p, 0, NULL, &t, &d), MT_E_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(d.msg, "no allocs records"));
    /* allocs but no trace_mode. */
    w = open_trace(p, NULL, 0);
    ev(w, 1, 0, 10, 0, 0, 0);
    close_ok(w);
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_trace_open(p, 0, NULL, &t, &d), MT_E_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(d.msg, "trace_mode"));
    /* Out of time order: record 1 goes back. */
    w = open_trace(p, "all", 0);
    ev(w, 100, 0, 10, 0, 0, 0);
    ev(w, 50, 0, 10, 0, 0, 0);
    close_ok(w);
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_trace_open(p, 0, NULL, &t, &d), MT_E_RECORD);
    ck_assert_ptr_nonnull(strstr(d.msg, "allocs record 1"));
    ck_assert_ptr_nonnull(strstr(d.msg, "time order"));
    /* Not a snapshot at all. */
    spit(p, "hello", 5);
    ck_assert_int_eq(mt_trace_open(p, 0, NULL, &t, &d), MT_E_NOTSNAP);
    unlink(p);
    free(p);
}
END_TEST

/* The same file from memory (the fuzz target's way in) and from its path
 * (mapped) gives the same figures. */
START_TEST(open_mem_same) {
    char *p = write_hand(1, 64);
    size_t len;
    unsigned char *buf = slurp(p, &len);
    mt_trace *a = open_ok(p, 0), *b;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_trace_open_mem(buf, len, "mem", 0, NULL, &b, &d), 0);
    mt_trace_summary x, y;
    mt_trace_summary_get(a, &x);
    mt_trace_summary_get(b, &y);
    ck_assert_uint_eq(x.records, 8);
    ck_assert_mem_eq(&x, &y, sizeof x);
    mt_trace_at at = { MT_TRACE_AT_TIME, 6 * MS + MS / 2 };
    mt_est ea, eb;
    ck_assert_int_eq(mt_trace_live_total(a, &at, &ea, &d), 0);
    ck_assert_int_eq(mt_trace_live_total(b, &at, &eb, &d), 0);
    ck_assert_double_eq(ea.value, 2500);
    ck_assert_double_eq(eb.value, 2500);
    mt_trace_free(a);
    mt_trace_free(b);
    free(buf);
    unlink(p);
    free(p);
}
END_TEST

/* A flipped byte in an allocs block's payload: refused without salvage,
 * naming the block; with it, the block is left out and counted. A flipped
 * block header is found at open. */
START_TEST(damaged_blocks) {
    char *p = write_hand(0, 64);
    mt_reader *r;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_reader_open(p, &r, &d), 0);
    const mt_block_info *b = NULL;
    size_t nalloc = 0;
    for (size_t i = 0; i < mt_reader_block_count(r); i++)
        if (mt_reader_block(r, i)->kind == MT_KIND_ALLOC && nalloc++ == 1) b = mt_reader_block(r, i);
    ck_assert_ptr_nonnull(b);
    uint64_t off = b->offset, stored = b->stored, count = b->count;
    mt_reader_free(r);
    size_t len;
    unsigned char *buf = slurp(p, &len);
    buf[off + MT_BLOCK_HEADER_BYTES + stored / 2] ^= 0x55;
    spit(p, buf, len);
    mt_trace *t;
    ck_assert_int_eq(mt_trace_open(p, 0, NULL, &t, &d), MT_E_DAMAGED);
    ck_assert_int_eq(d.offset, (int64_t)off);
    ck_assert_int_eq(mt_trace_open(p, MT_LOAD_SALVAGE, NULL, &t, &d), 0);
    mt_trace_summary S;
    mt_trace_summary_get(t, &S);
    ck_assert_uint_eq(S.lost_blocks, 1);
    ck_assert_uint_eq(S.lost_records, count);
    ck_assert_uint_eq(S.records, 8 - count);
    mt_trace_free(t);
    buf[off + MT_BLOCK_HEADER_BYTES + stored / 2] ^= 0x55;
    buf[off + 12] ^= 0x01; /* its count: the header CRC fails */
    spit(p, buf, len);
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_trace_open(p, 0, NULL, &t, &d), MT_E_DAMAGED);
    free(buf);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(accessors) {
    char *p = write_hand(1, 0);
    mt_trace *t = open_ok(p, 0);
    mt_diag d;
    mt_diag_clear(&d);
    mt_est e;
    mt_trace_at peak = { MT_TRACE_AT_PEAK, 0 }, end = { MT_TRACE_AT_END, 0 };
    ck_assert_int_eq(mt_trace_live_total(t, &peak, &e, &d), 0);
    ck_assert_double_eq(e.value, 3500);
    ck_assert_int_eq(mt_trace_live_total(t, &end, &e, &d), 0);
    ck_assert_double_eq(e.value, 800);
    ck_assert_int_eq(mt_trace_live_total(t, NULL, &e, &d), 0);
    ck_assert_double_eq(e.value, 3500);
    mt_trace_site x = { 0 };
    x.live.value = 1;
    x.allocated.value = 2;
    x.allocated_count.value = 3;
    x.temporary_count.value = 4;
    x.end.value = 5;
    ck_assert_double_eq(mt_trace_site_figure(&x, MT_TRACE_BY_PEAK).value, 1);
    ck_assert_double_eq(mt_trace_site_figure(&x, MT_TRACE_BY_ALLOCATED).value, 2);
    ck_assert_double_eq(mt_trace_site_figure(&x, MT_TRACE_BY_COUNT).value, 3);
    ck_assert_double_eq(mt_trace_site_figure(&x, MT_TRACE_BY_TEMPORARY).value, 4);
    ck_assert_double_eq(mt_trace_site_figure(&x, MT_TRACE_BY_LEAKED).value, 5);
    ck_assert_str_eq(mt_trace_step_get(t, 0)->name, "load");
    ck_assert_ptr_null(mt_trace_step_get(t, 3));
    char buf[64];
    mt_trace_folded(t, 99, buf, sizeof buf); /* a stack no record defines */
    ck_assert_str_eq(buf, "<unknown>");
    mt_trace_free(t);
    unlink(p);
    free(p);
}
END_TEST

/* Records a trace must not hold, one file each, and meta and events the
 * reader passes over; diag may be NULL throughout. */
START_TEST(odd_records) {
    char *p = tmp_path();
    static const struct { uint32_t op; double weight; const char *why; } bad[] = {
        { 2, 0, "op is not 0" }, { 0, -1, "weight is negative" }, { 0, NAN, "not a number" },
        { 0, INFINITY, "not a number" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mt_writer *w = open_trace(p, "all", 0);
        ev(w, 1, 0, 10, 1, 0, 0);
        ev(w, 2, bad[i].op, 10, 1, bad[i].weight, 0);
        close_ok(w);
        mt_trace *t;
        mt_diag d;
        mt_diag_clear(&d);
        ck_assert_int_eq(mt_trace_open(p, 0, NULL, &t, &d), MT_E_RECORD);
        ck_assert_ptr_nonnull(strstr(d.msg, bad[i].why));
        ck_assert_int_eq(mt_trace_open(p, 0, NULL, &t, NULL), MT_E_RECORD);
    }
    /* Meta of other types, an event that is not a step, a record without
     * a stack: read as they are. */
    mt_writer *w = open_trace(p, "exact", 0);
    ck_assert_int_eq(mt_writer_meta_float(w, "sample_bytes", 1.5), 0);
    ck_assert_int_eq(mt_writer_meta_str(w, "start_time", "yesterday"), 0);
    mt_event e = { 1, mt_str_c("dump"), mt_str_c("x"), 0, mt_str_c("") };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_EVENT, &e), 0);
    ev(w, 1, 0, 10, 0, 0, 0);
    close_ok(w);
    mt_trace *t;
    ck_assert_int_eq(mt_trace_open(p, 0, NULL, &t, NULL), 0);
    mt_trace_summary S;
    mt_trace_summary_get(t, &S);
    ck_assert_int_eq(S.sampled, 0);
    ck_assert_double_eq(S.sample_bytes, 1.5);
    ck_assert_uint_eq(S.start_time, 0); /* the last start_time counts: not a number, so unknown */
    ck_assert_uint_eq(mt_trace_step_count(t), 0);
    ck_assert_ptr_null(mt_trace_step_at(t, 5));
    mt_trace_site *s;
    size_t n;
    mt_trace_at at = { MT_TRACE_AT_TIME, 0 };
    ck_assert_int_eq(mt_trace_sites(t, &at, &s, &n, NULL), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(s[0].stack, 0);
    char buf[32];
    mt_trace_folded(t, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "<unknown>");
    free(s);
    mt_trace_free(t);
    /* No trace_mode, no diag. */
    w = open_trace(p, NULL, 0);
    ev(w, 1, 0, 10, 0, 0, 0);
    close_ok(w);
    ck_assert_int_eq(mt_trace_open(p, 0, NULL, &t, NULL), MT_E_NOTFOUND);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(by_names) {
    mt_trace_by b;
    for (int i = 0; i <= MT_TRACE_BY_LEAKED; i++) {
        ck_assert_int_eq(mt_trace_by_from_name(mt_trace_by_name((mt_trace_by)i), &b), 0);
        ck_assert_int_eq(b, i);
    }
    ck_assert_int_eq(mt_trace_by_from_name("size", &b), MT_E_INVAL);
}
END_TEST

int main(void) {
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("trace");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, summary_hand);
    tcase_add_test(tc, sites_peak_end_time);
    tcase_add_test(tc, histogram_curve_folded);
    tcase_add_test(tc, temporary_threshold);
    tcase_add_test(tc, sampled_estimates);
    tcase_add_test(tc, checkpoints_match_full_replay);
    tcase_add_test(tc, truncated_file);
    tcase_add_test(tc, not_a_trace);
    tcase_add_test(tc, open_mem_same);
    tcase_add_test(tc, damaged_blocks);
    tcase_add_test(tc, accessors);
    tcase_add_test(tc, odd_records);
    tcase_add_test(tc, by_names);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
