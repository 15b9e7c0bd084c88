/* Advice from rule files: YAML rules (memtrace-rules(5)) applied to the
 * frames, columns and pipeline steps of a DataFrame snapshot and to GPU
 * devices, each piece of advice with the saving its statistics predict. */
#ifndef MEMTRACE_ADVISE_H
#define MEMTRACE_ADVISE_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"
#include "memtrace/format.h"
#include "memtrace/frames.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mt_severity {
    MT_SEV_INFO = 1,
    MT_SEV_WARNING = 2,
    MT_SEV_ERROR = 3
} mt_severity;

/* "info", "warning", "error"; "?" for anything else. */
const char *mt_severity_name(mt_severity sev);

/* The severity named name, as mt_severity_name() spells it.
 * @return 0 and *out, or MT_E_INVAL for a name not in the list. */
int mt_severity_from_name(const char *name, mt_severity *out);

/* ---- rule sets ---- */

typedef struct mt_rules mt_rules;

/* A new, empty rule set (*out, freed with mt_rules_free).
 * @return 0, or MT_E_NOMEM. */
int mt_rules_new(mt_rules **out);

/* NULL is a no-op. */
void mt_rules_free(mt_rules *r);

/* Adds the rules of one YAML rule file, text[0..len), named name in
 * diagnostics (borrowed until the call returns; rules keep a copy). A
 * rule whose id is already in the set overrides it: the keys it gives
 * replace the earlier ones, condition by condition under `when` and key
 * by key under `action`; `enabled: false` or the file's `disable` list
 * switches rules off. On error the set is unchanged.
 * @return 0, or MT_E_PARSE (not YAML: diag has the line and column),
 *         MT_E_INVAL (a rule is wrong: diag names the line, column, and
 *         the key or value; also an alias or a NUL byte in a scalar),
 *         MT_E_LIMIT (more than 16 MiB, or nested deeper than 64 levels:
 *         memtrace-rules(5), Limits), MT_E_NOMEM. */
int mt_rules_add(mt_rules *r, const char *name, const char *text, size_t len, mt_diag *diag);

/* mt_rules_add on a file's contents, read with mt_input_read: a regular
 * file, pipe or FIFO (a device is refused, a pipe idle for 10 s given
 * up) of at most 16 MiB.
 * @return as mt_rules_add, or MT_E_IO (the file cannot be read). */
int mt_rules_add_file(mt_rules *r, const char *path, mt_diag *diag);

/* Rules in the set, enabled or not. */
size_t mt_rules_count(const mt_rules *r);

typedef struct mt_rule_info {
    const char *id, *description, *scope, *kind;
    mt_severity severity;
    int enabled;
    const char *file;  /* the file that last set the rule */
    uint32_t line;     /* where */
} mt_rule_info;

/* Describes rule i (0 <= i < mt_rules_count, in the order first added).
 * The strings live as long as the set. */
void mt_rules_get(const mt_rules *r, size_t i, mt_rule_info *out);

/* ---- advice ---- */

typedef struct mt_advice {
    const char *rule;         /* the rule's id */
    mt_severity severity;
    const char *scope;        /* "column", "frame", "step", "gpu" */
    const char *kind;         /* the action's kind: "dtype", "chunking", ... */
    const char *frame;        /* frame name, or NULL */
    const char *column;       /* column name, or NULL */
    const char *step;         /* pipeline step, or NULL */
    const char *device;       /* GPU device name, or NULL */
    const char *from_dtype;   /* the column's dtype, or NULL */
    const char *to_dtype;     /* the action's target, or NULL */
    size_t frame_index;       /* into mt_df_table.frames, or SIZE_MAX */
    size_t column_index;      /* into mt_df_table.columns, or SIZE_MAX */
    uint64_t bytes;           /* what the subject takes now, real or pandas bytes (its peak, for steps) */
    uint64_t saving_bytes;    /* what the change saves, from the statistics */
    uint64_t chunks;          /* chunking advice: the chunk count; else 0 */
    uint64_t chunk_rows;      /*   and the rows of a chunk of the step's largest frame */
    int lossless;             /* the change keeps every value */
    int in_total;             /* counted in total_saving_bytes (stored data, not peaks) */
    char *message;            /* the rule's message, filled in */
} mt_advice;

/* A frame's dtype changes: the advice of kind "dtype" with a column and a
 * target dtype, whose frame_index is the frame's. */
typedef struct mt_advice_frame {
    size_t changes;              /* how many */
    size_t to_datetime;          /* of them, those to a datetime64 dtype */
    uint64_t saving_bytes;       /* what they save together */
} mt_advice_frame;

