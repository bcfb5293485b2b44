"""Benchmark and peer programs; each prints JSON (`--output FILE.json`)."""
