/* A heap snapshot loaded into flat arrays.
 *
 * Objects are numbered densely 0..n-1 in file order; every per-object
 * property is one array indexed by that number, and references are stored
 * both ways as CSR adjacency (offsets plus targets). With 32-bit indices
 * the graph costs 32 bytes per object and 8 per reference. */
#ifndef MEMTRACE_SNAPSHOT_H
#define MEMTRACE_SNAPSHOT_H

#include <stdint.h>
#include <stdio.h>
#include "memtrace/format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_snapshot mt_snapshot;

/* Load flags. */
#define MT_LOAD_REFS 0x1u    /* build the reference graph (CSR both ways) */
#define MT_LOAD_LABELS 0x2u  /* keep reference labels (implies REFS) */
#define MT_LOAD_SALVAGE 0x4u /* use every intact block of a damaged file */
/* The file may still be being written (a sampler's run file): an
 * unclosed file's unfinished final block is left out, not damage, and
 * its missing index is not damage (mt_reader_open_growing). */
#define MT_LOAD_GROWING 0x8u

/* The high bit of an adjacency entry marks a weak reference; mask it off
 * with MT_GRAPH_INDEX to get the object. */
#define MT_GRAPH_WEAK 0x80000000u
#define MT_GRAPH_INDEX 0x7fffffffu

/* Most objects a snapshot can hold: indices keep a bit for MT_GRAPH_WEAK. */
#define MT_MAX_OBJECTS 0x7fffffffu

/* The loaded graph. Arrays are owned by the snapshot and valid until
 * mt_snapshot_free(). */
typedef struct mt_graph {
    uint32_t n_objects;
    const uint64_t *id;      /* identity in the process */
    const uint32_t *type;    /* index into type_names */
    const uint64_t *size;
    const uint32_t *flags;   /* MT_OBJ_* (MT_OBJ_LOST for a lost object) */
    const uint32_t *stack;   /* allocation stack id; NULL when none has one */
    const uint32_t *gen;     /* GC generation; NULL when none has one */

    uint64_t n_refs;         /* 0 unless loaded with MT_LOAD_REFS */
    const uint32_t *out_off; /* [n_objects + 1]: out-edges of i are */
    const uint32_t *out_dst; /*   out_dst[out_off[i] .. out_off[i+1]) */
    const uint32_t *in_off;  /* [n_objects + 1]: in-edges likewise */
    const uint32_t *in_src;

    uint32_t n_types;
    const mt_str *type_names;

    uint32_t n_roots;
    const uint32_t *root_obj;
    const mt_str *root_kind;
    const mt_str *root_name; /* empty when the root has no name */
} mt_graph;

/* Records, blocks and bytes of one kind in the file. */
typedef struct mt_kind_stat {
    int kind;                /* 0 gathers kinds this version does not know */
    uint64_t blocks;
    uint64_t records;
    uint64_t stored;         /* compressed payload bytes, headers included */
    uint64_t raw;            /* decompressed payload bytes */
} mt_kind_stat;

/* Loads path. Without MT_LOAD_SALVAGE any damage fails the load with
 * MT_E_DAMAGED and diag naming the first damaged block, its offset and
 * kind. With it, every intact block is used: objects of lost blocks stay
 * as placeholders (MT_OBJ_LOST, type "<lost>") so that indices hold, and
 * references to objects past the last known one are dropped and counted.
 * Every block is decompressed and every record checked either way.
 * @return 0, or MT_E_IO, MT_E_NOTSNAP, MT_E_VERSION, MT_E_DAMAGED,
 *         MT_E_LIMIT (more than MT_MAX_OBJECTS objects or 2^32 refs),
 *         MT_E_NOMEM. */
int mt_snapshot_load(const char *path, unsigned flags, mt_snapshot **out,
                     mt_diag *diag);

/* Same over a caller-owned buffer that must outlive the snapshot. */
int mt_snapshot_load_mem(const void *data, size_t size, const char *name,
                         unsigned flags, mt_snapshot **out, mt_diag *diag);

/* NULL is a no-op. */
void mt_snapshot_free(mt_snapshot *s);

/* The graph; never NULL. */
const mt_graph *mt_snapshot_graph(const mt_snapshot *s);

/* Label of out-edge e (an index into out_dst); empty when it has none or
 * labels were not loaded. O(log labels). */
mt_str mt_snapshot_ref_label(const mt_snapshot *s, uint64_t e);

/* Meta entries in file order. */
size_t mt_snapshot_meta_count(const mt_snapshot *s);
const mt_meta *mt_snapshot_meta(const mt_snapshot *s, size_t i);
/* The value of the last meta entry named key, or NULL. */
const mt_value *mt_snapshot_meta_get(const mt_snapshot *s, const char *key);
/* Whether the last meta entry named key is a number: a predicate, 1 and
 * *out when it is an integer or a float, else 0 (no such entry, or not a
 * number; *out is left alone); never an error code. */
