/* memtrace._analyze: the fleet view over many workers' dumps (to be
 * written: memtrace.analyze.fleet). */
#include "analyze.h"

PyMethodDef mta_fleet_methods[] = {
    { NULL, NULL, 0, NULL },
};
