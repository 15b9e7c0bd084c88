"""memtrace.analyze's graph, advise, predict and gate against the tools:
every call runs the matching CLI with --format json (memtrace-graph's
--idom and --retained CSV for the whole dominator tree) on the same
files and compares every field and every row; errors raise the
documented exceptions with the file, line and column the tools print.
memtrace-gate's JUnit report and text are checked too: the verdicts and
the figures they print."""

import csv
import io
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from conftest import BUILD, ROOT, tool

pandas = pytest.importorskip("pandas")
analyze = pytest.importorskip("memtrace.analyze")

TD = os.path.join(ROOT, "testdata")
SALES = os.path.join(TD, "frames-sales.snap")
SMALL = os.path.join(TD, "heap-small.snap")
MEDIUM = os.path.join(TD, "heap-medium.snap")
GiB = 1 << 30


def cli(name, *args, code=(0,)):
    p = subprocess.run([tool(name), *map(str, args)], capture_output=True, text=True)
    assert p.returncode in code, p.stderr
    return p


def cli_json(name, *args, code=(0,)):
    return json.loads(cli(name, *args, code=code).stdout)


def same(a, b):
    """Equal as JSON values: None and NaN alike, ints and whole floats
    alike (a DataFrame column with a None in it holds floats)."""
    if a is None or (isinstance(a, float) and not math.isfinite(a)):
        # JSON writes a percent from nothing (inf) or unknown (NaN) as null.
        return b is None or (isinstance(b, float) and math.isnan(b))
    if hasattr(a, "item"):
        a = a.item()
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return a == b


def same_rows(df, rows, columns=None):
    """Every JSON row against the DataFrame's row of the same position,
    every key the JSON has (or the given columns); a key the JSON leaves
    out (the tool writes some only when set) must be None in the frame."""
    assert len(df) == len(rows)
    for i, (got, want) in enumerate(zip(df.to_dict("records"), rows)):
        for c in columns or df.columns:
            assert same(got[c], want.get(c)), f"row {i} column {c}: {got[c]!r} != {want.get(c)!r}"


def shown(r):
    """repr and the notebook's HTML name the result and show its figures."""
    text, page = repr(r), r._repr_html_()
    assert text.startswith("<%s>" % r._title) and page.startswith("<div>")
    for f in r._fields:
        assert "%s: " % f in text
    for t in r._tables:
        assert "%s: %d rows" % (t, len(getattr(r, t))) in text
        assert "%s (%d rows)" % (t, len(getattr(r, t))) in page
    assert set(r.to_dict()) >= set(r._fields) | set(r._tables)


# ---- graph ----


@pytest.fixture(scope="module")
def heaps(tmp_path_factory):
    """The testdata heaps and a real one dumped by the collector from a
    program with a leak (tests/python/leaky_app.py)."""
    import glob
    import sys

    out = tmp_path_factory.mktemp("heaps")
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "python", "leaky_app.py"), str(out), "1"],
                   check=True, env=env)
    return [SMALL, MEDIUM] + sorted(glob.glob(str(out / "s*.snap")))[:1]


@pytest.mark.parametrize("top", [10, 3, 0])
def test_graph_retained_equals_memtrace_graph_json(heaps, top):
    for path in heaps:
        want = cli_json("memtrace-graph", "-f", "json", "-n", top, path)
        r = analyze.graph(path).retained(top=top)
        for k in ("objects", "object_bytes", "refs", "weak_refs", "roots", "reachable"):
            assert getattr(r, k) == want[k], k
        assert r.unreachable == {k: v for k, v in want["unreachable"].items() if k != "types"}
        assert r.cycles == {k: v for k, v in want["cycles"].items() if k != "largest"}
        same_rows(r.top_retainers, want["top_retainers"])
        same_rows(r.types_by_retained, want["types_by_retained"])
        same_rows(r.unreachable_types, want["unreachable"]["types"])
        same_rows(r.largest_cycles, want["cycles"]["largest"])
        assert r.to_dict()["top_retainers"] == [dict(x) for x in r.top_retainers.to_dict("records")]
        shown(r)


