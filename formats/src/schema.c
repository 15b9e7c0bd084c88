/* Record schemas: each kind's fields in their on-disk order (SPEC.md
 * section 4), and the generic decoder that fills a record struct. */
#include <stddef.h>
#include <stdio.h>
#include "internal.h"

#define F(st, field, type, req) { #field, MT__F_##type, req, (uint16_t)offsetof(st, field) }

static const mt__field meta_f[] = { F(mt_meta, key, STR, 1), F(mt_meta, value, VAL, 1) };
static const mt__field string_f[] = { F(mt_string, id, U32, 1), F(mt_string, text, STR, 1) };
static const mt__field type_f[] = { F(mt_type, id, U32, 1), F(mt_type, name, STR, 1) };
static const mt__field object_f[] = {
    F(mt_object, id, U64, 1), F(mt_object, type, U32, 1), F(mt_object, size, U64, 1),
    F(mt_object, flags, U32, 0), F(mt_object, stack, U32, 0), F(mt_object, gen, U32, 0) };
static const mt__field ref_f[] = {
    F(mt_ref, src, U32, 1), F(mt_ref, dst, U32, 1), F(mt_ref, flags, U32, 0), F(mt_ref, label, STR, 0) };
static const mt__field root_f[] = {
    F(mt_root, obj, U32, 1), F(mt_root, kind, STR, 1), F(mt_root, name, STR, 0) };
static const mt__field frame_f[] = {
    F(mt_frame, id, U32, 1), F(mt_frame, function, STR, 1), F(mt_frame, file, STR, 1), F(mt_frame, line, U32, 0) };
static const mt__field stack_f[] = {
    F(mt_stack, id, U32, 1), F(mt_stack, frame, U32, 1), F(mt_stack, parent, U32, 0) };
static const mt__field alloc_f[] = {
    F(mt_alloc, time_ns, U64, 1), F(mt_alloc, op, U32, 1), F(mt_alloc, address, U64, 1),
    F(mt_alloc, size, U64, 1), F(mt_alloc, stack, U32, 0), F(mt_alloc, thread, U32, 0),
    F(mt_alloc, domain, U32, 0), F(mt_alloc, count, U64, 0), F(mt_alloc, weight, F64, 0),
    F(mt_alloc, born_ns, U64, 0) };
static const mt__field trace_live_f[] = {
    F(mt_trace_live, time_ns, U64, 1), F(mt_trace_live, stack, U32, 1), F(mt_trace_live, bytes, F64, 1),
    F(mt_trace_live, count, F64, 1), F(mt_trace_live, upto, U64, 1) };
static const mt__field sample_f[] = {
    F(mt_sample, time_ns, U64, 1), F(mt_sample, series, STR, 1), F(mt_sample, value, F64, 1),
    F(mt_sample, step, STR, 0), F(mt_sample, span_ns, U64, 0), F(mt_sample, min, F64, 0),
    F(mt_sample, max, F64, 0), F(mt_sample, count, U64, 0) };
static const mt__field event_f[] = {
    F(mt_event, time_ns, U64, 1), F(mt_event, kind, STR, 1), F(mt_event, name, STR, 0),
    F(mt_event, value, F64, 0), F(mt_event, detail, STR, 0) };
static const mt__field df_frame_f[] = {
    F(mt_df_frame, id, U32, 1), F(mt_df_frame, name, STR, 1), F(mt_df_frame, rows, U64, 1),
    F(mt_df_frame, columns, U32, 1), F(mt_df_frame, index_kind, STR, 0),
    F(mt_df_frame, index_bytes, U64, 0), F(mt_df_frame, shallow_bytes, U64, 0),
    F(mt_df_frame, deep_bytes, U64, 0), F(mt_df_frame, step, STR, 0),
    F(mt_df_frame, index_shallow_bytes, U64, 0), F(mt_df_frame, index_levels_bytes, U64, 0),
    F(mt_df_frame, index_codes_bytes, U64, 0), F(mt_df_frame, index_nlevels, U32, 0),
    F(mt_df_frame, columns_kind, STR, 0), F(mt_df_frame, columns_levels_bytes, U64, 0),
    F(mt_df_frame, columns_codes_bytes, U64, 0), F(mt_df_frame, columns_nlevels, U32, 0),
    F(mt_df_frame, time_ns, U64, 0), F(mt_df_frame, flags, U32, 0),
    F(mt_df_frame, real_bytes, U64, 0), F(mt_df_frame, shared_bytes, U64, 0) };
