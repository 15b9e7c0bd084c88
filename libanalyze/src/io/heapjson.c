/* The JSON heap document (heapjson.h), both ways. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "common/array.h"
#include "common/names.h"
#include "io/json_lexer.h"
#include "memtrace/heapjson.h"
#include "memtrace/u64map.h"

/* ---- import ---- */

_Static_assert(MT_HEAPJSON_MAX_DEPTH == MT_JSON_MAX_DEPTH, "heapjson.h documents the lexer's bound");

typedef struct pending_ref {
    uint32_t src;        /* object index */
    uint64_t dst;        /* object id, resolved at the end */
    uint32_t weak;
    size_t label;        /* offset into strs, or SIZE_MAX */
    size_t label_len;    /* labels may hold NUL bytes: they carry their length */
    uint32_t line, col;
} pending_ref;

typedef struct pending_root {
    uint64_t id;
    size_t kind, name;   /* offsets into strs, SIZE_MAX for none */
    size_t kind_len, name_len;
    uint32_t line, col;
} pending_root;

typedef struct importer {
    mt__json j;
    mt_diag *diag;
    /* objects */
    mt_object *obj;
    uint32_t *obj_line;
    size_t n_obj, cap_obj, cap_line; /* obj_line grows on its own, so that failing to grow it loses nothing */
    mt_u64map ids;       /* id -> index */
    mt__names types;     /* type id - 1 -> name, and back */
    pending_ref *refs;
    size_t n_refs, cap_refs;
    pending_root *roots;
    size_t n_roots, cap_roots;
    mt_meta *meta;       /* strings as offsets into strs until written */
    size_t n_meta, cap_meta;
    char *strs;
    size_t strs_len, strs_cap;
} importer;

#define NOMEM(im) mt_diag_set((im)->diag, MT_E_NOMEM, "out of memory reading JSON")

static int keep_str(importer *im, const char *s, size_t len, size_t *at) {
    return mt__pool_add(&im->strs, &im->strs_len, &im->strs_cap, s, len, at) ? NOMEM(im) : 0;
}

/* The type id (1-based) of a name, adding it when new. */
static int type_id(importer *im, const char *name, size_t len, uint32_t *id) {
    int64_t i = mt__names_index(&im->types, name, len);
    if (i < 0) return NOMEM(im);
    *id = (uint32_t)i + 1;
    return 0;
}

static int range_error(importer *im, uint32_t line, uint32_t col, const char *fmt, uint64_t a, uint64_t b) {
    if (im->diag) {
        im->diag->line = line;
        im->diag->column = col;
    }
    return mt_diag_set(im->diag, MT_E_RANGE, fmt, a, b);
}

/* Fails at a number token that is not an unsigned 64-bit integer, saying
 * which way it is not: "id 18446744073709551616 is more than ...". */
static int bad_uint(importer *im, const char *what) {
    mt__json *j = &im->j;
    const char *why = j->is_int ? "is negative" : strpbrk(j->text.s, ".eE") ? "is not an integer"
                                                                          : "is more than 18446744073709551615 (2^64 - 1)";
    if (im->diag) {
        im->diag->line = j->tline;
        im->diag->column = j->tcol;
    }
    return mt_diag_set(im->diag, MT_E_PARSE, "%s %.64s %s: expected a non-negative integer", what, j->text.s, why);
}

/* Fails at a string token that holds a NUL byte, where text is due. */
static int no_nul(importer *im, const char *what) {
    mt__json *j = &im->j;
    size_t at = strlen(j->text.s);
    if (at == j->text.len) return 0;
    if (im->diag) {
        im->diag->line = j->tline;
        im->diag->column = j->tcol;
    }
    return mt_diag_set(im->diag, MT_E_PARSE, "%s holds a NUL byte (\\u0000) at character %zu; it must be text", what,
                       at + 1);
}

/* Reads an unsigned integer value for key. */
static int read_uint(importer *im, const char *key, uint64_t *out) {
    mt__json *j = &im->j;
    int rc = mt__json_next(j);
    if (rc) return rc;
    if (j->type == MT__J_NUMBER && !j->is_uint) {
        char what[300];
        snprintf(what, sizeof what, "\"%s\"", key);
        return bad_uint(im, what);
    }
    if (j->type != MT__J_NUMBER) {
        char what[320];
        snprintf(what, sizeof what, "a non-negative integer for \"%s\"", key);
        return mt__json_error(j, what);
    }
    *out = j->u;
    return 0;
}

