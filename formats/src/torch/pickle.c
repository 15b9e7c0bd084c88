/* A pickle reader for dicts of builtins (torch.h says which opcodes and
 * why no others): a stack machine over refcounted values, whose root
 * `segments` and `device_traces[i]` lists hand each appended element to
 * the importer instead of keeping it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/torch.h"
#include "memtrace/u64map.h"
#include "pickle.h"

#define CHUNK (64u << 10)

/* ---- values ---- */

/* Values come and go by the million (a few per trace entry), and malloc's
 * bookkeeping was a third of an import's time: released values wait on a
 * per-thread free list, at most PV_CACHE of them, until mt__pv_cache_drain(). */
#define PV_CACHE 65536
static _Thread_local mt__pv *pv_free_list;
static _Thread_local unsigned pv_free_n;
/* The same for dicts' first item arrays (16 slots: a trace entry's). */
#define ITEMS_FIRST 16
static _Thread_local void *items_free_list;
static _Thread_local unsigned items_free_n;

static mt__pv *pv_new(int type, uint64_t off) {
    mt__pv *v = pv_free_list;
    if (v) {
        /* A value from the list: pv_clear() zeroed its payload already. */
        pv_free_list = *(mt__pv **)v;
        pv_free_n--;
        v->v.c.items = NULL;
        v->neg = v->sealed = v->height = v->role = 0;
        v->aux = 0;
    } else if (!(v = calloc(1, sizeof *v))) {
        return NULL;
    }
    v->refs = 1;
    v->type = (uint8_t)type;
    v->off = off;
    return v;
}

static int is_container(const mt__pv *v) {
    return v->type == MT__PV_LIST || v->type == MT__PV_TUPLE || v->type == MT__PV_DICT;
}

static void pv_clear(mt__pv *v) {
    if (v->type == MT__PV_STR || v->type == MT__PV_BYTES) free(v->v.s.p);
    else if (is_container(v)) {
        for (size_t i = 0; i < v->v.c.n; i++) mt__pv_decref(v->v.c.items[i]);
        if (v->v.c.cap == ITEMS_FIRST && items_free_n < PV_CACHE / 4) {
            *(void **)v->v.c.items = items_free_list;
            items_free_list = v->v.c.items;
            items_free_n++;
        } else {
            free(v->v.c.items);
        }
    }
    memset(&v->v, 0, sizeof v->v);
}

void mt__pv_decref(mt__pv *v) {
    if (!v || --v->refs) return;
    pv_clear(v);
    if (pv_free_n < PV_CACHE) {
        *(mt__pv **)v = pv_free_list;
        pv_free_list = v;
        pv_free_n++;
    } else {
        free(v);
    }
}

void mt__pv_cache_drain(void) {
    while (pv_free_list) {
        mt__pv *v = pv_free_list;
        pv_free_list = *(mt__pv **)v;
        free(v);
    }
    pv_free_n = 0;
    while (items_free_list) {
        void *p = items_free_list;
        items_free_list = *(void **)p;
        free(p);
    }
    items_free_n = 0;
}

void mt__pv_become(mt__pv *v, int t, uint32_t id) {
    pv_clear(v);
    v->type = (uint8_t)t;
    v->role = MT__ROLE_NONE;
    v->v.id = id;
}


const char *mt__pk_type_name(int type) {
    static const char *const names[] = { "None", "bool", "int", "float", "str", "bytes", "list", "tuple", "dict",
                                         "frame (converted)", "frame list (converted)", "converted element",
                                         "str released after an earlier element" };
    return type >= 0 && type <= MT__PV_DROPPED ? names[type] : "?";
}

/* ---- input ---- */

/* Makes at least one unread byte available. @return 1, 0 at the end, or
 * an MT_E_* code. */
static int src_more(mt__src *s, mt_diag *diag) {
    if (s->pos < s->len) return 1;
    if (!s->in) return 0;
    s->base += s->len;
    s->pos = s->len = 0;
    size_t got = 0;
    int rc = mt_input_chunk(s->in, s->buf, CHUNK, &got, diag);
    if (rc) return rc;
    s->len = got;
    return got > 0;
}

static uint64_t src_off(const mt__src *s) { return s->base + s->pos; }

static int truncated(mt__src *s, const char *what, mt_diag *diag) {
    mt_diag_set(diag, MT_E_TRUNCATED, "the pickle ends before %s", what);
    diag->offset = (int64_t)src_off(s);
    return MT_E_TRUNCATED;
}

