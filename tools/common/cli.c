/* Shared option parsing, usage, errors and output (cli.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "memtrace/checked.h"
#include "memtrace/json.h"
#include "memtrace/text.h"

static const mt_opt common_opts[] = {
    { .type = MT_OPT_T_HELP, .short_name = 'h', .name = "help", .help = "show this help and exit" },
    { .type = MT_OPT_T_VERSION, .short_name = 'V', .name = "version", .help = "show the version and exit" },
    MT_OPT_END,
};

static int takes_value(const mt_opt *o) {
    return o->arg || o->type == MT_OPT_T_CHOICE;
}

/* The argument's name as usage shows it: a choice without one lists its
 * names ("text|json"), so the list cannot drift from what is accepted. */
static const char *arg_name(const mt_opt *o, char *buf, size_t n) {
    if (o->arg || o->type != MT_OPT_T_CHOICE) return o->arg;
    buf[0] = 0;
    for (size_t i = 0, at = 0; o->names[i] && at < n; i++, at = strlen(buf))
        snprintf(buf + at, n - at, "%s%s", i ? "|" : "", o->names[i]);
    return buf;
}

static void print_opts(FILE *out, const mt_opt *o) {
    for (; o->type; o++) {
        char left[192], names[128];
        char shrt[8] = "    ";
        const char *arg = arg_name(o, names, sizeof names);
        if (o->short_name) snprintf(shrt, sizeof shrt, "-%c, ", o->short_name);
        snprintf(left, sizeof left, "%s--%s%s%s", shrt, o->name, arg ? " " : "", arg ? arg : "");
        /* An option too long for the column has its help on the next line. */
        if (strlen(left) > 28) fprintf(out, "  %s\n  %-28s %s\n", left, "", o->help);
        else fprintf(out, "  %-28s %s\n", left, o->help);
    }
}

static void print_usage(const mt_cli *c, FILE *out) {
    const mt_tool *t = c->tool;
    fprintf(out, "usage: %s [options] %s\n\n%s\n\noptions:\n", t->name, t->args, t->summary);
    print_opts(out, c->opts);
    print_opts(out, common_opts);
    if (t->epilog) fprintf(out, "\n%s", t->epilog);
    int own = t->epilog && (!strncmp(t->epilog, "exit status:", 12) || strstr(t->epilog, "\nexit status:"));
    if (!own) fprintf(out, "\nexit status: 0 success, 1 a finding, 2 usage error, 3 bad or damaged input\n");
    fprintf(out, "See %s(1).\n", t->name);
}

static __attribute__((noreturn)) void out_of_memory(const mt_cli *c) {
    fprintf(stderr, "%s: out of memory\n", c->tool->name);
    exit(MT_EXIT_INPUT);
}

void mt_cli_usage_error(const mt_cli *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", c->tool->name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", c->tool->name);
    exit(MT_EXIT_USAGE);
}

static const mt_opt *find_long(const mt_cli *c, const char *name, size_t n) {
    for (int pass = 0; pass < 2; pass++)
        for (const mt_opt *o = pass ? common_opts : c->opts; o->type; o++)
            if (strlen(o->name) == n && strncmp(o->name, name, n) == 0) return o;
    return NULL;
}

static const mt_opt *find_short(const mt_cli *c, char ch) {
    for (int pass = 0; pass < 2; pass++)
        for (const mt_opt *o = pass ? common_opts : c->opts; o->type; o++)
            if (o->short_name == ch) return o;
    return NULL;
}

/* Stores value (NULL for a flag) where o says. Messages name the long
 * form, whichever form was given. */
