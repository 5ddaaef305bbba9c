"""The balance history table (migration 7): facts round-trip; the stored high only rises."""

from __future__ import annotations

from datetime import UTC, date, datetime

from risk_manager.engine.firm import BalanceRecord
from risk_manager.store import Store

AT = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)


def test_balance_facts_round_trip_and_the_high_never_falls(tmp_path):
    day = date(2026, 11, 20)
    with Store(tmp_path / "rm.db") as store:
        store.save_engine_records([
            BalanceRecord(7, day, "start_of_day", 50_000.0, AT),
            BalanceRecord(7, day, "high_equity", 50_800.0, AT),
            BalanceRecord(7, day, "end_of_day", 50_400.0, AT),
            BalanceRecord(7, day, "net_pnl", 400.0, AT),
        ])
        store.save_engine_records([BalanceRecord(7, day, "high_equity", 50_600.0, AT)])  # lower
    with Store(tmp_path / "rm.db") as store:
        facts = {f: v for _, _, f, v in store.balance_history(7)}
    assert facts == {"start_of_day": 50_000.0, "end_of_day": 50_400.0, "high_equity": 50_800.0,
                     "net_pnl": 400.0}
