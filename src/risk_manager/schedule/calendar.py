"""CME holidays and early closes, from the data file shipped with the package (docs/rules.md, "Trading day, reset and sessions").

Dates are calendar dates in America/Chicago; early-close times are Chicago wall-clock times.
The data file documents which days are full closures and which close early, and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, time
from functools import lru_cache
from importlib import resources
from typing import Any

CALENDAR_TZ = "America/Chicago"
_DATA_PACKAGE = "risk_manager.schedule"
_DATA_FILE = "data/cme_calendar.json"


class CalendarDataError(ValueError):
    """The calendar data file is malformed."""


@dataclass(frozen=True)
class MarketDay:
    day: date
    name: str
    closed: bool
    close: time | None = None  # early close (Chicago wall clock); None when closed all day


@dataclass(frozen=True)
class MarketCalendar:
    days: dict[date, MarketDay] = field(default_factory=dict)
    covered_years: frozenset[int] = frozenset()
    timezone: str = CALENDAR_TZ

    def is_holiday(self, day: date) -> bool:
        """Full closure: no session that day."""
        entry = self.days.get(day)
        return entry is not None and entry.closed

    def early_close(self, day: date) -> time | None:
        """Local close time in America/Chicago on an early-close day, else None."""
        entry = self.days.get(day)
        return entry.close if entry is not None and not entry.closed else None

    def holiday_name(self, day: date) -> str | None:
        entry = self.days.get(day)
        return entry.name if entry is not None else None

    def years(self) -> set[int]:
        return set(self.covered_years)

    def covers(self, day: date) -> bool:
        """True when the data file has this day's year (outside it every weekday looks normal)."""
        return day.year in self.covered_years


def parse_calendar(doc: dict[str, Any], source: str = _DATA_FILE) -> MarketCalendar:
    """Build a calendar from the JSON document; every problem names the entry."""
    try:
        years = frozenset(int(y) for y in doc["years"])
        entries = doc["days"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CalendarDataError(f"{source}: needs 'years' (list of int) and 'days' ({exc})") from exc
    days: dict[date, MarketDay] = {}
    for index, raw in enumerate(entries):
        where = f"{source}: days[{index}]"
        try:
            day = date.fromisoformat(raw["date"])
            kind = raw["kind"]
            name = str(raw["name"])
            if kind == "closed":
                entry = MarketDay(day, name, closed=True)
            elif kind == "early_close":
                entry = MarketDay(day, name, closed=False, close=time.fromisoformat(raw["close"]))
            else:
                raise CalendarDataError(f"{where}: kind must be 'closed' or 'early_close', got {kind!r}")
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, CalendarDataError):
                raise
            raise CalendarDataError(f"{where}: {exc!r}") from exc
        if day in days:
            raise CalendarDataError(f"{where}: {day} listed twice")
        if day.year not in years:
            raise CalendarDataError(f"{where}: {day} is outside the declared years {sorted(years)}")
        days[day] = entry
    return MarketCalendar(days=days, covered_years=years, timezone=doc.get("timezone", CALENDAR_TZ))


@lru_cache(maxsize=1)
def load_calendar() -> MarketCalendar:
    """The shipped CME calendar (cached)."""
    text = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    return parse_calendar(json.loads(text))