static void found(mt_cli *c, const mt_opt *o, const char *value) {
    char opt[64];
    snprintf(opt, sizeof opt, "--%s", o->name);
    switch (o->type) {
    case MT_OPT_T_END: break;
    case MT_OPT_T_HELP:
        print_usage(c, stdout);
        exit(MT_EXIT_OK);
    case MT_OPT_T_VERSION:
        printf("%s %s\n", c->tool->name, MT_VERSION_STRING);
        exit(MT_EXIT_OK);
    case MT_OPT_T_FLAG: *(int *)o->dst = 1; break;
    case MT_OPT_T_COUNT: ++*(int *)o->dst; break;
    case MT_OPT_T_UINT:
        *(uint64_t *)o->dst = o->umax ? mt_cli_uint_range(c, opt, value, o->umin, o->umax) : mt_cli_uint(c, opt, value);
        break;
    case MT_OPT_T_DOUBLE: *(double *)o->dst = mt_cli_double(c, opt, value, o->dmin, o->dmax); break;
    case MT_OPT_T_SIZE: *(uint64_t *)o->dst = mt_cli_size(c, opt, value); break;
    case MT_OPT_T_STRING: *(const char **)o->dst = value; break;
    case MT_OPT_T_LIST: {
        const char ***list = o->dst;
        const char **grown = realloc((void *)*list, (*o->count + 1) * sizeof **list);
        if (!grown) out_of_memory(c);
        grown[(*o->count)++] = value;
        *list = grown;
        break;
    }
    case MT_OPT_T_CHOICE: *(int *)o->dst = mt_cli_choice(c, opt, value, o->names); break;
    case MT_OPT_T_CALLBACK: o->cb(c, o, value); break;
    }
}

void mt_cli_parse(mt_cli *c, const mt_tool *tool, const mt_opt *opts, int argc, char **argv) {
    memset(c, 0, sizeof *c);
    c->tool = tool;
    c->opts = opts;
    c->argc = argc;
    c->argv = argv;
    c->args = calloc((size_t)argc + 1, sizeof(char *));
    if (!c->args) out_of_memory(c);
    for (c->i = 1; c->i < c->argc;) {
        char *a = c->argv[c->i++];
        const char *value = NULL;
        char names[128];
        if (c->only_args || a[0] != '-' || a[1] == 0) { /* "-" is stdin or stdout */
            c->args[c->nargs++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            c->only_args = 1;
            continue;
        }
        const mt_opt *o;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            if (!(o = find_long(c, a + 2, n))) mt_cli_usage_error(c, "unknown option '%.*s'", (int)n + 2, a);
            if (takes_value(o)) {
                if (eq) value = eq + 1;
                else if (c->i < c->argc) value = c->argv[c->i++];
                else mt_cli_usage_error(c, "option '--%s' needs a value (%s)", o->name, arg_name(o, names, sizeof names));
            } else if (eq)
                mt_cli_usage_error(c, "option '--%s' takes no value", o->name);
            found(c, o, value);
            continue;
        }
        if (!(o = find_short(c, a[1]))) mt_cli_usage_error(c, "unknown option '-%c'", a[1]);
        if (takes_value(o)) {
            if (a[2]) value = a + 2;
            else if (c->i < c->argc) value = c->argv[c->i++];
            else mt_cli_usage_error(c, "option '-%c' needs a value (%s)", a[1], arg_name(o, names, sizeof names));
        } else if (a[2])
            mt_cli_usage_error(c, "option '-%c' takes no value", a[1]);
        found(c, o, value);
    }
    if (c->nargs < c->tool->min_args) mt_cli_usage_error(c, "missing %s", c->tool->args);
    if (c->nargs > c->tool->max_args) mt_cli_usage_error(c, "unexpected argument '%s'", c->args[c->tool->max_args]);
}

void mt_cli_group_by(const mt_cli *c, const mt_opt *o, const char *value) {
    if (mt_group_by_from_name(value, o->dst))
        mt_cli_usage_error(c, "--by must be type, module, site, traceback, column or device, not '%s'", value);
}

int mt_cli_parse_uint(const char *s, uint64_t max, uint64_t *out) {
    uint64_t v = 0;
    if (!s || !*s) return MT_E_PARSE;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return MT_E_PARSE;
        if (mt_mul_u64(v, 10, &v) || mt_add_u64(v, (uint64_t)(*s - '0'), &v)) return MT_E_RANGE;
    }
    if (v > max) return MT_E_RANGE;
    *out = v;
    return 0;
}

