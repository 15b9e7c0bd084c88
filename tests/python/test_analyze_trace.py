"""memtrace.analyze.trace and trace_folded against memtrace-trace's own
output on the same files (--format json --histogram, --folded, and the
warnings it prints on stderr), on the bundled traces and on a trace of a
program this test runs, whose burst and leak it knows; and the errors
each bad input raises."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import BUILD, ROOT, tool

memtrace = pytest.importorskip("memtrace")
pytest.importorskip("pandas")
import memtrace.analyze as ma  # noqa: E402

TESTDATA = os.path.join(ROOT, "testdata")
BUNDLED = [os.path.join(TESTDATA, n) for n in ("trace.snap", "trace-sampled.snap", "trace-sites.snap")]
MIB = 1 << 20


def cli_json(path, *args):
    p = subprocess.run([tool("memtrace-trace"), path, "--format", "json", "--histogram", *args], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout), p.stderr


def cli_warnings(stderr):
    """memtrace-trace's warning lines, without the "memtrace-trace: PATH: warning: " it puts first."""
    out = []
    for line in stderr.splitlines():
        if ": warning: " in line:
            out.append(line.split(": warning: ", 1)[1])
    return out


def same(py, cli, where="result"):
    """Every key of the tool's JSON is in py with the same value (floats
    to 12 digits: the tool prints them with %.17g)."""
    if isinstance(cli, dict):
        assert isinstance(py, dict), where
        for k, v in cli.items():
            assert k in py, "%s lacks %s" % (where, k)
            same(py[k], v, "%s.%s" % (where, k))
    elif isinstance(cli, list):
        assert isinstance(py, list) and len(py) == len(cli), where
        for i, (a, b) in enumerate(zip(py, cli)):
            same(a, b, "%s[%d]" % (where, i))
    elif isinstance(cli, float) or isinstance(py, float):
        assert py == pytest.approx(cli, rel=1e-12, abs=1e-9), where
    else:
        assert py == cli, where


def compare(path, cli_args=(), **kw):
    r = ma.trace(path, **kw)
    j, err = cli_json(path, *cli_args)
    d = r.to_dict()
    same(d, j)
    assert d["warnings"] == cli_warnings(err)
    if "at" not in j:
        assert d["at"] is None
    return r, j


