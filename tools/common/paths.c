/* Paths to roots as people read them (paths.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "paths.h"

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

static mt_str type_of(const mt_graph *g, uint32_t v) { return g->type_names[g->type[v]]; }

/* The last dotted part of a type name: "Session" for "app.Session". */
static mt_str short_type(const mt_graph *g, uint32_t v) {
    mt_str t = type_of(g, v);
    size_t i = t.len;
    while (i > 0 && t.ptr[i - 1] != '.') i--;
    return (mt_str){ t.ptr + i, t.len - i };
}

static int is_type(const mt_graph *g, uint32_t v, const char *name) {
    mt_str t = type_of(g, v);
    return t.len == strlen(name) && !memcmp(t.ptr, name, t.len);
}

#define ARROW " \xe2\x86\x92 " /* " → " */

void mt_cli_render_path(sbuf *b, const mt_snapshot *s, const mt_path *p) {
    const mt_graph *g = mt_snapshot_graph(s);
    uint32_t r = p->root;
    sb_str(b, g->root_kind[r]);
    sb_cstr(b, " ");
    if (g->root_name[r].len) sb_str(b, g->root_name[r]);
    else sb_str(b, type_of(g, p->obj[0]));
    int attr_of = -1; /* after a __dict__ hop: 1 names the owner's type, 0 not */
    for (uint32_t k = 0; k + 1 < p->len; k++) {
        uint32_t u = p->obj[k], v = p->obj[k + 1];
        mt_str l = mt_snapshot_ref_label(s, p->edge[k]);
        /* An unlabelled dict under an instance is its __dict__ too. */
        int inst = !is_type(g, u, "dict") && !is_type(g, u, "list") && !is_type(g, u, "tuple") && !is_type(g, u, "frame");
        if ((l.len == 8 && !memcmp(l.ptr, "__dict__", 8)) || (!l.len && inst && is_type(g, v, "dict"))) {
            attr_of = !is_type(g, u, "module");
            continue;
        }
        int key = l.len >= 4 && l.ptr[0] == '[' && l.ptr[1] == '\'' && l.ptr[l.len - 1] == ']';
        if (attr_of >= 0 && key) {
            sb_cstr(b, ARROW);
            if (attr_of) {
                sb_str(b, short_type(g, p->obj[k - 1]));
                sb_cstr(b, ".");
            }
            sb_put(b, l.ptr + 2, l.len - 4);
        } else if (l.len && l.ptr[0] == '[') {
            sb_str(b, l);
        } else if (l.len) {
            sb_cstr(b, ARROW);
            if (!is_type(g, u, "module") && !is_type(g, u, "frame") && !is_type(g, u, "dict")) {
                sb_str(b, short_type(g, u));
                sb_cstr(b, ".");
            }
            sb_str(b, l);
        } else {
            sb_cstr(b, ARROW "<");
            sb_str(b, type_of(g, v));
            sb_cstr(b, ">");
        }
        attr_of = -1;
    }
}
