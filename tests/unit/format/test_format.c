/* Round trips of every record kind, the msgpack reader against msgpack-c,
 * CRC-32 against its check value, and the writer's limits. */
#include <msgpack.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include "../helpers.h"
#include "memtrace/format.h"
#include "../../../formats/src/internal.h"

/* Fills every field of a record of kind with a value derived from seed,
 * through the schema, so that every kind gets non-default values in every
 * field; strings hold a NUL byte and UTF-8. */
static char strbuf[64][64];
static int nstr;

static void fill(int kind, void *rec, unsigned seed) {
    const mt__kind_desc *d = mt__kind_schema(kind);
    memset(rec, 0, d->size);
    for (unsigned i = 0; i < d->nfields; i++) {
        const mt__field *f = &d->fields[i];
        char *p = (char *)rec + f->offset;
        unsigned v = seed * 31 + i * 7 + 1;
        switch (f->type) {
        case MT__F_U32: *(uint32_t *)p = i % 2 ? UINT32_MAX - v : v; break;
        case MT__F_U64: *(uint64_t *)p = i % 2 ? UINT64_MAX - v : (uint64_t)v << 33; break;
        case MT__F_F64: *(double *)p = v / 3.0; break;
        case MT__F_STR: case MT__F_BIN: {
            char *s = strbuf[nstr++ % 64];
            int n = snprintf(s, 60, "%s-%u-\xc3\xa9", f->name, v);
            s[n] = 0; /* an embedded NUL */
            s[n + 1] = 'z';
            ((mt_str *)p)->ptr = s;
            ((mt_str *)p)->len = (size_t)n + 2;
            break;
        }
        case MT__F_VAL: {
            mt_value *x = (mt_value *)p;
            switch ((seed + i) % 6) {
            case 0: x->type = MT_VAL_INT; x->v.i = -(int64_t)v * 1000003; break;
            case 1: x->type = MT_VAL_UINT; x->v.u = UINT64_MAX - v; break;
            case 2: x->type = MT_VAL_FLOAT; x->v.f = -v / 7.0; break;
            case 3: x->type = MT_VAL_STR; x->v.s = mt_str_c("value"); break;
            case 4: x->type = MT_VAL_BOOL; x->v.b = 1; break;
            default: x->type = MT_VAL_BIN; x->v.s.ptr = "\x00\xff"; x->v.s.len = 2; break;
            }
            break;
        }
        }
    }
}

static void assert_same(int kind, const void *a, const void *b) {
    const mt__kind_desc *d = mt__kind_schema(kind);
    for (unsigned i = 0; i < d->nfields; i++) {
        const mt__field *f = &d->fields[i];
        const char *p = (const char *)a + f->offset, *q = (const char *)b + f->offset;
        switch (f->type) {
        case MT__F_U32: ck_assert_uint_eq(*(const uint32_t *)p, *(const uint32_t *)q); break;
        case MT__F_U64: ck_assert_uint_eq(*(const uint64_t *)p, *(const uint64_t *)q); break;
        case MT__F_F64: ck_assert(*(const double *)p == *(const double *)q); break;
        case MT__F_STR: case MT__F_BIN:
            ck_assert_uint_eq(((const mt_str *)p)->len, ((const mt_str *)q)->len);
            ck_assert(memcmp(((const mt_str *)p)->ptr, ((const mt_str *)q)->ptr, ((const mt_str *)q)->len) == 0);
            break;
        case MT__F_VAL: {
            const mt_value *x = (const mt_value *)p, *y = (const mt_value *)q;
            ck_assert_int_eq(x->type, y->type);
            if (x->type == MT_VAL_STR || x->type == MT_VAL_BIN) {
                ck_assert_uint_eq(x->v.s.len, y->v.s.len);
                ck_assert(memcmp(x->v.s.ptr, y->v.s.ptr, x->v.s.len) == 0);
            } else if (x->type == MT_VAL_FLOAT)
                ck_assert(x->v.f == y->v.f);
            else if (x->type != MT_VAL_NIL)
                ck_assert_uint_eq(x->v.u, y->v.u);
            break;
        }
        }
    }
}

