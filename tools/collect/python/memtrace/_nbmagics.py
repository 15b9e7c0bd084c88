"""memtrace._nbmagics: the notebook magics that take dumps and show what
the memtrace tools make of them (memtrace.notebook dispatches to them).

    %memtrace snapshot NAME [--frames]   a heap (or DataFrame) dump beside the cell log
    %memtrace advise DF                  memtrace-advise on one frame; the astype code in a new cell
    %memtrace predict EXPR               memtrace-predict for a merge, groupby, pivot_table,
                                         concat or sort_values, without running it
    %memtrace leaks start|stop           a heap dump after every cell (the last 6 kept)
    %memtrace leaks                      memtrace-leaks on those dumps
    %%memtrace                           the cell's memory line by line

Every function takes (recorder, shell, args), displays its result (an
object with _repr_html_ and a plain-text repr) and returns it. The
analyses are the tools' own, run through memtrace._tools: this module
only dumps, runs a tool and lays out its JSON. Bad arguments raise
MagicError, whose message the dispatcher prints as one line.
"""

import ast
import html
import json
import linecache
import os
import re
import shlex
import sys
import tempfile
import tracemalloc

from . import _tools
from ._memtrace import dump_heap
from ._memtrace import rss as _rss
from .frames import dump_frames


class MagicError(ValueError):
    """Bad arguments to a magic; the message says what is wrong first."""


# -- what the magics show ----------------------------------------------------


class Report:
    """A magic's result: text for terminals and tests (repr), HTML for
    the notebook, and data, the figures it shows (the tool's JSON)."""

    def __init__(self, text, html_text, data=None):
        self.text = text
        self.html = html_text
        self.data = data

    def __repr__(self):
        return self.text

    def _repr_html_(self):
        return self.html


def _show(report):
    from IPython.display import display
    display(report)
    return report


def _size(n):
    """Bytes as the tools print them: 700 B, 566.2 KiB, 1.5 GiB."""
    n = float(n)
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n < 1024:
        return "%s%d B" % (sign, round(n))
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        n /= 1024
        if n < 1024 or unit == "PiB":
            return "%s%.1f %s" % (sign, n, unit)


def _signed(n):
    return ("+" if n > 0 else "") + _size(n) if n else "0 B"


def _table(headers, rows, right=(), mark=None):
    """(text, html) of a table. right: the indices of the columns aligned
    right (numbers); mark: the index of a row to emphasize."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(r):
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        return "  ".join(out).rstrip()

    text = [line(headers)] + [line(r) for r in cells]
    h = ["<table><thead><tr>"]
    h += ["<th style=\"text-align:%s\">%s</th>" % ("right" if i in right else "left", html.escape(c))
          for i, c in enumerate(headers)]
    h.append("</tr></thead><tbody>")
    for n, r in enumerate(cells):
        style = " style=\"font-weight:bold;background:#fff3cd\"" if n == mark else ""
        h.append("<tr%s>" % style)
        h += ["<td style=\"text-align:%s\">%s</td>" % ("right" if i in right else "left",
                                                      "<code style=\"white-space:pre\">%s</code>" % html.escape(c) if i == len(r) - 1
                                                      and headers[-1] == "source" else html.escape(c))
              for i, c in enumerate(r)]
        h.append("</tr>")
    h.append("</tbody></table>")
    return "\n".join(text), "".join(h)


def _paragraphs(lines):
    return "".join("<p>%s</p>" % html.escape(t) for t in lines)


# -- arguments ---------------------------------------------------------------


def _words(command, args):
    try:
        return shlex.split(args)
    except ValueError as e:
        raise MagicError("%s: %s: %s" % (command, args.strip(), e))


def _safe_name(command, name):
    """A dump's NAME: one file name, no directory, nothing hidden."""
    if not name or name.startswith(("-", ".")) or "/" in name or "\0" in name or len(name) > 200:
        raise MagicError("%s: %r: not a dump name (letters, digits, '.', '-' and '_', not starting with '.' "
                         "or '-')" % (command, name))
    if not all(c.isalnum() or c in "._-" for c in name):
        raise MagicError("%s: %r: not a dump name (letters, digits, '.', '-' and '_', not starting with '.' "
                         "or '-')" % (command, name))
    return name


def _frame(command, shell, name):
    """The DataFrame shell.user_ns holds as name."""
    import pandas as pd
    if not name.isidentifier():
        raise MagicError("%s: %r: not a variable name" % (command, name))
    if name not in shell.user_ns:
        raise MagicError("%s: %s: no such variable" % (command, name))
    df = shell.user_ns[name]
    if not isinstance(df, pd.DataFrame):
        raise MagicError("%s: %s: not a DataFrame but %s" % (command, name, type(df).__name__))
    return df


