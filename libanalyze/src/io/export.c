/* Records as JSON lines and CSV, OpenMetrics gauges, folded stacks
 * (export.h). */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/checked.h"
#include "memtrace/export.h"
#include "memtrace/series.h"
#include "memtrace/text.h"
#include "memtrace/frames.h"
#include "memtrace/gpu.h"
#include "memtrace/json.h"
#include "memtrace/sites.h"
#include "memtrace/u64map.h"
#include "common/array.h"

/* ---- records ---- */

void mt_csv_put_str(FILE *out, const char *s, size_t n) {
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++) quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        if (n) fwrite(s, 1, n, out); /* an empty field may have no pointer */
        return;
    }
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') fputc('"', out);
        fputc(s[i], out);
    }
    fputc('"', out);
}

static void put_hex(FILE *out, mt_str s) {
    for (size_t i = 0; i < s.len; i++) fprintf(out, "%02x", (unsigned char)s.ptr[i]);
}

/* Floats as the JSON writer spells them, whole ones with ".0" as
 * memtrace-export(1) promises; none for NaN and infinities. */
static void put_double(FILE *out, double d, const char *none) {
    char buf[MT_JSON_NUM_MAX];
    fputs(mt_json_num(buf, d, MT_JSON_FLOAT_MARK) ? buf : none, out);
}

void mt_csv_put_value(FILE *out, const mt_value *v) {
    switch (v->type) {
    case MT_VAL_NIL: break;
    case MT_VAL_BOOL: fputs(v->v.b ? "true" : "false", out); break;
    case MT_VAL_INT: fprintf(out, "%" PRId64, v->v.i); break;
    case MT_VAL_UINT: fprintf(out, "%" PRIu64, v->v.u); break;
    case MT_VAL_FLOAT: put_double(out, v->v.f, ""); break;
    case MT_VAL_BIN: put_hex(out, v->v.s); break;
    default: mt_csv_put_str(out, v->v.s.ptr, v->v.s.len);
    }
}

/* One field of rec; json picks the JSON spelling, else CSV. */
static void put_field(FILE *out, const mt_field *f, const char *rec, int json) {
    const void *p = rec + f->offset;
    switch (f->type) {
    case MT_FIELD_U32: fprintf(out, "%" PRIu32, *(const uint32_t *)p); break;
    case MT_FIELD_U64: fprintf(out, "%" PRIu64, *(const uint64_t *)p); break;
    case MT_FIELD_F64: put_double(out, *(const double *)p, json ? "null" : ""); break;
    case MT_FIELD_STR:
        if (json) mt_json_put_str(out, *(const mt_str *)p);
        else mt_csv_put_str(out, ((const mt_str *)p)->ptr, ((const mt_str *)p)->len);
        break;
    case MT_FIELD_BIN:
        if (json) fputc('"', out);
        put_hex(out, *(const mt_str *)p);
        if (json) fputc('"', out);
        break;
    default:
        if (!json) mt_csv_put_value(out, p);
        else if (((const mt_value *)p)->type == MT_VAL_BIN) {
            fputc('"', out);
            put_hex(out, ((const mt_value *)p)->v.s);
            fputc('"', out);
        } else {
            mt_json_put_value(out, p);
        }
    }
}

typedef struct walk {
    FILE *out;
    int json;
} walk;

static void put_record(const walk *w, int kind, uint64_t seq, const void *rec) {
    size_t n;
    const mt_field *f = mt_kind_fields(kind, &n);
    if (w->json) fprintf(w->out, "{\"record\": \"%s\", \"seq\": %" PRIu64, mt_kind_name(kind), seq);
    else fprintf(w->out, "%" PRIu64, seq);
    for (size_t i = 0; i < n; i++) {
        if (w->json) fprintf(w->out, ", \"%s\": ", f[i].name);
        else fputc(',', w->out);
        put_field(w->out, &f[i], rec, w->json);
    }
    fputs(w->json ? "}\n" : "\r\n", w->out);
}

