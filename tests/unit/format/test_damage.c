/* Damaged files: truncation at every block boundary and inside every
 * block, flipped bytes in the header, block headers, lengths and payloads,
 * bad msgpack inside a sound frame, empty files, wrong magic, a future
 * version, an unclosed file. Each case checks the exact error and that
 * salvage recovers exactly the blocks left intact, computed from the clean
 * file's block table and the records the test wrote. */
#include <msgpack.h>
#include <sys/resource.h>
#include <zstd.h>
#include "../helpers.h"
#include "memtrace/analyze.h"
#include "../../../formats/src/internal.h"

enum { NOBJ = 3000, NREF = 6000 };

static unsigned char *clean;   /* the intact file */
static size_t clean_size;
static mt_block_info blocks[512];
static size_t nblocks;
static uint64_t index_at;      /* offset of the index block */
static uint64_t obj_id[NOBJ];
static uint32_t ref_src[NREF], ref_dst[NREF];

static void build_fixture(void) {
    if (clean) return;
    char *path = tmp_path();
    mt_writer *w;
    mt_writer_opts o = { .block_bytes = 1024, .level = 0, .background = 0 };
    ck_assert_int_eq(mt_writer_open(path, &o, &w, NULL), 0);
    mt_writer_meta_str(w, "tool", "test_damage");
    const char *names[] = { "dict", "list", "Session" };
    for (uint32_t t = 0; t < 3; t++) {
        mt_type ty = { t + 1, mt_str_c(names[t]) };
        mt_writer_add(w, MT_KIND_TYPE, &ty);
    }
    uint32_t seed = 12345;
    for (uint32_t i = 0; i < NOBJ; i++) {
        obj_id[i] = 0x7f0000001000ull + 48ull * i;
        mt_object ob = { obj_id[i], i % 3 + 1, 40 + i % 100, 0, 0, 0 };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &ob), 0);
    }
    for (uint32_t k = 0; k < NREF; k++) {
        seed = seed * 1103515245u + 12345u;
        ref_src[k] = k / 2;
        ref_dst[k] = (seed >> 8) % NOBJ;
        mt_ref r = { ref_src[k], ref_dst[k], 0, mt_str_c(NULL) };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_REF, &r), 0);
    }
    mt_root root = { 0, mt_str_c("module"), mt_str_c("app") };
    mt_writer_add(w, MT_KIND_ROOT, &root);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    clean = slurp(path, &clean_size);
    unlink(path);
    free(path);
    mt_reader *r;
    ck_assert_int_eq(mt_reader_open_mem(clean, clean_size, "clean", &r, NULL), 0);
    ck_assert_uint_eq(mt_reader_damage_count(r), 0);
    nblocks = mt_reader_block_count(r);
    ck_assert_uint_gt(nblocks, 20);
    ck_assert_uint_lt(nblocks, 512);
    for (size_t i = 0; i < nblocks; i++) blocks[i] = *mt_reader_block(r, i);
    mt_reader_free(r);
    index_at = mt__le64(clean + clean_size - MT__TRAILER_SIZE);
}

/* What salvage should keep when the blocks marked in lost[] are gone:
 * objects of lost blocks become placeholders if a later object block
 * survives (or the index still lists them), references go with their
 * block, and references to objects past the last known one are dropped. */
typedef struct expect {
    uint64_t objects, lost_objects, refs, dropped;
} expect;

static expect expected(const int *lost, const int *known) {
    expect e = { 0, 0, 0, 0 };
    uint64_t n = 0;
    for (size_t i = 0; i < nblocks; i++)
        if (blocks[i].kind == MT_KIND_OBJECT && (known ? known[i] : !lost[i]))
            if (blocks[i].first + blocks[i].count > n) n = blocks[i].first + blocks[i].count;
    e.objects = n;
    for (size_t i = 0; i < nblocks; i++)
        if (blocks[i].kind == MT_KIND_OBJECT && lost[i] && blocks[i].first < n) e.lost_objects += blocks[i].count;
    for (size_t i = 0; i < nblocks; i++) {
        if (blocks[i].kind != MT_KIND_REF || lost[i]) continue;
        for (uint64_t k = blocks[i].first; k < blocks[i].first + blocks[i].count; k++) {
            if (ref_src[k] < n && ref_dst[k] < n) e.refs++;
            else e.dropped++;
        }
    }
    return e;
}

static const int all_known[512] = { [0 ... 511] = 1 };

/* Loads data both ways: strict must fail naming want_block (or -1 for
 * any), salvage must match e, and every surviving object and reference
 * must be one the test wrote, at its index. */
static void check_salvage(const unsigned char *data, size_t n, int64_t want_block, int want_kind, expect e) {
    mt_snapshot *s;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_load_mem(data, n, "t", MT_LOAD_REFS, &s, &d), MT_E_DAMAGED);
    if (want_block >= 0) {
        ck_assert_int_eq(d.block, want_block);
        ck_assert_int_eq(d.offset, (int64_t)blocks[want_block].offset);
    }
    if (want_kind) ck_assert_int_eq(d.kind, want_kind);
    ck_assert(d.msg[0] != 0);

    ck_assert_int_eq(mt_snapshot_load_mem(data, n, "t", MT_LOAD_REFS | MT_LOAD_SALVAGE, &s, &d), 0);
    const mt_graph *g = mt_snapshot_graph(s);
    ck_assert_uint_eq(g->n_objects, e.objects);
    ck_assert_uint_eq(mt_snapshot_lost_objects(s), e.lost_objects);
    ck_assert_uint_eq(g->n_refs, e.refs);
    ck_assert_uint_eq(mt_snapshot_dropped_refs(s), e.dropped);
    ck_assert_uint_ge(mt_snapshot_damage_count(s), 1);
    for (uint32_t i = 0; i < g->n_objects; i++)
        if (!(g->flags[i] & MT_OBJ_LOST)) ck_assert_uint_eq(g->id[i], obj_id[i]);
    for (uint32_t u = 0; u < g->n_objects; u++)
        for (uint32_t k = g->out_off[u]; k < g->out_off[u + 1]; k++) {
            /* ref k/2 pairs: sources were written as k/2, so edge (u, v)
             * must be one of refs 2u and 2u+1. */
            uint32_t v = g->out_dst[k];
            ck_assert(ref_dst[2 * u] == v || ref_dst[2 * u + 1] == v);
        }
    mt_snapshot_free(s);
}

START_TEST(clean_file_loads_whole) {
    build_fixture();
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load_mem(clean, clean_size, "t", MT_LOAD_REFS, &s, NULL), 0);
    ck_assert_uint_eq(mt_snapshot_graph(s)->n_objects, NOBJ);
    ck_assert_uint_eq(mt_snapshot_graph(s)->n_refs, NREF);
    ck_assert_uint_eq(mt_snapshot_damage_count(s), 0);
    mt_snapshot_free(s);
}
END_TEST