@pytest.fixture(scope="module")
def program_trace(tmp_path_factory):
    """A full trace of a program with a 30 MiB burst in step "burst", freed
    in step "after", and 8 blocks of 256 KiB it never frees."""
    d = tmp_path_factory.mktemp("tr")
    prog = d / "prog.py"
    prog.write_text(textwrap.dedent("""\
        import sys
        import memtrace
        kept = []
        with memtrace.trace(sys.argv[1], all=True, numpy=False) as t:
            t.step("burst")
            burst = [bytearray(1 << 20) for _ in range(30)]  # BURST
            t.step("after")
            del burst
            kept.extend(bytearray(1 << 18) for _ in range(8))  # KEPT
            t.step("end")
        """))
    out = d / "prog.snap"
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    p = subprocess.run([sys.executable, str(prog), str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return str(out), str(prog)


@pytest.mark.parametrize("path", BUNDLED, ids=os.path.basename)
def test_bundled_traces_equal_the_tool(path):
    compare(path)
    compare(path, ("--by", "allocated", "--top", "0", "--stack"), by="allocated", top=0, stack=True)
    compare(path, ("--by", "temporary", "--temporary-threshold", "0.5"), by="temporary", temporary_ms=0.5)
    compare(path, ("--at", "1.5", "--no-checkpoints"), at=1.5, no_checkpoints=True)
    compare(path, ("--at", "1e6",), at=1e6)  # after the end: the tool's warning


def test_folded_equals_the_tool():
    for path in BUNDLED:
        for by in ("peak", "leaked", "allocated", "temporary"):
            p = subprocess.run([tool("memtrace-trace"), path, "--folded", by], capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
            assert ["%s %d" % x for x in ma.trace_folded(path, by=by)] == p.stdout.splitlines()


def test_a_program_trace_names_its_burst_and_its_leak(program_trace):
    path, prog = program_trace
    r, _ = compare(path, by="peak")
    # The oracle is the program: at the peak its 30 buffers of 1 MiB + 1
    # (bytearray keeps a NUL) are live on the burst's line, in its step,
    # with the 30 bytearray objects and the list that holds them.
    assert r.peak["step"] == "burst"
    top = r.sites.iloc[0]
    assert top["site"].endswith("prog.py:6")
    objects = 30 * sys.getsizeof(bytearray()) + sys.getsizeof([None] * 40)
    assert 30 * (MIB + 1) <= top["live_bytes"] <= 30 * (MIB + 1) + objects
    assert 30 <= top["live_blocks"] <= 62
    assert top["leaked_bytes"] == 0
    r, _ = compare(path, ("--by", "leaked"), by="leaked")
    kept = r.sites.iloc[0]
    assert kept["site"].endswith("prog.py:9")
    assert 8 * ((1 << 18) + 1) <= kept["leaked_bytes"] <= 8 * ((1 << 18) + 1 + sys.getsizeof(bytearray()))
    assert 8 <= kept["leaked_blocks"] <= 16
    assert r.leaked["bytes"] >= kept["leaked_bytes"]
    # Each step's moment, as --at-step.
    for step in ("burst", "after", "end"):
        r, j = compare(path, ("--at-step", step), at_step=step)
        assert r.at["step"] == step and j["at"]["step"] == step
    # The curve holds the peak and ends at what was left.
    r = ma.trace(path, curve=500)
    assert len(r.curve) == 500
    assert r.curve["max_bytes"].max() == r.peak["bytes"]
    assert r.curve["end_bytes"].iloc[-1] == r.leaked["bytes"]
    assert list(r.curve["time_s"]) == sorted(r.curve["time_s"])
    assert len(ma.trace(path, curve=0).curve) == 0
    assert "burst" in repr(r) and "<table" in r._repr_html_()


def test_a_trace_cut_short_warns_as_the_tool(program_trace, tmp_path):
    path, _ = program_trace
    cut = tmp_path / "cut.snap"
    data = open(path, "rb").read()
    # Where the allocs blocks lie depends on when the tracer flushed: cut
    # at several places; the tool says which cuts still hold a trace, and
    # the binding must agree with it on each.
    read = 0
    for frac in (0.99, 0.95, 0.9, 0.8, 0.67, 0.5, 0.2):
        cut.write_bytes(data[: int(len(data) * frac)])
        p = subprocess.run([tool("memtrace-trace"), str(cut)], capture_output=True, text=True)
        if p.returncode == 0:
            r, _ = compare(str(cut))
            assert r.truncated and r.warnings and r.warnings[0].startswith("file cut short")
            read += 1
        else:
            assert p.returncode == 3
            with pytest.raises(ma.Error) as e:
                ma.trace(str(cut))
            assert str(e.value).split(": ", 1)[1] in p.stderr
    assert read


def test_bad_inputs_raise_the_documented_exceptions(tmp_path):
    with pytest.raises(ma.NotFoundError) as e:
        ma.trace(os.path.join(TESTDATA, "run.snap"))
    assert e.value.path == os.path.join(TESTDATA, "run.snap") and "trace_mode" in str(e.value)
    missing = str(tmp_path / "none.snap")
    with pytest.raises(ma.FileError) as e:
        ma.trace(missing)
    assert e.value.path == missing
    # A damaged block: BadInputError naming it; salvage reads the rest.
    bad = tmp_path / "bad.snap"
    shutil.copy(BUNDLED[0], bad)
    data = bytearray(bad.read_bytes())
    p = subprocess.run([tool("memtrace-trace"), str(bad)], capture_output=True, text=True)
    assert p.returncode == 0
    mid = len(data) // 2
    data[mid:mid + 8] = bytes(8 - i for i in range(8))
    bad.write_bytes(bytes(data))
    p = subprocess.run([tool("memtrace-trace"), str(bad)], capture_output=True, text=True)
    assert p.returncode == 3
    with pytest.raises(ma.BadInputError) as e:
        ma.trace(str(bad))
    assert e.value.path == str(bad) and e.value.block is not None
    assert str(e.value).split(": ", 1)[1] in p.stderr
    compare(str(bad), ("--salvage",), salvage=True)
    # Arguments the tool would refuse.
    with pytest.raises(ValueError, match="give one of them"):
        ma.trace(BUNDLED[0], at=1, at_step="parse")
    with pytest.raises(ma.NotFoundError, match="no step named 'nope'"):
        ma.trace(BUNDLED[0], at_step="nope")
    with pytest.raises(ValueError, match="by must be one of"):
        ma.trace(BUNDLED[0], by="bytes")
    with pytest.raises(ValueError, match="by must be one of"):
        ma.trace_folded(BUNDLED[0], by="count")
    with pytest.raises(ValueError, match="top must be >= 0"):
        ma.trace(BUNDLED[0], top=-1)
    with pytest.raises(ValueError, match="at must be"):
        ma.trace(BUNDLED[0], at=-2)
