"""The calibration cases of memtrace-predict (testdata/predict/*.csv,
written by bench/predict/calibrate.py) measure what they say: one case of
each operation, run again from its spec on this machine's pandas, gives
the stored result exactly and the stored peak within 5%; the grids cover
every operation, join type and aggregation the issue names; held-out
cases never repeat a training seed or spec."""

import csv
import json
import os
import sys

import pandas as pd
import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "bench", "predict"))
import calibrate  # noqa: E402

DATA = os.path.join(ROOT, "testdata", "predict")


def rows(grid):
    with open(os.path.join(DATA, grid + ".csv"), newline="") as f:
        return list(csv.DictReader(f))


def smallest_of_each_op():
    by_op = {}
    for r in rows("train"):
        if r["op"] not in by_op or int(r["input_bytes"]) < int(by_op[r["op"]]["input_bytes"]):
            by_op[r["op"]] = r
    return [by_op[k] for k in sorted(by_op)]


@pytest.mark.parametrize("row", smallest_of_each_op(), ids=lambda r: r["op"])
def test_a_stored_case_measures_the_same_again(row):
    if row["pandas"] != pd.__version__:
        pytest.skip("calibrated on pandas %s, this is %s" % (row["pandas"], pd.__version__))
    spec = json.loads(row["spec"])
    got = calibrate.run_case(spec)
    assert got["result_rows"] == int(row["result_rows"])
    assert got["result_bytes"] == int(row["result_bytes"])
    assert got["input_bytes"] == int(row["input_bytes"])
    assert got["peak_bytes"] == pytest.approx(int(row["peak_bytes"]), rel=0.05)


def test_the_grids_cover_what_the_issue_names():
    specs = [json.loads(r["spec"]) for r in rows("train")]
    assert {s["op"] for s in specs} == {"merge", "groupby", "pivot_table", "concat", "sort", "read_csv"}
    merges = [s for s in specs if s["op"] == "merge"]
    assert {s["how"] for s in merges} == {"inner", "left", "right", "outer"}
    assert {s["relation"] for s in merges} == {"1:1", "m:1", "m:m"}
    assert {s["key"] for s in merges} == {"int64", "str", "category"}
    assert any(s["nulls"] for s in merges) and any(s["overlap"] < 1 for s in merges)
    aggs = {s["agg"] for s in specs if s["op"] == "groupby"}
    assert aggs == {"sum", "mean", "count", "min", "max", "median", "std", "size"}
    assert {s["aggfunc"] for s in specs if s["op"] == "pivot_table"} == {"sum", "mean", "count"}


def test_heldout_cases_are_new():
    train = rows("train")
    held = rows("heldout")
    assert len(held) >= 50
    strip = lambda s: json.dumps({k: v for k, v in json.loads(s).items() if k != "seed"}, sort_keys=True)  # noqa: E731
    assert not {json.loads(r["spec"])["seed"] for r in held} & {json.loads(r["spec"])["seed"] for r in train}
    assert not {strip(r["spec"]) for r in held} & {strip(r["spec"]) for r in train}
    # Every measurement is a real one: a peak, a result.
    for r in train + held:
        assert int(r["peak_bytes"]) > 0 and int(r["result_rows"]) > 0, r["spec"]


def test_the_fit_reproduces_the_shipped_constants(tmp_path):
    """libanalyze/src/predict/constants.h is what fit.py makes of the
    stored training cases, byte for byte."""
    import subprocess
    header = tmp_path / "constants.h"
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "predict", "fit.py"), "--header", str(header)],
                   check=True, capture_output=True)
    with open(os.path.join(ROOT, "libanalyze", "src", "predict", "constants.h")) as f:
        assert header.read_text() == f.read()
