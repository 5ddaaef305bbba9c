"""Soak: simulated trading at 10× speed with faults; memory flat, no task leak.

The simulator runs as its own process (`risk-manager sim`), so this process holds only the daemon
(in-process, so its asyncio tasks can be counted) and the scripted trader. Two accounts: A with
strict rules (it may well get locked, then the kill switch works all day), B with loose ones.
The trader acts every 0.5 s on average (market entries and exits, resting limits, protective
stops, price moves: ten times a busy human's pace, and still inside what the daemon's REST client
may send under the gateway's 200 requests/60 s while it cancels and closes everything on a locked
account), the simulator streams 100 quotes/s, and every ~2.5 s a random fault is switched on for a
second (hub drops, 5xx/429 storms, token expiry, delays, duplicated events). Sampled every second
after a warm-up: the process RSS and the daemon's tasks. 30 s in CI, 30 min with RM_CHAOS_LONG=1.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ruamel.yaml import YAML

from chaos.conftest import LONG

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(2400)]

SOAK_S = 1800.0 if LONG else 30.0
CONTRACTS = {"CON.F.US.MNQ.U26": (20000.0, 0.25), "CON.F.US.MES.U26": (6000.0, 0.25)}
RULES = {
    "max_contracts": {"enabled": True, "limit": 4},
    "max_contracts_per_instrument": {"enabled": True, "limits": {"MNQ": 3, "MES": 3}},
    "daily_realized_loss": {"enabled": True, "loss_limit": 500, "include_unrealized": True},
    "daily_unrealized_loss": {"enabled": True, "loss_limit": 250},
    "trade_frequency_limit": {"enabled": True, "per_minute": 40, "per_hour": 2000, "per_session": 100000},
    "no_stop_loss_grace": {"enabled": True, "grace_period_seconds": 3},
    "symbol_blocks": {"enabled": True, "blocked_symbols": ["M2K"]},
}
LOOSE = {"daily_realized_loss": {"loss_limit": 1_000_000}, "daily_unrealized_loss": {"loss_limit": 1_000_000},
         "trade_frequency_limit": {"per_minute": 100_000}, "no_stop_loss_grace": {"enabled": False}}
FAULTS: list[dict[str, Any]] = [
    {"kind": "drop_user_hub", "down_ms": 500}, {"kind": "drop_market_hub", "down_ms": 500},
    {"kind": "http_500", "count": 3}, {"kind": "http_429", "count": 2, "retry_after": 1},
    {"kind": "expire_tokens"}, {"kind": "delay_ms", "ms": 200, "count": 5}, {"kind": "duplicate_events", "count": 5},
]
OUR_CODE = ("risk_manager/daemon", "risk_manager/gateway", "risk_manager/enforcement", "risk_manager/alerts")


def daemon_tasks() -> list[asyncio.Task[Any]]:
    """Live tasks whose coroutine is the daemon's own code (not the test's, not aiohttp's)."""
    out = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and any(part in code.co_filename.replace("\\", "/") for part in OUR_CODE):
            out.append(task)
    return out


def rss_mb() -> float:
    from bench._stats import proc_status_kb

    kb = proc_status_kb("VmRSS")
    assert kb is not None, "needs /proc (Linux)"
    return kb / 1024


class SoakTrader:
    """The trading front end: re-logs in when its token is refused (token-expiry faults)."""

    def __init__(self, api: str, accounts: list[int], rng: random.Random) -> None:
        self.api, self.accounts, self.rng = api, accounts, rng
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self.token = ""
        self.prices = {cid: price for cid, (price, _) in CONTRACTS.items()}
        self.actions = 0

    async def post(self, path: str, body: dict[str, Any], auth: bool = True) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        async with self.http.post(self.api + path, json=body, headers=headers) as resp:
            if resp.status == 401:
                self.token = ""
            if resp.status != 200:
                return None
            return await resp.json(content_type=None)

    async def login(self) -> None:
        reply = await self.post("/api/Auth/loginKey", {"userName": "sim", "apiKey": "sim-key"}, auth=False)
        if reply and reply.get("token"):
            self.token = reply["token"]

    async def act(self) -> None:
        if not self.token:
            await self.login()
        rng = self.rng
        cid = rng.choice(sorted(CONTRACTS))
        tick = CONTRACTS[cid][1]
        account = rng.choice(self.accounts)
        roll = rng.random()
        if roll < 0.3:
            self.prices[cid] += rng.choice((-1, 1)) * rng.randint(1, 12) * tick
            await self.post("/sim/price", {"contractId": cid, "price": self.prices[cid]}, auth=False)
        elif roll < 0.75:
            await self.post("/api/Order/place", {"accountId": account, "contractId": cid, "type": 2,
                                                 "side": rng.choice((0, 1)), "size": rng.randint(1, 2)})
        elif roll < 0.9:
            await self.post("/api/Order/place", {"accountId": account, "contractId": cid, "type": 4, "side": 1,
                                                 "size": 1, "stopPrice": self.prices[cid] - 40 * tick})
        else:
            await self.post("/api/Order/place", {"accountId": account, "contractId": cid, "type": 1, "side": 0,
                                                 "size": 1, "limitPrice": self.prices[cid] - 80 * tick})
        self.actions += 1