/* Every record of the kinds in mask, block by block in file order. */
static int each_record(mt_reader *r, uint32_t mask, int salvage, const walk *w, mt_diag *diag) {
    if (!salvage && mt_reader_damage_count(r)) return mt_damage_diag(mt_reader_damage(r, 0), MT_E_DAMAGED, diag);
    mt_record rec;
    for (size_t b = 0; b < mt_reader_block_count(r); b++) {
        const mt_block_info *bi = mt_reader_block(r, b);
        if (bi->kind < 1 || bi->kind > MT_KIND_MAX || !(mask & MT_EXPORT_KIND(bi->kind))) continue;
        if (bi->status != MT_BLOCK_OK) continue; /* listed as damage above */
        mt_cursor c;
        int rc = mt_reader_block_open(r, b, &c, diag);
        uint64_t seq = bi->first;
        while (!rc && (rc = mt_cursor_next(&c, &rec.u, diag)) == 1) {
            put_record(w, bi->kind, seq++, &rec.u);
            rc = 0;
        }
        if (rc == MT_E_NOMEM || (rc && !salvage)) return rc;
        if (ferror(w->out)) return mt_diag_set(diag, MT_E_IO, "could not write the export");
    }
    return 0;
}

int mt_export_json(mt_reader *r, uint32_t mask, int salvage, FILE *out, mt_diag *diag) {
    walk w = { out, 1 };
    return each_record(r, mask, salvage, &w, diag);
}

int mt_export_csv(mt_reader *r, mt_kind kind, int salvage, FILE *out, mt_diag *diag) {
    size_t n;
    const mt_field *f = mt_kind_fields(kind, &n);
    if (!f) return mt_diag_set(diag, MT_E_INVAL, "no record kind %d", kind);
    fputs("seq", out);
    for (size_t i = 0; i < n; i++) fprintf(out, ",%s", f[i].name);
    fputs("\r\n", out);
    walk w = { out, 0 };
    return each_record(r, MT_EXPORT_KIND(kind), salvage, &w, diag);
}

/* ---- OpenMetrics ---- */

/* A label value, escaped as the exposition format asks. */
/* A label value, escaped as OpenMetrics says (text.h). */
static void om_escaped(FILE *out, const char *s, size_t n) { mt_text_put(out, MT_TEXT_OPENMETRICS, s, n); }

typedef struct om {
    FILE *out;
    const mt_snapshot *s;
} om;

static void om_family(const om *m, const char *name, const char *unit, const char *help) {
    fprintf(m->out, "# TYPE %s gauge\n", name);
    if (unit) fprintf(m->out, "# UNIT %s %s\n", name, unit);
    fprintf(m->out, "# HELP %s %s\n", name, help);
}

/* name{host="..",pid="..",label="..",k1="v1",k2="v2"} value: the process's
 * labels first, then up to two of the sample's own. */
