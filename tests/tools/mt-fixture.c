/* Writes testdata/all-kinds.snap: one or two records of every kind with
 * fixed values, which tests/python/test_format.py checks field by field
 * through the independent reader. Usage: mt-fixture OUT.snap
 *
 * mt-fixture --hostile OUT.snap writes testdata/hostile/names.snap: a small
 * heap, stacks, DataFrame, samples and a GPU device whose every name is
 * hostile (quote, backslash, newline, terminal escape, ';', NUL, invalid
 * UTF-8), for the tests that check each output with its own parser.
 *
 * mt-fixture --percent OUT.snap writes testdata/hostile/percent.snap: a
 * pipeline whose steps hold '%' ("keep 90%", "sample 1%d"), which gnuplot
 * reads as a format in a tic label, and a heap of one 1 MiB object whose
 * type holds a terminal escape, BEL, tab, newline and '%' (for the GitHub
 * workflow commands of memtrace-gate --github).
 *
 * mt-fixture --run OUT.snap writes testdata/run.snap: a sampler's run
 * file of 60 s at 100 ms, flushed every second as memtrace-sample does
 * (publish_on_flush), whose first 30 s are thinned into 1-second buckets
 * (SPEC.md 4.3). Its figures follow closed forms that the tests recompute:
 *   rss(t)            = 200 MiB + 2 MiB/s * t, but for a spike to 900 MiB
 *                       at t = 12.3 s, inside the bucket [12 s, 13 s)
 *   pss               = rss * 0.75 (points only)
 *   cgroup.current    = rss + 50 MiB; cgroup.max = 1 GiB
 *   mem.available     = 8 GiB; gpu0.used = 4 GiB flat; gpu0.total = 80 GiB
 * and events: start, step load (0.5 s), a dump and an alert at the spike,
 * step train (20 s), step eval (45 s).
 * mt-fixture --run-cut OUT.snap writes testdata/growing/run-cut.snap (apart
 * from the closed files that tests read whole): the same run
 * stopped by a crash at 51 s, its last flush cut in the middle of its
 * block (a file still being written, SPEC.md 3.4).
 *
 * mt-fixture --trace OUT.snap writes testdata/trace.snap: an allocation
 * trace (SPEC.md 4.3, 1.4) of 8 s, every event recorded, whose figures are
 * worked out by hand in the comment of trace_fixture() below.
 * mt-fixture --trace-sampled OUT.snap writes testdata/trace-sampled.snap
 * (sample_bytes 512 KiB, weights 1/p), and --trace-cut OUT.snap
 * testdata/growing/trace-cut.snap: trace.snap written in small blocks and cut
 * inside its last allocs block, as a killed tracer leaves it.
 *
 * mt-fixture --trace-sites OUT.snap writes testdata/trace-sites.snap: a full
 * allocation trace (SPEC.md 4.3, 1.4) small enough to follow by hand.
 * Frames: 1 alloc_a (a.py:10), 2 main (a.py:1), 3 alloc_b (b.py:20),
 * 4 unused (c.py:5); stacks 1 main, 2 alloc_a <- main, 3 alloc_b <- main,
 * 4 unused. Events (seconds, block, bytes, stack):
 *   0.5 +A1 100 s2   1.0 +A2 100 s2   1.5 +B1 1000 s3   2.0 -A1
 *   2.5 +C1 50 s4    2.8 -C1          3.0 +A3 300 s2    3.5 -B1
 *   4.0 +B2 2000 s3  4.5 -A2          6.0 +D1 7 s4
 * Live: s2 100 B and s3 1000 B just before 3 s; the peak 2400 B at 4 s
 * (A2 100, A3 300, B2 2000), 2300 B from 4.5 s, 2307 B at the end. Checkpoints at 2.9 s (6 records),
 * 4.2 s (9) and 6 s (11); rss samples at 1, 3.5 and 6 s; events start
 * (0 s) and step train (4 s).
 *
 * mt-fixture --trace-hostile OUT.snap writes testdata/hostile/trace-names.snap:
 * a full trace whose innermost frame's function and file are the hostile
 * bytes above: 1000 B allocated there at 1 s, 500 B from main (app.py:1)
 * at 2 s and freed at 3 s (peak 1500 B at 2 s, 1000 B at the end).
 *
 * mt-fixture --cells OUT.snap writes testdata/cells.snap: a notebook's cell
 * log (SPEC.md 4.4) appended to by three writer runs (mt_writer_append),
 * one per kernel session; every figure is worked out in cells_fixture(). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "memtrace/format.h"

#define S(x) mt_str_c(x)

/* Every name: the bytes a parser or a terminal chokes on, NUL included. */
static const char hostile_bytes[] = "q\"b\\s\nnl\r\x1b[31mred\x1b]0;title\x07;semi\0nul\xff\xc3(\xed\xa0\x80\xc2\x9b"
                                    "`touch PWNED`'.system('touch PWNED').'@x";
#define H ((mt_str){ hostile_bytes, sizeof hostile_bytes - 1 })

