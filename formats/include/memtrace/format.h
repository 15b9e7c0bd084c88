/* memtrace snapshot container: records, the streaming writer, the reader.
 *
 * The byte layout is specified in formats/SPEC.md; this header is the C
 * view of it. Depends on nothing but the C library. Every function that can
 * fail returns 0 or a negative MT_E_* code (memtrace/errors.h) and, when
 * given an mt_diag, says where and why. Handles are independent: two
 * handles may be used from two threads at once, one handle from one thread
 * at a time. */
#ifndef MEMTRACE_FORMAT_H
#define MEMTRACE_FORMAT_H

#include <stdint.h>
#include <stddef.h>
#include "memtrace/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_FORMAT_MAJOR 1
#define MT_FORMAT_MINOR 7

/* Bytes of a block header on disk (SPEC.md section 3.1). */
#define MT_BLOCK_HEADER_BYTES 36
/* SPEC.md section 7: a block's payload decompresses to at most this many
 * times its stored size. Real snapshots compress about 3:1 to 5:1 (a
 * Python heap with pandas loaded: 5.1:1, its best block 11:1; a list of
 * 10M references to one object: 27.5:1 a block); zstd can reach thousands
 * to one, which a hostile file used to make 22 KB cost 1.8 GB. */
#define MT_MAX_RAW_RATIO 256u

/* ------------------------------------------------------------------ */
/* Values                                                               */

/* A string or byte span. Strings read from a file point into the reader's
 * block buffer and are not NUL-terminated. */
typedef struct mt_str {
    const char *ptr;
    size_t len;
} mt_str;

/* Builds an mt_str from a NUL-terminated string (NULL gives an empty one). */
mt_str mt_str_c(const char *s);

typedef enum mt_value_type {
    MT_VAL_NIL = 0,
    MT_VAL_BOOL,
    MT_VAL_INT,   /* negative integers */
    MT_VAL_UINT,  /* non-negative integers */
    MT_VAL_FLOAT,
    MT_VAL_STR,
    MT_VAL_BIN
} mt_value_type;

/* A scalar of any type: meta values, column minimum and maximum, most
 * common values. */
typedef struct mt_value {
    mt_value_type type;
    union {
        int b;
        int64_t i;
        uint64_t u;
        double f;
        mt_str s;
    } v;
} mt_value;

/* ------------------------------------------------------------------ */
/* Record kinds and their records (SPEC.md section 4)                   */

typedef enum mt_kind {
    MT_KIND_META = 1,
    MT_KIND_STRING = 2,
    MT_KIND_TYPE = 3,
    MT_KIND_OBJECT = 4,
    MT_KIND_REF = 5,
    MT_KIND_ROOT = 6,
    MT_KIND_FRAME = 7,
    MT_KIND_STACK = 8,
    MT_KIND_ALLOC = 9,
    MT_KIND_SAMPLE = 10,
    MT_KIND_DF_FRAME = 11,
    MT_KIND_DF_COLUMN = 12,
    MT_KIND_DF_VALUE = 13,
    MT_KIND_DF_SKETCH = 14,
    MT_KIND_GPU_DEVICE = 15,
    MT_KIND_GPU_SEGMENT = 16,
    MT_KIND_GPU_BLOCK = 17,
    MT_KIND_GPU_EVENT = 18,
    MT_KIND_NB_CELL = 19,
    MT_KIND_EVENT = 20,
    MT_KIND_TRACE_LIVE = 21,
    MT_KIND_MAX = 21,       /* highest kind this version knows */
    MT_KIND_INDEX = 0xFF00  /* the footer index; internal to the container */
} mt_kind;

/* Object flags (mt_object.flags). */
#define MT_OBJ_GC_TRACKED 0x1u   /* tracked by the garbage collector */
#define MT_OBJ_UNREACHABLE 0x2u  /* found garbage at dump time */
#define MT_OBJ_HELD_FROM_C 0x4u  /* more references than visible referrers */
#define MT_OBJ_SIZE_VARIES 0x8u  /* its size may change while it lives (1.5) */
#define MT_OBJ_LOST 0x80000000u  /* reader only: its block was lost */