def _new_file(directory, name):
    """DIR/NAME.snap, or NAME-2.snap, NAME-3.snap ... when taken: created
    with O_EXCL so that no earlier dump is ever replaced."""
    n = 1
    while True:
        path = os.path.join(directory, "%s.snap" % name if n == 1 else "%s-%d.snap" % (name, n))
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            return path
        except FileExistsError:
            n += 1


def _drop_empty(path):
    """Gives back a reserved name whose dump failed before writing."""
    try:
        if os.path.getsize(path) == 0:
            os.unlink(path)
    except OSError:
        pass


# -- %memtrace snapshot -------------------------------------------------------


def snapshot(recorder, shell, args):
    """%memtrace snapshot NAME [--frames]: dump_heap (or, with --frames,
    dump_frames of every DataFrame in the namespace) to
    recorder.dump_dir()/NAME.snap, never over an earlier dump; records a
    `dump` event (detail: the path). Frames are summed up by
    memtrace-frames."""
    words = _words("snapshot", args)
    frames = "--frames" in words
    rest = [w for w in words if w != "--frames"]
    bad = [w for w in rest if w.startswith("-")]
    if bad:
        raise MagicError("snapshot: %s: unknown option (usage: %%memtrace snapshot NAME [--frames])" % bad[0])
    if len(rest) != 1:
        raise MagicError("snapshot: %s (usage: %%memtrace snapshot NAME [--frames])"
                         % ("a NAME is needed" if not rest else "one NAME only, got %d" % len(rest)))
    name = _safe_name("snapshot", rest[0])
    found = {}
    if frames:
        import pandas as pd
        # Names starting with _ are IPython's output cache (_, _3, Out's
        # entries): the same frames again under other names.
        found = {k: v for k, v in shell.user_ns.items() if isinstance(v, pd.DataFrame) and not k.startswith("_")}
        if not found:
            raise MagicError("snapshot --frames: no pandas DataFrame in the notebook's variables")
    path = _new_file(recorder.dump_dir(), name)
    resident = _rss()
    try:
        if frames:
            dump_frames(path, found, label=name)
        else:
            summary = dump_heap(path, label=name)
    except BaseException:
        _drop_empty(path)
        raise
    recorder.event("dump", name=name, value=float(resident), detail=os.path.abspath(path))
    if not frames:
        text = "memtrace snapshot: %s: %d objects, %s (heap dump)" % (path, summary["objects"],
                                                                      _size(summary["bytes"]))
        data = dict(summary, path=path)
        return _show(Report(text, "<p><b>memtrace snapshot</b> <code>%s</code>: %d objects, %s (heap dump)</p>"
                            % (html.escape(path), summary["objects"], html.escape(_size(summary["bytes"]))),
                            data))
    doc = json.loads(_tools.run("memtrace-frames", path, "--format", "json").stdout)
    # Real bytes (each shared string once) first, pandas' deep count beside.
    rows = [(f["name"], f["rows"], len(f["columns"]), _size(f.get("real_bytes", f["deep_bytes"])),
             _size(f["deep_bytes"])) for f in doc["frames"]]
    head = "memtrace snapshot: %s: %d frames, %s real (%s pandas deep)" % (
        path, len(doc["frames"]), _size(doc.get("real_bytes", doc["deep_bytes"])), _size(doc["deep_bytes"]))
    t, h = _table(["frame", "rows", "columns", "real bytes", "pandas deep"], rows, right=(1, 2, 3, 4))
    doc["path"] = path
    return _show(Report(head + "\n" + t, _paragraphs([head]) + h, doc))


# -- %memtrace advise ---------------------------------------------------------