static int read_bool(importer *im, const char *key, uint32_t *out) {
    mt__json *j = &im->j;
    int rc = mt__json_next(j);
    if (rc) return rc;
    if (j->type != MT__J_TRUE && j->type != MT__J_FALSE) {
        char what[320];
        snprintf(what, sizeof what, "true or false for \"%s\"", key);
        return mt__json_error(j, what);
    }
    *out = j->type == MT__J_TRUE;
    return 0;
}

/* Reads a string (or null, if nullable) and keeps it with its length,
 * NUL bytes and all; SIZE_MAX for null. */
static int read_str(importer *im, const char *key, int nullable, size_t *at, size_t *len) {
    mt__json *j = &im->j;
    int rc = mt__json_next(j);
    if (rc) return rc;
    if (j->type == MT__J_NULL && nullable) {
        *at = SIZE_MAX;
        *len = 0;
        return 0;
    }
    if (j->type != MT__J_STRING) {
        char what[320];
        snprintf(what, sizeof what, "a string for \"%s\"", key);
        return mt__json_error(j, what);
    }
    *len = j->text.len;
    return keep_str(im, j->text.s, j->text.len, at);
}

/* Iterates the members of an object whose '{' was just read: calls fn
 * with each key, fn reads the value. */
typedef int (*member_fn)(importer *im, const char *key, void *arg);

static int each_member(importer *im, member_fn fn, void *arg) {
    mt__json *j = &im->j;
    int rc = mt__json_next(j);
    if (rc) return rc;
    if (j->type == MT__J_RBRACE) return 0;
    for (;;) {
        if (j->type != MT__J_STRING) return mt__json_error(j, "a key (a string)");
        if ((rc = no_nul(im, "a key"))) return rc;
        char key[256];
        if (j->text.len >= sizeof key) return mt__json_error(j, "a key shorter than 256 bytes");
        memcpy(key, j->text.s, j->text.len + 1);
        if ((rc = mt__json_expect(j, MT__J_COLON, "':' after a key"))) return rc;
        if ((rc = fn(im, key, arg))) return rc;
        if ((rc = mt__json_next(j))) return rc;
        if (j->type == MT__J_RBRACE) return 0;
        if (j->type != MT__J_COMMA) return mt__json_error(j, "',' or '}'");
        if ((rc = mt__json_next(j))) return rc;
    }
}

/* Iterates the elements of an array whose '[' was just read: the first
 * token of each element has been read when fn is called. */
typedef int (*element_fn)(importer *im, void *arg);

static int each_element(importer *im, element_fn fn, void *arg) {
    mt__json *j = &im->j;
    int rc = mt__json_next(j);
    if (rc) return rc;
    if (j->type == MT__J_RBRACKET) return 0;
    for (;;) {
        if ((rc = fn(im, arg))) return rc;
        if ((rc = mt__json_next(j))) return rc;
        if (j->type == MT__J_RBRACKET) return 0;
        if (j->type != MT__J_COMMA) return mt__json_error(j, "',' or ']'");
        if ((rc = mt__json_next(j))) return rc;
    }
}

static int skip_value(importer *im) {
    int rc = mt__json_next(&im->j);
    return rc ? rc : mt__json_skip(&im->j);
}

