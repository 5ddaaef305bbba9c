"""A trade read both from the stream and from Trade/search (reconcile after a gap) counts once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from risk_manager.clock import SystemClock
from risk_manager.config.models import RiskConfig
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.engine.actions import SetLock
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.engine import RiskEngine
from risk_manager.events import Trade, make_event
from risk_manager.gateway.decode import merge_quote

MNQ = "CON.F.US.MNQ.U26"
ACCOUNT = 7


class Collect:
    def __init__(self) -> None:
        self.actions: list = []

    def submit(self, actions, *, received_ns=0, decided_ns=None) -> None:
        self.actions += list(actions)


def _pipeline(loss_limit: float = 100.0):
    config = RiskConfig.model_validate({"rules": {"daily_realized_loss": {
        "enabled": True, "loss_limit": loss_limit, "include_unrealized": False}}})
    engine = RiskEngine(config, ContractCatalog.bundled())
    engine.apply_reset(datetime.now(UTC))
    sink = Collect()
    pipe = Pipeline(engine, sink, SystemClock(), journal=lambda evs: None, merge_quote=merge_quote)
    return pipe, engine, sink


def _trade(trade_id: int, pnl: float | None, *, voided: bool = False) -> Trade:
    return Trade(trade_id, ACCOUNT, MNQ, 20000.0, 1, 1, profit_and_loss=pnl, fees=0.37,
                 commissions=0.25, voided=voided, order_id=trade_id * 10,
                 creation_timestamp=datetime.now(UTC))


def _event(trade: Trade, source: str):
    return make_event(trade, source=source, received_at=datetime.now(UTC))


@pytest.mark.parametrize("first,second", [("stream", "rest"), ("rest", "stream"), ("rest", "rest")])
async def test_same_trade_id_from_both_sources_counts_once(first, second):
    pipe, engine, sink = _pipeline()
    closing = _trade(101, -60.0)
    pipe.feed(_event(_trade(100, None), first))  # the opening half-turn
    pipe.feed(_event(closing, first))
    pipe.feed(_event(_trade(100, None), second))
    pipe.feed(_event(closing, second))
    state = engine.state(ACCOUNT)
    assert state.realized == pytest.approx(-61.24)  # each fill's fees once, the opening one's too
    assert state.trades_today == 2


async def test_rest_reread_after_gap_trips_r03_once_and_void_takes_it_back():
    pipe, engine, sink = _pipeline(loss_limit=100.0)
    pipe.feed(_event(_trade(1, -60.0), "stream"))
    # Reconcile after a gap: the stream trade again plus one made while unsubscribed.
    for trade in (_trade(1, -60.0), _trade(2, -50.0)):
        pipe.feed(_event(trade, "rest"))
    assert engine.state(ACCOUNT).realized == pytest.approx(-111.24)
    locks = [a for a in sink.actions if isinstance(a, SetLock) and a.lock.rule == "R03"]
    assert len(locks) == 1
    # Another full re-read changes nothing; a void arriving over REST takes the trade back out.
    for trade in (_trade(1, -60.0), _trade(2, -50.0)):
        pipe.feed(_event(trade, "rest"))
    assert engine.state(ACCOUNT).realized == pytest.approx(-111.24)
    pipe.feed(_event(_trade(2, -50.0, voided=True), "rest"))
    assert engine.state(ACCOUNT).realized == pytest.approx(-60.62)