/* Copies n bytes to dst. */
static int src_read_slow(mt__src *s, void *dst, size_t n, const char *what, mt_diag *diag) {
    uint8_t *d = dst;
    while (n) {
        int rc = src_more(s, diag);
        if (rc < 0) return rc;
        if (!rc) return truncated(s, what, diag);
        const uint8_t *p = s->mem ? s->mem : s->buf;
        size_t k = s->len - s->pos < n ? s->len - s->pos : n;
        memcpy(d, p + s->pos, k);
        s->pos += k;
        d += k;
        n -= k;
    }
    return 0;
}

/* The common case, the bytes already in the buffer, without a call. */
static inline int src_read(mt__src *s, void *dst, size_t n, const char *what, mt_diag *diag) {
    if (s->len - s->pos >= n && s->pos <= s->len) {
        memcpy(dst, (s->mem ? s->mem : s->buf) + s->pos, n);
        s->pos += n;
        return 0;
    }
    return src_read_slow(s, dst, n, what, diag);
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ---- the machine ---- */

typedef struct pk {
    mt__src *src;
    mt__pv **stack;
    size_t n, cap;
    size_t marks[MT_TORCH_MAX_DEPTH];
    size_t nmarks;
    /* The memo: a slot per index, in an array for the indices a pickler
     * uses (0, 1, 2 ...) and in a map beyond (a forged LONG_BINPUT index
     * costs a map entry, not an array that long). A slot is 0 (empty), a
     * value's pointer, or, once a converted value has no other holder, its
     * small form inline: id << 8 | type << 1 | 1 (tag_of). */
    uintptr_t *dense;
    size_t capdense, hidense;  /* hidense: the highest index put + 1 */
    mt_u64map sparse_ix;       /* index -> place in sparse */
    uintptr_t *sparse;
    size_t nsparse, capsparse;
    size_t nmemo;              /* distinct indices put (MEMOIZE's next) */
    size_t swept_dense, swept_sparse; /* slots the last sweep looked at */
    mt__pv *traces;     /* the root's device_traces list, while it is built */
    size_t traces_at;   /* its place on the stack */
    mt__pk_elem_fn elem;
    void *ctx;
    mt_diag *diag;
    uint64_t op_off;    /* offset of the opcode being run */
} pk;

static int fail(pk *m, int code, uint64_t off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(pk *m, int code, uint64_t off, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->diag->msg, sizeof m->diag->msg, fmt, ap);
    va_end(ap);
    m->diag->code = code;
    m->diag->offset = (int64_t)off;
    return code;
}

static int nomem(pk *m) { return mt_diag_set(m->diag, MT_E_NOMEM, "out of memory"); }

static int push(pk *m, mt__pv *v) {
    if (!v) return nomem(m);
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        mt__pv **s = realloc(m->stack, nc * sizeof *s);
        if (!s) {
            mt__pv_decref(v);
            return nomem(m);
        }
        m->stack = s;
        m->cap = nc;
    }
    m->stack[m->n++] = v;
    return 0;
}

/* Where the top mark is, or fails: an opcode that needs one. */
static int top_mark(pk *m, const char *op, size_t *at) {
    if (!m->nmarks) return fail(m, MT_E_PARSE, m->op_off, "%s without a MARK before it", op);
    *at = m->marks[--m->nmarks];
    return 0;
}

static int need(pk *m, size_t k, const char *op) {
    if (m->n < k || (m->nmarks && m->n - m->marks[m->nmarks - 1] < k))
        return fail(m, MT_E_PARSE, m->op_off, "%s needs %u values on the stack above the last MARK", op, (unsigned)k);
    return 0;
}

/* Places child in c (a container being built), which must be neither
 * sealed nor child itself: a container is filled before it is placed in
 * another, so a pickle that changes one after (the only way it can make a
 * cycle) is refused, and no walk over values ever loops. */
