"""Memory of the whole daemon: `risk-manager run` against the simulator for a compressed day.

The simulator (`risk-manager sim --speed S`) and the daemon (`risk-manager run`, bench._rig's
DaemonProcess) are each their own process, so the RSS sampled is the daemon's alone: hub clients,
REST client, pipeline, engine, SQLite journal/store, status API, timers. All 13 rules are on with
limits a day never reaches (bench._setup's loose config, plus an R08 grace and R12 triggers out of
reach, since the trader holds positions without stops), so nothing locks or acts and every rule
keeps evaluating. A scripted trader spreads `--fills` round trips (market in, market out, random
side) evenly over the run across the accounts and four contracts; each account always holds one
position, so the daemon stays subscribed to those contracts' quotes. Sampled every `--sample-s`:
the daemon's VmRSS/VmHWM and its `/status` counters.

What "24 h simulated" means here: wall time = hours × 3600 / speed, and the simulator's price walk
takes one step per active contract every 0.25 s / speed — but never faster than every 5 ms, so at
any speed ≥ 50 the quote rate per wall second is the same: ≤ 200 steps/s per contract, 2/3 of
which move the price and push a quote (measured here: ~110 quotes/s per contract, 450/s in all).
Per *simulated* second that is ~0.4 quotes per contract at 288× (~1.2 at 96×) against the live
feed's ~40: a "24 h" run at 288× carries ~1 % of a live day's quotes (~3 % at 96×). It compresses
the day's *duration* and keeps a busy day's order flow (fills, positions, realized P&L, a growing
journal); the live quote *count* of 24 h is what `bench memory --stream --hours 24` replays
through the engine alone. The daemon's clock is real: no trading-day reset, session boundary or
daily timer of the simulated day happens inside the run (it spans minutes of real time).

    uv run python -m bench memory --daemon [--hours 24] [--speed 288] [--accounts 5] [--fills 300]
                                          [--sample-s 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._stats import emit, fail, machine, proc_status_kb, quiet_logs

CONTRACTS = ("CON.F.US.MNQ.U26", "CON.F.US.MES.U26", "CON.F.US.MYM.U26", "CON.F.US.M2K.U26")
MARKET, BUY, SELL = 2, 0, 1
READY_TIMEOUT_S = 30.0


def loose_rules() -> dict[str, Any]:
    """bench._setup's loose 13 rules; positions are held without a stop, so R08's grace and R12's
    breakeven/trailing triggers are set out of reach too (both still evaluate every event)."""
    from bench._setup import all_rules

    rules = all_rules(loose=True)
    rules["no_stop_loss_grace"]["grace_period_seconds"] = 7 * 86_400
    rules["trade_management"]["auto_breakeven"] = {"profit_trigger_ticks": 1_000_000}
    rules["trade_management"]["trailing_stop"] = {"activation_ticks": 1_000_000}
    return rules


def _cpu_s(pid: int) -> float | None:
    """utime + stime of a process in seconds (/proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (simulated hours, MB) points; None with fewer than two distinct x."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def _sim_command(port: int, accounts: int, speed: float, seed: int) -> list[str]:
    script = Path(sys.executable).parent / "risk-manager"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "risk_manager"]
    return head + ["sim", "--port", str(port), "--accounts", str(accounts), "--speed", str(speed),
                   "--seed", str(seed)]


async def start_sim(workdir: Path, accounts: int, speed: float, seed: int) -> tuple[Any, dict[str, Any]]:
    """`risk-manager sim` as a subprocess; its first stdout line is the JSON with its URLs."""
    import subprocess

    out_path = workdir / "sim.out"
    with out_path.open("wb") as out, (workdir / "sim.err").open("wb") as err:
        proc = subprocess.Popen(_sim_command(0, accounts, speed, seed), stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited with {proc.returncode}: "
                               f"{(workdir / 'sim.err').read_text(errors='replace')[-2000:]}")
        line = out_path.read_text(errors="replace").split("\n", 1)
        if len(line) == 2:  # a complete first line
            return proc, json.loads(line[0])
        await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError("simulator printed no URLs within 20 s")


