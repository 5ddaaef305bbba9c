"""R04 daily_unrealized_loss: one position's (or the total) unrealized P&L at or below −loss_limit.

With `reduce_only_at` the same figure at or below −share × loss_limit makes the account
reduce-only until the reset (the ladder of docs/rules.md)."""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine import reduce_only
from risk_manager.engine.actions import Action, Flatten
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import (
    cents,
    cents_at_or_below,
    finish,
    lockout_and_flatten,
    money,
    position_label,
    positions_to_check,
)
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind

TRIGGERS = frozenset({EventKind.POSITION, EventKind.QUOTE, EventKind.MARKET_TRADE})


def _reduce_only(ctx: RuleContext, state: AccountState, value: float, what: str,
                 now: datetime) -> list[Action]:
    """Reduce-only when `value` (a loss short of the limit) is at or past the share."""
    cfg = ctx.config
    ro = cfg.reduce_only_at
    if ro is None or not cents_at_or_below(value, cents(-ro * cfg.loss_limit)):
        return []
    reason = (f"{what} at {ro:.0%} of the limit: {money(cents(value))} <= "
              f"{money(-ro * cfg.loss_limit)}")
    return finish(ctx, state.account_id, reduce_only.start(ctx, state, reason, now), reason)


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or (event is not None and event.kind not in TRIGGERS):
        return []
    acct = state.account_id
    limit = -cfg.loss_limit
    if cfg.scope == "total":
        if not state.positions:
            return []
        if not cents_at_or_below(state.unrealized_total, limit):
            return _reduce_only(ctx, state, state.unrealized_total, "Total unrealized loss", now)
        value = cents(state.unrealized_total)
        reason = f"Total unrealized loss: {money(value)} <= {money(limit)}; locked until the daily reset"
        return lockout_and_flatten(ctx, acct, reason, now)
    out: list[Action] = []
    reduced: list[Action] = []
    for pos in positions_to_check(event, state):
        if pos.unrealized is None:  # no mark: skipped and flagged, never assumed
            continue
        if not cents_at_or_below(pos.unrealized, limit):
            # The first position past the share starts it (start() is [] while its lock is set).
            reduced = reduced or _reduce_only(ctx, state, pos.unrealized,
                                              f"Unrealized loss on {position_label(ctx, pos)}", now)
            continue
        value = cents(pos.unrealized)
        reason = f"Unrealized loss on {position_label(ctx, pos)}: {money(value)} <= {money(limit)}"
        # Close that position and cancel its contract's working orders.
        out += finish(ctx, acct, [Flatten(acct, ctx.rule_id, reason, contract_id=pos.contract_id)], reason)
    return reduced + out
