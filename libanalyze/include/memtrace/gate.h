/* Memory budgets for CI (memtrace-gate): a policy file (YAML, see
 * memtrace-gate(1)) of budgets on growth between a baseline and a current
 * run, peaks, new leak suspects and advice, checked one by one. */
#ifndef MEMTRACE_GATE_H
#define MEMTRACE_GATE_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/advise.h"
#include "memtrace/diff.h"
#include "memtrace/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_gate_policy mt_gate_policy;

/* Reads a policy from text (name for messages) or from the file path.
 * Every key is checked; an empty budgets mapping is refused. The file is
 * a regular file, pipe or FIFO of at most 16 MiB, nested at most 64 deep,
 * without aliases (memtrace-rules(5), Limits). @return 0, or MT_E_PARSE
 * (not YAML: diag has the line and column), MT_E_INVAL (a key or value at
 * fault: diag has its line, column and what was expected), MT_E_LIMIT (a
 * bound above: diag names it), MT_E_IO, MT_E_NOMEM. */
int mt_gate_policy_parse(const char *name, const char *text, size_t len, mt_gate_policy **out, mt_diag *diag);
int mt_gate_policy_load(const char *path, mt_gate_policy **out, mt_diag *diag);
/* NULL is a no-op. */
void mt_gate_policy_free(mt_gate_policy *p);

/* What a gate runs on: snapshot paths of the baseline run and of the
 * current one, each in time order. Growth compares the last of each;
 * leak budgets need a series of 3 or more current snapshots. */
typedef struct mt_gate_input {
    const char *const *baseline;
    size_t n_baseline;
    const char *const *current;
    size_t n_current;
    const mt_rules *rules;       /* for advice budgets; NULL: none given */
    double available_bytes;      /* for advice on steps; the policy's `available` wins */
} mt_gate_input;

/* The budgets, in the order they are checked. */
typedef enum mt_gate_budget {
    MT_GATE_TOTAL_GROWTH_BYTES,
    MT_GATE_TOTAL_GROWTH_PERCENT,
    MT_GATE_GROUP_GROWTH_BYTES,
    MT_GATE_GROUP_GROWTH_PERCENT,
    MT_GATE_PEAK_BYTES,
    MT_GATE_LEAK_CONFIDENCE,
    MT_GATE_ADVICE_SEVERITY,
    MT_GATE_GPU_PEAK_BYTES
} mt_gate_budget;

/* The budget's key in a policy: "total_growth_bytes",
 * "total_growth_percent", "group_growth_bytes", "group_growth_percent",
 * "peak_bytes", "leak_confidence", "advice_severity", "gpu_peak_bytes"; "?"
 * for a value out of range. */
const char *mt_gate_budget_name(mt_gate_budget b);
/* The budget named name, as mt_gate_budget_name() spells it.
 * @return 0 and *out, or MT_E_INVAL for a name not in the list (*out is
 *         left as it was). */
int mt_gate_budget_from_name(const char *name, mt_gate_budget *out);

/* What is over a budget's limit: the total, named "total" (total
 * budgets), a group that grew (group budgets), the current snapshot with
 * the peak, named by its path (peak_bytes), a new leak suspect
 * (leak_confidence), a piece of advice (advice_severity) or a GPU device
 * of a current snapshot, named "PATH: cuda:N" (gpu_peak_bytes: the
 * allocator's peak, mt_gpu_analyze's trace peak or, without a trace, what
 * is allocated, and the steps' peak allocated, whichever is higher).
 * Its strings are as found (not escaped for any output) and belong to the
 * result. A field a budget does not use is 0 or NULL. */
typedef struct mt_gate_offender {
    char *name;                  /* the group, the suspect's type, the advice's rule */
    uint64_t bytes_a, bytes_b;   /* total, group: bytes in the baseline and now (UINT64_MAX: saturated) */
    double percent;              /* total, group: change from bytes_a to bytes_b in percent; INFINITY
                                    from nothing, NAN when a total saturated */
    double limit;                /* total, group, peak: the limit it was held to, an allowance's or the
                                    budget's */
    char *allowance;             /* group: the pattern of the allowance that set limit; NULL: the budget's */
    uint64_t objects;            /* leak: objects of its own type it adds a snapshot */
    uint64_t bytes;              /* peak, gpu peak: the peak (saturated); leak: bytes it adds a snapshot;
                                    advice: bytes it would save */
    double confidence;           /* leak: 0..1 */
    /* leak: where it accumulates, "dict: module __main__ → _LEAKS" (its
     * container's type and path to a root); NULL when it hangs from the
     * roots or has no path */
    char *path;
    mt_severity severity;        /* advice */
    char *message;               /* advice */
} mt_gate_offender;

/* One budget's verdict and what it was measured on. Tools write the
 * sentences; the result holds only values. */
typedef struct mt_gate_check {
    mt_gate_budget kind;
    const char *budget;          /* mt_gate_budget_name(kind): "total_growth_percent", ... (static) */
    int passed;                  /* no offender */
    double limit;                /* in the budget's unit: bytes, percent, confidence, severity */
    double actual;               /* the worst value found: INFINITY when a total saturated (the change is
                                    unknown); for growth in percent from nothing, INFINITY too */
    size_t n_offenders;
    mt_gate_offender *offenders; /* [n_offenders], worst first */
    /* total budgets: the totals (bytes_a, bytes_b, percent as in an offender);
     * group budgets: the same for the group that grew most, named by group
     * (NULL: no group was held to the budget). */
    uint64_t bytes_a, bytes_b;
    double percent;
    char *group;
    char *series;                /* peak_bytes: the series read (the policy's peak_series) */
    const char *where;           /* peak_bytes: the current snapshot with the peak (the input's path) */
    size_t n_known;              /* leak_confidence: suspects the baseline has too, not held to it */
    size_t n_advice;             /* advice_severity: all the advice given, at any severity */
} mt_gate_check;

typedef struct mt_gate_result {
    size_t n_checks;
    mt_gate_check *checks;       /* the budgets the policy sets, in checking order */
    size_t failed;
    mt_group_by by;              /* what growth was grouped by */
    uint64_t baseline_bytes, current_bytes; /* totals of that grouping */
    int traces;                  /* growth compared two allocation traces (tracediff.h) */
    int trace_at_peak;           /*   by what was live at each one's peak, not at its end */
} mt_gate_result;

/* Checks every budget of p on in. Snapshots are loaded one at a time.
 * @return 0 (the verdicts are in *out, passed or not), or the load's
 *         errors (diag->file names the snapshot), MT_E_NOTFOUND (a budget
 *         needs what the snapshots lack: a peak series, DataFrames for
 *         advice by column), MT_E_INVAL (a leak budget with fewer than 3
 *         current snapshots; an advice budget without rules), MT_E_NOMEM. */
int mt_gate_run(const mt_gate_policy *p, const mt_gate_input *in, mt_gate_result *out, mt_diag *diag);

/* Frees what r holds and empties it. Safe on an empty r. */
void mt_gate_result_free(mt_gate_result *r);

#ifdef __cplusplus
}
#endif
#endif
