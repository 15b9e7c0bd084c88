/* DataFrame snapshots: the frames, columns, key statistics and pipeline
 * steps of a snapshot that memtrace.dump_frames or memtrace.pipeline
 * wrote, loaded into one table; and the kmv sketch estimates. */
#ifndef MEMTRACE_FRAMES_H
#define MEMTRACE_FRAMES_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"
#include "memtrace/format.h"
#include "memtrace/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_df_col_info {
    mt_df_column rec;        /* strings and values point into the table */
    size_t frame;            /* index into mt_df_table.frames */
    const char *int_fit;     /* smallest integer dtype that holds every value, or NULL (mt_df_int_fit) */
    const mt_df_value *top;  /* most common values, most common first; n_top of them */
    size_t n_top;
    const mt_df_sketch *sketch; /* the kmv sketch, or NULL */
} mt_df_col_info;

typedef struct mt_df_frame_info {
    mt_df_frame rec;
    size_t first_column;     /* columns[first_column .. + n_columns), by position */
    size_t n_columns;        /* columns recorded (rec.columns says how many it has) */
} mt_df_frame_info;

/* A pipeline step: samples and frames that name it, in time order. */
typedef struct mt_df_step {
    const char *name;
    uint64_t time_ns;        /* earliest record of the step */
    double rss;              /* bytes; NAN when not recorded */
    double traced;           /* tracemalloc's traced memory at the step */
    double traced_peak;      /* its peak since the previous step */
    uint64_t frames_deep;    /* deep bytes of the frames recorded at the step */
    size_t n_frames;
    uint64_t frames_real;    /* real bytes of those frames (mt_df_frame_real_bytes), less what they share */
} mt_df_step;

typedef struct mt_df_table {
    size_t n_frames;
    mt_df_frame_info *frames;  /* in file order */
    size_t n_columns;
    mt_df_col_info *columns;   /* by frame, then position */
    size_t n_steps;
    mt_df_step *steps;         /* in time order; 0 without step names */
    uint64_t deep_bytes;       /* over every frame */
    uint64_t shallow_bytes;
    uint64_t real_bytes;       /* mt_df_frame_real_bytes over every frame, less their shared_bytes */
} mt_df_table;

/* Reads the DataFrame records of s into a new table (*out, freed with
 * mt_df_table_free). A snapshot without any gives an empty table.
 * @return 0, or MT_E_NOMEM, MT_E_RECORD (a column names a frame id that
 *         has no frame record, or a frame id repeats; diag says which),
 *         MT_E_STATE (the buffer of mt_snapshot_load_mem changed). */
int mt_df_table_load(const mt_snapshot *s, mt_df_table **out, mt_diag *diag);

/* NULL is a no-op. */
void mt_df_table_free(mt_df_table *t);

/* The (at most) n steps of t that grew most, into step (step indices) and
 * gain (bytes), both caller-owned with n entries, larger first (ties: the
 * earlier step). A step's growth is its RSS less the previous step's, or
 * where either RSS is not recorded its traced memory less the previous
 * step's; steps that did not grow are left out.
 * Returns how many were written. */
size_t mt_df_steps_grew_most(const mt_df_table *t, size_t n, size_t *step, double *gain);

/* Bytes column c really holds (SPEC.md 4.3, df_columns real_bytes): the
 * recorded real_bytes when the file has it (1.6); for older files its
 * shallow_bytes plus distinct_bytes for object columns (each object once)
 * and its deep_bytes for the others. Never pandas' per-row count of shared
 * objects. */
uint64_t mt_df_col_real_bytes(const mt_df_col_info *c);

/* Bytes frame t->frames[i] really holds: the recorded real_bytes (1.6),
 * or its index's deep bytes plus mt_df_col_real_bytes of its columns.
 * What it shares with an earlier frame is in rec.shared_bytes. */
uint64_t mt_df_frame_real_bytes(const mt_df_table *t, size_t i);

/* What frame t->frames[i] shares with a frame written before it (views,
 * shallow copies, shared strings): its rec.shared_bytes, never more than
 * mt_df_frame_real_bytes. */
uint64_t mt_df_frame_shared_bytes(const mt_df_table *t, size_t i);

/* Real bytes of frame i's row index: the frame's real bytes less its
 * columns' (mt_df_col_real_bytes), 0 when the columns hold more. */
uint64_t mt_df_index_real_bytes(const mt_df_table *t, size_t i);

/* 1 when frame i's real bytes are an estimate: a column's objects were
 * sampled (MT_COL_REAL_EST), else 0. */
int mt_df_frame_real_estimated(const mt_df_table *t, size_t i);

/* The real bytes of a set of frames, as memtrace-frames and
 * memtrace.analyze report them. */
typedef struct mt_df_real {
    uint64_t real;           /* real bytes, shared bytes counted once; for a pipeline,
                              * of the step whose frames hold the most */
    uint64_t shared;         /* the shared bytes counted once (of that step) */
    size_t n_steps;          /* steps the frames were recorded at */
    const char *step;        /* that step's name (owned by t), NULL when not a pipeline's */
} mt_df_real;

/* Fills out with the real bytes of the n frames frames[] (indices into
 * t->frames). A pipeline's steps record the same frames again and again,
 * so the figure is the step whose frames hold the most, not a sum over
 * time. subset: the frames were picked by name, so the frame that holds
 * their shared bytes first may be left out, and those bytes are not
 * subtracted (they are still reported in out->shared).
 * @return 0, or MT_E_NOMEM. */
int mt_df_frames_real(const mt_df_table *t, const size_t *frames, size_t n, int subset, mt_df_real *out);

/* The smallest of int8, uint8, int16, uint16, int32, uint32, int64,
 * uint64 that holds min..max (signed preferred at equal width), or NULL
 * when min or max is not an integer (or a whole float). */
const char *mt_df_int_fit(const mt_value *min, const mt_value *max);

/* Bytes a value of dtype takes in a column: 8 for "int64" and "Int64"
 * (plus its mask byte, not counted), 1 for "bool", 8 for "object" (the
 * pointer); 0 when not a fixed-width dtype. */
unsigned mt_df_itemsize(const char *dtype, size_t len);

/* ---- kmv sketches (SPEC.md section 4.3, df_sketches) ---- */

typedef struct mt_kmv_estimate {
    double distinct_a, distinct_b; /* each sketch's distinct values */
    double union_;                 /* distinct values of both together */
    double jaccard;                /* |A and B| / |A or B| */
    double both;                   /* distinct values in both */
    int exact;                     /* both sketches hold all their values */
} mt_kmv_estimate;

/* Distinct values of a column from its sketch (data: sorted u64 LE
 * hashes, len bytes). full: the column had more distinct values than the
 * sketch holds (its distinct_count is larger, or estimated), so the sketch
 * is its smallest hashes: (k - 1) / (the k-th smallest as a fraction of
 * 2^64). Otherwise the count of hashes, exact. */
double mt_kmv_distinct(const void *data, size_t len, int full);

/* Overlap of two columns from their sketches, full as above. From the k
 * smallest hashes of the union, k the smaller full sketch's size, the
 * fraction present in both estimates the Jaccard index (Beyer et al.,
 * SIGMOD 2007). @return 0, or MT_E_INVAL (a length not a multiple of 8). */
int mt_kmv_compare(const void *a, size_t alen, int a_full, const void *b, size_t blen, int b_full,
                   mt_kmv_estimate *out);

#ifdef __cplusplus
}
#endif
#endif
