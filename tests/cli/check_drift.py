"""The format's description agrees everywhere it is written down: the
version (major.minor), the record kinds (ids and names) and each kind's
fields (names, types, required or optional, and the minor version that
added them) in formats/SPEC.md, man/man5/memtrace-snap.5, the compiled
schema of formats/ and the independent reader tests/python/spec_reader.py.

The code's side comes from built binaries, not from parsing C: mt-schema
prints the compiled schema table (the index kind's included), and
mt-fixture writes a file whose header says what version the writer writes.

Usage: check_drift.py BUILD SOURCE. Exits 1 naming every mismatch.
"""

import ast
import json
import os
import re
import subprocess
import sys
import tempfile

build, root = sys.argv[1], sys.argv[2]
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL {msg}")


def version(text):
    major, minor = text.split(".")
    return int(major), int(minor)


def vstr(v):
    return f"{v[0]}.{v[1]}" if v else "none"


def latest_log_version(entries):
    """The highest X.Y that starts a change-log entry."""
    return max((version(v) for v in entries), default=None)


def field_list(items, since_re):
    """Fields from 'name type R|O' items; since_re matches the marker that
    opens the fields a later minor version added. Returns
    [(name, type, required, since)], since None for 1.0's fields."""
    out = []
    since = None
    for item in items:
        item = item.strip()
        if not item:
            continue
        m = re.match(since_re, item)
        if m:
            since = version(m.group(1))
            item = item[m.end():].strip()
        parts = item.split()
        if len(parts) != 3 or parts[2] not in ("R", "O"):
            raise ValueError(f"cannot read field {item!r}")
        out.append((parts[0], parts[1], parts[2] == "R", since))
    return out


# --- formats/SPEC.md -------------------------------------------------------

def read_spec(path):
    text = open(path, encoding="utf-8").read()
    spec = {"versions": {}}
    m = re.search(r"(?m)^Version (\d+\.\d+),", text)
    spec["versions"]["title"] = version(m.group(1)) if m else None
    major = re.search(r"(?m)^\| 8 \| 2 \| major version \| (\d+) \|$", text)
    minor = re.search(r"(?m)^\| 10 \| 2 \| minor version \| (\d+) \|$", text)
    spec["versions"]["section 2's header table"] = (
        (int(major.group(1)), int(minor.group(1))) if major and minor else None)
    log = text.split("\n## Change log\n", 1)[1] if "\n## Change log\n" in text else ""
    spec["versions"]["change log"] = latest_log_version(re.findall(r"(?m)^- (\d+\.\d+) \(", log))
    kinds = {}
    table = text.split("\n### 4.2 Kinds\n", 1)[1].lstrip("\n").split("\n\n", 1)[0]
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not re.fullmatch(r"\d+|0x[0-9A-Fa-f]+", cells[0]):
            continue
        kinds[int(cells[0], 0)] = (cells[1], field_list(cells[2].split(","), r"\*(\d+\.\d+):\*"))
    spec["kinds"] = kinds
    return spec


# --- man/man5/memtrace-snap.5 -------------------------------------------

def roff_plain(text):
    text = re.sub(r"\\f[BIRP]", "", text)
    return text.replace("\\-", "-").replace("\\e", "\\")


def man_section(text, name, level="SS"):
    parts = re.split(rf"(?m)^\.{level} {re.escape(name)}\n", text, maxsplit=1)
    if len(parts) != 2:
        return ""
    return re.split(r"(?m)^\.S[HS] ", parts[1], maxsplit=1)[0]


def read_man(path):
    text = open(path, encoding="utf-8").read()
    man = {"versions": {}}
    m = re.search(r"(?m)^memtrace-snap \\- .*, version (\d+\.\d+)$", text)
    man["versions"]["NAME"] = version(m.group(1)) if m else None
    header = roff_plain(man_section(text, "Header"))
    major = re.search(r"major version, (\d+)\.", header)
    minor = re.search(r"minor version, (\d+)\.", header)
    man["versions"]["Header section"] = (int(major.group(1)), int(minor.group(1))) if major and minor else None
    log = man_section(text, "CHANGE LOG", "SH")
    man["versions"]["CHANGE LOG"] = latest_log_version(re.findall(r"(?m)^(\d+\.\d+) \(", log))
    kinds = {}
    records = man_section(text, "Records")
    # One ".TP" paragraph per kind: "N name" on its tag line, then the fields;
    # parenthesised remarks ("(bit 0: weak)") are prose, not fields.
    for para in re.split(r"(?m)^\.TP.*\n", records)[1:]:
        lines = roff_plain(para.split("\n.PP", 1)[0]).strip().splitlines()
        tag = re.fullmatch(r"(\d+) (\w+)", lines[0].strip())
        if not tag:
            continue
        body = re.sub(r"\([^)]*\)", "", " ".join(lines[1:]))
        items = [i for group in body.split(";") for i in group.split(",")]
        kinds[int(tag.group(1))] = (tag.group(2), field_list(items, r"since (\d+\.\d+):"))
    # The index's records are listed in prose, all required.
    index = re.search(r"block of kind (0x[0-9A-Fa-f]+)\s+holding one\s+record per data block\s*\(([^)]*)\)",
                      roff_plain(man_section(text, "Index and trailer")))
    if index:
        items = [i.strip() + " R" for i in index.group(2).split(",")]
        kinds[int(index.group(1), 0)] = ("index", field_list(items, r"$^"))
    man["kinds"] = kinds
    return man


