"""R10 auth_loss_guard: the broker says canTrade == false → flatten and lock until it is true again.

A missing canTrade field keeps the last known value; one never seen is taken as true (with a
warning). Clearing the lock when canTrade is explicitly true again is done by the engine through the
lock manager (it must also run while the account is locked).
"""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine.actions import Action, Alert, Lock, LockEnd, LockKind, SetLock
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import finish, flatten
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or (event is not None and event.kind is not EventKind.ACCOUNT):
        return []
    acct = state.account_id
    if state.can_trade_field_missing:
        return [Alert(acct, ctx.rule_id, "Account event without canTrade (never seen yet): treated as true", "warning")]
    if state.can_trade is not False or ctx.locks.get(acct, ctx.rule_id) is not None:
        return []
    reason = "The broker reports canTrade = false; locked until trading is allowed again"
    lock = Lock(acct, ctx.rule_id, LockKind.LOCKOUT, reason, LockEnd.CAN_TRADE, None, now)
    return finish(ctx, acct, [SetLock(lock), flatten(ctx, acct, reason)], reason)
