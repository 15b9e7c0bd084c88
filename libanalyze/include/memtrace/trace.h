/* Allocation traces (SPEC.md 4.3, "Allocation traces (1.4)" and
 * "trace_live (1.4)"): the peak and what was live then, by call stack,
 * what was still live at the end, temporaries, sizes and the live-bytes
 * curve of a trace file.
 *
 * Memory is bounded by the trace's distinct stacks (and its steps and
 * checkpoints), never by its events or addresses: allocs records are
 * streamed block by block from the file and never kept. mt_trace_open()
 * reads every allocs record once and keeps per-stack figures, the peak's
 * stacks included (a copy of the stacks that changed since the previous
 * peak, so the peak costs no second pass); live bytes at another moment
 * (mt_trace_sites() at a time) start from the last trace_live checkpoint at
 * or before it and replay the records after it, skipping whole blocks by
 * their headers without decompressing them.
 *
 * Sampled traces (meta trace_mode "sampled"): every figure is an unbiased
 * estimate, sum of size x weight, and comes with its standard error, the
 * square root of sum of size^2 x weight x (weight - 1) over the records
 * summed (SPEC.md). In mode "all" every standard error is 0. A figure
 * reported for one group of records (a site, a traceback, a total) goes
 * through mt_trace_bytes_floor() first. */
#ifndef MEMTRACE_TRACE_H
#define MEMTRACE_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"
#include "memtrace/format.h"
#include "memtrace/sites.h"
#include "memtrace/snapshot.h" /* MT_LOAD_SALVAGE, MT_LOAD_GROWING */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_trace mt_trace;

/* An estimate and its standard error (0 for exact figures). A 95%
 * interval is value +- 1.96 se. */
typedef struct mt_est {
    double value;
    double se;
} mt_est;

/* Open flag beside MT_LOAD_SALVAGE and MT_LOAD_GROWING: never start from
 * a checkpoint, replay every moment from the first record (the oracle the
 * tests compare checkpoints with). */
#define MT_TRACE_NO_CHECKPOINTS 0x100u

/* Default of mt_trace_opts.temporary_ns: a block freed within 1 ms of its
 * allocation is temporary (short-lived churn that costs allocator time,
 * not memory). */
#define MT_TRACE_TEMPORARY_NS 1000000ull

typedef struct mt_trace_opts {
    /* A block is temporary when free.time_ns - born_ns <= temporary_ns;
     * used when temporary_set is nonzero, else MT_TRACE_TEMPORARY_NS. */
    uint64_t temporary_ns;
    int temporary_set;
    /* Called now and then while records are read (done and total in
     * allocs records), for a progress line; may be NULL. */
    void (*progress)(void *arg, uint64_t done, uint64_t total);
    void *progress_arg;
} mt_trace_opts;

/* Opens the trace at path and reads it once (see above). flags:
 * MT_LOAD_SALVAGE uses every intact block of a damaged file (damaged
 * allocs blocks are left out and counted in the summary, which makes
 * figures after them wrong by what they held); MT_LOAD_GROWING reads a
 * file still being written; MT_TRACE_NO_CHECKPOINTS as above. A file cut
 * short (its writer killed: no index and trailer) is read up to its last
 * complete block whatever the flags, and the summary says so
 * (truncated). opts may be NULL for the defaults.
 * @return 0 and *out (free with mt_trace_free()), or MT_E_IO,
 *         MT_E_NOTSNAP, MT_E_VERSION, MT_E_DAMAGED (damage without
 *         MT_LOAD_SALVAGE: diag names the block and offset), MT_E_NOTFOUND
 *         (not a trace: no meta trace_mode, or no allocs records),
 *         MT_E_RECORD (an allocs record out of time order, an op other than
 *         0 or 1, a negative weight: diag names the record and its block),
 *         MT_E_NOMEM. */
int mt_trace_open(const char *path, unsigned flags, const mt_trace_opts *opts, mt_trace **out, mt_diag *diag);

