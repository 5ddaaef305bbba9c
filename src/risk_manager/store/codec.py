"""Conversions between Python values and SQLite columns.

Datetimes are stored as ISO-8601 text in UTC with microseconds, so they sort and compare as text
and read back as aware UTC datetimes (equal, as instants, to what was written in any timezone).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from risk_manager.engine.actions import Lock, LockEnd, LockKind
from risk_manager.events import Contract


def ts_out(value: datetime, what: str = "datetime") -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def ts_out_opt(value: datetime | None, what: str = "datetime") -> str | None:
    return None if value is None else ts_out(value, what)


def ts_in(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def ts_req(value: str) -> datetime:
    """A NOT NULL timestamp column."""
    return datetime.fromisoformat(value)


def day_out(value: date) -> str:
    if isinstance(value, datetime):
        raise TypeError("trading_day must be a datetime.date, not a datetime")
    return value.isoformat()


def day_in(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def json_out(value: Any) -> str:
    return json.dumps(value if value is not None else {}, separators=(",", ":"), default=str)


def json_in(value: str | None) -> Any:
    return {} if not value else json.loads(value)


LOCK_COLUMNS = "account_id, rule, kind, reason, ends, until, created_at, symbol, set_by"


def lock_row(lock: Lock) -> tuple[Any, ...]:
    return (
        lock.account_id,
        lock.rule,
        LockKind(lock.kind).value,
        lock.reason,
        LockEnd(lock.ends).value,
        ts_out_opt(lock.until, "Lock.until"),
        ts_out(lock.created_at, "Lock.created_at"),
        lock.symbol,
        lock.set_by,
    )


def lock_from_row(row: tuple[Any, ...]) -> Lock:
    account_id, rule, kind, reason, ends, until, created_at, symbol, set_by = row
    return Lock(
        account_id=account_id,
        rule=rule,
        kind=LockKind(kind),
        reason=reason,
        ends=LockEnd(ends),
        until=ts_in(until),
        created_at=ts_req(created_at),
        symbol=symbol,
        set_by=set_by,
    )


CONTRACT_COLUMNS = "id, name, tick_size, tick_value, symbol_id, description, active_contract"


def contract_row(c: Contract) -> tuple[Any, ...]:
    return (
        c.id,
        c.name,
        float(c.tick_size),
        float(c.tick_value),
        c.symbol_id,
        c.description,
        int(bool(c.active_contract)),
    )


def contract_from_row(row: tuple[Any, ...]) -> Contract:
    cid, name, tick_size, tick_value, symbol_id, description, active = row
    return Contract(
        id=cid,
        name=name,
        tick_size=tick_size,
        tick_value=tick_value,
        symbol_id=symbol_id,
        description=description,
        active_contract=bool(active),
    )