def advise(recorder, shell, args):
    """%memtrace advise DF: memtrace-advise on a dump of that one frame;
    shows the advice and puts the tool's astype code in a new cell."""
    words = _words("advise", args)
    if len(words) != 1:
        raise MagicError("advise: %s (usage: %%memtrace advise DATAFRAME)"
                         % ("a DataFrame's name is needed" if not words else "one DataFrame only, got %d" % len(words)))
    name = words[0]
    df = _frame("advise", shell, name)
    with tempfile.TemporaryDirectory(prefix="memtrace-advise-") as tmp:
        path = os.path.join(tmp, name + ".snap")
        dump_frames(path, {name: df})
        doc = json.loads(_tools.run("memtrace-advise", path, "--format", "json").stdout)
        code = _tools.run("memtrace-advise", path, "--format", "python").stdout
    # The code names the snapshot it came from, a file gone with the
    # temporary directory: name the frame instead.
    code = code.replace(path, "%%memtrace advise %s" % name)
    advice = doc["advice"]
    head = "memtrace advise: %s: %d pieces of advice; the changes save %s of %s" % (
        name, len(advice), _size(doc["total_saving_bytes"]), _size(doc["data_bytes"]))
    rows = [(a["rule"], a["column"] or a["step"] or a["frame"] or "",
             "%s -> %s" % (a["from_dtype"], a["to_dtype"]) if a["to_dtype"] else "", _size(a["saving_bytes"]))
            for a in advice]
    t, h = _table(["rule", "column", "change", "saving"], rows, right=(3,))
    messages = [a["message"] for a in advice]
    # The code only when it changes something: the tool prints its
    # header comments even when no dtype changes.
    has_code = ".astype(" in code
    if has_code:
        shell.set_next_input(code.rstrip("\n"))
    text = "\n".join([head, t] + ["  " + m for m in messages]
                     + (["the code, in the next cell:", code.rstrip("\n")] if has_code else []))
    hp = _paragraphs([head]) + h + "<ul>%s</ul>" % "".join("<li>%s</li>" % html.escape(m) for m in messages)
    if has_code:
        hp += "<p>The code, put in the next cell:</p><pre>%s</pre>" % html.escape(code)
    doc["code"] = code if has_code else None
    return _show(Report(text, hp, doc))


# -- %memtrace predict --------------------------------------------------------

# memtrace-predict's groupby aggregations (--agg).
_GROUPBY_AGGS = ("sum", "mean", "count", "min", "max", "median", "std", "size")
_PIVOT_AGGS = ("mean", "sum", "count")
_HOWS = ("inner", "left", "right", "outer")

_SUPPORTED = ("A.merge(B, on=..., how=...), pd.merge(A, B, on=..., how=...), "
              "A.groupby(KEYS)[COLS].agg(\"sum\") or .sum(), .mean(), .count(), .min(), .max(), .median(), "
              ".std(), .size(), A.pivot_table(index=, columns=, values=, aggfunc=), pd.concat([A, B, ...]), "
              "A.sort_values(BY)")

# Where the cgroup v2 hierarchy is mounted (a test points it elsewhere).
_CGROUP_ROOT = "/sys/fs/cgroup"


class _Request:
    """A memtrace-predict request read off an expression."""

    def __init__(self, op):
        self.op = op
        self.args = ["--op", op]
        self.frames = []   # names, in order
        self.keys = []


def _unsupported(what):
    return MagicError("predict: %s: not supported; supported: %s" % (what, _SUPPORTED))


def _strings(node, what):
    """A column name or a list of them, as constants."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts and \
            all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return [e.value for e in node.elts]
    raise MagicError("predict: %s: a column name or a list of names is needed, not %s"
                     % (what, ast.unparse(node)))


def _string(node, what, choices=None):
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        raise MagicError("predict: %s: a string is needed, not %s" % (what, ast.unparse(node)))
    if choices and node.value not in choices:
        raise MagicError("predict: %s=%r: not one of %s" % (what, node.value, ", ".join(choices)))
    return node.value


def _bool(node, what):
    if not (isinstance(node, ast.Constant) and isinstance(node.value, bool)):
        raise MagicError("predict: %s: True or False is needed, not %s" % (what, ast.unparse(node)))
    return node.value


def _keywords(call, allowed, what):
    kw = {}
    for k in call.keywords:
        if k.arg is None:
            raise MagicError("predict: %s: **%s: not supported" % (what, ast.unparse(k.value)))
        if k.arg not in allowed:
            raise MagicError("predict: %s(%s=...): not supported; %s takes %s" % (
                what, k.arg, what, ", ".join("%s=" % a for a in allowed) or "no keywords"))
        kw[k.arg] = k.value
    return kw


def _positional(call, names, kw, what):
    """call's positional arguments as the keywords names (in order)."""
    if len(call.args) > len(names):
        raise MagicError("predict: %s: at most %d positional arguments, got %d" % (what, len(names), len(call.args)))
    for n, a in zip(names, call.args):
        if n in kw:
            raise MagicError("predict: %s: %s given twice" % (what, n))
        kw[n] = a
    return kw