START_TEST(every_kind_round_trips) {
    int kind = _i + 1;
    char *path = tmp_path();
    mt_writer *w;
    mt_writer_opts o = { .block_bytes = 256, .level = 0, .background = 0 }; /* tiny blocks: many per kind */
    ck_assert_int_eq(mt_writer_open(path, &o, &w, NULL), 0);
    enum { N = 300 };
    static mt_record recs[N];
    for (unsigned i = 0; i < N; i++) {
        nstr = (int)(i % 8) * 8; /* strings stay alive until the write */
        fill(kind, &recs[i].u, i);
        ck_assert_int_eq(mt_writer_add(w, (mt_kind)kind, &recs[i].u), 0);
        /* keep the struct's strings stable: copy them out of strbuf */
        const mt__kind_desc *d = mt__kind_schema(kind);
        for (unsigned k = 0; k < d->nfields; k++)
            if (d->fields[k].type == MT__F_STR || d->fields[k].type == MT__F_BIN) {
                mt_str *s = (mt_str *)((char *)&recs[i].u + d->fields[k].offset);
                char *copy = malloc(s->len);
                memcpy(copy, s->ptr, s->len);
                s->ptr = copy;
            }
    }
    ck_assert_uint_eq(mt_writer_count(w, (mt_kind)kind), N);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);

    mt_reader *r;
    ck_assert_int_eq(mt_reader_open(path, &r, NULL), 0);
    ck_assert_int_eq(mt_reader_closed(r), 1);
    ck_assert_uint_eq(mt_reader_damage_count(r), 0);
    ck_assert_uint_gt(mt_reader_block_count(r), 1);
    unsigned seen = 0;
    uint64_t expect_first = 0;
    for (size_t b = 0; b < mt_reader_block_count(r); b++) {
        const mt_block_info *bi = mt_reader_block(r, b);
        ck_assert_int_eq(bi->kind, kind);
        ck_assert_uint_eq(bi->first, expect_first);
        expect_first += bi->count;
        mt_cursor c;
        ck_assert_int_eq(mt_reader_block_open(r, b, &c, NULL), 0);
        mt_record got;
        int rc;
        while ((rc = mt_cursor_next(&c, &got.u, NULL)) == 1) assert_same(kind, &recs[seen++].u, &got.u);
        ck_assert_int_eq(rc, 0);
    }
    ck_assert_uint_eq(seen, N);
    mt_reader_free(r);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(trailing_defaults_are_omitted_and_read_back) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    mt_object o = { 7, 1, 24, 0, 0, 0 };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &o), 0);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_reader *r;
    ck_assert_int_eq(mt_reader_open(path, &r, NULL), 0);
    mt_cursor c;
    ck_assert_int_eq(mt_reader_block_open(r, 0, &c, NULL), 0);
    /* [7, 1, 24]: a fixarray of three positive fixints, nothing more. */
    ck_assert_uint_eq((size_t)(c.end - c.p), 4);
    ck_assert_uint_eq(c.p[0], 0x93);
    mt_object got;
    ck_assert_int_eq(mt_cursor_next(&c, &got, NULL), 1);
    ck_assert_uint_eq(got.id, 7);
    ck_assert_uint_eq(got.flags, 0);
    mt_reader_free(r);
    unlink(path);
    free(path);
}
END_TEST

/* The msgpack reader must agree with msgpack-c on everything msgpack-c
 * packs: every width of every type. */
START_TEST(mp_reader_agrees_with_msgpack_c) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint64_t uvals[] = { 0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295u, 4294967296ull, UINT64_MAX };
    int64_t ivals[] = { -1, -32, -33, -128, -129, -32768, -32769, -2147483648ll, -2147483649ll, INT64_MIN };
    for (size_t i = 0; i < sizeof uvals / sizeof *uvals; i++) msgpack_pack_uint64(&pk, uvals[i]);
    for (size_t i = 0; i < sizeof ivals / sizeof *ivals; i++) msgpack_pack_int64(&pk, ivals[i]);
    msgpack_pack_float(&pk, 1.5f);
    msgpack_pack_double(&pk, -2.25);
    msgpack_pack_nil(&pk);
    msgpack_pack_true(&pk);
    msgpack_pack_false(&pk);
    size_t lens[] = { 0, 31, 32, 255, 256, 65535, 65536 };
    static char big[70000];
    memset(big, 'x', sizeof big);
    for (size_t i = 0; i < 7; i++) {
        msgpack_pack_str(&pk, lens[i]);
        msgpack_pack_str_body(&pk, big, lens[i]);
        msgpack_pack_bin(&pk, lens[i]);
        msgpack_pack_bin_body(&pk, big, lens[i]);
    }
    msgpack_pack_array(&pk, 15);
    msgpack_pack_array(&pk, 16);
    msgpack_pack_array(&pk, 70000);
    msgpack_pack_map(&pk, 15);
    msgpack_pack_map(&pk, 70000);
    msgpack_pack_ext(&pk, 4, 1);
    msgpack_pack_ext_body(&pk, "abcd", 4);
    msgpack_pack_ext(&pk, 5, 2);
    msgpack_pack_ext_body(&pk, "abcde", 5);

    /* Walk both decoders token by token. */
    const uint8_t *p = (const uint8_t *)sb.data, *end = p + sb.size;
    size_t off = 0;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    int tokens = 0;
    while (p < end) {
        mt__mptok t;
        ck_assert_int_eq(mt__mp_next(&p, end, &t), 0);
        if (t.type == MT__MP_ARRAY || t.type == MT__MP_MAP) {
            /* msgpack-c would want the elements: check the header alone. */
            uint8_t b = sb.data[off];
            uint64_t n = t.u;
            if (b >= 0x90 && b <= 0x9f) ck_assert_uint_eq(n, b & 0x0f);
            else if (b >= 0x80 && b <= 0x8f) ck_assert_uint_eq(n, b & 0x0f);
            else ck_assert(n == 16 || n == 70000);
            off = (size_t)(p - (const uint8_t *)sb.data);
            tokens++;
            continue;
        }
        msgpack_object obj;
        size_t before = off;
        int urc = msgpack_unpack(sb.data, sb.size, &off, &zone, &obj);
        ck_assert(urc == MSGPACK_UNPACK_EXTRA_BYTES || urc == MSGPACK_UNPACK_SUCCESS);
        ck_assert_uint_eq(off, (size_t)(p - (const uint8_t *)sb.data));
        (void)before;
        switch (obj.type) {
        case MSGPACK_OBJECT_POSITIVE_INTEGER: ck_assert_int_eq(t.type, MT__MP_UINT); ck_assert_uint_eq(t.u, obj.via.u64); break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: ck_assert_int_eq(t.type, MT__MP_INT); ck_assert_int_eq(t.i, obj.via.i64); break;
        case MSGPACK_OBJECT_FLOAT32: case MSGPACK_OBJECT_FLOAT64: ck_assert_int_eq(t.type, MT__MP_FLOAT); ck_assert(t.f == obj.via.f64); break;
        case MSGPACK_OBJECT_NIL: ck_assert_int_eq(t.type, MT__MP_NIL); break;
        case MSGPACK_OBJECT_BOOLEAN: ck_assert_int_eq(t.type, MT__MP_BOOL); ck_assert_uint_eq(t.u, obj.via.boolean); break;
        case MSGPACK_OBJECT_STR: ck_assert_int_eq(t.type, MT__MP_STR); ck_assert_uint_eq(t.len, obj.via.str.size); break;
        case MSGPACK_OBJECT_BIN: ck_assert_int_eq(t.type, MT__MP_BIN); ck_assert_uint_eq(t.len, obj.via.bin.size); break;
        case MSGPACK_OBJECT_EXT: ck_assert_int_eq(t.type, MT__MP_EXT); ck_assert_uint_eq(t.len, obj.via.ext.size + 1); break;
        default: ck_abort_msg("unexpected msgpack-c type %d", obj.type);
        }
        tokens++;
    }
    ck_assert_int_eq(tokens, 11 + 10 + 5 + 14 + 5 + 2);
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* The writer's hand encoder must write msgpack-c's bytes exactly: the
 * same smallest form for every width of every type. */
