/* memtrace-graph: what keeps objects alive. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"
#include "common/pathtext.h"
#include "memtrace/checked.h"

enum { OPT_FORMAT = 1, OPT_TOP, OPT_IDOM, OPT_RETAINED, OPT_PATH, OPT_DOT, OPT_DEPTH, OPT_SALVAGE };

static const mt_opt opts[] = {
    { OPT_FORMAT, 'f', "format", "text|json", "output format of the report (default: text)" },
    { OPT_TOP, 'n', "top", "N", "show the N largest retainers, types, cycles and paths (default: 10)" },
    { OPT_IDOM, 0, "idom", NULL, "print 'id,idom' CSV for every reachable object instead (idom 0: the virtual root)" },
    { OPT_RETAINED, 0, "retained", NULL, "print 'id,type,size,retained' CSV for every reachable object instead" },
    { OPT_PATH, 'p', "path-to-roots", "ID|TYPE",
      "print shortest strong paths from roots to the object ID, or to the N largest objects of TYPE" },
    { OPT_DOT, 0, "dot", "ID", "print a Graphviz graph of what the object ID refers to instead" },
    { OPT_DEPTH, 0, "depth", "N", "levels of references --dot follows (default: 2)" },
    { OPT_SALVAGE, 0, "salvage", NULL, "read a damaged file's intact blocks and say what was dropped" },
    { 0, 0, NULL, NULL, NULL },
};

static const mt_tool tool = {
    "memtrace-graph", "FILE",
    "Compute the dominator tree of a heap snapshot's strong references (one virtual root joined to every root)\n"
    "and report retained sizes: the largest retainers, retained bytes by type, cycles, and objects no root reaches.\n"
    "IDs are decimal, or hexadecimal with 0x.",
    opts, 1, 1, NULL,
};

#define DOT_MAX_NODES 500

static const mt_graph *G;
static const mt_snapshot *S;

static mt_str type_of(uint32_t v) { return G->type_names[G->type[v]]; }

/* ---- finding objects ---- */

static int parse_id(const char *s, uint64_t *id) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (s[0] < '0' || s[0] > '9' || errno || end == s || *end) return 0; /* no sign or space */
    *id = v;
    return 1;
}

static int find_id(uint64_t id, uint32_t *out) {
    for (uint32_t i = 0; i < G->n_objects; i++)
        if (G->id[i] == id && !(G->flags[i] & MT_OBJ_LOST)) {
            *out = i;
            return 1;
        }
    return 0;
}

static int find_type(const char *name, uint32_t *out) {
    for (uint32_t t = 0; t < G->n_types; t++)
        if (G->type_names[t].len == strlen(name) && !memcmp(G->type_names[t].ptr, name, G->type_names[t].len)) {
            *out = t;
            return 1;
        }
    return 0;
}

/* ---- the report ---- */

typedef struct type_row {
    uint32_t type;
    uint64_t count, bytes, retained;
} type_row;

static int cmp_type_row(const void *x, const void *y) {
    const type_row *a = x, *b = y;
    if (a->retained != b->retained) return a->retained > b->retained ? -1 : 1;
    if (a->bytes != b->bytes) return a->bytes > b->bytes ? -1 : 1;
    return (a->type > b->type) - (a->type < b->type);
}

static int cmp_unreach(const void *x, const void *y) {
    const type_row *a = x, *b = y;
    if (a->bytes != b->bytes) return a->bytes > b->bytes ? -1 : 1;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return (a->type > b->type) - (a->type < b->type);
}

