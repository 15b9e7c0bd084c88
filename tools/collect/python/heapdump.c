/* memtrace.dump_heap: the whole Python heap, walked in C, streamed to a
 * snapshot.
 *
 * Objects are numbered by address: every object is marked in a sparse
 * bitmap (16-byte granules, 1 MiB regions), and an object's dense index is
 * the number of marked addresses below it, counted with popcounts. That
 * costs about 3 bits per 16 bytes of heap address range instead of the
 * 20-odd bytes per object an address-to-index hash table would, which is
 * what keeps the collector under 100 MB for heaps of tens of millions of
 * objects. Static objects that are not 16-byte aligned (some built-in
 * types) are few and kept in a sorted array, numbered first.
 *
 * Passes, all with the GIL held and the garbage collector disabled:
 *   1. mark: every object the collector tracks (walked in its generation
 *      lists, cpython.h), then everything they reference (untracked
 *      str, int, tuples ...), transitively, what objects without a
 *      traverse hold included (a NumPy array's base and elements, a code
 *      object's constants and names); each gets a reference of ours
 *      so that it outlives the walk;
 *   2. emit: objects in address order with their references (counting
 *      each object's referrers), the roots, and last the objects held
 *      from C: more references than referrers found. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cpython.h"
#include "heapdump.h"
#include "memtrace/format.h"
#include "memtrace/u64map.h"
#include "tracer.h"

#define REGION_SHIFT 20
#define GRANULE_SHIFT 4
#define REGION_BITS (1u << (REGION_SHIFT - GRANULE_SHIFT)) /* 65536 */
#define REGION_WORDS (REGION_BITS / 64)                     /* 1024 */
/* Regions are found through a two-level table: a 64 GiB span of address
 * space (found by hash, the last one remembered) holds a slot per 1 MiB
 * region. A heap lives in a few spans, and this took a third of the time
 * the region hash table took (perf, 1M objects). */
#define SPAN_SHIFT 36
#define SPAN_SLOTS (1u << (SPAN_SHIFT - REGION_SHIFT))      /* 65536 */

/* Bits set in x. Inline: the baseline x86-64 has no POPCNT instruction,
 * and __builtin_popcountll became a libgcc call that took 4% of a dump. */
static inline uint32_t popcount64(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (uint32_t)((x * 0x0101010101010101ull) >> 56);
}

/* What the walk knows of an object besides its place: whether the
 * collector tracks it, and in which generation. Two bits. */
enum { UNTRACKED = 0, GEN0 = 1, GEN1 = 2, GEN2 = 3 };

/* Every marked object is held: the walk has taken a reference to it, so
 * that nothing frees it between the passes. */
typedef struct region {
    uint64_t base;                    /* address >> REGION_SHIFT */
    uint32_t first;                   /* index of its first object */
    uint64_t mark[REGION_WORDS];      /* an object starts here */
    uint64_t state[2][REGION_WORDS];  /* its state's low and high bit */
    /* Objects of the region before each word: at most 64 * 1023, as an
     * object takes at least one 16-byte granule. */
    uint16_t rank[REGION_WORDS];
} region;

/* A misaligned object: its address and state. */
struct odd {
    uint64_t addr;
    uint8_t state;
};

#define PENDING 16

typedef struct walk {
    mt_u64map spans;                  /* address >> SPAN_SHIFT -> position in span */
    struct region ***span;            /* slots: the region, or NULL */
    size_t nspan, capspan;
    uint64_t last_hi;                 /* the span found last: most lookups stay in one */
    struct region **last_span;
    region **reg;
    size_t nreg, capreg;
    struct odd *odd;                  /* misaligned objects, sorted by number() */
    size_t nodd, capodd;
    mt_u64map odd_set;                /* address -> position in odd */
    PyObject **work;                  /* untracked containers to traverse */
    size_t nwork, capwork;
    uint64_t n;                       /* objects marked */
    /* Pass 2, per index: referrers found less the references the object
     * has (our own one aside), saturated; below zero, something outside
     * the heap's references holds it. */
    int32_t *excess;
    /* Referrers counted a little late: each counter is prefetched when its
     * reference is found and updated PENDING references later, so that the
     * cache misses of a large heap overlap instead of following each
     * other. */
    uint32_t pending[PENDING];
    uint32_t npending;                /* filled slots, at most PENDING */
    uint32_t next;                    /* the slot the next one takes */
    int released;                     /* the marked objects are let go */
    /* numpy.ndarray and numpy.dtype when NumPy is loaded, else NULL:
     * arrays hold references their type does not traverse (nd_refs). */
    PyTypeObject *ndarray, *dtype;
} walk;

/* The walk's own memory comes from malloc, never PyMem_Raw*: tracemalloc
 * traces that domain, and a dump under tracing would count its bitmaps
 * (a 512 KiB span table, 26 KiB a MiB of heap) as the program's memory. */
