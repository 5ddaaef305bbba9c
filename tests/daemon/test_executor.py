"""The executor against the real simulator, the real REST client and a real SQLite store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from risk_manager.daemon.adapters import GatewayBroker
from risk_manager.engine.actions import (
    CancelOrder,
    ClosePosition,
    Flatten,
    Lock,
    LockEnd,
    LockKind,
    PartialClose,
    SetLock,
)
from risk_manager.enforcement.executor import ExecutorSettings
from e2e.helpers import BUY, LIMIT, MNQ, MES, SELL, Trader, wait_for
from daemon.executor_rig import FAST, executor_rig

pytestmark = pytest.mark.e2e


@pytest.fixture
async def rig(tmp_path):
    outcomes: list[dict] = []
    async with executor_rig(tmp_path, accounts=2, settings=FAST, on_outcome=outcomes.append) as r:
        yield r.sim, r.trader, r.executor, r.store, outcomes


def _lock(account: int) -> Lock:
    now = datetime.now(UTC)
    return Lock(account, "R03", LockKind.LOCKOUT, "test loss", LockEnd.RESET, now + timedelta(hours=1), now)


async def test_flatten_cancels_orders_then_closes_positions_and_persists_lock_first(rig):
    sim, trader, executor, store, outcomes = rig
    account = sim.info()["accounts"][0]
    await trader.price(MNQ, 20000.0)
    await trader.price(MES, 6000.0)
    await trader.place(account, MNQ, BUY, 2)
    await trader.place(account, MES, SELL, 1)
    await trader.place(account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
    assert len(await trader.positions(account)) == 2
    seq = await trader.last_seq()

    executor.submit([SetLock(_lock(account)), Flatten(account, "R03", "test loss")])
    # The lock and the intent are durable before any network call has even been made.
    assert [lock.rule for lock in store.active_locks(account)] == ["R03"]
    assert len(store.open_intents(account)) == 1

    await wait_for(lambda: trader.flat(account), what="account flat")
    await executor.drain(5)
    paths = [r["path"].lower() for r in await trader.log(seq)]
    mutations = [p for p in paths if "cancel" in p or "close" in p]
    assert mutations[0].endswith("/order/cancel"), mutations
    assert sum(p.endswith("/position/closecontract") for p in paths) == 2
    assert store.open_intents(account) == []
    phases = [row.phase for row in store.audit_rows(account)]
    assert "lock_set" in phases and "confirmed" in phases
    assert outcomes and outcomes[-1]["outcome"] == "ok"


async def test_close_in_flight_is_never_sent_twice(rig):
    sim, trader, executor, store, _ = rig
    account = sim.info()["accounts"][0]
    await trader.price(MNQ, 20000.0)
    await trader.place(account, MNQ, BUY, 1)
    seq = await trader.last_seq()
    await trader.fault("delay_ms", ms=300, count=1, paths=["/api/Position/closeContract"])
    action = ClosePosition(account, MNQ, "R05", "target")
    executor.submit([action])
    executor.submit([action])
    executor.submit([Flatten(account, "R03", "loss")])
    await executor.drain(5)
    closes = [r for r in await trader.log(seq) if r["path"].lower().endswith("/position/closecontract")]
    assert len(closes) == 1
    assert await trader.flat(account)


async def test_http_500_on_close_is_reconciled_before_retry(rig):
    sim, trader, executor, store, _ = rig
    account = sim.info()["accounts"][0]
    await trader.price(MNQ, 20000.0)
    await trader.place(account, MNQ, BUY, 1)
    await trader.fault("http_500", count=2, paths=["/api/Position/closeContract"])
    seq = await trader.last_seq()
    executor.submit([SetLock(_lock(account)), Flatten(account, "R03", "loss")])
    await executor.drain(10)
    assert await trader.flat(account)
    log = [r["path"].lower() for r in await trader.log(seq)]
    first_close = next(i for i, p in enumerate(log) if p.endswith("/closecontract"))
    # Between the failed close and the next close there is a searchOpen (reconcile first).
    second_close = next(i for i, p in enumerate(log) if i > first_close and p.endswith("/closecontract"))
    assert any(p.endswith("/position/searchopen") for p in log[first_close + 1:second_close])
    assert any(r.phase == "call_failed" for r in store.audit_rows(account))


async def test_http_429_during_flatten_backs_off_and_completes(rig):
    sim, trader, executor, store, _ = rig
    account = sim.info()["accounts"][0]
    await trader.price(MNQ, 20000.0)
    await trader.place(account, MNQ, BUY, 1)
    await trader.place(account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
    await trader.fault("http_429", count=2, retry_after=1, paths=["/api/Order/cancel", "/api/Position/closeContract"])
    executor.submit([Flatten(account, "R03", "loss")])
    await executor.drain(15)
    assert await trader.flat(account)


async def test_cancel_of_an_order_no_longer_working_is_refused_not_ok(rig):
    # The broker refused the cancel and the order is not working: settled, but not by our call,
    # so the history says "refused" (with the broker's answer), never "ok".
    sim, trader, executor, store, outcomes = rig
    account = sim.info()["accounts"][0]
    await trader.price(MNQ, 20000.0)
    executor.submit([CancelOrder(account, 123456789, MNQ, "lock_gate", "locked")])
    await executor.drain(5)
    assert outcomes[-1]["outcome"] == "refused"
    assert "refused the call" in outcomes[-1]["notes"][-1]
    assert [r.phase for r in store.audit_rows(account)][-1] == "refused"


async def test_one_slow_account_does_not_delay_another(rig):
    sim, trader, executor, store, _ = rig
    slow, fast = sim.info()["accounts"][:2]
    await trader.price(MNQ, 20000.0)
    await trader.place(slow, MNQ, BUY, 1)
    await trader.place(fast, MNQ, BUY, 1)
    await trader.fault("delay_ms", ms=1500, count=1, paths=["/api/Position/searchOpen"])
    executor.submit([Flatten(slow, "R03", "loss")])
    await asyncio.sleep(0.05)
    executor.submit([Flatten(fast, "R03", "loss")])
    await wait_for(lambda: trader.flat(fast), timeout=1.2, what="fast account flat while slow waits")
    await executor.drain(5)
    assert await trader.flat(slow)


async def test_a_partial_close_on_the_account_worker_counts_as_in_flight(rig):
    """A reduction waits on its position read; until it is answered the executor is busy, so
    `/status` (daemon.enforcing) never says "nothing left to do" while a reduction is pending."""
    sim, trader, executor, _, outcomes = rig
    acct = sim.info()["accounts"][0]
    await trader.price(MNQ, 20000.0)
    await trader.place(acct, MNQ, BUY, 3)
    await trader.fault("delay_ms", ms=600, count=2, paths=["/api/Position/searchOpen",
                                                           "/api/Position/partialCloseContract"])
    executor.submit([PartialClose(acct, MNQ, 1, "R01", "over the limit")])
    await asyncio.sleep(0.2)  # the job is on the account's worker, its read not yet answered
    assert executor.in_flight() == 1 and executor.busy()
    assert await executor.drain(5)
    assert executor.in_flight() == 0 and not executor.busy()
    assert [o["outcome"] for o in outcomes] == ["ok"]
    assert (await trader.positions(acct))[0]["size"] == 2


async def test_a_cancel_starts_on_the_first_loop_turn_after_the_decision(tmp_path):
    """The kill switch's cancel begins its broker call on the first event-loop turn after
    `submit` (every extra turn queues it behind all ready hub frames): no wrapper task awaiting
    the mutation, no `wait_for` task around the call."""
    turns = 0
    started: list[int] = []

    class WatchedBroker(GatewayBroker):  # the real broker; only notes when the call begins
        async def cancel_order(self, account_id: int, order_id: int) -> None:
            started.append(turns)
            await super().cancel_order(account_id, order_id)

    outcomes: list[dict] = []
    async with executor_rig(tmp_path, broker=WatchedBroker, on_outcome=outcomes.append) as rig:
        sim, trader, executor = rig.sim, rig.trader, rig.executor
        account = sim.info()["accounts"][0]
        await trader.price(MNQ, 20000.0)
        placed = await trader.place(account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
        executor.submit([CancelOrder(account, placed["orderId"], MNQ, "lock_gate", "locked")])
        while not started and turns < 10:
            turns += 1
            await asyncio.sleep(0)
        assert started == [1]
        await wait_for(lambda: _no_orders(trader, account), what="order cancelled")
        await executor.drain(5)
        assert [o["outcome"] for o in outcomes] == ["ok"]


async def _no_orders(trader: Trader, account: int) -> bool:
    return not await trader.working_orders(account)


async def test_a_flatten_that_ran_to_its_end_unconfirmed_leaves_no_intent_for_a_restart(tmp_path):
    # Found by the model checker (seed 6094): a flatten that failed left its intent open; the lock
    # guard's later flatten confirmed the account flat, and a restart then re-issued the old one —
    # an enforcement caused by the restart alone (hours later it would flatten what the trader
    # holds by then). An intent stays open only when the flatten is cut short (a crash).
    settings = ExecutorSettings(call_timeout_s=2.0, max_attempts=2, backoff_s=(0.02,), flatten_rounds=2)
    async with executor_rig(tmp_path, settings=settings) as r:
        account = r.sim.info()["accounts"][0]
        await r.trader.price(MNQ, 20000.0)
        await r.trader.place(account, MNQ, BUY, 1)
        await r.trader.fault("http_500", count=50, paths=["/api/Position/closeContract"])
        r.executor.submit([Flatten(account, "R03", "loss")])
        await r.executor.drain(10)
        assert not await r.trader.flat(account)
        assert r.store.open_intents(account) == []
        intent = r.store.get_intent(1)
        assert intent is not None and (intent.outcome or "").startswith("failed"), intent

        # Cut short (shutdown while it works): the intent stays for the restart to finish.
        await r.trader.fault("delay_ms", ms=2000, count=1, paths=["/api/Order/searchOpen"])
        r.executor.submit([Flatten(account, "R03", "loss")])
        await asyncio.sleep(0.1)
        for task in list(r.executor._tasks):
            task.cancel()
        await asyncio.sleep(0.05)
        assert len(r.store.open_intents(account)) == 1
