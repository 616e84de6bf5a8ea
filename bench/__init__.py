"""Benchmarks: `python -m bench` runs them all; each prints ratios against a same-run baseline."""
