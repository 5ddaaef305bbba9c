"""Enforcement is not queued behind reconciliation reads for the REST rate budget.

The real daemon (in-process) guards 50 simulator accounts (the most the guard is specified for); the simulator enforces
the gateway's real limit (200 requests / 60 s, HTTP 429 beyond). Start-up reads every account in
full (1 + 3 × 50) and then sweeps the quiet ones, which exhausts the share of the budget reads may
use, so the sweep waits for the 60 s window. A user-hub reconnect then reconciles the account at
risk from the reserve, and a breach arriving over the hub must be enforced at once: the
executor's reads and its cancel/close use the reserve, and nothing is answered 429.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

MNQ = "CON.F.US.MNQ.U26"
BUY, SELL, LIMIT = 0, 1, 1
RULES = {"daily_realized_loss": {"enabled": True, "loss_limit": 50, "include_unrealized": False}}
ACCOUNTS = 50  # start-up ≈ 3 + (1 + 3 × 50) + 1 reads, then 2 per quiet account: over the share


async def test_breach_enforced_while_reconcile_reads_wait_for_the_window(tmp_path: Path) -> None:
    from bench._rig import Trader, wait_for, write_config
    from e2e.helpers import account_locks, get_status
    from risk_manager.daemon.app import Daemon
    from risk_manager.sim import Simulator

    sim = Simulator(accounts=ACCOUNTS, seed=5, speed=0.0, rate_limit=(200, 60.0))
    await sim.start()
    accounts = sim.info()["accounts"]
    write_config(tmp_path / "config", sim.info()["api"], accounts, RULES)
    daemon = Daemon(tmp_path / "config", environ={"PROJECTX_API_KEY": "sim-key"}, console_log=False)
    trader = Trader(sim.info()["api"])
    account = accounts[-1]
    try:
        await daemon.start()
        budget = daemon.rest.budget
        assert budget is not None and budget.reserve > 0
        await trader.login()
        await trader.price(MNQ, 20000.0)
        await trader.place(account, MNQ, BUY, 2)
        await trader.place(account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)

        reconnects = daemon.counters.get("reconciles", 0)
        await trader.fault(kind="drop_user_hub", down_ms=300)

        async def reads_exhausted() -> bool:
            return daemon.counters.get("reconciles", 0) > reconnects and budget.used >= budget.ordinary_limit

        await wait_for(reads_exhausted, timeout=15.0, what="the reads to exhaust their share")
        reads_before = sum(1 for r in sim.request_log if "search" in r["path"].lower())

        await trader.price(MNQ, 19960.0)
        reply = await trader.place(account, MNQ, SELL, 1)  # -$80 realized: R03 breached
        assert reply.get("success"), reply

        async def locked_and_flat() -> bool:
            status = await get_status(daemon.status_url)  # type: ignore[arg-type]
            locked = any(lock["rule"] == "R03" for lock in account_locks(status, account))
            return locked and await trader.flat(account)

        # Well inside the 60 s the waiting reads need: the flatten did not queue behind them.
        await wait_for(locked_and_flat, timeout=15.0, interval=0.1, what="locked and flat")
        assert budget.used >= budget.ordinary_limit, "the sweep's reads were not held back"
        assert daemon.reconciler is not None and daemon.reconciler.sweep_pending > 0, "the sweep should still wait"
        log = list(sim.request_log)
        closes = [r for r in log if r["path"].lower() == "/api/position/closecontract"]
        cancels = [r for r in log if r["path"].lower() == "/api/order/cancel"]
        assert closes and cancels, "enforcement calls never reached the gateway"
        stats = daemon.rest.stats
        print(f"\nbudget: used {budget.used}/{budget.limit} (reads {budget.ordinary_limit}), waits {budget.waits}, "
              f"priority waits {budget.priority_waits}; searches before the breach {reads_before}; {stats}")
        assert stats["http_429"] == 0, f"the simulator's limiter refused the daemon: {stats}"
    finally:
        await daemon.shutdown()
        await trader.close()
        await sim.stop()
