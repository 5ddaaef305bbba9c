"""Pipeline: journal first, quote bursts coalesced, malformed input counted, never raises."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from risk_manager.clock import SystemClock
from risk_manager.config.models import RiskConfig
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.engine import RiskEngine
from risk_manager.events import Position, Quote, make_event
from risk_manager.gateway.decode import merge_quote
from risk_manager.store import Store

MNQ = "CON.F.US.MNQ.U26"


class Collect:
    """The executor seam: keeps what it is given."""

    def __init__(self) -> None:
        self.actions: list = []

    def submit(self, actions, *, received_ns=0, decided_ns=None) -> None:
        self.actions += list(actions)


def _pipeline(tmp_path, rules=None):
    config = RiskConfig.model_validate({"rules": rules or {}})
    engine = RiskEngine(config, ContractCatalog.bundled())
    store = Store(tmp_path / "rm.db")
    sink = Collect()
    published: list[dict] = []
    pipe = Pipeline(engine, sink, SystemClock(), journal=lambda evs: store.append_events(evs),
                    publish=published.append, merge_quote=merge_quote)
    return pipe, engine, store, sink, published


def _position(size: int, avg: float = 20000.0):
    return make_event(Position(1, 7, MNQ, 1 if size else 0, size, avg), received_at=datetime.now(UTC))


async def test_every_event_journaled_and_quote_burst_coalesced(tmp_path):
    pipe, engine, store, sink, published = _pipeline(tmp_path)
    pipe.feed(_position(1))
    for i in range(100):
        pipe.feed(make_event(Quote(MNQ, last_price=20000.0 + i * 0.25), received_at=datetime.now(UTC)))
    await asyncio.sleep(0)  # the coalesced flush runs on the next loop iteration
    await asyncio.sleep(0)
    assert store.last_seq() == 101  # every raw quote is in the journal
    assert pipe.counters["quotes"] == 100 and pipe.counters["quotes_coalesced"] == 99
    assert pipe.counters["events"] == 2  # the position + ONE merged quote reached the engine
    assert engine.market.quotes[MNQ].last_price == 20000.0 + 99 * 0.25
    assert published[0]["type"] == "position"
    store.close()


async def test_breach_actions_reach_the_executor(tmp_path):
    pipe, engine, store, sink, published = _pipeline(tmp_path, {"max_contracts": {"limit": 1}})
    pipe.feed(_position(3))
    assert any(type(a).__name__ in ("ClosePosition", "Flatten") for a in sink.actions)
    store.close()


async def test_malformed_invocations_are_counted_not_raised(tmp_path, caplog):
    pipe, engine, store, sink, _ = _pipeline(tmp_path)
    caplog.set_level(logging.WARNING)
    for target, args in [("GatewayUserOrder", [{"data": {"id": "x"}}]), ("GatewayQuote", "junk"),
                         ("GatewayUserPosition", None), ("GatewayUserTrade", [[[[]]]])]:
        pipe.feed_invocation(target, args)
    assert pipe.counters["malformed"] == 4
    pipe.feed_invocation("SomethingNew", [1, 2])  # unknown target: ignored, not malformed
    assert pipe.counters["malformed"] == 4
    store.close()


async def test_journal_failure_does_not_stop_enforcement(tmp_path):
    pipe, engine, store, sink, _ = _pipeline(tmp_path, {"max_contracts": {"limit": 1}})

    def broken(_events):
        raise OSError("disk full")

    pipe._journal = broken
    pipe.feed(_position(3))
    assert pipe.counters["journal_errors"] == 1 and sink.actions
    store.close()
