/* What rules.c (the rule files) and advise.c (applying them) share: the
 * scopes, the fields a condition or a message may name, and a parsed
 * rule. Internal. */
#ifndef MT_ADVISE_IMPL_H
#define MT_ADVISE_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/advise.h"

enum { MT__SCOPE_COLUMN = 1, MT__SCOPE_FRAME = 2, MT__SCOPE_STEP = 4, MT__SCOPE_GPU = 8 };
enum { MT__FT_NUM, MT__FT_STR, MT__FT_BOOL };
enum { MT__U_PLAIN, MT__U_COUNT, MT__U_BYTES, MT__U_RATIO };

/* A field of a subject: what conditions test and messages print. */
typedef struct mt__fdesc {
    const char *name;
    unsigned scopes;   /* MT__SCOPE_* it exists in */
    int type;          /* MT__FT_* */
    int unit;          /* MT__U_*: how a message prints it */
} mt__fdesc;

extern const mt__fdesc mt__fields[];

/* The index of the field name of scope, or -1. */
int mt__field_find(unsigned scope, const char *name, size_t len);

/* Names a template may use besides fields: what the action computed. */
int mt__action_var_find(const char *name, size_t len);

/* Saving models (the action's `saving`). */
enum { MT__SAVE_NONE, MT__SAVE_ASTYPE, MT__SAVE_UNUSED_CATEGORIES, MT__SAVE_CHUNKS, MT__SAVE_TRANSIENT,
       MT__SAVE_UNUSED_RESERVED };
extern const char *const mt__saving_names[];  /* by MT__SAVE_*, NULL-terminated */
extern const unsigned mt__saving_scopes[];    /* where each model applies */

enum { MT__OP_EQ, MT__OP_NE, MT__OP_LT, MT__OP_LE, MT__OP_GT, MT__OP_GE, MT__OP_IN, MT__OP_NOT_IN,
       MT__OP_MATCHES };

/* One test of a field: `lt: 0.5`, `in: [a, b]`. */
typedef struct mt__term {
    int op;
    size_t n;         /* values: 1, or the list's length for in / not_in */
    double *num;      /* for number fields */
    char **str;       /* for string fields (patterns for matches) */
    int b;            /* for bool fields */
} mt__term;

/* Every term of a field must hold; an absent value fails them all. */
typedef struct mt__cond {
    int field;
    size_t n;
    mt__term *terms;
} mt__cond;

typedef struct mt__rule {
    char *id, *description, *kind, *to, *message, *file;
    uint32_t line;
    unsigned scope;       /* one MT__SCOPE_*, or 0 while unset */
    int severity;         /* 0 while unset */
    int enabled;          /* 1, 0, or -1 while unset */
    int saving;           /* MT__SAVE_*, or -1 while unset */
    int lossless;         /* 1, 0, or -1 while unset */
    double budget_fraction; /* the share of available memory a chunk may use; 0 while unset */
    mt__cond *conds;
    size_t n_conds;
} mt__rule;

struct mt_rules {
    mt__rule *rules;
    size_t n, cap;
};

#endif
