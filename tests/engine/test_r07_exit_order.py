"""R07 judges an exit order once it is complete, on the P&L summed over all its fills (issue 11
item 7, issue 17): not on its first fill (a 60 s cooldown and a flatten that cancels the trader's own
exit mid-way), whichever of the order update and the last trade comes first; a partial exit still
working is judged after `partial_exit_grace_seconds`, and later fills escalate.

Fills: MNQ, −$80 gross each, $0.62 fees and commissions per lot → −$80.62 net.
"""

from __future__ import annotations

from datetime import timedelta

from risk_manager.engine.actions import Flatten
from risk_manager.events import Order, make_event

from .engine_helpers import ACCT, MNQ, T0, ct, engine, locks_set, of, pos, trade

TIERS = {"cooldown_after_loss": {"tiers": [
    {"loss_amount": -50, "cooldown_seconds": 60}, {"loss_amount": -200, "cooldown_seconds": 900}]}}
EXIT = 700  # the trader's sell stop for 3 lots
SELL, STOP, LIMIT, MARKET = 1, 4, 1, 2
MS = timedelta(milliseconds=1)


def exit_order(status: int, filled: int, *, size: int = 3, otype: int = STOP):
    return make_event(Order(EXIT, ACCT, MNQ, status, otype, SELL, size, fill_volume=filled,
                            stop_price=19960.0 if otype == STOP else None))


def fill(tid: int, *, pnl: float = -80.0, size: int = 1, oid: int = EXIT):
    return trade(tid, MNQ, pnl * size if pnl is not None else None, ts=T0, fees=0.37 * size,
                 comm=0.25 * size, order_id=oid, size=size)


def long3(rules=TIERS):
    e = engine(rules)
    e.handle(pos(MNQ, 3, 20000.0), T0)
    e.handle(exit_order(1, 0), T0)  # the stop rests
    return e


def run(e, events, t=T0):
    """Feed events 1 ms apart; the actions of each, in order."""
    out = []
    for i, ev in enumerate(events):
        out.append(e.handle(ev, t + i * MS))
    return out


def r07_locks(outs):
    return [lock for out in outs for lock in locks_set(out) if lock.rule == "R07"]


def test_order_update_before_each_trade_judges_the_exit_once_on_its_last_fill():
    """The real gateway's order: Order (fillVolume) → Trade → Position, per fill."""
    e = long3()
    outs = run(e, [
        exit_order(1, 1), fill(1), pos(MNQ, 2, 20000.0),
        exit_order(1, 2), fill(2), pos(MNQ, 1, 20000.0),
        exit_order(2, 3), fill(3), pos(MNQ, 0, 20000.0),
    ])
    assert [i for i, out in enumerate(outs) if out] == [7]  # nothing before the last trade
    (lock,) = r07_locks(outs)
    assert lock.until == T0 + 7 * MS + timedelta(seconds=900)  # the exit's −$241.86 → −200 tier
    assert lock.reason.startswith("Loss of -$241.86 on MNQ <= -$200.00")
    assert len([a for out in outs for a in of(out, Flatten)]) == 1


def test_order_end_after_the_last_trade_judges_the_exit_at_the_order_update():
    """Trade first, then the order update; a partial exit the trader cancels ends at the cancel."""
    e = long3()
    outs = run(e, [fill(1), exit_order(1, 1), pos(MNQ, 2, 20000.0),
                   fill(2, pnl=-130.0), exit_order(1, 2), pos(MNQ, 1, 20000.0)])
    assert not any(outs) and e.locks.get(ACCT, "R07") is None  # still working: not judged yet
    later = T0 + 500 * MS
    (lock,) = locks_set(e.handle(exit_order(3, 2), later))  # cancelled with 2 of 3 filled
    assert lock.rule == "R07" and lock.until == later + timedelta(seconds=900)
    assert lock.reason.startswith("Loss of -$211.24 on MNQ")  # both fills, fees included


def test_the_last_trade_after_the_filled_update_is_waited_for():
    """Order(Filled, fillVolume 3) can come before the trades: they are waited for, then judged once."""
    e = long3()
    outs = run(e, [exit_order(2, 3), fill(1), fill(2)])
    assert not any(outs)
    (lock,) = locks_set(e.handle(fill(3), T0 + 10 * MS))
    assert lock.rule == "R07" and lock.until == T0 + 10 * MS + timedelta(seconds=900)


def test_a_single_fill_exit_is_judged_at_once_in_either_order():
    for events in (
        [exit_order(2, 1, size=1, otype=MARKET), fill(1)],  # Order(Filled) → Trade
        [exit_order(6, 0, size=1, otype=MARKET), fill(1)],  # Order(Pending) → Trade → Order(Filled)
    ):
        e = engine(TIERS)
        e.handle(pos(MNQ, 1, 20000.0), T0)
        outs = run(e, events)
        (lock,) = locks_set(outs[-1])  # on the trade itself, no wait
        assert lock.rule == "R07" and lock.until == T0 + MS + timedelta(seconds=60)
        assert of(outs[-1], Flatten)
        assert r07_locks([e.handle(exit_order(2, 1, size=1, otype=MARKET), T0 + 2 * MS)]) == []


