/* A growable array's one growth step, shared by libanalyze's sources.
 * Internal. */
#ifndef MT_ARRAY_H
#define MT_ARRAY_H

#include <stdlib.h>

/* Makes room for element n in *arr (elements of elem bytes, capacity
 * *cap), doubling. @return 0, or -1 with *arr unchanged. */
static inline int mt__grow(void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *np = realloc(*arr, nc * elem);
    if (!np) return -1;
    *arr = np;
    *cap = nc;
    return 0;
}

#endif