def test_graph_dominators_equal_idom_and_retained_csv(heaps):
    for path in heaps:
        g = analyze.graph(path)
        d = g.dominators()
        idom = list(csv.DictReader(io.StringIO(cli("memtrace-graph", "--idom", path).stdout)))
        ret = list(csv.DictReader(io.StringIO(cli("memtrace-graph", "--retained", path).stdout)))
        assert len(d.objects) == len(idom) == len(ret) == d.reachable_objects
        assert [int(x["id"]) for x in idom] == d.objects["id"].tolist()
        assert [int(x["idom"]) for x in idom] == d.objects["idom"].tolist()
        assert [x["type"] for x in ret] == d.objects["type"].tolist()
        assert [int(x["size"]) for x in ret] == d.objects["size"].tolist()
        assert [int(x["retained"]) for x in ret] == d.objects["retained"].tolist()
        want = cli_json("memtrace-graph", "-f", "json", path)
        assert d.reachable_bytes == want["reachable"]["bytes"]
        assert d.unreachable_objects == want["unreachable"]["objects"]
        shown(d)
        # The largest retainers of the report are the largest rows here.
        top = d.objects.sort_values("retained", ascending=False, kind="stable").head(len(want["top_retainers"]))
        assert sorted(top["retained"].tolist()) == sorted(x["retained"] for x in want["top_retainers"])


def check_paths(p, want):
    assert len(p.paths) == len(want)
    same_rows(p.paths, [dict(w, root_kind=(w.get("root") or {}).get("kind"),
                             root_name=(w.get("root") or {}).get("name"))
                        for w in want], ["id", "type", "retained", "path", "root_kind", "root_name"])
    steps = [dict(s, path=k, step=i) for k, w in enumerate(want) for i, s in enumerate(w.get("steps", []))]
    same_rows(p.steps, steps)


@pytest.mark.parametrize("what,top", [("app.Session", 2), ("app.Session", 10), ("bytearray", 1)])
def test_graph_path_to_roots_by_type_equals_json(what, top):
    want = cli_json("memtrace-graph", "-f", "json", "-p", what, "-n", top, SMALL)["paths"]
    p = analyze.graph(SMALL).path_to_roots(what, top=top)
    check_paths(p, want)
    shown(p)


def test_graph_path_to_roots_by_id(heaps):
    g = analyze.graph(SMALL)
    some = g.dominators().objects["id"].tolist()
    for oid in some[:5]:
        want = cli_json("memtrace-graph", "-f", "json", "-p", oid, SMALL)["paths"]
        check_paths(g.path_to_roots(oid), want)      # an int
        check_paths(g.path_to_roots(hex(oid)), want)  # a str as the tool reads one
    # An unreachable object: no path, as the tool's null.
    d = cli_json("memtrace-graph", "-f", "json", SMALL)
    gone = d["cycles"]["largest"][0]["example_id"]
    want = cli_json("memtrace-graph", "-f", "json", "-p", gone, SMALL)["paths"]
    assert want[0]["path"] is None
    check_paths(g.path_to_roots(gone), want)


def test_graph_errors():
    g = analyze.graph(SMALL)
    cli("memtrace-graph", "-p", "app.Nope", SMALL, code=(3,))
    with pytest.raises(analyze.NotFoundError) as e:
        g.path_to_roots("app.Nope")
    assert e.value.path == SMALL and "app.Nope" in str(e.value)
    assert isinstance(e.value, LookupError)
    with pytest.raises(analyze.NotFoundError):
        g.path_to_roots(99)
    with pytest.raises(TypeError):
        g.path_to_roots(1.5)
    with pytest.raises(analyze.FileError) as e:
        analyze.graph(os.path.join(TD, "no-such.snap"))
    assert e.value.path.endswith("no-such.snap") and isinstance(e.value, OSError)
    damaged = os.path.join(TD, "damaged", "flipped-payload.snap")
    err = cli("memtrace-graph", damaged, code=(3,)).stderr
    with pytest.raises(analyze.BadInputError) as e:
        analyze.graph(damaged)
    assert e.value.code == "MT_E_DAMAGED" and e.value.block is not None and e.value.offset is not None
    assert "block %d at offset %d" % (e.value.block, e.value.offset) in err
    # salvage reads the intact blocks, as --salvage.
    want = cli_json("memtrace-graph", "-f", "json", "--salvage", damaged)
    assert analyze.graph(damaged, salvage=True).retained().objects == want["objects"]


