"""Makes the hostile JSON heap documents under testdata/hostile/: each one
is valid JSON that the importer (libanalyze/src/io/heapjson.c) must refuse
with its line and column, or, for the labels, carry through whole.
tests/cli/cases/convert/heapjson-hostile expects each one's report."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hostile")
os.makedirs(OUT, exist_ok=True)


def obj(**kw):
    base = {"id": "1", "type": '"dict"', "size": "8"}
    base.update(kw)
    return "{" + ", ".join(f'"{k}": {v}' for k, v in base.items()) + "}"


def doc(objects, extra=""):
    return '{"objects": [\n  ' + ",\n  ".join(objects) + "\n]" + extra + "}\n"


files = {
    # "\u0000" in a type name made "dict\u0000x" the type "dict".
    "nul-type.json": doc([obj(), obj(id="2", type='"dict\\u0000x"')]),
    # "\u0000" in a key made "size\u0000" the key "size".
    "nul-key.json": doc(['{"id": 1, "type": "dict", "size\\u0000": 8}']),
    "id-over-64-bits.json": doc([obj(id="18446744073709551616")]),
    "negative-size.json": doc([obj(size="-8")]),
    "float-size.json": doc([obj(size="8.5")]),
    "exponent-size.json": doc([obj(size="1e3")]),
    "gen-over-32-bits.json": doc([obj(gen="4294967296")]),
    "negative-ref.json": doc([obj(refs="[-1]")]),
    "float-root.json": doc([obj()], ',\n "roots": [1.5]'),
    # 65 arrays under a key the importer skips: one past the bound.
    "deep.json": '{"x": ' + "[" * 65 + "]" * 65 + ', "objects": []}\n',
    # Labels and root names may hold NUL: they carry their length.
    "nul-label.json": doc([obj(refs='[{"id": 1, "label": "a\\u0000b"}]')],
                          ',\n "roots": [{"id": 1, "kind": "module", "name": "m\\u0000n"}]'),
}
for name, text in files.items():
    with open(os.path.join(OUT, name), "w") as f:
        f.write(text)
