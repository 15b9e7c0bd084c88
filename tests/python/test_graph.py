"""memtrace-graph against networkx: immediate dominators on random graphs
(cycles, several roots, weak references, parts no root reaches), on the
list-plus-array shape of an LRU cache and on real heaps dumped by the
collector; retained sizes against sums over networkx's dominator tree;
paths against shortest path lengths; cycles against networkx's strongly
connected components."""

import collections
import csv
import gc
import io
import json
import random
import subprocess

import networkx as nx
import pytest

import memtrace
import spec_reader
from conftest import tool

ROOT = "virtual root"


def write(path, sizes, types, edges, weak, roots):
    with memtrace.Writer(str(path)) as w:
        for i, (size, t) in enumerate(zip(sizes, types)):
            w.add_object(1000 + i, t, size)
        for (u, v), wk in zip(edges, weak):
            w.add_ref(1000 + u, 1000 + v, weak=wk)
        for r in roots:
            w.add_root(1000 + r, kind="module", name="m%d" % r)


def run(*args):
    p = subprocess.run([tool("memtrace-graph"), *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def tool_idom(path):
    rows = list(csv.DictReader(io.StringIO(run(path, "--idom"))))
    return {int(r["id"]): int(r["idom"]) for r in rows}


def tool_retained(path):
    rows = list(csv.DictReader(io.StringIO(run(path, "--retained"))))
    return {int(r["id"]): int(r["retained"]) for r in rows}


def oracle(ids, sizes, edges, weak, roots):
    """networkx's dominators over the strong references, with a virtual
    root joined to every root; retained sizes summed over its tree."""
    g = nx.DiGraph()
    g.add_node(ROOT)
    for r in roots:
        g.add_edge(ROOT, ids[r])
    for (u, v), wk in zip(edges, weak):
        if not wk:
            g.add_edge(ids[u], ids[v])
    idom = nx.immediate_dominators(g, ROOT)
    del idom[ROOT]
    children = collections.defaultdict(list)
    for v, d in idom.items():
        children[d].append(v)
    size = {ids[i]: s for i, s in enumerate(sizes)}
    retained = {}
    order = [ROOT]
    for v in order:
        order.extend(children[v])
    for v in reversed(order[1:]):
        retained[v] = size[v] + sum(retained[c] for c in children[v])
    return {v: (0 if d == ROOT else d) for v, d in idom.items()}, retained, g, idom


def random_graph(rng, n):
    m = rng.randint(n, 3 * n)
    edges = [(rng.randrange(n), rng.randrange(n)) for _ in range(m)]
    # Neighbourly edges make long chains and cycles, as heaps have.
    edges += [(i, (i + rng.randint(1, 3)) % n) for i in range(0, n, 2)]
    weak = [rng.random() < 0.1 for _ in edges]
    roots = rng.sample(range(n), rng.randint(1, 5))
    # The last tenth is reached by nothing: garbage that refers inwards.
    edges = [(u, v) for u, v in edges if v < n * 9 // 10 or u >= n * 9 // 10]
    weak = weak[:len(edges)]
    roots = [r for r in roots if r < n * 9 // 10] or [0]
    sizes = [rng.randint(16, 4096) for _ in range(n)]
    types = [rng.choice(["dict", "list", "str", "app.Node", "tuple"]) for _ in range(n)]
    return sizes, types, edges, weak, roots


@pytest.mark.parametrize("seed", range(12))
def test_dominators_and_retained_sizes_on_random_graphs(tmp_path, seed):
    rng = random.Random(seed)
    n = rng.choice([5, 40, 300, 3000])
    sizes, types, edges, weak, roots = random_graph(rng, n)
    path = tmp_path / "g.snap"
    write(path, sizes, types, edges, weak, roots)
    ids = [1000 + i for i in range(n)]
    want_idom, want_ret, g, idom = oracle(ids, sizes, edges, weak, roots)
    assert tool_idom(path) == want_idom
    assert tool_retained(path) == want_ret

    report = json.loads(run(path, "--format", "json", "--top", "100000"))
    assert report["reachable"]["objects"] == len(want_idom)
    assert report["unreachable"]["objects"] == n - len(want_idom)
    # Retained by type: objects that no other object of their type dominates.
    type_of = {ids[i]: t for i, t in enumerate(types)}
    by_type = collections.Counter()
    for v in want_idom:
        d, hidden = idom[v], False
        while d != ROOT and not hidden:
            hidden = type_of[d] == type_of[v]
            d = idom[d]
        if not hidden:
            by_type[type_of[v]] += want_ret[v]
    assert {r["type"]: r["retained"] for r in report["types_by_retained"] if r["retained"]} == \
        {t: b for t, b in by_type.items() if b}
    # Cycles: strongly connected components of the strong references.
    sccs = [c for c in nx.strongly_connected_components(
        nx.DiGraph([(ids[u], ids[v]) for (u, v), wk in zip(edges, weak) if not wk]))
        if len(c) > 1 or any(u == v for (u, v), wk in zip(edges, weak) if not wk and ids[u] in c)]
    assert report["cycles"]["components"] == len(sccs)
    assert report["cycles"]["objects"] == sum(len(c) for c in sccs)
    # Paths: as short as networkx's shortest path from the virtual root.
    targets = rng.sample(sorted(want_idom), min(5, len(want_idom)))
    for t in targets:
        out = json.loads(run(path, "--format", "json", "--path-to-roots", t))
        steps = out["paths"][0]["steps"]
        assert steps[-1]["id"] == t
        assert len(steps) == nx.shortest_path_length(g, ROOT, t)
        for a, b in zip(steps, steps[1:]):
            assert g.has_edge(a["id"], b["id"])


def test_list_held_by_an_array(tmp_path):
    """The LRU-cache shape that makes Semi-NCA and Cooper-Harvey-Kennedy
    quadratic: a linked list whose nodes one array also holds."""
    n = 20000
    sizes = [56] * (n + 1)
    types = ["list"] + ["app.Node"] * n
    edges = [(0, i) for i in range(1, n + 1)] + [(i, i + 1) for i in range(1, n)]
    weak = [False] * len(edges)
    path = tmp_path / "lru.snap"
    write(path, sizes, types, edges, weak, [0])
    ids = [1000 + i for i in range(n + 1)]
    want_idom, want_ret, _, _ = oracle(ids, sizes, edges, weak, [0])
    assert tool_idom(path) == want_idom
    assert tool_retained(path) == want_ret


class Record:
    def __init__(self, i, prev):
        self.i = i
        self.prev = prev
        self.tags = ["t%d" % i, "x"]


def test_dominators_of_a_real_heap(tmp_path):
    gc.collect()
    chain = None
    for i in range(2000):
        chain = Record(i, chain)
    cache = {"k%d" % i: Record(i, chain) for i in range(500)}
    path = tmp_path / "heap.snap"
    memtrace.dump_heap(str(path))
    s = spec_reader.Snapshot(str(path))
    objs = s.of("objects")
    ids = [o["id"] for o in objs]
    sizes = [o["size"] for o in objs]
    edges = [(r["src"], r["dst"]) for r in s.of("refs")]
    weak = [bool(r["flags"] & 1) for r in s.of("refs")]
    roots = sorted({r["obj"] for r in s.of("roots")})
    want_idom, want_ret, _, _ = oracle(ids, sizes, edges, weak, roots)
    got = tool_idom(path)
    assert got == want_idom
    assert tool_retained(path) == want_ret
    # The chain's head keeps the whole chain: 2000 records and their parts.
    head = id(chain)
    assert got[id(chain.prev)] == head
    assert want_ret[head] >= 2000 * (sizes[ids.index(head)])
    del cache


def test_paths_read_as_attribute_chains(tmp_path):
    import sys
    import types as t
    mod = t.ModuleType("fake_service")

    class Session:
        def __init__(self):
            self.payload = bytearray(10000)

    mod.Session = Session
    mod._SESSIONS = {"u42": Session()}
    sys.modules["fake_service"] = mod
    try:
        path = tmp_path / "p.snap"
        memtrace.dump_heap(str(path))
        out = run(path, "--path-to-roots", id(mod._SESSIONS["u42"].payload))
        assert "module fake_service \u2192 _SESSIONS['u42'] \u2192 Session.payload" in out
    finally:
        del sys.modules["fake_service"]


def test_largest_retainers_are_named_by_their_path(tmp_path):
    """The report names each large retainer by how a root reaches it: the
    oracle is the structure built here, a module holding a dict of
    sessions each holding a payload far larger than anything else."""
    import sys
    import types as t
    mod = t.ModuleType("fake_retainers")

    class Session:
        def __init__(self):
            self.payload = bytearray(64 << 20)

    mod.Session = Session
    mod._SESSIONS = {"u7": Session()}
    sys.modules["fake_retainers"] = mod
    try:
        path = tmp_path / "r.snap"
        memtrace.dump_heap(str(path))
        payload = mod._SESSIONS["u7"].payload
        want = "module fake_retainers \u2192 _SESSIONS['u7'] \u2192 Session.payload"
        report = json.loads(run(path, "-f", "json", "-n", "50"))
        row = next(r for r in report["top_retainers"] if r["id"] == id(payload))
        assert row["path"] == want
        assert row["type"] == "bytearray"
        text = run(path, "-n", "50")
        lines = text[text.index("largest retainers:"):].splitlines()
        assert any("bytearray" in line and line.endswith(" %s (%d)" % (want, id(payload))) for line in lines)
        # The module itself is reached from its own root and named by it.
        mod_row = next(r for r in report["top_retainers"] if r["id"] == id(mod))
        assert mod_row["path"] == "module fake_retainers"
    finally:
        del sys.modules["fake_retainers"]


def test_dot_and_errors(tmp_path):
    path = tmp_path / "d.snap"
    write(path, [10, 20, 30], ["a", "b", "c"], [(0, 1), (1, 2)], [False, True], [0])
    dot = run(path, "--dot", 1000, "--depth", 1)
    assert dot.startswith("digraph") and "n0 -> n1" in dot and "n1 -> n2" not in dot
    dot = run(path, "--dot", "0x3e8", "--depth", 5)
    assert "n1 -> n2" in dot and "style=dashed" in dot
    p = subprocess.run([tool("memtrace-graph"), str(path), "--dot", "5"], capture_output=True, text=True)
    assert p.returncode == 3 and "no object has the id '5'" in p.stderr
    p = subprocess.run([tool("memtrace-graph"), str(path), "--idom", "--retained"], capture_output=True, text=True)
    assert p.returncode == 2
