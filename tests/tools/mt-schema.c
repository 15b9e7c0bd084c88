/* Prints, as JSON, the format version and the record schema that the
 * formats/ library was built with: every kind's id and name and its
 * fields in on-disk order, from mt_kind_fields(). tests/cli/check_drift.py
 * compares this with SPEC.md and memtrace-snap(5), so the comparison asks
 * the compiled table rather than parsing C. The index kind's schema is
 * internal to the container (mt_kind_fields() does not give it), so this
 * reads it from formats/src/internal.h. Usage: mt-schema */
#include <stdio.h>
#include "memtrace/format.h"
#include "internal.h"

static const char *type_name(int type) {
    switch (type) {
    case MT_FIELD_U32: return "u32";
    case MT_FIELD_U64: return "u64";
    case MT_FIELD_F64: return "f64";
    case MT_FIELD_STR: return "str";
    case MT_FIELD_BIN: return "bin";
    case MT_FIELD_VALUE: return "any";
    }
    return "?";
}

static void print_kind(int kind, int last) {
    const mt__kind_desc *d = mt__kind_schema(kind);
    const mt_field *f = d->fields;
    size_t n = d->nfields;
    /* Names and field names are C identifiers from schema.c: no escaping. */
    printf("  {\"id\": %d, \"name\": \"%s\", \"fields\": [", kind, mt_kind_name(kind));
    for (size_t i = 0; i < n; i++)
        printf("%s[\"%s\", \"%s\", %d]", i ? ", " : "", f[i].name, type_name(f[i].type), f[i].required ? 1 : 0);
    printf("]}%s\n", last ? "" : ",");
}

int main(void) {
    printf("{\"version\": [%d, %d], \"kinds\": [\n", MT_FORMAT_MAJOR, MT_FORMAT_MINOR);
    for (int k = 1; k <= MT_KIND_MAX; k++) print_kind(k, 0);
    print_kind(MT_KIND_INDEX, 1);
    printf("]}\n");
    return 0;
}
