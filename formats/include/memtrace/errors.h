/* memtrace error codes, shared by formats/, libanalyze/ and the tools.
 *
 * Functions return 0 on success or one of these negative codes. The values
 * never change once released: new codes are appended to the table. An int
 * a function returns is 0, one of these codes or, where its contract says
 * so, 1 (a record was read, an overflow happened; a predicate such as
 * mt_snapshot_meta_number() returns only 1 or 0); never a count, an
 * index or a bare -1 (which is MT_E_NOMEM): values come back through
 * out-parameters. A walk that calls back (mt_snapshot_each(),
 * mt_sites_live()) passes a nonzero return of its callback through
 * unchanged: the callback returns an MT_E_* code for its own failure and
 * a positive value to stop early, so neither is mistaken for the other.
 *
 * Every table of names (record kinds, groupings, severities, predict ops,
 * plot kinds and formats, diff sort keys, gate budgets, leak verdicts) is
 * read both ways with one pair of calls:
 *     const char *mt_THING_name(mt_THING v);
 *     int mt_THING_from_name(const char *name, mt_THING *out);
 * the second returning 0 and *out, or MT_E_INVAL for a name not in the
 * table (leaving *out as it was). A plot kind is a struct: its name is
 * its name field, and mt_plot_kind_from_name() hands out the entry. */
#ifndef MEMTRACE_ERRORS_H
#define MEMTRACE_ERRORS_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, text): the one table behind the enum, mt_strerror() and
 * mt_err_name(). */
#define MT_ERRNO_MAP(X)                                                        \
    X(NOMEM, -1, "out of memory")                                              \
    X(IO, -2, "input/output error")                                            \
    X(INVAL, -3, "invalid argument")                                           \
    X(NOTSNAP, -4, "not a memtrace snapshot")                                  \
    X(VERSION, -5, "unsupported format version")                               \
    X(TRUNCATED, -6, "file is truncated")                                      \
    X(CHECKSUM, -7, "checksum mismatch")                                       \
    X(CORRUPT, -8, "corrupt block")                                            \
    X(MSGPACK, -9, "malformed msgpack")                                        \
    X(RECORD, -10, "record does not match its kind")                           \
    X(DAMAGED, -11, "file is damaged")                                         \
    X(RANGE, -12, "value out of range")                                        \
    X(LIMIT, -13, "size limit exceeded")                                       \
    X(PARSE, -14, "syntax error")                                              \
    X(NOTFOUND, -15, "not found")                                              \
    X(STATE, -16, "operation not valid in this state")                         \
    X(BUSY, -17, "file is locked by another writer")

typedef enum mt_errno {
    MT_OK = 0,
#define MT__ERR_ENUM(name, value, text) MT_E_##name = (value),
    MT_ERRNO_MAP(MT__ERR_ENUM)
#undef MT__ERR_ENUM
} mt_errno;

/* Text for an error code ("checksum mismatch"); "unknown error" for a code
 * not in the table. Never NULL. */
const char *mt_strerror(int code);

/* Name of an error code ("MT_E_CHECKSUM"); "MT_E_UNKNOWN" if not in the
 * table. Never NULL. */
const char *mt_err_name(int code);

/* Where and why an operation failed. Caller-owned; the library fills it
 * when a function that takes one fails. Fields that do not apply are -1
 * (numbers) or 0 (line, column, kind). */
typedef struct mt_diag {
    int code;          /* the MT_E_* code returned */
    const char *file;  /* borrowed: the path the caller passed in */
    int64_t offset;    /* byte offset in the file, or -1 */
    int64_t block;     /* block index in file order, or -1 */
    int kind;          /* record kind (mt_kind), or 0 */
    uint32_t line;     /* 1-based line in a text input, or 0 */
    uint32_t column;   /* 1-based column in a text input, or 0 */
    char msg[256];     /* what is wrong: lowercase, no subject, no full stop */
    int sys_errno;     /* with MT_E_IO: the errno of the system call that
                        * failed to open, stat or read the file (ENOENT,
                        * EACCES, EISDIR), for a caller that maps it to its
                        * own errors; 0 where the failure is not the
                        * system's (a time-out, a device not read) or
                        * was not recorded. Set where fileio.h's calls
                        * (mt_input_*, which every file reader uses, and
                        * mt_output_*) fail; mt_diag_set() leaves it, as
                        * it leaves block and offset, and mt_diag_clear()
                        * zeroes it. */
} mt_diag;

/* Resets every field of diag to "nothing known"; a NULL diag is ignored. */
void mt_diag_clear(mt_diag *diag);

/* Fills diag (if not NULL) with code and a printf-style message and returns
 * code, so that a failing path can end in `return mt_diag_set(...)`. */
int mt_diag_set(mt_diag *diag, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the location and message of diag into the caller's buf, without
 * the file name: "block 7 at offset 81920 (objects): checksum mismatch" or
 * "line 3, column 9: expected ':'". Always NUL-terminates when n > 0; a
 * longer text is cut. Allocates nothing, so it serves when memory ran out
 * (a _format call that takes buf and n fills it; mt_path_format(), which
 * takes none, allocates).
 * Returns buf. */
char *mt_diag_format(const mt_diag *diag, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
