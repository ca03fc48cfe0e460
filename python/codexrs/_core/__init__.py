"""codexrs's core: engines, threads, turns and their streams (private; the public names are re-exported by ``codexrs``)."""