class _Parser:
    def __init__(self, shell):
        self.shell = shell

    def frame(self, node, req):
        """A DataFrame variable in the expression."""
        if not isinstance(node, ast.Name):
            raise MagicError("predict: %s: a DataFrame variable is needed (an expression is not run)"
                             % ast.unparse(node))
        _frame("predict", self.shell, node.id)
        if node.id not in req.frames:
            req.frames.append(node.id)
        return node.id

    def is_pandas(self, node):
        import pandas as pd
        return isinstance(node, ast.Name) and (self.shell.user_ns.get(node.id) is pd or
                                               node.id in ("pd", "pandas") and node.id not in self.shell.user_ns)

    def parse(self, expr):
        try:
            tree = ast.parse(expr.strip(), mode="eval")
        except SyntaxError as e:
            raise MagicError("predict: %s: not a Python expression (%s)" % (expr.strip(), e.msg))
        node = tree.body
        if not isinstance(node, ast.Call):
            raise _unsupported(ast.unparse(node))
        f = node.func
        if isinstance(f, ast.Attribute):
            if self.is_pandas(f.value) and f.attr == "merge":
                return self.merge(node, None)
            if self.is_pandas(f.value) and f.attr == "concat":
                return self.concat(node)
            if f.attr == "merge":
                return self.merge(node, f.value)
            if f.attr == "pivot_table":
                return self.pivot(node, f.value)
            if f.attr == "sort_values":
                return self.sort(node, f.value)
            if f.attr in _GROUPBY_AGGS + ("agg", "aggregate"):
                return self.groupby(node)
        raise _unsupported(ast.unparse(f) + "(...)")

    def merge(self, call, left):
        req = _Request("merge")
        if left is None:
            kw = _positional(call, ["left", "right"], _keywords(call, ("left", "right", "on", "how"), "pd.merge"),
                             "pd.merge")
            if "left" not in kw or "right" not in kw:
                raise MagicError("predict: pd.merge: the left and right frames are needed")
            left = kw["left"]
        else:
            kw = _positional(call, ["right"], _keywords(call, ("right", "on", "how"), "merge"), "merge")
            if "right" not in kw:
                raise MagicError("predict: merge: the right frame is needed")
        a, b = self.frame(left, req), self.frame(kw["right"], req)
        if "on" in kw:
            on = _strings(kw["on"], "merge on=")
        else:
            # pandas joins on the columns both frames have.
            ca = [str(c) for c in self.shell.user_ns[a].columns]
            cb = set(str(c) for c in self.shell.user_ns[b].columns)
            on = [c for c in ca if c in cb]
            if not on:
                raise MagicError("predict: merge: %s and %s have no column in common: name the keys with on=" % (a, b))
        how = _string(kw["how"], "merge how", _HOWS) if "how" in kw else "inner"
        req.args += ["--left", a, "--right", b, "--on", ",".join(on), "--how", how]
        req.keys = on
        return req

    def concat(self, call):
        req = _Request("concat")
        kw = _positional(call, ["objs"], _keywords(call, ("objs", "ignore_index", "axis"), "pd.concat"), "pd.concat")
        if "axis" in kw and not (isinstance(kw["axis"], ast.Constant) and kw["axis"].value in (0, "index")):
            raise MagicError("predict: pd.concat(axis=%s): only axis=0 (rows) is supported" % ast.unparse(kw["axis"]))
        objs = kw.get("objs")
        if not isinstance(objs, (ast.List, ast.Tuple)) or not objs.elts:
            raise MagicError("predict: pd.concat: a list of DataFrame variables is needed")
        names = [self.frame(e, req) for e in objs.elts]
        # memtrace-predict takes each frame once; pd.concat([A, A]) repeats one.
        req.args += ["--frames", ",".join(names)]
        return req

    def sort(self, call, frame):
        req = _Request("sort")
        kw = _positional(call, ["by"], _keywords(call, ("by", "ascending"), "sort_values"), "sort_values")
        if "by" not in kw:
            raise MagicError("predict: sort_values: the columns to sort by are needed")
        by = _strings(kw["by"], "sort_values by")
        req.args += ["--frame", self.frame(frame, req), "--by", ",".join(by)]
        req.keys = by
        return req

    def pivot(self, call, frame):
        req = _Request("pivot_table")
        kw = _keywords(call, ("index", "columns", "values", "aggfunc"), "pivot_table")
        if call.args:
            raise MagicError("predict: pivot_table: name its arguments (index=, columns=, values=, aggfunc=)")
        missing = [k for k in ("index", "columns", "values") if k not in kw]
        if missing:
            raise MagicError("predict: pivot_table: %s needed" % ", ".join("%s=" % m for m in missing))
        index = _string(kw["index"], "pivot_table index")
        columns = _string(kw["columns"], "pivot_table columns")
        values = _string(kw["values"], "pivot_table values")
        aggfunc = _string(kw["aggfunc"], "pivot_table aggfunc", _PIVOT_AGGS) if "aggfunc" in kw else "mean"
        req.args += ["--frame", self.frame(frame, req), "--index", index, "--columns", columns, "--values", values,
                     "--aggfunc", aggfunc]
        req.keys = [index, columns]
        return req

    def groupby(self, call):
        f = call.func
        if f.attr in ("agg", "aggregate"):
            kw = _positional(call, ["func"], _keywords(call, ("func",), f.attr), f.attr)
            if "func" not in kw:
                raise MagicError("predict: %s: the aggregation is needed, one of %s" % (f.attr, ", ".join(_GROUPBY_AGGS)))
            agg = _string(kw["func"], f.attr, _GROUPBY_AGGS)
        else:
            if call.args or call.keywords:
                raise MagicError("predict: .%s(): arguments are not supported" % f.attr)
            agg = f.attr
        g = f.value
        columns = None
        if isinstance(g, ast.Subscript):
            columns = _strings(g.slice, "groupby columns")
            g = g.value
        if not (isinstance(g, ast.Call) and isinstance(g.func, ast.Attribute) and g.func.attr == "groupby"):
            raise _unsupported(ast.unparse(call))
        req = _Request("groupby")
        kw = _positional(g, ["by"], _keywords(g, ("by", "observed"), "groupby"), "groupby")
        if "by" not in kw:
            raise MagicError("predict: groupby: the keys are needed")
        by = _strings(kw["by"], "groupby by")
        req.args += ["--frame", self.frame(g.func.value, req), "--by", ",".join(by), "--agg", agg]
        if columns:
            req.args += ["--columns", ",".join(columns)]
        if "observed" in kw and _bool(kw["observed"], "groupby observed"):
            req.args.append("--observed")
        req.keys = by
        return req


