/* What every memtrace-* tool shares: options declared as data, one parser
 * that prints usage from the same table (so --help and the man page's
 * synopsis are checked against each other by tests/cli/check_manpages.py),
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

typedef struct mt_cli mt_cli;
typedef struct mt_opt mt_opt;

/* What an option's argument is, and so what its destination points to. */
typedef enum mt_opt_type {
    MT_OPT_T_END = 0,  /* ends a table */
    MT_OPT_T_FLAG,     /* int: set to 1 */
    MT_OPT_T_COUNT,    /* int: one more each time it is given */
    MT_OPT_T_UINT,     /* uint64_t: mt_cli_uint, or mt_cli_uint_range when umax > 0 */
    MT_OPT_T_DOUBLE,   /* double: mt_cli_double from dmin to dmax */
    MT_OPT_T_SIZE,     /* uint64_t: mt_cli_size, a positive byte count */
    MT_OPT_T_STRING,   /* const char *: the last one given */
    MT_OPT_T_LIST,     /* const char **, grown with each one given; count is size_t * */
    MT_OPT_T_CHOICE,   /* int: the index of the value in names (mt_cli_choice) */
    MT_OPT_T_CALLBACK, /* cb(c, o, value) does what the others cannot */
    MT_OPT_T_HELP,     /* prints usage, exits 0 */
    MT_OPT_T_VERSION   /* prints the version, exits 0 */
} mt_opt_type;

/* One option, declared as data: its names, its help line, and where its
 * value goes, parsed by its type (git's parse-options). Write tables with
 * the MT_OPT_* macros below, not by hand. */
struct mt_opt {
    mt_opt_type type;
    char short_name;             /* 0 for none */
    const char *name;            /* long name, without "--" */
    const char *arg;             /* argument's name ("N"); NULL for a flag, or for a
                                  * choice to show its names ("text|json") */
    const char *help;
    void *dst;                   /* what the type says; for a callback, its own */
    size_t *count;               /* LIST: the number of strings in *dst */
    const char *const *names;    /* CHOICE: NULL-terminated */
    uint64_t umin, umax;         /* UINT: the range, when umax > 0 */
    double dmin, dmax;           /* DOUBLE: the range */
    /* CALLBACK: parses value (NULL for a flag) into o->dst, or exits 2
     * through mt_cli_usage_error. */
    void (*cb)(const mt_cli *c, const mt_opt *o, const char *value);
};

/* dst as it is, when it has type T; the compiler warns ("pointer type
 * mismatch") when it has not, so that a uint32_t given to a uint option
 * does not compile quietly. */
#define MT__OPT_DST(T, dst) (1 ? (dst) : (T)0)

#define MT_OPT_END { .type = MT_OPT_T_END }
#define MT_OPT_FLAG(s, l, dst_, h) \
    { .type = MT_OPT_T_FLAG, .short_name = (s), .name = (l), .help = (h), .dst = MT__OPT_DST(int *, dst_) }
#define MT_OPT_COUNT(s, l, dst_, h) \
    { .type = MT_OPT_T_COUNT, .short_name = (s), .name = (l), .help = (h), .dst = MT__OPT_DST(int *, dst_) }
#define MT_OPT_UINT(s, l, a, dst_, h) \
    { .type = MT_OPT_T_UINT, .short_name = (s), .name = (l), .arg = (a), .help = (h), \
      .dst = MT__OPT_DST(uint64_t *, dst_) }
#define MT_OPT_UINT_RANGE(s, l, a, dst_, min, max, h) \
    { .type = MT_OPT_T_UINT, .short_name = (s), .name = (l), .arg = (a), .help = (h), \
      .dst = MT__OPT_DST(uint64_t *, dst_), .umin = (min), .umax = (max) }
#define MT_OPT_DOUBLE(s, l, a, dst_, min, max, h) \
    { .type = MT_OPT_T_DOUBLE, .short_name = (s), .name = (l), .arg = (a), .help = (h), \
      .dst = MT__OPT_DST(double *, dst_), .dmin = (min), .dmax = (max) }
#define MT_OPT_SIZE(s, l, a, dst_, h) \
    { .type = MT_OPT_T_SIZE, .short_name = (s), .name = (l), .arg = (a), .help = (h), \
      .dst = MT__OPT_DST(uint64_t *, dst_) }
#define MT_OPT_STRING(s, l, a, dst_, h) \
    { .type = MT_OPT_T_STRING, .short_name = (s), .name = (l), .arg = (a), .help = (h), \
      .dst = MT__OPT_DST(const char **, dst_) }
#define MT_OPT_LIST(s, l, a, dst_, n, h) \
    { .type = MT_OPT_T_LIST, .short_name = (s), .name = (l), .arg = (a), .help = (h), \
      .dst = MT__OPT_DST(const char ***, dst_), .count = (n) }
