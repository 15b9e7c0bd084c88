/* The one lookup behind the mt_THING_name / mt_THING_from_name pairs of
 * the public API (formats/include/memtrace/errors.h states the
 * convention): a table of names indexed by the enum's value, NULL where
 * a value has no name. Internal to libanalyze. */
#ifndef MT_NAMETABLE_H
#define MT_NAMETABLE_H

#include <stddef.h>
#include <string.h>

/* names[v], or "?" for a value past the table or without a name. */
static inline const char *mt__name_of(const char *const *names, size_t n, unsigned v) {
    return v < n && names[v] ? names[v] : "?";
}

/* The index of name in names[0..n), or -1 (name NULL included). */
static inline int mt__name_find(const char *const *names, size_t n, const char *name) {
    for (size_t i = 0; name && i < n; i++)
        if (names[i] && !strcmp(name, names[i])) return (int)i;
    return -1;
}

#define MT__NAMES_N(names) (sizeof(names) / sizeof *(names))

#endif
