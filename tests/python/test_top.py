"""memtrace-top and memtrace-plot follow a run file while a writer adds to it:
a real writer process (the extension's memtrace.Writer, flushed after every
point, as a sampler flushes) and the tools run over and over against it. The
oracle is what the writer wrote: point i of series gc.count0 has the value i,
so a view that shows n points must show n - 1 as the current value, exactly
(counts print as whole numbers)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import BUILD

WRITER = textwrap.dedent("""
    import sys, time, memtrace
    path, flushed, unflushed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    w = memtrace.Writer(path)
    w.add_meta("start_time", time.time_ns())
    w.add_meta("command", "test writer")
    w.add_meta("pid", 4242)
    i = 0
    while flushed < 0 or i < flushed:
        w.add_sample("gc.count0", float(i), time_ns=i * 50_000_000)
        w.add_sample("rss", 100e6 + i * 1e6, time_ns=i * 50_000_000)
        w.flush()
        i += 1
        if flushed < 0:
            time.sleep(0.05)
    # Points added but never flushed: a crash loses them.
    for j in range(unflushed):
        w.add_sample("gc.count0", float(i + j), time_ns=(i + j) * 50_000_000)
    print("ready", flush=True)
    time.sleep(600)
""")


def tool(name):
    return os.path.join(BUILD, "tools", name)


def start_writer(tmp_path, path, flushed, unflushed=0):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    return subprocess.Popen([sys.executable, str(script), str(path), str(flushed), str(unflushed)],
                            stdout=subprocess.PIPE, text=True, env=env)


def top_once(path):
    r = subprocess.run([tool("memtrace-top"), "--once", "--series", "gc.count0,rss", str(path)],
                       capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
    return r


def view(text):
    """(records, current value of gc.count0, state) of a --once frame."""
    records = int(re.search(r"(\d+) records in", text).group(1))
    row = re.search(r"(?m)^gc\.count0\s+(\d+)\s", text)
    state = re.search(r"state (running|closed|writer gone)", text).group(1)
    return records, int(row.group(1)), state


def test_top_follows_a_growing_file(tmp_path):
    path = tmp_path / "run.snap"
    w = start_writer(tmp_path, path, -1)
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len({s[0] for s in seen}) < 4:
            if not path.exists():
                time.sleep(0.02)
                continue
            r = top_once(path)
            assert r.returncode == 0, r.stderr
            records, current, state = view(r.stdout)
            # Two series, one point each per step: the view is one
            # consistent prefix of what was written.
            assert records % 2 == 0
            assert current == records // 2 - 1, r.stdout
            assert state != "closed"  # "writer gone" only if this machine stalls it for 3 s
            seen.append((records, current))
            time.sleep(0.1)
        counts = [s[0] for s in seen]
        assert counts == sorted(counts), counts
        assert len(set(counts)) >= 4, "the point count did not grow: %r" % counts
    finally:
        w.kill()
        w.wait()


def test_killed_writer_leaves_a_readable_file(tmp_path):
    path = tmp_path / "run.snap"
    w = start_writer(tmp_path, path, 30, unflushed=5)
    try:
        assert w.stdout.readline().strip() == "ready"
    finally:
        w.send_signal(signal.SIGKILL)
        w.wait()
    r = top_once(path)
    assert r.returncode == 0, r.stderr
    records, current, state = view(r.stdout)
    # Everything flushed, nothing that was not.
    assert (records, current) == (60, 29)
    assert state in ("running", "writer gone")
    assert "closed" not in r.stdout

    # The same file cut in the middle of its last block, as a crash in the
    # middle of a write leaves it: read up to the block before, the rest
    # said to be unfinished.
    cut = tmp_path / "cut.snap"
    shutil.copy(path, cut)
    with open(cut, "r+b") as f:
        f.truncate(os.path.getsize(cut) - 10)
    r = top_once(cut)
    assert r.returncode == 0, r.stderr
    records, current, _ = view(r.stdout)
    # Each flush wrote one block of two points: the cut one is left out.
    assert (records, current) == (58, 28)
    m = re.search(r"\((\d+) bytes of an unfinished block not read yet\)", r.stdout)
    assert m and int(m.group(1)) > 0

    if not shutil.which("gnuplot"):
        pytest.skip("gnuplot is not installed")
    for f, want in ((path, 30), (cut, None)):
        out = tmp_path / (f.stem + ".png")
        p = subprocess.run([tool("memtrace-plot"), "timeline", str(f), "-o", str(out), "-k"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert out.stat().st_size > 0
        blocks = out.with_suffix(".dat").read_text().split("\n\n\n")
        # The counts are not drawn on the memory axis; rss is, point by point.
        assert not [b for b in blocks if "series gc.count0" in b]
        rss = [b for b in blocks if "series rss" in b][0].strip().splitlines()[1:]
        values = [float(line.split("\t")[1]) for line in rss]
        assert values == [100e6 + i * 1e6 for i in range(len(values))]
        if want:
            assert len(values) == want
            assert "still being written" not in p.stderr
        else:
            assert "still being written: left out the" in p.stderr


def test_pid_runs_memtrace_sample_beside_it(tmp_path):
    """-p PID runs the memtrace-sample installed beside memtrace-top. Without
    one (a build without the sampler) it says so and exits 3; with one, it
    shows the process's rss and leaves no temporary file behind."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(64 << 20); time.sleep(60)"])
    env = dict(os.environ, TMPDIR=str(tmp_path), LC_ALL="C")
    try:
        r = subprocess.run([tool("memtrace-top"), "--once", "-p", str(sleeper.pid)], capture_output=True, text=True,
                           env=env, timeout=60)
    finally:
        sleeper.kill()
        sleeper.wait()
    if not os.path.exists(tool("memtrace-sample")):
        assert r.returncode == 3
        assert "memtrace-sample" in r.stderr
    else:
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("memtrace-top: pid %d" % sleeper.pid)
        assert re.search(r"(?m)^rss\s", r.stdout)
    assert not list(tmp_path.glob("memtrace-top.*"))


