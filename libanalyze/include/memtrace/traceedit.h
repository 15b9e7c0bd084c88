/* Allocation traces (SPEC.md 4.3, "Allocation traces (1.4)") rewritten
 * into smaller traces: a time window cut out of one, and a full trace
 * thinned into the sampled trace the tracer would have written. Both
 * stream the allocs records, so memory goes with the distinct stacks
 * (and, for a cut, the distinct (stack, domain, size) of blocks live at
 * the window's start), never with the number of events. */
#ifndef MEMTRACE_TRACEEDIT_H
#define MEMTRACE_TRACEEDIT_H

#include <stdint.h>
#include "memtrace/errors.h"
#include "memtrace/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a rewrite wrote, for the tool to report. */
typedef struct mt_trace_edit_stats {
    uint64_t allocs_in;     /* allocs records read */
    uint64_t allocs_out;    /* allocs records written, carried ones included */
    uint64_t carried;       /* cut: records standing for the blocks live at the start */
    uint64_t checkpoints;   /* checkpoints written (each one trace_live record a stack) */
} mt_trace_edit_stats;

/* Writes to path the part of trace s whose time_ns lies in [from_ns,
 * to_ns] (to_ns UINT64_MAX: to the end):
 * - meta: every entry of s, then cut_from_ns and cut_to_ns (the window,
 *   on the clock of s, whose start_time the cut keeps);
 * - allocs: first, at time from_ns, the blocks live just before from_ns
 *   (a replay of every earlier record): one record per (stack, domain,
 *   size) with count = its live blocks for exact records, or one record
 *   per live sampled record with its weight, address 0 and thread 0; then
 *   every record of the window as it was, the frees of blocks born
 *   before the window included (they still carry their block);
 * - trace_live: a checkpoint recomputed at each of s's checkpoints inside
 *   the window, and one at the end (time to_ns, or the last record's);
 * - frames and stacks: those the written records name, with their callers;
 * - samples, events and gpu_events whose time_ns lies in the window;
 *   every record of another kind as it was.
 * So the live bytes of every stack at any moment of the window read the
 * same in the cut as in s. stats may be NULL.
 * @return 0, or MT_E_INVAL (s is not a trace: no trace_mode meta; or
 *         from_ns > to_ns), MT_E_LIMIT (a record whose count is above
 *         2^32 blocks), MT_E_IO, MT_E_NOMEM, what mt_snapshot_each()
 *         returns. On error path keeps what it held. */
int mt_trace_cut(const mt_snapshot *s, uint64_t from_ns, uint64_t to_ns, const char *path,
                 mt_trace_edit_stats *stats, mt_diag *diag);

/* Writes to path the sampled trace of full trace s (meta trace_mode
 * "all"), as the tracer would have written it with sample_bytes: each
 * allocation of n bytes kept with probability p = 1 - exp(-n /
 * sample_bytes) and weight 1/p (a record of count c > 1: each of its
 * blocks drawn, one record per block kept), its free kept exactly when
 * it was. The draw of a block is a hash of (seed, address, allocation
 * time, block) rather than a stream of random numbers, so its free, which
 * carries the same address and born_ns, draws the same: no map of live
 * blocks is needed. meta: every entry of s, then trace_mode "sampled",
 * sample_bytes and thin_seed; trace_live recomputed at s's checkpoints and
 * at the end; every other record as it was. stats may be NULL.
 * @return 0, or MT_E_INVAL (s is not a full trace, is a cut of one
 *         (meta cut_from_ns: its carried blocks are merged), or
 *         sample_bytes is 0), MT_E_LIMIT (a record whose count is above
 *         2^32 blocks), MT_E_IO, MT_E_NOMEM, what mt_snapshot_each()
 *         returns. On error path keeps what it held. */
int mt_trace_thin(const mt_snapshot *s, uint64_t sample_bytes, uint64_t seed, const char *path,
                  mt_trace_edit_stats *stats, mt_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
