"""Makes the hostile files under testdata/damaged/ (beside damage.py's): each is a well-formed
container (sound CRCs, zstd frames with checksums, a closed index) whose
numbers lie, so that a reader must refuse it by checking them, not by
noticing damage. The script is the source; the files are the fixtures
(tests/cli/cases/info/hostile-*, graph/hostile-*, tests/unit/format/test_damage.c;
the fuzzers replay testdata/damaged/).
Usage: python3 testdata/hostile.py"""

import os
import struct
import zlib

import msgpack
import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "damaged")
MAGIC = b"\x89MTS\r\n\x1a\n"
MARKER = b"\xb5MTBLK\r\n"
META, TYPE, OBJECT, REF, ROOT, INDEX = 1, 3, 4, 5, 6, 0xFF00


def frame(raw):
    return zstandard.ZstdCompressor(level=19, write_checksum=True, write_content_size=True).compress(raw)


def block(kind, count, first, raw, stored=None):
    z = frame(raw) if stored is None else stored
    h = MARKER + struct.pack("<HHIQII", kind, 0, count, first, len(z), len(raw))
    return h + struct.pack("<I", zlib.crc32(h)) + z, (kind, count, first, len(z), len(raw))


def records(recs):
    return b"".join(msgpack.packb(r) for r in recs)


def snap(name, blocks):
    """blocks: (kind, count, first, raw bytes); writes a closed file."""
    out = bytearray(MAGIC + struct.pack("<HHI", 1, 2, 0))
    index = []
    for kind, count, first, raw in blocks:
        b, (k, c, f, s, r) = block(kind, count, first, raw)
        index.append([len(out), k, c, f, s, r])
        out += b
    at = len(out)
    ib, _ = block(INDEX, len(index), 0, records(index))
    out += ib
    t = struct.pack("<QI", at, len(index))
    out += t + struct.pack("<I", zlib.crc32(t)) + b"MTSEND\r\n"
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(out)


def heap(objects, first=0, refs=(), types=((1, "dict"),)):
    bl = [(META, 1, 0, records([["tool", "hostile.py"]])),
          (TYPE, len(types), 0, records([list(t) for t in types])),
          (OBJECT, len(objects), first, records(objects))]
    if refs:
        bl.append((REF, len(refs), 0, records(refs)))
    bl.append((ROOT, 1, 0, records([[0, "module", "app"]])))
    return bl


os.makedirs(OUT, exist_ok=True)

# Defect 1: first = 2^64 - 1 wrapped first + count to 0, and the loader
# wrote 4 billion placeholders into a one-slot array.
snap("first-wraps.snap", heap([[0x1000, 1, 64]], first=2**64 - 1))

# Defect 5: a sequence gap no damage explains. 2^26 cost 1.5 GB of
# placeholders; 2^31 - 3 asked for 48 GiB; references then named
# placeholders instead of the real objects.
objs = [[0x1000 + 48 * i, 1, 64] for i in range(3)]
snap("gap-2p26.snap", heap(objs, first=2**26, refs=[[2**26, 2**26 + 1], [2**26 + 1, 2**26 + 2]]))
snap("gap-2p31.snap", heap(objs[:2], first=2**31 - 3))

# Defect 11: decompression amplification inside the 256 MiB block limit.
# 32 MiB of one 4-byte objects record (count = raw / 4) compress to about
# 1 KB; the loader allocated arrays for 8M objects from it.
one = records([[0, 1, 0]])
n = (32 << 20) // len(one)
snap("amplified.snap", [(TYPE, 1, 0, records([[1, "dict"]])), (OBJECT, n, 0, one * n)])

# Defect 14: two objects with one id (a diff of the file with itself saw
# one new and one freed), and sizes whose sum passes 2^64.
snap("duplicate-id.snap", heap([[0x1000, 1, 64], [0x2000, 1, 32], [0x1000, 1, 64]]))
snap("huge-sizes.snap", heap([[0x1000 + 48 * i, 1, 2**63 - 1 + i] for i in range(3)]))
# Sizes 2^63, 2^63 and 16 in three types: each type's total fits, their
# sum wraps to 16 (graph, export, diff and gate summed without saturating).
snap("huge-sizes-types.snap", heap([[0x1000, 1, 2**63], [0x1030, 2, 2**63], [0x1060, 3, 16]],
                                   types=((1, "dict"), (2, "list"), (3, "int"))))
# A root of 16 bytes holds two objects of 2^63 bytes in a cycle: the
# retained sizes, the type's retained bytes and the cycle's bytes wrapped.
snap("huge-sizes-cycle.snap", heap([[0x1000, 3, 16], [0x1030, 1, 2**63], [0x1060, 1, 2**63]],
                                   refs=[[0, 1], [0, 2], [1, 2], [2, 1]], types=((1, "dict"), (3, "int"))))


# An index that lies (issue 30, follow-up): a sound copy of heap-small.snap
# whose index entry for its objects block alone is changed, the index
# re-encoded and its block header and the trailer made to match. A reader
# that trusted it dropped the intact block and reported the forged count;
# it must scan instead (SPEC.md section 5) and load every object.
def relie(name, edit):
    with open(os.path.join(HERE, "heap-small.snap"), "rb") as f:
        data = f.read()
    at, nb = struct.unpack("<QI", data[-24:-12])
    stored = struct.unpack("<I", data[at + 24:at + 28])[0]
    raw = zstandard.ZstdDecompressor().decompress(data[at + 36:at + 36 + stored])
    u = msgpack.Unpacker()
    u.feed(raw)
    entries = list(u)
    assert len(entries) == nb
    k = next(i for i, e in enumerate(entries) if e[1] == OBJECT)
    edit(entries, k)
    ib, _ = block(INDEX, nb, 0, records(entries))
    t = struct.pack("<QI", at, nb)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data[:at] + ib + t + struct.pack("<I", zlib.crc32(t)) + b"MTSEND\r\n")


def set_field(field, value):
    def edit(entries, k):
        entries[k][field] = value
    return edit


def into_block(entries, k):
    # The objects block's entry points 8 bytes into it; the entry before
    # it is 8 bytes longer, so that the entries still tile the file.
    entries[k - 1][4] += 8
    entries[k][0] += 8
    entries[k][4] -= 8


# Entry fields: offset, kind, count, first, stored, raw.
relie("index-count.snap", set_field(2, 2**32 - 1))
relie("index-raw.snap", set_field(5, 1))
relie("index-first.snap", set_field(3, 2**31 - 3))
relie("index-kind.snap", set_field(1, REF))
relie("index-into-block.snap", into_block)
