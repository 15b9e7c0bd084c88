/* Paths to roots as people read them (pathtext.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pathtext.h"

void sb_put(sbuf *b, const char *s, size_t n) {
    mt_sbuf_put(b, s, n);
    if (b->fail) {
        fputs("memtrace: out of memory\n", stderr);
        exit(3);
    }
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