/* Same over a caller-owned buffer that must outlive t (name is used in
 * messages), read as a file that may still be being written. For tests
 * and fuzzing. */
int mt_trace_open_mem(const void *data, size_t size, const char *name, unsigned flags, const mt_trace_opts *opts,
                      mt_trace **out, mt_diag *diag);

/* NULL is a no-op. */
void mt_trace_free(mt_trace *t);

/* The whole trace at a glance. */
typedef struct mt_trace_summary {
    int sampled;              /* trace_mode "sampled": figures are estimates */
    double sample_bytes;      /* meta sample_bytes (0 when exact) */
    uint64_t start_time;      /* meta start_time, ns since the epoch (0 if none) */
    uint64_t records;         /* allocs records read */
    uint64_t allocs, frees;   /* of them, op 0 and op 1 */
    uint64_t duration_ns;     /* time_ns of the last record */
    mt_est peak;              /* most bytes live at once */
    uint64_t peak_ns;         /* first moment it was reached */
    uint64_t peak_seq;        /* sequence number of the record that reached it */
    mt_est end;               /* bytes still live after the last record */
    mt_est end_count;         /* blocks still live then */
    mt_est allocated, allocated_count; /* sums over the allocations */
    mt_est temporary, temporary_count; /* blocks freed within temporary_ns */
    uint64_t temporary_ns;    /* the threshold used */
    size_t stacks;            /* distinct stacks the records name */
    size_t checkpoints;       /* trace_live checkpoints in the file */
    int truncated;            /* file cut short: read to its last complete block */
    uint64_t lost_blocks;     /* damaged allocs blocks left out (salvage) */
    uint64_t lost_records;    /*   and the records they held */
    int cut;                  /* a window cut out of a trace (meta cut_from_ns, cut_to_ns) */
    uint64_t cut_from_ns, cut_to_ns; /*   its bounds; what was live at cut_from_ns is carried in as allocations then */
} mt_trace_summary;

void mt_trace_summary_get(const mt_trace *t, mt_trace_summary *out);

/* The stacks table of the file (frames and stacks records), owned by t:
 * format stacks with mt_sites_format(), walk them with mt_sites_frame()
 * and mt_sites_parent(). */
const mt_sites *mt_trace_stacks(const mt_trace *t);

/* A moment of the trace. */
typedef enum mt_trace_when {
    MT_TRACE_AT_PEAK = 0,     /* when the total live bytes were highest */
    MT_TRACE_AT_END = 1,      /* after the last record */
    MT_TRACE_AT_TIME = 2      /* after every record with time_ns <= time_ns */
} mt_trace_when;

typedef struct mt_trace_at {
    mt_trace_when when;
    uint64_t time_ns;         /* MT_TRACE_AT_TIME: since meta start_time */
} mt_trace_at;

/* One stack's figures. live_* are at the moment asked for; the others
 * cover the whole trace. */
typedef struct mt_trace_site {
    uint32_t stack;           /* mt_stack.id; 0 for records without a stack */
    mt_est live, live_count;  /* bytes and blocks live at the moment */
    mt_est end, end_count;    /* still live after the last record (leaked) */
    mt_est allocated, allocated_count;
    mt_est temporary, temporary_count;
} mt_trace_site;

/* Every stack with any figure not 0 at `at`, in no order (sort with
 * mt_trace_sites_sort()); the total of live over them is the total live
 * at that moment. *out is the caller's to free() (NULL when *n is 0).
 * Live bytes at a time replay records from the last checkpoint at or
 * before it (or from the start; always from the start in a sampled trace,
 * whose checkpoints lack the variance); at the peak or the end they come
 * from the figures open kept. at may be NULL: the peak.
 * @return 0, or MT_E_DAMAGED (a block that opened before fails now: the
 *         file changed), MT_E_NOMEM. */
