"""A reader of the memtrace snapshot format written from formats/SPEC.md
alone, with Python's zlib, Debian's python3-msgpack and python3-zstandard.

It shares no code with the C reader, which makes it an oracle for it: the
tests compare what the C side writes and reports with what this reads.
Kept strict: any deviation from the spec raises SpecError.
"""

import struct
import zlib

import msgpack
import zstandard

MAGIC = b"\x89MTS\r\n\x1a\n"
MARKER = b"\xb5MTBLK\r\n"
END_MAGIC = b"MTSEND\r\n"
INDEX_KIND = 0xFF00
MAX_RAW = 256 << 20

# SPEC.md section 4.2: kind -> (name, [(field, type, required)]).
KINDS = {
    1: ("meta", [("key", "str", 1), ("value", "any", 1)]),
    2: ("strings", [("id", "u32", 1), ("text", "str", 1)]),
    3: ("types", [("id", "u32", 1), ("name", "str", 1)]),
    4: ("objects", [("id", "u64", 1), ("type", "u32", 1), ("size", "u64", 1), ("flags", "u32", 0),
                    ("stack", "u32", 0), ("gen", "u32", 0)]),
    5: ("refs", [("src", "u32", 1), ("dst", "u32", 1), ("flags", "u32", 0), ("label", "str", 0)]),
    6: ("roots", [("obj", "u32", 1), ("kind", "str", 1), ("name", "str", 0)]),
    7: ("frames", [("id", "u32", 1), ("function", "str", 1), ("file", "str", 1), ("line", "u32", 0)]),
    8: ("stacks", [("id", "u32", 1), ("frame", "u32", 1), ("parent", "u32", 0)]),
    9: ("allocs", [("time_ns", "u64", 1), ("op", "u32", 1), ("address", "u64", 1), ("size", "u64", 1),
                   ("stack", "u32", 0), ("thread", "u32", 0), ("domain", "u32", 0), ("count", "u64", 0),
                   ("weight", "f64", 0), ("born_ns", "u64", 0)]),
    10: ("samples", [("time_ns", "u64", 1), ("series", "str", 1), ("value", "f64", 1), ("step", "str", 0),
                     ("span_ns", "u64", 0), ("min", "f64", 0), ("max", "f64", 0), ("count", "u64", 0)]),
    11: ("df_frames", [("id", "u32", 1), ("name", "str", 1), ("rows", "u64", 1), ("columns", "u32", 1),
                       ("index_kind", "str", 0), ("index_bytes", "u64", 0), ("shallow_bytes", "u64", 0),
                       ("deep_bytes", "u64", 0), ("step", "str", 0), ("index_shallow_bytes", "u64", 0),
                       ("index_levels_bytes", "u64", 0), ("index_codes_bytes", "u64", 0),
                       ("index_nlevels", "u32", 0), ("columns_kind", "str", 0),
                       ("columns_levels_bytes", "u64", 0), ("columns_codes_bytes", "u64", 0),
                       ("columns_nlevels", "u32", 0), ("time_ns", "u64", 0), ("flags", "u32", 0),
                       ("real_bytes", "u64", 0), ("shared_bytes", "u64", 0)]),
    12: ("df_columns", [("frame", "u32", 1), ("position", "u32", 1), ("name", "str", 1), ("dtype", "str", 1),
                        ("shallow_bytes", "u64", 1), ("deep_bytes", "u64", 1), ("distinct_bytes", "u64", 0),
                        ("null_count", "u64", 0), ("distinct_count", "u64", 0), ("min", "any", 0),
                        ("max", "any", 0), ("flags", "u32", 0), ("f32_max_rel_error", "f64", 0),
                        ("text_count", "u64", 0), ("len_min", "u64", 0), ("len_max", "u64", 0),
                        ("len_total", "u64", 0), ("categories", "u64", 0), ("categories_bytes", "u64", 0),
                        ("code_bytes", "u32", 0), ("fill_value", "any", 0), ("density", "f64", 0),
                        ("dense_bytes", "u64", 0), ("value_type", "str", 0),
                        ("real_bytes", "u64", 0), ("datetime_format", "str", 0)]),
    13: ("df_values", [("frame", "u32", 1), ("position", "u32", 1), ("value", "any", 1), ("count", "u64", 1)]),
    14: ("df_sketches", [("frame", "u32", 1), ("position", "u32", 1), ("kind", "str", 1), ("data", "bin", 1)]),
    15: ("gpu_devices", [("id", "u32", 1), ("name", "str", 1), ("total_bytes", "u64", 0),
                         ("reserved_bytes", "u64", 0), ("allocated_bytes", "u64", 0)]),
    16: ("gpu_segments", [("device", "u32", 1), ("address", "u64", 1), ("size", "u64", 1), ("stream", "u64", 0),
                          ("pool", "str", 0), ("allocated_bytes", "u64", 0), ("requested_bytes", "u64", 0),
                          ("active_bytes", "u64", 0), ("flags", "u32", 0), ("stack", "u32", 0)]),
    17: ("gpu_blocks", [("device", "u32", 1), ("address", "u64", 1), ("size", "u64", 1), ("requested", "u64", 0),
                        ("state", "str", 0), ("stack", "u32", 0)]),
    18: ("gpu_events", [("device", "u32", 1), ("time_ns", "u64", 1), ("action", "str", 1), ("address", "u64", 1),
                        ("size", "u64", 1), ("stream", "u64", 0), ("stack", "u32", 0),
                        ("device_free", "u64", 0)]),
    19: ("nb_cells", [("id", "u32", 1), ("exec_count", "u32", 0), ("source", "str", 1), ("start_ns", "u64", 0),
                      ("end_ns", "u64", 0), ("rss_before", "u64", 0), ("rss_after", "u64", 0),
                      ("session", "u32", 0), ("status", "str", 0), ("error", "str", 0), ("source_hash", "str", 0),
                      ("rss_peak", "u64", 0), ("flags", "u32", 0), ("traced_before", "u64", 0),
                      ("traced_after", "u64", 0), ("traced_peak", "u64", 0), ("overhead_ns", "u64", 0)]),
    20: ("events", [("time_ns", "u64", 1), ("kind", "str", 1), ("name", "str", 0), ("value", "f64", 0),
                    ("detail", "str", 0)]),
    21: ("trace_live", [("time_ns", "u64", 1), ("stack", "u32", 1), ("bytes", "f64", 1), ("count", "f64", 1),
                        ("upto", "u64", 1)]),
    INDEX_KIND: ("index", [("offset", "u64", 1), ("kind", "u32", 1), ("count", "u32", 1), ("first", "u64", 1),
                           ("stored", "u32", 1), ("raw", "u32", 1)]),
}
DEFAULTS = {"u32": 0, "u64": 0, "f64": 0.0, "str": "", "bin": b"", "any": None}