int mt_cli_parse_double(const char *s, double *out) {
    /* [-]digits[.digits][e[+-]digits], or .digits: strtod alone would also
     * take " 1", "+1", "0x1p3", "inf" and "nan". */
    const char *p = s;
    if (*p == '-') p++;
    int digits = 0;
    while (*p >= '0' && *p <= '9') p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') p++, digits++;
    }
    if (!digits) return MT_E_PARSE;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (*p < '0' || *p > '9') return MT_E_PARSE;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p) return MT_E_PARSE;
    errno = 0;
    double v = strtod(s, NULL);
    if (errno == ERANGE || !isfinite(v)) return MT_E_RANGE;
    *out = v;
    return 0;
}

uint64_t mt_cli_uint(const mt_cli *c, const char *opt, const char *value) {
    uint64_t v;
    if (mt_cli_parse_uint(value, UINT64_MAX, &v))
        mt_cli_usage_error(c, "option '%s' expects a non-negative integer, not '%s'", opt, value);
    return v;
}

uint64_t mt_cli_uint_range(const mt_cli *c, const char *opt, const char *value, uint64_t min, uint64_t max) {
    uint64_t v;
    if (mt_cli_parse_uint(value, max, &v) || v < min)
        mt_cli_usage_error(c, "%s must be an integer from %" PRIu64 " to %" PRIu64 ", not '%s'", opt, min, max, value);
    return v;
}

double mt_cli_double(const mt_cli *c, const char *opt, const char *value, double min, double max) {
    double v;
    if (mt_cli_parse_double(value, &v) || v < min || v > max)
        mt_cli_usage_error(c, "%s expects a number from %g to %g, not '%s'", opt, min, max, value);
    return v;
}

uint64_t mt_cli_size(const mt_cli *c, const char *opt, const char *value) {
    uint64_t x;
    if (mt_bytes_parse(value, &x) || !x)
        mt_cli_usage_error(c, "%s must be a size from 1 byte to 18446744073709551615 such as 8GiB, 1.5 GiB or "
                              "500000000, not '%s'", opt, value);
    return x;
}

int mt_cli_fail(const char *tool, const char *file, const mt_diag *diag) {
    char where[400];
    mt_diag_format(diag, where, sizeof where);
    /* Messages quote names from files: shown as terminal-safe text. */
    if (file) fprintf(stderr, "%s: %s: %s\n", tool, mt_cli_cstr(file), mt_cli_cstr(where));
    else fprintf(stderr, "%s: %s\n", tool, mt_cli_cstr(where));
    return diag->code == MT_E_INVAL ? MT_EXIT_USAGE : MT_EXIT_INPUT;
}

void mt_cli_warn(const char *tool, const char *file, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s: warning: %s\n", tool, mt_cli_cstr(file), mt_cli_cstr(msg));
}

void mt_cli_warn_one_damage(const char *tool, const char *file, const mt_damage *d) {
    char what[320], size[16];
    mt_diag where = { 0 };
    mt_diag_clear(&where);
    mt_damage_diag(d, d->code, &where);
    mt_diag_format(&where, what, sizeof what);
    if (d->records)
        mt_cli_warn(tool, file, "salvage: %s; dropped %s %" PRIu64 "..%" PRIu64 " (%" PRIu64 " records, %s)", what,
                    mt_kind_name(d->kind), d->first, d->first + d->records - 1, d->records,
                    mt_human_bytes(d->length, size));
    else if (d->length)
        mt_cli_warn(tool, file, "salvage: %s; skipped %s", what, mt_human_bytes(d->length, size));
    else
        mt_cli_warn(tool, file, "salvage: %s", what);
}

void mt_cli_warn_damage(const char *tool, const char *file, const mt_snapshot *s) {
    size_t n = mt_snapshot_damage_count(s);
    for (size_t i = 0; i < n; i++) mt_cli_warn_one_damage(tool, file, mt_snapshot_damage(s, i));
    if (mt_snapshot_lost_objects(s))
        mt_cli_warn(tool, file, "salvage: %" PRIu64 " objects lost; kept as <lost> placeholders",
                    mt_snapshot_lost_objects(s));
    if (mt_snapshot_dropped_refs(s))
        mt_cli_warn(tool, file, "salvage: %" PRIu64 " references or roots to objects past the last one dropped",
                    mt_snapshot_dropped_refs(s));
}

