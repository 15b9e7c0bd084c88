/* Peak memory of a pandas operation before it runs (memtrace-predict):
 * merge, groupby, pivot_table, concat, sort_values and read_csv, from the
 * shapes and key statistics memtrace.dump_frames recorded (or shapes
 * written inline), with models calibrated on real pandas
 * (bench/predict/, testdata/predict/).
 *
 * Definitions: peak_bytes is the most memory the operation holds at once
 * beyond what existed before it (its inputs excluded), as tracemalloc's
 * peak during the call minus the traced size before it measures it;
 * result_bytes is result.memory_usage(deep=True).sum() (pandas' count: a
 * shared object once per row that holds it); result_real_bytes is what
 * the result really holds: its buffers and each distinct object once,
 * of which result_shared_bytes are objects (strings, categories) it
 * shares with its inputs and does not allocate. */
#ifndef MEMTRACE_PREDICT_H
#define MEMTRACE_PREDICT_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"
#include "memtrace/frames.h"
#include "memtrace/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The operations, in the order --help lists them. */
typedef enum mt_predict_op {
    MT_PREDICT_MERGE,
    MT_PREDICT_GROUPBY,
    MT_PREDICT_PIVOT_TABLE,
    MT_PREDICT_CONCAT,
    MT_PREDICT_SORT,
    MT_PREDICT_READ_CSV,
    MT_PREDICT_N_OPS
} mt_predict_op;

/* "merge", "groupby", "pivot_table", "concat", "sort", "read_csv"; "?"
 * for an op out of range, as every mt_THING_name (errors.h). */
const char *mt_predict_op_name(mt_predict_op op);
/* The op named name, as mt_predict_op_name() spells it.
 * @return 0 and *out, or MT_E_INVAL for a name not in the list. */
int mt_predict_op_from_name(const char *name, mt_predict_op *out);

/* The pandas version the models were calibrated on ("1.5.3"). */
const char *mt_predict_pandas_version(void);

/* The frames a prediction reads: from a snapshot's DataFrame records or
 * from inline shapes. */
typedef struct mt_shapes mt_shapes;

/* Frames of t (which must outlive *out: strings and statistics are
 * borrowed). pandas_version: the snapshot's meta pandas_version, or NULL.
 * @return 0, or MT_E_NOTFOUND (t has no frames), MT_E_NOMEM. */
int mt_shapes_from_table(const mt_df_table *t, const char *pandas_version, mt_shapes **out, mt_diag *diag);

/* Frames of t, the DataFrame records of snapshot snap
 * (mt_df_table_load), with the pandas version snap's meta records
 * (pandas_version), whose models warn when it is not the calibrated one:
 * what memtrace-predict --shapes FILE and memtrace.analyze.predict()
 * read. t must outlive *out; snap need not.
 * @return as mt_shapes_from_table. */
int mt_shapes_from_snapshot(const mt_snapshot *snap, const mt_df_table *t, mt_shapes **out, mt_diag *diag);

/* Inline shapes: "NAME=ROWSxCOLS[:COL/COL...]" separated by commas, each
 * COL "[NAME=]DTYPE[~DISTINCT][*REPEAT]" ("left=2000000x8,right=50000x3",
 * "orders=2e6x8:customer_id=int64~50000/float64*7"). Columns not
 * described are float64; key columns not named are taken from the first
 * unnamed columns (int64 unless said). Counts are decimal whole numbers
 * from 0 to 2^53 - 1 (a fraction, an exponent and k, M, G, T allowed);
 * 0 rows is an empty frame; columns 1 to 100000; DISTINCT at most the
 * rows; REPEAT at least 1. What is assumed is reported with
 * the prediction. @return 0, or MT_E_PARSE (diag->column is the 1-based
 * character where the text is wrong, msg says what was expected),
 * MT_E_NOMEM. */
int mt_shapes_parse(const char *text, mt_shapes **out, mt_diag *diag);

/* NULL is a no-op. */
void mt_shapes_free(mt_shapes *s);

