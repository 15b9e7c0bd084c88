/* Interned names, each with a dense index in order of first sight: the
 * groups of a diff, the types of a leak analysis. Internal. */
#ifndef MT_NAMES_H
#define MT_NAMES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "common/array.h"
#include "common/hash.h"

typedef struct mt__names {
    char *pool;            /* the names, NUL-terminated */
    size_t pool_len, pool_cap;
    size_t *at;            /* [n]: pool offset of name i */
    size_t n, cap;
    uint32_t *slots;       /* open addressing: index + 1, 0 when empty */
    size_t n_slots;
} mt__names;

static inline void mt__names_free(mt__names *t) {
    free(t->pool);
    free(t->at);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* Name i; valid until the next new name. */
static inline const char *mt__names_str(const mt__names *t, size_t i) { return t->pool + t->at[i]; }

static inline int mt__names_rehash(mt__names *t) {
    size_t ns = t->n_slots ? t->n_slots * 2 : 256;
    uint32_t *sl = (uint32_t *)calloc(ns, 4);
    if (!sl) return -1;
    for (size_t r = 0; r < t->n; r++) {
        const char *nm = mt__names_str(t, r);
        size_t i = mt__fnv1a(nm, strlen(nm)) & (ns - 1);
        while (sl[i]) i = (i + 1) & (ns - 1);
        sl[i] = (uint32_t)r + 1;
    }
    free(t->slots);
    t->slots = sl;
    t->n_slots = ns;
    return 0;
}

/* The index of name[0..len), or -1 when it is not in the table. */
static inline int64_t mt__names_find(const mt__names *t, const char *name, size_t len) {
    if (!t->n_slots) return -1;
    for (size_t i = mt__fnv1a(name, len) & (t->n_slots - 1); t->slots[i]; i = (i + 1) & (t->n_slots - 1)) {
        const char *have = mt__names_str(t, t->slots[i] - 1);
        if (!strncmp(have, name, len) && have[len] == 0) return t->slots[i] - 1;
    }
    return -1;
}

/* The index of name[0..len), given the next one (t->n) when it is new.
 * Callers keeping arrays beside the names make room for index t->n
 * first, so that a new name never outruns them.
 * @return the index, or -1 when memory runs out (nothing is added). */
static inline int64_t mt__names_index(mt__names *t, const char *name, size_t len) {
    if ((t->n + 1) * 2 > t->n_slots && mt__names_rehash(t)) return -1;
    size_t i = mt__fnv1a(name, len) & (t->n_slots - 1);
    for (; t->slots[i]; i = (i + 1) & (t->n_slots - 1)) {
        const char *have = mt__names_str(t, t->slots[i] - 1);
        if (!strncmp(have, name, len) && have[len] == 0) return t->slots[i] - 1;
    }
    if (mt__grow((void **)&t->at, &t->cap, t->n, sizeof(size_t)) ||
        mt__pool_add(&t->pool, &t->pool_len, &t->pool_cap, name, len, &t->at[t->n]))
        return -1;
    t->slots[i] = (uint32_t)t->n + 1;
    return (int64_t)t->n++;
}

#endif
