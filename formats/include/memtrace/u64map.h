/* A small open-addressing map from 64-bit keys to 32-bit values.
 *
 * Writers need it to turn addresses into dense object indices, readers to
 * turn type ids into type indices. Header-only so that collectors, which
 * link nothing but the writer, can use it. Not thread-safe. */
#ifndef MEMTRACE_U64MAP_H
#define MEMTRACE_U64MAP_H

#include <stdint.h>
#include <stdlib.h>
#include "memtrace/errors.h"

typedef struct mt_u64map {
    uint64_t *keys;
    uint32_t *vals;
    uint8_t *used;
    size_t cap;    /* a power of two, or 0 */
    size_t count;
} mt_u64map;

#define MT_U64MAP_INIT { NULL, NULL, NULL, 0, 0 }

static inline size_t mt__u64map_slot(uint64_t k, size_t cap) {
    k ^= k >> 33; /* murmur3's finalizer: addresses differ in low bits only */
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

/* Frees the map's memory; the map is empty and reusable afterwards. */
static inline void mt_u64map_free(mt_u64map *m) {
    free(m->keys);
    free(m->vals);
    free(m->used);
    m->keys = NULL;
    m->vals = NULL;
    m->used = NULL;
    m->cap = m->count = 0;
}

/* Finds key: returns 1 and sets *val, or returns 0. */
static inline int mt_u64map_get(const mt_u64map *m, uint64_t key, uint32_t *val) {
    if (!m->cap) return 0;
    for (size_t i = mt__u64map_slot(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->used[i]) return 0;
        if (m->keys[i] == key) {
            *val = m->vals[i];
            return 1;
        }
    }
}

/* Sets key to val, replacing any old value.
 * @return 0, or MT_E_NOMEM when memory runs out (the map is unchanged). */
static inline int mt_u64map_put(mt_u64map *m, uint64_t key, uint32_t val) {
    if ((m->count + 1) * 4 > m->cap * 3) { /* keep the load under 3/4 */
        size_t nc = m->cap ? m->cap * 2 : 64;
        mt_u64map n = { (uint64_t *)malloc(nc * 8), (uint32_t *)malloc(nc * 4), (uint8_t *)calloc(nc, 1), nc, 0 };
        if (!n.keys || !n.vals || !n.used) {
            mt_u64map_free(&n);
            return MT_E_NOMEM;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->used[i]) {
                size_t j = mt__u64map_slot(m->keys[i], nc);
                while (n.used[j]) j = (j + 1) & (nc - 1);
                n.used[j] = 1;
                n.keys[j] = m->keys[i];
                n.vals[j] = m->vals[i];
            }
        n.count = m->count;
        mt_u64map_free(m);
        *m = n;
    }
    size_t i = mt__u64map_slot(key, m->cap);
    while (m->used[i] && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
    if (!m->used[i]) {
        m->used[i] = 1;
        m->keys[i] = key;
        m->count++;
    }
    m->vals[i] = val;
    return 0;
}

#endif
