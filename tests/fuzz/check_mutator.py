#!/usr/bin/python3
"""Checks that fuzz_container's custom mutator is structure-aware: that what
it writes gets past the CRCs and the zstd checksums to the loader, which
raw byte mutation does not. Checked with zlib and zstandard, not with the
harness's own code nor the reader under test.

    check_mutator.py MUTATE_BINARY SEED"""

import struct
import subprocess
import sys
import tempfile
import zlib
import os

import zstandard

MARKER = b"\xb5MTBLK\r\n"
N = 400


def blocks(data):
    """Sound block headers from offset 16 (marker and CRC), with payloads."""
    out, off = [], 16
    while off + 36 <= len(data) and data[off:off + 8] == MARKER:
        h = data[off:off + 36]
        if zlib.crc32(h[:32]) != struct.unpack("<I", h[32:])[0]:
            break
        kind, _, count, first, stored, raw = struct.unpack("<HHIQII", h[8:32])
        out.append((kind, count, first, data[off + 36:off + 36 + stored], raw, off))
        off += 36 + stored
    return out, off


def frame_ok(payload, raw):
    try:
        params = zstandard.get_frame_parameters(payload)
        if not params.has_checksum or params.content_size != raw:
            return None
        return zstandard.ZstdDecompressor().decompress(payload)
    except zstandard.ZstdError:
        return None


def main():
    mutate, seed = sys.argv[1], sys.argv[2]
    with open(seed, "rb") as f:
        orig = f.read()
    seed_blocks = blocks(orig)[0]
    seed_payloads = {frame_ok(p, r) for _, _, _, p, r, _ in seed_blocks}
    seen = {(k, c, fi) for k, c, fi, _, _, _ in seed_blocks}
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([mutate, seed, d, str(N)], check=True)
        sound_headers = edited_payloads = closed = forged = 0
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
            bl, _ = blocks(data)
            if bl:
                sound_headers += 1
            data_blocks = [b for b in bl if b[0] != 0xFF00]
            if any((k, c, fi) not in seen for k, c, fi, _, _, _ in data_blocks):
                forged += 1
            if any((raw := frame_ok(p, r)) is not None and raw not in seed_payloads
                   for _, _, _, p, r, _ in data_blocks):
                edited_payloads += 1
            # The trailer names the index block, which lists every block.
            t = data[-24:]
            if len(data) >= 40 and t[16:] == b"MTSEND\r\n" and zlib.crc32(t[:12]) == struct.unpack("<I", t[12:16])[0]:
                at, n = struct.unpack("<QI", t[:12])
                index = [b for b in bl if b[5] == at and b[0] == 0xFF00]
                if index and index[0][1] == n == len(bl) - 1 and frame_ok(index[0][3], index[0][4]) is not None:
                    closed += 1
    print(f"{N} mutations: {sound_headers} with sound block headers, {forged} with a forged header field, "
          f"{edited_payloads} with an edited payload in a sound frame, {closed} closed by a sound trailer")
    # The mutator edits a header in ~5/16 of its edits and a payload in ~6/16,
    # and keeps the index and trailer in most.
    ok = sound_headers >= N * 9 // 10 and forged >= N // 8 and edited_payloads >= N // 8 and closed >= N // 4
    if not ok:
        print("the mutator does not keep the container sound around its edits")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
