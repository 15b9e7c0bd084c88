/* The JSON heap document (formats/SPEC.md, appendix A): a readable form of
 * a heap graph for fixtures, other tools and eyes.
 *
 *   {"meta": {"tool": "x"},
 *    "objects": [{"id": 17, "type": "dict", "size": 232, "refs": [18,
 *                 {"id": 19, "label": "x", "weak": true}]}],
 *    "roots": [17, {"id": 18, "kind": "module", "name": "app"}]} */
#ifndef MEMTRACE_HEAPJSON_H
#define MEMTRACE_HEAPJSON_H

#include <stdio.h>
#include "memtrace/json.h"
#include "memtrace/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most bytes a JSON heap document may have: 16 GiB, as any input. */
#define MT_HEAPJSON_MAX_BYTES (16ull << 30)
/* The document's own structure nests 4 deep; a value under a key the
 * importer does not know (kept for other tools, and skipped) may nest at
 * most this many arrays and objects, refused as it is read. */
#define MT_HEAPJSON_MAX_DEPTH 64

/* Reads a JSON heap document from in and writes it to the snapshot
 * out_path. Objects keep their order; references and roots may name
 * objects that come later in the document. At most MT_HEAPJSON_MAX_BYTES
 * are read. Strings carry their length: a label or a root's kind or name
 * may hold NUL bytes (\u0000); a key or a type name may not (a NUL would
 * make "dict\u0000x" the type "dict"). Integers (id, size, flags, gen,
 * stack, references, roots) must be non-negative and fit 64 bits (32 for
 * flags, gen and stack): a negative number, a fraction or an exponent, or
 * one too large is refused with its line and column.
 * @return 0, or MT_E_PARSE (diag has the line and column, what was
 *         expected and what was found), MT_E_RANGE (a duplicate id, a
 *         reference to an id no object has), MT_E_LIMIT (larger than
 *         MT_HEAPJSON_MAX_BYTES, or nested deeper than
 *         MT_HEAPJSON_MAX_DEPTH), MT_E_IO, MT_E_NOMEM. An error in
 *         writing the snapshot sets diag->file to out_path; any other
 *         leaves it as the caller set it (the input). */
int mt_heapjson_import(FILE *in, const char *out_path, mt_diag *diag);

/* mt_heapjson_import on the file in_path ("-" is standard input), opened
 * with mt_input_open: a regular file, a pipe or a FIFO (a device is
 * refused before it is opened, a FIFO is opened without waiting for a
 * writer), and a pipe that sends nothing for 10 s is given up (MT_E_IO).
 * Tools should call this rather than fopen(3) and mt_heapjson_import.
 * @return as mt_heapjson_import. */
int mt_heapjson_import_path(const char *in_path, const char *out_path, mt_diag *diag);

/* Writes s (loaded with MT_LOAD_LABELS) to out as a JSON heap document,
 * one object per line. Lost placeholders and references to them are left
 * out.
 * @return 0, or MT_E_INVAL (references not loaded), MT_E_RANGE (two
 *         objects share an id, which the JSON form cannot express),
 *         MT_E_IO, MT_E_NOMEM. */
int mt_heapjson_export(const mt_snapshot *s, FILE *out, mt_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
