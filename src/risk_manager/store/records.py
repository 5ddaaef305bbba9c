"""Plain records returned by the store, and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any


class StoreError(Exception):
    """The store cannot be opened or used (the message says which file and why)."""


class JournalFileError(ValueError):
    """A journal file line is malformed (the message names the file and line number)."""

    def __init__(self, path: Path, line_no: int, why: str) -> None:
        super().__init__(f"{path}:{line_no}: {why}")
        self.path = path
        self.line_no = line_no
        self.why = why


@dataclass(frozen=True, slots=True)
class OpenReport:
    """What happened when the store was opened (the daemon logs/alerts on it)."""

    path: Path
    #: True when the core file did not exist (or was replaced) and was created empty.
    created: bool
    #: Where a corrupt / non-SQLite core file was moved to; None when it was healthy. When set,
    #: locks, audit and trading-day state are gone: alert, then rebuild from REST + journal.
    corrupt_moved_to: Path | None = None
    #: Why the file was judged corrupt (quick_check output or the SQLite error).
    corrupt_reason: str | None = None
    #: Core schema version before and after migrations.
    migrated_from: int = 0
    schema_version: int = 0
    journal_path: Path | None = None
    journal_created: bool = False
    #: Same as above for the journal file (the core file is unaffected when only this is set).
    journal_corrupt_moved_to: Path | None = None
    journal_corrupt_reason: str | None = None

    @property
    def recovered_from_corruption(self) -> bool:
        return self.corrupt_moved_to is not None or self.journal_corrupt_moved_to is not None


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    ts: datetime
    account_id: int | None
    rule: str
    action: str
    reason: str
    phase: str
    detail: dict[str, Any] = field(default_factory=dict)
    event_received_ns: int | None = None
    decided_ns: int | None = None
    sent_ns: int | None = None
    response_ns: int | None = None
    confirmed_ns: int | None = None
    intent_id: int | None = None


@dataclass(frozen=True, slots=True)
class LockHistoryRow:
    id: int
    account_id: int
    rule: str
    #: "set" or "cleared".
    change: str
    kind: str
    until: datetime | None
    #: Who set / cleared it ("engine", "admin", "reset", ...).
    by: str
    #: The lock's reason when set; the clearing reason when cleared.
    why: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Intent:
    """A broker-side action that was decided; open until `complete_intent` records its outcome."""

    id: int
    account_id: int
    kind: str
    rule: str
    reason: str
    created_at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    completed_at: datetime | None = None
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class DailyPnl:
    account_id: int
    trading_day: date
    realized: float = 0.0
    trade_count: int = 0


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    id: int
    at: datetime
    ok: bool
    source: str
    detail: str
