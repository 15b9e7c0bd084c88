/* The fleet view (libanalyze/src/fleet/): heap dumps of many workers of a
 * cluster read together. Per worker the totals of its latest dump; across
 * workers the spread of each total (median, maximum) and the outliers by a
 * robust z-score (memtrace/robust.h); for each outlier the types and
 * DataFrame columns that set it apart from a synthetic median worker; and
 * the leaks that several workers share (memtrace/leaks.h on each worker's
 * series, grouped by type and accumulation point). */
#ifndef MEMTRACE_FLEET_H
#define MEMTRACE_FLEET_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"
#include "memtrace/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The default outlier threshold: a robust z-score above 3.5 (Iglewicz and
 * Hoaglin's cut for the modified z-score). */
#define MT_FLEET_THRESHOLD 3.5
/* The scale of a z-score is never below this share of the median (5%) nor
 * below MT_FLEET_FLOOR_BYTES: workers that are identical, or differ by a
 * few per cent, give no outlier even though their MAD is 0. */
#define MT_FLEET_FLOOR_SHARE 0.05
#define MT_FLEET_FLOOR_BYTES (1u << 20)
/* Types (and columns) listed per outlier by default. */
#define MT_FLEET_TOP 10

/* The totals compared across workers. */
typedef enum mt_fleet_metric {
    MT_FLEET_HEAP = 0,  /* bytes of the Python objects */
    MT_FLEET_FRAMES,    /* real bytes of the DataFrames recorded (0 without) */
    MT_FLEET_RSS,       /* the process's resident set at the dump */
    MT_FLEET_UNMANAGED, /* rss less heap and frames: memory no object shows */
    MT_FLEET_METRICS
} mt_fleet_metric;

/* "heap", "frames", "rss", "unmanaged"; "?" for a value out of range. */
const char *mt_fleet_metric_name(mt_fleet_metric m);

/* One type (or column) of an outlier against the median worker. */
typedef struct mt_fleet_delta {
    const char *name;          /* type name, or "frame.column"; owned by the mt_fleet */
    uint64_t count, bytes;     /* the outlier's (count: objects; 0 for a column) */
    double median_count, median_bytes; /* across every worker, 0 where absent */
    int64_t delta_bytes;       /* bytes - median_bytes, rounded */
} mt_fleet_delta;

typedef struct mt_fleet_worker {
    const char *name;          /* label.worker, label.name, worker or name meta; else "HOST:PID" */
    const char *host;          /* "" when the dumps have none */
    uint64_t pid;              /* 0 when the dumps have none */
    size_t n_dumps;            /* heap dumps (with objects); DataFrame-only dumps apart */
    const char **paths;        /* its heap dumps in the order given, the latest last */
    /* Of its latest heap dump (objects, heap, rss) and its latest dump with
     * DataFrame records (frames: memtrace.dump_frames writes them apart). */
    uint64_t objects;          /* lost placeholders apart */
    uint64_t values[MT_FLEET_METRICS]; /* unmanaged saturates at 0 */
    int has_rss;               /* the latest heap dump has an "rss" meta */
    double z[MT_FLEET_METRICS];/* robust z-score of each value (0 without rss for rss and unmanaged) */
    int outlier;               /* some z above the threshold */
    mt_fleet_metric worst;     /* the metric with the highest z */
    size_t n_types;            /* outliers only: types with more bytes than the median's, most first */
    mt_fleet_delta *types;
    size_t n_columns;          /* and DataFrame columns likewise */
    mt_fleet_delta *columns;
} mt_fleet_worker;

/* The spread of one metric across workers. */
typedef struct mt_fleet_spread {
    double median, mad, max;
    size_t max_worker;         /* index of the worker with the maximum */
    size_t n;                  /* workers that have the metric */
} mt_fleet_spread;

/* A leak that shows on several workers: suspects of mt_leaks_compute with
 * the same growing type and the same accumulation point (its type and
 * path from a root). */
typedef struct mt_fleet_leak {
    const char *type;          /* the growing type */
    const char *point_type;    /* the accumulation point's type; "" when none */
    const char *path;          /* its path to a root (mt_path_format); "" when none */
    size_t n_workers;          /* workers it shows on */
    size_t *workers;           /* their indices, ascending */
    uint64_t bytes_per_snapshot; /* the median of the workers' */
    uint64_t objects_per_snapshot;
    double confidence;         /* the lowest of the workers' */
} mt_fleet_leak;

typedef struct mt_fleet {
    size_t n_workers;
    mt_fleet_worker *workers;  /* by name */
    mt_fleet_spread spread[MT_FLEET_METRICS];
    double threshold;
    size_t n_outliers;
    size_t n_series;           /* workers with 3 dumps or more: the leak analysis ran on them */
    int leaks_done;            /* 0 when asked not to run it */
    size_t n_leaks;
    mt_fleet_leak *leaks;      /* most workers first, then most bytes a snapshot */
    void *impl;
} mt_fleet;

typedef struct mt_fleet_opts {
    double threshold;          /* 0: MT_FLEET_THRESHOLD */
    uint32_t top;              /* types and columns per outlier; 0: MT_FLEET_TOP */
    int no_leaks;              /* skip the leak analysis (the slow part) */
    unsigned load_flags;       /* MT_LOAD_SALVAGE, passed to every load */
    /* If set, called before each file is read: what ("reading",
     * "leaks"), the file, and done of total steps. */
    void (*progress)(void *ctx, const char *what, const char *path, size_t done, size_t total);
    /* If set, called with each dump as soon as it is loaded the first
     * time, e.g. to report what a salvage dropped (the leak analysis
     * loads a series again without calling it). */
    void (*loaded)(void *ctx, const char *path, const mt_snapshot *s);
    void *ctx;
} mt_fleet_opts;

/* The dump files named by args: a directory stands for its *.snap files
 * in name order, a file for itself. *out (free() it and its strings with
 * mt_fleet_paths_free) holds *n paths.
 * @return 0, or MT_E_IO (a directory could not be read; diag->file names
 *         it), MT_E_INVAL (no dumps at all), MT_E_NOMEM. */
int mt_fleet_paths(const char *const *args, size_t n_args, char ***out, size_t *n, mt_diag *diag);
void mt_fleet_paths_free(char **paths, size_t n);

/* Reads every dump of paths (each loaded once, one at a time), groups them
 * into workers by their meta, and fills out: totals, spreads, outliers
 * and what sets them apart, and, unless o->no_leaks, the leaks shared by
 * workers with a series of 3 dumps or more (their dumps loaded again by
 * mt_leaks_compute). A worker's dumps are taken in the order of paths.
 * paths must outlive out. o may be NULL.
 * @return 0, or MT_E_INVAL (no paths), the loads' errors (diag->file names
 *         the dump), MT_E_NOMEM. */
int mt_fleet_compute(const char *const *paths, size_t n, const mt_fleet_opts *o, mt_fleet *out, mt_diag *diag);

/* Frees what out holds. Safe on a zeroed one. */
void mt_fleet_free(mt_fleet *out);

#ifdef __cplusplus
}
#endif
#endif
