/* A pull lexer for JSON text read from a FILE, tracking line and column
 * so that errors can say where. Internal to libanalyze. */
#ifndef MT_JSON_LEXER_H
#define MT_JSON_LEXER_H

#include <stdint.h>
#include <stdio.h>
#include "memtrace/errors.h"
#include "memtrace/fileio.h"
#include "memtrace/strbuf.h"

/* Arrays and objects nested deeper than this are refused (MT_E_LIMIT)
 * as they are read, before anything is built from them. */
#define MT_JSON_MAX_DEPTH 64

enum { MT__J_EOF, MT__J_LBRACE, MT__J_RBRACE, MT__J_LBRACKET, MT__J_RBRACKET, MT__J_COLON, MT__J_COMMA,
       MT__J_STRING, MT__J_NUMBER, MT__J_TRUE, MT__J_FALSE, MT__J_NULL };

typedef struct mt__json {
    FILE *f;             /* read from f, or from in when f is NULL */
    mt_input *in;
    unsigned char *ibuf; /* in's buffer */
    size_t ipos, iend;
    uint64_t nread, max_bytes; /* bytes read; more than max_bytes is MT_E_LIMIT */
    int read_err;        /* the error that ended the input early, if one did */
    int peek;            /* next character, or EOF */
    uint32_t line, col;  /* of peek */
    uint32_t tline, tcol;/* of the last token */
    int type;            /* of the last token */
    mt_sbuf text;        /* STRING text (UTF-8, NUL-terminated), NUMBER text */
    int is_uint;         /* NUMBER: a non-negative integer that fits 64 bits */
    int is_int;          /* NUMBER: a negative integer that fits 64 bits */
    uint64_t u;
    int64_t i;
    double d;
    mt_diag *diag;
} mt__json;

/* Reads from f, at most MT_INPUT_MAX_DEFAULT bytes. */
void mt__json_init(mt__json *j, FILE *f, mt_diag *diag);
/* Reads from in (mt_input_open: no devices, an idle time-out on pipes), at
 * most max_bytes (0: MT_INPUT_MAX_DEFAULT). @return 0 or MT_E_NOMEM. */
int mt__json_init_input(mt__json *j, mt_input *in, uint64_t max_bytes, mt_diag *diag);
void mt__json_free(mt__json *j);
/* Reads the next token. @return 0, or MT_E_PARSE / MT_E_NOMEM / MT_E_IO /
 * MT_E_LIMIT (the input is larger than its bound). A STRING's text may
 * hold NUL bytes (\u0000): len counts them, and the reader decides. */
int mt__json_next(mt__json *j);
/* Reads the next token and checks its type. */
int mt__json_expect(mt__json *j, int type, const char *what);
/* Skips the value whose first token was just read; one nested deeper
 * than MT_JSON_MAX_DEPTH is MT_E_LIMIT. */
int mt__json_skip(mt__json *j);
/* Fails at the last token: "expected WHAT, found <token>". */
int mt__json_error(mt__json *j, const char *what);
const char *mt__json_tok_name(int type);

#endif
