"""Makes the damaged copies under testdata/damaged/ from the good files,
finding blocks with the independent reader (tests/python/spec_reader.py).
Each copy has one kind of damage; tests/cli expects each one's report."""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))
import spec_reader  # noqa: E402

os.makedirs(os.path.join(HERE, "damaged"), exist_ok=True)


def read(name):
    with open(os.path.join(HERE, name), "rb") as f:
        return bytearray(f.read())


def write(name, data):
    with open(os.path.join(HERE, "damaged", name), "wb") as f:
        f.write(data)


small = read("heap-small.snap")
medium = read("heap-medium.snap")
snap = spec_reader.Snapshot(os.path.join(HERE, "heap-medium.snap"))
objects = [b for b in snap.blocks if b["kind"] == 4]
refs = [b for b in snap.blocks if b["kind"] == 5]
index_at = struct.unpack("<Q", medium[-24:-16])[0]

# A byte flipped in the payload of the third objects block.
d = bytearray(medium)
b = objects[2]
d[b["offset"] + 36 + b["stored"] // 2] ^= 0x01
write("flipped-payload.snap", d)

# A byte flipped in the header of the second refs block.
d = bytearray(medium)
d[refs[1]["offset"] + 13] ^= 0x40
write("flipped-header.snap", d)

# Cut in the middle of the fifth objects block: no index, a block cut short.
b = objects[4]
write("truncated.snap", medium[: b["offset"] + 36 + b["stored"] // 2])

# Cut where the index begins: every block is whole, but the file was not closed.
write("unclosed.snap", medium[:index_at])

# Header damage.
d = bytearray(small)
d[1] = ord("X")
write("bad-magic.snap", d)
d = bytearray(small)
d[8:10] = struct.pack("<H", 2)
write("future-version.snap", d)
write("empty.snap", b"")
