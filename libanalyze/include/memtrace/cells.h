/* A notebook's cell log (libanalyze/src/cells/; SPEC.md 4.4): every
 * executed cell in file order with its memory figures, frames, GPU
 * figures and gc type deltas, the kernel sessions, and the cells whose
 * re-runs keep memory. For memtrace-cells and memtrace-plot cells. */
#ifndef MEMTRACE_CELLS_H
#define MEMTRACE_CELLS_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_cells mt_cells;

/* How a cell ended (nb_cells `status`; "" reads as ok). A status this
 * version does not know reads as an error. */
typedef enum mt_cell_status { MT_CELL_OK = 0, MT_CELL_ERROR, MT_CELL_INTERRUPTED } mt_cell_status;

/* How well rss_peak is known (nb_cells `flags`). */
typedef enum mt_cell_peak { MT_CELL_PEAK_UNKNOWN = 0, MT_CELL_PEAK_IS_EXACT, MT_CELL_PEAK_IS_SAMPLED } mt_cell_peak;

/* A DataFrame the cell created or grew (df_frames with step "cell:ID"). */
typedef struct mt_cell_frame {
    const char *name;
    uint64_t rows;
    uint32_t columns;
    uint64_t deep_bytes;    /* pandas' memory_usage(deep=True): a shared object at every row */
    int estimated;          /* MT_FRAME_DEEP_EST */
    uint64_t real_bytes;    /* what the frame holds, each object once (SPEC.md 4.3); 0: not recorded */
    uint64_t shared_bytes;  /*   of which a frame recorded before it in the cell also holds */
    int real_estimated;     /* MT_FRAME_REAL_EST */
} mt_cell_frame;

/* One CUDA device's figures after the cell (samples gpuN.*); NaN where the
 * cell has no such sample. */
typedef struct mt_cell_gpu {
    uint32_t device;
    double allocated, reserved, peak_allocated;
} mt_cell_gpu;

/* The change of the gc's count of one type since its last count in the
 * same session (samples gc.TYPE). A type's first count in a session is
 * its baseline and gets no delta: a restart starts the counts again. */
typedef struct mt_cell_type {
    const char *type;       /* without "gc." */
    int64_t delta;
} mt_cell_type;

typedef struct mt_cell {
    uint32_t id, exec_count, session;
    const char *source;     /* as stored, NUL-terminated (source_len bytes) */
    size_t source_len;
    const char *source_hash;
    const char *error;      /* "" when none */
    mt_cell_status status;
    uint64_t start_ns, end_ns;
    uint64_t wall_ns;       /* end - start; 0 when end is before start */
    uint64_t rss_before, rss_after, rss_peak;
    mt_cell_peak peak;      /* UNKNOWN: rss_peak means nothing */
    int64_t retained;       /* rss_after - rss_before */
    int64_t peak_rise;      /* rss_peak - rss_before; 0 when the peak is unknown */
    uint32_t flags;         /* MT_CELL_* as stored */
    int traced;             /* MT_CELL_TRACED: the traced_* hold tracemalloc's figures */
    uint64_t traced_before, traced_after, traced_peak;
    uint64_t overhead_ns;
    const mt_cell_frame *frames;
    size_t n_frames;
    const mt_cell_gpu *gpu; /* by device */
    size_t n_gpu;
    const mt_cell_type *types; /* by type name */
    size_t n_types;
} mt_cell;

/* One kernel session (a `session` event, or cells that name it). */
typedef struct mt_cell_session {
    uint32_t session;
    const char *kernel;     /* the event's name; "" without an event */
    const char *detail;     /* what ran it */
    uint64_t start_ns;      /* the event's time, else its first cell's start */
    size_t n_cells;
    int ended;              /* a session_end followed its session event */
    uint64_t peak;          /* highest of its cells' mt_cell_peak_or_after() */
    int64_t retained;       /* its cells' retained, summed */
    /* A session that did not end cleanly whose last cell_start event names
     * a cell that has no record: the cell it was running when it died (an
     * OOM kill, a crash); 0 when none. */
    uint32_t died_in;
    const char *died_source;   /* that cell's first line */
    uint64_t died_start_ns;
    uint64_t died_rss_before;  /* rss when it started */
} mt_cell_session;