/* A list of names: column or frame names. */
typedef struct mt_names {
    const char *const *v;
    size_t n;
} mt_names;

/* What to predict. Caller-owned; unused fields NULL or 0. */
typedef struct mt_predict_request {
    mt_predict_op op;
    const char *left, *right;  /* merge */
    mt_names on;               /* merge keys */
    const char *how;           /* merge: inner (default), left, right, outer */
    const char *frame;         /* groupby, pivot_table, sort */
    mt_names by;               /* groupby, sort */
    const char *agg;           /* groupby: sum (default), mean, count, min, max, median, std, size */
    mt_names columns;          /* groupby: the value columns (default: all others) */
    int observed;              /* groupby on categoricals: 1 observed=True, 0 False, -1 pandas' default (False) */
    const char *index;         /* pivot_table */
    const char *pivot_columns;
    const char *values;
    const char *aggfunc;       /* pivot_table: mean (default), sum, count */
    mt_names frames;           /* concat */
    const char *csv;           /* read_csv: the file (memtrace-predict(1), Limits) */
    uint64_t sample_rows;      /* read_csv: rows to sample (0: 1000) */
    double available_bytes;    /* memory there is; <= 0: unknown (no fits verdict) */
} mt_predict_request;

/* A way to make the operation fit, and the peak it would need. */
typedef struct mt_suggestion {
    char *text;
    double peak_bytes;         /* NAN when it does not apply (an engine out of core) */
} mt_suggestion;

typedef struct mt_prediction {
    mt_predict_op op;
    double peak_bytes;         /* beyond the inputs */
    double result_bytes;       /* deep: pandas' memory_usage(deep=True) */
    double result_real_bytes;  /* buffers and each distinct object once */
    double result_shared_bytes;/*   of which objects shared with the inputs */
    double result_rows;
    double input_bytes;        /* deep bytes of the frames (read_csv: the file's size) */
    double available_bytes;    /* as requested; <= 0: unknown */
    double multiplier;         /* peak_bytes / input_bytes */
    int fits;                  /* peak under the available memory; -1: unknown */
    const char *model;         /* the calibrated model group ("merge/inner/number") */
    char **warnings;
    size_t n_warnings;
    mt_suggestion *suggestions;
    size_t n_suggestions;
    char **assumptions;        /* what the prediction took for granted */
    size_t n_assumptions;
} mt_prediction;

/* Predicts req over s (NULL for read_csv). Fills *out (free with
 * mt_prediction_free). @return 0, or MT_E_NOTFOUND (a frame or column
 * that s lacks: msg names it and what there is), MT_E_INVAL (the request
 * is incomplete or contradicts itself: msg says what is missing),
 * MT_E_RANGE (a shape too large to model: more than 2^53 rows or bytes),
 * MT_E_IO and MT_E_PARSE (read_csv: the file cannot be read, or is not
 * CSV: empty, or a quoted field never closed, where diag->file, ->line,
 * ->column and ->offset say where its opening quote is), MT_E_LIMIT (read_csv: a row of more than
 * 100000 columns or 16 MiB; diag has the file and line), MT_E_NOMEM.
 * read_csv reads a regular file, pipe or FIFO (a device is refused; a
 * pipe that sends nothing for 10 s is given up). */
int mt_predict_run(const mt_shapes *s, const mt_predict_request *req, mt_prediction *out, mt_diag *diag);

/* Frees what p holds and empties it. Safe on an empty p. */
void mt_prediction_free(mt_prediction *p);

/* Bytes of the khash table pandas makes for a size hint of hint keys once
 * it holds that many distinct keys of key_bytes each: the smallest power
 * of two (at least 4) of buckets whose 0.77 load bound holds them, each
 * bucket a key, an 8-byte value and a flag bit, and a 40-byte header; a
 * hint past 2^20 + 7 makes 2^21 buckets, which double as keys arrive.
 * What tracemalloc sees pandas 1.5 allocate. Exposed for tests. */
double mt_predict_hashtable_bytes(double hint, unsigned key_bytes);

#ifdef __cplusplus
}
#endif
#endif
