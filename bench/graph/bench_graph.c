/* bench/graph: the reference graph analyses on a synthetic heap.
 *   bench_graph write N PATH   writes N objects, 4N references, a root
 *                              every 1000 objects (bench/common/synth.h)
 *   bench_graph run PATH       loads it and times each analysis; prints
 *                              one line "phase seconds" each, then the
 *                              process's peak RSS in KiB
 * bench/graph/bench.py runs both and networkx beside them. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "memtrace/analyze.h"
#include "../common/synth.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int fail(const char *what, const mt_diag *d) {
    fprintf(stderr, "bench_graph: %s: %s\n", what, d->msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "write")) return write_snapshot(argv[3], (uint32_t)strtoul(argv[2], NULL, 10), 1000);
    if (argc != 3 || strcmp(argv[1], "run")) {
        fprintf(stderr, "usage: bench_graph write N PATH | bench_graph run PATH\n");
        return 2;
    }
    mt_diag d;
    mt_diag_clear(&d);
    mt_snapshot *s;
    double t0 = now();
    if (mt_snapshot_load(argv[2], MT_LOAD_REFS, &s, &d)) return fail("load", &d);
    double t1 = now();
    const mt_graph *g = mt_snapshot_graph(s);
    mt_dominators dom;
    if (mt_dominators_compute(g, &dom, &d)) return fail("dominators", &d);
    double t2 = now();
    uint64_t *tr = malloc(((size_t)g->n_types + 1) * 8);
    if (!tr || mt_dominators_type_retained(g, &dom, tr, &d)) return fail("type retained", &d);
    double t3 = now();
    mt_cycles cy;
    if (mt_cycles_compute(g, &cy, &d)) return fail("cycles", &d);
    double t4 = now();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("objects %u\nrefs %" PRIu64 "\nreachable %u\n", g->n_objects, g->n_refs, dom.n_reachable);
    printf("load %.3f\ndominators %.3f\ntype_retained %.3f\ncycles %.3f\n", t1 - t0, t2 - t1, t3 - t2, t4 - t3);
    printf("rss_kib %ld\n", ru.ru_maxrss);
    mt_cycles_free(&cy);
    free(tr);
    mt_dominators_free(&dom);
    mt_snapshot_free(s);
    return 0;
}