/* Reference flags (mt_ref.flags). */
#define MT_REF_WEAK 0x1u

/* One meta entry: tool, tool_version, host, pid, start_time, label,
 * "label.NAME" user labels, and any other key. */
typedef struct mt_meta {
    mt_str key;
    mt_value value;
} mt_meta;

/* An interned string other records refer to by id (ids start at 1). */
typedef struct mt_string {
    uint32_t id;
    mt_str text;
} mt_string;

/* A type; objects refer to it by id. */
typedef struct mt_type {
    uint32_t id;
    mt_str name;  /* qualified name, "collections.OrderedDict" */
} mt_type;

/* A heap object. Its dense index is its position among all OBJECT records
 * of the file (0, 1, 2, ...); references use that index. */
typedef struct mt_object {
    uint64_t id;       /* identity in the process: address or id() */
    uint32_t type;     /* mt_type.id */
    uint64_t size;     /* bytes, as sys.getsizeof reports */
    uint32_t flags;    /* MT_OBJ_* */
    uint32_t stack;    /* mt_stack.id of its allocation, 0 if unknown */
    uint32_t gen;      /* GC generation, 0 if unknown or untracked */
} mt_object;

/* A reference between two objects, by dense object index. */
typedef struct mt_ref {
    uint32_t src;
    uint32_t dst;
    uint32_t flags;    /* MT_REF_* */
    mt_str label;      /* attribute name, dict key, "[3]"; empty if none */
} mt_ref;

/* A root: an object held from outside the graph. */
typedef struct mt_root {
    uint32_t obj;      /* dense object index */
    mt_str kind;       /* "module", "frame", "thread", "c", "global", ... */
    mt_str name;       /* module name, frame function, ...; may be empty */
} mt_root;

/* A source location of a call stack. */
typedef struct mt_frame {
    uint32_t id;       /* 1-based */
    mt_str function;
    mt_str file;
    uint32_t line;
} mt_frame;

/* A call stack as a chain: this frame, called from the stack `parent`. */
typedef struct mt_stack {
    uint32_t id;       /* 1-based */
    uint32_t frame;    /* innermost frame (mt_frame.id) */
    uint32_t parent;   /* caller's stack id, 0 at the outermost frame */
} mt_stack;

/* Allocation event operations. */
#define MT_ALLOC_ALLOC 0u  /* a block was allocated */
#define MT_ALLOC_FREE 1u   /* a block was freed */
#define MT_ALLOC_LIVE 2u   /* blocks live at snapshot time (count of them) */

typedef struct mt_alloc {
    uint64_t time_ns;  /* since the meta start_time */
    uint32_t op;       /* MT_ALLOC_* */
    uint64_t address;
    uint64_t size;     /* bytes (total over count for MT_ALLOC_LIVE) */
    uint32_t stack;    /* mt_stack.id, 0 if unknown */
    uint32_t thread;
    uint32_t domain;   /* MT_DOMAIN_* */
    uint64_t count;    /* blocks this record stands for; 0 means 1 */
    double weight;     /* 1.4: a sampled event's 1/p (the blocks it estimates); 0: exact, count blocks */
    uint64_t born_ns;  /* 1.4: a free's block was allocated then (trace files) */
} mt_alloc;

/* Allocation domains (mt_alloc.domain). */
#define MT_DOMAIN_PYTHON 0u  /* CPython's mem and object allocators (PyMem_Malloc, PyObject_Malloc) */
#define MT_DOMAIN_NATIVE 1u  /* malloc and friends */
#define MT_DOMAIN_GPU 2u
#define MT_DOMAIN_RAW 3u     /* 1.4: CPython's raw allocator (PyMem_RawMalloc) */
#define MT_DOMAIN_NUMPY 4u   /* 1.4: NumPy's data allocator (array buffers) */

