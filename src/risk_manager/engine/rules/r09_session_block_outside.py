"""R09 session_block_outside: trading outside the session window (holidays and early closes too).

An order or position appearing outside its symbol's session is flattened and the account is locked
until the next session start. At session end (the 1 s tick) open exposure is flattened when
`close_positions_at_session_end`. A symbol with its own session only locks that symbol.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from risk_manager.engine.actions import Action, Flatten, Lock, LockEnd, LockKind, SetLock
from risk_manager.engine.context import RuleContext
from risk_manager.engine.locks import symbol_rule_id
from risk_manager.engine.rules._common import finish
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind

if TYPE_CHECKING:
    from risk_manager.config.models import Session


def _when(dt: datetime, tz: str) -> str:
    return dt.astimezone(ZoneInfo(tz)).strftime("%a %Y-%m-%d %H:%M %Z")


def why_closed(ctx: RuleContext, session: Session, now: datetime) -> str:
    cal = ctx.timeline.calendar
    if ctx.config.respect_holidays and cal is not None:
        local = now.astimezone(ZoneInfo(cal.timezone))
        day = local.date()
        if cal.is_holiday(day):
            return f"market holiday ({cal.holiday_name(day)})"
        early = cal.early_close(day)
        if early is not None and local.time() >= early:
            return f"after the early close at {early:%H:%M} CT ({cal.holiday_name(day)})"
    days = ",".join(d.capitalize() for d in session.days)
    return f"outside the trading session {session.start}–{session.end} {session.timezone} {days}"


def _exposure(event: Event | None, state: AccountState, ctx: RuleContext) -> list[tuple[str, str]]:
    """(contract id, what) that must be inside a session for this event."""
    if event is None:
        if not ctx.config.close_positions_at_session_end:
            return []
        items = [(c, "open position") for c in state.positions]
        items += [(o.contract_id, "working order") for o in state.orders.values()]
        return sorted(set(items))
    change = state.last_change
    if change is None:
        return []
    if event.kind is EventKind.POSITION and change.grew:
        return [(event.contract_id or "", "new position")]
    if event.kind is EventKind.ORDER and change.new_order:
        return [(event.contract_id or "", "new order")]
    return []


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or (event is not None and event.kind not in (EventKind.POSITION, EventKind.ORDER)):
        return []
    acct = state.account_id
    out: list[Action] = []
    account_wide_done = False
    symbols_done: set[str] = set()
    for cid, what in _exposure(event, state, ctx):
        symbol = ctx.catalog.symbol_of(cid)
        session = cfg.session_for(symbol)
        own = symbol is not None and symbol.upper() in cfg.sessions
        status = ctx.timeline.session_status(now, session, cfg.respect_holidays)
        if status.open:
            continue
        if own and symbol is not None:  # (own implies a symbol)
            if symbol in symbols_done:
                continue
            symbols_done.add(symbol)
            reason = (
                f"{symbol}: {what} {why_closed(ctx, session, now)}; {symbol} locked until "
                f"{_when(status.boundary, session.timezone)}"
            )
            lock = Lock(acct, symbol_rule_id(ctx.rule_id, symbol), LockKind.SYMBOL, reason,
                        LockEnd.SESSION_START, status.boundary, now, symbol=symbol)
            contracts = sorted({c for c in state.positions if ctx.catalog.symbol_of(c) == symbol}
                               | {o.contract_id for o in state.orders.values()
                                  if ctx.catalog.symbol_of(o.contract_id) == symbol})
            actions: list[Action] = [SetLock(lock)]
            actions += [Flatten(acct, ctx.rule_id, reason, contract_id=c) for c in contracts]
            out += finish(ctx, acct, actions, reason)
        elif not account_wide_done:
            account_wide_done = True
            label = symbol or cid
            reason = (
                f"{label}: {what} {why_closed(ctx, session, now)}; locked until "
                f"{_when(status.boundary, session.timezone)}"
            )
            lock = Lock(acct, ctx.rule_id, LockKind.LOCKOUT, reason, LockEnd.SESSION_START,
                        status.boundary, now)
            out += finish(ctx, acct, [SetLock(lock), Flatten(acct, ctx.rule_id, reason)], reason)
    return out