START_TEST(mp_writer_agrees_with_msgpack_c) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    static uint8_t ours[300000];
    uint8_t *p = ours;
    const uint64_t uvals[] = { 0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295u, 4294967296ull, UINT64_MAX };
    const int64_t ivals[] = { 0, 1, 127, 128, 255, 256, 65535, 65536, 4294967296ll, INT64_MAX, -1, -31, -32, -33,
                              -127, -128, -129, -32767, -32768, -32769, -2147483647ll, -2147483648ll,
                              -2147483649ll, INT64_MIN };
    const double dvals[] = { 0.0, -2.25, 1e300, 5e-324 };
    const size_t lens[] = { 0, 1, 31, 32, 255, 256, 65535, 65536 };
    const uint32_t nvals[] = { 0, 15, 16, 65535, 65536, 70000 };
    static char big[70000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < sizeof uvals / sizeof *uvals; i++) {
        msgpack_pack_uint64(&pk, uvals[i]);
        p = mt__mp_put_uint(p, uvals[i]);
        if (uvals[i] <= UINT32_MAX) { /* uint32 fields go through msgpack_pack_uint32 */
            msgpack_pack_uint32(&pk, (uint32_t)uvals[i]);
            p = mt__mp_put_uint(p, uvals[i]);
        }
    }
    for (size_t i = 0; i < sizeof ivals / sizeof *ivals; i++) {
        msgpack_pack_int64(&pk, ivals[i]);
        p = mt__mp_put_int(p, ivals[i]);
    }
    for (size_t i = 0; i < sizeof dvals / sizeof *dvals; i++) {
        msgpack_pack_double(&pk, dvals[i]);
        p = mt__mp_put_double(p, dvals[i]);
    }
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        msgpack_pack_str(&pk, lens[i]);
        msgpack_pack_str_body(&pk, big, lens[i]);
        p = mt__mp_put_raw(p, big, lens[i], 0);
        msgpack_pack_bin(&pk, lens[i]);
        msgpack_pack_bin_body(&pk, big, lens[i]);
        p = mt__mp_put_raw(p, big, lens[i], 1);
    }
    for (size_t i = 0; i < sizeof nvals / sizeof *nvals; i++) {
        msgpack_pack_array(&pk, nvals[i]);
        p = mt__mp_put_array(p, nvals[i]);
    }
    ck_assert_uint_lt((size_t)(p - ours), sizeof ours);
    ck_assert_uint_eq((size_t)(p - ours), sb.size);
    for (size_t i = 0; i < sb.size; i++)
        if ((uint8_t)sb.data[i] != ours[i]) ck_abort_msg("byte %zu: msgpack-c wrote 0x%02x, we wrote 0x%02x", i,
                                                          (uint8_t)sb.data[i], ours[i]);
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* The fast object and reference packers write the generic packer's bytes
 * for every mix of present and default fields. */
