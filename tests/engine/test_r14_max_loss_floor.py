"""R14 max_loss_floor: worked examples of the trailing floor (docs/rules.md).

Figures: a $50,000 account with a $2,000 trailing drawdown. MNQ: one point = $2 per contract.
Days are Chicago trading days (reset 17:00); T0 is Wednesday 2026-08-19 10:00.
"""

from __future__ import annotations

from datetime import timedelta

from engine.engine_helpers import ACCT, MNQ, T0, account, ct, engine, locks_set, of, pos, quote
from risk_manager.config.models import RiskConfig
from risk_manager.engine.actions import Alert, Flatten
from risk_manager.engine.firm import BalanceRecord
from risk_manager.engine.policy import looser_changes

BASE = {"starting_balance": 50_000, "max_drawdown": 2_000}


def floor_engine(**cfg):
    eng = engine({"max_loss_floor": {**BASE, **cfg}})
    eng.handle(account(True, balance=50_000.0), T0)
    return eng


def firm(eng, now):
    return eng.snapshot(ACCT, now)["firm"]["max_loss_floor"]


def end_day(eng, day_noon, balance):
    """The balance during that day, then the 17:00 reset that ends it (one tick after)."""
    eng.handle(account(True, balance=balance), day_noon)
    reset = day_noon.replace(hour=day_noon.hour) + timedelta(hours=5, minutes=1)  # 17:01 CT
    eng.tick(reset)
    return reset


def test_floor_trails_the_end_of_day_high_over_a_week():
    eng = floor_engine()
    assert firm(eng, T0)["floor"] == 48_000.0
    # Wed 50,500 → Thu 51,200 → Fri 50,800 (a losing day: the floor stays) → Mon 51,500.
    days = [(ct(2026, 8, 19, 12), 50_500.0, 48_500.0), (ct(2026, 8, 20, 12), 51_200.0, 49_200.0),
            (ct(2026, 8, 21, 12), 50_800.0, 49_200.0), (ct(2026, 8, 24, 12), 51_500.0, 49_500.0),
            (ct(2026, 8, 25, 12), 49_900.0, 49_500.0)]
    for noon, balance, floor in days:
        after = end_day(eng, noon, balance)
        view = firm(eng, after)
        assert view["floor"] == floor, (noon, view)
    assert view["high"] == 51_500.0
    assert view["distance"] == 400.0  # 49,900 − 49,500
    # An intraday dip does not move an end-of-day floor, and 49,501 is still above it.
    acts = eng.handle(account(True, balance=49_501.0), ct(2026, 8, 26, 9))
    assert locks_set(acts) == []


def test_floor_stops_trailing_at_the_cap():
    eng = floor_engine(stop_trailing_at=50_000)
    for noon, balance in [(ct(2026, 8, 19, 12), 51_000.0), (ct(2026, 8, 20, 12), 52_500.0),
                          (ct(2026, 8, 21, 12), 53_000.0)]:
        after = end_day(eng, noon, balance)
    view = firm(eng, after)
    assert view["high"] == 53_000.0 and view["floor"] == 50_000.0  # not 51,000
    acts = eng.handle(account(True, balance=50_000.0), after + timedelta(hours=18))
    assert of(acts, Flatten) and locks_set(acts)[0].rule == "R14"


def _run_up_and_back(eng):
    """Long 10 MNQ at 20,000; the market runs to 20,050 (+$1,000) and back to 19,956 (−$880)."""
    eng.handle(pos(MNQ, 10, 20_000.0), T0)
    eng.handle(quote(MNQ, last=20_050.0), T0 + timedelta(seconds=1))
    return eng.handle(quote(MNQ, last=19_956.0), T0 + timedelta(seconds=2))


def test_intraday_trails_the_equity_high_end_of_day_does_not():
    intraday = floor_engine(trail="intraday", buffer=100)
    eod = floor_engine(buffer=100)
    acts_i = _run_up_and_back(intraday)
    acts_e = _run_up_and_back(eod)
    # intraday: high 51,000 → floor 49,000, trigger 49,100; equity 49,120 is still above.
    assert firm(intraday, T0)["floor"] == 49_000.0 and locks_set(acts_i) == []
    assert firm(eod, T0)["floor"] == 48_000.0 and locks_set(acts_e) == []
    # 19,945: −$1,100 → equity 48,900 ≤ 49,100: the intraday guard acts, the end-of-day one not.
    acts_i = intraday.handle(quote(MNQ, last=19_945.0), T0 + timedelta(seconds=3))
    acts_e = eod.handle(quote(MNQ, last=19_945.0), T0 + timedelta(seconds=3))
    lock = locks_set(acts_i)[0]
    assert lock.rule == "R14" and lock.until == ct(2026, 8, 19, 17)
    assert "floor $49,000.00 + buffer $100.00" in lock.reason
    assert of(acts_i, Flatten) and acts_e == []


