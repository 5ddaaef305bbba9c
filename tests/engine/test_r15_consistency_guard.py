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


# -- the days before today rebuilt from Trade/search (docs/rules.md) -----------------------------
def _t(tid, pnl, ts, fees=0.0, comm=0.0, voided=False):
    from risk_manager.events import Trade

    return Trade(tid, ACCT, ES, 6_000.0, 1, 1, profit_and_loss=pnl, fees=fees, commissions=comm,
                 voided=voided, creation_timestamp=ts)


def test_trade_history_grouped_by_trading_day_net_of_fees_once_per_id():
    from risk_manager.engine.firm import day_net_from_trades

    history = [  # newest first, as the gateway answers
        _t(6, 500.0, ct(2026, 8, 19, 9)),  # today: the reconciler's, not history
        _t(5, 1_000.0, ct(2026, 8, 18, 12), voided=True),
        _t(4, 100.0, ct(2026, 8, 18, 16, 59)),
        _t(3, -50.0, ct(2026, 8, 17, 17, 30), comm=1.0),  # after the 17:00 reset: Aug 18's
        _t(1, None, ct(2026, 8, 17, 10), fees=0.74),  # the opening half-turn repeated after the close
        _t(2, 200.0, ct(2026, 8, 17, 10, 5), fees=0.74),
        _t(1, None, ct(2026, 8, 17, 10), fees=0.74),
    ]
    days = day_net_from_trades(history, guard().timeline.day_of, ct(2026, 8, 19).date())
    # Aug 17: 200 − 0.74 − 0.74 (the opening fee, once); Aug 18: −50 − 1 + 100.
    assert days == {ct(2026, 8, 17).date(): 198.52, ct(2026, 8, 18).date(): 49.0}


def test_rebuilt_days_count_as_profit_before_today_and_are_handed_out_once():
    eng = guard(include_unrealized=False)
    eng.handle(account(True, balance=50_000.0), T0)
    assert eng.needs_day_history(ACCT)
    days = {ct(2026, 8, 17).date(): 1_200.0, ct(2026, 8, 18).date(): 800.0, ct(2026, 8, 19).date(): 9.0}
    assert eng.restore_day_history(ACCT, days, T0) == 2  # today's figure is not history
    assert not eng.needs_day_history(ACCT)
    saved = [(r.trading_day, r.field, r.value) for r in eng.take_records() if isinstance(r, BalanceRecord)]
    assert (ct(2026, 8, 17).date(), "net_pnl", 1_200.0) in saved and len([s for s in saved if s[1] == "net_pnl"]) == 2
    assert eng.restore_day_history(ACCT, days, T0) == 0  # known days are not replaced
    # before 2,000: total max(2,000 + today, 3,000) → allowed 1,500 until today passes 1,000.
    view = eng.snapshot(ACCT, T0)["firm"]["consistency_guard"]
    assert view["profit_before_today"] == 2_000.0 and view["allowed_today"] == 1_500.0
    assert eng.handle(trade(1, ES, 1_499.0, ts=T0), T0) == []
    # 1,600 today: total 3,600, allowed 1,800 → still in; without the history 1,600 ≥ 1,500.
    assert eng.handle(trade(2, ES, 101.0, ts=T0), T0 + timedelta(seconds=1)) == []
    acts = eng.handle(trade(3, ES, 400.0, ts=T0), T0 + timedelta(seconds=2))  # 2,000 of 4,000
    assert locks_set(acts)


def test_no_history_read_with_a_starting_balance_or_when_days_are_recorded():
    assert not guard(starting_balance=50_000).needs_day_history(ACCT)
    assert not engine({}).needs_day_history(ACCT)
    eng = guard()
    eng.handle(account(True, balance=50_000.0), T0)
    eng.restore_balance_history([(ACCT, ct(2026, 8, 18).date(), "net_pnl", 10.0)])
    assert not eng.needs_day_history(ACCT)
