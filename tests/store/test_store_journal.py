"""The event journal: append (single and batched), iterate, export/import JSON Lines."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from store_helpers import T0, order_event, quote_event

from risk_manager.events import Quote, make_event
from risk_manager.store import JournalFileError, Store, read_journal_file


def test_append_and_iterate_round_trips_events(store: Store) -> None:
    events = [order_event(1), quote_event(5001.25), order_event(2, account_id=8)]
    seqs = [store.append_event(events[0]), *store.append_events(events[1:])]
    assert seqs == [1, 2, 3]
    back = list(store.iter_events())
    assert [e.seq for e in back] == seqs
    assert back == events  # seq is excluded from equality; every other field round-trips
    assert back[0].data.creation_timestamp == T0
    assert store.last_seq() == 3


def test_iter_filters_by_seq_account_and_time(store: Store) -> None:
    store.append_events([order_event(i, account_id=7 + i % 2, at=T0 + timedelta(seconds=i))
                         for i in range(10)])
    assert [e.seq for e in store.iter_events(since_seq=7)] == [8, 9, 10]
    assert {e.account_id for e in store.iter_events(account_id=8)} == {8}
    assert len(list(store.iter_events(account_id=8))) == 5
    assert [e.data.id for e in store.iter_events(since=T0 + timedelta(seconds=8))] == [8, 9]


def test_iteration_pages_through_large_journals(store: Store) -> None:
    store.append_events([quote_event(float(i)) for i in range(2500)])
    prices = [e.data.last_price for e in store.iter_events()]
    assert prices == [float(i) for i in range(2500)]


def test_event_without_receive_time_gets_the_clock_time(store: Store) -> None:
    store.append_event(make_event(Quote("CON.F.US.EP.U26", last_price=1.0)))
    row = store._conn.execute("SELECT received_at FROM journal").fetchone()
    assert row[0] == "2026-03-09T14:30:00.000000+00:00"


def test_batch_is_all_or_nothing(store: Store) -> None:
    bad = dataclasses.replace(order_event(2), received_at=T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.append_events([order_event(1), bad])
    assert store.last_seq() == 0
    assert store.append_events([]) == []


def test_transaction_groups_writes_and_rolls_back_on_error(store: Store) -> None:
    with store.transaction():
        store.append_event(order_event(1))
        store.append_event(order_event(2))
    with pytest.raises(RuntimeError), store.transaction():
        store.append_event(order_event(3))
        raise RuntimeError("boom")
    assert [e.data.id for e in store.iter_events()] == [1, 2]


def test_export_then_read_round_trips(store: Store, tmp_path: Path) -> None:
    events = [order_event(i) for i in range(5)] + [quote_event()]
    store.append_events(events)
    out = tmp_path / "exports" / "day.jsonl"
    assert store.export_journal(out, since_seq=2) == 4
    lines = out.read_text().splitlines()
    assert json.loads(lines[0]) == events[2].to_json()
    assert list(read_journal_file(out)) == events[2:]
    assert not list(out.parent.glob(".*tmp*"))  # written atomically


def test_read_tolerates_a_truncated_last_line(store: Store, tmp_path: Path) -> None:
    store.append_events([order_event(i) for i in range(3)])
    out = tmp_path / "j.jsonl"
    store.export_journal(out)
    data = out.read_bytes()
    cut = data[: len(data) - 25]  # the writer died in the middle of the last record
    out.write_bytes(cut)
    assert [e.data.id for e in read_journal_file(out)] == [0, 1]


def test_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "j.jsonl"
    out.write_text(json.dumps(order_event(1).to_json()))
    assert [e.data.id for e in read_journal_file(out)] == [1]


def test_bad_middle_line_names_file_and_line(tmp_path: Path) -> None:
    out = tmp_path / "j.jsonl"
    good = json.dumps(order_event(1).to_json())
    out.write_text(f"{good}\n\n{{\"kind\": \"bogus\"}}\n{good}\n")
    with pytest.raises(JournalFileError) as err:
        list(read_journal_file(out))
    assert err.value.line_no == 3 and str(out) in str(err.value)
    skipped: list[JournalFileError] = []
    assert len(list(read_journal_file(out, on_bad_line=skipped.append))) == 2
    assert [e.line_no for e in skipped] == [3]


def test_import_journal_appends_events(store: Store, tmp_path: Path, clock) -> None:
    store.append_events([order_event(i) for i in range(3)])
    out = tmp_path / "j.jsonl"
    store.export_journal(out)
    with Store(tmp_path / "other.db", clock) as other:
        assert other.import_journal(out) == 3
        assert [e.data.id for e in other.iter_events()] == [0, 1, 2]
