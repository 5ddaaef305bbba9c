"""Own orders and handled trades: persisted in one commit, read back after a reopen."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

from store_helpers import T0

from risk_manager.engine.own_orders import HandledTradeRecord, OwnOrderRecord
from risk_manager.store import Store
from risk_manager.store.schema import MIGRATIONS, migrate

DAY = date(2026, 3, 9)


def test_records_survive_a_reopen_and_repeats_are_kept_once(db_path: Path, clock) -> None:
    records = [
        OwnOrderRecord(7, 5001, "CON.F.US.MNQ.U26", "close", T0),
        OwnOrderRecord(7, 5002, "CON.F.US.MNQ.U26", "stop", T0 + timedelta(seconds=1)),
        HandledTradeRecord(7, 9001, DAY, -61.24, False, T0),
        HandledTradeRecord(8, 9002, DAY - timedelta(days=2), None, False, T0),
    ]
    with Store(db_path, clock) as s:
        assert s.save_engine_records(records) == 4
        s.save_engine_records(records[:1] + records[2:3])  # the same ids again: no error, no copy
    with Store(db_path, clock) as s:
        assert s.own_orders() == [(7, 5001, "close"), (7, 5002, "stop")]
        assert s.own_orders(T0 + timedelta(seconds=1)) == [(7, 5002, "stop")]
        assert s.handled_trade_ids(DAY - timedelta(days=1)) == [(7, 9001)]
        assert s.trade_seen(9002)


def test_the_own_orders_table_is_added_to_an_existing_store(tmp_path: Path, clock) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=len(MIGRATIONS) - 1)  # the store as the previous release left it
    conn.close()
    with Store(path, clock) as s:
        assert s.open_report.migrated_from == len(MIGRATIONS) - 1
        s.save_engine_records([OwnOrderRecord(1, 2, None, "close", T0)])
        assert s.own_orders() == [(1, 2, "close")]


def test_a_store_from_before_handled_trades_has_todays_journal_stand_in_once(db_path: Path, clock) -> None:
    from risk_manager.events import Trade, make_event

    def journaled(tid: int, at) -> None:
        s.append_event(make_event(Trade(tid, 7, "CON.F.US.MNQ.U26", 20000.0, 1, 1, -50.0),
                                  source="hub", received_at=at))

    with Store(db_path, clock) as s:  # written by a daemon that kept no trades_seen
        journaled(1, T0 - timedelta(days=1))  # an earlier trading day
        journaled(2, T0 + timedelta(minutes=1))
    with Store(db_path, clock) as s:
        day_start = T0
        assert s.restart_handled_trade_ids(DAY, day_start, T0) == [(7, 2)]
        # From now on only what this daemon records counts.
        assert s.restart_handled_trade_ids(DAY, day_start, T0) == []
