"""The acceptance scenarios of issue 3, one named test each (docs/rules.md)."""

from __future__ import annotations

from datetime import timedelta

from risk_manager.engine.actions import (
    Alert, CancelOrder, ClearLock, ClosePosition, Flatten, LockEnd, LockKind, ModifyStop, PartialClose,
    PlaceStop,
)

from .engine_helpers import (
    ACCT, CL, ES, MES, MNQ, NQ, RTY_U, RTY_Z, T0, account, ct, engine, locks_set, mtrade, of, order, pos,
    quote, trade,
)


def test_r01_net_6_with_limit_5_breaches():
    e = engine({"max_contracts": {"limit": 5, "count_type": "net"}})
    assert e.handle(pos(MNQ, 4, 29500.0), T0) == []
    out = e.handle(pos(ES, 2, 6400.0, pid=2), T0)
    (flat,) = of(out, Flatten)  # close all = flatten: working orders too, every position
    assert flat.contract_id is None and flat.reason.startswith("Max contracts: 6 > 5 (net)")


def test_r01_net_counts_opposite_sides_against_each_other():
    e = engine({"max_contracts": {"limit": 5, "count_type": "net"}})
    e.handle(pos(MNQ, 4, 29500.0), T0)
    assert e.handle(pos(ES, 2, 6400.0, short=True, pid=2), T0) == []  # |4 − 2| = 2


def test_r01_reduce_mode_partial_closes_largest_first_and_micro_weight():
    e = engine({"max_contracts": {"limit": 5, "close_all": False}})
    e.handle(pos(ES, 2, 6400.0, pid=2), T0)
    out = e.handle(pos(NQ, 5, 23000.0), T0)
    assert out == [PartialClose(ACCT, NQ, 2, "R01", out[0].reason)]
    weighted = engine({"max_contracts": {"limit": 5, "micro_weight": 0.1}})
    assert weighted.handle(pos(MNQ, 40, 29500.0), T0) == []  # 40 micros count as 4


def test_r02_mnq_3_with_limit_2_partial_closes_1():
    e = engine({"max_contracts_per_instrument": {}})
    assert e.handle(pos(MNQ, 2, 29500.0), T0) == []
    out = e.handle(pos(MNQ, 3, 29500.0), T0)
    assert out == [PartialClose(ACCT, MNQ, 1, "R02", out[0].reason)]
    assert out[0].reason.startswith("Max MNQ contracts: 3 > 2")


def test_r02_unlisted_symbol_uses_allow_with_limit_and_close_all():
    e = engine({"max_contracts_per_instrument": {"enforcement": "close_all"}})
    out = e.handle(pos(CL, 2, 85.0), T0)  # CL unlisted → allow_with_limit:1
    assert out == [ClosePosition(ACCT, CL, "R02", out[0].reason)]


def test_r03_minus_300_then_minus_250_locks_until_1700_ct():
    e = engine({"daily_realized_loss": {"include_unrealized": False}})
    assert e.handle(trade(1, MNQ, -300.0, ts=T0), T0) == []
    out = e.handle(trade(2, MNQ, -250.0, ts=T0 + timedelta(minutes=1)), T0 + timedelta(minutes=1))
    (lock,) = locks_set(out)
    assert lock.kind is LockKind.LOCKOUT and lock.ends is LockEnd.RESET
    assert lock.until == ct(2026, 8, 19, 17, 0)
    assert lock.reason.startswith("Daily loss limit: -$550.00 <= -$500.00")
    assert of(out, Flatten) == [Flatten(ACCT, "R03", lock.reason)]
    # The lock ends at the reset, exactly once.
    cleared = e.tick(ct(2026, 8, 19, 17, 0))
    assert [c.rule for c in of(cleared, ClearLock)] == ["R03"]
    assert e.tick(ct(2026, 8, 19, 17, 0, 1)) == []
    assert e.state(ACCT).realized == 0.0


def test_r03_includes_unrealized_and_net_basis():
    e = engine({"daily_realized_loss": {}})
    e.handle(trade(1, MNQ, -400.0, fees=0.5, ts=T0), T0)
    e.handle(pos(MNQ, 2, 29500.0), T0)
    assert e.handle(quote(MNQ, bid=29475.0, ask=29475.5), T0) == []  # −400.50 − 99.00
    out = e.handle(mtrade(MNQ, 29475.0), T0)  # unrealized −100 → −500.50
    assert locks_set(out)[0].reason.startswith("Daily loss limit: -$500.50 <= -$500.00")


