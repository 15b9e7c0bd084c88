/* The memtrace sampler: one thread that samples a process's memory every
 * interval and writes the points to a run file that readers can follow
 * while it grows (formats/SPEC.md 3.4, samples and events).
 *
 * It is the one time-series source of memtrace: the Python package
 * (memtrace.sampling, python3 -m memtrace run) and memtrace-sample(1)
 * both drive it; the notebook, GPU and tracing collectors add their
 * series and events through it. Like every collector it links the
 * formats/ writer only.
 *
 * What one sample reads (each where readable; a file that cannot be read
 * leaves its series out, it is never an error):
 *   /proc/PID/status        rss (VmRSS), swap (VmSwap)
 *   /proc/PID/smaps_rollup  pss, uss (Private_Clean + Private_Dirty);
 *                           costly for large processes, so it is read at
 *                           most once per 100 times its last cost (1% of
 *                           a CPU), every sample for a small one
 *   the process's cgroup v2 memory.current, memory.max, memory.events
 *   /proc/meminfo           mem.available (MemAvailable), mem_total meta
 *   NVML (dlopen'd)         gpuN.used, gpuN.total, gpuN.driver_reserved,
 *                           gpuN.pid.PID per process on the device, read
 *                           by a thread of their own (a hung driver call
 *                           stops the gpu series, never the others)
 * With follow_children the process figures are sums over the process and
 * its descendants (series procs counts them). Every path starts at the
 * configured root ("" for the real system), so that tests fake them.
 *
 * The run file (formats/SPEC.md 3.4): written with publish_on_flush, so
 * it is at its path from mt_sampler_start() on, and flushed at least
 * every flush_ns. Meta: tool, tool_version, pid, host, start_time (ns
 * since the epoch), interval_ns, command, cgroup (its directory, when
 * found) and mem_total (MemTotal); events: start, step, alert, exit and
 * what the callers add. The sampler also keeps every series in a bounded
 * store: the last point_tier points, the hour before them in 1-second
 * buckets, everything older in at most 4096 buckets of at least a minute
 * (SPEC.md 4.3, "Thinning"). Each time point_tier samples have been
 * taken since, it rewrites the file from the store into a new file that
 * it renames over the path, so the file stays bounded and the path
 * always holds a whole file that a follower can read (a follower sees
 * the inode change and reads again). mt_sampler_stop() closes the file
 * with its index.
 *
 * Time-to-limit estimates are the readers' (libanalyze): the file has
 * what they need, cgroup.max, mem.available and the mem_total meta.
 *
 * Thread safety: every function may be called from any thread while the
 * sampler runs; one mutex guards the writer and the store. Callbacks run
 * on the sampler thread without it, so they may call mt_sampler_point(),
 * mt_sampler_event() and mt_sampler_step(). They may run during
 * mt_sampler_start() (its first sample), before it has returned.
 * mt_sampler_stop() waits for the thread, so a caller whose callbacks
 * take a lock of its own (Python's GIL) releases it around the stop.
 *
 * Fork: a child forked from the process that started the sampler has a
 * copy of it without its thread; there every call but
 * mt_sampler_target_gone() and mt_sampler_now() does nothing and returns
 * MT_E_STATE (mt_sampler_latest() 0), mt_sampler_stop() too, leaving the
 * copy's memory to the child's exit, so that the child never writes into
 * the parent's file nor waits for a thread it does not have. */
#ifndef MT_SAMPLER_H
#define MT_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "memtrace/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_sampler mt_sampler;

/* ------------------------------------------------------------------ */
/* Reading the system (procmem.c, cgroup.c): one call, one sample.       */

typedef struct mt_procmem {
    uint64_t rss, swap;      /* bytes */
    uint64_t pss, uss;       /* bytes; valid when has_rollup */
    int has_rollup;          /* smaps_rollup was readable */
    unsigned procs;          /* processes summed (1 without children) */
} mt_procmem;

/* Reads pid's memory, with its descendants' added when children is set.
 * root prefixes every path ("" or NULL: the real /proc).
 * @return 0, or MT_E_NOTFOUND when pid no longer exists, MT_E_IO. */
