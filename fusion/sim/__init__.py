"""Seeded, deterministic store simulator (ground truth for tests and benchmarks).

The fusion engine never imports this package.
"""
