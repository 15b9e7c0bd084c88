/* memtrace._analyze: the advise analyses (to be written). */
#include "analyze.h"

PyMethodDef mta_advise_methods[] = {
    { NULL, NULL, 0, NULL },
};
