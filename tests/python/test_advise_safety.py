"""memtrace-advise's advice is safe to apply (issue 27): each hazard a user
met is rebuilt with pandas, shown to exist in the dtype a careless advice
would pick (pandas computes the wrong value there), and the advice is
checked to warn about it or avoid it."""

import json
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

import memtrace
from conftest import tool


def advise(path, *args):
    out = subprocess.run([tool("memtrace-advise"), *args, str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def advice_of(path, *args):
    report = json.loads(advise(path, "-f", "json", *args))
    return {(a["frame"], a["column"]): a for a in report["advice"] if a["column"]}


def cars(n=40_000, seed=3):
    """Like the cars data set: weights up to 5140 lb, horsepower 46 to 230
    that decreases from one row to the next as often as it grows."""
    rng = np.random.default_rng(seed)
    weight = rng.integers(1613, 5141, n)
    weight[:2] = [5140, 1613]
    hp = rng.integers(46, 231, n)
    hp[:2] = [150, 135]                   # a decrease of 15 at row 1
    hp_nan = hp.astype("float64")
    hp_nan[rng.random(n) < 0.05] = np.nan
    hp_nan[:2] = [150, 135]
    return pd.DataFrame({"Weight_in_lbs": weight, "Horsepower": hp, "Horsepower_nan": hp_nan})


def test_integer_downcasts_warn_of_overflow_and_keep_headroom(tmp_path):
    df = cars()
    path = tmp_path / "cars.snap"
    memtrace.dump_frames(path, {"cars": df})
    exact = df["Weight_in_lbs"] ** 2                      # int64: right

    # Without headroom the smallest type holds the values but not their squares.
    bare = advice_of(path, "--int-headroom", "0")
    w = bare[("cars", "Weight_in_lbs")]
    assert w["to_dtype"] == "int16"
    wrong = df["Weight_in_lbs"].astype(w["to_dtype"]) ** 2
    assert exact[0] == 5140 ** 2 and wrong[0] != 5140 ** 2       # the hazard: 5140 ** 2 wraps in int16
    limit = np.iinfo(w["to_dtype"]).max
    assert "wraps" in w["message"] and str(limit) in w["message"], w["message"]
    for a in bare.values():
        if a["rule"] in ("int-downcast", "float-whole-to-int", "float-nan-to-nullable-int"):
            assert "wraps silently past" in a["message"], a
    code = advise(path, "-f", "python", "--int-headroom", "0")
    line = next(ln for ln in code.splitlines() if '"Weight_in_lbs": "int16"' in ln)
    assert "wraps past int16" in line and "** 2" in line

    # Headroom that covers the square: 5140 needs 13 bits, its square 13 more.
    bits = int(df["Weight_in_lbs"].abs().max()).bit_length()
    for n in (bits, 8):
        to = advice_of(path, "--int-headroom", str(n))[("cars", "Weight_in_lbs")]["to_dtype"]
        assert np.iinfo(to).max >= int(df["Weight_in_lbs"].max()) << n
        if n == bits:
            assert (df["Weight_in_lbs"].astype(to) ** 2).astype("int64").equals(exact), to
    # The default is documented as 8 bits.
    assert advice_of(path)[("cars", "Weight_in_lbs")]["to_dtype"] == to


@pytest.mark.parametrize("headroom", ["0", "8"])
def test_no_unsigned_type_for_a_column_that_can_be_differenced(tmp_path, headroom):
    df = cars()
    path = tmp_path / "cars.snap"
    memtrace.dump_frames(path, {"cars": df})
    # The hazard: 46..230 fits UInt8, in which a decrease of 15 is 241.
    assert pd.Series(df["Horsepower"], dtype="UInt8").diff()[1] == 241
    assert df["Horsepower"].diff()[1] == -15
    got = advice_of(path, "--int-headroom", headroom)
    assert not [a for a in got.values() if a["to_dtype"] and a["to_dtype"].lower().startswith("uint")], got
    for col in ("Horsepower", "Horsepower_nan"):
        to = got[("cars", col)]["to_dtype"]
        assert not to.lower().startswith("uint"), to   # Int16, or float32 where its 4 bytes beat Int32's 5
        d = df[col].astype(to).diff().astype("float64")
        pd.testing.assert_series_equal(d, df[col].diff().astype("float64"), check_names=False)


def _dates(n, seed=5):
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("1999-01-01") + pd.to_timedelta(rng.integers(0, 8000, 60), unit="D")
    times = days + pd.to_timedelta(rng.integers(0, 86400, 60), unit="s")
    pick = rng.integers(0, 60, n)
    d, t = days[pick], times[pick]
    ms = pd.to_timedelta(rng.integers(0, 1000, n), unit="ms")
    col = lambda values: pd.Series(list(values), dtype=object)
    low = pd.Timestamp("2001-01-01") + pd.to_timedelta(rng.integers(0, 12, n) * 31, unit="D")
    return pd.DataFrame({
        "iso": col(d.strftime("%Y-%m-%d")),
        "slash_minutes": col(t.strftime("%Y/%m/%d %H:%M")),
        "slash": col(d.strftime("%Y/%m/%d")),
        "mon_d_y": col(f"{x:%b} {x.day} {x.year}" for x in d),           # Jan 1 2000
        "month_d_y": col(f"{x:%B} {x.day}, {x.year}" for x in d),        # January 1, 2000
        "d_mon_y": col(d.strftime("%d %b %Y")),
        "day_first": col(d.strftime("%d/%m/%Y")),
        "month_first": col(d.strftime("%m/%d/%Y")),
        "iso_t": col((t + ms).strftime("%Y-%m-%dT%H:%M:%S.%f")),
        "guess": col(low.strftime("%m/%d/%Y")),                           # no day above 12
    })


FORMATS = {"iso": "%Y-%m-%d", "slash_minutes": "%Y/%m/%d %H:%M", "slash": "%Y/%m/%d", "mon_d_y": "%b %d %Y",
           "month_d_y": "%B %d, %Y", "d_mon_y": "%d %b %Y", "day_first": "%d/%m/%Y", "month_first": "%m/%d/%Y",
           "iso_t": "%Y-%m-%dT%H:%M:%S.%f", "guess": "%m/%d/%Y"}


def test_date_layouts_are_recognised_and_never_category(tmp_path):
    df = _dates(20_000)
    assert (df["day_first"].str[:2].astype(int) > 12).any() and (df["month_first"].str[3:5].astype(int) > 12).any()
    path = tmp_path / "dates.snap"
    memtrace.dump_frames(path, {"events": df})
    got = advice_of(path)
    for col, fmt in FORMATS.items():
        a = got[("events", col)]
        assert a["to_dtype"] == "datetime64[ns]", a
        assert a["rule"] == ("datetime-text-ambiguous" if col == "guess" else "datetime-text"), a
        assert fmt in a["message"] and a["datetime_format"] == fmt, a
    # The hazard category would bring: categories sort as text, not as dates.
    cat = df["mon_d_y"].astype("category")
    assert list(cat.cat.categories) == sorted(cat.cat.categories)
    assert list(cat.cat.categories) != list(pd.Series(cat.cat.categories).iloc[
        pd.to_datetime(pd.Series(cat.cat.categories)).argsort()])
    assert "order is a guess" in got[("events", "guess")]["message"]

    # The code parses each column as pandas' own inference does.
    code = advise(path, "-f", "python")
    for col, fmt in FORMATS.items():
        assert f'events["{col}"] = pd.to_datetime(events["{col}"], format="{fmt}")' in code, col
    scope = {"events": df.copy()}
    exec(compile(code, "<advise dates>", "exec"), scope)
    for col in FORMATS:
        want = pd.to_datetime(df[col], dayfirst=col == "day_first")
        pd.testing.assert_series_equal(scope["events"][col], want, check_names=False)
        assert pd.to_datetime(df[col], format=FORMATS[col]).equals(want)


def test_a_column_of_mixed_layouts_has_no_format(tmp_path):
    df = pd.DataFrame({"when": pd.Series(["2010-01-01", "Jan 2 2010", "2010/01/03"] * 2000, dtype=object)})
    path = tmp_path / "mixed.snap"
    memtrace.dump_frames(path, {"m": df})
    a = advice_of(path).get(("m", "when"))
    assert a is None or a["to_dtype"] != "datetime64[ns]"
    with pytest.raises(ValueError):
        pd.to_datetime(df["when"], format="%Y-%m-%d")


def test_a_sentinel_date_outside_datetime64_is_not_advised(tmp_path):
    """9999-12-31 ("valid until further notice") is a date, but not one
    datetime64[ns] holds: pd.to_datetime(format=...) raises on it, so the
    column gets no date advice that would fail when applied."""
    days = pd.date_range("2000-01-01", periods=3000).strftime("%Y-%m-%d").tolist()
    valid_to = pd.Series(days[:2999] + ["9999-12-31"], dtype=object)
    df = pd.DataFrame({"valid_to": valid_to, "valid_from": pd.Series(days, dtype=object)})
    with pytest.raises(pd.errors.OutOfBoundsDatetime):
        pd.to_datetime(df["valid_to"], format="%Y-%m-%d")
    path = tmp_path / "sentinel.snap"
    memtrace.dump_frames(path, {"v": df})
    advice = advice_of(path)
    a = advice.get(("v", "valid_to"))
    assert a is None or a["to_dtype"] != "datetime64[ns]", a
    # The column without the sentinel is advised, and the code it gives works.
    b = advice[("v", "valid_from")]
    assert b["to_dtype"] == "datetime64[ns]" and b["datetime_format"] == "%Y-%m-%d"
    pd.to_datetime(df["valid_from"], format=b["datetime_format"])
    code = advise(path, "-f", "python")
    assert "dtype={}" not in code


def keyed(n=60_000, seed=8):
    """Two keys of 58 values each; the 174 pairs seen are far fewer than
    their 58 x 58 = 3,364 combinations."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 58, n)
    b = (a + rng.integers(0, 3, n)) % 58                   # each a with 3 b's: 174 pairs
    return pd.DataFrame({
        "store": pd.Series([f"store-{i:02d}" for i in a], dtype=object),
        "product": pd.Series([f"product-{i:02d}" for i in b], dtype=object),
        "qty": rng.integers(1, 9, n),
    })


def test_categorical_keys_are_warned_with_the_group_count_and_the_merge(tmp_path):
    df = keyed()
    path = tmp_path / "keys.snap"
    memtrace.dump_frames(path, {"sales": df}, keys=["store", "product"])
    got = advice_of(path)
    advised = {c: got[("sales", c)]["to_dtype"] for c in ("store", "product")}
    assert advised == {"store": "category", "product": "category"}
    cat = df.astype(advised)
    # The hazard: observed=False returns every combination.
    blown = len(cat.groupby(["store", "product"], observed=False).size())
    seen = len(df.groupby(["store", "product"]).size())
    assert blown == 58 * 58 and seen < blown / 10
    assert len(cat.groupby(["store", "product"], observed=True).size()) == seen
    # And a merge with an object key gives object back.
    other = pd.DataFrame({"store": pd.Series([f"store-{i:02d}" for i in range(58)], dtype=object), "x": 1})
    assert cat.merge(other, on="store")["store"].dtype == object
    for c in ("store", "product"):
        a = got[("sales", c)]
        assert a["rule"] == "object-to-category-key"
        assert f"{blown} rows" in a["message"] and "observed=True" in a["message"], a["message"]
        assert "merge" in a["message"] and "object" in a["message"]
    code = advise(path, "-f", "python")
    assert "observed=True" in code
    # A frame without keys is told plainly.
    plain = tmp_path / "plain.snap"
    memtrace.dump_frames(plain, {"sales": df})
    assert advice_of(plain)[("sales", "store")]["rule"] == "object-to-category"


def test_pipeline_code_uses_the_recorded_variables(tmp_path):
    path = tmp_path / "p.snap"
    raw = cars(30_000)
    raw["origin"] = pd.Series(np.array(["USA", "Europe", "Japan"], dtype=object)[np.arange(len(raw)) % 3])
    with memtrace.pipeline(path) as p:
        p.step("load", raw)                                   # a frame named after its step
        cars_df = raw.assign(power_to_weight=(raw["Horsepower"] * 1000 // raw["Weight_in_lbs"]))
        cars_df["label"] = pd.Series(np.where(cars_df["Horsepower"] > 150, "fast", "slow"), dtype=object)
        p.step("clean", {"cars": cars_df})
        small = cars_df[["origin", "label"]].copy()
        p.step("report", {"cars": small})                     # the same variable, later
    code = advise(path, "-f", "python")
    assert "load = " not in code and "clean = " not in code
    assert 'frames["load"] = frames["load"].astype(' in code
    # Read-time options only for the first step's frame; later frames are derived.
    reads = [ln for ln in code.splitlines() if "pd.read_csv(PATH, dtype=" in ln]
    assert len(reads) == 1 and "step load" in reads[0] and "power_to_weight" not in reads[0], reads
    assert "derived after reading" in code
    scope = {"frames": {"load": raw.copy()}, "cars": small.copy()}
    exec(compile(code, "<advise pipeline>", "exec"), scope)
    assert str(scope["cars"]["label"].dtype) == "category"
    assert str(scope["frames"]["load"]["origin"].dtype) == "category"


def test_severity_follows_the_saving(tmp_path):
    tiny = pd.DataFrame({"n": np.array([1, 2], dtype="int64")})     # int64 -> int16 saves 12 bytes
    big = pd.DataFrame({"n": np.arange(200_000) % 100})              # 1.2 MiB saved
    path = tmp_path / "s.snap"
    memtrace.dump_frames(path, {"tiny": tiny, "big": big})
    got = advice_of(path)
    t, b = got[("tiny", "n")], got[("big", "n")]
    assert t["saving_bytes"] == tiny.memory_usage(index=False).sum() - tiny.astype(t["to_dtype"]).memory_usage(index=False).sum()
    assert t["saving_bytes"] < 64 << 10 and t["severity"] == "info"
    assert b["saving_bytes"] >= 64 << 10 and b["severity"] == "warning"
    out = subprocess.run([tool("memtrace-advise"), "--fail-on", "warning", str(tmp_path / "s.snap")], capture_output=True)
    assert out.returncode == 1
    memtrace.dump_frames(tmp_path / "t.snap", {"tiny": tiny})
    out = subprocess.run([tool("memtrace-advise"), "--fail-on", "warning", str(tmp_path / "t.snap")], capture_output=True)
    assert out.returncode == 0
