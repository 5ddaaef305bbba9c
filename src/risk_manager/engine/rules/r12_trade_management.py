"""R12 trade_management: automation, not a breach — move the stop to breakeven and trail it.

Stops only ever tighten (never move back toward the market's adverse side), at most one modify per
second per order, and the stop is resized with the position. Without a stop, one is placed
(opposite side, position size).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from risk_manager.engine.actions import Action, ModifyStop, PlaceStop
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import finish, position_label, positions_to_check
from risk_manager.engine.rules.r08_no_stop_loss_grace import closing_side
from risk_manager.engine.state import AccountState, PositionState
from risk_manager.events import Event, EventKind, Order, OrderType

TRIGGERS = frozenset({EventKind.POSITION, EventKind.QUOTE, EventKind.MARKET_TRADE})
MODIFY_INTERVAL = timedelta(seconds=1)
_EPS = 1e-9


def _to_tick(price: float, tick: float, up: bool) -> float:
    steps = price / tick
    steps = math.ceil(steps - _EPS) if up else math.floor(steps + _EPS)
    return round(steps * tick, 10)


def _tighter(a: float, b: float, direction: int) -> bool:
    """True when stop price `a` protects more than `b` for a position of `direction`."""
    return a > b + _EPS if direction > 0 else a < b - _EPS


def desired_stop(pos: PositionState, ctx: RuleContext, tick: float) -> float | None:
    cfg = ctx.config
    d = pos.direction
    # Both triggers and the trail come from the best price the market actually reached, measured
    # from the current average: after a scale-in the average moves, the best price does not.
    best = pos.average_price if pos.best_price is None else pos.best_price
    best_ticks = (best - pos.average_price) / tick * d
    candidates: list[float] = []
    be = cfg.auto_breakeven
    if be.enabled and best_ticks >= be.profit_trigger_ticks - _EPS:
        candidates.append(_to_tick(pos.average_price + d * be.offset_ticks * tick, tick, up=d > 0))
    tr = cfg.trailing_stop
    if tr.enabled and best_ticks >= tr.activation_ticks - _EPS:
        candidates.append(_to_tick(best - d * tr.trail_distance_ticks * tick, tick, up=d < 0))
    if not candidates:
        return None
    return max(candidates) if d > 0 else min(candidates)


def current_stop(state: AccountState, pos: PositionState) -> Order | None:
    """The most protective working stop on the closing side (trailing stops manage themselves)."""
    side = closing_side(pos)
    stops = [
        o for o in state.orders.values()
        if o.contract_id == pos.contract_id and o.side == side and o.is_working
        and o.type in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)
    ]
    if not stops:
        return None
    if any(o.type == OrderType.TRAILING_STOP for o in stops):
        return next(o for o in stops if o.type == OrderType.TRAILING_STOP)
    priced = [o for o in stops if o.stop_price is not None] or stops
    def key(o: Order) -> float:
        return o.stop_price or 0.0

    return max(priced, key=key) if pos.direction > 0 else min(priced, key=key)


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or (event is not None and event.kind not in TRIGGERS):
        return []
    out: list[Action] = []
    for pos in positions_to_check(event, state):
        out += _manage(pos, state, ctx, now)
    return out


def _manage(pos: PositionState, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    contract = ctx.catalog.contract(pos.contract_id)
    if contract is None or pos.mark is None:
        return []
    d = pos.direction
    want = desired_stop(pos, ctx, contract.tick_size)
    if want is not None and pos.managed_stop is not None and not _tighter(want, pos.managed_stop, d):
        want = pos.managed_stop  # only ever tighten
    stop = current_stop(state, pos)
    acct = state.account_id
    if stop is not None and stop.type == OrderType.TRAILING_STOP:
        return []
    if stop is not None:
        last = state.stop_modified_at.get(stop.id)
        if last is not None and now - last < MODIFY_INTERVAL:
            return []
        move = (
            want is not None
            and (stop.stop_price is None or _tighter(want, stop.stop_price, d))
            and _tighter(pos.mark, want, d)  # a stop must stay on the right side of the market
        )
        resize = stop.size != pos.size
        if not move and not resize:
            return []
        price = want if move else stop.stop_price
        if price is None:
            return []
        label = position_label(ctx, pos)
        reason = (
            f"Trade management on {label}: stop {stop.stop_price} → {price}"
            if move else f"Trade management on {label}: stop resized {stop.size} → {pos.size}"
        )
        actions: list[Action] = [ModifyStop(acct, stop.id, pos.contract_id, price, ctx.rule_id, reason,
                                            size=pos.size if resize else None)]
        if not ctx.alert_only:
            state.stop_modified_at[stop.id] = now
            if move:
                pos.managed_stop = price
        return finish(ctx, acct, actions, reason)
    if want is None or not _tighter(pos.mark, want, d):
        return []
    reason = f"Trade management on {position_label(ctx, pos)}: placing a stop at {want}"
    actions = [PlaceStop(acct, pos.contract_id, closing_side(pos), pos.size, want, ctx.rule_id, reason)]
    if not ctx.alert_only:
        pos.managed_stop = want
    return finish(ctx, acct, actions, reason)