int mt_snapshot_meta_number(const mt_snapshot *s, const char *key, double *out);

/* Per-kind counts: kinds 1..MT_KIND_MAX, then 0 for unknown kinds; only
 * kinds present in the file. */
size_t mt_snapshot_kind_stats(const mt_snapshot *s, const mt_kind_stat **out);

/* File facts: size in bytes, format version, whether it was closed. */
uint64_t mt_snapshot_file_size(const mt_snapshot *s);
void mt_snapshot_version(const mt_snapshot *s, unsigned *major, unsigned *minor);
uint64_t mt_snapshot_block_count(const mt_snapshot *s);
/* 1 when the file ends with its index and trailer (its writer closed it). */
int mt_snapshot_closed(const mt_snapshot *s);
/* Under MT_LOAD_GROWING, the bytes at the end left out as not yet
 * written (a block the writer was writing); 0 otherwise. */
uint64_t mt_snapshot_pending(const mt_snapshot *s);

/* What salvage left out: the damage the reader found, and references and
 * roots dropped because they named objects past the last known one. */
size_t mt_snapshot_damage_count(const mt_snapshot *s);
const mt_damage *mt_snapshot_damage(const mt_snapshot *s, size_t i);
uint64_t mt_snapshot_dropped_refs(const mt_snapshot *s);
uint64_t mt_snapshot_lost_objects(const mt_snapshot *s);

/* Calls fn on every record of kind in the snapshot's intact blocks, in
 * file order, reading them again from the source, which the snapshot
 * keeps open (kinds the loader does not keep: frames, stacks,
 * allocations, DataFrame and GPU records). rec points to the struct of
 * that kind; its strings last until fn returns. Calls on one snapshot
 * must not overlap (they share its reader).
 * fn returns 0 to go on; anything else stops the walk and is returned
 * unchanged. So that the caller can tell fn's reason from the walk's own
 * errors, fn returns a negative MT_E_* code for a failure of its own
 * (MT_E_NOMEM, ...) and a positive value, which no MT_E_* code is, to stop
 * early on purpose.
 * @return 0, fn's nonzero return as it was, or MT_E_NOMEM, MT_E_STATE (a
 *         buffer given to mt_snapshot_load_mem changed since the load). */
typedef int (*mt_record_fn)(void *arg, const void *rec);
int mt_snapshot_each(const mt_snapshot *s, mt_kind kind, mt_record_fn fn, void *arg, mt_diag *diag);

/* Records of kind in the snapshot's intact blocks (0 when none). */
uint64_t mt_snapshot_count(const mt_snapshot *s, mt_kind kind);

/* The snapshot's GPU device records with their names copied, *n of them
 * (*out NULL when none); free with mt_gpu_devices_free().
 * @return 0, or what mt_snapshot_each() returns. */
int mt_snapshot_gpu_devices(const mt_snapshot *s, mt_gpu_device **out, size_t *n, mt_diag *diag);
void mt_gpu_devices_free(mt_gpu_device *d, size_t n);

/* Bytes a df_columns record says its column really holds (SPEC.md 4.3,
 * real_bytes): the recorded figure (1.6), or for older files its
 * shallow_bytes plus distinct_bytes for object columns (each object once)
 * and its deep_bytes for the others. Never pandas' per-row count of
 * shared objects. The record-level rule under mt_df_col_real_bytes, for
 * concerns that read df_columns without a frames table (a diff by column). */
uint64_t mt_df_column_real_bytes(const mt_df_column *rec);

/* Per-type totals. */
typedef struct mt_type_stat {
    uint32_t type;           /* index into type_names */
    uint64_t count;
    uint64_t bytes;
} mt_type_stat;

/* Fills out (caller-owned, n_types entries) with each type's object count
 * and bytes, sorted by bytes (by_bytes != 0) or count, larger first, ties
 * by name. Lost placeholders are not counted. */
void mt_snapshot_type_stats(const mt_snapshot *s, int by_bytes, mt_type_stat *out);

/* Writes the snapshot to path as a new .snap: meta, types, objects (lost
 * ones as "<lost>" placeholders), references and roots from the loaded
 * graph (load it with MT_LOAD_LABELS), and every record of every other
 * kind copied from the intact blocks of the source.
 * @return 0, or MT_E_IO, MT_E_NOMEM, MT_E_INVAL (refs were not loaded). */
int mt_snapshot_save(const mt_snapshot *s, const char *path, mt_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