def test_breach_at_floor_plus_buffer_inclusive_and_alert_mode():
    eng = floor_engine(buffer=250)
    assert locks_set(eng.handle(account(True, balance=48_250.01), T0 + timedelta(minutes=1))) == []
    acts = eng.handle(account(True, balance=48_250.0), T0 + timedelta(minutes=2))
    assert locks_set(acts) and of(acts, Flatten)
    alert = floor_engine(buffer=250, mode="alert")
    acts = alert.handle(account(True, balance=48_200.0), T0 + timedelta(minutes=1))
    assert [type(a) for a in acts] == [Alert] and "[alert only] Max loss floor" in acts[0].reason


def test_floor_now_seeds_a_late_start():
    eng = floor_engine(floor_now=49_300)
    assert firm(eng, T0)["floor"] == 49_300.0
    assert locks_set(eng.handle(account(True, balance=49_300.0), T0 + timedelta(minutes=1)))


def test_room_used_in_the_dashboard_row():
    eng = floor_engine(buffer=500)
    eng.handle(account(True, balance=49_200.0), T0 + timedelta(minutes=1))
    row = next(r for r in eng.snapshot(ACCT, T0)["rules"] if r["name"] == "max_loss_floor")
    # room from 50,000 (floor + drawdown) to 48,500 (floor + buffer): 800 of 1,500 used.
    assert row["rule"] == "R14" and row["value"] == 49_200.0 and row["limit"] == 48_500.0
    assert row["used_pct"] == 53.3


def test_history_handed_out_and_restored_gives_the_same_floor():
    eng = floor_engine(trail="intraday")
    after = end_day(eng, ct(2026, 8, 19, 12), 50_600.0)
    eng.handle(account(True, balance=50_900.0), after + timedelta(hours=1))
    records = eng.take_records()
    facts = {(r.field, r.trading_day.isoformat(), r.value) for r in records if isinstance(r, BalanceRecord)}
    assert ("end_of_day", "2026-08-19", 50_600.0) in facts
    assert ("start_of_day", "2026-08-20", 50_600.0) in facts
    assert ("high_equity", "2026-08-20", 50_900.0) in facts
    fresh = engine({"max_loss_floor": {**BASE, "trail": "intraday"}})
    fresh.tick(after + timedelta(hours=2))
    fresh.restore_balance_history([(r.account_id, r.trading_day, r.field, r.value)
                                   for r in records if isinstance(r, BalanceRecord)])
    assert firm(fresh, after)["floor"] == 48_900.0 == firm(eng, after)["floor"]


def test_day_start_derived_from_balance_minus_realized_after_the_day_is_read():
    from engine.engine_helpers import trade

    eng = floor_engine()
    eng.handle(trade(1, MNQ, 300.0, ts=T0 + timedelta(minutes=1), fees=1.5), T0 + timedelta(minutes=1))
    eng.handle(account(True, balance=50_298.5), T0 + timedelta(minutes=1))
    eng.day_trades_read(ACCT, T0 + timedelta(minutes=2))
    f = eng.state(ACCT).firm
    assert f.start_of_day == 50_000.0 and f.end_of_day[ct(2026, 8, 18).date()] == 50_000.0


def test_loosening_r14_waits_for_the_reset():
    def cfg(**kw):
        return RiskConfig.model_validate({"rules": {"max_loss_floor": {**BASE, **kw}}})

    def loose(a, b):
        return [c.key for c in looser_changes(cfg(**a), cfg(**b))]

    assert loose({}, {"max_drawdown": 2_500}) == ["max_drawdown"]
    assert loose({"buffer": 200}, {"buffer": 100}) == ["buffer"]
    assert loose({"trail": "intraday"}, {}) == ["trail"]
    assert loose({}, {"stop_trailing_at": 50_000}) == ["stop_trailing_at"]
    assert loose({"floor_now": 49_000}, {}) == ["floor_now"]
    assert loose({}, {"buffer": 300, "trail": "intraday", "max_drawdown": 1_500}) == []


def test_warned_at_80_percent_of_the_room_by_the_existing_limit_watch():
    from risk_manager.daemon.alerting import LimitWatch, warning_figures

    eng = floor_engine()
    watch = LimitWatch()
    eng.handle(account(True, balance=48_500.0), T0 + timedelta(minutes=1))  # 1,500 of 2,000: 75 %
    assert watch.check(ACCT, eng.snapshot(ACCT, T0)["rules"], T0.date()) == []
    eng.handle(account(True, balance=48_400.0), T0 + timedelta(minutes=2))  # 80 %
    [row] = watch.check(ACCT, eng.snapshot(ACCT, T0)["rules"], T0.date())
    assert row["rule"] == "R14" and row["used_pct"] == 80.0
    assert warning_figures(row) == ("Max loss floor", 48_400.0, 48_000.0)