START_TEST(fast_packers_agree_with_the_schema) {
    const uint64_t v64[] = { 0, 1, 200, 70000, 1ull << 40 };
    const uint32_t v32[] = { 0, 1, 200, 70000, UINT32_MAX };
    uint8_t a[64], b[64];
    const mt__kind_desc *od = mt__kind_schema(MT_KIND_OBJECT), *rd = mt__kind_schema(MT_KIND_REF);
    int cases = 0;
    for (int i = 0; i < 5; i++)
        for (int f = 0; f < 5; f++)
            for (int st = 0; st < 5; st++)
                for (int g = 0; g < 5; g++) {
                    mt_object o = { v64[4 - i], v32[i], v64[i], v32[f], v32[st], v32[g] };
                    size_t na = (size_t)(mt__pack_object(a, &o) - a), nb = (size_t)(mt__pack_record(b, od, &o) - b);
                    ck_assert_uint_eq(na, nb);
                    ck_assert(!memcmp(a, b, na));
                    cases++;
                }
    static char text[300];
    memset(text, 'k', sizeof text);
    const size_t lens[] = { 0, 3, 31, 32, 300 };
    uint8_t c[400], d[400];
    for (int i = 0; i < 5; i++)
        for (int f = 0; f < 5; f++)
            for (int l = 0; l < 5; l++) {
                mt_ref r = { v32[i], v32[4 - i], v32[f], { text, lens[l] } };
                size_t na = (size_t)(mt__pack_ref(c, &r) - c), nb = (size_t)(mt__pack_record(d, rd, &r) - d);
                ck_assert_uint_eq(na, nb);
                ck_assert(!memcmp(c, d, na));
                cases++;
            }
    ck_assert_int_eq(cases, 625 + 125);
}
END_TEST

START_TEST(mp_reader_rejects_truncation_and_reserved_byte) {
    const uint8_t bad[] = { 0xc1 };
    const uint8_t *p = bad;
    mt__mptok t;
    ck_assert_int_eq(mt__mp_next(&p, bad + 1, &t), MT_E_MSGPACK);
    const uint8_t cut[] = { 0xcf, 1, 2, 3 }; /* uint64 with 3 of 8 bytes */
    p = cut;
    ck_assert_int_eq(mt__mp_next(&p, cut + 4, &t), MT_E_MSGPACK);
    const uint8_t lie[] = { 0xdd, 0xff, 0xff, 0xff, 0xff }; /* 4G elements in 0 bytes */
    p = lie;
    ck_assert_int_eq(mt__mp_skip(&p, lie + 5), MT_E_MSGPACK);
}
END_TEST

START_TEST(crc32_check_value) {
    /* The CRC catalogue's check value for CRC-32/ISO-HDLC. */
    ck_assert_uint_eq(mt__crc32("123456789", 9), 0xCBF43926u);
}
END_TEST

START_TEST(error_table_is_consistent) {
    ck_assert_str_eq(mt_err_name(MT_E_CHECKSUM), "MT_E_CHECKSUM");
    ck_assert_str_eq(mt_strerror(MT_E_CHECKSUM), "checksum mismatch");
    ck_assert_str_eq(mt_err_name(12345), "MT_E_UNKNOWN");
    mt_diag d;
    mt_diag_clear(&d);
    d.block = 7;
    d.offset = 81920;
    d.kind = MT_KIND_OBJECT;
    mt_diag_set(&d, MT_E_CHECKSUM, "payload checksum mismatch");
    char buf[128];
    ck_assert_str_eq(mt_diag_format(&d, buf, sizeof buf), "block 7 at offset 81920 (objects): payload checksum mismatch");
    mt_kind kind = MT_KIND_OBJECT;
    ck_assert_int_eq(mt_kind_from_name("refs", &kind), 0);
    ck_assert_int_eq(kind, MT_KIND_REF);
    ck_assert_int_eq(mt_kind_from_name("index", &kind), MT_E_INVAL);
    ck_assert_int_eq(kind, MT_KIND_REF);
    ck_assert_str_eq(mt_kind_name(999), "unknown");
}
END_TEST

START_TEST(unknown_trailing_fields_and_kinds_are_skipped) {
    /* A record from a newer writer: [id, type, size, flags, stack, gen, X, {...}]. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 8);
    for (int i = 0; i < 6; i++) msgpack_pack_uint32(&pk, (uint32_t)i + 1);
    msgpack_pack_str(&pk, 3);
    msgpack_pack_str_body(&pk, "new", 3);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_nil(&pk);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_nil(&pk);
    msgpack_pack_nil(&pk);
    const uint8_t *p = (const uint8_t *)sb.data;
    mt_object o;
    char msg[100];
    ck_assert_int_eq(mt__record_decode(mt__kind_schema(MT_KIND_OBJECT), &p, p + sb.size, &o, msg, sizeof msg), 0);
    ck_assert_ptr_eq(p, (const uint8_t *)sb.data + sb.size);
    ck_assert_uint_eq(o.gen, 6);
    /* Too few fields names the one missing. */
    sb.size = 0;
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_uint32(&pk, 2);
    p = (const uint8_t *)sb.data;
    ck_assert_int_eq(mt__record_decode(mt__kind_schema(MT_KIND_OBJECT), &p, p + sb.size, &o, msg, sizeof msg), MT_E_RECORD);
    ck_assert_str_eq(msg, "objects record has 2 fields, expected at least 3 (missing size)");
    /* A 32-bit field given a 64-bit value. */
    sb.size = 0;
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_uint64(&pk, 1ull << 40);
    msgpack_pack_uint32(&pk, 2);
    p = (const uint8_t *)sb.data;
    ck_assert_int_eq(mt__record_decode(mt__kind_schema(MT_KIND_OBJECT), &p, p + sb.size, &o, msg, sizeof msg), MT_E_RECORD);
    ck_assert_str_eq(msg, "field type: 1099511627776 does not fit in 32 bits");
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(writer_reports_unwritable_path) {
    mt_writer *w = (mt_writer *)1;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_writer_open("/nonexistent-dir/x.snap", NULL, &w, &d), MT_E_IO);
    ck_assert_ptr_null(w);
    ck_assert_str_eq(d.msg, "cannot create: No such file or directory");
    ck_assert_int_eq(mt_writer_close(NULL, NULL), 0);
}
END_TEST

