/* Writes a synthetic allocation trace (SPEC.md 4.3, 1.4) of N events for
 * benchmarks of its readers, in bounded memory whatever N.
 *   gen_trace OUT.snap N [--stacks K] [--sampled BYTES] [--checkpoint-ms MS] [--seed S]
 * One event a microsecond of trace time (10M events: 10 s). K call stacks
 * (default 1000) in a tree of depth up to 12 over 200 frames. The number
 * of live blocks follows a slow wave between 10k and 110k, so the live
 * bytes rise and fall and have one highest point; about 30% of blocks are
 * freed 1 us after their allocation (temporaries), and blocks of every
 * 50th stack are never freed (a leak). Sizes are log-uniform from 16 B to
 * 64 KiB, with one block in 1000 of 1 to 16 MiB. Sampled mode keeps each
 * block with p = 1 - exp(-size / BYTES) and weight 1/p, as the tracer
 * does. A checkpoint of every stack's live bytes is written every MS of
 * trace time (default 1000) and at the end. Prints the truth it wrote
 * (peak, end) on stdout, for checking a reader's answer. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/format.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double unit(void) { return (double)(next() >> 11) / 9007199254740992.0; }

typedef struct block {
    uint64_t size, born;
    uint32_t stack;
    double weight;
} block;

#define MAX_LIVE 200000

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: gen_trace OUT.snap N [--stacks K] [--sampled BYTES] [--checkpoint-ms MS] [--seed S]\n");
        return 2;
    }
    const char *out = argv[1];
    uint64_t n = strtoull(argv[2], NULL, 10), k = 1000, cp_ms = 1000;
    double sample = 0;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--stacks")) k = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--sampled")) sample = strtod(argv[i + 1], NULL);
        else if (!strcmp(argv[i], "--checkpoint-ms")) cp_ms = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--seed")) rng = strtoull(argv[i + 1], NULL, 10) | 1;
        else {
            fprintf(stderr, "gen_trace: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (k < 2) k = 2;
    mt_writer_opts o = { 0 };
    o.background = 1;
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(out, &o, &w, &d)) {
        fprintf(stderr, "gen_trace: %s: %s\n", out, d.msg);
        return 3;
    }
    mt_writer_meta_str(w, "tool", "gen_trace");
    mt_writer_meta_uint(w, "start_time", 1764720000000000000ull);
    mt_writer_meta_str(w, "command", "gen_trace");
    mt_writer_meta_str(w, "trace_mode", sample > 0 ? "sampled" : "all");
    if (sample > 0) mt_writer_meta_uint(w, "sample_bytes", (uint64_t)sample);
    mt_writer_meta_str(w, "trace_domains", "0,1,3,4");
    mt_writer_meta_uint(w, "trace_checkpoint_ns", cp_ms * 1000000ull);
    char fn[64], file[64];
    for (uint32_t f = 1; f <= 200; f++) {
        snprintf(fn, sizeof fn, "func_%u", f);
        snprintf(file, sizeof file, "mod_%u.py", f % 37);
        mt_frame fr = { f, mt_str_c(fn), mt_str_c(file), f * 3 };
        mt_writer_add(w, MT_KIND_FRAME, &fr);
    }
    /* Stack s's parent is a smaller id, depth capped at 12. */
    uint8_t *depth = calloc(k + 1, 1);
    for (uint32_t s = 1; s <= k; s++) {
        uint32_t parent = s > 1 ? (uint32_t)(1 + next() % (s - 1)) : 0;
        if (parent && depth[parent] >= 12) parent = 0;
        depth[s] = parent ? depth[parent] + 1 : 1;
        mt_stack st = { s, (uint32_t)(1 + next() % 200), parent };
        mt_writer_add(w, MT_KIND_STACK, &st);
    }
    free(depth);
    mt_writer_flush(w);
    block *live = malloc(MAX_LIVE * sizeof *live);
    double *by_stack = calloc(k + 1, sizeof(double)), *by_stack_n = calloc(k + 1, sizeof(double));
    size_t nlive = 0;
    double total = 0, peak = 0;
    uint64_t recs = 0, next_cp = cp_ms * 1000000ull, peak_rec = 0;
    int pending_temp = 0;
    block temp = { 0 };
    for (uint64_t i = 0; i < n; i++) {
        uint64_t now = i * 1000; /* 1 us an event */
        double phase = (double)i / (double)n * 6.283185307179586 * 3;
        size_t target = (size_t)(60000 + 50000 * sin(phase));
        mt_alloc a = { 0 };
        a.time_ns = now;
        a.address = 0x7f0000000000ull + i * 64;
        a.domain = MT_DOMAIN_NATIVE;
        if (pending_temp) { /* the temporary from the event before */
            a.op = MT_ALLOC_FREE;
            a.size = temp.size;
            a.stack = temp.stack;
            a.weight = temp.weight;
            a.born_ns = temp.born;
            pending_temp = 0;
        } else if (nlive && (nlive >= target || next() % 2 == 0) && nlive > 1000) {
            size_t j = next() % nlive;
            block b = live[j];
            live[j] = live[--nlive];
            a.op = MT_ALLOC_FREE;
            a.size = b.size;
            a.stack = b.stack;
            a.weight = b.weight;
            a.born_ns = b.born;
        } else {
            uint64_t size = next() % 1000 == 0 ? (1u << 20) + next() % (15u << 20)
                                               : (uint64_t)exp(log(16.0) + unit() * (log(65536.0) - log(16.0)));
            uint32_t stack = (uint32_t)(1 + next() % k);
            double wgt = 0;
            if (sample > 0) {
                double p = 1 - exp(-(double)size / sample);
                if (unit() >= p) continue; /* not sampled: no record, no free */
                wgt = 1 / p;
            }
            a.op = MT_ALLOC_ALLOC;
            a.size = size;
            a.stack = stack;
            a.weight = wgt;
            block b = { size, now, stack, wgt };
            if (next() % 10 < 3) {
                temp = b;
                pending_temp = 1;
            } else if (stack % 50 != 0 && nlive < MAX_LIVE)
                live[nlive++] = b;
        }
        double x = (double)a.size * (a.weight > 0 ? a.weight : 1), c = a.weight > 0 ? a.weight : 1;
        if (a.op == MT_ALLOC_FREE) x = -x, c = -c;
        by_stack[a.stack] += x;
        by_stack_n[a.stack] += c;
        total += x;
        mt_writer_add(w, MT_KIND_ALLOC, &a);
        if (total > peak) {
            peak = total;
            peak_rec = recs;
        }
        recs++;
        if (now >= next_cp || i + 1 == n) {
            mt_writer_flush(w); /* a checkpoint follows the records it covers */
            for (uint32_t s = 1; s <= k; s++)
                if (by_stack_n[s] > 0.5) {
                    mt_trace_live l = { now, s, by_stack[s], by_stack_n[s], recs };
                    mt_writer_add(w, MT_KIND_TRACE_LIVE, &l);
                }
            next_cp += cp_ms * 1000000ull;
        }
    }
    int rc = mt_writer_close(w, &d);
    if (rc) {
        fprintf(stderr, "gen_trace: %s: %s\n", out, d.msg);
        return 3;
    }
    printf("records %llu peak %.0f at record %llu end %.0f\n", (unsigned long long)recs, peak,
           (unsigned long long)peak_rec, total);
    free(live);
    free(by_stack);
    free(by_stack_n);
    return 0;
}
