"""Benchmarks of the platform: `make bench` (python -m bench.run) writes docs/performance.md.

Nothing here runs in the test suite: tests assert behaviour, never timings.
"""