class Sampler:
    """Every `every` s: the daemon's VmRSS/VmHWM and `/status` counters; raises if a process died."""

    def __init__(self, daemon: Any, sim_proc: Any, every: float) -> None:
        self.daemon, self.sim_proc, self.every = daemon, sim_proc, every
        self.samples: list[dict[str, Any]] = []

    def check_alive(self) -> None:
        if self.daemon.proc.poll() is not None:
            raise RuntimeError(f"daemon died (exit {self.daemon.proc.returncode}):\n{self.daemon.tail()}")
        if self.sim_proc.poll() is not None:
            raise RuntimeError(f"simulator died (exit {self.sim_proc.returncode})")

    async def sample(self, elapsed: float) -> dict[str, Any]:
        from bench._rig import fetch_status

        self.check_alive()
        pid = self.daemon.proc.pid
        status = await fetch_status(self.daemon.status_url, timeout=5.0)
        row = {"t": elapsed, "rss_kb": proc_status_kb("VmRSS", pid), "hwm_kb": proc_status_kb("VmHWM", pid),
               "counters": (status or {}).get("counters"), "status": status}
        if row["rss_kb"] is None:
            raise RuntimeError(f"cannot read /proc/{pid}/status")
        self.samples.append(row)
        return row

    async def run(self, started: float, wall_s: float) -> None:
        next_at = started + self.every
        while next_at < started + wall_s:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await self.sample(time.monotonic() - started)
            next_at += self.every


async def trade(trader: Any, accounts: list[int], fills: int, wall_s: float, started: float,
                seed: int) -> dict[str, int]:
    """Round trip k opens at slot k and closes at slot k + len(accounts) on the same account, so
    every account holds one position at a time; slots are evenly spread over the run."""
    rng = random.Random(seed)
    n_acc = len(accounts)
    gap = wall_s / (fills + n_acc)
    open_sides: dict[int, tuple[int, str, int]] = {}
    placed = refused = 0
    for slot in range(fills + n_acc):
        await asyncio.sleep(max(0.0, started + slot * gap - time.monotonic()))
        plans = []
        if slot - n_acc in open_sides:
            account, contract, side = open_sides.pop(slot - n_acc)
            plans.append((account, contract, SELL if side == BUY else BUY))
        if slot < fills:
            account, contract, side = accounts[slot % n_acc], CONTRACTS[slot % len(CONTRACTS)], rng.choice((BUY, SELL))
            open_sides[slot] = (account, contract, side)
            plans.append((account, contract, side))
        for account, contract, side in plans:
            reply = await trader.place(account, contract, side, 1, type=MARKET)
            placed += 1
            refused += 0 if reply.get("success") else 1
    return {"orders_placed": placed, "orders_refused": refused}


