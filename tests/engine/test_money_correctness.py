"""Issue 11 items 1, 3, 5, 7, 8, 10 at the engine: the money a trader's real day exposes.

Fees: MNQ fills cost $0.37 fees + $0.25 commissions per contract (the simulator's micro table).
"""

from __future__ import annotations

from datetime import timedelta

from risk_manager.engine.actions import ClearLock, Flatten, LockEnd, LockKind, ModifyStop, SetLock

from .engine_helpers import (
    ACCT, MNQ, T0, account, ct, engine, locks_set, of, order, pos, quote, trade,
)

FEE, COMM = 0.37, 0.25


def _fill(tid, pnl, size, *, oid=None, ts=T0):
    return trade(tid, MNQ, pnl, ts=ts, fees=round(FEE * size, 2), comm=round(COMM * size, 2),
                 order_id=oid or tid, size=size)


# -- item 1: net P&L = balance change ----------------------------------------------------------
def test_net_realized_includes_the_fees_of_opening_fills_issue_example():
    """Buy 1 @ 20000, buy 2 @ 20004, sell 1 @ 20010, sell 2 @ 19990 (average 20002.67):
    gross +14.67 − 50.67 = −36.00, six contract-fills × $0.62 = $3.72 → balance −$39.72."""
    e = engine()
    for step in (_fill(1, None, 1), _fill(2, None, 2), _fill(3, 14.67, 1), _fill(4, -50.67, 2)):
        e.handle(step, T0)
    snap = e.snapshot(ACCT, T0)
    assert snap["realized_pnl"] == -39.72  # was −37.86: the opening fills' $1.86 left out
    assert round(e.state(ACCT).realized_gross, 2) == -36.0
    gross = engine(pnl_basis="gross")
    for step in (_fill(1, None, 1), _fill(2, None, 2), _fill(3, 14.67, 1), _fill(4, -50.67, 2)):
        gross.handle(step, T0)
    assert gross.snapshot(ACCT, T0)["realized_pnl"] == -36.0  # gross basis: no fees at all


def test_r03_counts_an_opening_fills_fees_and_judges_it():
    e = engine({"daily_realized_loss": {"loss_limit": 100, "include_unrealized": False}})
    assert e.handle(_fill(1, -99.0, 1), T0) == []  # −99.62 net
    out = e.handle(_fill(2, None, 1), T0)  # opening fill: −0.62 → −100.24
    (lock,) = locks_set(out)
    assert lock.rule == "R03" and lock.reason.startswith("Daily loss limit: -$100.24 <= -$100.00")
    assert of(out, Flatten)


def test_r13_and_rule_rows_use_the_net_figure():
    e = engine({"daily_realized_profit": {"enabled": True, "target": 100, "include_unrealized": False}})
    assert e.handle(_fill(1, None, 1), T0) == []
    # 101.00 − 0.62 = 100.38 on the closing fill alone, but the opening fill's fee makes it 99.76.
    assert e.handle(_fill(2, 101.0, 1), T0) == []
    assert e.locks.get(ACCT, "R13") is None
    row = next(r for r in e.snapshot(ACCT, T0)["rules"] if r["rule"] == "R13")
    assert row["value"] == 99.76


# -- item 3: R01 close all = flatten -----------------------------------------------------------
def test_r01_close_all_is_a_flatten_that_takes_the_working_orders_too():
    e = engine({"max_contracts": {"limit": 2}})
    e.handle(pos(MNQ, 2, 20000.0), T0)
    e.handle(order(7, MNQ, otype=1, side=1, size=2, limit=20050.0), T0)  # the trader's target
    out = e.handle(pos(MNQ, 3, 20000.0), T0)
    assert out == [Flatten(ACCT, "R01", out[0].reason)]
    assert out[0].contract_id is None  # the whole account: its orders are cancelled first


# -- item 5: every breach records its own lock at once -----------------------------------------
RULES_5 = {
    "daily_realized_loss": {"loss_limit": 500, "include_unrealized": True},
    "cooldown_after_loss": {"tiers": [{"loss_amount": -100, "cooldown_seconds": 300}],
                            "flatten_on_trigger": False},
}


