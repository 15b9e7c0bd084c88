"""memtrace-sample driven end to end, its run files read by spec_reader
(written from SPEC.md alone) and its figures checked against what the
sampled processes are known to hold: mt-hold touches a given number of
MiB, and /proc/PID/status is read here by the test itself."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

import spec_reader
from conftest import BUILD, tool

MiB = 1 << 20
HOLD = os.path.join(BUILD, "tests", "mt-hold")
FAKE_NVML = os.path.join(BUILD, "tests", "fake_nvml", "libnvidia-ml.so.1")
SAMPLE = tool("memtrace-sample")
# mt-hold by name, for commands run through a shell.
ENV = dict(os.environ, PATH=os.path.dirname(HOLD) + os.pathsep + os.environ.get("PATH", ""))

# A sanitizer build's mt-hold reserves shadow memory beside what it
# touches: there the rise is only bounded below (the release build checks
# it exactly, as tests/cli/run.sh's mt_ulimit_v does for its bound).
SANITIZED = os.path.exists(HOLD) and b"libasan" in subprocess.run(["ldd", HOLD], capture_output=True).stdout


def assert_rise(rise, mib):
    if SANITIZED:
        assert rise >= 0.95 * mib * MiB, rise / MiB
    else:
        assert abs(rise - mib * MiB) <= 0.05 * mib * MiB, rise / MiB


pytestmark = pytest.mark.skipif(not os.path.exists(SAMPLE), reason="memtrace-sample is not built")


def sample(*args, timeout=30, **kw):
    return subprocess.run([SAMPLE, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV, **kw)


def series(snap, name):
    """The points of one series in time order, as (time_ns, value)."""
    return sorted((r["time_ns"], r["value"]) for r in snap.of("samples") if r["series"] == name)


def events(snap, kind):
    return [e for e in snap.of("events") if e["kind"] == kind]


def wait_for(cond, what, timeout=10.0):
    """Polls cond until it is true, with a deadline (a loaded machine is slow)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_command_rss_rises_by_the_held_mebibytes(tmp_path):
    out = tmp_path / "hold.snap"
    # mt-hold rests 300 ms before touching its 64 MiB: the samples then
    # give its size before, the oracle's baseline.
    p = sample("-i", 10, "-o", out, "--", HOLD, 64, 600, 300)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "held\n"  # the command's own output, passed through
    snap = spec_reader.Snapshot(str(out))
    rss = [v for _t, v in series(snap, "rss")]
    assert_rise(max(rss) - min(rss), 64)
    exits = events(snap, "exit")
    assert [e["value"] for e in exits] == [0.0]
    assert [e["name"] for e in events(snap, "start")] == [f"{HOLD} 64 600 300"]
    assert snap.meta()["tool"] == "memtrace-sample"
    # The closing line says what it recorded: its peak is the file's.
    m = re.search(r"recorded (\d+) samples? over .* to .*; peak rss ([\d.]+) MiB", p.stderr)
    assert m, p.stderr
    assert abs(float(m.group(2)) * MiB - max(rss)) <= 0.1 * MiB


@pytest.mark.parametrize("script,code", [("exit 7", 7), ("kill -TERM $$", 128 + signal.SIGTERM)])
def test_exits_with_the_commands_status(tmp_path, script, code):
    out = tmp_path / "s.snap"
    p = sample("-q", "-i", 10, "-o", out, "--", "sh", "-c", script)
    assert p.returncode == code, p.stderr
    assert p.stderr == ""
    assert [e["value"] for e in events(spec_reader.Snapshot(str(out)), "exit")] == [float(code)]


def test_command_not_found_is_127_and_leaves_no_file(tmp_path):
    p = sample("--", "memtrace-no-such-command", "x", cwd=tmp_path)
    assert p.returncode == 127
    assert p.stderr == "memtrace-sample: memtrace-no-such-command: command not found\n"
    assert os.listdir(tmp_path) == []