START_TEST(truncated_at_every_block_boundary) {
    build_fixture();
    int lost[512] = { 0 };
    for (size_t k = 0; k <= nblocks; k++) {
        uint64_t cut = k < nblocks ? blocks[k].offset : index_at;
        memset(lost, 0, sizeof lost);
        for (size_t i = k; i < nblocks; i++) lost[i] = 1;
        mt_reader *r;
        ck_assert_int_eq(mt_reader_open_mem(clean, cut, "t", &r, NULL), 0);
        ck_assert_uint_eq(mt_reader_block_count(r), k);
        ck_assert_uint_eq(mt_reader_damage_count(r), 1);
        ck_assert_int_eq(mt_reader_damage(r, 0)->code, MT_E_TRUNCATED);
        ck_assert_str_eq(mt_reader_damage(r, 0)->msg,
                         "no index at the end: the file was not closed (its writer is still writing it, or stopped or crashed)");
        mt_reader_free(r);
        check_salvage(clean, cut, -1, 0, expected(lost, NULL));
    }
    /* Cut inside the trailer: everything is still there. */
    memset(lost, 0, sizeof lost);
    check_salvage(clean, clean_size - 5, -1, 0, expected(lost, NULL));
}
END_TEST

START_TEST(truncated_inside_every_block) {
    build_fixture();
    int lost[512];
    for (size_t k = 0; k < nblocks; k++) {
        uint64_t cuts[] = { blocks[k].offset + 10, blocks[k].offset + 36 + blocks[k].stored / 2 };
        for (int c = 0; c < 2; c++) {
            memset(lost, 0, sizeof lost);
            for (size_t i = k; i < nblocks; i++) lost[i] = 1;
            mt_reader *r;
            ck_assert_int_eq(mt_reader_open_mem(clean, cuts[c], "t", &r, NULL), 0);
            const mt_damage *d = mt_reader_damage(r, 0);
            ck_assert_int_eq(d->code, MT_E_TRUNCATED);
            ck_assert_uint_eq(d->offset, blocks[k].offset);
            if (c == 1) { /* the header survived: the loss is known exactly */
                ck_assert_int_eq(d->block, (int64_t)k);
                ck_assert_int_eq(d->kind, blocks[k].kind);
                ck_assert_uint_eq(d->records, blocks[k].count);
                ck_assert_uint_eq(d->first, blocks[k].first);
            } else
                ck_assert_str_eq(d->msg, "file ends inside a block header (10 of 36 bytes)");
            mt_reader_free(r);
            /* A cut block whose header survived still tells its place. */
            int known[512] = { 0 };
            for (size_t i = 0; i < k + (c == 1); i++) known[i] = 1;
            expect e = expected(lost, known);
            check_salvage(clean, cuts[c], c == 1 ? (int64_t)k : -1, c == 1 ? blocks[k].kind : 0, e);
        }
    }
}
END_TEST

START_TEST(flipped_byte_in_every_block_header) {
    build_fixture();
    unsigned char *d = malloc(clean_size);
    int lost[512];
    for (size_t k = 0; k < nblocks; k++) {
        /* The marker, the kind, the count, the first record, the sizes, the CRC. */
        int at[] = { 3, 8, 13, 17, 25, 29, 33 };
        for (int j = 0; j < 7; j++) {
            memcpy(d, clean, clean_size);
            d[blocks[k].offset + (uint64_t)at[j]] ^= 0x40;
            memset(lost, 0, sizeof lost);
            lost[k] = 1;
            mt_reader *r;
            ck_assert_int_eq(mt_reader_open_mem(d, clean_size, "t", &r, NULL), 0);
            ck_assert_uint_eq(mt_reader_damage_count(r), 1);
            const mt_damage *dm = mt_reader_damage(r, 0);
            ck_assert_int_eq(dm->code, at[j] < 8 ? MT_E_CORRUPT : MT_E_CHECKSUM);
            ck_assert_int_eq(dm->block, (int64_t)k);
            ck_assert_int_eq(dm->kind, blocks[k].kind); /* from the index */
            ck_assert_uint_eq(dm->records, blocks[k].count);
            mt_reader_free(r);
            /* The index keeps the lost objects' places. */
            check_salvage(d, clean_size, (int64_t)k, blocks[k].kind, expected(lost, all_known));
        }
    }
    free(d);
}
END_TEST

START_TEST(flipped_byte_in_every_payload) {
    build_fixture();
    unsigned char *d = malloc(clean_size);
    int lost[512];
    for (size_t k = 0; k < nblocks; k++) {
        memcpy(d, clean, clean_size);
        d[blocks[k].offset + 36 + blocks[k].stored / 2] ^= 0x01;
        memset(lost, 0, sizeof lost);
        lost[k] = 1;
        check_salvage(d, clean_size, (int64_t)k, blocks[k].kind, expected(lost, all_known));
        mt_reader *r;
        ck_assert_int_eq(mt_reader_open_mem(d, clean_size, "t", &r, NULL), 0);
        mt_cursor c;
        mt_diag dg;
        mt_diag_clear(&dg);
        int rc = mt_reader_block_open(r, k, &c, &dg);
        ck_assert(rc == MT_E_CHECKSUM || rc == MT_E_CORRUPT);
        ck_assert_int_eq(dg.block, (int64_t)k);
        ck_assert_int_eq(dg.offset, (int64_t)blocks[k].offset);
        mt_reader_free(r);
    }
    free(d);
}
END_TEST

START_TEST(length_that_lies) {
    build_fixture();
    unsigned char *d = malloc(clean_size);
    size_t k = nblocks / 2;
    /* A stored size one short, with the header CRC made to match. */
    memcpy(d, clean, clean_size);
    uint8_t *h = d + blocks[k].offset;
    mt__put32(h + 24, blocks[k].stored - 1);
    mt__put32(h + 32, mt__crc32(h, 32));
    mt_reader *r;
    /* The header and the index disagree, and either may lie: the reader
     * believes the sound header over the index and scans (SPEC.md 5). */
    char want[200];
    snprintf(want, sizeof want, "index: entry %zu says stored %u, the block header at offset %llu says %u; scanning instead",
             k, blocks[k].stored, (unsigned long long)blocks[k].offset, blocks[k].stored - 1);
    ck_assert_int_eq(mt_reader_open_mem(d, clean_size, "t", &r, NULL), 0);
    ck_assert_str_eq(mt_reader_damage(r, 0)->msg, want);
    mt_reader_free(r);
    int lost[512] = { 0 };
    lost[k] = 1;
    check_salvage(d, clean_size, -1, 0, expected(lost, all_known));
    /* Scanning, with the index or without it: block k's frame is cut, one
     * stray byte follows it, and the scan resynchronizes after it. */
    ck_assert_int_eq(mt_reader_open_mem(d, index_at, "t", &r, NULL), 0);
    ck_assert_uint_eq(mt_reader_block_count(r), nblocks + 1);
    const mt_damage *dm = mt_reader_damage(r, 0);
    ck_assert_int_eq(dm->code, MT_E_CORRUPT);
    ck_assert_uint_eq(dm->offset, blocks[k].offset + 36 + blocks[k].stored - 1);
    ck_assert_uint_eq(dm->length, 1);
    mt_cursor c;
    ck_assert_int_ne(mt_reader_block_open(r, k, &c, NULL), 0);
    mt_reader_free(r);
    free(d);
}
END_TEST

