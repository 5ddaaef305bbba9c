"""R03 daily_realized_loss: realized P&L today (+ open unrealized) at or below −loss_limit.

Realized is net of the fees of every fill, opening fills included (the balance change of the day)."""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine import reduce_only
from risk_manager.engine.rules._common import (
    cents, cents_at_or_below, day_pnl, finish, lockout_and_flatten, money,
)
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind

#: Trades with P&L always; mark changes (quotes, position changes) when include_unrealized.
MARK_EVENTS = frozenset({EventKind.QUOTE, EventKind.MARKET_TRADE, EventKind.POSITION})


def triggered_by(event: Event | None, state: AccountState, include_unrealized: bool) -> bool:
    if event is None:
        return True
    if event.kind in MARK_EVENTS:  # first: quotes are most of the stream
        return include_unrealized
    if event.kind is EventKind.TRADE:  # every counted fill moves net P&L (opening fills by their fees)
        change = state.last_change
        return change is not None and (change.new_trade is not None or change.voided_flip)
    return False


def pnl_detail(state: AccountState, include_unrealized: bool) -> str:
    if not include_unrealized:
        return "realized"
    return f"realized {money(state.realized)}, unrealized {money(state.unrealized_total)}"


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or not triggered_by(event, state, cfg.include_unrealized):
        return []
    pnl = day_pnl(state, cfg.include_unrealized)
    if not cents_at_or_below(pnl, -cfg.loss_limit):
        ro = cfg.reduce_only_at
        if ro is not None and cents_at_or_below(pnl, cents(-ro * cfg.loss_limit)):
            reason = (f"Daily loss at {ro:.0%} of the limit: {money(cents(pnl))} <= "
                      f"{money(-ro * cfg.loss_limit)} ({pnl_detail(state, cfg.include_unrealized)})")
            return finish(ctx, state.account_id, reduce_only.start(ctx, state, reason, now), reason)
        return []
    value = cents(pnl)
    reason = (
        f"Daily loss limit: {money(value)} <= {money(-cfg.loss_limit)} "
        f"({pnl_detail(state, cfg.include_unrealized)}); locked until the daily reset"
    )
    return lockout_and_flatten(ctx, state.account_id, reason, now)
