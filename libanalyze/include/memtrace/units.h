/* Sizes as people read them, the same in every tool and message. */
#ifndef MEMTRACE_UNITS_H
#define MEMTRACE_UNITS_H

#include <stdint.h>
#include "memtrace/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "1.5 KiB", "12 B": binary units, one decimal. buf needs 16 bytes.
 * Returns buf, or for UINT64_MAX (a saturated total) the constant
 * "more than 16 EiB": use the return value, not buf. */
const char *mt_human_bytes(uint64_t n, char *buf);

/* "+1.5 KiB", "-12 B", "0 B": a change in size. buf needs 24 bytes;
 * returns buf. */
const char *mt_signed_bytes(int64_t n, char *buf);

/* The change from a to b bytes, "+1.5 KiB", computed without wrapping.
 * A saturated total (UINT64_MAX) has no known change: the constant
 * "unknown" is returned. buf needs 24 bytes; use the return value. */
const char *mt_change_bytes(uint64_t a, uint64_t b, char *buf);

/* Parses a number with an optional size unit after it (spaces allowed
 * between): B, KB, MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB
 * (powers of 1024). "1.5 GiB", "500000", "64KB".
 * @return 0 and *out; MT_E_PARSE when s is not such a number, MT_E_RANGE
 * when it is not finite. */
int mt_size_parse(const char *s, double *out);

/* Parses a byte count exactly: the one parser for every size a person
 * writes (command-line options, gate policies). Decimal digits, an
 * optional fraction, one optional space, an optional unit: B, KB, MB,
 * GB, TB, PB, EB (powers of 1000), KiB, MiB, GiB, TiB, PiB, EiB (powers
 * of 1024). A fraction is allowed only where the unit makes it whole
 * bytes ("1.5 GiB" and "0.5KB" are, "1.5" and "0.1 KiB" are not). No
 * sign, hex, exponent, inf or nan; never through a double.
 * @return 0 and *out; MT_E_PARSE when s is not such a size (or names part
 * of a byte), MT_E_RANGE when it is above 18446744073709551615 (2^64-1). */
int mt_bytes_parse(const char *s, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
