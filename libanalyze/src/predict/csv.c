/* A sample of a CSV file for the read_csv model: the header, each
 * column's kind as pandas' C parser would infer it, its nulls and
 * distinct strings, and the rows the whole file holds, from the bytes a
 * sampled row takes. Quoted fields (RFC 4180) and CRLF are understood. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/fileio.h"
#include "memtrace/u64map.h"
#include "common/hash.h"
#include "common/array.h"
#include "predict/predict_impl.h"

/* The input, read through a buffer: a regular file, a pipe or a FIFO
 * (mt_input_open refuses devices and never waits for a FIFO's writer;
 * a pipe that sends nothing for 10 s is given up). */
typedef struct reader {
    mt_input in;
    mt_diag *diag;
    const char *path;
    int err;                   /* the read error, once one happened */
    int eof;
    size_t pos, end;
    unsigned char buf[1 << 16];
} reader;

/* Puts the file's name before a read error's message, as the tool prints
 * it alone. @return rc. */
static int rd_fail(reader *r, int rc) {
    if (r->diag) {
        char msg[sizeof r->diag->msg];
        snprintf(msg, sizeof msg, "%s: %.*s", r->path, (int)(sizeof msg / 2), r->diag->msg);
        memcpy(r->diag->msg, msg, sizeof msg);
    }
    return rc;
}

static int rd_get(reader *r) {
    if (r->pos == r->end) {
        if (r->eof || r->err) return EOF;
        size_t got;
        int rc = mt_input_chunk(&r->in, r->buf, sizeof r->buf, &got, r->diag);
        if (rc) {
            r->err = rd_fail(r, rc);
            return EOF;
        }
        if (!got) {
            r->eof = 1;
            return EOF;
        }
        r->pos = 0;
        r->end = got;
    }
    return r->buf[r->pos++];
}

/* Gives back the byte rd_get just returned (not EOF). */
static void rd_unget(reader *r) {
    r->pos--;
}

typedef mt_sbuf field;

typedef struct colstate {
    int may_int, may_float, may_bool;
    double present;            /* rows that had this field: the others hold a missing value */
    mt_u64map seen;            /* the set of its strings' hashes (values unused) */
} colstate;

static int field_put(field *f, int ch) {
    mt_sbuf_putc(f, ch);
    return f->fail ? MT_E_NOMEM : 0;
}

/* pandas' default missing markers. */
static int is_null(const char *s, size_t n) {
    static const char *const na[] = { "", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "#N/A", "-NaN",
                                      "-nan", "<NA>", "n/a", "#NA", "1.#IND", "1.#QNAN", "-1.#IND", "-1.#QNAN",
                                      "#N/A N/A", NULL };
    for (size_t i = 0; na[i]; i++)
        if (strlen(na[i]) == n && !memcmp(na[i], s, n)) return 1;
    return 0;
}

static int parses_int(const char *s) {
    char *end;
    if (!*s) return 0;
    errno = 0;
    (void)strtoll(s, &end, 10);
    return !*end && !errno;
}

static int parses_float(const char *s) {
    char *end;
    if (!*s) return 0;
    (void)strtod(s, &end);
    return !*end;
}

/* Adds the string s[0..n) to c's distinct strings, by its hash: distinct
 * strings with equal hashes count once, which 64 bits make unlikely.
 * @return 1 when it was new, 0 when seen, or MT_E_NOMEM. */
static int set_add(colstate *c, const char *s, size_t n) {
    uint64_t h = mt__fnv1a(s, n);
    uint32_t unused;
    if (mt_u64map_get(&c->seen, h, &unused)) return 0;
    return mt_u64map_put(&c->seen, h, 0) ? MT_E_NOMEM : 1;
}

/* A bound passed by the row that starts at line: MT_E_LIMIT, with the
 * file and the row's start (line, column 1) in diag; the message says
 * what and the bound. */
static int limit(mt_diag *diag, const char *path, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int limit(mt_diag *diag, const char *path, uint64_t line, const char *fmt, ...) {
    if (!diag) return MT_E_LIMIT;
    mt_diag_clear(diag);
    diag->code = MT_E_LIMIT;
    diag->file = path;
    diag->line = line > UINT32_MAX ? UINT32_MAX : (uint32_t)line;
    diag->column = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag->msg, sizeof diag->msg, fmt, ap);
    va_end(ap);
    return MT_E_LIMIT;
}

/* A quoted field that runs to the end of the file: MT_E_PARSE, with the
 * file, the opening quote's line, column and byte offset in diag (as
 * predict.h promises) and, for the tool that prints the message alone,
 * the file and the row's line in the message too. */
