"""Notifications: what is sent, and how engine actions and daemon conditions become one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from risk_manager.engine.actions import (
    Action,
    Alert,
    CancelOrder,
    ClearLock,
    ClosePosition,
    Flatten,
    LockEnd,
    LockKind,
    ModifyStop,
    PartialClose,
    PlaceStop,
    SetLock,
)


@dataclass(frozen=True, slots=True)
class Notification:
    """One human-readable alert. `event` is one of config.ALL_EVENTS."""

    event: str
    severity: str  # info | warning | critical
    title: str
    body: str
    created_at: datetime
    account_id: int | None = None
    account_name: str | None = None
    rule: str | None = None
    #: Set by the dispatcher: identical alerts suppressed before this one went out.
    suppressed: int = field(default=0, compare=False)

    @property
    def dedupe_key(self) -> tuple[str, int | None, str | None, str, str]:
        return (self.event, self.account_id, self.rule, self.title, self.body)

    def text(self) -> str:
        """Plain text for chat channels and email bodies."""
        account = self.account_name or (str(self.account_id) if self.account_id is not None else None)
        lines = [f"{_ICON.get(self.severity, '')}{self.title}".strip()]
        if account:
            lines.append(f"Account: {account}")
        if self.rule:
            lines.append(f"Rule: {self.rule}")
        if self.body:
            lines.append(self.body)
        lines.append(f"Time: {self.created_at.strftime('%Y-%m-%d %H:%M:%S %Z')}".rstrip())
        if self.suppressed:
            lines.append(f"(+{self.suppressed} identical alert(s) suppressed)")
        return "\n".join(lines)


_ICON = {"critical": "\N{POLICE CARS REVOLVING LIGHT} ", "warning": "\N{WARNING SIGN} "}


def _lock_text(kind: LockKind, ends: LockEnd, until: datetime | None, symbol: str | None) -> str:
    what = {LockKind.LOCKOUT: "Trading locked", LockKind.COOLDOWN: "Cooldown",
            LockKind.SYMBOL: f"Symbol {symbol} blocked"}[kind]
    if ends is LockEnd.CAN_TRADE:
        return f"{what} until the broker allows trading again"
    if ends is LockEnd.MANUAL:
        return f"{what} until an admin unlocks"
    if ends is LockEnd.SYMBOL_UNLISTED:
        return f"{what} while it is on the blocked list"
    if until is not None:
        when = {LockEnd.RESET: "the daily reset", LockEnd.SESSION_START: "the next session"}.get(ends)
        stamp = until.strftime("%Y-%m-%d %H:%M %Z")
        return f"{what} until {when} ({stamp})" if when else f"{what} until {stamp}"
    return what


def from_action(action: Action, now: datetime, account_name: str | None = None) -> Notification | None:
    """The alert for an engine action, or None for actions not worth a message (stop placement and
    trailing-stop moves happen constantly and are the product working as configured)."""
    def note(event: str, severity: str, title: str, body: str) -> Notification:
        return Notification(event, severity, title, body, now, action.account_id, account_name, action.rule)

    match action:
        case SetLock(lock=lock):
            severity = "critical" if lock.kind is LockKind.LOCKOUT else "warning"
            title = _lock_text(lock.kind, lock.ends, lock.until, lock.symbol)
            return note("lock_set", severity, title, lock.reason)
        case ClearLock():
            by = "" if action.cleared_by == "engine" else f" (by {action.cleared_by})"
            return note("lock_cleared", "info", f"Lock cleared{by}", action.reason)
        case Alert():
            body = action.reason
            if action.would_have:
                body += "\nWould have: " + "; ".join(describe(a) for a in action.would_have)
            return note("rule_fired", action.severity, "Rule triggered (alert only)", body)
        case Flatten() | ClosePosition() | PartialClose() | CancelOrder():
            return note("rule_fired", "warning", describe(action), action.reason)
        case PlaceStop() | ModifyStop():
            return None
    return None


def describe(action: Action) -> str:
    """One short line naming what an action does."""
    match action:
        case Flatten(contract_id=None):
            return "Flattened the account (orders cancelled, positions closed)"
        case Flatten(contract_id=cid):
            return f"Flattened {cid}"
        case ClosePosition(contract_id=cid):
            return f"Closed the {cid} position"
        case PartialClose(contract_id=cid, size=size):
            return f"Reduced {cid} by {size} contract(s)"
        case CancelOrder(order_id=oid, contract_id=cid):
            return f"Cancelled order {oid} ({cid})"
        case PlaceStop(contract_id=cid, stop_price=price):
            return f"Placed a stop on {cid} at {price:g}"
        case ModifyStop(contract_id=cid, stop_price=price):
            return f"Moved the {cid} stop to {price:g}"
        case SetLock(lock=lock):
            return _lock_text(lock.kind, lock.ends, lock.until, lock.symbol)
        case ClearLock():
            return "Cleared the lock"
        case Alert():
            return "Alert"
    return type(action).__name__


def limit_warning(
    now: datetime, account_id: int, rule: str, what: str, current: float, limit: float,
    account_name: str | None = None,
) -> Notification:
    """A limit is nearly reached (the daemon sends this at 80 %)."""
    pct = 100 * abs(current) / abs(limit) if limit else 100.0
    return Notification(
        "limit_warning", "warning", f"{what} at {pct:.0f}% of its limit",
        f"{what}: {current:,.2f} of {limit:,.2f}", now, account_id, account_name, rule,
    )


def feed_blind(
    now: datetime, account_id: int | None, seconds: float, open_positions: int,
    account_name: str | None = None, flattening: bool = False,
) -> Notification:
    """The market/user feed has been down this long while positions are open."""
    then = " Flattening now (flatten_when_blind)." if flattening else ""
    return Notification(
        "feed_blind", "critical", "Live feed lost with positions open",
        f"No live data for {seconds:.0f} s with {open_positions} open position(s); "
        f"watching by REST polling.{then}",
        now, account_id, account_name, None,
    )


def store_recovered(now: datetime, what: str, path: str, moved_to: str, reason: str, consequence: str) -> Notification:
    """A damaged or unusable store file was moved aside at start-up and a new one created."""
    return Notification(
        "store_recovered", "critical", f"Damaged {what} moved aside",
        f"{path} could not be used ({reason}). It was moved to {moved_to} and a new one was "
        f"started; the daemon keeps guarding. {consequence}",
        now, None, None, None,
    )