/* meta: {"key": scalar, ...} */
static int meta_member(importer *im, const char *name, void *arg) {
    mt__json *j = &im->j;
    size_t key = 0;
    if (keep_str(im, name, strlen(name), &key)) return MT_E_NOMEM;
    int rc = mt__json_next(j);
    if (rc) return rc;
    mt_meta m;
    memset(&m, 0, sizeof m);
    m.key = (mt_str){ (const char *)(uintptr_t)key, strlen(name) };
    switch (j->type) {
    case MT__J_STRING: {
        size_t at;
        if (keep_str(im, j->text.s, j->text.len, &at)) return MT_E_NOMEM;
        m.value.type = MT_VAL_STR;
        m.value.v.s = (mt_str){ (const char *)(uintptr_t)at, j->text.len };
        break;
    }
    case MT__J_NUMBER:
        if (j->is_uint) { m.value.type = MT_VAL_UINT; m.value.v.u = j->u; }
        else if (j->is_int) { m.value.type = MT_VAL_INT; m.value.v.i = j->i; }
        else { m.value.type = MT_VAL_FLOAT; m.value.v.f = j->d; }
        break;
    case MT__J_TRUE: case MT__J_FALSE: m.value.type = MT_VAL_BOOL; m.value.v.b = j->type == MT__J_TRUE; break;
    case MT__J_NULL: m.value.type = MT_VAL_NIL; break;
    default: return mt__json_error(j, "a string, number, boolean or null meta value");
    }
    if (mt__grow((void **)&im->meta, &im->cap_meta, im->n_meta, sizeof(mt_meta))) return NOMEM(im);
    im->meta[im->n_meta++] = m;
    return 0;
}

/* refs: [id | {"id": N, "label": "x", "weak": true}] */
static int ref_member(importer *im, const char *key, void *arg) {
    pending_ref *r = arg;
    if (!strcmp(key, "id")) return read_uint(im, key, &r->dst);
    if (!strcmp(key, "label")) return read_str(im, key, 1, &r->label, &r->label_len);
    if (!strcmp(key, "weak")) return read_bool(im, key, &r->weak);
    return skip_value(im);
}

static int ref_element(importer *im, void *arg) {
    mt__json *j = &im->j;
    pending_ref r = { (uint32_t)im->n_obj, UINT64_MAX, 0, SIZE_MAX, 0, j->tline, j->tcol };
    if (j->type == MT__J_NUMBER && j->is_uint) r.dst = j->u;
    else if (j->type == MT__J_NUMBER) return bad_uint(im, "reference");
    else if (j->type == MT__J_LBRACE) {
        int rc = each_member(im, ref_member, &r);
        if (rc) return rc;
        if (r.dst == UINT64_MAX) {
            if (im->diag) { im->diag->line = r.line; im->diag->column = r.col; }
            return mt_diag_set(im->diag, MT_E_PARSE, "reference has no \"id\"");
        }
    } else
        return mt__json_error(j, "an object id or {\"id\": ...} in \"refs\"");
    if (mt__grow((void **)&im->refs, &im->cap_refs, im->n_refs, sizeof r)) return NOMEM(im);
    im->refs[im->n_refs++] = r;
    return 0;
}

typedef struct obj_state {
    mt_object o;
    int have_id, have_type, have_size;
} obj_state;

static int object_member(importer *im, const char *key, void *arg) {
    obj_state *st = arg;
    mt__json *j = &im->j;
    uint64_t v = 0;
    int rc;
    if (!strcmp(key, "id")) {
        st->have_id = 1;
        return read_uint(im, key, &st->o.id);
    }
    if (!strcmp(key, "size")) {
        st->have_size = 1;
        return read_uint(im, key, &st->o.size);
    }
    if (!strcmp(key, "type")) {
        if ((rc = mt__json_next(j))) return rc;
        if (j->type != MT__J_STRING) return mt__json_error(j, "a type name (a string) for \"type\"");
        /* A NUL would cut the name short and merge it with another type. */
        if ((rc = no_nul(im, "the type name"))) return rc;
        st->have_type = 1;
        return type_id(im, j->text.s, j->text.len, &st->o.type);
    }
    if (!strcmp(key, "refs")) {
        if ((rc = mt__json_expect(j, MT__J_LBRACKET, "an array for \"refs\""))) return rc;
        return each_element(im, ref_element, NULL);
    }
    if (!strcmp(key, "flags") || !strcmp(key, "gen") || !strcmp(key, "stack")) {
        if ((rc = read_uint(im, key, &v))) return rc;
        if (v > UINT32_MAX) {
            if (im->diag) {
                im->diag->line = j->tline;
                im->diag->column = j->tcol;
            }
            return mt_diag_set(im->diag, MT_E_PARSE, "\"%s\" %" PRIu64 " is more than 4294967295: expected a 32-bit value",
                               key, v);
        }
        *(key[0] == 'f' ? &st->o.flags : key[0] == 'g' ? &st->o.gen : &st->o.stack) = (uint32_t)v;
        st->o.flags &= ~MT_OBJ_LOST;
        return 0;
    }
    return skip_value(im); /* unknown keys are for other tools */
}

