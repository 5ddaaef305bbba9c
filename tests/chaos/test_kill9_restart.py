"""kill -9 of the daemon at random points of a scripted trading day, then restart (docs/operations.md).

One simulator (this process) and one `risk-manager run` subprocess guarding two accounts: A with
R03 loss limit $150 (it breaches somewhere in the day and stays locked until the reset), B with a
limit it never reaches. Each run: the trader trades round trips (and sometimes leaves a position
open) on both accounts while the daemon is SIGKILLed at a random moment; the trader keeps trading
while it is down; the daemon is restarted. After every restart:
- no lock lost: whenever the simulator's realized P&L of A is past the limit, /status shows A locked;
- nothing left open on a locked account (positions and working orders, at the simulator);
- realized P&L per account in /status equals the simulator's (net of fees and commissions);
- the audit rows committed before the kill are all still there.
At the end: a clean stop exits 0, no enforcement intent is left open, every active lock has its
`lock_set` audit row. 5 runs in CI, 50 with RM_CHAOS_LONG=1.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from chaos.conftest import scale

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]

MNQ = "CON.F.US.MNQ.U26"  # $0.50 per 0.25 tick: $2 per point
BUY, SELL, LIMIT = 0, 1, 1
LOSS_LIMIT = 150.0
RULES = {"daily_realized_loss": {"enabled": True, "loss_limit": LOSS_LIMIT, "include_unrealized": False}}


def sim_realized(sim: Any, account: int) -> float:
    """Net realized P&L of the day at the simulator: every fill's P&L (0 on opening fills) − fees −
    commissions, the balance change."""
    total = 0.0
    for t in sim.state()["trades"]:
        if t["accountId"] == account and not t.get("voided"):
            total += (t.get("profitAndLoss") or 0.0) - t["fees"] - t["commissions"]
    return round(total, 2)


def audit_ids(db: Path) -> set[int]:
    """Committed audit row ids, read-only beside the running daemon (WAL)."""
    if not db.exists():
        return set()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)
    try:
        return {row[0] for row in con.execute("SELECT id FROM audit")}
    except sqlite3.OperationalError:
        return set()  # not created yet
    finally:
        con.close()


def account_row(status: dict[str, Any], account: int) -> dict[str, Any]:
    return next(a for a in status["accounts"] if a["id"] == account)


async def trade_round_trips(trader: Any, sim: Any, rng: random.Random, accounts: list[int], steps: int) -> None:
    """Round trips with random outcomes (the first account mostly loses); sometimes a position or
    a resting order is left."""
    for _ in range(steps):
        account = rng.choice(accounts)
        price = sim.engine.market(MNQ).last
        side = rng.choice((BUY, SELL))
        size = 2 if account == accounts[0] else 1
        await trader.place(account, MNQ, side, size)
        adverse = rng.random() < (0.75 if account == accounts[0] else 0.5)
        move = (-1 if (side == BUY) == adverse else 1) * rng.randint(4, 120) * 0.25
        await trader.price(MNQ, price + move)
        roll = rng.random()
        if roll < 0.75:
            await trader.place(account, MNQ, 1 - side, size)
        elif roll < 0.9:
            await trader.place(account, MNQ, BUY, 1, type=LIMIT, limitPrice=price - 200.0)
        await asyncio.sleep(rng.uniform(0.0, 0.15))


async def test_kill9_at_random_points_then_restart_keeps_every_guarantee(tmp_path: Path) -> None:
    from bench._rig import DaemonProcess, Trader, fetch_status, wait_for, write_config
    from risk_manager.clock import SystemClock
    from risk_manager.sim import Simulator
    from risk_manager.store import Store

    rng = random.Random(20261121)
    sim = Simulator(accounts=2, seed=3, speed=0.0, rate_limit=None)
    await sim.start()
    a, b = sim.info()["accounts"]
    config = write_config(tmp_path / "config", sim.info()["api"], [a, b], RULES)
    yaml = YAML()
    doc = yaml.load((config / "accounts.yaml").read_text())
    doc["accounts"][1]["overrides"] = {"daily_realized_loss": {"loss_limit": 1_000_000}}
    with (config / "accounts.yaml").open("w") as fh:
        yaml.dump(doc, fh)
    await sim.set_price(MNQ, 20000.0)
    daemon = DaemonProcess(config)
    trader = Trader(sim.info()["api"])
    db = config / "state" / "risk_manager.db"
    try:
        await trader.login()
        daemon.start()
        await daemon.wait_ready()
        for run in range(scale(5, 50)):
            steps = rng.randint(3, 7)
            script = asyncio.ensure_future(trade_round_trips(trader, sim, rng, [a, b], steps))
            await asyncio.sleep(rng.uniform(0.0, 0.25 * steps))
            committed = audit_ids(db)
            daemon.kill9()
            await script  # the trader goes on while the daemon is dead
            await trade_round_trips(trader, sim, rng, [a, b], rng.randint(0, 2))
            daemon.start()
            await daemon.wait_ready()
            assert daemon.status_url is not None
            url = daemon.status_url

            async def settled() -> Any:
                status = await fetch_status(url)  # noqa: B023 - awaited in this iteration
                if status is None:
                    return None
                row_a, row_b = account_row(status, a), account_row(status, b)
                if abs(row_a["realized_pnl"] - sim_realized(sim, a)) > 0.011:
                    return None
                if abs(row_b["realized_pnl"] - sim_realized(sim, b)) > 0.011:
                    return None
                if sim_realized(sim, a) <= -LOSS_LIMIT:
                    if not any(lock["rule"] == "R03" for lock in row_a["locks"]):
                        return None
                    if not await trader.flat(a):
                        return None
                return status

            try:
                await wait_for(settled, timeout=15.0, interval=0.1, what=f"run {run}: state after restart")
            except AssertionError:
                status = await fetch_status(url)
                rows = {acc: account_row(status, acc) for acc in (a, b)} if status else None
                raise AssertionError(
                    f"run {run}: sim realized A={sim_realized(sim, a)} B={sim_realized(sim, b)}, "
                    f"A flat={await trader.flat(a)}; daemon rows={rows}\n{daemon.tail()}") from None
            lost = committed - audit_ids(db)
            assert not lost, f"run {run}: audit rows lost by kill -9: {sorted(lost)[:10]}"
        assert sim_realized(sim, a) <= -LOSS_LIMIT, "the scripted day never reached the R03 breach"
        assert daemon.stop() == 0, daemon.tail()
    finally:
        daemon.stop()
        await trader.close()
        await sim.stop()
    store = Store(db, SystemClock())
    try:
        assert store.open_intents() == [], "enforcement intents left open after restarts"
        locks = store.active_locks()
        assert any(lock.account_id == a and lock.rule == "R03" for lock in locks)
        lock_sets = {(r.account_id, r.rule) for r in store.audit_rows(limit=1_000_000) if r.phase == "lock_set"}
        for lock in locks:
            assert (lock.account_id, lock.rule) in lock_sets, f"lock {lock} has no lock_set audit row"
    finally:
        store.close()
