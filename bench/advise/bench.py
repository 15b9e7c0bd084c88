"""Predicted against measured savings of memtrace-advise's dtype advice on
the four scenarios of tests/python/test_advise.py, at a larger size; and
the time to get the advice (dump_frames + memtrace-advise) against the
baseline of finding the same saving by trying it: pandas applying the
astype and measuring memory_usage(deep=True) before and after."""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import memtrace
import test_advise as scenarios


def main():
    advise = sys.argv[1]
    scenarios.N = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    print(f"{scenarios.N} rows a frame; baseline: pandas astype + memory_usage(deep=True) in the same run")
    print(f"{'scenario':<11} {'before':>10} {'predicted':>10} {'measured':>10} {'error':>7} {'saving':>7}"
          f" {'dump':>7} {'advise':>7} {'baseline':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(sorted(scenarios.SCENARIOS)):
            df = scenarios.SCENARIOS[name](np.random.default_rng(i))
            path = os.path.join(tmp, name + ".snap")
            t0 = time.perf_counter()
            memtrace.dump_frames(path, {name: df})
            t1 = time.perf_counter()
            out = subprocess.run([advise, "-f", "json", "--bytes", "pandas", "--available", "8GiB", path], capture_output=True, text=True,
                                 check=True).stdout
            t2 = time.perf_counter()
            report = json.loads(out)
            mapping = {a["column"]: a["to_dtype"] for a in report["advice"] if a["kind"] == "dtype"}
            t3 = time.perf_counter()
            before = int(df.memory_usage(index=False, deep=True).sum())
            after = int(df.astype(mapping).memory_usage(index=False, deep=True).sum())
            t4 = time.perf_counter()
            measured, predicted = before - after, report["total_saving_bytes"]
            ours = t2 - t0
            print(f"{name:<11} {before / 2**20:>8.1f}Mi {predicted / 2**20:>8.1f}Mi {measured / 2**20:>8.1f}Mi"
                  f" {(predicted - measured) / measured:>+7.2%} {measured / before:>7.1%} {t1 - t0:>6.2f}s"
                  f" {t2 - t1:>6.3f}s {t4 - t3:>8.2f}s {(t4 - t3) / ours:>5.1f}x")


if __name__ == "__main__":
    main()