void mt_cli_warn_reader_damage(const char *tool, const char *file, const mt_reader *r) {
    size_t n = mt_reader_damage_count(r);
    for (size_t i = 0; i < n; i++) mt_cli_warn_one_damage(tool, file, mt_reader_damage(r, i));
}

const char *mt_cli_text(const char *s, size_t n) {
    /* 8 buffers in turn, each grown to the longest string it held. */
    static char *ring[8];
    static size_t cap[8];
    static unsigned next;
    unsigned k = next++ % 8;
    if (!s) s = "", n = 0;
    size_t need = mt_text_escape(NULL, 0, MT_TEXT_TERMINAL, s, n) + 1;
    if (need > cap[k]) {
        char *p = realloc(ring[k], need);
        if (!p) {
            fputs("memtrace: out of memory\n", stderr);
            exit(MT_EXIT_INPUT);
        }
        ring[k] = p;
        cap[k] = need;
    }
    mt_text_escape(ring[k], need, MT_TEXT_TERMINAL, s, n);
    return ring[k];
}

const char *mt_cli_str(mt_str s) { return mt_cli_text(s.ptr, s.len); }
const char *mt_cli_cstr(const char *s) { return mt_cli_text(s, s ? strlen(s) : 0); }

const char *mt_cli_strw(mt_str s, size_t width) {
    static char ring[8][1024];
    static unsigned next;
    char *buf = ring[next++ % 8];
    size_t cap = width + 1 < sizeof ring[0] ? width + 1 : sizeof ring[0];
    const char *p = s.ptr ? s.ptr : "";
    size_t n = s.ptr ? s.len : 0;
    /* A cut is marked, as the other tables mark theirs: a name cut at 32
     * bytes with nothing to say so read as a whole, different name. */
    if (mt_text_escape(buf, cap, MT_TEXT_TERMINAL, p, n) >= cap && cap > 4) {
        size_t at = mt_text_escape(buf, cap - 3, MT_TEXT_TERMINAL, p, n) >= cap - 3 ? strlen(buf) : 0;
        memcpy(buf + at, "...", 4);
    }
    return buf;
}

/* ---- JSON writer ---- */

void mt_jw_init(mt_jw *w, FILE *out) {
    memset(w, 0, sizeof *w);
    w->out = out;
    w->first[0] = 1;
    w->pretty = 1;
}

static void jw_str_body(FILE *out, const char *s, size_t n) {
    mt_str str = { s, n };
    mt_json_put_str(out, str);
}

static void jw_key(mt_jw *w, const char *key) {
    if (!w->first[w->depth]) putc(',', w->out);
    w->first[w->depth] = 0;
    if (w->pretty && w->depth) {
        putc('\n', w->out);
        for (int i = 0; i < w->depth; i++) fputs("  ", w->out);
    }
    if (key) {
        jw_str_body(w->out, key, strlen(key));
        fputs(": ", w->out);
    }
}

static void jw_open(mt_jw *w, const char *key, char c) {
    jw_key(w, key);
    putc(c, w->out);
    if (w->depth < 31) w->depth++;
    w->first[w->depth] = 1;
}

static void jw_close(mt_jw *w, char c) {
    int empty = w->first[w->depth];
    w->depth--;
    if (w->pretty && !empty) {
        putc('\n', w->out);
        for (int i = 0; i < w->depth; i++) fputs("  ", w->out);
    }
    putc(c, w->out);
    if (w->depth == 0) putc('\n', w->out);
}

void mt_jw_begin_object(mt_jw *w, const char *key) { jw_open(w, key, '{'); }
void mt_jw_end_object(mt_jw *w) { jw_close(w, '}'); }
void mt_jw_begin_array(mt_jw *w, const char *key) { jw_open(w, key, '['); }
void mt_jw_end_array(mt_jw *w) { jw_close(w, ']'); }

