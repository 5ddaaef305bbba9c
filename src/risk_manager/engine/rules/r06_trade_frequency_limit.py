"""R06 trade_frequency_limit: too many executions in the last minute / hour / trading day.

Executions are counted by `creationTimestamp`, one per order (partial fills of one order are one
execution), voided fills and fills of the guard's own orders excluded. Minute/hour breaches set a
cooldown (the longest wins); a per-session breach locks the account until the daily reset.
"""

from __future__ import annotations

from datetime import datetime

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import cooldown, duration, finish, flatten, lockout_until_reset
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind


def counts(state: AccountState, now: datetime) -> tuple[int, int, int]:
    """The trader's executions (minute, hour, trading day): the guard's own closes and stops
    are not the trader's trades."""
    return (state.trader_count_in_window(now, 60), state.trader_count_in_window(now, 3600),
            state.trader_trades_today)


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or event is None or event.kind is not EventKind.TRADE:
        return []
    change = state.last_change
    if change is None or change.new_trade is None:
        return []
    if change.new_trade.order_id in state.own_orders:
        return []  # the guard's own fill is no trader execution
    minute, hour, session = counts(state, now)
    acct = state.account_id
    actions: list[Action] = []
    if session > cfg.per_session:
        reason = (
            f"Trade frequency: {session} trades today > {cfg.per_session} per session; "
            "locked until the daily reset"
        )
        actions.append(lockout_until_reset(ctx, acct, reason, now))
    else:
        breaches = []
        if hour > cfg.per_hour:
            breaches.append((cfg.cooldown_seconds.per_hour, f"{hour} trades in the last hour > {cfg.per_hour}"))
        if minute > cfg.per_minute:
            breaches.append(
                (cfg.cooldown_seconds.per_minute, f"{minute} trades in the last minute > {cfg.per_minute}")
            )
        if not breaches:
            return []
        seconds, what = max(breaches, key=lambda b: b[0])  # the longest cooldown wins
        reason = f"Trade frequency: {what}; cooldown {duration(seconds)}"
        if seconds > 0:
            actions.append(cooldown(ctx, acct, reason, seconds, now))
    if cfg.flatten_on_trigger:
        actions.append(flatten(ctx, acct, reason))
    return finish(ctx, acct, actions, reason)
