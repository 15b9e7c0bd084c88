"""The notebook recorder (%load_ext memtrace) through real Jupyter kernels
(Debian's ipykernel, driven by nbclient): a cell that leaks on every
re-run, one that spikes and frees, one that raises, one interrupted by
the kernel's interrupt, a kernel killed in the middle and a second
session appended to the same log, two kernels on one notebook, and
pandas frames created and grown. The oracles are measured inside the
same cells: the process's rss read from /proc/self/statm by the cell
itself, numpy's nbytes, and pandas' memory_usage(deep=True). The log is
read back with tests/python/spec_reader.py, an independent reader of the
format written from SPEC.md."""

import json
import os
import shutil
import subprocess

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from conftest import BUILD, ROOT  # noqa: E402
import spec_reader  # noqa: E402

MB = 1_000_000
MiB = 1 << 20

PRELUDE = """\
import json, os, time
import numpy as np, pandas as pd
def rss_now():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
def emit(**kw):
    print('MEASURED ' + json.dumps(kw))
leak = []
"""

LEAK = "leak.append(np.ones(2_500_000))  # 20 MB kept each run\nemit(cell='leak', rss=rss_now())"
SPIKE = ("x = np.ones(37_500_000)  # 300 MB for 300 ms, then freed\n"
         "emit(cell='spike', nbytes=x.nbytes, rss=rss_now())\ntime.sleep(0.3)\ndel x")
RAISE = "raise ValueError('boom at cell 5')"
SLEEP = "time.sleep(60)  # interrupted by the test"
SMALL = ("small = pd.DataFrame({'a': range(1000), 's': ['x%d' % i for i in range(1000)]})\n"
         "emit(cell='small', deep=int(small.memory_usage(deep=True).sum()))")
BIG = ("big = pd.DataFrame({'a': np.arange(200_000), 'f': np.random.rand(200_000),\n"
       "                    's': ['item-%d' % i for i in range(200_000)]})\n"
       "emit(cell='big', deep=int(big.memory_usage(deep=True).sum()), rss=rss_now())")
GROW = ("big = pd.concat([big, big], ignore_index=True)\n"
        "emit(cell='grow', deep=int(big.memory_usage(deep=True).sum()), rows=len(big))")


def assert_spike(rise, nbytes):
    """The peak above the cell's start is the buffer's size within 5%.
    Under AddressSanitizer (the CI stage preloads it into the kernels too)
    freeing the buffer first poisons its shadow, one byte per eight: the
    process then really holds up to nbytes / 8 more, for a moment that a
    sampled peak may miss."""
    more = nbytes / 8 if "libasan" in os.environ.get("LD_PRELOAD", "") else 0
    assert 0.95 * nbytes < rise < 1.05 * nbytes + more, (rise, nbytes)


def notebook(*sources, tags=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, s in enumerate(sources):
        c = nbformat.v4.new_code_cell(s)
        if tags and i in tags:
            c.metadata["tags"] = [tags[i]]
        nb.cells.append(c)
    return nb


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """Kernels started from here import the build's memtrace and know the
    notebook they run (as Jupyter Server 2 tells them)."""
    nbpath = tmp_path / "analysis.ipynb"
    monkeypatch.setenv("PYTHONPATH", os.path.join(BUILD, "python"))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    monkeypatch.setenv("MEMTRACE_BIN", os.path.join(BUILD, "tools"))
    monkeypatch.setenv("JPY_SESSION_NAME", str(nbpath))
    monkeypatch.delenv("MEMTRACE_CELL_LOG", raising=False)
    monkeypatch.delenv("MEMTRACE_CELL_DIR", raising=False)
    return nbpath


def run(nb, path, timeouts=None, **kw):
    """Executes nb in a fresh kernel; a cell tagged with a number of
    seconds in timeouts is interrupted (the kernel's SIGINT) after it."""
    def timeout_func(cell):
        t = cell.metadata.get("tags", [None])[0]
        return (timeouts or {}).get(t, 300)
    client = nbclient.NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout_func=timeout_func,
                                     interrupt_on_timeout=True, resources={"metadata": {"path": str(path.parent)}},
                                     **kw)
    client.execute()
    return nb


def measured(nb):
    out = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            if o.get("name") == "stdout":
                for line in o["text"].splitlines():
                    if line.startswith("MEASURED "):
                        out.append(json.loads(line[9:]))
    return out


def cells_of(log):
    s = spec_reader.Snapshot(str(log), growing=True)  # a killed kernel leaves no index
    return s, s.of("nb_cells")


