"""memtrace-gate on baselines and currents built here with known growth:
every budget passing and failing at its limit, exit codes, the JUnit
report against tests/python/junit.xsd (lxml), GitHub annotations, and
leak suspects from a real leaking program (leaky_app.py)."""

import os
import re
import subprocess

import pytest
from lxml import etree

import memtrace
from conftest import HERE, ROOT, tool

MiB = 1 << 20


def snap(path, groups, *, rss=None, samples=(), pid=1, host="ci"):
    """A heap snapshot: groups maps a type to (count, bytes each)."""
    with memtrace.Writer(str(path)) as w:
        w.add_meta("host", host)
        w.add_meta("pid", pid)
        if rss is not None:
            w.add_meta("rss", rss)
        oid = 1
        for t, (count, size) in groups.items():
            for _ in range(count):
                w.add_object(oid, t, size)
                oid += 1
        for i, v in enumerate(samples):
            w.add_sample("rss", float(v), time_ns=i * 1000)
    return str(path)


def gate(tmp_path, policy, base, cur, *extra, code):
    pol = tmp_path / "gate.yaml"
    pol.write_text(policy)
    args = [tool("memtrace-gate"), "-p", str(pol), *extra]
    for b in base if isinstance(base, list) else [base]:
        args += ["-b", b]
    for c in cur if isinstance(cur, list) else [cur]:
        args += ["-c", c]
    p = subprocess.run(args, capture_output=True, text=True)
    assert p.returncode == code, p.stdout + p.stderr
    return p


@pytest.fixture
def base(tmp_path):
    # 10,000,000 bytes: dict 6,000,000, list 3,000,000, str 1,000,000.
    return snap(tmp_path / "base.snap", {"dict": (1000, 6000), "list": (1000, 3000), "str": (1000, 1000)})


@pytest.mark.parametrize("grow,code", [(990_000, 0), (1_000_000, 0), (1_010_000, 1)])
def test_total_growth_percent_at_its_limit(tmp_path, base, grow, code):
    cur = snap(tmp_path / "cur.snap", {"dict": (1000, 6000), "list": (1000, 3000), "str": (1000, 1000),
                                       "bytes": (1, grow)})
    out = gate(tmp_path, "budgets:\n  total_growth_percent: 10\n", base, cur, code=code).stdout
    assert ("FAIL" if code else "PASS") + "  total_growth_percent" in out
    assert "%+.1f%%" % (grow / 100_000) in out


@pytest.mark.parametrize("limit,code", [("2 MiB", 0), ("1MiB", 1), ("1048576", 1)])
def test_total_growth_bytes(tmp_path, base, limit, code):
    cur = snap(tmp_path / "cur.snap", {"dict": (1000, 6000), "list": (1000, 3000), "str": (1000, 1000),
                                       "bytes": (1, 1_500_000)})
    gate(tmp_path, f"budgets:\n  total_growth_bytes: {limit}\n", base, cur, code=code)


@pytest.fixture
def grown(tmp_path):
    # dict +2,000,000 (+33%), list +100,000 (+3.3%), new "app.Cache" 300,000, new tiny "int" 2,800.
    return snap(tmp_path / "cur.snap", {"dict": (1000, 8000), "list": (1000, 3100), "str": (1000, 1000),
                                        "app.Cache": (3, 100_000), "int": (100, 28)})


def test_group_growth_bytes_names_the_groups_over(tmp_path, base, grown):
    out = gate(tmp_path, "budgets:\n  group_growth_bytes: 1 MiB\n", base, grown, code=1).stdout
    assert "1 group grew by more than 1.0 MiB: dict +1.9 MiB" in out
    assert "dict: +1.9 MiB (5.7 MiB -> 7.6 MiB, +33.3%), limit 1.0 MiB" in out
    assert "list:" not in out


def test_allowances_raise_or_lift_a_groups_limit(tmp_path, base, grown):
    policy = "budgets:\n  group_growth_bytes: 1 MiB\nallow:\n  - group: 'di*'\n    growth_bytes: 3 MiB\n"
    gate(tmp_path, policy, base, grown, code=0)
    policy = "budgets:\n  group_growth_bytes: 1 MiB\nallow:\n  - group: dict\n    ignore: true\n"
    assert "largest: app.Cache" in gate(tmp_path, policy, base, grown, code=0).stdout
    policy = "budgets:\n  group_growth_bytes: 1 MiB\nallow:\n  - group: dict\n    growth_bytes: 1.5 MiB\n"
    out = gate(tmp_path, policy, base, grown, code=1).stdout
    assert "limit 1.5 MiB (allowance dict)" in out