int mt_trace_sites(mt_trace *t, const mt_trace_at *at, mt_trace_site **out, size_t *n, mt_diag *diag);

/* Live bytes of every stack at each of n moments, in one replay of the
 * records from the first (mt_trace_sites() at each moment would replay
 * from a checkpoint each time: 201 moments of a 8-million-record trace
 * took a minute). times must not decrease. For moment k, fn(arg, k,
 * sites, m) is called with the stacks that have anything live then
 * (stack, live and live_count set; the other figures 0), in no order;
 * sites is valid during the call only. fn returns 0 to go on; anything
 * else stops and is returned (a negative MT_E_* code for its own failure).
 * @return 0, fn's return, MT_E_INVAL (times decrease), MT_E_DAMAGED (a
 *         block that opened before fails now), MT_E_NOMEM. */
typedef int (*mt_trace_moment_fn)(void *arg, size_t k, const mt_trace_site *sites, size_t m);
int mt_trace_sites_over(mt_trace *t, const uint64_t *times, size_t n, mt_trace_moment_fn fn, void *arg,
                        mt_diag *diag);

/* Total bytes live at `at` (the sum mt_trace_sites() would give), and
 * the time it stands for (peak_ns, duration_ns or time_ns).
 * @return as mt_trace_sites(). */
int mt_trace_live_total(mt_trace *t, const mt_trace_at *at, mt_est *bytes, mt_diag *diag);

/* Sort keys of sites, larger first, ties by stack id. */
typedef enum mt_trace_by {
    MT_TRACE_BY_PEAK = 0,     /* live at the moment asked (the name says peak, its usual use) */
    MT_TRACE_BY_ALLOCATED,    /* bytes allocated */
    MT_TRACE_BY_COUNT,        /* blocks allocated */
    MT_TRACE_BY_TEMPORARY,    /* temporary blocks */
    MT_TRACE_BY_LEAKED        /* bytes live at the end */
} mt_trace_by;

const char *mt_trace_by_name(mt_trace_by by);          /* "peak", "allocated", ... */
int mt_trace_by_from_name(const char *name, mt_trace_by *out); /* 0, or MT_E_INVAL */

/* The figure `by` picks out of a site (bytes, or blocks for COUNT and
 * TEMPORARY). */
mt_est mt_trace_site_figure(const mt_trace_site *s, mt_trace_by by);

void mt_trace_sites_sort(mt_trace_site *sites, size_t n, mt_trace_by by);

/* Allocations by size class, over the whole trace: class k holds sizes in
 * [2^k, 2^(k+1)) (class 0 also holds size 0); 64 classes. */
#define MT_TRACE_SIZE_CLASSES 64
typedef struct mt_trace_size_class {
    uint64_t low, high;       /* sizes low .. high, both included */
    mt_est count, bytes;
} mt_trace_size_class;

/* Fills out[MT_TRACE_SIZE_CLASSES]. */
void mt_trace_histogram(const mt_trace *t, mt_trace_size_class *out);

/* The live-bytes curve: n points (n >= 1) evenly spaced over
 * [0, duration]; point i covers [i*d/n, (i+1)*d/n) and holds the most bytes
 * live in it (so the peak is never lost between points), and the bytes
 * live at its end. open keeps MT_TRACE_CURVE_RES intervals; a larger n is
 * cut to that. *got says how many points were filled. */
#define MT_TRACE_CURVE_RES 4096
typedef struct mt_trace_point {
    uint64_t time_ns;         /* start of the interval */
    double max_bytes;         /* most bytes live during it */
    double end_bytes;         /* bytes live at its end */
} mt_trace_point;
void mt_trace_curve(const mt_trace *t, size_t n, mt_trace_point *out, size_t *got);

/* Pipeline steps (kind 20 events of kind "step") in time order. */
typedef struct mt_trace_step {
    uint64_t time_ns;
    const char *name;         /* owned by t, NUL-terminated */
} mt_trace_step;
size_t mt_trace_step_count(const mt_trace *t);
const mt_trace_step *mt_trace_step_get(const mt_trace *t, size_t i);
/* The step running at time_ns (the last that began at or before it), or
 * NULL when none had begun. */
