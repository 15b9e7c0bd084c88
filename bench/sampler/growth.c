/* bench/sampler's file growth: H hours of a run sampled every 100 ms,
 * written as the sampler writes its run file, on a simulated clock (an
 * hour in a second or two), with and without thinning.
 *
 *   growth HOURS DIR [FLUSH_MS]
 * Prints "hours H unthinned BYTES thinned BYTES thinned_max BYTES" for
 * each whole hour: the unthinned file (every point appended, a flush each
 * FLUSH_MS, default 1000, never rewritten) and the thinned one (the same appends, and a
 * rewrite from the store, mt__store_write, each time a point tier of 10
 * minutes has been added, as sampler.c's compact_locked does), at the end
 * of the hour and at its largest during it.
 *
 * The series are those of a process followed with its cgroup: rss, pss
 * and uss on a random walk with a slow leak, swap, cgroup.current and
 * mem.available moving with them, cgroup.max and the GC's counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "memtrace/format.h"
#include "../../tools/collect/sampler/internal.h"

#define INTERVAL_NS 100000000ull
#define TIER 6000 /* 10 minutes of 100 ms points */

static const char *const SERIES[] = { "rss", "pss", "uss", "swap", "cgroup.current", "cgroup.max",
                                      "mem.available", "gc.count0", "gc.collections0" };
#define NSERIES (sizeof SERIES / sizeof *SERIES)

static uint64_t size_of(const char *path) {
    struct stat st;
    return stat(path, &st) ? 0 : (uint64_t)st.st_size;
}

static uint64_t rng = 88172645463325252ull;
static double uniform(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static mt_writer *open_run(const char *path) {
    mt_writer *w;
    mt_writer_opts o = { .publish_on_flush = 1 };
    if (mt_writer_open(path, &o, &w, NULL)) {
        fprintf(stderr, "growth: cannot write %s\n", path);
        exit(3);
    }
    mt_writer_meta_str(w, "tool", "bench-growth");
    mt_writer_meta_uint(w, "interval_ns", INTERVAL_NS);
    return w;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: growth HOURS DIR [FLUSH_MS]\n");
        return 2;
    }
    uint64_t flush_ticks = argc == 4 ? (uint64_t)atoi(argv[3]) * 1000000ull / INTERVAL_NS : 10;
    if (!flush_ticks) flush_ticks = 1;
    int hours = atoi(argv[1]);
    char plain[4096], thin[4096];
    snprintf(plain, sizeof plain, "%s/unthinned.snap", argv[2]);
    snprintf(thin, sizeof thin, "%s/thinned.snap", argv[2]);
    mt_writer *wp = open_run(plain), *wt = open_run(thin);
    mt__store *st = mt__store_new(TIER);
    double rss = 400e6, gc0 = 0, gcc = 0;
    uint64_t ticks = 0, thin_max = 0;
    uint64_t per_hour = 3600ull * 1000000000ull / INTERVAL_NS;
    for (uint64_t i = 1; i <= (uint64_t)hours * per_hour; i++) {
        uint64_t t = i * INTERVAL_NS;
        rss += (uniform() - 0.499) * 2e6;
        gc0 = gc0 >= 699 ? 0 : gc0 + 1 + (uniform() < 0.3);
        if (gc0 == 0) gcc++;
        double v[NSERIES] = { rss, rss * 0.92, rss * 0.85, 0, rss * 1.1, 8e9, 16e9 - rss * 1.1, gc0, gcc };
        for (size_t k = 0; k < NSERIES; k++) {
            mt_sample r = { t, mt_str_c(SERIES[k]), v[k], mt_str_c(NULL), 0, 0, 0, 0 };
            mt_writer_add(wp, MT_KIND_SAMPLE, &r);
            mt_writer_add(wt, MT_KIND_SAMPLE, &r);
            mt__store_add(st, SERIES[k], t, v[k], NULL);
        }
        if (i % flush_ticks == 0) { /* the sampler flushes each flush_ns */
            mt_writer_flush(wp);
            mt_writer_flush(wt);
        }
        if (++ticks >= TIER) { /* compact_locked */
            mt_writer *nw = open_run(thin);
            mt__store_write(st, nw);
            mt_writer_flush(nw);
            mt_writer_abandon(wt);
            wt = nw;
            ticks = 0;
        }
        uint64_t now = size_of(thin);
        if (i % flush_ticks == 0 && now > thin_max) thin_max = now;
        if (i % per_hour == 0) {
            printf("hours %llu unthinned %llu thinned %llu thinned_max %llu\n", (unsigned long long)(i / per_hour),
                   (unsigned long long)size_of(plain), (unsigned long long)now, (unsigned long long)thin_max);
            fflush(stdout);
            thin_max = 0;
        }
    }
    mt_writer_close(wp, NULL);
    mt_writer_close(wt, NULL);
    mt__store_free(st);
    return 0;
}