class SpecError(Exception):
    pass


def _check(kind_name, field, ftype, value):
    if value is None and ftype != "any":
        return DEFAULTS[ftype]
    ok = {
        "u32": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32,
        "u64": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64,
        "f64": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "bin": lambda v: isinstance(v, bytes),
        "any": lambda v: v is None or isinstance(v, (bool, int, float, str, bytes)),
    }[ftype]
    if not ok(value):
        raise SpecError(f"{kind_name}.{field}: {value!r} is not a {ftype}")
    return float(value) if ftype == "f64" else value


def decode_record(kind, arr):
    """One record as a dict of its known fields (defaults filled in)."""
    name, fields = KINDS[kind]
    if not isinstance(arr, list):
        raise SpecError(f"{name}: a record must be an array, not {type(arr).__name__}")
    required = sum(1 for f in fields if f[2])
    if len(arr) < required:
        raise SpecError(f"{name}: {len(arr)} fields, {required} required")
    out = {}
    for i, (field, ftype, _req) in enumerate(fields):
        out[field] = _check(name, field, ftype, arr[i]) if i < len(arr) else DEFAULTS[ftype]
    return out


def parse_header(data, off):
    if len(data) - off < 36:
        raise SpecError(f"block header at {off} is cut short")
    h = data[off:off + 36]
    if h[:8] != MARKER:
        raise SpecError(f"no block marker at {off}")
    kind, flags, count, first, stored, raw, crc = struct.unpack("<HHIQIII", h[8:36])
    if zlib.crc32(h[:32]) != crc:
        raise SpecError(f"block header CRC mismatch at {off}")
    return dict(offset=off, kind=kind, flags=flags, count=count, first=first, stored=stored, raw=raw)


def decompress(data, hdr):
    off = hdr["offset"] + 36
    frame = data[off:off + hdr["stored"]]
    if len(frame) != hdr["stored"]:
        raise SpecError("payload cut short")
    params = zstandard.get_frame_parameters(frame)
    if not params.has_checksum:
        raise SpecError("frame has no content checksum")
    if params.content_size != hdr["raw"]:
        raise SpecError("frame content size differs from raw")
    if hdr["raw"] > MAX_RAW:
        raise SpecError("raw size over 256 MiB")
    out = zstandard.ZstdDecompressor().decompress(frame)
    if len(out) != hdr["raw"]:
        raise SpecError("payload size differs from raw")
    return out


def decode_payload(kind, payload, count):
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=len(payload) + 1)
    unpacker.feed(payload)
    values = list(unpacker)
    if len(values) != count:
        raise SpecError(f"payload holds {len(values)} values, header says {count}")
    if kind not in KINDS:
        return values  # a kind this reader does not know: skipped, counted
    return [decode_record(kind, v) for v in values]


