/* The snapshot's insides, shared by the files of libanalyze that read it
 * directly. Not installed. */
#ifndef MT_SNAPSHOT_IMPL_H
#define MT_SNAPSHOT_IMPL_H

#include "memtrace/snapshot.h"

struct mt_snapshot {
    uint32_t n_objects;
    size_t cap_objects;
    uint64_t *id, *size;
    uint32_t *type, *flags, *stack, *gen;

    uint64_t n_refs;
    uint32_t *out_off, *out_dst, *in_off, *in_src;
    void *labels;        /* label_ent[], sorted by CSR position */
    size_t n_labels, cap_labels;

    uint32_t n_types;
    size_t cap_types;
    mt_str *type_names;

    uint32_t n_roots;
    size_t cap_roots;
    uint32_t *root_obj;
    mt_str *root_kind, *root_name;

    mt_meta *meta;
    size_t n_meta, cap_meta;

    char *pool;          /* every string the snapshot keeps */
    size_t pool_len, pool_cap;

    mt_kind_stat kinds[MT_KIND_MAX + 1];
    mt_kind_stat kind_list[MT_KIND_MAX + 1];
    size_t n_kind_list;
    uint64_t file_size, n_blocks, pending;
    int closed;
    unsigned major, minor;
    mt_damage *damage;
    size_t n_damage;
    uint64_t dropped_refs, lost_objects;

    mt_reader *reader;   /* kept open for mt_snapshot_each() and save */
    mt_graph graph;      /* filled once the load has succeeded */
};

#endif
