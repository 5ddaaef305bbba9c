"""R07 cooldown_after_loss: a losing exit at or below a tier's loss sets that tier's cooldown (the
most severe tier matched).

An exit is judged per order: its P&L summed over the fills of that order so far, so a 3-lot stop-out
filled as three −$80 fills is a −$240 exit. A later fill of the same order that reaches a more severe
tier escalates; one that stays in a tier already acted on does nothing.
"""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import cents, cooldown, duration, finish, flatten, money, symbol_label
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or event is None or event.kind is not EventKind.TRADE:
        return []
    change = state.last_change
    if change is None or change.new_trade is None or change.trade_pnl is None or change.order_pnl is None:
        return []  # only a closing fill (one with P&L) makes an exit
    pnl = cents(change.order_pnl)
    if pnl >= 0:
        return []
    matched = [t for t in cfg.tiers if pnl <= cents(t.loss_amount)]
    if not matched:
        return []
    tier = min(matched, key=lambda t: t.loss_amount)  # most severe
    key = state.exec_key_of(change.new_trade)
    fired = state.loss_tier_fired.get(key)
    if fired is not None and fired <= tier.loss_amount:
        return []  # this exit already set this tier (or a worse one)
    state.loss_tier_fired[key] = tier.loss_amount
    acct = state.account_id
    label = symbol_label(ctx, change.new_trade.contract_id)
    reason = (
        f"Loss of {money(pnl)} on {label} <= {money(tier.loss_amount)}; "
        f"cooldown {duration(tier.cooldown_seconds)}"
    )
    actions: list[Action] = [cooldown(ctx, acct, reason, tier.cooldown_seconds, now)]
    if cfg.flatten_on_trigger:
        actions.append(flatten(ctx, acct, reason))
    return finish(ctx, acct, actions, reason)