static int grow_ptrs(void **p, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 1024;
    void *np = realloc(*p, nc * elem);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

static inline int is_odd(uintptr_t a) { return (a & ((1u << GRANULE_SHIFT) - 1)) != 0; }

/* span_of's search, when a is not in the span found last. */
static region **span_find(walk *w, uintptr_t a, int create) {
    uint64_t hi = (uint64_t)a >> SPAN_SHIFT;
    uint32_t at;
    region **slots = NULL;
    if (mt_u64map_get(&w->spans, hi, &at)) slots = w->span[at];
    else if (create) {
        slots = calloc(SPAN_SLOTS, sizeof *slots);
        if (!slots || grow_ptrs((void **)&w->span, &w->capspan, w->nspan, sizeof *w->span) ||
            mt_u64map_put(&w->spans, hi, (uint32_t)w->nspan)) {
            free(slots);
            return NULL;
        }
        w->span[w->nspan++] = slots;
    }
    if (slots) {
        w->last_hi = hi;
        w->last_span = slots;
    }
    return slots;
}

/* The slots of a's span; with create, made when missing (NULL when memory
 * runs out). */
static inline region **span_of(walk *w, uintptr_t a, int create) {
    if (w->last_span && w->last_hi == (uint64_t)a >> SPAN_SHIFT) return w->last_span;
    return span_find(w, a, create);
}

static inline region *region_at(walk *w, uintptr_t a) {
    region **slots = span_of(w, a, 0);
    return slots ? slots[(a >> REGION_SHIFT) & (SPAN_SLOTS - 1)] : NULL;
}

static region *region_make(walk *w, uintptr_t a) {
    region **slots = span_of(w, a, 1);
    if (!slots) return NULL;
    region **s = &slots[(a >> REGION_SHIFT) & (SPAN_SLOTS - 1)];
    if (*s) return *s;
    region *r = calloc(1, sizeof *r);
    if (!r || grow_ptrs((void **)&w->reg, &w->capreg, w->nreg, sizeof *w->reg)) {
        free(r);
        return NULL;
    }
    r->base = (uint64_t)a >> REGION_SHIFT;
    w->reg[w->nreg++] = r;
    *s = r;
    return r;
}

static inline uint32_t bit_of(uintptr_t a) { return (uint32_t)((a >> GRANULE_SHIFT) & (REGION_BITS - 1)); }

/* Marks o in state st; 1 when it was not marked before, 0 when it was
 * (its state then gains st), -1 on no memory. */
static inline int mark(walk *w, PyObject *o, int st) {
    uintptr_t a = (uintptr_t)o;
    if (is_odd(a)) {
        uint32_t pos;
        if (mt_u64map_get(&w->odd_set, a, &pos)) {
            w->odd[pos].state |= (uint8_t)st;
            return 0;
        }
        if (grow_ptrs((void **)&w->odd, &w->capodd, w->nodd, sizeof *w->odd) ||
            mt_u64map_put(&w->odd_set, a, (uint32_t)w->nodd))
            return -1;
        w->odd[w->nodd++] = (struct odd){ a, (uint8_t)st };
        w->n++;
        return 1;
    }
    region *r = region_at(w, a);
    if (!r && !(r = region_make(w, a))) return -1;
    uint32_t bit = bit_of(a), k = bit >> 6;
    uint64_t m = 1ull << (bit & 63);
    int was = !!(r->mark[k] & m);
    r->mark[k] |= m;
    if (st & 1) r->state[0][k] |= m;
    if (st & 2) r->state[1][k] |= m;
    w->n += !was;
    return !was;
}

/* ---- NumPy arrays ----
 *
 * An ndarray is no collector object: nothing traverses it, yet it holds
 * references: its base (the array a view shows, or the object whose
 * memory it uses), its dtype and, in an array of Python objects that owns
 * its buffer, every element. Without them the walk missed the strs of
 * every object column of a DataFrame (a third of a pandas heap, as
 * tracemalloc counts it) and took the array under a view for one held
 * from C. They are read from the array's C layout, NumPy's public
 * PyArrayObject_fields and PyArray_Descr, whose first fields are the same
 * from NumPy 1.7 to 2.x: no NumPy header, no Python code. An array's size
 * stays its own __sizeof__ (C): its buffer only when it owns it, so that
 * a view never counts its base's. */
typedef struct nd_array {
    PyObject_HEAD
    char *data;
    int nd;
    Py_ssize_t *dimensions;
    Py_ssize_t *strides;
    PyObject *base;
    PyObject *descr;
    int flags;
} nd_array;

typedef struct nd_descr {
    PyObject_HEAD
    PyTypeObject *typeobj;
    char kind, type, byteorder, flags;
    int type_num;
} nd_descr;

#define ND_OBJECT 17      /* NPY_OBJECT */
#define ND_OWNDATA 0x0004 /* NPY_ARRAY_OWNDATA */
#define ND_MAXDIMS 64     /* NPY_MAXDIMS: 32 in NumPy 1.x, 64 from 2.0 */

/* numpy.ndarray and numpy.dtype into w (new references), when NumPy is
 * imported already (never imported here) and its types are as large as
 * the layouts above; else NULL. Looked up in the module's dict: no
 * module __getattr__ runs. */
static void nd_types(walk *w) {
    PyObject *mods = PySys_GetObject("modules"); /* borrowed */
    PyObject *np = mods && PyDict_Check(mods) ? PyDict_GetItemString(mods, "numpy") : NULL;
    PyObject *d = np && PyModule_Check(np) ? PyModule_GetDict(np) : NULL;
    PyObject *a = d ? PyDict_GetItemString(d, "ndarray") : NULL;
    PyObject *t = d ? PyDict_GetItemString(d, "dtype") : NULL;
    PyErr_Clear();
    if (!a || !t || !PyType_Check(a) || !PyType_Check(t) || strcmp(((PyTypeObject *)a)->tp_name, "numpy.ndarray") ||
        ((PyTypeObject *)a)->tp_basicsize < (Py_ssize_t)sizeof(nd_array) ||
        ((PyTypeObject *)t)->tp_basicsize < (Py_ssize_t)sizeof(nd_descr))
        return;
    w->ndarray = (PyTypeObject *)Py_NewRef(a);
    w->dtype = (PyTypeObject *)Py_NewRef(t);
}

/* 1 when t is numpy.ndarray or a subclass of it. The size test first: it
 * turns away str, int, float and the other untraversed objects cheaply. */
static inline int nd_is(const walk *w, PyTypeObject *t) {
    return w->ndarray && (t == w->ndarray || (t->tp_basicsize >= w->ndarray->tp_basicsize &&
                                              (t->tp_flags & Py_TPFLAGS_HEAPTYPE) && PyType_IsSubtype(t, w->ndarray)));
}

/* Calls fn(ref, field, index, arg) for each reference of array o: its
 * base and dtype by field name (index -1), then, when it holds Python
 * objects in a buffer of its own, each non-NULL element with its flat
 * index in C order (field NULL). Elements of an array that does not own
 * its buffer are the owner's references (a view's base, which is
 * visited). Stops at fn's nonzero return (then -1). An array whose
 * fields do not look like NumPy's is given no references. */
typedef int (*nd_ref_fn)(PyObject *ref, const char *field, Py_ssize_t index, void *arg);

static int nd_refs(const walk *w, PyObject *o, nd_ref_fn fn, void *arg) {
    const nd_array *a = (const nd_array *)o;
    if (a->nd < 0 || a->nd > ND_MAXDIMS || !a->descr || !PyObject_TypeCheck(a->descr, w->dtype)) return 0;
    if (a->base && fn(a->base, "base", -1, arg)) return -1;
    if (fn(a->descr, "dtype", -1, arg)) return -1;
    const nd_descr *d = (const nd_descr *)a->descr;
    if (d->type_num != ND_OBJECT || d->kind != 'O' || !(a->flags & ND_OWNDATA) || !a->data) return 0;
    int nd = a->nd;
    Py_ssize_t idx[ND_MAXDIMS];
    for (int k = 0; k < nd; k++) {
        if (a->dimensions[k] <= 0) return 0;
        idx[k] = 0;
    }
    /* A strided walk: each step adds the last dimension's stride, and a
     * dimension that wraps takes its extent back and carries. */
    const char *p = a->data;
    for (Py_ssize_t flat = 0;; flat++) {
        PyObject *item = *(PyObject *const *)p;
        if (item && fn(item, NULL, flat, arg)) return -1;
        int k = nd - 1;
        for (; k >= 0; k--) {
            p += a->strides[k];
            if (++idx[k] < a->dimensions[k]) break;
            p -= a->strides[k] * a->dimensions[k];
            idx[k] = 0;
        }
        if (k < 0) return 0;
    }
}

/* o's tp_traverse, or NULL: only collector objects may be traversed
 * (a static type's traverse asserts that it is not called). The test is
 * PyObject_IS_GC's, inline: it runs twice for every object. */
static inline traverseproc traverser(PyObject *o) {
    PyTypeObject *t = Py_TYPE(o);
    if (!PyType_IS_GC(t) || (t->tp_is_gc && !t->tp_is_gc(o))) return NULL;
    return t->tp_traverse;
}

/* ---- objects the collector does not know ----
 *
 * A type without a traverse may still hold references in object members
 * it declares (PyMemberDef T_OBJECT, T_OBJECT_EX): a code object's
 * constants, names, file name and line table, which nothing else holds
 * (8.6 MiB of the 32.6 MiB that importing pandas allocates, tracemalloc
 * counts). Its traverse covers a collector object's. */

/* 1 when instances of t, no collector type, declare object members. */
static int has_object_members(PyTypeObject *t) {
    for (PyTypeObject *b = t; b; b = b->tp_base)
        for (PyMemberDef *m = b->tp_members; m && m->name; m++)
            if (m->type == T_OBJECT || m->type == T_OBJECT_EX) return 1;
    return 0;
}

/* 1 when o has references that its traverse, if any, leaves out: an
 * array's, or a non-collector object's object members. */
static inline int untraversed_refs(const walk *w, PyObject *o) {
    PyTypeObject *t = Py_TYPE(o);
    return nd_is(w, t) || (!traverser(o) && has_object_members(t));
}

/* ---- pass 1: mark ---- */

/* Marks what a traverse visits and takes a reference to what is new. An
 * untracked container (a tuple the collector let go of ...) is traversed
 * later from the work list; a tracked one when the walk of the
 * collector's lists reaches it, which sets its generation. */
static int visit_mark(PyObject *o, void *arg) {
    walk *w = arg;
    int rc = mark(w, o, UNTRACKED);
    if (rc < 0) return -1;
    if (rc == 1) {
        Py_INCREF(o);
        /* An array or a code object, no collector object, has references
         * all the same. */
        if (traverser(o) ? !mt__gc_tracked(o) : untraversed_refs(w, o)) {
            if (grow_ptrs((void **)&w->work, &w->capwork, w->nwork, sizeof *w->work)) return -1;
            w->work[w->nwork++] = o;
        }
    }
    return 0;
}

/* The items of an exact list or tuple, Py_SIZE(o) of them, some NULL in
 * a list being filled; NULL for anything else. Both passes walk them
 * directly, without a call per item: the commonest containers by far. */
static inline PyObject **seq_items(PyObject *o) {
    PyTypeObject *t = Py_TYPE(o);
    return t == &PyList_Type ? ((PyListObject *)o)->ob_item
           : t == &PyTuple_Type ? ((PyTupleObject *)o)->ob_item : NULL;
}

static int nd_mark(PyObject *ref, const char *field, Py_ssize_t index, void *arg) {
    (void)field;
    (void)index;
    return visit_mark(ref, arg);
}

static int code_mark(PyObject *ref, const char *name, void *arg) {
    (void)name;
    return visit_mark(ref, arg);
}

/* Marks o's references, weak ones included. */
static int traverse(PyObject *o, walk *w) {
    PyObject **items = seq_items(o);
    if (items) {
        for (Py_ssize_t i = 0, n = Py_SIZE(o); i < n; i++)
            if (items[i] && visit_mark(items[i], w)) return -1;
        return 0;
    }
    traverseproc tr = traverser(o);
    if (tr && tr(o, visit_mark, w)) return -1;
    if (PyWeakref_Check(o)) {
        PyObject *target = mt__weakref_target(o);
        if (target != Py_None && visit_mark(target, w)) return -1;
    }
    PyObject *d = MT__HIDDEN_DICTS ? mt__hidden_dict(o) : NULL;
    if (d && visit_mark(d, w)) return -1;
    if (nd_is(w, Py_TYPE(o)) && nd_refs(w, o, nd_mark, w)) return -1;
    if (PyCode_Check(o) && mt__code_refs(o, code_mark, w)) return -1;
    if (!tr)
        for (PyTypeObject *b = Py_TYPE(o); b; b = b->tp_base)
            for (PyMemberDef *m = b->tp_members; m && m->name; m++) {
                if (m->type != T_OBJECT && m->type != T_OBJECT_EX) continue;
                PyObject *v = *(PyObject **)((char *)o + m->offset);
                if (v && visit_mark(v, w)) return -1;
            }
    return 0;
}

/* Marks a tracked object with its generation, takes a reference to it
 * unless a visit did, and traverses it: one walk of the collector's lists,
 * whose every step is a cache miss on a large heap. */
static int mark_tracked(PyObject *o, int gen, void *arg) {
    int rc = mark(arg, o, gen == 0 ? GEN0 : gen == 1 ? GEN1 : GEN2);
    if (rc < 0) return -1;
    if (rc == 1) Py_INCREF(o);
    return traverse(o, arg);
}

/* ---- numbering ---- */

static int cmp_region(const void *a, const void *b) {
    uint64_t x = (*(region *const *)a)->base, y = (*(region *const *)b)->base;
    return x < y ? -1 : x > y;
}

static int cmp_odd(const void *a, const void *b) {
    uint64_t x = ((const struct odd *)a)->addr, y = ((const struct odd *)b)->addr;
    return x < y ? -1 : x > y;
}

/* Numbers the objects: the misaligned ones first, then by address. */
static int number(walk *w) {
    qsort(w->odd, w->nodd, sizeof *w->odd, cmp_odd);
    mt_u64map_free(&w->odd_set);
    for (size_t i = 0; i < w->nodd; i++)
        if (mt_u64map_put(&w->odd_set, w->odd[i].addr, (uint32_t)i)) return -1;
    qsort(w->reg, w->nreg, sizeof *w->reg, cmp_region);
    uint32_t next = (uint32_t)w->nodd;
    for (size_t i = 0; i < w->nreg; i++) {
        region *r = w->reg[i];
        r->first = next;
        uint32_t c = 0;
        for (uint32_t k = 0; k < REGION_WORDS; k++) {
            r->rank[k] = (uint16_t)c;
            c += popcount64(r->mark[k]);
        }
        next += c;
    }
    return 0;
}

/* The index of o if it was marked in pass 1 (1), else 0: objects made
 * since by the walk's own calls have none and are passed over. */
static inline int lookup(walk *w, uintptr_t a, uint32_t *idx) {
    if (is_odd(a)) return mt_u64map_get(&w->odd_set, a, idx);
    const region *r = region_at(w, a);
    if (!r) return 0;
    uint32_t bit = bit_of(a), k = bit >> 6;
    uint64_t word = r->mark[k];
    if (!((word >> (bit & 63)) & 1)) return 0;
    *idx = r->first + r->rank[k] + popcount64(word & ((1ull << (bit & 63)) - 1));
    return 1;
}

/* Counts one more referrer of object idx. */
#define EXCESS_CAP (INT32_MAX / 2)
static inline void count_referrer(walk *w, uint32_t idx) {
    if (w->excess[idx] < EXCESS_CAP) w->excess[idx]++;
}

static inline void referrer(walk *w, uint32_t idx) {
    __builtin_prefetch(&w->excess[idx], 1);
    if (w->npending == PENDING) count_referrer(w, w->pending[w->next]);
    else w->npending++;
    w->pending[w->next] = idx;
    w->next = (w->next + 1) % PENDING;
}

/* Counts the referrers still pending. */
static void referrers_done(walk *w) {
    for (uint32_t i = 0; i < w->npending; i++) count_referrer(w, w->pending[i]);
    w->npending = w->next = 0;
}

/* The address of the lowest set bit of word k of r. */
static inline PyObject *address_of(const region *r, uint32_t k, uint64_t bits) {
    return (PyObject *)((uintptr_t)(r->base << REGION_SHIFT) |
                        ((uintptr_t)(k * 64 + (uint32_t)__builtin_ctzll(bits)) << GRANULE_SHIFT));
}

/* Calls fn on every object in index order, with its state; stops at a
 * nonzero return. */
typedef int (*each_fn)(walk *w, PyObject *o, uint32_t idx, int state, void *arg);

static int each_object(walk *w, each_fn fn, void *arg) {
    uint32_t idx = 0;
    for (size_t i = 0; i < w->nodd; i++, idx++)
        if (fn(w, (PyObject *)(uintptr_t)w->odd[i].addr, idx, w->odd[i].state, arg)) return -1;
    for (size_t i = 0; i < w->nreg; i++) {
        const region *r = w->reg[i];
        for (uint32_t k = 0; k < REGION_WORDS; k++)
            for (uint64_t bits = r->mark[k]; bits; bits &= bits - 1, idx++) {
                uint64_t low = bits & -bits;
                int st = (r->state[0][k] & low ? 1 : 0) | (r->state[1][k] & low ? 2 : 0);
                if (fn(w, address_of(r, k, bits), idx, st, arg)) return -1;
            }
    }
    return 0;
}

/* ---- pass 2: emit ---- */

/* What a container is, for its references' labels. */
enum { K_OTHER, K_SEQUENCE, K_DICT, K_DICT_SUBCLASS, K_MODULE, K_TYPE };

/* An object member of a type (a slot, a C type's object field). */
struct member {
    Py_ssize_t offset;    /* of an object pointer in the instance */
    mt_str name;
};

/* What the dump keeps of a type, worked out once: how to label its
 * references, and how to size its instances as sys.getsizeof does without
 * the method lookup and call through Python that took a third of the
 * dump's time (perf, 12M objects). */
typedef struct tinfo {
    struct member *members; /* its and its bases' object members */
    uint32_t nmembers;
    uint8_t kind;         /* K_*: how its references are labelled */
    uint8_t weakref;      /* a weak reference: its target is a weak edge */
    int plain;            /* sized by object.__sizeof__: computed here */
    PyCFunction sizeof_c; /* else a C __sizeof__ taking no arguments */
    int c_level;          /* its own __sizeof__ is not C: the C-level size */
    size_t preheader;     /* what sys.getsizeof adds to __sizeof__ */
    int holds;            /* instances may hold more (mt__held_size) */
    int ndarray;          /* a NumPy array: nd_refs has its references */
} tinfo;

typedef struct emitter {
    walk *w;
    mt_writer *wr;
    mt_u64map types;       /* type address -> its id, which is 1 + its place in tinfo */
    tinfo *tinfo;
    size_t capti;
    uint32_t ntypes;
    PyTypeObject *last_type; /* neighbours in memory often share a type */
    uint32_t last_id;
    PyObject *object_sizeof; /* object.__sizeof__, to spot types that keep it */
    PyObject *sizeof_name;   /* "__sizeof__", interned */
    PyObject *module_name;   /* "__module__", interned */
    uint64_t c_level;        /* objects whose Python __sizeof__ was not called */
    /* Traceback frames and stacks written so far, in C maps: Python keys
     * and values here were objects made for every object dumped, each of
     * which tracemalloc traced with the dump's own stack. */
    mt_u64map files;       /* filename str (tracemalloc's, held by it) -> file number */
    mt_u64map frames;      /* file number << 32 | line -> frame id */
    mt_u64map stacks;      /* frame id << 32 | parent -> stack id */
    int tracebacks;        /* tracemalloc traces and tracebacks are wanted */
    /* Stacks from memtrace's own tracer (memtrace.start_stacks) instead:
     * then frames maps its frame ids, stacks its stack ids, to the dump's. */
    int tracer_stacks;
    uint32_t src;
    PyObject *container;   /* what src is, for labels */
    const tinfo *cti;      /* its type's */
    uint64_t refs, bytes, c_roots;
    int rc;
} emitter;

static int emit_rc(emitter *e, int rc) {
    if (rc && !e->rc) e->rc = rc;
    return rc ? -1 : 0;
}

/* Up to cap bytes of str s as UTF-8 into buf, whole characters only; the
 * length written. Encoded here, never with PyUnicode_AsUTF8: that caches
 * the UTF-8 inside the str, and so grows the very heap being dumped (+14%
 * on 5,000 non-ASCII dict keys). A lone surrogate, which UTF-8 cannot
 * hold, is written as a backslash escape, as Writer does (memtrace(3)).
 * A legacy str not yet made canonical gives "?": readying it would change
 * it. */
static size_t utf8_into(PyObject *s, char *buf, size_t cap) {
    if (!PyUnicode_IS_READY(s)) {
        if (!cap) return 0;
        buf[0] = '?';
        return 1;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    if (PyUnicode_IS_ASCII(s)) {
        size_t n = (size_t)len < cap ? (size_t)len : cap;
        memcpy(buf, PyUnicode_DATA(s), n);
        return n;
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    size_t n = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        char u[10];
        size_t k;
        if (c < 0x80) u[0] = (char)c, k = 1;
        else if (c < 0x800) u[0] = (char)(0xc0 | c >> 6), u[1] = (char)(0x80 | (c & 0x3f)), k = 2;
        else if (c >= 0xd800 && c <= 0xdfff) k = (size_t)snprintf(u, sizeof u, "\\u%04x", (unsigned)c);
        else if (c < 0x10000)
            u[0] = (char)(0xe0 | c >> 12), u[1] = (char)(0x80 | ((c >> 6) & 0x3f)), u[2] = (char)(0x80 | (c & 0x3f)),
            k = 3;
        else
            u[0] = (char)(0xf0 | c >> 18), u[1] = (char)(0x80 | ((c >> 12) & 0x3f)),
            u[2] = (char)(0x80 | ((c >> 6) & 0x3f)), u[3] = (char)(0x80 | (c & 0x3f)), k = 4;
        if (n + k > cap) break;
        memcpy(buf + n, u, k);
        n += k;
    }
    return n;
}

/* "[-42]" into buf (24 bytes); its length. By hand: snprintf for each
 * list item was a tenth of a dump of lists. */
static size_t index_label(char *buf, long long v) {
    char digits[20];
    int nd = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do digits[nd++] = (char)('0' + u % 10); while ((u /= 10) > 0);
    size_t n = 0;
    buf[n++] = '[';
    if (v < 0) buf[n++] = '-';
    while (nd) buf[n++] = digits[--nd];
    buf[n++] = ']';
    return n;
}

/* A dict key's label into buf (256 bytes): "['u42']", "[3]", "[<tuple>]";
 * its length. By hand for str and int keys: snprintf for each value was
 * the largest cost of dumping the interpreter's own, dict-heavy heap. */
static size_t key_label(PyObject *k, char *buf) {
    if (PyUnicode_Check(k)) {
        size_t n = utf8_into(k, buf + 2, 200);
        memcpy(buf, "['", 2);
        memcpy(buf + 2 + n, "']", 2);
        return n + 4;
    } else if (PyLong_Check(k)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(k, &overflow);
        if (!overflow && !PyErr_Occurred()) return index_label(buf, v);
        PyErr_Clear();
    }
    int n = snprintf(buf, 256, "[<%s>]", Py_TYPE(k)->tp_name);
    return n < 0 ? 0 : n > 255 ? 255 : (size_t)n;
}

/* "LABEL (FILE:LINE in FUNCTION)" into buf (cap bytes): where frame f
 * stands, appended to how it is held ("frame" when that is unknown), so
 * that a path through a frame names its code (formats/SPEC.md, refs). A
 * traceback's own line is the one the exception passed, which the frame
 * may have left since. Reads no Python code and allocates nothing. */
static mt_str frame_label(PyObject *holder, PyObject *f, mt_str label, char *buf, size_t cap) {
    char file[512] = "?", fn[256] = "?";
    PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)f);
    if (code && PyUnicode_Check(code->co_filename)) file[utf8_into(code->co_filename, file, sizeof file - 1)] = 0;
    if (code && PyUnicode_Check(code->co_name)) fn[utf8_into(code->co_name, fn, sizeof fn - 1)] = 0;
    Py_XDECREF(code);
    /* The one frame a traceback holds is its tb_frame. */
    int line = PyTraceBack_Check(holder) ? mt__traceback_line(holder) : PyFrame_GetLineNumber((PyFrameObject *)f);
    if (!label.len) label = mt_str_c("frame");
    int n = snprintf(buf, cap, "%.*s (%s:%d in %s)", (int)(label.len < 255 ? label.len : 255), label.ptr, file, line, fn);
    return (mt_str){ buf, n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1 };
}

