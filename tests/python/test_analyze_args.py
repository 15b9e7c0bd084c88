"""memtrace.analyze's arguments and handles: negative counts refused by
name (not wrapped to 2**64 - 1), paths the system takes whether or not
they are UTF-8, predict's inline shapes errors as memtrace-predict says
them, closed Snapshots and Graphs, and FileError's errno, strerror and
filename as an OSError's. The oracles are the tools run on the same
files, Python's own OSError for the same path, and the files' contents."""

import errno
import json
import os
import shutil
import subprocess

import pytest

import memtrace
import memtrace.analyze as A
from conftest import ROOT, tool

TESTDATA = os.path.join(ROOT, "testdata")
SMALL = os.path.join(TESTDATA, "heap-small.snap")
MEDIUM = os.path.join(TESTDATA, "heap-medium.snap")
SALES = os.path.join(TESTDATA, "frames-sales.snap")


def cli_json(name, *args, ok=(0,)):
    p = subprocess.run([tool(name), *map(os.fsencode, args), "--format", "json"], capture_output=True)
    assert p.returncode in ok, p.stderr
    return json.loads(p.stdout)


# ---- every integer argument refuses a negative, naming itself ----

def _graph_call(method, *args, **kw):
    def call(**extra):
        with A.graph(SMALL) as g:
            return getattr(g, method)(*args, **dict(kw, **extra))
    return call


# (the call with the argument added, the argument's name)
CALLS = [
    (lambda **kw: memtrace.open(SMALL).info(**kw), "top"),
    (lambda **kw: A.diff(SMALL, MEDIUM, **kw), "top"),
    (lambda **kw: A.diff(SMALL, MEDIUM, **kw), "min_delta"),
    (lambda **kw: A.leaks([SMALL, SMALL, MEDIUM], **kw), "top"),
    (lambda **kw: A.leaks([SMALL, SMALL, MEDIUM], **kw), "min_growth"),
    (lambda **kw: A.leaks([SMALL, SMALL, MEDIUM], **kw), "floor"),
    (_graph_call("retained"), "top"),
    (_graph_call("path_to_roots", "bytearray"), "top"),
    (lambda **kw: A.advise(SALES, **kw), "available"),
    (lambda **kw: A.gate(SMALL, MEDIUM, **kw), "available"),
    (lambda **kw: A.predict("merge", "left=1000x3,right=10x2", left="left", right="right", on="id", **kw), "available"),
    (lambda **kw: A.predict("read_csv", csv=os.path.join(TESTDATA, "sales.csv"), **kw), "sample_rows"),
    (lambda **kw: A.fleet([os.path.join(TESTDATA, "fleet")], leaks=False, **kw), "top"),
]


@pytest.mark.parametrize("call,name", CALLS, ids=["%d-%s" % (i, c[1]) for i, c in enumerate(CALLS)])
def test_a_negative_integer_argument_raises_value_error_naming_it(call, name):
    call(**{name: 1})  # the argument is taken as it is named
    with pytest.raises(ValueError) as e:
        call(**{name: -1})
    assert str(e.value) == "%s must be >= 0, got -1" % name
    assert not isinstance(e.value, A.Error)


@pytest.mark.parametrize("what,name", [("top", "top"), ("min_delta", "min_delta")])
def test_the_c_module_refuses_negatives_and_bools_itself(what, name):
    # The wrappers pass the value on; the module is where it is checked.
    from memtrace import _analyze
    with memtrace.open(SMALL) as a, memtrace.open(MEDIUM) as b:
        with pytest.raises(ValueError, match="^%s must be >= 0, got -7$" % name):
            _analyze.diff(a._s, b._s, **{what: -7})
        with pytest.raises(TypeError, match="^%s must be an int, not bool$" % name):
            _analyze.diff(a._s, b._s, **{what: True})
        with pytest.raises(OverflowError, match=name):
            _analyze.diff(a._s, b._s, **{what: 1 << 64})
        # The largest a uint64 holds is still a count (top: all groups).
        d = _analyze.diff(a._s, b._s, **{what: (1 << 64) - 1})
    assert d["groups_shown"] == (0 if name == "min_delta" else d["groups_total"])


def test_a_negative_object_id_is_refused_by_name():
    with A.graph(SMALL) as g:
        with pytest.raises(ValueError, match="^id must be >= 0, got -3$"):
            g.path_to_roots(-3)
        with pytest.raises(TypeError):
            g.path_to_roots(True)


# ---- paths that are not UTF-8 ----

@pytest.fixture
def odd_dir(tmp_path):
    """A directory whose name holds the byte 0xff (not UTF-8), with
    copies of testdata's snapshots and its fleet of dumps."""
    d = os.path.join(os.fsencode(str(tmp_path)), b"dumps\xff")
    os.mkdir(d)
    for n in ("heap-small.snap", "heap-medium.snap", "frames-sales.snap"):
        shutil.copy(os.path.join(TESTDATA, n), os.fsdecode(os.path.join(d, os.fsencode(n))))
    shutil.copytree(os.path.join(TESTDATA, "fleet"), os.fsdecode(os.path.join(d, b"fleet")))
    return os.fsdecode(d)  # a str with a surrogate escape, as os.listdir gives it


