/* The JSON pull lexer (json_lexer.h). */
#include <stdlib.h>
#include <string.h>
#include "io/json_lexer.h"

/* The next byte of the input, or EOF (at the end, or after a read error
 * or the size bound, kept in read_err with diag set). */
static int next_byte(mt__json *j) {
    if (j->read_err) return EOF;
    int c;
    if (j->f) {
        c = getc(j->f);
    } else {
        if (j->ipos == j->iend) {
            size_t got;
            int rc = mt_input_chunk(j->in, j->ibuf, 1 << 16, &got, j->diag);
            if (rc) {
                j->read_err = rc;
                return EOF;
            }
            if (!got) return EOF;
            j->ipos = 0;
            j->iend = got;
        }
        c = j->ibuf[j->ipos++];
    }
    if (c != EOF && ++j->nread > j->max_bytes) {
        j->read_err = mt_diag_set(j->diag, MT_E_LIMIT, "the input is larger than the %llu bytes this reader takes",
                                  (unsigned long long)j->max_bytes);
        return EOF;
    }
    return c;
}

static void advance(mt__json *j) {
    if (j->peek == '\n') {
        j->line++;
        j->col = 1;
    } else if (j->peek != EOF)
        j->col++;
    j->peek = next_byte(j);
}

void mt__json_init(mt__json *j, FILE *f, mt_diag *diag) {
    memset(j, 0, sizeof *j);
    j->f = f;
    j->diag = diag;
    j->line = 1;
    j->col = 1;
    j->max_bytes = MT_INPUT_MAX_DEFAULT;
    j->peek = next_byte(j);
}

int mt__json_init_input(mt__json *j, mt_input *in, uint64_t max_bytes, mt_diag *diag) {
    memset(j, 0, sizeof *j);
    j->in = in;
    j->diag = diag;
    j->line = 1;
    j->col = 1;
    j->max_bytes = max_bytes ? max_bytes : MT_INPUT_MAX_DEFAULT;
    if (!(j->ibuf = malloc(1 << 16))) return mt_diag_set(diag, MT_E_NOMEM, "out of memory reading JSON");
    j->peek = next_byte(j);
    return 0;
}

void mt__json_free(mt__json *j) {
    mt_sbuf_free(&j->text);
    free(j->ibuf);
}

const char *mt__json_tok_name(int t) {
    static const char *n[] = { "end of input", "'{'", "'}'", "'['", "']'", "':'", "','",
                               "a string", "a number", "true", "false", "null" };
    return n[t];
}

static int fail_at(mt__json *j, uint32_t line, uint32_t col, const char *fmt, const char *a) {
    if (j->read_err) return j->read_err; /* the input ended early: that is the error, diag has it */
    if (j->diag) {
        j->diag->line = line;
        j->diag->column = col;
    }
    return mt_diag_set(j->diag, MT_E_PARSE, fmt, a);
}

int mt__json_error(mt__json *j, const char *what) {
    char m[160];
    snprintf(m, sizeof m, "expected %s, found %s", what, mt__json_tok_name(j->type));
    return fail_at(j, j->tline, j->tcol, "%s", m);
}

static int put(mt__json *j, int c) {
    mt_sbuf_putc(&j->text, c);
    return j->text.fail ? mt_diag_set(j->diag, MT_E_NOMEM, "out of memory reading JSON") : 0;
}

static int put_utf8(mt__json *j, uint32_t cp) {
    int rc = 0;
    if (cp < 0x80) rc = put(j, (int)cp);
    else if (cp < 0x800) rc = put(j, 0xC0 | (int)(cp >> 6)) || put(j, 0x80 | (int)(cp & 0x3F));
    else if (cp < 0x10000)
        rc = put(j, 0xE0 | (int)(cp >> 12)) || put(j, 0x80 | (int)((cp >> 6) & 0x3F)) || put(j, 0x80 | (int)(cp & 0x3F));
    else
        rc = put(j, 0xF0 | (int)(cp >> 18)) || put(j, 0x80 | (int)((cp >> 12) & 0x3F)) ||
             put(j, 0x80 | (int)((cp >> 6) & 0x3F)) || put(j, 0x80 | (int)(cp & 0x3F));
    return rc ? MT_E_NOMEM : 0;
}

static int hex4(mt__json *j, uint32_t *out) {
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int c = j->peek, d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return fail_at(j, j->line, j->col, "%s", "expected four hex digits after \\u");
        v = v << 4 | (uint32_t)d;
        advance(j);
    }
    *out = v;
    return 0;
}

static int lex_string(mt__json *j) {
    advance(j); /* the opening quote */
    for (;;) {
        int c = j->peek;
        if (c == EOF) return fail_at(j, j->tline, j->tcol, "%s", "string is not closed");
        if (c == '"') {
            advance(j);
            return 0;
        }
        if (c < 0x20) return fail_at(j, j->line, j->col, "%s", "control character in a string (escape it)");
        if (c != '\\') {
            if (put(j, c)) return MT_E_NOMEM;
            advance(j);
            continue;
        }
        uint32_t eline = j->line, ecol = j->col; /* the backslash: where a bad escape is reported */
        advance(j);
        c = j->peek;
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *hit = c != EOF && c ? strchr(from, c) : NULL;
        if (hit) {
            if (put(j, to[hit - from])) return MT_E_NOMEM;
            advance(j);
            continue;
        }
        if (c != 'u') return fail_at(j, j->line, j->col, "%s", "unknown escape in a string");
        advance(j);
        uint32_t cp = 0;
        if (hex4(j, &cp)) return MT_E_PARSE;
        if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair */
            uint32_t lo = 0;
            if (j->peek != '\\') return fail_at(j, eline, ecol, "%s", "lone high surrogate in a string");
            advance(j);
            if (j->peek != 'u') return fail_at(j, eline, ecol, "%s", "lone high surrogate in a string");
            advance(j);
            if (hex4(j, &lo)) return MT_E_PARSE;
            if (lo < 0xDC00 || lo > 0xDFFF) return fail_at(j, eline, ecol, "%s", "bad low surrogate in a string");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp < 0xE000)
            return fail_at(j, eline, ecol, "%s", "lone low surrogate in a string");
        if (put_utf8(j, cp)) return MT_E_NOMEM;
    }
}

