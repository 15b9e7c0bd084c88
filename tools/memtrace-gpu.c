/* memtrace-gpu: a CUDA caching allocator's state and trace (SPEC.md 4.5),
 * measured per device, pool and stream, with the trace's peak, its OOMs
 * classified, and several devices or ranks side by side. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"
#include "memtrace/gpu.h"
#include "memtrace/sites.h"
#include "memtrace/units.h"

static const mt_tool tool = {
    "memtrace-gpu", "FILE...",
    "Show the GPU memory of PyTorch allocator snapshots (memtrace-convert --from torch, memtrace.dump_cuda): per\n"
    "device, pool and stream the reserved, allocated, requested and pending-free bytes, internal and external\n"
    "fragmentation, what empty_cache would return and what is stranded in segments still in use; memory outside\n"
    "PyTorch; the top allocation sites; the peak of the device trace and what was live then; each out-of-memory\n"
    "event classified as capacity or fragmentation, with the setting that would have avoided it. Several files\n"
    "(ranks) or devices are compared side by side.",
    1, 64,
    "A fragmentation OOM is one where the free bytes were there but in no one piece: S <= F + D and S > max(L, D)\n"
    "(S the request, F the free bytes of its pool and stream, L their largest block, D the device's free bytes).",
};

enum { FMT_TEXT, FMT_JSON };

typedef struct file_view {
    const char *path;
    mt_snapshot *s;
    mt_sites *sites;
    mt_gpu_report *r;
} file_view;

static const char *hb(uint64_t v, char *buf) { return mt_human_bytes(v, buf); }

static const char *site_text(const file_view *f, uint32_t stack, int whole, char *buf, size_t n) {
    if (!stack || !f->sites) {
        snprintf(buf, n, "<not recorded>");
        return buf;
    }
    mt_sites_format(f->sites, stack, whole, buf, n);
    return buf;
}

static void text_pool(const mt_gpu_pool *p) {
    char b[8][16], st[32];
    if (p->all_streams) snprintf(st, sizeof st, "*");
    else snprintf(st, sizeof st, "%#" PRIx64, p->stream);
    printf("  %-14s %-8s %5" PRIu32 " %10s %10s %10s %10s %10s %10s %10s %10s %6.1f%% %6.1f%% %6.1f%%\n",
           p->all_streams ? "(all)" : p->pool, st, p->segments, hb(p->reserved, b[0]), hb(p->allocated, b[1]),
           hb(p->requested, b[2]), hb(p->pending_free, b[3]), hb(p->inactive, b[4]), hb(p->releasable, b[5]),
           hb(p->stranded, b[6]), hb(p->largest_free, b[7]), p->internal_frag * 100, p->external_frag * 100,
           p->utilization * 100);
}

static void text_oom(const file_view *f, const mt_gpu_oom *o, int whole) {
    char b[6][16], site[1024];
    printf("  OOM at trace entry %" PRIu64 ": %s requested on stream %#" PRIx64 "; device free %s, active %s,"
           " reserved %s\n",
           o->index, hb(o->size, b[0]), o->stream, hb(o->device_free, b[1]), hb(o->active, b[2]),
           hb(o->reserved, b[3]));
    if (o->fragmentation) {
        printf("    fragmentation: %s free in its pool and stream plus %s on the device would hold it, but the"
               " largest free block is %s\n",
               hb(o->pool_free, b[0]), hb(o->device_free, b[1]), hb(o->largest_free, b[2]));
        if (o->helps & MT_GPU_HELP_EXPANDABLE)
            printf("    would have helped: PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True\n");
        if (o->helps & MT_GPU_HELP_MAX_SPLIT)
            printf("    %s: PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:%" PRIu32
                   " (large cached blocks stay whole for requests this size)\n",
                   o->helps & MT_GPU_HELP_EXPANDABLE ? "or" : "would have helped", o->max_split_mb);
        if (!o->helps) printf("    no allocator setting would have helped: expandable segments are already on\n");
    } else {
        printf("    capacity: short of %s even were every free byte of its pool (%s) and of the device (%s) one"
               " block; no allocator setting helps: use less memory\n",
               hb(o->shortfall, b[0]), hb(o->pool_free, b[1]), hb(o->device_free, b[2]));
    }
    if (o->stack) printf("    at %s\n", site_text(f, o->stack, whole, site, sizeof site));
}

static void text_sites(const file_view *f, uint32_t device, int at_peak, int whole) {
    const mt_gpu_site *sites;
    size_t n = mt_gpu_report_sites(f->r, &sites);
    int header = 0;
    char b[16], site[2048];
    for (size_t i = 0; i < n; i++) {
        if (sites[i].device != device || sites[i].at_peak != at_peak) continue;
        if (!header) printf("  top sites %s:\n", at_peak ? "at the trace's peak" : "of the snapshot's live blocks");
        header = 1;
        printf("    %10s %6" PRIu64 " block%s  %s\n", hb(sites[i].bytes, b), sites[i].blocks,
               sites[i].blocks == 1 ? " " : "s", site_text(f, sites[i].stack, whole, site, sizeof site));
    }
}

static void print_text(const file_view *fs, size_t nf, int whole) {
    char b[6][16];
    size_t rows = 0;
    for (size_t k = 0; k < nf; k++) {
        const file_view *f = &fs[k];
        const mt_gpu_device_report *devs;
        size_t nd = mt_gpu_report_devices(f->r, &devs);
        const mt_gpu_pool *pools;
        size_t np = mt_gpu_report_pools(f->r, &pools);
        const mt_gpu_oom *ooms;
        size_t no = mt_gpu_report_ooms(f->r, &ooms);
        rows += nd;
        if (nf > 1) printf("== %s\n", mt_cli_cstr(f->path));
        for (size_t d = 0; d < nd; d++) {
            const mt_gpu_device_report *dr = &devs[d];
            printf("device %" PRIu32 " (%s)", dr->device, mt_cli_cstr(dr->name));
            if (dr->total) printf(": capacity %s", hb(dr->total, b[0]));
            if (dr->has_used) {
                printf(", in use %s", hb(dr->used, b[1]));
                if (dr->outside >= 0) printf(", outside PyTorch %s", hb((uint64_t)dr->outside, b[2]));
                else printf(", %s less in use than PyTorch reserved", hb((uint64_t)-dr->outside, b[2]));
            }
            printf("\n  %-14s %-8s %5s %10s %10s %10s %10s %10s %10s %10s %10s %7s %7s %7s\n", "pool", "stream", "segs",
                   "reserved", "allocated", "requested", "pending", "inactive", "releasable", "stranded", "largest",
                   "intfrag", "extfrag", "util");
            for (size_t i = 0; i < np; i++)
                if (pools[i].device == dr->device) text_pool(&pools[i]);
            if (dr->all.reserved > dr->all.allocated)
                printf("  reserved but unallocated: %s (empty_cache would return %s)\n",
                       hb(dr->all.reserved - dr->all.allocated, b[0]), hb(dr->all.releasable, b[1]));
            if (dr->all.expandable) printf("  expandable segments: %" PRIu32 "\n", dr->all.expandable);
            if (dr->has_trace) {
                const mt_gpu_trace_stats *t = &dr->trace;
                printf("  trace: %" PRIu64 " entries%s; active %s at its start, peak %s at entry %" PRIu64
                       " (reserved %s then), %s at its end; most reserved %s\n",
                       t->events, t->wrapped ? " (a ring buffer that wrapped: it frees blocks allocated before it)" : "",
                       hb(t->start_active, b[0]), hb(t->peak_active, b[1]), t->peak_index, hb(t->peak_reserved, b[2]),
                       hb(t->end_active, b[3]), hb(t->max_reserved, b[4]));
            }
            for (size_t i = 0; i < no; i++)
                if (ooms[i].device == dr->device) text_oom(f, &ooms[i], whole);
            text_sites(f, dr->device, 0, whole);
            text_sites(f, dr->device, 1, whole);
        }
    }
    if (rows < 2) return;
    /* Side by side: every device of every file, and the spread of peaks. */
    double *peak = malloc(rows * sizeof *peak);
    if (!peak) return;
    printf("\nside by side:\n  %-32s %6s %10s %10s %10s %10s\n", "file", "device", "reserved", "allocated", "peak",
           "outside");
    size_t at = 0;
    for (size_t k = 0; k < nf; k++) {
        const mt_gpu_device_report *devs;
        size_t nd = mt_gpu_report_devices(fs[k].r, &devs);
        for (size_t d = 0; d < nd; d++) {
            const mt_gpu_device_report *dr = &devs[d];
            uint64_t p = dr->has_trace ? dr->trace.peak_active : dr->all.allocated;
            peak[at++] = (double)p;
            char out[16];
            if (dr->has_used && dr->outside >= 0) hb((uint64_t)dr->outside, out);
            else snprintf(out, sizeof out, "-");
            printf("  %-32s %6" PRIu32 " %10s %10s %10s %10s\n", mt_cli_strw((mt_str){ fs[k].path, strlen(fs[k].path) }, 32),
                   dr->device, hb(dr->all.reserved, b[0]), hb(dr->all.allocated, b[1]), hb(p, b[2]), out);
        }
    }
    mt_gpu_spread sp;
    mt_gpu_spread_of(peak, rows, &sp);
    printf("  peak (allocated where no trace): max %s, min %s, mean %s; imbalance %.1f%% above the mean\n",
           hb((uint64_t)sp.max, b[0]), hb((uint64_t)sp.min, b[1]), hb((uint64_t)sp.mean, b[2]), sp.imbalance * 100);
    free(peak);
}

