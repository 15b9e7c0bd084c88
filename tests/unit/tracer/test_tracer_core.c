/* The tracer core (tools/collect/tracer): its sampling arithmetic against
 * the exponential law and the Poisson variance, the address map and the
 * interning against plain arrays, and the writer end to end from several
 * threads (time order, frees that match their allocations, checkpoints)
 * read back with the formats/ reader. TSan runs this suite too. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/format.h"
#include "internal.h"
#include "tracer.h"
#include "../helpers.h"

/* ---- sampling ---------------------------------------------------- */

START_TEST(countdown_follows_the_exponential_law) {
    /* P(countdown <= n) = 1 - exp(-n/S): counted over many draws, within
     * 4 binomial sigmas, at three block sizes. */
    const uint64_t S = 4096;
    const uint64_t sizes[] = {64, 4096, 20000};
    for (size_t k = 0; k < 3; k++) {
        uint64_t st = 12345 + k;
        const int N = 200000;
        int hit = 0;
        for (int i = 0; i < N; i++) hit += mt__sample_countdown(&st, S) <= (int64_t)sizes[k];
        double p = 1 - exp(-(double)sizes[k] / (double)S);
        double sigma = sqrt(N * p * (1 - p));
        ck_assert_msg(fabs(hit - N * p) <= 4 * sigma, "size %llu: %d hits, expected %.0f +- %.0f",
                      (unsigned long long)sizes[k], hit, N * p, 4 * sigma);
    }
}
END_TEST

START_TEST(weight_is_one_over_p) {
    ck_assert_double_eq_tol(mt__sample_weight(524288, 524288), 1 / (1 - exp(-1.0)), 1e-12);
    ck_assert_double_eq_tol(mt__sample_weight(16, 524288), 524288.0 / 16 + 0.5, 0.01); /* 1/p ~ S/n + 1/2 */
    ck_assert_double_eq_tol(mt__sample_weight(100u << 20, 524288), 1.0, 1e-12);
}
END_TEST

/* The countdown as mt_tracer_take runs it, over a fixed stream of blocks:
 * the weighted sum of the sampled sizes estimates the total, within 4
 * sigmas of the Poisson variance sum(n^2 (1-p)/p), for several seeds. */
START_TEST(sampled_sum_is_unbiased) {
    const uint64_t S = 65536;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        uint64_t st = seed * 7919, rng = 99;
        int64_t left = mt__sample_countdown(&st, S);
        double truth = 0, est = 0, var = 0;
        for (int i = 0; i < 200000; i++) {
            uint64_t n = 1 + mt__rng_next(&rng) % 20000;
            truth += (double)n;
            double p = 1 - exp(-(double)n / (double)S);
            var += (double)n * (double)n * (1 - p) / p;
            if ((left -= (int64_t)n) > 0) continue;
            left = mt__sample_countdown(&st, S);
            est += (double)n * mt__sample_weight(n, S);
        }
        ck_assert_msg(fabs(est - truth) <= 4 * sqrt(var), "seed %llu: %.0f estimated, %.0f true, sigma %.0f",
                      (unsigned long long)seed, est, truth, sqrt(var));
    }
}
END_TEST

/* ---- address map ------------------------------------------------- */

START_TEST(addrmap_matches_an_array) {
    mt__addrmap m;
    ck_assert_int_eq(mt__addrmap_init(&m), 0);
    enum { N = 100000 };
    uint64_t *addr = malloc(N * sizeof *addr);
    char *live = calloc(N, 1);
    uint64_t rng = 5;
    for (int i = 0; i < N; i++) {
        addr[i] = ((uint64_t)i + 1) * 16 + 0x7f0000000000ULL; /* heap-like: 16-byte steps */
        mt__addr_entry e = {addr[i], (uint64_t)i, (uint64_t)i * 3, 1.5, (uint32_t)i, (uint32_t)(i % 5)};
        ck_assert_int_eq(mt__addrmap_put(&m, &e), 0);
        live[i] = 1;
    }
    ck_assert_uint_eq(m.count, N);
    /* Remove a random two thirds, in random order, with interleaved
     * re-insertions: backward shifts must keep every other entry found. */
    for (int k = 0; k < 2 * N; k++) {
        int i = (int)(mt__rng_next(&rng) % N);
        mt__addr_entry out;
        int found = mt__addrmap_take(&m, addr[i], &out);
        ck_assert_int_eq(found, live[i]);
        if (found) {
            ck_assert_uint_eq(out.size, (uint64_t)i);
            ck_assert_uint_eq(out.stack, (uint32_t)i);
            live[i] = 0;
        }
        if (k % 3 == 0) {
            int j = (int)(mt__rng_next(&rng) % N);
            mt__addr_entry e = {addr[j], (uint64_t)j, (uint64_t)j * 3, 1.5, (uint32_t)j, (uint32_t)(j % 5)};
            ck_assert_int_eq(mt__addrmap_put(&m, &e), 0);
            live[j] = 1;
        }
    }
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        n += live[i];
        if (live[i]) ck_assert(mt__addrmap_maybe(&m, addr[i]));
        mt__addr_entry out;
        ck_assert_int_eq(mt__addrmap_take(&m, addr[i], &out), live[i]);
        if (live[i]) ck_assert_uint_eq(out.born, (uint64_t)i * 3);
    }
    ck_assert_uint_eq(m.count, 0);
    ck_assert(n > 0);
    /* Empty again: the filter says "not here" for every address. */
    for (int i = 0; i < N; i++) ck_assert(!mt__addrmap_maybe(&m, addr[i]));
    mt__addrmap_clear(&m);
    mt__addrmap_free(&m);
    free(addr);
    free(live);
}
END_TEST

