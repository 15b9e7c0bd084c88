/* What keeps objects alive: dominators, retained sizes, paths to roots and
 * cycles over a loaded snapshot's reference graph (mt_graph).
 *
 * Every analysis follows strong references only: a weak reference keeps
 * nothing alive. The roots are the snapshot's root records, all joined to
 * one virtual root. Structs are caller-owned and filled by the compute
 * functions; their arrays belong to them until the matching free. */
#ifndef MEMTRACE_GRAPH_H
#define MEMTRACE_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"
#include "memtrace/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* idom values that are not object indices. */
#define MT_DOM_ROOT 0xfffffffeu /* dominated by the virtual root only */
#define MT_DOM_NONE 0xffffffffu /* not reachable from any root */

typedef struct mt_dominators {
    uint32_t n_objects;
    uint32_t *idom;           /* [n_objects]: index, MT_DOM_ROOT or MT_DOM_NONE */
    uint64_t *retained;       /* [n_objects]: bytes freed if it were; 0 unreachable */
    uint32_t *retained_count; /* [n_objects]: objects in its dominator subtree */
    uint32_t *order;          /* [n_reachable]: reachable objects in DFS preorder */
    uint32_t n_reachable;
    uint64_t reachable_bytes;
    uint32_t n_unreachable;   /* garbage at dump time, or held by nothing known;
                                 lost placeholders are not counted here */
    uint64_t unreachable_bytes;
} mt_dominators;

/* Computes the dominator tree with the Lengauer-Tarjan algorithm, its
 * link-eval forest balanced (O(m alpha(m, n)) on every graph shape, the
 * list held by an array included; no recursion, so a chain of millions of
 * objects needs no stack), then retained sizes: each object's size plus
 * those of everything it dominates. Lost placeholders count 0 bytes.
 * Memory: about 53 bytes per object while it runs, 20 kept.
 * @return 0, or MT_E_INVAL (the snapshot was loaded without references),
 *         MT_E_NOMEM. d is left empty on error. */
int mt_dominators_compute(const mt_graph *g, mt_dominators *d, mt_diag *diag);

/* Frees d's arrays and empties it. Safe on an empty d. */
void mt_dominators_free(mt_dominators *d);

/* Retained bytes per type (out: caller-owned, g->n_types entries): the
 * bytes freed if every object of the type were, which is the sum of the
 * retained sizes of its objects that no other object of the type
 * dominates (so nothing is counted twice).
 * @return 0, or MT_E_NOMEM. */
int mt_dominators_type_retained(const mt_graph *g, const mt_dominators *d, uint64_t *out, mt_diag *diag);

/* The n objects with the largest retained size, larger first (ties by
 * index), into out (caller-owned, n entries). Returns how many were
 * written: fewer when fewer objects are reachable. */
uint32_t mt_dominators_top(const mt_dominators *d, uint32_t n, uint32_t *out);

/* A shortest strong path from a root to an object. */
typedef struct mt_path {
    uint32_t root;      /* index into the graph's root records */
    uint32_t len;       /* objects on the path, root object and target included */
    uint32_t *obj;      /* [len]: root object first, target last */
    uint32_t *edge;     /* [len - 1]: out-edge positions (mt_graph.out_dst) */
} mt_path;

/* Finds a shortest path of strong references from a root to target with
 * a breadth-first search backwards from the target, preferring the root
 * that lives longest: a root of kind "frame" (a running thread's frame,
 * gone when its request ends) is used only when no module, global or
 * other root reaches target, and one of kind "c" (held from C) only when
 * no frame does either; within a kind, the nearest. An object with root
 * records of several kinds counts as its best one.
 * @return 0, MT_E_NOTFOUND (no root reaches target: path left empty),
 *         MT_E_RANGE (target is not an object), MT_E_INVAL (references
 *         not loaded), MT_E_NOMEM. */
int mt_path_to_root(const mt_graph *g, uint32_t target, mt_path *path, mt_diag *diag);

/* Frees path's arrays and empties it. Safe on an empty path. */
void mt_path_free(mt_path *path);