def test_a_partial_exit_still_working_is_judged_after_the_grace_and_later_fills_escalate():
    e = long3()
    run(e, [exit_order(1, 1, otype=LIMIT), fill(1, pnl=-110.0), pos(MNQ, 2, 20000.0)])
    assert e.locks.get(ACCT, "R07") is None
    assert e.tick(T0 + timedelta(seconds=1)) == []  # inside the grace (2 s by default)
    assert e.tick(T0 + timedelta(seconds=2)) == []  # the fill came 1 ms after T0
    t2 = T0 + MS + timedelta(seconds=2)
    out = e.tick(t2)
    (lock,) = locks_set(out)
    assert lock.rule == "R07" and lock.until == t2 + timedelta(seconds=60)  # −$110.62 so far
    assert of(out, Flatten)
    assert e.tick(t2 + timedelta(seconds=1)) == []  # judged once
    t3 = t2 + timedelta(seconds=5)
    same_tier = e.handle(fill(2, pnl=-10.0), t3)  # −$121.24: the tier already judged
    assert r07_locks([same_tier]) == []
    t4 = t3 + timedelta(seconds=1)
    (worse,) = locks_set(e.handle(fill(3, pnl=-100.0), t4))  # −$221.86: escalates while locked
    assert worse.rule == "R07" and worse.until == t4 + timedelta(seconds=900)


def test_the_grace_is_configurable():
    rules = {"cooldown_after_loss": {**TIERS["cooldown_after_loss"], "partial_exit_grace_seconds": 5}}
    e = long3(rules)
    run(e, [exit_order(1, 1), fill(1), pos(MNQ, 2, 20000.0)])
    assert e.tick(T0 + timedelta(seconds=4)) == []
    assert [lk.rule for lk in locks_set(e.tick(T0 + MS + timedelta(seconds=5)))] == ["R07"]


def test_a_position_flat_or_flipped_completes_the_exit():
    # Flat: the rest of the position closed by another order while the exit still works.
    e = long3()
    outs = run(e, [exit_order(1, 1), fill(1, pnl=-150.0), pos(MNQ, 2, 20000.0),
                   fill(2, pnl=5.0, size=2, oid=701)])  # order 701: a small gain, judged on its own
    assert not any(outs)
    (lock,) = locks_set(e.handle(pos(MNQ, 0, 20000.0), T0 + 10 * MS))
    assert lock.rule == "R07" and lock.reason.startswith("Loss of -$150.62")
    # Flipped: a sell of 5 against long 3 closes 3 (one fill) and opens a short of 2.
    e = long3()
    e.handle(make_event(Order(EXIT, ACCT, MNQ, 1, MARKET, SELL, 5)), T0)
    assert e.handle(fill(1, pnl=-80.0, size=3), T0 + MS) == []
    (lock,) = locks_set(e.handle(pos(MNQ, 2, 19960.0, short=True), T0 + 2 * MS))
    assert lock.rule == "R07" and lock.until == T0 + 2 * MS + timedelta(seconds=900)


def test_an_exit_completed_by_its_order_end_is_judged_while_another_lock_holds():
    e = long3()
    e.manual_lock(ACCT, T0 + timedelta(minutes=5), "break", "trader", T0)
    outs = run(e, [fill(1, pnl=-110.0), fill(2, pnl=-110.0)], T0 + MS)
    assert r07_locks(outs) == []
    later = T0 + timedelta(milliseconds=50)
    (lock,) = r07_locks([e.handle(exit_order(3, 2), later)])  # the cancel: the gate has nothing to do
    assert lock.until == later + timedelta(seconds=900)


def test_a_partial_exit_pending_at_the_daily_reset_is_still_judged():
    before = ct(2026, 8, 19, 16, 59, 59)  # the reset is at 17:00 Chicago
    e = long3()
    e.handle(exit_order(1, 1), before)
    e.handle(fill(1, pnl=-110.0), before)
    after = before + timedelta(seconds=3)
    out = e.tick(after)
    assert e.snapshot(ACCT, after)["realized_pnl"] == 0.0  # a new trading day
    (lock,) = locks_set(out)
    assert lock.rule == "R07" and lock.reason.startswith("Loss of -$110.62")


def test_a_partial_exit_judged_before_a_restart_is_not_judged_again_by_the_restart():
    """Judged after its grace, the exit order is still working when the daemon restarts: its fills,
    read again, rebuild it as judged (exits_judged), so the grace of the rebuilt exit never judges
    it a second time; a later, worse fill of the same order still escalates."""
    from risk_manager.engine.own_orders import HandledTradeRecord, JudgedExitRecord, exec_key_text

    e = long3()
    run(e, [exit_order(1, 1, otype=LIMIT), fill(1, pnl=-110.0), pos(MNQ, 2, 20000.0)])
    t2 = T0 + MS + timedelta(seconds=2)
    assert r07_locks([e.tick(t2)])  # judged: −$110.62
    records = e.take_records()
    handled = [(r.account_id, r.trade_id) for r in records if isinstance(r, HandledTradeRecord)]
    judged = [(r.account_id, r.exec_key, r.worst) for r in records if isinstance(r, JudgedExitRecord)]
    assert judged == [(ACCT, exec_key_text(("order", EXIT)), -110.62)]

    # The restart: a fresh engine, the cooldown still in force, the same state read again.
    after = t2 + timedelta(seconds=10)
    e = engine(TIERS)
    e.tick(after)
    e.restore_handled_trades(handled)
    e.restore_judged_exits(judged)
    rebuilt = run(e, [pos(MNQ, 2, 20000.0), exit_order(1, 1, otype=LIMIT), fill(1, pnl=-110.0)], after)
    assert r07_locks(rebuilt) == []
    assert r07_locks([e.tick(after + timedelta(seconds=5))]) == []  # the rebuilt exit's grace
    worse = e.handle(fill(3, pnl=-100.0), after + timedelta(seconds=6))  # a new fill: −$221.24
    (lock,) = locks_set(worse)
    assert lock.rule == "R07" and lock.reason.startswith("Loss of -$211.24")