def test_default_name_never_replaces_a_file(tmp_path):
    held = subprocess.Popen([HOLD, "8", "5000"], stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout.readline() == "held\n"
        mine = tmp_path / f"sample-{held.pid}.snap"
        mine.write_text("someone else's\n")
        p = sample("-i", 10, "--duration", 0.3, "-p", held.pid, cwd=tmp_path)
    finally:
        held.kill()
        held.wait()
    assert p.returncode == 0, p.stderr
    assert mine.read_text() == "someone else's\n"
    assert f"recording PID {held.pid} to sample-{held.pid}-2.snap every 10 ms" in p.stderr
    assert series(spec_reader.Snapshot(str(tmp_path / f"sample-{held.pid}-2.snap")), "rss")


def test_duration_stops_the_recording_and_the_command_runs_on(tmp_path):
    out = tmp_path / "d.snap"
    p = sample("-i", 10, "--duration", 0.3, "-o", out, "--", "sh", "-c", "sleep 2; exit 3")
    assert p.returncode == 3, p.stderr  # still the command's status
    assert "--duration reached" in p.stderr
    snap = spec_reader.Snapshot(str(out))
    last = max(t for t, _v in series(snap, "rss"))
    assert 250_000_000 <= last < 2_000_000_000  # stopped with the command still asleep
    assert events(snap, "exit") == []


def test_pid_that_exits_mid_run_ends_cleanly(tmp_path):
    out = tmp_path / "p.snap"
    held = subprocess.Popen([HOLD, "24", "700"], stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout.readline() == "held\n"
        t0 = time.monotonic()
        # The test does not reap mt-hold until memtrace-sample is done: a
        # process that ended is gone even while it is a zombie.
        p = sample("-i", 10, "-o", out, "-p", held.pid)
        elapsed = time.monotonic() - t0
    finally:
        held.wait()
    assert p.returncode == 0, p.stderr
    assert elapsed < 10
    snap = spec_reader.Snapshot(str(out))
    rss = [v for _t, v in series(snap, "rss")]
    assert len(rss) >= 10
    assert max(rss) >= 24 * MiB
    assert events(snap, "exit") == []  # -p's status is its parent's to know


def test_children_are_followed_and_summed(tmp_path):
    out, alone = tmp_path / "tree.snap", tmp_path / "alone.snap"
    script = "mt-hold 32 800 300 & mt-hold 32 800 300; wait"
    p = sample("-i", 10, "-o", out, "--", "sh", "-c", script)
    assert p.returncode == 0, p.stderr
    snap = spec_reader.Snapshot(str(out))
    procs = dict(series(snap, "procs"))
    assert max(procs.values()) >= 3
    # The sum counts each process's own libc pages too: compare samples of
    # the whole tree (the shell and both mt-holds, resting then holding).
    rss = [v for t, v in series(snap, "rss") if procs.get(t) == 3]
    assert_rise(max(rss) - min(rss), 64)
    # Without children, the shell alone.
    p = sample("-i", 10, "--no-children", "-o", alone, "--", "sh", "-c", script)
    assert p.returncode == 0, p.stderr
    snap = spec_reader.Snapshot(str(alone))
    assert max(v for _t, v in series(snap, "rss")) < 16 * MiB
    assert series(snap, "procs") == []


def test_sigkill_leaves_a_file_read_to_its_last_flushed_second(tmp_path, build):
    out = tmp_path / "k.snap"
    p = subprocess.Popen([SAMPLE, "-q", "-i", "10", "-o", str(out), "--", HOLD, "16", "30000"],
                         stdout=subprocess.PIPE, text=True, env=ENV)
    meta = {}
    try:
        assert p.stdout.readline() == "held\n"
        wait_for(lambda: out.exists() and spec_reader.Growing(str(out)).records.get(1), "the meta")
        meta = {r["key"]: r["value"] for r in spec_reader.Growing(str(out)).of("meta")}
        wait_for(lambda: time.time_ns() - meta["start_time"] > 1_500_000_000, "1.5 s of recording")
        killed_at = time.time_ns() - meta["start_time"]
        p.send_signal(signal.SIGKILL)
        p.wait()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if "pid" in meta:
            os.kill(meta["pid"], signal.SIGKILL)  # mt-hold, left running without its sampler
    g = spec_reader.Growing(str(out))
    assert not g.closed
    rss = series(g, "rss")
    assert max(v for _t, v in rss) >= 16 * MiB
    # Flushed at least once a second: what was sampled up to a second (and
    # a loaded machine's slack) before the kill is there.
    assert rss[-1][0] >= killed_at - 2_000_000_000, (rss[-1][0], killed_at)
    info = subprocess.run([tool("memtrace-info"), "--salvage", str(out)], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert re.search(r"samples\s+%d\s" % len(g.of("samples")), info.stdout), info.stdout


def test_exit_alert_stops_the_command(tmp_path):
    out = tmp_path / "a.snap"
    t0 = time.monotonic()
    p = sample("-i", 10, "-o", out, "--alert", "rss>16MiB:exit", "--", HOLD, 64, 5000)
    elapsed = time.monotonic() - t0
    assert p.returncode == 124, p.stderr
    assert elapsed < 4.5  # mt-hold alone holds for 5 s
    snap = spec_reader.Snapshot(str(out))
    alerts = events(snap, "alert")
    assert [(a["name"], a["detail"]) for a in alerts] == [("rss>16MiB:exit", "exit")]
    assert alerts[0]["value"] > 16 * MiB
    assert [e["value"] for e in events(snap, "exit")] == [128.0 + signal.SIGTERM]
    assert "memtrace-sample: alert rss>16MiB:exit: rss " in p.stderr


def test_exit_alert_stops_the_whole_tree(tmp_path):
    out = tmp_path / "t.snap"
    marker = "5017"  # an mt-hold time of its own, to find it in /proc
    p = sample("-i", 10, "-o", out, "--alert", "rss>16MiB:exit", "--", "sh", "-c", f"mt-hold 64 {marker}; echo done")
    assert p.returncode == 124, p.stderr
    assert "done" not in p.stdout

    def holds():
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv[:3] == [b"mt-hold", b"64", marker.encode()] or argv[1:3] == [b"64", marker.encode()]:
                found.append(int(pid))
        return found

    # Well before its 5 s would end it (a SIGTERM to the shell alone would not).
    wait_for(lambda: not holds(), "the shell's mt-hold to be gone", timeout=3)


def test_exec_alert_gets_its_values_in_the_environment(tmp_path):
    out, got = tmp_path / "e.snap", tmp_path / "value.txt"
    # The shell expands the variables; nothing is substituted into the
    # command string, so a value could never become shell syntax.
    action = 'exec=printf "%s %s %s" "$MEMTRACE_VALUE" "$MEMTRACE_PID" "$MEMTRACE_FILE" >v.tmp && mv v.tmp value.txt'
    p = sample("-i", 10, "-o", out, "--alert", "rss>16MiB:" + action, "--", HOLD, 32, 400, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    text = wait_for(lambda: got.exists() and got.read_text(), "the alert command's file")
    value, pid, path = text.split(" ", 2)
    snap = spec_reader.Snapshot(str(out))
    alerts = events(snap, "alert")
    assert len(alerts) == 1
    assert float(value) == alerts[0]["value"] > 16 * MiB
    assert int(pid) == snap.meta()["pid"]
    assert path == str(out)


def test_listen_serves_the_latest_figures(tmp_path):
    out = tmp_path / "l.snap"
    # The fake lists memtrace-sample itself ("self": the process that
    # loads it) on device 1.
    env = dict(ENV, MEMTRACE_NVML_LIB=FAKE_NVML, FAKE_NVML_PROCS="1:self:12345")
    p = subprocess.Popen([SAMPLE, "-i", "10", "-o", str(out), "--listen", "0", "--", HOLD, "48", "30000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(p.stderr), daemon=True)
    try:
        assert p.stdout.readline() == "held\n"
        reader.start()
        port = wait_for(lambda: next((m.group(1) for m in map(re.compile(r"listening on 127\.0\.0\.1:(\d+)$").search,
                                                               lines) if m), None), "the port")
        url = f"http://127.0.0.1:{port}"

        def rss_now():
            with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
                assert r.headers["Content-Type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8"
                fams = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
            (s,) = fams["memtrace_rss_bytes"].samples
            return s

        s = rss_now()
        pid = int(s.labels["pid"])
        assert s.labels["command"] == "mt-hold"
        with open(f"/proc/{pid}/status") as f:
            vmrss = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024
        assert vmrss >= 48 * MiB
        assert abs(s.value - vmrss) <= 0.10 * vmrss, (s.value, vmrss)
        # The fake NVML's two devices: device i uses (i + 1) GiB of 80 GiB.
        gpu = {f.name: f for f in text_string_to_metric_families(urllib.request.urlopen(url + "/metrics").read().decode())}
        used = {s.labels["device"]: s.value for s in gpu["memtrace_gpu_used_bytes"].samples}
        assert used == {"0": 1 << 30, "1": 2 << 30}
        assert [s.value for s in gpu["memtrace_gpu_total_bytes"].samples] == [80 << 30] * 2
        assert gpu["memtrace_gpu_used_bytes"].unit == "bytes"
        (proc,) = gpu["memtrace_gpu_process_bytes"].samples
        assert (proc.labels["device"], proc.labels["process"], proc.value) == ("1", str(p.pid), 12345)
        assert gpu["memtrace_procs"].unit == ""
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url + "/other", timeout=5)
        assert e.value.code == 404

        # A client that says nothing holds the listener, never the sampler:
        # points keep coming into the file meanwhile.
        def points():
            return len(series(spec_reader.Growing(str(out)), "rss"))

        with socket.create_connection(("127.0.0.1", int(port))):
            before = points()
            wait_for(lambda: points() >= before + 20, "points while a client stalls")
        # A request head is bounded.
        with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as big:
            big.sendall(b"GET /metrics HTTP/1.0\r\nX: " + b"a" * 9000)
            assert big.recv(64).startswith(b"HTTP/1.0 431 ")
    finally:
        p.send_signal(signal.SIGTERM)  # passed on to mt-hold
        code = p.wait(timeout=10)
    assert code == 128 + signal.SIGTERM
    assert [e["value"] for e in events(spec_reader.Snapshot(str(out)), "exit")] == [128.0 + signal.SIGTERM]


def test_a_file_being_written_is_followable(tmp_path):
    out = tmp_path / "f.snap"
    p = subprocess.Popen([SAMPLE, "-q", "-i", "10", "-o", str(out), "--", HOLD, "16", "3000"],
                         stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert p.stdout.readline() == "held\n"

        def held_seen():
            g = spec_reader.Growing(str(out))
            return g if any(v >= 16 * MiB for _t, v in series(g, "rss")) else None

        g = wait_for(held_seen, "the held MiB in the file", timeout=5)
        assert p.poll() is None, "read while it was still being written"
        assert not g.closed
        assert [e["kind"] for e in g.of("events")] == ["start"]
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=10)
    assert spec_reader.Snapshot(str(out)).of("samples")


@pytest.mark.parametrize("lib", ["fake_nvml", "fake_nvml_v1"])
def test_gpu_series_name_each_process_on_the_device(tmp_path, lib):
    """The fake libnvidia-ml.so.1 (tests/unit/sampler/fake_nvml.c), found by
    the default name through LD_LIBRARY_PATH, lists the sampled process,
    this test's process (another one on the device), a pid that exists in
    no /proc and a size NVML does not know: the run file has a series per
    process that exists, at its known size, and the device's figures,
    driver_reserved only where the library has the v2 memory call."""
    out = tmp_path / "g.snap"
    held = subprocess.Popen([HOLD, "8", "30000"], stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout.readline() == "held\n"
        me = os.getpid()
        env = {k: v for k, v in ENV.items() if k != "MEMTRACE_NVML_LIB" and not k.startswith("FAKE_NVML_")}
        env.update(LD_LIBRARY_PATH=os.path.join(BUILD, "tests", lib), FAKE_NVML_DEVICES="2",
                   FAKE_NVML_USED=f"{3 << 30},{5 << 30}",
                   FAKE_NVML_PROCS=f"0:{held.pid}:{1 << 30},0:{me}:{512 * MiB},0:999999999:4096,"
                                   f"1:{held.pid}:na,1:{me}:{7 * MiB}")
        p = subprocess.run([SAMPLE, "-q", "-i", "20", "--duration", "1", "-o", str(out), "-p", str(held.pid)],
                           capture_output=True, text=True, env=env, timeout=60)
    finally:
        held.kill()
        held.wait()
    assert p.returncode == 0, p.stderr
    snap = spec_reader.Snapshot(str(out))
    assert snap.meta()["pid"] == held.pid
    rss = series(snap, "rss")
    assert len(rss) >= 20
    want = {f"gpu0.pid.{held.pid}": 1 << 30, f"gpu0.pid.{me}": 512 * MiB, f"gpu1.pid.{me}": 7 * MiB,
            "gpu0.used": 3 << 30, "gpu1.used": 5 << 30, "gpu0.total": 80 << 30, "gpu1.total": 80 << 30}
    if lib == "fake_nvml":
        want.update({"gpu0.driver_reserved": 256 * MiB, "gpu1.driver_reserved": 256 * MiB})
    gpu = {r["series"] for r in snap.of("samples") if r["series"].startswith("gpu")}
    assert gpu == set(want)  # no gpu0.pid.999999999, no gpu1.pid.<held> (size not known)
    for name, v in want.items():
        points = series(snap, name)
        # A memory poll per sample: at 20 ms the GPU thread keeps up with
        # rss. Process lists are read at most once per 100 times their own
        # cost (1% of a CPU), which a sanitizer or a busy machine can make
        # skip a sample: they must still come at most every other one.
        least = len(rss) - 2 if ".pid." not in name else len(rss) // 2
        assert len(points) >= least, (name, len(points), len(rss))
        assert {pv for _t, pv in points} == {v}, name
    # As metrics: every process in one family, labelled with its pid.
    text = subprocess.run([tool("memtrace-export"), "-t", "prometheus", str(out)], capture_output=True, text=True,
                          check=True).stdout
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    procs = {(s.labels["device"], s.labels["process"]): s.value for s in fams["memtrace_gpu_process_bytes"].samples}
    assert procs == {("0", str(held.pid)): 1 << 30, ("0", str(me)): 512 * MiB, ("1", str(me)): 7 * MiB}
    assert {s.labels["pid"] for s in fams["memtrace_gpu_process_bytes"].samples} == {str(held.pid)}
    assert not [n for n in fams if "pid" in n]