/* Live bytes of one allocation stack at a trace checkpoint (1.4): the
 * effect of the file's first `upto` allocs records. Weighted estimates
 * in a sampled trace, hence doubles. */
typedef struct mt_trace_live {
    uint64_t time_ns;  /* when the checkpoint was taken */
    uint32_t stack;    /* mt_stack.id, 0 if unknown */
    double bytes;      /* live bytes of the stack */
    double count;      /* live blocks of the stack */
    uint64_t upto;     /* allocs records (by sequence number) the checkpoint covers */
} mt_trace_live;

/* One point of a time series ("rss", "traced", "gpu0.reserved"), or,
 * when span_ns is not 0, a bucket of `count` points thinned into their
 * mean (value), min and max over [time_ns, time_ns + span_ns) (1.3). */
typedef struct mt_sample {
    uint64_t time_ns;
    mt_str series;
    double value;
    mt_str step;       /* pipeline step name; may be empty */
    uint64_t span_ns;  /* 0: one point */
    double min;        /* a bucket's least point; unused for one point */
    double max;        /* a bucket's greatest point */
    uint64_t count;    /* points in a bucket; unused for one point */
} mt_sample;

/* Something that happened at a moment of a run (1.3): a pipeline step
 * began, a heap dump was taken, an alert fired. kind is "start",
 * "step", "dump", "alert", "peak", "exit", or another word a reader
 * shows as it is. */
typedef struct mt_event {
    uint64_t time_ns;  /* since the meta start_time */
    mt_str kind;
    mt_str name;       /* the step's name, the alert's expression */
    double value;      /* the measure behind it (bytes), 0 if none */
    mt_str detail;     /* a dump's path, an alert's action */
} mt_event;

/* A pandas DataFrame's shape and memory. */
typedef struct mt_df_frame {
    uint32_t id;       /* 1-based */
    mt_str name;
    uint64_t rows;
    uint32_t columns;
    mt_str index_kind; /* "range", "int64", "multi", ... */
    uint64_t index_bytes;
    uint64_t shallow_bytes;
    uint64_t deep_bytes;
    mt_str step;       /* pipeline step; may be empty */
    /* Since 1.1. */
    uint64_t index_shallow_bytes;  /* index.memory_usage() */
    uint64_t index_levels_bytes;   /* MultiIndex levels, deep */
    uint64_t index_codes_bytes;    /* MultiIndex codes */
    uint32_t index_nlevels;        /* 0 when unknown */
    mt_str columns_kind;           /* the column labels' index: "multi", ... */
    uint64_t columns_levels_bytes; /* MultiIndex column labels: levels, deep */
    uint64_t columns_codes_bytes;  /*   and codes */
    uint32_t columns_nlevels;
    uint64_t time_ns;              /* since the meta start_time */
    /* Since 1.5. */
    uint32_t flags;                /* MT_FRAME_* */
    /* Since 1.6. */
    uint64_t real_bytes;           /* bytes the frame really holds, each object once (0: not recorded) */
    uint64_t shared_bytes;         /*   of which an earlier frame of the snapshot also holds */
} mt_df_frame;

/* Frame flags (mt_df_frame.flags). */
#define MT_FRAME_DEEP_EST 0x1u     /* deep_bytes estimated from a sample of object values */
#define MT_FRAME_REAL_RECORDED 0x2u /* real_bytes and shared_bytes recorded (1.6): a 0 is a real 0 */
#define MT_FRAME_REAL_EST 0x4u     /* real_bytes estimated: the object ledger sampled objects (1.6) */