# --- the code ---------------------------------------------------------------

def read_code(build):
    out = subprocess.run([os.path.join(build, "tests", "mt-schema")], capture_output=True, text=True, check=True)
    schema = json.loads(out.stdout)
    code = {"versions": {"MT_FORMAT_MAJOR.MT_FORMAT_MINOR": tuple(schema["version"])}}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "written.snap")
        subprocess.run([os.path.join(build, "tests", "mt-fixture"), path], check=True)
        with open(path, "rb") as f:
            head = f.read(12)
    code["versions"]["the writer's file header"] = (int.from_bytes(head[8:10], "little"),
                                                    int.from_bytes(head[10:12], "little"))
    code["kinds"] = {k["id"]: (k["name"], [(n, t, bool(r), None) for n, t, r in k["fields"]])
                     for k in schema["kinds"]}
    return code


def read_spec_reader(path):
    """spec_reader.KINDS, read without importing the module (which needs
    msgpack and zstandard): it is a literal but for INDEX_KIND."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    consts, kinds = {}, None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name == "KINDS":
                kinds = eval(compile(ast.Expression(node.value), path, "eval"), {"__builtins__": {}}, consts)
            elif isinstance(node.value, ast.Constant):
                consts[name] = node.value.value
    return {"versions": {}, "kinds": {k: (n, [(f, t, bool(r), None) for f, t, r in fields])
                                      for k, (n, fields) in kinds.items()}}


def describe(field):
    name, ftype, required, _ = field
    return f"{name} {ftype} {'R' if required else 'O'}"


def compare_kinds(ref_name, ref, other_name, other, since=False):
    for k in sorted(set(ref) | set(other)):
        kname = (ref.get(k) or other.get(k))[0]
        label = f"kind {k:#x}" if k > 0xFF else f"kind {k}"
        if k not in other:
            fail(f"{other_name}: {label} ({kname}) is missing; {ref_name} has it")
            continue
        if k not in ref:
            fail(f"{other_name}: {label} ({kname}) is not in {ref_name}")
            continue
        if ref[k][0] != other[k][0]:
            fail(f"{other_name}: {label} is named {other[k][0]!r}; {ref_name} names it {ref[k][0]!r}")
        rf, of = ref[k][1], other[k][1]
        for i in range(max(len(rf), len(of))):
            where = f"{other_name}: {label} ({ref[k][0]}) field {i + 1}"
            if i >= len(of):
                fail(f"{where}: missing; {ref_name} has '{describe(rf[i])}'")
            elif i >= len(rf):
                fail(f"{where}: '{describe(of[i])}' is not in {ref_name}")
            elif rf[i][:3] != of[i][:3]:
                fail(f"{where}: '{describe(of[i])}' where {ref_name} has '{describe(rf[i])}'")
            elif since and rf[i][3] != of[i][3]:
                fail(f"{where}: {rf[i][0]} is marked as added in {vstr(of[i][3])}; "
                     f"{ref_name} says {vstr(rf[i][3])}")


sources = {
    "formats/SPEC.md": read_spec(os.path.join(root, "formats", "SPEC.md")),
    "memtrace-snap(5)": read_man(os.path.join(root, "man", "man5", "memtrace-snap.5")),
    "tests/python/spec_reader.py": read_spec_reader(os.path.join(root, "tests", "python", "spec_reader.py")),
}
code = read_code(build)

# The version: one answer, written in eight places.
truth = code["versions"]["MT_FORMAT_MAJOR.MT_FORMAT_MINOR"]
for name, src in [("formats/", code)] + list(sources.items()):
    for where, v in src["versions"].items():
        if v != truth:
            fail(f"{name}: {where} says version {vstr(v)}; MT_FORMAT_MAJOR.MT_FORMAT_MINOR is {vstr(truth)}")

# Kinds and fields: each description against the compiled table.
for name, src in sources.items():
    if not src["kinds"]:
        fail(f"{name}: no record kinds found (did its layout change?)")
    compare_kinds("formats/ (mt-schema)", code["kinds"], name, src["kinds"])
# The minor version that added each field is said only in the two texts.
compare_kinds("formats/SPEC.md", sources["formats/SPEC.md"]["kinds"],
              "memtrace-snap(5)", sources["memtrace-snap(5)"]["kinds"], since=True)
for k, (kname, fields) in sources["formats/SPEC.md"]["kinds"].items():
    for f in fields:
        if f[3] and f[3] > truth:
            fail(f"formats/SPEC.md: kind {k} ({kname}) field {f[0]} is marked as added in {vstr(f[3])}, "
                 f"after the current version {vstr(truth)}")

nkinds = len(code["kinds"])
nfields = sum(len(f) for _, f in code["kinds"].values())
print(f"drift: version {vstr(truth)}, {nkinds} kinds, {nfields} fields compared across "
      f"{len(sources) + 1} sources; {len(failures)} mismatches")
sys.exit(1 if failures else 0)