int mt_procmem_read(const char *root, pid_t pid, int children, mt_procmem *out);
/* The same, reading smaps_rollup only when rollup is set (has_rollup is 0
 * otherwise): the kernel walks every page table entry of the process for
 * it, 60 us for a small process and tens of milliseconds for a tree of
 * large ones, where status costs a few. Same errors. */
int mt_procmem_read_opts(const char *root, pid_t pid, int children, int rollup, mt_procmem *out);

/* pid and its descendants (pid first, each parent before its children),
 * found as mt_procmem_read finds them, into a malloc'd array the caller
 * frees. @return 0, or MT_E_NOMEM. */
int mt_proc_tree(const char *root, pid_t pid, pid_t **out, size_t *n);

typedef struct mt_cgroup {
    char dir[512];           /* root + /sys/fs/cgroup[/memory] + the process's path */
    size_t base_len;         /* the length of root + /sys/fs/cgroup[/memory] in dir */
    int v1;                  /* the cgroup v1 memory controller (no v2 figures found) */
    uint64_t current;        /* memory.current (v1: memory.usage_in_bytes) */
    uint64_t max;            /* the least memory.max (v1: memory.limit_in_bytes) of the
                              * process's cgroup and its ancestors (the limit that
                              * applies); UINT64_MAX for none */
    uint64_t oom, oom_kill;  /* memory.events (v1: oom_kill of memory.oom_control) */
    int has_current, has_events;
} mt_cgroup;

/* Finds pid's cgroup from /proc/PID/cgroup: the v2 directory (the "0::"
 * line) when it has memory figures, else the v1 memory controller's
 * ("N:...memory...:/path": hybrid hosts and older container runtimes,
 * where the v2 line names a cgroup without memory accounting).
 * @return 0, or MT_E_NOTFOUND (neither, no such process). */
int mt_cgroup_find(const char *root, pid_t pid, mt_cgroup *out);
/* Reads the figures of a found cgroup. @return 0, or MT_E_IO. */
int mt_cgroup_read(mt_cgroup *cg);

/* MemAvailable and MemTotal of /proc/meminfo, bytes. @return 0, MT_E_IO. */
int mt_meminfo_read(const char *root, uint64_t *available, uint64_t *total);

/* ------------------------------------------------------------------ */
/* NVML through dlopen (nvml.c): no link-time dependency on the driver.
 * Not thread safe: one thread uses one mt_nvml (the sampler's GPU thread). */

typedef struct mt_nvml mt_nvml;

/* Loads libnvidia-ml.so.1 and initializes it; NULL when there is no
 * driver or no GPU (the sampler then writes no gpu series). lib: the
 * library to load, NULL for the default (tests pass a fake). */
mt_nvml *mt_nvml_open(const char *lib);
unsigned mt_nvml_count(const mt_nvml *n);

typedef struct mt_nvml_mem {
    uint64_t total, used, free;  /* bytes */
    uint64_t reserved;           /* the driver's and firmware's share; valid when v2 */
    int v2;                      /* nvmlDeviceGetMemoryInfo_v2 answered: used includes reserved */
} mt_nvml_mem;
/* Device i's memory: nvmlDeviceGetMemoryInfo_v2 where the library has it
 * and takes its struct version, else (and from then on, once it refused
 * the version) the unversioned call.
 * @return 0, or MT_E_INVAL (no device i), MT_E_IO (the call failed). */
int mt_nvml_memory(mt_nvml *n, unsigned i, mt_nvml_mem *out);