def test_paths_that_are_not_utf8_work_where_open_works(odd_dir):
    small, medium, sales = (os.path.join(odd_dir, n) for n in ("heap-small.snap", "heap-medium.snap",
                                                                 "frames-sales.snap"))
    with open(small, "rb") as f:  # the system takes the name
        assert f.read(8)
    # advise: a str with a surrogate escape, and the same as bytes.
    want = cli_json("memtrace-advise", sales)
    for path in (sales, os.fsencode(sales)):
        got = A.advise(path)
        assert got.total_saving_bytes == want["total_saving_bytes"]
        assert len(got.advice) == len(want["advice"])
        # The file is named as it was given: the str os.fsdecode makes.
        assert set(got.advice.file) == {sales} and list(got.files.file) == [sales]
    want = cli_json("memtrace-gate", "--baseline", small, "--current", medium, ok=(0, 1))
    got = A.gate(small, medium)
    assert (got.passed, got.baseline_bytes, got.current_bytes) == (
        want["passed"], want["baseline_bytes"], want["current_bytes"])
    want = cli_json("memtrace-diff", small, medium)
    got = A.diff(small, os.fsencode(medium))
    assert (got.a, got.b) == (small, medium)
    assert got.total["bytes_delta"] == want["total"]["bytes_delta"]
    series = [small, small, medium]
    want = cli_json("memtrace-leaks", *series)
    got = A.leaks(series)
    assert got.snapshots == want["snapshots"] == 3
    assert [s["type"] for s in got.suspects] == [s["type"] for s in want["suspects"]]
    fleet = os.path.join(odd_dir, "fleet")
    want = cli_json("memtrace-fleet", fleet)
    for path in (fleet, os.fsencode(fleet)):
        got = A.fleet(path)
        assert [w["worker"] for w in got.raw["workers"]] == [w["worker"] for w in want["workers"]]
        assert [w["heap_bytes"] for w in got.raw["workers"]] == [w["heap_bytes"] for w in want["workers"]]
        # The latest dump of each worker is a path that opens.
        assert all(os.path.exists(p) and p.startswith(fleet) for p in got.workers.latest)
    with memtrace.open(small) as s:
        assert s.path == small and s.info().file == small
    with A.graph(small) as g:
        assert g.retained().objects == cli_json("memtrace-graph", small)["objects"]


def test_a_missing_path_that_is_not_utf8_names_it_as_given(odd_dir):
    path = os.path.join(odd_dir, "no-such.snap")
    with pytest.raises(A.FileError) as e:
        A.advise(path)
    assert e.value.path == path and e.value.filename == path and e.value.errno == errno.ENOENT


# ---- predict's inline shapes ----

@pytest.mark.parametrize("shapes", ["left=2e6x8,right=", "left=2e6x8,right=5e4y3", "left=abc",
                                    "left=2e6x8:id/x,right=5x3"])
def test_an_inline_shapes_syntax_error_names_the_argument_and_character_as_the_tool(shapes):
    p = subprocess.run([tool("memtrace-predict"), "--op", "merge", "--shapes", shapes, "--on", "id"],
                       capture_output=True, text=True)
    assert p.returncode == 2
    lines = [line[len("memtrace-predict: "):] for line in p.stderr.splitlines()]
    assert lines[0].startswith("--shapes: character ")
    column = int(lines[0].split()[2].rstrip(":"))
    with pytest.raises(A.BadInputError) as e:
        A.predict("merge", shapes, on="id")
    # The tool's message, the argument named as Python names it.
    assert str(e.value) == "\n".join([lines[0][2:]] + lines[1:])
    assert e.value.column == column and e.value.path is None and e.value.code == "MT_E_PARSE"
    assert str(e.value).splitlines()[2].index("^") - 2 == column - 1


# ---- closed handles ----

def test_a_closed_snapshot_says_which_and_that_it_is_closed():
    s = memtrace.open(SMALL)
    s.close()
    want = "memtrace.analyze.Snapshot %s is closed" % SMALL
    for use in (lambda: s.info(), lambda: s.frames(), lambda: s.columns(), lambda: s.meta,
                lambda: A.diff(s, MEDIUM), lambda: A.diff(MEDIUM, s)):
        with pytest.raises(ValueError) as e:
            use()
        assert str(e.value) == want


def test_a_graph_closes_and_is_a_context_manager():
    with A.graph(SMALL) as g:
        assert not g.closed
        want = cli_json("memtrace-graph", SMALL)
        assert g.retained().objects == want["objects"]
    assert g.closed and "closed" in repr(g)
    for use in (g.dominators, g.retained, lambda: g.path_to_roots("bytearray")):
        with pytest.raises(ValueError) as e:
            use()
        assert str(e.value) == "memtrace.analyze.Graph %s is closed" % SMALL
    g.close()  # twice is fine
    g = A.graph(SMALL)
    n = len(g.dominators().objects)
    g.close()
    assert g.closed and n == want["reachable"]["objects"]


# ---- FileError as an OSError ----

def test_file_error_carries_errno_strerror_and_filename_as_os_error(tmp_path):
    path = str(tmp_path / "no-such.snap")
    with pytest.raises(OSError) as want:
        open(path, "rb")
    for call in (lambda: memtrace.open(path), lambda: A.graph(path), lambda: A.advise(path),
                 lambda: A.leaks([path, path, path]), lambda: A.gate(path, SMALL)):
        with pytest.raises(A.FileError) as e:
            call()
        x = e.value
        assert (x.errno, x.strerror, x.filename) == (want.value.errno, want.value.strerror, path)
        assert x.errno == errno.ENOENT
        # str() stays the tool's message, which names the path.
        assert str(x).startswith(path + ": ")
    # A directory: the system's EISDIR.
    with pytest.raises(A.FileError) as e:
        memtrace.open(str(tmp_path))
    assert e.value.errno == errno.EISDIR and e.value.filename == str(tmp_path)
    # A damaged file is not the system's error: no errno.
    with pytest.raises(A.BadInputError) as e:
        memtrace.open(os.path.join(TESTDATA, "damaged", "truncated.snap"))
    assert not hasattr(e.value, "errno")