class Snapshot:
    """A whole, undamaged snapshot file, read strictly; with growing=True,
    also a file still being written (SPEC.md 3.4): one without a trailer
    is read block by block from the header, and a block (or block header)
    cut short at its very end is taken as not yet written. Every other
    check applies; self.growing tells whether the file was unfinished.
    kinds, a set of kind names, decodes only those kinds' payloads (a big
    heap dump's refs take seconds in pure Python); the headers, the index
    and the sequence of every block are still checked."""

    def __init__(self, path, growing=False, kinds=None):
        self._kinds = None if kinds is None else {k for k, (n, _f) in KINDS.items() if n in kinds} | {INDEX_KIND}
        with open(path, "rb") as f:
            data = f.read()
        self.size = len(data)
        if data[:8] != MAGIC:
            raise SpecError("bad magic")
        self.major, self.minor = struct.unpack("<HH", data[8:12])
        if self.major != 1:
            raise SpecError(f"major version {self.major}")
        self.growing = growing and data[-8:] != END_MAGIC
        if self.growing:
            self._read_growing(data)
            return
        if data[-8:] != END_MAGIC:
            raise SpecError("no trailer: the file was not closed")
        t = data[-24:]
        index_at, nblocks, crc = struct.unpack("<QII", t[:16])
        if zlib.crc32(t[:12]) != crc:
            raise SpecError("trailer CRC mismatch")
        ih = parse_header(data, index_at)
        if ih["kind"] != INDEX_KIND or ih["count"] != nblocks or index_at + 36 + ih["stored"] != len(data) - 24:
            raise SpecError("index block does not match the trailer")
        self.index = decode_payload(INDEX_KIND, decompress(data, ih), nblocks)
        # Walk the blocks from the header and check the index agrees.
        self.blocks = []
        off = 16
        while off < index_at:
            h = parse_header(data, off)
            self.blocks.append(h)
            off += 36 + h["stored"]
        if off != index_at:
            raise SpecError("blocks overrun the index")
        if [(e["offset"], e["kind"], e["count"], e["first"], e["stored"], e["raw"]) for e in self.index] != [
                (b["offset"], b["kind"], b["count"], b["first"], b["stored"], b["raw"]) for b in self.blocks]:
            raise SpecError("index disagrees with the blocks")
        self._decode_blocks(data)

    def _read_growing(self, data):
        self.index = None
        self.blocks = []
        off = 16
        while off < len(data):
            if len(data) - off < 36:
                break  # a block header cut short: not yet written
            h = parse_header(data, off)
            if off + 36 + h["stored"] > len(data):
                break  # its payload cut short: not yet written
            if h["kind"] == INDEX_KIND:
                if len(data) - (off + 36 + h["stored"]) >= 24:
                    raise SpecError(f"an index block at {off} followed by more than a trailer cut short")
                break  # the writer is closing the file: its trailer is not yet written
            self.blocks.append(h)
            off += 36 + h["stored"]
        self._decode_blocks(data)

    def _decode_blocks(self, data):
        self.records = {}  # kind -> list of records in sequence order
        next_first = {}
        for b in self.blocks:
            if b["first"] != next_first.get(b["kind"], 0):
                raise SpecError(f"block at {b['offset']}: first {b['first']} does not follow")
            next_first[b["kind"]] = b["first"] + b["count"]
            if self._kinds is not None and b["kind"] not in self._kinds:
                continue
            b["payload"] = decompress(data, b)
            self.records.setdefault(b["kind"], []).extend(decode_payload(b["kind"], b["payload"], b["count"]))

    def of(self, name):
        for k, (n, _f) in KINDS.items():
            if n == name:
                return self.records.get(k, [])
        raise KeyError(name)

    def meta(self):
        return {r["key"]: r["value"] for r in self.of("meta")}


class Growing:
    """A file that may still be being written (SPEC.md 3.4), read as a
    follower does: the header, then whole blocks; a block or block header
    cut short at the very end of a file without a trailer is not yet
    written and left out (`pending` counts its bytes). Every other check
    stays strict. A closed file (trailer present) is read as Snapshot."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        if data[:8] != MAGIC:
            raise SpecError("bad magic")
        self.major, self.minor = struct.unpack("<HH", data[8:12])
        if self.major != 1:
            raise SpecError(f"major version {self.major}")
        self.closed = len(data) >= 16 + 24 and data[-8:] == END_MAGIC
        self.records = {}
        self.pending = 0
        if self.closed:
            whole = Snapshot(path)
            self.records = whole.records
            return
        off, next_first = 16, {}
        while off < len(data):
            if len(data) - off < 36:
                self.pending = len(data) - off  # a header being written
                break
            h = parse_header(data, off)
            if off + 36 + h["stored"] > len(data):
                self.pending = len(data) - off  # a payload being written
                break
            if h["kind"] == INDEX_KIND:
                raise SpecError(f"index block at {off} in a file without a trailer")
            if h["first"] != next_first.get(h["kind"], 0):
                raise SpecError(f"block at {off}: first {h['first']} does not follow")
            next_first[h["kind"]] = h["first"] + h["count"]
            self.records.setdefault(h["kind"], []).extend(
                decode_payload(h["kind"], decompress(data, h), h["count"]))
            off += 36 + h["stored"]

    def of(self, name):
        for k, (n, _f) in KINDS.items():
            if n == name:
                return self.records.get(k, [])
        raise KeyError(name)
