"""bench/notebook: what %load_ext memtrace costs, through real kernels.

Each notebook runs twice in fresh kernels (Debian's ipykernel, driven by
nbclient), without the recorder (the baseline) and with it, alternating,
and the table gives the difference:

  empty cells      N cells `x = i` beside a 1M-row DataFrame with a string
                   column in the namespace (the recorder looks at frames
                   after every cell): the wall time per cell as the kernel
                   reports it (execute_input to execute_reply), median;
                   and the recorder's own measure of its hooks (overhead_ns)
  1 s cells        10 cells of about 1 s of pandas work: total time
  spike            a cell holding 300 MB for 300 ms: the recorded peak above
                   the cell's start, against the buffer's nbytes, with the
                   kernel's high-water mark (exact) and with the sampling
                   thread (MEMTRACE_CELL_PEAK=sampled)

Goals (issue 24): under 5 ms per cell, under 5% on 1 s cells, the spike
within 5%.
"""

import datetime
import os
import statistics
import sys
import tempfile

import nbclient
import nbformat

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "python"))
import spec_reader  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 200
SETUP = ("import numpy as np, pandas as pd, time\n"
         "df = pd.DataFrame({'a': np.arange(1_000_000), 's': ['v%d' % i for i in range(1_000_000)]})")
WORK = ("t = time.perf_counter()\n"
        "while time.perf_counter() - t < 1.0:\n"
        "    g = df.groupby(df.a % 1000).a.sum()")
SPIKE = "x = np.ones(37_500_000)\ntime.sleep(0.3)\nnb = x.nbytes\ndel x"


def nb_of(sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def execute(sources, record, tmp, env_extra=None):
    """Runs the cells in a fresh kernel; returns (per-cell seconds, the
    cell log's nb_cells or None)."""
    log = os.path.join(tmp, "bench-%d.memtrace.snap" % os.getpid())
    if os.path.exists(log):
        os.unlink(log)
    os.environ["MEMTRACE_CELL_LOG"] = log
    os.environ.pop("MEMTRACE_CELL_PEAK", None)
    os.environ.update(env_extra or {})
    cells = (["%load_ext memtrace"] if record else ["pass"]) + list(sources)
    nb = nb_of(cells)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=600, record_timing=True).execute()
    secs = []
    for c in nb.cells[1:]:
        t = c.metadata["execution"]
        a = datetime.datetime.fromisoformat(t["iopub.execute_input"].replace("Z", "+00:00"))
        b = datetime.datetime.fromisoformat(t["shell.execute_reply"].replace("Z", "+00:00"))
        secs.append((b - a).total_seconds())
    recs = spec_reader.Snapshot(log, growing=True).of("nb_cells") if record else None
    return secs, recs


def main():
    os.environ["PYTHONPATH"] = os.path.join(BUILD, "python")
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    tmp = tempfile.mkdtemp(prefix="memtrace-bench-nb-")
    rows = []
    empty = [SETUP] + ["x = %d" % i for i in range(N)]
    base, with_ = [], []
    recs = None
    for rep in range(2):  # alternate, so drift hits both
        s, _ = execute(empty, False, tmp)
        base += s[1:]
        s, recs = execute(empty, True, tmp)
        with_ += s[1:]
    b, w = statistics.median(base), statistics.median(with_)
    own = sorted(r["overhead_ns"] / 1e6 for r in recs[1:])
    rows.append(("empty cell, median wall", "%.2f ms" % (b * 1e3), "%.2f ms" % (w * 1e3),
                 "+%.2f ms" % ((w - b) * 1e3)))
    rows.append(("recorder's own hooks, median / p95", "", "%.2f / %.2f ms" % (
        own[len(own) // 2], own[int(len(own) * 0.95)]), "goal < 5 ms"))
    work = [SETUP] + [WORK] * 10
    tb, tw = [], []
    for rep in range(2):
        s, _ = execute(work, False, tmp)
        tb.append(sum(s[1:]))
        s, _ = execute(work, True, tmp)
        tw.append(sum(s[1:]))
    b, w = min(tb), min(tw)
    rows.append(("10 cells of 1 s pandas work, best of 2", "%.3f s" % b, "%.3f s" % w,
                 "%+.2f%% (goal < 5%%)" % ((w / b - 1) * 100)))
    for mode, env in (("exact (VmHWM)", {}), ("sampled (5 ms thread)", {"MEMTRACE_CELL_PEAK": "sampled"})):
        errs = []
        for rep in range(3):
            _, recs = execute(["import numpy as np, time"] + [SPIKE] * 3, True, tmp, env)
            for r in recs[1:]:
                errs.append((r["rss_peak"] - r["rss_before"]) / 300e6 - 1)
        rows.append(("300 MB for 300 ms, peak error, %s" % mode, "", "worst %+.2f%%" % (100 * max(errs, key=abs)),
                     "goal within 5%"))
    w0 = max(len(r[0]) for r in rows)
    print("%-*s  %-14s %-16s %s" % (w0, "bench/notebook (%d empty cells)" % N, "baseline", "memtrace", ""))
    print("%-*s  %-14s %-16s %s" % (w0, "", "(no recorder)", "(%load_ext)", "difference"))
    for r in rows:
        print("%-*s  %-14s %-16s %s" % (w0, *r))


if __name__ == "__main__":
    main()