static int object_element(importer *im, void *arg) {
    mt__json *j = &im->j;
    if (j->type != MT__J_LBRACE) return mt__json_error(j, "an object ({...}) in \"objects\"");
    uint32_t line = j->tline, col = j->tcol;
    if (im->n_obj >= MT_MAX_OBJECTS) return mt__json_error(j, "fewer objects");
    obj_state st;
    memset(&st, 0, sizeof st);
    int rc = each_member(im, object_member, &st);
    if (rc) return rc;
    const char *missing = !st.have_id ? "id" : !st.have_type ? "type" : !st.have_size ? "size" : NULL;
    if (missing) {
        if (im->diag) { im->diag->line = line; im->diag->column = col; }
        return mt_diag_set(im->diag, MT_E_PARSE, "object has no \"%s\"", missing);
    }
    uint32_t prev;
    if (mt_u64map_get(&im->ids, st.o.id, &prev))
        return range_error(im, line, col, "duplicate object id %" PRIu64 " (first on line %" PRIu64 ")", st.o.id,
                           im->obj_line[prev]);
    if (mt__grow((void **)&im->obj, &im->cap_obj, im->n_obj, sizeof(mt_object))) return NOMEM(im);
    if (mt__grow((void **)&im->obj_line, &im->cap_line, im->n_obj, sizeof(uint32_t))) return NOMEM(im);
    if (mt_u64map_put(&im->ids, st.o.id, (uint32_t)im->n_obj)) return NOMEM(im);
    im->obj_line[im->n_obj] = line;
    im->obj[im->n_obj++] = st.o;
    return 0;
}

static int root_member(importer *im, const char *key, void *arg) {
    pending_root *r = arg;
    if (!strcmp(key, "id")) return read_uint(im, key, &r->id);
    if (!strcmp(key, "kind")) return read_str(im, key, 0, &r->kind, &r->kind_len);
    if (!strcmp(key, "name")) return read_str(im, key, 1, &r->name, &r->name_len);
    return skip_value(im);
}

static int root_element(importer *im, void *arg) {
    mt__json *j = &im->j;
    pending_root r = { UINT64_MAX, SIZE_MAX, SIZE_MAX, 0, 0, j->tline, j->tcol };
    if (j->type == MT__J_NUMBER && j->is_uint) r.id = j->u;
    else if (j->type == MT__J_NUMBER) return bad_uint(im, "root");
    else if (j->type == MT__J_LBRACE) {
        int rc = each_member(im, root_member, &r);
        if (rc) return rc;
        if (r.id == UINT64_MAX) {
            if (im->diag) { im->diag->line = r.line; im->diag->column = r.col; }
            return mt_diag_set(im->diag, MT_E_PARSE, "root has no \"id\"");
        }
    } else
        return mt__json_error(j, "an object id or {\"id\": ...} in \"roots\"");
    if (mt__grow((void **)&im->roots, &im->cap_roots, im->n_roots, sizeof r)) return NOMEM(im);
    im->roots[im->n_roots++] = r;
    return 0;
}

static int top_member(importer *im, const char *key, void *arg) {
    mt__json *j = &im->j;
    int rc;
    if (!strcmp(key, "meta")) {
        if ((rc = mt__json_expect(j, MT__J_LBRACE, "an object for \"meta\""))) return rc;
        return each_member(im, meta_member, NULL);
    }
    if (!strcmp(key, "objects")) {
        if ((rc = mt__json_expect(j, MT__J_LBRACKET, "an array for \"objects\""))) return rc;
        return each_element(im, object_element, NULL);
    }
    if (!strcmp(key, "roots")) {
        if ((rc = mt__json_expect(j, MT__J_LBRACKET, "an array for \"roots\""))) return rc;
        return each_element(im, root_element, NULL);
    }
    return skip_value(im);
}

static mt_str str_at(const importer *im, size_t at, size_t len) {
    return at == SIZE_MAX ? mt_str_c(NULL) : (mt_str){ im->strs + at, len };
}

