/* Telling leaks from growth: generations of objects across a series of
 * snapshots, and the containers leaked objects accumulate in (the trend
 * statistics it rests on are memtrace/trend.h). */
#ifndef MEMTRACE_LEAKS_H
#define MEMTRACE_LEAKS_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"
#include "memtrace/graph.h"
#include "memtrace/snapshot.h"
#include "memtrace/trend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- generations, whatever the objects come from ---- */

typedef struct mt_generations mt_generations;

/* A tracker of birth generations: feed it one snapshot's identities after
 * another, in time order. */
int mt_generations_new(mt_generations **out);
void mt_generations_free(mt_generations *g);

/* Takes snapshot number k (0, 1, ... in calls) as n identity keys and
 * writes each one's birth generation: the first snapshot from which it
 * has been present without a break. Duplicate keys in one snapshot share
 * a birth. @return 0, or MT_E_NOMEM (the tracker is then unusable). */
int mt_generations_next(mt_generations *g, const uint64_t *keys, uint32_t n, uint32_t *birth);

/* An object's identity key: its id, its type's name and, for types whose
 * objects cannot change size (not list, dict, set, bytearray, deque, ...),
 * its size, hashed. The size tells most reused addresses apart; callers
 * pass 0 for an object flagged MT_OBJ_SIZE_VARIES. */
uint64_t mt_identity_key(uint64_t id, mt_str type, uint64_t size);

/* ---- the leak analysis (heap/leaks.c) ---- */

typedef enum mt_leak_verdict {
    MT_LEAK_NONE = 0,       /* not growing */
    MT_LEAK_SUSPECT,        /* growing steadily, every generation leaving survivors */
    MT_LEAK_PLATEAU,        /* grew, then stopped: a cache that filled */
    MT_LEAK_ONE_TIME,       /* most growth in one step, little since: a load */
    MT_LEAK_NOISE           /* grew without a monotonic trend */
} mt_leak_verdict;

/* "none", "suspect", "plateau", "one-time", "noise"; "?" for a value out
 * of range. */
const char *mt_leak_verdict_name(mt_leak_verdict v);
/* The verdict named name, as mt_leak_verdict_name() spells it.
 * @return 0 and *out, or MT_E_INVAL for a name not in the list (*out is
 *         left as it was). */
int mt_leak_verdict_from_name(const char *name, mt_leak_verdict *out);

typedef struct mt_leak_group {
    const char *type;            /* owned by mt_leaks */
    uint64_t *count, *bytes;     /* [n_snapshots] series */
    double count_slope, bytes_slope; /* Theil-Sen, per snapshot */
    double late_slope;           /* Theil-Sen of counts over the later half */
    size_t late_from;            /* the snapshot the later half starts at */
    size_t jump_at;              /* of a growing group, the snapshot k whose step
                                    k - 1 -> k added the most objects */
    mt_mann_kendall mk;          /* of the counts */
    uint64_t *survivors;         /* [n_snapshots]: last snapshot's objects by birth */
    uint32_t surviving_generations; /* births among them, generation 0 included */
    uint32_t leaving_generations;   /* generations 1.. that left survivors */
    mt_leak_verdict verdict;
    double confidence;           /* 0..1, for suspects */
    /* Where its new-generation survivors accumulate, in the last snapshot:
     * the nearest dominator born in generation 0 (UINT32_MAX: none). */
    uint32_t point;
    uint64_t point_objects;      /* its new-generation survivors there */
    uint32_t site;               /* the allocation stack of the first of them found, 0 if none */
} mt_leak_group;

/* One place leaked objects accumulate: the suspect groups whose
 * new-generation survivors it dominates, merged. */
typedef struct mt_leak_suspect {
    uint32_t point;              /* object in the last snapshot; UINT32_MAX: none */
    size_t group;                /* the group most often directly under it */
    size_t *groups;              /* every suspect group accumulating here */
    size_t n_groups;
    uint64_t *gen_objects, *gen_bytes; /* [n_snapshots]: its survivors by birth */
    uint64_t objects_per_snapshot, bytes_per_snapshot; /* medians over generations 1.. */
    /* The representative group's own new objects there, median over
     * generations 1..: "+500 Logger objects", not the whole group's. */
    uint64_t type_objects_per_snapshot;
    /* The point's retained bytes in each snapshot, where it is found by
     * identity (0 where it is not); NULL for a suspect without a point. */
    uint64_t *retained;
    double retained_slope;       /* Theil-Sen of retained, bytes a snapshot */
    /* Further points the same cause explains (their new objects refer to
     * this one's, or this one's to theirs), merged into this suspect. */
    uint32_t *also;
    size_t n_also;
    double p;                    /* Mann-Kendall p of the representative group */
    double confidence;
    double score;                /* bytes_per_snapshot * confidence: the rank */
} mt_leak_suspect;

