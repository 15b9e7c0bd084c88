/* memtrace-info: what a snapshot holds. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "memtrace/checked.h"
#include "common/cli.h"

static const mt_tool tool = {
    "memtrace-info", "FILE",
    "Print what a snapshot holds: its meta, records per kind, compression, and the largest types by count and bytes.\n"
    "FILE '-' reads standard input (a pipe is read whole into memory).",
    1, 1, NULL,
};

static double ratio(uint64_t raw, uint64_t stored) { return stored ? (double)raw / (double)stored : 0; }

static void print_value(FILE *out, const mt_value *v) {
    switch (v->type) {
    case MT_VAL_STR: mt_text_put(out, MT_TEXT_TERMINAL, v->v.s.ptr, v->v.s.len); break;
    case MT_VAL_BIN: fprintf(out, "<%zu bytes>", v->v.s.len); break;
    default: mt_json_put_value(out, v); break;
    }
}

/* part of whole, in percent, never more than 100. */
static double pct(uint64_t part, uint64_t whole) {
    if (!whole) return 0.0;
    double p = 100.0 * (double)part / (double)whole;
    return p > 100.0 ? 100.0 : p;
}

/* The type comes last, in full: a name cut to a column's width read as
 * another type's, or needed its "..." to say it was not whole. */
static void text_types(const char *title, const mt_snapshot *s, const mt_type_stat *st, uint32_t n,
                       uint64_t objects, uint64_t bytes) {
    const mt_graph *g = mt_snapshot_graph(s);
    printf("\n%s:\n  %12s %6s %12s %6s  %s\n", title, "count", "%", "bytes", "%", "type");
    for (uint32_t i = 0; i < n; i++) {
        char hb[16];
        mt_str name = g->type_names[st[i].type];
        printf("  %12" PRIu64 " %5.1f%% %12s %5.1f%%  ", st[i].count, pct(st[i].count, objects),
               mt_human_bytes(st[i].bytes, hb), pct(st[i].bytes, bytes));
        mt_text_put(stdout, MT_TEXT_TERMINAL, name.ptr ? name.ptr : "", name.ptr ? name.len : 0);
        putchar('\n');
    }
}

/* ns since the Unix epoch as an ISO 8601 date in UTC, with the fraction
 * of a second when there is one: "2026-11-18T22:13:20.5Z". */
static const char *utc_date(uint64_t ns, char *buf, size_t n) {
    time_t t = (time_t)(ns / 1000000000u);
    uint32_t frac = (uint32_t)(ns % 1000000000u);
    struct tm tm;
    size_t k;
    if (!gmtime_r(&t, &tm) || !(k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm))) {
        snprintf(buf, n, "-");
        return buf;
    }
    if (frac) {
        int d = 9;
        while (frac % 10 == 0) frac /= 10, d--;
        snprintf(buf + k, n - k, ".%0*" PRIu32 "Z", d, frac);
    } else
        snprintf(buf + k, n - k, "Z");
    return buf;
}

static int key_is(mt_str k, const char *name) { return k.len == strlen(name) && !memcmp(k.ptr, name, k.len); }

/* A meta value that is a time, as people read one: start_time (ns since
 * the epoch) as a date, a cut's bounds (ns after start_time) as seconds
 * after the start and the date they fall on. 0 when m is no such time. */
static int print_time(const mt_meta *m, const mt_value *start) {
    char d[48];
    if (m->value.type != MT_VAL_UINT) return 0;
    uint64_t v = m->value.v.u;
    if (key_is(m->key, "start_time")) {
        printf("%s", utc_date(v, d, sizeof d));
        return 1;
    }
    if (key_is(m->key, "cut_from_ns") || key_is(m->key, "cut_to_ns")) {
        printf("%.3f s after the start", (double)v / 1e9);
        if (start && start->type == MT_VAL_UINT) printf(" (%s)", utc_date(mt_sat_add_u64(start->v.u, v), d, sizeof d));
        return 1;
    }
    return 0;
}

static void json_types(mt_jw *w, const char *key, const mt_snapshot *s, const mt_type_stat *st, uint32_t n) {
    const mt_graph *g = mt_snapshot_graph(s);
    mt_jw_begin_array(w, key);
    for (uint32_t i = 0; i < n; i++) {
        mt_jw_begin_object(w, NULL);
        mt_jw_str(w, "type", g->type_names[st[i].type].ptr, g->type_names[st[i].type].len);
        mt_jw_uint(w, "count", st[i].count);
        mt_jw_uint(w, "bytes", st[i].bytes);
        mt_jw_end_object(w);
    }
    mt_jw_end_array(w);
}

