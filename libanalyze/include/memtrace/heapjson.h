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
#include "memtrace/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a JSON heap document from in and writes it to the snapshot
 * out_path. Objects keep their order; references and roots may name
 * objects that come later in the document.
 * @return 0, or MT_E_PARSE (diag has the line and column, what was
 *         expected and what was found), MT_E_RANGE (a duplicate id, a
 *         reference to an id no object has), MT_E_IO, MT_E_NOMEM. */
int mt_heapjson_import(FILE *in, const char *out_path, mt_diag *diag);

/* Writes s (loaded with MT_LOAD_LABELS) to out as a JSON heap document,
 * one object per line. Lost placeholders and references to them are left
 * out.
 * @return 0, or MT_E_INVAL (references not loaded), MT_E_RANGE (two
 *         objects share an id, which the JSON form cannot express),
 *         MT_E_IO, MT_E_NOMEM. */
int mt_heapjson_export(const mt_snapshot *s, FILE *out, mt_diag *diag);

/* Writes s as a JSON string, quoted and escaped; valid UTF-8 is passed
 * through, and each byte that is not gives U+FFFD, so the output is always
 * valid JSON. */
void mt_json_put_str(FILE *out, mt_str s);

/* Writes v as a JSON scalar (null, true, 12, -3, 0.5, "text"); NaN and
 * infinities as null, binary as a string with \u00XX for bytes above
 * 0x7f. */
void mt_json_put_value(FILE *out, const mt_value *v);

#ifdef __cplusplus
}
#endif
#endif
