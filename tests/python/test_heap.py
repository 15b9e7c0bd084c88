"""memtrace.dump_heap on real heaps built here, read back with the
independent reader; the oracles are CPython's own answers: id(),
sys.getsizeof, gc.get_referents, sys.getrefcount, gc's state."""

import collections
import gc
import os
import subprocess
import sys
import tracemalloc
import types
import weakref

import pytest

import memtrace
import spec_reader
from conftest import tool


@pytest.fixture(autouse=True)
def small_heap():
    """Earlier tests' garbage would make every dump, and reading it back
    with the pure-Python reader, slow."""
    gc.collect()


class Node:
    def __init__(self, i, nxt):
        self.i = i
        self.nxt = nxt
        self.payload = [i] * 3


# 3.11 and 3.12 size each new instance's values array from the shared keys,
# which give up a slot per instance until one is left: the first Nodes get
# larger arrays, which the dump can only bound (cpython311.c). Made here,
# so that every Node of the tests has the steady size that
# held_beyond_getsizeof measures.
_warm = [Node(0, None) for _ in range(64)]
del _warm


def held_beyond_getsizeof():
    """The bytes a Node holds that sys.getsizeof leaves out (3.11 on: the
    values of its attributes, kept outside any dict), as tracemalloc sees
    them allocated: 1000 Nodes' blocks less what sys.getsizeof reports for
    each and for the payload list each makes (the int is not new). The
    list free list is emptied first: a payload list taken from it was
    allocated before tracing and is not counted (up to 80 of them, 4.5
    bytes a Node, which had made this 36 or 40 by what ran before)."""
    drain = [[] for _ in range(200)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    made = [Node(1000, None) for _ in range(1000)]
    traced = tracemalloc.get_traced_memory()[0] - before - sys.getsizeof(made)
    tracemalloc.stop()
    del drain
    seen = sum(sys.getsizeof(n) + sys.getsizeof(n.payload) for n in made)
    if sys.version_info < (3, 11):
        seen += sum(sys.getsizeof(n.__dict__) for n in made)  # an object of its own
    return round((traced - seen) / len(made))


def load(path):
    s = spec_reader.Snapshot(str(path))
    types_ = {t["id"]: t["name"] for t in s.of("types")}
    objs = s.of("objects")
    by_id = {o["id"]: n for n, o in enumerate(objs)}
    out = collections.defaultdict(list)
    for r in s.of("refs"):
        out[r["src"]].append(r)
    return s, types_, objs, by_id, out


def test_known_structure_exact_counts_sizes_and_references(tmp_path):
    nodes = []
    head = None
    for i in range(1000, 1500):
        head = Node(i, head)
        nodes.append(head)
    path = tmp_path / "h.snap"
    summary = memtrace.dump_heap(str(path))
    s, types_, objs, by_id, out = load(path)
    assert summary["objects"] == len(objs)
    assert summary["refs"] == len(s.of("refs"))
    name = Node.__module__ + ".Node"
    dumped = [o for o in objs if types_[o["type"]] == name]
    assert len(dumped) == len(nodes)
    held = held_beyond_getsizeof()
    assert held >= 0 if sys.version_info < (3, 11) else held > 0
    for node in nodes:
        n = by_id[id(node)]
        assert objs[n]["size"] == sys.getsizeof(node) + held
        assert objs[n]["flags"] & 1  # tracked by the collector
        # The references are exactly what the collector's traverse reports.
        want = sorted(id(x) for x in gc.get_referents(node))
        got = sorted(objs[r["dst"]]["id"] for r in out[n] if not r["flags"] & 1)
        assert got == want
        # And among them, the structure built above.
        assert id(node.payload) in got and id(type(node)) in got
        if node.nxt is not None:
            assert id(node.nxt) in got
    # Generations are CPython's: gc.get_objects(generation=g) is the oracle.
    young = [Node(-1, None) for _ in range(3)]
    path2 = tmp_path / "g.snap"
    memtrace.dump_heap(str(path2))
    gens = {id(o): g for g in range(3) for o in gc.get_objects(generation=g)}
    _, _, objs2, by_id2, _ = load(path2)
    for o in young + nodes[:50]:
        assert objs2[by_id2[id(o)]]["gen"] == gens[id(o)]
    # Untracked referents are there too, with their sizes.
    assert objs[by_id[id(nodes[0].payload[0])]]["size"] == sys.getsizeof(nodes[0].payload[0])
    lst = by_id[id(nodes[7].payload)]
    assert [(objs[r["dst"]]["id"], r["label"]) for r in out[lst]] == [
        (id(x), "[%d]" % k) for k, x in enumerate(nodes[7].payload)]


def test_sizes_are_sys_getsizeof_for_every_kind_of_object(tmp_path):
    """Sizes come two ways (computed, a C __sizeof__ called directly):
    each agrees with sys.getsizeof, but for a Python __sizeof__, which the
    walk never calls: such an object gets its C-level size; and for an
    instance whose attributes are outside a dict (3.11 on), which holds
    them on top."""
    import array
    import decimal

    class Sized(list):
        def __sizeof__(self):  # a Python override: never called (issue 30 #8)
            return 12345

    grown = []
    for i in range(37):
        grown.append(i)  # spare capacity, which list.__sizeof__ counts
    keep = [
        grown, [], {}, {i: i for i in range(100)}, set(range(50)), frozenset("abc"),
        "ascii", "non-ascii \u00e9\u4e2d" * 3, "\U0001f600" * 5, b"bytes" * 9, bytearray(77),
        2 ** 200, -(2 ** 70), 0, 3.5, 1 + 2j, (1, 2, 3), range(10), array.array("d", [1.0] * 33),
        collections.deque(range(100)), collections.OrderedDict(a=1), decimal.Decimal("1.5"),
        Sized([1]), Node(0, None), memoryview(b"xyz"), object(), types.SimpleNamespace(a=1),
    ]
    path = tmp_path / "s.snap"
    memtrace.dump_heap(str(path))
    s, types_, objs, by_id, out = load(path)
    for o in keep:
        if type(o) is Sized:
            # Its C-level size: list's __sizeof__ and the collector header.
            # sys.getsizeof adds the pre-header to what __sizeof__ says.
            want = list.__sizeof__(o) + sys.getsizeof(o) - 12345
        elif type(o) is Node:
            # And its attribute values outside a dict (3.11 on).
            want = sys.getsizeof(o) + held_beyond_getsizeof()
        else:
            want = sys.getsizeof(o)
        assert objs[by_id[id(o)]]["size"] == want, (type(o), o if len(repr(o)) < 60 else "")


def test_dict_and_slot_references_are_labelled(tmp_path):
    """Every value of a dict of any size is labelled with its key, and the
    references are exactly gc.get_referents' (a table of str keys does not
    visit its keys, any other does); slots are labelled with their names."""

    class Slotted:
        __slots__ = ("left", "right")

    big = {"k%d" % i: [i] for i in range(10000)}  # str keys, past any size limit
    mixed = {1: ["one"], -5: ["minus"], (2, 3): ["pair"], "s": ["str"], "\u00e9" * 150: ["long"]}
    split = Node(5, None).__dict__  # an instance dict: split table
    pair = Slotted()
    pair.left, pair.right = ["L"], ["R"]
    items = [[k] for k in range(12)]
    items.append(object())  # spare capacity: NULL slots are not items
    frozen = tuple(items)
    path = tmp_path / "d.snap"
    memtrace.dump_heap(str(path))
    s, types_, objs, by_id, out = load(path)
    for d in (big, mixed, split):
        refs = out[by_id[id(d)]]
        assert sorted(objs[r["dst"]]["id"] for r in refs) == sorted(id(x) for x in gc.get_referents(d))
        labels = {objs[r["dst"]]["id"]: r["label"] for r in refs if r["label"]}
        for k, v in d.items():
            # A str key is cut to 200 bytes of UTF-8, whole characters only.
            short = k.encode()[:200].decode(errors="ignore") if isinstance(k, str) else k
            want = "['%s']" % short if isinstance(k, str) else "[%d]" % k if isinstance(k, int) else "[<tuple>]"
            assert labels[id(v)] == want
    refs = out[by_id[id(pair)]]
    assert {objs[r["dst"]]["id"]: r["label"] for r in refs} == {
        id(Slotted): "__class__", id(pair.left): "left", id(pair.right): "right"}
    # Items by their index, though list and tuple traverse them backwards.
    for seq in (items, frozen):
        got = {objs[r["dst"]]["id"]: r["label"] for r in out[by_id[id(seq)]]}
        assert got == {id(x): "[%d]" % k for k, x in enumerate(seq)}


def test_weak_only_object_is_marked_weak(tmp_path):
    class Cyclic:
        pass

    x = Cyclic()
    x.me = x  # a cycle keeps it alive until a collection
    w = weakref.ref(x)
    addr = id(x)
    del x
    path = tmp_path / "w.snap"
    memtrace.dump_heap(str(path))
    assert w() is not None
    s, types_, objs, by_id, out = load(path)
    target = by_id[addr]
    into = [(src, r) for src, rs in out.items() for r in rs if r["dst"] == target]
    weak = [(src, r) for src, r in into if r["flags"] & 1]
    assert [objs[src]["id"] for src, _ in weak] == [id(w)]
    # Every strong reference to it comes from its own cycle.
    strong_from = {objs[src]["id"] for src, r in into if not r["flags"] & 1}
    assert strong_from <= {addr} | {id(v) for v in gc.get_referents(w())}


def test_module_container_is_held_from_its_module_root(tmp_path):
    mod = types.ModuleType("fake_app")
    mod._SESSIONS = {"u42": object()}
    sys.modules["fake_app"] = mod
    try:
        path = tmp_path / "m.snap"
        memtrace.dump_heap(str(path))
        s, types_, objs, by_id, out = load(path)
        roots = [r for r in s.of("roots") if r["kind"] == "module" and r["name"] == "fake_app"]
        assert [objs[r["obj"]]["id"] for r in roots] == [id(mod)]
        m = by_id[id(mod)]
        d = [r for r in out[m] if objs[r["dst"]]["id"] == id(mod.__dict__)]
        assert [r["label"] for r in d] == ["__dict__"]
        sessions = [r for r in out[d[0]["dst"]] if objs[r["dst"]]["id"] == id(mod._SESSIONS)]
        assert [r["label"] for r in sessions] == ["['_SESSIONS']"]
        u42 = [r for r in out[by_id[id(mod._SESSIONS)]] if objs[r["dst"]]["id"] == id(mod._SESSIONS["u42"])]
        assert [r["label"] for r in u42] == ["['u42']"]
    finally:
        del sys.modules["fake_app"]


def test_frames_are_roots_and_their_locals_referenced(tmp_path):
    local_marker = ["only", "in", "this", "frame"]
    path = tmp_path / "f.snap"
    memtrace.dump_heap(str(path))
    s, types_, objs, by_id, out = load(path)
    here = sys._getframe().f_code.co_name  # not inside a comprehension: it has a frame of its own
    frames = [r for r in s.of("roots") if r["kind"] == "frame"]
    names = [r["name"].split(" ")[0] for r in frames]
    assert here in names
    me = [r for r in frames if r["name"].startswith(here + " ")][0]
    held = {objs[r["dst"]]["id"]: r["label"] for r in out[me["obj"]]}
    assert held[id(local_marker)] == "local_marker"


def test_objects_held_from_c_are_roots(tmp_path):
    """A reference no referrer accounts for (taken here with Py_IncRef, as
    an extension's static would) makes the object a "c" root; an object
    whose every reference is seen is none."""
    import ctypes

    held = Node(1, None)
    seen = Node(2, None)
    holder = [held, seen]
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(held))
    try:
        path = tmp_path / "c.snap"
        memtrace.dump_heap(str(path))
    finally:
        ctypes.pythonapi.Py_DecRef(ctypes.py_object(held))
    def c_roots(p):
        s, types_, objs, by_id, out = load(p)
        return {objs[r["obj"]]["id"] for r in s.of("roots") if r["kind"] == "c"}

    roots = c_roots(path)
    assert id(held) in roots
    assert id(seen) not in roots and id(holder) not in roots
    # Without the hidden reference, held is like seen.
    memtrace.dump_heap(str(tmp_path / "d.snap"))
    assert id(held) not in c_roots(tmp_path / "d.snap")