static int lex_number(mt__json *j) {
    while (j->peek != EOF && strchr("+-0123456789.eE", j->peek)) {
        if (put(j, j->peek)) return MT_E_NOMEM;
        advance(j);
    }
    const char *s = j->text.s;
    /* JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    const char *p = s;
    if (*p == '-') p++;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (*p >= '0' && *p <= '9') p++;
    else return fail_at(j, j->tline, j->tcol, "malformed number '%s'", s);
    int integral = 1;
    if (*p == '.') {
        integral = 0;
        p++;
        if (!(*p >= '0' && *p <= '9')) return fail_at(j, j->tline, j->tcol, "malformed number '%s'", s);
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p == 'e' || *p == 'E') {
        integral = 0;
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return fail_at(j, j->tline, j->tcol, "malformed number '%s'", s);
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p) return fail_at(j, j->tline, j->tcol, "malformed number '%s'", s);
    j->d = strtod(s, NULL);
    j->is_uint = j->is_int = 0;
    if (integral) {
        /* Exact integers up to 64 bits: object ids are addresses. */
        int neg = s[0] == '-';
        uint64_t v = 0;
        int over = 0;
        for (p = s + neg; *p; p++) {
            if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) over = 1;
            v = v * 10 + (uint64_t)(*p - '0');
        }
        if (!over && !neg) {
            j->is_uint = 1;
            j->u = v;
        } else if (!over && neg && v <= (uint64_t)INT64_MAX + 1) {
            j->is_int = 1;
            j->i = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
            if (v == 0) { j->is_uint = 1; j->u = 0; j->is_int = 0; }
        }
    }
    return 0;
}

static int lex_word(mt__json *j, const char *w, int type) {
    for (const char *p = w; *p; p++) {
        if (j->peek != *p) return fail_at(j, j->tline, j->tcol, "%s", "expected a value");
        advance(j);
    }
    j->type = type;
    return 0;
}

int mt__json_next(mt__json *j) {
    while (j->peek == ' ' || j->peek == '\t' || j->peek == '\n' || j->peek == '\r') advance(j);
    j->tline = j->line;
    j->tcol = j->col;
    mt_sbuf_reset(&j->text);
    int c = j->peek;
    switch (c) {
    case EOF:
        if (j->read_err) return j->read_err;
        if (j->f && ferror(j->f)) return mt_diag_set(j->diag, MT_E_IO, "cannot read the input");
        j->type = MT__J_EOF;
        return 0;
    case '{': j->type = MT__J_LBRACE; advance(j); return 0;
    case '}': j->type = MT__J_RBRACE; advance(j); return 0;
    case '[': j->type = MT__J_LBRACKET; advance(j); return 0;
    case ']': j->type = MT__J_RBRACKET; advance(j); return 0;
    case ':': j->type = MT__J_COLON; advance(j); return 0;
    case ',': j->type = MT__J_COMMA; advance(j); return 0;
    case '"': /* text is "", not NULL, for an empty string */
        j->type = MT__J_STRING;
        if (put(j, 0)) return MT_E_NOMEM;
        j->text.len = 0;
        return lex_string(j);
    case 't': return lex_word(j, "true", MT__J_TRUE);
    case 'f': return lex_word(j, "false", MT__J_FALSE);
    case 'n': return lex_word(j, "null", MT__J_NULL);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        j->type = MT__J_NUMBER;
        return lex_number(j);
    }
    /* Bytes in hex: "byte 23" was once printed for 0xef, cut short. */
    char m[80];
    if (c >= 0x20 && c < 0x7f) snprintf(m, sizeof m, "'%c'", c);
    else snprintf(m, sizeof m, "byte 0x%02x%s", (unsigned)(unsigned char)c,
                  (unsigned char)c == 0xef && j->tline == 1 && j->tcol == 1 ? " (a UTF-8 byte order mark?)" : "");
    return fail_at(j, j->tline, j->tcol, "unexpected %s where a JSON value or punctuation was expected", m);
}

int mt__json_expect(mt__json *j, int type, const char *what) {
    int rc = mt__json_next(j);
    if (rc) return rc;
    return j->type == type ? 0 : mt__json_error(j, what);
}

int mt__json_skip(mt__json *j) {
    /* Iterative, so that deep nesting cannot overflow the stack. */
    int depth = 0;
    for (;;) {
        switch (j->type) {
        case MT__J_LBRACE: case MT__J_LBRACKET:
            if (++depth > MT_JSON_MAX_DEPTH) {
                if (j->diag) {
                    j->diag->line = j->tline;
                    j->diag->column = j->tcol;
                }
                return mt_diag_set(j->diag, MT_E_LIMIT, "%s nested deeper than the %d levels a JSON value may have",
                                   j->type == MT__J_LBRACE ? "an object" : "an array", MT_JSON_MAX_DEPTH);
            }
            break;
        case MT__J_RBRACE: case MT__J_RBRACKET:
            if (!depth) return mt__json_error(j, "a value");
            depth--;
            break;
        case MT__J_EOF: return mt__json_error(j, "a value");
        default: break;
        }
        if (!depth) return 0;
        int rc = mt__json_next(j);
        if (rc) return rc;
    }
}
