/* The growing string (strbuf.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/strbuf.h"

/* Room for n more bytes and a NUL. */
static int reserve(mt_sbuf *b, size_t n) {
    if (b->fail) return -1;
    if (n < b->cap - b->len) return 0; /* len + n + 1 <= cap, without overflow */
    if (n > (size_t)-1 / 2 - b->len) goto nomem;
    /* 64 first: a CSV row of 100000 one-letter fields keeps one each. */
    size_t nc = b->cap ? b->cap * 2 : 64;
    while (nc < b->len + n + 1) nc *= 2;
    char *ns = realloc(b->s, nc);
    if (!ns) goto nomem;
    b->s = ns;
    b->cap = nc;
    return 0;
nomem:
    b->fail = 1;
    return -1;
}

void mt_sbuf_put(mt_sbuf *b, const char *s, size_t n) {
    if (reserve(b, n)) return;
    if (n) memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void mt_sbuf_puts(mt_sbuf *b, const char *s) { mt_sbuf_put(b, s, strlen(s)); }

void mt_sbuf_putc(mt_sbuf *b, int c) {
    if (reserve(b, 1)) return;
    b->s[b->len++] = (char)c;
    b->s[b->len] = 0;
}

void mt_sbuf_printf(mt_sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void mt_sbuf_reset(mt_sbuf *b) {
    b->len = 0;
    b->fail = 0;
    if (b->s) b->s[0] = 0;
}

char *mt_sbuf_detach(mt_sbuf *b, size_t *len) {
    if (!b->fail && !b->s) mt_sbuf_put(b, "", 0);
    char *s = b->fail ? NULL : b->s;
    if (len) *len = s ? b->len : 0;
    if (!s) free(b->s);
    memset(b, 0, sizeof *b);
    return s;
}

void mt_sbuf_free(mt_sbuf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}