static void json_pool(mt_jw *w, const mt_gpu_pool *p) {
    mt_jw_begin_object(w, NULL);
    if (p->all_streams) mt_jw_null(w, "pool");
    else mt_jw_cstr(w, "pool", p->pool);
    if (p->all_streams) mt_jw_null(w, "stream");
    else mt_jw_uint(w, "stream", p->stream);
    mt_jw_uint(w, "segments", p->segments);
    mt_jw_uint(w, "expandable_segments", p->expandable);
    mt_jw_uint(w, "blocks", p->blocks);
    mt_jw_uint(w, "reserved", p->reserved);
    mt_jw_uint(w, "allocated", p->allocated);
    mt_jw_uint(w, "requested", p->requested);
    mt_jw_uint(w, "pending_free", p->pending_free);
    mt_jw_uint(w, "inactive", p->inactive);
    mt_jw_uint(w, "reserved_unallocated", p->reserved - (p->allocated < p->reserved ? p->allocated : p->reserved));
    mt_jw_uint(w, "releasable", p->releasable);
    mt_jw_uint(w, "stranded", p->stranded);
    mt_jw_uint(w, "largest_free", p->largest_free);
    mt_jw_double(w, "internal_fragmentation", p->internal_frag);
    mt_jw_double(w, "external_fragmentation", p->external_frag);
    mt_jw_double(w, "utilization", p->utilization);
    mt_jw_end_object(w);
}