START_TEST(bad_msgpack_in_a_sound_frame) {
    build_fixture();
    size_t k = 0;
    while (blocks[k].kind != MT_KIND_OBJECT) k++;
    k++; /* the second objects block */
    ck_assert_int_eq(blocks[k].kind, MT_KIND_OBJECT);
    /* Its payload with the 3rd byte made 0xc1 (never used), recompressed,
     * with a header to match; the file then has no index (scan). */
    size_t raw = blocks[k].raw;
    uint8_t *payload = malloc(raw);
    ck_assert_uint_eq(ZSTD_decompress(payload, raw, clean + blocks[k].offset + 36, blocks[k].stored), raw);
    payload[0] = 0xc1; /* the first record's array header */
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    size_t cap = ZSTD_compressBound(raw);
    uint8_t *z = malloc(cap);
    size_t zn = ZSTD_compress2(cc, z, cap, payload, raw);
    ck_assert(!ZSTD_isError(zn));
    ZSTD_freeCCtx(cc);
    size_t tail_from = blocks[k].offset + 36 + blocks[k].stored;
    size_t n = blocks[k].offset + 36 + zn + (index_at - tail_from);
    uint8_t *d = malloc(n);
    memcpy(d, clean, blocks[k].offset);
    mt__bhdr hb = { MT_KIND_OBJECT, 0, blocks[k].count, blocks[k].first, (uint32_t)zn, (uint32_t)raw };
    mt__bhdr_put(d + blocks[k].offset, &hb);
    memcpy(d + blocks[k].offset + 36, z, zn);
    memcpy(d + blocks[k].offset + 36 + zn, clean + tail_from, index_at - tail_from);
    mt_snapshot *s;
    mt_diag dg;
    mt_diag_clear(&dg);
    ck_assert_int_eq(mt_snapshot_load_mem(d, n, "t", MT_LOAD_REFS, &s, &dg), MT_E_DAMAGED);
    ck_assert_str_eq(dg.msg, "no index at the end: the file was not closed (its writer is still writing it, or stopped or crashed)");
    ck_assert_int_eq(mt_snapshot_load_mem(d, n, "t", MT_LOAD_REFS | MT_LOAD_SALVAGE, &s, &dg), 0);
    ck_assert_uint_eq(mt_snapshot_lost_objects(s), blocks[k].count);
    ck_assert_uint_eq(mt_snapshot_graph(s)->n_objects, NOBJ);
    int found = 0;
    for (size_t i = 0; i < mt_snapshot_damage_count(s); i++) {
        const mt_damage *dm = mt_snapshot_damage(s, i);
        if (dm->code == MT_E_MSGPACK) {
            found = 1;
            ck_assert_int_eq(dm->block, (int64_t)k);
            ck_assert_int_eq(dm->kind, MT_KIND_OBJECT);
            ck_assert_uint_eq(dm->records, blocks[k].count);
        }
    }
    ck_assert(found);
    mt_snapshot_free(s);
    free(d);
    free(z);
    free(payload);
}
END_TEST

START_TEST(header_damage) {
    build_fixture();
    mt_reader *r;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_reader_open_mem(clean, 0, "t", &r, &d), MT_E_NOTSNAP);
    ck_assert_str_eq(d.msg, "empty file, not a memtrace snapshot");
    unsigned char *c = malloc(clean_size);
    memcpy(c, clean, clean_size);
    c[1] = 'X';
    ck_assert_int_eq(mt_reader_open_mem(c, clean_size, "t", &r, &d), MT_E_NOTSNAP);
    ck_assert_str_eq(d.msg, "not a memtrace snapshot (bad magic)");
    memcpy(c, clean, clean_size);
    c[8] = 2; /* major version 2 */
    c[10] = 3;
    ck_assert_int_eq(mt_reader_open_mem(c, clean_size, "t", &r, &d), MT_E_VERSION);
    char want[80];
    snprintf(want, sizeof want, "format version 2.3 is newer than this reader's 1.%d", MT_FORMAT_MINOR);
    ck_assert_str_eq(d.msg, want);
    memcpy(c, clean, clean_size);
    c[10] = 9; /* a newer minor version is read */
    ck_assert_int_eq(mt_reader_open_mem(c, clean_size, "t", &r, &d), 0);
    unsigned major, minor;
    mt_reader_version(r, &major, &minor);
    ck_assert_uint_eq(minor, 9);
    mt_reader_free(r);
    ck_assert_int_eq(mt_reader_open_mem(clean, 11, "t", &r, &d), MT_E_TRUNCATED);
    ck_assert_str_eq(d.msg, "file ends inside the header (11 of 16 bytes)");
    ck_assert_int_eq(mt_reader_open_mem("hello", 5, "t", &r, &d), MT_E_NOTSNAP);
    free(c);
}
END_TEST

START_TEST(trailer_and_index_damage_fall_back_to_scanning) {
    build_fixture();
    unsigned char *c = malloc(clean_size);
    /* A flipped index offset: the trailer CRC catches it. */
    memcpy(c, clean, clean_size);
    c[clean_size - MT__TRAILER_SIZE] ^= 1;
    mt_snapshot *s;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_load_mem(c, clean_size, "t", 0, &s, &d), MT_E_DAMAGED);
    ck_assert_str_eq(d.msg, "trailer checksum mismatch; scanning instead");
    int lost[512] = { 0 };
    check_salvage(c, clean_size, -1, 0, expected(lost, NULL));
    /* A flipped byte in the index payload. */
    memcpy(c, clean, clean_size);
    c[index_at + 36 + mt__le32(clean + index_at + 24) / 2] ^= 0x10;
    ck_assert_int_eq(mt_snapshot_load_mem(c, clean_size, "t", 0, &s, &d), MT_E_DAMAGED);
    ck_assert_ptr_nonnull(strstr(d.msg, "index: "));
    check_salvage(c, clean_size, -1, 0, expected(lost, NULL));
    free(c);
}
END_TEST

