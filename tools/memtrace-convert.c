/* memtrace-convert: JSON heap documents to snapshots and back, and
 * snapshots to snapshots (a salvage rewrite, a format upgrade); an
 * allocation trace to a smaller trace (a time window, or thinned to the
 * sampled trace of the same run). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"
#include "memtrace/fileio.h"
#include "memtrace/torch.h"

static const mt_tool tool = {
    "memtrace-convert", "IN OUT",
    "Convert between JSON heap documents (.json) and snapshots (.snap), import a PyTorch CUDA allocator snapshot (.pickle), or cut and thin an allocation trace. '-' is standard input or output for JSON.",
    2, 2, NULL,
};

/* In the order of the names --from and --to take. */
enum { FMT_NONE = -1, FMT_JSON, FMT_SNAP, FMT_TORCH };
#define FORMATS MT_NAMES("json", "snap", "torch")

static int guess_fmt(const char *path) {
    const char *dot = strrchr(path, '.');
    if (!strcmp(path, "-")) return FMT_JSON;
    if (dot && !strcmp(dot, ".json")) return FMT_JSON;
    if (dot && !strcmp(dot, ".snap")) return FMT_SNAP;
    /* What torch.cuda.memory._dump_snapshot() is usually given. */
    if (dot && (!strcmp(dot, ".pickle") || !strcmp(dot, ".pkl"))) return FMT_TORCH;
    return FMT_NONE;
}

/* A PyTorch CUDA allocator snapshot (a pickle) to a snapshot, with
 * what it held on standard output. */
static int import_torch(const char *in, const char *out) {
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    mt_torch_counts n;
    /* Compression on a second thread: a snapshot of millions of trace
     * entries spends a third of its import in zstd otherwise. */
    mt_writer_opts w = { .background = 1 };
    mt_torch_opts o = { .tool = tool.name, .writer = &w };
    if (mt_torch_import(in, out, &o, &n, &diag)) {
        /* diag names the file at fault; OUT is as it was. A pickle this
         * reader refuses is bad input (exit 3), whatever the code. */
        mt_cli_fail(tool.name, diag.file ? diag.file : in, &diag);
        return MT_EXIT_INPUT;
    }
    printf("%s: %" PRIu64 " segment%s, %" PRIu64 " block%s, %" PRIu64 " event%s, %" PRIu64 " device%s%s\n",
           mt_cli_cstr(out), n.segments, n.segments == 1 ? "" : "s", n.blocks, n.blocks == 1 ? "" : "s", n.events,
           n.events == 1 ? "" : "s", n.devices, n.devices == 1 ? "" : "s",
           n.sequence_clock ? " (no time_us: events are numbered in trace order)" : "");
    return mt_cli_finish(tool.name);
}

/* Seconds as the options take them, to nanoseconds. */
static uint64_t secs_ns(double s) { return (uint64_t)llround(s * 1e9); }

/* A trace's window or thinning (traceedit.h); IN and OUT are snapshots. */
static int edit_trace(const char *in, const char *out, double from_s, double to_s, uint64_t thin, uint64_t seed,
                      int salvage) {
    mt_snapshot *s;
    int code = mt_cli_load(tool.name, in, 0, salvage, &s);
    if (code) return code;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    diag.file = in;
    int rc = thin ? mt_trace_thin(s, thin, seed, out, NULL, &diag)
                  : mt_trace_cut(s, from_s < 0 ? 0 : secs_ns(from_s), to_s < 0 ? UINT64_MAX : secs_ns(to_s), out,
                                 NULL, &diag);
    if (rc) {
        code = mt_cli_fail(tool.name, diag.file ? diag.file : in, &diag);
        /* The options were checked here: what the library refuses is the
         * input (not a trace, not a full one). */
        if (rc == MT_E_INVAL) code = MT_EXIT_INPUT;
    }
    mt_snapshot_free(s);
    return code;
}