static const mt__field df_column_f[] = {
    F(mt_df_column, frame, U32, 1), F(mt_df_column, position, U32, 1), F(mt_df_column, name, STR, 1),
    F(mt_df_column, dtype, STR, 1), F(mt_df_column, shallow_bytes, U64, 1),
    F(mt_df_column, deep_bytes, U64, 1), F(mt_df_column, distinct_bytes, U64, 0),
    F(mt_df_column, null_count, U64, 0), F(mt_df_column, distinct_count, U64, 0),
    F(mt_df_column, min, VAL, 0), F(mt_df_column, max, VAL, 0), F(mt_df_column, flags, U32, 0),
    F(mt_df_column, f32_max_rel_error, F64, 0), F(mt_df_column, text_count, U64, 0),
    F(mt_df_column, len_min, U64, 0), F(mt_df_column, len_max, U64, 0), F(mt_df_column, len_total, U64, 0),
    F(mt_df_column, categories, U64, 0), F(mt_df_column, categories_bytes, U64, 0),
    F(mt_df_column, code_bytes, U32, 0), F(mt_df_column, fill_value, VAL, 0), F(mt_df_column, density, F64, 0),
    F(mt_df_column, dense_bytes, U64, 0), F(mt_df_column, value_type, STR, 0),
    F(mt_df_column, real_bytes, U64, 0), F(mt_df_column, datetime_format, STR, 0) };
static const mt__field df_value_f[] = {
    F(mt_df_value, frame, U32, 1), F(mt_df_value, position, U32, 1), F(mt_df_value, value, VAL, 1),
    F(mt_df_value, count, U64, 1) };
static const mt__field df_sketch_f[] = {
    F(mt_df_sketch, frame, U32, 1), F(mt_df_sketch, position, U32, 1), F(mt_df_sketch, kind, STR, 1),
    F(mt_df_sketch, data, BIN, 1) };
static const mt__field gpu_device_f[] = {
    F(mt_gpu_device, id, U32, 1), F(mt_gpu_device, name, STR, 1), F(mt_gpu_device, total_bytes, U64, 0),
    F(mt_gpu_device, reserved_bytes, U64, 0), F(mt_gpu_device, allocated_bytes, U64, 0) };
static const mt__field gpu_segment_f[] = {
    F(mt_gpu_segment, device, U32, 1), F(mt_gpu_segment, address, U64, 1), F(mt_gpu_segment, size, U64, 1),
    F(mt_gpu_segment, stream, U64, 0), F(mt_gpu_segment, pool, STR, 0),
    F(mt_gpu_segment, allocated_bytes, U64, 0), F(mt_gpu_segment, requested_bytes, U64, 0),
    F(mt_gpu_segment, active_bytes, U64, 0), F(mt_gpu_segment, flags, U32, 0), F(mt_gpu_segment, stack, U32, 0) };
static const mt__field gpu_block_f[] = {
    F(mt_gpu_block, device, U32, 1), F(mt_gpu_block, address, U64, 1), F(mt_gpu_block, size, U64, 1),
    F(mt_gpu_block, requested, U64, 0), F(mt_gpu_block, state, STR, 0), F(mt_gpu_block, stack, U32, 0) };
static const mt__field gpu_event_f[] = {
    F(mt_gpu_event, device, U32, 1), F(mt_gpu_event, time_ns, U64, 1), F(mt_gpu_event, action, STR, 1),
    F(mt_gpu_event, address, U64, 1), F(mt_gpu_event, size, U64, 1), F(mt_gpu_event, stream, U64, 0),
    F(mt_gpu_event, stack, U32, 0), F(mt_gpu_event, device_free, U64, 0) };