static int unclosed(mt_diag *diag, const char *path, uint64_t row_line, uint64_t qline, uint64_t qcol,
                    double qoffset) {
    if (!diag) return MT_E_PARSE;
    mt_diag_set(diag, MT_E_PARSE, "%s: line %llu: a quoted field is not closed", path, (unsigned long long)row_line);
    diag->file = path;
    diag->line = qline > UINT32_MAX ? UINT32_MAX : (uint32_t)qline;
    diag->column = qcol > UINT32_MAX ? UINT32_MAX : (uint32_t)qcol;
    diag->offset = (int64_t)qoffset;
    return MT_E_PARSE;
}

/* Reads one record into fields[0..*n), at most MT_CSV_MAX_COLUMNS fields
 * and MT_CSV_MAX_ROW_BYTES bytes. An empty field keeps s NULL (or
 * its old buffer emptied), so that a line of commas costs no allocation.
 * @return 1 for a record, 0 at the end of the file, or an MT_E_* code. */
static int read_record(reader *r, field **fields, size_t *n, size_t *cap, uint64_t *line, double *bytes,
                       const char *path) {
    mt_diag *diag = r->diag;
    int ch, quoted = 0, any = 0;
    uint64_t start = *line;
    double first = *bytes;
    /* Where the last byte read sits (a record starts a line), and where
     * the open quote was, for the message when it is never closed. */
    uint64_t col = 0, qline = 0, qcol = 0;
    double qoffset = 0;
    *n = 0;
    for (;;) {
        if (*n == MT_CSV_MAX_COLUMNS)
            return limit(diag, path, start, "more than the %d columns a row may have", MT_CSV_MAX_COLUMNS);
        if (*n == *cap) {
            size_t old = *cap;
            if (mt__grow((void **)fields, cap, *n, sizeof **fields)) return MT_E_NOMEM;
            memset(*fields + old, 0, (*cap - old) * sizeof **fields);
        }
        field *fl = &(*fields)[*n];
        mt_sbuf_reset(fl);
        for (;;) {
            ch = rd_get(r);
            if (ch != EOF) {
                (*bytes)++, any = 1, col++;
                if (*bytes - first > MT_CSV_MAX_ROW_BYTES)
                    return limit(diag, path, start, "a row longer than the %d bytes a row may have", MT_CSV_MAX_ROW_BYTES);
            } else if (r->err) {
                return r->err;
            }
            if (quoted) {
                if (ch == EOF) return unclosed(diag, path, start, qline, qcol, qoffset);
                if (ch == '"') {
                    int next = rd_get(r);
                    if (next == '"') {
                        (*bytes)++, col++;
                        if (field_put(fl, '"')) return MT_E_NOMEM;
                        continue;
                    }
                    if (next != EOF) rd_unget(r);
                    else if (r->err) return r->err;
                    quoted = 0;
                    continue;
                }
                if (ch == '\n') (*line)++, col = 0;
                if (field_put(fl, ch)) return MT_E_NOMEM;
                continue;
            }
            if (ch == '"' && fl->len == 0) {
                quoted = 1;
                qline = *line, qcol = col, qoffset = *bytes - 1;
                continue;
            }
            if (ch == ',' || ch == '\n' || ch == EOF) break;
            if (ch == '\r') continue;
            if (field_put(fl, ch)) return MT_E_NOMEM;
        }
        (*n)++;
        if (ch == ',') continue;
        if (ch == '\n') (*line)++;
        if (ch == EOF && !any) { *n = 0; return 0; }
        return 1;
    }
}

