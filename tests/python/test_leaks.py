"""memtrace-leaks on a real program run here (tests/python/leaky_app.py):
two leaks must rank first with the containers they accumulate in and
their paths; the bounded cache and the one-time load must be reported as
growing but not leaking; the churn must not appear. The trend statistics
are checked against scipy where it is installed."""

import glob
import json
import os
import subprocess
import sys

import pytest

from conftest import BUILD, HERE, tool


@pytest.fixture(scope="module")
def snaps(tmp_path_factory):
    out = tmp_path_factory.mktemp("leaks")
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    subprocess.run([sys.executable, "-X", "tracemalloc=1", os.path.join(HERE, "leaky_app.py"), str(out), "7"],
                   check=True, env=env)
    return sorted(glob.glob(str(out / "s*.snap")))


def line_of(text):
    with open(os.path.join(HERE, "leaky_app.py")) as f:
        return next(n for n, line in enumerate(f, 1) if text in line and "def " not in line)


def leaks(*args, code=0):
    p = subprocess.run([tool("memtrace-leaks"), *map(str, args)], capture_output=True, text=True)
    assert p.returncode == code, p.stderr
    return p


def test_leaks_rank_first_with_their_accumulation_points(snaps):
    assert len(snaps) == 7
    out = json.loads(leaks("--format", "json", *snaps).stdout)
    top = out["suspects"][:2]
    by_type = {s["type"]: s for s in top}
    assert set(by_type) == {"__main__.Leaked", "__main__.Item"}, [s["type"] for s in out["suspects"]]
    leaked, item = by_type["__main__.Leaked"], by_type["__main__.Item"]
    assert leaked["accumulation_point"]["type"] == "dict"
    assert leaked["accumulation_point"]["path"] == "module __main__ \u2192 _LEAKS"
    assert item["accumulation_point"]["type"] == "list"
    assert item["accumulation_point"]["path"] == "module __main__ \u2192 SERVICE \u2192 Service.items"
    for s in top:
        # 100 a request cycle, every generation still alive.
        assert s["growth_objects_per_snapshot"] >= 100
        assert s["surviving_generations"] == 7
        assert s["survivors_by_generation"][1:] == [100] * 6
        assert s["p_value"] < 0.01 and s["confidence"] > 0.9
    assert leaked["growth_bytes_per_snapshot"] > item["growth_bytes_per_snapshot"]
    # Traced with tracemalloc: where the leaked records were made.
    app = os.path.join(HERE, "leaky_app.py")
    assert leaked["site"] == "%s:%d" % (app, line_of("Leaked(i)"))
    assert item["site"] == "%s:%d" % (app, line_of("Item(i)"))
    assert out["suspects"][0]["type"] == "__main__.Leaked"
    not_leaking = {g["type"]: g for g in out["not_leaking"]}
    assert not_leaking["__main__.CacheEntry"]["kind"] == "plateaued"
    assert not_leaking["__main__.Row"]["kind"] == "one-time"
    assert "between snapshots 2 and 3" in not_leaking["__main__.Row"]["reason"]
    named = {s["type"] for s in out["suspects"]} | set(not_leaking)
    assert "__main__.Temp" not in named
    # The cache's entries share types with the leaks' (bytes): no suspect there.
    assert not [s for s in out["suspects"] if "_CACHE" in ((s["accumulation_point"] or {}).get("path") or "")]


def test_text_report_and_the_ci_gate(snaps):
    text = leaks(*snaps).stdout
    assert "1. __main__.Leaked: confidence" in text
    assert "accumulates in dict: module __main__ \u2192 _LEAKS" in text
    assert "growing but not leaking:" in text
    assert "allocated at %s:" % os.path.join(HERE, "leaky_app.py") in text
    leaks("--fail-confidence", "0.9", *snaps, code=1)
    leaks("--fail-confidence", "1", *snaps[:3], code=0)
    p = leaks(snaps[0], snaps[1], code=2)
    assert "memtrace-leaks: missing" in p.stderr or "at least 3" in p.stderr


def test_trend_statistics_against_scipy(snaps):
    stats = pytest.importorskip("scipy.stats")
    out = json.loads(leaks("--format", "json", "--top", "0", *snaps).stdout)
    for g in out["not_leaking"] + out["suspects"]:
        y = g["count_series"]
        if len(set(y)) < len(y):
            continue  # with ties scipy's tau-b variance differs from Mann-Kendall's
        want = stats.kendalltau(range(len(y)), y).pvalue
        assert g["p_value"] == pytest.approx(want, rel=1e-6)