static int adopt(pk *m, mt__pv *c, mt__pv *child) {
    if (c == child || c->sealed)
        return fail(m, MT_E_PARSE, m->op_off, "a %s changed after it was placed in a container (a recursive value)",
                    mt__pk_type_name(c->type));
    unsigned h = is_container(child) ? child->height : 0;
    if (h + 1 > c->height) {
        if (h + 1 > MT_TORCH_MAX_DEPTH)
            return fail(m, MT_E_LIMIT, m->op_off, "containers nested deeper than %u", MT_TORCH_MAX_DEPTH);
        c->height = (uint8_t)(h + 1);
    }
    if (c->v.c.n == c->v.c.cap) {
        /* A trace entry's dict holds 12 items: one allocation for it. */
        size_t nc = c->v.c.cap ? c->v.c.cap * 2 : c->type == MT__PV_DICT ? ITEMS_FIRST : 4;
        mt__pv **it;
        if (nc == ITEMS_FIRST && !c->v.c.cap && items_free_list) {
            it = items_free_list;
            items_free_list = *(void **)it;
            items_free_n--;
        } else if (c->v.c.cap == ITEMS_FIRST) {
            /* Out of a cached array: a fresh one, the old one back. */
            if ((it = malloc(nc * sizeof *it))) {
                memcpy(it, c->v.c.items, c->v.c.n * sizeof *it);
                *(void **)c->v.c.items = items_free_list;
                items_free_list = c->v.c.items;
                items_free_n++;
            }
        } else {
            it = realloc(c->v.c.items, nc * sizeof *it);
        }
        if (!it) return nomem(m);
        c->v.c.items = it;
        c->v.c.cap = nc;
    }
    child->sealed = 1;
    c->v.c.items[c->v.c.n++] = child;
    child->refs++;
    return 0;
}

static mt__pv *new_container(pk *m, int type) {
    mt__pv *v = pv_new(type, m->op_off);
    if (v) v->height = 1;
    return v;
}

/* Tells a list just made on top of the stack its role: the root dict's
 * value for "segments" or "device_traces", or an element of that
 * device_traces list. Any other shape of pickle is read whole and
 * converted at STOP instead, the same way. */
static void assign_role(pk *m, mt__pv *l) {
    size_t at = m->n - 1; /* where l is */
    if (m->traces && m->traces_at < m->n && m->stack[m->traces_at] == m->traces && !m->traces->sealed) {
        uint64_t dev;
        if (at == m->traces_at + 1 && (!m->nmarks || m->marks[m->nmarks - 1] <= m->traces_at))
            dev = m->traces->v.c.n; /* APPEND form */
        else if (m->nmarks && m->marks[m->nmarks - 1] == m->traces_at + 1)
            dev = m->traces->v.c.n + (at - m->marks[m->nmarks - 1]);
        else
            return;
        if (dev <= UINT32_MAX) {
            l->role = MT__ROLE_DEVICE;
            l->aux = (uint32_t)dev;
        }
        return;
    }
    if (at < 2 || m->stack[0]->type != MT__PV_DICT || m->stack[0]->sealed) return;
    size_t k = at - 1; /* the key */
    int keypos = (m->nmarks == 1 && m->marks[0] == 1 && (k - 1) % 2 == 0) || (m->nmarks == 0 && k == 1);
    const mt__pv *key = m->stack[k];
    if (!keypos || key->type != MT__PV_STR) return;
    if (key->v.s.n == 8 && !memcmp(key->v.s.p, "segments", 8)) l->role = MT__ROLE_SEGMENTS;
    else if (key->v.s.n == 13 && !memcmp(key->v.s.p, "device_traces", 13)) {
        l->role = MT__ROLE_TRACES;
        m->traces = l;
        m->traces_at = at;
    }
}

/* Releases an element converted by the importer: every dict and list in
 * it becomes GONE, so that what the memo holds of it is a few bytes.
 * Tuples stay: they are small in a snapshot (pool ids), and a pickler
 * shares equal ones (one (0, 0) for many segments). A dict or list of one
 * element that a later one names through the memo is refused there
 * (PyTorch shares only frames and frame lists, which the importer keeps
 * as their ids). */
static int key_read(const mt__pv *k) {
    /* Every key the importer reads (import.c), in any dict of a snapshot. */
#define K(s) { s, sizeof s - 1 }
    static const struct {
        const char *s;
        size_t n;
    } keys[] = { K("action"), K("addr"), K("size"), K("device"), K("address"), K("total_size"), K("stream"),
                 K("allocated_size"), K("active_size"), K("requested_size"), K("segment_type"),
                 K("segment_pool_id"), K("is_expandable"), K("frames"), K("blocks"), K("state"), K("history"),
                 K("real_size"), K("time_us"), K("device_free"), K("filename"), K("line"), K("name") };
#undef K
    if (k->type != MT__PV_STR) return 0;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (keys[i].n == k->v.s.n && !memcmp(keys[i].s, k->v.s.p, k->v.s.n)) return 1;
    return 0;
}

