#!/usr/bin/python3
"""Makes the fuzz targets' regression files (tests/fuzz/regressions/) and
the container seeds (tests/fuzz/seeds/fuzz_container/): each a hostile
input of issue 30 that a fuzzer that forges valid CRCs and frames finds,
written here with a container writer of its own, from formats/SPEC.md.

    make_regressions.py                  rewrite the checked-in files
    make_regressions.py --generated DIR  write the big ones (over ~200 KB)
                                         under DIR/<target>/, at test time

tests/fuzz/regressions/README.md says which defect each file is.
Needs /usr/bin/python3 with zstandard and msgpack."""

import argparse
import os
import struct
import zlib

import msgpack
import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = ["fuzz_reader", "fuzz_container", "fuzz_heapjson", "fuzz_graph", "fuzz_rules", "fuzz_policy", "fuzz_trace",
           "fuzz_predict", "fuzz_torch"]

MAGIC = b"\x89MTS\r\n\x1a\n"
MARKER = b"\xb5MTBLK\r\n"
END = b"MTSEND\r\n"
META, STRINGS, TYPES, OBJECTS, REFS, ROOTS = 1, 2, 3, 4, 5, 6
INDEX = 0xFF00


def frame(raw, level=3):
    """One zstd frame with a content checksum and the content size (3.2)."""
    c = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
    return c.compress(raw)


def block(kind, count, first, raw, level=3):
    """A block (3.1): the 36-byte header, CRC-32 over its first 32 bytes."""
    z = frame(raw, level)
    h = MARKER + struct.pack("<HHIQII", kind, 0, count, first, len(z), len(raw))
    return h + struct.pack("<I", zlib.crc32(h)) + z, len(z), len(raw)


def records(recs):
    return b"".join(msgpack.packb(r, use_bin_type=True) for r in recs)


def snap(blocks, closed=True):
    """blocks: (kind, first, payload bytes, count). Header, blocks, index, trailer (5)."""
    out = bytearray(MAGIC + struct.pack("<HHI", 1, 1, 0))
    index = []
    for kind, first, raw, count in blocks:
        b, stored, rawlen = block(kind, count, first, raw, level=19 if len(raw) > 1 << 20 else 3)
        index.append([len(out), kind, count, first, stored, rawlen])
        out += b
    if closed:
        at = len(out)
        b, _, _ = block(INDEX, len(index), 0, records(index))
        out += b
        t = struct.pack("<QI", at, len(index))
        out += t + struct.pack("<I", zlib.crc32(t)) + END
    return bytes(out)


def kinds(types=((1, "T"),)):
    return [(TYPES, 0, records([list(t) for t in types]), len(types))]


