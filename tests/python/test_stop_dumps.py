"""`python3 -m memtrace heap --sigterm` and `--collect` on real child
processes: a dump when a container's stop signal ends the script, and
garbage left out of the counts. Oracles: the child's exit status as the
kernel reports it, and the number of instances of classes the child
made, known from its source."""

import os
import signal
import subprocess
import sys
import textwrap

import spec_reader
from conftest import BUILD, tool


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = os.path.join(BUILD, "python")
    return e


def count(path, name):
    s = spec_reader.Snapshot(str(path))
    names = {t["id"]: t["name"] for t in s.of("types")}
    return sum(1 for o in s.of("objects") if names[o["type"]] == name)


# A threaded service: a worker thread runs while the main thread waits for
# a stop that only SIGTERM brings. Its exit handler must not run, as it
# does not when SIGTERM ends a Python process.
SERVICE = """
    import atexit, sys, threading, time
    class Job:
        pass
    JOBS = [Job() for _ in range(120)]
    stop = threading.Event()
    def work():
        while True:
            time.sleep(0.005)
    threading.Thread(target=work, daemon=True).start()
    atexit.register(lambda: print("exit handler ran", flush=True))
    print("ready", flush=True)
    stop.wait()
"""


def start_service(tmp_path, *opts):
    script = tmp_path / "service.py"
    script.write_text(textwrap.dedent(SERVICE))
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "memtrace", "heap", "-o", str(out), *opts, "--", str(script)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    assert p.stdout.readline() == "ready\n"
    return p, out


def test_sigterm_leaves_a_complete_dump_and_the_child_dies_of_it(tmp_path):
    p, out = start_service(tmp_path, "--sigterm", "--trace", "4")
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == -signal.SIGTERM, stderr
    assert "exit handler ran" not in stdout
    files = os.listdir(out)
    assert len(files) == 1 and files[0].startswith("heap-%d-" % p.pid) and files[0].endswith("-exit.snap"), files
    dump = out / files[0]
    # Complete: the C tools read it to its end, and every Job is in it.
    info = subprocess.run([tool("memtrace-info"), str(dump)], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert spec_reader.Snapshot(str(dump)).meta()["label"] == "SIGTERM"
    assert count(dump, "__main__.Job") == 120


def test_without_sigterm_the_signal_ends_the_child_with_no_dump(tmp_path):
    p, out = start_service(tmp_path)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == -signal.SIGTERM, stderr
    assert os.listdir(out) == []


def test_sigterm_and_signal_term_together_are_refused(tmp_path):
    script = tmp_path / "a.py"
    script.write_text("pass\n")
    p = subprocess.run([sys.executable, "-m", "memtrace", "heap", "-o", str(tmp_path / "o"), "--signal", "TERM",
                        "--sigterm", "--", str(script)], capture_output=True, text=True, env=env())
    assert p.returncode == 2 and "--sigterm and --signal SIGTERM" in p.stderr


# 200 instances of Garbage, each in a cycle with itself and unreachable by
# the time of the signal; 30 of Kept, held by the module. The collector is
# off, so only a collection the dump asks for frees the garbage.
GARBAGE = """
    import gc, os, signal
    gc.disable()
    class Garbage:
        def __init__(self):
            self.me = self
    class Kept:
        pass
    KEEP = [Kept() for _ in range(30)]
    for _ in range(200):
        Garbage()
    os.kill(os.getpid(), signal.SIGUSR2)
"""


def run_garbage(tmp_path, *opts):
    script = tmp_path / "garbage.py"
    script.write_text(textwrap.dedent(GARBAGE))
    out = tmp_path / ("out" + "".join(opts))
    p = subprocess.run([sys.executable, "-m", "memtrace", "heap", "-o", str(out), *opts, "--", str(script)],
                       capture_output=True, text=True, env=env(), timeout=120)
    assert p.returncode == 0, p.stderr
    files = sorted(os.listdir(out))
    assert len(files) == 2 and files[0].endswith("-0001.snap") and files[1].endswith("-exit.snap"), files
    return [out / f for f in files]


def test_collect_leaves_garbage_out_of_signal_and_exit_dumps(tmp_path):
    for dump in run_garbage(tmp_path, "--collect"):
        assert count(dump, "__main__.Garbage") == 0
        assert count(dump, "__main__.Kept") == 30


def test_without_collect_the_garbage_is_counted(tmp_path):
    for dump in run_garbage(tmp_path):
        assert count(dump, "__main__.Garbage") == 200
        assert count(dump, "__main__.Kept") == 30