/* Writes a reference from the object being emitted to o, when o was
 * marked. */
static int emit_ref(emitter *e, PyObject *o, mt_str label) {
    char where[1100];
    if (PyFrame_Check(o)) label = frame_label(e->container, o, label, where, sizeof where);
    mt_ref r = { e->src, 0, 0, label };
    if (!lookup(e->w, (uintptr_t)o, &r.dst)) return 0;
    referrer(e->w, r.dst);
    e->refs++;
    return emit_rc(e, mt_writer_add(e->wr, MT_KIND_REF, &r));
}

/* The name of c's member (a slot, or a C type's object field) that holds
 * o, or an empty one. */
static mt_str member_name(const tinfo *ti, PyObject *c, PyObject *o) {
    for (uint32_t i = 0; i < ti->nmembers; i++)
        if (*(PyObject **)((char *)c + ti->members[i].offset) == o) return ti->members[i].name;
    return mt_str_c(NULL);
}

/* The name of the local variable of frame c whose value is o (a cell for
 * a cell variable), as mt__frame_locals finds it. */
typedef struct local_find {
    PyObject *value, *name;
} local_find;

static int local_is(PyObject *name, PyObject *v, void *arg) {
    local_find *lf = arg;
    if (v != lf->value) return 0;
    lf->name = name;
    return 1;
}

