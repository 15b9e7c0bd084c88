/* memtrace-graph: what keeps objects alive. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"

static const mt_tool tool = {
    "memtrace-graph", "FILE",
    "Compute the dominator tree of a heap snapshot's strong references (one virtual root joined to every root)\n"
    "and report retained sizes: the largest retainers, retained bytes by type, cycles, and objects no root reaches.\n"
    "IDs are decimal, or hexadecimal with 0x.",
    1, 1, NULL,
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

/* ---- the report ---- */

static void print_paths_text(uint32_t *targets, uint32_t nt, const mt_dominators *d) {
    char h1[16];
    for (uint32_t k = 0; k < nt; k++) {
        uint32_t v = targets[k];
        mt_path p;
        mt_diag diag = { 0 };
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
        char *text = mt_cli_path_text(S, &p);
        printf("  ");
        mt_text_put(stdout, MT_TEXT_TERMINAL, text, strlen(text));
        putchar('\n');
        free(text);
        mt_path_free(&p);
    }
}

static void print_paths_json(mt_jw *w, uint32_t *targets, uint32_t nt, const mt_dominators *d) {
    mt_jw_begin_array(w, "paths");
    for (uint32_t k = 0; k < nt; k++) {
        uint32_t v = targets[k];
        mt_path p;
        mt_diag diag = { 0 };
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
            char *text = mt_cli_path_text(S, &p);
            mt_jw_cstr(w, "path", text);
            free(text);
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
    uint32_t n;
    *out = malloc(((size_t)top + 1) * 4);
    if (!*out) return 0;
    if (mt_graph_select(G, d, what, strlen(what), top, *out, &n, NULL)) {
        fprintf(stderr, "%s: --path-to-roots: no object has the id or the type '%s'\n", tool.name, what);
        exit(MT_EXIT_INPUT);
    }
    return n;
}

/* s inside a Graphviz double-quoted string (text.h: NUL, which Graphviz
 * refuses, and invalid UTF-8 replaced). */
static void dot_str(mt_str s) { mt_text_put(stdout, MT_TEXT_DOT, s.ptr, s.len); }

static void print_dot(uint32_t start, uint64_t depth, const mt_dominators *d) {
    mt_graph_nearby nb;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    if (mt_graph_nearby_compute(G, start, depth, DOT_MAX_NODES, &nb, &diag)) {
        mt_cli_fail(tool.name, NULL, &diag);
        exit(MT_EXIT_INPUT);
    }
    char h1[16], h2[16];
    printf("digraph memtrace {\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
           "  edge [fontname=\"monospace\", fontsize=9];\n");
    if (nb.cut) printf("  // cut at %d objects: lower --depth to see all of a level\n", DOT_MAX_NODES);
    for (uint32_t k = 0; k < nb.n; k++) {
        uint32_t v = nb.obj[k];
        printf("  n%u [label=\"", v);
        dot_str(type_of(v));
        printf("\\nid %" PRIu64 "\\n%s, retains %s\"%s];\n", G->id[v], mt_human_bytes(G->size[v], h1),
               mt_human_bytes(d->retained[v], h2), v == start ? ", style=bold" : "");
    }
    for (uint32_t k = 0; k < nb.n_edges; k++) {
        uint32_t e = nb.edge[k];
        printf("  n%u -> n%u [label=\"", nb.edge_from[k], G->out_dst[e] & MT_GRAPH_INDEX);
        dot_str(mt_snapshot_ref_label(S, e));
        printf("\"%s];\n", (G->out_dst[e] & MT_GRAPH_WEAK) ? ", style=dashed" : "");
    }
    printf("}\n");
    mt_graph_nearby_free(&nb);
}

/* A retainer's way from a root as people read it, or NULL when no strong
 * path reaches it; free() it. */
static char *retainer_path(const mt_graph_retainer *x) {
    return x->has_path ? mt_cli_path_text(S, &x->path) : NULL;
}

static void print_report_json(const char *file, const mt_graph_report *r, const mt_dominators *d,
                              uint32_t *targets, uint32_t ntargets) {
    mt_jw w;
    mt_jw_init(&w, stdout);
    mt_jw_begin_object(&w, NULL);
    mt_jw_cstr(&w, "file", file);
    mt_jw_uint(&w, "objects", r->objects);
    mt_jw_uint(&w, "object_bytes", r->object_bytes);
    mt_jw_uint(&w, "refs", r->refs);
    mt_jw_uint(&w, "weak_refs", r->weak_refs);
    mt_jw_uint(&w, "roots", r->roots);
    mt_jw_begin_object(&w, "reachable");
    mt_jw_uint(&w, "objects", d->n_reachable);
    mt_jw_uint(&w, "bytes", d->reachable_bytes);
    mt_jw_end_object(&w);
    mt_jw_begin_object(&w, "unreachable");
    mt_jw_uint(&w, "objects", d->n_unreachable);
    mt_jw_uint(&w, "bytes", d->unreachable_bytes);
    mt_jw_begin_array(&w, "types");
    for (uint32_t k = 0; k < r->n_unreachable; k++) {
        mt_str t = G->type_names[r->unreachable[k].type];
        mt_jw_begin_object(&w, NULL);
        mt_jw_str(&w, "type", t.ptr, t.len);
        mt_jw_uint(&w, "count", r->unreachable[k].count);
        mt_jw_uint(&w, "bytes", r->unreachable[k].bytes);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    mt_jw_end_object(&w);
    mt_jw_begin_array(&w, "top_retainers");
    for (uint32_t k = 0; k < r->n_retainers; k++) {
        uint32_t o = r->retainers[k].obj;
        mt_jw_begin_object(&w, NULL);
        mt_jw_uint(&w, "id", G->id[o]);
        mt_jw_str(&w, "type", type_of(o).ptr, type_of(o).len);
        mt_jw_uint(&w, "size", G->size[o]);
        mt_jw_uint(&w, "retained", d->retained[o]);
        mt_jw_uint(&w, "retained_objects", d->retained_count[o]);
        mt_jw_uint(&w, "idom", d->idom[o] == MT_DOM_ROOT ? 0 : G->id[d->idom[o]]);
        char *path = retainer_path(&r->retainers[k]);
        if (path) mt_jw_cstr(&w, "path", path);
        else mt_jw_null(&w, "path");
        free(path);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    mt_jw_begin_array(&w, "types_by_retained");
    for (uint32_t k = 0; k < r->n_types; k++) {
        mt_str t = G->type_names[r->types[k].type];
        mt_jw_begin_object(&w, NULL);
        mt_jw_str(&w, "type", t.ptr, t.len);
        mt_jw_uint(&w, "count", r->types[k].count);
        mt_jw_uint(&w, "bytes", r->types[k].bytes);
        mt_jw_uint(&w, "retained", r->types[k].retained);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    const mt_cycles *cy = &r->cycles;
    mt_jw_begin_object(&w, "cycles");
    mt_jw_uint(&w, "components", cy->n_cyclic);
    mt_jw_uint(&w, "objects", cy->cyclic_objects);
    mt_jw_uint(&w, "bytes", cy->cyclic_bytes);
    mt_jw_begin_array(&w, "largest");
    for (uint32_t k = 0; k < r->n_cycles; k++) {
        mt_str t = G->type_names[r->cycle_types[k].most_common];
        mt_jw_begin_object(&w, NULL);
        mt_jw_uint(&w, "objects", cy->cyclic[k].objects);
        mt_jw_uint(&w, "bytes", cy->cyclic[k].bytes);
        mt_jw_str(&w, "most_common_type", t.ptr, t.len);
        mt_jw_uint(&w, "types", r->cycle_types[k].n_types);
        mt_jw_uint(&w, "example_id", G->id[cy->cyclic[k].first]);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    mt_jw_end_object(&w);
    if (targets) print_paths_json(&w, targets, ntargets, d);
    mt_jw_end_object(&w);
}

static void print_report_text(const char *file, const mt_graph_report *r, const mt_dominators *d,
                              uint32_t *targets, uint32_t ntargets) {
    char h1[16], h2[16];
    printf("file:        %s\n", file);
    printf("objects:     %" PRIu64 " (%s), %" PRIu64 " references (%" PRIu64 " weak), %u roots\n", r->objects,
           mt_human_bytes(r->object_bytes, h1), r->refs, r->weak_refs, r->roots);
    printf("reachable:   %u objects (%s)\n", d->n_reachable, mt_human_bytes(d->reachable_bytes, h1));
    printf("unreachable: %" PRIu64 " objects (%s): garbage at dump time, or held by nothing the dump saw\n",
           (uint64_t)d->n_unreachable, mt_human_bytes(d->unreachable_bytes, h1));
    if (r->n_retainers) {
        /* Each named by its way from a root, as memtrace-leaks names a
         * suspect's holder; the id follows for --dot and --path-to-roots. */
        printf("\nlargest retainers:\n  %10s %10s %10s  %-32s %s\n", "retained", "objects", "shallow", "type",
               "path from a root (id)");
        for (uint32_t k = 0; k < r->n_retainers; k++) {
            uint32_t o = r->retainers[k].obj;
            char *path = retainer_path(&r->retainers[k]);
            printf("  %10s %10u %10s  %-32s ", mt_human_bytes(d->retained[o], h1), d->retained_count[o],
                   mt_human_bytes(G->size[o], h2), mt_cli_strw(type_of(o), 32));
            if (path) mt_text_put(stdout, MT_TEXT_TERMINAL, path, strlen(path));
            else printf("no strong path from a root");
            printf(" (%" PRIu64 ")\n", G->id[o]);
            free(path);
        }
    }
    if (r->n_types) {
        printf("\nretained by type:\n  %-32s %10s %10s %10s\n", "type", "count", "shallow", "retained");
        for (uint32_t k = 0; k < r->n_types; k++) {
            const mt_graph_type_total *t = &r->types[k];
            printf("  %-32s %10" PRIu64 " %10s %10s\n", mt_cli_strw(G->type_names[t->type], 32), t->count,
                   mt_human_bytes(t->bytes, h1), mt_human_bytes(t->retained, h2));
        }
    }
    if (r->n_unreachable) {
        printf("\nunreachable by type:\n  %-32s %10s %10s\n", "type", "count", "bytes");
        for (uint32_t k = 0; k < r->n_unreachable; k++) {
            const mt_graph_type_total *t = &r->unreachable[k];
            printf("  %-32s %10" PRIu64 " %10s\n", mt_cli_strw(G->type_names[t->type], 32), t->count,
                   mt_human_bytes(t->bytes, h1));
        }
    }
    const mt_cycles *cy = &r->cycles;
    printf("\ncycles:      %u with %" PRIu64 " objects (%s)\n", cy->n_cyclic, cy->cyclic_objects,
           mt_human_bytes(cy->cyclic_bytes, h1));
    if (r->n_cycles) {
        printf("  %10s %10s %6s  %-32s %s\n", "objects", "bytes", "types", "most common type", "example id");
        for (uint32_t k = 0; k < r->n_cycles; k++) {
            mt_str t = G->type_names[r->cycle_types[k].most_common];
            printf("  %10u %10s %6u  %-32s %" PRIu64 "\n", cy->cyclic[k].objects,
                   mt_human_bytes(cy->cyclic[k].bytes, h1), r->cycle_types[k].n_types, mt_cli_strw(t, 32),
                   G->id[cy->cyclic[k].first]);
        }
    }
    if (targets) {
        printf("\npaths to roots:\n");
        print_paths_text(targets, ntargets, d);
    }
}

int main(int argc, char **argv) {
    const char *path_what = NULL, *dot_what = NULL;
    int json = 0, salvage = 0, idom_csv = 0, retained_csv = 0;
    uint64_t top = 10, depth = 2;
    const mt_opt opts[] = {
        MT_OPT_FORMAT(&json, MT_NAMES("text", "json"), "output format of the report (default: text)"),
        MT_OPT_TOP(&top, "show the N largest retainers, types, cycles and paths (default: 10)"),
        MT_OPT_FLAG(0, "idom", &idom_csv,
                    "print 'id,idom' CSV for every reachable object instead (idom 0: the virtual root)"),
        MT_OPT_FLAG(0, "retained", &retained_csv,
                    "print 'id,type,size,retained' CSV for every reachable object instead"),
        MT_OPT_STRING('p', "path-to-roots", "ID|TYPE", &path_what,
                      "print shortest strong paths from roots to the object ID, or to the N largest objects of TYPE"),
        MT_OPT_STRING(0, "dot", "ID", &dot_what, "print a Graphviz graph of what the object ID refers to instead"),
        MT_OPT_UINT(0, "depth", "N", &depth, "levels of references --dot follows (default: 2)"),
        MT_OPT_SALVAGE(&salvage),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
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
    mt_diag diag = { 0 };
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
        if (!parse_id(dot_what, &oid) || mt_graph_find_id(G, oid, &o)) {
            fprintf(stderr, "%s: --dot: no object has the id '%s'\n", tool.name, dot_what);
            code = MT_EXIT_INPUT;
        } else
            print_dot(o, depth, &d);
    } else {
        mt_graph_report r;
        if (mt_graph_report_compute(s, &d, (uint32_t)top, &r, &diag))
            code = mt_cli_fail(tool.name, file, &diag);
        else {
            uint32_t *targets = NULL, ntargets = 0;
            if (path_what) ntargets = path_targets(path_what, &d, top ? (uint32_t)top : 1, &targets);
            if (json) print_report_json(file, &r, &d, path_what ? targets : NULL, ntargets);
            else print_report_text(file, &r, &d, path_what ? targets : NULL, ntargets);
            free(targets);
        }
        mt_graph_report_free(&r);
    }
    mt_dominators_free(&d);
    mt_snapshot_free(s);
    free(c.args);
    return code ? code : mt_cli_finish(tool.name);
}
