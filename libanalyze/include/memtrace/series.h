/* The time series of a run file (libanalyze/src/series/): every series'
 * points and thinned buckets in time order, the run's events, and a
 * summary per series (current, peak, limit, growth rate, time to the
 * limit with its uncertainty) for memtrace-top, memtrace-plot and
 * memtrace-export. Load a file that is still being written with
 * MT_LOAD_GROWING (snapshot.h). */
#ifndef MEMTRACE_SERIES_H
#define MEMTRACE_SERIES_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One point, or a bucket of points thinned into their mean, least and
 * greatest value over [time_ns, time_ns + span_ns) (SPEC.md 4.3). */
typedef struct mt_series_point {
    uint64_t time_ns;   /* since the run's start_time; a bucket's start */
    uint64_t span_ns;   /* 0: one point */
    double value;       /* the point, or the bucket's mean */
    double min, max;    /* a point: its value twice */
    uint64_t count;     /* points it stands for: 1 for a point */
} mt_series_point;

typedef struct mt_series {
    const char *name;          /* a name holding a NUL reads up to it here, but
                                * stays apart from one that differs after it */
    const mt_series_point *p;  /* n of them, sorted by time_ns */
    size_t n;
    size_t n_buckets;          /* of the n, those with span_ns > 0 */
} mt_series;

/* Something that happened during the run (SPEC.md 4.3, events). */
typedef struct mt_run_event {
    uint64_t time_ns;
    const char *kind;   /* "start", "step", "dump", "alert", ... */
    const char *name;
    const char *detail;
    double value;
} mt_run_event;

typedef struct mt_run {
    size_t n_series;
    const mt_series *series;      /* in the order the file first names them */
    size_t n_events;
    const mt_run_event *events;   /* by time, file order for equal times */
    uint64_t start_time;          /* meta start_time, ns since the epoch; 0 when absent */
    uint64_t end_ns;              /* latest point, bucket end or event; 0 when none */
    uint64_t n_points;            /* points and buckets over every series */
} mt_run;

/* Reads every sample and event of s into a new run (strings copied: it
 * outlives s). Values that are not numbers (NaN) are kept as points but
 * never count as a peak.
 * @return 0, or MT_E_NOMEM and what mt_snapshot_each() returns. */
int mt_run_load(const mt_snapshot *s, mt_run **out, mt_diag *diag);

/* NULL is a no-op. */
void mt_run_free(mt_run *r);

/* The series named name, or NULL. */
const mt_series *mt_run_find(const mt_run *r, const char *name);

/* The last value of the series named name (a bucket's mean), or NaN. */
double mt_run_last(const mt_run *r, const char *name);

/* 1 for a well-known series that counts things (gc.*, procs,
 * cgroup.oom, cgroup.oom_kill: SPEC.md 4.3), 0 for one in bytes, as every
 * other series is taken to be. A predicate, never an error. */
int mt_series_is_count(const char *name);

/* For a GPU's series, "gpuN.WHAT" (N decimal digits, SPEC.md 4.3): WHAT,
 * and *digits the length of N; NULL for any other name (*digits 0). The
 * one reading of that naming for the metric names, the limits and the
 * plots. A predicate, never an error. */
const char *mt_series_gpu(const char *name, size_t *digits);

/* For a process's memory on a GPU, "gpuN.pid.PID" (SPEC.md 4.3, 1.7):
 * PID as its decimal digits in pid (pn bytes, at least 12) and 1; 0 for
 * any other name (pid ""). A predicate, never an error. */
int mt_series_gpu_pid(const char *name, char *pid, size_t pn);

