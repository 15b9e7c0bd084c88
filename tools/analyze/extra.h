/* What graph.c, advise.c, predict.c and gate.c share (memtrace._analyze's
 * analyses beyond the core): loading with the GIL released, and building
 * the dicts and lists their --format json output holds. */
#ifndef MEMTRACE_PY_EXTRA_H
#define MEMTRACE_PY_EXTRA_H

#include "analyze.h"

/* Loads path (flags: MT_LOAD_*) with the GIL released; on error raises
 * the exception for it (mta_raise) and returns NULL. */
mt_snapshot *mta_load(const char *path, unsigned flags, int salvage);


/* Python values of C ones: a str of len bytes (invalid UTF-8 replaced,
 * as the tools' JSON writer does), a str or None. New references. */
PyObject *mta_str(const char *p, size_t len);
PyObject *mta_cstr_or_none(const char *s);
PyObject *mta_u64(uint64_t v);

/* A sequence of str (a str alone counts as one) as a NULL-ended array
 * of UTF-8 pointers into the sequence's items, held by *keep (a list
 * the caller drops after the array is used); *n its length. For names
 * (columns, frames); paths go through mta_paths.
 * @return the array (free() it), or NULL with an exception set. */
const char **mta_strings(PyObject *seq, const char *what, size_t *n, PyObject **keep);

/* The same for paths: str, bytes or os.PathLike (one alone counts as
 * one), each encoded as os.fsencode() does (PyUnicode_FSConverter), so
 * that any name the system takes, valid UTF-8 or not, reaches it as its
 * bytes. */
const char **mta_paths(PyObject *seq, const char *what, size_t *n, PyObject **keep);

/* A path the library gave back (a file name it was handed) as os.fsdecode
 * makes it: the str the caller passed in. New reference. */
PyObject *mta_path_str(const char *path);

/* advise.c: the shipped rules (unless no_defaults), then each rule file
 * of rule_files (None, a path, or a sequence of paths) in order. NULL
 * with the exception raised: BadInputError with the line and column for
 * a file that is not YAML or holds a wrong rule, FileError for one that
 * cannot be read. */
struct mt_rules;
struct mt_rules *mta_rules_make(PyObject *rule_files, int no_defaults);

#endif
