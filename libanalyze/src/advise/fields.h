/* The subjects' fields a rule may test and a message may print
 * (memtrace-rules(5)), the names a message may use besides them, and the
 * saving models. rules.c checks a rule file against these tables and
 * advise.c computes the values; both read them here, so that neither
 * calls into the other. Internal. */
#ifndef MT_ADVISE_FIELDS_H
#define MT_ADVISE_FIELDS_H

#include <stddef.h>

enum { MT__SCOPE_COLUMN = 1, MT__SCOPE_FRAME = 2, MT__SCOPE_STEP = 4, MT__SCOPE_GPU = 8 };
enum { MT__FT_NUM, MT__FT_STR, MT__FT_BOOL };
enum { MT__U_PLAIN, MT__U_COUNT, MT__U_BYTES, MT__U_RATIO };

/* X(ID, name, scopes, type, unit), one line per field: the scopes it
 * exists in (C, F, S, G: MT__SCOPE_*), its type (NUM, STR, BOOL:
 * MT__FT_*) and how a message prints it (PLAIN, COUNT, BYTES, RATIO:
 * MT__U_*). fields.c makes mt__fields[] of it; advise.c makes the enum its
 * accessors (column_field, frame_field, ...) switch over. A new field
 * needs a line here, a case in an accessor and a line in
 * memtrace-rules(5). */
#define MT__ADVISE_FIELDS(X) \
    X(FRAME, "frame", C | F, STR, PLAIN)                       \
    X(COLUMN, "column", C, STR, PLAIN)                         \
    X(STEP, "step", C | F | S, STR, PLAIN)                     \
    X(DTYPE, "dtype", C, STR, PLAIN)                           \
    X(DTYPE_KIND, "dtype_kind", C, STR, PLAIN)                 \
    X(VALUE_TYPE, "value_type", C, STR, PLAIN)                 \
    X(INT_FIT, "int_fit", C, STR, PLAIN)                       \
    X(NULLABLE_INT_FIT, "nullable_int_fit", C, STR, PLAIN)     \
    X(ROWS, "rows", C | F, NUM, COUNT)                         \
    X(NULLS, "nulls", C, NUM, COUNT)                           \
    X(NULL_RATIO, "null_ratio", C, NUM, RATIO)                 \
    X(NON_NULL, "non_null", C, NUM, COUNT)                     \
    X(DISTINCT, "distinct", C, NUM, COUNT)                     \
    X(DISTINCT_RATIO, "distinct_ratio", C, NUM, RATIO)         \
    X(BYTES, "bytes", C | F, NUM, BYTES)                       \
    X(SHALLOW_BYTES, "shallow_bytes", C | F, NUM, BYTES)       \
    X(OBJECT_BYTES, "object_bytes", C, NUM, BYTES)             \
    X(SHARE, "share", C, NUM, RATIO)                           \
    X(MIN, "min", C, NUM, PLAIN)                               \
    X(MAX, "max", C, NUM, PLAIN)                               \
    X(WHOLE, "whole", C, BOOL, PLAIN)                          \
    X(FLOAT32_EXACT, "float32_exact", C, BOOL, PLAIN)          \
    X(FLOAT32_ERROR, "float32_error", C, NUM, PLAIN)           \
    X(KEY, "key", C, BOOL, PLAIN)                              \
    X(SORTED, "sorted", C, BOOL, PLAIN)                        \
    X(UNIQUE, "unique", C, BOOL, PLAIN)                        \
    X(MIXED, "mixed", C, BOOL, PLAIN)                          \
    X(DATETIME_TEXT, "datetime_text", C, BOOL, PLAIN)          \
    X(DATETIME_FORMAT, "datetime_format", C, STR, PLAIN)       \
    X(DATETIME_AMBIGUOUS, "datetime_ambiguous", C, BOOL, PLAIN) \
    X(TEXT_RATIO, "text_ratio", C, NUM, RATIO)                 \
    X(LEN_MEAN, "len_mean", C, NUM, PLAIN)                     \
    X(LEN_MAX, "len_max", C, NUM, COUNT)                       \
    X(CATEGORIES, "categories", C, NUM, COUNT)                 \
    X(UNUSED_CATEGORIES, "unused_categories", C, NUM, COUNT)   \
    X(CATEGORIES_BYTES, "categories_bytes", C, NUM, BYTES)     \
    X(DENSITY, "density", C, NUM, RATIO)                       \
    X(FRAME_BYTES, "frame_bytes", C, NUM, BYTES)               \
    X(FRAME_ROWS, "frame_rows", C, NUM, COUNT)                 \
    X(KEY_COLUMNS, "key_columns", C, NUM, COUNT)               \
    X(KEY_GROUPS, "key_groups", C, NUM, COUNT)                 \
    X(COLUMNS, "columns", F, NUM, COUNT)                       \
    X(INDEX_KIND, "index_kind", F, STR, PLAIN)                 \
    X(INDEX_BYTES, "index_bytes", F, NUM, BYTES)               \
    X(INDEX_SHARE, "index_share", F, NUM, RATIO)               \
    X(INDEX_NLEVELS, "index_nlevels", F, NUM, COUNT)           \
    X(INDEX_LEVELS_BYTES, "index_levels_bytes", F, NUM, BYTES) \
    X(INDEX_CODES_BYTES, "index_codes_bytes", F, NUM, BYTES)   \
    X(COLUMNS_KIND, "columns_kind", F, STR, PLAIN)             \
    X(COLUMNS_NLEVELS, "columns_nlevels", F, NUM, COUNT)       \
    X(PEAK, "peak", S, NUM, BYTES)                             \
    X(TRACED, "traced", S, NUM, BYTES)                         \
    X(RSS, "rss", S, NUM, BYTES)                               \
    X(FRAMES_BYTES, "frames_bytes", S, NUM, BYTES)             \
    X(FRAMES, "frames", S, NUM, COUNT)                         \
    X(AVAILABLE, "available", S, NUM, BYTES)                   \
    X(PEAK_RATIO, "peak_ratio", S, NUM, RATIO)                 \
    X(FRAMES_RATIO, "frames_ratio", S, NUM, RATIO)             \
    X(PEAK_OVER_FRAMES, "peak_over_frames", S, NUM, PLAIN)     \
    X(DEVICE, "device", G, STR, PLAIN)                         \
    X(TOTAL, "total", G, NUM, BYTES)                           \
    X(RESERVED, "reserved", G, NUM, BYTES)                     \
    X(ALLOCATED, "allocated", G, NUM, BYTES)                   \
    X(UNUSED_RESERVED, "unused_reserved", G, NUM, BYTES)       \
    X(UNUSED_RATIO, "unused_ratio", G, NUM, RATIO)             \
    X(RESERVED_RATIO, "reserved_ratio", G, NUM, RATIO)         \
    X(PENDING_FREE, "pending_free", G, NUM, BYTES)             \
    X(INACTIVE, "inactive", G, NUM, BYTES)                     \
    X(RELEASABLE, "releasable", G, NUM, BYTES)                 \
    X(STRANDED, "stranded", G, NUM, BYTES)                     \
    X(LARGEST_FREE, "largest_free", G, NUM, BYTES)             \
    X(INTERNAL_FRAG, "internal_fragmentation", G, NUM, RATIO)  \
    X(EXTERNAL_FRAG, "external_fragmentation", G, NUM, RATIO)  \
    X(UTILIZATION, "utilization", G, NUM, RATIO)               \
    X(PEAK_ACTIVE, "peak_active", G, NUM, BYTES)               \
    X(OUTSIDE, "outside", G, NUM, BYTES)                       \
    X(OOMS, "ooms", G, NUM, COUNT)                             \
    X(FRAGMENTATION_OOMS, "fragmentation_ooms", G, NUM, COUNT) \
    X(CAPACITY_OOMS, "capacity_ooms", G, NUM, COUNT)           \
    X(EXPANDABLE, "expandable_segments", G, NUM, COUNT)        \
    X(ALLOC_RETRIES, "alloc_retries", G, NUM, COUNT)           \
    X(OOM_SIZE, "oom_size", G, NUM, BYTES)                     \
    X(OOM_POOL_FREE, "oom_pool_free", G, NUM, BYTES)           \
    X(OOM_LARGEST_FREE, "oom_largest_free", G, NUM, BYTES)

