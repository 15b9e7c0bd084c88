/* memtrace._analyze: the graph analyses (to be written). */
#include "analyze.h"

PyMethodDef mta_graph_methods[] = {
    { NULL, NULL, 0, NULL },
};
