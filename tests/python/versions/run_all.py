"""Builds the memtrace extension for every CPython on this machine and
runs check_collector.py under each (CTest: python-versions).

Interpreters: those of pyenv ($PYENV_ROOT or ~/.pyenv, versions/*/bin/
python3) and python3.8 ... python3.13 on PATH (not pyenv's shims, which
dispatch to the former), one per real path; Debian's
/usr/bin/python3 uses the project's own build (BUILD/python). Each other one
gets a build of the extension alone (target memtrace_python and what it
links) under BUILD/pyversions/X.Y, configured with -DPython3_EXECUTABLE.
Nothing is skipped silently: every interpreter found is named with its
result; one that fails to build or to pass is a failure; a Python outside
3.8-3.13 is named as unsupported; when none but Debian's is found the run
says so (and passes on Debian's alone).

Then the snapshot each wrote is read back here with the independent
reader (spec_reader.py) against the oracle it took from its interpreter:
object and reference counts, generations, the running frame's local
labelled by its name, instance sizes (sys.getsizeof, plus on 3.11 on the
attribute values kept outside a dict), the trace's allocating function
and the run file's samples.

usage: run_all.py SOURCE_DIR BUILD_DIR"""

import glob
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import spec_reader  # noqa: E402

DEBIAN = "/usr/bin/python3"


def interpreters():
    found = [DEBIAN] if os.path.exists(DEBIAN) else []
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found += sorted(glob.glob(os.path.join(root, "versions", "*", "bin", "python3")))
    found += [p for p in (shutil.which("python3.%d" % m) for m in range(8, 14)) if p]
    # pyenv's shims dispatch to the versions found above (or to none).
    shims = os.path.realpath(os.path.join(root, "shims"))
    found = [p for p in found if os.path.dirname(os.path.realpath(p)) != shims]
    seen, out = set(), []
    for exe in found:
        real = os.path.realpath(exe)
        if real not in seen:
            seen.add(real)
            out.append(exe)
    return out