/* The most common type among each of the first n cyclic components. */
static void cycle_types(const mt_cycles *c, uint32_t n, uint32_t *most, uint32_t *ntypes) {
    uint32_t nt = G->n_types ? G->n_types : 1;
    uint32_t *tally = calloc((size_t)n * nt, 4), *slot = malloc((size_t)c->n_comp * 4 + 4);
    if (!tally || !slot) {
        fprintf(stderr, "%s: out of memory\n", tool.name);
        exit(MT_EXIT_INPUT);
    }
    for (uint32_t k = 0; k < c->n_comp; k++) slot[k] = UINT32_MAX;
    for (uint32_t k = 0; k < n; k++) slot[c->cyclic[k].comp] = k;
    for (uint32_t v = 0; v < G->n_objects; v++)
        if (slot[c->comp[v]] != UINT32_MAX) tally[(size_t)slot[c->comp[v]] * nt + G->type[v]]++;
    for (uint32_t k = 0; k < n; k++) {
        most[k] = 0;
        ntypes[k] = 0;
        for (uint32_t t = 0; t < G->n_types; t++) {
            uint32_t x = tally[(size_t)k * nt + t];
            if (x) ntypes[k]++;
            if (x > tally[(size_t)k * nt + most[k]]) most[k] = t;
        }
    }
    free(tally);
    free(slot);
}

static void print_paths_text(uint32_t *targets, uint32_t nt, const mt_dominators *d) {
    char h1[16];
    for (uint32_t k = 0; k < nt; k++) {
        uint32_t v = targets[k];
        mt_path p;
        mt_diag diag;
        mt_diag_clear(&diag);
        printf("%" PRIu64 " %s (retained %s):\n", G->id[v], mt_cli_str(type_of(v)),
               mt_human_bytes(d->retained[v], h1));
        int rc = mt_path_to_root(G, v, &p, &diag);
        if (rc == MT_E_NOTFOUND) {
            printf("  no root reaches it through strong references\n");
            continue;
        }
        if (rc) {
            mt_cli_fail(tool.name, NULL, &diag);
            exit(MT_EXIT_INPUT);
        }
        sbuf b = { 0 };
        mt_cli_render_path(&b, S, &p);
        printf("  ");
        mt_text_put(stdout, MT_TEXT_TERMINAL, b.s, b.len);
        putchar('\n');
        free(b.s);
        mt_path_free(&p);
    }
}

static void print_paths_json(mt_jw *w, uint32_t *targets, uint32_t nt, const mt_dominators *d) {
    mt_jw_begin_array(w, "paths");
    for (uint32_t k = 0; k < nt; k++) {
        uint32_t v = targets[k];
        mt_path p;
        mt_diag diag;
        mt_diag_clear(&diag);
        mt_jw_begin_object(w, NULL);
        mt_jw_uint(w, "id", G->id[v]);
        mt_jw_str(w, "type", type_of(v).ptr, type_of(v).len);
        mt_jw_uint(w, "retained", d->retained[v]);
        int rc = mt_path_to_root(G, v, &p, &diag);
        if (rc && rc != MT_E_NOTFOUND) {
            mt_cli_fail(tool.name, NULL, &diag);
            exit(MT_EXIT_INPUT);
        }
        if (rc == MT_E_NOTFOUND) {
            mt_jw_null(w, "path");
        } else {
            sbuf b = { 0 };
            mt_cli_render_path(&b, S, &p);
            mt_jw_cstr(w, "path", b.s);
            free(b.s);
            mt_jw_begin_object(w, "root");
            mt_jw_str(w, "kind", G->root_kind[p.root].ptr, G->root_kind[p.root].len);
            mt_jw_str(w, "name", G->root_name[p.root].ptr, G->root_name[p.root].len);
            mt_jw_end_object(w);
            mt_jw_begin_array(w, "steps");
            for (uint32_t i = 0; i < p.len; i++) {
                mt_jw_begin_object(w, NULL);
                mt_jw_uint(w, "id", G->id[p.obj[i]]);
                mt_jw_str(w, "type", type_of(p.obj[i]).ptr, type_of(p.obj[i]).len);
                if (i) {
                    mt_str l = mt_snapshot_ref_label(S, p.edge[i - 1]);
                    mt_jw_str(w, "label", l.ptr, l.len);
                }
                mt_jw_end_object(w);
            }
            mt_jw_end_array(w);
            mt_path_free(&p);
        }
        mt_jw_end_object(w);
    }
    mt_jw_end_array(w);
}