typedef struct mt_advice_list {
    size_t n;
    mt_advice *items;            /* by saving, largest first; then severity, rule order */
    uint64_t total_saving_bytes; /* over the advice with in_total */
    uint64_t data_bytes;         /* bytes of every frame (real, or pandas deep with pandas_bytes), a column once */
    size_t n_frames;             /* the table's frames (0 without a table) */
    mt_advice_frame *frames;     /* [n_frames]: per mt_df_table frame */
    /* What the dtype changes do to a pipeline's memory (memtrace-advise(1),
     * Savings): known 0 where the steps did not record the memory. */
    struct mt_advice_effect {
        int known;
        size_t step;             /* into mt_df_table.steps */
        double memory;           /* traced (resident), traced_peak (peak) or RSS (rss) at the step */
        uint64_t frames_bytes;   /* bytes of the frames recorded at the step (resident, rss) */
        uint64_t saving_bytes;   /* what the changes take off memory */
        size_t then_step;        /* peak: the step whose peak would then be highest */
        double then_memory;      /*   and that peak (at least) */
    } resident,  /* the step with the most traced memory: the changed columns of its frames */
      peak,      /* the pipeline's highest traced_peak: each step's peak less the changed columns of
                  * the frames of the step before it (its inputs), the first step's unchanged, as a
                  * change comes after it; saving_bytes: the highest peak less the highest of those */
      rss;       /* the step with the most RSS: its frames' changed columns, at most (the allocator
                  * may keep what is freed) */
    const char *resident_basis;  /* "traced", or "rss" where tracemalloc was not recorded */
    size_t columns_changed;      /* distinct columns in total_saving_bytes */
    size_t columns_repeated;     /* changes left out of the total: the column again at a later step */
} mt_advice_list;

typedef struct mt_advise_input {
    const mt_df_table *table;    /* may be NULL */
    const mt_gpu_device *gpus;   /* n_gpus of them; may be NULL */
    size_t n_gpus;
    double available_bytes;      /* memory the steps may use; 0 when unknown */
    int pandas_bytes;            /* 1: savings in pandas' memory_usage(deep=True) count; 0: real bytes */
    int int_headroom_bits;       /* int_fit keeps this many bits above the largest magnitude; 0: none */
    /* The allocator's measures of the same file (mt_gpu_analyze), for the
     * GPU fields beyond the device records' (fragmentation, OOMs, ...);
     * may be NULL. Its devices are the GPU subjects then, each with the
     * name and capacity of its gpus record where one has the same id. */
    const struct mt_gpu_report *gpu_report;
} mt_advise_input;

/* memtrace-advise's --int-headroom default: an int_fit leaves room for
 * sums of 256 values or a product by a factor up to 256. */
#define MT_ADVISE_INT_HEADROOM_DEFAULT 8

/* Below either threshold a change's saving is too small for more than
 * severity info, whatever its rule says (memtrace-rules(5), Severity). */
#define MT_ADVISE_MINOR_BYTES (64u << 10)
#define MT_ADVISE_MINOR_SHARE 0.01

/* Applies the enabled rules of r to in: every rule to every subject of
 * its scope. A column gets at most one dtype change, the one that saves
 * most; changes that save nothing are dropped. Savings are the change in
 * the bytes the column really holds (mt_df_col_real_bytes: a shared object
 * once), or with in->pandas_bytes in pandas' deep count. A column counts
 * once in the totals however many steps recorded it: at another step, a
 * column of the same frame name and column name, or of the same column
 * name and dtype, is the same column. *out is freed with
 * mt_advice_list_free; its strings point into the table, the rules and
 * the list itself. @return 0, or MT_E_NOMEM. */
int mt_advise(const mt_rules *r, const mt_advise_input *in, mt_advice_list **out, mt_diag *diag);

/* What mt_advise reads of one snapshot: its DataFrame table (always set
 * on success, maybe empty), its GPU device records (*n_gpus, *gpus NULL
 * when none) and its allocator's measures (*gpu_report NULL when it holds
 * no allocator state), for the tools that advise on files. Free them with
 * mt_df_table_free, mt_gpu_devices_free and mt_gpu_report_free.
 * @return 0; MT_E_NOTFOUND when the snapshot holds none of them (diag says
 *         what to write instead); what the loaders return (MT_E_NOMEM). */
int mt_advise_load(const mt_snapshot *s, mt_df_table **t, mt_gpu_device **gpus, size_t *n_gpus,
                   struct mt_gpu_report **gpu_report, mt_diag *diag);

/* NULL is a no-op. */
void mt_advice_list_free(mt_advice_list *l);

/* Bytes a column would take as dtype to (pandas' memory_usage(deep=True)),
 * from its statistics; the saving model behind `saving: astype`.
 * @return 0, or MT_E_NOTFOUND when the model cannot say (an unknown or
 *         variable-width target, or a non-nullable integer target for a
 *         column with nulls). */
int mt_advise_astype_bytes(const mt_df_col_info *c, uint64_t rows, const char *to, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