SLOW_WRITER = textwrap.dedent("""
    import sys, time, memtrace
    path, interval_ns = sys.argv[1], int(sys.argv[2])
    w = memtrace.Writer(path)
    w.add_meta("start_time", time.time_ns())
    w.add_meta("interval_ns", interval_ns)
    w.add_sample("rss", 100e6, time_ns=0)
    w.flush()
    print("ready", flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("interval_s, want", [(10, "running"), (1, "writer gone")])
def test_state_allows_for_the_sampler_interval(tmp_path, interval_s, want):
    # memtrace-sample -i 10000 writes (and flushes) once every 10 s: a file
    # last changed 5 s ago still has its writer. The state is judged by the
    # run's own interval (meta interval_ns), not by memtrace-top's polling.
    path = tmp_path / "run.snap"
    script = tmp_path / "slow.py"
    script.write_text(SLOW_WRITER)
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    w = subprocess.Popen([sys.executable, str(script), str(path), str(interval_s * 10**9)],
                         stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert w.stdout.readline().strip() == "ready"
        # As if the last flush were 5 s ago, without waiting for it.
        old = time.time() - 5
        os.utime(path, (old, old))
        r = subprocess.run([tool("memtrace-top"), "--once", str(path)], capture_output=True, text=True,
                           env=dict(os.environ, LC_ALL="C"))
        assert r.returncode == 0, r.stderr
        assert re.search(r"state (running|closed|writer gone)", r.stdout).group(1) == want, r.stdout
    finally:
        w.kill()
        w.wait()


def test_pid_file_is_not_a_guessable_name(tmp_path):
    # Another user can create /tmp/NAME first when NAME follows from our pid
    # (a file of theirs, followed as if it were ours; or anything that makes
    # memtrace-sample fail). The name taken here before memtrace-top starts
    # is the one it used: memtrace-top.PID.snap.
    if not os.path.exists(tool("memtrace-sample")):
        pytest.skip("no memtrace-sample beside memtrace-top")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(32 << 20); time.sleep(60)"])
    env = dict(os.environ, TMPDIR=str(tmp_path), LC_ALL="C")
    go_r, go_w = os.pipe()
    try:
        # Fork, learn the pid that memtrace-top will have, take the name,
        # then let the child exec memtrace-top.
        out = tmp_path / "out.txt"
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            os.read(go_r, 1)
            fd = os.open(str(out), os.O_WRONLY | os.O_CREAT, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.execve(tool("memtrace-top"), ["memtrace-top", "--once", "-p", str(sleeper.pid)], env)
        os.close(go_r)
        (tmp_path / ("memtrace-top.%d.snap" % pid)).mkdir()
        os.write(go_w, b"g")
        os.close(go_w)
        deadline = time.monotonic() + 60
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            assert time.monotonic() < deadline, "memtrace-top -p did not end"
            time.sleep(0.05)
    finally:
        sleeper.kill()
        sleeper.wait()
    text = out.read_text()
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert re.search(r"(?m)^rss\s", text), text
    # Its own directory is gone again.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.txt", "memtrace-top.%d.snap" % pid])
