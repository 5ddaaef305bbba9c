"""The executor and the guard's own orders: real simulator, REST client, SQLite store and engine."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from risk_manager.clock import SystemClock
from risk_manager.config.models import RiskConfig
from risk_manager.daemon.adapters import EngineOwnOrders
from risk_manager.engine.actions import ClosePosition, Flatten, PartialClose, PlaceStop
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.engine import RiskEngine
from risk_manager.engine.own_orders import GUARD_TAG_PREFIX
from e2e.helpers import BUY, LIMIT, MES, MNQ, SELL
from daemon.executor_rig import FAST, executor_rig

pytestmark = pytest.mark.e2e


@asynccontextmanager
async def _rig(tmp_path, fills=None):
    engine = RiskEngine(RiskConfig.model_validate({"rules": {}}), ContractCatalog([]))

    def save() -> None:
        r.store.save_engine_records(engine.take_records())

    async with executor_rig(tmp_path, settings=FAST, fills=fills,
                            own_orders=EngineOwnOrders(engine, SystemClock(), save)) as r:
        yield r.sim, r.trader, r.executor, r.store, engine


@pytest.fixture
async def rig(tmp_path):
    async with _rig(tmp_path) as r:
        yield r


async def test_flatten_never_cancels_an_own_close_restored_after_a_restart(rig):
    sim, trader, executor, store, engine = rig
    account = sim.info()["accounts"][0]
    await trader.price(MNQ, 20000.0)
    await trader.price(MES, 6000.0)
    await trader.place(account, MNQ, BUY, 1)
    traders = (await trader.place(account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0))["orderId"]
    guards = (await trader.place(account, MES, SELL, 1, type=LIMIT, limitPrice=6100.0))["orderId"]
    # The store says the guard placed `guards` to close a position (it is still working).
    engine.restore_own_orders([(account, guards, "close")])
    seq = await trader.last_seq()
    executor.submit([Flatten(account, "R03", "loss")])
    await executor.drain(5)
    cancelled = [r["body"]["orderId"] for r in await trader.log(seq)
                 if r["path"].lower().endswith("/order/cancel")]
    assert cancelled == [traders]
    assert {o["id"] for o in await trader.working_orders(account)} == {guards}
    assert not await trader.positions(account)


async def test_a_placed_stop_carries_the_guards_tag_and_its_id_is_recorded(rig):
    sim, trader, executor, store, engine = rig
    account = sim.info()["accounts"][0]
    await trader.price(MNQ, 20000.0)
    await trader.place(account, MNQ, BUY, 1)
    executor.submit([PlaceStop(account, MNQ, SELL, 1, 19950.0, "R12", "breakeven")])
    await executor.drain(5)
    stop = next(o for o in await trader.working_orders(account) if o["type"] == 4)
    assert stop["customTag"].startswith(GUARD_TAG_PREFIX)
    assert engine.state(account).own_orders.kinds == {stop["id"]: "stop"}
    assert (account, stop["id"], "stop") in store.own_orders(datetime(2000, 1, 1, tzinfo=UTC))


async def test_closes_the_broker_did_not_act_on_leave_no_claim_behind(rig):
    # A claim left by a close that never happened would bind the trader's next market exit as
    # the guard's own (never judged by R07, never cancelled while locked) and would count as a
    # reduction under way for R01/R02 (seed 6109's fix counts those).
    sim, trader, executor, store, engine = rig
    account = sim.info()["accounts"][0]
    await trader.price(MNQ, 20000.0)
    await trader.place(account, MNQ, BUY, 2)
    await trader.fault("http_500", count=50, paths=["/api/Position/closeContract",
                                                     "/api/Position/partialCloseContract"])
    executor.submit([PartialClose(account, MNQ, 1, "R02", "over the limit")])
    executor.submit([ClosePosition(account, MNQ, "R05", "target")])
    await executor.drain(10)
    assert len(await trader.positions(account)) == 1  # every attempt failed
    own = engine.state(account).own_orders
    assert not own.claiming
    await trader.fault("clear")
    # The broker says no (nothing to close on ES): refused, and no claim either.
    executor.submit([ClosePosition(account, "CON.F.US.EP.U26", "R05", "target")])
    await executor.drain(5)
    assert not own.claiming


async def test_a_close_still_filling_is_never_sent_again(tmp_path):
    # Found by the model checker (seed 6109): the lock gate's close and the lock's flatten 4 ms
    # apart. closeContract returns before its order fills (here 150 ms later): a second one in
    # that time is sized by the position still open, closes it twice and turns it.
    async with _rig(tmp_path, fills={"fill_latency_ms": 150}) as (sim, trader, executor, store, engine):
        account = sim.info()["accounts"][0]
        await trader.price(MNQ, 20000.0)
        await trader.place(account, MNQ, BUY, 1)
        await asyncio.sleep(0.3)  # the trader's own buy fills
        seq = await trader.last_seq()
        executor.submit([ClosePosition(account, MNQ, "lock_gate", "locked")])
        await asyncio.sleep(0.02)  # the first close has its answer; its order is still working
        executor.submit([ClosePosition(account, MNQ, "R03", "flatten")])
        await executor.drain(5)
        closes = [r for r in await trader.log(seq) if r["path"].lower().endswith("/position/closecontract")]
        assert len(closes) == 1
        await asyncio.sleep(0.3)
        assert await trader.positions(account) == []