/* A field of a subject: what conditions test and messages print. */
typedef struct mt__fdesc {
    const char *name;
    unsigned scopes;   /* MT__SCOPE_* it exists in */
    int type;          /* MT__FT_* */
    int unit;          /* MT__U_*: how a message prints it */
} mt__fdesc;

/* Indexed by field, in MT__ADVISE_FIELDS's order. */
extern const mt__fdesc mt__fields[];

/* The index of the field name (len bytes, not NUL-terminated) of scope,
 * or -1. */
int mt__field_find(unsigned scope, const char *name, size_t len);

/* X(ID, name): what an action computed, which a message template may name
 * besides the fields. */
#define MT__ACTION_VARS(X) \
    X(TO, "to") X(SAVING, "saving") X(NEW_BYTES, "new_bytes") X(CHUNKS, "chunks") \
    X(CHUNK_ROWS, "chunk_rows") X(RULE, "rule") X(SEVERITY, "severity") X(TO_MAX, "to_max") \
    X(HEADROOM, "headroom")

/* The index of the action variable name (len bytes), in MT__ACTION_VARS's
 * order, or -1. */
int mt__action_var_find(const char *name, size_t len);

/* Saving models (the action's `saving`). */
enum { MT__SAVE_NONE, MT__SAVE_ASTYPE, MT__SAVE_UNUSED_CATEGORIES, MT__SAVE_CHUNKS, MT__SAVE_TRANSIENT,
       MT__SAVE_UNUSED_RESERVED };
extern const char *const mt__saving_names[];  /* by MT__SAVE_*, NULL-terminated */
extern const unsigned mt__saving_scopes[];    /* where each model applies */

#endif
