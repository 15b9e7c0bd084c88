/* CRC-32 (the zlib one), so that any language's standard library can check
 * a block header: Python's zlib.crc32, Go's hash/crc32, Java's CRC32. */
#include "internal.h"

static uint32_t table[256];
static int table_ready;

static void table_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    /* Benign race: every thread computes the same table. */
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t mt__crc32(const void *data, size_t n) {
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) table_init();
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    while (n--) c = table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

void mt__bhdr_put(uint8_t *o, const mt__bhdr *h) {
    memcpy(o, MT__BLOCK_MARKER, 8);
    mt__put16(o + 8, h->kind);
    mt__put16(o + 10, h->flags);
    mt__put32(o + 12, h->count);
    mt__put64(o + 16, h->first);
    mt__put32(o + 24, h->stored);
    mt__put32(o + 28, h->raw);
    mt__put32(o + 32, mt__crc32(o, 32));
}

int mt__bhdr_get(const uint8_t *p, mt__bhdr *h) {
    if (memcmp(p, MT__BLOCK_MARKER, 8) != 0) return MT_E_CORRUPT;
    if (mt__crc32(p, 32) != mt__le32(p + 32)) return MT_E_CHECKSUM;
    h->kind = mt__le16(p + 8);
    h->flags = mt__le16(p + 10);
    h->count = mt__le32(p + 12);
    h->first = mt__le64(p + 16);
    h->stored = mt__le32(p + 24);
    h->raw = mt__le32(p + 28);
    return 0;
}