async def _start_sim(tmp: Path) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    from bench._rig import daemon_command

    script = daemon_command(tmp)[0]
    cmd = ([script, "sim"] if script.endswith("risk-manager") else [sys.executable, "-m", "risk_manager", "sim"])
    proc = await asyncio.create_subprocess_exec(
        *cmd, "--port", "0", "--accounts", "2", "--seed", "11", "--speed", "0",
        stdout=asyncio.subprocess.PIPE, stderr=(tmp / "sim.err").open("wb"))
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20.0)
    return proc, json.loads(line)


async def test_soak_with_faults_memory_flat_and_no_task_leak(tmp_path: Path) -> None:
    from bench._rig import write_config
    from risk_manager.daemon.app import Daemon

    rng = random.Random(99)
    sim_proc, info = await _start_sim(tmp_path)
    api, accounts = info["api"], info["accounts"]
    config = write_config(tmp_path / "config", api, accounts, RULES)
    yaml = YAML()
    doc = yaml.load((config / "accounts.yaml").read_text())
    doc["accounts"][1]["overrides"] = LOOSE
    with (config / "accounts.yaml").open("w") as fh:
        yaml.dump(doc, fh)
    trader = SoakTrader(api, accounts, rng)
    daemon = Daemon(config, environ={"PROJECTX_API_KEY": "sim-key"}, console_log=False)
    samples: list[tuple[float, float, int]] = []  # (elapsed s, RSS MB, daemon tasks)
    try:
        await trader.post("/sim/config", {"rate_limit": None}, auth=False)
        for cid, (price, _) in CONTRACTS.items():
            await trader.post("/sim/price", {"contractId": cid, "price": price}, auth=False)
        await daemon.start()
        await trader.post("/sim/quotes", {"rate": 100, "contracts": sorted(CONTRACTS), "seconds": SOAK_S + 30},
                          auth=False)
        started = time.monotonic()
        next_fault = started + 2.5
        next_sample = started + 1.0
        fault_on = False
        while (elapsed := time.monotonic() - started) < SOAK_S:
            await trader.act()
            now = time.monotonic()
            if now >= next_fault:
                if fault_on:
                    await trader.post("/sim/fault", {"kind": "clear"}, auth=False)
                    next_fault = now + rng.uniform(1.0, 2.5)
                else:
                    await trader.post("/sim/fault", rng.choice(FAULTS), auth=False)
                    next_fault = now + 1.0
                fault_on = not fault_on
            if now >= next_sample:
                samples.append((elapsed, rss_mb(), len(daemon_tasks())))
                next_sample = now + 1.0
            await asyncio.sleep(rng.uniform(0.2, 0.8))
        await trader.post("/sim/fault", {"kind": "clear"}, auth=False)
        assert daemon.state == "running"
        counters = daemon.pipeline.counters
        budget_waits = daemon.rest.budget.waits if daemon.rest.budget is not None else 0
        assert counters["events"] > 100 and counters["engine_errors"] == 0, counters
        await daemon.shutdown()
        await asyncio.sleep(0.2)
        left = daemon_tasks()
        assert not left, f"daemon tasks still alive after shutdown: {[t.get_coro() for t in left][:10]}"
    finally:
        if daemon.state != "stopping":
            await daemon.shutdown()
        await trader.http.close()
        if sim_proc.returncode is None:
            sim_proc.terminate()
            await sim_proc.wait()

    steady = [s for s in samples if s[0] >= 0.3 * SOAK_S]
    assert len(steady) >= 5, samples
    third = len(steady) // 3
    early, late = steady[:third], steady[-third:]
    growth = max(s[1] for s in late) - statistics.median(s[1] for s in early)
    print(f"\nsoak {SOAK_S:.0f} s, {trader.actions} trader actions, events {counters['events']}, "
          f"REST budget waits {budget_waits}, "
          f"RSS {steady[0][1]:.1f} → {steady[-1][1]:.1f} MB, daemon tasks {[s[2] for s in steady]}")
    assert growth < (30.0 if LONG else 15.0), f"RSS grew {growth:.1f} MB during the soak: {samples}"
    # Enforcement bursts (and REST-budget waits) raise the task count for a while; a leak is a
    # floor that keeps rising: the quietest moment late in the run must be back near the early one.
    floor_growth = min(s[2] for s in late) - min(s[2] for s in early)
    assert floor_growth <= 10, f"daemon task floor grew by {floor_growth}: {[s[2] for s in samples]}"
