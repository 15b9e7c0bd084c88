/* memtrace-leaks: leaks told from growth across a series of snapshots. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"

static const mt_tool tool = {
    "memtrace-leaks", "S1.snap S2.snap S3.snap...",
    "Tell leaks from growth across three or more snapshots of one process, in time order: objects matched by id\n"
    "and type get a birth generation; per type, the count and bytes series, a Theil-Sen slope and a Mann-Kendall\n"
    "trend test; and for leaks, the container their objects accumulate in, with its path to a root.",
    1, 100000, NULL,
};

/* A point's type and path to a root, in the last snapshot; *path is NULL
 * when it has none (free it). */
static mt_str point_of(const mt_snapshot *last, uint32_t point, char **path) {
    const mt_graph *g = mt_snapshot_graph(last);
    mt_path p;
    *path = NULL;
    if (!mt_path_to_root(g, point, &p, NULL)) {
        *path = mt_cli_path_text(last, &p);
        mt_path_free(&p);
    }
    return g->type_names[g->type[point]];
}

static void warn_damage(void *ctx, const char *path, const mt_snapshot *s) {
    (void)ctx;
    mt_cli_warn_damage(tool.name, path, s);
}

int main(int argc, char **argv) {
    int json = 0, salvage = 0, stdlib_frames = 0;
    double fail_at = -1; /* not given: no gate */
    uint64_t top = 10;
    mt_leaks_opts o = { 0 };
    const mt_opt opts[] = {
        MT_OPT_FORMAT(&json, MT_NAMES("text", "json"), "output format (default: text)"),
        MT_OPT_TOP(&top, "show at most N suspects and N growing groups (default: 10)"),
        MT_OPT_DOUBLE(0, "fail-confidence", "X", &fail_at, 0, 1, "exit 1 when a suspect's confidence is X (0 to 1) or more"),
        MT_OPT_UINT(0, "min-growth", "BYTES", &o.min_growth, "judge only groups that gained BYTES or more (default: 1)"),
        MT_OPT_UINT(0, "floor", "BYTES", &o.floor,
                    "the noise floor: a suspect must add BYTES a snapshot or more (default: 4096; 1: any growth)"),
        MT_OPT_FLAG(0, "stdlib-frames", &stdlib_frames,
                    "say \"allocated at\" of the innermost frame even when it is in Python's standard library"),
        MT_OPT_SALVAGE_FILES(&salvage),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    int gate = fail_at >= 0;
    if (c.nargs < 3)
        mt_cli_usage_error(&c, "a leak shows across at least 3 snapshots in time order; %d given", c.nargs);
    /* What a salvage dropped, said of each file as it is loaded, as every
     * tool says it (mt_cli_warn_damage). */
    if (salvage) o.loaded = warn_damage;
    mt_leaks L;
    mt_snapshot *last;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    int rc = mt_leaks_compute((const char *const *)c.args, (size_t)c.nargs, salvage ? MT_LOAD_SALVAGE : 0, &o, &L,
                              &last, &diag);
    if (rc) {
        int code = mt_cli_fail(tool.name, diag.file, &diag);
        if (rc == MT_E_DAMAGED) fprintf(stderr, "%s: %s: use --salvage to read its intact blocks\n", tool.name, diag.file);
        free(c.args);
        return code;
    }
    size_t n = L.n_snapshots;
    const mt_graph *g = mt_snapshot_graph(last);
    /* Allocation sites, when the dumps recorded tracebacks. */
    mt_sites *sites = NULL;
    if (g->stack && mt_sites_load(last, &sites, NULL)) sites = NULL;
    /* Growing groups that are not leaks, most bytes per snapshot first. */
    const size_t *grow = L.growing, ngrow = L.n_growing;
    size_t nsus = top && L.n_suspects > top ? top : L.n_suspects, nshow = top && ngrow > top ? top : ngrow;
    int found = 0;
    mt_jw w;
    if (json) {
        mt_jw_init(&w, stdout);
        mt_jw_begin_object(&w, NULL);
        mt_jw_uint(&w, "snapshots", n);
        mt_jw_uint(&w, "noise_floor_bytes", L.floor);
        mt_jw_begin_object(&w, "native_growth");
        if (L.rss[0] && L.rss[n - 1]) {
            mt_jw_int(&w, "rss_growth_bytes", L.rss_growth);
            mt_jw_int(&w, "heap_growth_bytes", L.heap_growth);
            mt_jw_int(&w, "unaccounted_bytes", L.unaccounted);
        } else {
            mt_jw_null(&w, "rss_growth_bytes");
            mt_jw_null(&w, "heap_growth_bytes");
            mt_jw_null(&w, "unaccounted_bytes");
        }
        mt_jw_bool(&w, "suspected", L.native_growth);
        mt_jw_end_object(&w);
        mt_jw_begin_array(&w, "suspects");
    } else {
        printf("snapshots: %zu, %s ... %s\n", n, c.args[0], c.args[n - 1]);
        printf("\nleak suspects%s\n", L.n_suspects ? ":" : ": none");
    }
    for (size_t k = 0; k < nsus; k++) {
        const mt_leak_suspect *sp = &L.suspects[k];
        const mt_leak_group *gr = &L.groups[sp->group];
        if (gate && sp->confidence >= fail_at) found = 1;
        char *path = NULL;
        mt_str ptype = mt_str_c("-");
        uint64_t retained = 0;
        if (sp->point != UINT32_MAX) {
            mt_path p;
            ptype = g->type_names[g->type[sp->point]];
            retained = L.dom.retained[sp->point];
            if (!mt_path_to_root(g, sp->point, &p, NULL)) {
                path = mt_cli_path_text(last, &p);
                mt_path_free(&p);
            }
        }
        char h1[16], h2[16], why[400], site[1024] = "";
        /* The application's call, past the standard library's frames. */
        if (sites && gr->site)
            mt_sites_format(sites, stdlib_frames ? gr->site : mt_sites_app_stack(sites, gr->site), 0, site, sizeof site);
        mt_leak_suspect_reason(&L, last, k, why, sizeof why);
        if (json) {
            mt_jw_begin_object(&w, NULL);
            mt_jw_uint(&w, "rank", k + 1);
            mt_jw_cstr(&w, "type", gr->type);
            mt_jw_begin_array(&w, "types");
            for (size_t j = 0; j < sp->n_groups; j++) mt_jw_cstr(&w, NULL, L.groups[sp->groups[j]].type);
            mt_jw_end_array(&w);
            if (sp->point != UINT32_MAX) {
                mt_jw_begin_object(&w, "accumulation_point");
                mt_jw_uint(&w, "id", g->id[sp->point]);
                mt_jw_str(&w, "type", ptype.ptr, ptype.len);
                if (path) mt_jw_cstr(&w, "path", path);
                else mt_jw_null(&w, "path");
                mt_jw_end_object(&w);
            } else
                mt_jw_null(&w, "accumulation_point");
            mt_jw_begin_array(&w, "also_accumulates_in");
            for (size_t j = 0; j < sp->n_also; j++) {
                char *ap;
                mt_str at = point_of(last, sp->also[j], &ap);
                mt_jw_begin_object(&w, NULL);
                mt_jw_uint(&w, "id", g->id[sp->also[j]]);
                mt_jw_str(&w, "type", at.ptr, at.len);
                if (ap) mt_jw_cstr(&w, "path", ap);
                else mt_jw_null(&w, "path");
                mt_jw_end_object(&w);
                free(ap);
            }
            mt_jw_end_array(&w);
            if (site[0]) mt_jw_cstr(&w, "site", site);
            mt_jw_uint(&w, "surviving_generations", gr->surviving_generations);
            mt_jw_uint(&w, "type_objects_per_snapshot", sp->type_objects_per_snapshot);
            mt_jw_uint(&w, "growth_objects_per_snapshot", sp->objects_per_snapshot);
            mt_jw_uint(&w, "growth_bytes_per_snapshot", sp->bytes_per_snapshot);
            mt_jw_uint(&w, "retained_bytes", retained);
            mt_jw_double(&w, "p_value", sp->p);
            mt_jw_double(&w, "confidence", sp->confidence);
            mt_jw_double(&w, "score", sp->score);
            mt_jw_cstr(&w, "explanation", why);
            if (sp->retained) {
                mt_jw_begin_array(&w, "retained_series");
                for (size_t j = 0; j < n; j++) mt_jw_uint(&w, NULL, sp->retained[j]);
                mt_jw_end_array(&w);
            } else
                mt_jw_null(&w, "retained_series");
            mt_jw_begin_array(&w, "count_series");
            for (size_t j = 0; j < n; j++) mt_jw_uint(&w, NULL, gr->count[j]);
            mt_jw_end_array(&w);
            mt_jw_begin_array(&w, "survivors_by_generation");
            for (size_t j = 0; j < n; j++) mt_jw_uint(&w, NULL, gr->survivors[j]);
            mt_jw_end_array(&w);
            if (sp->gen_objects) {
                mt_jw_begin_array(&w, "accumulated_by_generation");
                for (size_t j = 0; j < n; j++) mt_jw_uint(&w, NULL, sp->gen_objects[j]);
                mt_jw_end_array(&w);
            }
            mt_jw_end_object(&w);
        } else {
            /* The growing type's own count: "+500 logging.Logger objects",
             * and the bytes of all it brings with it. */
            printf("  %zu. %s: confidence %.2f, +%" PRIu64 " %s objects a snapshot (%s with what they hold), "
                   "retains %s\n", k + 1, mt_cli_cstr(gr->type), sp->confidence, sp->type_objects_per_snapshot,
                   mt_cli_cstr(gr->type), mt_human_bytes(sp->bytes_per_snapshot, h1), mt_human_bytes(retained, h2));
            if (sp->point != UINT32_MAX) {
                printf("     accumulates in %s: ", mt_cli_str(ptype));
                if (path) mt_text_put(stdout, MT_TEXT_TERMINAL, path, strlen(path));
                else fputs("(no path to a root)", stdout);
                putchar('\n');
            }
            for (size_t j = 0; j < sp->n_also; j++) {
                char *ap;
                mt_str at = point_of(last, sp->also[j], &ap);
                printf("     and in %s: ", mt_cli_str(at));
                if (ap) mt_text_put(stdout, MT_TEXT_TERMINAL, ap, strlen(ap));
                else fputs("(no path to a root)", stdout);
                putchar('\n');
                free(ap);
            }
            printf("     types:");
            for (size_t j = 0; j < sp->n_groups; j++) printf("%s %s", j ? "," : "", mt_cli_cstr(L.groups[sp->groups[j]].type));
            printf("; surviving generations %u of %zu\n", gr->surviving_generations, n);
            if (site[0]) printf("     allocated at %s\n", mt_cli_cstr(site));
            printf("     why: %s\n", mt_cli_cstr(why));
        }
        free(path);
    }
    if (json) {
        mt_jw_end_array(&w);
        mt_jw_begin_array(&w, "not_leaking");
    } else
        printf("\ngrowing but not leaking%s\n", ngrow ? ":" : ": none");
    for (size_t k = 0; k < nshow; k++) {
        const mt_leak_group *gr = &L.groups[grow[k]];
        char why[400];
        mt_leak_group_reason(gr, n, why, sizeof why);
        if (json) {
            mt_jw_begin_object(&w, NULL);
            mt_jw_cstr(&w, "type", gr->type);
            mt_jw_cstr(&w, "kind", mt_leak_growth_label(gr->verdict));
            mt_jw_cstr(&w, "reason", why);
            mt_jw_double(&w, "p_value", gr->mk.p);
            mt_jw_begin_array(&w, "count_series");
            for (size_t j = 0; j < n; j++) mt_jw_uint(&w, NULL, gr->count[j]);
            mt_jw_end_array(&w);
            mt_jw_begin_array(&w, "bytes_series");
            for (size_t j = 0; j < n; j++) mt_jw_uint(&w, NULL, gr->bytes[j]);
            mt_jw_end_array(&w);
            mt_jw_end_object(&w);
        } else
            printf("  %-32s %-10s %s\n", mt_cli_cstr(gr->type), mt_leak_growth_label(gr->verdict), mt_cli_cstr(why));
    }
    if (json) {
        mt_jw_end_array(&w);
        mt_jw_end_object(&w);
    } else if (L.native_growth) {
        char h1[24], h2[24], h3[24];
        printf("\nnative growth: RSS grew by %s from the first snapshot to the last, the heap's objects changed by %s: %s "
               "that no object accounts for (C extensions, native libraries, the allocator's arenas). Record "
               "native allocations to find it: python3 -m memtrace trace sees CPython's raw, mem and object "
               "allocators and NumPy's buffers; memory a library takes from malloc or mmap directly needs a native "
               "profiler such as heaptrack\n",
               mt_human_bytes((uint64_t)L.rss_growth, h1), mt_signed_bytes(L.heap_growth, h2),
               mt_human_bytes((uint64_t)L.unaccounted, h3));
    }
    mt_sites_free(sites);
    mt_leaks_free(&L);
    mt_snapshot_free(last);
    free(c.args);
    int code = mt_cli_finish(tool.name);
    return code ? code : found ? MT_EXIT_FINDING : MT_EXIT_OK;
}