/* Targets of --path-to-roots: one object, or a type's largest. */
static uint32_t path_targets(const char *what, const mt_dominators *d, uint32_t top, uint32_t **out) {
    uint64_t id;
    uint32_t v, t;
    *out = malloc(((size_t)top + 1) * 4);
    if (!*out) return 0;
    if (parse_id(what, &id) && find_id(id, &v)) {
        (*out)[0] = v;
        return 1;
    }
    if (!find_type(what, &t)) {
        fprintf(stderr, "%s: --path-to-roots: no object has the id or the type '%s'\n", tool.name, what);
        exit(MT_EXIT_INPUT);
    }
    /* The type's objects by retained size, larger first. */
    uint32_t n = 0;
    for (uint32_t i = 0; i < G->n_objects; i++) {
        if (G->type[i] != t || (G->flags[i] & MT_OBJ_LOST)) continue;
        if (n == top && d->retained[i] <= d->retained[(*out)[top - 1]]) continue;
        uint32_t j = n < top ? n++ : top - 1;
        while (j > 0 && d->retained[(*out)[j - 1]] < d->retained[i]) {
            (*out)[j] = (*out)[j - 1];
            j--;
        }
        (*out)[j] = i;
    }
    return n;
}

/* s inside a Graphviz double-quoted string (text.h: NUL, which Graphviz
 * refuses, and invalid UTF-8 replaced). */
static void dot_str(mt_str s) { mt_text_put(stdout, MT_TEXT_DOT, s.ptr, s.len); }

static void print_dot(uint32_t start, uint64_t depth, const mt_dominators *d) {
    uint32_t n = G->n_objects;
    uint32_t *level = malloc((size_t)n * 4), *queue = malloc((size_t)n * 4);
    if (!level || !queue) {
        fprintf(stderr, "%s: out of memory\n", tool.name);
        exit(MT_EXIT_INPUT);
    }
    for (uint32_t i = 0; i < n; i++) level[i] = UINT32_MAX;
    uint32_t head = 0, tail = 0;
    level[start] = 0;
    queue[tail++] = start;
    int cut = 0;
    while (head < tail) {
        uint32_t v = queue[head++];
        if (level[v] >= depth) continue;
        for (uint32_t e = G->out_off[v]; e < G->out_off[v + 1]; e++) {
            uint32_t w = G->out_dst[e] & MT_GRAPH_INDEX;
            if (level[w] != UINT32_MAX) continue;
            if (tail >= DOT_MAX_NODES) {
                cut = 1;
                continue;
            }
            level[w] = level[v] + 1;
            queue[tail++] = w;
        }
    }
    char h1[16], h2[16];
    printf("digraph memtrace {\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
           "  edge [fontname=\"monospace\", fontsize=9];\n");
    if (cut) printf("  // cut at %d objects: lower --depth to see all of a level\n", DOT_MAX_NODES);
    for (uint32_t k = 0; k < tail; k++) {
        uint32_t v = queue[k];
        printf("  n%u [label=\"", v);
        dot_str(type_of(v));
        printf("\\nid %" PRIu64 "\\n%s, retains %s\"%s];\n", G->id[v], mt_human_bytes(G->size[v], h1),
               mt_human_bytes(d->retained[v], h2), v == start ? ", style=bold" : "");
    }
    for (uint32_t k = 0; k < tail; k++) {
        uint32_t v = queue[k];
        for (uint32_t e = G->out_off[v]; e < G->out_off[v + 1]; e++) {
            uint32_t w = G->out_dst[e] & MT_GRAPH_INDEX;
            if (level[w] == UINT32_MAX || (level[v] >= depth)) continue;
            printf("  n%u -> n%u [label=\"", v, w);
            dot_str(mt_snapshot_ref_label(S, e));
            printf("\"%s];\n", (G->out_dst[e] & MT_GRAPH_WEAK) ? ", style=dashed" : "");
        }
    }
    printf("}\n");
    free(level);
    free(queue);
}

