"""R01 max_contracts: total contracts held by the account above `limit` (`close_all`: flatten)."""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import finish, flatten, reduce_largest_first, size_to_count, weight
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind

TRIGGERS = frozenset({EventKind.POSITION})


def contract_count(state: AccountState, ctx: RuleContext, sizes: dict[str, int] | None = None) -> float:
    """Gross Σ|size| or net |Σlong − Σshort|, micros weighted by `micro_weight` (`sizes`: the
    sizes to count instead of those held)."""
    held = state.positions.items()
    if ctx.config.count_type == "net":
        return abs(sum(p.direction * size_to_count(sizes, c, p) * weight(ctx, c) for c, p in held))
    return sum(size_to_count(sizes, c, p) * weight(ctx, c) for c, p in held)


def _fmt(n: float) -> str:
    return f"{n:g}" if n == int(n) else f"{n:.1f}"


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or (event is not None and event.kind not in TRIGGERS):
        return []
    # What the guard's reductions under way already take off is not excess any more.
    sizes = state.unreduced(now)
    total = round(contract_count(state, ctx, sizes), 6)
    if total <= cfg.limit:
        return []
    held = total if sizes is None else round(contract_count(state, ctx), 6)
    reason = f"Max contracts: {_fmt(held)} > {cfg.limit} ({cfg.count_type})"
    if held != total:
        reason += f", {_fmt(total)} once the reductions under way fill"
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
            side = 1 if sum(p.direction * size_to_count(sizes, c, p) * weight(ctx, c) for c, p in items) > 0 else -1
            items = [(c, p) for c, p in items if p.direction == side]
        actions = reduce_largest_first(ctx, acct, items, excess, reason, sizes)
    return finish(ctx, acct, actions, reason)