def ticks_during(fn):
    """Times a thread that sleeps in a loop got the GIL while fn ran, with
    the switch interval so long that the caller never has to give the GIL
    up: only a call that releases it lets the thread in."""
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.0005)

    old = sys.getswitchinterval()
    sys.setswitchinterval(10)
    t = threading.Thread(target=tick)
    t.start()
    try:
        time.sleep(0.02)
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
    finally:
        stop.set()
        sys.setswitchinterval(old)
        t.join()
    return len([x for x in ticks if t0 < x < t1]), t1 - t0


def test_graph_releases_the_gil(tmp_path):
    import memtrace

    path = tmp_path / "chain.snap"
    n = 300000
    with memtrace.Writer(str(path)) as w:
        for i in range(n):
            w.add_object(i + 1, "Node", 64)
        for i in range(n - 1):
            w.add_ref(i + 1, i + 2)
        w.add_root(1, kind="module", name="m")
    inside, took = ticks_during(lambda: analyze.graph(path).retained())
    # The control: Python code that holds the GIL as long lets no tick in.
    held, _ = ticks_during(lambda: sum(range(int(3e7 * took))))
    assert held == 0
    assert inside > 0, "no other thread ran during %.3f s of graph()" % took


# ---- advise ----


@pytest.mark.parametrize("files,opts", [
    ([SALES], {}),
    ([SALES], {"bytes": "pandas"}),
    ([SALES], {"int_headroom": 0}),
    ([os.path.join(TD, "pipeline.snap")], {"available": 4 << 20}),
    ([os.path.join(TD, "all-kinds.snap")], {}),
    ([SALES, os.path.join(TD, "frames-real.snap")], {}),
])
def test_advise_equals_memtrace_advise_json(files, opts):
    available = opts.get("available", 8 * GiB)
    args = ["-f", "json", "--available", available, "--bytes", opts.get("bytes", "real"),
            "--int-headroom", opts.get("int_headroom", 8)]
    want = cli_json("memtrace-advise", *args, *files)
    r = analyze.advise(files, available=available, **{k: v for k, v in opts.items() if k != "available"})
    for k in ("bytes", "total_saving_bytes", "data_bytes", "resulting_bytes", "available_bytes"):
        assert getattr(r, k) == want[k], k
    same_rows(r.advice, want["advice"])
    same_rows(r.files, want["files"], ["file", "total_saving_bytes", "data_bytes", "columns_changed",
                                       "columns_repeated"])
    effects = [dict(f[e], file=f["file"], effect=e) for f in want["files"] for e in ("resident", "peak", "rss")
               if f[e] is not None]
    same_rows(r.effects, effects)
    assert len(r.advice) > 0
    shown(r)


def test_advise_rule_files(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: wide-text\n    scope: column\n    severity: warning\n    when:\n"
                     "      dtype: object\n    action: {kind: dtype, to: category, message: '{column} as category'}\n"
                     "disable: [int-downcast]\n")
    want = cli_json("memtrace-advise", "-f", "json", "--available", 8 * GiB, "--rules", rules, SALES)
    r = analyze.advise(SALES, rules=rules, available=8 * GiB)
    same_rows(r.advice, want["advice"])
    assert r.total_saving_bytes == want["total_saving_bytes"]
    listed = cli("memtrace-advise", "--list-rules", "--rules", rules).stdout.splitlines()[1:]
    df = analyze.advise_rules(rules=str(rules))
    assert df["rule"].tolist() == [line.split()[0] for line in listed]
    assert df["enabled"].tolist() == [line.split()[3] == "yes" for line in listed]


@pytest.mark.parametrize("text", [
    "rules:\n  - id: x\n    when: {a: [1, 2}\n",
    "rules:\n  - id: x\n    scope: column\n    when:\n      distinc_ratio: {lt: 0.5}\n    action: {message: m}\n",
])
def test_advise_bad_rule_file_raises_with_line_and_column(tmp_path, text):
    rules = tmp_path / "r.yaml"
    rules.write_text(text)
    err = cli("memtrace-advise", "--rules", rules, SALES, code=(2,)).stderr
    with pytest.raises(analyze.BadInputError) as e:
        analyze.advise(SALES, rules=rules)
    x = e.value
    assert isinstance(x, ValueError) and x.path == str(rules)
    assert x.line and x.column
    assert "line %d, column %d: %s" % (x.line, x.column, x.reason) in err
    assert str(x) in err