int main(int argc, char **argv) {
    mt_cli c;
    mt_cli_init(&c, &tool, argc, argv);
    const char *v, *path_what = NULL, *dot_what = NULL;
    int id, json = 0, salvage = 0, idom_csv = 0, retained_csv = 0;
    uint64_t top = 10, depth = 2;
    while ((id = mt_cli_next(&c, &v)))
        switch (id) {
        case OPT_FORMAT:
            json = mt_cli_choice(&c, "--format", v, (const char *const[]){ "text", "json", NULL });
            break;
        case OPT_TOP: top = mt_cli_uint(&c, "--top", v); break;
        case OPT_IDOM: idom_csv = 1; break;
        case OPT_RETAINED: retained_csv = 1; break;
        case OPT_PATH: path_what = v; break;
        case OPT_DOT: dot_what = v; break;
        case OPT_DEPTH: depth = mt_cli_uint(&c, "--depth", v); break;
        case OPT_SALVAGE: salvage = 1; break;
        }
    if (idom_csv + retained_csv + (dot_what != NULL) > 1)
        mt_cli_usage_error(&c, "--idom, --retained and --dot each print one thing: give one of them");
    if (top > 100000) top = 100000;
    const char *file = c.args[0];
    mt_snapshot *s;
    int code = mt_cli_load(tool.name, file, MT_LOAD_LABELS, salvage, &s);
    if (code) {
        free(c.args);
        return code;
    }
    S = s;
    G = mt_snapshot_graph(s);
    mt_dominators d;
    mt_diag diag;
    mt_diag_clear(&diag);
    diag.file = file;
    if (mt_dominators_compute(G, &d, &diag)) {
        code = mt_cli_fail(tool.name, file, &diag);
        mt_snapshot_free(s);
        free(c.args);
        return code;
    }

    if (idom_csv || retained_csv) {
        printf(idom_csv ? "id,idom\n" : "id,type,size,retained\n");
        for (uint32_t k = 0; k < d.n_reachable; k++) {
            uint32_t o = d.order[k];
            if (idom_csv) {
                printf("%" PRIu64 ",%" PRIu64 "\n", G->id[o], d.idom[o] == MT_DOM_ROOT ? 0 : G->id[d.idom[o]]);
                continue;
            }
            printf("%" PRIu64 ",", G->id[o]);
            mt_csv_put_str(stdout, type_of(o).ptr, type_of(o).len);
            printf(",%" PRIu64 ",%" PRIu64 "\n", G->size[o], d.retained[o]);
        }
    } else if (dot_what) {
        uint64_t oid;
        uint32_t o;
        if (!parse_id(dot_what, &oid) || !find_id(oid, &o)) {
            fprintf(stderr, "%s: --dot: no object has the id '%s'\n", tool.name, dot_what);
            code = MT_EXIT_INPUT;
        } else
            print_dot(o, depth, &d);
    } else {
        uint32_t ntop = (uint32_t)top;
        uint32_t *best = malloc(((size_t)ntop + 1) * 4);
        uint64_t *tret = malloc(((size_t)G->n_types + 1) * 8);
        type_row *rows = calloc((size_t)G->n_types + 1, sizeof *rows), *unr = calloc((size_t)G->n_types + 1, sizeof *unr);
        mt_cycles cy;
        if (!best || !tret || !rows || !unr) {
            fprintf(stderr, "%s: out of memory\n", tool.name);
            return MT_EXIT_INPUT;
        }
        if (mt_dominators_type_retained(G, &d, tret, &diag) || mt_cycles_compute(G, &cy, &diag))
            return mt_cli_fail(tool.name, file, &diag);
        uint32_t nbest = mt_dominators_top(&d, ntop, best);
        uint64_t weak = 0;
        for (uint64_t e = 0; e < G->n_refs; e++) weak += (G->out_dst[e] & MT_GRAPH_WEAK) != 0;
        for (uint32_t t = 0; t < G->n_types; t++) rows[t].type = unr[t].type = t;
        for (uint32_t o = 0; o < G->n_objects; o++) {
            if (G->flags[o] & MT_OBJ_LOST) continue;
            type_row *r = d.idom[o] == MT_DOM_NONE ? &unr[G->type[o]] : &rows[G->type[o]];
            r->count++;
            r->bytes = mt_sat_add_u64(r->bytes, G->size[o]); /* sizes come from the file */
        }
        for (uint32_t t = 0; t < G->n_types; t++) rows[t].retained = tret[t];
        qsort(rows, G->n_types, sizeof *rows, cmp_type_row);
        qsort(unr, G->n_types, sizeof *unr, cmp_unreach);
        uint32_t nrows = 0, nunr = 0;
        while (nrows < G->n_types && nrows < ntop && rows[nrows].count) nrows++;
        while (nunr < G->n_types && nunr < ntop && unr[nunr].count) nunr++;
        uint32_t ncy = cy.n_cyclic < ntop ? cy.n_cyclic : ntop;
        uint32_t *most = malloc(((size_t)ncy + 1) * 4), *ntypes = malloc(((size_t)ncy + 1) * 4);
        if (!most || !ntypes) {
            fprintf(stderr, "%s: out of memory\n", tool.name);
            return MT_EXIT_INPUT;
        }
        cycle_types(&cy, ncy, most, ntypes);
        uint32_t *targets = NULL, ntargets = 0;
        if (path_what) ntargets = path_targets(path_what, &d, ntop ? ntop : 1, &targets);
        char h1[16], h2[16], h3[16];

        if (json) {
            mt_jw w;
            mt_jw_init(&w, stdout);
            mt_jw_begin_object(&w, NULL);
            mt_jw_cstr(&w, "file", file);
            mt_jw_uint(&w, "objects", G->n_objects - mt_snapshot_lost_objects(s));
            mt_jw_uint(&w, "object_bytes", mt_sat_add_u64(d.reachable_bytes, d.unreachable_bytes));
            mt_jw_uint(&w, "refs", G->n_refs);
            mt_jw_uint(&w, "weak_refs", weak);
            mt_jw_uint(&w, "roots", G->n_roots);
            mt_jw_begin_object(&w, "reachable");
            mt_jw_uint(&w, "objects", d.n_reachable);
            mt_jw_uint(&w, "bytes", d.reachable_bytes);
            mt_jw_end_object(&w);
            mt_jw_begin_object(&w, "unreachable");
            mt_jw_uint(&w, "objects", d.n_unreachable);
            mt_jw_uint(&w, "bytes", d.unreachable_bytes);
            mt_jw_begin_array(&w, "types");
            for (uint32_t k = 0; k < nunr; k++) {
                mt_jw_begin_object(&w, NULL);
                mt_jw_str(&w, "type", G->type_names[unr[k].type].ptr, G->type_names[unr[k].type].len);
                mt_jw_uint(&w, "count", unr[k].count);
                mt_jw_uint(&w, "bytes", unr[k].bytes);
                mt_jw_end_object(&w);
            }
            mt_jw_end_array(&w);
            mt_jw_end_object(&w);
            mt_jw_begin_array(&w, "top_retainers");
            for (uint32_t k = 0; k < nbest; k++) {
                uint32_t o = best[k];
                mt_jw_begin_object(&w, NULL);
                mt_jw_uint(&w, "id", G->id[o]);
                mt_jw_str(&w, "type", type_of(o).ptr, type_of(o).len);
                mt_jw_uint(&w, "size", G->size[o]);
                mt_jw_uint(&w, "retained", d.retained[o]);
                mt_jw_uint(&w, "retained_objects", d.retained_count[o]);
                mt_jw_uint(&w, "idom", d.idom[o] == MT_DOM_ROOT ? 0 : G->id[d.idom[o]]);
                mt_jw_end_object(&w);
            }
            mt_jw_end_array(&w);
            mt_jw_begin_array(&w, "types_by_retained");
            for (uint32_t k = 0; k < nrows; k++) {
                mt_jw_begin_object(&w, NULL);
                mt_jw_str(&w, "type", G->type_names[rows[k].type].ptr, G->type_names[rows[k].type].len);
                mt_jw_uint(&w, "count", rows[k].count);
                mt_jw_uint(&w, "bytes", rows[k].bytes);
                mt_jw_uint(&w, "retained", rows[k].retained);
                mt_jw_end_object(&w);
            }
            mt_jw_end_array(&w);
            mt_jw_begin_object(&w, "cycles");
            mt_jw_uint(&w, "components", cy.n_cyclic);
            mt_jw_uint(&w, "objects", cy.cyclic_objects);
            mt_jw_uint(&w, "bytes", cy.cyclic_bytes);
            mt_jw_begin_array(&w, "largest");
            for (uint32_t k = 0; k < ncy; k++) {
                mt_jw_begin_object(&w, NULL);
                mt_jw_uint(&w, "objects", cy.cyclic[k].objects);
                mt_jw_uint(&w, "bytes", cy.cyclic[k].bytes);
                mt_jw_str(&w, "most_common_type", G->type_names[most[k]].ptr, G->type_names[most[k]].len);
                mt_jw_uint(&w, "types", ntypes[k]);
                mt_jw_uint(&w, "example_id", G->id[cy.cyclic[k].first]);
                mt_jw_end_object(&w);
            }
            mt_jw_end_array(&w);
            mt_jw_end_object(&w);
            if (path_what) print_paths_json(&w, targets, ntargets, &d);
            mt_jw_end_object(&w);
        } else {
            printf("file:        %s\n", file);
            printf("objects:     %" PRIu64 " (%s), %" PRIu64 " references (%" PRIu64 " weak), %u roots\n",
                   (uint64_t)G->n_objects - mt_snapshot_lost_objects(s),
                   mt_human_bytes(mt_sat_add_u64(d.reachable_bytes, d.unreachable_bytes), h1), G->n_refs, weak, G->n_roots);
            printf("reachable:   %u objects (%s)\n", d.n_reachable, mt_human_bytes(d.reachable_bytes, h1));
            printf("unreachable: %" PRIu64 " objects (%s): garbage at dump time, or held by nothing the dump saw\n",
                   (uint64_t)d.n_unreachable, mt_human_bytes(d.unreachable_bytes, h1));
            if (nbest) {
                printf("\nlargest retainers:\n  %10s %10s %10s  %-32s %s\n", "retained", "objects", "shallow", "type",
                       "id");
                for (uint32_t k = 0; k < nbest; k++) {
                    uint32_t o = best[k];
                    printf("  %10s %10u %10s  %-32s %" PRIu64 "\n", mt_human_bytes(d.retained[o], h1),
                           d.retained_count[o], mt_human_bytes(G->size[o], h2), mt_cli_strw(type_of(o), 32), G->id[o]);
                }
            }
            if (nrows) {
                printf("\nretained by type:\n  %-32s %10s %10s %10s\n", "type", "count", "shallow", "retained");
                for (uint32_t k = 0; k < nrows; k++) {
                    mt_str t = G->type_names[rows[k].type];
                    printf("  %-32s %10" PRIu64 " %10s %10s\n", mt_cli_strw(t, 32), rows[k].count,
                           mt_human_bytes(rows[k].bytes, h1), mt_human_bytes(rows[k].retained, h2));
                }
            }
            if (nunr) {
                printf("\nunreachable by type:\n  %-32s %10s %10s\n", "type", "count", "bytes");
                for (uint32_t k = 0; k < nunr; k++) {
                    mt_str t = G->type_names[unr[k].type];
                    printf("  %-32s %10" PRIu64 " %10s\n", mt_cli_strw(t, 32), unr[k].count,
                           mt_human_bytes(unr[k].bytes, h1));
                }
            }
            printf("\ncycles:      %u with %" PRIu64 " objects (%s)\n", cy.n_cyclic, cy.cyclic_objects,
                   mt_human_bytes(cy.cyclic_bytes, h3));
            if (ncy) {
                printf("  %10s %10s %6s  %-32s %s\n", "objects", "bytes", "types", "most common type", "example id");
                for (uint32_t k = 0; k < ncy; k++) {
                    mt_str t = G->type_names[most[k]];
                    printf("  %10u %10s %6u  %-32s %" PRIu64 "\n", cy.cyclic[k].objects,
                           mt_human_bytes(cy.cyclic[k].bytes, h1), ntypes[k], mt_cli_strw(t, 32),
                           G->id[cy.cyclic[k].first]);
                }
            }
            if (path_what) {
                printf("\npaths to roots:\n");
                print_paths_text(targets, ntargets, &d);
            }
        }
        free(best);
        free(tret);
        free(rows);
        free(unr);
        free(most);
        free(ntypes);
        free(targets);
        mt_cycles_free(&cy);
    }
    mt_dominators_free(&d);
    mt_snapshot_free(s);
    free(c.args);
    return code ? code : mt_cli_finish(tool.name);
}
