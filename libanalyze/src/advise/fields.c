/* The tables of fields.h. */
#include <string.h>
#include "advise/fields.h"

enum {
    C = MT__SCOPE_COLUMN, F = MT__SCOPE_FRAME, S = MT__SCOPE_STEP, G = MT__SCOPE_GPU,
    NUM = MT__FT_NUM, STR = MT__FT_STR, BOOL = MT__FT_BOOL,
    PLAIN = MT__U_PLAIN, COUNT = MT__U_COUNT, BYTES = MT__U_BYTES, RATIO = MT__U_RATIO
};

#define FIELD(id, name, scopes, type, unit) { name, scopes, type, unit },
const mt__fdesc mt__fields[] = { MT__ADVISE_FIELDS(FIELD) };
#undef FIELD
static const size_t n_fields = sizeof mt__fields / sizeof mt__fields[0];

int mt__field_find(unsigned scope, const char *name, size_t len) {
    for (size_t i = 0; i < n_fields; i++)
        if ((mt__fields[i].scopes & scope) && strlen(mt__fields[i].name) == len && !memcmp(mt__fields[i].name, name, len))
            return (int)i;
    return -1;
}

#define VAR(id, name) name,
static const char *const action_vars[] = { MT__ACTION_VARS(VAR) NULL };
#undef VAR

int mt__action_var_find(const char *name, size_t len) {
    for (int i = 0; action_vars[i]; i++)
        if (strlen(action_vars[i]) == len && !memcmp(action_vars[i], name, len)) return i;
    return -1;
}

const char *const mt__saving_names[] = { "none", "astype", "unused_categories", "chunks", "transient",
                                         "unused_reserved", NULL };
const unsigned mt__saving_scopes[] = { C | F | S | G, C, C, S, S, G };