static void om_sample_at(const om *m, const char *name, const char *k1, mt_str v1, const char *k2, mt_str v2,
                         double value, const char *ts) {
    fprintf(m->out, "%s{", name);
    const char *sep = "";
    static const char *const keys[] = { "host", "pid", "label" };
    for (int i = 0; i < 3; i++) {
        const mt_value *v = mt_snapshot_meta_get(m->s, keys[i]);
        if (!v) continue;
        if (v->type == MT_VAL_STR) {
            fprintf(m->out, "%s%s=\"", sep, keys[i]);
            om_escaped(m->out, v->v.s.ptr, v->v.s.len);
            fputc('"', m->out);
        } else if (v->type == MT_VAL_UINT) {
            fprintf(m->out, "%s%s=\"%" PRIu64 "\"", sep, keys[i], v->v.u);
        } else {
            continue;
        }
        sep = ",";
    }
    const char *ks[2] = { k1, k2 };
    mt_str vs[2] = { v1, v2 };
    for (int i = 0; i < 2; i++) {
        if (!ks[i]) continue;
        fprintf(m->out, "%s%s=\"", sep, ks[i]);
        om_escaped(m->out, vs[i].ptr, vs[i].len);
        fputc('"', m->out);
        sep = ",";
    }
    /* The shortest spelling that reads back exactly (0.1, not
     * 0.10000000000000001); OpenMetrics spells the others NaN, +Inf, -Inf. */
    char num[MT_JSON_NUM_MAX];
    if (!mt_json_num(num, value, 0)) strcpy(num, isnan(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf");
    fprintf(m->out, "} %s%s%s\n", num, ts ? " " : "", ts ? ts : "");
}

static void om_sample(const om *m, const char *name, const char *k1, mt_str v1, const char *k2, mt_str v2,
                      double value) {
    om_sample_at(m, name, k1, v1, k2, v2, value, NULL);
}

static void om_plain(const om *m, const char *name, double value) {
    om_sample(m, name, NULL, mt_str_c(NULL), NULL, mt_str_c(NULL), value);
}

static int om_gpu(const om *m, mt_diag *diag) {
    mt_gpu_device *dev;
    size_t n;
    int rc = mt_snapshot_gpu_devices(m->s, &dev, &n, diag);
    static const struct {
        const char *name, *help;
        size_t off;
    } gauges[] = {
        { "memtrace_gpu_total_bytes", "Memory of the GPU device.", offsetof(mt_gpu_device, total_bytes) },
        { "memtrace_gpu_reserved_bytes", "GPU memory the caching allocator holds.",
          offsetof(mt_gpu_device, reserved_bytes) },
        { "memtrace_gpu_allocated_bytes", "GPU memory in live tensors.", offsetof(mt_gpu_device, allocated_bytes) },
    };
    for (size_t k = 0; !rc && n && k < sizeof gauges / sizeof gauges[0]; k++) {
        om_family(m, gauges[k].name, "bytes", gauges[k].help);
        for (size_t i = 0; i < n; i++) {
            char id[16];
            uint64_t value = *(const uint64_t *)((const char *)&dev[i] + gauges[k].off);
            if (!k && !value) continue; /* a capacity of 0 is not known, not empty */
            int len = snprintf(id, sizeof id, "%" PRIu32, dev[i].id);
            om_sample(m, gauges[k].name, "device", (mt_str){ id, (size_t)len }, "name", dev[i].name, (double)value);
        }
    }
    mt_gpu_devices_free(dev, n);
    if (rc || (!mt_snapshot_count(m->s, MT_KIND_GPU_SEGMENT) && !mt_snapshot_count(m->s, MT_KIND_GPU_EVENT)))
        return rc;
    /* The allocator's state, measured as memtrace-gpu measures it: a
     * gauge per device and pool ("large", "small@0x7f..." for another
     * stream's), and per device its trace's peak and OOMs by cause. */
    mt_gpu_report *r;
    if ((rc = mt_gpu_analyze(m->s, NULL, &r, diag))) return rc;
    static const struct {
        const char *name, *help;
        size_t off;
    } pools[] = {
        { "memtrace_gpu_pool_reserved_bytes", "Segments of the pool (R).", offsetof(mt_gpu_pool, reserved) },
        { "memtrace_gpu_pool_allocated_bytes", "Blocks in use (A).", offsetof(mt_gpu_pool, allocated) },
        { "memtrace_gpu_pool_requested_bytes", "What the blocks in use were asked for (Q).",
          offsetof(mt_gpu_pool, requested) },
        { "memtrace_gpu_pool_pending_free_bytes", "Blocks freed, waiting on a stream.",
          offsetof(mt_gpu_pool, pending_free) },
        { "memtrace_gpu_pool_inactive_bytes", "Cached and free (R - A - P).", offsetof(mt_gpu_pool, inactive) },
        { "memtrace_gpu_pool_releasable_bytes", "What empty_cache would return.", offsetof(mt_gpu_pool, releasable) },
        { "memtrace_gpu_pool_stranded_bytes", "Free, in segments still in use.", offsetof(mt_gpu_pool, stranded) },
        { "memtrace_gpu_pool_largest_free_bytes", "The largest free block.", offsetof(mt_gpu_pool, largest_free) },
    };
    const mt_gpu_pool *p;
    size_t np = mt_gpu_report_pools(r, &p);
    for (size_t k = 0; k < sizeof pools / sizeof pools[0]; k++) {
        om_family(m, pools[k].name, "bytes", pools[k].help);
        for (size_t i = 0; i < np; i++) {
            if (p[i].all_streams) continue;
            char id[16], pool[80];
            int len = snprintf(id, sizeof id, "%" PRIu32, p[i].device);
            int plen = p[i].stream ? snprintf(pool, sizeof pool, "%s@%#" PRIx64, p[i].pool, p[i].stream)
                                   : snprintf(pool, sizeof pool, "%s", p[i].pool);
            om_sample(m, pools[k].name, "device", (mt_str){ id, (size_t)len }, "pool",
                      (mt_str){ pool, (size_t)plen < sizeof pool ? (size_t)plen : sizeof pool - 1 },
                      (double)*(const uint64_t *)((const char *)&p[i] + pools[k].off));
        }
    }
    const mt_gpu_device_report *d;
    size_t nd = mt_gpu_report_devices(r, &d);
    const mt_gpu_oom *o;
    size_t no = mt_gpu_report_ooms(r, &o);
    om_family(m, "memtrace_gpu_peak_active_bytes", "bytes",
              "The most bytes in use over the device trace (what is allocated where there is none).");
    for (size_t i = 0; i < nd; i++) {
        char id[16];
        int len = snprintf(id, sizeof id, "%" PRIu32, d[i].device);
        om_sample(m, "memtrace_gpu_peak_active_bytes", "device", (mt_str){ id, (size_t)len }, NULL, mt_str_c(NULL),
                  (double)(d[i].has_trace ? d[i].trace.peak_active : d[i].all.allocated));
    }
    om_family(m, "memtrace_gpu_ooms", NULL,
              "Out-of-memory events of the device trace, by cause (capacity, fragmentation, fits).");
    for (size_t i = 0; i < nd; i++) {
        char id[16];
        int len = snprintf(id, sizeof id, "%" PRIu32, d[i].device);
        for (int cause = 0; cause < 3; cause++) {
            size_t count = 0;
            for (size_t k = 0; k < no; k++) count += o[k].device == d[i].device && o[k].cause == cause;
            om_sample(m, "memtrace_gpu_ooms", "device", (mt_str){ id, (size_t)len }, "cause",
                      mt_str_c(mt_gpu_oom_cause_name(cause)), (double)count);
        }
    }
    mt_gpu_report_free(r);
    return 0;
}

static int om_frames(const om *m, mt_diag *diag) {
    mt_df_table *t;
    int rc = mt_df_table_load(m->s, &t, diag);
    if (rc) return rc;
    for (int k = 0; k < 2 && t->n_frames; k++) {
        const char *name = k ? "memtrace_frame_rows" : "memtrace_frame_bytes";
        if (k) om_family(m, name, NULL, "Rows of the DataFrame.");
        else om_family(m, name, "bytes", "Deep bytes of the DataFrame (memory_usage(deep=True), index included).");
        for (size_t i = 0; i < t->n_frames; i++) {
            const mt_df_frame *f = &t->frames[i].rec;
            char id[16];
            int len = snprintf(id, sizeof id, "%" PRIu32, f->id);
            /* Two frames may share a name; the id keeps their series apart. */
            om_sample(m, name, "frame", f->name, "frame_id", (mt_str){ id, (size_t)len },
                      (double)(k ? f->rows : f->deep_bytes));
        }
    }
    mt_df_table_free(t);
    return 0;
}

/* One series of a run as a gauge: its family's name, and the GPU device
 * it is of ("gpu0.used": memtrace_gpu_used_bytes{device="0"}). */
typedef struct om_series_ent {
    const mt_series *s;
    char family[160];
    char device[24];
    char process[24]; /* gpuN.pid.PID: PID, the label process */
    int bytes;
    size_t order;
} om_series_ent;

/* Decimal labels in numeric order: shorter first, then by their digits. */
static int num_cmp(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    return la != lb ? (la < lb ? -1 : 1) : strcmp(a, b);
}

static int ent_cmp(const void *a, const void *b) {
    const om_series_ent *x = a, *y = b;
    int c = strcmp(x->family, y->family);
    if (c) return c;
    c = strcmp(x->device, y->device);
    if (c) return c;
    c = num_cmp(x->process, y->process);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void om_series_name(om_series_ent *e) {
    e->bytes = !mt_series_is_count(e->s->name);
    mt_series_metric(e->s->name, e->family, sizeof e->family, e->device, sizeof e->device);
    mt_series_gpu_pid(e->s->name, e->process, sizeof e->process);
}

/* The run's series: the latest value of each, or with history every
 * point (a bucket as its mean at its middle) timestamped in seconds since
 * the epoch, which `promtool tsdb create-blocks-from openmetrics` reads. */
static int om_series(const om *m, int history, mt_diag *diag) {
    if (!mt_snapshot_count(m->s, MT_KIND_SAMPLE)) return 0;
    mt_run *run;
    int rc = mt_run_load(m->s, &run, diag);
    if (rc) return rc;
    if (history && !run->start_time) {
        mt_run_free(run);
        return mt_diag_set(diag, MT_E_NOTFOUND,
                           "no start_time meta: the samples' times cannot be put on the clock that --history needs");
    }
    om_series_ent *e = calloc(run->n_series + 1, sizeof *e);
    if (!e) {
        mt_run_free(run);
        return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
    }
    int gpu_records = mt_snapshot_count(m->s, MT_KIND_GPU_DEVICE) > 0;
    size_t n = 0;
    for (size_t i = 0; i < run->n_series; i++) {
        if (!run->series[i].n) continue;
        e[n] = (om_series_ent){ .s = &run->series[i], .order = i };
        om_series_name(&e[n]);
        /* The device records' family of the same name wins (om_gpu). */
        if (gpu_records && !strcmp(e[n].family, "memtrace_gpu_total_bytes")) continue;
        n++;
    }
    qsort(e, n, sizeof *e, ent_cmp);
    for (size_t i = 0; i < n; i++) {
        /* Two series that spell one family and device ("a.b", "a_b"):
         * the first one stands, so that no family holds a series twice. */
        if (i && !strcmp(e[i].family, e[i - 1].family) && !strcmp(e[i].device, e[i - 1].device) &&
            !strcmp(e[i].process, e[i - 1].process))
            continue;
        if (!i || strcmp(e[i].family, e[i - 1].family)) {
            fprintf(m->out, "# TYPE %s gauge\n", e[i].family);
            if (e[i].bytes) fprintf(m->out, "# UNIT %s bytes\n", e[i].family);
            fprintf(m->out, "# HELP %s %s of the run's series \"", e[i].family, history ? "Every point" : "The last value");
            const char *sn = e[i].s->name;
            if (e[i].device[0]) sn += 3 + strlen(e[i].device) + 1;
            if (e[i].device[0]) fputs("gpuN.", m->out);
            if (e[i].process[0]) sn = "pid.PID";
            om_escaped(m->out, sn, strlen(sn));
            fputs(history ? "\" (a thinned bucket as its mean).\n" : "\".\n", m->out);
        }
        const mt_series *s = e[i].s;
        const char *dk = e[i].device[0] ? "device" : NULL;
        mt_str dv = mt_str_c(e[i].device);
        const char *pk = e[i].process[0] ? "process" : NULL;
        mt_str pv = mt_str_c(e[i].process);
        if (!history) {
            om_sample_at(m, e[i].family, dk, dv, pk, pv, s->p[s->n - 1].value, NULL);
            continue;
        }
        for (size_t j = 0; j < s->n; j++) {
            uint64_t t = mt_sat_add_u64(mt_sat_add_u64(run->start_time, s->p[j].time_ns), s->p[j].span_ns / 2);
            char ts[48];
            snprintf(ts, sizeof ts, "%" PRIu64 ".%03" PRIu64, t / 1000000000u, t % 1000000000u / 1000000u);
            om_sample_at(m, e[i].family, dk, dv, pk, pv, s->p[j].value, ts);
        }
    }
    free(e);
    mt_run_free(run);
    return 0;
}

int mt_export_openmetrics(const mt_snapshot *s, uint32_t top_types, FILE *out, mt_diag *diag) {
    return mt_export_openmetrics_run(s, top_types, 0, out, diag);
}

int mt_export_openmetrics_run(const mt_snapshot *s, uint32_t top_types, int history, FILE *out, mt_diag *diag) {
    om m = { out, s };
    /* Refused before a line is written, so that a failure leaves no half
     * exposition behind. */
    const mt_value *st = mt_snapshot_meta_get(s, "start_time");
    if (history && mt_snapshot_count(s, MT_KIND_SAMPLE) && !(st && st->type == MT_VAL_UINT && st->v.u))
        return mt_diag_set(diag, MT_E_NOTFOUND,
                           "no start_time meta: the samples' times cannot be put on the clock that --history needs");
    const mt_graph *g = mt_snapshot_graph(s);
    double v;
    if (mt_snapshot_meta_number(s, "rss", &v)) {
        om_family(&m, "memtrace_process_rss_bytes", "bytes", "Resident set size of the process at the snapshot.");
        om_plain(&m, "memtrace_process_rss_bytes", v);
    }
    if (mt_snapshot_meta_number(s, "tracemalloc_current", &v)) {
        om_family(&m, "memtrace_tracemalloc_current_bytes", "bytes", "Memory tracemalloc traced at the snapshot.");
        om_plain(&m, "memtrace_tracemalloc_current_bytes", v);
    }
    if (mt_snapshot_meta_number(s, "tracemalloc_peak", &v)) {
        om_family(&m, "memtrace_tracemalloc_peak_bytes", "bytes", "Peak of the memory tracemalloc traced.");
        om_plain(&m, "memtrace_tracemalloc_peak_bytes", v);
    }
    if (g->n_objects) {
        mt_type_stat *ts = malloc(g->n_types * sizeof *ts);
        if (!ts) return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
        mt_snapshot_type_stats(s, 1, ts);
        uint64_t objects = 0, bytes = 0, other_n = 0, other_b = 0;
        uint32_t shown = 0;
        for (uint32_t i = 0; i < g->n_types; i++) {
            objects += ts[i].count; /* at most the object count, a uint32_t */
            bytes = mt_sat_add_u64(bytes, ts[i].bytes);
            if (ts[i].count && (!top_types || shown < top_types)) shown++;
            else {
                other_n += ts[i].count;
                other_b = mt_sat_add_u64(other_b, ts[i].bytes);
            }
        }
        om_family(&m, "memtrace_heap_objects", NULL, "Objects in the heap snapshot.");
        om_plain(&m, "memtrace_heap_objects", (double)objects);
        om_family(&m, "memtrace_heap_bytes", "bytes", "Bytes of the objects in the heap snapshot (sys.getsizeof).");
        om_plain(&m, "memtrace_heap_bytes", (double)bytes);
        for (int k = 0; k < 2; k++) {
            const char *name = k ? "memtrace_type_objects" : "memtrace_type_bytes";
            if (k) om_family(&m, name, NULL, "Objects of the type.");
            else om_family(&m, name, "bytes", "Bytes of the type's objects.");
            for (uint32_t i = 0; i < shown; i++)
                om_sample(&m, name, "type", g->type_names[ts[i].type], NULL, mt_str_c(NULL),
                          (double)(k ? ts[i].count : ts[i].bytes));
            if (other_n)
                om_sample(&m, name, "type", mt_str_c("<other>"), NULL, mt_str_c(NULL),
                          (double)(k ? other_n : other_b));
        }
        free(ts);
    }
    int rc = om_frames(&m, diag);
    if (!rc) rc = om_gpu(&m, diag);
    if (!rc) rc = om_series(&m, history, diag);
    if (rc) return rc;
    fputs("# EOF\n", out);
    if (ferror(out)) return mt_diag_set(diag, MT_E_IO, "could not write the metrics");
    return 0;
}

/* ---- folded stacks ---- */

typedef struct fold {
    mt_u64map at;          /* stack id -> slot */
    uint32_t *stack;
    uint64_t *weight;
    size_t n, cap_stack, cap_weight;
    int by_count;
} fold;

static int on_live(void *arg, uint32_t stack, uint64_t count, uint64_t bytes) {
    fold *f = arg;
    uint32_t slot;
    if (!mt_u64map_get(&f->at, stack, &slot)) {
        if (mt__grow((void **)&f->stack, &f->cap_stack, f->n, 4) ||
            mt__grow((void **)&f->weight, &f->cap_weight, f->n, 8) || mt_u64map_put(&f->at, stack, (uint32_t)f->n))
            return MT_E_NOMEM;
        slot = (uint32_t)f->n++;
        f->stack[slot] = stack;
        f->weight[slot] = 0;
    }
    f->weight[slot] += f->by_count ? count : bytes;
    return 0;
}

/* Appends s to the line: as it is when raw (the separators), else as a
 * folded frame (text.h: ';', control characters and invalid UTF-8
 * replaced), so that one frame stays one frame and one line one line. */
static int line_put(char **buf, size_t *len, size_t *cap, const char *s, size_t n, int raw) {
    size_t at;
    if (raw) {
        if (mt__pool_add(buf, len, cap, s, n, &at)) return -1;
        (*len)--; /* drop the pool's NUL: the line goes on */
        return 0;
    }
    size_t need = mt_text_escape(NULL, 0, MT_TEXT_FOLDED, s, n);
    char *tmp = malloc(need + 1);
    if (!tmp) return -1;
    mt_text_escape(tmp, need + 1, MT_TEXT_FOLDED, s, n);
    int rc = line_put(buf, len, cap, tmp, need, 1);
    free(tmp);
    return rc;
}

static int line_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    return line_put(buf, len, cap, s, n, 0);
}

/* The line of one stack: frames outermost first. */
static int fold_line(const mt_sites *t, uint32_t stack, char **buf, size_t *len, size_t *cap) {
    uint32_t chain[256];
    size_t depth = 0;
    for (uint32_t st = stack; st && depth < 256; st = mt_sites_parent(t, st)) {
        size_t k = 0;
        while (k < depth && chain[k] != st) k++;
        if (k < depth) break; /* a loop: cut where it repeats */
        chain[depth++] = st;
    }
    if (!depth) return line_add(buf, len, cap, "<unknown>", 9);
    for (size_t k = depth; k-- > 0;) {
        mt_str file, fn;
        uint32_t line;
        char lno[16];
        if (k + 1 < depth && line_put(buf, len, cap, ";", 1, 1)) return -1;
        if (!mt_sites_frame(t, chain[k], &file, &fn, &line)) {
            if (line_add(buf, len, cap, "<unknown>", 9)) return -1;
            continue;
        }
        /* "function (file:line)", or "file:line" when the function is
         * unknown (tracemalloc records none). */
        int n = snprintf(lno, sizeof lno, ":%" PRIu32 "%s", line, fn.len ? ")" : "");
        if ((fn.len && (line_add(buf, len, cap, fn.ptr, fn.len) || line_add(buf, len, cap, " (", 2))) ||
            line_add(buf, len, cap, file.ptr, file.len) || line_add(buf, len, cap, lno, (size_t)n))
            return -1;
    }
    return 0;
}

typedef struct fold_line_ref {
    size_t at, len;
    uint64_t weight;
    const char *pool;
} fold_line_ref;

static int by_text(const void *a, const void *b) {
    const fold_line_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->pool + x->at, y->pool + y->at, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

int mt_export_folded(const mt_snapshot *s, int by_count, FILE *out, mt_diag *diag) {
    const mt_graph *g = mt_snapshot_graph(s);
    if (!g->stack && !mt_snapshot_count(s, MT_KIND_ALLOC) && !mt_snapshot_count(s, MT_KIND_GPU_BLOCK))
        return mt_diag_set(diag, MT_E_NOTFOUND,
                           "holds no allocation stacks: dump it while tracemalloc traces, or import a tracemalloc "
                           "snapshot with memtrace.import_tracemalloc");
    fold f;
    memset(&f, 0, sizeof f);
    f.by_count = by_count;
    mt_sites *t = NULL;
    char *pool = NULL;
    size_t len = 0, cap = 0;
    fold_line_ref *lines = NULL;
    int rc = mt_sites_load(s, &t, diag);
    if (!rc) rc = mt_sites_live(s, on_live, &f, diag);
    if (!rc && !(lines = malloc((f.n ? f.n : 1) * sizeof *lines))) rc = MT_E_NOMEM;
    /* Two stack ids can print alike (frames repeated under other ids):
     * sorting by text lets equal lines merge. */
    size_t n = 0;
    for (size_t i = 0; !rc && i < f.n; i++) {
        size_t at = len;
        if (fold_line(t, f.stack[i], &pool, &len, &cap)) rc = MT_E_NOMEM;
        else lines[n++] = (fold_line_ref){ at, len - at, f.weight[i], NULL };
    }
    if (!rc) {
        for (size_t i = 0; i < n; i++) lines[i].pool = pool;
        qsort(lines, n, sizeof *lines, by_text);
        for (size_t i = 0; i < n;) {
            uint64_t w = 0;
            size_t j = i;
            while (j < n && !by_text(&lines[i], &lines[j])) w += lines[j++].weight;
            if (w) {
                fwrite(pool + lines[i].at, 1, lines[i].len, out);
                fprintf(out, " %" PRIu64 "\n", w);
            }
            i = j;
        }
        if (ferror(out)) rc = mt_diag_set(diag, MT_E_IO, "could not write the stacks");
    } else if (rc == MT_E_NOMEM) {
        mt_diag_set(diag, rc, "out of memory folding stacks");
    }
    free(lines);
    free(pool);
    free(f.stack);
    free(f.weight);
    mt_u64map_free(&f.at);
    mt_sites_free(t);
    return rc;
}