def test_r03_breach_during_an_r07_cooldown_sets_the_lockout_now():
    e = engine(RULES_5)
    (cool,) = locks_set(e.handle(trade(1, MNQ, -150.0, ts=T0), T0))
    assert cool.rule == "R07" and cool.kind is LockKind.COOLDOWN
    t = T0 + timedelta(seconds=10)
    out = e.handle(trade(2, MNQ, -545.0, ts=t), t)  # −695 = 139 % of the limit, during the cooldown
    lockout = {l.rule: l for l in locks_set(out)}["R03"]  # (this exit also renews R07's cooldown)
    assert lockout.rule == "R03" and lockout.ends is LockEnd.RESET and lockout.until == ct(2026, 8, 19, 17)
    assert of(out, Flatten) == [Flatten(ACCT, "R03", lockout.reason)]
    assert {l.rule for l in e.locks.active(ACCT)} == {"R03", "R07"}  # one row per rule
    assert e.locks.blocking_lock(ACCT).rule == "R03"  # the longest is what the account waits for
    snap = e.snapshot(ACCT, t)
    assert snap["longest_lock"]["rule"] == "R03" and snap["longest_lock"]["until"] == lockout.until.isoformat()
    # The cooldown ends on its own; the account stays locked by R03.
    cleared = e.tick(t + timedelta(seconds=301))  # the renewed cooldown
    assert [c.rule for c in of(cleared, ClearLock)] == ["R07"] and e.locks.is_locked(ACCT)


def test_a_breach_already_locked_is_not_flattened_again_on_every_event():
    e = engine(RULES_5)
    e.handle(trade(1, MNQ, -600.0, ts=T0), T0)  # R03 and R07 at once
    assert {l.rule for l in e.locks.active(ACCT)} == {"R03", "R07"}
    t = T0 + timedelta(seconds=1)
    assert e.handle(trade(2, MNQ, -50.0, ts=t), t) == []  # both breached again: nothing new to record


def test_r03_from_a_quote_during_an_r07_cooldown_locks_now():
    e = engine(RULES_5)
    e.handle(quote(MNQ, last=20000.0), T0)
    e.handle(pos(MNQ, 2, 20000.0), T0)  # held through the cooldown (flatten_on_trigger false)
    e.handle(trade(1, MNQ, -150.0, ts=T0), T0)
    assert e.locks.get(ACCT, "R07") is not None
    t = T0 + timedelta(seconds=5)
    out = e.handle(quote(MNQ, last=19912.5), t)  # open −350, realized −150: −500
    assert [l.rule for l in locks_set(out)] == ["R03"] and of(out, Flatten)


# -- item 7: R07 per exit order ----------------------------------------------------------------
TIERS = {"cooldown_after_loss": {"tiers": [
    {"loss_amount": -100, "cooldown_seconds": 300}, {"loss_amount": -200, "cooldown_seconds": 900},
    {"loss_amount": -300, "cooldown_seconds": 1800}]}}


def test_r07_judges_the_exit_order_summed_over_its_fills_and_escalates():
    e = engine(TIERS)
    assert e.handle(trade(1, MNQ, -80.0, ts=T0, order_id=55), T0) == []  # −80: no tier yet
    t1 = T0 + timedelta(milliseconds=5)
    (first,) = locks_set(e.handle(trade(2, MNQ, -80.0, ts=t1, order_id=55), t1))  # −160
    assert first.until == t1 + timedelta(seconds=300)
    t2 = t1 + timedelta(milliseconds=5)
    out = e.handle(trade(3, MNQ, -80.0, ts=t2, order_id=55), t2)  # −240: the −200 tier, while locked
    (worse,) = locks_set(out)
    assert worse.rule == "R07" and worse.until == t2 + timedelta(seconds=900)
    assert worse.reason.startswith("Loss of -$240.00 on MNQ <= -$200.00")
    assert e.locks.get(ACCT, "R07").until == t2 + timedelta(seconds=900)


def test_r07_does_not_refire_the_same_tier_for_each_fill():
    e = engine(TIERS)
    e.handle(trade(1, MNQ, -60.0, ts=T0, order_id=56), T0)
    (lock,) = locks_set(e.handle(trade(2, MNQ, -60.0, ts=T0, order_id=56), T0))  # −120
    t = T0 + timedelta(seconds=20)
    assert e.handle(trade(3, MNQ, -10.0, ts=t, order_id=56), t) == []  # −130: same tier, no new cooldown
    assert e.locks.get(ACCT, "R07") == lock
    # Another exit order is judged on its own.
    t2 = t + timedelta(seconds=1)
    assert e.handle(trade(4, MNQ, -50.0, ts=t2, order_id=57), t2) == []


def test_r07_order_pnl_takes_back_a_voided_fill():
    e = engine(TIERS)
    e.handle(trade(1, MNQ, -80.0, ts=T0, order_id=58), T0)
    e.handle(trade(1, MNQ, -80.0, ts=T0, order_id=58, voided=True), T0)
    assert e.handle(trade(2, MNQ, -30.0, ts=T0, order_id=58), T0) == []  # −30, not −110


