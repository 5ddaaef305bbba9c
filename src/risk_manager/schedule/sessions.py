"""Session windows of R09 (`session_block_outside`) against the clock and the CME calendar.

A window runs from `start` to `end` in the session's own timezone on each listed weekday; when
`end <= start` it crosses midnight and belongs to the weekday it starts on. With
`respect_holidays`, the calendar date (America/Chicago) on which a window ends decides: a full
closure cancels the window, an early close ends it at the early-close time if that is sooner.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from risk_manager.config.models import WEEKDAYS, Session, parse_hhmm
from risk_manager.schedule.calendar import MarketCalendar, load_calendar
from risk_manager.schedule.trading_day import local_instant

#: How far ahead next_session_start looks before giving up (a year of holidays cannot hide them all).
_SEARCH_DAYS = 400
_TINY = timedelta(microseconds=1)


def _aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {now!r}")


def session_window(
    day: date, session: Session, calendar: MarketCalendar | None, respect_holidays: bool = True
) -> tuple[datetime, datetime] | None:
    """[start, end) in UTC of the window that starts on local `day`, or None if there is none."""
    if WEEKDAYS[day.weekday()] not in session.days:
        return None
    tz = ZoneInfo(session.timezone)
    start_t, end_t = parse_hhmm(session.start), parse_hhmm(session.end)
    start = local_instant(day, start_t, tz)
    end_day = day if end_t > start_t else day + timedelta(days=1)
    end = local_instant(end_day, end_t, tz)
    if respect_holidays:
        cal = calendar if calendar is not None else load_calendar()
        cal_tz = ZoneInfo(cal.timezone)
        closing_day = (end - _TINY).astimezone(cal_tz).date()
        if cal.is_holiday(closing_day):
            return None
        early = cal.early_close(closing_day)
        if early is not None:
            end = min(end, local_instant(closing_day, early, cal_tz))
    if end <= start:
        return None
    return start, end


def _containing(
    now: datetime, session: Session, calendar: MarketCalendar | None, respect_holidays: bool
) -> tuple[datetime, datetime] | None:
    _aware(now)
    today = now.astimezone(ZoneInfo(session.timezone)).date()
    for day in (today - timedelta(days=1), today):
        window = session_window(day, session, calendar, respect_holidays)
        if window is not None and window[0] <= now < window[1]:
            return window
    return None


def in_session(
    now: datetime, session: Session, calendar: MarketCalendar | None = None, respect_holidays: bool = True
) -> bool:
    return _containing(now, session, calendar, respect_holidays) is not None


def current_session_end(
    now: datetime, session: Session, calendar: MarketCalendar | None = None, respect_holidays: bool = True
) -> datetime | None:
    """End (UTC, early close applied) of the window containing `now`; None when outside."""
    window = _containing(now, session, calendar, respect_holidays)
    return window[1] if window is not None else None


def next_session_start(
    now: datetime, session: Session, calendar: MarketCalendar | None = None, respect_holidays: bool = True
) -> datetime:
    """Next window start strictly after `now`; inside a window, the first start after it ends."""
    current = _containing(now, session, calendar, respect_holidays)
    tz = ZoneInfo(session.timezone)
    first_day = now.astimezone(tz).date() - timedelta(days=1)
    for offset in range(_SEARCH_DAYS):
        window = session_window(first_day + timedelta(days=offset), session, calendar, respect_holidays)
        if window is None:
            continue
        start = window[0]
        if (current is not None and start >= current[1]) or (current is None and start > now):
            return start
    raise ValueError(f"no session window within {_SEARCH_DAYS} days (days: {session.days})")