def _summary(samples: list[dict[str, Any]], ready: dict[str, Any], wall_s: float, speed: float) -> dict[str, Any]:
    rss = [s["rss_kb"] for s in samples]
    at_10 = next((s for s in samples if s["t"] >= 0.1 * wall_s), samples[-1])
    second_half = [(s["t"] * speed / 3600.0, s["rss_kb"] / 1024) for s in samples if s["t"] >= wall_s / 2]
    slope = slope_per_hour(second_half)
    return {
        "rss_ready_mb": _mb(ready["rss_kb"]), "rss_10pct_mb": _mb(at_10["rss_kb"]),
        "rss_end_mb": _mb(samples[-1]["rss_kb"]), "rss_max_mb": _mb(max(rss)), "rss_min_mb": _mb(min(rss)),
        "hwm_mb": _mb(samples[-1]["hwm_kb"]),
        "rss_slope_mb_per_sim_hour_2nd_half": None if slope is None else round(slope, 3),
        "samples": len(samples),
        "rss_samples_mb": [_mb(s["rss_kb"]) for s in samples][:: max(1, len(samples) // 30)],
    }


def _counter_delta(end: dict[str, Any], start: dict[str, Any], key: str) -> int | None:
    if key not in end:
        return None
    return int(end[key]) - int(start.get(key, 0))


async def run_daemon_memory(hours: float, speed: float, n_accounts: int, fills: int, sample_s: float,
                            seed: int, workdir: Path) -> dict[str, Any]:
    from bench._rig import DaemonProcess, Trader, write_config

    wall_s = hours * 3600.0 / speed
    sim_proc, info = await start_sim(workdir, n_accounts, speed, seed)
    daemon = DaemonProcess(write_config(workdir / "config", info["api"], info["accounts"], loose_rules()))
    trader = Trader(info["api"])
    sampler = Sampler(daemon, sim_proc, sample_s)
    cpu0: dict[str, float | None] = {}
    try:
        async with trader.http.post(info["api"] + "/sim/config", json={"rate_limit": None}) as resp:
            if resp.status != 200:  # the trader's ~2 orders/s would otherwise share the daemon's 200/60 s
                raise RuntimeError(f"/sim/config refused: {resp.status} {await resp.text()}")
        daemon.start()
        await daemon.wait_ready(timeout=READY_TIMEOUT_S)
        await trader.login()
        ready = await sampler.sample(0.0)
        sampler.samples.clear()
        cpu0 = {"daemon": _cpu_s(daemon.proc.pid), "sim": _cpu_s(sim_proc.pid)}
        started = time.monotonic()
        sampling = asyncio.create_task(sampler.run(started, wall_s))
        trading = asyncio.create_task(trade(trader, info["accounts"], fills, wall_s, started, seed))
        done, _ = await asyncio.wait({sampling, trading}, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                for other in (sampling, trading):
                    other.cancel()
                raise task.exception()  # type: ignore[misc]
        orders = await trading
        await sampling
        await asyncio.sleep(max(0.0, started + wall_s - time.monotonic()))
        last = await sampler.sample(time.monotonic() - started)
        elapsed = time.monotonic() - started
        cpu = {"daemon": _cpu_s(daemon.proc.pid), "sim": _cpu_s(sim_proc.pid)}
        log = await trader.log()
    finally:
        exit_code = daemon.stop()
        await trader.close()
        if sim_proc.poll() is None:
            sim_proc.terminate()
            try:
                sim_proc.wait(10)
            except Exception:
                sim_proc.kill()
    end_counters, start_counters = last["counters"], ready["counters"]
    if not end_counters or start_counters is None:
        raise RuntimeError("the daemon's /status did not answer with counters")
    accounts = last["status"].get("accounts", [])
    quotes = _counter_delta(end_counters, start_counters, "quotes")
    cpu_pct = {k: (round(100 * (cpu[k] - cpu0[k]) / elapsed, 1) if cpu[k] is not None and cpu0.get(k) is not None
                   else None) for k in cpu}
    trader_paths = {"/api/order/place", "/api/auth/loginkey"}
    held = min(n_accounts, len(CONTRACTS))
    journal_files = list((daemon.state_dir).glob("*.db*"))
    return {
        "bench": "memory", "mode": "daemon", "simulated_hours": hours, "speed": speed,
        "wall_s": round(elapsed, 1), "accounts": n_accounts, "contracts": len(CONTRACTS),
        "round_trips": fills, **orders,
        "events": _counter_delta(end_counters, start_counters, "events"),
        "quotes": quotes,
        "quotes_coalesced": _counter_delta(end_counters, start_counters, "quotes_coalesced"),
        "quotes_per_s_wall": round(quotes / elapsed, 1) if quotes is not None else None,
        # each account holds one position at a time, so about this many contracts stream quotes
        "contracts_held": held,
        "quotes_per_contract_per_sim_s": round(quotes / held / (hours * 3600.0), 3) if quotes is not None else None,
        "actions": _counter_delta(end_counters, start_counters, "actions"),
        "engine_errors": end_counters.get("engine_errors"), "journal_errors": end_counters.get("journal_errors"),
        "malformed": end_counters.get("malformed"),
        "daemon_trades_today": sum(int(a.get("trades_today") or 0) for a in accounts),
        "daemon_realized_pnl": round(sum(float(a.get("realized_pnl") or 0.0) for a in accounts), 2),
        "locked_accounts": sum(1 for a in accounts if a.get("locked")),
        "daemon_rest_requests": sum(1 for r in log if r["path"].lower() not in trader_paths),
        **_summary(sampler.samples, ready, wall_s, speed),
        "state_files_mb": round(sum(f.stat().st_size for f in journal_files if f.exists()) / 2**20, 1),
        "daemon_cpu_pct": cpu_pct["daemon"], "sim_cpu_pct": cpu_pct["sim"],
        "daemon_exit_code": exit_code, "machine": machine(),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench memory --daemon",
                                     description="RSS of `risk-manager run` over a compressed day against the simulator")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    parser.add_argument("--speed", type=float, default=288.0,
                        help="simulator --speed; wall time = hours*3600/speed (288: 24 h in 5 min)")
    parser.add_argument("--accounts", type=int, default=5)
    parser.add_argument("--fills", type=int, default=300, help="round trips (open + close) over the run")
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between RSS/status samples")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="keep config, state and logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.hours <= 0 or args.speed <= 0 or args.accounts < 1 or args.fills < 0 or args.sample_s <= 0:
        return fail("memory", "--hours, --speed, --sample-s must be > 0, --accounts ≥ 1, --fills ≥ 0")
    quiet_logs()
    if proc_status_kb("VmRSS") is None:
        return fail("memory", "needs /proc (Linux)")
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-memory-daemon-")
        workdir = Path(tmp.name)
    else:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)
    try:
        result = asyncio.run(run_daemon_memory(args.hours, args.speed, args.accounts, args.fills,
                                               args.sample_s, args.seed, workdir))
    except (RuntimeError, AssertionError, OSError, TimeoutError, ValueError) as exc:
        return fail("memory", f"{type(exc).__name__}: {exc}")
    finally:
        if tmp is not None:
            tmp.cleanup()
    if result["daemon_exit_code"] != 0:
        return fail("memory", f"daemon exited with {result['daemon_exit_code']} on SIGTERM after the run")
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
