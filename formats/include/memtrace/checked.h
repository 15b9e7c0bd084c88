/* Checked arithmetic for numbers read from files.
 *
 * Every count, size, offset and sequence number a reader takes from its
 * input passes through one of these before it is used in arithmetic or an
 * allocation (formats/SPEC.md section 6.1): a forged header must end in a
 * clear error, never in a wrapped value. Header-only, so that formats/,
 * libanalyze/ and the tools share the one copy. */
#ifndef MEMTRACE_CHECKED_H
#define MEMTRACE_CHECKED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* *out = a + b. Returns 1 (and leaves *out unspecified) on overflow, else 0. */
static inline int mt_add_u64(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_add_overflow(a, b, out); }
/* *out = a * b. Returns 1 on overflow, else 0. */
static inline int mt_mul_u64(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_mul_overflow(a, b, out); }
/* *out = a - b. Returns 1 when b > a, else 0. */
static inline int mt_sub_u64(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_sub_overflow(a, b, out); }
/* The same for size_t, for allocation sizes. */
static inline int mt_add_size(size_t a, size_t b, size_t *out) { return __builtin_add_overflow(a, b, out); }
static inline int mt_mul_size(size_t a, size_t b, size_t *out) { return __builtin_mul_overflow(a, b, out); }

/* a + b, or UINT64_MAX when that overflows: for totals that are only
 * reported (a sum of byte sizes), where a saturated figure is printed as
 * such rather than wrapped into a small, wrong one. */
static inline uint64_t mt_sat_add_u64(uint64_t a, uint64_t b) {
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}
/* a * b, or UINT64_MAX when that overflows. */
static inline uint64_t mt_sat_mul_u64(uint64_t a, uint64_t b) {
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

#ifdef __cplusplus
}
#endif
#endif
