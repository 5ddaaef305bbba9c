"""Start-up: `risk-manager run` process started → its status API answers `ready: true`.

Against the simulator (in this process) on loopback, one guarded account. `cold` runs start with
an empty state dir (store created, contracts fetched); `warm` runs reuse the state of the run
before (what a service restart sees). Each run is stopped with SIGTERM and must exit 0.
Readiness is polled every 10 ms, so figures carry up to ~10 ms of polling granularity. The last
warm run also measures idle CPU (target ≤ 1 %, bench/README.md): the ready daemon's utime+stime over
`--idle-seconds`, one account, no market activity.

    uv run python -m bench startup [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._stats import emit, fail, latency_summary, machine, quiet_logs

_INTERNAL = re.compile(r"start-up took ([0-9.]+) s")


async def _idle_cpu(pid: int, seconds: float) -> float:
    """CPU % of a process over `seconds` (utime + stime from /proc/<pid>/stat)."""
    import os

    def cpu_s() -> float:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    before = cpu_s()
    await asyncio.sleep(seconds)
    return round(100.0 * (cpu_s() - before) / seconds, 2)


async def run_startup(runs: int, idle_seconds: float = 10.0) -> dict[str, Any]:
    from bench._rig import DaemonProcess, write_config
    from risk_manager.sim import Simulator

    sim = Simulator(accounts=1, speed=0.0)
    await sim.start()
    tmp = tempfile.TemporaryDirectory(prefix="bench-startup-")
    config_dir = write_config(Path(tmp.name) / "config", sim.info()["api"], sim.info()["accounts"], {})
    results: dict[str, list[int]] = {"cold": [], "warm": []}
    internal: dict[str, list[float]] = {"cold": [], "warm": []}
    idle: float | None = None
    rss_ready: list[int] = []
    try:
        for kind in ("cold", "warm"):
            for _ in range(runs):
                if kind == "cold":
                    shutil.rmtree(config_dir / "state", ignore_errors=True)
                daemon = DaemonProcess(config_dir)
                daemon.start()
                try:
                    ready_ns = await daemon.wait_ready()
                    rss = daemon.rss_kb()
                    if rss is not None:
                        rss_ready.append(rss)
                    if kind == "warm" and len(results["warm"]) == runs - 1 and idle_seconds > 0:
                        idle = await _idle_cpu(daemon.proc.pid, idle_seconds)  # type: ignore[union-attr]
                finally:
                    code = daemon.stop()
                if code != 0:
                    raise RuntimeError(f"daemon exit code {code} after SIGTERM:\n{daemon.tail()}")
                results[kind].append(ready_ns - daemon.started_ns)
                found = _INTERNAL.search(daemon.tail(100_000))
                if found:
                    internal[kind].append(float(found.group(1)))
    finally:
        await sim.stop()
        tmp.cleanup()
    return {
        "bench": "startup", "runs": runs,
        "cold": latency_summary(results["cold"]), "warm": latency_summary(results["warm"]),
        "daemon_reported_s": {k: sorted(v) for k, v in internal.items()},
        "daemon_rss_mb_at_ready_max": round(max(rss_ready) / 1024, 1) if rss_ready else None,
        "idle_cpu_percent": idle, "idle_seconds": idle_seconds,
        "what": "subprocess start -> GET /status ready:true (cold = empty state dir)", "machine": machine(),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench startup")
    parser.add_argument("--runs", type=int, default=5, help="runs of each kind (cold, warm)")
    parser.add_argument("--idle-seconds", type=float, default=10.0,
                        help="measure the ready daemon's idle CPU this long (last warm run; 0 = skip)")
    args = parser.parse_args(argv)
    quiet_logs()
    try:
        result = asyncio.run(run_startup(args.runs, args.idle_seconds))
    except (RuntimeError, OSError, TimeoutError) as exc:
        return fail("startup", f"{type(exc).__name__}: {exc}")
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
