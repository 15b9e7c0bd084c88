/* The run's series (memtrace/series.h) against figures worked out by hand:
 * a bucket's peak is its max, the rate of a straight line is its slope,
 * the time to the limit of a linear ramp is (limit - level) / slope. */
#include <math.h>
#include "memtrace/analyze.h"
#include "../helpers.h"

typedef struct fx {
    char *path;
    mt_writer *w;
    mt_snapshot *snap;
    mt_run *run;
} fx;

static void fx_open(fx *f) {
    mt_diag d;
    f->path = tmp_path();
    ck_assert_int_eq(mt_writer_open(f->path, NULL, &f->w, &d), 0);
    mt_writer_meta_uint(f->w, "start_time", 1000000000ull);
}

static void point(fx *f, const char *series, double t_s, double v) {
    mt_sample s = { (uint64_t)llround(t_s * 1e9), mt_str_c(series), v, mt_str_c(""), 0, 0, 0, 0 };
    ck_assert_int_eq(mt_writer_add(f->w, MT_KIND_SAMPLE, &s), 0);
}

static void bucket(fx *f, const char *series, double t_s, double span_s, double mean, double lo, double hi,
                   uint64_t n) {
    mt_sample s = { (uint64_t)llround(t_s * 1e9), mt_str_c(series), mean, mt_str_c(""), (uint64_t)llround(span_s * 1e9),
                    lo, hi, n };
    ck_assert_int_eq(mt_writer_add(f->w, MT_KIND_SAMPLE, &s), 0);
}

static void fx_load(fx *f) {
    mt_diag d;
    ck_assert_int_eq(mt_writer_close(f->w, &d), 0);
    ck_assert_int_eq(mt_snapshot_load(f->path, MT_LOAD_GROWING, &f->snap, &d), 0);
    ck_assert_int_eq(mt_run_load(f->snap, &f->run, &d), 0);
}

static void fx_free(fx *f) {
    mt_run_free(f->run);
    mt_snapshot_free(f->snap);
    unlink(f->path);
    free(f->path);
}

static void summarize(fx *f, const char *name, mt_series_summary *out) {
    const mt_series *s = mt_run_find(f->run, name);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(mt_series_summarize(f->run, f->snap, s, NULL, out), 0);
}

START_TEST(theil_sen_xy_hand_computed) {
    /* (0,0) (1,2) (3,3): slopes 2, 1, 0.5 -> median 1; uneven x counts. */
    double x[] = { 0, 1, 3 }, y[] = { 0, 2, 3 }, b, lo, hi;
    ck_assert_uint_eq(mt_theil_sen_xy(x, y, 3, 1.96, &b, &lo, &hi), 3);
    ck_assert_double_eq_tol(b, 1, 1e-12);
    /* n = 3: C = 1.96 sqrt(3*2*11/18) = 3.75 > N = 3: the interval is the
     * whole range of slopes. */
    ck_assert_double_eq_tol(lo, 0.5, 1e-12);
    ck_assert_double_eq_tol(hi, 2, 1e-12);
    /* Equal x make no pair. */
    double x2[] = { 1, 1 }, y2[] = { 0, 5 };
    ck_assert_uint_eq(mt_theil_sen_xy(x2, y2, 2, 1.96, &b, &lo, &hi), 0);
}
END_TEST