START_TEST(unclosed_file_keeps_every_flushed_record) {
    char *path = tmp_path();
    mt_writer *w;
    /* A recorder that flushes step by step publishes at its first flush. */
    mt_writer_opts wo = { .publish_on_flush = 1 };
    ck_assert_int_eq(mt_writer_open(path, &wo, &w, NULL), 0);
    mt_type ty = { 1, mt_str_c("dict") };
    mt_writer_add(w, MT_KIND_TYPE, &ty);
    for (uint32_t i = 0; i < 100; i++) {
        mt_object o = { i + 1, 1, 64, 0, 0, 0 };
        mt_writer_add(w, MT_KIND_OBJECT, &o);
    }
    ck_assert_int_eq(mt_writer_flush(w), 0);
    for (uint32_t i = 0; i < 50; i++) { /* never flushed: lost in the "crash" */
        mt_object o = { 1000 + i, 1, 64, 0, 0, 0 };
        mt_writer_add(w, MT_KIND_OBJECT, &o);
    }
    mt_writer_abandon(w);
    mt_snapshot *s;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, &d), MT_E_DAMAGED);
    ck_assert_int_eq(mt_snapshot_load(path, MT_LOAD_SALVAGE, &s, &d), 0);
    ck_assert_uint_eq(mt_snapshot_graph(s)->n_objects, 100);
    ck_assert_uint_eq(mt_snapshot_graph(s)->id[99], 100);
    mt_snapshot_free(s);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(random_flips_never_invent_data) {
    build_fixture();
    unsigned char *c = malloc(clean_size);
    uint32_t seed = 99;
    for (int round = 0; round < 300; round++) {
        memcpy(c, clean, clean_size);
        int flips = 1 + round % 4;
        for (int f = 0; f < flips; f++) {
            seed = seed * 1664525u + 1013904223u;
            c[seed % clean_size] ^= (uint8_t)(1u << (seed >> 29));
        }
        mt_snapshot *s;
        if (mt_snapshot_load_mem(c, clean_size, "t", MT_LOAD_REFS | MT_LOAD_SALVAGE, &s, NULL) != 0) continue;
        const mt_graph *g = mt_snapshot_graph(s);
        ck_assert_uint_le(g->n_objects, NOBJ);
        for (uint32_t i = 0; i < g->n_objects; i++)
            if (!(g->flags[i] & MT_OBJ_LOST)) ck_assert_uint_eq(g->id[i], obj_id[i]);
        for (uint32_t u = 0; u < g->n_objects; u++)
            for (uint32_t k = g->out_off[u]; k < g->out_off[u + 1]; k++)
                ck_assert(ref_dst[2 * u] == g->out_dst[k] || ref_dst[2 * u + 1] == g->out_dst[k]);
        mt_snapshot_free(s);
    }
    free(c);
}
END_TEST

/* ---- hand-built files: a header, then blocks as given, no index ---- */

typedef struct craft {
    uint16_t kind;
    uint32_t count;
    uint64_t first;
    const void *payload; /* msgpack records */
    size_t size;
    int checksum;        /* the zstd content checksum flag */
    int64_t raw_delta;   /* added to the header's raw size */
    int not_zstd;        /* the payload as is, not compressed */
} craft;

static size_t build(uint8_t *out, const craft *list, int n) {
    memcpy(out, MT__MAGIC, 8);
    mt__put16(out + 8, 1);
    mt__put16(out + 10, 0);
    mt__put32(out + 12, 0);
    size_t at = 16;
    for (int i = 0; i < n; i++) {
        const craft *c = &list[i];
        size_t zn;
        if (c->not_zstd) {
            memcpy(out + at + 36, c->payload, c->size);
            zn = c->size;
        } else {
            ZSTD_CCtx *cc = ZSTD_createCCtx();
            ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, c->checksum);
            zn = ZSTD_compress2(cc, out + at + 36, 4096, c->payload, c->size);
            ck_assert(!ZSTD_isError(zn));
            ZSTD_freeCCtx(cc);
        }
        mt__bhdr h = { c->kind, 0, c->count, c->first, (uint32_t)zn, (uint32_t)((int64_t)c->size + c->raw_delta) };
        mt__bhdr_put(out + at, &h);
        at += 36 + zn;
    }
    return at;
}

static int open_block0(const uint8_t *data, size_t n, mt_diag *d) {
    mt_reader *r;
    ck_assert_int_eq(mt_reader_open_mem(data, n, "t", &r, NULL), 0);
    mt_cursor c;
    mt_record rec;
    mt_diag_clear(d);
    int rc = mt_reader_block_open(r, 0, &c, d);
    if (!rc) {
        int k;
        while ((k = mt_cursor_next(&c, &rec.u, d)) == 1) {}
        rc = k;
    }
    mt_reader_free(r);
    return rc;
}

