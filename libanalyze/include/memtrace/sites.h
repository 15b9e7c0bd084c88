/* Allocation sites: the call stacks of a snapshot (frame and stack
 * records), for grouping objects and allocations by where they were made. */
#ifndef MEMTRACE_SITES_H
#define MEMTRACE_SITES_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"
#include "memtrace/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_sites mt_sites;

/* Reads the snapshot's frame and stack records (an empty table when it
 * has none). A stack naming a frame or parent that no record defines is
 * kept and shown as "<unknown>" at that point.
 * @return 0, or what mt_snapshot_each() returns, MT_E_NOMEM. */
int mt_sites_load(const mt_snapshot *s, mt_sites **out, mt_diag *diag);

/* The same table read straight from a reader's frames and stacks blocks,
 * for a reader that streams its file and loads no snapshot (a trace). A
 * block that fails to open is left out when salvage is nonzero (the
 * reader lists it among its damage).
 * @return 0, or MT_E_DAMAGED (a damaged block without salvage: diag names
 *         it), MT_E_NOMEM. */
int mt_sites_read(mt_reader *r, int salvage, mt_sites **out, mt_diag *diag);

/* NULL is a no-op. */
void mt_sites_free(mt_sites *t);

/* Stacks in the table. */
size_t mt_sites_count(const mt_sites *t);

/* Whether the innermost frame of stack is known: a predicate, 1 and its
 * file, function and line, or 0 when the stack or its frame is unknown
 * (stack 0 is always unknown); never an error code. */
int mt_sites_frame(const mt_sites *t, uint32_t stack, mt_str *file, mt_str *function, uint32_t *line);

/* The stack's caller (0 at the outermost frame or when unknown). */
uint32_t mt_sites_parent(const mt_sites *t, uint32_t stack);

/* Whether file is a module of Python's standard library: under a
 * ".../lib/pythonX.Y/" directory but not in its site-packages or
 * dist-packages, or a frozen module ("<frozen importlib._bootstrap>").
 * A predicate: 1 or 0. */
int mt_sites_is_stdlib(mt_str file);

/* The application's call in stack: the stack itself, or the nearest
 * caller whose innermost frame is not in the standard library
 * (mt_sites_is_stdlib), so that "allocated at" names the code that asked
 * rather than json or logging's insides. stack itself when every known
 * frame is in the standard library or the stack is unknown. */
uint32_t mt_sites_app_stack(const mt_sites *t, uint32_t stack);

/* Writes the stack as text into the caller's buf (n bytes, always
 * NUL-terminated when n > 0; a longer text is cut, and nothing is
 * allocated, unlike mt_path_format()): "file:line" of the innermost frame,
 * or with whole != 0 every frame, innermost first, joined by " < ". An
 * unknown stack is "<unknown>". A chain that loops is cut where it
 * repeats.
 * @return the length the whole text needs, as snprintf does. */
size_t mt_sites_format(const mt_sites *t, uint32_t stack, int whole, char *buf, size_t n);

/* Calls fn for what is live in s, by allocation stack: each object when
 * objects carry stacks (count 1, its size; lost placeholders left out),
 * else the allocation records: live records as they are, and each alloc
 * whose address no later free releases; a file with neither but with a GPU
 * allocator's state (SPEC.md 4.5), its blocks in use (active_allocated),
 * each with its stack. Calls come in no particular order
 * and may repeat a stack.
 * fn returns 0 to go on; anything else stops the walk and is returned
 * unchanged. So that the caller can tell fn's reason from the walk's own
 * errors, fn returns a negative MT_E_* code for a failure of its own
 * (MT_E_NOMEM, ...) and a positive value, which no MT_E_* code is, to stop
 * early on purpose.
 * @return 0, fn's nonzero return as it was, what mt_snapshot_each()
 *         returns, MT_E_NOMEM. */
typedef int (*mt_site_fn)(void *arg, uint32_t stack, uint64_t count, uint64_t bytes);
int mt_sites_live(const mt_snapshot *s, mt_site_fn fn, void *arg, mt_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
