"""The journal's hot path: the payload holds every field, single appends
commit on their own, and WAL checkpoints run in the background thread."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta, timezone

from risk_manager.events import (
    Account, MarketTrade, Order, OrderType, Position, Quote, Trade, make_event,
)
from risk_manager.store import Store
from risk_manager.store._journal import event_payload

T = datetime(2026, 11, 21, 14, 30, 0, 123456, tzinfo=UTC)
EVENTS = [
    make_event(Account(7, balance=50_000.5, can_trade=True), received_at=T, received_ns=5, action=1),
    make_event(Order(11, 7, "CON.F.US.MNQ.U26", 1, OrderType.STOP, 1, 2, stop_price=20_000.25,
                     creation_timestamp=T, update_timestamp=T.replace(microsecond=0)), source="rest"),
    make_event(Position(1, 7, "CON.F.US.MNQ.U26", 1, 3, 20_000.0, creation_timestamp=T), received_at=T),
    make_event(Trade(9, 7, "CON.F.US.MNQ.U26", 20_000.0, -12.5, 0.37, 0, 1, False, 11,
                     creation_timestamp=T.astimezone(timezone(timedelta(hours=-5))))),
    make_event(Quote("CON.F.US.MNQ.U26", best_bid=1.5, last_updated=T, timestamp=T), received_at=T),
    make_event(MarketTrade("CON.F.US.MNQ.U26", 1.25, 3, 0, timestamp=T)),
    make_event(Quote('CON."odd"\u00e9\n', last_price=float("1e-7"))),
]


def test_payload_holds_every_field_in_declaration_order():
    """Event.to_json reads a payload's fields through a cached getter: the text must still be
    every dataclass field, in order, datetimes as ISO text (what replay reads back)."""
    for event in EVENTS:
        expected = {f.name: (getattr(event.data, f.name).isoformat()
                             if isinstance(getattr(event.data, f.name), datetime)
                             else getattr(event.data, f.name))
                    for f in dataclasses.fields(event.data)}
        data = json.loads(event_payload(event))["data"]
        assert list(data) == list(expected) and data == json.loads(json.dumps(expected)), event.kind


def test_single_and_batch_appends_round_trip_in_order(tmp_path):
    store = Store(tmp_path / "rm.db", journal_synchronous="NORMAL")
    seqs = [store.append_event(EVENTS[0])] + store.append_events(EVENTS[1:])
    assert seqs == list(range(1, len(EVENTS) + 1))
    back = list(store.iter_events())
    assert [e.seq for e in back] == seqs
    assert [e.data for e in back] == [e.data for e in EVENTS]
    naive = make_event(Account(8, balance=1.0), received_at=datetime(2026, 1, 1))
    try:
        store.append_event(naive)
    except ValueError as exc:
        assert "timezone-aware" in str(exc)
    else:
        raise AssertionError("a naive received_at must be refused")
    assert store.last_seq() == len(EVENTS)  # nothing half-written
    store.close()


def test_wal_checkpoints_run_in_the_background_thread(tmp_path):
    store = Store(tmp_path / "rm.db", journal_synchronous="NORMAL")
    store._checkpointer.interval_s = 0.01
    for _ in range(50):
        store.append_event(EVENTS[4])
    deadline = time.monotonic() + 5
    while store._checkpointer.runs == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store._checkpointer.runs >= 1 and store._checkpointer.failures == 0
    store.close()
    assert not store._checkpointer._thread.is_alive()
    with Store(tmp_path / "rm.db") as again:
        assert len(list(again.iter_events())) == 50


def test_orjson_row_is_the_to_json_document():
    """event_payload writes with orjson (the cheaper row): the same document as Event.to_json,
    and an event orjson cannot write (an integer beyond 64 bits) is still journaled."""
    for event in EVENTS:
        assert json.loads(event_payload(event)) == json.loads(json.dumps(event.to_json())), event.kind
    huge = make_event(Account(7, balance=1.0), received_at=T, received_ns=2**70)
    assert json.loads(event_payload(huge))["received_ns"] == 2**70