static int hostile(const char *path) {
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(path, NULL, &w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    mt_meta host = { S("host"), { MT_VAL_STR, { .s = H } } };
    mt_meta label = { S("label"), { MT_VAL_STR, { .s = H } } };
    mt_meta rss = { S("rss"), { MT_VAL_UINT, { .u = 1u << 20 } } };
    mt_writer_add(w, MT_KIND_META, &host);
    mt_writer_add(w, MT_KIND_META, &label);
    mt_writer_add(w, MT_KIND_META, &rss);
    mt_type t1 = { 1, H }, t2 = { 2, S("dict") };
    mt_writer_add(w, MT_KIND_TYPE, &t1);
    mt_writer_add(w, MT_KIND_TYPE, &t2);
    mt_object o1 = { 0x1000, 2, 232, MT_OBJ_GC_TRACKED, 1, 1 };
    mt_object o2 = { 0x2000, 1, 88, 0, 1, 1 };
    mt_writer_add(w, MT_KIND_OBJECT, &o1);
    mt_writer_add(w, MT_KIND_OBJECT, &o2);
    mt_ref r1 = { 0, 1, 0, H };
    mt_writer_add(w, MT_KIND_REF, &r1);
    mt_root root = { 0, S("module"), H };
    mt_writer_add(w, MT_KIND_ROOT, &root);
    mt_frame fr = { 1, H, H, 42 }, fr2 = { 2, S("main"), S("app.py"), 1 };
    mt_writer_add(w, MT_KIND_FRAME, &fr);
    mt_writer_add(w, MT_KIND_FRAME, &fr2);
    mt_stack st2 = { 2, 2, 0 }, st1 = { 1, 1, 2 };
    mt_writer_add(w, MT_KIND_STACK, &st2);
    mt_writer_add(w, MT_KIND_STACK, &st1);
    mt_alloc al = { 1000, MT_ALLOC_ALLOC, 0x1000, 64, 1, 7, 1, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_ALLOC, &al);
    mt_sample sm = { 5, H, 1048576, H, 0, 0, 0, 0 }, sm2 = { 9, H, 2097152, S("next"), 0, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_SAMPLE, &sm);
    mt_writer_add(w, MT_KIND_SAMPLE, &sm2);
    mt_df_frame df = { .id = 1, .name = H, .rows = 1000, .columns = 1, .index_kind = H, .index_bytes = 132,
                       .shallow_bytes = 8132, .deep_bytes = 8132, .step = H, .index_shallow_bytes = 132,
                       .columns_kind = H, .time_ns = 6 };
    mt_writer_add(w, MT_KIND_DF_FRAME, &df);
    mt_df_column col = { .frame = 1, .position = 0, .name = H, .dtype = H, .shallow_bytes = 8000,
                         .deep_bytes = 8000, .distinct_count = 1000, .value_type = H };
    mt_writer_add(w, MT_KIND_DF_COLUMN, &col);
    mt_gpu_device gd = { 0, H, 85899345920ull, 1ull << 30, 1ull << 29 };
    mt_writer_add(w, MT_KIND_GPU_DEVICE, &gd);
    if (mt_writer_close(w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    return 0;
}

static int percent(const char *path) {
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(path, NULL, &w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    mt_sample s1 = { 1000000000, S("rss"), 1048576, S("keep 90%"), 0, 0, 0, 0 };
    mt_sample s2 = { 2000000000, S("rss"), 2097152, S("sample 1%d"), 0, 0, 0, 0 };
    mt_sample s3 = { 3000000000, S("rss"), 3145728, S("%s%n%%"), 0, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_SAMPLE, &s1);
    mt_writer_add(w, MT_KIND_SAMPLE, &s2);
    mt_writer_add(w, MT_KIND_SAMPLE, &s3);
    mt_type t = { 1, S("\x1b]0;title\x07\tx\ny%") };
    mt_object o = { 0x1000, 1, 1048576, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_TYPE, &t);
    mt_writer_add(w, MT_KIND_OBJECT, &o);
    if (mt_writer_close(w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    return 0;
}

#define MIB 1048576.0

/* At tenth of a second i. */
static double run_rss(int i) { return i == 123 ? 900 * MIB : 200 * MIB + 2 * MIB * (i / 10.0); }

static const char *run_step(double t) { return t < 0.5 ? "" : t < 20 ? "load" : t < 45 ? "train" : "eval"; }

static void run_point(mt_writer *w, const char *series, uint64_t t_ns, double v, const char *step) {
    mt_sample sm = { t_ns, S(series), v, S(step), 0, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_SAMPLE, &sm);
}

static void run_event(mt_writer *w, uint64_t t_ns, const char *kind, const char *name, double v, const char *detail) {
    mt_event e = { t_ns, S(kind), S(name), v, S(detail) };
    mt_writer_add(w, MT_KIND_EVENT, &e);
}

static off_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) ? -1 : st.st_size;
}

/* Every series' value at tenth of a second i (t = i / 10 s). */
static void run_tenth(mt_writer *w, int i) {
    double t = i / 10.0, rss = run_rss(i);
    uint64_t ns = (uint64_t)i * 100000000ull;
    const char *step = run_step(t);
    run_point(w, "rss", ns, rss, step);
    run_point(w, "pss", ns, rss * 0.75, step);
    run_point(w, "cgroup.current", ns, rss + 50 * MIB, step);
    run_point(w, "cgroup.max", ns, 1024 * MIB, step);
    run_point(w, "mem.available", ns, 8192 * MIB, step);
    run_point(w, "gpu0.used", ns, 4096 * MIB, step);
    run_point(w, "gpu0.total", ns, 81920 * MIB, step);
}

static int run(const char *path, int cut) {
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    mt_writer_opts wo = { 0 };
    wo.publish_on_flush = 1;
    if (mt_writer_open(path, &wo, &w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    mt_writer_meta_str(w, "tool", "memtrace-sample");
    mt_writer_meta_str(w, "host", "build01");
    mt_writer_meta_uint(w, "pid", 4242);
    mt_writer_meta_uint(w, "start_time", 1764770400000000000ull); /* 2025-12-03 14:00:00 UTC */
    mt_writer_meta_str(w, "command", "python3 train.py --epochs 3");
    mt_writer_meta_uint(w, "interval_ns", 100000000ull);
    mt_writer_meta_uint(w, "mem_total", 16ull << 30);
    run_event(w, 0, "start", "python3 train.py --epochs 3", 0, "");
    /* The first 30 s, thinned into 1-second buckets of 10 points each,
     * written as the sampler's rewrite leaves them (buckets first). */
    for (int b = 0; b < 30; b++) {
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        for (int k = 0; k < 10; k++) {
            double v = run_rss(b * 10 + k);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            sum += v;
        }
        uint64_t ns = (uint64_t)b * 1000000000ull;
        const char *step = run_step(b);
        mt_sample sm = { ns, S("rss"), sum / 10, S(step), 1000000000ull, lo, hi, 10 };
        mt_writer_add(w, MT_KIND_SAMPLE, &sm);
        mt_sample cg = { ns, S("cgroup.current"), sum / 10 + 50 * MIB, S(step), 1000000000ull, lo + 50 * MIB,
                         hi + 50 * MIB, 10 };
        mt_writer_add(w, MT_KIND_SAMPLE, &cg);
        const char *flat[] = { "cgroup.max", "mem.available", "gpu0.used", "gpu0.total" };
        double fv[] = { 1024 * MIB, 8192 * MIB, 4096 * MIB, 81920 * MIB };
        for (int f = 0; f < 4; f++) {
            mt_sample fs = { ns, S(flat[f]), fv[f], S(step), 1000000000ull, fv[f], fv[f], 10 };
            mt_writer_add(w, MT_KIND_SAMPLE, &fs);
        }
    }
    run_event(w, 500000000ull, "step", "load", 0, "");
    run_event(w, 12300000000ull, "alert", "rss>800MiB", 900 * MIB, "dump");
    run_event(w, 12300000000ull, "dump", "peak", 900 * MIB, "dumps/heap-4242-0001.snap");
    run_event(w, 20000000000ull, "step", "train", 0, "");
    mt_writer_flush(w);
    off_t before = 0;
    for (int i = 300; i < 600; i++) {
        if (i == 450) run_event(w, 45000000000ull, "step", "eval", 0, "");
        run_tenth(w, i);
        if (i % 10 == 9) {
            if (cut && i == 509) before = file_size(path);
            if (mt_writer_flush(w)) break;
            if (cut && i == 509) {
                /* A crash in the middle of writing the last block. */
                off_t after = file_size(path);
                mt_writer_abandon(w);
                if (before <= 0 || after <= before || truncate(path, before + (after - before) / 2)) {
                    fprintf(stderr, "mt-fixture: %s: could not cut the last block\n", path);
                    return 3;
                }
                return 0;
            }
        }
    }
    if (mt_writer_close(w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    return 0;
}

static void trace_ev(mt_writer *w, double t_s, uint32_t op, uint64_t size, uint32_t stack, double weight,
                     double born_s) {
    mt_alloc a = { 0 };
    a.time_ns = (uint64_t)llround(t_s * 1e9);
    a.op = op;
    a.address = 0x7f0000000000ull + size;
    a.size = size;
    a.stack = stack;
    a.domain = MT_DOMAIN_NATIVE;
    a.weight = weight;
    a.born_ns = (uint64_t)llround(born_s * 1e9);
    mt_writer_add(w, MT_KIND_ALLOC, &a);
}

static void trace_step(mt_writer *w, double t_s, const char *name) {
    mt_event e = { (uint64_t)llround(t_s * 1e9), S("step"), S(name), 0, S("") };
    mt_writer_add(w, MT_KIND_EVENT, &e);
}

static void trace_cp(mt_writer *w, double t_s, uint32_t stack, double bytes, uint64_t upto) {
    mt_writer_flush(w); /* a checkpoint follows the records it covers */
    mt_trace_live l = { (uint64_t)llround(t_s * 1e9), stack, bytes, 1, upto };
    mt_writer_add(w, MT_KIND_TRACE_LIVE, &l);
}

/* Stacks: 1 main app.py:1; 2 load_data app.py:10 < 1; 3 parse_rows
 * parse.py:42 < 2; 4 make_temp util.py:7 < 3; 5 cache_put cache.py:20 < 1.
 * Steps load 0 s, parse 2 s, eval 6 s. Records (26):
 *   0.1 s alloc 1 MiB @2; 0.5 s alloc 256 KiB @5 (never freed);
 *   2.0 s + i x 0.1 ms, i < 10: alloc 64 B @4, freed 0.05 ms later
 *     (temporary: 10 blocks, 640 B);
 *   checkpoint 3 s, upto 22: @2 1 MiB, @5 256 KiB;
 *   4.0 s alloc 4 MiB @3: the peak, 5.25 MiB, record 22, in step parse;
 *   5.0 s free the 1 MiB @2; 6.5 s free the 4 MiB @3;
 *   checkpoint 7 s, upto 25: @5 256 KiB;
 *   7.5 s alloc 512 KiB @3 (never freed); 8 s: the end.
 * Leaked: 768 KiB in 2 blocks (@3 512 KiB, @5 256 KiB); allocated
 * 5 MiB + 768 KiB + 640 B in 14 blocks; live at 5.5 s: 4.25 MiB. */
static int trace_fixture(const char *path, size_t block_bytes) {
    mt_writer_opts o = { 0 };
    o.block_bytes = block_bytes;
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(path, &o, &w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    mt_writer_meta_str(w, "tool", "mt-fixture");
    mt_writer_meta_uint(w, "pid", 4242);
    mt_writer_meta_uint(w, "start_time", 1764720000000000000ull);
    mt_writer_meta_str(w, "command", "python3 app.py");
    mt_writer_meta_str(w, "trace_mode", "all");
    mt_writer_meta_str(w, "trace_domains", "0,1,3,4");
    mt_writer_meta_uint(w, "trace_checkpoint_ns", 4000000000ull);
    mt_writer_meta_str(w, "thread.0", "MainThread");
    const char *fn[] = { "main", "load_data", "parse_rows", "make_temp", "cache_put" };
    const char *file[] = { "app.py", "app.py", "parse.py", "util.py", "cache.py" };
    uint32_t line[] = { 1, 10, 42, 7, 20 }, parent[] = { 0, 1, 2, 3, 1 };
    for (uint32_t i = 0; i < 5; i++) {
        mt_frame f = { i + 1, S(fn[i]), S(file[i]), line[i] };
        mt_writer_add(w, MT_KIND_FRAME, &f);
        mt_stack st = { i + 1, i + 1, parent[i] };
        mt_writer_add(w, MT_KIND_STACK, &st);
    }
    mt_writer_flush(w);
    trace_step(w, 0, "load");
    trace_step(w, 2, "parse");
    trace_step(w, 6, "eval");
    trace_ev(w, 0.1, 0, 1u << 20, 2, 0, 0);
    trace_ev(w, 0.5, 0, 256u << 10, 5, 0, 0);
    for (int i = 0; i < 10; i++) {
        double t = 2.0 + i * 1e-4;
        trace_ev(w, t, 0, 64, 4, 0, 0);
        trace_ev(w, t + 5e-5, 1, 64, 4, 0, t);
    }
    trace_cp(w, 3, 2, 1u << 20, 22);
    trace_cp(w, 3, 5, 256u << 10, 22);
    trace_ev(w, 4.0, 0, 4u << 20, 3, 0, 0);
    trace_ev(w, 5.0, 1, 1u << 20, 2, 0, 0.1);
    trace_ev(w, 6.5, 1, 4u << 20, 3, 0, 4.0);
    trace_cp(w, 7, 5, 256u << 10, 25);
    trace_ev(w, 7.5, 0, 512u << 10, 3, 0, 0);
    return mt_writer_close(w, &d) ? 3 : 0;
}

/* The same run sampled every 512 KiB on average: each record's weight is
 * 1/p, p = 1 - exp(-size / 512 KiB). */
static int trace_sampled(const char *path) {
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(path, NULL, &w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    const double S_ = 512 * 1024;
    mt_writer_meta_uint(w, "start_time", 1764720000000000000ull);
    mt_writer_meta_str(w, "trace_mode", "sampled");
    mt_writer_meta_uint(w, "sample_bytes", 512 * 1024);
    const char *fn[] = { "main", "load_data", "parse_rows" };
    const char *file[] = { "app.py", "app.py", "parse.py" };
    uint32_t line[] = { 1, 10, 42 }, parent[] = { 0, 1, 2 };
    for (uint32_t i = 0; i < 3; i++) {
        mt_frame f = { i + 1, S(fn[i]), S(file[i]), line[i] };
        mt_writer_add(w, MT_KIND_FRAME, &f);
        mt_stack st = { i + 1, i + 1, parent[i] };
        mt_writer_add(w, MT_KIND_STACK, &st);
    }
    mt_writer_flush(w);
    uint64_t sizes[] = { 64u << 10, 64u << 10, 64u << 10, 2u << 20 };
    uint32_t stacks[] = { 3, 3, 3, 2 };
    for (int i = 0; i < 4; i++)
        trace_ev(w, 0.5 * (i + 1), 0, sizes[i], stacks[i], 1 / (1 - exp(-(double)sizes[i] / S_)), 0);
    trace_ev(w, 3.0, 1, sizes[0], 3, 1 / (1 - exp(-(double)sizes[0] / S_)), 0.5);
    return mt_writer_close(w, &d) ? 3 : 0;
}

/* trace.snap in blocks of a few records, cut 20 bytes into its last allocs
 * block: no index, no trailer. */
static int trace_cut(const char *path) {
    int rc = trace_fixture(path, 64);
    if (rc) return rc;
    mt_reader *r;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_reader_open(path, &r, &d)) return 3;
    uint64_t cut = 0;
    for (size_t i = 0; i < mt_reader_block_count(r); i++)
        if (mt_reader_block(r, i)->kind == MT_KIND_ALLOC) cut = mt_reader_block(r, i)->offset + 20;
    mt_reader_free(r);
    return truncate(path, (off_t)cut) ? 3 : 0;
}

static void sites_ev(mt_writer *w, double t, uint32_t op, uint64_t addr, uint64_t size, uint32_t stack, double born) {
    mt_alloc a = { (uint64_t)llround(t * 1e9), op, addr, size, stack, 1, MT_DOMAIN_PYTHON, 0, 0,
                   op == MT_ALLOC_FREE ? (uint64_t)llround(born * 1e9) : 0 };
    mt_writer_add(w, MT_KIND_ALLOC, &a);
}

static void sites_ck(mt_writer *w, double t, uint64_t upto, double s2, double n2, double s3, double n3, double s4) {
    mt_writer_flush(w); /* after the allocs it covers (SPEC.md 4.3) */
    uint64_t ns = (uint64_t)llround(t * 1e9);
    mt_trace_live l2 = { ns, 2, s2, n2, upto }, l3 = { ns, 3, s3, n3, upto }, l4 = { ns, 4, s4, 1, upto };
    if (n2 > 0) mt_writer_add(w, MT_KIND_TRACE_LIVE, &l2);
    if (n3 > 0) mt_writer_add(w, MT_KIND_TRACE_LIVE, &l3);
    if (s4 > 0) mt_writer_add(w, MT_KIND_TRACE_LIVE, &l4);
}

static int trace_sites(const char *path) {
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(path, NULL, &w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    mt_writer_meta_str(w, "tool", "mt-fixture");
    mt_writer_meta_uint(w, "pid", 4242);
    mt_writer_meta_uint(w, "start_time", 1764770400000000000ull);
    mt_writer_meta_str(w, "command", "python3 app.py");
    mt_writer_meta_str(w, "trace_mode", "all");
    mt_writer_meta_str(w, "trace_domains", "0,1,3,4");
    mt_writer_meta_uint(w, "trace_checkpoint_ns", 10000000000ull);
    mt_writer_meta_str(w, "thread.1", "MainThread");
    mt_frame f[4] = { { 1, S("alloc_a"), S("a.py"), 10 }, { 2, S("main"), S("a.py"), 1 },
                      { 3, S("alloc_b"), S("b.py"), 20 }, { 4, S("unused"), S("c.py"), 5 } };
    for (int i = 0; i < 4; i++) mt_writer_add(w, MT_KIND_FRAME, &f[i]);
    mt_stack st[4] = { { 1, 2, 0 }, { 2, 1, 1 }, { 3, 3, 1 }, { 4, 4, 0 } };
    for (int i = 0; i < 4; i++) mt_writer_add(w, MT_KIND_STACK, &st[i]);
    mt_writer_flush(w);
    sites_ev(w, 0.5, 0, 0xa1, 100, 2, 0);
    sites_ev(w, 1.0, 0, 0xa2, 100, 2, 0);
    sites_ev(w, 1.5, 0, 0xb1, 1000, 3, 0);
    sites_ev(w, 2.0, 1, 0xa1, 100, 2, 0.5);
    sites_ev(w, 2.5, 0, 0xc1, 50, 4, 0);
    sites_ev(w, 2.8, 1, 0xc1, 50, 4, 2.5);
    sites_ck(w, 2.9, 6, 100, 1, 1000, 1, 0);
    sites_ev(w, 3.0, 0, 0xa3, 300, 2, 0);
    sites_ev(w, 3.5, 1, 0xb1, 1000, 3, 1.5);
    sites_ev(w, 4.0, 0, 0xb2, 2000, 3, 0);
    sites_ck(w, 4.2, 9, 400, 2, 2000, 1, 0);
    sites_ev(w, 4.5, 1, 0xa2, 100, 2, 1.0);
    sites_ev(w, 6.0, 0, 0xd1, 7, 4, 0);
    sites_ck(w, 6.0, 11, 300, 1, 2000, 1, 7);
    run_point(w, "rss", 1000000000ull, 10 * MIB, "");
    run_point(w, "rss", 3500000000ull, 11 * MIB, "");
    run_point(w, "rss", 6000000000ull, 12 * MIB, "train");
    run_event(w, 0, "start", "python3 app.py", 0, "");
    run_event(w, 4000000000ull, "step", "train", 0, "");
    if (mt_writer_close(w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    return 0;
}

static int trace_hostile(const char *path) {
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(path, NULL, &w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    mt_writer_meta_str(w, "trace_mode", "all");
    mt_writer_meta_uint(w, "start_time", 1764770400000000000ull);
    mt_frame fr = { 1, H, H, 42 }, fr2 = { 2, S("main"), S("app.py"), 1 };
    mt_writer_add(w, MT_KIND_FRAME, &fr);
    mt_writer_add(w, MT_KIND_FRAME, &fr2);
    mt_stack st2 = { 2, 2, 0 }, st1 = { 1, 1, 2 };
    mt_writer_add(w, MT_KIND_STACK, &st2);
    mt_writer_add(w, MT_KIND_STACK, &st1);
    mt_writer_flush(w);
    sites_ev(w, 1.0, 0, 0x1000, 1000, 1, 0);
    sites_ev(w, 2.0, 0, 0x2000, 500, 2, 0);
    sites_ev(w, 3.0, 1, 0x2000, 500, 2, 2.0);
    if (mt_writer_close(w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    return 0;
}

/* testdata/cells.snap, a notebook's cell log (SPEC.md 4.4). Times are
 * T0 + t seconds (T0 = 1800000000 s since the epoch); sizes in MiB
 * (1 MiB = 1048576 B) unless said. Peak flags: X exact, S sampled,
 * - unknown (rss_peak 0). Retained = after - before.
 *
 *  id exec sess source                       hash  t    wall  before after peak     retained
 *   1  1   1    import pandas as pd          ..01  1    0.5   100    120   125 X    20
 *   2  2   1    df = load("a,b.csv")         ..02  2    2     120    220   300 X   100
 *   3  3   1    cache.append(df.copy())      ..03  5    1     220    230   232 X    10
 *   4  4   1    cache.append(df.copy())      ..03  7    1     230    242   243 S    12
 *   5  5   1    df['x'].sum()                ..05  9    0.25  242    242     -       0  error KeyError: 'x'
 *   6  6   1    big = make_temp()  # spike   ..06  10   3     242    247   900 X     5  traced 10/12/600, overhead 2 ms
 *   7  7   1    cache.append(df.copy())      ..03  14   1     247    258   260 X    11
 *      session 1: event at t=0 (kernel k-one), session_end at t=20
 *   8  1   2    import pandas as pd          ..01  101  0.5   100    120   126 X    20
 *   9  2   2    cache.append(df.copy())      ..03  102  1     120    135   136 X    15
 *  10  3   2    model.fit()                  ..0a  104  5     135    185   400 S    50
 *      session 2: event at t=100 (kernel k-two), flushed, then abandoned: no session_end
 *  11  1   3    import pandas as pd          ..01  201  0.5   100    120     -      20
 *  12  2   3    model.fit()                  ..0a  202  5     120    170   420 S    50
 *  13  3   3    x = load_x()                 ..0b  208  2     170    200   210 X    30
 *  14  4   3    x = load_x()                 ..0b  211  2     200    180   230 X   -20
 *  15  5   3    while True: pass             ..0c  214  30    180    181   185 X     1  interrupted KeyboardInterrupt
 *      session 3: event at t=200 (kernel k-three), session_end at t=250
 *
 * Cell 6's source has a second line ("print(len(big))"), which tables cut.
 * Sessions: 1 has 7 cells, highest peak 900 (cell 6), retained 158 (258 - 100
 * = 20+100+10+12+0+5+11); 2 has 3 cells, peak 400, retained 85, not ended;
 * 3 has 5 cells, peak 420, retained 81 (181 - 100).
 * Growing (threshold 1 MiB, runs retaining more): ..03 in session 1 ran as
 * cells 3, 4, 7 and kept 10, 12, 11: 3 of 3 runs, mean 11, sample standard
 * deviation 1 (deviations -1, 1, 0: sqrt(2/2)), total 33 MiB; it ran once
 * in session 2 (cell 9): not judged there. ..0a kept 50 in sessions 2 and 3
 * once each (a restart between them: not growing); ..0b kept 30 then -20
 * (one run over the threshold: not growing); ..01 ran once a session.
 * At --threshold 11MiB only cell 4's 12 is over: nothing grows.
 * gc: cell 1 gc.dict 5000, gc.list 2000 (the session's first counts: a
 * baseline, no delta); cell 3 gc.dict 6000 (+1000), 4 7000 (+1000), 6
 * gc.list 2100 (+100), 7 gc.dict 8000 (+1000): the growing group's dict
 * grew 3000 on its runs. Session 3, cell 12: gc.dict 4000 (its baseline).
 * Frames: cell 2 "df" 1000000 rows, 4 columns, deep 80 MiB estimated;
 * cell 6 "big" 10 rows, 2 columns, deep 1024 B exact.
 * GPU: cell 2 gpu0 allocated 1 GiB, reserved 2 GiB, peak_allocated 1.5 GiB;
 * cell 10 gpu0 2, 4, 3 GiB. */
#define CELL_T0 1800000000000000000ull
#define CELL_MIB 1048576ull

typedef struct cell_row {
    uint32_t id, exec, session;
    const char *source, *hash;
    double t, wall;
    uint64_t before, after, peak; /* MiB; peak 0: unknown */
    uint32_t flags;
    const char *status, *error;
} cell_row;

static uint64_t cell_ns(double t) { return CELL_T0 + (uint64_t)llround(t * 1e9); }

static void cell_event(mt_writer *w, double t, const char *kind, const char *kernel, double session) {
    mt_event e = { cell_ns(t), S(kind), S(kernel), session, S(*kernel ? "ipykernel" : "") };
    mt_writer_add(w, MT_KIND_EVENT, &e);
}

static void cell_sample(mt_writer *w, const cell_row *c, const char *series, double v) {
    char step[32];
    snprintf(step, sizeof step, "cell:%u", c->id);
    mt_sample s = { cell_ns(c->t + c->wall), S(series), v, S(step), 0, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_SAMPLE, &s);
}

static void cell_frame(mt_writer *w, const cell_row *c, uint32_t id, const char *name, uint64_t rows, uint32_t cols,
                       uint64_t deep, uint32_t flags, uint64_t real) {
    char step[32];
    snprintf(step, sizeof step, "cell:%u", c->id);
    mt_df_frame f = { .id = id, .name = S(name), .rows = rows, .columns = cols, .index_kind = S("range"),
                      .index_bytes = 132, .shallow_bytes = deep / 2, .deep_bytes = deep, .step = S(step),
                      .time_ns = cell_ns(c->t + c->wall), .flags = flags, .real_bytes = real };
    mt_writer_add(w, MT_KIND_DF_FRAME, &f);
}

static void cell_add(mt_writer *w, const cell_row *c) {
    mt_nb_cell nb = { .id = c->id, .exec_count = c->exec, .source = S(c->source), .start_ns = cell_ns(c->t),
                      .end_ns = cell_ns(c->t + c->wall), .rss_before = c->before * CELL_MIB, .rss_after = c->after * CELL_MIB,
                      .session = c->session, .status = S(c->status), .error = S(c->error), .source_hash = S(c->hash),
                      .rss_peak = c->peak * CELL_MIB, .flags = c->flags };
    if (c->id == 6) {
        nb.flags |= MT_CELL_TRACED;
        nb.traced_before = 10 * CELL_MIB;
        nb.traced_after = 12 * CELL_MIB;
        nb.traced_peak = 600 * CELL_MIB;
        nb.overhead_ns = 2000000;
    }
    mt_writer_add(w, MT_KIND_NB_CELL, &nb);
}

static int cells_fixture(const char *path) {
    enum { X = MT_CELL_PEAK_EXACT, SP = MT_CELL_PEAK_SAMPLED };
    static const cell_row rows[] = {
        { 1, 1, 1, "import pandas as pd", "00000000000000a1", 1, 0.5, 100, 120, 125, X, "ok", "" },
        { 2, 2, 1, "df = load(\"a,b.csv\")", "00000000000000a2", 2, 2, 120, 220, 300, X, "ok", "" },
        { 3, 3, 1, "cache.append(df.copy())", "00000000000000a3", 5, 1, 220, 230, 232, X, "", "" },
        { 4, 4, 1, "cache.append(df.copy())", "00000000000000a3", 7, 1, 230, 242, 243, SP, "ok", "" },
        { 5, 5, 1, "df['x'].sum()", "00000000000000a5", 9, 0.25, 242, 242, 0, 0, "error", "KeyError: 'x'" },
        { 6, 6, 1, "big = make_temp()  # spike\nprint(len(big))", "00000000000000a6", 10, 3, 242, 247, 900, X, "ok", "" },
        { 7, 7, 1, "cache.append(df.copy())", "00000000000000a3", 14, 1, 247, 258, 260, X, "ok", "" },
        { 8, 1, 2, "import pandas as pd", "00000000000000a1", 101, 0.5, 100, 120, 126, X, "ok", "" },
        { 9, 2, 2, "cache.append(df.copy())", "00000000000000a3", 102, 1, 120, 135, 136, X, "ok", "" },
        { 10, 3, 2, "model.fit()", "00000000000000aa", 104, 5, 135, 185, 400, SP, "ok", "" },
        { 11, 1, 3, "import pandas as pd", "00000000000000a1", 201, 0.5, 100, 120, 0, 0, "ok", "" },
        { 12, 2, 3, "model.fit()", "00000000000000aa", 202, 5, 120, 170, 420, SP, "ok", "" },
        { 13, 3, 3, "x = load_x()", "00000000000000ab", 208, 2, 170, 200, 210, X, "ok", "" },
        { 14, 4, 3, "x = load_x()", "00000000000000ab", 211, 2, 200, 180, 230, X, "ok", "" },
        { 15, 5, 3, "while True: pass", "00000000000000ac", 214, 30, 180, 181, 185, X, "interrupted", "KeyboardInterrupt" },
    };
    static const char *const kernels[] = { "k-one", "k-two", "k-three" };
    static const double starts[] = { 0, 100, 200 }, ends[] = { 20, 0, 250 };
    unlink(path);
    size_t r = 0;
    for (uint32_t sess = 1; sess <= 3; sess++) {
        mt_writer *w;
        mt_diag d;
        mt_diag_clear(&d);
        if (mt_writer_append(path, NULL, &w, &d)) {
            fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
            return 3;
        }
        if (sess == 1) {
            mt_writer_meta_str(w, "log", "cells");
            mt_writer_meta_str(w, "clock", "unix");
            mt_writer_meta_str(w, "tool", "mt-fixture");
        }
        cell_event(w, starts[sess - 1], "session", kernels[sess - 1], sess);
        for (; r < sizeof rows / sizeof *rows && rows[r].session == sess; r++) {
            const cell_row *c = &rows[r];
            cell_add(w, c);
            switch (c->id) {
            case 1:
                cell_sample(w, c, "gc.dict", 5000);
                cell_sample(w, c, "gc.list", 2000);
                break;
            case 2:
                cell_frame(w, c, 1, "df", 1000000, 4, 80 * CELL_MIB, MT_FRAME_DEEP_EST | MT_FRAME_REAL_RECORDED | MT_FRAME_REAL_EST, 14 * CELL_MIB);
                cell_sample(w, c, "gpu0.allocated", 1024.0 * CELL_MIB);
                cell_sample(w, c, "gpu0.reserved", 2048.0 * CELL_MIB);
                cell_sample(w, c, "gpu0.peak_allocated", 1536.0 * CELL_MIB);
                break;
            case 3: cell_sample(w, c, "gc.dict", 6000); break;
            case 4: cell_sample(w, c, "gc.dict", 7000); break;
            case 6:
                cell_frame(w, c, 2, "big", 10, 2, 1024, 0, 0); /* a log before 1.6: no real bytes */
                cell_sample(w, c, "gc.list", 2100);
                break;
            case 7: cell_sample(w, c, "gc.dict", 8000); break;
            case 10:
                cell_sample(w, c, "gpu0.allocated", 2048.0 * CELL_MIB);
                cell_sample(w, c, "gpu0.reserved", 4096.0 * CELL_MIB);
                cell_sample(w, c, "gpu0.peak_allocated", 3072.0 * CELL_MIB);
                break;
            case 12: cell_sample(w, c, "gc.dict", 4000); break;
            }
            mt_writer_flush(w); /* after every cell, as the extension does */
        }
        if (sess == 2) {
            mt_writer_abandon(w); /* a killed kernel: what was flushed stays */
            continue;
        }
        cell_event(w, ends[sess - 1], "session_end", "", sess);
        if (mt_writer_close(w, &d)) {
            fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
            return 3;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--cells")) return cells_fixture(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--hostile")) return hostile(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--percent")) return percent(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--run")) return run(argv[2], 0);
    if (argc == 3 && !strcmp(argv[1], "--run-cut")) return run(argv[2], 1);
    if (argc == 3 && !strcmp(argv[1], "--trace")) return trace_fixture(argv[2], 0);
    if (argc == 3 && !strcmp(argv[1], "--trace-sampled")) return trace_sampled(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--trace-cut")) return trace_cut(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--trace-sites")) return trace_sites(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--trace-hostile")) return trace_hostile(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: mt-fixture [--hostile|--percent|--cells|--run|--run-cut|--trace|--trace-sampled|--trace-cut|--trace-sites|--trace-hostile] OUT.snap\n");
        return 2;
    }
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(argv[1], NULL, &w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", argv[1], d.msg);
        return 3;
    }
    mt_writer_meta_str(w, "tool", "mt-fixture");
    mt_writer_meta_uint(w, "pid", 4242);
    mt_writer_meta_float(w, "ratio", 0.5);
    mt_meta neg = { S("neg"), { MT_VAL_INT, { .i = -7 } } };
    mt_meta ok = { S("ok"), { MT_VAL_BOOL, { .b = 1 } } };
    mt_meta blob = { S("blob"), { MT_VAL_BIN, { .s = { "\x00\x01", 2 } } } };
    mt_meta none = { S("none"), { MT_VAL_NIL, { .u = 0 } } };
    mt_writer_add(w, MT_KIND_META, &neg);
    mt_writer_add(w, MT_KIND_META, &ok);
    mt_writer_add(w, MT_KIND_META, &blob);
    mt_writer_add(w, MT_KIND_META, &none);
    mt_string str = { 1, S("hello") };
    mt_writer_add(w, MT_KIND_STRING, &str);
    mt_type t1 = { 1, S("dict") }, t2 = { 2, S("list") };
    mt_writer_add(w, MT_KIND_TYPE, &t1);
    mt_writer_add(w, MT_KIND_TYPE, &t2);
    mt_object o1 = { 0x7f0000001000ull, 1, 232, MT_OBJ_GC_TRACKED, 1, 2 };
    mt_object o2 = { 0x7f0000002000ull, 2, 88, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_OBJECT, &o1);
    mt_writer_add(w, MT_KIND_OBJECT, &o2);
    mt_ref r1 = { 0, 1, 0, S("items") }, r2 = { 1, 0, MT_REF_WEAK, S(NULL) };
    mt_writer_add(w, MT_KIND_REF, &r1);
    mt_writer_add(w, MT_KIND_REF, &r2);
    mt_root root = { 0, S("module"), S("app") };
    mt_writer_add(w, MT_KIND_ROOT, &root);
    mt_frame fr = { 1, S("load"), S("app.py"), 42 };
    mt_writer_add(w, MT_KIND_FRAME, &fr);
    mt_stack st = { 1, 1, 0 };
    mt_writer_add(w, MT_KIND_STACK, &st);
    mt_alloc al = { 1000, MT_ALLOC_ALLOC, 0x1000, 64, 1, 7, 1, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_ALLOC, &al);
    /* 1.4: a sampled free that carries its block, and a checkpoint. */
    mt_alloc fr1 = { 2000, MT_ALLOC_FREE, 0x1000, 64, 1, 7, MT_DOMAIN_NUMPY, 0, 8192.5, 1000 };
    mt_writer_add(w, MT_KIND_ALLOC, &fr1);
    mt_trace_live tl = { 3000, 1, 524352.0, 8193.0, 2 };
    mt_writer_add(w, MT_KIND_TRACE_LIVE, &tl);
    mt_sample sm = { 5, S("rss"), 1048576.5, S("load"), 0, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_SAMPLE, &sm);
    /* 1.3: a bucket of four thinned points, and an event. */
    mt_sample bucket = { 10, S("rss"), 2097152, S("load"), 1000, 1048576, 4194304, 4 };
    mt_writer_add(w, MT_KIND_SAMPLE, &bucket);
    mt_event ev = { 11, S("dump"), S("peak"), 4194304, S("heap-1.snap") };
    mt_writer_add(w, MT_KIND_EVENT, &ev);
    mt_df_frame df = { .id = 1, .name = S("orders"), .rows = 1000000, .columns = 8, .index_kind = S("range"),
                       .index_bytes = 132, .shallow_bytes = 64000132, .deep_bytes = 96000132, .step = S("load"),
                       .index_shallow_bytes = 132, .columns_kind = S("object"), .time_ns = 6,
                       .real_bytes = 70000132, .shared_bytes = 4096 };
    mt_writer_add(w, MT_KIND_DF_FRAME, &df);
    mt_df_column col = { .frame = 1, .position = 0, .name = S("customer_id"), .dtype = S("int64"),
                         .shallow_bytes = 8000000, .deep_bytes = 8000000, .distinct_count = 50000,
                         .min = { MT_VAL_UINT, { .u = 1 } }, .max = { MT_VAL_UINT, { .u = 50000 } },
                         .flags = MT_COL_KEY | MT_COL_INTEGRAL, .f32_max_rel_error = 0.25,
                         .fill_value = { MT_VAL_INT, { .i = -1 } }, .density = 0.5, .dense_bytes = 16,
                         .value_type = { "str", 3 }, .real_bytes = 8000000, .datetime_format = S("%Y/%m/%d") };
    mt_writer_add(w, MT_KIND_DF_COLUMN, &col);
    mt_df_value dv = { 1, 0, { MT_VAL_STR, { .s = { "US", 2 } } }, 120 };
    mt_writer_add(w, MT_KIND_DF_VALUE, &dv);
    mt_df_sketch sk = { 1, 0, S("kmv"), { "\x01\x02\x03", 3 } };
    mt_writer_add(w, MT_KIND_DF_SKETCH, &sk);
    mt_gpu_device gd = { 0, S("NVIDIA H100"), 85899345920ull, 1ull << 30, 1ull << 29 };
    mt_writer_add(w, MT_KIND_GPU_DEVICE, &gd);
    mt_gpu_segment gs = { 0, 0x7f0000000000ull, 2u << 20, 0, S("large"), 1u << 20, 1000000, 1u << 20, MT_GPU_SEG_EXPANDABLE, 1 };
    mt_writer_add(w, MT_KIND_GPU_SEGMENT, &gs);
    mt_gpu_block gb = { 0, 0x7f0000000000ull, 1u << 20, 1000000, S("active_allocated"), 1 };
    mt_writer_add(w, MT_KIND_GPU_BLOCK, &gb);
    mt_gpu_event ge = { 0, 99, S("alloc"), 0x7f0000000000ull, 1u << 20, 0, 1, 0 };
    mt_writer_add(w, MT_KIND_GPU_EVENT, &ge);
    mt_nb_cell nb = { .id = 1, .exec_count = 3, .source = S("df = pd.read_csv('x.csv')"),
                      .start_ns = 10, .end_ns = 20, .rss_before = 100, .rss_after = 200,
                      .session = 1, .status = S("ok"), .error = S(""), .source_hash = S("ab12"),
                      .rss_peak = 300, .flags = MT_CELL_PEAK_EXACT | MT_CELL_TRACED,
                      .traced_before = 10, .traced_after = 20, .traced_peak = 30,
                      .overhead_ns = 1000 };
    mt_writer_add(w, MT_KIND_NB_CELL, &nb);
    if (mt_writer_close(w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", argv[1], d.msg);
        return 3;
    }
    return 0;
}
