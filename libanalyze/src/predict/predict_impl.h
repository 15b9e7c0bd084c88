/* Internal to memtrace-predict's models (the sources of predict/). */
#ifndef MT_PREDICT_IMPL_H
#define MT_PREDICT_IMPL_H

#include "memtrace/predict.h"
#include "memtrace/strbuf.h"

/* What a model reads of a column. Sizes in bytes; counts as doubles so
 * that every model computes in one type. */
typedef struct mt_pcol {
    const char *name;
    const char *dtype;
    double shallow, deep;      /* memory_usage(), memory_usage(deep=True) */
    double objects;            /* object columns: bytes of the distinct objects, each once */
    int has_objects;           /*   objects is known (else pandas' per-row count is taken) */
    double nulls;
    double distinct;           /* non-null distinct values; < 0: unknown */
    unsigned code_bytes;       /* categoricals */
    double categories, categories_bytes;
    const mt_df_value *top;    /* most common values, or NULL */
    size_t n_top;
    const void *sketch;        /* kmv hashes, or NULL */
    size_t sketch_len;
    int sketch_full;           /* the sketch holds the smallest hashes only */
    double fit_bytes;          /* itemsize of the smallest dtype that holds it (dtype advice); 0: none */
    const char *fit_dtype;     /*   and that dtype */
    int inline_dtype;          /* inline shapes: dtype assumed, not said */
    int inline_distinct;       /* inline shapes: distinct values said */
    int named;                 /* inline shapes: the name was said */
} mt_pcol;

typedef struct mt_pframe {
    const char *name;
    double rows;
    double index_bytes;
    size_t n_cols;
    mt_pcol *cols;
    char *owned;               /* inline shapes: the default column names */
} mt_pframe;

struct mt_shapes {
    size_t n_frames;
    mt_pframe *frames;
    int is_inline;
    const char *pandas_version; /* the snapshot's, or NULL */
    char version[64];           /* mt_shapes_from_snapshot: pandas_version's copy */
    char *text;                 /* inline: the parsed copy names point into */
};

/* Bytes of one value of a column in a new array (a take): 8 for object
 * and 64-bit numbers, the code width for categoricals. */
double mt__pcol_itemsize(const mt_pcol *c);
/* Deep bytes a row of c takes, on average. */
double mt__pcol_deep_per_row(const mt_pcol *c, double rows);
/* Bytes of the distinct objects of object column c that rows of its
 * src_rows rows reference, each once: at most its distinct objects, at
 * most pandas' per-row count of that many rows. */
double mt__pcol_objects(const mt_pcol *c, double src_rows, double rows);
int mt__pcol_is_object(const mt_pcol *c);
int mt__pcol_is_category(const mt_pcol *c);

/* Rows of a join of l and r on one key (their key columns), from their
 * null counts, distinct counts, most common values and kmv sketches; how
 * as mt_predict_request. Where statistics are missing, *assumed names
 * what was taken instead (a static string) or stays NULL. *with_left and
 * *with_right (when not NULL) get the result rows that have a row of
 * that side (the others hold missing values there). */
double mt__predict_join_rows(const mt_pcol *lk, double lrows, const mt_pcol *rk, double rrows, const char *how,
                            const char **assumed, double *with_left, double *with_right);

/* What a sample of a CSV file says. */
typedef struct mt_csv_col {
    char *name;
    int kind;                  /* 'i' int64, 'f' float64, 'b' bool, 'O' strings */
    double nulls;              /* in the sample */
    double distinct;           /* in the sample (strings) */
    double text_bytes;         /* in the sample: characters of non-null strings */
} mt_csv_col;

typedef struct mt_csv_sample {
    double file_bytes;
    double rows;               /* estimated: file size over the sampled bytes a row */
    double sampled_rows;
    int exact;                 /* the whole file was read */
    size_t n_cols;
    mt_csv_col *cols;
} mt_csv_sample;

/* Bounds on a CSV file read_csv is predicted for: its columns (as many as
 * inline shapes may have) and one row's bytes, quoted line breaks
 * included. memtrace-predict(1), Limits, documents them. */
#define MT_CSV_MAX_COLUMNS 100000
#define MT_CSV_MAX_ROW_BYTES (16 << 20)

/* Reads the header and up to max_rows rows of path: a regular file, or a
 * pipe or FIFO (its rest counted to its end, at most 16 GiB, for its size;
 * one that sends nothing for 10 s given up); a device is refused. Work is
 * linear in the bytes read. @return 0, or MT_E_IO (msg has strerror, or
 * what kind of file it is), MT_E_PARSE (no header; an unterminated quote:
 * line says where), MT_E_LIMIT (a row over MT_CSV_MAX_COLUMNS columns or
 * MT_CSV_MAX_ROW_BYTES bytes: line says where), MT_E_NOMEM. */
int mt__csv_sample_read(const char *path, uint64_t max_rows, mt_csv_sample *out, mt_diag *diag);
void mt__csv_sample_free(mt_csv_sample *s);

#endif