def _meminfo_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_free():
    """memory.max less memory.current of this process' cgroup v2 (where
    the kernel kills it), or None without a limit."""
    dirs = []
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    dirs.append(os.path.join(_CGROUP_ROOT, line[3:].strip().lstrip("/")))
    except OSError:
        pass
    dirs.append(_CGROUP_ROOT)  # a container sees its own cgroup at the root
    for d in dirs:
        try:
            with open(os.path.join(d, "memory.max")) as f:
                limit = f.read().strip()
            with open(os.path.join(d, "memory.current")) as f:
                current = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit == "max":
            return None
        try:
            return max(int(limit) - current, 1)
        except ValueError:
            return None
    return None


def _available():
    """The --available to pass (None: the tool's MemAvailable) and where
    it comes from."""
    cg = _cgroup_free()
    mem = _meminfo_available()
    if cg is not None and (mem is None or cg < mem):
        return str(cg), "the cgroup's memory.max less memory.current"
    return None, "MemAvailable"


def predict(recorder, shell, args):
    """%memtrace predict [--available BYTES] EXPR: memtrace-predict on a
    dump of the frames EXPR names (never running EXPR); says whether the
    peak fits in the memory available (MemAvailable, or the cgroup's
    limit less its usage when lower) and what to do when not."""
    text = args.strip()
    given = None
    m = re.match(r"--available(?:=|\s+)(\S+)(.*)$", text, re.S)
    if m:
        given, text = m.group(1), m.group(2)
    elif text.startswith("--available"):
        raise MagicError("predict: --available: a size is needed (8GiB, 500MB, or bytes)")
    elif text.startswith("-"):
        raise MagicError("predict: %s: unknown option (usage: %%memtrace predict [--available BYTES] EXPRESSION)"
                         % text.split()[0])
    if not text.strip():
        raise MagicError("predict: an expression is needed, e.g. df1.merge(df2, on=\"k\"); supported: %s" % _SUPPORTED)
    req = _Parser(shell).parse(text)
    if given is not None:
        available, source = given, "given"
    else:
        available, source = _available()
    with tempfile.TemporaryDirectory(prefix="memtrace-predict-") as tmp:
        path = os.path.join(tmp, "frames.snap")
        dump_frames(path, {n: shell.user_ns[n] for n in req.frames}, keys=req.keys)
        cmd = req.args + ["--shapes", path, "--format", "json"]
        if available is not None:
            cmd += ["--available", available]
        # Exit 1 is the answer "does not fit", not a failure.
        p = _tools.run("memtrace-predict", *cmd, ok=(0, 1))
    doc = json.loads(p.stdout)
    doc["available_source"] = source
    doc["command"] = ["memtrace-predict"] + cmd
    expr = text.strip()
    lines = ["memtrace predict: %s" % expr,
             "  peak       %s (%.2fx the inputs' %s)" % (_size(doc["peak_bytes"]), doc["multiplier"],
                                                       _size(doc["input_bytes"])),
             "  result     %d rows, %s" % (doc["result_rows"], _size(doc["result_bytes"]))]
    if doc.get("available_bytes") is None:
        lines.append("  available  unknown")
    else:
        lines.append("  available  %s (%s): %s" % (_size(doc["available_bytes"]), source,
                                                  "fits" if doc["fits"] else "does not fit"))
    warns = ["warning: %s" % w for w in doc.get("warnings", [])]
    if not doc["fits"] and not any("not fit" in w for w in warns):
        warns.insert(0, "warning: the predicted peak, %s, is more than the %s available"
                     % (_size(doc["peak_bytes"]), _size(doc["available_bytes"])))
    sugg = ["instead: %s" % s["text"] for s in doc.get("suggestions", [])]
    assume = ["assumed: %s" % a for a in doc.get("assumptions", [])]
    out = "\n".join(lines + warns + sugg + assume)
    style = "color:#a00;font-weight:bold"
    h = "<p><b>memtrace predict</b> <code>%s</code></p>" % html.escape(expr)
    h += "<pre>%s</pre>" % html.escape("\n".join(lines[1:]))
    h += "".join("<p style=\"%s\">%s</p>" % (style, html.escape(w)) for w in warns)
    if sugg:
        h += "<ul>%s</ul>" % "".join("<li>%s</li>" % html.escape(s) for s in sugg)
    h += _paragraphs(assume)
    return _show(Report(out, h, doc))