def test_r04_per_position_minus_310_closes_only_that_position():
    e = engine({"daily_unrealized_loss": {}})
    e.handle(pos(ES, 1, 6400.0, pid=2), T0)
    e.handle(pos(MNQ, 1, 29500.0), T0)
    e.handle(quote(MNQ, last=29500.0), T0)
    out = e.handle(quote(ES, last=6400.0 - 6.2), T0)  # 24.8 ticks × $12.50 = −$310
    assert out == [Flatten(ACCT, "R04", out[0].reason, contract_id=ES)]
    assert "-$310.00 <= -$300.00" in out[0].reason
    assert e.handle(quote(ES, last=6390.0), T0) == []  # already in flight: no second close


def test_r05_breakeven():
    e = engine({"max_unrealized_profit": {"mode": "breakeven", "breakeven_arm_ticks": 4}})
    e.handle(pos(MNQ, 1, 29500.0), T0)
    assert e.handle(quote(MNQ, last=29500.5), T0) == []  # +2 ticks: not armed
    assert e.handle(quote(MNQ, last=29500.0), T0) == []  # back to 0 but never armed
    assert e.handle(quote(MNQ, last=29501.0), T0) == []  # +4 ticks: armed
    out = e.handle(quote(MNQ, last=29500.0), T0)
    assert out == [ClosePosition(ACCT, MNQ, "R05", out[0].reason)]
    assert out[0].reason.startswith("Breakeven exit on MNQ long 1")


def test_r05_profit_target():
    e = engine({"max_unrealized_profit": {"profit_target": 100}})
    e.handle(pos(MNQ, 2, 29500.0), T0)
    assert e.handle(quote(MNQ, last=29524.75), T0) == []  # $99
    out = e.handle(quote(MNQ, last=29525.0), T0)  # $100
    assert of(out, ClosePosition) and "$100.00 >= $100.00" in out[0].reason


def test_r06_fourth_trade_in_a_minute():
    e = engine({"trade_frequency_limit": {}})
    for i, s in enumerate((0, 10, 20)):
        assert e.handle(trade(i + 1, MNQ, None, ts=T0 + timedelta(seconds=s)), T0 + timedelta(seconds=s)) == []
    now = T0 + timedelta(seconds=30)
    out = e.handle(trade(4, MNQ, None, ts=now), now)
    (lock,) = locks_set(out)
    assert lock.kind is LockKind.COOLDOWN and lock.until == now + timedelta(seconds=60)
    assert "4 trades in the last minute > 3" in lock.reason
    assert of(out, Flatten)


def test_r06_rolling_window_lets_the_fourth_trade_at_70s_pass():
    e = engine({"trade_frequency_limit": {}})
    for i, s in enumerate((0, 10, 20, 70)):
        now = T0 + timedelta(seconds=s)
        assert e.handle(trade(i + 1, MNQ, None, ts=now), now) == []


def test_r06_partial_fills_of_one_order_count_once_and_duplicates_ignored():
    e = engine({"trade_frequency_limit": {}})
    for tid in (1, 2, 3, 4):
        assert e.handle(trade(tid, MNQ, None, ts=T0, order_id=77), T0) == []
    assert e.handle(trade(1, MNQ, None, ts=T0, order_id=77), T0) == []
    assert e.state(ACCT).trades_today == 1


def test_r06_per_session_locks_until_reset():
    e = engine({"trade_frequency_limit": {"per_minute": 100, "per_hour": 100, "per_session": 3}})
    for i in range(3):
        now = T0 + timedelta(minutes=i)
        assert e.handle(trade(i + 1, MNQ, None, ts=now), now) == []
    now = T0 + timedelta(minutes=5)
    (lock,) = locks_set(e.handle(trade(9, MNQ, None, ts=now), now))
    assert lock.kind is LockKind.LOCKOUT and lock.ends is LockEnd.RESET


