/* The value hash of kmv sketches (SPEC.md section 4.3, df_sketches).
 *
 * Equal keys hash alike across integer widths, and integers alike with
 * whole floats, as pandas matches them in a merge; so sketches of two
 * columns written by different collectors can be compared. */
#ifndef MEMTRACE_VALHASH_H
#define MEMTRACE_VALHASH_H

#include <stdint.h>
#include <string.h>

#define MT_HASH_TAG_INT 0u
#define MT_HASH_TAG_FLOAT 0x9E3779B97F4A7C15ull
#define MT_HASH_TAG_TIME 0xC2B2AE3D27D4EB4Full
#define MT_HASH_TAG_STR 0x165667B19E3779F9ull

/* MurmurHash3's 64-bit finalizer: a bijection with full avalanche. */
static inline uint64_t mt_fmix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

static inline uint64_t mt_hash_int(int64_t v) { return mt_fmix64((uint64_t)v ^ MT_HASH_TAG_INT); }

static inline uint64_t mt_hash_uint(uint64_t v) { return mt_fmix64(v ^ MT_HASH_TAG_INT); }

static inline uint64_t mt_hash_time(int64_t ns) { return mt_fmix64((uint64_t)ns ^ MT_HASH_TAG_TIME); }

/* A whole float below 2^63 in magnitude hashes as that integer. */
static inline uint64_t mt_hash_double(double x) {
    if (x > -9223372036854775808.0 && x < 9223372036854775808.0 && x == (double)(int64_t)x)
        return mt_hash_int((int64_t)x);
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    return mt_fmix64(bits ^ MT_HASH_TAG_FLOAT);
}

/* FNV-1a 64 over code points of width (1, 2 or 4 bytes each, native
 * order), each code point XORed in whole. */
static inline uint64_t mt_hash_codepoints(const void *data, size_t n, int width) {
    uint64_t h = 0xCBF29CE484222325ull;
    const uint8_t *p = data;
    if (width == 1)
        for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    else if (width == 2)
        for (size_t i = 0; i < n; i++) h = (h ^ ((const uint16_t *)data)[i]) * 0x100000001B3ull;
    else
        for (size_t i = 0; i < n; i++) h = (h ^ ((const uint32_t *)data)[i]) * 0x100000001B3ull;
    return mt_fmix64(h ^ MT_HASH_TAG_STR);
}

#endif