/* Column flags (mt_df_column.flags). */
#define MT_COL_KEY 0x1u       /* a join or group key */
#define MT_COL_SORTED 0x2u
#define MT_COL_UNIQUE 0x4u
#define MT_COL_F32_EXACT 0x8u /* every value survives float32 */
#define MT_COL_INTEGRAL 0x10u       /* every non-null value is a whole number */
#define MT_COL_DISTINCT_EST 0x20u   /* distinct_count is an estimate */
#define MT_COL_DBYTES_EST 0x40u     /* distinct_bytes is an estimate */
#define MT_COL_MIXED 0x80u          /* objects of more than one type */
#define MT_COL_DATETIME_TEXT 0x100u /* every non-null value is an ISO 8601 date or date-time string */
#define MT_COL_DATETIME_DAYFIRST_TOO 0x200u /* datetime_format is month-first, but every value reads day-first too */
#define MT_COL_REAL_RECORDED 0x400u /* real_bytes recorded (1.6): a 0 is a real 0 (a buffer another column holds) */
#define MT_COL_REAL_EST 0x800u      /* real_bytes is an estimate (objects sampled) */

typedef struct mt_df_column {
    uint32_t frame;    /* mt_df_frame.id */
    uint32_t position;
    mt_str name;
    mt_str dtype;
    uint64_t shallow_bytes;   /* memory_usage() */
    uint64_t deep_bytes;      /* memory_usage(deep=True) */
    uint64_t distinct_bytes;  /* distinct objects' bytes, object columns */
    uint64_t null_count;
    uint64_t distinct_count;
    mt_value min;
    mt_value max;
    uint32_t flags;           /* MT_COL_* */
    /* Since 1.1. */
    double f32_max_rel_error; /* float columns: worst relative error of a float32 cast */
    uint64_t text_count;      /* values that are strings */
    uint64_t len_min;         /*   and their lengths in code points */
    uint64_t len_max;
    uint64_t len_total;
    uint64_t categories;      /* categoricals: number of categories */
    uint64_t categories_bytes;/*   their memory, deep */
    uint32_t code_bytes;      /*   bytes per code */
    mt_value fill_value;      /* sparse columns */
    double density;           /*   stored points over rows */
    uint64_t dense_bytes;     /*   bytes of the dense equivalent */
    /* Since 1.2. */
    mt_str value_type;        /* object columns: the one type of every non-null value ("str", "bool") */
    /* Since 1.6. */
    uint64_t real_bytes;      /* bytes the column really holds, objects once per frame (0: not recorded) */
    mt_str datetime_format;   /* date/time strings: the strftime format every value parses with */
} mt_df_column;

/* One of a column's most common values. */
typedef struct mt_df_value {
    uint32_t frame;
    uint32_t position;
    mt_value value;
    uint64_t count;
} mt_df_value;

/* A sketch of a column's values (kind "kmv", "hll", ...). */
typedef struct mt_df_sketch {
    uint32_t frame;
    uint32_t position;
    mt_str kind;
    mt_str data;       /* binary */
} mt_df_sketch;

typedef struct mt_gpu_device {
    uint32_t id;
    mt_str name;
    uint64_t total_bytes;
    uint64_t reserved_bytes;
    uint64_t allocated_bytes;
} mt_gpu_device;

typedef struct mt_gpu_segment {
    uint32_t device;
    uint64_t address;
    uint64_t size;
    uint64_t stream;
    mt_str pool;       /* "large", "small", or a pool name */
    uint64_t allocated_bytes;
    /* Since 1.7. */
    uint64_t requested_bytes; /* what the active blocks' callers asked for */
    uint64_t active_bytes;    /* allocated plus pending free */
    uint32_t flags;           /* MT_GPU_SEG_* */
    uint32_t stack;           /* where the segment was allocated */
} mt_gpu_segment;

#define MT_GPU_SEG_EXPANDABLE 0x1u /* an expandable segment (1.7) */

typedef struct mt_gpu_block {
    uint32_t device;
    uint64_t address;
    uint64_t size;
    uint64_t requested;
    mt_str state;      /* "active_allocated", "inactive", ... */
    uint32_t stack;
} mt_gpu_block;