def test_r07_tiers_including_exactly_minus_100():
    e = engine({"cooldown_after_loss": {}})
    assert e.handle(trade(1, MNQ, -99.99, ts=T0), T0) == []
    out = e.handle(trade(2, MNQ, -100.00, ts=T0), T0)
    (lock,) = locks_set(out)
    assert lock.until == T0 + timedelta(seconds=300) and lock.kind is LockKind.COOLDOWN
    assert lock.reason.startswith("Loss of -$100.00 on MNQ <= -$100.00")


def test_r07_most_severe_tier_and_net_basis():
    e = engine({"cooldown_after_loss": {}})
    (lock,) = locks_set(e.handle(trade(1, MNQ, -299.5, fees=0.3, comm=0.2, ts=T0), T0))
    assert lock.until == T0 + timedelta(seconds=1800)  # net −300.00 hits the −300 tier


def test_r07_new_cooldown_replaces_only_if_it_ends_later():
    e = engine({"cooldown_after_loss": {"flatten_on_trigger": False}})
    e.handle(trade(1, MNQ, -300.0, ts=T0), T0)  # 1800 s
    e.manual_unlock(ACCT, "test", "admin")  # not needed for the rule; shows unlock works
    assert e.locks.get(ACCT, "R07") is None
    e.handle(trade(2, MNQ, -300.0, ts=T0), T0)
    later = T0 + timedelta(seconds=10)
    from risk_manager.engine.actions import Lock
    shorter = Lock(ACCT, "R07", LockKind.COOLDOWN, "x", LockEnd.TIME, later + timedelta(seconds=300), later)
    assert e.locks.set(shorter) is None
    assert e.locks.get(ACCT, "R07").until == T0 + timedelta(seconds=1800)


def test_r08_take_profit_only_and_wrong_side_stop_still_breach():
    e = engine({"no_stop_loss_grace": {}})
    e.handle(pos(MNQ, 2, 29500.0), T0)
    e.handle(order(11, MNQ, otype=1, side=1, size=2, limit=29550.0), T0)  # take profit only
    e.handle(order(12, MNQ, otype=4, side=0, size=2, stop=29450.0), T0)  # buy stop: wrong side
    assert e.tick(T0 + timedelta(seconds=29)) == []
    out = e.tick(T0 + timedelta(seconds=30))
    assert out == [ClosePosition(ACCT, MNQ, "R08", out[0].reason)]
    assert out[0].reason.startswith("No stop loss on MNQ long 2 after the 30 s grace period")


def test_r08_suspended_bracket_stop_counts():
    e = engine({"no_stop_loss_grace": {}})
    e.handle(order(21, MNQ, status=8, otype=4, side=1, size=1, stop=29450.0), T0)  # SL child
    e.handle(pos(MNQ, 1, 29500.0), T0)
    assert e.tick(T0 + timedelta(seconds=60)) == []
    # The stop is cancelled after the grace period: the order event itself closes the position.
    out = e.handle(order(21, MNQ, status=3, otype=4, side=1, size=1, stop=29450.0), T0 + timedelta(seconds=61))
    assert of(out, ClosePosition)
    assert e.tick(T0 + timedelta(seconds=62)) == []  # that close is in flight: no duplicate


def test_r09_8pm_position_flattens_and_locks_until_next_session():
    e = engine({"session_block_outside": {}})
    now = ct(2026, 8, 19, 20, 0)
    out = e.handle(pos(MNQ, 1, 29500.0), now)
    (lock,) = locks_set(out)
    assert lock.until == ct(2026, 8, 20, 8, 30) and lock.ends is LockEnd.SESSION_START
    assert "outside the trading session 08:30–15:00" in lock.reason
    assert of(out, Flatten)
    assert of(e.tick(ct(2026, 8, 20, 8, 30)), ClearLock)


def test_r09_session_end_flattens_open_positions():
    e = engine({"session_block_outside": {}})
    e.handle(pos(MNQ, 1, 29500.0), ct(2026, 8, 19, 14, 0))
    assert e.tick(ct(2026, 8, 19, 14, 59, 59)) == []
    out = e.tick(ct(2026, 8, 19, 15, 0))
    assert of(out, Flatten) and locks_set(out)[0].until == ct(2026, 8, 20, 8, 30)