def test_group_growth_percent_skips_small_groups(tmp_path, base, grown):
    # New groups grow from nothing; the tiny int group is under group_min_bytes.
    out = gate(tmp_path, "budgets:\n  group_growth_percent: 25\n", base, grown, code=1).stdout
    assert "2 groups grew by more than 25%: app.Cache new, dict +33.3%" in out
    assert "int" not in out
    policy = "group_min_bytes: 1 MiB\nbudgets:\n  group_growth_percent: 25%\n"
    out = gate(tmp_path, policy, base, grown, code=1).stdout
    assert "1 group grew by more than 25%: dict +33.3%" in out
    gate(tmp_path, "budgets:\n  group_growth_percent: 34\ngroup_min_bytes: 1 MiB\n", base, grown, code=0)


def test_group_by_module(tmp_path, base, grown):
    out = gate(tmp_path, "group_by: module\nbudgets:\n  group_growth_bytes: 200 KiB\n", base, grown, code=1).stdout
    assert "2 groups grew by more than 200.0 KiB: builtins +2.0 MiB, app +293.0 KiB" in out


def test_peak_from_samples_or_meta(tmp_path, base):
    cur = snap(tmp_path / "cur.snap", {"dict": (1, 64)}, samples=[1 * MiB, 3 * MiB, 2 * MiB])
    out = gate(tmp_path, "budgets:\n  peak_bytes: 2 MiB\n", base, cur, code=1).stdout
    assert "peak rss 3.0 MiB in %s, over 2.0 MiB" % cur in out
    gate(tmp_path, "budgets:\n  peak_bytes: 3 MiB\n", base, cur, code=0)
    # The largest over a series of current snapshots; meta when no samples.
    cur2 = snap(tmp_path / "cur2.snap", {"dict": (1, 64)}, rss=5 * MiB)
    out = gate(tmp_path, "budgets:\n  peak_bytes: 4 MiB\n", base, [cur, cur2], code=1).stdout
    assert "peak rss 5.0 MiB in %s" % cur2 in out
    err = gate(tmp_path, "budgets:\n  peak_bytes: 4 MiB\npeak_series: traced\n", base, cur, code=3).stderr
    assert "no current snapshot records 'traced' samples or meta" in err


def test_new_leak_suspects(tmp_path, leaky):
    base = leaky[0]
    out = gate(tmp_path, "budgets:\n  leak_confidence: 0.9\n", base, leaky, code=1).stdout
    assert "__main__.Leaked" in out and "__main__.Item" in out
    # The same suspects in the baseline's series are not new.
    out = gate(tmp_path, "budgets:\n  leak_confidence: 0.9\n", leaky, leaky, code=0).stdout
    assert "no new leak suspect at or above 0.9 (2 suspects also in the baseline)" in out
    err = gate(tmp_path, "budgets:\n  leak_confidence: 0.9\n", base, leaky[:2], code=2).stderr
    assert "needs a series of at least 3 current snapshots" in err


def test_leak_report_in_text_junit_and_github(tmp_path, leaky):
    # The limit is printed as a number in all three outputs (it was a
    # literal "%g"), and each suspect names where it accumulates.
    report = tmp_path / "r.xml"
    out = gate(tmp_path, "budgets:\n  leak_confidence: 0.9\n", leaky[0], leaky, "--github", "--junit", str(report),
               code=1).stdout
    text = [ln for ln in out.splitlines() if not ln.startswith("::")]
    github = [ln for ln in out.splitlines() if ln.startswith("::")]
    failure = etree.parse(str(report)).find(".//failure")
    # Five snapshots rising in every one: the exact two-sided Mann-Kendall
    # p is 2/5! = 1/60, confidence 1 - 1/60 = 0.983.
    summary = "new leak suspects at or above 0.9: __main__.Leaked (0.98), __main__.Item (0.98)"
    # 100 Leaked a step, each with its bytes(512) payload and, from 3.11 on,
    # its attribute values outside any dict: what they hold is measured
    # here with tracemalloc on the same class, made the same way, after as
    # many instances as the app had made by then (the class's shared keys
    # decide the values arrays' size).
    per_step = leaked_step_bytes()
    leaked = ("__main__.Leaked: +100 __main__.Leaked objects a snapshot (%s with what they hold), confidence "
              "0.98, accumulates in dict: module __main__ \u2192 _LEAKS")
    shown = [ln for ln in text if ln.startswith("        __main__.Leaked: +100 __main__.Leaked objects a snapshot (")]
    assert len(shown) == 1, text
    kib = float(re.search(r"\(([0-9.]+) KiB with what they hold\)", shown[0]).group(1))
    assert abs(kib * 1024 - per_step) <= 0.03 * per_step, (kib, per_step)
    leaked %= "%.1f KiB" % kib
    js = subprocess.run([tool("memtrace-leaks"), "-f", "json", *leaky], capture_output=True, text=True).stdout
    import json
    first = json.loads(js)["suspects"][0]
    assert first["type_objects_per_snapshot"] == 100 and first["type"] == "__main__.Leaked"
    assert "FAIL  leak_confidence       " + summary in text
    assert "        " + leaked in text
    assert "        __main__.Item: +100 __main__.Item objects a snapshot" in out
    assert "accumulates in list: module __main__ \u2192 SERVICE \u2192 Service.items" in out
    assert failure.get("message") == summary
    assert leaked in failure.text
    assert len(github) == 1 and github[0].startswith("::error title=memtrace-gate leak_confidence::" + summary)
    assert "%0A" + leaked in github[0]
    for o in (out, etree.tostring(etree.parse(str(report))).decode()):
        assert "%g" not in o
    passed = gate(tmp_path, "budgets:\n  leak_confidence: 0.9\n", leaky, leaky, "--junit", str(report), code=0)
    assert "no new leak suspect at or above 0.9" in passed.stdout
    assert "at or above 0.9" in etree.parse(str(report)).find(".//system-out").text