/* How exception c holds o: its traceback, context, cause or args. The
 * exception's traverse names none of them. */
static mt_str exception_field(PyObject *c, PyObject *o) {
    PyBaseExceptionObject *x = (PyBaseExceptionObject *)c;
    if (o == x->traceback) return mt_str_c("__traceback__");
    if (o == x->context) return mt_str_c("__context__");
    if (o == x->cause) return mt_str_c("__cause__");
    if (o == x->args) return mt_str_c("args");
    return mt_str_c(NULL);
}

static int visit_emit(PyObject *o, void *arg) {
    emitter *e = arg;
    char label[256];
    char nbuf[256];
    mt_str l = { NULL, 0 };
    PyObject *c = e->container;
    int kind = e->cti->kind;
    if (kind == K_DICT_SUBCLASS) {
        /* A dict subclass (exact dicts go through dict_ref): a value is
         * labelled with its key, found by a walk of the dict, short ones
         * only: labels are "where cheap". Keys go unlabelled. */
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        if (PyDict_GET_SIZE(c) <= 4096)
            while (PyDict_Next(c, &pos, &k, &v))
                if (v == o) {
                    l.ptr = label;
                    l.len = key_label(k, label);
                    break;
                }
    } else if (o == (PyObject *)Py_TYPE(c)) {
        l = mt_str_c("__class__");
    } else if (kind == K_MODULE && o == PyModule_GetDict(c)) {
        l = mt_str_c("__dict__");
    } else if (kind != K_TYPE) {
        PyObject *name;
        local_find lf = { o, NULL };
        if (PyDict_CheckExact(o) && o == mt__instance_dict(c)) l = mt_str_c("__dict__");
        else if (PyFrame_Check(c) && mt__frame_locals(c, local_is, &lf) && lf.name && PyUnicode_Check(lf.name)) {
            /* A finished frame's traverse visits its locals: named as a
             * running frame's are (local_emit). */
            l.ptr = nbuf;
            l.len = utf8_into(lf.name, nbuf, sizeof nbuf - 1);
        } else if (PyExceptionInstance_Check(c) && (l = exception_field(c, o)).len) {
        } else if (PyTraceBack_Check(c) && o == (PyObject *)((PyTracebackObject *)c)->tb_next) {
            l = mt_str_c("tb_next"); /* a property, not a member */
        } else if ((name = mt__attribute_name(c, o)) && PyUnicode_Check(name)) {
            l.ptr = nbuf;
            l.len = utf8_into(name, nbuf, sizeof nbuf - 1);
        } else
            l = member_name(e->cti, c, o);
    }
    return emit_ref(e, o, l);
}

