/* bench/leaks: memtrace-leaks' analysis over 10 snapshots of 1 million
 * objects each. Every snapshot keeps 900 000 long-lived objects (a
 * twentieth of them replaced each time: churn) and 10 000 more objects
 * leaked into one dict. Prints the time of each part and the peak RSS.
 * Usage: bench_leaks [SNAPSHOTS] [OBJECTS] [DIR] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "memtrace/analyze.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#define LEAK_PER_SNAPSHOT 10000u

static int write_one(const char *path, uint32_t k, uint32_t base) {
    static const char *types[] = { "dict", "list", "str", "int", "tuple", "float", "bytes", "app.Record" };
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(path, NULL, &w, &d)) {
        fprintf(stderr, "bench_leaks: %s: %s\n", path, d.msg);
        return 1;
    }
    mt_writer_meta_str(w, "host", "bench");
    mt_writer_meta_uint(w, "pid", 1);
    for (uint32_t t = 0; t < 8; t++) {
        mt_type ty = { t + 1, mt_str_c(types[t]) };
        mt_writer_add(w, MT_KIND_TYPE, &ty);
    }
    mt_type leak = { 9, mt_str_c("app.Leaked") }, mod = { 10, mt_str_c("module") };
    mt_writer_add(w, MT_KIND_TYPE, &leak);
    mt_writer_add(w, MT_KIND_TYPE, &mod);
    uint32_t leaked = (k + 1) * LEAK_PER_SNAPSHOT;
    /* 0: the module, 1: the dict that leaks, 2..: base objects, then leaked ones. */
    mt_object m = { 1, 10, 72, 1, 0, 0 }, dict = { 2, 1, 36000 + 40ull * leaked, 1, 0, 0 };
    mt_writer_add(w, MT_KIND_OBJECT, &m);
    mt_writer_add(w, MT_KIND_OBJECT, &dict);
    for (uint32_t i = 0; i < base; i++) {
        uint64_t id = 1000 + i + (i % 20 == 0 ? (uint64_t)(k + 1) << 32 : 0);
        mt_object o = { id, i % 8 + 1, 32 + (i % 7) * 16, 1, 0, 0 };
        mt_writer_add(w, MT_KIND_OBJECT, &o);
    }
    for (uint32_t j = 0; j < leaked; j++) {
        mt_object o = { (uint64_t)5 << 40 | j, 9, 56, 1, 0, 0 };
        mt_writer_add(w, MT_KIND_OBJECT, &o);
    }
    mt_ref r = { 0, 1, 0, mt_str_c("_LEAKS") };
    mt_writer_add(w, MT_KIND_REF, &r);
    for (uint32_t i = 0; i < base; i++) {
        mt_ref a = { i % 1000 ? 2 + i - 1 : 0, 2 + i, 0, mt_str_c(NULL) };
        mt_ref b = { 2 + i, 2 + (uint32_t)(((uint64_t)i * 7919) % base), 0, mt_str_c(NULL) };
        mt_writer_add(w, MT_KIND_REF, &a);
        mt_writer_add(w, MT_KIND_REF, &b);
    }
    for (uint32_t j = 0; j < leaked; j++) {
        mt_ref a = { 1, 2 + base + j, 0, mt_str_c(NULL) };
        mt_writer_add(w, MT_KIND_REF, &a);
    }
    mt_root root = { 0, mt_str_c("module"), mt_str_c("app") };
    mt_writer_add(w, MT_KIND_ROOT, &root);
    if (mt_writer_close(w, &d)) {
        fprintf(stderr, "bench_leaks: %s: %s\n", path, d.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    uint32_t n = argc > 1 ? (uint32_t)atoi(argv[1]) : 10, total = argc > 2 ? (uint32_t)atoi(argv[2]) : 1000000;
    const char *dir = argc > 3 ? argv[3] : "/tmp";
    uint32_t base = total - n * LEAK_PER_SNAPSHOT;
    char **paths = calloc(n, sizeof *paths);
    double t0 = now();
    for (uint32_t k = 0; k < n; k++) {
        paths[k] = malloc(strlen(dir) + 32);
        sprintf(paths[k], "%s/bench-leaks-%02u.snap", dir, k);
        if (write_one(paths[k], k, base)) return 1;
    }
    double t1 = now();
    mt_leaks L;
    mt_snapshot *last;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_leaks_compute((const char *const *)paths, n, 0, NULL, &L, &last, &d)) {
        fprintf(stderr, "bench_leaks: %s: %s\n", d.file ? d.file : "", d.msg);
        return 1;
    }
    double t2 = now();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const mt_graph *g = mt_snapshot_graph(last);
    printf("bench/leaks: %u snapshots of %u objects (%u long-lived, a twentieth replaced each time;\n"
           "%u more leaked into one dict each time)\n\n", n, total, base, LEAK_PER_SNAPSHOT);
    printf("%-44s %10s\n", "step", "seconds");
    printf("%-44s %10.2f\n", "write the snapshots (not part of the analysis)", t1 - t0);
    printf("%-44s %10.2f\n", "memtrace-leaks analysis (loads included)", t2 - t1);
    printf("%-44s %10.2f\n", "  per snapshot", (t2 - t1) / n);
    printf("%-44s %10.0f MiB\n", "peak RSS of the process", ru.ru_maxrss / 1024.0);
    printf("\nsuspects: %zu", L.n_suspects);
    if (L.n_suspects) {
        const mt_leak_suspect *s = &L.suspects[0];
        printf("; first: %s, %" PRIu64 " objects a snapshot, held by object id %" PRIu64 " (%s)", L.groups[s->group].type,
               s->objects_per_snapshot, s->point != UINT32_MAX ? g->id[s->point] : 0,
               s->point != UINT32_MAX && g->id[s->point] == 2 ? "the leaking dict: right" : "WRONG");
    }
    printf("\n");
    mt_leaks_free(&L);
    mt_snapshot_free(last);
    for (uint32_t k = 0; k < n; k++) {
        remove(paths[k]);
        free(paths[k]);
    }
    free(paths);
    return 0;
}
