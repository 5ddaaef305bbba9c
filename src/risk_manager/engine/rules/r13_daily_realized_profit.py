"""R13 daily_realized_profit: realized P&L today (+ open unrealized) at or above `target`."""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import cents, cents_at_or_above, day_pnl, lockout_and_flatten, money
from risk_manager.engine.rules.r03_daily_realized_loss import pnl_detail, triggered_by
from risk_manager.engine.state import AccountState
from risk_manager.events import Event


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or not triggered_by(event, state, cfg.include_unrealized):
        return []
    pnl = day_pnl(state, cfg.include_unrealized)
    if not cents_at_or_above(pnl, cfg.target):
        return []
    value = cents(pnl)
    reason = (
        f"Daily profit target: {money(value)} >= {money(cfg.target)} "
        f"({pnl_detail(state, cfg.include_unrealized)}); locked until the daily reset"
    )
    return lockout_and_flatten(ctx, state.account_id, reason, now)
