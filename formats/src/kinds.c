/* The record kinds' names (SPEC.md section 4). Apart from the schemas so
 * that errors.c, the bottom of the library, can name a block's kind
 * without depending on the codec. */
#include <string.h>
#include "internal.h"

#define NAME(k, name, st, f) [MT_KIND_##k] = name,
static const char *const names[MT_KIND_MAX + 1] = { MT__KINDS(NAME) };
#undef NAME
/* Every kind up to MT_KIND_MAX has its line in MT__KINDS. */
#define ONE(k, name, st, f) +1
_Static_assert(0 MT__KINDS(ONE) == MT_KIND_MAX, "MT__KINDS lists every kind");
#undef ONE

const char *mt_kind_name(mt_kind kind) {
    if (kind >= 1 && kind <= MT_KIND_MAX) return names[kind];
    if (kind == MT_KIND_INDEX) return "index";
    return "unknown";
}

int mt_kind_from_name(const char *name, mt_kind *out) {
    for (int k = 1; k <= MT_KIND_MAX; k++)
        if (strcmp(names[k], name) == 0) {
            *out = (mt_kind)k;
            return 0;
        }
    return MT_E_INVAL;
}