# -- %memtrace leaks ----------------------------------------------------------

_KEEP = 6          # dumps kept: memtrace-leaks needs 3, and 5 or more for p < 0.05
_watches = {}      # id(recorder) -> _Watch
# Types that gained less over the dumps kept are not judged: a notebook's
# history (In, _iN: each cell's source) and this watcher's list of dumps
# grow by some hundred bytes a cell, and memtrace-leaks calls a rise in
# every dump a leak, however small. What is held in Out (a displayed
# frame) is far above it.
_MIN_GROWTH = "65536"  # bytes: memtrace-leaks takes no units here


class _Watch:
    """A heap dump after every cell while started; the last _KEEP kept."""

    def __init__(self, recorder):
        self.recorder = recorder   # held, so that its id is not reused
        self.dumps = []
        self.active = False

    def directory(self):
        d = os.path.join(self.recorder.dump_dir(), "leaks")
        os.makedirs(d, exist_ok=True)
        return d

    def __call__(self, cell):
        try:
            path = _new_file(self.directory(), "cell-%d" % cell["id"])
        except OSError as e:
            return self.fail(e)
        try:
            # collect=True: garbage cycles waiting for the collector are
            # not growth.
            dump_heap(path, label="after cell %d" % cell["id"], collect=True)
        except OSError as e:
            _drop_empty(path)
            return self.fail(e)
        except BaseException:
            _drop_empty(path)
            raise
        self.dumps.append(path)
        while len(self.dumps) > _KEEP:
            old = self.dumps.pop(0)
            try:
                os.unlink(old)
            except OSError:
                pass

    def fail(self, error):
        """A dump that cannot be written (a full disk) stops the dumps,
        said once, rather than failing every cell after."""
        self.stop()
        print("memtrace leaks: stopped: %s" % error, file=sys.stderr)

    def start(self):
        # A new series: the dumps of an earlier one (ours) are dropped.
        for p in self.dumps:
            try:
                os.unlink(p)
            except OSError:
                pass
        self.dumps = []
        if self not in self.recorder.after_cell:
            self.recorder.after_cell.append(self)
        self.active = True

    def stop(self):
        while self in self.recorder.after_cell:
            self.recorder.after_cell.remove(self)
        self.active = False


def _watch(recorder, create):
    w = _watches.get(id(recorder))
    if w is not None and w.recorder is recorder:
        return w
    if not create:
        return None
    w = _watches[id(recorder)] = _Watch(recorder)
    return w


