"""Benchmarks: `python -m bench.run --scale S` (see bench/results.md)."""