START_TEST(peak_of_buckets_is_their_max) {
    fx f;
    fx_open(&f);
    /* A bucket whose mean (2 MiB) hides a 4 MiB spike, then points up to 3 MiB,
     * written after the points (a rewrite may put buckets anywhere). */
    point(&f, "rss", 20, 1 << 20);
    point(&f, "rss", 21, 3 << 20);
    point(&f, "rss", 22, 2 << 20);
    bucket(&f, "rss", 10, 10, 2 << 20, 1 << 20, 4 << 20, 100);
    fx_load(&f);
    const mt_series *s = mt_run_find(f.run, "rss");
    ck_assert_uint_eq(s->n, 4);
    ck_assert_uint_eq(s->n_buckets, 1);
    ck_assert_uint_eq(s->p[0].time_ns, 10000000000ull); /* sorted by time */
    ck_assert_uint_eq(s->p[0].span_ns, 10000000000ull);
    ck_assert_double_eq(s->p[0].max, 4 << 20);
    ck_assert_double_eq(s->p[1].min, 1 << 20); /* a point's min and max are its value */
    mt_series_summary m;
    summarize(&f, "rss", &m);
    ck_assert_double_eq(m.peak, 4 << 20);
    ck_assert_uint_eq(m.peak_ns, 10000000000ull);
    ck_assert_uint_eq(m.peak_span_ns, 10000000000ull);
    ck_assert_double_eq(m.current, 2 << 20);
    ck_assert_uint_eq(m.points, 103);
    ck_assert_uint_eq(f.run->end_ns, 22000000000ull);
    ck_assert_uint_eq(f.run->start_time, 1000000000ull);
    fx_free(&f);
}
END_TEST

START_TEST(rate_of_a_line_and_time_to_limit) {
    fx f;
    fx_open(&f);
    /* rss = 100 MiB + 1 MiB/s * t every 0.5 s over 40 s, one outlier of
     * 900 MiB at t = 10 that Theil-Sen ignores, cgroup.max 1 GiB: the rate
     * is 1 MiB/s exactly; at t = 40 the level is 140 MiB, so the limit is
     * (1024 - 140) MiB / (1 MiB/s) = 884 s away. */
    for (int i = 0; i <= 80; i++) {
        double t = i / 2.0;
        point(&f, "rss", t, i == 20 ? 900.0 * 1048576 : (100 + t) * 1048576);
        point(&f, "cgroup.max", t, 1024.0 * 1048576);
    }
    fx_load(&f);
    mt_series_summary m;
    summarize(&f, "rss", &m);
    ck_assert_double_eq_tol(m.rate, 1048576, 1e-6);
    ck_assert_double_le(m.rate_lo, 1048576);
    ck_assert_double_ge(m.rate_hi, 1048576);
    ck_assert_int_eq(m.growth, MT_GROWTH_GROWING);
    ck_assert_str_eq(m.limit_from, "cgroup.max");
    ck_assert_double_eq(m.limit, 1024.0 * 1048576);
    ck_assert_double_eq_tol(m.headroom, 884.0 * 1048576, 1);
    ck_assert_double_eq_tol(m.ttl, 884, 1e-6);
    ck_assert_double_le(m.ttl_lo, 884 + 1e-6);
    ck_assert_double_ge(m.ttl_hi, 884 - 1e-6);
    ck_assert_double_eq(m.peak, 900.0 * 1048576);
    /* The 60 s window holds every point: 81, over 40 s. */
    ck_assert_uint_eq(m.window_points, 81);
    ck_assert_uint_eq(m.window_ns, 40000000000ull);
    fx_free(&f);
}
END_TEST

START_TEST(noisy_ramp_interval_holds_the_truth) {
    fx f;
    fx_open(&f);
    /* 2 MiB/s with +-3 MiB of alternating noise; mem_total 4 GiB is the
     * limit without cgroup.max, but mem.available (1 GiB) is less room. */
    mt_writer_meta_uint(f.w, "mem_total", 4ull << 30);
    for (int i = 0; i <= 100; i++) {
        double t = i * 0.1;
        point(&f, "rss", t, (500 + 2 * t + (i % 2 ? 3 : -3)) * 1048576);
        point(&f, "mem.available", t, 1024.0 * 1048576);
    }
    fx_load(&f);
    mt_series_summary m;
    summarize(&f, "rss", &m);
    ck_assert_str_eq(m.limit_from, "mem_total");
    ck_assert_str_eq(m.headroom_from, "mem.available");
    ck_assert_double_le(m.rate_lo, 2 * 1048576.0);
    ck_assert_double_ge(m.rate_hi, 2 * 1048576.0);
    /* The soonest time is never later than the closed form with the true
     * rate from the same level: 1 GiB / (2 MiB/s) = 512 s. */
    ck_assert_double_le(m.ttl_lo, 512 + 1e-6);
    ck_assert_double_le(m.ttl_lo, m.ttl);
    fx_free(&f);
}
END_TEST