START_TEST(payload_rules_of_the_spec) {
    static uint8_t buf[65536];
    const uint8_t two_types[] = { 0x92, 0x01, 0xa1, 'a', 0x92, 0x02, 0xa1, 'b' };
    const uint8_t long_type[] = { 0x92, 0x01, 0xa6, 'a', 'b', 'c', 'd', 'e', 'f' };
    const uint8_t reserved_rec[] = { 0x92, 0x01, 0xa1, 'a', 0xc1, 0x01, 0xa1, 'b' };
    const uint8_t reserved_field[] = { 0x92, 0x01, 0xa1, 'a', 0x92, 0xc1, 0xa1, 'b' };
    mt_diag d;
    struct { craft c; int code; const char *msg; } cases[] = {
        { { MT_KIND_TYPE, 2, 0, two_types, 8, 0, 0, 0 }, MT_E_CORRUPT, "zstd frame has no content checksum" },
        { { MT_KIND_TYPE, 2, 0, two_types, 8, 1, 1, 0 }, MT_E_CORRUPT, "zstd frame holds 8 bytes, the block header says 9" },
        { { MT_KIND_TYPE, 2, 0, two_types, 8, 1, (256 << 20), 0 }, MT_E_LIMIT, "raw size 268435464 exceeds the 256 MiB limit" },
        { { MT_KIND_TYPE, 2, 0, two_types, 8, 1, 0, 1 }, MT_E_CORRUPT, "payload is not a zstd frame" },
        { { MT_KIND_TYPE, 1, 0, two_types, 8, 1, 0, 0 }, MT_E_CORRUPT, "4 bytes follow the last of its 1 records" },
        { { MT_KIND_TYPE, 3, 0, two_types, 8, 1, 0, 0 }, MT_E_CORRUPT, "3 records cannot fit in 8 raw bytes (a record takes at least 3)" },
        { { MT_KIND_TYPE, 3, 0, long_type, 9, 1, 0, 0 }, MT_E_CORRUPT, "payload ends after 1 of its 3 records" },
        { { MT_KIND_TYPE, 2, 0, two_types, 7, 1, 0, 0 }, MT_E_MSGPACK, "record 1 (payload byte 4): field name is cut short or not msgpack" },
        { { MT_KIND_TYPE, 2, 0, reserved_rec, 8, 1, 0, 0 }, MT_E_MSGPACK, "record 1 (payload byte 4): expected a record (an array), found byte 0xc1, which msgpack never uses" },
        { { MT_KIND_TYPE, 2, 0, reserved_field, 8, 1, 0, 0 }, MT_E_MSGPACK, "record 1 (payload byte 4): field id: expected an unsigned integer, found byte 0xc1, which msgpack never uses" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = build(buf, &cases[i].c, 1);
        ck_assert_int_eq(open_block0(buf, n, &d), cases[i].code);
        ck_assert_str_eq(d.msg, cases[i].msg);
        ck_assert_int_eq(d.block, 0);
        ck_assert_int_eq(d.offset, 16);
        ck_assert_int_eq(d.kind, MT_KIND_TYPE);
    }
    /* A frame that does not declare its size: ZSTD_CONTENTSIZE_UNKNOWN is
     * not a size (it was printed as 18446744073709551615 bytes). */
    {
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
        uint8_t z[256];
        ZSTD_outBuffer out = { z, sizeof z, 0 };
        ZSTD_inBuffer in = { two_types, 8, 0 };
        ck_assert_uint_eq(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end), 0);
        ZSTD_freeCCtx(cc);
        craft c = { MT_KIND_TYPE, 2, 0, z, out.pos, 1, 0, 1 };
        size_t n = build(buf, &c, 1);
        mt__bhdr h = { MT_KIND_TYPE, 0, 2, 0, (uint32_t)out.pos, 8 };
        mt__bhdr_put(buf + 16, &h);
        ck_assert_int_eq(open_block0(buf, n, &d), MT_E_CORRUPT);
        ck_assert_str_eq(d.msg, "zstd frame does not declare its size, the block header says 8 bytes");
    }
    /* The good one, for contrast. */
    craft ok = { MT_KIND_TYPE, 2, 0, two_types, 8, 1, 0, 0 };
    size_t n = build(buf, &ok, 1);
    ck_assert_int_eq(open_block0(buf, n, &d), 0);
}
END_TEST

/* ---- hostile files (testdata/hostile.py): sound containers whose
 * numbers lie. Each must end in the error below, strict, and in a salvage
 * that keeps nothing it cannot place, with memory in proportion to the
 * file (these cost 1.5 GB to 48 GiB, or crashed, before). ---- */

static long maxrss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

START_TEST(hostile_numbers_are_refused_in_bounded_memory) {
    static const struct { const char *file; int64_t block; const char *msg; uint32_t salvage_objects; } cases[] = {
        { "first-wraps.snap", 2, "first record 18446744073709551615 is past the 2147483647 objects a file may hold", 0 },
        { "gap-2p26.snap", 2, "first record 67108864 does not follow the objects before it, which end at record 0", 0 },
        { "gap-2p31.snap", 2, "first record 2147483645 does not follow the objects before it, which end at record 0", 0 },
        { "amplified.snap", 1, "raw size 33554432 is more than 256 times its stored size 2834, the bound on a block's compression", 0 },
        { "duplicate-id.snap", 2, "record 2: object 2 has id 0x1000, as object 0 does: an id names one object", 3 },
    };
    long before = maxrss_kib();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/testdata/damaged/%s", MT_SOURCE_DIR, cases[i].file);
        mt_snapshot *s;
        mt_diag d;
        mt_diag_clear(&d);
        ck_assert_int_eq(mt_snapshot_load(path, MT_LOAD_REFS, &s, &d), MT_E_DAMAGED);
        ck_assert_str_eq(d.msg, cases[i].msg);
        ck_assert_int_eq(d.block, cases[i].block);
        ck_assert_int_eq(d.kind, MT_KIND_OBJECT);
        mt_diag_clear(&d);
        ck_assert_int_eq(mt_snapshot_load(path, MT_LOAD_REFS | MT_LOAD_SALVAGE, &s, &d), 0);
        const mt_graph *g = mt_snapshot_graph(s);
        ck_assert_uint_eq(g->n_objects, cases[i].salvage_objects);
        for (uint32_t k = 0; k < g->n_objects; k++) ck_assert(g->flags[k] & MT_OBJ_LOST);
        ck_assert_uint_ge(mt_snapshot_damage_count(s), 1);
        ck_assert_str_eq(mt_snapshot_damage(s, mt_snapshot_damage_count(s) - 1)->msg, cases[i].msg);
        mt_snapshot_free(s);
    }
    /* Files of a few hundred bytes to 3 KB: a few MiB at most, not GiB. */
    ck_assert_int_lt(maxrss_kib() - before, 32 * 1024);
}
END_TEST

/* A gap between objects blocks is placeholders only as far as the damage
 * between them can have held objects (SPEC.md 6.1). */
START_TEST(gap_is_bounded_by_the_damage_before_it) {
    static uint8_t buf[65536];
    const uint8_t types[] = { 0x92, 0x01, 0xa1, 'a' };
    uint8_t objs[40], later[40]; /* ids 0..9 and 64..73 */
    for (int i = 0; i < 10; i++) {
        objs[4 * i] = later[4 * i] = 0x93;
        objs[4 * i + 1] = (uint8_t)i;
        later[4 * i + 1] = (uint8_t)(64 + i);
        objs[4 * i + 2] = later[4 * i + 2] = 0x01;
        objs[4 * i + 3] = later[4 * i + 3] = 0x10;
    }
    /* Objects 0..9, then objects 1000..1009: between them 40 bytes of
     * garbage can hold (40 - 36) * 256 / 4 = 256 objects, not 990. */
    craft two[] = { { MT_KIND_TYPE, 1, 0, types, 4, 1, 0, 0 }, { MT_KIND_OBJECT, 10, 0, objs, 40, 1, 0, 0 } };
    size_t n = build(buf, two, 2);
    memset(buf + n, 0x55, 40);
    n += 40;
    craft late = { MT_KIND_OBJECT, 10, 1000, later, 40, 1, 0, 0 };
    uint8_t tmp[4096];
    size_t m = build(tmp, &late, 1);
    memcpy(buf + n, tmp + 16, m - 16);
    n += m - 16;
    mt_snapshot *s;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_load_mem(buf, n, "gap", MT_LOAD_REFS | MT_LOAD_SALVAGE, &s, &d), 0);
    ck_assert_uint_eq(mt_snapshot_graph(s)->n_objects, 10);
    const mt_damage *last = mt_snapshot_damage(s, mt_snapshot_damage_count(s) - 1);
    ck_assert_str_eq(last->msg, "first record 1000 leaves a gap of 990 objects after record 10; the damage before it "
                                "can hold at most 256");
    mt_snapshot_free(s);
    /* The same gap of 60 objects is placeholders. */
    craft near = { MT_KIND_OBJECT, 10, 70, later, 40, 1, 0, 0 };
    m = build(tmp, &near, 1);
    memcpy(buf + n - (m - 16), tmp + 16, m - 16);
    ck_assert_int_eq(mt_snapshot_load_mem(buf, n, "gap", MT_LOAD_REFS | MT_LOAD_SALVAGE, &s, &d), 0);
    ck_assert_uint_eq(mt_snapshot_graph(s)->n_objects, 80);
    ck_assert_uint_eq(mt_snapshot_lost_objects(s), 60);
    mt_snapshot_free(s);
}
END_TEST