def test_advise_errors(tmp_path):
    with pytest.raises(analyze.FileError):
        analyze.advise(SALES, rules=tmp_path / "missing.yaml")
    with pytest.raises(analyze.FileError):
        analyze.advise(tmp_path / "missing.snap")
    cli("memtrace-advise", SMALL, code=(3,))
    with pytest.raises(analyze.NotFoundError) as e:
        analyze.advise(SMALL)
    assert "no DataFrame" in str(e.value) and e.value.path == SMALL
    with pytest.raises(ValueError):
        analyze.advise(SALES, bytes="bogus")
    with pytest.raises(ValueError):
        analyze.advise(SALES, default_rules=False)


# ---- predict ----

PREDICTIONS = [
    ("groupby", dict(shapes=SALES, frame="sales", by="region", agg="sum")),
    ("groupby", dict(shapes=SALES, frame="sales", by=["region", "product"], agg="mean", columns=["quantity"])),
    ("merge", dict(shapes=SALES, left="sales", right="customers", on="customer_id", how="left")),
    ("concat", dict(shapes=SALES, frames=["sales", "sales"])),
    ("pivot_table", dict(shapes=SALES, frame="sales", index="region", columns="product", values="quantity",
                         aggfunc="sum")),
    ("sort", dict(shapes=SALES, frame="sales", by="region")),
    ("merge", dict(shapes="left=2000000x8,right=50000x3", left="left", right="right", on="k")),
    ("groupby", dict(shapes="orders=2e6x8:customer_id=int64~50000/float64*7", frame="orders", by="customer_id",
                     observed=True)),
    ("read_csv", dict(csv=os.path.join(TD, "sales.csv"))),
]


def predict_args(op, kw, available):
    args = ["--op", op, "-f", "json", "--available", available]
    for k, v in kw.items():
        if k == "observed":
            args.append("--observed")
            continue
        args += ["--" + k.replace("_", "-"), ",".join(v) if isinstance(v, list) else v]
    return args


@pytest.mark.parametrize("op,kw", PREDICTIONS, ids=[p[0] + str(i) for i, p in enumerate(PREDICTIONS)])
@pytest.mark.parametrize("available", [16 * GiB, 100 << 10])
def test_predict_equals_memtrace_predict_json(op, kw, available):
    want = cli_json("memtrace-predict", *predict_args(op, kw, available), code=(0, 1))
    r = analyze.predict(op, available=available, **kw)
    for k, v in want.items():
        if k == "suggestions":
            same_rows(r.suggestions, v)
        else:
            assert same(getattr(r, k), v), k
    assert r.available_bytes == available
    shown(r)


def test_predict_errors():
    err = cli("memtrace-predict", "--op", "sort", "--shapes", SALES, "--frame", "orders", "--by", "region",
              code=(3,)).stderr
    with pytest.raises(analyze.NotFoundError) as e:
        analyze.predict("sort", SALES, frame="orders", by="region")
    assert e.value.reason in err
    err = cli("memtrace-predict", "--op", "sort", "--shapes", "df=10x3:key=int65", "--frame", "df", "--by", "key",
              code=(2,)).stderr
    with pytest.raises(analyze.BadInputError) as e:
        analyze.predict("sort", "df=10x3:key=int65", frame="df", by="key")
    assert "character %d: %s" % (e.value.column, e.value.reason) in err
    with pytest.raises(analyze.FileError):
        analyze.predict("read_csv", csv=os.path.join(TD, "no-such.csv"))
    with pytest.raises(analyze.FileError):
        analyze.predict("sort", os.path.join(TD, "no-such.snap"), frame="x", by="y")
    with pytest.raises(analyze.BadInputError):
        analyze.predict("merge", SALES, left="sales")  # no right frame: the request is incomplete
    with pytest.raises(ValueError):
        analyze.predict("explode", SALES)


# ---- gate ----


