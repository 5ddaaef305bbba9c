"""The executor and the guard's own orders: real simulator, REST client, SQLite store and engine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from risk_manager.clock import SystemClock
from risk_manager.config.models import RiskConfig
from risk_manager.daemon.adapters import EngineOwnOrders
from risk_manager.engine.actions import Flatten, PlaceStop
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.engine import RiskEngine
from risk_manager.engine.own_orders import GUARD_TAG_PREFIX
from e2e.helpers import BUY, LIMIT, MES, MNQ, SELL
from daemon.executor_rig import FAST, executor_rig

pytestmark = pytest.mark.e2e


@pytest.fixture
async def rig(tmp_path):
    engine = RiskEngine(RiskConfig.model_validate({"rules": {}}), ContractCatalog([]))
    saved: list = []

    def save() -> None:
        records = engine.take_records()
        r.store.save_engine_records(records)
        saved.extend(records)

    async with executor_rig(tmp_path, settings=FAST,
                            own_orders=EngineOwnOrders(engine, SystemClock(), save)) as r:
        yield r.sim, r.trader, r.executor, r.store, engine


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
