"""memtrace: write heap snapshots that the memtrace-* tools analyze offline.

The work is done in C (memtrace._memtrace) over the snapshot writer of
memtrace's formats/ library; see memtrace-snap(5) for the file format.

    with memtrace.Writer("heap.snap") as w:
        w.add_meta("tool", "my-collector")
        w.add_object(1, "dict", 232)
        w.add_object(2, "list", 88)
        w.add_ref(1, 2, label="items")
        w.add_root(1, kind="module", name="app")
"""

from ._memtrace import FORMAT_MAJOR, FORMAT_MINOR, Writer, __version__, dump_heap

__all__ = ["Writer", "dump_heap", "FORMAT_MAJOR", "FORMAT_MINOR", "__version__"]