def objects_at(first, objs):
    return (OBJECTS, first, records(objs), len(objs))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def checked_in():
    reg = os.path.join(HERE, "regressions")
    cont = os.path.join(reg, "fuzz_container")

    # Seeds: a small sound file of every kind the loader builds a graph from.
    good = kinds(((1, "dict"), (2, "list"), (3, "str"))) + [
        (STRINGS, 0, records([[1, "main"], [2, "x"]]), 2),
        objects_at(0, [[100, 1, 232], [101, 2, 88], [102, 3, 54], [103, 3, 61]]),
        objects_at(4, [[104, 2, 120, 0, 0, 1]]),
        (REFS, 0, records([[0, 1, 0, "items"], [1, 2], [1, 3], [4, 0], [2, 2]]), 5),
        (ROOTS, 0, records([[0, "module", "main"], [4, "stack"]]), 2),
    ]
    write(os.path.join(HERE, "seeds", "fuzz_container", "container-small.snap"), snap(good))
    write(os.path.join(HERE, "seeds", "fuzz_container", "container-unclosed.snap"), snap(good, closed=False))

    # Defect 1: an objects block whose first is 2^64-1 (count wraps to 0).
    write(os.path.join(cont, "d01-first-2p64-1.snap"),
          snap(kinds() + [objects_at(2**64 - 1, [[1, 1, 16]]), (ROOTS, 0, records([[0, "module"]]), 1)]))

    # Defect 5: a forged sequence gap, 2^26 and 2^31-3 placeholders asked for,
    # with references that then land on placeholders.
    for name, first in (("d05-first-2p26.snap", 2**26), ("d05-first-2p31-3.snap", 2**31 - 3)):
        write(os.path.join(cont, name),
              snap(kinds() + [objects_at(0, [[1, 1, 16]]), objects_at(first, [[2, 1, 16], [3, 1, 16]]),
                              (REFS, 0, records([[0, first], [first, first + 1]]), 2),
                              (ROOTS, 0, records([[0, "module"]]), 1)]))

    # Defect 11: blocks within the format's 256 MiB limit that decompress to
    # near 256 MiB of 4-byte records each: ~67 million objects and as many
    # references from a file of a few KB.
    n = 67_000_000
    write(os.path.join(cont, "d11-amplified.snap"),
          snap(kinds() + [(OBJECTS, 0, b"\x93\x00\x01\x01" * n, n), (REFS, 0, b"\x93\x00\x00\x00" * n, n)]))

    # Defect 14: duplicate object ids, sizes summing past 2^64.
    # The meta makes a diff of the file against itself match objects by id.
    meta = (META, 0, records([["pid", 4242], ["host", "h"]]), 2)
    write(os.path.join(cont, "d14-duplicate-ids-size-overflow.snap"),
          snap([meta] + kinds() + [objects_at(0, [[7, 1, 2**63], [7, 1, 2**63], [8, 1, 2**64 - 1]]),
                          (ROOTS, 0, records([[0, "module"], [1, "module"], [2, "module"]]), 3)]))

    # Defect 17: an inline shape in hexadecimal (fuzz_predict: an odd first
    # byte means inline shapes).
    write(os.path.join(reg, "fuzz_predict", "d17-shape-hex.txt"), b"\x01a=0x10x6")
    # Defect 17: two frames of 100000 columns (fuzz_predict: an odd first
    # byte): concat looked each column up by a scan of every frame's
    # columns, 2 x 10^10 string compares (CI's libFuzzer timeout).
    write(os.path.join(reg, "fuzz_predict", "d17-wide-concat.txt"), b"\x01a=1x100000,b=1x100000")

    # Defect 9, small enough to keep: nesting 10 000 deep in a rule file and
    # a policy (the big ones are generated).
    for t in ("fuzz_rules", "fuzz_policy"):
        write(os.path.join(reg, t, "d09-nesting-10k.yaml"), b"rules:\n  - " + b"[" * 10_000 + b"]" * 10_000 + b"\n")

    # Defect 19: a NUL inside a type name must not make it another type.
    write(os.path.join(reg, "fuzz_heapjson", "d19-nul-in-type-name.json"),
          b'{"objects": [{"id": 1, "type": "dict\\u0000x", "size": 8, "refs": [{"id": 2}]},'
          b' {"id": 2, "type": "dict", "size": 8}], "roots": [{"id": 1, "kind": "module"}]}\n')

    # Issue 23, the PyTorch snapshot importer's pickle reader: what a
    # hostile pickle tries (each refused with its offset, in bounded memory).
    t = os.path.join(reg, "fuzz_torch")
    seg = lambda n: b"}(X\x07\x00\x00\x00address" + n + b"X\x06\x00\x00\x00deviceK\x00X\n\x00\x00\x00total_sizeK\x01u"
    root = lambda segs: b"\x80\x04}(X\x08\x00\x00\x00segments](" + segs + b"eu."
    # a list appended to itself (a cycle: never walked for ever, never leaked)
    write(os.path.join(t, "t23-cycle.pickle"), b"\x80\x02}X\x08\x00\x00\x00segments]q\x00h\x00as.")
    # lists nested 200 deep, and 200 MARKs
    write(os.path.join(t, "t23-nesting-200.pickle"), b"\x80\x02" + b"]" * 200 + b"a" * 199 + b".")
    write(os.path.join(t, "t23-marks-200.pickle"), b"\x80\x02" + b"(" * 200 + b".")
    # lengths of 2^31 - 1 and 2^62 in a 20-byte file
    write(os.path.join(t, "t23-binunicode-2p31.pickle"), b"\x80\x02X\xff\xff\xff\x7fabc.")
    write(os.path.join(t, "t23-binunicode8-2p62.pickle"), b"\x80\x04\x8d" + struct.pack("<Q", 1 << 62) + b".")
    # a LONG4 of 2^31 - 1 bytes, and 9-byte LONG1 above and at 2^64 - 1
    write(os.path.join(t, "t23-long4-huge.pickle"), b"\x80\x02\x8b\xff\xff\xff\x7f.")
    write(os.path.join(t, "t23-long1-9-bytes.pickle"), root(seg(b"\x8a\x09" + b"\xff" * 8 + b"\x00")))
    write(os.path.join(t, "t23-long1-9-bytes-over.pickle"), root(seg(b"\x8a\x09" + b"\xff" * 8 + b"\x01")))
    # a memo get of a segment already converted, and of a slot 2^32 - 1
    write(os.path.join(t, "t23-memo-get-converted.pickle"),
          b"\x80\x04}(X\x08\x00\x00\x00segments](" + seg(b"K\x01") + b"\x94eX\x01\x00\x00\x00xh\x00u.")
    write(os.path.join(t, "t23-long-binput-2p32.pickle"), b"\x80\x02Nr\xff\xff\xff\xffj\xff\xff\xff\xff0.")
    # code: GLOBAL os.system and REDUCE
    write(os.path.join(t, "t23-global-reduce.pickle"), b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueR.")


def generated(out):
    for t in TARGETS:
        os.makedirs(os.path.join(out, t), exist_ok=True)
    # Defect 9: 40 000 distinct keys in one mapping (quadratic duplicate-key
    # check), and 100 000 nested lists (~200 KB), as a rule file and a policy.
    keys = "".join("k%d: %d\n" % (i, i) for i in range(40_000)).encode()
    deep = b"rules: " + b"[" * 100_000 + b"]" * 100_000 + b"\n"
    for t in ("fuzz_rules", "fuzz_policy"):
        write(os.path.join(out, t, "d09-40k-keys.yaml"), keys)
        write(os.path.join(out, t, "d09-deep-nesting.yaml"), deep)
    # Defect 17: a CSV whose header is 2 MB of commas (fuzz_predict: an even
    # first byte means CSV), and one of 8 MB: 2 MB takes 6 to 18 s, near the
    # replay's 10 s bound, the quadratic 8 MB minutes.
    # Issue 23: a trace of 300 000 entries sharing one frame list, whose
    # pickle (~10 MB) the importer must convert in memory that follows
    # the output, and 100 000 MARK-less nested lists.
    entry = b"}(X\x06\x00\x00\x00actionX\x05\x00\x00\x00allocX\x04\x00\x00\x00addrK\x01X\x06\x00\x00\x00framesh\x01u"
    frames = b"](}(X\x04\x00\x00\x00nameX\x01\x00\x00\x00fX\x04\x00\x00\x00lineK\x01ue"
    trace = b"\x80\x04" + frames + b"q\x010}(X\r\x00\x00\x00device_traces]]"
    batches = []
    for _ in range(300):
        batches.append(b"(" + entry * 1000 + b"e")
    write(os.path.join(out, "fuzz_torch", "t23-300k-entries.pickle"), trace + b"".join(batches) + b"au.")
    write(os.path.join(out, "fuzz_torch", "t23-nesting-100k.pickle"), b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b".")
    for mb in (2, 8):
        write(os.path.join(out, "fuzz_predict", "d17-csv-%dmb-commas.csv" % mb), b"\x00" + b"," * (mb << 20) + b"\n1\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--generated", metavar="DIR")
    a = ap.parse_args()
    if a.generated:
        generated(a.generated)
    else:
        checked_in()


if __name__ == "__main__":
    main()