int main(int argc, char **argv) {
    int json = 0, salvage = 0;
    uint64_t top = 10;
    const mt_opt opts[] = {
        MT_OPT_FORMAT(&json, MT_NAMES("text", "json"), "output format (default: text)"),
        MT_OPT_TOP(&top, "show the N largest types (default: 10)"),
        MT_OPT_SALVAGE(&salvage),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    const char *path = c.args[0];
    mt_snapshot *s;
    int code = mt_cli_load(tool.name, path, 0, salvage, &s);
    if (code) {
        free(c.args);
        return code;
    }

    const mt_graph *g = mt_snapshot_graph(s);
    mt_type_stat *by_bytes = malloc((g->n_types + 1) * sizeof *by_bytes);
    mt_type_stat *by_count = malloc((g->n_types + 1) * sizeof *by_count);
    if (!by_bytes || !by_count) {
        fprintf(stderr, "%s: out of memory\n", tool.name);
        return MT_EXIT_INPUT;
    }
    mt_snapshot_type_stats(s, 1, by_bytes);
    mt_snapshot_type_stats(s, 0, by_count);
    uint32_t ntop = 0;
    while (ntop < g->n_types && ntop < top && by_bytes[ntop].count) ntop++;
    uint64_t objects = 0, bytes = 0;
    for (uint32_t t = 0; t < g->n_types; t++) {
        objects = mt_sat_add_u64(objects, by_bytes[t].count);
        bytes = mt_sat_add_u64(bytes, by_bytes[t].bytes);
    }
    const mt_kind_stat *ks;
    size_t nk = mt_snapshot_kind_stats(s, &ks);
    uint64_t raw = 0, stored = 0, records = 0, refs = 0, roots = 0;
    for (size_t i = 0; i < nk; i++) {
        raw = mt_sat_add_u64(raw, ks[i].raw);
        stored = mt_sat_add_u64(stored, ks[i].stored);
        records = mt_sat_add_u64(records, ks[i].records);
        if (ks[i].kind == MT_KIND_REF) refs = ks[i].records;
        if (ks[i].kind == MT_KIND_ROOT) roots = ks[i].records;
    }
    unsigned major, minor;
    mt_snapshot_version(s, &major, &minor);
    uint64_t fsize = mt_snapshot_file_size(s);

    if (json) {
        mt_jw w;
        mt_jw_init(&w, stdout);
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "file", path);
        mt_jw_uint(&w, "file_bytes", fsize);
        char ver[32];
        snprintf(ver, sizeof ver, "%u.%u", major, minor);
        mt_jw_cstr(&w, "format_version", ver);
        mt_jw_uint(&w, "blocks", mt_snapshot_block_count(s));
        mt_jw_begin_object(&w, "meta");
        for (size_t i = 0; i < mt_snapshot_meta_count(s); i++) {
            const mt_meta *m = mt_snapshot_meta(s, i);
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)m->key.len, m->key.ptr);
            mt_jw_value(&w, key, &m->value);
        }
        mt_jw_end_object(&w);
        const mt_value *st = mt_snapshot_meta_get(s, "start_time");
        if (st && st->type == MT_VAL_UINT) {
            char d[48];
            mt_jw_cstr(&w, "start_date", utc_date(st->v.u, d, sizeof d));
        }
        mt_jw_begin_object(&w, "records");
        for (size_t i = 0; i < nk; i++) {
            mt_jw_begin_object(&w, ks[i].kind ? mt_kind_name(ks[i].kind) : "unknown");
            mt_jw_uint(&w, "count", ks[i].records);
            mt_jw_uint(&w, "blocks", ks[i].blocks);
            mt_jw_uint(&w, "raw_bytes", ks[i].raw);
            mt_jw_uint(&w, "stored_bytes", ks[i].stored);
            mt_jw_end_object(&w);
        }
        mt_jw_end_object(&w);
        mt_jw_uint(&w, "raw_bytes", raw);
        mt_jw_uint(&w, "stored_bytes", stored);
        mt_jw_double(&w, "compression_ratio", ratio(raw, stored));
        mt_jw_uint(&w, "objects", objects);
        mt_jw_uint(&w, "object_bytes", bytes);
        double rss;
        if (mt_snapshot_meta_number(s, "rss", &rss) && rss >= 1 && rss < 1.8e19) {
            mt_jw_uint(&w, "rss_bytes", (uint64_t)rss);
            mt_jw_int(&w, "unaccounted_bytes", mt_rss_unaccounted((uint64_t)rss, bytes));
        } else {
            mt_jw_null(&w, "rss_bytes");
            mt_jw_null(&w, "unaccounted_bytes");
        }
        mt_jw_uint(&w, "refs", refs);
        mt_jw_uint(&w, "roots", roots);
        mt_jw_uint(&w, "types", g->n_types);
        json_types(&w, "top_types_by_bytes", s, by_bytes, ntop);
        json_types(&w, "top_types_by_count", s, by_count, ntop);
        mt_jw_begin_array(&w, "damage");
        for (size_t i = 0; i < mt_snapshot_damage_count(s); i++) {
            const mt_damage *d = mt_snapshot_damage(s, i);
            mt_jw_begin_object(&w, NULL);
            mt_jw_cstr(&w, "error", mt_err_name(d->code));
            if (d->block >= 0) mt_jw_uint(&w, "block", (uint64_t)d->block);
            mt_jw_uint(&w, "offset", d->offset);
            mt_jw_uint(&w, "length", d->length);
            if (d->kind) mt_jw_cstr(&w, "kind", mt_kind_name(d->kind));
            mt_jw_uint(&w, "records", d->records);
            mt_jw_cstr(&w, "message", d->msg);
            mt_jw_end_object(&w);
        }
        mt_jw_end_array(&w);
        mt_jw_uint(&w, "lost_objects", mt_snapshot_lost_objects(s));
        mt_jw_uint(&w, "dropped_refs", mt_snapshot_dropped_refs(s));
        mt_jw_end_object(&w);
    } else {
        char h1[16], h2[16], h3[16];
        printf("file:     %s\n", mt_cli_cstr(path));
        printf("size:     %s in %" PRIu64 " blocks, format %u.%u\n", mt_human_bytes(fsize, h1),
               mt_snapshot_block_count(s), major, minor);
        printf("objects:  %" PRIu64 " (%s), %" PRIu64 " references, %" PRIu64 " roots, %u types\n", objects,
               mt_human_bytes(bytes, h1), refs, roots, g->n_types);
        /* The process's resident size at the dump beside the heap, and
         * what the objects do not account for: native memory, the
         * allocators' free space, the interpreter's own. */
        double rss;
        if (mt_snapshot_meta_number(s, "rss", &rss) && rss >= 1 && rss < 1.8e19) {
            int64_t u = mt_rss_unaccounted((uint64_t)rss, bytes);
            printf("rss:      %s at the dump; the heap's objects are %s of it", mt_human_bytes((uint64_t)rss, h1),
                   mt_human_bytes(bytes, h2));
            if ((double)bytes < rss) printf(" (%.1f%%)", 100.0 * (double)bytes / rss);
            printf("\n          unaccounted %s%s: rss less the heap's objects\n", u < 0 ? "-" : "",
                   mt_human_bytes(u < 0 ? 0 - (uint64_t)u : (uint64_t)u, h3));
            if (u < 0)
                printf("note: the objects' sizes add up to more than the process held resident: pages swapped out\n"
                       "  or never touched, or sizes that count what other objects count as well\n");
        }
        if (mt_snapshot_damage_count(s))
            printf("damage:   damaged stretches %zu, objects lost %" PRIu64 ", references dropped %" PRIu64 "\n",
                   mt_snapshot_damage_count(s), mt_snapshot_lost_objects(s), mt_snapshot_dropped_refs(s));
        if (mt_snapshot_meta_count(s)) {
            printf("\nmeta:\n");
            for (size_t i = 0; i < mt_snapshot_meta_count(s); i++) {
                const mt_meta *m = mt_snapshot_meta(s, i);
                printf("  %-20s ", mt_cli_strw(m->key, 20));
                if (!print_time(m, mt_snapshot_meta_get(s, "start_time"))) print_value(stdout, &m->value);
                putchar('\n');
            }
        }
        printf("\nrecords:\n  %-14s %12s %8s %12s %12s %7s\n", "kind", "count", "blocks", "raw", "stored", "ratio");
        for (size_t i = 0; i < nk; i++)
            printf("  %-14s %12" PRIu64 " %8" PRIu64 " %12s %12s %6.2fx\n", ks[i].kind ? mt_kind_name(ks[i].kind) : "unknown",
                   ks[i].records, ks[i].blocks, mt_human_bytes(ks[i].raw, h1), mt_human_bytes(ks[i].stored, h2),
                   ratio(ks[i].raw, ks[i].stored));
        printf("  %-14s %12" PRIu64 " %8" PRIu64 " %12s %12s %6.2fx\n", "total", records, mt_snapshot_block_count(s),
               mt_human_bytes(raw, h1), mt_human_bytes(stored, h3), ratio(raw, stored));
        if (ntop) {
            text_types("top types by bytes", s, by_bytes, ntop, objects, bytes);
            text_types("top types by count", s, by_count, ntop, objects, bytes);
        }
    }
    free(by_bytes);
    free(by_count);
    mt_snapshot_free(s);
    free(c.args);
    return mt_cli_finish(tool.name);
}
