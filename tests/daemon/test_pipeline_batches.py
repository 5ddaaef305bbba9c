"""Pipeline.feed_many: a frame's events journaled with one commit before any reaches the engine."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from risk_manager.clock import SystemClock
from risk_manager.config.models import RiskConfig
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.engine import RiskEngine
from risk_manager.events import Account, Order, OrderType, Position, Quote, make_event
from risk_manager.gateway.decode import merge_quote
from risk_manager.store import Store

from .test_pipeline import MNQ, Collect


class Recording:
    """Journal + engine seams that write one shared log of what happened in which order."""

    def __init__(self, store: Store, engine: RiskEngine) -> None:
        self.log: list[tuple] = []
        self.store, self.engine = store, engine

    def journal(self, events):
        self.log.append(("journal", len(events)))
        if len(events) == 1:
            self.store.append_event(events[0])
        else:
            self.store.append_events(events)

    def handle(self, event, now):
        self.log.append(("engine", event.kind.value, self.store.last_seq()))
        return self.engine.handle(event, now)


def _setup(tmp_path, rules=None):
    engine = RiskEngine(RiskConfig.model_validate({"rules": rules or {}}), ContractCatalog.bundled())
    store = Store(tmp_path / "rm.db", journal_synchronous="NORMAL")
    rec = Recording(store, engine)

    class Engine:
        handle = staticmethod(rec.handle)

    sink = Collect()
    pipe = Pipeline(Engine(), sink, SystemClock(), journal=rec.journal, merge_quote=merge_quote)
    return pipe, rec, store, sink, engine


def _at(event):
    return dataclasses.replace(event, received_at=datetime.now(UTC))


def _fill_frame():
    return [
        _at(make_event(Order(11, 7, MNQ, 2, OrderType.MARKET, 0, 3, fill_volume=3, filled_price=20000.0))),
        _at(make_event(Position(1, 7, MNQ, 1, 3, 20000.0))),
        _at(make_event(Account(7, balance=49_990.0, can_trade=True))),
    ]


async def test_batch_is_journaled_in_one_commit_before_the_engine_sees_any_of_it(tmp_path):
    pipe, rec, store, sink, engine = _setup(tmp_path, {"max_contracts": {"limit": 1}})
    pipe.feed_many(_fill_frame())
    assert rec.log[0] == ("journal", 3)
    # every engine call saw all three rows already committed
    assert rec.log[1:] == [("engine", "order", 3), ("engine", "position", 3), ("engine", "account", 3)]
    assert any(type(a).__name__ in ("ClosePosition", "Flatten") for a in sink.actions)  # enforced
    assert [e.kind.value for e in store.iter_events()] == ["order", "position", "account"]
    store.close()


async def test_quotes_in_a_batch_are_queued_and_do_not_delay_the_user_events(tmp_path):
    pipe, rec, store, sink, engine = _setup(tmp_path)
    quotes = [_at(make_event(Quote(MNQ, last_price=20000.0 + i))) for i in range(5)]
    pipe.feed_many([quotes[0], *_fill_frame()[:1], *quotes[1:]])
    assert rec.log == [("journal", 1), ("engine", "order", 1)]  # the order: journaled + handled now
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert rec.log[2:] == [("journal", 5), ("engine", "quote", 6)]  # quotes: one flush, coalesced
    assert store.last_seq() == 6
    store.close()


async def test_a_bad_event_in_a_batch_does_not_cost_the_others_their_journal_line(tmp_path):
    pipe, rec, store, sink, engine = _setup(tmp_path)
    good = _fill_frame()
    bad = dataclasses.replace(good[0], data=Order(12, 7, MNQ, 1, OrderType.LIMIT, 0, 1),
                              received_at=datetime(2026, 1, 1))  # naive: the journal refuses it
    pipe.feed_many([good[0], bad, good[1], good[2]])
    assert [e.kind.value for e in store.iter_events()] == ["order", "position", "account"]
    assert pipe.counters["journal_errors"] == 1
    assert pipe.counters["events"] == 4  # the engine still saw every event, the bad one included
    store.close()


async def test_paused_pipeline_ignores_batches(tmp_path):
    pipe, rec, store, sink, engine = _setup(tmp_path)
    pipe.paused = True
    pipe.feed_many(_fill_frame())
    assert rec.log == [] and store.last_seq() == 0
    store.close()


def test_status_messages_are_built_only_while_someone_listens(tmp_path) -> None:
    engine = RiskEngine(RiskConfig.model_validate({"rules": {}}), ContractCatalog.bundled())
    published: list[dict] = []
    listening = [False]
    pipe = Pipeline(engine, Collect(), SystemClock(), journal=lambda events: None,
                    publish=published.append)
    pipe.has_listeners = lambda: listening[0]
    account = Account(id=1, name="A", balance=50_000.0, can_trade=True)
    pipe.feed(make_event(account, source="stream"))
    assert published == []
    listening[0] = True
    pipe.feed(make_event(account, source="stream"))
    assert [m["type"] for m in published] == ["account"]