static const mt__field nb_cell_f[] = {
    F(mt_nb_cell, id, U32, 1), F(mt_nb_cell, exec_count, U32, 0), F(mt_nb_cell, source, STR, 1),
    F(mt_nb_cell, start_ns, U64, 0), F(mt_nb_cell, end_ns, U64, 0), F(mt_nb_cell, rss_before, U64, 0),
    F(mt_nb_cell, rss_after, U64, 0), F(mt_nb_cell, session, U32, 0), F(mt_nb_cell, status, STR, 0),
    F(mt_nb_cell, error, STR, 0), F(mt_nb_cell, source_hash, STR, 0), F(mt_nb_cell, rss_peak, U64, 0),
    F(mt_nb_cell, flags, U32, 0), F(mt_nb_cell, traced_before, U64, 0), F(mt_nb_cell, traced_after, U64, 0),
    F(mt_nb_cell, traced_peak, U64, 0), F(mt_nb_cell, overhead_ns, U64, 0) };
static const mt__field index_f[] = {
    F(mt__index_entry, offset, U64, 1), F(mt__index_entry, kind, U32, 1), F(mt__index_entry, count, U32, 1),
    F(mt__index_entry, first, U64, 1), F(mt__index_entry, stored, U32, 1), F(mt__index_entry, raw, U32, 1) };
#undef F

#define K(k, name, st, f) { MT_KIND_##k, sizeof(st), f, sizeof f / sizeof f[0] }
#define KIND(k, name, st, f) [MT_KIND_##k] = K(k, name, st, f),
static const mt__kind_desc kinds[MT_KIND_MAX + 1] = { MT__KINDS(KIND) };
#undef KIND
static const mt__kind_desc index_desc = K(INDEX, "index", mt__index_entry, index_f);
#undef K

const mt__kind_desc *mt__kind_schema(int kind) {
    if (kind >= 1 && kind <= MT_KIND_MAX) return &kinds[kind];
    if (kind == MT_KIND_INDEX) return &index_desc;
    return NULL;
}

const mt_field *mt_kind_fields(mt_kind kind, size_t *n) {
    const mt__kind_desc *d = kind >= 1 && kind <= MT_KIND_MAX ? &kinds[kind] : NULL;
    *n = d ? d->nfields : 0;
    return d ? d->fields : NULL;
}

mt_str mt_str_c(const char *s) {
    mt_str r = { s ? s : "", s ? strlen(s) : 0 };
    return r;
}

static const char *tok_name(int type) {
    static const char *names[] = { "nil", "boolean", "integer", "negative integer", "float",
                                   "string", "binary", "array", "map", "extension" };
    return names[type];
}

/* What a field of type needs, for messages. */
static const char *want_name(int type) {
    static const char *want[] = { "an unsigned integer", "an unsigned integer", "a number",
                                  "a string", "binary data", "a scalar" };
    return want[type];
}

static int decode_field(const mt__field *f, const mt__mptok *t, void *rec, char *msg, size_t n) {
    char *dst = (char *)rec + f->offset;
    switch (f->type) {
    case MT__F_U32:
    case MT__F_U64:
        if (t->type == MT__MP_NIL && !f->required) return 0;
        if (t->type != MT__MP_UINT) break;
        if (f->type == MT__F_U32) {
            if (t->u > UINT32_MAX) {
                snprintf(msg, n, "field %s: %llu does not fit in 32 bits", f->name,
                         (unsigned long long)t->u);
                return MT_E_RECORD;
            }
            *(uint32_t *)dst = (uint32_t)t->u;
        } else
            *(uint64_t *)dst = t->u;
        return 0;
    case MT__F_F64:
        if (t->type == MT__MP_NIL && !f->required) return 0;
        if (t->type == MT__MP_FLOAT) *(double *)dst = t->f;
        else if (t->type == MT__MP_UINT) *(double *)dst = (double)t->u;
        else if (t->type == MT__MP_INT) *(double *)dst = (double)t->i;
        else break;
        return 0;
    case MT__F_STR:
    case MT__F_BIN:
        if (t->type == MT__MP_NIL && !f->required) return 0;
        if (t->type != (f->type == MT__F_STR ? MT__MP_STR : MT__MP_BIN)) break;
        ((mt_str *)dst)->ptr = (const char *)t->ptr;
        ((mt_str *)dst)->len = t->len;
        return 0;
    case MT__F_VAL: {
        mt_value *v = (mt_value *)dst;
        switch (t->type) {
        case MT__MP_NIL: v->type = MT_VAL_NIL; return 0;
        case MT__MP_BOOL: v->type = MT_VAL_BOOL; v->v.b = (int)t->u; return 0;
        case MT__MP_UINT: v->type = MT_VAL_UINT; v->v.u = t->u; return 0;
        case MT__MP_INT: v->type = MT_VAL_INT; v->v.i = t->i; return 0;
        case MT__MP_FLOAT: v->type = MT_VAL_FLOAT; v->v.f = t->f; return 0;
        case MT__MP_STR: case MT__MP_BIN:
            v->type = t->type == MT__MP_STR ? MT_VAL_STR : MT_VAL_BIN;
            v->v.s.ptr = (const char *)t->ptr;
            v->v.s.len = t->len;
            return 0;
        }
        break;
    }
    }
    snprintf(msg, n, "field %s: expected %s, found %s%s", f->name, want_name(f->type), tok_name(t->type),
             f->required && t->type == MT__MP_NIL ? " (the field is required)" : "");
    return MT_E_RECORD;
}