@pytest.fixture(scope="module")
def gate_snaps(tmp_path_factory):
    """The hand-computed baseline and current of tests/cli/cases/gate."""
    d = tmp_path_factory.mktemp("gate")
    a = {"objects": [{"id": i, "type": t, "size": s} for i, t, s in
                     [(1, "A", 100), (2, "B", 100), (3, "C", 100), (4, "D", 100), (5, "keep", 1000)]]}
    b = {"objects": [{"id": i, "type": t, "size": s} for i, t, s in
                     [(1, "A", 100), (11, "A", 200), (2, "B", 250), (3, "C", 400), (4, "D", 200),
                      (5, "keep", 1000), (15, "keep", 1000), (6, "F", 50)]]}
    for name, v in (("a", a), ("b", b)):
        (d / (name + ".json")).write_text(json.dumps(v))
        cli("memtrace-convert", d / (name + ".json"), d / (name + ".snap"))
    policies = {
        "p1": "budgets: {group_growth_bytes: 10, total_growth_bytes: 2000}\ngroup_by: type\nallow:\n"
              "  - {group: B, growth_bytes: 150}\n  - {group: D, growth_percent: 50}\n  - {group: \"k*\", ignore: true}\n",
        "p2": "budgets: {group_growth_percent: 120}\ngroup_min_bytes: 220\n"
              "allow: [{group: B, growth_percent: 200}, {group: A, growth_percent: 150}]\n",
        "p3": "budgets: {group_growth_bytes: 1 MiB, total_growth_percent: 100}\n",
    }
    for name, text in policies.items():
        (d / (name + ".yaml")).write_text(text)
    return d


def junit(path):
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    return int(suite.get("failures")), [(c.get("name"), c.find("failure") is None) for c in suite.findall("testcase")]


def gate_cli(tmp_path, *args):
    out = tmp_path / "j.xml"
    p = cli("memtrace-gate", "--junit", out, *args, code=(0, 1))
    return p, junit(out)


def check_gate(r, want):
    for k in ("passed", "failed", "budgets", "by", "baseline_bytes", "current_bytes", "traces", "trace_at_peak"):
        assert getattr(r, k) == want[k], k
    same_rows(r.checks, [dict(c, offenders=len(c["offenders"])) for c in want["checks"]])
    same_rows(r.offenders, [dict(o, budget=c["budget"]) for c in want["checks"] for o in c["offenders"]])
    shown(r)


@pytest.mark.parametrize("policy", ["p1", "p2", "p3", None])
def test_gate_equals_memtrace_gate(gate_snaps, tmp_path, policy):
    d = gate_snaps
    args = ["-b", d / "a.snap", "-c", d / "b.snap"] + (["-p", d / (policy + ".yaml")] if policy else [])
    p, (failures, cases) = gate_cli(tmp_path, *args)
    r = analyze.gate(d / "a.snap", d / "b.snap", policy=d / (policy + ".yaml") if policy else None)
    check_gate(r, cli_json("memtrace-gate", "-f", "json", *args, code=(0, 1)))
    assert bool(r) == (p.returncode == 0) == r.passed
    assert r.failed == failures
    assert list(zip(r.checks["budget"], r.checks["passed"])) == cases
    # The numbers the text prints: the totals and each offender's bytes.
    header = p.stdout.splitlines()[0]
    assert header.endswith("%s -> %s" % (human(r.baseline_bytes), human(r.current_bytes)))
    for o in r.offenders.itertuples():
        if o.budget.startswith("group_growth"):
            assert "%s: +%s (%s -> %s" % (o.name, human(o.bytes_b - o.bytes_a), human(o.bytes_a),
                                          human(o.bytes_b)) in p.stdout


def human(n):
    """mt_human_bytes for the small figures of these fixtures."""
    return "%d B" % n if n < 1024 else "%.1f KiB" % (n / 1024)


def test_gate_example_policy(tmp_path):
    snap = os.path.join(TD, "all-kinds.snap")
    policy = os.path.join(ROOT, "rules", "gate.yaml")
    p, (failures, cases) = gate_cli(tmp_path, "-p", policy, "-b", snap, "-c", snap)
    r = analyze.gate(snap, snap, policy=policy)
    check_gate(r, cli_json("memtrace-gate", "-f", "json", "-p", policy, "-b", snap, "-c", snap, code=(0, 1)))
    assert r.failed == failures and list(zip(r.checks["budget"], r.checks["passed"])) == cases


