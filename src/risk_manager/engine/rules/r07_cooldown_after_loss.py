"""R07 cooldown_after_loss: a losing exit at or below a tier's loss sets that tier's cooldown (the
most severe tier matched).

An exit is judged per order, once it is complete: its P&L summed over all that order's fills, so a
3-lot stop-out filled as three −$80 fills is one −$240 exit, judged once (no 60 s cooldown and
flatten on the first fill that would cancel the trader's own exit mid-way). Complete = the order is
fully filled or has ended with every fill seen (whichever of the order update and the last trade
comes first), or the position is flat or flipped. A partial exit still working is judged on its sum
so far after `partial_exit_grace_seconds` (the tick); a later fill that reaches a more severe tier
escalates, one that stays in a tier already judged does nothing. The bookkeeping (what is complete,
what was judged) lives in `AccountState`; this rule only maps sums to tiers.
"""

from __future__ import annotations

from datetime import datetime

from risk_manager.config.models import LossTier
from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import cents, cooldown, duration, finish, flatten, money, symbol_label
from risk_manager.engine.state import AccountState, ExitJudgement
from risk_manager.events import Event


def tier_of(tiers: list[LossTier], pnl: float | None) -> LossTier | None:
    """The most severe tier a P&L reaches (None: a gain, or no tier reached)."""
    if pnl is None or cents(pnl) >= 0:
        return None
    matched = [t for t in tiers if cents(pnl) <= cents(t.loss_amount)]
    return min(matched, key=lambda t: t.loss_amount) if matched else None


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled:
        return []
    if event is None:
        due = state.overdue_exits
    else:
        change = state.last_change
        due = change.exits_due if change is not None else ()
    worst: tuple[LossTier, ExitJudgement] | None = None
    for judged in due:
        tier = tier_of(cfg.tiers, judged.pnl)
        if tier is None:
            continue
        before = tier_of(cfg.tiers, judged.worst_before)
        if before is not None and before.loss_amount <= tier.loss_amount:
            continue  # this exit already reached this tier (or a worse one)
        if worst is None or tier.loss_amount < worst[0].loss_amount:
            worst = (tier, judged)
    if worst is None:
        return []
    tier, judged = worst
    acct = state.account_id
    reason = (
        f"Loss of {money(cents(judged.pnl))} on {symbol_label(ctx, judged.contract_id)} <= "
        f"{money(tier.loss_amount)}; cooldown {duration(tier.cooldown_seconds)}"
    )
    actions: list[Action] = [cooldown(ctx, acct, reason, tier.cooldown_seconds, now)]
    if cfg.flatten_on_trigger:
        actions.append(flatten(ctx, acct, reason))
    return finish(ctx, acct, actions, reason)
