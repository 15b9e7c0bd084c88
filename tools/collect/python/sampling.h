/* memtrace._memtrace's Sampler (sampling.c): the Python collector's face
 * of the sampler library (tools/collect/sampler/sampler.h). */
#ifndef MT_PY_SAMPLING_H
#define MT_PY_SAMPLING_H

#include <Python.h>

/* The Sampler type; module_exec readies and adds it. */
extern PyTypeObject memtrace_SamplerType;

/* parse_alert(text): an alert expression as a dict, or ValueError with
 * the column at fault (its `column` attribute, 1-based). */
PyObject *memtrace_parse_alert(PyObject *self, PyObject *args);

#endif
