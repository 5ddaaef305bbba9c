"""Reduce-only (graduated enforcement, docs/rules.md): from `reduce_only_at` × a rule's loss limit until
the reset, orders and fills that add exposure are cancelled or closed at once; closing orders pass.

The ladder is alert (80 % warning) → reduce-only → flatten → lock. A reduce-only lock is recorded
under `<rule>:reduce_only`, so the rule's own lockout at 100 % is a row of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from risk_manager.engine.actions import (
    Action, CancelOrder, ClosePosition, Lock, LockEnd, LockKind, PartialClose, SetLock,
)
from risk_manager.engine.context import RuleContext
from risk_manager.engine.locks import LockManager
from risk_manager.engine.state import AccountState, Change
from risk_manager.events import STOP_ORDER_TYPES, WORKING_ORDER_STATUSES, Event, EventKind, Order, OrderSide

GATE_RULE = "reduce_only"


def lock_rule(ctx: RuleContext) -> str:
    return f"{ctx.rule_id}:reduce_only"


def adds_exposure(order: Order, state: AccountState) -> bool:
    """Whether `order` would increase the position if it filled: same side as the position (or
    no position), or a flip past it. Stops against the position protect it and pass."""
    direction = 1 if order.side == OrderSide.BID else -1
    pos = state.positions.get(order.contract_id)
    if pos is None or pos.direction == direction:
        return True
    return order.type not in STOP_ORDER_TYPES and order.size > pos.size


def start(ctx: RuleContext, state: AccountState, reason: str, now: datetime) -> list[Action]:
    """Enter reduce-only until the reset (once): the lock, and a cancel for each working order
    that would add exposure. [] when this rule's reduce-only lock is already set."""
    return start_for(ctx.locks, ctx.rule_id, state, reason, ctx.next_reset(now), now)


def start_for(locks: LockManager, rule_id: str, state: AccountState, reason: str, until: datetime,
              now: datetime) -> list[Action]:
    """`start` for any rule id (account groups have no RuleContext)."""
    acct = state.account_id
    rule = f"{rule_id}:reduce_only"
    if locks.get(acct, rule) is not None:
        return []
    why = f"{reason}; reduce-only until the daily reset"
    out: list[Action] = [SetLock(Lock(acct, rule, LockKind.REDUCE_ONLY, why, LockEnd.RESET, until, now))]
    for oid in sorted(state.orders):
        order = state.orders[oid]
        if order.status in WORKING_ORDER_STATUSES and adds_exposure(order, state):
            out.append(CancelOrder(acct, oid, order.contract_id, rule_id, f"{why}: order cancelled"))
    return out


def respond(event: Event, change: Change, state: AccountState, lock: Lock) -> list[Action]:
    """While reduce-only: a new order that adds exposure is cancelled; a position that opened,
    flipped or grew is brought back (closed, or the growth partially closed)."""
    acct = state.account_id
    why = f"Reduce-only ({lock.rule}: {lock.reason})"
    if event.kind is EventKind.ORDER:
        order = cast(Order, event.data)  # the kind names the payload type
        if change.new_order and adds_exposure(order, state):
            return [CancelOrder(acct, order.id, order.contract_id, GATE_RULE, f"{why}: order cancelled")]
        return []
    if event.kind is EventKind.POSITION and change.grew:
        cid = event.contract_id or ""
        if change.opened:
            return [ClosePosition(acct, cid, GATE_RULE, f"{why}: position closed")]
        growth = abs(change.new_size) - abs(change.prev_size)
        return [PartialClose(acct, cid, growth, GATE_RULE, f"{why}: added {growth} closed")]
    return []
