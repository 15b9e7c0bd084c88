/* memtrace._memtrace.ObjectLedger (realbytes.c): the distinct Python
 * objects of a snapshot's frames, by identity, for df_frames and
 * df_columns real_bytes and shared_bytes (memtrace-snap(5)). */
#ifndef MT_REALBYTES_H
#define MT_REALBYTES_H

#include <Python.h>

extern PyTypeObject memtrace_ObjectLedgerType;

#endif
