"""memtrace._memtrace's initialization (PEP 489 multi-phase): a fresh
import has every attribute, the module can be executed again (reload, a
module made afresh from its spec, a subinterpreter) without breaking the
Writer type the others share, and an initialization that runs out of memory
fails with MemoryError, leaks nothing and releases nothing twice.

Each case runs in its own interpreter, so that it sees a first import and
a crash fails one test only."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import BUILD, HERE
from spec_reader import Snapshot


def run_python(code, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(BUILD, "python"), HERE]))
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.returncode == 0, f"exit status {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def test_a_fresh_import_has_every_attribute(tmp_path):
    out = run_python("""
        import json, sys
        assert "memtrace._memtrace" not in sys.modules
        import memtrace._memtrace as m
        import memtrace
        path = sys.argv[1]
        with m.Writer(path) as w:
            w.add_object(1, "dict", 232)
        print(json.dumps({
            "names": sorted(n for n in dir(m) if not n.startswith("__") or n == "__version__"),
            "writer": [m.Writer.__module__, m.Writer.__qualname__, isinstance(m.Writer, type)],
            "version": [m.__version__, memtrace.__version__],
            "format": [m.FORMAT_MAJOR, m.FORMAT_MINOR],
            "same": [memtrace.Writer is m.Writer, memtrace.dump_heap is m.dump_heap],
            "doc": m.__doc__, "name": m.__name__, "spec": m.__spec__.name,
        }))
        """, tmp_path / "a.snap")
    got = json.loads(out)
    assert got["names"] == ["FORMAT_MAJOR", "FORMAT_MINOR", "ObjectLedger", "Sampler", "Writer", "__version__",
                            "column_stats", "dump_heap", "gc_type_counts", "import_torch", "parse_alert", "rss", "stacks_running", "stacks_start",
                            "stacks_stop", "trace_after_fork", "trace_event", "trace_now",
                            "trace_running", "trace_start", "trace_stop"]
    assert got["writer"] == ["memtrace", "Writer", True]
    assert got["version"][0] == got["version"][1] and got["version"][0]
    assert got["same"] == [True, True]
    assert got["name"] == got["spec"] == "memtrace._memtrace"
    assert got["doc"] == "The C side of the memtrace package."
    # The constants say what the writer writes, as the independent reader sees it.
    r = Snapshot(str(tmp_path / "a.snap"))
    assert got["format"] == [r.major, r.minor]


def test_executing_the_module_again_keeps_the_shared_writer_type(tmp_path):
    """importlib.reload and module_from_spec run Py_mod_exec again on the
    static Writer type: each module takes its own reference to it, and
    dropping the modules gives exactly those back."""
    out = run_python("""
        import gc, importlib, importlib.util, sys
        import memtrace._memtrace as m
        W = m.Writer
        base = sys.getrefcount(W)
        importlib.reload(m)
        assert m.Writer is W
        spec = importlib.util.find_spec("memtrace._memtrace")
        fresh = []
        for i in range(5):
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            assert mod is not m and mod.Writer is W and mod.FORMAT_MINOR == m.FORMAT_MINOR
            fresh.append(mod)
        held = sys.getrefcount(W) - base
        del fresh, mod
        gc.collect()
        with W(sys.argv[1]) as w:
            w.add_object(7, "list", 88)
        print(held, sys.getrefcount(W) - base)
        """, tmp_path / "b.snap")
    held, after = map(int, out.split())
    assert held == 5 and after == 0
    assert [o["id"] for o in Snapshot(str(tmp_path / "b.snap")).of("objects")] == [7]


def test_import_in_a_subinterpreter(tmp_path):
    pytest.importorskip("_testcapi")
    sub = tmp_path / "sub.snap"
    out = run_python("""
        import sys, _testcapi
        import memtrace._memtrace as m
        code = ("import memtrace._memtrace as m, memtrace\\n"
                "with m.Writer(%r) as w:\\n"
                "    w.add_object(1, 'dict', 232)\\n"
                "    w.add_object(2, 'list', 88)\\n"
                "    w.add_ref(1, 2)\\n"
                "assert memtrace.Writer is m.Writer\\n") % sys.argv[1]
        print(_testcapi.run_in_subinterp(code))
        print(_testcapi.run_in_subinterp(code))
        with m.Writer(sys.argv[1] + ".main") as w:
            w.add_object(3, "set", 216)
        """, sub)
    assert out.split() == ["0", "0"]
    r = Snapshot(str(sub))
    assert [o["id"] for o in r.of("objects")] == [1, 2] and len(r.of("refs")) == 1
    assert [o["id"] for o in Snapshot(str(sub) + ".main").of("objects")] == [3]


def test_an_initialization_out_of_memory_fails_cleanly():
    """Every allocation from the n-th on fails while the module executes:
    a MemoryError (never a crash), and the Writer type's reference count
    back where it was once the failed modules are gone: the exec function
    neither keeps nor drops a reference it does not own."""
    pytest.importorskip("_testcapi")
    out = run_python("""
        import gc, importlib.util, sys, _testcapi
        import memtrace._memtrace as m
        W = m.Writer
        base = sys.getrefcount(W)
        spec = importlib.util.find_spec("memtrace._memtrace")
        failed = succeeded_at = 0
        for n in range(200):
            mod = importlib.util.module_from_spec(spec)
            _testcapi.set_nomemory(n, 0)
            try:
                spec.loader.exec_module(mod)
            except MemoryError:
                failed += 1
                continue
            finally:
                _testcapi.remove_mem_hooks()
                gc.collect()
            assert mod.Writer is W and mod.FORMAT_MAJOR == m.FORMAT_MAJOR
            succeeded_at = n
            break
        del mod
        gc.collect()
        print(failed, succeeded_at, sys.getrefcount(W) - base)
        """)
    failed, succeeded_at, leaked = map(int, out.split())
    # Adding the four attributes allocates: the first runs must fail.
    assert failed >= 4 and succeeded_at == failed
    assert leaked == 0
