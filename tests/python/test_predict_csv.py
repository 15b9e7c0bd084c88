"""memtrace-predict --op read_csv on the CSV dialect pandas reads: CRLF
line ends, quoted fields with doubled quotes, commas and line breaks,
booleans in each spelling, empty fields, a file without a final line
break. Each file is small enough to be read whole, so the rows are exact;
pandas.read_csv is the oracle for the rows and (within the model's 5%)
for the result's memory_usage(deep=True)."""

import json
import subprocess

import pandas as pd
import pytest

from conftest import tool


def predict_csv(path):
    out = subprocess.run([tool("memtrace-predict"), "--format", "json", "--available", "1TiB", "--op", "read_csv",
                          "--csv", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def rows(n, row):
    return "".join(row(i) for i in range(n))


CASES = {
    # Windows line ends, and no line break after the last row.
    "crlf": "a,b\r\n" + rows(400, lambda i: "%d,%d.5\r\n" % (i, i)) + "400,1.5",
    # Quoted text with doubled quotes, commas and line breaks inside.
    "quoted": "id,text\n" + rows(300, lambda i: '%d,"say ""hi"", %d\nthen go"\n' % (i, i % 7)),
    # Booleans as pandas reads them, True/False and true/false mixed.
    "bools": "flag,n\n" + rows(500, lambda i: "%s,%d\n" % (["True", "false", "true", "False"][i % 4], i)),
    # Empty fields: a float column with NaN, a text column with NaN.
    "empty": "x,name\n" + rows(500, lambda i: "%s,%s\n" % ("" if i % 3 == 0 else "%d.25" % i,
                                                         "" if i % 5 == 0 else "n%d" % (i % 11))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_read_csv_dialect_matches_pandas(tmp_path, name):
    path = tmp_path / (name + ".csv")
    path.write_bytes(CASES[name].encode())
    df = pd.read_csv(path)
    pred = predict_csv(path)
    assert pred["result_rows"] == len(df)
    assert pred["input_bytes"] == len(CASES[name].encode())
    assert pred["result_bytes"] == pytest.approx(int(df.memory_usage(deep=True).sum()), rel=0.05)
