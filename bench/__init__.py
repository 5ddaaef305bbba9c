"""Benchmarks of the performance targets (bench/README.md): `uv run python -m bench <name> [args]`; each prints ONE JSON line."""
