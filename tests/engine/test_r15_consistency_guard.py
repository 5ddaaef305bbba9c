"""R15 consistency_guard: worked examples at 49 % / 50 % of the total profit (docs/rules.md).

An evaluation with a $3,000 profit target and a 50 % best-day share: until the total profit
passes the target, a day may make at most $1,500."""

from __future__ import annotations

from datetime import timedelta

from engine.engine_helpers import ACCT, ES, T0, Flatten, account, ct, engine, locks_set, of, pos, quote, trade
from risk_manager.engine.actions import Alert
from risk_manager.engine.firm import BalanceRecord

RULE = {"max_day_share": 0.5, "profit_target": 3_000}


def guard(**cfg):
    return engine({"consistency_guard": {**RULE, **cfg}})


def test_49_percent_passes_50_percent_locks():
    eng = guard(include_unrealized=False)
    acts = eng.handle(trade(1, ES, 1_470.0, ts=T0), T0)  # 1,470 / 3,000 = 49 %
    assert acts == []
    acts = eng.handle(trade(2, ES, 30.0, ts=T0 + timedelta(minutes=1)), T0 + timedelta(minutes=1))
    [lock] = locks_set(acts)  # 1,500 / 3,000 = 50 %
    assert lock.rule == "R15" and lock.until == ct(2026, 8, 19, 17) and of(acts, Flatten)
    assert "today $1,500.00 >= $1,500.00 (50% of total profit $3,000.00)" in lock.reason


def test_open_profit_counts_when_included_and_fees_are_net():
    eng = guard()
    eng.handle(trade(1, ES, 1_000.0, ts=T0, fees=4.0), T0)
    eng.handle(pos(ES, 1, 6_000.0), T0)
    # +$500.50 open: today 996 + 500.50 = 1,496.50 < 1,500.
    assert locks_set(eng.handle(quote(ES, last=6_010.02), T0 + timedelta(seconds=1))) == []
    acts = eng.handle(quote(ES, last=6_010.25), T0 + timedelta(seconds=2))  # +512.50 → 1,508.50
    assert locks_set(acts) and of(acts, Flatten)


def _day(eng, noon, tid, pnl):
    eng.handle(trade(tid, ES, pnl, ts=noon), noon)
    eng.tick(noon + timedelta(hours=5, minutes=1))  # the 17:00 reset ends that day


def test_past_the_target_the_share_of_the_growing_total_counts():
    eng = guard(include_unrealized=False)
    _day(eng, ct(2026, 8, 19, 12), 1, 2_500.0)
    _day(eng, ct(2026, 8, 20, 12), 2, 1_500.0)  # 4,000 before today (> the 3,000 target)
    day3 = ct(2026, 8, 21, 9)
    # today 3,900 of a total 7,900 = 49.4 %: allowed; 4,000 of 8,000 = 50 %: locked.
    assert eng.handle(trade(3, ES, 3_900.0, ts=day3), day3) == []
    view = eng.snapshot(ACCT, day3)["firm"]["consistency_guard"]
    assert view["profit_before_today"] == 4_000.0 and view["allowed_today"] == 3_950.0
    assert view["days"] == {"2026-08-19": 2_500.0, "2026-08-20": 1_500.0}
    assert locks_set(eng.handle(trade(4, ES, 100.0, ts=day3), day3 + timedelta(seconds=1)))
    # The day history is handed out for the store, and restores the same figure.
    days = [(r.account_id, r.trading_day, r.field, r.value) for r in eng.take_records()
            if isinstance(r, BalanceRecord)]
    assert (ACCT, ct(2026, 8, 19).date(), "net_pnl", 2_500.0) in days
    fresh = guard(include_unrealized=False)
    fresh.tick(day3)
    fresh.restore_balance_history(days)
    assert fresh.snapshot(ACCT, day3)["firm"]["consistency_guard"]["profit_before_today"] == 4_000.0


def test_starting_balance_gives_the_profit_before_today_from_the_balance():
    eng = guard(starting_balance=50_000, include_unrealized=False)
    eng.handle(account(True, balance=54_000.0), T0)  # started today 4,000 up
    eng.day_trades_read(ACCT, T0)
    row = next(r for r in eng.snapshot(ACCT, T0)["rules"] if r["name"] == "consistency_guard")
    assert row["rule"] == "R15" and row["limit"] == 2_000.0  # 0.5 × max(4,000 + 0, 3,000)
    # The fill arrives before its balance update: the day start stays 54,000 (no false lock).
    assert eng.handle(trade(1, ES, 3_999.0, ts=T0), T0) == []
    eng.handle(account(True, balance=57_999.0), T0)
    assert eng.snapshot(ACCT, T0)["firm"]["consistency_guard"]["profit_before_today"] == 4_000.0
    assert locks_set(eng.handle(trade(2, ES, 1.0, ts=T0), T0 + timedelta(seconds=1)))


def test_a_losing_day_never_locks_and_alert_mode():
    eng = guard(include_unrealized=False, profit_before=-5_000)
    assert eng.handle(trade(1, ES, -100.0, ts=T0), T0) == []
    alert = guard(mode="alert", include_unrealized=False)
    acts = alert.handle(trade(1, ES, 1_600.0, ts=T0), T0)
    assert [type(a) for a in acts] == [Alert] and "Consistency" in acts[0].reason
