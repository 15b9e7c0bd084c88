/* Internals of the formats library: the container's constants, CRC-32,
 * the msgpack token reader and the record schemas. Not installed. */
#ifndef MT_FORMATS_INTERNAL_H
#define MT_FORMATS_INTERNAL_H

#include <stdint.h>
#include <string.h>
#include "memtrace/format.h"

/* SPEC.md section 2: the 16-byte file header. The magic is PNG-style: a
 * high-bit byte catches 7-bit transports, CR LF catches newline
 * conversion, ^Z stops `type` on DOS. */
#define MT__MAGIC "\x89MTS\r\n\x1a\n"
#define MT__HEADER_SIZE 16
/* SPEC.md section 3: every block starts with this marker; a reader that
 * lost its place searches for it. */
#define MT__BLOCK_MARKER "\xb5MTBLK\r\n"
#define MT__BLOCK_HEADER_SIZE MT_BLOCK_HEADER_BYTES
/* SPEC.md section 5: the trailer closes a file and points at the index. */
#define MT__END_MAGIC "MTSEND\r\n"
#define MT__TRAILER_SIZE 24
/* A block's decompressed payload may not exceed this: it bounds what a
 * damaged or hostile header can make a reader allocate. */
#define MT__MAX_RAW (256u << 20)
/* SPEC.md section 7: objects in a file (snapshot.h's MT_MAX_OBJECTS). */
#define MT__MAX_OBJECTS 0x7fffffffu

/* The fewest bytes one record of kind takes: its array header and one
 * byte for each required field (1 for a kind this reader does not know).
 * A block of raw bytes holds at most raw / this many records. */
unsigned mt__kind_min_bytes(int kind);

static inline uint16_t mt__le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t mt__le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t mt__le64(const uint8_t *p) { return mt__le32(p) | (uint64_t)mt__le32(p + 4) << 32; }
static inline void mt__put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void mt__put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void mt__put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* CRC-32 as zlib computes it (reflected polynomial 0xEDB88320). */
uint32_t mt__crc32(const void *data, size_t n);

/* XXH64 of data with seed: a zstd frame's content checksum is its low 32
 * bits (xxh64.c). */
uint64_t mt__xxh64(const void *data, size_t n, uint64_t seed);

/* Parsed block header (SPEC.md section 3). */
typedef struct mt__bhdr {
    uint16_t kind, flags;
    uint32_t count;
    uint64_t first;
    uint32_t stored, raw;
} mt__bhdr;

/* Encodes h into 36 bytes, CRC included. */
void mt__bhdr_put(uint8_t *out, const mt__bhdr *h);
/* 0 when p holds a marker and a header whose CRC matches, else
 * MT_E_CORRUPT (no marker) or MT_E_CHECKSUM. */
int mt__bhdr_get(const uint8_t *p, mt__bhdr *h);

/* ---- msgpack tokens (mp.c) ---- */
enum { MT__MP_NIL, MT__MP_BOOL, MT__MP_UINT, MT__MP_INT, MT__MP_FLOAT,
       MT__MP_STR, MT__MP_BIN, MT__MP_ARRAY, MT__MP_MAP, MT__MP_EXT };

typedef struct mt__mptok {
    int type;
    uint64_t u;          /* UINT; BOOL; element count of ARRAY and MAP */
    int64_t i;           /* INT */
    double f;            /* FLOAT */
    const uint8_t *ptr;  /* STR, BIN, EXT payload */
    uint32_t len;
} mt__mptok;

/* Reads one token at *p (< end) and advances *p past it; for STR, BIN and
 * EXT that includes the payload, for ARRAY and MAP only the header.
 * @return 0, or MT_E_MSGPACK (truncated, or the reserved byte 0xc1). */
int mt__mp_next(const uint8_t **p, const uint8_t *end, mt__mptok *t);
/* The common case inline: a non-negative integer. Returns 1 and sets *v,
 * or 0 (nothing consumed) when *p holds anything else or is cut short, for
 * the caller to take the general path. Record fields are mostly small
 * unsigned integers, and calling mt__mp_next for each was a third of the
 * load time (perf, 1M objects and 4M references). */