def test_gate_errors(gate_snaps, tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("budgets:\n  total_growth_percent: [10\n")
    a, b = gate_snaps / "a.snap", gate_snaps / "b.snap"
    err = cli("memtrace-gate", "-p", bad, "-b", a, "-c", b, code=(2,)).stderr
    with pytest.raises(analyze.BadInputError) as e:
        analyze.gate(a, b, policy=bad)
    assert e.value.line and e.value.column and str(e.value) in err
    with pytest.raises(analyze.BadInputError) as e:
        analyze.gate(a, b, policy_text="budgets: {no_such_budget: 1}\n")
    assert e.value.line == 1
    with pytest.raises(analyze.FileError):
        analyze.gate(a, b, policy=tmp_path / "missing.yaml")
    with pytest.raises(analyze.FileError):
        analyze.gate(tmp_path / "missing.snap", b)
    with pytest.raises(analyze.BadInputError):
        analyze.gate(os.path.join(TD, "damaged", "flipped-payload.snap"), b)


def test_gate_leaks_advice_and_traces(leaky, tmp_path):
    """Budgets on a leak series (leaky_app.py's five dumps), advice on a
    DataFrame snapshot and growth between two allocation traces."""
    early = tmp_path / "early.snap"
    cli("memtrace-convert", "--to-time", "3.2", os.path.join(TD, "trace-sites.snap"), early)
    runs = [
        ("budgets: {leak_confidence: 0.5, total_growth_percent: 5}\n", [leaky[0]], leaky),
        ("budgets: {advice_severity: info}\n", [SALES], [SALES]),
        ("group_by: site\npeak_series: trace\nbudgets:\n  total_growth_bytes: 1 KiB\n  group_growth_bytes: 500 B\n"
         "  peak_bytes: 2 KiB\nallow:\n  - group: \"c.py:*\"\n    ignore: true\n",
         [early], [os.path.join(TD, "trace-sites.snap")]),
    ]
    for i, (text, base, cur) in enumerate(runs):
        policy = tmp_path / ("p%d.yaml" % i)
        policy.write_text(text)
        args = ["-p", policy] + [a for b in base for a in ("-b", b)] + [a for c in cur for a in ("-c", c)]
        want = cli_json("memtrace-gate", "-f", "json", *args, code=(0, 1))
        r = analyze.gate(base, cur, policy=policy)
        check_gate(r, want)
        assert len(r.offenders) == sum(len(c["offenders"]) for c in want["checks"])
        r2 = analyze.gate(base, cur, policy_text=text)
        check_gate(r2, want)
    # The leak series does fail its leak budget, naming the leak.
    r = analyze.gate([leaky[0]], leaky, policy_text=runs[0][0])
    assert not r and (r.offenders["budget"] == "leak_confidence").any()


def test_predict_reads_the_dumps_pandas_version(tmp_path, monkeypatch):
    """A dump from another pandas than the models' gets their warning, from
    the tool and from Python alike (mt_shapes_from_snapshot)."""
    import memtrace

    df = pandas.DataFrame({"k": list(range(1000)), "v": [1.5] * 1000})
    monkeypatch.setattr(pandas, "__version__", "2.1.4")
    path = tmp_path / "v.snap"
    memtrace.dump_frames(str(path), {"df": df})
    monkeypatch.undo()
    want = cli_json("memtrace-predict", "--op", "sort", "--shapes", path, "--frame", "df", "--by", "k",
                    "--available", 16 * GiB, "-f", "json")
    r = analyze.predict("sort", path, frame="df", by="k", available=16 * GiB)
    assert r.warnings == want["warnings"]
    assert any("2.1.4" in w for w in r.warnings)


def test_errors_after_a_cleared_diag_name_their_file_not_stack_garbage(tmp_path):
    """predict's and gate's errors once built an mt_diag on the stack and
    cleared it, which keeps its file pointer: the exception's path was
    whatever the stack held (a segfault when it was no string). Each
    error names the file the tool would name, or none."""
    import memtrace.analyze as A
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(A.FileError) as e:
        A.predict("read_csv", csv=missing)
    assert e.value.path == missing
    with pytest.raises(A.FileError) as e:
        A.predict("read_csv", csv=str(tmp_path))
    assert e.value.path == str(tmp_path)
    frames = os.path.join(ROOT, "testdata", "frames-sales.snap")
    with pytest.raises(A.Error) as e:
        A.gate(frames, frames)
    assert "holds no objects" in str(e.value)
    assert e.value.path is None or isinstance(e.value.path, str)


def test_leaks_of_one_path_is_one_snapshot_not_its_characters(tmp_path):
    import memtrace.analyze as A
    one = os.path.join(ROOT, "testdata", "heap-small.snap")
    with pytest.raises(ValueError) as e:
        A.leaks(one)
    assert "at least 3 snapshots" in str(e.value) and "1 given" in str(e.value)