class _Leaked:
    """leaky_app.Leaked's twin: its size, not its name, matters here."""

    def __init__(self, i):
        self.i = i
        self.payload = bytes(512)


def leaked_step_bytes():
    """The traced bytes of 100 more Leaked-like objects, their payloads
    included, the list that holds them left out."""
    import sys
    import tracemalloc
    warm = [_Leaked(i) for i in range(400)]
    tracemalloc.start()
    t0 = tracemalloc.get_traced_memory()[0]
    more = [_Leaked(i) for i in range(100)]
    cost = tracemalloc.get_traced_memory()[0] - t0 - sys.getsizeof(more)
    tracemalloc.stop()
    del warm, more
    return cost


@pytest.mark.parametrize("size,code", [(60, 0), (600, 1)])
def test_leak_budget_has_the_noise_floor(tmp_path, size, code):
    # str grows by 20 objects a snapshot in every snapshot (confidence
    # 1.00 over 6): 20 * 60 = 1,200 B a snapshot is under the 4 KiB floor;
    # 20 * 600 = 12,000 B is over it.
    series = [snap(tmp_path / ("s%d.snap" % k), {"dict": (10, 100), "str": (100 + 20 * k, size)}) for k in range(6)]
    out = gate(tmp_path, "budgets:\n  leak_confidence: 0.9\n", series[0], series, code=code).stdout
    if code:
        assert "str: +20 str objects a snapshot (11.7 KiB with what they hold), confidence 1.00" in out
    else:
        assert "no new leak suspect at or above 0.9" in out


def test_advice_severity(tmp_path):
    sales = os.path.join(ROOT, "testdata", "frames-sales.snap")
    policy = "available: 8 GiB\nbudgets:\n  advice_severity: warning\n"
    out = gate(tmp_path, policy, sales, sales, code=1).stdout
    # Only the date text saves enough to warn (127 KiB); the categoricals
    # save ~13.5 KiB each in real bytes, under the 64 KiB severity floor.
    assert "advice at or above the severity: datetime-text\n" in out
    assert "warning [datetime-text] sales.date" in out
    assert "[object-to-category]" not in out
    out = gate(tmp_path, "available: 8 GiB\nbudgets:\n  advice_severity: error\n", sales, sales, code=0).stdout
    assert "no advice at error or above" in out
    err = gate(tmp_path, "budgets:\n  advice_severity: info\n", sales, os.path.join(ROOT, "testdata", "heap-small.snap"),
               code=3).stderr
    assert "needs DataFrame, pipeline or GPU records" in err


def test_junit_report_is_valid_with_a_case_a_budget(tmp_path, base, grown):
    schema = etree.XMLSchema(etree.parse(os.path.join(HERE, "junit.xsd")))
    policy = ("budgets:\n  total_growth_percent: 50\n  group_growth_bytes: 1 MiB\n  group_growth_percent: 25\n"
              "  total_growth_bytes: 100 MiB\n")
    report = tmp_path / "r.xml"
    gate(tmp_path, policy, base, grown, "--junit", str(report), code=1)
    doc = etree.parse(str(report))
    schema.assertValid(doc)
    cases = doc.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["total_growth_bytes", "total_growth_percent", "group_growth_bytes",
                                              "group_growth_percent"]
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["group_growth_bytes", "group_growth_percent"]
    suite = doc.find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("4", "2")
    assert "dict: +1.9 MiB" in cases[2].find("failure").text
    # Names with markup characters stay well-formed.
    odd = snap(tmp_path / "odd.snap", {"a<b>&\"c'": (10, 1_000_000)})
    gate(tmp_path, "budgets:\n  group_growth_bytes: 1 MiB\n", base, odd, "--junit", str(report), code=1)
    doc = etree.parse(str(report))
    schema.assertValid(doc)
    assert "a<b>&\"c'" in doc.find(".//failure").get("message")


def test_github_annotations(tmp_path, base, grown):
    out = gate(tmp_path, "budgets:\n  group_growth_bytes: 1 MiB\n  total_growth_percent: 90\n", base, grown,
               "--github", code=1).stdout
    lines = [ln for ln in out.splitlines() if ln.startswith("::")]
    assert len(lines) == 1
    assert lines[0].startswith("::error title=memtrace-gate group_growth_bytes::1 group grew by more than 1.0 MiB")
    assert "%0Adict: +1.9 MiB" in lines[0]