/* ---- interning --------------------------------------------------- */

START_TEST(interning_dedupes_frames_and_stacks) {
    mt__intern in;
    memset(&in, 0, sizeof in);
    int is_new;
    uint32_t f1 = mt__intern_frame(&in, 0x1000, 7, "f", 1, "a.py", 4, &is_new);
    ck_assert_uint_eq(f1, 1);
    ck_assert(is_new);
    ck_assert_uint_eq(mt__intern_frame(&in, 0x1000, 7, "f", 1, "a.py", 4, &is_new), 1);
    ck_assert(!is_new);
    uint32_t f2 = mt__intern_frame(&in, 0x1000, 8, "f", 1, "a.py", 4, &is_new);
    ck_assert_uint_eq(f2, 2);
    /* Many stacks, past every table's first growth: a chain 20000 deep
     * and its siblings, each id dense and found again. */
    uint32_t parent = 0, ids[20000];
    for (int i = 0; i < 20000; i++) {
        ids[i] = mt__intern_stack(&in, (uint32_t)(i % 2 ? f1 : f2), parent);
        ck_assert_uint_eq(ids[i], (uint32_t)i + 1);
        parent = ids[i];
    }
    parent = 0;
    for (int i = 0; i < 20000; i++) {
        ck_assert_uint_eq(mt__intern_stack(&in, (uint32_t)(i % 2 ? f1 : f2), parent), ids[i]);
        parent = ids[i];
    }
    ck_assert_uint_eq(in.nstacks, 20000);
    ck_assert_uint_eq(in.n_new_stacks, 20000);
    ck_assert_uint_eq(in.n_new_frames, 2);
    ck_assert_str_eq(in.new_frames[1].file, "a.py");
    ck_assert_uint_eq(in.new_frames[1].line, 8);
    for (uint64_t k = 0; k < 5000; k++) ck_assert_int_eq(mt__pairmap_put(&in.at, k, k * 2, (uint32_t)k + 1), 0);
    for (uint64_t k = 0; k < 5000; k++) ck_assert_uint_eq(mt__pairmap_get(&in.at, k, k * 2), (uint32_t)k + 1);
    ck_assert_uint_eq(mt__pairmap_get(&in.at, 1, 1), 0);
    mt__intern_free(&in);
}
END_TEST

/* ---- the writer, end to end ---------------------------------------- */

#define THREADS 4
#define PER_THREAD 20000

static void *worker(void *arg) {
    uintptr_t k = (uintptr_t)arg;
    static char blocks[THREADS][PER_THREAD];
    for (int i = 0; i < PER_THREAD; i++) {
        const void *p = &blocks[k][i];
        if (mt_tracer_take(100)) mt_tracer_alloc(p, 100, 1, (uint32_t)k + 1);
        if (i % 2 && mt_tracer_maybe_recorded(p)) {
            mt_tracer_block b;
            if (mt_tracer_forget(p, &b)) mt_tracer_free(p, &b);
        }
    }
    return NULL;
}