def test_r09_holiday():
    e = engine({"session_block_outside": {}})
    out = e.handle(order(1, MNQ), ct(2026, 11, 26, 10, 0))  # Thanksgiving
    (lock,) = locks_set(out)
    assert "market holiday (Thanksgiving" in lock.reason
    assert lock.until == ct(2026, 11, 27, 8, 30)


def test_r09_early_close():
    e = engine({"session_block_outside": {}})
    assert e.handle(order(1, MNQ), ct(2026, 11, 27, 11, 59)) == []
    out = e.handle(pos(MNQ, 1, 29500.0), ct(2026, 11, 27, 12, 30))
    (lock,) = locks_set(out)
    assert "after the early close at 12:00 CT" in lock.reason
    assert lock.until == ct(2026, 11, 30, 8, 30)  # next Monday


def test_r09_per_symbol_session_locks_only_that_symbol():
    e = engine({"session_block_outside": {"sessions": {"default": {}, "CL": {"start": "08:00", "end": "09:00"}}}})
    out = e.handle(pos(CL, 1, 85.0), ct(2026, 8, 19, 10, 0))
    (lock,) = locks_set(out)
    assert lock.rule == "R09:CL" and lock.kind is LockKind.SYMBOL
    assert not e.locks.is_locked(ACCT)
    assert of(e.handle(order(5, CL), ct(2026, 8, 19, 10, 1)), CancelOrder)
    assert e.handle(order(6, MNQ), ct(2026, 8, 19, 10, 1)) == []


def test_r10_toggle():
    e = engine({"auth_loss_guard": {}})
    e.handle(pos(MNQ, 1, 29500.0), T0)
    out = e.handle(account(False), T0)
    (lock,) = locks_set(out)
    assert lock.ends is LockEnd.CAN_TRADE and lock.until is None and of(out, Flatten)
    assert e.handle(account(False), T0) == []  # repeats do not re-lock or re-flatten
    assert of(e.handle(order(3, MNQ), T0), CancelOrder)  # locked: gate cancels
    out = e.handle(account(True), T0 + timedelta(seconds=5))
    assert [c.rule for c in of(out, ClearLock)] == ["R10"]
    assert not e.locks.is_locked(ACCT)


def test_r10_start_up_with_can_trade_false_and_lock_survives_reset():
    e = engine({"auth_loss_guard": {}})
    rest = account(False)
    out = e.handle(type(rest)(rest.kind, rest.data, rest.account_id, None, source="rest"), T0)
    assert locks_set(out)[0].rule == "R10"
    assert e.tick(ct(2026, 8, 19, 17, 0, 1)) == []  # reset does not end R10
    assert e.locks.is_locked(ACCT)


def test_r10_missing_can_trade_is_true_with_a_warning():
    e = engine({"auth_loss_guard": {}})
    out = e.handle(account(None), T0)
    assert of(out, Alert) and not e.locks.is_locked(ACCT)


def test_r11_es_is_not_mes():
    e = engine({"symbol_blocks": {"blocked_symbols": ["es"]}})
    assert e.handle(order(1, MES), T0) == []
    out = e.handle(order(2, ES), T0)
    (lock,) = locks_set(out)
    assert lock.rule == "R11:ES" and lock.symbol == "ES"
    assert of(out, CancelOrder) == [CancelOrder(ACCT, 2, ES, "R11", "ES is a blocked symbol: cancelling order 2")]
    assert e.handle(pos(MES, 1, 6400.0), T0) == []


def test_r11_two_expiries_of_rty():
    e = engine({"symbol_blocks": {"blocked_symbols": ["RTY"]}})
    out1 = e.handle(pos(RTY_U, 1, 2300.0), T0)
    assert of(out1, ClosePosition) == [ClosePosition(ACCT, RTY_U, "R11", out1[-1].reason)]
    out2 = e.handle(pos(RTY_Z, 1, 2310.0, pid=2), T0)
    assert of(out2, ClosePosition)[0].contract_id == RTY_Z  # via the symbol lock (gate)


