"""Benchmarks of SPEC §8: `uv run python -m bench <name> [args]`; each prints ONE JSON line."""