/* A snapshot cut short while a tool holds it open: the loaded snapshot
 * reads its other kinds from the reader later (mt_snapshot_each). With
 * the file mapped, that read raised SIGBUS (exit 135); read whole, it
 * reads what was there when it was opened. */
static int count_rec(void *arg, const void *rec) {
    (void)rec;
    ++*(int *)arg;
    return 0;
}

/* A follower reads a file while its writer is writing it (SPEC.md 3.4):
 * whatever prefix of a block the writer has got out so far is not yet
 * written, not damage, under mt_reader_open_growing and MT_LOAD_GROWING,
 * at every length of that prefix; the plain open still calls it damage. */
START_TEST(growing_file_leaves_out_the_block_being_written) {
    char *path = tmp_path();
    mt_writer *w;
    mt_writer_opts wo = { .publish_on_flush = 1 };
    ck_assert_int_eq(mt_writer_open(path, &wo, &w, NULL), 0);
    for (uint32_t i = 0; i < 10; i++) {
        mt_sample sm = { i * 1000, mt_str_c("rss"), 1e6 + i, mt_str_c(NULL), 0, 0, 0, 0 };
        mt_writer_add(w, MT_KIND_SAMPLE, &sm);
    }
    ck_assert_int_eq(mt_writer_flush(w), 0);
    mt_event ev = { 5000, mt_str_c("step"), mt_str_c("load"), 0, mt_str_c(NULL) };
    mt_writer_add(w, MT_KIND_EVENT, &ev);
    ck_assert_int_eq(mt_writer_flush(w), 0);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static unsigned char whole[4096];
    size_t n = fread(whole, 1, sizeof whole, f);
    fclose(f);
    mt_writer_abandon(w);
    /* The second block (the event) starts where the first one ends. */
    mt_reader *r;
    ck_assert_int_eq(mt_reader_open_growing(path, &r, NULL), 0);
    ck_assert_uint_eq(mt_reader_block_count(r), 2);
    ck_assert_uint_eq(mt_reader_damage_count(r), 0);
    ck_assert_uint_eq(mt_reader_pending(r), 0);
    ck_assert_int_eq(mt_reader_closed(r), 0);
    size_t second = mt_reader_block(r, 1)->offset;
    mt_reader_free(r);
    for (size_t cut = second + 1; cut < n; cut++) {
        FILE *g = fopen(path, "wb");
        ck_assert_uint_eq(fwrite(whole, 1, cut, g), cut);
        fclose(g);
        ck_assert_int_eq(mt_reader_open_growing(path, &r, NULL), 0);
        ck_assert_uint_eq(mt_reader_block_count(r), 1);
        ck_assert_uint_eq(mt_reader_damage_count(r), 0);
        ck_assert_uint_eq(mt_reader_pending(r), cut - second);
        mt_reader_free(r);
        mt_snapshot *s;
        mt_diag d;
        mt_diag_clear(&d);
        ck_assert_int_eq(mt_snapshot_load(path, 0, &s, &d), MT_E_DAMAGED);
        ck_assert_int_eq(mt_snapshot_load(path, MT_LOAD_GROWING, &s, &d), 0);
        ck_assert_uint_eq(mt_snapshot_count(s, MT_KIND_SAMPLE), 10);
        ck_assert_uint_eq(mt_snapshot_count(s, MT_KIND_EVENT), 0);
        ck_assert_uint_eq(mt_snapshot_pending(s), cut - second);
        ck_assert_int_eq(mt_snapshot_closed(s), 0);
        mt_snapshot_free(s);
    }
    /* Damage before the end is still damage. */
    FILE *g = fopen(path, "wb");
    whole[40] ^= 0x55; /* inside the first block's header */
    fwrite(whole, 1, n, g);
    fclose(g);
    ck_assert_int_eq(mt_reader_open_growing(path, &r, NULL), 0);
    ck_assert_uint_gt(mt_reader_damage_count(r), 0);
    mt_reader_free(r);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(file_cut_short_while_open_is_no_sigbus) {
    build_fixture();
    char *path = tmp_path();
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(clean, 1, clean_size, f), clean_size);
    fclose(f);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(path, MT_LOAD_REFS, &s, NULL), 0);
    ck_assert_int_eq(truncate(path, 0), 0);
    int n = 0;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_each(s, MT_KIND_ROOT, count_rec, &n, &d), 0);
    ck_assert_int_eq(n, 1);
    mt_snapshot_free(s);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(kinds_from_a_newer_writer_are_skipped_and_counted) {
    static uint8_t buf[65536];
    const uint8_t type[] = { 0x92, 0x01, 0xa4, 'd', 'i', 'c', 't' };
    /* An object with two trailing fields this reader does not know. */
    const uint8_t object[] = { 0x98, 0x07, 0x01, 0x18, 0x00, 0x00, 0x00, 0xa3, 'n', 'e', 'w', 0x81, 0xc0, 0x92, 0xc3, 0xc2 };
    /* Kind 200: records of any shape, even not arrays. */
    const uint8_t future[] = { 0x93, 0x01, 0x02, 0x03, 0x81, 0xa1, 'k', 0x90, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0 };
    craft list[] = {
        { MT_KIND_TYPE, 1, 0, type, sizeof type, 1, 0, 0 },
        { 200, 3, 0, future, sizeof future, 1, 0, 0 },
        { MT_KIND_OBJECT, 1, 0, object, sizeof object, 1, 0, 0 },
    };
    size_t n = build(buf, list, 3);
    mt_snapshot *s;
    mt_diag d;
    mt_diag_clear(&d);
    /* No index: the one damage note says the file was not closed. */
    ck_assert_int_eq(mt_snapshot_load_mem(buf, n, "t", MT_LOAD_REFS | MT_LOAD_SALVAGE, &s, &d), 0);
    ck_assert_uint_eq(mt_snapshot_damage_count(s), 1);
    ck_assert_int_eq(mt_snapshot_damage(s, 0)->code, MT_E_TRUNCATED);
    const mt_graph *g = mt_snapshot_graph(s);
    ck_assert_uint_eq(g->n_objects, 1);
    ck_assert_uint_eq(g->id[0], 7);
    ck_assert_uint_eq(g->size[0], 24);
    ck_assert_str_eq(g->type_names[g->type[0]].ptr, "dict");
    const mt_kind_stat *ks;
    size_t nk = mt_snapshot_kind_stats(s, &ks);
    ck_assert_uint_eq(nk, 3);
    ck_assert_int_eq(ks[2].kind, 0); /* unknown kinds come last, as 0 */
    ck_assert_uint_eq(ks[2].records, 3);
    mt_snapshot_free(s);
}
END_TEST