int mt__record_decode(const mt__kind_desc *desc, const uint8_t **p, const uint8_t *end,
                      void *rec, char *msg, size_t n) {
    mt__mptok t;
    if (*p < end && (**p & 0xf0) == 0x90) { /* fixarray: every record of a heap */
        t.type = MT__MP_ARRAY;
        t.u = **p & 0x0f;
        (*p)++;
    } else if (mt__mp_next(p, end, &t)) {
        if (*p >= end) snprintf(msg, n, "record is cut short or not msgpack");
        else if (**p == 0xc1) snprintf(msg, n, "expected a record (an array), found byte 0xc1, which msgpack never uses");
        else snprintf(msg, n, "record is cut short: byte 0x%02x needs more bytes than the payload has", **p);
        return MT_E_MSGPACK;
    }
    if (t.type != MT__MP_ARRAY) {
        snprintf(msg, n, "expected a record (an array), found %s", tok_name(t.type));
        return MT_E_RECORD;
    }
    uint64_t have = t.u;
    unsigned need = 0;
    while (need < desc->nfields && desc->fields[need].required) need++;
    if (have < need) {
        snprintf(msg, n, "%s record has %llu fields, expected at least %u (missing %s)", mt_kind_name(desc->kind),
                 (unsigned long long)have, need, desc->fields[have].name);
        return MT_E_RECORD;
    }
    memset(rec, 0, desc->size);
    for (uint64_t i = 0; i < have; i++) {
        if (i >= desc->nfields) {
            /* A newer writer's trailing field: skipped, as SPEC.md 4.1 says. */
            if (mt__mp_skip(p, end)) {
                snprintf(msg, n, "record is cut short or not msgpack");
                return MT_E_MSGPACK;
            }
            continue;
        }
        const mt__field *f = &desc->fields[i];
        uint64_t v;
        if (f->type == MT__F_U64 && mt__mp_uint_fast(p, end, &v)) {
            *(uint64_t *)((char *)rec + f->offset) = v;
            continue;
        }
        if (f->type == MT__F_U32 && mt__mp_uint_fast(p, end, &v)) {
            if (v <= UINT32_MAX) {
                *(uint32_t *)((char *)rec + f->offset) = (uint32_t)v;
                continue;
            }
            snprintf(msg, n, "field %s: %llu does not fit in 32 bits", f->name, (unsigned long long)v);
            return MT_E_RECORD;
        }
        if (mt__mp_next(p, end, &t)) {
            if (*p < end && **p == 0xc1)
                snprintf(msg, n, "field %s: expected %s, found byte 0xc1, which msgpack never uses",
                         desc->fields[i].name, want_name(f->type));
            else snprintf(msg, n, "field %s is cut short or not msgpack", desc->fields[i].name);
            return MT_E_MSGPACK;
        }
        int rc = decode_field(&desc->fields[i], &t, rec, msg, n);
        if (rc) return rc;
    }
    return 0;
}

unsigned mt__kind_min_bytes(int kind) {
    const mt__kind_desc *d = mt__kind_schema(kind);
    unsigned n = 1; /* the array header */
    for (unsigned i = 0; d && i < d->nfields && d->fields[i].required; i++) n++;
    return n;
}

uint64_t mt_block_max_records(mt_kind kind, uint64_t stored) {
    uint64_t raw = stored > UINT64_MAX / MT_MAX_RAW_RATIO ? UINT64_MAX : stored * MT_MAX_RAW_RATIO;
    return raw / mt__kind_min_bytes(kind);
}
