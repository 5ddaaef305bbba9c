"""Pipeline: what the engine records (handled trades, own orders) is saved after the batch."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from risk_manager.clock import SystemClock
from risk_manager.config.models import RiskConfig
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.engine.actions import Flatten, SetLock
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.engine import RiskEngine
from risk_manager.events import Trade, make_event
from risk_manager.store import Store

MNQ = "CON.F.US.MNQ.U26"
R07 = {"cooldown_after_loss": {"enabled": True, "tiers": [{"loss_amount": -50, "cooldown_seconds": 60}]}}


class Collect:
    """The executor seam: keeps what it is given, and what the store held at that moment."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.actions: list = []
        self.handled_when_submitted: list = []

    def submit(self, actions, *, received_ns=0, decided_ns=None) -> None:
        self.actions += list(actions)
        self.handled_when_submitted.append(self.store.handled_trade_ids(date(2000, 1, 1)))


def _trade(tid: int, pnl: float):
    now = datetime.now(UTC)
    return make_event(Trade(tid, 7, MNQ, 20000.0, 1, 1, profit_and_loss=pnl, order_id=tid,
                            creation_timestamp=now), received_at=now)


async def test_handled_trades_are_saved_after_the_actions_and_a_failed_save_stops_nothing(tmp_path):
    engine = RiskEngine(RiskConfig.model_validate({"rules": R07}), ContractCatalog.bundled())
    store = Store(tmp_path / "rm.db")
    sink = Collect(store)
    pipe = Pipeline(engine, sink, SystemClock(), journal=store.append_events,
                    records=store.save_engine_records)
    pipe.feed(_trade(1, -60.0))
    assert sink.handled_when_submitted == [[]]  # the actions went out before the save
    await asyncio.sleep(0)
    assert store.handled_trade_ids(date(2000, 1, 1)) == [(7, 1)]
    assert any(isinstance(a, SetLock) for a in sink.actions) and any(isinstance(a, Flatten) for a in sink.actions)

    store.close()  # the store fails from now on: intake and enforcement go on
    pipe2 = Pipeline(engine, sink, SystemClock(), journal=lambda evs: None, records=store.save_engine_records)
    pipe2.feed(_trade(2, -5.0))
    await asyncio.sleep(0)
    assert pipe2.counters["record_errors"] == 1 and pipe2.counters["engine_errors"] == 0
