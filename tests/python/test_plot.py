"""memtrace-plot: every kind rendered by gnuplot into PNG (read back with
Pillow) and SVG (parsed as XML: its size, title and legend); the data
beside each picture against independent answers (spec_reader's records,
networkx's dominators, per-type tallies); the scripts byte for byte the
same from run to run; 50 groups without overlapping labels; names with
quotes and markup; and what happens without gnuplot."""

import collections
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

import memtrace
import spec_reader
from conftest import ROOT, tool

TESTDATA = os.path.join(ROOT, "testdata")
SVG = "{http://www.w3.org/2000/svg}"


# The sanitizer stage preloads ASan for python3; the tool links it itself,
# and gnuplot, its child, is not ours to check.
ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def plot(*args, code=0, cwd=None):
    p = subprocess.run([tool("memtrace-plot"), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=ENV)
    assert p.returncode == code, p.stderr
    return p


def blocks(dat):
    """The data file's blocks: lists of rows of tab-separated fields."""
    out = []
    for chunk in open(dat, encoding="utf-8").read().split("\n\n\n"):
        rows = [line.split("\t") for line in chunk.splitlines() if line and not line.startswith("#")]
        out.append(rows)
    return out


def svg_texts(path):
    root = ET.parse(path).getroot()
    return root, ["".join(t.itertext()).strip() for t in root.iter(SVG + "text")]


def terminal_size(script):
    m = re.search(r"^set terminal \w+ size (\d+),(\d+)", open(script).read(), re.M)
    return int(m.group(1)), int(m.group(2))


def inputs(kind, leaky):
    return {
        "timeline": [os.path.join(TESTDATA, "pipeline.snap")],
        "diff": [os.path.join(TESTDATA, "heap-small.snap"), os.path.join(TESTDATA, "heap-medium.snap")],
        "frames": [os.path.join(TESTDATA, "frames-sales.snap")],
        "leaks": leaky,
        "retained": [os.path.join(TESTDATA, "heap-medium.snap")],
    }[kind]


TITLES = {
    "timeline": "Memory over time: pipeline.snap",
    "diff": "Change by type: heap-small.snap to heap-medium.snap",
    "frames": "DataFrame memory by column: frames-sales.snap",
    "leaks": "Objects per type across 5 snapshots",
    "retained": "Largest retainers: heap-medium.snap",
}
KINDS = sorted(TITLES)


@pytest.mark.parametrize("kind", KINDS)
def test_png_is_drawn_at_the_scripts_size(kind, leaky, tmp_path):
    out = tmp_path / (kind + ".png")
    plot(kind, *inputs(kind, leaky), "-o", out, "--keep-script")
    with Image.open(out) as im:
        im.verify()
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.size == terminal_size(tmp_path / (kind + ".gp"))
        # Drawn, not blank: bars and lines in several colours.
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
        assert len(colours) > 20
    assert out.stat().st_size > 8000


@pytest.mark.parametrize("kind", KINDS)
def test_svg_has_its_size_title_and_legend(kind, leaky, tmp_path):
    out = tmp_path / (kind + ".svg")
    plot(kind, *inputs(kind, leaky), "-o", out, "--keep-script")
    root, texts = svg_texts(out)
    w, h = terminal_size(tmp_path / (kind + ".gp"))
    assert (root.get("width"), root.get("height")) == (str(w), str(h))
    assert any(t.startswith(TITLES[kind]) for t in texts), texts[:10]
    legend = {
        "timeline": ["rss", "traced", "traced_peak"],
        "diff": ["grew", "shrank"],
        "frames": ["index", "date", "other columns"],
        "leaks": ["__main__.Leaked (suspect"],
        "retained": ["retained", "its own size"],
    }[kind]
    for entry in legend:
        assert any(t.startswith(entry) for t in texts), (entry, texts)


def test_without_keep_script_only_the_picture_stays(tmp_path):
    plot("timeline", os.path.join(TESTDATA, "pipeline.snap"), "-o", tmp_path / "t.svg")
    assert sorted(os.listdir(tmp_path)) == ["t.svg"]


@pytest.mark.parametrize("kind", KINDS)
def test_scripts_and_data_are_deterministic(kind, leaky, tmp_path):
    outs = []
    for d in ("one", "two"):
        (tmp_path / d).mkdir()
        plot(kind, *inputs(kind, leaky), "-o", tmp_path / d / "p.png", "-k")
        outs.append([(tmp_path / d / f).read_bytes() for f in ("p.gp", "p.dat")])
    assert outs[0] == outs[1]
    script = outs[0][0].decode()
    assert str(tmp_path) not in script and "/" not in script.split("image = ", 1)[1].split("\n", 1)[0]
    # The names are defaults the tool overrides with gnuplot -e; the plot
    # commands read the variables, never a name pasted in.
    assert "if (!exists(\"image\")) image = 'p.png'\n" in script and "set output image\n" in script
    assert "if (!exists(\"datafile\")) datafile = 'p.dat'\n" in script and "datafile index 0" in script
    assert "'p.dat'" not in script.split("datafile = 'p.dat'", 1)[1]


def test_a_kept_script_draws_the_same_picture_again(tmp_path):
    out = tmp_path / "d.svg"
    plot("diff", os.path.join(TESTDATA, "heap-small.snap"), os.path.join(TESTDATA, "heap-medium.snap"), "-o", out,
         "-k")
    first = out.read_bytes()
    out.unlink()
    subprocess.run(["gnuplot", "d.gp"], cwd=tmp_path, check=True, env=ENV)
    assert out.read_bytes() == first


def type_bytes(path):
    snap = spec_reader.Snapshot(path)
    names = {t["id"]: t["name"] for t in snap.of("types")}
    totals = collections.Counter()
    counts = collections.Counter()
    for o in snap.of("objects"):
        totals[names[o["type"]]] += o["size"]
        counts[names[o["type"]]] += 1
    return totals, counts


def test_diff_bars_are_the_largest_changes_by_type(tmp_path):
    a, b = os.path.join(TESTDATA, "heap-small.snap"), os.path.join(TESTDATA, "heap-medium.snap")
    plot("diff", a, b, "-o", tmp_path / "d.png", "-k", "-n", "5")
    (bars,) = blocks(tmp_path / "d.dat")
    (ba, ca), (bb, cb) = type_bytes(a), type_bytes(b)
    delta = {t: bb[t] - ba[t] for t in set(ba) | set(bb) if bb[t] != ba[t]}
    want = sorted(delta, key=lambda t: (-abs(delta[t]), t))[:5]
    got = {row[6]: int(row[1]) for row in bars}
    assert got == {t: delta[t] for t in want}
    # Top row first, growth before shrinking.
    assert [int(r[0]) for r in bars] == [4, 3, 2, 1, 0]
    assert [int(r[1]) for r in bars] == sorted((int(r[1]) for r in bars), reverse=True)
    for row in bars:
        t = row[6]
        assert (int(row[2]), int(row[3]), int(row[4]), int(row[5])) == (ba[t], bb[t], ca[t], cb[t])


def test_timeline_is_the_samples_from_the_process_start(tmp_path):
    path = os.path.join(TESTDATA, "pipeline.snap")
    plot("timeline", path, "-o", tmp_path / "t.png", "-k")
    got = blocks(tmp_path / "t.dat")
    samples = spec_reader.Snapshot(path).of("samples")
    series = list(dict.fromkeys(s["series"] for s in samples))
    for rows, name in zip(got, series):
        want = [(s["time_ns"] / 1e9, s["value"]) for s in samples if s["series"] == name]
        assert [(float(t), float(v)) for t, v in rows] == pytest.approx(want)
    steps = {}
    for s in samples:
        steps.setdefault(s["step"], s["time_ns"] / 1e9)
    assert [(r[1], float(r[0])) for r in got[len(series)]] == list(steps.items())
    script = (tmp_path / "t.gp").read_text()
    assert "set x2tics rotate by 45 left font ',9' ('load' 0.25, 'clean' 0.5, 'report' 0.75)" in script


def test_timeline_of_heap_snapshots_is_one_point_each(tmp_path):
    paths = []
    for i, n in enumerate((10, 20, 40)):
        with memtrace.Writer(str(tmp_path / ("h%d.snap" % i))) as w:
            w.add_meta("start_time", 1_700_000_000_000_000_000 + i * 30_000_000_000)
            w.add_meta("rss", 50_000_000 + i * 1_000_000)
            w.add_meta("label", "after step %d" % i)
            for k in range(n):
                w.add_object(k + 1, "bytes", 1000 + k)
        paths.append(str(tmp_path / ("h%d.snap" % i)))
    plot("timeline", *paths, "-o", tmp_path / "t.svg", "-k")
    rss, heap = blocks(tmp_path / "t.dat")
    assert [(float(t), float(v)) for t, v in rss] == [(0, 50e6), (30, 51e6), (60, 52e6)]
    want = [sum(1000 + k for k in range(n)) for n in (10, 20, 40)]
    assert [float(v) for _t, v in heap] == want
    _root, texts = svg_texts(tmp_path / "t.svg")
    assert {"after step 0", "after step 1", "after step 2", "heap objects"} <= set(texts)


@pytest.mark.parametrize("figure", ["real", "pandas"])
def test_frames_stack_each_frames_columns_and_index(tmp_path, figure):
    """By default the bars are the bytes the frames hold (real_bytes, the
    file's records read by spec_reader); --bytes pandas draws pandas' deep
    count."""
    path = os.path.join(TESTDATA, "frames-sales.snap")
    plot("frames", path, "-o", tmp_path / "f.png", "-k", *(["--bytes", "pandas"] if figure == "pandas" else []))
    (rows,) = blocks(tmp_path / "f.dat")
    snap = spec_reader.Snapshot(path)
    frames = {f["name"]: f for f in snap.of("df_frames")}
    key = "real_bytes" if figure == "real" else "deep_bytes"
    gp = (tmp_path / "f.gp").read_text()
    assert ("'real bytes (" if figure == "real" else "'pandas deep bytes (") in gp
    legend = re.findall(r"with boxxyerror lc \d+ title '([^']*)'", gp)
    assert legend[0] == "index"
    for row in rows:
        f = frames[row[-2]]
        ends = [0.0] + [float(x) for x in row[1:-2]]
        # The stack adds up to the frame's bytes ...
        assert f[key] and ends[-1] == f[key]
        cols = {c["name"]: c[key] for c in snap.of("df_columns") if c["frame"] == f["id"]}
        # ... its first segment is the index, each named column its own.
        assert ends[1] - ends[0] == f[key] - sum(cols.values())
        for i, name in enumerate(legend[1:], start=1):
            if name != "other columns":
                assert ends[i + 1] - ends[i] == cols.get(name, 0), name


def test_frames_of_repeated_strings_are_what_building_them_cost(tmp_path):
    """read_csv makes one string object per distinct value, shared by every
    row that holds it: the plot's bar is within 5% of what tracemalloc saw
    building the frame, and pandas' deep count (--bytes pandas) is several
    times larger."""
    import tracemalloc
    pd = pytest.importorskip("pandas")
    csv = tmp_path / "rep.csv"
    with open(csv, "w") as f:
        f.write("id,city,kind\n")
        for i in range(100_000):
            f.write("%d,city-number-%02d,kind-%d\n" % (i, i % 40, i % 7))
    tracemalloc.start()
    df = pd.read_csv(csv)
    cost = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    snap = tmp_path / "f.snap"
    memtrace.dump_frames(str(snap), {"df": df})
    deep = int(df.memory_usage(deep=True).sum())
    bars = {}
    for figure in ("real", "pandas"):
        plot("frames", snap, "-o", tmp_path / (figure + ".png"), "-k", "--bytes", figure)
        (rows,) = blocks(tmp_path / (figure + ".dat"))
        bars[figure] = float(rows[0][-3])
    assert abs(bars["real"] - cost) < 0.05 * cost, (bars["real"], cost)
    assert bars["pandas"] == deep
    assert bars["pandas"] > 4 * bars["real"], bars


@pytest.mark.parametrize("which", ["heap-medium", "leaky"])
def test_retained_bars_match_networkx(tmp_path, which, leaky):
    import networkx as nx

    path = os.path.join(TESTDATA, "heap-medium.snap") if which == "heap-medium" else leaky[-1]
    top = 7 if which == "heap-medium" else 20
    plot("retained", path, "-o", tmp_path / "r.png", "-k", "-n", top)
    (rows,) = blocks(tmp_path / "r.dat")
    snap = spec_reader.Snapshot(path)
    objs = snap.of("objects")
    g = nx.DiGraph()
    g.add_node("root")
    for r in snap.of("roots"):
        g.add_edge("root", r["obj"])
    for e in snap.of("refs"):
        if not e["flags"] & 1:
            g.add_edge(e["src"], e["dst"])
    idom = nx.immediate_dominators(g, "root")
    children = collections.defaultdict(list)
    for v, d in idom.items():
        if v != "root":
            children[d].append(v)
    retained, order = {}, ["root"]
    for v in order:
        order.extend(children[v])
    for v in reversed(order[1:]):
        retained[v] = objs[v]["size"] + sum(retained[c] for c in children[v])
    # The rows: the largest retainers, less those inside a row above that
    # retain 95% or more of its bytes (a module's dict under its module);
    # each row's "in rows below" is what the rows nearest under it retain.
    shown, below = [], {}
    for v in sorted(retained, key=lambda v: (-retained[v], v)):
        if len(shown) == top:
            break
        up = idom[v]
        while up != "root" and up not in below:
            up = idom[up]
        if up != "root" and retained[v] >= 0.95 * retained[up]:
            continue
        if up != "root":
            below[up] += retained[v]
        shown.append(v)
        below[v] = 0
    by_id = {o["id"]: i for i, o in enumerate(objs)}
    assert [by_id[int(r[4])] for r in rows] == shown
    for r in rows:
        v = by_id[int(r[4])]
        assert retained[v] == int(r[1])
        assert objs[v]["size"] == int(r[2])
        assert int(r[7]) == below[v]
        assert ("in rows below" in r[6]) == (below[v] > 0)
    if which == "heap-medium":
        assert rows[1][5] == "dict: module app → _CACHE"
    else:
        # A parent's bytes are not shown twice: skipped rows are real.
        assert len(shown) == top and any(below.values())
        assert sum(retained[v] - below[v] for v in shown) <= sum(o["size"] for o in objs)
    # The axis leaves room for each value label beside its bar.
    script = (tmp_path / "r.gp").read_text()
    xmax = float(re.search(r"set xrange \[0:([\d.e+]+)\]", script).group(1))
    unit = float(re.search(r"^unit = ([\d.]+)$", script, re.M).group(1))
    for r in rows:
        assert int(r[1]) / unit + len(r[6]) * 6.5 / 1100 * xmax < xmax * 1.0001


def test_leaks_counts_per_type_per_snapshot(leaky, tmp_path):
    plot("leaks", *leaky, "-o", tmp_path / "l.png", "-k", "-n", "3")
    counts, stacked = blocks(tmp_path / "l.dat")
    script = (tmp_path / "l.gp").read_text()
    styles = re.findall(r"with linespoints lc (\d+) dt (\d+) pt (\d+) title '([^']*)'", script)
    titles = [t for *_s, t in styles]
    types = [t.split(" (")[0] for t in titles]
    assert len(types) == 3 and all("suspect" in t for t in titles)
    # Each line has its own dash and point type: lines on one another show.
    assert len({(d, p) for _lc, d, p, _t in styles}) == 3
    # The suspects, in memtrace-leaks' own ranking, lead the legend.
    ranked = json.loads(subprocess.run([tool("memtrace-leaks"), "--format", "json", *leaky], capture_output=True,
                                       text=True, check=True).stdout)["suspects"]
    assert len(ranked) >= 2
    for k, sp in enumerate(ranked[:2]):
        assert titles[k].startswith("%s (suspect %d, %.0f%%)" % (sp["type"], k + 1, 100 * sp["confidence"]))
    # All of them: a line on an earlier one says so, and str's thousands
    # beside the leaks' hundreds put the counts on a log scale.
    counts_by_type = {}
    plot("leaks", *leaky, "-o", tmp_path / "all.png", "-k")
    script = (tmp_path / "all.gp").read_text()
    (counts_all, _stacked) = blocks(tmp_path / "all.dat")
    all_titles = re.findall(r"with linespoints lc \d+ dt \d+ pt \d+ title '([^']*)'", script)
    for i, t in enumerate(all_titles):
        counts_by_type[t.split(" (")[0].split(" on the line of ")[0]] = [r[1 + i] for r in counts_all]
    for t in all_titles:
        if " on the line of " in t:
            this, other = t.split(" on the line of ")[0].split(" (")[0], t.split(" on the line of ")[1]
            assert counts_by_type[this] == counts_by_type[other]
    assert any(" on the line of " in t for t in all_titles)
    big = max(int(c) for r in counts_all for c in r[1:])
    small = min(int(c) for r in counts_all for c in r[1:] if int(c))
    assert ("set logscale y" in script) == (big > 50 * small)
    for k, path in enumerate(leaky):
        _b, c = type_bytes(path)
        assert [int(x) for x in counts[k][1:]] == [c[t] for t in types]
    # Stacked: running sums, generations 1 .. n-1.
    assert [int(r[0]) for r in stacked] == list(range(1, len(leaky)))
    for r in stacked:
        vals = [int(x) for x in r[1:]]
        assert vals[0] == 0 and vals == sorted(vals)
    # Leaked objects survive from every later generation.
    assert all(int(r[2]) > 0 for r in stacked)


def test_fifty_groups_get_a_row_each_without_overlap(tmp_path):
    a, b = tmp_path / "a.snap", tmp_path / "b.snap"
    for path, n in ((a, 1), (b, 3)):
        with memtrace.Writer(str(path)) as w:
            oid = 1
            for t in range(50):
                for _ in range(n * (t + 1)):
                    w.add_object(oid, "pkg.module.Type%02d" % t, 100)
                    oid += 1
    plot("diff", a, b, "-o", tmp_path / "d.svg", "-n", "50")
    root, _ = svg_texts(tmp_path / "d.svg")
    ys = []
    for t in root.iter(SVG + "g"):
        for txt in t.iter(SVG + "text"):
            s = "".join(txt.itertext()).strip()
            if s.startswith("pkg.module.Type"):
                m = re.search(r"translate\(([\d.]+),([\d.]+)\)", t.get("transform", ""))
                if m:
                    ys.append(float(m.group(2)))
    assert len(ys) == 50
    ys.sort()
    assert min(y2 - y1 for y1, y2 in zip(ys, ys[1:])) >= 12


def test_names_with_quotes_and_markup_are_safe(tmp_path):
    name = "it's <b>&\"odd\"\ttype\nñ"
    a, b = tmp_path / "a.snap", tmp_path / "b.snap"
    for path, n in ((a, 1), (b, 4)):
        with memtrace.Writer(str(path)) as w:
            for k in range(n):
                w.add_object(k + 1, name, 64)
    plot("diff", a, b, "-o", tmp_path / "d.svg", "-k", "--title", "a 'quoted' <title>")
    _root, texts = svg_texts(tmp_path / "d.svg")
    assert "a 'quoted' <title>" in texts
    assert "it's <b>&'odd' type ñ" in texts


def test_without_gnuplot_nothing_is_written(tmp_path):
    # memtrace-plot(1): OUT.gp and OUT.dat only with --keep-script and only
    # once the picture is written, so a failed run leaves the folder as it was.
    (tmp_path / "t.gp").write_text("the user's own script\n")
    p = plot("timeline", os.path.join(TESTDATA, "pipeline.snap"), "-o", tmp_path / "t.png", "--gnuplot",
             tmp_path / "no-gnuplot", "--keep-script", code=3)
    assert "cannot run" in p.stderr and "gnuplot-nox" in p.stderr
    assert sorted(os.listdir(tmp_path)) == ["t.gp"]
    assert (tmp_path / "t.gp").read_text() == "the user's own script\n"


def test_a_failing_gnuplot_is_reported(tmp_path):
    p = plot("timeline", os.path.join(TESTDATA, "pipeline.snap"), "-o", tmp_path / "t.png", "--gnuplot",
             shutil.which("false"), code=3)
    assert "gnuplot failed on the script for %s (exit status 1)" % (tmp_path / "t.png") in p.stderr
    assert os.listdir(tmp_path) == []


def test_an_unchanged_pair_says_so(tmp_path):
    path = os.path.join(TESTDATA, "heap-small.snap")
    plot("diff", path, path, "-o", tmp_path / "d.svg")
    _root, texts = svg_texts(tmp_path / "d.svg")
    assert "no group changed" in texts


DUMPS = '''
import os, sys, tracemalloc, memtrace
if sys.argv[2] == "1":
    tracemalloc.start(1)
held = []
for i in range(3):
    held.append(bytearray(4 << 20))
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else -1
    print(rss, traced)
    memtrace.dump_heap("%s-%d.snap" % (sys.argv[1], i), tracebacks=False)
'''


def series_blocks(dat, gp):
    """{series name: [(seconds, bytes)]} from the data file's headers, and
    the legend's titles in the plot command's order."""
    text = open(dat, encoding="utf-8").read()
    out = {}
    for chunk in text.split("\n\n\n"):
        lines = chunk.strip("\n").splitlines()
        m = re.match(r"# seconds\tbytes\tseries (.*)$", lines[0]) if lines else None
        if m:
            out[m.group(1)] = [tuple(map(float, x.split("\t")[:2])) for x in lines[1:]]
    titles = re.findall(r"using \(\$1/tunit\):\(\$2/unit\) with \w+ lc \d+ title '([^']*)'", open(gp).read())
    return out, titles


@pytest.mark.parametrize("traced", [0, 1])
def test_timeline_of_real_dumps_draws_rss_and_traced_each_as_itself(tmp_path, traced):
    # Three dumps of a process growing 4 MiB a step, with and without
    # tracemalloc: "rss" must be the process's rss (what it read itself
    # just before each dump), "traced" tracemalloc's figure, and each
    # drawn under its own name.
    script = tmp_path / "d.py"
    script.write_text(DUMPS)
    # The child loads the extension: it keeps LD_PRELOAD (the sanitizer
    # runtimes in CI's ASan stage), which ENV leaves out for the tools.
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(memtrace.__file__)))
    p = subprocess.run([sys.executable, str(script), str(tmp_path / "d"), str(traced)], capture_output=True,
                       text=True, check=True, env=env)
    own = [tuple(map(int, line.split())) for line in p.stdout.split("\n") if line]
    paths = [tmp_path / ("d-%d.snap" % i) for i in range(3)]
    plot("timeline", *paths, "-o", tmp_path / "t.png", "-k")
    got, titles = series_blocks(tmp_path / "t.dat", tmp_path / "t.gp")
    assert titles == list(got)  # the legend names each block it draws
    metas = [spec_reader.Snapshot(str(x)).meta() for x in paths]
    assert [v for _t, v in got["rss"]] == [m["rss"] for m in metas]
    for (_t, v), (rss, _tr) in zip(got["rss"], own):
        assert abs(v - rss) < 1 << 20
    if traced:
        assert set(got) == {"rss", "traced", "heap objects"}
        assert [v for _t, v in got["traced"]] == [m["tracemalloc_current"] for m in metas]
        for (_t, v), (_rss, tr) in zip(got["traced"], own):
            assert abs(v - tr) < 1 << 20
        # 4 MiB more traced a step.
        steps = [b[1] - a[1] for a, b in zip(got["traced"], got["traced"][1:])]
        assert all(abs(s - (4 << 20)) < 256 << 10 for s in steps)
    else:
        assert set(got) == {"rss", "heap objects"}


def test_leaks_counts_of_one_scale_stay_linear(tmp_path):
    # Counts within 50x of each other: a linear axis from 0, and a type
    # that no suspect explains has no verdict in its title.
    paths = []
    for s, (grow, flat) in enumerate(((10, 40), (20, 40), (30, 40))):
        p = tmp_path / ("s%d.snap" % s)
        with memtrace.Writer(str(p)) as w:
            w.add_meta("host", "h")
            w.add_meta("pid", 1)
            oid = 1
            for t, n in (("app.Grow", grow), ("app.Flat", flat)):
                for _ in range(n):
                    w.add_object(oid if t == "app.Flat" else 1000 * (s + 1) + oid, t, 64)
                    oid += 1
        paths.append(str(p))
    plot("leaks", *paths, "-o", tmp_path / "l.png", "-k")
    script = (tmp_path / "l.gp").read_text()
    assert "set logscale y" not in script and "set yrange [0:*]" in script
    titles = re.findall(r"with linespoints lc \d+ dt \d+ pt \d+ title '([^']*)'", script)
    assert [t.split(" (")[0] for t in titles] == ["app.Grow", "app.Flat"]
    assert titles[1] == "app.Flat"
