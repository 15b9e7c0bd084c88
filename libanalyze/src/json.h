/* A pull lexer for JSON text read from a FILE, tracking line and column
 * so that errors can say where. Internal to libanalyze. */
#ifndef MT_JSON_H
#define MT_JSON_H

#include <stdint.h>
#include <stdio.h>
#include "memtrace/errors.h"

enum { MT__J_EOF, MT__J_LBRACE, MT__J_RBRACE, MT__J_LBRACKET, MT__J_RBRACKET, MT__J_COLON, MT__J_COMMA,
       MT__J_STRING, MT__J_NUMBER, MT__J_TRUE, MT__J_FALSE, MT__J_NULL };

typedef struct mt__json {
    FILE *f;
    int peek;            /* next character, or EOF */
    uint32_t line, col;  /* of peek */
    uint32_t tline, tcol;/* of the last token */
    int type;            /* of the last token */
    char *buf;           /* STRING text (UTF-8, NUL-terminated), NUMBER text */
    size_t len, cap;
    int is_uint;         /* NUMBER: a non-negative integer that fits 64 bits */
    int is_int;          /* NUMBER: a negative integer that fits 64 bits */
    uint64_t u;
    int64_t i;
    double d;
    mt_diag *diag;
} mt__json;

void mt__json_init(mt__json *j, FILE *f, mt_diag *diag);
void mt__json_free(mt__json *j);
/* Reads the next token. @return 0, or MT_E_PARSE / MT_E_NOMEM / MT_E_IO. */
int mt__json_next(mt__json *j);
/* Reads the next token and checks its type. */
int mt__json_expect(mt__json *j, int type, const char *what);
/* Skips the value whose first token was just read. */
int mt__json_skip(mt__json *j);
/* Fails at the last token: "expected WHAT, found <token>". */
int mt__json_error(mt__json *j, const char *what);
const char *mt__json_tok_name(int type);

#endif
