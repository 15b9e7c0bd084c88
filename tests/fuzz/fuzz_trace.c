/* libFuzzer target for the trace reader (trace.h): whatever a salvage
 * makes of the bytes, every query must hold its invariants and never
 * crash. Seeds: testdata/trace*.snap. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "memtrace/analyze.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mt_trace *t;
    if (mt_trace_open_mem(data, size, "fuzz", MT_LOAD_SALVAGE, NULL, &t, NULL)) return 0;
    mt_trace_summary S;
    mt_trace_summary_get(t, &S);
    if (S.records != S.allocs + S.frees) abort();
    mt_trace_at ats[] = { { MT_TRACE_AT_PEAK, 0 }, { MT_TRACE_AT_END, 0 }, { MT_TRACE_AT_TIME, 0 },
                          { MT_TRACE_AT_TIME, S.duration_ns / 2 }, { MT_TRACE_AT_TIME, UINT64_MAX } };
    for (size_t k = 0; k < sizeof ats / sizeof *ats; k++) {
        mt_trace_site *s;
        size_t n;
        if (mt_trace_sites(t, &ats[k], &s, &n, NULL)) continue;
        for (int by = 0; by <= MT_TRACE_BY_LEAKED; by++) mt_trace_sites_sort(s, n, (mt_trace_by)by);
        char buf[256];
        for (size_t i = 0; i < n && i < 16; i++) {
            size_t need = mt_trace_folded(t, s[i].stack, buf, sizeof buf);
            if (need < sizeof buf && buf[need]) abort();
            mt_sites_format(mt_trace_stacks(t), s[i].stack, 1, buf, sizeof buf);
        }
        free(s);
    }
    mt_trace_size_class h[MT_TRACE_SIZE_CLASSES];
    mt_trace_histogram(t, h);
    mt_trace_point pt[64];
    size_t got;
    mt_trace_curve(t, 64, pt, &got);
    if (got != 64) abort();
    for (size_t i = 0; i < mt_trace_step_count(t); i++) mt_trace_step_at(t, mt_trace_step_get(t, i)->time_ns);
    mt_trace_free(t);
    return 0;
}