START_TEST(full_trace_from_threads_is_in_time_order) {
    char *path = tmp_path();
    mt_tracer_config cfg = {0};
    cfg.path = path;
    cfg.all = 1;
    cfg.domains = "1";
    cfg.buffer_events = 256; /* threads wait for the writer many times */
    cfg.checkpoint_ns = 1000000;
    mt_diag d = {0};
    ck_assert_int_eq(mt_tracer_start(&cfg, &d), 0);
    ck_assert_int_eq(mt_tracer_start(&cfg, &d), MT_E_STATE);
    mt_tracer_intern_lock();
    int is_new;
    for (int k = 0; k < THREADS; k++) {
        char fn[8];
        snprintf(fn, sizeof fn, "t%d", k);
        mt_tracer_frame((void *)(uintptr_t)(k + 1), 0, 10 + (uint32_t)k, fn, strlen(fn), "w.c", 3, &is_new);
        mt_tracer_stack((uint32_t)k + 1, 0);
    }
    mt_tracer_intern_unlock();
    pthread_t th[THREADS];
    for (uintptr_t k = 0; k < THREADS; k++) pthread_create(&th[k], NULL, worker, (void *)k);
    for (int k = 0; k < THREADS; k++) pthread_join(th[k], NULL);
    ck_assert_int_eq(mt_tracer_event("step", "done", 0, NULL), 0);
    ck_assert_int_eq(mt_tracer_stop(&d), 0);
    ck_assert_int_eq(mt_tracer_stop(&d), MT_E_STATE);

    mt_reader *r;
    ck_assert_int_eq(mt_reader_open(path, &r, &d), 0);
    ck_assert_uint_eq(mt_reader_damage_count(r), 0);
    uint64_t last = 0, allocs = 0, frees = 0, nlive = 0, upto_last = 0, time_last = UINT64_MAX, steps = 0, seen_allocs_at_live = 0;
    double live_bytes_last = 0;
    int frames = 0, stacks_before = 1;
    for (size_t b = 0; b < mt_reader_block_count(r); b++) {
        mt_cursor c;
        ck_assert_int_eq(mt_reader_block_open(r, b, &c, &d), 0);
        mt_record x;
        while (mt_cursor_next(&c, &x.u, &d) == 1) {
            if (c.kind == MT_KIND_FRAME) frames++;
            if (c.kind == MT_KIND_ALLOC) {
                if (!frames) stacks_before = 0;
                ck_assert_uint_ge(x.u.alloc.time_ns, last);
                last = x.u.alloc.time_ns;
                if (x.u.alloc.op == MT_ALLOC_FREE) {
                    frees++;
                    ck_assert_uint_le(x.u.alloc.born_ns, x.u.alloc.time_ns);
                    ck_assert_uint_eq(x.u.alloc.size, 100);
                } else {
                    allocs++;
                }
                ck_assert_uint_ge(x.u.alloc.thread, 1);
                ck_assert_uint_le(x.u.alloc.thread, THREADS);
            }
            if (c.kind == MT_KIND_TRACE_LIVE) {
                ck_assert_uint_le(x.u.trace_live.upto, allocs + frees); /* after what it covers */
                /* A checkpoint is the records of one (time, upto): the
                 * final one may repeat the last periodic one's upto. */
                if (x.u.trace_live.upto != upto_last || x.u.trace_live.time_ns != time_last) live_bytes_last = 0;
                upto_last = x.u.trace_live.upto;
                time_last = x.u.trace_live.time_ns;
                seen_allocs_at_live = allocs + frees;
                live_bytes_last += x.u.trace_live.bytes;
                nlive++;
            }
            if (c.kind == MT_KIND_EVENT) steps++;
        }
    }
    ck_assert(stacks_before);
    ck_assert_uint_eq(allocs, THREADS * PER_THREAD);
    ck_assert_uint_eq(frees, THREADS * PER_THREAD / 2);
    ck_assert_uint_eq(steps, 1);
    ck_assert_uint_gt(nlive, 0);
    /* The last checkpoint covers everything: half the blocks are live. */
    ck_assert_uint_eq(upto_last, allocs + frees);
    ck_assert_uint_eq(seen_allocs_at_live, allocs + frees);
    ck_assert_double_eq_tol(live_bytes_last, THREADS * PER_THREAD / 2 * 100.0, 1e-6);
    mt_reader_free(r);
    unlink(path);
    free(path);

    /* Stopped and started again: a new file, fresh thread numbers. */
    path = tmp_path();
    cfg.path = path;
    cfg.all = 0;
    cfg.sample_bytes = 1000;
    cfg.seed = 42;
    ck_assert_int_eq(mt_tracer_start(&cfg, &d), 0);
    static char big[4096];
    int taken = 0;
    for (int i = 0; i < 1000; i++)
        if (mt_tracer_take(500)) {
            mt_tracer_alloc(big + i % 4000, 500, 1, 0);
            taken++;
        }
    ck_assert_int_eq(mt_tracer_stop(&d), 0);
    mt_tracer_stats st;
    mt_tracer_get_stats(&st);
    ck_assert_uint_eq(st.threads, 1);
    /* 1000 blocks of 500 bytes at S = 1000: p = 0.39, within 4 sigmas. */
    double p = 1 - exp(-0.5);
    ck_assert_msg(fabs(taken - 1000 * p) <= 4 * sqrt(1000 * p * (1 - p)), "%d sampled", taken);
    unlink(path);
    free(path);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tracer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, countdown_follows_the_exponential_law);
    tcase_add_test(tc, weight_is_one_over_p);
    tcase_add_test(tc, sampled_sum_is_unbiased);
    tcase_add_test(tc, addrmap_matches_an_array);
    tcase_add_test(tc, interning_dedupes_frames_and_stacks);
    tcase_add_test(tc, full_trace_from_threads_is_in_time_order);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