int main(int argc, char **argv) {
    int from = FMT_NONE, to = FMT_NONE, salvage = 0;
    double from_s = -1, to_s = -1;
    uint64_t thin = 0, seed = 0;
    int seed_given = 0;
    const mt_opt opts[] = {
        MT_OPT_CHOICE(0, "from", &from, FORMATS, "input format (default: from IN's extension)"),
        MT_OPT_CHOICE(0, "to", &to, MT_NAMES("json", "snap"), "output format (default: from OUT's extension)"),
        MT_OPT_SALVAGE(&salvage),
        MT_OPT_DOUBLE(0, "from-time", "SECONDS", &from_s, 0, 1e9,
                      "a trace: keep the window from this time on (seconds since its start; default: 0)"),
        MT_OPT_DOUBLE(0, "to-time", "SECONDS", &to_s, 0, 1e9, "a trace: keep the window up to this time (default: its end)"),
        MT_OPT_SIZE(0, "thin-to-sampled", "BYTES", &thin,
                    "a full trace: write the sampled trace of mean distance BYTES between samples"),
        MT_OPT_UINT(0, "seed", "N", &seed, "the thinning's random seed (default: 0)"),
        MT_OPT_END,
    };
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--seed") || !strncmp(argv[i], "--seed=", 7)) seed_given = 1;
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    const char *in = c.args[0], *out = c.args[1];
    int cut = from_s >= 0 || to_s >= 0;
    if (cut || thin || seed_given) {
        if (seed_given && !thin) mt_cli_usage_error(&c, "--seed goes with --thin-to-sampled");
        if (cut && thin)
            mt_cli_usage_error(&c, "--thin-to-sampled and a time window are two runs: thin the whole trace, then cut the thinned one");
        if (from_s >= 0 && to_s >= 0 && to_s < from_s)
            mt_cli_usage_error(&c, "--to-time %g is before --from-time %g", to_s, from_s);
        if ((from != FMT_NONE && from != FMT_SNAP) || (to != FMT_NONE && to != FMT_SNAP) ||
            (from == FMT_NONE && guess_fmt(in) == FMT_JSON) || (to == FMT_NONE && guess_fmt(out) == FMT_JSON))
            mt_cli_usage_error(&c, "a trace is rewritten from a snapshot file to a snapshot file, not JSON");
        int code = edit_trace(in, out, from_s, to_s, thin, seed, salvage);
        free(c.args);
        return code;
    }
    if (from == FMT_NONE && (from = guess_fmt(in)) == FMT_NONE)
        mt_cli_usage_error(&c, "cannot tell the format of '%s' from its name: use --from json|snap|torch", in);
    if (to == FMT_NONE && from == FMT_TORCH && guess_fmt(out) != FMT_JSON) to = FMT_SNAP;
    if (to == FMT_NONE && (to = guess_fmt(out)) == FMT_NONE)
        mt_cli_usage_error(&c, "cannot tell the format of '%s' from its name: use --to json|snap", out);
    if (to == FMT_TORCH) mt_cli_usage_error(&c, "'%s': a PyTorch snapshot is read, never written", out);
    if (to == FMT_SNAP && !strcmp(out, "-"))
        mt_cli_usage_error(&c, "a snapshot cannot be written to standard output: name a file");
    if (from == FMT_JSON && to == FMT_JSON) mt_cli_usage_error(&c, "both sides are JSON: nothing to convert");
    if (from == FMT_TORCH) {
        if (to != FMT_SNAP) mt_cli_usage_error(&c, "a PyTorch snapshot converts to a snapshot file (.snap), not JSON");
        int code = import_torch(in, out);
        free(c.args);
        return code;
    }

    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    int code = MT_EXIT_OK;
    if (from == FMT_JSON) {
        /* Read through mt_input_read: no devices, a bound, no wait for
         * ever on a FIFO with no writer. */
        diag.file = in;
        if (mt_heapjson_import_path(in, out, &diag)) {
            /* diag names the file at fault: the input, or OUT when the
             * snapshot could not be written. The writer wrote through a
             * temporary file and removed it: OUT is as it was. */
            code = mt_cli_fail(tool.name, diag.file, &diag);
        }
    } else {
        mt_snapshot *s;
        const char *src = strcmp(in, "-") ? in : "/dev/stdin";
        diag.file = in;
        int rc = mt_snapshot_load(src, MT_LOAD_LABELS | (salvage ? MT_LOAD_SALVAGE : 0), &s, &diag);
        if (rc) {
            code = mt_cli_fail(tool.name, in, &diag);
            if (rc == MT_E_DAMAGED) fprintf(stderr, "%s: %s: use --salvage to convert its intact blocks\n", tool.name, in);
        } else {
            if (salvage) mt_cli_warn_damage(tool.name, in, s);
            mt_diag_clear(&diag);
            diag.file = out;
            if (to == FMT_SNAP) {
                if (mt_snapshot_save(s, out, &diag)) code = mt_cli_fail(tool.name, out, &diag);
            } else {
                /* Through mt_output: an existing OUT is replaced only by
                 * a complete document; a device is written in place. */
                mt_output o;
                FILE *f;
                if (mt_output_fopen(&o, out, &f, &diag)) {
                    code = mt_cli_fail(tool.name, out, &diag);
                } else {
                    int ok = !mt_heapjson_export(s, f, &diag);
                    if (!ok) code = mt_cli_fail(tool.name, out, &diag);
                    mt_diag_clear(&diag);
                    if (mt_output_fclose(&o, f, ok, &diag) && ok) code = mt_cli_fail(tool.name, out, &diag);
                }
            }
            mt_snapshot_free(s);
        }
    }
    free(c.args);
    return code;
}
