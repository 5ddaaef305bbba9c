"""The trading day (docs/rules.md): from `reset_time` in `timezone` to the next reset.

A trading day is named by the calendar date on which it ends (CME convention: Sunday 17:00 CT ..
Monday 17:00 CT is Monday's trading day). With a midnight reset the day that starts at 00:00 on D
is named D (it ends at "24:00" of D).

Everything works on instants, never on naive wall-clock comparisons, so DST transitions are exact:
a reset time that falls in a spring-forward gap maps to the instant just after the gap (zoneinfo
`fold=0`), and one in a repeated fall-back hour fires once, at its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from risk_manager.config.models import TradingDay


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock `at` on `day` in `tz` (gap -> just after it, fold -> first)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {now!r}")


def _reset_on(day: date, td: TradingDay) -> datetime:
    return local_instant(day, td.reset, td.tz)


def _end_day(now: datetime, td: TradingDay) -> date:
    """The local date of the reset that ends the trading day containing `now`."""
    _require_aware(now)
    local_date = now.astimezone(td.tz).date()
    if now >= _reset_on(local_date, td):
        return local_date + timedelta(days=1)
    return local_date


def trading_day_bounds(now: datetime, td: TradingDay) -> tuple[datetime, datetime]:
    """[start, end) of the trading day containing `now`, as UTC instants."""
    end_day = _end_day(now, td)
    return _reset_on(end_day - timedelta(days=1), td), _reset_on(end_day, td)


def trading_day_of(now: datetime, td: TradingDay) -> date:
    """The trading day `now` belongs to, named by the date on which it ends."""
    end_day = _end_day(now, td)
    if td.reset == time(0, 0):
        return end_day - timedelta(days=1)
    return end_day


def next_reset(now: datetime, td: TradingDay) -> datetime:
    """The first reset instant strictly after `now`."""
    return trading_day_bounds(now, td)[1]


def resets_between(after: datetime, until: datetime, td: TradingDay) -> list[datetime]:
    """Every reset instant in (after, until], oldest first; each appears exactly once.

    Used at start-up to apply resets missed while the daemon was down.
    """
    _require_aware(until)
    out: list[datetime] = []
    end_day = _end_day(after, td)
    instant = _reset_on(end_day, td)
    while instant <= until:
        out.append(instant)
        end_day += timedelta(days=1)
        instant = _reset_on(end_day, td)
    return out
