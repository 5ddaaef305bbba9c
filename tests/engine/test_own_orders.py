"""The engine knows the guard's own orders, and trades handled before a restart are state only."""

from __future__ import annotations

from datetime import timedelta

from engine.engine_helpers import (
    ACCT,
    MNQ,
    T0,
    CancelOrder,
    ClosePosition,
    Flatten,
    engine,
    locks_set,
    of,
    order,
    pos,
    trade,
)
from risk_manager.engine.actions import Lock, LockEnd, LockKind
from risk_manager.engine.gate import InFlight
from risk_manager.engine.own_orders import GUARD_TAG_PREFIX, HandledTradeRecord, JudgedExitRecord, OwnOrderRecord
from risk_manager.events import Order, OrderStatus, make_event

MARKET, STOP = 2, 4
BUY, SELL = 0, 1
R03 = {"daily_realized_loss": {"enabled": True, "loss_limit": 50, "include_unrealized": False}}
R06 = {"trade_frequency_limit": {"enabled": True, "per_minute": 3, "per_hour": 100, "per_session": 100}}
R07 = {"cooldown_after_loss": {"enabled": True, "tiers": [{"loss_amount": -50, "cooldown_seconds": 60}]}}


def _locked(eng, now):
    lock = Lock(ACCT, "R03", LockKind.LOCKOUT, "loss", LockEnd.TIME, now + timedelta(hours=1), now)
    eng.restore_locks([lock])


def _market(oid: int, side: int, size: int = 1, status: int = OrderStatus.PENDING, tag=None):
    return make_event(Order(oid, ACCT, MNQ, status, MARKET, side, size, custom_tag=tag))


def test_gate_cancels_a_trader_order_but_never_the_guards_close():
    eng = engine(R03)
    eng.handle(pos(MNQ, 2, 20000.0), T0)
    _locked(eng, T0)
    # The trader's market order while locked: cancelled.
    assert of(eng.handle(_market(7, BUY), T0), CancelOrder)
    # The executor is about to closeContract: the server's market sell on MNQ is the guard's.
    eng.expect_own_close(ACCT, MNQ, T0)
    actions = eng.handle(_market(8, SELL, size=2), T0 + timedelta(milliseconds=5))
    assert of(actions, CancelOrder) == []
    assert 8 in eng.state(ACCT).own_orders
    assert eng.take_records() == [OwnOrderRecord(ACCT, 8, MNQ, "close", T0 + timedelta(milliseconds=5))]


def test_a_claim_binds_one_order_on_the_closing_side_within_its_ttl():
    eng = engine(R03)
    eng.handle(pos(MNQ, 1, 20000.0), T0)  # long: the close is a sell
    eng.expect_own_close(ACCT, MNQ, T0)
    eng.handle(_market(5, BUY), T0)  # a buy cannot be the close of a long
    eng.handle(_market(6, SELL, tag="trader-1"), T0)  # a tagged order is not the server's close
    eng.handle(_market(7, SELL), T0)
    eng.handle(_market(8, SELL), T0)  # the claim is used up
    own = eng.state(ACCT).own_orders
    assert (5 in own, 6 in own, 7 in own, 8 in own) == (False, False, True, False)
    eng.expect_own_close(ACCT, MNQ, T0)
    eng.handle(_market(9, SELL), T0 + timedelta(seconds=60))  # too late: the claim expired
    assert 9 not in own


def test_a_narrowed_flatten_skips_the_guards_close_order():
    eng = engine(R03)
    eng.handle(pos(MNQ, 1, 20000.0), T0)
    eng.handle(order(20, MNQ, otype=STOP, side=SELL, stop=19900.0), T0)  # the trader's stop
    eng.expect_own_close(ACCT, MNQ, T0)
    eng.handle(_market(21, SELL, status=OrderStatus.OPEN), T0)  # the guard's close, still working
    inflight = InFlight()
    inflight.admit([ClosePosition(ACCT, MNQ, "R04", "x")], eng.accounts, T0)  # position busy
    out = inflight.admit([Flatten(ACCT, "R03", "loss")], eng.accounts, T0)
    assert [a.order_id for a in of(out, CancelOrder)] == [20]