typedef struct mt_nvml_proc {
    uint32_t pid;                /* host pid namespace, as NVML gives it */
    uint64_t used;               /* bytes of device memory */
} mt_nvml_proc;
/* The compute processes on device i and the memory each uses: through
 * nvmlDeviceGetComputeRunningProcesses_v2 (24-byte records), falling back
 * to the unversioned call (16 bytes) where _v2 is missing, fails, or
 * reads fewer records that pass than it does (a driver writing another
 * stride: nvml.c). A record passes when its pid exists under
 * root/proc and its size is at most total (the device's); one whose size
 * is NVML_VALUE_NOT_AVAILABLE passes but is not returned. At most cap
 * records go to out, *count their number; *version (may be NULL) says
 * which call answered, 2 or 1. The count is asked first (count 0), and
 * asked again once if it grew before the records were read.
 * @return 0, or MT_E_INVAL (no device i), MT_E_IO (the calls failed). */
int mt_nvml_processes(mt_nvml *n, unsigned i, const char *root, uint64_t total, mt_nvml_proc *out, size_t cap,
                      size_t *count, int *version);
void mt_nvml_close(mt_nvml *n);

/* ------------------------------------------------------------------ */
/* Alerts (alert.c).                                                    */

typedef enum mt_alert_action {
    MT_ALERT_LOG = 0,   /* an alert event, and a line on stderr */
    MT_ALERT_DUMP,      /* a heap dump (the Python collector), then as LOG */
    MT_ALERT_EXIT,      /* stop: the front end exits MT_SAMPLER_EXIT_ALERT */
    MT_ALERT_EXEC       /* run a command through /bin/sh -c */
} mt_alert_action;

/* `rss>2GiB`, `pss>80%limit`, `growth>100MiB/min`, `rss>90%available`,
 * `mem.available<1GiB`, then optionally `:log`, `:dump`, `:exit` or
 * `:exec=COMMAND` (LOG when left out). The measure is a series name or
 * `growth` (bytes per second of rss over the last 10 s, least squares);
 * `>` fires when the measure goes above the threshold, `<` below it;
 * the threshold a number with no unit or a size (B, KiB, MiB, GiB, TiB,
 * KB, MB, GB, TB), a percentage of `limit` (cgroup.max, else MemTotal)
 * or of `available` (mem.available), or for growth a size per `s`,
 * `min` or `h`. */
typedef struct mt_alert {
    char expr[256];          /* as written, for events and messages */
    char series[64];         /* "rss", ..., or "growth" */
    int percent_of;          /* 0 bytes, 1 limit, 2 available */
    double threshold;        /* bytes, bytes/s or a percentage */
    mt_alert_action action;
    char command[512];       /* MT_ALERT_EXEC */
    int fired;               /* fires once when crossed, again after it falls back under */
    int below;               /* 1 for `<`: fires when the measure goes under */
} mt_alert;

/* Parses text into *out (left alone on error).
 * @return 0, or MT_E_PARSE with diag->column the 1-based column of the
 *         character at fault and diag->msg the expression, what is wrong
 *         and what was expected: `rss>2XB: unknown unit "XB" at column 6
 *         (expected B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)`. */
int mt_alert_parse(const char *text, mt_alert *out, mt_diag *diag);

/* "log", "dump", "exit" or "exec": the alert event's detail. */
const char *mt_alert_action_name(mt_alert_action a);

/* Runs an MT_ALERT_EXEC alert's command through /bin/sh -c, without
 * waiting: the values go in its environment (MEMTRACE_ALERT, the
 * expression; MEMTRACE_VALUE, the measure; MEMTRACE_PID; MEMTRACE_FILE,
 * the run file), never into the command string, so that nothing measured
 * can be read as shell syntax. The command starts with no signal blocked
 * and SIGINT, SIGTERM, SIGHUP and SIGPIPE at their defaults. The caller
 * reaps *child. @return 0, or MT_E_NOMEM, MT_E_IO (errno says why). */
int mt_alert_spawn(const mt_alert *a, double value, pid_t pid, const char *file, pid_t *child);

/* Exit status of a front end stopped by an MT_ALERT_EXIT alert. */
#define MT_SAMPLER_EXIT_ALERT 124

/* ------------------------------------------------------------------ */
/* The sampler thread (sampler.c) and its bounded store (thin.c).       */

