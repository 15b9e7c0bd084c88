/* memtrace._analyze: the gate analyses (to be written). */
#include "analyze.h"

PyMethodDef mta_gate_methods[] = {
    { NULL, NULL, 0, NULL },
};
