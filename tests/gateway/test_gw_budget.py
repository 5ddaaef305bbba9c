"""The REST rate budget's reserve: enforcement never waits behind reads.

Against the simulator's real sliding-window limiter (it answers 429 beyond its limit) and the
scriptable fake server. Windows are short (1–2 s) to keep the tests fast; the assertions are about
order and counts, not about speed.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from gw_fake_server import until
from risk_manager.clock import SystemClock
from risk_manager.daemon.adapters import GatewayBroker
from risk_manager.enforcement.executor import Executor
from risk_manager.priority import on_lock_path
from risk_manager.engine.actions import Flatten
from risk_manager.events import OrderStatus, OrderType
from risk_manager.gateway.rest import GatewayRest, RateBudget
from risk_manager.sim import Simulator

MNQ = "CON.F.US.MNQ.U26"
BUY = 0


def arrivals(sim: Simulator, endpoint: str) -> list[int]:
    """Sequence numbers of the requests to /api/<endpoint> in the simulator's log."""
    path = f"/api/{endpoint}".lower()
    return [r["seq"] for r in sim.request_log if r["path"].lower() == path]


@pytest.mark.e2e
async def test_cancel_goes_out_while_reads_wait_for_the_window() -> None:
    window = 2.0
    async with Simulator(accounts=1, seed=3, speed=0.0, rate_limit=(10, window)) as sim:
        info = sim.info()
        account = info["accounts"][0]
        # budget 9 of the sim's 10; 3 kept for priority calls, so reads get 6 per window
        rest = GatewayRest(info["api"], info["user"], info["api_key"], rate_limit=(10, window),
                           mutation_reserve=3, timeout=5.0)
        try:
            budget = rest.budget
            assert budget is not None and (budget.limit, budget.ordinary_limit) == (9, 6)
            await rest.token()  # 1 (priority)
            await sim.set_price(MNQ, 20000.0)
            order_id = await rest.place_order(account, MNQ, OrderType.LIMIT, BUY, 1, limit_price=10000.0)  # 2

            # A reconcile storm: 8 reads; 4 fit in the ordinary share (6 - login - place)
            reads = [asyncio.create_task(rest.search_open_orders(account)) for _ in range(8)]
            await until(lambda: sum(t.done() for t in reads) == 4)
            assert budget.used == 6 and budget.waits == 0
            assert sum(t.done() for t in reads) == 4  # the rest wait for the window

            started = time.monotonic()
            await rest.cancel_order(account, order_id)
            cancel_took = time.monotonic() - started
            assert budget.priority_waits == 0, "the cancel waited for the budget"
            # It reached the gateway before any of the waiting reads did.
            (cancel_seq,) = arrivals(sim, "Order/cancel")
            searches = arrivals(sim, "Order/searchOpen")
            assert len(searches) == 4 and all(seq < cancel_seq for seq in searches)

            results = await asyncio.wait_for(asyncio.gather(*reads), 4 * window)
            assert all(r == [] for r in results[4:])  # the cancelled order is gone
            assert len(arrivals(sim, "Order/searchOpen")) == 8 and budget.waits >= 4
            assert rest.stats["http_429"] == 0, "the simulator's limiter refused a request"
            assert sim.engine.orders[order_id].status == OrderStatus.CANCELLED
            print(f"\ncancel with ordinary budget exhausted: {cancel_took * 1000:.1f} ms")
        finally:
            await rest.close()


@pytest.mark.e2e
async def test_flatten_is_not_delayed_by_a_reconcile_storm(tmp_path) -> None:
    """The executor's whole flatten (its searchOpen reads, cancel, close, re-read) uses the reserve
    while a reconcile's Trade/search reads wait for the window."""
    from risk_manager.store import Store

    window = 2.0
    async with Simulator(accounts=1, seed=3, speed=0.0, rate_limit=(20, window)) as sim:
        info = sim.info()
        account = info["accounts"][0]
        await sim.set_price(MNQ, 20000.0)
        trader = GatewayRest(info["api"], info["user"], info["api_key"], rate_limit=None)
        # budget 15 of which 8 kept for the lock path: reads stop at 7 in the window (login + 6)
        rest = GatewayRest(info["api"], info["user"], info["api_key"], rate_limit=(16, window),
                           mutation_reserve=8, timeout=5.0)
        store = Store(tmp_path / "state.db", SystemClock())
        executor = Executor(GatewayBroker(rest), store, SystemClock())
        try:
            await trader.place_order(account, MNQ, OrderType.MARKET, BUY, 2)
            await trader.place_order(account, MNQ, OrderType.LIMIT, BUY, 1, limit_price=10000.0)
            await rest.token()
            storm = [asyncio.create_task(rest.search_open_positions(account)) for _ in range(12)]
            await until(lambda: sum(t.done() for t in storm) == 6)

            executor.submit([Flatten(account, "R03", "test: loss limit")])
            assert await executor.drain(timeout=10.0)
            assert not sim.engine.open_positions(account) and not sim.engine.open_orders(account)
            assert rest.budget is not None and rest.budget.priority_waits == 0
            # every enforcement call reached the gateway before the 7th storm read
            storm_done = sum(t.done() for t in storm)
            enforcement = arrivals(sim, "Order/cancel") + arrivals(sim, "Position/closeContract")
            assert len(enforcement) == 2 and storm_done == 6, (enforcement, storm_done)
            await asyncio.wait_for(asyncio.gather(*storm), 4 * window)
            assert rest.stats["http_429"] == 0 and trader.stats["http_429"] == 0
        finally:
            await executor.close()
            store.close()
            await rest.close()
            await trader.close()