def test_gc_state_is_left_as_found_and_collect_is_optional(tmp_path):
    before = gc.get_threshold()
    gc.disable()
    try:
        memtrace.dump_heap(str(tmp_path / "a.snap"))
        assert not gc.isenabled()
    finally:
        gc.enable()
    memtrace.dump_heap(str(tmp_path / "b.snap"))
    assert gc.isenabled() and gc.get_threshold() == before

    class Garbage:
        pass

    g = Garbage()
    g.me = g
    addr = id(g)
    del g
    memtrace.dump_heap(str(tmp_path / "c.snap"))  # no collection: still there
    assert addr in load(tmp_path / "c.snap")[3]
    memtrace.dump_heap(str(tmp_path / "d.snap"), collect=True)
    _, types_, objs, by_id, _ = load(tmp_path / "d.snap")
    assert addr not in by_id or types_[objs[by_id[addr]]["type"]] != Garbage.__qualname__


def allocate_here():
    return [bytearray(100) for _ in range(10)] + [Node(k, None) for k in range(3)]  # the line tracemalloc records


def test_tracebacks_and_meta(tmp_path):
    tracemalloc.start(8)
    try:
        made = allocate_here()
        line = allocate_here.__code__.co_firstlineno + 1
        path = tmp_path / "t.snap"
        memtrace.dump_heap(str(path), label="worker-3")
    finally:
        tracemalloc.stop()
    s, types_, objs, by_id, out = load(path)
    meta = s.meta()
    assert meta["pid"] == os.getpid() and meta["label"] == "worker-3"
    assert meta["python_version"] == sys.version.split()[0]
    assert meta["tracemalloc_current"] > 0 and meta["tracemalloc_peak"] >= meta["tracemalloc_current"]
    frames = {f["id"]: f for f in s.of("frames")}
    stacks = {st["id"]: st for st in s.of("stacks")}
    # The Node instances keep their attributes beside them (3.11's managed
    # dict): their memory starts before the collector's header, where
    # 3.11's own get_object_traceback does not look; the dump does.
    for b in made:
        sid = objs[by_id[id(b)]]["stack"]
        assert sid, "no stack recorded"
        inner = frames[stacks[sid]["frame"]]
        assert (inner["file"], inner["line"]) == (__file__, line)
        # The chain goes out to this test function's call.
        chain = []
        while sid:
            chain.append(frames[stacks[sid]["frame"]]["line"])
            sid = stacks[sid]["parent"]
        assert len(chain) >= 2


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_dump_keeps_no_memory_and_no_references(tmp_path):
    probe = "a string only this test holds " + str(os.getpid())
    table = {i: str(i) for i in range(200000)}
    me = sys._getframe()
    refs_before = sys.getrefcount(probe), sys.getrefcount(table[7]), sys.getrefcount(me), sys.getrefcount(me.f_back)
    memtrace.dump_heap(str(tmp_path / "warm.snap"))
    rss_before = rss()
    for k in range(5):
        memtrace.dump_heap(str(tmp_path / "warm.snap"))
    assert rss() - rss_before < 8 << 20, "RSS grew by %d bytes over 5 dumps" % (rss() - rss_before)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for k in range(5):
            memtrace.dump_heap(str(tmp_path / ("x%d.snap" % k)))
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, "dump_heap kept %d bytes" % grown
    assert (sys.getrefcount(probe), sys.getrefcount(table[7]), sys.getrefcount(me),
            sys.getrefcount(me.f_back)) == refs_before