/* An exact list's or tuple's items, labelled "[i]" by index (their
 * traverse visits them last to first). */
static int seq_refs(emitter *e, PyObject *o) {
    PyObject **items = seq_items(o);
    char label[24];
    for (Py_ssize_t i = 0, n = Py_SIZE(o); i < n; i++) {
        if (!items[i]) continue;
        mt_str l = { label, index_label(label, i) };
        if (emit_ref(e, items[i], l)) return -1;
    }
    return 0;
}

/* An array's reference: "base", "dtype", an element "[i]" by its flat
 * index. */
static int nd_emit(PyObject *o, const char *field, Py_ssize_t index, void *arg) {
    char label[24];
    mt_str l = field ? mt_str_c(field) : (mt_str){ label, index_label(label, index) };
    return emit_ref(arg, o, l);
}

static int code_emit(PyObject *o, const char *name, void *arg) { return emit_ref(arg, o, mt_str_c(name)); }

/* An exact dict's reference: a value labelled with its key. */
static int dict_ref(PyObject *o, PyObject *key, void *arg) {
    char label[256];
    mt_str l = { NULL, 0 };
    if (key) {
        l.ptr = label;
        l.len = key_label(key, label);
    }
    return emit_ref(arg, o, l);
}

/* 1 when sz, a type's __sizeof__, is object's or a method of a C type
 * taking no arguments (a method descriptor: C code, which the walk may
 * call on the type's instances as the descriptor would); 0 for a Python
 * function or any other callable. */
static int c_sizeof(const emitter *e, PyObject *sz) {
    if (!sz) return 0;
    if (sz == e->object_sizeof) return 1;
    if (!Py_IS_TYPE(sz, &PyMethodDescr_Type)) return 0;
    PyMethodDescrObject *d = (PyMethodDescrObject *)sz;
    int kinds = METH_VARARGS | METH_KEYWORDS | METH_NOARGS | METH_O | METH_FASTCALL | METH_METHOD;
    return (d->d_method->ml_flags & kinds) == METH_NOARGS;
}

/* The id of type t, writing its record the first time. */
static int type_id(emitter *e, PyTypeObject *t, uint32_t *id) {
    uint32_t v;
    if (t == e->last_type) {
        *id = e->last_id;
        return 0;
    }
    if (mt_u64map_get(&e->types, (uintptr_t)t, &v)) {
        e->last_type = t;
        *id = e->last_id = v;
        return 0;
    }
    char name[512];
    if (t->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        /* module.qualname, as people write it; builtins go bare. */
        PyObject *mod = PyDict_GetItemWithError(t->tp_dict, e->module_name);
        PyObject *qual = ((PyHeapTypeObject *)t)->ht_qualname;
        size_t n = 0;
        PyErr_Clear();
        if (mod && PyUnicode_Check(mod) && PyUnicode_CompareWithASCIIString(mod, "builtins")) {
            n = utf8_into(mod, name, 255);
            name[n++] = '.';
        }
        if (qual && PyUnicode_Check(qual)) n += utf8_into(qual, name + n, sizeof name - 1 - n);
        else n += (size_t)snprintf(name + n, sizeof name - n, "%.255s", t->tp_name);
        name[n] = 0;
    } else
        snprintf(name, sizeof name, "%s", t->tp_name);
    if (grow_ptrs((void **)&e->tinfo, &e->capti, e->ntypes, sizeof *e->tinfo)) return -1;
    tinfo *ti = &e->tinfo[e->ntypes];
    memset(ti, 0, sizeof *ti);
    /* Found on t's MRO without a call: a metaclass's __getattribute__
     * would run Python code. Interned name: the type attribute cache keeps
     * a reference to the name it was asked with, and a fresh string each
     * time filled it with copies that outlived the dump. */
    PyObject *sz = _PyType_Lookup(t, e->sizeof_name); /* borrowed */
    if (!c_sizeof(e, sz)) {
        /* A __sizeof__ of Python code (pandas has them), or some other
         * callable: never called, as it would let other threads run, and
         * change the heap, in the middle of the walk. The C-level size
         * instead: that of the nearest base whose __sizeof__ is C. */
        ti->c_level = 1;
        sz = e->object_sizeof;
        for (PyTypeObject *b = t->tp_base; b; b = b->tp_base) {
            PyObject *bs = _PyType_Lookup(b, e->sizeof_name);
            if (c_sizeof(e, bs)) {
                sz = bs;
                break;
            }
        }
    }
    ti->plain = sz == e->object_sizeof;
    if (!ti->plain) ti->sizeof_c = ((PyMethodDescrObject *)sz)->d_method->ml_meth;
    ti->preheader = mt__preheader_size(t);
    ti->holds = mt__may_hold(t);
    /* Object members of t and its bases, for labels: a walk of the
     * PyMemberDef lists for each reference was a tenth of the dump. */
    size_t n = 0;
    for (int fill = 0; fill < 2; fill++) {
        for (PyTypeObject *b = t; b; b = b->tp_base)
            for (PyMemberDef *m = b->tp_members; m && m->name; m++)
                if (m->type == T_OBJECT || m->type == T_OBJECT_EX) {
                    if (fill) ti->members[ti->nmembers++] = (struct member){ m->offset, mt_str_c(m->name) };
                    else n++;
                }
        if (!fill && n && !(ti->members = malloc(n * sizeof *ti->members))) return -1;
    }
    /* Subclass checks once per type, not once per reference. */
    ti->kind = t == &PyList_Type || t == &PyTuple_Type ? K_SEQUENCE
               : t == &PyDict_Type                     ? K_DICT
               : PyType_IsSubtype(t, &PyDict_Type)     ? K_DICT_SUBCLASS
               : PyType_IsSubtype(t, &PyModule_Type)   ? K_MODULE
               : PyType_FastSubclass(t, Py_TPFLAGS_TYPE_SUBCLASS) ? K_TYPE
                                                       : K_OTHER;
    ti->ndarray = nd_is(e->w, t);
    ti->weakref = PyType_IsSubtype(t, &_PyWeakref_RefType) || t == &_PyWeakref_ProxyType ||
                  t == &_PyWeakref_CallableProxyType;
    mt_type rec = { e->ntypes + 1, mt_str_c(name) };
    if (mt_u64map_put(&e->types, (uintptr_t)t, rec.id)) {
        free(ti->members);
        return -1;
    }
    e->ntypes++;
    e->last_type = t;
    *id = e->last_id = rec.id;
    return emit_rc(e, mt_writer_add(e->wr, MT_KIND_TYPE, &rec));
}

/* sys.getsizeof(o), o's type being described by ti: object.__sizeof__
 * computed (basic size plus items), so are exact lists' and ints', a C
 * __sizeof__ called directly. A type whose __sizeof__ is Python code gets
 * its C base's size (type_id): no Python code runs in the walk. */
static size_t size_of(PyObject *o, const tinfo *ti) {
    PyTypeObject *t = Py_TYPE(o);
    if (ti->plain) {
        Py_ssize_t items = t->tp_itemsize ? Py_SIZE(o) * t->tp_itemsize : 0;
        return (size_t)(t->tp_basicsize + items) + ti->preheader;
    }
    Py_ssize_t n = mt__builtin_size(o);
    if (n >= 0) return (size_t)n + ti->preheader;
    PyObject *r = ti->sizeof_c(o, NULL);
    n = r && PyLong_Check(r) ? PyLong_AsSsize_t(r) : -1;
    Py_XDECREF(r);
    if (n >= 0) return (size_t)n + ti->preheader;
    PyErr_Clear(); /* a __sizeof__ that failed: the type's basic size */
    return (size_t)t->tp_basicsize + ti->preheader;
}

/* The stack id of o's allocation traceback (0 when unknown), writing
 * frames and stacks the first time each is seen. */