static void retire(mt__pv *v) {
    if (v->type != MT__PV_DICT && v->type != MT__PV_LIST) return;
    for (size_t i = 0; i < v->v.c.n; i++) {
        mt__pv *x = v->v.c.items[i];
        /* The memo holds every str; one that is the value of a key the
         * importer never reads (user_metadata, compile_context, a key of
         * a later release) is released, so that a trace of distinct
         * annotations costs no memory once written. */
        if (v->type == MT__PV_DICT && i % 2 && (x->type == MT__PV_STR || x->type == MT__PV_BYTES) &&
            !key_read(v->v.c.items[i - 1]))
            mt__pv_become(x, MT__PV_DROPPED, 0);
        else
            retire(x);
    }
    mt__pv_become(v, MT__PV_GONE, 0);
}

static void memo_sweep(pk *m);

/* Appends stack[from..n) to list l: kept, or converted when l has a
 * role that streams. */
static int append_items(pk *m, mt__pv *l, size_t from) {
    if (l->type != MT__PV_LIST)
        return fail(m, MT_E_PARSE, m->op_off, "APPEND to a %s, not a list", mt__pk_type_name(l->type));
    int rc = 0;
    size_t i = from;
    for (; i < m->n && !rc; i++) {
        mt__pv *it = m->stack[i];
        if (l->role == MT__ROLE_SEGMENTS || l->role == MT__ROLE_DEVICE) {
            if (l == it || l->sealed) {
                rc = adopt(m, l, it); /* refused, with its message */
                break;
            }
            rc = m->elem(m->ctx, l, l->v.c.consumed, it, m->diag);
            if (!rc) {
                l->v.c.consumed++;
                retire(it);
            }
        } else {
            rc = adopt(m, l, it);
        }
    }
    for (size_t j = from; j < m->n; j++) mt__pv_decref(m->stack[j]);
    m->n = from;
    if (!rc && (l->role == MT__ROLE_SEGMENTS || l->role == MT__ROLE_DEVICE)) memo_sweep(m);
    return rc;
}

static int setitems(pk *m, mt__pv *d, size_t from) {
    if (d->type != MT__PV_DICT)
        return fail(m, MT_E_PARSE, m->op_off, "SETITEM on a %s, not a dict", mt__pk_type_name(d->type));
    if ((m->n - from) % 2)
        return fail(m, MT_E_PARSE, m->op_off, "SETITEMS with a key and no value");
    int rc = 0;
    for (size_t i = from; i < m->n && !rc; i++) rc = adopt(m, d, m->stack[i]);
    for (size_t j = from; j < m->n; j++) mt__pv_decref(m->stack[j]);
    m->n = from;
    return rc;
}

static int make_tuple(pk *m, int type, size_t from) {
    mt__pv *t = new_container(m, type);
    if (!t) return nomem(m);
    int rc = 0;
    for (size_t i = from; i < m->n && !rc; i++) rc = adopt(m, t, m->stack[i]);
    for (size_t j = from; j < m->n; j++) mt__pv_decref(m->stack[j]);
    m->n = from;
    if (rc) {
        mt__pv_decref(t);
        return rc;
    }
    return push(m, t);
}

static int is_tag(uintptr_t x) { return x & 1; }
static uintptr_t tag_of(const mt__pv *v) { return (uintptr_t)v->v.id << 8 | (uintptr_t)v->type << 1 | 1; }

/* The slot of memo index idx; with create, made when missing (NULL and
 * diag filled when memory runs out), else NULL when missing. */
static uintptr_t *memo_slot(pk *m, uint64_t idx, int create) {
    if (idx < m->capdense) return m->dense[idx] || create ? &m->dense[idx] : NULL;
    uint32_t at;
    if (mt_u64map_get(&m->sparse_ix, idx, &at)) return &m->sparse[at];
    if (!create) return NULL;
    /* The array grows only as far as the puts so far pay for. */
    if (idx < 2 * ((uint64_t)m->nmemo + 4096)) {
        size_t nc = m->capdense ? m->capdense : 4096;
        while (nc <= idx) nc *= 2;
        uintptr_t *d = realloc(m->dense, nc * sizeof *d);
        if (!d) return nomem(m), NULL;
        memset(d + m->capdense, 0, (nc - m->capdense) * sizeof *d);
        m->dense = d;
        m->capdense = nc;
        return &m->dense[idx];
    }
    if (m->nsparse == m->capsparse) {
        size_t nc = m->capsparse ? m->capsparse * 2 : 64;
        uintptr_t *sp = realloc(m->sparse, nc * sizeof *sp);
        if (!sp) return nomem(m), NULL;
        m->sparse = sp;
        m->capsparse = nc;
    }
    if (m->nsparse >= UINT32_MAX) return fail(m, MT_E_LIMIT, m->op_off, "more than %u memo entries", UINT32_MAX), NULL;
    if (mt_u64map_put(&m->sparse_ix, idx, (uint32_t)m->nsparse)) return nomem(m), NULL;
    m->sparse[m->nsparse] = 0;
    return &m->sparse[m->nsparse++];
}