def test_cells_sessions_and_oracles(kernel_env):
    nbpath = kernel_env
    log = nbpath.parent / "analysis.memtrace.snap"
    # Session 1: leak x3, spike, raise, interrupted, frames; then killed.
    nb1 = notebook("%load_ext memtrace", PRELUDE, LEAK, LEAK, LEAK, SPIKE, RAISE, SLEEP, SMALL, BIG, GROW,
                   "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
                   tags={7: "interrupt"})
    with pytest.raises(nbclient.exceptions.DeadKernelError):
        run(nb1, nbpath, timeouts={"interrupt": 3})
    m1 = measured(nb1)
    s, cells = cells_of(log)
    assert s.meta().get("log") == "cells" and s.meta().get("clock") == "unix"
    # Every cell after %load_ext up to the kill, in order, ids from 1; the
    # killing cell never finished, so it has no record.
    srcs = [c["source"] for c in cells]
    assert srcs == ["import json, os, time", LEAK.split("\n")[0], LEAK.split("\n")[0], LEAK.split("\n")[0],
                    SPIKE.split("\n")[0], RAISE, SLEEP.split("\n")[0], SMALL.split("\n")[0], BIG.split("\n")[0],
                    GROW.split("\n")[0]]
    assert [c["id"] for c in cells] == list(range(1, 11))
    assert [c["exec_count"] for c in cells] == list(range(2, 12))  # IPython's counts: %load_ext was 1
    assert all(c["session"] == 1 for c in cells)
    assert all(c["flags"] & 1 for c in cells)  # VmHWM: exact peaks here
    assert len({c["source_hash"] for c in cells[1:4]}) == 1  # re-runs share the hash
    # The leak: each run keeps 20 MB (np.ones touches every page), and
    # rss after the cell is what the cell itself read at its end.
    leaks = [m for m in m1 if m["cell"] == "leak"]
    for c, m in zip(cells[1:4], leaks, strict=True):
        kept = c["rss_after"] - c["rss_before"]
        assert abs(kept - 20 * MB) < 0.05 * 20 * MB, kept
        assert abs(c["rss_after"] - m["rss"]) < 2 * MiB
        assert c["rss_peak"] >= c["rss_after"]
    # The spike: 300 MB for 300 ms, caught within 5%, and nothing kept.
    spike = cells[4]
    (ms,) = [m for m in m1 if m["cell"] == "spike"]
    assert_spike(spike["rss_peak"] - spike["rss_before"], ms["nbytes"])
    # The peak is at least what the cell saw, up to the kernel's per-thread
    # rss counters, which reach the process's figures every 64 page faults.
    assert spike["rss_peak"] >= ms["rss"] - MiB
    assert abs(spike["rss_after"] - spike["rss_before"]) < 0.05 * ms["nbytes"]  # nothing kept
    # Raised and interrupted.
    assert (cells[5]["status"], cells[5]["error"]) == ("error", "ValueError: boom at cell 5")
    assert cells[6]["status"] == "interrupted"
    assert 2.5e9 < cells[6]["end_ns"] - cells[6]["start_ns"] < 30e9
    assert [c["status"] for c in cells[:5] + cells[7:]] == ["ok"] * 8
    # Frames: created, then grown; deep bytes as pandas counts them,
    # exact for the small frame, estimated from a sample for the large one.
    frames = s.of("df_frames")
    by_step = {}
    for f in frames:
        by_step.setdefault(f["step"], []).append(f)
    small_m = next(m for m in m1 if m["cell"] == "small")
    (fs,) = by_step["cell:8"]
    assert (fs["name"], fs["rows"], fs["columns"], fs["flags"]) == ("small", 1000, 2, 2)
    assert fs["deep_bytes"] == small_m["deep"]
    big_m = next(m for m in m1 if m["cell"] == "big")
    (fb,) = by_step["cell:9"]
    # Both figures estimated: pandas' from a sample of rows (bit 0), the
    # real one from a sample of its 200,000 distinct strings (bit 2); bit 1:
    # real bytes recorded.
    assert (fb["name"], fb["rows"], fb["columns"], fb["flags"]) == ("big", 200_000, 3, 7)
    assert abs(fb["deep_bytes"] - big_m["deep"]) < 0.03 * big_m["deep"]
    # Every string distinct: what the frame holds is pandas' count.
    assert abs(fb["real_bytes"] - big_m["deep"]) < 0.05 * big_m["deep"], (fb["real_bytes"], big_m["deep"])
    # memory_usage(deep=True) is a convention; the process's memory is
    # the truth: the cell kept at least the frame's buffers (int, float:
    # 3.2 MB) and its strings, and not wildly more than pandas counts.
    kept_big = cells[8]["rss_after"] - cells[8]["rss_before"]
    assert 0.6 * big_m["deep"] < kept_big < 1.5 * big_m["deep"], (kept_big, big_m["deep"])
    grow_m = next(m for m in m1 if m["cell"] == "grow")
    (fg,) = by_step["cell:10"]
    assert (fg["name"], fg["rows"]) == ("big", grow_m["rows"]) == ("big", 400_000)
    assert abs(fg["deep_bytes"] - grow_m["deep"]) < 0.03 * grow_m["deep"]
    assert "cell:2" not in by_step  # a cell that made no frame records none
    # The types that grew on the leak's runs: numpy arrays are not tracked
    # by the collector, but the list holding them is; gc.* counts exist.
    assert any(x["series"].startswith("gc.") for x in s.of("samples"))
    ev = s.of("events")
    assert [e["kind"] for e in ev if e["kind"] != "cell_start"] == ["session"]  # killed: no session_end
    # Each cell's start is flushed before it runs: the cell the kernel died
    # in (the question after an OOM kill) is in the log, with the rss then.
    starts = [e for e in ev if e["kind"] == "cell_start"]
    assert [e["name"] for e in starts] == ["cell:%d" % i for i in range(1, 12)]
    assert starts[-1]["detail"] == "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    assert starts[-1]["value"] == cells[-1]["rss_after"] or abs(starts[-1]["value"] - cells[-1]["rss_after"]) < MiB
    # Session 2: a new kernel on the same notebook appends; its cells go on
    # from id 11, and it ends cleanly when nbclient shuts the kernel down.
    nodes = "nodes.extend(Node() for _ in range(50_000))"
    nb2 = notebook("%load_ext memtrace", PRELUDE, LEAK, LEAK, "class Node:\n    pass\nnodes = []", nodes, nodes)
    run(nb2, nbpath)
    s, cells = cells_of(log)
    assert [c["id"] for c in cells] == list(range(1, 17))
    assert [c["session"] for c in cells] == [1] * 10 + [2] * 6
    assert [(e["kind"], e["value"]) for e in s.of("events") if e["kind"] != "cell_start"] == [
        ("session", 1.0), ("session", 2.0), ("session_end", 2.0)]
    for c in cells[11:13]:
        assert abs((c["rss_after"] - c["rss_before"]) - 20 * MB) < 0.05 * 20 * MB
    # The types that grow between cells: the collector's count of Node
    # objects after each run of the cell that keeps 50,000 more.
    node = {x["step"]: x["value"] for x in s.of("samples") if x["series"] == "gc.__main__.Node"}
    assert node == {"cell:15": 50_000, "cell:16": 100_000}  # Node came after the session's baseline
    # memtrace-cells reads both sessions and finds the leak of each: the
    # three runs of session 1 and the two of session 2, kept apart.
    doc = json.loads(subprocess.run([os.path.join(BUILD, "tools", "memtrace-cells"), str(log), "--format", "json"],
                                    check=True, capture_output=True, text=True).stdout)
    assert [(x["session"], x["ended"], x["cells"]) for x in doc["sessions"]] == [(1, False, 10), (2, True, 6)]
    died = doc["sessions"][0]["died_in"]  # the cell the kernel was killed in
    assert (died["id"], died["source"]) == (11, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert doc["sessions"][1]["died_in"] is None
    grow = {(g["session"], tuple(g["runs"])) for g in doc["growing"]}
    assert (1, (2, 3, 4)) in grow and (2, (12, 13)) in grow
    # 50,000 small objects a run keep about 4 MB, over the 1 MiB threshold;
    # the type that grew on those runs is Node, by 50,000 each.
    (nodes,) = [g for g in doc["growing"] if g["runs"] == [15, 16]]
    assert nodes["types"][0] == {"type": "__main__.Node", "growth": 100_000}
    # The README's picture and table come from this log.
    png = nbpath.parent / "cells.png"
    subprocess.run([os.path.join(BUILD, "tools", "memtrace-plot"), "cells", str(log), "-o", str(png)], check=True)
    from PIL import Image
    assert Image.open(png).format == "PNG"
    if os.environ.get("MEMTRACE_UPDATE_DOCS"):
        dest = os.path.join(ROOT, "testdata", "notebook")
        os.makedirs(dest, exist_ok=True)
        shutil.copyfile(png, os.path.join(dest, "cells.png"))
        shutil.copyfile(log, os.path.join(dest, "analysis.memtrace.snap"))


def test_two_kernels_one_notebook(kernel_env):
    """The second kernel on a notebook whose log is held records into a
    file of its own, and says so; neither file is damaged."""
    nbpath = kernel_env
    log = nbpath.parent / "analysis.memtrace.snap"
    a = nbclient.NotebookClient(notebook("%load_ext memtrace", "x = 1"), kernel_name="python3")
    b = nbclient.NotebookClient(notebook("%load_ext memtrace", "y = 2"), kernel_name="python3")
    with a.setup_kernel():
        a.execute_cell(a.nb.cells[0], 0)
        a.execute_cell(a.nb.cells[1], 1)
        with b.setup_kernel():
            b.execute_cell(b.nb.cells[0], 0)
            b.execute_cell(b.nb.cells[1], 1)
    note = "".join(o.get("text", "") for o in b.nb.cells[0].outputs)
    assert "is being written by another kernel" in note
    others = [p for p in os.listdir(nbpath.parent) if ".kernel-" in p]
    assert len(others) == 1, others
    _, ca = cells_of(log)
    _, cb = cells_of(nbpath.parent / others[0])
    assert [c["source"] for c in ca] == ["x = 1"]
    assert [c["source"] for c in cb][:1] == ["y = 2"]


def test_report_and_plot(kernel_env, tmp_path):
    """%memtrace report shows memtrace-cells' table as HTML whose rows are
    the log's cells; %memtrace plot shows memtrace-plot's PNG."""
    nbpath = kernel_env
    nb = notebook("%load_ext memtrace", PRELUDE, LEAK, LEAK, SPIKE, RAISE, "%memtrace report --sort peak",
                  "%memtrace plot", "%memtrace nonsense")
    run(nb, nbpath)
    log = nbpath.parent / "analysis.memtrace.snap"
    _, cells = cells_of(log)
    html = next(o["data"]["text/html"] for o in nb.cells[6].outputs if "text/html" in o.get("data", {}))
    from html.parser import HTMLParser

    class Rows(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.row, self.head = [], None, []
            self.in_th = False

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "tr":
                self.row = []
            elif tag == "td" and self.row is not None:
                self.row.append(a.get("data-v"))
            elif tag == "th":
                self.head.append(a.get("data-key"))
                assert "mtSort" in (a.get("onclick") or "")  # sortable

        def handle_endtag(self, tag):
            if tag == "tr" and self.row:
                self.rows.append(self.row)
                self.row = None

    p = Rows()
    p.feed(html)
    # The report's cell ran before its own record: the cells before it.
    want = [c for c in cells if c["id"] <= 5]
    assert len(p.rows) == len(want)
    col = {k: i for i, k in enumerate(p.head)}
    peaks = [int(r[col["rss_peak"]]) for r in p.rows]
    assert peaks == sorted(peaks, reverse=True)  # sorted by peak
    assert sorted(peaks) == sorted(c["rss_peak"] for c in want)
    top = p.rows[0]
    assert int(top[col["id"]]) == 4 and top[col["status"]] == "ok"  # the spike
    # The plot: a PNG image that decodes.
    png = next(o["data"]["image/png"] for o in nb.cells[7].outputs if "image/png" in o.get("data", {}))
    import base64
    import io
    from PIL import Image
    img = Image.open(io.BytesIO(base64.b64decode(png)))
    assert img.format == "PNG" and img.size[0] >= 400 and img.size[1] >= 200
    err = "".join(o.get("text", "") for o in nb.cells[8].outputs)
    assert "nonsense: not a %memtrace command" in err


def test_sampled_peak_fallback(kernel_env, monkeypatch):
    """Where /proc/self/clear_refs cannot be written the peak comes from a
    5 ms sampling thread, marked sampled; a 300 ms spike is still caught."""
    monkeypatch.setenv("MEMTRACE_CELL_PEAK", "sampled")
    nbpath = kernel_env
    nb = notebook("%load_ext memtrace", PRELUDE, SPIKE, "%memtrace status")
    run(nb, nbpath)
    _, cells = cells_of(nbpath.parent / "analysis.memtrace.snap")
    (ms,) = [m for m in measured(nb) if m["cell"] == "spike"]
    spike = cells[1]
    assert spike["flags"] & 3 == 2
    assert_spike(spike["rss_peak"] - spike["rss_before"], ms["nbytes"])
    status = "".join(o.get("data", {}).get("text/plain", "") for o in nb.cells[3].outputs)
    assert "sampled every 5 ms" in status and "session 1, 2 cells so far" in status