typedef struct mt_gpu_event {
    uint32_t device;
    uint64_t time_ns;
    mt_str action;     /* "alloc", "free_completed", "segment_alloc", "oom" */
    uint64_t address;
    uint64_t size;
    uint64_t stream;
    uint32_t stack;
    /* Since 1.7. */
    uint64_t device_free; /* oom: bytes the device had free then */
} mt_gpu_event;

/* A notebook cell's execution. */
typedef struct mt_nb_cell {
    uint32_t id;
    uint32_t exec_count;
    mt_str source;
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t rss_before;
    uint64_t rss_after;
    /* Since 1.5 (SPEC.md section 4.4, cell logs). */
    uint32_t session;        /* the kernel run it ran in, from 1 */
    mt_str status;           /* "" or "ok", "error", "interrupted" */
    mt_str error;            /* the exception: "KeyError: 'x'" */
    mt_str source_hash;      /* hex digest of the whole source: re-runs share it */
    uint64_t rss_peak;       /* highest rss during the cell */
    uint32_t flags;          /* MT_CELL_* */
    uint64_t traced_before;  /* tracemalloc's traced memory, when it traced */
    uint64_t traced_after;
    uint64_t traced_peak;
    uint64_t overhead_ns;    /* what the recorder's hooks took for this cell */
} mt_nb_cell;

/* Cell flags (mt_nb_cell.flags). */
#define MT_CELL_PEAK_EXACT 0x1u   /* rss_peak is the kernel's high-water mark */
#define MT_CELL_PEAK_SAMPLED 0x2u /* rss_peak was sampled (may miss a short spike) */
#define MT_CELL_TRACED 0x4u       /* the traced_* fields hold tracemalloc's figures */

/* Any record; `kind` says which member is valid. */
typedef struct mt_record {
    mt_kind kind;
    union {
        mt_meta meta;
        mt_string string;
        mt_type type;
        mt_object object;
        mt_ref ref;
        mt_root root;
        mt_frame frame;
        mt_stack stack;
        mt_alloc alloc;
        mt_sample sample;
        mt_df_frame df_frame;
        mt_df_column df_column;
        mt_df_value df_value;
        mt_df_sketch df_sketch;
        mt_gpu_device gpu_device;
        mt_gpu_segment gpu_segment;
        mt_gpu_block gpu_block;
        mt_gpu_event gpu_event;
        mt_nb_cell nb_cell;
        mt_event event;
        mt_trace_live trace_live;
    } u;
} mt_record;

/* Short lowercase name of a kind as SPEC.md and the tools print it
 * ("objects", "refs"); "unknown" for a kind this version does not know. */
const char *mt_kind_name(mt_kind kind);

/* The kind named name, as mt_kind_name() prints it.
 * @return 0 and *out, or MT_E_INVAL for a name not in the list. */
int mt_kind_from_name(const char *name, mt_kind *out);

/* Field types of a record schema. */
typedef enum mt_field_type {
    MT_FIELD_U32 = 0,
    MT_FIELD_U64,
    MT_FIELD_F64,
    MT_FIELD_STR,      /* mt_str */
    MT_FIELD_BIN,      /* mt_str holding bytes */
    MT_FIELD_VALUE     /* mt_value */
} mt_field_type;

/* One field of a record kind, as SPEC.md section 4 lists it. */
typedef struct mt_field {
    const char *name;  /* SPEC.md's name, also the struct member's */
    uint8_t type;      /* mt_field_type */
    uint8_t required;
    uint16_t offset;   /* of the member in the kind's record struct */
} mt_field;

/* The fields of a known kind in their on-disk order, *n of them; NULL
 * (and *n = 0) for a kind this version does not know. Lets generic code
 * (exporters) walk any record without a switch over kinds. */
const mt_field *mt_kind_fields(mt_kind kind, size_t *n);