static void slot_release(uintptr_t x) {
    if (x && !is_tag(x)) mt__pv_decref((mt__pv *)x);
}

static int memo_put(pk *m, uint64_t idx) {
    if (!m->n || (m->nmarks && m->marks[m->nmarks - 1] == m->n))
        return fail(m, MT_E_PARSE, m->op_off, "a memo put with nothing on the stack");
    mt__pv *v = m->stack[m->n - 1];
    uintptr_t *slot = memo_slot(m, idx, 1);
    if (!slot) return m->diag->code;
    if (*slot) slot_release(*slot);
    else m->nmemo++;
    if (idx < m->capdense && idx >= m->hidense) m->hidense = idx + 1;
    *slot = (uintptr_t)v;
    v->refs++;
    return 0;
}

static int memo_get(pk *m, uint64_t idx) {
    uintptr_t *slot = memo_slot(m, idx, 0);
    if (!slot)
        return fail(m, MT_E_PARSE, m->op_off, "a memo get of slot %llu, which was never put", (unsigned long long)idx);
    mt__pv *v;
    int type = is_tag(*slot) ? (int)(*slot >> 1 & 0x7f) : ((mt__pv *)*slot)->type;
    if (type == MT__PV_GONE)
        return fail(m, MT_E_PARSE, m->op_off,
                    "a memo get of slot %llu, an element already converted (this reader streams them)",
                    (unsigned long long)idx);
    if (is_tag(*slot)) {
        if (!(v = pv_new(type, m->op_off))) return nomem(m);
        v->v.id = (uint32_t)(*slot >> 8);
        v->sealed = 1;
    } else {
        v = (mt__pv *)*slot;
        v->refs++;
    }
    return push(m, v);
}

/* After a batch of elements was converted: the memo slots made since the
 * last sweep that hold a converted value no one else holds keep it inline
 * (8 bytes), and the value is freed. */
static void sweep_slot(uintptr_t *x) {
    mt__pv *v = (mt__pv *)*x;
    if (!*x || is_tag(*x) || v->refs != 1) return;
    if (v->type == MT__PV_GONE || v->type == MT__PV_FRAME || v->type == MT__PV_STACK || v->type == MT__PV_DROPPED) {
        *x = tag_of(v);
        mt__pv_decref(v);
    }
}

static void memo_sweep(pk *m) {
    for (size_t i = m->swept_dense; i < m->hidense; i++) sweep_slot(&m->dense[i]);
    for (size_t i = m->swept_sparse; i < m->nsparse; i++) sweep_slot(&m->sparse[i]);
    m->swept_dense = m->hidense;
    m->swept_sparse = m->nsparse;
}

/* Reads an n-byte little-endian length argument and checks that many
 * bytes can follow. */
static int read_len(pk *m, int n, const char *op, uint64_t *len) {
    uint8_t b[8];
    int rc = src_read(m->src, b, (size_t)n, "the length of a value", m->diag);
    if (rc) return rc;
    *len = le(b, n);
    if (n == 4 && !strcmp(op, "LONG4") && (b[3] & 0x80))
        return fail(m, MT_E_PARSE, m->op_off, "%s with a negative length", op);
    uint64_t at = src_off(m->src);
    if (m->src->total != UINT64_MAX) {
        if (*len > m->src->total - at) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s of %llu bytes, past the end of the input (%llu bytes left)", op,
                     (unsigned long long)*len, (unsigned long long)(m->src->total - at));
            mt_diag_set(m->diag, MT_E_LIMIT, "%s", msg);
            m->diag->offset = (int64_t)m->op_off;
            return MT_E_LIMIT;
        }
    } else if (*len > MT_TORCH_MAX_STRING) {
        return fail(m, MT_E_LIMIT, m->op_off, "%s longer than this reader takes from a pipe (%u bytes)", op,
                    MT_TORCH_MAX_STRING);
    }
    return 0;
}

static int read_str(pk *m, int type, int lenbytes, const char *op) {
    uint64_t len;
    int rc = read_len(m, lenbytes, op, &len);
    if (rc) return rc;
    mt__pv *v = pv_new(type, m->op_off);
    char *p = malloc((size_t)len + 1);
    if (!v || !p) {
        free(v);
        free(p);
        return nomem(m);
    }
    v->v.s.p = p;
    v->v.s.n = (size_t)len;
    p[len] = 0;
    if ((rc = src_read(m->src, p, (size_t)len, "the end of a string", m->diag))) {
        mt__pv_decref(v);
        return rc;
    }
    return push(m, v);
}