def version(exe):
    r = subprocess.run([exe, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def run(cmd, log):
    r = subprocess.run(cmd, capture_output=True, text=True)
    log.append("$ " + " ".join(cmd) + "\n" + r.stdout + r.stderr)
    return r.returncode == 0


def build(src, build_dir, exe, minor):
    """The extension's own build for exe; its python/ directory, or None."""
    d = os.path.join(build_dir, "pyversions", minor)
    log = []
    ok = run(["cmake", "-S", src, "-B", d, "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DMEMTRACE_TESTS=OFF",
              "-DPython3_EXECUTABLE=" + exe], log) and \
        run(["cmake", "--build", d, "--target", "memtrace_python", "-j2"], log)
    if not ok:
        print("".join(log)[-4000:])
        return None
    return os.path.join(d, "python")


def read_back(out):
    """The snapshot check_collector.py wrote, against its oracle."""
    with open(os.path.join(out, "oracle.json")) as f:
        oracle = json.load(f)
    s = spec_reader.Snapshot(oracle["path"])
    objs = s.of("objects")
    refs = s.of("refs")
    assert len(objs) == oracle["summary"]["objects"], (len(objs), oracle["summary"])
    assert len(refs) == oracle["summary"]["refs"], (len(refs), oracle["summary"])
    assert sum(o["size"] for o in objs) == oracle["summary"]["bytes"]
    by_id = {o["id"]: n for n, o in enumerate(objs)}
    gen = {i: g for g, ids in oracle["gens"].items() for i in ids}
    minor = tuple(int(x) for x in oracle["version"].split(".")[:2])
    for i in oracle["young"]:
        o = objs[by_id[i]]
        assert o["flags"] & 1 and o["gen"] == int(gen[i]), (o, gen.get(i))
        # 3.11 on: the attribute values outside any dict come on top.
        want = oracle["sizes"][str(i)]
        assert o["size"] == want if minor < (3, 11) else o["size"] > want, (o["size"], want)
    frames = [r for r in s.of("roots") if r["kind"] == "frame" and r["name"].startswith(oracle["frame"] + " ")]
    assert frames, "no frame root for %s" % oracle["frame"]
    labels = {objs[r["dst"]]["id"]: r["label"] for r in refs if r["src"] == frames[0]["obj"]}
    assert labels.get(oracle["local"]) == "local_marker", labels.get(oracle["local"])
    # A code object's constants, names and local names (issue 27): by its
    # members, and from 3.11 by its layout (co_localsplusnames).
    code = oracle["code"]
    got = {r["label"]: objs[r["dst"]]["id"] for r in refs if r["src"] == by_id[code["id"]]}
    for k, v in code["refs"].items():
        assert got.get(k) == v, (k, got)
    if minor >= (3, 11):
        names = by_id[got["co_localsplusnames"]]
        # Locals, cells and free variables, each once (an argument that is
        # a cell is in co_varnames and co_cellvars).
        assert {objs[r["dst"]]["id"] for r in refs if r["src"] == names} == set(code["varnames"]), code
    # A traceback's frame is labelled with the line the exception passed
    # through (3.12 on compute tb_lineno when asked; the dump must too).
    t = spec_reader.Snapshot(oracle["traced"]["path"])
    want = "check_collector.py:%d in _fail_deep)" % oracle["traced"]["line"]
    tb_labels = [r["label"] for r in t.of("refs") if r["label"].startswith("tb_frame") or r["label"].startswith("tb_next")]
    assert any(lab.endswith(want) for lab in tb_labels), (want, tb_labels[:10])
    # memtrace's stacks: each object made on the marked line has a stack
    # whose innermost frame is that line (of this version's frames).
    t = spec_reader.Snapshot(oracle["stacks"]["path"])
    frames = {f["id"]: f for f in t.of("frames")}
    stacks = {st["id"]: st for st in t.of("stacks")}
    by_id = {o["id"]: o for o in t.of("objects")}
    for i in oracle["stacks"]["ids"]:
        sid = by_id[i].get("stack", 0)
        assert sid, "no stack for an object made under memtrace.start_stacks"
        f = frames[stacks[sid]["frame"]]
        assert f["file"].endswith("check_collector.py") and f["line"] == oracle["stacks"]["line"], f
    # The trace names the function that allocated; the run file has samples.
    out = os.path.dirname(oracle["path"])
    t = spec_reader.Snapshot(os.path.join(out, "t.trace"))
    assert len(t.of("allocs")) >= 2000 and "check_tracing" in {f["function"] for f in t.of("frames")}
    assert len(spec_reader.Snapshot(os.path.join(out, "run.snap")).of("samples")) > 0
    return oracle


def main():
    src, build_dir = sys.argv[1], sys.argv[2]
    found = interpreters()
    print("interpreters found: %d" % len(found))
    if [e for e in found if e != DEBIAN] == []:
        print("no interpreter besides Debian's %s found: only it is checked" % DEBIAN)
    results, failed = [], 0
    for exe in found:
        v = version(exe)
        t0 = time.time()
        print("== %s: %s" % (exe, v or "does not run"), flush=True)
        if not v:
            results.append((exe, "?", "FAILED: does not run"))
            failed += 1
            continue
        minor = ".".join(v.split(".")[:2])
        if not (3, 8) <= tuple(int(x) for x in v.split(".")[:2]) <= (3, 13):
            print("   not supported (3.8 to 3.13): not built")
            results.append((exe, v, "unsupported"))
            continue
        pydir = os.path.join(build_dir, "python") if exe == DEBIAN else build(src, build_dir, exe, minor)
        if not pydir:
            results.append((exe, v, "FAILED: build"))
            failed += 1
            continue
        out = os.path.join(build_dir, "pyversions", "out-" + minor + ("-debian" if exe == DEBIAN else ""))
        os.makedirs(out, exist_ok=True)
        env = dict(os.environ, PYTHONPATH=pydir)
        r = subprocess.run([exe, "-X", "faulthandler", os.path.join(HERE, "check_collector.py"), out], env=env)
        if r.returncode:
            results.append((exe, v, "FAILED: check_collector.py exit %d" % r.returncode))
            failed += 1
            continue
        try:
            o = read_back(out)
            print("  ok  read back: counts, generations, local 'local_marker', instance sizes, trace frames, samples")
        except Exception as exc:  # any failure of the reader or an assert
            results.append((exe, v, "FAILED: read back: %r" % exc))
            failed += 1
            continue
        ch, m = o["class_heavy"], o["materialized"]
        results.append((exe, v, "ok (%.0f s; class-heavy: tracemalloc %.2f MiB, memtrace %.2f MiB; "
                        "half __dict__: %.2f / %.2f MiB)" % (time.time() - t0, ch["traced"] / 2**20,
                                                             ch["dumped"] / 2**20, m["traced"] / 2**20,
                                                             m["dumped"] / 2**20)))
    print("\nsummary:")
    for exe, v, res in results:
        print("  %-8s %-45s %s" % (v, exe, res))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