START_TEST(writer_memory_is_bounded_by_block_size) {
    /* 200 000 objects with 4 KiB blocks: every block stays near 4 KiB raw. */
    char *path = tmp_path();
    mt_writer *w;
    mt_writer_opts o = { .block_bytes = 4096, .level = 0, .background = 0 };
    ck_assert_int_eq(mt_writer_open(path, &o, &w, NULL), 0);
    for (uint32_t i = 0; i < 200000; i++) {
        mt_object ob = { 0x7f0000000000ull + i * 64ull, 1, 56, 1, 0, 0 };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &ob), 0);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_reader *r;
    ck_assert_int_eq(mt_reader_open(path, &r, NULL), 0);
    uint64_t total = 0;
    for (size_t b = 0; b < mt_reader_block_count(r); b++) {
        ck_assert_uint_le(mt_reader_block(r, b)->raw, 4096 + 32);
        total += mt_reader_block(r, b)->count;
    }
    ck_assert_uint_eq(total, 200000);
    mt_reader_free(r);
    unlink(path);
    free(path);
}
END_TEST

/* Writes the same mixed records, with a flush in the middle, with and
 * without the background thread; the blocks the caller compressed itself
 * while the thread's queue was full. */
static uint64_t write_mixed(const char *path, int background) {
    mt_writer *w;
    mt_writer_opts o = { .block_bytes = 1024, .level = 0, .background = background };
    ck_assert_int_eq(mt_writer_open(path, &o, &w, NULL), 0);
    for (uint32_t i = 0; i < 30000; i++) {
        if (i % 1000 == 0) {
            char name[32];
            snprintf(name, sizeof name, "type%u", i / 1000);
            mt_type t = { i / 1000 + 1, mt_str_c(name) };
            ck_assert_int_eq(mt_writer_add(w, MT_KIND_TYPE, &t), 0);
        }
        mt_object ob = { i * 16ull, i / 1000 + 1, i % 97, 1, 0, 0 };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &ob), 0);
        mt_ref r = { i, i / 2, 0, mt_str_c(i % 3 ? NULL : "attr") };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_REF, &r), 0);
        if (i == 15000) ck_assert_int_eq(mt_writer_flush(w), 0);
    }
    uint64_t own = mt__writer_own_blocks(w);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    return own;
}

START_TEST(background_writer_writes_the_same_bytes) {
    char *a = tmp_path(), *b = tmp_path();
    ck_assert_uint_eq(write_mixed(a, 0), 0);
    /* 1 KiB blocks come far faster than a write(2) each: the queue fills,
     * and the blocks compressed on this side must land in order too. */
    ck_assert_uint_gt(write_mixed(b, 1), 0);
    size_t na, nb;
    unsigned char *da = slurp(a, &na), *db = slurp(b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(da, db, na), 0);
    mt_reader *r;
    ck_assert_int_eq(mt_reader_open(b, &r, NULL), 0);
    ck_assert_uint_gt(mt_reader_block_count(r), 50);
    mt_reader_free(r);
    /* Abandoned with blocks queued: the thread stops, nothing leaks. */
    mt_writer *w;
    mt_writer_opts o = { .block_bytes = 256, .level = 0, .background = 1 };
    ck_assert_int_eq(mt_writer_open(a, &o, &w, NULL), 0);
    for (uint32_t i = 0; i < 5000; i++) {
        mt_object ob = { i, 1, 8, 0, 0, 0 };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &ob), 0);
    }
    mt_writer_abandon(w);
    free(da);
    free(db);
    unlink(a);
    unlink(b);
    free(a);
    free(b);
}
END_TEST