static int push_int(pk *m, int neg, uint64_t u) {
    mt__pv *v = pv_new(MT__PV_INT, m->op_off);
    if (!v) return nomem(m);
    v->neg = (uint8_t)neg;
    v->v.u = u;
    return push(m, v);
}

/* LONG1 and LONG4: a two's complement little-endian integer of n bytes,
 * kept when it fits 64 bits (unsigned, or signed when negative): 9 bytes
 * for an address of 2^63 or more, which pickle writes with a 0 byte on
 * top. */
static int read_long(pk *m, int lenbytes, const char *op) {
    uint64_t len;
    int rc = read_len(m, lenbytes, op, &len);
    if (rc) return rc;
    if (len > 9) return fail(m, MT_E_LIMIT, m->op_off, "%s integer of %u bytes, wider than 64 bits", op, (unsigned)len);
    uint8_t b[9] = { 0 };
    if ((rc = src_read(m->src, b, (size_t)len, "the end of an integer", m->diag))) return rc;
    if (!len) return push_int(m, 0, 0);
    int neg = (b[len - 1] & 0x80) != 0;
    if (len == 9) {
        if (b[8] != (neg ? 0xff : 0) || (neg && !(b[7] & 0x80)))
            return fail(m, MT_E_LIMIT, m->op_off, "%s integer wider than 64 bits", op);
        if (neg) return fail(m, MT_E_LIMIT, m->op_off, "%s integer below -2^63", op);
        return push_int(m, 0, le(b, 8));
    }
    uint64_t u = le(b, (int)len);
    if (neg && len < 8) u |= ~0ull << (8 * len); /* sign-extend */
    return push_int(m, neg, u);
}

/* INT and LONG of protocols 0 and 1: decimal text up to a newline
 * ("I00" and "I01" are False and True; LONG may end in 'L'), which
 * protocol 1 still writes for integers of 2^31 and more. */
static int read_text_int(pk *m, int op) {
    char line[72];
    size_t n = 0;
    for (;;) {
        if (n == sizeof line)
            return fail(m, MT_E_LIMIT, m->op_off, "%s of more than %u characters", op == 'I' ? "INT" : "LONG",
                        (unsigned)sizeof line);
        int rc = src_read(m->src, line + n, 1, "the newline of an integer", m->diag);
        if (rc) return rc;
        if (line[n] == '\n') break;
        n++;
    }
    if (n && op == 'L' && line[n - 1] == 'L') n--;
    if (op == 'I' && n == 2 && line[0] == '0' && (line[1] == '0' || line[1] == '1')) {
        mt__pv *v = pv_new(MT__PV_BOOL, m->op_off);
        if (v) v->v.u = line[1] == '1';
        return push(m, v);
    }
    size_t i = 0;
    int neg = n && line[0] == '-';
    if (neg || (n && line[0] == '+')) i++;
    if (i == n) return fail(m, MT_E_PARSE, m->op_off, "%s without digits", op == 'I' ? "INT" : "LONG");
    uint64_t u = 0;
    for (; i < n; i++) {
        if (line[i] < '0' || line[i] > '9')
            return fail(m, MT_E_PARSE, m->op_off, "%s with a character other than a digit", op == 'I' ? "INT" : "LONG");
        unsigned d = (unsigned)(line[i] - '0');
        if (u > (UINT64_MAX - d) / 10) return fail(m, MT_E_LIMIT, m->op_off, "%s wider than 64 bits", op == 'I' ? "INT" : "LONG");
        u = u * 10 + d;
    }
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1) return fail(m, MT_E_LIMIT, m->op_off, "%s below -2^63", op == 'I' ? "INT" : "LONG");
        return push_int(m, u != 0, (uint64_t)0 - u);
    }
    return push_int(m, 0, u);
}

static int op_name_fail(pk *m, int op) {
    static const struct { int op; const char *name; } code_ops[] = {
        { 'c', "GLOBAL" }, { 0x93, "STACK_GLOBAL" }, { 'R', "REDUCE" }, { 'b', "BUILD" }, { 'i', "INST" },
        { 'o', "OBJ" }, { 0x81, "NEWOBJ" }, { 0x92, "NEWOBJ_EX" }, { 'P', "PERSID" }, { 'Q', "BINPERSID" },
        { 0x82, "EXT1" }, { 0x83, "EXT2" }, { 0x84, "EXT4" },
    };
    for (size_t i = 0; i < sizeof code_ops / sizeof *code_ops; i++)
        if (code_ops[i].op == op)
            return fail(m, MT_E_PARSE, m->op_off,
                        "opcode %s (0x%02x) names or calls code: refused (a snapshot is a dict of builtins)",
                        code_ops[i].name, (unsigned)op);
    return fail(m, MT_E_PARSE, m->op_off,
                "opcode 0x%02x is not one this reader takes (expected an opcode of a pickled dict of builtins, "
                "protocol 2 or later)",
                (unsigned)op);
}