static uint32_t stack_id(emitter *e, PyObject *o) {
    /* A tuple of (filename, lineno), the most recent call first, or None.
     * Asked for the start of the memory block, before the collector's
     * header and 3.11's managed-dict pointers: 3.11's own
     * get_object_traceback steps back over the header only and finds
     * nothing for instances of classes with a __dict__. The tuples are the
     * only objects the dump makes per object (mt__tracemalloc_quiet keeps
     * their tracing cheap); everything else here is C. */
    PyObject *tb = _PyTraceMalloc_GetTraceback(0, (uintptr_t)o - mt__preheader_size(Py_TYPE(o)));
    if (!tb || !PyTuple_Check(tb)) {
        Py_XDECREF(tb);
        PyErr_Clear();
        return 0;
    }
    uint32_t parent = 0;
    for (Py_ssize_t i = PyTuple_GET_SIZE(tb) - 1; i >= 0 && !e->rc; i--) {
        PyObject *fkey = PyTuple_GET_ITEM(tb, i); /* (filename, lineno) */
        if (!PyTuple_Check(fkey) || PyTuple_GET_SIZE(fkey) != 2) break;
        PyObject *file = PyTuple_GET_ITEM(fkey, 0);
        unsigned long line = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(fkey, 1));
        if (line > UINT32_MAX) { /* an error, or a line no frame record holds */
            PyErr_Clear();
            line = 0;
        }
        /* A file by its str: tracemalloc keeps one str per file name and
         * holds it until its traces are cleared, which nothing can do
         * while the dump runs. */
        uint32_t file_no, fid, sid;
        if (!mt_u64map_get(&e->files, (uintptr_t)file, &file_no)) {
            file_no = (uint32_t)e->files.count + 1;
            if (emit_rc(e, mt_u64map_put(&e->files, (uintptr_t)file, file_no))) break;
        }
        uint64_t fkey64 = (uint64_t)file_no << 32 | line;
        if (!mt_u64map_get(&e->frames, fkey64, &fid)) {
            fid = (uint32_t)e->frames.count + 1;
            char fbuf[1024];
            mt_str f = mt_str_c("?");
            if (PyUnicode_Check(file)) f = (mt_str){ fbuf, utf8_into(file, fbuf, sizeof fbuf - 1) };
            mt_frame rec = { fid, mt_str_c(""), f, (uint32_t)line };
            if (emit_rc(e, mt_u64map_put(&e->frames, fkey64, fid)) ||
                emit_rc(e, mt_writer_add(e->wr, MT_KIND_FRAME, &rec)))
                break;
        }
        uint64_t skey = (uint64_t)fid << 32 | parent;
        if (!mt_u64map_get(&e->stacks, skey, &sid)) {
            sid = (uint32_t)e->stacks.count + 1;
            mt_stack rec = { sid, fid, parent };
            if (emit_rc(e, mt_u64map_put(&e->stacks, skey, sid)) ||
                emit_rc(e, mt_writer_add(e->wr, MT_KIND_STACK, &rec)))
                break;
        }
        parent = sid;
    }
    Py_DECREF(tb);
    return e->rc ? 0 : parent;
}

/* The stack id of o's allocation as memtrace's stacks tracer recorded it
 * (0 when unknown: allocated before it started, or no Python allocator's
 * block), writing the frames and stacks the first time each is used. The
 * tracer's lookup locks are held (mt_tracer_lookup_begin): one lookup in
 * its address map, no Python call, no allocation but the maps' malloc.
 * Asked for the start of the block, before the pre-header, as the
 * allocator returned it. */
static uint32_t tracer_stack_id(emitter *e, PyObject *o) {
    uint32_t ts = mt_tracer_lookup_stack((const char *)o - mt__preheader_size(Py_TYPE(o)));
    uint32_t sid = 0, parent = 0, chain[256];
    int n = 0;
    if (!ts || mt_u64map_get(&e->stacks, ts, &sid)) return sid;
    /* The new part of its chain, innermost first, down to a stack written
     * already (parent) or the outermost frame. */
    for (uint32_t s = ts, f, up; s; s = up) {
        if (mt_u64map_get(&e->stacks, s, &parent)) break;
        if (n == 256 || !mt_tracer_lookup_stack_info(s, &f, &up)) return 0; /* never: depth <= 128 */
        chain[n++] = s;
    }
    for (int i = n - 1; i >= 0; i--) {
        uint32_t f, up, fid;
        mt_tracer_lookup_stack_info(chain[i], &f, &up);
        if (!mt_u64map_get(&e->frames, f, &fid)) {
            const char *fn, *file;
            uint32_t line;
            if (!mt_tracer_lookup_frame(f, &fn, &file, &line)) return 0;
            fid = (uint32_t)e->frames.count + 1;
            mt_frame rec = { fid, mt_str_c(fn), mt_str_c(file), line };
            if (emit_rc(e, mt_u64map_put(&e->frames, f, fid)) || emit_rc(e, mt_writer_add(e->wr, MT_KIND_FRAME, &rec)))
                return 0;
        }
        sid = (uint32_t)e->stacks.count + 1;
        mt_stack rec = { sid, fid, parent };
        if (emit_rc(e, mt_u64map_put(&e->stacks, chain[i], sid)) || emit_rc(e, mt_writer_add(e->wr, MT_KIND_STACK, &rec)))
            return 0;
        parent = sid;
    }
    return parent;
}

static int emit_one(walk *w, PyObject *o, uint32_t idx, int state, void *arg) {
    emitter *e = arg;
    mt_object rec = { (uintptr_t)o, 0, 0, 0, 0, 0 };
    if (type_id(e, Py_TYPE(o), &rec.type)) return emit_rc(e, MT_E_NOMEM);
    const tinfo *ti = &e->tinfo[rec.type - 1];
    /* What the object really holds: sys.getsizeof's bytes and (3.11 on)
     * its attribute values kept outside any dict (SPEC.md, objects). */
    rec.size = size_of(o, ti) + (ti->holds ? mt__held_size(o) : 0);
    /* Those values leave the size when __dict__ is made: the same object
     * must not look like another at a reused address (SPEC.md, flags). */
    if (ti->holds) rec.flags |= MT_OBJ_SIZE_VARIES;
    e->c_level += (uint64_t)ti->c_level;
    if (state != UNTRACKED) {
        rec.flags |= MT_OBJ_GC_TRACKED;
        rec.gen = (uint32_t)state - GEN0;
    }
    /* Its references less our own, to be matched by the referrers found. */
    Py_ssize_t held = Py_REFCNT(o) - 1;
    w->excess[idx] -= (int32_t)(held > EXCESS_CAP ? EXCESS_CAP : held);
    if (e->tracer_stacks) rec.stack = tracer_stack_id(e, o);
    else if (e->tracebacks) rec.stack = stack_id(e, o);
    e->bytes += rec.size;
    if (emit_rc(e, mt_writer_add(e->wr, MT_KIND_OBJECT, &rec))) return -1;
    e->src = idx;
    e->container = o;
    e->cti = ti;
    if (ti->kind == K_DICT) {
        if (mt__dict_refs(o, dict_ref, e)) return -1;
    } else if (ti->kind == K_SEQUENCE) {
        if (seq_refs(e, o)) return -1;
    } else {
        traverseproc tr = traverser(o);
        if (tr && tr(o, visit_emit, e)) return -1;
        PyObject *d = MT__HIDDEN_DICTS ? mt__hidden_dict(o) : NULL; /* labelled __dict__ */
        if (d && visit_emit(d, e)) return -1;
        if (ti->ndarray && nd_refs(w, o, nd_emit, e)) return -1;
        if (PyCode_Check(o) && mt__code_refs(o, code_emit, e)) return -1;
        if (!tr)
            for (uint32_t i = 0; i < ti->nmembers; i++) {
                PyObject *v = *(PyObject **)((char *)o + ti->members[i].offset);
                if (v && emit_ref(e, v, ti->members[i].name)) return -1;
            }
    }
    if (e->rc) return -1;
    if (ti->weakref) {
        /* A weakref does not traverse its target: the weak edge is ours. */
        PyObject *target = mt__weakref_target(o);
        mt_ref weak = { idx, 0, MT_REF_WEAK, { NULL, 0 } };
        if (target != Py_None && lookup(w, (uintptr_t)target, &weak.dst)) {
            e->refs++;
            if (emit_rc(e, mt_writer_add(e->wr, MT_KIND_REF, &weak))) return -1;
        }
    }
    return 0;
}

