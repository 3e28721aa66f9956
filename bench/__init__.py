"""Benchmarks of the CUG against its targets; run each script with --help. Not tests."""
