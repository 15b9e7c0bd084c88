/* Paths to roots as people read them (paths.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pathtext.h"

void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc < b->len + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            fputs("memtrace: out of memory\n", stderr);
            exit(3);
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
void sb_str(sbuf *b, mt_str s) { sb_put(b, s.ptr, s.len); }
void sb_cstr(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

void mt_cli_render_path(sbuf *b, const mt_snapshot *s, const mt_path *p) {
    char *text = mt_path_format(s, p);
    if (!text) {
        fputs("memtrace: out of memory\n", stderr);
        exit(3);
    }
    sb_cstr(b, text);
    free(text);
}