/* Held from C: more references than the dump found referrers for, less
 * the one the walk holds. Known only once every reference is out. */
static int emit_c_roots(walk *w, emitter *e) {
    /* The interpreter's own holders, named as Python code reaches them;
     * anything else held from C has no name the dump can give. */
    struct {
        PyObject *o;
        const char *name;
    } known[] = { { PySys_GetObject("modules"), "sys.modules" }, { PyEval_GetBuiltins(), "builtins.__dict__" } };
    uint32_t known_idx[2] = { UINT32_MAX, UINT32_MAX };
    for (int k = 0; k < 2; k++)
        if (known[k].o) lookup(w, (uintptr_t)known[k].o, &known_idx[k]);
    for (uint32_t i = 0; i < (uint32_t)w->n; i++) {
        if (w->excess[i] >= 0) continue;
        mt_root root = { i, mt_str_c("c"), mt_str_c(NULL) };
        for (int k = 0; k < 2; k++)
            if (known_idx[k] == i) root.name = mt_str_c(known[k].name);
        e->c_roots++;
        if (emit_rc(e, mt_writer_add(e->wr, MT_KIND_ROOT, &root))) return -1;
    }
    return 0;
}

/* ---- the driver ---- */

/* Lets go of what the walk holds: one reference per marked object (a
 * frame both held and found holds one). Once only. */
static void release(walk *w) {
    if (w->released) return;
    w->released = 1;
    for (size_t i = 0; i < w->nodd; i++) Py_DECREF((PyObject *)(uintptr_t)w->odd[i].addr);
    for (size_t i = 0; i < w->nreg; i++) {
        region *r = w->reg[i];
        for (uint32_t k = 0; k < REGION_WORDS; k++)
            for (uint64_t bits = r->mark[k]; bits; bits &= bits - 1) Py_DECREF(address_of(r, k, bits));
    }
}

static void walk_free(walk *w) {
    for (size_t i = 0; i < w->nreg; i++) free(w->reg[i]);
    free(w->reg);
    free(w->odd);
    free(w->work);
    free(w->excess);
    for (size_t i = 0; i < w->nspan; i++) free(w->span[i]);
    free(w->span);
    mt_u64map_free(&w->spans);
    mt_u64map_free(&w->odd_set);
}

uint64_t mt__rss_bytes(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

void mt__process_meta(mt_writer *wr, const char *tool, PyObject *label, uint64_t start_ns, uint64_t rss,
                      PyObject *traced) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char pyver[32];
    snprintf(pyver, sizeof pyver, "%s", Py_GetVersion());
    pyver[strcspn(pyver, " ")] = 0;
    mt_writer_meta_str(wr, "tool", tool);
    mt_writer_meta_str(wr, "tool_version", MT_VERSION_STRING);
    mt_writer_meta_uint(wr, "pid", (uint64_t)getpid());
    mt_writer_meta_str(wr, "host", host);
    mt_writer_meta_uint(wr, "start_time", start_ns);
    mt_writer_meta_str(wr, "python_version", pyver);
    mt_writer_meta_uint(wr, "rss", rss);
    if (label && label != Py_None && PyUnicode_Check(label)) {
        /* Encoded without caching UTF-8 in the caller's str. */
        PyObject *b = PyUnicode_AsEncodedString(label, "utf-8", "backslashreplace");
        if (b) {
            mt_value v = { .type = MT_VAL_STR };
            v.v.s = (mt_str){ PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b) };
            mt_meta m = { mt_str_c("label"), v };
            mt_writer_add(wr, MT_KIND_META, &m);
            Py_DECREF(b);
        }
        PyErr_Clear();
    }
    if (traced && PyTuple_Check(traced) && PyTuple_GET_SIZE(traced) == 2) {
        mt_writer_meta_uint(wr, "tracemalloc_current", PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(traced, 0)));
        mt_writer_meta_uint(wr, "tracemalloc_peak", PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(traced, 1)));
        PyErr_Clear();
    }
}

/* A frame root: the frame (held by us) and its thread. A running frame's
 * traverse visits none of its locals from CPython 3.11 on; mt__frame_locals
 * (cpython.h) reads them, and the dump gives the frame a labelled reference to each
 * (before 3.11 the traverse visits them, and visit_emit labels them). */
typedef struct froot {
    PyObject *frame;
    unsigned long thread;
} froot;

static int local_mark(PyObject *name, PyObject *v, void *arg) { return visit_mark(v, arg); }

/* A local of the frame being emitted (e->src): the frame holds it. */
static int local_emit(PyObject *name, PyObject *v, void *arg) {
    char buf[256];
    mt_str nm = { NULL, 0 };
    if (PyUnicode_Check(name)) nm = (mt_str){ buf, utf8_into(name, buf, sizeof buf - 1) };
    return emit_ref(arg, v, nm);
}

