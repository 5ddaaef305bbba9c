"""Small text formatters shared by the dashboard, `risk-manager status` and the admin CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def money(value: Any, *, signed: bool = True) -> str:
    """-120.5 -> '-$120.50'; None -> '—'."""
    if value is None:
        return "—"
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return str(value)
    sign = "-" if amount < 0 else ("+" if signed and amount > 0 else "")
    return f"{sign}${abs(amount):,.2f}"


def duration(seconds: Any) -> str:
    """9000 -> '2h 30m 00s'; 65 -> '1m 05s'; None -> '—'."""
    if seconds is None:
        return "—"
    try:
        total = max(0, int(float(seconds)))
    except (TypeError, ValueError):
        return str(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def zone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("America/Chicago")


def local_time(value: Any, tz: ZoneInfo, fmt: str = "%a %H:%M:%S %Z") -> str:
    """An ISO time from the API shown in the trading timezone; '—' when absent or unparsable."""
    parsed = parse_time(value) if not isinstance(value, datetime) else value
    if parsed is None:
        return "—"
    return parsed.astimezone(tz).strftime(fmt)


def number(value: Any) -> str:
    """5 -> '5', 1234.5 -> '1,234.5', {'minute': 1, 'hour': 2} -> 'minute 1, hour 2'."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k} {number(v)}" for k, v in value.items()) or "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(number(v) for v in value) or "—"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"
    return str(value)


def lock_end_text(lock: dict[str, Any], tz: ZoneInfo) -> str:
    """When a lock ends, in words: 'until 17:00:00 CST (in 2h 30m 00s)' etc."""
    ends = lock.get("ends")
    if ends == "can_trade" or (lock.get("until") is None and lock.get("rule") == "R10"):
        return "until TopstepX allows trading again"
    if lock.get("until") is None:
        if ends == "symbol_unlisted":
            return "while the symbol stays blocked"
        return "until an admin unlocks it"
    when = local_time(lock.get("until"), tz, "%a %H:%M:%S %Z")
    remaining = lock.get("remaining_s")
    until = parse_time(lock.get("until"))
    if remaining is None and until is not None:
        remaining = (until - datetime.now(UTC)).total_seconds()
    return f"until {when} (in {duration(remaining)})"


def pending_text(change: dict[str, Any], tz: ZoneInfo, fmt: str = "%a %H:%M %Z", with_rule: bool = False) -> str:
    """A pending looser change: 'limit: 3 → 5 at Sat 17:00 CST' (or '… at the next reset')."""
    key = change.get("key") or ""
    name = f"{change.get('rule')}.{key}" if with_rule and key else (str(change.get("rule")) if with_rule else key)
    when = local_time(change.get("applies_at"), tz, fmt) if change.get("applies_at") else "the next reset"
    return f"{name}: {number(change.get('from'))} → {number(change.get('to'))} at {when}"


_FREQUENCY_UNITS = {"minute": "/min", "hour": "/h", "session": "/session"}


def rule_cell(value: Any) -> str:
    """A rule's value or limit, compact so it fits its column whole:
    R06 {'minute': 3, 'hour': 10, 'session': 50} -> '3/min · 10/h · 50/session';
    R07 tiers [{'loss': -100, 'cooldown_s': 300}, …] -> '-$100→5m · …';
    R02 {'symbol': 'MNQ', 'size': 1} -> 'MNQ 1', {'MNQ': 2, 'ES': 1} -> 'MNQ 2 · ES 1'."""
    if isinstance(value, dict):
        if value and set(value) <= set(_FREQUENCY_UNITS):
            return " · ".join(f"{number(v)}{_FREQUENCY_UNITS[k]}" for k, v in value.items())
        if set(value) == {"symbol", "size"}:
            return f"{value['symbol']} {number(value['size'])}"
        return " · ".join(f"{k} {number(v)}" for k, v in value.items()) or "—"
    if isinstance(value, list) and value and all(isinstance(t, dict) and "loss" in t for t in value):
        return " · ".join(f"{money(t['loss'], signed=False).replace('.00', '')}→{_short(t.get('cooldown_s'))}"
                          for t in value)
    return number(value)


def _short(seconds: Any) -> str:
    """300 -> '5m', 5400 -> '1h30m', 45 -> '45s'."""
    try:
        total = int(seconds)
    except (TypeError, ValueError):
        return "—"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "") or "0s"