/* ------------------------------------------------------------------ */
/* Writer                                                               */

typedef struct mt_writer mt_writer;

typedef struct mt_writer_opts {
    size_t block_bytes;  /* uncompressed bytes per block; 0: 1 MiB */
    int level;           /* zstd level; 0: 3 */
    /* Compress and write finished blocks on a second thread, so that the
     * caller goes on packing records meanwhile; at most two blocks wait
     * for it, and while two do, the caller compresses its next block
     * itself. The file is the same byte for byte. A crash may then lose
     * those blocks as well as the unfinished ones. */
    int background;
    /* Rename the file into place at the first mt_writer_flush() rather
     * than at mt_writer_close(), so that a process that dies after a flush
     * leaves what it flushed at path (a pipeline recorded step by step).
     * Until then the target keeps what it held. */
    int publish_on_flush;
} mt_writer_opts;

/* Writes a new snapshot at path, through a temporary file in the same
 * directory that mt_writer_close() renames over path once the file is
 * complete (mt_output_open() in fileio.h): a writer that fails or is
 * abandoned leaves what path held before. A path that exists and is not a
 * regular file (a device, a FIFO) is written in place, never replaced.
 * Writes the header at once. The writer keeps at
 * most one unfinished block per record kind in memory, so its memory is
 * bounded whatever the snapshot's size; each finished block is compressed
 * and written at once, so a crash loses at most the unfinished blocks:
 * what was written stays in the temporary file (".NAME.XXXXXX" beside
 * path, or path itself after a publish_on_flush flush), which --salvage
 * reads. opts may be NULL. On success *out owns the file until mt_writer_close().
 * @return 0, or MT_E_IO (diag names the system error), MT_E_NOMEM. */
int mt_writer_open(const char *path, const mt_writer_opts *opts,
                   mt_writer **out, mt_diag *diag);

/* Opens the snapshot at path for appending, in place (no temporary
 * file): a log that several runs extend, such as a notebook's cell log
 * (SPEC.md section 3.5). A missing or empty file is created with a header.
 * The writer holds an exclusive flock(2) on the file until it is closed or
 * abandoned, so two writers never interleave; a second one gets MT_E_BUSY
 * at once rather than waiting. The existing blocks' headers are read from
 * offset 16 (their payloads are not): an index block and trailer at the
 * end are dropped and written again at close over old and new blocks; a
 * block or header cut short at the very end (a writer that crashed) is
 * dropped, as a reader following the file would ignore it. Each kind's
 * sequence numbers go on from the blocks found, and the header's minor
 * version is raised to this writer's when it is older. Flushed blocks
 * stay in the file whatever happens later: mt_writer_abandon() leaves it
 * as a crash would (no index), which readers take as a file still open.
 * @return 0; MT_E_BUSY (another writer holds the lock); MT_E_NOTSNAP (not
 * a memtrace snapshot), MT_E_VERSION (a newer major version), MT_E_DAMAGED
 * (a block header that is not sound before the end: diag->offset says
 * where; nothing is changed, since appending would hide later blocks);
 * MT_E_IO (diag names the system error), MT_E_NOMEM. */
int mt_writer_append(const char *path, const mt_writer_opts *opts, mt_writer **out, mt_diag *diag);

/* Appends one record of the given kind; rec points to the struct of that
 * kind (mt_object for MT_KIND_OBJECT, ...). Strings are copied. An error
 * is sticky: every later call returns it.
 * @return 0, MT_E_INVAL for an unknown kind, MT_E_IO, MT_E_NOMEM. */
int mt_writer_add(mt_writer *w, mt_kind kind, const void *rec);

/* Convenience: one meta entry with a string, unsigned or float value. */
int mt_writer_meta_str(mt_writer *w, const char *key, const char *value);
int mt_writer_meta_uint(mt_writer *w, const char *key, uint64_t value);
int mt_writer_meta_float(mt_writer *w, const char *key, double value);