PyObject *memtrace_dump_heap(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "path", "label", "tracebacks", "collect", NULL };
    PyObject *path, *label = Py_None;
    int tracebacks = 1, collect = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|$Opp", kwlist, PyUnicode_FSConverter, &path, &label, &tracebacks,
                                     &collect))
        return NULL;
    if (label != Py_None && !PyUnicode_Check(label)) {
        Py_DECREF(path);
        return PyErr_Format(PyExc_TypeError, "label must be a str or None, not %.100s", Py_TYPE(label)->tp_name);
    }
    struct timespec t0, wall;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_REALTIME, &wall);
    uint64_t rss = mt__rss_bytes();
    walk w;
    memset(&w, 0, sizeof w);
    emitter e;
    memset(&e, 0, sizeof e);
    froot *fr = NULL;
    size_t nfr = 0, capfr = 0, nfr_held = 0;
    PyObject *result = NULL, *tm = NULL, *traced = NULL;
    mt_writer *wr = NULL;
    int gc_was_enabled = 0, gc_disabled = 0;
    int traces_on = 0; /* tracemalloc traces */
    int lookups = 0;   /* the stacks tracer's lookup locks are held */
    /* Under memtrace's stacks tracer the dump's own allocations (frame
     * objects, its summary, the odd int) are not recorded: its hooks pass
     * this thread's calls through while busy, and still take a freed
     * recorded block out of the map, so the program's stacks stay as
     * they were. */
    int busy = mt_tracer_stacks_only();
    mt__tls.busy += busy;
    mt__quiet quiet = { 0 };

    /* The collector through its C API: gc.disable may have been replaced
     * by Python code. */
    if (collect) {
        /* As gc.collect(), also in a program that disabled the collector:
         * PyGC_Collect alone does nothing then. */
        int was_enabled = mt__gc_enable();
        PyGC_Collect();
        if (!was_enabled) mt__gc_disable();
        if (PyErr_Occurred()) goto done;
    }
    /* No collection may free what the walk holds pointers to. */
    gc_was_enabled = mt__gc_disable();
    gc_disabled = 1;

    tm = PyImport_ImportModule("_tracemalloc");
    if (!tm) PyErr_Clear();
    else {
        PyObject *tracing = PyObject_CallMethod(tm, "is_tracing", NULL);
        if (tracing == Py_True) {
            traced = PyObject_CallMethod(tm, "get_traced_memory", NULL);
            /* Its tracebacks unless memtrace's own tracer records stacks. */
            e.tracebacks = tracebacks && !mt_tracer_stacks_only();
            traces_on = 1;
        }
        Py_XDECREF(tracing);
        PyErr_Clear();
    }

    /* Roots first: every thread's frames, made into frame objects before
     * the walk so that they are tracked like the rest. */
    {
        PyObject *cur = _PyThread_CurrentFrames();
        if (!cur) goto done;
        Py_ssize_t pos = 0;
        PyObject *tid, *frame;
        while (PyDict_Next(cur, &pos, &tid, &frame)) {
            unsigned long t = PyLong_AsUnsignedLong(tid);
            PyFrameObject *f = (PyFrameObject *)frame;
            Py_INCREF(f);
            while (f) {
                if (grow_ptrs((void **)&fr, &capfr, nfr, sizeof *fr)) {
                    Py_DECREF(f);
                    Py_DECREF(cur);
                    PyErr_NoMemory();
                    goto done;
                }
                fr[nfr++] = (froot){ (PyObject *)f, t };
                f = PyFrame_GetBack(f); /* a new reference, or NULL */
            }
        }
        Py_DECREF(cur);
        PyErr_Clear();
    }
    /* Pass 1: mark. The tracked objects and what they reference, then
     * frames, then the untracked containers found. */
    nd_types(&w);
    if (mt__gc_objects(mark_tracked, &w)) goto nomem;
    for (size_t i = 0; i < nfr; i++) {
        int rc = mark(&w, fr[i].frame, UNTRACKED);
        if (rc < 0) goto nomem;
        /* Our reference becomes the walk's one, unless marking the tracked
         * objects already took that. */
        if (rc == 0) Py_DECREF(fr[i].frame);
        nfr_held = i + 1;
    }
    for (size_t i = 0; i < nfr; i++)
        if (traverse(fr[i].frame, &w) ||
            (!MT__FRAME_TRAVERSES_LOCALS && mt__frame_locals(fr[i].frame, local_mark, &w)))
            goto nomem;
    while (w.nwork)
        if (traverse(w.work[--w.nwork], &w)) goto nomem;
    if (w.n > 0x7fffffffu) {
        PyErr_SetString(PyExc_OverflowError, "a snapshot holds at most 2^31-1 objects");
        goto done;
    }
    if (number(&w)) goto nomem;

    /* Referrers, counted as references are written. */
    if (!(w.excess = calloc(w.n ? w.n : 1, sizeof *w.excess))) goto nomem;

    /* Pass 2: emit. */
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    /* zstd level -1: the process waits for the dump. Compression runs on a
     * second thread while the walk goes on, and at level 1 that thread
     * held the walk up: -1 made the dump some 25% faster and the file some
     * 30% larger (memtrace-convert recompresses it). The thread lives only
     * within this call, so a fork elsewhere never finds it. */
    mt_writer_opts wopts = { .block_bytes = 0, .level = -1, .background = 1 };
    int rc = mt_writer_open(PyBytes_AS_STRING(path), &wopts, &wr, &d);
    if (rc) {
        PyErr_Format(rc == MT_E_NOMEM ? PyExc_MemoryError : PyExc_OSError, "%s: %s", PyBytes_AS_STRING(path), d.msg);
        goto done;
    }
    mt__process_meta(wr, "memtrace.dump_heap", label, (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec,
                     rss, traced);
    e.w = &w;
    e.wr = wr;
    if (!(e.sizeof_name = PyUnicode_InternFromString("__sizeof__")) ||
        !(e.module_name = PyUnicode_InternFromString("__module__")) ||
        !(e.object_sizeof = PyObject_GetAttr((PyObject *)&PyBaseObject_Type, e.sizeof_name)))
        goto done;
    /* The objects the emit makes (tracebacks' tuples, the ints of C
     * __sizeof__ methods) live a moment each, but tracemalloc traces every
     * one, those reused from a free list included, with the dump's own
     * stack, which made a dump of 140k objects under --trace 10 take 4-10
     * s instead of 0.2 (bench/dump_pause). Quiet, it records them with no
     * frames: they are counted while they live and almost all gone when
     * the dump returns (a free list's block it reused stays traced, with
     * no frames, and a few one-time allocations of the interpreter's own
     * caches outlive it: 17 blocks, 1.2 KiB, on 3.11), and the program's
     * traces are left as they were. */
    if (traces_on) mt__tracemalloc_quiet(&quiet);
    /* Allocation stacks from memtrace's tracer (python3 -m memtrace heap
     * --trace N): its address map and frames under one taking of its
     * locks for all the objects. Meanwhile this thread's own allocations
     * pass its hooks unrecorded and its frees do not lock again, and the
     * program's other threads, which need the GIL this thread holds to
     * allocate objects, wait for the end if they allocate raw memory. */
    if (tracebacks && mt_tracer_stacks_only() && !mt_tracer_lookup_begin()) lookups = e.tracer_stacks = 1;
    if (each_object(&w, emit_one, &e)) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_OSError, "%s: %s", PyBytes_AS_STRING(path), mt_strerror(e.rc));
        goto done;
    }
    if (lookups) mt_tracer_lookup_end();
    lookups = 0;
    /* Modules by name, frames by function and thread. */
    PyObject *modules = PySys_GetObject("modules"); /* borrowed */
    Py_ssize_t pos = 0;
    PyObject *name, *mod;
    uint64_t roots = 0;
    while (modules && PyDict_Next(modules, &pos, &name, &mod)) {
        char nbuf[512];
        mt_str nm = mt_str_c("?");
        if (PyUnicode_Check(name)) nm = (mt_str){ nbuf, utf8_into(name, nbuf, sizeof nbuf - 1) };
        mt_root rt = { 0, mt_str_c("module"), nm };
        if (!lookup(&w, (uintptr_t)mod, &rt.obj)) continue; /* imported during the dump */
        roots++;
        if (mt_writer_add(wr, MT_KIND_ROOT, &rt)) break;
    }
    for (size_t i = 0; i < nfr; i++) {
        char fname[600];
        PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)fr[i].frame);
        char fn[256] = "?";
        if (code && PyUnicode_Check(code->co_name)) fn[utf8_into(code->co_name, fn, sizeof fn - 1)] = 0;
        /* Where it runs, as a traceback would say it. */
        char file[256] = "?";
        if (code && PyUnicode_Check(code->co_filename)) file[utf8_into(code->co_filename, file, sizeof file - 1)] = 0;
        snprintf(fname, sizeof fname, "%s (%s:%d, thread %lu)", fn, file,
                 PyFrame_GetLineNumber((PyFrameObject *)fr[i].frame), fr[i].thread);
        Py_XDECREF(code);
        PyErr_Clear();
        mt_root rt = { 0, mt_str_c("frame"), mt_str_c(fname) };
        lookup(&w, (uintptr_t)fr[i].frame, &rt.obj); /* marked before the walk began */
        roots++;
        if (mt_writer_add(wr, MT_KIND_ROOT, &rt)) break;
        e.src = rt.obj;
        e.container = fr[i].frame;
        if (!MT__FRAME_TRAVERSES_LOCALS && mt__frame_locals(fr[i].frame, local_emit, &e)) break;
    }
    referrers_done(&w);
    if (emit_c_roots(&w, &e)) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_OSError, "%s: %s", PyBytes_AS_STRING(path), mt_strerror(e.rc));
        goto done;
    }
    roots += e.c_roots;
    mt__tracemalloc_loud(&quiet);
    /* Every record is out: the objects are let go while the writer's
     * thread compresses the last blocks, not after (3 ms of a 1M-object
     * dump's 90). Nothing below looks at them. */
    release(&w);
    rc = mt_writer_close(wr, &d);
    wr = NULL;
    if (rc) {
        PyErr_Format(rc == MT_E_NOMEM ? PyExc_MemoryError : PyExc_OSError, "%s: %s", PyBytes_AS_STRING(path), d.msg);
        goto done;
    }
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    /* The path as the str it names (os.fsdecode), not the bytes the
     * converter made of it. */
    result = Py_BuildValue("{s:N,s:K,s:K,s:K,s:K,s:K,s:d}", "path",
                           PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(path), PyBytes_GET_SIZE(path)), "objects", (unsigned long long)w.n, "refs",
                           (unsigned long long)e.refs, "roots", (unsigned long long)roots, "bytes",
                           (unsigned long long)e.bytes, "c_level_sizes", (unsigned long long)e.c_level, "seconds",
                           secs);
    goto done;
nomem:
    PyErr_NoMemory();
done:
    if (lookups) mt_tracer_lookup_end();
    mt__tracemalloc_loud(&quiet);
    mt_writer_abandon(wr);
    release(&w);
    for (size_t i = nfr_held; i < nfr; i++) Py_DECREF(fr[i].frame); /* never marked */
    free(fr);
    walk_free(&w);
    mt_u64map_free(&e.types);
    for (uint32_t i = 0; i < e.ntypes; i++) free(e.tinfo[i].members);
    free(e.tinfo);
    Py_XDECREF(e.object_sizeof);
    Py_XDECREF(e.sizeof_name);
    Py_XDECREF(e.module_name);
    mt_u64map_free(&e.files);
    mt_u64map_free(&e.frames);
    mt_u64map_free(&e.stacks);
    Py_XDECREF(traced);
    Py_XDECREF(tm);
    Py_XDECREF(w.ndarray);
    Py_XDECREF(w.dtype);
    if (gc_disabled && gc_was_enabled) mt__gc_enable();
    Py_DECREF(path);
    mt__tls.busy -= busy;
    return result;
}