def test_orders_with_the_guards_tag_are_own_and_their_fills_are_not_trader_trades():
    eng = engine(R06)
    tag = f"{GUARD_TAG_PREFIX}abc-1"
    eng.handle(make_event(Order(30, ACCT, MNQ, OrderStatus.OPEN, STOP, SELL, 1, stop_price=19900.0,
                                custom_tag=tag)), T0)
    # Known by its tag alone (Order/place timed out, or a restart), and recorded by id.
    assert eng.state(ACCT).own_orders.kinds == {30: "stop"}
    assert [(r.order_id, r.kind) for r in eng.take_records()] == [(30, "stop")]
    for i in range(3):  # three trader executions: at the limit
        eng.handle(trade(100 + i, MNQ, None, ts=T0, order_id=200 + i, side=BUY), T0)
    actions = eng.handle(trade(110, MNQ, -5.0, ts=T0, order_id=30), T0)  # the guard's stop fills
    assert locks_set(actions) == []
    state = eng.state(ACCT)
    assert (state.trades_today, state.trader_trades_today) == (4, 3)
    assert state.trader_count_in_window(T0, 60) == 3
    # A fourth trader execution breaches.
    assert [lock.rule for lock in locks_set(eng.handle(trade(111, MNQ, None, ts=T0, order_id=204), T0))] == ["R06"]


def test_r06_ignores_the_guards_close_fills():
    eng = engine(R06)
    for n in range(2):  # two trader buys, each closed by the guard
        eng.handle(trade(300 + n, MNQ, None, ts=T0, order_id=400 + n, side=BUY), T0)
        eng.handle(pos(MNQ, 1, 20000.0), T0)
        eng.expect_own_close(ACCT, MNQ, T0)
        eng.handle(_market(500 + n, SELL), T0)
        actions = eng.handle(trade(310 + n, MNQ, -1.0, ts=T0, order_id=500 + n), T0)
        eng.handle(pos(MNQ, 0, 20000.0), T0)
        assert locks_set(actions) == []
    assert eng.state(ACCT).trader_trades_today == 2


def test_a_trade_handled_before_a_restart_rebuilds_state_but_fires_no_event_rule():
    eng = engine({**R07, **R03})
    losing = trade(900, MNQ, -60.0, ts=T0 - timedelta(minutes=10))
    # Before the restart: R07 and R03 act, and the trade is recorded as handled.
    first = eng.handle(losing, T0 - timedelta(minutes=10))
    assert sorted(lock.rule for lock in locks_set(first)) == ["R03", "R07"]
    taken = eng.take_records()
    records = [r for r in taken if isinstance(r, HandledTradeRecord)]
    assert [r.trade_id for r in records] == [900]
    judged = [(r.account_id, r.exec_key, r.worst) for r in taken if isinstance(r, JudgedExitRecord)]
    assert judged == [(ACCT, "order:900", -60.0)]

    # After the restart (a fresh engine): the R03 lock was lifted by the admin, R07's ended.
    eng = engine({**R07, **R03})
    eng.restore_handled_trades([(ACCT, 900)])
    eng.restore_judged_exits(judged)
    actions = eng.handle(losing, T0)
    assert eng.state(ACCT).realized == -60.0  # state rebuilt
    # R07 (an event rule) is silent; R03 (a standing condition: the day is below the limit) acts.
    assert [lock.rule for lock in locks_set(actions)] == ["R03"]
    assert eng.take_records() == []  # nothing new to persist


def test_trades_read_again_on_a_locked_account_set_no_fresh_cooldown():
    """R06 locked the account before the restart (cooldown still in force). Read again, its trades
    go through the locked path, where the lock-setting rules still judge events: an event rule
    there must not judge a handled trade again (it would set a fresh, later cooldown and flatten).
    Found by the model checker's long run (seed 2145: a 10-order burst, then a restart)."""
    burst = [trade(950 + i, MNQ, None, ts=T0 + timedelta(seconds=i), order_id=1950 + i) for i in range(4)]
    eng = engine(R06)
    out = [eng.handle(t, T0 + timedelta(seconds=i)) for i, t in enumerate(burst)]
    (lock,) = [lk for o in out for lk in locks_set(o) if lk.rule == "R06"]
    handled = [(r.account_id, r.trade_id) for r in eng.take_records() if isinstance(r, HandledTradeRecord)]
    assert len(handled) == 4

    later = T0 + timedelta(seconds=20)  # the restart, inside the cooldown
    eng = engine(R06)
    eng.locks.restore([lock])
    eng.restore_handled_trades(handled)
    again = [eng.handle(t, later) for t in burst]
    assert [a for o in again for a in o if isinstance(a, Flatten)] == []
    assert locks_set([a for o in again for a in o]) == []
    assert eng.locks.get(ACCT, "R06").until == lock.until  # the cooldown is the one it had