/* Records of this kind added so far. For MT_KIND_OBJECT that is the dense
 * index the next object gets. */
uint64_t mt_writer_count(const mt_writer *w, mt_kind kind);

/* Finishes and writes every unfinished block, so that everything added so
 * far survives a crash (the data reaches the kernel; no fsync).
 * @return 0, or the sticky error. */
int mt_writer_flush(mt_writer *w);

/* Flushes, writes the footer index and trailer, closes the file and frees
 * w (also when it fails). NULL is a no-op returning 0.
 * @return 0, or the first error met during the writer's life. */
int mt_writer_close(mt_writer *w, mt_diag *diag);

/* Frees w without writing what is unfinished, the index or the trailer,
 * and removes the temporary file: the target keeps what it held before.
 * With publish_on_flush, after a flush published the file, the target is
 * left as a crash would leave it (its flushed blocks, no index). For
 * giving up and for tests. NULL is a no-op. */
void mt_writer_abandon(mt_writer *w);

/* ------------------------------------------------------------------ */
/* Reader                                                               */

typedef struct mt_reader mt_reader;

/* Block status after open's structural check. */
typedef enum mt_block_status {
    MT_BLOCK_OK = 0,       /* header valid; payload checked when opened */
    MT_BLOCK_DAMAGED = 1   /* header or payload failed validation */
} mt_block_status;

/* One data block, as listed by the index or found by scanning. */
typedef struct mt_block_info {
    uint64_t offset;       /* of the block's sync marker */
    uint64_t first;        /* sequence number of its first record */
    uint32_t count;        /* records in it */
    uint32_t stored;       /* payload bytes (the zstd frame) */
    uint32_t raw;          /* payload bytes after decompression */
    uint16_t kind;
    uint16_t status;       /* mt_block_status */
} mt_block_info;

/* A stretch of the file that could not be used. */
typedef struct mt_damage {
    int code;              /* MT_E_* */
    int64_t block;         /* block index, -1 if the bytes hold no block */
    uint64_t offset;       /* where the damage starts */
    uint64_t length;       /* bytes that could not be used */
    int kind;              /* record kind lost, 0 if unknown */
    uint64_t first;        /* first record lost, if records is not 0 */
    uint64_t records;      /* records lost, 0 if unknown */
    char msg[200];         /* what is wrong: lowercase, no full stop */
} mt_damage;

/* Maps path and checks its header, trailer, index and every block header.
 * Damage found here (and later, when blocks are opened) is listed by
 * mt_reader_damage(); open itself fails only when nothing can be read.
 * @return 0, or MT_E_IO, MT_E_NOTSNAP (bad magic or empty file),
 *         MT_E_VERSION (a newer major version; msg names both),
 *         MT_E_NOMEM. */
int mt_reader_open(const char *path, mt_reader **out, mt_diag *diag);

/* Opens a file that may still be being written (a sampler's run file,
 * SPEC.md 3.4): as mt_reader_open, except that in a file without its
 * trailer a final block, or block header, cut short at the very end is
 * left out as not yet written, and the missing index is not damage.
 * mt_reader_pending() says how many bytes were left out. A closed file
 * opens exactly as with mt_reader_open. Same errors. */
int mt_reader_open_growing(const char *path, mt_reader **out, mt_diag *diag);

/* Bytes at the end of a growing file left out as not yet written; 0 for
 * a reader from mt_reader_open. */
uint64_t mt_reader_pending(const mt_reader *r);

/* Same over a caller-owned buffer that must outlive the reader; name is
 * used in messages. */
int mt_reader_open_mem(const void *data, size_t size, const char *name,
                       mt_reader **out, mt_diag *diag);

/* Same over a buffer holding a file that may still be being written, as
 * mt_reader_open_growing() reads one: for a reader that maps a large file
 * (a trace) rather than reading it whole into memory. */
