"""memtrace.analyze's graph, advise, predict and gate (to be written);
memtrace.analyze re-exports them."""