static inline int mt__mp_uint_fast(const uint8_t **pp, const uint8_t *end, uint64_t *v) {
    const uint8_t *p = *pp;
    if (p >= end) return 0;
    uint8_t b = *p;
    if (b <= 0x7f) {
        *v = b;
        *pp = p + 1;
        return 1;
    }
    if (b < 0xcc || b > 0xcf) return 0;
    size_t w = (size_t)1 << (b - 0xcc);
    if ((size_t)(end - p) < w + 1) return 0;
    uint64_t x = 0;
    for (size_t i = 1; i <= w; i++) x = x << 8 | p[i];
    *v = x;
    *pp = p + 1 + w;
    return 1;
}

/* Skips one whole value, however nested, without recursion. */
int mt__mp_skip(const uint8_t **p, const uint8_t *end);

/* ---- msgpack encoding (writer.c) ----
 * Each writes one value at p, which has room, and returns the byte after
 * it. The bytes are msgpack-c's, form for form (the smallest that holds
 * the value; tests/unit/format/test_format.c compares them). Written by hand:
 * msgpack-c's packer appends every piece through a callback, which was a
 * quarter of dump_heap's main thread (perf, 1M objects). */
static inline uint8_t *mt__mp_put_be(uint8_t *p, uint64_t v, int n) {
    for (int i = n - 1; i >= 0; i--) *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static inline uint8_t *mt__mp_put_uint(uint8_t *p, uint64_t v) {
    if (v < 0x80) { *p++ = (uint8_t)v; return p; }
    if (v < 0x100) { *p++ = 0xcc; *p++ = (uint8_t)v; return p; }
    if (v < 0x10000) { *p++ = 0xcd; return mt__mp_put_be(p, v, 2); }
    if (v < 0x100000000ull) { *p++ = 0xce; return mt__mp_put_be(p, v, 4); }
    *p++ = 0xcf;
    return mt__mp_put_be(p, v, 8);
}

static inline uint8_t *mt__mp_put_int(uint8_t *p, int64_t v) {
    if (v >= 0) return mt__mp_put_uint(p, (uint64_t)v);
    if (v >= -32) { *p++ = (uint8_t)v; return p; } /* negative fixint */
    if (v >= -128) { *p++ = 0xd0; *p++ = (uint8_t)v; return p; }
    if (v >= -32768) { *p++ = 0xd1; return mt__mp_put_be(p, (uint64_t)v, 2); }
    if (v >= INT32_MIN) { *p++ = 0xd2; return mt__mp_put_be(p, (uint64_t)v, 4); }
    *p++ = 0xd3;
    return mt__mp_put_be(p, (uint64_t)v, 8);
}

static inline uint8_t *mt__mp_put_double(uint8_t *p, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    *p++ = 0xcb;
    return mt__mp_put_be(p, bits, 8);
}

static inline uint8_t *mt__mp_put_array(uint8_t *p, uint32_t n) {
    if (n < 16) { *p++ = (uint8_t)(0x90 | n); return p; }
    if (n < 0x10000) { *p++ = 0xdc; return mt__mp_put_be(p, n, 2); }
    *p++ = 0xdd;
    return mt__mp_put_be(p, n, 4);
}

/* A str (bin = 0) or bin (bin = 1) header and its bytes. */
static inline uint8_t *mt__mp_put_raw(uint8_t *p, const void *data, size_t len, int bin) {
    if (!bin && len < 32) *p++ = (uint8_t)(0xa0 | len);
    else if (len < 0x100) { *p++ = bin ? 0xc4 : 0xd9; *p++ = (uint8_t)len; }
    else if (len < 0x10000) { *p++ = bin ? 0xc5 : 0xda; p = mt__mp_put_be(p, len, 2); }
    else { *p++ = bin ? 0xc6 : 0xdb; p = mt__mp_put_be(p, len, 4); }
    if (len) memcpy(p, data, len);
    return p + len;
}

/* ---- record schemas (schema.c) ---- */
/* The public mt_field under the names the codec uses. */
enum { MT__F_U32 = MT_FIELD_U32, MT__F_U64 = MT_FIELD_U64, MT__F_F64 = MT_FIELD_F64,
       MT__F_STR = MT_FIELD_STR, MT__F_BIN = MT_FIELD_BIN, MT__F_VAL = MT_FIELD_VALUE };
typedef mt_field mt__field;

/* The record kinds: X(KIND, name, record struct, its fields in schema.c).
 * One table, so that kinds.c (the names, which errors.c prints and so must
 * reach without depending on the codec) and schema.c (the layouts) cannot
 * disagree. The footer index (MT_KIND_INDEX) is not a record kind. */
#define MT__KINDS(X)                                           \
    X(META, "meta", mt_meta, meta_f)                           \
    X(STRING, "strings", mt_string, string_f)                  \
    X(TYPE, "types", mt_type, type_f)                          \
    X(OBJECT, "objects", mt_object, object_f)                  \
    X(REF, "refs", mt_ref, ref_f)                              \
    X(ROOT, "roots", mt_root, root_f)                          \
    X(FRAME, "frames", mt_frame, frame_f)                      \
    X(STACK, "stacks", mt_stack, stack_f)                      \
    X(ALLOC, "allocs", mt_alloc, alloc_f)                      \
    X(SAMPLE, "samples", mt_sample, sample_f)                  \
    X(DF_FRAME, "df_frames", mt_df_frame, df_frame_f)          \
    X(DF_COLUMN, "df_columns", mt_df_column, df_column_f)      \
    X(DF_VALUE, "df_values", mt_df_value, df_value_f)          \
    X(DF_SKETCH, "df_sketches", mt_df_sketch, df_sketch_f)     \
    X(GPU_DEVICE, "gpu_devices", mt_gpu_device, gpu_device_f)  \
    X(GPU_SEGMENT, "gpu_segments", mt_gpu_segment, gpu_segment_f) \
    X(GPU_BLOCK, "gpu_blocks", mt_gpu_block, gpu_block_f)      \
    X(GPU_EVENT, "gpu_events", mt_gpu_event, gpu_event_f)      \
    X(NB_CELL, "nb_cells", mt_nb_cell, nb_cell_f)              \
    X(EVENT, "events", mt_event, event_f)                      \
    X(TRACE_LIVE, "trace_live", mt_trace_live, trace_live_f)

typedef struct mt__kind_desc {
    int kind;
    size_t size;       /* of the record struct */
    const mt__field *fields;
    unsigned nfields;
} mt__kind_desc;

/* The schema of a known kind (MT_KIND_INDEX included), or NULL. */
const mt__kind_desc *mt__kind_schema(int kind);

/* Packers (writer.c): each writes one record at p, which has room, and
 * returns the byte after it. mt__pack_record works for any kind from its
 * schema; the other two are its fast equals for objects and references. */
uint8_t *mt__pack_record(uint8_t *p, const mt__kind_desc *d, const void *rec);
uint8_t *mt__pack_object(uint8_t *p, const mt_object *o);
uint8_t *mt__pack_ref(uint8_t *p, const mt_ref *r);
/* For the tests: blocks the caller's thread compressed itself because the
 * background thread's queue was full. */
uint64_t mt__writer_own_blocks(const mt_writer *w);

/* The footer index's record (SPEC.md section 5). */
typedef struct mt__index_entry {
    uint64_t offset;
    uint32_t kind;
    uint32_t count;
    uint64_t first;
    uint32_t stored;
    uint32_t raw;
} mt__index_entry;

/* Decodes one record of desc at *p into rec (zeroed first); *p advances.
 * On error fills msg. @return 0, MT_E_MSGPACK or MT_E_RECORD. */
int mt__record_decode(const mt__kind_desc *desc, const uint8_t **p,
                      const uint8_t *end, void *rec, char *msg, size_t n);

#endif