static int run(pk *m, mt__pv **root) {
    mt__src *s = m->src;
    for (;;) {
        m->op_off = src_off(s);
        uint8_t op;
        int rc = src_more(s, m->diag);
        if (rc < 0) return rc;
        if (!rc) return truncated(s, "STOP (expected an opcode)", m->diag);
        rc = 0;
        op = (s->mem ? s->mem : s->buf)[s->pos++];
        uint8_t b[8];
        size_t at = 0;
        switch (op) {
        case 0x80: /* PROTO */
            if ((rc = src_read(s, b, 1, "the protocol number", m->diag))) return rc;
            if (b[0] > 5) return fail(m, MT_E_PARSE, m->op_off, "pickle protocol %u, newer than 5", b[0]);
            break;
        case 0x95: /* FRAME: a length hint; the bytes follow as usual */
            if ((rc = src_read(s, b, 8, "a FRAME's length", m->diag))) return rc;
            break;
        case '.': /* STOP */
            if (!m->n || (m->nmarks && m->marks[m->nmarks - 1] == m->n))
                return fail(m, MT_E_PARSE, m->op_off, "STOP with nothing on the stack");
            *root = m->stack[--m->n];
            return 0;
        case '}': rc = push(m, new_container(m, MT__PV_DICT)); break;
        case ')': rc = push(m, new_container(m, MT__PV_TUPLE)); break;
        case ']':
            if (!(rc = push(m, new_container(m, MT__PV_LIST)))) assign_role(m, m->stack[m->n - 1]);
            break;
        case '(': /* MARK */
            if (m->nmarks == MT_TORCH_MAX_DEPTH)
                return fail(m, MT_E_LIMIT, m->op_off, "MARKs nested deeper than %u", MT_TORCH_MAX_DEPTH);
            m->marks[m->nmarks++] = m->n;
            break;
        case 'l': /* LIST (protocol 0/1) */
        case 'd': /* DICT */
        case 't': /* TUPLE */
            if ((rc = top_mark(m, op == 'l' ? "LIST" : op == 'd' ? "DICT" : "TUPLE", &at))) return rc;
            if (op == 't') {
                rc = make_tuple(m, MT__PV_TUPLE, at);
            } else {
                mt__pv *c = new_container(m, op == 'l' ? MT__PV_LIST : MT__PV_DICT);
                if (!c) return nomem(m);
                rc = op == 'l' ? append_items(m, c, at) : setitems(m, c, at);
                if (rc) mt__pv_decref(c);
                else rc = push(m, c);
            }
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1-3 */
            size_t k = (size_t)(op - 0x84);
            if ((rc = need(m, k, "TUPLEn"))) return rc;
            rc = make_tuple(m, MT__PV_TUPLE, m->n - k);
            break;
        }
        case 'a': /* APPEND */
            if ((rc = need(m, 2, "APPEND"))) return rc;
            rc = append_items(m, m->stack[m->n - 2], m->n - 1);
            break;
        case 'e': /* APPENDS */
            if ((rc = top_mark(m, "APPENDS", &at))) return rc;
            if (at == 0 || (m->nmarks && m->marks[m->nmarks - 1] >= at))
                return fail(m, MT_E_PARSE, m->op_off, "APPENDS with no list below its MARK");
            rc = append_items(m, m->stack[at - 1], at);
            break;
        case 's': /* SETITEM */
            if ((rc = need(m, 3, "SETITEM"))) return rc;
            rc = setitems(m, m->stack[m->n - 3], m->n - 2);
            break;
        case 'u': /* SETITEMS */
            if ((rc = top_mark(m, "SETITEMS", &at))) return rc;
            if (at == 0 || (m->nmarks && m->marks[m->nmarks - 1] >= at))
                return fail(m, MT_E_PARSE, m->op_off, "SETITEMS with no dict below its MARK");
            rc = setitems(m, m->stack[at - 1], at);
            break;
        case '0': /* POP */
            if (m->nmarks && m->marks[m->nmarks - 1] == m->n) {
                m->nmarks--; /* as Python's pickle: POP of a mark pops it */
                break;
            }
            if ((rc = need(m, 1, "POP"))) return rc;
            mt__pv_decref(m->stack[--m->n]);
            break;
        case '1': /* POP_MARK */
            if ((rc = top_mark(m, "POP_MARK", &at))) return rc;
            while (m->n > at) mt__pv_decref(m->stack[--m->n]);
            break;
        case '2': /* DUP */
            if ((rc = need(m, 1, "DUP"))) return rc;
            m->stack[m->n - 1]->refs++;
            rc = push(m, m->stack[m->n - 1]);
            break;
        case 0x8c: rc = read_str(m, MT__PV_STR, 1, "SHORT_BINUNICODE"); break;
        case 'X': rc = read_str(m, MT__PV_STR, 4, "BINUNICODE"); break;
        case 0x8d: rc = read_str(m, MT__PV_STR, 8, "BINUNICODE8"); break;
        case 'C': rc = read_str(m, MT__PV_BYTES, 1, "SHORT_BINBYTES"); break;
        case 'B': rc = read_str(m, MT__PV_BYTES, 4, "BINBYTES"); break;
        case 0x8e: rc = read_str(m, MT__PV_BYTES, 8, "BINBYTES8"); break;
        case 'J': { /* BININT: signed 32 bits */
            if ((rc = src_read(s, b, 4, "a BININT's value", m->diag))) return rc;
            int32_t v = (int32_t)(uint32_t)le(b, 4);
            rc = push_int(m, v < 0, (uint64_t)(int64_t)v);
            break;
        }
        case 'K':
            if ((rc = src_read(s, b, 1, "a BININT1's value", m->diag))) return rc;
            rc = push_int(m, 0, b[0]);
            break;
        case 'M':
            if ((rc = src_read(s, b, 2, "a BININT2's value", m->diag))) return rc;
            rc = push_int(m, 0, le(b, 2));
            break;
        case 'I':
        case 'L': rc = read_text_int(m, op); break;
        case 0x8a: rc = read_long(m, 1, "LONG1"); break;
        case 0x8b: rc = read_long(m, 4, "LONG4"); break;
        case 'G': { /* BINFLOAT: big-endian IEEE 754 */
            if ((rc = src_read(s, b, 8, "a BINFLOAT's value", m->diag))) return rc;
            uint64_t bits = 0;
            for (int i = 0; i < 8; i++) bits = bits << 8 | b[i];
            mt__pv *v = pv_new(MT__PV_FLOAT, m->op_off);
            if (v) memcpy(&v->v.f, &bits, 8);
            rc = push(m, v);
            break;
        }
        case 'N': rc = push(m, pv_new(MT__PV_NONE, m->op_off)); break;
        case 0x88:
        case 0x89: {
            mt__pv *v = pv_new(MT__PV_BOOL, m->op_off);
            if (v) v->v.u = op == 0x88;
            rc = push(m, v);
            break;
        }
        case 0x94: rc = memo_put(m, m->nmemo); break; /* MEMOIZE */
        case 'q':
            if ((rc = src_read(s, b, 1, "a BINPUT's index", m->diag))) return rc;
            rc = memo_put(m, b[0]);
            break;
        case 'r':
            if ((rc = src_read(s, b, 4, "a LONG_BINPUT's index", m->diag))) return rc;
            rc = memo_put(m, le(b, 4));
            break;
        case 'h':
            if ((rc = src_read(s, b, 1, "a BINGET's index", m->diag))) return rc;
            rc = memo_get(m, b[0]);
            break;
        case 'j':
            if ((rc = src_read(s, b, 4, "a LONG_BINGET's index", m->diag))) return rc;
            rc = memo_get(m, le(b, 4));
            break;
        default:
            return op_name_fail(m, op);
        }
        if (rc) return rc;
    }
}

int mt__pk_run(mt__src *src, mt__pk_elem_fn elem, void *ctx, mt__pv **root, mt_diag *diag) {
    pk m;
    memset(&m, 0, sizeof m);
    m.src = src;
    m.elem = elem;
    m.ctx = ctx;
    m.diag = diag;
    m.sparse_ix = (mt_u64map)MT_U64MAP_INIT;
    *root = NULL;
    int rc = run(&m, root);
    for (size_t i = 0; i < m.n; i++) mt__pv_decref(m.stack[i]);
    for (size_t i = 0; i < m.hidense; i++) slot_release(m.dense[i]);
    for (size_t i = 0; i < m.nsparse; i++) slot_release(m.sparse[i]);
    free(m.stack);
    free(m.dense);
    free(m.sparse);
    mt_u64map_free(&m.sparse_ix);
    return rc;
}