def leaks(recorder, shell, args):
    """%memtrace leaks start: a heap dump after every cell (the last 6
    kept, in recorder.dump_dir()/leaks); stop: no more dumps;
    %memtrace leaks [--min-growth BYTES]: memtrace-leaks on the dumps
    taken, judging the types that gained BYTES or more (default 65536)."""
    words = _words("leaks", args)
    min_growth = _MIN_GROWTH
    if words and words[0].startswith("--min-growth"):
        opt = words.pop(0)
        if "=" in opt:
            min_growth = opt.split("=", 1)[1]
        elif words:
            min_growth = words.pop(0)
        else:
            min_growth = ""
        if not min_growth or words:
            raise MagicError("leaks: --min-growth: one size is needed (usage: %memtrace leaks [--min-growth BYTES])")
    if len(words) > 1 or words and words[0] not in ("start", "stop"):
        raise MagicError("leaks: %s: not a leaks command (usage: %%memtrace leaks [start|stop] or "
                         "%%memtrace leaks [--min-growth BYTES])" % " ".join(words))
    if words and words[0] == "start":
        w = _watch(recorder, True)
        w.start()
        msg = ("memtrace leaks: a heap dump after every cell from now on, into %s (the last %d kept); "
               "run cells, then %%memtrace leaks" % (w.directory(), _KEEP))
        return _show(Report(msg, _paragraphs([msg]), {"directory": w.directory()}))
    w = _watch(recorder, False)
    if words and words[0] == "stop":
        if w is None or not w.active:
            raise MagicError("leaks stop: not started (%memtrace leaks start)")
        w.stop()
        msg = "memtrace leaks: stopped after %d dumps" % len(w.dumps)
        return _show(Report(msg, _paragraphs([msg]), {"dumps": list(w.dumps)}))
    if w is None:
        raise MagicError("leaks: no dumps: start them with %memtrace leaks start, then run cells")
    if len(w.dumps) < 3:
        more = 3 - len(w.dumps)
        msg = ("memtrace leaks: %d dump%s taken; memtrace-leaks needs 3: run %d more cell%s%s"
               % (len(w.dumps), "" if len(w.dumps) == 1 else "s", more, "" if more == 1 else "s",
                  "" if w.active else " after %memtrace leaks start"))
        return _show(Report(msg, _paragraphs([msg]), {"dumps": list(w.dumps), "more": more}))
    doc = json.loads(_tools.run("memtrace-leaks", "--format", "json", "--min-growth", min_growth, *w.dumps).stdout)
    doc["dumps"] = list(w.dumps)
    head = "memtrace leaks: %d dumps, %d suspect%s" % (len(w.dumps), len(doc["suspects"]),
                                                      "" if len(doc["suspects"]) == 1 else "s")
    rows = []
    for s in doc["suspects"]:
        ap = s.get("accumulation_point")
        where = "%s: %s" % (ap["type"], ap.get("path") or "(no path to a root)") if ap else ""
        rows.append((s["rank"], s["type"], "%+g" % s["growth_objects_per_snapshot"],
                     _signed(s["growth_bytes_per_snapshot"]), "%.2f" % s["confidence"], where))
    lines = [head]
    h = _paragraphs([head])
    if rows:
        t, ht = _table(["#", "type", "objects/dump", "bytes/dump", "confidence", "accumulates in"], rows,
                       right=(0, 2, 3, 4))
        lines.append(t)
        h += ht
    if len(w.dumps) < 5:
        note = "with %d dumps no trend is significant (p < 0.05 needs 5): run more cells for a firmer answer" \
            % len(w.dumps)
        lines.append(note)
        h += _paragraphs([note])
    grow = ["growing but not leaking: %s (%s)" % (g["type"], g["kind"]) for g in doc.get("not_leaking", [])]
    lines += grow
    h += _paragraphs(grow)
    return _show(Report("\n".join(lines), h, doc))


# -- %%memtrace ---------------------------------------------------------------


# Where the RSS peak is reset (a test points it at a file that cannot be written).
_CLEAR_REFS = "/proc/self/clear_refs"


class _Status:
    """VmRSS and VmHWM from /proc/self/status, read through one open file;
    the peak reset through /proc/self/clear_refs ("5", Linux 4.0+)."""

    def __init__(self):
        self.status = self.clear = None
        try:
            self.status = os.open("/proc/self/status", os.O_RDONLY)
            self.clear = os.open(_CLEAR_REFS, os.O_WRONLY)
            os.write(self.clear, b"5")
            self.read()
        except (OSError, ValueError, KeyError):
            self.close()
            self.clear = None

    @property
    def ok(self):
        return self.clear is not None

    def reset(self):
        os.write(self.clear, b"5")

    def read(self):
        """(VmRSS, VmHWM) in bytes."""
        text = os.pread(self.status, 8192, 0)
        got = {}
        for key in (b"VmRSS:", b"VmHWM:"):
            i = text.index(key)
            got[key] = int(text[i + len(key):text.index(b"kB", i)]) * 1024
        return got[b"VmRSS:"], got[b"VmHWM:"]

    def close(self):
        for fd in (self.status, self.clear):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


