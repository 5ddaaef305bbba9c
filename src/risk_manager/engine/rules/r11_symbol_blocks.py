"""R11 symbol_blocks: orders and positions in a blocked trader symbol (exact match: ES ≠ MES).

Cancels that symbol's working orders, closes its positions when `close_existing`, and sets a symbol
lock (rule id ``R11:<SYMBOL>``) that lasts while the symbol stays listed.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from risk_manager.engine.actions import Action, CancelOrder, ClosePosition, Lock, LockEnd, LockKind, SetLock
from risk_manager.engine.context import RuleContext
from risk_manager.engine.locks import symbol_rule_id
from risk_manager.engine.rules._common import finish
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind, Order


def _symbol_actions(
    symbol: str,
    state: AccountState,
    ctx: RuleContext,
    now: datetime,
    order_ids: set[int] | None = None,
    contract_ids: set[str] | None = None,
) -> list[Action]:
    """Lock the symbol, cancel its orders and close its positions (None = all of that symbol)."""
    acct = state.account_id
    reason = f"{symbol} is a blocked symbol"
    actions: list[Action] = []
    rule = symbol_rule_id(ctx.rule_id, symbol)
    if ctx.locks.get(acct, rule) is None:
        lock = Lock(acct, rule, LockKind.SYMBOL, f"{reason}; locked while it stays blocked",
                    LockEnd.SYMBOL_UNLISTED, None, now, symbol=symbol)
        actions.append(SetLock(lock))
    for oid in sorted(state.orders):
        order = state.orders[oid]
        if (order_ids is None or oid in order_ids) and ctx.catalog.symbol_of(order.contract_id) == symbol:
            actions.append(CancelOrder(acct, oid, order.contract_id, ctx.rule_id,
                                       f"{reason}: cancelling order {oid}"))
    if ctx.config.close_existing:
        for cid in sorted(state.positions):
            if (contract_ids is None or cid in contract_ids) and ctx.catalog.symbol_of(cid) == symbol:
                actions.append(ClosePosition(acct, cid, ctx.rule_id, f"{reason}: closing the position"))
    return finish(ctx, acct, actions, reason)


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or not cfg.blocked_symbols:
        return []
    blocked = set(cfg.blocked_symbols)
    if event is None:  # config change / start-up: every symbol with exposure
        symbols = {ctx.catalog.symbol_of(c) for c in state.positions}
        symbols |= {ctx.catalog.symbol_of(o.contract_id) for o in state.orders.values()}
        out: list[Action] = []
        for listed in sorted(s for s in symbols if s is not None and s in blocked):
            out += _symbol_actions(listed, state, ctx, now)
        return out
    change = state.last_change
    if change is None:
        return []
    if event.kind is EventKind.ORDER and change.order_working:
        symbol = ctx.catalog.symbol_of(event.contract_id or "")
        if symbol is not None and symbol in blocked:
            return _symbol_actions(symbol, state, ctx, now, {cast(Order, event.data).id}, set())
    elif event.kind is EventKind.POSITION and change.new_size != 0:
        symbol = ctx.catalog.symbol_of(event.contract_id or "")
        if symbol is not None and symbol in blocked:
            return _symbol_actions(symbol, state, ctx, now, set(), {event.contract_id or ""})
    return []