async def test_priority_call_goes_before_a_read_that_waited_longer() -> None:
    budget = RateBudget(3, 0.3, reserve=1)
    for _ in range(3):
        await budget.acquire(priority=True)  # the whole window, reserve included
    order: list[str] = []

    async def take(name: str, priority: bool) -> None:
        await budget.acquire(priority)
        order.append(name)

    read = asyncio.create_task(take("read", False))
    await asyncio.sleep(0.05)  # the read is waiting first
    cancel = asyncio.create_task(take("cancel", True))
    await asyncio.wait_for(asyncio.gather(read, cancel), 5)
    assert order == ["cancel", "read"]
    assert budget.priority_waits == 1 and budget.waits == 2


async def test_reads_never_use_the_reserve() -> None:
    budget = RateBudget(4, 0.3, reserve=2)
    await budget.acquire()
    await budget.acquire()
    started = time.monotonic()
    await budget.acquire()  # third read: waits for the first two to leave the window
    assert time.monotonic() - started >= 0.25 and budget.waits == 1
    await budget.acquire(priority=True)  # 2 in window + 1 = 3 of 4: a priority call still fits
    assert budget.priority_waits == 0


def test_reserve_is_validated() -> None:
    with pytest.raises(ValueError, match="reserve"):
        RateBudget(5, 1.0, reserve=5)
    with pytest.raises(ValueError, match="mutation_reserve"):
        GatewayRest("http://127.0.0.1:1", "u", "k", rate_limit=(10, 1.0), mutation_reserve=9)
    default = GatewayRest("http://127.0.0.1:1", "u", "k")
    assert default.budget is not None and (default.budget.limit, default.budget.reserve) == (190, 23)


async def test_lock_path_reads_use_the_reserve(fake) -> None:
    fake.handlers["Order/searchOpen"] = lambda b: {"success": True, "orders": []}
    rest = GatewayRest(fake.base, "user", "key", rate_limit=(11, 1.0), mutation_reserve=4)  # 10: 6 + 4
    try:
        await rest.token()
        for _ in range(5):
            await rest.search_open_orders(7)
        budget = rest.budget
        assert budget is not None and budget.used == 6 and budget.waits == 0
        with on_lock_path():  # what the executor sets around its reads and mutations
            await asyncio.wait_for(rest.search_open_orders(7), 0.9)
            await asyncio.wait_for(rest.search_open_orders(7), 0.9)
        assert budget.used == 8 and budget.waits == 0 and budget.priority_waits == 0
        assert [c[0] for c in fake.calls].count("Order/searchOpen") == 7
    finally:
        await rest.close()


async def test_urgent_reads_use_part_of_the_reserve_but_never_the_last_slots() -> None:
    budget = RateBudget(6, 0.3, reserve=4)  # ordinary 2, urgent up to 4, enforcement 6
    assert budget.enforcement_reserve == 2
    for _ in range(2):
        await budget.acquire()
    for _ in range(2):
        await budget.acquire(urgent=True)  # reconcile of at-risk accounts: into the reserve
    assert budget.waits == 0
    urgent = asyncio.create_task(budget.acquire(urgent=True))
    await asyncio.sleep(0.05)
    assert not urgent.done()  # the last two slots stay for enforcement
    for _ in range(2):
        await asyncio.wait_for(budget.acquire(priority=True), 0.05)  # a close goes out at once
    assert budget.priority_waits == 0
    await asyncio.wait_for(urgent, 5)  # the urgent read goes once the window slides
