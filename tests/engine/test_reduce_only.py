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


def test_r04_reduce_only_lets_a_close_pass_and_cancels_an_add():
    # R04 per position, $500 limit, reduce-only from 60 %: long 1 ES at 6000, −$300 at 5994.
    eng = engine({"daily_unrealized_loss": {"loss_limit": 500, "reduce_only_at": 0.6}})
    eng.handle(pos(ES, 1, 6000.0), T0)
    eng.handle(order(31, ES, otype=1, side=0, size=1, limit=5990.0), T0)  # a buy: adds
    assert eng.handle(quote(ES, last=5994.5), T0 + timedelta(seconds=1)) == []  # −$275: 55 %
    acts = eng.handle(quote(ES, last=5994.0), T0 + timedelta(seconds=2))  # −$300: 60 %
    [lock] = locks_set(acts)
    assert (lock.rule, lock.kind, lock.until) == ("R04:reduce_only", LockKind.REDUCE_ONLY, ct(2026, 8, 19, 17))
    assert [a.order_id for a in of(acts, CancelOrder)] == [31]
    assert not of(acts, Flatten) and not eng.locks.is_locked(ACCT)
    now = T0 + timedelta(seconds=5)
    assert eng.handle(order(32, ES, otype=1, side=1, size=1, limit=6005.0), now) == []  # closes
    [cancel] = of(eng.handle(order(33, ES, otype=1, side=0, size=1, limit=5980.0), now), CancelOrder)
    assert cancel.order_id == 33 and cancel.rule == "reduce_only"
    # The limit itself still closes the position (the flatten narrowed to what is not in flight).
    acts = eng.handle(quote(ES, last=5990.0), now + timedelta(seconds=1))  # −$500
    assert [(c.contract_id, c.rule) for c in of(acts, ClosePosition)] == [(ES, "R04")]
    assert not eng.locks.is_locked(ACCT)  # per position: no lockout


def test_r04_total_scope_reduce_only_and_alert_mode_only_says_so():
    eng = engine({"daily_unrealized_loss": {"loss_limit": 500, "scope": "total", "reduce_only_at": 0.8}})
    eng.handle(pos(ES, 1, 6000.0), T0)
    acts = eng.handle(quote(ES, last=5992.0), T0 + timedelta(seconds=1))  # −$400: 80 %
    assert [l.rule for l in locks_set(acts)] == ["R04:reduce_only"]
    alert = engine({"daily_unrealized_loss": {"loss_limit": 500, "reduce_only_at": 0.8, "mode": "alert"}})
    alert.handle(pos(ES, 1, 6000.0), T0)
    acts = alert.handle(quote(ES, last=5992.0), T0 + timedelta(seconds=1))
    assert not locks_set(acts) and alert.locks.reduce_only(ACCT) is None
    assert any("[alert only]" in getattr(a, "reason", "") for a in acts)


def test_r04_reduce_only_at_tightens_now_and_loosens_at_the_reset():
    from risk_manager.config.models import RiskConfig
    from risk_manager.engine.policy import looser_changes

    def cfg(ro):
        return RiskConfig.model_validate({"rules": {"daily_unrealized_loss": {"reduce_only_at": ro}}})

    def loose(a, b):
        return [c.key for c in looser_changes(cfg(a), cfg(b))]

    assert loose(None, 0.8) == [] and loose(0.8, 0.6) == []  # set or earlier: at once
    assert loose(0.8, None) == ["reduce_only_at"] and loose(0.6, 0.8) == ["reduce_only_at"]