/* The OpenMetrics family of a series, and its GPU device label: "rss" is
 * memtrace_rss_bytes, "gpu0.used" memtrace_gpu_used_bytes with device
 * "0", "procs" memtrace_procs (a count: mt_series_is_count, no unit);
 * every process's "gpuN.pid.PID" the one family memtrace_gpu_process_bytes
 * with device "N" (its PID, from mt_series_gpu_pid, is a label of its
 * own: a family per process would be a family per pid ever seen);
 * every character but letters, digits and '_' becomes '_'. family (fn
 * bytes, at least 16) and device (dn bytes; "" for no device) are cut to
 * fit and always NUL-terminated. memtrace-export and memtrace-sample's
 * --listen name the series alike through it. */
void mt_series_metric(const char *name, char *family, size_t fn, char *device, size_t dn);

/* How a series' recent growth reads. */
typedef enum mt_growth {
    MT_GROWTH_UNKNOWN = 0, /* too few points in the window to tell */
    MT_GROWTH_NONE,        /* not growing: even the fastest rate the window allows is <= 0 */
    MT_GROWTH_UNSURE,      /* may grow: the interval of its rate holds 0 */
    MT_GROWTH_GROWING,     /* grows: the whole interval of its rate is > 0 */
    MT_GROWTH_AT_LIMIT     /* at or over its limit already */
} mt_growth;

/* "unknown", "not growing", "unsure", "growing", "at limit". */
const char *mt_growth_name(mt_growth g);

typedef struct mt_series_opts {
    uint64_t window_ns;   /* the recent stretch the rate is fitted on; 0: 60 s */
    size_t max_points;    /* most points the fit takes (evenly thinned); 0: 200 */
    double z;             /* two-sided normal quantile of the rate's interval; 0: 1.96 (95%) */
} mt_series_opts;

typedef struct mt_series_summary {
    size_t n;                 /* points and buckets */
    uint64_t points;          /* points they stand for (a bucket counts its count) */
    double current;           /* last value (a bucket's mean); NaN when empty */
    uint64_t current_ns;
    /* The greatest value over the points and the buckets' max, never a
     * bucket's mean; when a bucket holds it, peak_ns is the bucket's start
     * and peak_span_ns its span (the peak was somewhere in it). */
    double peak;
    uint64_t peak_ns, peak_span_ns;
    /* The limit the series runs into: for rss, pss, uss and
     * cgroup.current the last cgroup.max, else the meta mem_total; for
     * gpuN.used the last gpuN.total; NaN (limit_from NULL) for others. */
    double limit;
    const char *limit_from;   /* "cgroup.max", "mem_total", "gpu0.total", or NULL */
    /* Room left: limit - the higher of the last value and the fitted line
     * at the last point, or the last mem.available when that is less
     * (headroom_from then says "mem.available"); NaN without a limit. */
    double headroom;
    const char *headroom_from;
    /* Theil-Sen rate over the window's points (buckets at their middle,
     * by their mean), in units per second, with its interval. */
    double rate, rate_lo, rate_hi;
    size_t window_points;
    uint64_t window_ns;       /* the time the fitted points span */
    mt_growth growth;
    /* Seconds to the limit (headroom / rate): ttl from the rate, ttl_lo
     * from rate_hi (the soonest the window allows: the figure to act on),
     * ttl_hi from rate_lo (INFINITY when it may never come). MT_GROWTH_
     * UNSURE: ttl and ttl_hi INFINITY, ttl_lo the soonest. Without a
     * limit, or NONE or UNKNOWN: all NaN. AT_LIMIT: all 0. */
    double ttl, ttl_lo, ttl_hi;
} mt_series_summary;

/* Summarizes series s of run r (s from r; r gives the limit series and
 * meta mem_total through snap, which may be NULL: no mem_total). opts may
 * be NULL for the defaults.
 * @return 0, or MT_E_INVAL (s NULL); a fit that runs out of memory
 *         reads as MT_GROWTH_UNKNOWN. */
int mt_series_summarize(const mt_run *r, const mt_snapshot *snap, const mt_series *s, const mt_series_opts *opts,
                        mt_series_summary *out);

#ifdef __cplusplus
}
#endif
#endif
