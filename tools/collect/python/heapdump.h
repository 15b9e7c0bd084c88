/* memtrace.dump_heap (heapdump.c). */
#ifndef MT_HEAPDUMP_H
#define MT_HEAPDUMP_H

#include <Python.h>
#include "memtrace/format.h"

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
