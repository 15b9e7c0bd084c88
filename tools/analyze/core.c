/* memtrace._analyze: the core analyses (to be written). */
#include "analyze.h"

PyMethodDef mta_core_methods[] = {
    { NULL, NULL, 0, NULL },
};