START_TEST(background_write_errors_are_sticky) {
    /* A file that may grow to 64 KiB only (Check forks each test, so the
     * limit stays in this one): the thread's write fails mid-stream. */
    struct rlimit lim = { 65536, 65536 };
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char *path = tmp_path();
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    mt_writer_opts o = { .block_bytes = 512, .level = 0, .background = 1 };
    ck_assert_int_eq(mt_writer_open(path, &o, &w, &d), 0);
    int got = 0;
    uint32_t i;
    for (i = 0; i < 1000000 && !got; i++) {
        mt_object ob = { i * 7919ull, 1, i, 0, 0, 0 };
        got = mt_writer_add(w, MT_KIND_OBJECT, &ob);
    }
    /* Sticky: the caller hears of it a few blocks later, then always. */
    ck_assert_int_eq(got, MT_E_IO);
    mt_object ob = { 1, 1, 1, 0, 0, 0 };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &ob), MT_E_IO);
    ck_assert_int_eq(mt_writer_close(w, &d), MT_E_IO);
    ck_assert_msg(strstr(d.msg, "cannot write at offset") && strstr(d.msg, "File too large"), "%s", d.msg);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(prefetch_gives_the_same_records_in_any_order) {
    char *path = tmp_path();
    mt_writer *w;
    mt_writer_opts o = { .block_bytes = 65536, .level = 0, .background = 0 }; /* 2 MiB in 32 blocks: enough to start the thread */
    ck_assert_int_eq(mt_writer_open(path, &o, &w, NULL), 0);
    for (uint32_t i = 0; i < 120000; i++) {
        mt_object ob = { i * 7ull, 1, i, 0, 0, 0 };
        mt_writer_add(w, MT_KIND_OBJECT, &ob);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_reader *r;
    ck_assert_int_eq(mt_reader_open(path, &r, NULL), 0);
    size_t nb = mt_reader_block_count(r);
    ck_assert_uint_gt(nb, 10);
    size_t *order = malloc(nb * sizeof *order);
    for (size_t i = 0; i < nb; i++) order[i] = i;
    ck_assert_int_eq(mt_reader_prefetch(r, order, nb), 0);
    /* Open in order but skip block 3, then go back to it: the prefetch
     * order is broken and opens fall back to decompressing in place. */
    for (size_t k = 0; k < nb; k++) {
        size_t i = k == 3 ? nb - 1 : k == nb - 1 ? 3 : k;
        mt_cursor c;
        ck_assert_int_eq(mt_reader_block_open(r, i, &c, NULL), 0);
        mt_object got;
        uint64_t seq = mt_reader_block(r, i)->first;
        while (mt_cursor_next(&c, &got, NULL) == 1) {
            ck_assert_uint_eq(got.id, seq * 7);
            ck_assert_uint_eq(got.size, seq);
            seq++;
        }
        ck_assert_uint_eq(seq, mt_reader_block(r, i)->first + mt_reader_block(r, i)->count);
    }
    order[0] = nb; /* out of range */
    ck_assert_int_eq(mt_reader_prefetch(r, order, nb), MT_E_INVAL);
    /* A new order replaces the old one; free stops the thread mid-way. */
    for (size_t i = 0; i < nb; i++) order[i] = nb - 1 - i;
    ck_assert_int_eq(mt_reader_prefetch(r, order, nb), 0);
    mt_cursor c;
    ck_assert_int_eq(mt_reader_block_open(r, nb - 1, &c, NULL), 0);
    mt_reader_free(r);
    free(order);
    unlink(path);
    free(path);
}
END_TEST

/* For every field of every kind: valid fields before it, then a value of
 * the wrong type; the error must name the field and both types. */
static void pack_valid(msgpack_packer *pk, int type) {
    switch (type) {
    case MT__F_U32: case MT__F_U64: msgpack_pack_uint32(pk, 1); break;
    case MT__F_F64: msgpack_pack_double(pk, 1.5); break;
    case MT__F_STR: msgpack_pack_str(pk, 1); msgpack_pack_str_body(pk, "s", 1); break;
    case MT__F_BIN: msgpack_pack_bin(pk, 1); msgpack_pack_bin_body(pk, "b", 1); break;
    case MT__F_VAL: msgpack_pack_int64(pk, -3); break;
    }
}

START_TEST(wrong_field_types_are_named) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    mt_record rec;
    char msg[200], want[200];
    int checked = 0;
    for (int kind = 1; kind <= MT_KIND_MAX; kind++) {
        const mt__kind_desc *d = mt__kind_schema(kind);
        for (unsigned i = 0; i < d->nfields; i++) {
            /* Two wrong values per field: one of another type, and nil. */
            for (int variant = 0; variant < 2; variant++) {
                unsigned req = 0;
                while (req < d->nfields && d->fields[req].required) req++;
                unsigned len = i + 1 > req ? i + 1 : req;
                sb.size = 0;
                msgpack_pack_array(&pk, len);
                for (unsigned k = 0; k < i; k++) pack_valid(&pk, d->fields[k].type);
                const char *found;
                int type = d->fields[i].type;
                if (variant == 1) {
                    msgpack_pack_nil(&pk);
                    found = "nil";
                } else if (type == MT__F_STR || type == MT__F_BIN || type == MT__F_VAL) {
                    msgpack_pack_array(&pk, 0);
                    found = "array";
                } else if (type == MT__F_F64) {
                    msgpack_pack_true(&pk);
                    found = "boolean";
                } else {
                    msgpack_pack_int32(&pk, -1);
                    found = "negative integer";
                }
                for (unsigned k = i + 1; k < len; k++) pack_valid(&pk, d->fields[k].type);
                const uint8_t *p = (const uint8_t *)sb.data;
                int rc = mt__record_decode(d, &p, p + sb.size, &rec.u, msg, sizeof msg);
                if (variant == 1 && (!d->fields[i].required || type == MT__F_VAL)) {
                    ck_assert_int_eq(rc, 0); /* nil: the default, or a nil value */
                    continue;
                }
                ck_assert_int_eq(rc, MT_E_RECORD);
                static const char *expected[] = { "an unsigned integer", "an unsigned integer", "a number",
                                                  "a string", "binary data", "a scalar" };
                snprintf(want, sizeof want, "field %s: expected %s, found %s%s", d->fields[i].name, expected[type],
                         found, variant == 1 ? " (the field is required)" : "");
                ck_assert_str_eq(msg, want);
                checked++;
            }
        }
    }
    ck_assert_int_gt(checked, 150);
    /* Integers are accepted for f64 fields. */
    sb.size = 0;
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "r", 1);
    msgpack_pack_int32(&pk, -4);
    const uint8_t *p = (const uint8_t *)sb.data;
    ck_assert_int_eq(mt__record_decode(mt__kind_schema(MT_KIND_SAMPLE), &p, p + sb.size, &rec.u, msg, sizeof msg), 0);
    ck_assert(rec.u.sample.value == -4.0);
    /* Not an array at all; a truncated field. */
    const uint8_t notarr[] = { 0xa1, 'x' }, cut[] = { 0x93, 0x01, 0xcd, 0x01 };
    p = notarr;
    ck_assert_int_eq(mt__record_decode(mt__kind_schema(MT_KIND_TYPE), &p, notarr + 2, &rec.u, msg, sizeof msg), MT_E_RECORD);
    ck_assert_str_eq(msg, "expected a record (an array), found string");
    p = cut;
    ck_assert_int_eq(mt__record_decode(mt__kind_schema(MT_KIND_OBJECT), &p, cut + 4, &rec.u, msg, sizeof msg), MT_E_MSGPACK);
    ck_assert_str_eq(msg, "field type is cut short or not msgpack");
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* Every encoding msgpack-c writes, cut at every byte before its end, is
 * refused without reading past the cut. */