const mt_trace_step *mt_trace_step_at(const mt_trace *t, uint64_t time_ns);
/* The first step named name, or NULL. */
const mt_trace_step *mt_trace_step_find(const mt_trace *t, const char *name);

/* Writes stack as a folded-stack line's frames, outermost first, joined by
 * ';' ("main (a.py:3);load (b.py:10)"): function and file:line of each
 * frame, ';' and newlines in names replaced by '_'. Into buf as
 * mt_sites_format() does (always NUL-terminated when n > 0).
 * @return the length the whole text needs. */
size_t mt_trace_folded(const mt_trace *t, uint32_t stack, char *buf, size_t n);

/* e, a figure in bytes summed over some of t's records, as a tool
 * reports it: for a sampled trace its variance gains sample_bytes^2, the
 * bytes the sampler may have passed over unseen. The variance summed from
 * the records is itself an estimate and far too small where a group has
 * few samples (0 for a site none of whose sampled blocks was freed):
 * bench/trace found such 95% intervals covering the truth 66% of the
 * time. Add it once per reported figure, not per stack. Exact traces: e
 * as it is. Never fails. */
mt_est mt_trace_bytes_floor(const mt_trace *t, mt_est e);

/* The same for a figure in blocks: the variance gains the square of one
 * sample's worth of blocks, the larger of the trace's largest weight and
 * sample_bytes / MT_TRACE_SMALLEST_BLOCK, since small blocks are what a
 * sampler by bytes rarely sees: a trace whose samples all hit large
 * blocks says nothing of the thousands of small ones beside them (a
 * newcomer's run: 3 blocks estimated, 454 true). So block counts of a
 * sampled trace are honest and coarse. Exact traces: e as it is. Never
 * fails. */
#define MT_TRACE_SMALLEST_BLOCK 16.0 /* bytes: pymalloc's and glibc's smallest size class */
mt_est mt_trace_count_floor(const mt_trace *t, mt_est e);

/* Every figure of *S, or of each of the n sites, through
 * mt_trace_bytes_floor() or mt_trace_count_floor() as its unit asks: the
 * figures memtrace-trace and memtrace.analyze.trace() report, from one
 * place so that the two agree. live_count is a count. Never fails. */
void mt_trace_summary_floor(const mt_trace *t, mt_trace_summary *S);
void mt_trace_sites_floor(const mt_trace *t, mt_trace_site *sites, size_t n);

/* The live bytes of n sites summed (standard errors in quadrature) and
 * floored as a reported figure: the total at the moment mt_trace_sites()
 * was asked for, from sites not yet floored. Never fails. */
mt_est mt_trace_sites_live_total(const mt_trace *t, const mt_trace_site *sites, size_t n);

/* The caveats a report of a trace carries, as sentences (memtrace-trace
 * prints them as warnings, memtrace.analyze.trace() lists them):
 * MT_TRACE_WARN_FILE those of the file (cut short, blocks salvage left
 * out, a window cut out of a trace), from S; MT_TRACE_WARN_MOMENT that
 * the moment at (may be NULL) is after the last record. Each goes into
 * out[i], NUL-terminated and cut to MT_TRACE_WARNING_LEN.
 * @return how many were written, at most MT_TRACE_WARNINGS. */
#define MT_TRACE_WARN_FILE 0x1u
#define MT_TRACE_WARN_MOMENT 0x2u
#define MT_TRACE_WARNINGS 4
#define MT_TRACE_WARNING_LEN 256
size_t mt_trace_warnings(const mt_trace_summary *S, const mt_trace_at *at, unsigned which,
                         char out[][MT_TRACE_WARNING_LEN]);

#ifdef __cplusplus
}
#endif
#endif