typedef struct mt_leaks {
    size_t n_snapshots;
    size_t n_groups;
    mt_leak_group *groups;       /* in no particular order */
    /* The groups that grew but are no leak (verdict MT_LEAK_PLATEAU or
     * later), as indices into groups: most bytes per snapshot
     * (bytes_slope) first, ties by index. */
    size_t n_growing;
    size_t *growing;
    size_t n_suspects;
    mt_leak_suspect *suspects;   /* highest score (bytes a snapshot times confidence) first */
    /* Per snapshot: the objects' total bytes, and the process's RSS from
     * its "rss" meta (0 where it has none). */
    uint64_t *heap_bytes, *rss;
    uint64_t floor;              /* the noise floor the analysis used */
    /* From the first snapshot to the last: RSS and heap growth (0 when a
     * snapshot lacks its RSS), the RSS growth the objects leave
     * unaccounted, and whether it is clearly more than the heap's:
     * mt_rss_outgrew_heap's rule (diff.h): MT_NATIVE_MIN_BYTES and twice the
     * heap's, memory that C code holds where no object shows it. */
    int64_t rss_growth, heap_growth, unaccounted;
    int native_growth;
    mt_dominators dom;           /* of the last snapshot */
    uint32_t *birth;             /* [objects of the last snapshot] */
    void *impl;
} mt_leaks;

/* The default noise floor: 4 KiB a snapshot. Growth of a few hundred
 * bytes to 2 KiB a snapshot (interned strings, a module's lazily filled
 * caches) is steady enough for confidence 1.00 and is no leak worth a
 * report. */
#define MT_LEAKS_FLOOR 4096u

/* Unaccounted RSS growth below this (16 MiB) is allocator slack, not
 * native memory worth a warning. */

typedef struct mt_leaks_opts {
    double alpha;                /* significance of the trend; 0: 0.05 */
    uint64_t min_growth;         /* bytes a group must gain to be judged; 0: 1 */
    /* The noise floor: bytes a snapshot a suspect's new objects must add
     * (bytes_per_snapshot, after causes are merged); 0: MT_LEAKS_FLOOR,
     * 1: only suspects that add nothing are dropped. A point must also
     * grow in retained bytes to hold a suspect, whatever the floor. */
    uint64_t floor;
    /* If set, called with each snapshot as soon as it is loaded (before
     * the earlier ones are freed), e.g. to report what a salvage dropped. */
    void (*loaded)(void *ctx, const char *path, const mt_snapshot *s);
    void *ctx;
} mt_leaks_opts;

/* Runs the analysis over snapshot paths in time order (n >= 3), loading
 * one at a time; the last is kept (*last, with labels) for paths and
 * reports. Objects are matched by mt_identity_key(). A point becomes a
 * suspect only when it holds survivors of the first later generation and
 * of two thirds of the later ones (an LRU cache evicts its oldest), and
 * when its own retained bytes still grow over the later half of the
 * series and rose in two thirds of the steps or more (a cache that stays
 * full is no leak whatever its entries' types do), and it must add the
 * floor a snapshot or more:
 * the earlier snapshots are loaded a second time, with their references,
 * to find it and its retained size in each. Suspects whose new objects
 * refer to each other's are one cause, merged into the one with more
 * bytes a snapshot.
 * @return 0, or MT_E_INVAL (fewer than 3), the load's errors (diag->file
 *         names the snapshot), MT_E_NOMEM. */
int mt_leaks_compute(const char *const *paths, size_t n, unsigned load_flags, const mt_leaks_opts *opts,
                     mt_leaks *out, mt_snapshot **last, mt_diag *diag);

/* Frees what out holds. Safe on an empty one. */
void mt_leaks_free(mt_leaks *out);

/* ---- the report's words (memtrace-leaks and memtrace.analyze) ---- */

/* How a group that grows without leaking is labelled: "plateaued",
 * "one-time", "no trend"; "" for MT_LEAK_NONE and MT_LEAK_SUSPECT. */
const char *mt_leak_growth_label(mt_leak_verdict v);

/* Why group g of a series of n snapshots (n >= 2) grows without leaking,
 * one sentence into buf (len bytes, always NUL-terminated, cut to fit):
 * "grew by 300 objects (+17.6 KiB), then stopped: ...". */
void mt_leak_group_reason(const mt_leak_group *g, size_t n, char *buf, size_t len);

/* Why suspect k of L is one, one sentence into buf as above: its type's
 * trend, the generations that left survivors and the type of the
 * container they accumulate in (an object of last, the snapshot
 * mt_leaks_compute kept). */
void mt_leak_suspect_reason(const mt_leaks *L, const mt_snapshot *last, size_t k, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