# -- item 8: R10 and a missing canTrade --------------------------------------------------------
def test_r10_account_update_without_can_trade_keeps_the_lock():
    e = engine({"auth_loss_guard": {}})
    assert locks_set(e.handle(account(False), T0))
    out = e.handle(account(None, balance=49_000.0), T0 + timedelta(seconds=1))
    assert of(out, ClearLock) == [] and e.locks.get(ACCT, "R10") is not None
    assert e.state(ACCT).can_trade is False and e.state(ACCT).balance == 49_000.0
    assert e.snapshot(ACCT, T0)["can_trade"] is False
    out = e.handle(account(True), T0 + timedelta(seconds=2))  # only an explicit true ends it
    assert [c.rule for c in of(out, ClearLock)] == ["R10"]


def test_r10_restored_lock_survives_an_update_without_can_trade():
    """After a restart nothing is known yet: a missing field is taken as true, but never ends the lock."""
    e = engine({"auth_loss_guard": {}})
    e.handle(account(False), T0)
    lock = e.locks.get(ACCT, "R10")
    fresh = engine({"auth_loss_guard": {}})
    fresh.restore_locks([lock])
    out = fresh.handle(account(None), T0 + timedelta(seconds=5))
    assert of(out, ClearLock) == [] and fresh.locks.is_locked(ACCT)


# -- item 10: R12 trails the best price reached ------------------------------------------------
def test_r12_trails_from_the_best_price_reached_across_a_scale_in():
    """Long 1 @ 20000, price 20010 (stop → 20007.50), add 1 @ 20010 (average 20005), price 20013:
    the best price is 20013, so the stop goes to 20010.50 — not 20012.50, two ticks under the market."""
    e = engine({"trade_management": {"enabled": True, "auto_breakeven": {"enabled": False},
                                     "trailing_stop": {"activation_ticks": 20, "trail_distance_ticks": 10}}})
    e.handle(pos(MNQ, 1, 20000.0), T0)
    e.handle(order(50, MNQ, otype=4, side=1, size=1, stop=19990.0), T0)
    t = T0 + timedelta(seconds=1)
    out = e.handle(quote(MNQ, last=20010.0), t)
    assert [a.stop_price for a in out if isinstance(a, ModifyStop)] == [20007.5]
    e.handle(order(50, MNQ, otype=4, side=1, size=1, stop=20007.5), t)
    t += timedelta(seconds=2)
    resized = e.handle(pos(MNQ, 2, 20005.0), t)  # the scale-in
    assert [(a.stop_price, a.size) for a in resized] == [(20007.5, 2)]
    e.handle(order(50, MNQ, otype=4, side=1, size=2, stop=20007.5), t)
    t += timedelta(seconds=2)
    out = e.handle(quote(MNQ, last=20013.0), t)
    assert [a.stop_price for a in out if isinstance(a, ModifyStop)] == [20010.5]
    assert e.state(ACCT).positions[MNQ].best_price == 20013.0


def test_r12_short_best_price_is_the_lowest_reached():
    e = engine({"trade_management": {"enabled": True, "auto_breakeven": {"enabled": False},
                                     "trailing_stop": {"activation_ticks": 20, "trail_distance_ticks": 10}}})
    e.handle(pos(MNQ, 1, 20000.0, short=True), T0)
    e.handle(order(51, MNQ, otype=4, side=0, size=1, stop=20010.0), T0)
    t = T0 + timedelta(seconds=1)
    assert [a.stop_price for a in e.handle(quote(MNQ, last=19990.0), t)] == [19992.5]
    e.handle(order(51, MNQ, otype=4, side=0, size=1, stop=19992.5), t)
    t += timedelta(seconds=2)
    e.handle(pos(MNQ, 2, 19995.0, short=True), t)  # add at 19990: average 19995
    e.handle(order(51, MNQ, otype=4, side=0, size=2, stop=19992.5), t)
    t += timedelta(seconds=2)
    out = e.handle(quote(MNQ, last=19987.0), t)
    assert [a.stop_price for a in out if isinstance(a, ModifyStop)] == [19989.5]


def test_set_lock_is_recorded_for_each_rule_whatever_else_is_active():
    from risk_manager.engine.actions import Lock
    from risk_manager.engine.locks import LockManager

    m = LockManager()
    cool = Lock(ACCT, "R07", LockKind.COOLDOWN, "x", LockEnd.TIME, T0 + timedelta(minutes=30), T0)
    assert isinstance(m.set(cool), SetLock)
    short = Lock(ACCT, "R06", LockKind.COOLDOWN, "y", LockEnd.TIME, T0 + timedelta(minutes=1), T0)
    assert isinstance(m.set(short), SetLock)  # shorter than R07's, still its own row
    assert {l.rule for l in m.active(ACCT)} == {"R06", "R07"}
    assert m.blocking_lock(ACCT).rule == "R07"
