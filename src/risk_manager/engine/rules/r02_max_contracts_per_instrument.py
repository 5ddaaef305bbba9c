"""R02 max_contracts_per_instrument: size held in one trader symbol above its limit."""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine.actions import Action, ClosePosition, PartialClose
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import finish, size_to_count
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind

TRIGGERS = frozenset({EventKind.POSITION})


def holdings_by_symbol(
    state: AccountState, ctx: RuleContext, only: str | None = None, sizes: dict[str, int] | None = None,
) -> dict[str, list[tuple[str, int]]]:
    """Trader symbol → [(contract id, size)]; contracts the catalog does not know are skipped
    (they are flagged for lookup, never guessed). `sizes`: the sizes to count instead of those
    held (contracts with 0 are left out)."""
    out: dict[str, list[tuple[str, int]]] = {}
    for cid, pos in state.positions.items():
        size = size_to_count(sizes, cid, pos)
        symbol = ctx.catalog.symbol_of(cid)
        if size and symbol is not None and (only is None or symbol == only):
            out.setdefault(symbol, []).append((cid, size))
    return out


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or (event is not None and event.kind not in TRIGGERS):
        return []
    # What the guard's reductions under way already take off is not excess any more.
    sizes = state.unreduced(now)
    if event is not None:
        symbol = ctx.catalog.symbol_of(event.contract_id or "")
        if symbol is None:
            return []
        holdings = holdings_by_symbol(state, ctx, symbol, sizes)
    else:
        holdings = holdings_by_symbol(state, ctx, sizes=sizes)
    acct = state.account_id
    out: list[Action] = []
    for symbol in sorted(holdings):
        limit = cfg.limit_for(symbol)
        held = holdings[symbol]
        total = sum(size for _, size in held)
        if limit is None or total <= limit:
            continue
        label = "blocked (unlisted symbol)" if limit == 0 else str(limit)
        whole = sum(state.positions[cid].size for cid, _ in held)
        reason = f"Max {symbol} contracts: {whole} > {label}"
        if whole != total:
            reason += f", {total} once the reductions under way fill"
        actions: list[Action] = []
        if cfg.enforcement == "close_all" or limit == 0:
            actions = [ClosePosition(acct, cid, ctx.rule_id, reason) for cid, _ in sorted(held)]
        else:
            excess = total - limit
            for cid, size in sorted(held, key=lambda h: (-h[1], h[0])):
                if excess <= 0:
                    break
                cut = min(size, excess)
                why = f"{reason}: reducing by {cut}"
                if cut == state.positions[cid].size:
                    actions.append(ClosePosition(acct, cid, ctx.rule_id, why))
                else:
                    actions.append(PartialClose(acct, cid, cut, ctx.rule_id, why))
                excess -= cut
        out += finish(ctx, acct, actions, reason)
    return out