static int write_snapshot(importer *im, const char *out_path) {
    /* Resolve first: a bad reference must not leave a half-written file. */
    for (size_t i = 0; i < im->n_refs; i++) {
        uint32_t idx;
        if (!mt_u64map_get(&im->ids, im->refs[i].dst, &idx))
            return range_error(im, im->refs[i].line, im->refs[i].col,
                               "reference to id %" PRIu64 ", which no object has (from object %" PRIu64 ")",
                               im->refs[i].dst, im->obj[im->refs[i].src].id);
        im->refs[i].dst = idx;
    }
    for (size_t i = 0; i < im->n_roots; i++) {
        uint32_t idx;
        if (!mt_u64map_get(&im->ids, im->roots[i].id, &idx))
            return range_error(im, im->roots[i].line, im->roots[i].col,
                               "root %" PRIu64 " names id %" PRIu64 ", which no object has", i, im->roots[i].id);
        im->roots[i].id = idx;
    }
    mt_writer *w;
    /* From here on an error concerns the output: diag names it. */
    if (im->diag) im->diag->file = out_path;
    int rc = mt_writer_open(out_path, NULL, &w, im->diag);
    if (rc) return rc;
    for (size_t i = 0; i < im->n_meta && !rc; i++) {
        mt_meta m = im->meta[i];
        m.key.ptr = im->strs + (uintptr_t)m.key.ptr;
        if (m.value.type == MT_VAL_STR) m.value.v.s.ptr = im->strs + (uintptr_t)m.value.v.s.ptr;
        rc = mt_writer_add(w, MT_KIND_META, &m);
    }
    for (size_t t = 0; t < im->types.n && !rc; t++) {
        mt_type ty = { (uint32_t)t + 1, mt_str_c(mt__names_str(&im->types, t)) };
        rc = mt_writer_add(w, MT_KIND_TYPE, &ty);
    }
    for (size_t i = 0; i < im->n_obj && !rc; i++) rc = mt_writer_add(w, MT_KIND_OBJECT, &im->obj[i]);
    for (size_t i = 0; i < im->n_refs && !rc; i++) {
        mt_ref r = { im->refs[i].src, (uint32_t)im->refs[i].dst, im->refs[i].weak ? MT_REF_WEAK : 0,
                     str_at(im, im->refs[i].label, im->refs[i].label_len) };
        rc = mt_writer_add(w, MT_KIND_REF, &r);
    }
    for (size_t i = 0; i < im->n_roots && !rc; i++) {
        mt_root r = { (uint32_t)im->roots[i].id,
                      im->roots[i].kind == SIZE_MAX ? mt_str_c("other")
                                                    : str_at(im, im->roots[i].kind, im->roots[i].kind_len),
                      str_at(im, im->roots[i].name, im->roots[i].name_len) };
        rc = mt_writer_add(w, MT_KIND_ROOT, &r);
    }
    if (rc) {
        mt_writer_abandon(w);
        return mt_diag_set(im->diag, rc, "cannot write the snapshot: %s", mt_strerror(rc));
    }
    return mt_writer_close(w, im->diag);
}

static int import(importer *im, const char *out_path) {
    int rc = mt__json_expect(&im->j, MT__J_LBRACE, "a JSON object ({\"objects\": [...]})");
    if (!rc) rc = each_member(im, top_member, NULL);
    if (!rc) rc = mt__json_expect(&im->j, MT__J_EOF, "the end of the input");
    if (!rc) rc = write_snapshot(im, out_path);
    mt__json_free(&im->j);
    mt_u64map_free(&im->ids);
    mt__names_free(&im->types);
    free(im->obj);
    free(im->obj_line);
    free(im->refs);
    free(im->roots);
    free(im->meta);
    free(im->strs);
    return rc;
}

int mt_heapjson_import(FILE *in, const char *out_path, mt_diag *diag) {
    importer im;
    memset(&im, 0, sizeof im);
    im.diag = diag;
    mt__json_init(&im.j, in, diag);
    return import(&im, out_path);
}

int mt_heapjson_import_path(const char *in_path, const char *out_path, mt_diag *diag) {
    mt_input in;
    int rc = mt_input_open(in_path, NULL, &in, diag);
    if (rc) return rc;
    importer im;
    memset(&im, 0, sizeof im);
    im.diag = diag;
    if (!(rc = mt__json_init_input(&im.j, &in, MT_HEAPJSON_MAX_BYTES, diag))) rc = import(&im, out_path);
    else mt__json_free(&im.j);
    mt_input_close(&in);
    return rc;
}

