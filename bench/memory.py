"""Memory after a busy day: RSS of a fresh RiskEngine that replayed a recorded busy trading day.

The day (bench.busyday: 8 h, ~40 quotes/s per contract, a few hundred fills) is replayed in a
fresh subprocess, so the figure is the engine's and not the generator's: journal reader →
Event → `RiskEngine.handle(event, event.received_at)` with every rule enabled (limits loose
enough that the accounts stay unlocked and every rule keeps evaluating). With `--store` every
event is also appended to a real Store (SQLite journal with the daemon's synchronous mode,
batches of 500 like the daemon's quote batches). Reported: VmRSS before/after, VmHWM, RSS samples along the day, events/s.

    uv run python -m bench memory [--hours 8] [--journal FILE] [--store]
    uv run python -m bench memory --stream --hours 24     # a 24 h day without a 5 GB file
    uv run python -m bench memory --daemon [--help]       # the whole daemon process (bench._memory_daemon)
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._stats import emit, fail, machine, proc_status_kb, quiet_logs

SAMPLE_EVERY = 250_000


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def replay(path: Path, with_store: bool) -> dict[str, Any]:
    from bench._setup import all_rules_config, sim_contracts
    from risk_manager.clock import SystemClock
    from risk_manager.engine.catalog import ContractCatalog
    from risk_manager.engine.engine import RiskEngine
    from risk_manager.store.journal_file import read_journal_file

    engine = RiskEngine(all_rules_config(loose=True), ContractCatalog(sim_contracts()))
    store = None
    tmp = None
    if with_store:
        from bench._setup import DAEMON_JOURNAL_SYNC
        from risk_manager.store import Store

        tmp = tempfile.TemporaryDirectory(prefix="bench-memory-")
        store = Store(Path(tmp.name) / "risk_manager.db", SystemClock(), journal_synchronous=DAEMON_JOURNAL_SYNC)
    gc.collect()
    rss_start = proc_status_kb("VmRSS")
    samples: list[float | None] = []
    events = actions = 0
    engine_ns = 0
    batch: list[Any] = []
    handle, clock = engine.handle, time.perf_counter_ns
    started = time.perf_counter()
    for event in read_journal_file(path):
        if store is not None:
            batch.append(event)
            if len(batch) >= 500:
                store.append_events(batch)
                batch.clear()
        t0 = clock()
        actions += len(handle(event, event.received_at))
        engine_ns += clock() - t0
        events += 1
        if events % SAMPLE_EVERY == 0:
            samples.append(_mb(proc_status_kb("VmRSS")))
    if store is not None and batch:
        store.append_events(batch)
    elapsed = time.perf_counter() - started
    gc.collect()
    result = {
        "events": events, "actions": actions, "replay_s": round(elapsed, 1),
        "events_per_s": round(events / elapsed) if elapsed else None,
        "engine_us_per_event": round(engine_ns / events / 1e3, 2) if events else None,
        "rss_start_mb": _mb(rss_start), "rss_end_mb": _mb(proc_status_kb("VmRSS")),
        "hwm_mb": _mb(proc_status_kb("VmHWM")), "rss_samples_mb": samples,
        "accounts": len(engine.accounts), "store": with_store,
    }
    if store is not None:
        store.close()
    if tmp is not None:
        tmp.cleanup()
    return result


def _streamed(hours: float, with_store: bool) -> int:
    """The generator writes the day into the replaying subprocess's stdin."""
    from bench.busyday import generate_busy_day

    cmd = [sys.executable, "-m", "bench.memory", "--replay", "/dev/stdin"] + (["--store"] if with_store else [])
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        day = generate_busy_day(f"/proc/self/fd/{proc.stdin.fileno()}", hours=hours)
    finally:
        proc.stdin.close()
    proc.stdin = None  # closed above: communicate() must not flush it
    out, err = proc.communicate()
    if proc.returncode != 0:
        return fail("memory", f"replay subprocess failed ({proc.returncode}): {err.decode()[-2000:]}")
    measured = json.loads(out.decode().strip().splitlines()[-1])
    emit({"bench": "memory", "hours": hours, "streamed": True,
          "day": {"events": day.events, "fills": day.fills}, **measured, "machine": machine()})
    return 0


def main(argv: list[str]) -> int:
    if "--daemon" in argv:  # its own options and defaults (24 h): see bench/_memory_daemon.py
        from bench._memory_daemon import main as daemon_main

        return daemon_main([a for a in argv if a != "--daemon"])
    parser = argparse.ArgumentParser(prog="bench memory")
    parser.add_argument("--daemon", action="store_true",
                        help="RSS of `risk-manager run` against the simulator over a compressed day "
                             "(own options: --daemon --help)")
    parser.add_argument("--journal", type=Path, help="replay this journal instead of generating one")
    parser.add_argument("--hours", type=float, default=8.0, help="length of the generated day")
    parser.add_argument("--store", action="store_true", help="also append every event to a real Store")
    parser.add_argument("--stream", action="store_true",
                        help="generate straight into the replaying process through a pipe (no file: "
                             "for long days, e.g. --hours 24)")
    parser.add_argument("--replay", type=Path, help=argparse.SUPPRESS)  # the measuring subprocess
    args = parser.parse_args(argv)
    quiet_logs()
    if proc_status_kb("VmRSS") is None:
        return fail("memory", "needs /proc/self/status (Linux)")
    if args.replay:
        print(json.dumps(replay(args.replay, args.store)), flush=True)
        return 0
    if args.stream:
        return _streamed(args.hours, args.store)
    generated: dict[str, Any] | None = None
    journal = args.journal
    if journal is None:
        from bench.busyday import generate_busy_day

        fd, name = tempfile.mkstemp(prefix="busyday-", suffix=".jsonl")
        journal = Path(name)
        day = generate_busy_day(journal, hours=args.hours)
        generated = {k: v for k, v in day.summary().items() if k in ("events", "fills", "bytes", "generate_s")}
    try:
        cmd = [sys.executable, "-m", "bench.memory", "--replay", str(journal)] + (["--store"] if args.store else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return fail("memory", f"replay subprocess failed ({proc.returncode}): {proc.stderr[-2000:]}")
        measured = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        if args.journal is None:
            journal.unlink(missing_ok=True)
    emit({"bench": "memory", "hours": args.hours if args.journal is None else None,
          "day": generated, **measured, "machine": machine()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
