/* bench/format: writes and loads a synthetic snapshot of N objects and
 * 4N references, each step in its own child process so that its peak RSS
 * is its own, and prints a table with the zstd -d time of the same payload
 * as the floor. Usage: bench_format [N_OBJECTS] [DIR] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "memtrace/analyze.h"
#include "../common/synth.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int load_snapshot(const char *path, uint64_t *graph_bytes) {
    mt_snapshot *s;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_snapshot_load(path, MT_LOAD_REFS, &s, &d)) {
        fprintf(stderr, "bench_format: %s: %s\n", path, d.msg);
        return 1;
    }
    const mt_graph *g = mt_snapshot_graph(s);
    /* What the graph holds: the per-object arrays and both CSR halves. */
    *graph_bytes = (uint64_t)g->n_objects * (8 + 8 + 4 + 4) + 2 * ((uint64_t)g->n_objects + 1) * 4 + 2 * g->n_refs * 4;
    mt_snapshot_free(s);
    return 0;
}

/* Runs fn in a child; returns its wall time and peak RSS (KiB). */
typedef struct result { double secs; long rss_kib; uint64_t value; } result;

static result in_child(int which, const char *path, uint32_t n) {
    int fds[2];
    if (pipe(fds)) exit(1);
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t v = 0;
        int rc = which == 0 ? write_snapshot(path, n, 0) : load_snapshot(path, &v);
        if (write(fds[1], &v, sizeof v) != sizeof v) rc = 1;
        _exit(rc);
    }
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    result r = { now() - t0, ru.ru_maxrss, 0 };
    if (read(fds[0], &r.value, sizeof r.value) != sizeof r.value || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "bench_format: step %d failed\n", which);
        exit(1);
    }
    close(fds[0]);
    close(fds[1]);
    return r;
}

int main(int argc, char **argv) {
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 10000000u;
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    char path[512], zpath[512], cmd[1200];
    snprintf(path, sizeof path, "%s/bench-format.snap", dir);
    snprintf(zpath, sizeof zpath, "%s/bench-format.zst", dir);
    uint64_t m = 4ull * n;

    result wr = in_child(0, path, n);
    /* This machine's timings vary by a third from run to run: the load,
     * the figure with a target, runs three times; the median is reported
     * and checked, the best shown beside it. */
    result runs[3];
    for (int i = 0; i < 3; i++) runs[i] = in_child(1, path, n);
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (runs[j].secs < runs[i].secs) {
                result t = runs[i];
                runs[i] = runs[j];
                runs[j] = t;
            }
    result ld = runs[1];

    /* The floor: the same zstd frames, concatenated (a valid zstd stream),
     * decompressed by the zstd command line tool. */
    mt_reader *r;
    if (mt_reader_open(path, &r, NULL)) return 1;
    FILE *z = fopen(zpath, "wb");
    FILE *src = fopen(path, "rb");
    uint64_t obj_stored = 0, ref_stored = 0, raw = 0, stored = 0;
    char *buf = malloc(1 << 22);
    for (size_t i = 0; i < mt_reader_block_count(r); i++) {
        const mt_block_info *b = mt_reader_block(r, i);
        fseek(src, (long)(b->offset + 36), SEEK_SET);
        size_t k = fread(buf, 1, b->stored, src);
        fwrite(buf, 1, k, z);
        raw += b->raw;
        stored += b->stored;
        if (b->kind == MT_KIND_OBJECT) obj_stored += b->stored + 36;
        if (b->kind == MT_KIND_REF) ref_stored += b->stored + 36;
    }
    fclose(z);
    fclose(src);
    uint64_t fsize = mt_reader_size(r);
    mt_reader_free(r);
    snprintf(cmd, sizeof cmd, "zstd -q -d -c %s > /dev/null", zpath);
    double z0 = now();
    int zrc = system(cmd);
    double zsecs = now() - z0;

    double per_obj = (double)ld.value;
    printf("bench/format: %" PRIu32 " objects, %" PRIu64 " references; zstd level 3, 1 MiB blocks\n\n", n, m);
    printf("%-34s %10s %16s %12s\n", "step", "seconds", "rate", "peak RSS");
    printf("%-34s %10.2f %11.2f M/s %8.1f MiB\n", "write (records/s)", wr.secs, (n + m) / wr.secs / 1e6, wr.rss_kib / 1024.0);
    printf("%-34s %10.2f %11.2f M/s %8.1f MiB\n", "load to arrays + CSR, median of 3", ld.secs, n / ld.secs / 1e6, ld.rss_kib / 1024.0);
    printf("%-34s %10.2f %11.2f M/s %8.1f MiB\n", "load to arrays + CSR, best of 3", runs[0].secs, n / runs[0].secs / 1e6, runs[0].rss_kib / 1024.0);
    if (zrc == 0)
        printf("%-34s %10.2f %11.2f M/s %12s\n", "floor: zstd -d of the payload", zsecs, n / zsecs / 1e6, "-");
    else
        printf("%-34s %10s (the zstd command is missing)\n", "floor: zstd -d of the payload", "-");
    printf("\n%-34s %10s\n", "on disk", "value");
    printf("%-34s %10.2f\n", "file bytes per object (all)", (double)fsize / n);
    printf("%-34s %10.2f\n", "objects: bytes per object", (double)obj_stored / n);
    printf("%-34s %10.2f\n", "refs: bytes per reference", (double)ref_stored / m);
    printf("%-34s %10.2f\n", "compression ratio (raw/stored)", (double)raw / stored);
    printf("\n%-34s %10s %10s\n", "targets", "measured", "target");
    printf("%-34s %10.2f %10s  %s\n", "load (median), M objects/s", n / ld.secs / 1e6, ">= 5", n / ld.secs >= 5e6 ? "ok" : "MISSED");
    printf("%-34s %10.2f %10s  %s\n", "writer peak RSS, MiB", wr.rss_kib / 1024.0, "< 32", wr.rss_kib < 32 * 1024 ? "ok" : "MISSED");
    double budget = 40.0 * n + 8.0 * m;
    printf("%-34s %10.2f %10s  %s\n", "loaded graph / (40 B/obj + 8 B/ref)", per_obj / budget, "< 1", per_obj < budget ? "ok" : "MISSED");
    printf("%-34s %10.2f\n", "load time over zstd -d floor", zrc == 0 ? ld.secs / zsecs : 0.0);
    unlink(path);
    unlink(zpath);
    free(buf);
    return 0;
}
