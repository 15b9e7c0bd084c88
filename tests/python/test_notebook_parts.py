"""Parts of the notebook recorder that a CPU-only kernel cannot show:
tracemalloc's figures per cell, GPU memory per CUDA device (torch.cuda
replaced by a fake that keeps the documented API: is_initialized,
device_count, memory_allocated, memory_reserved, max_memory_allocated,
reset_peak_memory_stats), frames' deep bytes against pandas, and the
log's name. Run in-process through IPython's InteractiveShell."""

import os
import sys
import tracemalloc
import types

import pytest

pytest.importorskip("IPython")
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from conftest import BUILD  # noqa: E402
import spec_reader  # noqa: E402

sys.path.insert(0, os.path.join(BUILD, "python"))
from memtrace import notebook  # noqa: E402


@pytest.fixture
def shell(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMTRACE_CELL_LOG", str(tmp_path / "t.memtrace.snap"))
    InteractiveShell.clear_instance()
    sh = InteractiveShell.instance()
    yield sh
    notebook.unload_ipython_extension(sh)
    InteractiveShell.clear_instance()


def records(tmp_path):
    return spec_reader.Snapshot(str(tmp_path / "t.memtrace.snap"), growing=True)


def test_tracemalloc_figures(shell, tmp_path):
    """traced_* are tracemalloc's own: a cell that keeps a 10 MB bytearray
    and makes a 30 MB temporary one."""
    tracemalloc.start()
    try:
        shell.run_cell("%load_ext memtrace")
        shell.run_cell("keep = bytearray(10_000_000)\ntmp = bytearray(30_000_000)\ndel tmp")
    finally:
        notebook.unload_ipython_extension(shell)
        tracemalloc.stop()
    (c,) = records(tmp_path).of("nb_cells")
    assert c["flags"] & 4
    assert abs((c["traced_after"] - c["traced_before"]) - 10_000_000) < 200_000
    assert abs((c["traced_peak"] - c["traced_before"]) - 40_000_000) < 400_000


class FakeCuda:
    """torch.cuda as the recorder calls it, with two devices whose
    figures a cell sets."""

    def __init__(self):
        self.alloc = [0, 0]
        self.reserved = [0, 0]
        self.peak = [0, 0]
        self.initialized = True

    def is_initialized(self):
        return self.initialized

    def device_count(self):
        return 2

    def memory_allocated(self, d):
        return self.alloc[d]

    def memory_reserved(self, d):
        return self.reserved[d]

    def max_memory_allocated(self, d):
        return self.peak[d]

    def reset_peak_memory_stats(self, d):
        self.peak[d] = self.alloc[d]

    def use(self, d, alloc, reserved, spike):
        self.peak[d] = max(self.peak[d], self.alloc[d] + spike, alloc)
        self.alloc[d], self.reserved[d] = alloc, reserved


def test_gpu_per_device(shell, tmp_path, monkeypatch):
    cuda = FakeCuda()
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    shell.user_ns["cuda"] = cuda
    cuda.initialized = False
    shell.run_cell("%load_ext memtrace")
    shell.run_cell("x = 1")  # CUDA not set up: no GPU figures, none set up
    cuda.initialized = True
    shell.run_cell("cuda.use(0, 1 << 30, 2 << 30, 3 << 30)\ncuda.use(1, 5 << 20, 20 << 20, 0)")
    notebook.unload_ipython_extension(shell)
    s = records(tmp_path)
    gpu = {(x["step"], x["series"]): x["value"] for x in s.of("samples") if x["series"].startswith("gpu")}
    assert gpu == {("cell:2", "gpu0.allocated"): 1 << 30, ("cell:2", "gpu0.reserved"): 2 << 30,
                   ("cell:2", "gpu0.peak_allocated"): 3 << 30, ("cell:2", "gpu1.allocated"): 5 << 20,
                   ("cell:2", "gpu1.reserved"): 20 << 20, ("cell:2", "gpu1.peak_allocated"): 5 << 20}


def test_frames_exact_and_estimated():
    """Deep bytes against pandas' memory_usage(deep=True): exact up to
    10,000 rows and for numeric and categorical columns at any size;
    estimated (and said so) for object columns beyond."""
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    small = pd.DataFrame({"a": range(500), "s": ["w%d" % i for i in range(500)]})
    assert notebook.frame_deep_bytes(small) == (int(small.memory_usage(deep=True).sum()), False)
    num = pd.DataFrame({"a": np.arange(100_000), "c": pd.Categorical(["x", "y"] * 50_000),
                        "f": np.random.rand(100_000)})
    assert notebook.frame_deep_bytes(num) == (int(num.memory_usage(deep=True).sum()), False)
    rng = np.random.default_rng(3)
    words = ["w" * int(n) for n in rng.integers(1, 200, 300_000)]  # lengths vary a lot
    mixed = pd.DataFrame({"a": np.arange(300_000), "s": words},
                         index=pd.Index(["r%d" % i for i in range(300_000)]))
    deep, est = notebook.frame_deep_bytes(mixed)
    truth = int(mixed.memory_usage(deep=True).sum())
    assert est and abs(deep - truth) < 0.03 * truth, (deep, truth)
    # pandas' string dtype holds Python strings too: sampled the same way.
    strs = mixed.astype({"s": "string"})
    deep, est = notebook.frame_deep_bytes(strs)
    truth = int(strs.memory_usage(deep=True).sum())
    assert est and abs(deep - truth) < 0.03 * truth, (deep, truth)


def test_log_name(monkeypatch, tmp_path):
    sh = types.SimpleNamespace(user_ns={})
    monkeypatch.delenv("MEMTRACE_CELL_LOG", raising=False)
    monkeypatch.delenv("MEMTRACE_CELL_DIR", raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/nb/Sales Q3.ipynb")
    assert notebook.log_path_for(sh) == "/work/nb/Sales Q3.memtrace.snap"
    monkeypatch.setenv("MEMTRACE_CELL_DIR", str(tmp_path))
    assert notebook.log_path_for(sh) == str(tmp_path / "Sales Q3.memtrace.snap")
    monkeypatch.delenv("JPY_SESSION_NAME")
    sh.user_ns["__vsc_ipynb_file__"] = "/x/y.ipynb"
    assert notebook.log_path_for(sh) == str(tmp_path / "y.memtrace.snap")
    sh.user_ns.clear()
    assert notebook.log_path_for(sh) == str(tmp_path / ("ipython-%d.memtrace.snap" % os.getpid()))


def test_on_off_and_bad_commands(shell, tmp_path, capsys):
    """off stops recording (the session ends), on starts a new session in
    the same log, on OTHER moves to another log; a bad command or option
    is one line on stderr, not a traceback."""
    other = tmp_path / "other.memtrace.snap"
    for cell in ("%load_ext memtrace", "a = 1", "%memtrace off", "b = 2", "%memtrace on", "c = 3",
                 "%memtrace on " + str(other), "d = 4", "%memtrace bogus", "%memtrace report --sort nope",
                 "%memtrace report --top x"):
        shell.run_cell(cell)
    notebook.unload_ipython_extension(shell)
    s = records(tmp_path)
    assert [(c["id"], c["session"], c["source"]) for c in s.of("nb_cells")] == [(1, 1, "a = 1"), (2, 2, "c = 3")]
    assert [(e["kind"], e["value"]) for e in s.of("events") if e["kind"] != "cell_start"] == [
        ("session", 1.0), ("session_end", 1.0), ("session", 2.0), ("session_end", 2.0)]
    o = spec_reader.Snapshot(str(other), growing=True)
    assert [c["source"] for c in o.of("nb_cells")][0] == "d = 4"
    err = capsys.readouterr().err
    assert "memtrace: bogus: not a %memtrace command" in err
    assert "memtrace: --sort nope: not a sort order (peak, retained, wall or id)" in err
    assert "memtrace: --top x: not a number" in err
    assert "Traceback" not in err


def test_frames_created_or_grown(shell, tmp_path):
    """A frame is recorded by the cell that creates it and by each cell
    that makes it larger (a column set anew with longer strings, more
    rows), and not by cells that leave it alone or keep its size."""
    pytest.importorskip("pandas")
    cells = ["%load_ext memtrace",
             "import pandas as pd\ndf = pd.DataFrame({'a': range(2000), 's': ['v%d' % i for i in range(2000)]})",
             "x = 1",
             "df['s'] = df['s'] + 'a much longer suffix'",
             "df['a'] += 1",
             "df = pd.concat([df, df])"]
    deep = []
    for c in cells:
        shell.run_cell(c)
        if "df" in shell.user_ns:
            deep.append(int(shell.user_ns["df"].memory_usage(deep=True).sum()))
    notebook.unload_ipython_extension(shell)
    got = [(f["step"], f["rows"], f["deep_bytes"]) for f in records(tmp_path).of("df_frames")]
    assert got == [("cell:1", 2000, deep[0]), ("cell:3", 2000, deep[2]), ("cell:5", 4000, deep[4])]
    assert deep[2] > deep[0]


def test_a_failing_part_never_stops_recording(shell, tmp_path, capsys):
    """A DataFrame whose objects' __sizeof__ raises costs the frames of
    that cell, said once on stderr; the cells before and after are all
    recorded, and no traceback reaches the user."""
    pytest.importorskip("pandas")
    shell.run_cell("%load_ext memtrace")
    shell.run_cell("import pandas as pd\nclass Bad:\n    def __sizeof__(self):\n        raise RuntimeError('no size')")
    shell.run_cell("bad = pd.DataFrame({'o': [Bad() for _ in range(20_000)]})")
    shell.run_cell("x = 1")
    shell.run_cell("y = 2")
    notebook.unload_ipython_extension(shell)
    cells = records(tmp_path).of("nb_cells")
    assert [c["source"] for c in cells] == ["import pandas as pd", "bad = pd.DataFrame({'o': [Bad() for _ in range(20_000)]})",
                                            "x = 1", "y = 2"]
    err = capsys.readouterr().err
    assert err.count("memtrace: DataFrames not recorded: RuntimeError: no size") == 1
    assert "Traceback" not in err


def test_a_log_that_cannot_be_appended_to(tmp_path, monkeypatch, capsys):
    """A damaged log (a host crash can leave zeros at its end) or a
    directory that cannot be written: the kernel records into a log of its
    own beside it or in the temporary directory, and says so."""
    log = tmp_path / "t.memtrace.snap"
    monkeypatch.setenv("MEMTRACE_CELL_LOG", str(log))
    InteractiveShell.clear_instance()
    sh = InteractiveShell.instance()
    sh.run_cell("%load_ext memtrace")
    sh.run_cell("a = 1")
    sh.run_cell("%unload_ext memtrace")
    data = log.read_bytes()
    log.write_bytes(data[:40] + b"\xff" * 36 + data[40:])  # a block header that is not one, mid-file
    sh.run_cell("%load_ext memtrace")
    sh.run_cell("b = 2")
    sh.run_cell("%unload_ext memtrace")
    InteractiveShell.clear_instance()
    assert log.read_bytes()[:40] == data[:40] and len(log.read_bytes()) == len(data) + 36  # untouched
    alt = tmp_path / ("t.kernel-%d.memtrace.snap" % os.getpid())
    assert [c["source"] for c in spec_reader.Snapshot(str(alt), growing=True).of("nb_cells")] == ["b = 2"]
    err = capsys.readouterr().err
    assert "cannot be appended to" in err and str(alt) in err and "damaged" in err


def test_relative_notebook_name(monkeypatch, tmp_path):
    """Jupyter Server names the notebook relative to its root and starts
    the kernel in the notebook's directory."""
    monkeypatch.delenv("MEMTRACE_CELL_LOG", raising=False)
    monkeypatch.delenv("MEMTRACE_CELL_DIR", raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", "sub/dir/a.ipynb")
    monkeypatch.chdir(tmp_path)
    assert notebook.log_path_for(types.SimpleNamespace(user_ns={})) == str(tmp_path / "a.memtrace.snap")


def test_line_profile_keeps_the_cells_peak(shell, tmp_path):
    """%%memtrace resets the high-water mark at every line; the recorder's
    peak of that cell is still the cell's highest, not its last line's."""
    pytest.importorskip("numpy")
    shell.run_cell("%load_ext memtrace")
    shell.run_cell("import numpy as np")
    shell.run_cell("%%memtrace\na = np.ones(25_000_000)\ndel a\nb = 1")
    notebook.unload_ipython_extension(shell)
    c = records(tmp_path).of("nb_cells")[-1]
    assert c["source"] == "%%memtrace"
    assert c["rss_peak"] - c["rss_before"] > 0.95 * 200_000_000


def test_frames_real_bytes_are_what_building_them_cost(shell, tmp_path):
    """read_csv makes one string object per distinct value, shared by its
    rows: the cell log's real_bytes is within 5% of what tracemalloc saw
    the cell allocate for the frame, and pandas' deep count (kept beside
    it) several times that; memtrace-cells shows both. A frame of more
    distinct objects than the cell's ledger keeps is sampled, marked
    estimated (flags bit 1) and still within 5% of tracemalloc."""
    import json
    import subprocess
    pytest.importorskip("pandas")
    csv = tmp_path / "rep.csv"
    with open(csv, "w") as f:
        f.write("id,city,kind\n")
        for i in range(100_000):
            f.write("%d,city-number-%02d,kind-%d\n" % (i, i % 40, i % 7))
    measure = ("import tracemalloc, pandas as pd\ntracemalloc.start()\n{name} = {expr}\n"
               "cost_{name} = tracemalloc.get_traced_memory()[0]\ntracemalloc.stop()")
    shell.run_cell("%load_ext memtrace")
    shell.run_cell(measure.format(name="rep", expr="pd.read_csv(%r)" % str(csv)))
    shell.run_cell(measure.format(name="uniq", expr="pd.DataFrame({'u': ['u-%07d' % i for i in range(60_000)]})"))
    ns = shell.user_ns
    notebook.unload_ipython_extension(shell)
    frames = {f["name"]: f for f in records(tmp_path).of("df_frames")}
    rep, uniq = frames["rep"], frames["uniq"]
    assert abs(rep["real_bytes"] - ns["cost_rep"]) < 0.05 * ns["cost_rep"], (rep["real_bytes"], ns["cost_rep"])
    assert not rep["flags"] & notebook.FRAME_REAL_EST
    deep = int(ns["rep"].memory_usage(deep=True).sum())
    assert abs(rep["deep_bytes"] - deep) < 0.03 * deep
    assert rep["deep_bytes"] > 4 * rep["real_bytes"]
    # 60,000 distinct strings: more than the ledger keeps, so sampled.
    assert uniq["flags"] & notebook.FRAME_REAL_EST
    assert abs(uniq["real_bytes"] - ns["cost_uniq"]) < 0.05 * ns["cost_uniq"], (uniq["real_bytes"], ns["cost_uniq"])
    doc = json.loads(subprocess.run([os.path.join(BUILD, "tools", "memtrace-cells"), str(tmp_path / "t.memtrace.snap"),
                                     "--format", "json"], check=True, capture_output=True, text=True).stdout)
    got = {f["name"]: f for c in doc["cells"] for f in c["frames"]}
    assert got["rep"]["real_bytes"] == rep["real_bytes"] and got["rep"]["deep_bytes"] == rep["deep_bytes"]
    assert got["uniq"]["real_estimated"] and not got["rep"]["real_estimated"]
