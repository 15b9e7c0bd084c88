/* Two allocation traces (trace.h) compared site by site: two runs of a
 * test suite, before and after a change. Each trace's figures are read at
 * its own end (what was still live: a leak grows there) or its own peak,
 * and grouped by the innermost frame ("file:line") or the whole stack, so
 * that two files whose stack ids differ line up. For sampled traces
 * every figure is an estimate and comes with its standard error; the
 * change's is the root of the sum of both squares (the runs are
 * independent). */
#ifndef MEMTRACE_TRACEDIFF_H
#define MEMTRACE_TRACEDIFF_H

#include <stddef.h>
#include "memtrace/diff.h"
#include "memtrace/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_trace_diff_row {
    const char *group;        /* "file:line", or the stack innermost first; owned by the diff */
    mt_est bytes_a, bytes_b;  /* live bytes at the moment, in a and in b */
    mt_est count_a, count_b;  /* live blocks */
    mt_est delta;             /* bytes_b - bytes_a */
} mt_trace_diff_row;

typedef struct mt_trace_diff {
    mt_group_by by;           /* MT_BY_SITE or MT_BY_TRACEBACK */
    mt_trace_when when;       /* MT_TRACE_AT_END or MT_TRACE_AT_PEAK */
    int sampled;              /* either trace is sampled: figures are estimates */
    size_t n_rows;
    mt_trace_diff_row *rows;
    mt_trace_diff_row total;  /* over every row; group is "total" */
    void *impl;
} mt_trace_diff;

/* Groups the live bytes of a and of b at `when` (each trace's own end or
 * peak) by `by` and fills d (caller-owned). Rows in no particular order.
 * @return 0, or MT_E_INVAL (by is not site or traceback, when is not end
 *         or peak), MT_E_NOMEM, what mt_trace_sites() returns. */
int mt_trace_diff_compute(mt_trace *a, mt_trace *b, mt_group_by by, mt_trace_when when, mt_trace_diff *d,
                          mt_diag *diag);

/* Sorts the rows larger first, ties by group name: MT_DIFF_BY_DELTA by
 * the change, MT_DIFF_BY_BYTES by bytes in b, MT_DIFF_BY_COUNT by blocks
 * in b. */
void mt_trace_diff_sort(mt_trace_diff *d, mt_diff_key key);

/* Frees what d holds and empties it. Safe on an empty d. */
void mt_trace_diff_free(mt_trace_diff *d);

#ifdef __cplusplus
}
#endif
#endif
