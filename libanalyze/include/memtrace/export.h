/* Snapshots in other systems' formats: every record as JSON lines or
 * CSV, read block by block so that memory stays at one block whatever the
 * file's size; summary gauges in the OpenMetrics text format; folded
 * stacks for flame graph tools. */
#ifndef MEMTRACE_EXPORT_H
#define MEMTRACE_EXPORT_H

#include <stdint.h>
#include <stdio.h>
#include "memtrace/errors.h"
#include "memtrace/format.h"
#include "memtrace/snapshot.h"
#include "memtrace/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bit of kind k in a kinds mask: MT_EXPORT_KIND(MT_KIND_OBJECT). */
#define MT_EXPORT_KIND(k) (1u << (k))
#define MT_EXPORT_ALL 0xfffffffeu

/* Writes the records of the kinds in mask, in file order, one JSON object
 * per line: "record" (its kind's name, "objects"), "seq" (its number among the
 * records of its kind, 0-based: an object's seq is the index references
 * use), then every field of mt_kind_fields() by name. Binary fields are
 * lowercase hex strings; floats have the fewest digits that read back
 * exactly; NaN and infinities are null. Without salvage any
 * damage in r fails the export; with it damaged blocks are skipped and
 * stay listed by mt_reader_damage().
 * @return 0, or MT_E_DAMAGED (diag names the first damaged block),
 *         MT_E_IO (out could not be written), what mt_reader_block_open()
 *         and mt_cursor_next() return. */
int mt_export_json(mt_reader *r, uint32_t mask, int salvage, FILE *out, mt_diag *diag);

/* Writes the records of one kind as CSV (RFC 4180): a header row "seq"
 * and the field names, then a row a record. Values as in
 * mt_export_json(), text as it is (quoted when it must be), nil empty.
 * @return as mt_export_json(), and MT_E_INVAL for an unknown kind. */
int mt_export_csv(mt_reader *r, mt_kind kind, int salvage, FILE *out, mt_diag *diag);

/* Writes s's summary gauges in the OpenMetrics text exposition format,
 * ending with "# EOF": heap objects and bytes, the top_types types by
 * bytes (the rest summed as type="<other>"; 0 for all), each DataFrame's
 * deep bytes and rows, GPU devices' total, reserved and allocated bytes,
 * the process RSS and tracemalloc figures the meta records, and the last
 * value of each time series (mt_export_openmetrics_run without history). Every
 * sample carries the meta's host, pid and label, when recorded.
 * @return 0, or MT_E_NOMEM, MT_E_IO, what mt_df_table_load() returns. */
int mt_export_openmetrics(const mt_snapshot *s, uint32_t top_types, FILE *out, mt_diag *diag);

/* mt_export_openmetrics, and a run's time series (memtrace/series.h) after
 * the other gauges: a gauge family per series, "memtrace_" and its name
 * with every character but letters, digits and '_' as '_', "_bytes" for
 * byte series (all but gc.*, procs and cgroup.oom*); gpuN.WHAT as
 * memtrace_gpu_WHAT_bytes{device="N"} (gpuN.total left out when the file
 * has GPU device records, whose memtrace_gpu_total_bytes it would repeat).
 * Without history each series' last value, untimed (what a textfile
 * collector takes: it refuses timestamps); with history every point, a
 * bucket as its mean at its middle, timestamped in seconds since the
 * epoch (meta start_time + time_ns, to the millisecond), for
 * `promtool tsdb create-blocks-from openmetrics`.
 * @return as mt_export_openmetrics, and MT_E_NOTFOUND for history
 *         without a start_time meta. */
int mt_export_openmetrics_run(const mt_snapshot *s, uint32_t top_types, int history, FILE *out, mt_diag *diag);

/* Writes what is live by allocation stack (mt_sites_live()) as folded
 * stacks, one line a stack, sorted: frames outermost first as
 * "function (file:line)" ("file:line" without a function name), joined
 * by ';', then a space and the bytes (or,
 * with by_count, the count). ';' and line breaks inside names become ':'
 * and ' '.
 * @return 0, or MT_E_NOTFOUND (s holds no allocation stacks), MT_E_NOMEM,
 *         MT_E_IO, what mt_sites_load() returns. */
int mt_export_folded(const mt_snapshot *s, int by_count, FILE *out, mt_diag *diag);

/* Writes an allocation trace's stacks as folded stacks, one line a stack
 * with a figure above 0, sorted: frames outermost first as
 * mt_trace_folded() writes them, a space, and the stack's bytes (or, with
 * by_count, blocks), rounded to a whole number: live at the peak
 * (MT_TRACE_BY_PEAK), still live at the end (MT_TRACE_BY_LEAKED),
 * allocated (MT_TRACE_BY_ALLOCATED) or temporary (MT_TRACE_BY_TEMPORARY).
 * In a sampled trace the figures are the estimates.
 * @return 0, or MT_E_NOMEM, MT_E_IO, what mt_trace_sites() returns. */
int mt_export_trace_folded(mt_trace *t, mt_trace_by what, int by_count, FILE *out, mt_diag *diag);

/* Writes an allocation trace in speedscope's file format
 * (https://www.speedscope.app/file-format-schema.json): three "sampled"
 * profiles in bytes, one sample a stack (frame indices, root first)
 * weighed by its bytes rounded to a whole number: live at the peak,
 * still live at the end (leaked) and allocated over the run; frames
 * shared, one per distinct function, file and line. name names the
 * profile group (the file's name).
 * @return 0, or MT_E_NOMEM, MT_E_IO, what mt_trace_sites() returns. */
int mt_export_speedscope(mt_trace *t, const char *name, FILE *out, mt_diag *diag);

/* One CSV field: quoted when it holds a comma, quote or line break. */
void mt_csv_put_str(FILE *out, const char *s, size_t n);
/* A value as a CSV field: nil empty, booleans true/false, floats in the
 * fewest digits that read back exactly, text as mt_csv_put_str(), binary
 * as lowercase hex. */
void mt_csv_put_value(FILE *out, const mt_value *v);

#ifdef __cplusplus
}
#endif
#endif
