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


def _firm(store, account_id, today):
    from risk_manager.engine.firm import FirmState

    firm = FirmState()
    for _, day, name, value in store.balance_history(account_id):
        firm.restore(day, name, value, today)
    return firm


def test_prune_folds_old_days_keeping_the_high_and_the_profit_so_far(store, clock):
    """400 days of history, the end-of-day high (53,000) and the equity high (53,400) among the
    oldest: the prune (365 days) folds those days into one row; R14's floor and R15's profit
    before today read back the same."""
    from datetime import timedelta

    from risk_manager.config.firm_models import MaxLossFloor
    from risk_manager.engine.rules.r14_max_loss_floor import floor_of

    first = clock.now().date()
    records, balance = [], 50_000.0
    for n in range(400):
        day = first + timedelta(days=n)
        pnl = 3_000.0 if n == 2 else (-10.0 if n % 2 else 8.0)
        records += [BalanceRecord(7, day, "start_of_day", balance, AT),
                    BalanceRecord(7, day, "net_pnl", pnl, AT)]
        balance += pnl
        records.append(BalanceRecord(7, day, "end_of_day", balance, AT))
        if n == 2:
            records.append(BalanceRecord(7, day, "high_equity", 53_400.0, AT))
    records.append(BalanceRecord(8, first, "net_pnl", 5.0, AT))  # one old row: kept as it is
    store.save_engine_records(records)
    today = first + timedelta(days=400)
    r14 = MaxLossFloor(starting_balance=50_000, max_drawdown=2_000, trail="intraday")
    before = _firm(store, 7, today)
    clock.advance(400 * 86400)

    deleted = store.prune(journal_days=30, audit_days=365)

    after = _firm(store, 7, today)
    rows = store.balance_history(7)
    # The cutoff is day 35: days 0–34 become one row (at day 34), 34 rows deleted.
    assert deleted["balance_history"] == 34
    days = sorted({day for _, day, _, _ in rows})
    assert len(days) == 366 and days[0] == first + timedelta(days=34)
    assert after.high_end_of_day == before.high_end_of_day == 52_998.0
    assert after.high_equity == before.high_equity == 53_400.0
    assert floor_of(r14, after) == floor_of(r14, before)
    assert round(after.profit_before_today, 2) == round(before.profit_before_today, 2)
    assert store.balance_history(8) == [(8, first, "net_pnl", 5.0)]
    # A second prune folds the summary row with the days that aged since: still the same.
    clock.advance(10 * 86400)
    store.prune(journal_days=30, audit_days=365)
    again = _firm(store, 7, today)
    assert floor_of(r14, again) == floor_of(r14, before)
    assert round(again.profit_before_today, 2) == round(before.profit_before_today, 2)