int mt_reader_open_mem_growing(const void *data, size_t size, const char *name,
                               mt_reader **out, mt_diag *diag);

/* Unmaps and frees. NULL is a no-op. */
void mt_reader_free(mt_reader *r);

/* Format version of the file. */
void mt_reader_version(const mt_reader *r, unsigned *major, unsigned *minor);

/* Size of the file in bytes. */
uint64_t mt_reader_size(const mt_reader *r);

/* 1 when the file ends with a valid index and trailer (it was closed). */
int mt_reader_closed(const mt_reader *r);

/* Data blocks in file order; the index block is not among them. */
size_t mt_reader_block_count(const mt_reader *r);
const mt_block_info *mt_reader_block(const mt_reader *r, size_t i);

/* Damage found so far, in the order it was found. */
size_t mt_reader_damage_count(const mt_reader *r);
const mt_damage *mt_reader_damage(const mt_reader *r, size_t i);

/* The most records of kind that `stored` bytes of a block's payload can
 * hold: stored * MT_MAX_RAW_RATIO raw bytes, each record at least its
 * array header and one byte per required field (SPEC.md 6.1). A reader
 * bounds what a damaged stretch may have held by this, so that what it
 * allocates stays in proportion to the file. */
uint64_t mt_block_max_records(mt_kind kind, uint64_t stored);

/* Fills diag from d: its block, offset, kind and message, under code.
 * @return code, so that a failing path can end in a return of it. */
int mt_damage_diag(const mt_damage *d, int code, mt_diag *diag);

/* Records a damaged block found by a caller (a record that fails a check
 * only the caller can make, such as a reference past the last object):
 * marks block i damaged and lists it. */
void mt_reader_block_fail(mt_reader *r, size_t i, int code, const char *msg);

/* Starts one background thread that decompresses the given blocks, in
 * that order, into a few buffers of its own, so that while the caller
 * decodes one block the next is being decompressed. mt_reader_block_open()
 * takes a prefetched block when it is the next in the order and otherwise
 * decompresses as usual, so the results never differ; damage is reported
 * by mt_reader_block_open() as without prefetching. A new call replaces
 * the previous order; mt_reader_free() stops the thread. Blocks holding
 * less than 1 MiB in all are not worth a thread and are left alone.
 * Memory: at most 4 decompressed blocks beyond the reader's own.
 * @return 0 (also when no thread could be started: then nothing changes),
 *         MT_E_INVAL for a block number out of range, MT_E_NOMEM. */
int mt_reader_prefetch(mt_reader *r, const size_t *blocks, size_t n);

/* Iterates the records of one block. Filled by mt_reader_block_open(). */
typedef struct mt_cursor {
    const uint8_t *p, *end;  /* remaining decompressed payload */
    uint64_t index;          /* records decoded so far */
    uint32_t count;          /* records in the block */
    uint16_t kind;
    size_t block;
    mt_reader *reader;
} mt_cursor;

/* Decompresses block i into the reader's buffer and points c at its first
 * record. The previous cursor of this reader becomes invalid. A damaged
 * block is listed by mt_reader_damage() and marked in its info.
 * @return 0, or MT_E_CHECKSUM, MT_E_CORRUPT, MT_E_LIMIT, MT_E_NOMEM. */
int mt_reader_block_open(mt_reader *r, size_t i, mt_cursor *c,
                         mt_diag *diag);

/* Decodes the next record into rec, which must be the struct of the
 * block's kind (an mt_record's union fits all). Strings in rec point into
 * the reader's buffer until the next mt_reader_block_open(). Records of a
 * kind this version does not know are counted but not decoded: rec is
 * left alone. On error the block is marked damaged.
 * @return 1 when a record was decoded, 0 at the end of the block, or
 *         MT_E_MSGPACK, MT_E_RECORD (diag has the offset in the block). */
int mt_cursor_next(mt_cursor *c, void *rec, mt_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
