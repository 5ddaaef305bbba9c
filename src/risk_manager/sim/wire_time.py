"""Timestamps shaped like the real ProjectX wire: ISO-8601 with `+00:00`, and the fraction as .NET's
JSON writer prints it — up to 7 digits (100 ns ticks) with trailing zeros dropped, none when zero.
So widths vary from value to value (captured: `.4347534`, `.49009`, `.348`), and clients must parse
any width."""

from __future__ import annotations

from datetime import UTC, datetime


def _ticks_digit(microsecond: int) -> int:
    """Python keeps microseconds; the real server has 100 ns ticks. A 7th digit derived from the
    instant itself (so one instant always prints the same), zero for about half of them."""
    return (microsecond * 7) % 10 if microsecond % 2 else 0


def _fraction(digits: str) -> str:
    digits = digits.rstrip("0")
    return f".{digits}" if digits else ""


def iso7(when: datetime) -> str:
    """`2026-08-19T20:49:25.3938333+00:00`, `...:14.49009+00:00`, `...:14+00:00` (trailing zeros dropped)."""
    when = when.astimezone(UTC)
    fraction = _fraction(f"{when.microsecond:06d}{_ticks_digit(when.microsecond)}")
    return f"{when:%Y-%m-%dT%H:%M:%S}{fraction}+00:00"


def iso_ms(when: datetime) -> str:
    """Market-hub `timestamp` fields carry milliseconds: `2026-08-19T20:51:30.052+00:00` (`.05` for 50 ms)."""
    when = when.astimezone(UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}{_fraction(f'{when.microsecond // 1000:03d}')}+00:00"


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