/* Each way a trailer or index can be wrong while its checksums hold: the
 * reader says what, scans instead, and loses nothing. */
static void retrailer(unsigned char *c, uint64_t index_offset, uint32_t count) {
    unsigned char *t = c + clean_size - MT__TRAILER_SIZE;
    mt__put64(t, index_offset);
    mt__put32(t + 8, count);
    mt__put32(t + 12, mt__crc32(t, 12));
}

START_TEST(inconsistent_index_falls_back_to_scanning) {
    build_fixture();
    unsigned char *c = malloc(clean_size);
    int lost[512] = { 0 };
    struct { uint64_t at; uint32_t count; int flip_header; const char *msg; } cases[] = {
        { 1ull << 40, (uint32_t)nblocks, 0, "index: index offset 1099511627776 is outside the file; scanning instead" },
        { 0, (uint32_t)nblocks + 1, 0, "index: index block does not match the trailer; scanning instead" },
        { 0, (uint32_t)nblocks, 1, "index: index block header is damaged; scanning instead" },
        { 40, (uint32_t)nblocks, 0, "index: index block header is damaged; scanning instead" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memcpy(c, clean, clean_size);
        retrailer(c, cases[i].at ? cases[i].at : index_at, cases[i].count);
        if (cases[i].flip_header) c[index_at + 12] ^= 1;
        mt_snapshot *s;
        mt_diag d;
        mt_diag_clear(&d);
        ck_assert_int_eq(mt_snapshot_load_mem(c, clean_size, "t", 0, &s, &d), MT_E_DAMAGED);
        ck_assert_msg(strcmp(d.msg, cases[i].msg) == 0, "case %zu: %s", i, d.msg);
        check_salvage(c, clean_size, -1, 0, expected(lost, NULL));
    }
    /* Entries that do not tile the file: the first says offset 17. */
    memcpy(c, clean, clean_size);
    mt_reader *r;
    ck_assert_int_eq(mt_reader_open_mem(clean, clean_size, "t", &r, NULL), 0);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (size_t i = 0; i < nblocks; i++) {
        msgpack_pack_array(&pk, 6);
        msgpack_pack_uint64(&pk, blocks[i].offset + (i == 0));
        msgpack_pack_uint32(&pk, blocks[i].kind);
        msgpack_pack_uint32(&pk, blocks[i].count);
        msgpack_pack_uint64(&pk, blocks[i].first);
        msgpack_pack_uint32(&pk, blocks[i].stored);
        msgpack_pack_uint32(&pk, blocks[i].raw);
    }
    mt_reader_free(r);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    size_t cap = ZSTD_compressBound(sb.size);
    size_t n = index_at + 36 + cap + MT__TRAILER_SIZE;
    unsigned char *d2 = malloc(n);
    memcpy(d2, clean, index_at);
    size_t zn = ZSTD_compress2(cc, d2 + index_at + 36, cap, sb.data, sb.size);
    ck_assert(!ZSTD_isError(zn));
    ZSTD_freeCCtx(cc);
    mt__bhdr h = { MT_KIND_INDEX, 0, (uint32_t)nblocks, 0, (uint32_t)zn, (uint32_t)sb.size };
    mt__bhdr_put(d2 + index_at, &h);
    unsigned char *t = d2 + index_at + 36 + zn;
    mt__put64(t, index_at);
    mt__put32(t + 8, (uint32_t)nblocks);
    mt__put32(t + 12, mt__crc32(t, 12));
    memcpy(t + 16, MT__END_MAGIC, 8);
    n = index_at + 36 + zn + MT__TRAILER_SIZE;
    mt_diag d;
    mt_diag_clear(&d);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load_mem(d2, n, "t", 0, &s, &d), MT_E_DAMAGED);
    ck_assert_str_eq(d.msg, "index: entry 0 does not follow the previous block; scanning instead");
    ck_assert_int_eq(mt_snapshot_load_mem(d2, n, "t", MT_LOAD_REFS | MT_LOAD_SALVAGE, &s, &d), 0);
    ck_assert_uint_eq(mt_snapshot_graph(s)->n_objects, NOBJ);
    ck_assert_uint_eq(mt_snapshot_graph(s)->n_refs, NREF);
    mt_snapshot_free(s);
    msgpack_sbuffer_destroy(&sb);
    free(d2);
    free(c);
}
END_TEST

/* The clean file with its index re-encoded from e[] (nblocks entries),
 * the index block header and the trailer made to match; *n its size. */
static unsigned char *with_index(const mt_block_info *e, size_t *n) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (size_t i = 0; i < nblocks; i++) {
        msgpack_pack_array(&pk, 6);
        msgpack_pack_uint64(&pk, e[i].offset);
        msgpack_pack_uint32(&pk, e[i].kind);
        msgpack_pack_uint32(&pk, e[i].count);
        msgpack_pack_uint64(&pk, e[i].first);
        msgpack_pack_uint32(&pk, e[i].stored);
        msgpack_pack_uint32(&pk, e[i].raw);
    }
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    size_t cap = ZSTD_compressBound(sb.size);
    unsigned char *d = malloc(index_at + 36 + cap + MT__TRAILER_SIZE);
    memcpy(d, clean, index_at);
    size_t zn = ZSTD_compress2(cc, d + index_at + 36, cap, sb.data, sb.size);
    ck_assert(!ZSTD_isError(zn));
    ZSTD_freeCCtx(cc);
    mt__bhdr h = { MT_KIND_INDEX, 0, (uint32_t)nblocks, 0, (uint32_t)zn, (uint32_t)sb.size };
    mt__bhdr_put(d + index_at, &h);
    unsigned char *t = d + index_at + 36 + zn;
    mt__put64(t, index_at);
    mt__put32(t + 8, (uint32_t)nblocks);
    mt__put32(t + 12, mt__crc32(t, 12));
    memcpy(t + 16, MT__END_MAGIC, 8);
    *n = index_at + 36 + zn + MT__TRAILER_SIZE;
    msgpack_sbuffer_destroy(&sb);
    return d;
}

