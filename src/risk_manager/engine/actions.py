"""What the engine asks for. Pure data: enforcement executes it, the audit log records it.

Every action names the rule that produced it (``rule``: "R03", "lock_gate", "manual", …) and a
``reason`` a trader can read ("Daily loss limit: -$512.40 <= -$500.00").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class LockKind(enum.StrEnum):
    LOCKOUT = "lockout"  # hard: R03, R13, R09, R10, R06 per-session, manual
    COOLDOWN = "cooldown"  # R06, R07
    SYMBOL = "symbol"  # R11: only that symbol
    #: Graduated enforcement (docs/rules.md `reduce_only_at`): orders and fills that add exposure are
    #: cancelled/closed, closing orders pass; the account is not "locked" (rules still run).
    REDUCE_ONLY = "reduce_only"


class LockEnd(enum.StrEnum):
    """What ends a lock."""

    TIME = "time"  # `until` passes (cooldowns, manual --until)
    RESET = "reset"  # the next daily reset (`until` = that reset instant)
    SESSION_START = "session_start"  # the next session start (`until` = that instant)
    CAN_TRADE = "can_trade"  # the broker sets canTrade true again (R10); `until` is None
    SYMBOL_UNLISTED = "symbol_unlisted"  # R11: symbol removed from blocked_symbols
    MANUAL = "manual"  # only an admin unlock


@dataclass(frozen=True, slots=True)
class Lock:
    account_id: int
    rule: str
    kind: LockKind
    reason: str
    ends: LockEnd
    until: datetime | None
    created_at: datetime
    #: For symbol locks: the trader symbol root (e.g. "ES").
    symbol: str | None = None
    set_by: str = "engine"

    @property
    def account_wide(self) -> bool:
        return self.kind is not LockKind.SYMBOL and self.kind is not LockKind.REDUCE_ONLY

    def remaining_s(self, now: datetime) -> float | None:
        if self.until is None:
            return None
        return max(0.0, (self.until - now).total_seconds())


@dataclass(frozen=True, slots=True)
class ClosePosition:
    account_id: int
    contract_id: str
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class PartialClose:
    account_id: int
    contract_id: str
    size: int
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class CancelOrder:
    account_id: int
    order_id: int
    contract_id: str
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Flatten:
    """Cancel every working order of the account, then close every position."""

    account_id: int
    rule: str
    reason: str
    #: Restrict to one contract (R04 per-position, R11 symbol) or None for the whole account.
    contract_id: str | None = None


@dataclass(frozen=True, slots=True)
class PlaceStop:
    account_id: int
    contract_id: str
    side: int  # OrderSide of the stop (opposite the position)
    size: int
    stop_price: float
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class ModifyStop:
    account_id: int
    order_id: int
    contract_id: str
    stop_price: float
    rule: str
    reason: str
    size: int | None = None


@dataclass(frozen=True, slots=True)
class SetLock:
    lock: Lock

    @property
    def account_id(self) -> int:
        return self.lock.account_id

    @property
    def rule(self) -> str:
        return self.lock.rule

    @property
    def reason(self) -> str:
        return self.lock.reason


@dataclass(frozen=True, slots=True)
class ClearLock:
    account_id: int
    rule: str
    reason: str
    cleared_by: str = "engine"


@dataclass(frozen=True, slots=True)
class Alert:
    """Notify only. Rules in `mode: alert` emit this carrying what they would have done."""

    account_id: int
    rule: str
    reason: str
    severity: str = "warning"  # info | warning | critical
    would_have: tuple[Action, ...] = ()


Action = (
    ClosePosition
    | PartialClose
    | CancelOrder
    | Flatten
    | PlaceStop
    | ModifyStop
    | SetLock
    | ClearLock
    | Alert
)

#: Actions that call the broker (everything else only changes our own state or notifies).
BROKER_ACTIONS = (ClosePosition, PartialClose, CancelOrder, Flatten, PlaceStop, ModifyStop)