/* names: a NULL-terminated array, such as MT_NAMES("text", "json"). */
#define MT_OPT_CHOICE(s, l, dst_, names_, h) \
    { .type = MT_OPT_T_CHOICE, .short_name = (s), .name = (l), .help = (h), .dst = MT__OPT_DST(int *, dst_), \
      .names = (names_) }
/* a is NULL for an option that takes no value. */
#define MT_OPT_CALLBACK(s, l, a, dst_, cb_, h) \
    { .type = MT_OPT_T_CALLBACK, .short_name = (s), .name = (l), .arg = (a), .help = (h), .dst = (dst_), .cb = (cb_) }
#define MT_NAMES(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* The options several tools share, declared once so that they read and
 * behave the same everywhere. --help and --version every tool has without
 * listing them. */
#define MT_OPT_FORMAT(dst, names, h) MT_OPT_CHOICE('f', "format", dst, names, h)
#define MT_OPT_TOP(dst, h) MT_OPT_UINT('n', "top", "N", dst, h)
#define MT_OPT_TOP_RANGE(dst, min, max, h) MT_OPT_UINT_RANGE('n', "top", "N", dst, min, max, h)
#define MT_OPT_OUTPUT(a, dst, h) MT_OPT_STRING('o', "output", a, dst, h)
#define MT_OPT_AVAILABLE(dst, what)                                                             \
    MT_OPT_SIZE(0, "available", "BYTES", dst,                                                   \
                what " (default: MemAvailable of /proc/meminfo); units KiB, MiB, GiB, KB, MB, GB")
#define MT_OPT_SALVAGE(dst) \
    MT_OPT_FLAG(0, "salvage", dst, "read a damaged file's intact blocks and say what was dropped")
/* For the tools that read several files. */
#define MT_OPT_SALVAGE_FILES(dst) \
    MT_OPT_FLAG(0, "salvage", dst, "read damaged files' intact blocks and say what was dropped")

/* --by GROUP (diff.h's mt_group_by): diff and plot group alike. */
void mt_cli_group_by(const mt_cli *c, const mt_opt *o, const char *value);
#define MT_OPT_GROUP_BY(s, a, dst, h) MT_OPT_CALLBACK(s, "by", a, dst, mt_cli_group_by, h)

typedef struct mt_tool {
    const char *name;     /* "memtrace-info" */
    const char *args;     /* positional part of the synopsis: "FILE" */
    const char *summary;  /* one sentence */
    int min_args, max_args;
    const char *epilog;   /* printed after the options; may be NULL. A tool
                           * whose exit codes differ from the shared ones
                           * (memtrace-sample, which exits with its
                           * command's) states them in it, on a line that
                           * starts "exit status:", in place of the usual. */
} mt_tool;

struct mt_cli {
    const mt_tool *tool;
    const mt_opt *opts;   /* ends with MT_OPT_END */
    int argc;
    char **argv;
    int i;                /* next argv element */
    int only_args;        /* after "--" */
    char **args;          /* positional arguments, collected; the tool frees it */
    int nargs;
};

/* Parses argv by opts: stores each option's value through its
 * destination, collects the positional arguments in c->args and checks
 * their count. Handles --help and --version itself (prints, exits 0) and
 * exits 2 with a message on a usage error (3 when memory runs out). */
void mt_cli_parse(mt_cli *c, const mt_tool *tool, const mt_opt *opts, int argc, char **argv);

/* Prints "TOOL: msg" and "Try 'TOOL --help'." and exits 2. */
void mt_cli_usage_error(const mt_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* The index of value in choices (NULL-terminated), or exits 2 with
 * "OPT must be a, b or c, not 'value'". */
int mt_cli_choice(const mt_cli *c, const char *opt, const char *value, const char *const *choices);

/* The strict parsers behind every numeric option. An unsigned integer is
 * decimal digits only (no sign, space, hex or unit) not above max; a
 * number is [-]digits[.digits][e[+-]digits], finite (no inf, nan or hex).
 * @return 0 and *out; MT_E_PARSE for text of another form, MT_E_RANGE for
 * a value above max or not finite. */
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

/* Parses a positive size exactly (mt_bytes_parse: "8GiB", "1.5 GiB",
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
 * inside an escape, for fixed-width table columns; a cut one ends in
 * "..." (within the width). */
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

/* Path p of snapshot s (loaded with labels) as people read it
 * (mt_path_format: "module app → _SESSIONS['u41'] → Session.payload");
 * free() it. Exits 3 when memory runs out, as a tool may. */
char *mt_cli_path_text(const mt_snapshot *s, const mt_path *p);

/* rules/default.yaml, built in (tools/embed.cmake) so that the tools work
 * from the build tree and after any install prefix. */
extern const char mt_default_rules[];
extern const size_t mt_default_rules_len;

#endif