/* ---- export ---- */

int mt_heapjson_export(const mt_snapshot *s, FILE *out, mt_diag *diag) {
    const mt_graph *g = mt_snapshot_graph(s);
    if (!g->out_off && mt_snapshot_count(s, MT_KIND_REF))
        return mt_diag_set(diag, MT_E_INVAL, "references were not loaded");
    mt_u64map seen = MT_U64MAP_INIT;
    for (uint32_t i = 0; i < g->n_objects; i++) {
        uint32_t prev;
        if (g->flags[i] & MT_OBJ_LOST) continue;
        if (mt_u64map_get(&seen, g->id[i], &prev)) {
            mt_u64map_free(&seen);
            return mt_diag_set(diag, MT_E_RANGE,
                               "objects %u and %u share id %" PRIu64 ", which the JSON heap form cannot express",
                               prev, i, g->id[i]);
        }
        if (mt_u64map_put(&seen, g->id[i], i)) {
            mt_u64map_free(&seen);
            return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
        }
    }
    mt_u64map_free(&seen);
    fputs("{\"meta\": {", out);
    for (size_t i = 0; i < mt_snapshot_meta_count(s); i++) {
        const mt_meta *m = mt_snapshot_meta(s, i);
        fputs(i ? ", " : "", out);
        mt_json_put_str(out, m->key);
        fputs(": ", out);
        mt_json_put_value(out, &m->value);
    }
    fputs("},\n\"objects\": [", out);
    int first = 1;
    for (uint32_t i = 0; i < g->n_objects; i++) {
        if (g->flags[i] & MT_OBJ_LOST) continue;
        fprintf(out, "%s\n{\"id\": %" PRIu64 ", \"type\": ", first ? "" : ",", g->id[i]);
        first = 0;
        mt_json_put_str(out, g->type_names[g->type[i]]);
        fprintf(out, ", \"size\": %" PRIu64, g->size[i]);
        if (g->flags[i]) fprintf(out, ", \"flags\": %u", g->flags[i]);
        if (g->gen && g->gen[i]) fprintf(out, ", \"gen\": %u", g->gen[i]);
        if (g->stack && g->stack[i]) fprintf(out, ", \"stack\": %u", g->stack[i]);
        if (g->out_off && g->out_off[i + 1] > g->out_off[i]) {
            fputs(", \"refs\": [", out);
            int rfirst = 1;
            for (uint32_t e = g->out_off[i]; e < g->out_off[i + 1]; e++) {
                uint32_t d = g->out_dst[e] & MT_GRAPH_INDEX;
                if (g->flags[d] & MT_OBJ_LOST) continue;
                mt_str label = mt_snapshot_ref_label(s, e);
                fputs(rfirst ? "" : ", ", out);
                rfirst = 0;
                if (!label.len && !(g->out_dst[e] & MT_GRAPH_WEAK)) {
                    fprintf(out, "%" PRIu64, g->id[d]);
                    continue;
                }
                fprintf(out, "{\"id\": %" PRIu64, g->id[d]);
                if (label.len) {
                    fputs(", \"label\": ", out);
                    mt_json_put_str(out, label);
                }
                if (g->out_dst[e] & MT_GRAPH_WEAK) fputs(", \"weak\": true", out);
                putc('}', out);
            }
            putc(']', out);
        }
        putc('}', out);
    }
    fputs("],\n\"roots\": [", out);
    first = 1;
    for (uint32_t i = 0; i < g->n_roots; i++) {
        if (g->flags[g->root_obj[i]] & MT_OBJ_LOST) continue;
        fprintf(out, "%s\n{\"id\": %" PRIu64 ", \"kind\": ", first ? "" : ",", g->id[g->root_obj[i]]);
        first = 0;
        mt_json_put_str(out, g->root_kind[i]);
        if (g->root_name[i].len) {
            fputs(", \"name\": ", out);
            mt_json_put_str(out, g->root_name[i]);
        }
        putc('}', out);
    }
    fputs("]}\n", out);
    if (ferror(out)) return mt_diag_set(diag, MT_E_IO, "cannot write the JSON output");
    return 0;
}