START_TEST(mp_reader_refuses_every_cut_token) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    static char body[70000];
    size_t starts[64];
    int n = 0;
#define TOKEN(stmt) do { starts[n++] = sb.size; stmt; } while (0)
    TOKEN(msgpack_pack_uint8(&pk, 200));
    TOKEN(msgpack_pack_uint16(&pk, 60000));
    TOKEN(msgpack_pack_uint32(&pk, 4000000000u));
    TOKEN(msgpack_pack_uint64(&pk, UINT64_MAX));
    TOKEN(msgpack_pack_int8(&pk, -100));
    TOKEN(msgpack_pack_int16(&pk, -30000));
    TOKEN(msgpack_pack_int32(&pk, -2000000000));
    TOKEN(msgpack_pack_int64(&pk, INT64_MIN));
    TOKEN(msgpack_pack_float(&pk, 1.5f));
    TOKEN(msgpack_pack_double(&pk, 2.5));
    TOKEN((msgpack_pack_str(&pk, 40), msgpack_pack_str_body(&pk, body, 40)));
    TOKEN((msgpack_pack_str(&pk, 300), msgpack_pack_str_body(&pk, body, 300)));
    TOKEN((msgpack_pack_str(&pk, 66000), msgpack_pack_str_body(&pk, body, 66000)));
    TOKEN((msgpack_pack_bin(&pk, 10), msgpack_pack_bin_body(&pk, body, 10)));
    TOKEN((msgpack_pack_bin(&pk, 300), msgpack_pack_bin_body(&pk, body, 300)));
    TOKEN((msgpack_pack_bin(&pk, 66000), msgpack_pack_bin_body(&pk, body, 66000)));
    TOKEN(msgpack_pack_array(&pk, 300));
    TOKEN(msgpack_pack_array(&pk, 70000));
    TOKEN(msgpack_pack_map(&pk, 300));
    TOKEN(msgpack_pack_map(&pk, 70000));
    TOKEN((msgpack_pack_ext(&pk, 1, 1), msgpack_pack_ext_body(&pk, "a", 1)));
    TOKEN((msgpack_pack_ext(&pk, 3, 1), msgpack_pack_ext_body(&pk, "abc", 3)));
    TOKEN((msgpack_pack_ext(&pk, 300, 1), msgpack_pack_ext_body(&pk, body, 300)));
    TOKEN((msgpack_pack_ext(&pk, 66000, 1), msgpack_pack_ext_body(&pk, body, 66000)));
