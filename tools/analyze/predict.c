/* memtrace._analyze: the predict analyses (to be written). */
#include "analyze.h"

PyMethodDef mta_predict_methods[] = {
    { NULL, NULL, 0, NULL },
};
