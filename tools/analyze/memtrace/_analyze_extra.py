"""memtrace.analyze's graph, advise, predict, gate and fleet (to be
written); memtrace.analyze re-exports every name in __all__."""

__all__ = []
