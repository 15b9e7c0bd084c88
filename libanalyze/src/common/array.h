/* A growable array's one growth step, shared by libanalyze's sources.
 * Internal. */
#ifndef MT_ARRAY_H
#define MT_ARRAY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for need elements in *arr (elements of elem bytes,
 * capacity *cap), doubling from 16. The elements past the old capacity
 * are not initialised. @return 0, or -1 with *arr and *cap unchanged
 * (out of memory, or need * elem overflows). */
static inline int mt__reserve(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return -1;
        nc *= 2;
    }
    if (nc > SIZE_MAX / elem) return -1;
    void *np = realloc(*arr, nc * elem);
    if (!np) return -1;
    *arr = np;
    *cap = nc;
    return 0;
}

/* qsort, which must never be given a NULL array, even of 0 elements (the
 * C standard makes that undefined, and UBSan says so). */
static inline void mt__qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *)) {
    if (n) qsort(base, n, size, cmp);
}

/* Makes room for element n in *arr, as mt__reserve(). */
static inline int mt__grow(void **arr, size_t *cap, size_t n, size_t elem) {
    return n < *cap ? 0 : mt__reserve(arr, cap, n + 1, elem);
}

/* Appends s[0..n) and a NUL to a string pool (*pool of *len bytes used,
 * *cap allocated), doubling; *at gets the offset of the copy, which stays
 * valid when the pool moves. @return 0, or -1 with the pool unchanged. */
static inline int mt__pool_add(char **pool, size_t *len, size_t *cap, const char *s, size_t n, size_t *at) {
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 4096;
        while (nc < *len + n + 1) nc *= 2;
        char *np = (char *)realloc(*pool, nc);
        if (!np) return -1;
        *pool = np;
        *cap = nc;
    }
    if (n) memcpy(*pool + *len, s, n);
    (*pool)[*len + n] = 0;
    *at = *len;
    *len += n + 1;
    return 0;
}

#endif