START_TEST(not_growing_says_so) {
    fx f;
    fx_open(&f);
    for (int i = 0; i < 50; i++) {
        point(&f, "rss", i * 0.1, 300.0 * 1048576);                  /* flat */
        point(&f, "pss", i * 0.1, (300.0 - i) * 1048576);            /* shrinking */
        point(&f, "uss", i * 0.1, (300.0 + (i * 7919 % 13) - 6) * 1048576); /* noise around flat */
        point(&f, "cgroup.max", i * 0.1, 1024.0 * 1048576);
        point(&f, "gc.count0", i * 0.1, i);                          /* grows, but has no limit */
    }
    point(&f, "traced", 0, 5); /* too few points */
    fx_load(&f);
    mt_series_summary m;
    summarize(&f, "rss", &m);
    ck_assert_int_eq(m.growth, MT_GROWTH_NONE);
    ck_assert_double_eq(m.rate, 0);
    ck_assert(isnan(m.ttl) && isnan(m.ttl_lo));
    ck_assert_str_eq(mt_growth_name(m.growth), "not growing");
    summarize(&f, "pss", &m);
    ck_assert_int_eq(m.growth, MT_GROWTH_NONE);
    ck_assert_double_eq_tol(m.rate, -10.0 * 1048576, 1e-3);
    summarize(&f, "uss", &m);
    /* Scattered noise: the rate's interval holds 0, so "unsure", with
     * a soonest time but no estimate. */
    ck_assert_int_eq(m.growth, MT_GROWTH_UNSURE);
    ck_assert(isinf(m.ttl) && isinf(m.ttl_hi) && m.ttl_lo > 0 && isfinite(m.ttl_lo));
    summarize(&f, "gc.count0", &m);
    ck_assert_int_eq(m.growth, MT_GROWTH_GROWING);
    ck_assert_ptr_null(m.limit_from);
    ck_assert(isnan(m.ttl));
    summarize(&f, "traced", &m);
    ck_assert_int_eq(m.growth, MT_GROWTH_UNKNOWN);
    /* SPEC.md 4.3's counts; everything else is bytes. */
    ck_assert(mt_series_is_count("gc.count0") && mt_series_is_count("procs") && mt_series_is_count("cgroup.oom_kill"));
    ck_assert(!mt_series_is_count("rss") && !mt_series_is_count("gpu0.used") && !mt_series_is_count("gcx"));
    ck_assert_double_eq(m.current, 5);
    fx_free(&f);
}
END_TEST

START_TEST(at_limit_and_gpu_limit) {
    fx f;
    fx_open(&f);
    for (int i = 0; i < 10; i++) {
        point(&f, "cgroup.current", i, 1000 + i);
        point(&f, "cgroup.max", i, 1000);
        point(&f, "gpu1.used", i, 10 * i);
        point(&f, "gpu1.total", i, 1000);
    }
    fx_load(&f);
    mt_series_summary m;
    summarize(&f, "cgroup.current", &m);
    ck_assert_int_eq(m.growth, MT_GROWTH_AT_LIMIT);
    ck_assert_double_eq(m.ttl, 0);
    summarize(&f, "gpu1.used", &m);
    ck_assert_str_eq(m.limit_from, "gpu1.total");
    /* 10/s from 90 at t = 9: (1000 - 90) / 10 = 91 s. */
    ck_assert_double_eq_tol(m.ttl, 91, 1e-9);
    fx_free(&f);
}
END_TEST

