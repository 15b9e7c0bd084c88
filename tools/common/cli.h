/* What every memtrace-* tool shares: options declared as data, one parser
 * that prints usage from the same table (so --help and the man page's
 * synopsis are checked against each other by tests/cli/check_manpages),
 * error messages, exit codes and output helpers. */
#ifndef MT_CLI_H
#define MT_CLI_H

#include <stdint.h>
#include <stdio.h>
#include "memtrace/analyze.h"
#include "memtrace/fileio.h"

/* Exit codes, the same for every tool (man pages, EXIT STATUS). */
enum {
    MT_EXIT_OK = 0,
    MT_EXIT_FINDING = 1,  /* a finding, such as a failed gate */
    MT_EXIT_USAGE = 2,    /* bad options or arguments */
    MT_EXIT_INPUT = 3     /* bad, damaged or unreadable input; unwritable output */
};

typedef struct mt_opt {
    int id;               /* returned by the parser; > 0 */
    char short_name;      /* 0 for none */
    const char *name;     /* long name, without "--" */
    const char *arg;      /* argument's name ("N", "text|json"), NULL for a flag */
    const char *help;
} mt_opt;

typedef struct mt_tool {
    const char *name;     /* "memtrace-info" */
    const char *args;     /* positional part of the synopsis: "FILE" */
    const char *summary;  /* one sentence */
    const mt_opt *opts;   /* ends with an entry whose id is 0 */
    int min_args, max_args;
    const char *epilog;   /* printed after the options; may be NULL */
} mt_tool;

typedef struct mt_cli {
    const mt_tool *tool;
    int argc;
    char **argv;
    int i;                /* next argv element */
    int only_args;        /* after "--" */
    char **args;          /* positional arguments, collected */
    int nargs;
} mt_cli;

/* Starts parsing. */
void mt_cli_init(mt_cli *c, const mt_tool *tool, int argc, char **argv);

/* Returns the next option's id and sets *value to its argument (NULL for
 * flags); 0 when all is parsed and the positional count is right. Handles
 * --help and --version itself (prints, exits 0) and exits 2 with a
 * message on a usage error. */
int mt_cli_next(mt_cli *c, const char **value);