#undef TOKEN
    starts[n] = sb.size;
    int cuts = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *tok = (const uint8_t *)sb.data + starts[i];
        size_t full = starts[i + 1] - starts[i];
        /* An array or map header holds no elements: its token ends there. */
        mt__mptok t;
        const uint8_t *p = tok;
        ck_assert_int_eq(mt__mp_next(&p, tok + full, &t), 0);
        ck_assert_uint_eq((size_t)(p - tok), full);
        /* Cut it: a copy exactly that long, so an over-read would be seen by ASan. */
        size_t limit = full < 40 ? full : 6; /* long payloads: cutting the header is what matters */
        for (size_t len = 0; len < limit; len++) {
            uint8_t *copy = malloc(len ? len : 1);
            memcpy(copy, tok, len);
            p = copy;
            ck_assert_msg(mt__mp_next(&p, copy + len, &t) == MT_E_MSGPACK, "token %d cut at %zu", i, len);
            free(copy);
            cuts++;
        }
        if (full >= 40) { /* and one byte short of the end */
            uint8_t *copy = malloc(full - 1);
            memcpy(copy, tok, full - 1);
            p = copy;
            ck_assert_int_eq(mt__mp_next(&p, copy + full - 1, &t), MT_E_MSGPACK);
            free(copy);
        }
    }
    ck_assert_int_gt(cuts, 80);
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(writer_reports_a_full_disk) {
    /* /dev/full: every write fails with ENOSPC, as on a full disk. */
    mt_writer *w = (mt_writer *)1;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_writer_open("/dev/full", NULL, &w, &d), MT_E_IO);
    ck_assert_ptr_null(w);
    ck_assert_str_eq(d.msg, "cannot write at offset 0: No space left on device");
}
END_TEST

START_TEST(xxh64_check_values) {
    /* The xxHash reference's values for the empty string, "a" and "abc". */
    ck_assert_uint_eq(mt__xxh64("", 0, 0), 0xEF46DB3751D8E999ull);
    ck_assert_uint_eq(mt__xxh64("a", 1, 0), 0xD24EC4F1A98C6E5Bull);
    ck_assert_uint_eq(mt__xxh64("abc", 3, 0), 0x44BC2CF5AD770999ull);
}
END_TEST

START_TEST(payloads_past_the_ratio_bound_are_stored_raw) {
    /* 300000 equal references and a 1 MiB label compress far past
     * MT_MAX_RAW_RATIO, which readers refuse: the writer stores those
     * blocks as raw zstd blocks, so that what it writes is readable. */
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    mt_type ty = { 1, mt_str_c("dict") };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_TYPE, &ty), 0);
    mt_object o = { 1, 1, 8, 0, 0, 0 };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &o), 0);
    for (int i = 0; i < 300000; i++) {
        mt_ref r = { 0, 0, 0, { "", 0 } };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_REF, &r), 0);
    }
    char *big = malloc(1 << 20);
    memset(big, 'x', 1 << 20);
    mt_meta m = { mt_str_c("label"), { MT_VAL_STR, { .s = { big, 1 << 20 } } } };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_META, &m), 0);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_reader *r;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_msg(mt_reader_open(path, &r, &d) == 0, "%s", d.msg);
    uint64_t refs = 0, label = 0;
    int stored = 0;
    for (size_t b = 0; b < mt_reader_block_count(r); b++) {
        const mt_block_info *bi = mt_reader_block(r, b);
        ck_assert_uint_le(bi->raw, (uint64_t)bi->stored * MT_MAX_RAW_RATIO);
        if (bi->stored > bi->raw) stored++;
        mt_cursor c;
        ck_assert_msg(mt_reader_block_open(r, b, &c, &d) == 0, "block %zu: %s", b, d.msg);
        mt_record rec;
        int rc;
        while ((rc = mt_cursor_next(&c, &rec.u, &d)) == 1) {
            if (c.kind == MT_KIND_REF) refs++;
            if (c.kind == MT_KIND_META) label = rec.u.meta.value.v.s.len;
        }
        ck_assert_int_eq(rc, 0);
    }
    ck_assert_uint_eq(refs, 300000);
    ck_assert_uint_eq(label, 1 << 20);
    ck_assert_int_ge(stored, 2); /* the refs' block and the label's */
    mt_reader_free(r);
    free(big);
    unlink(path);
    free(path);
}
END_TEST

int main(void) {
    Suite *s = suite_create("format");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, every_kind_round_trips, 0, MT_KIND_MAX);
    tcase_add_test(tc, trailing_defaults_are_omitted_and_read_back);
    tcase_add_test(tc, mp_reader_agrees_with_msgpack_c);
    tcase_add_test(tc, mp_writer_agrees_with_msgpack_c);
    tcase_add_test(tc, fast_packers_agree_with_the_schema);
    tcase_add_test(tc, mp_reader_rejects_truncation_and_reserved_byte);
    tcase_add_test(tc, crc32_check_value);
    tcase_add_test(tc, error_table_is_consistent);
    tcase_add_test(tc, unknown_trailing_fields_and_kinds_are_skipped);
    tcase_add_test(tc, writer_reports_unwritable_path);
    tcase_add_test(tc, writer_memory_is_bounded_by_block_size);
    tcase_add_test(tc, prefetch_gives_the_same_records_in_any_order);
    tcase_add_test(tc, background_writer_writes_the_same_bytes);
    tcase_add_test(tc, background_write_errors_are_sticky);
    tcase_add_test(tc, wrong_field_types_are_named);
    tcase_add_test(tc, mp_reader_refuses_every_cut_token);
    tcase_add_test(tc, writer_reports_a_full_disk);
    tcase_add_test(tc, xxh64_check_values);
    tcase_add_test(tc, payloads_past_the_ratio_bound_are_stored_raw);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