def test_the_tools_accept_the_dump(tmp_path):
    path = tmp_path / "h.snap"
    memtrace.dump_heap(str(path))
    p = subprocess.run([tool("memtrace-info"), "--format", "json", str(path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert '"tool": "memtrace.dump_heap"' in p.stdout


def test_bad_arguments():
    with pytest.raises(TypeError):
        memtrace.dump_heap("/tmp/x.snap", label=3)
    with pytest.raises(OSError, match="cannot create"):
        memtrace.dump_heap("/no/such/dir/x.snap")
    assert gc.isenabled()
    probe = ["held only here"]
    before = sys.getrefcount(probe)
    with pytest.raises(OSError, match="No space left on device"):  # a full disk
        memtrace.dump_heap("/dev/full")
    assert gc.isenabled() and sys.getrefcount(probe) == before


def test_the_walk_runs_no_python_code(tmp_path):
    """Issue 30 #8: a Python __sizeof__ (pandas has them) called during
    the walk let a second thread run and change the heap under the dump:
    objects that were always reachable came out "held from C". Here a
    module holds a pandas frame and 20,000 objects with a Python
    __sizeof__ that yields the GIL, while a thread keeps taking more
    references to them. Control: the __sizeof__ methods exist, and calls
    to them are counted: none may happen."""
    import threading
    import time

    import pandas as pd

    calls = collections.Counter()

    class Item:
        __slots__ = ("v",)

        def __init__(self, v):
            self.v = v

        def __sizeof__(self):
            calls["Item"] += 1
            time.sleep(0)  # any Python code may let another thread run
            return 4096

    frame_sizeof = pd.DataFrame.__sizeof__  # pandas' own, Python code

    def counting_sizeof(self):
        calls["DataFrame"] += 1
        return frame_sizeof(self)

    mod = types.ModuleType("held_app")
    mod.items = [Item(i) for i in range(20_000)]
    mod.frame = pd.DataFrame({"a": range(1000), "s": ["x%d" % (i % 7) for i in range(1000)]})
    sys.modules["held_app"] = mod
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            keep = list(mod.items)  # a reference more to every item, for a while
            del keep

    assert Item.__sizeof__(mod.items[0]) == 4096 and calls["Item"] == 1  # the control counts
    calls.clear()
    pd.DataFrame.__sizeof__ = counting_sizeof
    worker = threading.Thread(target=churn)
    worker.start()
    try:
        path = tmp_path / "consistent.snap"
        summary = memtrace.dump_heap(str(path), tracebacks=False)
        gc_on = gc.isenabled()
    finally:
        stop.set()
        worker.join()
        pd.DataFrame.__sizeof__ = frame_sizeof
        del sys.modules["held_app"]
    s, types_, objs, by_id, out = load(path)
    c_roots = {r["obj"] for r in s.of("roots") if r["kind"] == "c"}
    always = [id(o) for o in mod.items] + [id(mod.frame), id(mod.items)]
    held_from_c = sum(by_id[a] in c_roots for a in always)
    assert (held_from_c, dict(calls)) == (0, {})
    assert gc_on
    assert summary["c_level_sizes"] >= len(mod.items) + 1
    # Sizes are the C-level ones: object.__sizeof__'s, with the pre-header
    # sys.getsizeof adds to what __sizeof__ says.
    item = mod.items[0]
    assert objs[by_id[id(item)]]["size"] == object.__sizeof__(item) + sys.getsizeof(item) - 4096


def test_dict_keys_are_not_changed_by_the_dump(tmp_path):
    """Issue 30 #15: labels made with PyUnicode_AsUTF8 cached UTF-8 inside
    every non-ASCII key, which sys.getsizeof shows; a lone surrogate,
    which UTF-8 cannot hold, comes out as a backslash escape."""
    keys = {"ключ-%d" % i: i for i in range(5000)}
    keys["x\ud800y"] = -1
    keys["é" * 300] = -2  # a label holds 200 bytes of a key, whole characters
    before = [sys.getsizeof(k) for k in keys]
    path = tmp_path / "k.snap"
    memtrace.dump_heap(str(path), tracebacks=False)
    assert [sys.getsizeof(k) for k in keys] == before
    s, types_, objs, by_id, out = load(path)
    labels = {r["label"] for r in out[by_id[id(keys)]]}
    assert "['ключ-42']" in labels and "['x\\ud800y']" in labels
    assert "['" + "é" * 100 + "']" in labels


def test_summary_path_is_the_str_it_names(tmp_path):
    # dump_heap() gives back the path as a str, whatever form it was
    # passed in (a PathLike, bytes): bytes had leaked out of the converter.
    for given in (tmp_path / "p.snap", str(tmp_path / "s.snap"), os.fsencode(tmp_path / "b.snap"),
                  tmp_path / "caf\u00e9.snap"):
        summary = memtrace.dump_heap(given, tracebacks=False)
        assert isinstance(summary["path"], str)
        assert summary["path"] == os.fsdecode(given)
        assert os.path.getsize(summary["path"]) > 0


def test_info_prints_type_names_in_full(tmp_path):
    # Issue 27: names were cut to the table's 32-byte column, where two
    # long names that start alike read as one. The type comes last, whole.
    cls = type("AVeryLongClassNameThatDoesNotFitInThirtyTwo", (), {})
    held = [cls() for _ in range(60000)]  # more than any other type
    path = tmp_path / "long.snap"
    memtrace.dump_heap(str(path), tracebacks=False)
    out = subprocess.run([tool("memtrace-info"), "--top", "5", str(path)], capture_output=True, text=True,
                         check=True).stdout
    full = cls.__module__ + "." + cls.__qualname__
    rows = [line for line in out.splitlines() if line.endswith("  " + full)]
    assert rows, out
    assert all(int(line.split()[0]) >= len(held) for line in rows), out
    assert "..." not in out
    del held


def test_code_objects_reference_their_constants_and_names(tmp_path):
    """A code object is no collector object, yet it holds its constants,
    names, file name and line table, often the only holder: the walk
    missed them (8.6 MiB of the 32.6 MiB importing pandas allocates,
    tracemalloc counts). The oracle: the code object's own attributes."""
    ns = {}
    exec("def only_here(a, b):\n    return ('a constant no other code has', a, b, some_global_name)\n", ns)
    co = ns["only_here"].__code__
    const = next(c for c in co.co_consts if isinstance(c, str) and c.startswith("a constant"))
    path = tmp_path / "c.snap"
    memtrace.dump_heap(str(path), tracebacks=False)
    s, types_, objs, by_id, out = load(path)
    refs = {r["label"]: objs[r["dst"]]["id"] for r in out[by_id[id(co)]]}
    for name in ("co_consts", "co_names", "co_filename", "co_name"):
        assert refs[name] == id(getattr(co, name)), name
    assert refs["co_linetable" if sys.version_info >= (3, 10) else "co_lnotab"] == id(
        co.co_linetable if sys.version_info >= (3, 10) else co.co_lnotab)
    if sys.version_info < (3, 11):
        assert refs["co_varnames"] == id(co.co_varnames)
    else:  # the local names, which co_varnames is made from
        names = objs[by_id[refs["co_localsplusnames"]]]
        assert [objs[r["dst"]]["id"] for r in out[by_id[refs["co_localsplusnames"]]]] == [id(n) for n in
                                                                                          co.co_varnames]
        assert types_[names["type"]] == "tuple"
    # The constant, which only the code holds, is in the dump at its size.
    assert objs[by_id[id(const)]]["size"] == sys.getsizeof(const)