/* Prints "TOOL: msg" and "Try 'TOOL --help'." and exits 2. */
void mt_cli_usage_error(const mt_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* The index of value in choices (NULL-terminated), or exits 2 with
 * "OPT must be a, b or c, not 'value'". */
int mt_cli_choice(const mt_cli *c, const char *opt, const char *value, const char *const *choices);

/* The strict parsers behind every numeric option. An unsigned integer is
 * decimal digits only (no sign, space, hex or unit) not above max; a
 * number is [-]digits[.digits][e[+-]digits], finite (no inf, nan or hex).
 * @return 0 and *out, or -1. */
int mt_cli_parse_uint(const char *s, uint64_t max, uint64_t *out);
int mt_cli_parse_double(const char *s, double *out);

/* Parses a non-negative integer option value (mt_cli_parse_uint), or exits
 * 2 naming the option. */
uint64_t mt_cli_uint(const mt_cli *c, const char *opt, const char *value);

/* The same, from min to max, or exits 2 with "OPT must be an integer from
 * MIN to MAX, not 'value'". */
uint64_t mt_cli_uint_range(const mt_cli *c, const char *opt, const char *value, uint64_t min, uint64_t max);

/* Parses a finite number from min to max (mt_cli_parse_double), or exits
 * 2 with "OPT expects a number from MIN to MAX, not 'value'". */
double mt_cli_double(const mt_cli *c, const char *opt, const char *value, double min, double max);

/* Parses a positive size exactly (mt_parse_bytes: "8GiB", "1.5 GiB",
 * "500000000"; at most 2^64-1), or exits 2 naming the option. */
uint64_t mt_cli_size(const mt_cli *c, const char *opt, const char *value);

/* Prints "TOOL: FILE: <where>: <what>" from diag to stderr and returns
 * MT_EXIT_INPUT (or MT_EXIT_USAGE for MT_E_INVAL). */
int mt_cli_fail(const char *tool, const char *file, const mt_diag *diag);

/* Prints "TOOL: FILE: warning: ..." to stderr. */
void mt_cli_warn(const char *tool, const char *file, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reports one damaged stretch a salvage skipped: where, what is wrong and
 * which records were dropped. */
void mt_cli_warn_one_damage(const char *tool, const char *file, const mt_damage *d);

/* Reports what a salvage load left out, one warning per damaged stretch. */
void mt_cli_warn_damage(const char *tool, const char *file, const mt_snapshot *s);

/* Reports the damaged stretches a reader found, one warning each, as
 * mt_cli_warn_one_damage does: for tools that read records, not a whole
 * snapshot. */
void mt_cli_warn_reader_damage(const char *tool, const char *file, const mt_reader *r);

/* A string from a file (or the command line) made safe for a terminal
 * (text.h, MT_TEXT_TERMINAL: newlines as \n, ESC as \x1b, invalid UTF-8
 * as \xNN), for printf's %s in every text output. The result lives in
 * one of 8 buffers used in turn (each grown as needed; exits 3 when memory
 * runs out), so up to 8 may be used in one printf. */
const char *mt_cli_text(const char *s, size_t n);
const char *mt_cli_str(mt_str s);
const char *mt_cli_cstr(const char *s);
/* The same cut to at most width bytes, at a character boundary and never
 * inside an escape, for fixed-width table columns. */
const char *mt_cli_strw(mt_str s, size_t width);

/* A minimal streaming JSON writer that places commas itself. */
typedef struct mt_jw {
    FILE *out;
    int depth;
    int first[32];        /* no member written yet at this depth */
    int pretty;
} mt_jw;

void mt_jw_init(mt_jw *w, FILE *out);
void mt_jw_begin_object(mt_jw *w, const char *key);  /* key NULL inside arrays */
void mt_jw_end_object(mt_jw *w);
void mt_jw_begin_array(mt_jw *w, const char *key);
void mt_jw_end_array(mt_jw *w);
void mt_jw_str(mt_jw *w, const char *key, const char *s, size_t len);
void mt_jw_cstr(mt_jw *w, const char *key, const char *s);
void mt_jw_uint(mt_jw *w, const char *key, uint64_t v);
/* b - a exactly (it may be below INT64_MIN), or null when either is a
 * saturated total (UINT64_MAX). */
void mt_jw_delta(mt_jw *w, const char *key, uint64_t a, uint64_t b);
/* v with the fewest digits that read back exactly (mt_json_num); NaN
 * and infinities as null. */
void mt_jw_double(mt_jw *w, const char *key, double v);
void mt_jw_bool(mt_jw *w, const char *key, int v);
void mt_jw_value(mt_jw *w, const char *key, const mt_value *v);
void mt_jw_int(mt_jw *w, const char *key, int64_t v);
void mt_jw_null(mt_jw *w, const char *key);

/* Loads path ('-' reads standard input) with flags, plus MT_LOAD_SALVAGE
 * when salvage is set; prints the error, or the salvage's warnings.
 * @return 0, or the exit code to leave with. */
int mt_cli_load(const char *tool, const char *path, unsigned flags, int salvage, mt_snapshot **out);

/* Flushes standard output. @return MT_EXIT_OK, or MT_EXIT_INPUT with a
 * message when the output could not be written (a full disk). */
int mt_cli_finish(const char *tool);

/* Opens path (NULL: standard output) for writing through mt_output: a
 * temporary file beside it, renamed over it by mt_cli_out_close(); a
 * device or FIFO is written in place, never truncated or replaced. Every
 * file a tool writes goes through these two.
 * @return the stream, or NULL after a message. */
FILE *mt_cli_out_open(const char *tool, const char *path, mt_output *o);

/* Closes what mt_cli_out_open() opened: commits when ok (after a flush and
 * an error check), else removes the temporary file so that the target is
 * as it was. @return MT_EXIT_OK, or MT_EXIT_INPUT (after a message when the
 * write failed). */
int mt_cli_out_close(const char *tool, const char *path, mt_output *o, FILE *f, int ok);

/* MemAvailable from /proc/meminfo, in bytes; 0 when unknown. */
double mt_cli_mem_available(void);

/* rules/default.yaml, built in (tools/embed.cmake) so that the tools work
 * from the build tree and after any install prefix. */
extern const char mt_default_rules[];
extern const size_t mt_default_rules_len;

#endif
