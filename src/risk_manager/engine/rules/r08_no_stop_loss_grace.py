"""R08 no_stop_loss_grace: a position still without a protective stop after the grace period.

Protective = a working stop-type order (Stop, StopLimit, TrailingStop) with status Open, Pending or
Suspended (a bracket child waiting for its parent) on the closing side of the same contract,
covering at least one contract. A take-profit limit or a stop on the wrong side does not count.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import close_position, duration, finish, position_label, positions_to_check
from risk_manager.engine.state import AccountState, PositionState
from risk_manager.events import STOP_ORDER_TYPES, Event, EventKind, OrderSide, OrderStatus

TRIGGERS = frozenset({EventKind.POSITION, EventKind.ORDER})
PROTECTIVE_STATUSES = frozenset({OrderStatus.OPEN, OrderStatus.PENDING, OrderStatus.SUSPENDED})


def closing_side(pos: PositionState) -> int:
    return OrderSide.ASK if pos.direction > 0 else OrderSide.BID


def stop_coverage(state: AccountState, pos: PositionState) -> int:
    side = closing_side(pos)
    return sum(
        o.size
        for o in state.orders.values()
        if o.contract_id == pos.contract_id
        and o.type in STOP_ORDER_TYPES
        and o.status in PROTECTIVE_STATUSES
        and o.side == side
    )


def deadline(pos: PositionState, ctx: RuleContext) -> datetime:
    return pos.opened_at + timedelta(seconds=ctx.config.grace_period_seconds)


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    """`event` None = the 1 s tick (or a recheck): every position is examined."""
    cfg = ctx.config
    if not cfg.enabled or not state.positions or (event is not None and event.kind not in TRIGGERS):
        return []
    acct = state.account_id
    out: list[Action] = []
    for pos in positions_to_check(event, state):
        if now < deadline(pos, ctx) or stop_coverage(state, pos) >= 1:
            continue
        grace = duration(cfg.grace_period_seconds)
        reason = f"No stop loss on {position_label(ctx, pos)} after the {grace} grace period"
        out += finish(ctx, acct, [close_position(ctx, acct, pos.contract_id, reason)], reason)
    return out
