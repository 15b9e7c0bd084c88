/* A running frame's local variables, read without side effects.
 *
 * In CPython 3.11 a running frame keeps its locals in the thread's frame
 * stack, which neither the frame object's traverse nor any public call
 * shows without building an f_locals dict; that dict then stays on the
 * frame and keeps every local alive after the dump (the collector's own
 * leak test caught it). So this one file reads the interpreter frame, as
 * debuggers do, through the internal header of the very Python the
 * extension is built for. Cells are reported as the cell objects. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_frame.h>
#include "heapdump.h"

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "frame_locals.c reads CPython 3.11's frames: port it for this Python"
#endif

int mt__frame_locals(PyObject *frame, mt__local_fn fn, void *arg) {
    _PyInterpreterFrame *f = ((PyFrameObject *)frame)->f_frame;
    if (!f) return 0;
    PyCodeObject *co = f->f_code;
    for (int i = 0; i < co->co_nlocalsplus; i++) {
        PyObject *v = f->localsplus[i];
        if (v && fn(PyTuple_GET_ITEM(co->co_localsplusnames, i), v, arg)) return -1;
    }
    return 0;
}
