/* The one string hash of libanalyze. Internal. */
#ifndef MT_HASH_H
#define MT_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a (64 bits) of s[0..n): short names, no allocation, no seed. Its
 * values are not kept in any file, so it may change. */
static inline uint64_t mt__fnv1a(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

#endif