/* Path p of snapshot s (loaded with labels) as people read it:
 * "module app → _SESSIONS['u42'] → Session.payload". A __dict__ hop is
 * folded into the attribute after it, subscripts stick to what they index,
 * an unlabelled hop shows the type it reaches as "<type>", a frame's
 * labelled reference is "local 'NAME'", a frame's place "(FILE:LINE ...)"
 * in a label or a root's name keeps the file's last path component, and a
 * root of kind "c" reads "held by C" (with "(refcount not explained by
 * tracked referrers)" when it has no name):
 * "module __main__ → FAILED[197] → NetworkXNoPath.__traceback__ → tb_next
 * → tb_frame (jobs.py:64 in find_route) → local 'G'". Unlike
 * mt_sites_format() and mt_diag_format(), which fill the caller's buffer,
 * this allocates: a path's length has no useful bound.
 * @return a NUL-terminated string the caller frees with free(), or NULL
 *         when memory ran out. */
char *mt_path_format(const mt_snapshot *s, const mt_path *p);

/* One strongly connected component with a cycle in it. */
typedef struct mt_cycle {
    uint32_t comp;      /* component number (mt_cycles.comp) */
    uint32_t objects;
    uint64_t bytes;
    uint32_t first;     /* one of its objects */
} mt_cycle;

typedef struct mt_cycles {
    uint32_t n_objects;
    uint32_t *comp;     /* [n_objects]: each object's component */
    uint32_t n_comp;
    uint32_t n_cyclic;  /* components of two or more objects, or a self-reference */
    uint64_t cyclic_objects, cyclic_bytes;
    mt_cycle *cyclic;   /* [n_cyclic]: larger first (objects, then bytes) */
} mt_cycles;

/* Strongly connected components of the strong references (Tarjan's
 * algorithm, iterative).
 * @return 0, or MT_E_INVAL (references not loaded), MT_E_NOMEM. */
int mt_cycles_compute(const mt_graph *g, mt_cycles *c, mt_diag *diag);

/* Frees c's arrays and empties it. Safe on an empty c. */
void mt_cycles_free(mt_cycles *c);

/* ---- picking objects (heap/select.c) ---- */

/* The object whose id is id, lost placeholders skipped (a linear scan).
 * @return 0 with *out its index, or MT_E_NOTFOUND. */
int mt_graph_find_id(const mt_graph *g, uint64_t id, uint32_t *out);

/* The type named by the len bytes at name (a linear scan).
 * @return 0 with *out its index into g->type_names, or MT_E_NOTFOUND. */
int mt_graph_find_type(const mt_graph *g, const char *name, size_t len, uint32_t *out);

/* The n objects of type type with the largest retained size in d, larger
 * first (ties by index), lost placeholders skipped, unreachable ones
 * (retained 0) included last, into out (caller-owned, n entries).
 * Returns how many were written: fewer when the type has fewer objects. */
uint32_t mt_dominators_top_of_type(const mt_graph *g, const mt_dominators *d, uint32_t type, uint32_t n,
                                   uint32_t *out);

/* The objects that what (len bytes) names, as memtrace-graph
 * --path-to-roots reads it: the object whose id it is (decimal, or
 * hexadecimal with 0x; no sign or space), else the n objects of the type
 * of that name with the largest retained size in d
 * (mt_dominators_top_of_type), into out (caller-owned, n entries).
 * @return 0 with *written how many (1 for an id), or MT_E_NOTFOUND (no
 *         object has that id and no type that name: diag says so). */
int mt_graph_select(const mt_graph *g, const mt_dominators *d, const char *what, size_t len, uint32_t n,
                    uint32_t *out, uint32_t *written, mt_diag *diag);

/* What a picture of depth D around one object shows: the objects its
 * references reach in at most D hops (weak references followed too), and
 * the references among them that leave an object less than D hops away.
 * Caller-owned; filled by mt_graph_nearby_compute, emptied by
 * mt_graph_nearby_free. */
