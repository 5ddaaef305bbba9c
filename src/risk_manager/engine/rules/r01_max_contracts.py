"""R01 max_contracts: total contracts held by the account above `limit` (`close_all`: flatten)."""

from __future__ import annotations

import math
from datetime import datetime

from risk_manager.engine.actions import Action, ClosePosition, PartialClose
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import finish, flatten, symbol_label
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind

TRIGGERS = frozenset({EventKind.POSITION})


def weight(ctx: RuleContext, contract_id: str) -> float:
    return ctx.config.micro_weight if ctx.catalog.is_micro(contract_id) else 1.0


def contract_count(state: AccountState, ctx: RuleContext) -> float:
    """Gross Σ|size| or net |Σlong − Σshort|, micros weighted by `micro_weight`."""
    if ctx.config.count_type == "net":
        return abs(sum(p.signed_size * weight(ctx, c) for c, p in state.positions.items()))
    return sum(p.size * weight(ctx, c) for c, p in state.positions.items())


def _fmt(n: float) -> str:
    return f"{n:g}" if n == int(n) else f"{n:.1f}"


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or (event is not None and event.kind not in TRIGGERS):
        return []
    total = round(contract_count(state, ctx), 6)
    if total <= cfg.limit:
        return []
    reason = f"Max contracts: {_fmt(total)} > {cfg.limit} ({cfg.count_type})"
    acct = state.account_id
    actions: list[Action] = []
    if cfg.close_all:
        # "Close all" is a flatten: working orders go first, or a resting limit refills a position.
        actions = [flatten(ctx, acct, reason)]
    else:
        # Reduce: partial-close the largest positions first until the count is within the limit.
        excess = total - cfg.limit
        items = list(state.positions.items())
        if cfg.count_type == "net":  # only the side that makes up the net reduces it
            side = 1 if sum(p.signed_size * weight(ctx, c) for c, p in items) > 0 else -1
            items = [(c, p) for c, p in items if p.direction == side]
        ranked = sorted(items, key=lambda kv: (-kv[1].size * weight(ctx, kv[0]), kv[0]))
        for cid, pos in ranked:
            if excess <= 1e-9:
                break
            w = weight(ctx, cid)
            cut = min(pos.size, math.ceil(round(excess / w, 6)))
            label = symbol_label(ctx, cid)
            why = f"{reason}: reducing {label} by {cut}"
            if cut >= pos.size:
                actions.append(ClosePosition(acct, cid, ctx.rule_id, why))
            else:
                actions.append(PartialClose(acct, cid, cut, ctx.rule_id, why))
            excess -= cut * w
    return finish(ctx, acct, actions, reason)
