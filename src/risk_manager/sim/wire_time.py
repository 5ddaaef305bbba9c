"""Timestamps shaped like the real ProjectX stream: ISO-8601, 7 fractional digits, `+00:00`."""

from __future__ import annotations

from datetime import UTC, datetime


def iso7(when: datetime) -> str:
    """`2026-08-19T20:49:25.3938333+00:00` (Python has microseconds; the 7th digit is a 0)."""
    when = when.astimezone(UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond:06d}0+00:00"


def iso_ms(when: datetime) -> str:
    """Market-hub `timestamp` fields carry milliseconds: `2026-08-19T20:51:30.052+00:00`."""
    when = when.astimezone(UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}+00:00"


def parse_request_time(value: object, field: str) -> datetime:
    """Request timestamps (`...Z` or with an offset; naive means UTC). Raises ValueError naming the field."""
    if not isinstance(value, str):
        raise ValueError(f"{field} must be an ISO-8601 string, got {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field} is not an ISO-8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
