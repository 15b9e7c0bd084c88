/* The tracer's concerns, one file each, for tracer.c and the unit tests
 * (tests/unit/tracer/): the sampling arithmetic (sample.c), the address
 * map of recorded blocks (addrmap.c) and the frame and stack interning
 * (intern.c). None of them locks: tracer.c does. */
#ifndef MT_TRACER_INTERNAL_H
#define MT_TRACER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* ---- sample.c ---------------------------------------------------- */

/* splitmix64: the next 64 random bits of *state. Seedable, so that tests
 * fix the sequence. */
uint64_t mt__rng_next(uint64_t *state);
/* A draw of the exponential distribution of the given mean. */
double mt__rng_exp(uint64_t *state, double mean);
/* The countdown to the next sample point: 1 + floor(an exponential draw of
 * mean S), so that a block of n bytes is sampled (countdown <= n) with
 * probability exactly 1 - exp(-n/S) (P(floor(X) < n) = P(X < n)). */
int64_t mt__sample_countdown(uint64_t *state, uint64_t sample_bytes);
/* 1 / (1 - exp(-n/S)): the blocks a sampled block of n bytes stands for. */
double mt__sample_weight(uint64_t n, uint64_t sample_bytes);

/* ---- addrmap.c --------------------------------------------------- */

typedef struct mt__addr_entry {
    uint64_t addr;  /* 0: an empty slot */
    uint64_t size, born;
    double weight;
    uint32_t stack, domain;
} mt__addr_entry;

/* Open addressing with linear probing, deletion by backward shift (no
 * tombstones, so a long run of allocs and frees keeps short probes).
 * `filter` counts the entries per hash bucket of a small array that
 * readers may test without the map's lock (mt__addrmap_maybe). */
#define MT__ADDR_FILTER_BITS 18
/* The filter's slot of an address: its bits above the 16-byte alignment,
 * unhashed, so that frees of neighbouring blocks (a pool of small objects
 * freed together) read neighbouring counters, one cache line for many:
 * a hashed slot cost every free a cache miss (+20% on an object-heavy
 * Python loop). Recorded blocks are few and far apart in sampled mode. */
#define MT__ADDR_FILTER_SLOT(addr) ((size_t)((addr) >> 4) & (((size_t)1 << MT__ADDR_FILTER_BITS) - 1))
typedef struct mt__addrmap {
    mt__addr_entry *slots;
    size_t cap, count;  /* cap a power of two, or 0 */
    uint8_t *filter;    /* 2^MT__ADDR_FILTER_BITS counters; 255 sticks */
} mt__addrmap;

/* @return 0, or -1 when memory runs out. */
int mt__addrmap_init(mt__addrmap *m);
void mt__addrmap_free(mt__addrmap *m);
/* Empties the map; the filter stays where it is (lock-free readers may
 * hold its address). */
void mt__addrmap_clear(mt__addrmap *m);
/* Inserts or replaces e (e->addr != 0). @return 0, or -1 (no memory:
 * the map is unchanged). */
int mt__addrmap_put(mt__addrmap *m, const mt__addr_entry *e);
/* Removes addr into *out. @return 1 when it was there, else 0. */
int mt__addrmap_take(mt__addrmap *m, uint64_t addr, mt__addr_entry *out);
/* The entry of addr, or NULL; valid until the map changes. */
const mt__addr_entry *mt__addrmap_find(const mt__addrmap *m, uint64_t addr);
/* 0 when addr is certainly not in the map. Safe without the map's lock
 * (a relaxed read of one counter); a block inserted before the caller got
 * its address is always seen. */
int mt__addrmap_maybe(const mt__addrmap *m, uint64_t addr);
/* The filter's counters, for mt_tracer_maybe_recorded's inline test. */
uint8_t *mt__addrmap_filter(const mt__addrmap *m);

/* ---- intern.c ---------------------------------------------------- */

/* A map from a pair of 64-bit keys to a 32-bit id (0 is never stored). */
typedef struct mt__pairmap {
    uint64_t *a, *b;
    uint32_t *v;  /* 0: an empty slot */
    size_t cap, count;
} mt__pairmap;
uint32_t mt__pairmap_get(const mt__pairmap *m, uint64_t a, uint64_t b);
/* @return 0, or -1 when memory runs out. */
int mt__pairmap_put(mt__pairmap *m, uint64_t a, uint64_t b, uint32_t v);
void mt__pairmap_free(mt__pairmap *m);

/* A frame or stack interned since the writer last took the new ones. */
typedef struct mt__new_frame {
    uint32_t id, line;
    char *function, *file;  /* malloc'd, NUL-terminated */
} mt__new_frame;
typedef struct mt__new_stack {
    uint32_t id, frame, parent;
} mt__new_stack;

typedef struct mt__intern {
    mt__pairmap at;      /* (key, at) -> frame */
    mt__pairmap frames;  /* (key, line) -> frame */
    mt__pairmap stacks;  /* (frame, parent) -> stack */
    uint32_t nframes, nstacks;
    mt__new_frame *new_frames;
    size_t n_new_frames, cap_new_frames;
    mt__new_stack *new_stacks;
    size_t n_new_stacks, cap_new_stacks;
} mt__intern;

/* The frame of (key, line); a new one is listed for the writer with
 * copies of function and file. @return its id (from 1), 0 on no memory. */
uint32_t mt__intern_frame(mt__intern *in, uint64_t key, uint32_t line, const char *function, size_t function_len,
                          const char *file, size_t file_len, int *is_new);
/* The stack (frame, parent), listed for the writer when new. @return its
 * id (from 1), 0 on no memory. */
uint32_t mt__intern_stack(mt__intern *in, uint32_t frame, uint32_t parent);
/* Frees the maps and the lists; the interner is empty and reusable. */
void mt__intern_free(mt__intern *in);

#endif
