/* Writing JSON: the one number formatter and string escaper of libanalyze
 * and the tools, so that every JSON output spells a float and a hostile
 * string the same way. tests/unit/common/test_json.c checks the numbers
 * against strtod(3) and the strings against hostile names. */
#ifndef MEMTRACE_JSON_H
#define MEMTRACE_JSON_H

#include <stdio.h>
#include "memtrace/format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The size of a buffer that holds any number mt_json_num writes, with
 * its NUL: "-2.2250738585072014e-308.0" is 26 bytes. */
#define MT_JSON_NUM_MAX 32

/* mt_json_num flag: a whole number ends in ".0" (999.0), so that a reader
 * that types values by their spelling (pandas, Python's json) keeps it a
 * float. Without it a whole number is written as an integer (999). */
#define MT_JSON_FLOAT_MARK 1u

/* Writes d into buf (MT_JSON_NUM_MAX bytes), NUL-terminated, with the
 * fewest significant digits that strtod(3) reads back as exactly d:
 * 0.1, 19.99, 1e+300, 5e-324, not 19.989999999999998. A whole number of
 * at most 2^53 in magnitude is written as an integer (9007199254740992,
 * -0), larger ones as the shortest %g (1e+20). flags: MT_JSON_FLOAT_MARK.
 * @return the length written, or 0 with buf "" when d is NaN or an
 *         infinity, which JSON cannot express (callers write null). */
size_t mt_json_num(char *buf, double d, unsigned flags);

/* Writes d to out as mt_json_num spells it; NaN and infinities as null. */
void mt_json_put_num(FILE *out, double d, unsigned flags);

/* Writes s as a JSON string, quoted and escaped ('"', '\\' and control
 * characters; newline, tab and carriage return as \n, \t, \r, the others
 * as \u00XX); valid UTF-8 is passed through, and each byte that is not
 * gives \ufffd, so the output is always valid JSON whatever s holds. */
void mt_json_put_str(FILE *out, mt_str s);

/* Writes v as a JSON scalar (null, true, 12, -3, 0.5, "text"): floats as
 * mt_json_put_num writes them without flags (NaN and infinities as null),
 * binary as a string with \u00XX for each byte above 0x7f. */
void mt_json_put_value(FILE *out, const mt_value *v);

#ifdef __cplusplus
}
#endif
#endif