int mt__csv_sample_read(const char *path, uint64_t max_rows, mt_csv_sample *out, mt_diag *diag) {
    memset(out, 0, sizeof *out);
    mt_diag_clear(diag);
    reader *r = calloc(1, sizeof *r);
    if (!r) return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
    r->diag = diag;
    r->path = path;
    mt_diag sub = { 0 };
    int rc = mt_input_open(path, NULL, &r->in, &sub);
    if (rc) {
        free(r);
        return mt_diag_set(diag, rc, "%s: %s", path, sub.msg);
    }
    field *fields = NULL;
    size_t nf = 0, cap = 0;
    uint64_t line = 1;
    double bytes = 0, header_bytes;
    colstate *cs = NULL;
    rc = read_record(r, &fields, &nf, &cap, &line, &bytes, path);
    if (rc == 0) rc = mt_diag_set(diag, MT_E_PARSE, "%s: empty file: expected a header line", path);
    if (rc < 0) goto done;
    header_bytes = bytes;
    out->cols = calloc(nf, sizeof *out->cols);
    cs = calloc(nf, sizeof *cs);
    if (!out->cols || !cs) { rc = MT_E_NOMEM; goto done; }
    out->n_cols = nf;
    for (size_t i = 0; i < nf; i++) {
        out->cols[i].name = strdup(fields[i].s ? fields[i].s : "");
        if (!out->cols[i].name) { rc = MT_E_NOMEM; goto done; }
        cs[i].may_int = cs[i].may_float = cs[i].may_bool = 1;
    }
    if (!max_rows) max_rows = 1000;
    while (out->sampled_rows < (double)max_rows) {
        size_t n;
        rc = read_record(r, &fields, &n, &cap, &line, &bytes, path);
        if (rc < 0) goto done;
        if (rc == 0) { out->exact = 1; break; }
        if (n == 1 && fields[0].len == 0) continue; /* a blank line: pandas skips it */
        out->sampled_rows++;
        /* Only the fields the row has: a short row's other columns are
         * missing values, counted once at the end, so that a row costs its
         * own length and not the header's. */
        size_t have = n < out->n_cols ? n : out->n_cols;
        for (size_t i = 0; i < have; i++) {
            const char *s = fields[i].s ? fields[i].s : "";
            size_t len = fields[i].len;
            mt_csv_col *c = &out->cols[i];
            colstate *k = &cs[i];
            k->present++;
            if (is_null(s, len)) { c->nulls++; continue; }
            if (k->may_int && !parses_int(s)) k->may_int = 0;
            if (k->may_float && !parses_float(s)) k->may_float = 0;
            if (k->may_bool && strcmp(s, "True") && strcmp(s, "False") && strcmp(s, "true") && strcmp(s, "false"))
                k->may_bool = 0;
            c->text_bytes += (double)len;
            int added = set_add(k, s, len);
            if (added < 0) { rc = added; goto done; }
            c->distinct += added;
        }
    }
    if (!out->exact) {
        if (rd_get(r) != EOF) rd_unget(r);
        else if (!r->err) out->exact = 1;
    }
    if (r->err) { rc = r->err; goto done; }
    if (r->in.regular) {
        out->file_bytes = (double)r->in.size;
    } else {
        /* A pipe has no size: count the rest of its bytes, up to the bound
         * a whole input may have. */
        uint64_t rest = r->end - r->pos;
        while (!out->exact && !r->eof) {
            size_t got;
            if ((rc = mt_input_chunk(&r->in, r->buf, sizeof r->buf, &got, diag))) {
                rd_fail(r, rc);
                goto done;
            }
            if (!got) break;
            rest += got;
            if (r->in.offset > MT_INPUT_MAX_DEFAULT) {
                rc = mt_diag_set(diag, MT_E_LIMIT, "%s: the input is larger than the %llu bytes this reader takes",
                                 path, (unsigned long long)MT_INPUT_MAX_DEFAULT);
                goto done;
            }
        }
        out->file_bytes = out->exact ? bytes : bytes + (double)rest;
    }
    rc = 0;
    for (size_t i = 0; i < out->n_cols; i++) {
        mt_csv_col *c = &out->cols[i];
        c->nulls += out->sampled_rows - cs[i].present;
        if (c->nulls == out->sampled_rows) c->kind = 'f'; /* all missing: float64 NaN */
        else if (cs[i].may_bool) c->kind = c->nulls ? 'O' : 'b';
        else if (cs[i].may_int) c->kind = c->nulls ? 'f' : 'i';
        else if (cs[i].may_float) c->kind = 'f';
        else c->kind = 'O';
    }
    {
        double per_row = out->sampled_rows > 0 ? (bytes - header_bytes) / out->sampled_rows : 0;
        out->rows = out->exact || per_row <= 0 ? out->sampled_rows
                                               : (out->file_bytes - header_bytes) / per_row;
    }
done:
    for (size_t i = 0; i < cap; i++) mt_sbuf_free(&fields[i]);
    free(fields);
    if (cs)
        for (size_t i = 0; i < out->n_cols; i++) mt_u64map_free(&cs[i].seen);
    free(cs);
    mt_input_close(&r->in);
    free(r);
    if (rc < 0) mt__csv_sample_free(out);
    return rc;
}

void mt__csv_sample_free(mt_csv_sample *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_cols; i++) free(s->cols[i].name);
    free(s->cols);
    memset(s, 0, sizeof *s);
}
