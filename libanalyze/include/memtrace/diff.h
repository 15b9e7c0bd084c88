/* Comparing two snapshots group by group: what grew, what is new, what was
 * freed. */
#ifndef MEMTRACE_DIFF_H
#define MEMTRACE_DIFF_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"
#include "memtrace/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the rows group by, and where their counts and bytes come from. */
typedef enum mt_group_by {
    MT_BY_TYPE = 0,    /* objects by qualified type name */
    MT_BY_MODULE,      /* objects by the module part of the type name ("builtins" without one) */
    MT_BY_SITE,        /* "file:line" of the innermost allocation frame */
    MT_BY_TRACEBACK,   /* every frame of the allocation, innermost first */
    MT_BY_COLUMN,      /* DataFrame columns, "frame.column": real bytes (mt_df_col_real_bytes), rows */
    MT_BY_DEVICE       /* GPU segments, "gpuN/pool": reserved bytes, segments */
} mt_group_by;

/* "type", "module", "site", "traceback", "column", "device"; "?" for a
 * value out of range. */
const char *mt_group_by_name(mt_group_by by);
/* The grouping named name, as mt_group_by_name() spells it.
 * @return 0 and *out, or MT_E_INVAL for a name not in the list. */
int mt_group_by_from_name(const char *name, mt_group_by *out);

/* Whether s holds what grouping by `by` needs: objects for type and
 * module; for site and traceback, objects that carry a stack or else
 * allocation records; DataFrame columns; GPU segments.
 * @return 0, or MT_E_NOTFOUND with diag saying what is missing. */
int mt_diff_check(const mt_snapshot *s, mt_group_by by, mt_diag *diag);

/* Whether the pair can be grouped by `by`: both must pass mt_diff_check,
 * except for sites, where one is enough (the other then has none).
 * @return 0, or MT_E_NOTFOUND with *side (0 for a, 1 for b) naming the
 *         snapshot that lacks them and diag saying what is missing. */
int mt_diff_check_pair(const mt_snapshot *a, const mt_snapshot *b, mt_group_by by, int *side, mt_diag *diag);

/* Whether a and b come from the same process (equal meta "pid" and
 * "host"), so that objects can be matched by identity. */
int mt_diff_same_process(const mt_snapshot *a, const mt_snapshot *b);

typedef struct mt_diff_row {
    const char *group;         /* owned by the diff */
    uint64_t count_a, bytes_a; /* in the first snapshot */
    uint64_t count_b, bytes_b; /* in the second */
    /* Only when mt_diff.matched: objects in b only, in a only, in both
     * (bytes as in b). */
    uint64_t new_count, new_bytes;
    uint64_t freed_count, freed_bytes;
    uint64_t kept_count, kept_bytes;
} mt_diff_row;

typedef struct mt_diff {
    mt_group_by by;
    int matched;               /* objects were matched by id and type */
    size_t n_rows;
    mt_diff_row *rows;
    mt_diff_row total;         /* over every row; group is "total" */
    void *impl;                /* the group names and the table behind them */
} mt_diff;

/* Groups a and b by `by` and fills d (caller-owned). Objects are matched
 * by identity (id, type name and group: an id reused for another site is
 * two objects) when both come from the same process
 * and the groups are made of objects. Lost placeholders are left out.
 * Rows come in no particular order; sort them with mt_diff_sort().
 * @return 0, or MT_E_NOTFOUND (see mt_diff_check_pair; the message says
 *         which snapshot), what mt_snapshot_each()
 *         returns, MT_E_NOMEM. */
int mt_diff_compute(const mt_snapshot *a, const mt_snapshot *b, mt_group_by by, mt_diff *d, mt_diag *diag);

typedef enum mt_diff_key {
    MT_DIFF_BY_DELTA = 0,      /* bytes gained, most first (losses last) */
    MT_DIFF_BY_BYTES,          /* bytes in b */
    MT_DIFF_BY_COUNT           /* count in b */
} mt_diff_key;

/* "delta", "bytes", "count"; "?" for a value out of range. */
const char *mt_diff_key_name(mt_diff_key key);
/* The sort key named name, as mt_diff_key_name() spells it.
 * @return 0 and *out, or MT_E_INVAL for a name not in the list (*out is
 *         left as it was). */
int mt_diff_key_from_name(const char *name, mt_diff_key *out);

/* Sorts the rows, larger first, ties by group name. */
void mt_diff_sort(mt_diff *d, mt_diff_key key);

/* Frees what d holds and empties it. Safe on an empty d. */
void mt_diff_free(mt_diff *d);

/* ---- resident memory against the heap ---- */

/* What a snapshot's process held resident (meta "rss", written by the
 * collector at the dump) beside what its objects account for. */
typedef struct mt_rss_heap {
    int has_rss;               /* both snapshots recorded an rss */
    uint64_t rss_a, rss_b;     /* bytes; 0 when not recorded */
    uint64_t heap_a, heap_b;   /* the objects' bytes, lost ones left out */
    int64_t unaccounted;       /* rss growth beyond heap growth (may be < 0) */
    int native;                /* rss clearly outgrew the heap: native memory */
} mt_rss_heap;

/* rss less heap: what a process's objects leave unaccounted of its
 * resident size (memtrace-info's and memtrace-diff's unaccounted bytes),
 * saturated to int64; negative when the objects' sizes add up to more
 * than rss. No side effects. */
int64_t mt_rss_unaccounted(uint64_t rss, uint64_t heap);

/* The heap's bytes in s: the sizes of its objects, lost placeholders left
 * out, saturating at UINT64_MAX. */
uint64_t mt_heap_bytes(const mt_snapshot *s);

/* 1 when rss_growth (bytes, may be negative) clearly outgrew heap_growth:
 * by at least MT_NATIVE_MIN_BYTES more than the heap and by at least
 * twice the heap's growth. The one rule of memtrace-diff's and
 * memtrace-leaks' native-memory notes. No side effects. */
int mt_rss_outgrew_heap(double rss_growth, double heap_growth);

/* Compares a's and b's rss growth with their heap growth. native is set
 * when mt_rss_outgrew_heap says so: memory that no Python object holds
 * (a C extension's buffers, malloc'd by native code), which a heap dump
 * cannot show. Allocator slack stays under that: a heap growth of H costs
 * at most about 2H of rss in pymalloc's arenas and glibc's heap. */
void mt_rss_heap_compare(const mt_snapshot *a, const mt_snapshot *b, mt_rss_heap *out);

/* The same from the four figures (an rss of 0: not recorded), for a
 * caller that read them already (memtrace-leaks, over a series). */
void mt_rss_heap_figures(mt_rss_heap *out, uint64_t rss_a, uint64_t rss_b, uint64_t heap_a, uint64_t heap_b);

#define MT_NATIVE_MIN_BYTES (16u << 20)

#ifdef __cplusplus
}
#endif
#endif