/* An index entry that lies about a sound block (issue 30): the reader
 * scanned only when entries were swapped; a forged count or raw size in
 * one entry made salvage drop the intact block and report the forged
 * count as lost. Now any disagreement with a sound header, and any entry
 * whose claims fail the header checks, discards the index: strict mode
 * says so, and salvage loads every object and reference, none lost. */
START_TEST(index_that_lies_is_ignored) {
    build_fixture();
    mt_block_info e[512];
    int lost[512] = { 0 };
    for (size_t k = 0; k < nblocks; k++) {
        for (int f = 0; f < 5; f++) {
            if (f == 4 && k + 1 == nblocks) continue;
            memcpy(e, blocks, nblocks * sizeof *e);
            const char *field = "";
            uint64_t said = 0, has = 0;
            size_t at = k;
            switch (f) {
            case 0: field = "count", has = e[k].count, said = e[k].count = UINT32_MAX; break;
            case 1: field = "raw", has = e[k].raw, said = e[k].raw = 1; break;
            case 2: field = "first", has = e[k].first, said = e[k].first = (1u << 31) - 3; break;
            case 3: field = "kind", has = e[k].kind, said = e[k].kind = e[k].kind == MT_KIND_REF ? MT_KIND_OBJECT : MT_KIND_REF; break;
            case 4: /* entry k + 1 points 8 bytes into its block; entry k
                     * is 8 bytes longer, so that the entries still tile */
                field = "stored", has = e[k].stored, said = e[k].stored += 8;
                e[k + 1].offset += 8;
                e[k + 1].stored -= 8;
                break;
            }
            size_t n;
            unsigned char *d = with_index(e, &n);
            char want[200];
            snprintf(want, sizeof want, "index: entry %zu says %s %llu, the block header at offset %llu says %llu; scanning instead",
                     at, field, (unsigned long long)said, (unsigned long long)blocks[k].offset, (unsigned long long)has);
            mt_snapshot *s;
            mt_diag dg;
            mt_diag_clear(&dg);
            ck_assert_int_eq(mt_snapshot_load_mem(d, n, "t", MT_LOAD_REFS, &s, &dg), MT_E_DAMAGED);
            ck_assert_msg(strcmp(dg.msg, want) == 0, "block %zu field %s: %s", k, field, dg.msg);
            check_salvage(d, n, -1, 0, expected(lost, NULL));
            free(d);
        }
    }
    /* A damaged header leaves the entry the only word on its block: an
     * entry whose claims fail the header checks is not believed either,
     * and the scan loses the one block. */
    for (size_t k = 0; k < nblocks; k++) {
        memcpy(e, blocks, nblocks * sizeof *e);
        e[k].count = UINT32_MAX;
        size_t n;
        unsigned char *d = with_index(e, &n);
        d[blocks[k].offset + 13] ^= 0x40;
        mt_reader *r;
        ck_assert_int_eq(mt_reader_open_mem(d, n, "t", &r, NULL), 0);
        ck_assert_uint_ge(mt_reader_damage_count(r), 2);
        ck_assert_ptr_nonnull(strstr(mt_reader_damage(r, 0)->msg, "index: entry "));
        ck_assert_ptr_nonnull(strstr(mt_reader_damage(r, 0)->msg, "for a damaged block header"));
        for (size_t i = 0; i < mt_reader_damage_count(r); i++)
            ck_assert_uint_ne(mt_reader_damage(r, i)->records, UINT32_MAX);
        mt_reader_free(r);
        free(d);
    }
}
END_TEST

START_TEST(json_export_of_a_salvage_leaves_lost_objects_out) {
    build_fixture();
    size_t k = 0;
    while (blocks[k].kind != MT_KIND_OBJECT) k++;
    k += 2; /* an objects block in the middle */
    unsigned char *c = malloc(clean_size);
    memcpy(c, clean, clean_size);
    c[blocks[k].offset + 36 + blocks[k].stored / 2] ^= 0x01;
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load_mem(c, clean_size, "t", MT_LOAD_LABELS | MT_LOAD_SALVAGE, &s, NULL), 0);
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(mt_heapjson_export(s, f, NULL), 0);
    fclose(f);
    size_t objects = 0;
    for (char *p = buf; (p = strstr(p, "\n{\"id\": ")); p++) objects++;
    ck_assert_uint_eq(objects, NOBJ - blocks[k].count + 1 /* the root line */);
    for (uint64_t i = blocks[k].first; i < blocks[k].first + blocks[k].count; i++) {
        char id[32];
        snprintf(id, sizeof id, "%llu", (unsigned long long)obj_id[i]);
        ck_assert_msg(strstr(buf, id) == NULL, "lost object %s is in the JSON", id);
    }
    free(buf);
    mt_snapshot_free(s);
    free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("damage");
    TCase *tc = tcase_create("damage");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, clean_file_loads_whole);
    tcase_add_test(tc, truncated_at_every_block_boundary);
    tcase_add_test(tc, truncated_inside_every_block);
    tcase_add_test(tc, flipped_byte_in_every_block_header);
    tcase_add_test(tc, flipped_byte_in_every_payload);
    tcase_add_test(tc, length_that_lies);
    tcase_add_test(tc, bad_msgpack_in_a_sound_frame);
    tcase_add_test(tc, header_damage);
    tcase_add_test(tc, trailer_and_index_damage_fall_back_to_scanning);
    tcase_add_test(tc, unclosed_file_keeps_every_flushed_record);
    tcase_add_test(tc, growing_file_leaves_out_the_block_being_written);
    tcase_add_test(tc, random_flips_never_invent_data);
    tcase_add_test(tc, payload_rules_of_the_spec);
    tcase_add_test(tc, kinds_from_a_newer_writer_are_skipped_and_counted);
    tcase_add_test(tc, inconsistent_index_falls_back_to_scanning);
    tcase_add_test(tc, index_that_lies_is_ignored);
    tcase_add_test(tc, json_export_of_a_salvage_leaves_lost_objects_out);
    tcase_add_test(tc, hostile_numbers_are_refused_in_bounded_memory);
    tcase_add_test(tc, gap_is_bounded_by_the_damage_before_it);
    tcase_add_test(tc, file_cut_short_while_open_is_no_sigbus);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