class _LineTracer:
    """Line events of one code object's frame (the cell's, not the
    functions it calls: their memory counts to the line that called them).
    A line lasts from its line event to the next line event or the return:
    its traced peak is tracemalloc's peak over the traced size when it
    began, its net the traced size after less before, its rss peak VmHWM
    after (the high-water mark reset when it began) less VmRSS when it
    began."""

    def __init__(self, code, status):
        self.code = code
        self.st = status
        self.lines = {}    # lineno -> [hits, peak, net, rss_peak]
        self.line = None
        self.traced0 = 0
        self.rss0 = 0
        self.rss_last = None
        self.hwm_max = 0   # the highest VmHWM any line saw: the cell's peak

    def global_trace(self, frame, event, arg):
        return self.local_trace if frame.f_code is self.code else None

    def local_trace(self, frame, event, arg):
        if event == "line":
            self.end()
            self.begin(frame.f_lineno)
        elif event == "return":
            self.end()
        return self.local_trace

    def begin(self, lineno):
        self.line = lineno
        if self.st.ok:
            self.st.reset()
            # The rss the last line ended with: one read of the status a
            # line rather than two (each ~9 us; a line event costs ~25 us).
            self.rss0 = self.rss_last if self.rss_last is not None else self.st.read()[0]
        self.traced0 = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    def end(self):
        if self.line is None:
            return
        cur, peak = tracemalloc.get_traced_memory()
        hwm = 0
        if self.st.ok:
            self.rss_last, hwm = self.st.read()
            self.hwm_max = max(self.hwm_max, hwm)
        s = self.lines.get(self.line)
        if s is None:
            s = self.lines[self.line] = [0, 0, 0, 0]
        s[0] += 1
        s[1] = max(s[1], peak - self.traced0)
        s[2] += cur - self.traced0
        s[3] = max(s[3], hwm - self.rss0)
        self.line = None


_profiles = 0


def profile_cell(recorder, shell, line, cell):
    """%%memtrace: runs the cell under a line tracer and shows, per line of
    the cell, its hits, the peak of traced memory and of RSS while it ran
    and the traced memory it left (a loop's lines: the largest peak, the
    sum of the nets). An exception of the cell propagates after the
    report is shown."""
    global _profiles
    if line.strip():
        raise MagicError("%%%%memtrace: %s: takes no arguments" % line.strip())
    _profiles += 1
    filename = "<memtrace-cell-%d-%d>" % (recorder.cell_id, _profiles)
    # IPython's syntax (%time, !ls) as IPython runs it: each on its own line.
    source = shell.transform_cell(cell)
    tree = ast.parse(source, filename)
    show = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not cell.rstrip().endswith(";"):
        # The value of a last expression is shown, as in any cell.
        show = "_memtrace_show_%d" % _profiles
        last = tree.body[-1]
        tree.body[-1] = ast.copy_location(ast.Expr(ast.Call(ast.Name(show, ast.Load()), [last.value], [])), last)
        ast.fix_missing_locations(tree)
        shell.user_ns[show] = shell.displayhook
    code = compile(tree, filename, "exec")
    # Tracebacks of the cell show its lines.
    linecache.cache[filename] = (len(cell), None, cell.splitlines(True), filename)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    status = _Status()
    tracer = _LineTracer(code, status)
    error = None
    previous = sys.gettrace()
    sys.settrace(tracer.global_trace)
    try:
        exec(code, shell.user_ns)
    except BaseException as e:  # shown after the report
        error = e
    finally:
        sys.settrace(previous)
        tracer.end()
        status.close()
        if started:
            tracemalloc.stop()
        if show is not None:
            shell.user_ns.pop(show, None)
    # Each line reset the high-water mark the cell recorder reset before
    # the cell: give it the cell's own peak back.
    observe = getattr(recorder, "observe_peak", None)
    if observe is not None and tracer.hwm_max:
        observe(tracer.hwm_max)
    report = _show(_profile_report(cell, tracer, status.ok, started, error))
    if error is not None:
        raise error
    return report


def _profile_report(cell, tracer, rss_ok, started, error):
    src = cell.splitlines()
    stats = tracer.lines
    top = max(stats, key=lambda n: stats[n][1]) if stats else None
    rows, data, mark = [], [], None
    for n, text in enumerate(src, 1):
        s = stats.get(n)
        if s is None:
            rows.append((n, "", "", "", "", text))
            continue
        hits, peak, net, rss_peak = s
        if n == top:
            mark = len(rows)
        rows.append((n, hits, _size(peak), _signed(net), _size(rss_peak) if rss_ok else "n/a",
                     text + ("   <- highest peak" if n == top else "")))
        data.append({"line": n, "hits": hits, "peak": peak, "net": net, "rss_peak": rss_peak if rss_ok else None,
                     "source": text})
    head = "memtrace: the cell line by line (traced memory%s; peaks over each line's start)" % (
        ", traced from this cell on" if started else "")
    notes = [] if rss_ok else ["rss peak: not available (/proc/self/clear_refs cannot be written here)"]
    if error is not None:
        notes.append("the cell raised %s: %s" % (type(error).__name__, error))
    t, h = _table(["line", "hits", "peak", "net", "rss peak", "source"], rows, right=(0, 1, 2, 3, 4), mark=mark)
    text = "\n".join([head, t] + notes)
    return Report(text, _paragraphs([head]) + h + _paragraphs(notes),
                  {"lines": data, "top": top, "rss_available": rss_ok})