static void json_sites(mt_jw *w, const file_view *f, uint32_t device, int at_peak, int whole) {
    const mt_gpu_site *sites;
    size_t n = mt_gpu_report_sites(f->r, &sites);
    char site[4096];
    mt_jw_begin_array(w, at_peak ? "sites_at_peak" : "sites");
    for (size_t i = 0; i < n; i++) {
        if (sites[i].device != device || sites[i].at_peak != at_peak) continue;
        mt_jw_begin_object(w, NULL);
        mt_jw_uint(w, "bytes", sites[i].bytes);
        mt_jw_uint(w, "blocks", sites[i].blocks);
        mt_jw_uint(w, "stack", sites[i].stack);
        if (sites[i].stack && f->sites) mt_jw_cstr(w, "site", site_text(f, sites[i].stack, whole, site, sizeof site));
        else mt_jw_null(w, "site");
        mt_jw_end_object(w);
    }
    mt_jw_end_array(w);
}

static void print_json(const file_view *fs, size_t nf, int whole) {
    mt_jw w;
    mt_jw_init(&w, stdout);
    mt_jw_begin_object(&w, NULL);
    mt_jw_begin_array(&w, "files");
    size_t rows = 0;
    for (size_t k = 0; k < nf; k++) {
        const file_view *f = &fs[k];
        const mt_gpu_device_report *devs;
        size_t nd = mt_gpu_report_devices(f->r, &devs);
        const mt_gpu_pool *pools;
        size_t np = mt_gpu_report_pools(f->r, &pools);
        const mt_gpu_oom *ooms;
        size_t no = mt_gpu_report_ooms(f->r, &ooms);
        rows += nd;
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "file", f->path);
        mt_jw_bool(&w, "expandable_segments", mt_gpu_report_expandable(f->r));
        mt_jw_begin_array(&w, "devices");
        for (size_t d = 0; d < nd; d++) {
            const mt_gpu_device_report *dr = &devs[d];
            mt_jw_begin_object(&w, NULL);
            mt_jw_uint(&w, "device", dr->device);
            mt_jw_cstr(&w, "name", dr->name);
            if (dr->total) mt_jw_uint(&w, "total", dr->total);
            else mt_jw_null(&w, "total");
            if (dr->has_used) {
                mt_jw_uint(&w, "used", dr->used);
                mt_jw_int(&w, "outside_pytorch", dr->outside);
            } else {
                mt_jw_null(&w, "used");
                mt_jw_null(&w, "outside_pytorch");
            }
            mt_jw_begin_array(&w, "pools");
            for (size_t i = 0; i < np; i++)
                if (pools[i].device == dr->device) json_pool(&w, &pools[i]);
            mt_jw_end_array(&w);
            if (dr->has_trace) {
                const mt_gpu_trace_stats *t = &dr->trace;
                mt_jw_begin_object(&w, "trace");
                mt_jw_uint(&w, "events", t->events);
                mt_jw_bool(&w, "wrapped", t->wrapped);
                mt_jw_uint(&w, "start_active", t->start_active);
                mt_jw_uint(&w, "peak_active", t->peak_active);
                mt_jw_uint(&w, "peak_index", t->peak_index);
                mt_jw_uint(&w, "peak_time_ns", t->peak_time_ns);
                mt_jw_uint(&w, "peak_reserved", t->peak_reserved);
                mt_jw_uint(&w, "max_reserved", t->max_reserved);
                mt_jw_uint(&w, "end_active", t->end_active);
                mt_jw_uint(&w, "ooms", t->ooms);
                mt_jw_end_object(&w);
            } else {
                mt_jw_null(&w, "trace");
            }
            mt_jw_begin_array(&w, "ooms");
            char site[4096];
            for (size_t i = 0; i < no; i++) {
                const mt_gpu_oom *o = &ooms[i];
                if (o->device != dr->device) continue;
                mt_jw_begin_object(&w, NULL);
                mt_jw_uint(&w, "index", o->index);
                mt_jw_uint(&w, "time_ns", o->time_ns);
                mt_jw_uint(&w, "size", o->size);
                mt_jw_uint(&w, "stream", o->stream);
                mt_jw_uint(&w, "device_free", o->device_free);
                mt_jw_uint(&w, "active", o->active);
                mt_jw_uint(&w, "reserved", o->reserved);
                mt_jw_uint(&w, "pool_free", o->pool_free);
                mt_jw_uint(&w, "largest_free", o->largest_free);
                mt_jw_cstr(&w, "cause", o->fragmentation ? "fragmentation" : "capacity");
                mt_jw_uint(&w, "shortfall", o->shortfall);
                mt_jw_begin_array(&w, "would_help");
                if (o->helps & MT_GPU_HELP_EXPANDABLE) mt_jw_cstr(&w, NULL, "expandable_segments:True");
                if (o->helps & MT_GPU_HELP_MAX_SPLIT) {
                    char set[48];
                    snprintf(set, sizeof set, "max_split_size_mb:%" PRIu32, o->max_split_mb);
                    mt_jw_cstr(&w, NULL, set);
                }
                mt_jw_end_array(&w);
                if (o->stack && f->sites) mt_jw_cstr(&w, "site", site_text(f, o->stack, whole, site, sizeof site));
                else mt_jw_null(&w, "site");
                mt_jw_end_object(&w);
            }
            mt_jw_end_array(&w);
            json_sites(&w, f, dr->device, 0, whole);
            json_sites(&w, f, dr->device, 1, whole);
            mt_jw_end_object(&w);
        }
        mt_jw_end_array(&w);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    double *peak = malloc((rows + 1) * sizeof *peak);
    if (peak) {
        size_t at = 0;
        for (size_t k = 0; k < nf; k++) {
            const mt_gpu_device_report *devs;
            size_t nd = mt_gpu_report_devices(fs[k].r, &devs);
            for (size_t d = 0; d < nd; d++)
                peak[at++] = (double)(devs[d].has_trace ? devs[d].trace.peak_active : devs[d].all.allocated);
        }
        mt_gpu_spread sp;
        mt_gpu_spread_of(peak, rows, &sp);
        mt_jw_begin_object(&w, "spread");
        mt_jw_uint(&w, "devices", rows);
        mt_jw_double(&w, "max", sp.max);
        mt_jw_double(&w, "min", sp.min);
        mt_jw_double(&w, "mean", sp.mean);
        mt_jw_double(&w, "imbalance", sp.imbalance);
        mt_jw_end_object(&w);
        free(peak);
    }
    mt_jw_end_object(&w);
    putchar('\n');
}

