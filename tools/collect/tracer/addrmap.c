/* The address map of recorded blocks (internal.h): what a free needs to
 * write its record (the block's size, stack, domain, weight and birth),
 * for the recorded blocks only. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static inline uint64_t mix(uint64_t k) {
    /* murmur3's finalizer: addresses differ in their middle bits only. */
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static void *(*volatile zero)(void *, int, size_t) = memset;

static inline size_t filter_slot(uint64_t addr) { return MT__ADDR_FILTER_SLOT(addr); }

int mt__addrmap_init(mt__addrmap *m) {
    memset(m, 0, sizeof *m);
    m->filter = calloc((size_t)1 << MT__ADDR_FILTER_BITS, 1);
    return m->filter ? 0 : -1;
}

void mt__addrmap_free(mt__addrmap *m) {
    free(m->slots);
    free(m->filter);
    memset(m, 0, sizeof *m);
}

void mt__addrmap_clear(mt__addrmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
    if (m->filter) memset(m->filter, 0, (size_t)1 << MT__ADDR_FILTER_BITS);
}

static void insert_slot(mt__addr_entry *slots, size_t cap, const mt__addr_entry *e) {
    size_t i = (size_t)mix(e->addr) & (cap - 1);
    while (slots[i].addr && slots[i].addr != e->addr) i = (i + 1) & (cap - 1);
    slots[i] = *e;
}

int mt__addrmap_put(mt__addrmap *m, const mt__addr_entry *e) {
    if ((m->count + 1) * 4 > m->cap * 3) { /* load under 3/4 */
        size_t nc = m->cap ? m->cap * 2 : 1024;
        /* malloc and a write of every page, not calloc: a large calloc
         * maps zero pages that the probes read first, and each write then
         * faults a second time to replace them (a fifth of a full-mode
         * trace's time, perf). Through a volatile pointer, or the
         * compiler makes malloc and memset a calloc again. */
        mt__addr_entry *ns = malloc(nc * sizeof *ns);
        if (!ns) return -1;
        zero(ns, 0, nc * sizeof *ns);
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].addr) insert_slot(ns, nc, &m->slots[i]);
        free(m->slots);
        m->slots = ns;
        m->cap = nc;
    }
    size_t i = (size_t)mix(e->addr) & (m->cap - 1);
    while (m->slots[i].addr && m->slots[i].addr != e->addr) i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].addr) {
        m->count++;
        uint8_t *f = &m->filter[filter_slot(e->addr)];
        uint8_t v = __atomic_load_n(f, __ATOMIC_RELAXED);
        if (v < 255) __atomic_store_n(f, (uint8_t)(v + 1), __ATOMIC_RELAXED);
    }
    m->slots[i] = *e;
    return 0;
}

int mt__addrmap_take(mt__addrmap *m, uint64_t addr, mt__addr_entry *out) {
    if (!m->cap || !addr) return 0;
    size_t mask = m->cap - 1, i = (size_t)mix(addr) & mask;
    while (m->slots[i].addr != addr) {
        if (!m->slots[i].addr) return 0;
        i = (i + 1) & mask;
    }
    *out = m->slots[i];
    /* Backward shift: move up each later entry of the run that may sit in
     * the freed slot (its home is not cyclically within (i, j]). */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].addr) break;
        size_t home = (size_t)mix(m->slots[j].addr) & mask;
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j)) continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    m->slots[i].addr = 0;
    m->count--;
    uint8_t *f = &m->filter[filter_slot(addr)];
    uint8_t v = __atomic_load_n(f, __ATOMIC_RELAXED);
    if (v > 0 && v < 255) __atomic_store_n(f, (uint8_t)(v - 1), __ATOMIC_RELAXED);
    return 1;
}

const mt__addr_entry *mt__addrmap_find(const mt__addrmap *m, uint64_t addr) {
    if (!m->cap || !addr) return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)mix(addr) & mask; m->slots[i].addr; i = (i + 1) & mask)
        if (m->slots[i].addr == addr) return &m->slots[i];
    return NULL;
}

int mt__addrmap_maybe(const mt__addrmap *m, uint64_t addr) {
    if (!m->filter) return 0;
    return __atomic_load_n(&m->filter[filter_slot(addr)], __ATOMIC_RELAXED) != 0;
}

uint8_t *mt__addrmap_filter(const mt__addrmap *m) { return m->filter; }
