/* What rules.c (the rule files) and advise.c (applying them) share: a
 * parsed rule, and the tables of fields.h it refers to. Internal. */
#ifndef MT_ADVISE_IMPL_H
#define MT_ADVISE_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/advise.h"
#include "advise/fields.h"

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
    size_t n_conds, cap_conds;
} mt__rule;

struct mt_rules {
    mt__rule *rules;
    size_t n, cap;
};

#endif