def test_r11_config_change_blocks_existing_and_unlisting_clears():
    from risk_manager.config.models import RiskConfig

    e = engine({"symbol_blocks": {"blocked_symbols": []}})
    e.handle(pos(ES, 1, 6400.0), T0)
    e.handle(order(8, ES), T0)
    new = RiskConfig.model_validate({"rules": {"symbol_blocks": {"blocked_symbols": ["ES"]}}})
    out = e.update_config(new, T0)
    assert of(out, CancelOrder) and of(out, ClosePosition) and locks_set(out)[0].rule == "R11:ES"
    old = RiskConfig.model_validate({"rules": {"symbol_blocks": {"blocked_symbols": []}}})
    assert [c.rule for c in of(e.update_config(old, T0), ClearLock)] == ["R11:ES"]


def test_r12_breakeven_then_trailing_only_tightens():
    e = engine({"trade_management": {"enabled": True}})
    e.handle(pos(MNQ, 2, 29500.0), T0)
    e.handle(order(50, MNQ, otype=4, side=1, size=2, stop=29490.0), T0)
    assert e.handle(quote(MNQ, last=29502.25), T0) == []  # 9 ticks
    t = T0 + timedelta(seconds=1)
    out = e.handle(quote(MNQ, last=29502.5), t)  # 10 ticks → breakeven
    assert out == [ModifyStop(ACCT, 50, MNQ, 29500.0, "R12", out[0].reason)]
    e.handle(order(50, MNQ, otype=4, side=1, size=2, stop=29500.0), t)
    t += timedelta(seconds=1)
    out = e.handle(quote(MNQ, last=29506.0), t)  # 24 ticks → trail 10 behind = 29503.5
    assert [a.stop_price for a in out] == [29503.5]
    e.handle(order(50, MNQ, otype=4, side=1, size=2, stop=29503.5), t)
    assert e.handle(quote(MNQ, last=29506.25), t + timedelta(milliseconds=10)) == []  # ≤ 1 modify/s
    t += timedelta(seconds=1)
    # The rate-limited peak (25 ticks) is caught up a second later, even on a pullback...
    assert [a.stop_price for a in e.handle(quote(MNQ, last=29504.0), t)] == [29503.75]
    e.handle(order(50, MNQ, otype=4, side=1, size=2, stop=29503.75), t)
    t += timedelta(seconds=1)
    assert e.handle(quote(MNQ, last=29504.0), t) == []  # ...but a pullback never loosens it
    resized = e.handle(pos(MNQ, 3, 29500.0), t + timedelta(seconds=2))  # scale-in: resize the stop
    assert [(a.order_id, a.stop_price, a.size) for a in resized] == [(50, 29503.75, 3)]


def test_r12_places_a_stop_when_none_exists():
    e = engine({"trade_management": {"enabled": True}})
    e.handle(pos(MNQ, 1, 29500.0, short=True), T0)
    out = e.handle(quote(MNQ, last=29497.5), T0)
    assert out == [PlaceStop(ACCT, MNQ, 0, 1, 29500.0, "R12", out[0].reason)]
    assert e.handle(quote(MNQ, last=29497.0), T0) == []  # placement in flight


def test_r13_profit_target_locks_until_reset():
    e = engine({"daily_realized_profit": {"enabled": True, "include_unrealized": False}})
    assert e.handle(trade(1, MNQ, 999.99, ts=T0), T0) == []
    out = e.handle(trade(2, MNQ, 0.01, ts=T0), T0)
    (lock,) = locks_set(out)
    assert lock.ends is LockEnd.RESET and lock.until == ct(2026, 8, 19, 17, 0)
    assert lock.reason.startswith("Daily profit target: $1,000.00 >= $1,000.00")
    assert of(e.tick(ct(2026, 8, 19, 17, 0)), ClearLock)


def test_alert_mode_takes_no_action_and_says_what_it_would_have_done():
    e = engine({"daily_realized_loss": {"mode": "alert", "include_unrealized": False}})
    out = e.handle(trade(1, MNQ, -600.0, ts=T0), T0)
    (alert,) = out
    assert isinstance(alert, Alert) and not e.locks.is_locked(ACCT)
    assert {type(a).__name__ for a in alert.would_have} == {"SetLock", "Flatten"}
    assert e.handle(trade(2, MNQ, -1.0, ts=T0), T0) == []  # the same alert is not repeated at once
