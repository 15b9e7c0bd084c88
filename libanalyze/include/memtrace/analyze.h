/* libanalyze: memtrace's analysis library. One umbrella header; each
 * concern has its own header below. Nothing here prints or exits: every
 * function returns 0 or a negative MT_E_* code and fills an mt_diag. */
#ifndef MEMTRACE_ANALYZE_H
#define MEMTRACE_ANALYZE_H

#include "memtrace/errors.h"
#include "memtrace/format.h"
#include "memtrace/snapshot.h"
#include "memtrace/heapjson.h"
#include "memtrace/json.h"
#include "memtrace/sites.h"
#include "memtrace/diff.h"
#include "memtrace/graph.h"
#include "memtrace/trend.h"
#include "memtrace/series.h"
#include "memtrace/cells.h"
#include "memtrace/leaks.h"
#include "memtrace/frames.h"
#include "memtrace/advise.h"
#include "memtrace/units.h"
#include "memtrace/export.h"
#include "memtrace/gate.h"
#include "memtrace/plot.h"
#include "memtrace/predict.h"
#include "memtrace/text.h"
#include "memtrace/trace.h"
#include "memtrace/traceedit.h"
#include "memtrace/tracediff.h"
#include "memtrace/robust.h"
#include "memtrace/fleet.h"

#endif
