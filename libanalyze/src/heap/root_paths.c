/* Shortest strong paths to roots (graph.h: mt_path_to_root). */
#include <stdlib.h>
#include <string.h>
#include "memtrace/graph.h"
#include "memtrace/strbuf.h"

#define NONE 0xffffffffu

void mt_path_free(mt_path *p) {
    free(p->obj);
    free(p->edge);
    memset(p, 0, sizeof *p);
}


/* 1 when label l names one of a frame object's own fields rather than a
 * local variable (a dump of CPython 3.8 to 3.10 labels a frame's
 * references to them by the member's name). */
static int frame_field(mt_str l) {
    static const char *const names[] = { "f_back", "f_code", "f_builtins", "f_globals", "f_locals", "f_trace" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (l.len == strlen(names[i]) && !memcmp(l.ptr, names[i], l.len)) return 1;
    return 0;
}

/* How long a root's kind lives, best first: a module, global or other
 * holder outlives the request that a running frame serves, and a root of
 * kind "c" (held from C, inferred from reference counts) names nothing a
 * reader can find. */
static int root_rank(mt_str k) {
    if (k.len == 1 && k.ptr[0] == 'c') return 2;
    if (k.len == 5 && !memcmp(k.ptr, "frame", 5)) return 1;
    return 0;
}

/* Breadth first from the target along in-edges: the first root met of
 * the best rank (root_rank) is a nearest one of that rank. The search goes
 * on past frames and "c" roots for a longer-lived holder, and falls back
 * to the nearest frame, then the nearest "c" root, only when none reaches
 * the target. toward[v] is the next object on v's way to the target. */
int mt_path_to_root(const mt_graph *g, uint32_t target, mt_path *path, mt_diag *diag) {
    memset(path, 0, sizeof *path);
    uint32_t n = g->n_objects;
    if (target >= n) return mt_diag_set(diag, MT_E_RANGE, "object %u is past the last one (%u objects)", target, n);
    if (!g->out_off) return mt_diag_set(diag, MT_E_INVAL, "the snapshot was loaded without references");
    uint32_t *toward = malloc((size_t)n * 4), *queue = malloc((size_t)n * 4), *root_of = malloc((size_t)n * 4);
    int rc = MT_E_NOMEM;
    if (!toward || !queue || !root_of) goto out;
    for (uint32_t i = 0; i < n; i++) toward[i] = root_of[i] = NONE;
    /* The first root record of each object names it, unless a later one
     * has a better rank: a module also found on a frame is a module. */
    for (uint32_t r = g->n_roots; r-- > 0;) {
        uint32_t o = g->root_obj[r];
        if (root_of[o] == NONE || root_rank(g->root_kind[r]) <= root_rank(g->root_kind[root_of[o]])) root_of[o] = r;
    }
    uint32_t head = 0, tail = 0, best[3] = { NONE, NONE, NONE };
    toward[target] = target;
    queue[tail++] = target;
    while (head < tail) {
        uint32_t v = queue[head++];
        if (root_of[v] != NONE) {
            int rank = root_rank(g->root_kind[root_of[v]]);
            if (best[rank] == NONE) best[rank] = v;
            if (rank == 0) break;
        }
        for (uint32_t e = g->in_off[v]; e < g->in_off[v + 1]; e++) {
            uint32_t s = g->in_src[e];
            if ((s & MT_GRAPH_WEAK) || toward[s] != NONE) continue;
            toward[s] = v;
            queue[tail++] = s;
        }
    }
    uint32_t found = best[0] != NONE ? best[0] : best[1] != NONE ? best[1] : best[2];
    if (found == NONE) {
        rc = mt_diag_set(diag, MT_E_NOTFOUND, "no root reaches object %u through strong references", target);
        goto out;
    }
    uint32_t len = 1;
    for (uint32_t v = found; v != target; v = toward[v]) len++;
    path->obj = malloc((size_t)len * 4);
    path->edge = malloc((size_t)(len > 1 ? len - 1 : 1) * 4);
    if (!path->obj || !path->edge) {
        mt_path_free(path);
        goto out;
    }
    path->root = root_of[found];
    path->len = len;
    uint32_t k = 0;
    for (uint32_t v = found;; v = toward[v]) {
        path->obj[k] = v;
        if (v == target) break;
        /* The edge v -> toward[v]: the first strong one, as labels go. */
        uint32_t w = toward[v], e = g->out_off[v];
        while (e < g->out_off[v + 1] && g->out_dst[e] != w) e++;
        path->edge[k++] = e;
    }
    rc = 0;
out:
    free(toward);
    free(queue);
    free(root_of);
    if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory finding a path to a root");
    return rc;
}

/* ---- paths as people read them ---- */

static void pb_str(mt_sbuf *b, mt_str s) { mt_sbuf_put(b, s.ptr, s.len); }

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

/* s with the file in its "(FILE:LINE ..." part cut to its last path
 * component: a frame's place as "jobs.py:64 in find_route", which the
 * collector writes with the whole path (formats/SPEC.md, refs). */
static void pb_place(mt_sbuf *b, mt_str s) {
    size_t open = s.len;
    for (size_t i = 0; i + 1 < s.len; i++)
        if (s.ptr[i] == ' ' && s.ptr[i + 1] == '(') open = i + 2;
    size_t colon = open;
    while (colon + 1 < s.len && !(s.ptr[colon] == ':' && s.ptr[colon + 1] >= '0' && s.ptr[colon + 1] <= '9')) colon++;
    if (open >= s.len || colon + 1 >= s.len) {
        pb_str(b, s);
        return;
    }
    size_t base = open;
    for (size_t i = open; i < colon; i++)
        if (s.ptr[i] == '/' || s.ptr[i] == '\\') base = i + 1;
    mt_sbuf_put(b, s.ptr, open);
    mt_sbuf_put(b, s.ptr + base, s.len - base);
}

char *mt_path_format(const mt_snapshot *s, const mt_path *p) {
    mt_sbuf bb = { 0 }, *b = &bb;
    const mt_graph *g = mt_snapshot_graph(s);
    uint32_t r = p->root;
    mt_str kind = g->root_kind[r];
    if (kind.len == 1 && kind.ptr[0] == 'c')
        /* Its reference count is higher than the referrers the dump found
         * for it: something outside the tracked objects holds it. */
        mt_sbuf_puts(b, g->root_name[r].len ? "held by C " : "held by C (refcount not explained by tracked referrers) ");
    else {
        pb_str(b, kind);
        mt_sbuf_puts(b, " ");
    }
    if (g->root_name[r].len) pb_place(b, g->root_name[r]);
    else pb_str(b, type_of(g, p->obj[0]));
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
            mt_sbuf_puts(b, ARROW);
            if (attr_of) {
                pb_str(b, short_type(g, p->obj[k - 1]));
                mt_sbuf_puts(b, ".");
            }
            mt_sbuf_put(b, l.ptr + 2, l.len - 4);
        } else if (l.len && l.ptr[0] == '[') {
            pb_str(b, l);
        } else if (l.len && is_type(g, u, "frame") && !is_type(g, v, "frame") && !frame_field(l)) {
            /* A frame's labelled references are its local variables, but
             * for its own fields (CPython 3.8 to 3.10 label them). */
            mt_sbuf_puts(b, ARROW "local '");
            pb_str(b, l);
            mt_sbuf_puts(b, "'");
        } else if (l.len) {
            mt_sbuf_puts(b, ARROW);
            if (!is_type(g, u, "module") && !is_type(g, u, "frame") && !is_type(g, u, "dict") &&
                !is_type(g, u, "traceback")) {
                pb_str(b, short_type(g, u));
                mt_sbuf_puts(b, ".");
            }
            pb_place(b, l);
        } else {
            mt_sbuf_puts(b, ARROW "<");
            pb_str(b, type_of(g, v));
            mt_sbuf_puts(b, ">");
        }
        attr_of = -1;
    }
    return mt_sbuf_detach(b, NULL);
}
