"""Reduce-only (docs/rules.md `reduce_only_at`): alert → reduce-only → flatten → lock.

ES: one point is $50 per contract. R03 with a $500 limit, reduce-only from 80 % ($400)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from engine.engine_helpers import (
    ACCT, ES, T0, CancelOrder, ClosePosition, Flatten, PartialClose, account, ct, engine, locks_set, of,
    order, pos, quote,
)
from risk_manager.engine.actions import ClearLock, LockKind

R03 = {"daily_realized_loss": {"loss_limit": 500, "reduce_only_at": 0.8}}


def reduced_engine():
    eng = engine(R03)
    eng.handle(pos(ES, 1, 6000.0), T0)
    eng.handle(order(21, ES, otype=1, side=0, size=1, limit=5990.0), T0)  # a buy: adds
    eng.handle(order(22, ES, otype=4, side=1, size=1, stop=5980.0), T0)  # its stop: protects
    eng.handle(quote(ES, last=5995.0), T0 + timedelta(seconds=1))  # −$250: nothing yet
    acts = eng.handle(quote(ES, last=5992.0), T0 + timedelta(seconds=2))  # −$400: 80 %
    return eng, acts


def test_reduce_only_starts_at_the_share_and_cancels_only_adding_orders():
    eng, acts = reduced_engine()
    [lock] = locks_set(acts)
    assert (lock.rule, lock.kind, lock.until) == ("R03:reduce_only", LockKind.REDUCE_ONLY, ct(2026, 8, 19, 17))
    assert [a.order_id for a in of(acts, CancelOrder)] == [21]
    assert not of(acts, Flatten) and not eng.locks.is_locked(ACCT)
    assert eng.snapshot(ACCT, T0)["reduce_only"] is True
    assert eng.handle(quote(ES, last=5991.5), T0 + timedelta(seconds=3)) == []  # once


def test_a_close_passes_an_add_is_cancelled_growth_is_closed():
    eng, _ = reduced_engine()
    now = T0 + timedelta(seconds=5)
    [cancel] = of(eng.handle(order(23, ES, otype=1, side=0, size=2, limit=5985.0), now), CancelOrder)
    assert cancel.order_id == 23 and cancel.rule == "reduce_only"
    assert eng.handle(order(24, ES, otype=1, side=1, size=1, limit=6005.0), now) == []  # closes
    assert of(eng.handle(order(25, ES, otype=1, side=1, size=3, limit=6005.0), now), CancelOrder)  # flips
    [cut] = of(eng.handle(pos(ES, 2, 5996.0), now + timedelta(seconds=1)), PartialClose)
    assert cut.size == 1 and cut.rule == "reduce_only"
    eng.enforcement_done(cut)
    assert eng.handle(pos(ES, 1, 5996.0), now + timedelta(seconds=2)) == []  # back down: passes
    assert eng.handle(pos(ES, 0, 5996.0), now + timedelta(seconds=3)) == []  # closed: passes
    assert of(eng.handle(pos(ES, 1, 5990.0, short=True, pid=2), now + timedelta(seconds=4)), ClosePosition)


def test_the_ladder_ends_in_the_lockout_and_the_reset_ends_both():
    eng, _ = reduced_engine()
    acts = eng.handle(quote(ES, last=5990.0), T0 + timedelta(seconds=9))  # −$500: the limit
    assert [l.rule for l in locks_set(acts)] == ["R03"]
    # The flatten, narrowed to what is not in flight (order 21's cancel still is).
    assert of(acts, ClosePosition) and [a.order_id for a in of(acts, CancelOrder)] == [22]
    cleared = eng.tick(ct(2026, 8, 19, 17, 0, 1))
    assert {c.rule for c in of(cleared, ClearLock)} == {"R03", "R03:reduce_only"}
    assert eng.locks.reduce_only(ACCT) is None


def test_a_rest_snapshot_of_what_is_held_is_not_enforced():
    eng, _ = reduced_engine()
    eng.handle(pos(ES, 0, 6000.0), T0 + timedelta(seconds=5))
    held = replace(pos(ES, 1, 5991.0, pid=3), source="rest")  # e.g. a reconcile after a restart
    assert not of(eng.handle(held, T0 + timedelta(seconds=6)), ClosePosition)


def test_r14_reduce_only_at_a_share_of_the_room():
    eng = engine({"max_loss_floor": {"starting_balance": 50_000, "max_drawdown": 2_000,
                                     "buffer": 0, "reduce_only_at": 0.5}})
    assert eng.handle(account(True, balance=49_001.0), T0) == []  # 49.95 % of the room
    acts = eng.handle(account(True, balance=49_000.0), T0 + timedelta(seconds=1))  # 50 %
    [lock] = locks_set(acts)
    assert lock.rule == "R14:reduce_only" and lock.kind is LockKind.REDUCE_ONLY