int main(int argc, char **argv) {
    int fmt = FMT_TEXT, salvage = 0, whole = 0;
    uint64_t device = UINT64_MAX, top = 10;
    const mt_opt opts[] = {
        MT_OPT_UINT_RANGE('d', "device", "N", &device, 0, UINT32_MAX, "only CUDA device N (default: every device)"),
        MT_OPT_TOP_RANGE(&top, 1, 100000, "allocation sites shown per device and moment (default: 10)"),
        MT_OPT_FLAG(0, "stack", &whole, "show each site's whole stack, innermost frame first"),
        MT_OPT_SALVAGE_FILES(&salvage),
        MT_OPT_FORMAT(&fmt, MT_NAMES("text", "json"), "output format (default: text)"),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    file_view *fs = calloc((size_t)c.nargs, sizeof *fs);
    int code = fs ? MT_EXIT_OK : MT_EXIT_INPUT;
    mt_gpu_opts go = { device == UINT64_MAX ? -1 : (int)device, device != UINT64_MAX, (size_t)top };
    for (int i = 0; i < c.nargs && !code; i++) {
        file_view *f = &fs[i];
        f->path = c.args[i];
        code = mt_cli_load(tool.name, f->path, 0, salvage, &f->s);
        if (code) break;
        mt_diag diag = { 0 };
        mt_diag_clear(&diag);
        diag.file = f->path;
        if (mt_gpu_analyze(f->s, &go, &f->r, &diag) || mt_sites_load(f->s, &f->sites, &diag))
            code = mt_cli_fail(tool.name, f->path, &diag);
    }
    if (!code) {
        if (fmt == FMT_JSON) print_json(fs, (size_t)c.nargs, whole);
        else print_text(fs, (size_t)c.nargs, whole);
        code = mt_cli_finish(tool.name);
    } else if (!fs) {
        fprintf(stderr, "%s: out of memory\n", tool.name);
    }
    for (int i = 0; fs && i < c.nargs; i++) {
        mt_gpu_report_free(fs[i].r);
        mt_sites_free(fs[i].sites);
        mt_snapshot_free(fs[i].s);
    }
    free(fs);
    free(c.args);
    return code;
}
