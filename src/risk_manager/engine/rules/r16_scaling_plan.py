"""R16 scaling_plan: contracts held (minis; a micro counts `micro_weight`) over the allowance of
the tier matching the balance at the start of the trading day → reduce to the allowance at once;
an order that would take the account over it is cancelled. No lock.

The day's starting balance is the one the reset saw (engine/firm.py), else the balance minus
today's net realized read once by the reconciler (engine `day_trades_read`); until one is known
the rule does not judge.
"""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine.actions import Action, CancelOrder
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import finish, reduce_largest_first, weight
from risk_manager.engine.state import AccountState
from risk_manager.events import STOP_ORDER_TYPES, Event, EventKind, Order, OrderSide

TRIGGERS = frozenset({EventKind.POSITION, EventKind.ORDER})


def day_start_balance(state: AccountState) -> float | None:
    """The balance the trading day started with: seen at the reset, or derived once from a
    consistent read of the balance and the day's trades (engine `day_trades_read`). Never
    balance − realized on the fly: the balance update lags a fill, so that figure jumps by the
    fill's P&L until it arrives."""
    return state.firm.start_of_day


def held(state: AccountState, ctx: RuleContext) -> float:
    return round(sum(p.size * weight(ctx, c) for c, p in state.positions.items()), 6)


def allowance(state: AccountState, ctx: RuleContext) -> tuple[float, float] | None:
    """(the day's starting balance, the contracts it allows); None while the balance is unknown."""
    start = day_start_balance(state)
    if start is None:
        return None
    return start, ctx.config.allowance(start)


def _fmt(n: float) -> str:
    return f"{n:g}"


def _adds(order: Order, state: AccountState, ctx: RuleContext) -> float:
    """The contracts (weighted) `order` would add if it filled: 0 for an order that only closes
    (against the position held, up to its size) and for protective stops."""
    direction = 1 if order.side == OrderSide.BID else -1
    pos = state.positions.get(order.contract_id)
    if pos is not None and pos.direction != direction:
        if order.type in STOP_ORDER_TYPES:
            return 0.0
        return max(0, order.size - pos.size) * weight(ctx, order.contract_id)
    return order.size * weight(ctx, order.contract_id)


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or (event is not None and event.kind not in TRIGGERS):
        return []
    plan = allowance(state, ctx)
    if plan is None:
        return []
    start, allowed = plan
    acct = state.account_id
    total = held(state, ctx)
    base = f"Scaling plan: {{}} > {_fmt(allowed)} allowed at a day-start balance of ${start:,.2f}"
    if event is not None and event.kind is EventKind.ORDER:
        change = state.last_change
        order = event.data
        if change is None or not change.new_order or not isinstance(order, Order):
            return []
        after = round(total + _adds(order, state, ctx), 6)
        if after <= allowed:
            return []
        reason = base.format(f"{_fmt(after)} contracts if order {order.id} filled")
        return finish(ctx, acct, [CancelOrder(acct, order.id, order.contract_id, ctx.rule_id, reason)], reason)
    if total <= allowed:
        return []
    reason = base.format(f"{_fmt(total)} contracts held")
    # Reduce the largest positions first until the count is within the allowance.
    actions = reduce_largest_first(ctx, acct, state.positions.items(), total - allowed, reason)
    return finish(ctx, acct, actions, reason)
