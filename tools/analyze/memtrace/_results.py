"""The shapes memtrace.analyze's results take (shared by its modules).

A Result holds plain values (numbers, strings, lists, dicts, exactly the
fields of the tool's --format json output) as attributes, and its tables
as pandas DataFrames. repr() is the tool's text in short; _repr_html_()
shows the same in a notebook.
"""

import html


def table(rows, columns):
    """rows (a list of dicts, or of tuples in the order of columns) as a
    pandas DataFrame with exactly these columns, also when rows is empty.
    pandas is imported here, on first use, so that importing
    memtrace.analyze costs nothing without it."""
    import pandas

    if rows and isinstance(rows[0], dict):
        return pandas.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    return pandas.DataFrame(list(rows), columns=columns)


def _is_frame(v):
    """Whether v is a pandas DataFrame (without importing pandas)."""
    return type(v).__name__ == "DataFrame" and type(v).__module__.startswith("pandas")


class Result:
    """An analysis' result. Subclasses set _title and list in _fields the
    scalar attributes repr shows and in _tables the DataFrame attributes."""

    _title = "result"
    _fields = ()
    _tables = ()

    def __init__(self, **values):
        self.__dict__.update(values)

    def to_dict(self):
        """Every field, tables (every DataFrame attribute, shown in repr or
        not) as lists of records: what --format json says."""
        out = {}
        for k, v in self.__dict__.items():
            if k.startswith("_"):
                continue
            out[k] = v.to_dict("records") if _is_frame(v) else v
        return out

    def __repr__(self):
        lines = ["<%s>" % self._title]
        for f in self._fields:
            lines.append("  %s: %s" % (f, getattr(self, f, None)))
        for t in self._tables:
            df = getattr(self, t, None)
            if df is not None:
                lines.append("  %s: %d rows" % (t, len(df)))
                lines.extend("    " + line for line in df.head(10).to_string(index=False).splitlines())
        return "\n".join(lines)

    def _repr_html_(self):
        parts = ["<div><strong>%s</strong><table>" % html.escape(self._title)]
        for f in self._fields:
            parts.append("<tr><th style='text-align:left'>%s</th><td>%s</td></tr>"
                         % (html.escape(f), html.escape(str(getattr(self, f, None)))))
        parts.append("</table>")
        for t in self._tables:
            df = getattr(self, t, None)
            if df is not None:
                parts.append("<p>%s (%d rows)</p>%s" % (html.escape(t), len(df), df.head(50).to_html(index=False)))
        parts.append("</div>")
        return "".join(parts)
