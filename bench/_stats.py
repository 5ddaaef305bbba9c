"""Shared helpers: percentiles, the one-line JSON result, RSS from /proc."""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import sys
from collections.abc import Sequence
from typing import Any


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (p in 0..100)."""
    if not sorted_values:
        raise ValueError("percentile of an empty sample")
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def latency_summary(ns_values: Sequence[int], unit: str = "ms") -> dict[str, Any]:
    """p50/p95/p99/max (+ count) of nanosecond samples, in `unit` (ms or us), rounded."""
    scale = {"ms": 1e6, "us": 1e3}[unit]
    ordered = sorted(ns_values)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        f"p50_{unit}": round(percentile(ordered, 50) / scale, 3),
        f"p95_{unit}": round(percentile(ordered, 95) / scale, 3),
        f"p99_{unit}": round(percentile(ordered, 99) / scale, 3),
        f"max_{unit}": round(ordered[-1] / scale, 3),
    }


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": sys.platform}


def quiet_logs(level: int = logging.WARNING) -> None:
    """Logs of the parts run in-process go to stderr (stdout carries only the result line)."""
    import structlog

    logging.basicConfig(stream=sys.stderr, level=level)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr),
                        wrapper_class=structlog.make_filtering_bound_logger(level))


def emit(result: dict[str, Any]) -> None:
    """The benchmark's result: exactly one JSON line on stdout."""
    print(json.dumps(result, separators=(",", ":")), flush=True)


def proc_status_kb(field: str, pid: int | str = "self") -> int | None:
    """A `kB` field (VmRSS, VmHWM) of /proc/<pid>/status; None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def fail(benchmark: str, message: str) -> int:
    """A benchmark that cannot measure says why (stderr) and returns non-zero; never a number."""
    print(f"bench {benchmark}: cannot measure: {message}", file=sys.stderr, flush=True)
    return 1
