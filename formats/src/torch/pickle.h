/* The pickle stack machine behind mt_torch_import() (torch.h): values,
 * the memo, and the streaming of the root's segments and device traces.
 * Internal to formats/. */
#ifndef MT_TORCH_PICKLE_H
#define MT_TORCH_PICKLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "memtrace/errors.h"
#include "memtrace/fileio.h"

typedef enum mt__pv_type {
    MT__PV_NONE,
    MT__PV_BOOL,   /* u: 0 or 1 */
    MT__PV_INT,    /* u, or i when neg */
    MT__PV_FLOAT,
    MT__PV_STR,    /* UTF-8 as the pickle holds it */
    MT__PV_BYTES,
    MT__PV_LIST,
    MT__PV_TUPLE,
    MT__PV_DICT,   /* items: key, value, key, value ... */
    /* What a converted value becomes, so that the memo keeps a few bytes
     * of it, not the whole: */
    MT__PV_FRAME,  /* an interned frame dict: id */
    MT__PV_STACK,  /* an interned frame list: id (0: an empty list) */
    MT__PV_GONE,   /* an element already converted and written */
    MT__PV_DROPPED /* a str or bytes of a converted element that the
                    * importer does not read (user_metadata): released,
                    * though the memo may still name it */
} mt__pv_type;

/* List roles: where an appended element is converted instead of kept. */
enum { MT__ROLE_NONE, MT__ROLE_SEGMENTS, MT__ROLE_TRACES, MT__ROLE_DEVICE };

typedef struct mt__pv mt__pv;
struct mt__pv {
    uint32_t refs;
    uint8_t type;
    uint8_t neg;     /* INT: negative, held in i */
    uint8_t sealed;  /* placed in a container: never changed again */
    uint8_t height;  /* containers nested in it, itself counted (1 for a leaf container) */
    uint8_t role;    /* MT__ROLE_* for a list */
    uint32_t aux;    /* MT__ROLE_DEVICE: the device index */
    uint64_t off;    /* byte offset of the opcode that made it */
    union {
        uint64_t u;
        int64_t i;
        double f;
        uint32_t id;
        struct { char *p; size_t n; } s;
        struct { mt__pv **items; size_t n, cap; uint64_t consumed; } c;
    } v;
};

/* Called for each element appended to a list with a role; pos is its
 * position in that list (elements converted before it counted). Returns
 * 0 or an MT_E_* code with diag filled. */
typedef int (*mt__pk_elem_fn)(void *ctx, const mt__pv *list, uint64_t pos, mt__pv *item, mt_diag *diag);

/* Where bytes come from: a buffer in memory, or an mt_input read in
 * chunks. */
typedef struct mt__src {
    const uint8_t *mem;   /* memory: the whole input */
    mt_input *in;         /* else: this input */
    uint8_t *buf;         /* chunk buffer of an input */
    size_t pos, len;      /* unread bytes: buf/mem [pos, len) */
    uint64_t base;        /* input offset of buf[0] (0 for memory) */
    uint64_t total;       /* input size when known, else UINT64_MAX */
} mt__src;

/* Runs the pickle from src to its STOP, calling elem for each element of
 * the root's `segments` list and of each `device_traces[i]` list as it is
 * appended (then releasing it), and hands back the root with one
 * reference (what is left of it). @return 0 or an MT_E_* code
 * (torch.h's mt_torch_import says which). */
int mt__pk_run(mt__src *src, mt__pk_elem_fn elem, void *ctx, mt__pv **root, mt_diag *diag);

/* Frees the values this thread's reader keeps for reuse; call once an
 * import is over (mt__pv_decref() of its last value done). */
void mt__pv_cache_drain(void);

void mt__pv_decref(mt__pv *v);
/* Frees v's contents (recursively releasing its children) and makes it a
 * leaf of type t with id: every holder then sees the small form. */
void mt__pv_become(mt__pv *v, int t, uint32_t id);
/* The value of key in dict d, or NULL. */
static inline mt__pv *mt__pv_get(const mt__pv *d, const char *key) {
    /* Inline, so that the importer's literal keys have their lengths
     * folded: an entry's six lookups were a tenth of an import. */
    if (d->type != MT__PV_DICT) return NULL;
    size_t kl = strlen(key);
    /* The last one counts, as in the dict Python builds. */
    for (size_t i = d->v.c.n; i >= 2; i -= 2) {
        const mt__pv *k = d->v.c.items[i - 2];
        if (k->type == MT__PV_STR && k->v.s.n == kl && (!kl || k->v.s.p[0] == key[0]) && !memcmp(k->v.s.p, key, kl))
            return d->v.c.items[i - 1];
    }
    return NULL;
}
/* The pickle opcode's name, for messages. */
const char *mt__pk_type_name(int type);

#endif