void mt_jw_str(mt_jw *w, const char *key, const char *s, size_t len) {
    jw_key(w, key);
    jw_str_body(w->out, s, len);
}
void mt_jw_cstr(mt_jw *w, const char *key, const char *s) { mt_jw_str(w, key, s, strlen(s)); }
void mt_jw_uint(mt_jw *w, const char *key, uint64_t v) {
    jw_key(w, key);
    fprintf(w->out, "%" PRIu64, v);
}
void mt_jw_delta(mt_jw *w, const char *key, uint64_t a, uint64_t b) {
    jw_key(w, key);
    if (a == UINT64_MAX || b == UINT64_MAX) fputs("null", w->out);
    else if (b < a) fprintf(w->out, "-%" PRIu64, a - b);
    else fprintf(w->out, "%" PRIu64, b - a);
}

void mt_jw_double(mt_jw *w, const char *key, double v) {
    jw_key(w, key);
    mt_json_put_num(w->out, v, 0); /* shortest round-trip; NaN and infinities as null */
}
void mt_jw_bool(mt_jw *w, const char *key, int v) {
    jw_key(w, key);
    fputs(v ? "true" : "false", w->out);
}

void mt_jw_value(mt_jw *w, const char *key, const mt_value *v) {
    jw_key(w, key);
    mt_json_put_value(w->out, v);
}

void mt_jw_int(mt_jw *w, const char *key, int64_t v) {
    jw_key(w, key);
    fprintf(w->out, "%" PRId64, v);
}

void mt_jw_null(mt_jw *w, const char *key) {
    jw_key(w, key);
    fputs("null", w->out);
}

/* ---- loading and output shared by the tools ---- */

int mt_cli_load(const char *tool, const char *path, unsigned flags, int salvage, mt_snapshot **out) {
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    diag.file = path;
    int rc = mt_snapshot_load(strcmp(path, "-") ? path : "/dev/stdin", flags | (salvage ? MT_LOAD_SALVAGE : 0), out,
                              &diag);
    if (rc) {
        int code = mt_cli_fail(tool, path, &diag);
        if (rc == MT_E_DAMAGED) fprintf(stderr, "%s: %s: use --salvage to read its intact blocks\n", tool, path);
        return code;
    }
    if (salvage) mt_cli_warn_damage(tool, path, *out);
    return 0;
}

int mt_cli_finish(const char *tool) {
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "%s: cannot write the output: %s\n", tool, strerror(errno));
        return MT_EXIT_INPUT;
    }
    return MT_EXIT_OK;
}

FILE *mt_cli_out_open(const char *tool, const char *path, mt_output *o) {
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (!path) return stdout;
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    FILE *f;
    if (mt_output_fopen(o, path, &f, &d)) {
        mt_cli_fail(tool, path, &d);
        return NULL;
    }
    return f;
}

int mt_cli_out_close(const char *tool, const char *path, mt_output *o, FILE *f, int ok) {
    if (f == stdout) return mt_cli_finish(tool);
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    if (mt_output_fclose(o, f, ok, &d) && ok) return mt_cli_fail(tool, path, &d);
    return ok ? MT_EXIT_OK : MT_EXIT_INPUT;
}

int mt_cli_choice(const mt_cli *c, const char *opt, const char *value, const char *const *choices) {
    size_t n = 0;
    while (choices[n]) n++;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(value, choices[i])) return (int)i;
    /* "--sort must be delta, bytes or count, not 'x'" */
    char list[256];
    mt_text_list(list, sizeof list, choices, n, 0, " or ");
    mt_cli_usage_error(c, "%s must be %s, not '%s'", opt, list, value);
}

double mt_cli_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    double kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024;
}

char *mt_cli_path_text(const mt_snapshot *s, const mt_path *p) {
    char *text = mt_path_format(s, p);
    if (!text) {
        fputs("memtrace: out of memory\n", stderr);
        exit(MT_EXIT_INPUT);
    }
    return text;
}