/* Loads the cell log at path; a file still being written or left
 * unclosed by a killed kernel is read up to its last whole block.
 * @return 0, or what mt_snapshot_load() returns (diag->file names path),
 *         MT_E_NOTFOUND (no nb_cells records: not a cell log), MT_E_NOMEM. */
int mt_cells_load(const char *path, mt_cells **out, mt_diag *diag);

/* NULL is a no-op. */
void mt_cells_free(mt_cells *c);

/* Cells in file order (the order they ran), *n of them; owned by c. */
const mt_cell *mt_cells_list(const mt_cells *c, size_t *n);

/* Sessions by number, *n of them; owned by c. */
const mt_cell_session *mt_cells_sessions(const mt_cells *c, size_t *n);

/* 1 when the file ends with its index (its last writer closed it). */
int mt_cells_closed(const mt_cells *c);

/* The cell's rss_peak, or rss_after when the peak is unknown: the figure
 * sorting and session peaks use. */
uint64_t mt_cell_peak_or_after(const mt_cell *cell);

/* What a run kept, as growing cells judge it: the larger of its rss
 * growth and, when tracemalloc traced it, its traced growth. rss misses
 * a leak that fills memory the allocator already held (a list of arrays
 * refilling what a freed frame left); tracemalloc misses what C code
 * allocates past Python's allocators: either one seeing it is enough. */
int64_t mt_cell_kept(const mt_cell *cell);

/* "ok", "error", "interrupted". */
const char *mt_cell_status_name(mt_cell_status s);

typedef enum mt_cells_order {
    MT_CELLS_BY_ID = 0,    /* file order */
    MT_CELLS_BY_PEAK,      /* mt_cell_peak_or_after, highest first */
    MT_CELLS_BY_RETAINED,  /* most retained first */
    MT_CELLS_BY_WALL       /* longest first */
} mt_cells_order;

/* "id", "peak", "retained", "wall"; and back (MT_E_INVAL for another name). */
const char *mt_cells_order_name(mt_cells_order o);
int mt_cells_order_from_name(const char *name, mt_cells_order *out);

/* Fills order (one entry a cell, the caller's) with the indices of the
 * cells of mt_cells_list() sorted by by; ties in file order. O(n log n).
 * @return 0, or MT_E_NOMEM (order is then in file order). */
int mt_cells_sort(const mt_cells *c, mt_cells_order by, uint32_t *order);

/* A cell whose re-runs in one session keep memory. */
typedef struct mt_cell_growth {
    const char *source;      /* its first run's source */
    const char *source_hash;
    uint32_t session;
    const uint32_t *runs;    /* indices into mt_cells_list(), file order */
    size_t n_runs;           /* every run in the session */
    size_t n_kept;           /* the runs that retained more than the threshold */
    double kept_mean;        /* mean of those runs' retained bytes */
    double kept_sd;          /* their sample standard deviation (0 for one) */
    int64_t total;           /* every run's retained, summed */
    const mt_cell_type *types; /* gc types whose counts grew over the runs, most first */
    size_t n_types;
    size_t n_elsewhere;      /* runs of the same cell in other sessions */
} mt_cell_growth;

typedef struct mt_cell_growth_set {
    mt_cell_growth *g;       /* by total, most first; ties by first run */
    size_t n;
    uint32_t *runs_;         /* storage the groups point into */
    mt_cell_type *types_;
} mt_cell_growth_set;

/* The default threshold: a run keeps memory when it retains more. */
#define MT_CELLS_DEFAULT_THRESHOLD (1024u * 1024u)

/* Finds the growing cells of c: runs of one cell (same source_hash, or
 * the same source when it has none) grouped by session, since a restart
 * frees everything; a group is reported when at least 2 of its runs each
 * retained more than threshold bytes. O(n log n). Free with
 * mt_cell_growth_free().
 * @return 0, or MT_E_NOMEM (*out empty). */
int mt_cells_growing(const mt_cells *c, uint64_t threshold, mt_cell_growth_set *out, mt_diag *diag);

/* Frees what mt_cells_growing() filled; an empty or zeroed set is a no-op. */
void mt_cell_growth_free(mt_cell_growth_set *set);

#ifdef __cplusplus
}
#endif
#endif
