"""Writes heap-medium.snap: 6 000 objects of an LRU-cache-like heap in
small blocks (4 KiB), so that damaged copies lose some blocks and keep
others. Run by make_testdata.sh with the memtrace package on PYTHONPATH."""

import sys

import memtrace

out = sys.argv[1]
with memtrace.Writer(out, block_bytes=4096) as w:
    w.add_meta("tool", "make_heap_medium.py")
    w.add_meta("label", "lru cache, 2000 entries")
    base = 0x7F0000000000
    w.add_object(base, "module", 72)
    w.add_object(base + 8, "dict", 36960)  # the cache's index
    w.add_object(base + 16, "list", 16056)  # its recency list
    w.add_ref(base, base + 8, label="_CACHE")
    w.add_ref(base, base + 16, label="_ORDER")
    for i in range(2000):
        node = base + 0x1000 + 48 * i
        key = base + 0x200000 + 64 * i
        val = base + 0x400000 + 128 * i
        w.add_object(node, "app.Node", 48)
        w.add_object(key, "str", 55 + i % 10)
        w.add_object(val, "bytes", 1000 + 7 * i)
        w.add_ref(base + 8, node, label="['k%d']" % i)
        w.add_ref(base + 16, node, label="[%d]" % i)
        w.add_ref(node, key, label="key")
        w.add_ref(node, val, label="value")
        if i:
            w.add_ref(node, node - 48, label="prev")
    w.add_root(base, kind="module", name="app")