/* Called on the sampler thread, without the sampler's lock held. */
typedef void (*mt_sampler_alert_fn)(void *ctx, const mt_alert *a, double value);
/* A new peak: rss passed the last peak by the margin (the first
 * reference is the first sample), called once rss has stopped rising
 * for 30 ms (1 s later at most, on a steady climb) with the top it
 * reached, so that a dump taken then sees the spike at its height. The
 * top is the next reference. The sampler writes no event for it: the
 * callback records what it did (a "peak" or "dump" event). */
typedef void (*mt_sampler_peak_fn)(void *ctx, uint64_t rss);
/* Extra series read each sample (the Python collector's GC and
 * tracemalloc figures): calls mt_sampler_point() for each. */
typedef void (*mt_sampler_extra_fn)(void *ctx, mt_sampler *s, uint64_t time_ns);

typedef struct mt_sampler_config {
    const char *path;        /* the run file */
    uint64_t interval_ns;    /* 0: 100 ms; at least 10 ms */
    pid_t pid;               /* 0: this process */
    int follow_children;
    const char *root;        /* NULL or "": the real system */
    const char *nvml_lib;    /* NULL: libnvidia-ml.so.1; "" no GPU */
    const char *tool;        /* meta tool, "memtrace-sample"; NULL: "memtrace-sampler" */
    const char *command;     /* meta command, the start event's name */
    uint64_t flush_ns;       /* 0: each sample, at most every 50 ms; how often the file gets whole blocks */
    size_t point_tier;       /* points per series kept unthinned; 0: 10 min of intervals */
    mt_alert *alerts;        /* the sampler keeps a copy */
    size_t n_alerts;
    mt_sampler_alert_fn on_alert;
    double peak_margin;      /* 0: no peak callbacks; else e.g. 0.10 for +10% */
    uint64_t peak_every_ns;  /* at most one peak callback per this, unless rss is 1.5 times the last top */
    mt_sampler_peak_fn on_peak;
    mt_sampler_extra_fn extra;
    void *ctx;               /* for the callbacks */
} mt_sampler_config;

/* Opens the run file (at its path at once; SPEC.md 3.4), writes meta and
 * a start event, takes a first sample (calling extra, which may use *s
 * through its argument) and starts the thread.
 * @return 0, or MT_E_INVAL (an interval under 10 ms, no path),
 *         MT_E_NOTFOUND (no process pid: no file is written), MT_E_IO
 *         (the file), MT_E_NOMEM, with diag saying what. */
int mt_sampler_start(const mt_sampler_config *cfg, mt_sampler **out, mt_diag *diag);

/* Nanoseconds since the run's start_time, the clock of every record. */
uint64_t mt_sampler_now(const mt_sampler *s);

/* Adds one point of a series at time_ns (mt_sampler_now()). */
int mt_sampler_point(mt_sampler *s, const char *series, uint64_t time_ns, double value);
/* Records an event now (SPEC.md 4.3, events); name and detail may be NULL. */
int mt_sampler_event(mt_sampler *s, const char *kind, const char *name, double value, const char *detail);
/* The pipeline step later samples carry (NULL: none), and a step event. */
int mt_sampler_step(mt_sampler *s, const char *name);

/* The latest figures, for front ends (memtrace-sample --listen): copies
 * up to n of the newest value of each series into names/values; the
 * names stay valid until mt_sampler_stop().
 * @return the number of series the sampler has, which may be more than n. */
size_t mt_sampler_latest(mt_sampler *s, const char **names, double *values, size_t n);
/* 1 once the sampled process has gone (a -p PID that exited, or a child
 * that exited and awaits its wait(2): a zombie counts as gone). The
 * thread then samples no more but keeps flushing what others add; the
 * file stays open until mt_sampler_stop(). */
int mt_sampler_target_gone(const mt_sampler *s);

/* Stops the thread, takes a last sample (unless the target is gone;
 * without calling extra), writes an exit event with status (none when
 * status < 0), closes the file with its index and frees s.
 * @return 0, or the first error of the run (a write, a rewrite that
 *         failed: the run went on in the file it had), diag saying what. */
int mt_sampler_stop(mt_sampler *s, int status, mt_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