def test_a_trade_never_handled_still_fires_event_rules():
    eng = engine(R07)
    eng.restore_handled_trades([(ACCT, 1)])
    actions = eng.handle(trade(2, MNQ, -60.0, ts=T0), T0)
    assert [lock.rule for lock in locks_set(actions)] == ["R07"]
    assert of(actions, Flatten)


def test_a_close_whose_order_event_was_never_seen_is_bound_by_its_fill():
    # The start-up flatten closes before the user hub is subscribed: only Trade/search shows it.
    eng = engine(R06)
    eng.handle(pos(MNQ, 1, 20000.0), T0)
    eng.expect_own_close(ACCT, MNQ, T0)
    # A fill made before the claim (the trader's earlier entry) is not the close.
    eng.handle(trade(600, MNQ, None, ts=T0 - timedelta(minutes=5), order_id=700, side=SELL), T0)
    eng.handle(trade(601, MNQ, -3.0, ts=T0 + timedelta(milliseconds=20), order_id=701, side=SELL), T0)
    own = eng.state(ACCT).own_orders
    assert (700 in own, 701 in own) == (False, True)
    assert eng.state(ACCT).trader_trades_today == 1


def test_a_trader_order_whose_events_arrive_after_the_claim_is_not_the_guards_close():
    """A 10-order burst fills over several frames; the gate closes the position meanwhile. The
    late events of a trader order created before the close (an older id) must not be taken for
    the guard's close, and the real close (a newer id) must be. Found by the model checker
    (seed 5001: the gate then tried to cancel its own close, and a trader order became "own")."""
    eng = engine(R06)
    eng.handle(pos(MNQ, 2, 20000.0, short=True), T0)
    eng.handle(_market(812, BUY), T0)  # seen: the newest order id is 812
    eng.expect_own_close(ACCT, MNQ, T0)
    # A trader's buy 1 (id 810, older than 812) arrives only now, on the closing side of the short.
    eng.handle(_market(810, BUY, status=OrderStatus.FILLED), T0 + timedelta(milliseconds=3))
    eng.handle(_market(814, BUY, size=2), T0 + timedelta(milliseconds=5))  # the server's close
    own = eng.state(ACCT).own_orders
    assert (810 in own, 814 in own) == (False, True)
    assert eng.is_own_close(ACCT, _market(814, BUY, size=2).data, T0 + timedelta(milliseconds=6))


def test_a_partial_close_claim_binds_only_an_order_of_its_size():
    """R02 reduces a long 3 by 1 while the trader sends his own market sell 3 (newer than every
    order seen, on the closing side): his exit is his, the 1-lot order is the guard's. Found by the
    model checker (seed 6053: the trader's losing exit was taken for the guard's, R07 never judged it)."""
    eng = engine(R06)
    eng.handle(pos(MNQ, 3, 20000.0), T0)
    eng.expect_own_close(ACCT, MNQ, T0, 1)
    eng.handle(_market(920, SELL, size=3), T0 + timedelta(milliseconds=2))  # the trader's exit
    # The fills of the trader's exit come first: they are not bound either (its order was seen).
    eng.handle(trade(930, MNQ, -40.0, ts=T0 + timedelta(milliseconds=4), order_id=920, side=SELL, size=1), T0)
    own = eng.state(ACCT).own_orders
    assert 920 not in own
    eng.handle(_market(921, SELL, size=1), T0 + timedelta(milliseconds=5))  # the server's close
    assert (920 in own, 921 in own) == (False, True)


def test_r07_never_judges_a_losing_fill_of_the_guards_own_close():
    """The guard's own close realizing a loss is not the trader's exit: no cooldown (docs/rules.md: the
    trader's trades never include fills of orders the guard placed)."""
    eng = engine(R07)
    eng.handle(pos(MNQ, 1, 20000.0), T0)
    eng.expect_own_close(ACCT, MNQ, T0)
    eng.handle(_market(30, SELL, status=OrderStatus.OPEN), T0)  # the guard's close
    assert 30 in eng.state(ACCT).own_orders
    actions = eng.handle(trade(31, MNQ, -80.0, ts=T0, order_id=30), T0 + timedelta(milliseconds=5))
    assert locks_set(actions) == []
    # The same loss on the trader's own market order does set the cooldown.
    eng.handle(pos(MNQ, 1, 20000.0), T0 + timedelta(seconds=1))
    eng.handle(_market(32, SELL, status=OrderStatus.OPEN, tag="trader"), T0 + timedelta(seconds=1))
    actions = eng.handle(trade(33, MNQ, -80.0, ts=T0, order_id=32), T0 + timedelta(seconds=1))
    assert [lock.rule for lock in locks_set(actions)] == ["R07"]
