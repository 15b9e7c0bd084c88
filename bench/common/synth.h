/* The synthetic heap both benchmarks use, so that their figures describe
 * the same files. Header-only: each benchmark is one program. */
#ifndef MT_BENCH_SYNTH_H
#define MT_BENCH_SYNTH_H

#include <stdio.h>
#include "memtrace/analyze.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { /* xorshift64*: reproducible, fast */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

/* A heap-like shape: objects at increasing addresses, 24 types, sizes of
 * small Python objects; four references each, half to neighbours (a
 * container and its items are allocated together) and half anywhere. */
static int write_snapshot(const char *path, uint32_t n, uint32_t roots_every) {
    static const char *types[] = { "dict", "list", "str", "int", "tuple", "float", "bytes", "set", "function",
                                   "type", "module", "cell", "frame", "code", "method", "app.Node", "app.Session",
                                   "numpy.ndarray", "pandas.DataFrame", "weakref", "frozenset", "bytearray",
                                   "property", "object" };
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(path, NULL, &w, &d)) {
        fprintf(stderr, "bench: %s: %s\n", path, d.msg);
        return 1;
    }
    mt_writer_meta_str(w, "tool", "bench_format");
    for (uint32_t t = 0; t < 24; t++) {
        mt_type ty = { t + 1, mt_str_c(types[t]) };
        mt_writer_add(w, MT_KIND_TYPE, &ty);
    }
    uint64_t addr = 0x7f0000000000ull;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = next();
        addr += 16 * (1 + (r & 15));
        mt_object o = { addr, (uint32_t)((r >> 8) % 24) + 1, 16 + ((r >> 16) % 512), MT_OBJ_GC_TRACKED, 0, 0 };
        mt_writer_add(w, MT_KIND_OBJECT, &o);
        for (int k = 0; k < 4; k++) {
            uint64_t q = next();
            uint32_t dst = k < 2 ? (uint32_t)((i + 1 + (q % 64)) % n) : (uint32_t)(q % n);
            mt_ref ref = { i, dst, 0, mt_str_c(NULL) };
            if (mt_writer_add(w, MT_KIND_REF, &ref)) break;
        }
    }
    for (uint32_t i = 0; roots_every && i < n; i += roots_every) {
        mt_root rt = { i, mt_str_c("module"), mt_str_c("m") };
        mt_writer_add(w, MT_KIND_ROOT, &rt);
    }
    if (mt_writer_close(w, &d)) {
        fprintf(stderr, "bench: %s: %s\n", path, d.msg);
        return 1;
    }
    return 0;
}

#endif
