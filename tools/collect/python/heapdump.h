/* memtrace.dump_heap (heapdump.c). */
#ifndef MT_HEAPDUMP_H
#define MT_HEAPDUMP_H

#include <Python.h>
#include "memtrace/format.h"

/* Calls fn(name, value, arg) for each bound local variable of a running
 * frame (cpython311.c); stops at fn's nonzero return (then -1). */
typedef int (*mt__local_fn)(PyObject *name, PyObject *value, void *arg);
int mt__frame_locals(PyObject *frame, mt__local_fn fn, void *arg);

/* Calls fn(object, generation, arg) for every object the collector
 * tracks; generation 3 is the permanent one of gc.freeze(). Stops at fn's
 * nonzero return (then -1). With the GIL held and no collection possible:
 * fn must not free objects or let the collector run (cpython311.c). */
typedef int (*mt__object_fn)(PyObject *o, int generation, void *arg);
int mt__gc_objects(mt__object_fn fn, void *arg);

/* Calls fn(ref, key, arg) for each reference the exact dict's traverse
 * visits, in its order: a value with its key, a key with NULL. Stops at
 * fn's nonzero return (then -1). No side effects (cpython311.c). */
typedef int (*mt__dict_ref_fn)(PyObject *ref, PyObject *key, void *arg);
int mt__dict_refs(PyObject *dict, mt__dict_ref_fn fn, void *arg);

/* The bytes sys.getsizeof adds to __sizeof__ for instances of t: the
 * collector's header and the managed dict's pointers before the object. */
size_t mt__preheader_size(PyTypeObject *t);

/* The name of the instance attribute of owner whose value is value when
 * owner keeps its attributes without a dict (3.11's inline values);
 * NULL when it does not. Borrowed; no side effects. */
PyObject *mt__attribute_name(PyObject *owner, PyObject *value);

/* owner's __dict__ if it has one already; NULL otherwise. Never makes one. */
PyObject *mt__instance_dict(PyObject *owner);

/* The process's resident set size in bytes (Linux /proc/self/statm), 0
 * when unknown. */
uint64_t mt__rss_bytes(void);

/* Writes the meta every collector writes (SPEC.md 4.3): tool,
 * tool_version, pid, host, start_time, python_version, rss, label (a str,
 * or None for none) and, when traced is tracemalloc's (current, peak),
 * tracemalloc_current and tracemalloc_peak. */
void mt__process_meta(mt_writer *wr, const char *tool, PyObject *label, uint64_t start_ns, uint64_t rss,
                      PyObject *traced);

/* dump_heap(path, *, label=None, tracebacks=True, collect=False) -> dict */
PyObject *memtrace_dump_heap(PyObject *self, PyObject *args, PyObject *kw);

#endif