START_TEST(events_in_time_order) {
    fx f;
    fx_open(&f);
    mt_event a = { 5, mt_str_c("step"), mt_str_c("b"), 0, mt_str_c("") };
    mt_event b = { 2, mt_str_c("dump"), mt_str_c("peak"), 7, mt_str_c("x.snap") };
    mt_event c = { 5, mt_str_c("alert"), mt_str_c("rss>1"), 9, mt_str_c("log") };
    mt_writer_add(f.w, MT_KIND_EVENT, &a);
    mt_writer_add(f.w, MT_KIND_EVENT, &b);
    mt_writer_add(f.w, MT_KIND_EVENT, &c);
    fx_load(&f);
    ck_assert_uint_eq(f.run->n_events, 3);
    ck_assert_str_eq(f.run->events[0].kind, "dump");
    ck_assert_str_eq(f.run->events[0].detail, "x.snap");
    ck_assert_str_eq(f.run->events[1].kind, "step"); /* file order among equal times */
    ck_assert_str_eq(f.run->events[2].name, "rss>1");
    ck_assert_uint_eq(f.run->n_series, 0);
    fx_free(&f);
}
END_TEST

/* SPEC.md 4.3's gpuN.WHAT, read one way for metrics, limits and plots. */
START_TEST(gpu_names) {
    static const struct { const char *name, *what; size_t digits; } t[] = {
        { "gpu0.used", "used", 1 }, { "gpu12.total", "total", 2 }, { "gpu.used", NULL, 0 },
        { "gpux.used", NULL, 0 },   { "gpu0", NULL, 0 },          { "gpu0used", NULL, 0 },
        { "rss", NULL, 0 },         { "gpu3.", "", 1 } };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        size_t d = 99;
        const char *w = mt_series_gpu(t[i].name, &d);
        if (t[i].what) ck_assert_str_eq(w, t[i].what);
        else ck_assert_ptr_null(w);
        ck_assert_uint_eq(d, t[i].digits);
    }
    /* A process's series: the pid, and one family for every process. */
    static const struct { const char *name, *pid; } p[] = {
        { "gpu0.pid.4242", "4242" }, { "gpu11.pid.1", "1" }, { "gpu0.pid.", NULL }, { "gpu0.pid.12x", NULL },
        { "gpu0.pid", NULL },        { "gpu0.used", NULL },  { "pid.12", NULL },    { "gpu0.pid.123456789012", NULL } };
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) {
        char pid[12] = "x";
        ck_assert_int_eq(mt_series_gpu_pid(p[i].name, pid, sizeof pid), p[i].pid != NULL);
        ck_assert_str_eq(pid, p[i].pid ? p[i].pid : "");
    }
    char fam[64], dev[8];
    mt_series_metric("gpu11.pid.4242", fam, sizeof fam, dev, sizeof dev);
    ck_assert_str_eq(fam, "memtrace_gpu_process_bytes");
    ck_assert_str_eq(dev, "11");
    mt_series_metric("gpu0.driver_reserved", fam, sizeof fam, dev, sizeof dev);
    ck_assert_str_eq(fam, "memtrace_gpu_driver_reserved_bytes");
    ck_assert_str_eq(dev, "0");
    mt_series_metric("gpu0.pid.12x", fam, sizeof fam, dev, sizeof dev);
    ck_assert_str_eq(fam, "memtrace_gpu_pid_12x_bytes");
}
END_TEST

int main(void) {
    Suite *s = suite_create("series");
    TCase *tc = tcase_create("series");
    tcase_add_test(tc, theil_sen_xy_hand_computed);
    tcase_add_test(tc, peak_of_buckets_is_their_max);
    tcase_add_test(tc, rate_of_a_line_and_time_to_limit);
    tcase_add_test(tc, noisy_ramp_interval_holds_the_truth);
    tcase_add_test(tc, not_growing_says_so);
    tcase_add_test(tc, at_limit_and_gpu_limit);
    tcase_add_test(tc, events_in_time_order);
    tcase_add_test(tc, gpu_names);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
