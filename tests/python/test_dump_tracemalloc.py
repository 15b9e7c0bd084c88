"""memtrace.dump_heap under tracemalloc: the dump leaves the program's
traces as they were and adds none of its own. Oracles: tracemalloc's own
answers (get_object_traceback, take_snapshot, get_traced_memory) before
and after the dump. The pause itself is measured in bench/dump_pause."""

import gc
import inspect
import tracemalloc

import pytest

import memtrace

FRAMES = 10


class Item:
    def __init__(self, i):
        self.i = i
        self.parts = [i, -i]


def make_items(n):
    return [Item(i + 1000) for i in range(n)]  # the line of every Item


@pytest.fixture
def traced():
    gc.collect()
    tracemalloc.start(FRAMES)
    try:
        yield
    finally:
        tracemalloc.stop()


def lines_of(fn):
    """The (file, line) pairs of fn's source: where its allocations are traced."""
    lines, first = inspect.getsourcelines(fn)
    return {(__file__, first + k) for k in range(len(lines))}


def program_traces(snapshot):
    """The traces made in make_items and Item.__init__ (innermost frame),
    their sizes by traceback: the program's objects and nothing else, as
    neither makes anything that is freed."""
    mine = lines_of(make_items) | lines_of(Item.__init__)
    out = {}
    for t in snapshot.traces:
        inner = t.traceback[-1]  # oldest first
        if (inner.filename, inner.lineno) in mine:
            key = tuple((f.filename, f.lineno) for f in t.traceback)
            out[key] = out.get(key, 0) + t.size
    return out


def test_the_programs_traces_survive_a_dump_unchanged(traced, tmp_path):
    items = make_items(3000)
    memtrace.dump_heap(str(tmp_path / "warm.snap"))  # this test's frames get their frame objects
    # Each Item's list: 3.11's get_object_traceback finds nothing for the
    # instance itself (its memory starts before the managed dict pointers).
    before_tb = [tracemalloc.get_object_traceback(o.parts) for o in items]
    before = tracemalloc.take_snapshot()
    summary = memtrace.dump_heap(str(tmp_path / "d.snap"))
    after_tb = [tracemalloc.get_object_traceback(o.parts) for o in items]
    after = tracemalloc.take_snapshot()
    # Tracing goes on as before the dump: the frame limit and whole stacks.
    limit = tracemalloc.get_traceback_limit()
    fresh = Item(7)
    fresh_tb = tracemalloc.get_object_traceback(fresh.parts)
    tracemalloc.stop()  # the snapshots are read untraced, which is much faster
    assert summary["objects"] >= 3 * 3000
    assert limit == FRAMES
    assert fresh_tb is not None and len(fresh_tb) >= 2 and fresh_tb[-1].filename == __file__
    assert after_tb == before_tb
    init, maker = lines_of(Item.__init__), lines_of(make_items)
    assert all(tb is not None and (tb[-1].filename, tb[-1].lineno) in init and (tb[-2].filename, tb[-2].lineno) in maker
               for tb in after_tb)
    mine_before, mine_after = program_traces(before), program_traces(after)
    # 3000 Items, each with its list and its int: the traces are there to
    # compare (a list's block holds two pointers at least).
    assert sum(mine_before.values()) >= 3000 * (32 + 56)
    assert mine_after == mine_before


def test_the_dump_adds_nothing_to_the_traced_memory(traced, tmp_path):
    items = make_items(20000)  # noqa: F841  (a heap of some 60k objects)
    memtrace.dump_heap(str(tmp_path / "warm.snap"))
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    summary = memtrace.dump_heap(str(tmp_path / "d.snap"))
    current, peak = tracemalloc.get_traced_memory()
    assert summary["objects"] >= 60000
    # What the dump may make through Python's allocators at any moment: one
    # object's traceback (a tuple of up to 10 (file, line) tuples, under
    # 1 KiB), an int, this thread's frames dict, and the summary dict it
    # returns (about 1 KiB). Its own buffers come from malloc: the span
    # table alone is 512 KiB, the excess counts 4 bytes an object (240 KB
    # here), which tracemalloc counted when they came from PyMem_RawCalloc.
    assert peak - base < 32 * 1024, "the dump's own allocations peaked at %d bytes" % (peak - base)
    # Once it returns, all that is left is the summary (with its key and
    # path strings, under 2 KiB) and the free lists' blocks.
    assert current - base < 4 * 1024, "the dump left %d traced bytes" % (current - base)


def test_a_failed_dump_under_tracing_gives_tracing_back(traced, tmp_path):
    items = make_items(5000)  # noqa: F841
    with pytest.raises(OSError):
        memtrace.dump_heap("/dev/full")  # every write fails
    assert tracemalloc.get_traceback_limit() == FRAMES
    fresh = Item(8)
    tb = tracemalloc.get_object_traceback(fresh.parts)
    assert tb is not None and len(tb) >= 2 and tb[-1].filename == __file__
