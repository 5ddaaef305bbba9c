"""R05 max_unrealized_profit: close a position at its profit target, or when a position that was
in profit (≥ breakeven_arm_ticks) comes back to breakeven (mode: breakeven)."""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import (
    cents,
    cents_at_or_above,
    cents_at_or_below,
    close_position,
    finish,
    money,
    position_label,
    positions_to_check,
)
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind

TRIGGERS = frozenset({EventKind.POSITION, EventKind.QUOTE, EventKind.MARKET_TRADE})


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or (event is not None and event.kind not in TRIGGERS):
        return []
    acct = state.account_id
    out: list[Action] = []
    for pos in positions_to_check(event, state):
        if pos.unrealized is None:
            continue
        # Only a position that hit its target pays for the reason text.
        if cfg.mode == "profit_target":
            if not cents_at_or_above(pos.unrealized, cfg.profit_target):
                continue
            value = cents(pos.unrealized)
            reason = f"Profit target on {position_label(ctx, pos)}: {money(value)} >= {money(cfg.profit_target)}"
        else:
            if pos.peak_ticks < cfg.breakeven_arm_ticks or not cents_at_or_below(pos.unrealized, 0.0):
                continue
            value = cents(pos.unrealized)
            reason = (
                f"Breakeven exit on {position_label(ctx, pos)}: was {round(pos.peak_ticks, 2):g} ticks in "
                f"profit, now {money(value)} <= $0.00"
            )
        out += finish(ctx, acct, [close_position(ctx, acct, pos.contract_id, reason)], reason)
    return out
