"""Paths to roots on real programs (issue 28, point 4): a batch worker that
keeps every failed job's exception, whose traceback holds the graph in a
frame's local, and a threaded http.server whose in-flight request holds
what a module-level registry also holds. The oracles are the programs'
own source lines (found by searching their text) and what Python says of
their objects, never memtrace's output."""

import json
import os
import subprocess
import sys

import pytest

import spec_reader
from conftest import BUILD, HERE, tool

ARROW = " \u2192 "


def run_program(name, out, *args):
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    subprocess.run([sys.executable, os.path.join(HERE, name), str(out), *args], check=True, env=env, timeout=120)


def line_of(name, text):
    """The line number of the one source line of program name holding text."""
    with open(os.path.join(HERE, name)) as f:
        lines = [n for n, line in enumerate(f, 1) if text in line]
    assert len(lines) == 1, (text, lines)
    return lines[0]


def graph_paths(snap, what, n=1):
    args = [tool("memtrace-graph"), "-n", str(n), "-p", what, str(snap)]
    text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    doc = json.loads(subprocess.run(args + ["-f", "json"], capture_output=True, text=True, check=True).stdout)
    return text, doc["paths"]


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    out = tmp_path_factory.mktemp("worker") / "w.snap"
    run_program("jobs_worker.py", out, "200")
    return out


def test_a_kept_tracebacks_path_names_the_frame_and_the_local(worker):
    import jobs_worker

    graph_type = f"{jobs_worker.Graph.__module__}.{jobs_worker.Graph.__qualname__}"
    error = jobs_worker.NoPath.__name__
    line = line_of("jobs_worker.py", "return shortest_path(G, src, dst)")
    want = (f"module __main__{ARROW}FAILED[N]{ARROW}{error}.__traceback__{ARROW}tb_next{ARROW}"
            f"tb_frame (jobs_worker.py:{line} in find_route){ARROW}local 'G'")
    text, paths = graph_paths(worker, graph_type, 3)
    # Jobs alternate: the 100 odd ones fail, so FAILED holds 100 exceptions.
    shown = [ln.strip() for ln in text.splitlines() if ln.startswith("  module")]
    assert len(shown) == 3 and len(paths) == 3
    for p in shown + [p["path"] for p in paths]:
        head, rest = p.split("FAILED[", 1)
        index, tail = rest.split("]", 1)
        assert 0 <= int(index) < 100
        assert head + "FAILED[N]" + tail == want
    for p in paths:
        assert p["root"] == {"kind": "module", "name": "__main__"}
        labels = [s.get("label") for s in p["steps"]]
        # The dump keeps the frame's whole file name; the text its last part.
        frame_label = f"tb_frame ({os.path.join(HERE, 'jobs_worker.py')}:{line} in find_route)"
        assert labels[-4:] == ["__traceback__", "tb_next", frame_label, "G"]
        assert [s["type"] for s in p["steps"]][-4:] == ["traceback", "traceback", "frame", graph_type]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    out = tmp_path_factory.mktemp("server") / "s.snap"
    run_program("inflight_server.py", out)
    return out


def test_a_module_registry_beats_the_in_flight_request_frame(server):
    text, paths = graph_paths(server, "__main__.Payload")
    want = f"module __main__{ARROW}REGISTRY['/item']"
    assert f"  {want}\n" in text
    assert paths[0]["path"] == want and paths[0]["root"]["kind"] == "module"
    # The request's frame holds it too, one hop away: the dump says so, and
    # names the frame with its function, file and line.
    s = spec_reader.Snapshot(str(server))
    line = line_of("inflight_server.py", "RELEASE.wait(30)")
    place = f"do_GET ({os.path.join(HERE, 'inflight_server.py')}:{line}, thread "
    frames = [r for r in s.of("roots") if r["kind"] == "frame" and r["name"].startswith(place)]
    assert len(frames) == 1
    payload = paths[0]["id"]
    objs = s.of("objects")
    held = [r.get("label") for r in s.of("refs") if r["src"] == frames[0]["obj"] and objs[r["dst"]]["id"] == payload]
    assert held == ["payload"]
    # What C holds has a name where the dump can give one.
    named = {r.get("name") for r in s.of("roots") if r["kind"] == "c"}
    assert {"sys.modules", "builtins.__dict__"} <= named


def test_allocated_at_names_the_applications_call_past_the_standard_library(tmp_path):
    """logging makes each leaked Logger in its own code (Manager.getLogger);
    the line to fix is the program's call to logging.getLogger."""
    run_program("logger_leak_app.py", tmp_path, "5")
    snaps = sorted(str(p) for p in tmp_path.glob("s*.snap"))
    app = os.path.join(HERE, "logger_leak_app.py")
    line = line_of("logger_leak_app.py", "logging.getLogger(f\"request.")
    import logging

    def leaks(*args):
        p = subprocess.run([tool("memtrace-leaks"), *args, *snaps], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        return p.stdout

    text = leaks()
    assert "1. logging.Logger: confidence" in text
    assert f"     allocated at {app}:{line}\n" in text
    doc = json.loads(leaks("-f", "json"))
    logger = [s for s in doc["suspects"] if s["type"] == "logging.Logger"][0]
    assert logger["site"] == f"{app}:{line}"
    # Kept: the innermost frame is logging's own, in its source file.
    inner = json.loads(leaks("-f", "json", "--stdlib-frames"))
    site = [s for s in inner["suspects"] if s["type"] == "logging.Logger"][0]["site"]
    assert site.startswith(logging.__file__ + ":")
    assert "allocated at " + logging.__file__ + ":" in leaks("--stdlib-frames")
