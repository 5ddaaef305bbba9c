"""A reconcile reads at-risk accounts first, on the lock path, so a full read share cannot delay them.

The real daemon (in-process) against the real simulator. With the share of the REST budget that
ordinary reads may use exhausted, a reconcile must still read at once (from the reserve) the
accounts that hold a position or a working order, are locked, or whose balance moved while the
user hub was down; the flat, quiet accounts are left to a background sweep that waits for the
window without holding the reconcile up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import (BUY, LIMIT, MNQ, R03_REALIZED, Trader, account_locks, get_status, lose_60,
                          wait_for, write_config)
from risk_manager.daemon.app import Daemon
from risk_manager.sim import Simulator

pytestmark = pytest.mark.timeout(60)

RECONCILE_READS = {"/api/trade/search", "/api/position/searchopen", "/api/order/searchopen"}


def reads_by_account(log: list[dict[str, Any]], after_seq: int) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for row in log:
        body = row["body"] if isinstance(row["body"], dict) else {}
        if row["seq"] > after_seq and "accountId" in body:
            out.setdefault(body["accountId"], set()).add(row["path"].lower())
    return out


def sweep_done(daemon: Daemon) -> Any:
    async def check() -> bool:
        return daemon.reconciler is not None and daemon.reconciler.sweep_pending == 0
    return check


@asynccontextmanager
async def guarded(tmp_path: Path, accounts: int, seed: int,
                  rules: dict[str, Any] | None = None) -> AsyncIterator[tuple[Simulator, Daemon, Trader]]:
    """The simulator, the in-process daemon guarding all its accounts (started) and a logged-in trader."""
    sim = Simulator(accounts=accounts, seed=seed, speed=0.0)
    await sim.start()
    write_config(tmp_path / "config", sim.info()["api"], sim.info()["accounts"], rules)
    daemon = Daemon(tmp_path / "config", environ={"PROJECTX_API_KEY": "sim-key"},
                    console_log=False, configure_logging=False)
    trader = Trader(sim.info()["api"])
    try:
        await daemon.start()
        await trader.login()
        yield sim, daemon, trader
    finally:
        await daemon.shutdown()
        await trader.close()
        await sim.stop()


async def drop_user_hub(trader: Trader, daemon: Daemon) -> None:
    hub = daemon.user_hub
    assert hub is not None
    await trader.fault(kind="drop_user_hub", down_ms=1500)

    async def hub_down() -> bool:
        return not hub.connected

    await wait_for(hub_down, what="the user hub to drop")


def r03_locked_and_flat(daemon: Daemon, trader: Trader, account: int) -> Any:
    async def check() -> bool:
        status = await get_status(daemon.status_url)  # type: ignore[arg-type]
        locked = any(lock["rule"] == "R03" for lock in account_locks(status, account))
        return locked and await trader.flat(account)
    return check


async def test_at_risk_accounts_are_reconciled_first_from_the_reserve(tmp_path: Path) -> None:
    reconcile: asyncio.Task[None] | None = None
    async with guarded(tmp_path, accounts=5, seed=3) as (sim, daemon, trader):
        holding, ordering, locked, *flat = sim.info()["accounts"]
        engine, executor, budget = daemon.engine, daemon.executor, daemon.rest.budget
        assert engine is not None and executor is not None and budget is not None
        await trader.price(MNQ, 20000.0)
        await trader.place(holding, MNQ, BUY, 1)
        await trader.place(ordering, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
        await daemon.admin_lock(locked, None, True, "test: locked until reset", "tester")

        async def engine_sees_it() -> bool:
            return bool(engine.state(holding).positions and engine.state(ordering).orders
                        and engine.locks.is_locked(locked) and not executor.busy(locked))

        await wait_for(engine_sees_it, what="the position, the order and the lock in the engine")
        assert not any(daemon._at_risk(aid) for aid in flat)
        await wait_for(sweep_done(daemon), what="the start-up sweep of quiet accounts")
        try:
            # Other ordinary reads took the whole read share of the window.
            while budget.used < budget.ordinary_limit:
                await budget.acquire()
            seq = sim.request_log[-1]["seq"]
            reconcile = asyncio.create_task(daemon.reconcile(reason="test: user hub reconnect"))

            async def at_risk_read() -> bool:
                reads = reads_by_account(list(sim.request_log), seq)
                return all(reads.get(aid, set()) >= RECONCILE_READS for aid in (holding, ordering, locked))

            await wait_for(at_risk_read, timeout=10.0, what="the at-risk accounts' reconcile reads")
            await asyncio.wait_for(reconcile, 10.0)  # done: the quiet accounts do not hold it up
            log = list(sim.request_log)
            waiting = reads_by_account(log, seq)
            assert not any(aid in waiting for aid in flat), f"flat accounts went first: {waiting}"
            assert [r["path"] for r in log if r["seq"] > seq and r["path"].lower() == "/api/account/search"] \
                == ["/api/Account/search"], "Account/search goes first, once, from the reserve"
            reconciler = daemon.reconciler
            assert reconciler is not None
            assert reconciler.sweep_pending >= len(flat) - 1, "the quiet accounts wait in the sweep"
            assert daemon.rest.stats["http_429"] == 0
        finally:
            if reconcile is not None:
                reconcile.cancel()
                await asyncio.gather(reconcile, return_exceptions=True)


async def test_account_that_traded_while_the_hub_was_down_is_read_at_once(tmp_path: Path) -> None:
    """Flat when the hub dropped, so not at risk by what the engine holds: its moved balance in
    Account/search is what puts it first, and the loss it realized is enforced without waiting."""
    async with guarded(tmp_path, accounts=4, seed=4, rules=R03_REALIZED) as (sim, daemon, trader):
        trading, *quiet = sim.info()["accounts"]
        budget = daemon.rest.budget
        assert budget is not None
        await wait_for(sweep_done(daemon), what="the start-up sweep of quiet accounts")
        while budget.used < budget.ordinary_limit:
            await budget.acquire()
        seq = sim.request_log[-1]["seq"]
        await drop_user_hub(trader, daemon)
        await lose_60(trader, trading)  # -$60 realized, unseen: R03 ($50) is breached
        # Well inside the ~60 s the ordinary reads wait for the window.
        await wait_for(r03_locked_and_flat(daemon, trader, trading), timeout=15.0,
                       what="the loss made while blind to be enforced")
        waiting = reads_by_account(list(sim.request_log), seq)
        assert not any(aid in waiting for aid in quiet), f"quiet accounts went first: {waiting}"
        assert daemon.rest.stats["http_429"] == 0


async def test_quiet_accounts_cost_one_sweep_each_and_a_gap_order_is_found(tmp_path: Path) -> None:
    """After a reconnect, a flat account whose balance did not move is not read in full (no
    Trade/search, no Position/searchOpen: without a fill nothing it holds can have changed): the
    sweep re-reads its open orders, and so finds a resting order placed while the hub was down
    (no fill, so the balance could not tell)."""
    async with guarded(tmp_path, accounts=3, seed=6) as (sim, daemon, trader):
        ordering = sim.info()["accounts"][0]
        engine = daemon.engine
        assert engine is not None
        await trader.price(MNQ, 20000.0)
        await drop_user_hub(trader, daemon)
        seq = sim.request_log[-1]["seq"]
        reply = await trader.place(ordering, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
        order_id = reply["orderId"]

        async def order_seen() -> bool:
            return order_id in engine.state(ordering).orders

        await wait_for(order_seen, timeout=15.0, what="the gap's order found by the sweep")
        reads = reads_by_account(list(sim.request_log), seq)
        assert reads.get(ordering, set()) & RECONCILE_READS == {"/api/order/searchopen"}, reads


async def test_a_failed_full_read_is_retried_in_full(tmp_path: Path) -> None:
    """The account traded while the hub was down, and the reconcile's Trade/search fails (5xx past
    every retry). Account/search already took the moved balance in, so the account looks flat and
    quiet to the next reconcile: it must still be read in full later, and the loss enforced."""
    async with guarded(tmp_path, accounts=2, seed=8, rules=R03_REALIZED) as (sim, daemon, trader):
        trading = sim.info()["accounts"][0]
        await drop_user_hub(trader, daemon)
        await lose_60(trader, trading)  # -$60 realized, unseen: R03 ($50) is breached
        # One full read's Trade/search fails on every attempt (1 + 3 retries).
        await trader.fault(kind="http_500", count=4, paths=["/api/Trade/search"])
        await wait_for(r03_locked_and_flat(daemon, trader, trading), timeout=20.0,
                       what="the loss enforced after a failed read")
        assert daemon.rest.stats["http_5xx"] >= 4, daemon.rest.stats


async def test_without_account_search_quiet_accounts_are_swept_in_full(tmp_path: Path) -> None:
    """Account/search fails past every retry at the reconnect: a balance that moved cannot be
    seen, so the flat account that lost money while the hub was down is read in full anyway."""
    async with guarded(tmp_path, accounts=2, seed=9, rules=R03_REALIZED) as (sim, daemon, trader):
        trading = sim.info()["accounts"][0]
        await wait_for(sweep_done(daemon), what="the start-up sweep of quiet accounts")
        await trader.fault(kind="http_500", count=1000, paths=["/api/Account/search"])
        await drop_user_hub(trader, daemon)
        await lose_60(trader, trading)  # -$60 realized, unseen: R03 ($50) is breached
        await wait_for(r03_locked_and_flat(daemon, trader, trading), timeout=20.0,
                       what="the loss enforced without Account/search")
        assert daemon.rest.stats["http_5xx"] >= 4, daemon.rest.stats