typedef struct mt_graph_nearby {
    uint32_t n;          /* objects */
    uint32_t *obj;       /* [n]: the start first, then breadth-first order */
    uint32_t *level;     /* [n]: hops from the start of obj[k] */
    int cut;             /* 1: an object was left out to stay within max_objects */
    uint32_t n_edges;
    uint32_t *edge;      /* [n_edges]: out-edge positions (mt_graph.out_dst), in
                            the order of obj, then of the graph's out-edges */
    uint32_t *edge_from; /* [n_edges]: the object each edge leaves */
} mt_graph_nearby;

/* Fills nb with the objects within depth hops of object index start, at
 * most max_objects of them (the nearest: breadth first, in out-edge
 * order; 0 for no bound), and the edges between them as described above.
 * @return 0, or MT_E_INVAL (references not loaded), MT_E_RANGE (start is
 *         not an object), MT_E_NOMEM; nb is left empty on error. */
int mt_graph_nearby_compute(const mt_graph *g, uint32_t start, uint64_t depth, uint32_t max_objects,
                            mt_graph_nearby *nb, mt_diag *diag);

/* Frees nb's arrays and empties it. Safe on an empty nb. */
void mt_graph_nearby_free(mt_graph_nearby *nb);

/* ---- the whole report (memtrace-graph's) ---- */

/* Objects of one type: how many, their own bytes, and (reachable ones)
 * the bytes freed if every object of the type were. */
typedef struct mt_graph_type_total {
    uint32_t type;      /* index into the graph's type_names */
    uint64_t count;
    uint64_t bytes;     /* shallow, saturated at UINT64_MAX */
    uint64_t retained;  /* mt_dominators_type_retained; 0 for unreachable rows */
} mt_graph_type_total;

/* One of the largest retainers, and how a root reaches it. */
typedef struct mt_graph_retainer {
    uint32_t obj;       /* object index */
    int has_path;       /* 0: no strong path from a root (path empty) */
    mt_path path;       /* a shortest strong path from a root (mt_path_to_root) */
} mt_graph_retainer;

/* One of the largest cycles, with the types of its objects. */
typedef struct mt_graph_cycle_types {
    uint32_t most_common; /* type index: the type most of its objects have (the lower index on a tie) */
    uint32_t n_types;     /* distinct types among its objects */
} mt_graph_cycle_types;

/* What memtrace-graph reports, all structured: counts, the top largest
 * of each table, larger first. Caller-owned; filled by
 * mt_graph_report_compute, emptied by mt_graph_report_free. */
typedef struct mt_graph_report {
    uint64_t objects;           /* not counting lost placeholders */
    uint64_t object_bytes;      /* reachable + unreachable, saturated */
    uint64_t refs, weak_refs;
    uint32_t roots;
    uint32_t n_retainers;
    mt_graph_retainer *retainers; /* mt_dominators_top order */
    uint32_t n_types;
    mt_graph_type_total *types;   /* reachable objects by type: retained, then bytes, then type index */
    uint32_t n_unreachable;
    mt_graph_type_total *unreachable; /* unreachable objects by type: bytes, then count, then type index */
    mt_cycles cycles;             /* every component; the first n_cycles of cycles.cyclic are the top */
    uint32_t n_cycles;
    mt_graph_cycle_types *cycle_types; /* [n_cycles] */
} mt_graph_report;

/* Fills r with the top (at most) largest retainers, each with a shortest
 * strong path from a root, reachable and unreachable bytes by type and the
 * largest cycles of snapshot s (loaded with references), whose dominator
 * tree is d. A type table lists only the types with objects in it. Cost:
 * one breadth-first search over the graph per retainer, on top of the
 * cycles' linear pass.
 * @return 0, or MT_E_INVAL (references not loaded), MT_E_NOMEM; r is
 *         left empty on error. */
int mt_graph_report_compute(const mt_snapshot *s, const mt_dominators *d, uint32_t top, mt_graph_report *r,
                            mt_diag *diag);

/* Frees r's arrays and paths and empties it. Safe on an empty r. */
void mt_graph_report_free(mt_graph_report *r);

#ifdef __cplusplus
}
#endif
#endif
