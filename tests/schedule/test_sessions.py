from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from risk_manager.config.models import Session
from risk_manager.schedule.calendar import load_calendar
from risk_manager.schedule.sessions import (
    current_session_end,
    in_session,
    next_session_start,
    session_window,
)

CHI = ZoneInfo("America/Chicago")
NY = ZoneInfo("America/New_York")
RTH = Session()  # 08:30-15:00 America/Chicago, mon-fri
GLOBEX = Session(start="17:00", end="16:00", days=["sun", "mon", "tue", "wed", "thu"])


def chi(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHI)


def test_8pm_is_outside_and_next_start_is_tomorrow_morning():
    now = chi(2026, 6, 9, 20, 0)  # Tuesday
    assert not in_session(now, RTH)
    assert current_session_end(now, RTH) is None
    start = next_session_start(now, RTH)
    assert start == chi(2026, 6, 10, 8, 30) and start.tzinfo is UTC


def test_inside_session_end_and_boundaries():
    now = chi(2026, 6, 9, 10, 0)
    assert in_session(now, RTH)
    assert current_session_end(now, RTH) == chi(2026, 6, 9, 15, 0)
    assert next_session_start(now, RTH) == chi(2026, 6, 10, 8, 30)
    assert in_session(chi(2026, 6, 9, 8, 30), RTH)  # start inclusive
    assert not in_session(chi(2026, 6, 9, 15, 0), RTH)  # end exclusive
    assert not in_session(chi(2026, 6, 9, 8, 29, 59), RTH)


def test_weekend_skips_to_monday():
    assert not in_session(chi(2026, 6, 13, 10, 0), RTH)  # Saturday
    assert next_session_start(chi(2026, 6, 12, 15, 0), RTH) == chi(2026, 6, 15, 8, 30)


def test_holiday_has_no_session():
    thanksgiving = chi(2026, 11, 26, 10, 0)
    assert not in_session(thanksgiving, RTH)
    assert next_session_start(thanksgiving, RTH) == chi(2026, 11, 27, 8, 30)
    # Christmas 2027 is observed on Friday 12/24: Thursday's close leads to Monday.
    assert next_session_start(chi(2027, 12, 23, 16, 0), RTH) == chi(2027, 12, 27, 8, 30)


def test_respect_holidays_false_ignores_the_calendar():
    assert in_session(chi(2026, 11, 26, 10, 0), RTH, respect_holidays=False)
    assert current_session_end(chi(2026, 11, 27, 10, 0), RTH, respect_holidays=False) == chi(2026, 11, 27, 15)


def test_early_close_ends_session_early():
    now = chi(2026, 11, 27, 10, 0)  # day after Thanksgiving
    assert current_session_end(now, RTH) == chi(2026, 11, 27, 12, 0)
    assert not in_session(chi(2026, 11, 27, 12, 30), RTH)
    assert next_session_start(chi(2026, 11, 27, 12, 30), RTH) == chi(2026, 11, 30, 8, 30)


def test_early_close_applies_in_the_sessions_own_timezone():
    ny_rth = Session(start="09:30", end="16:00", timezone="America/New_York")
    end = current_session_end(datetime(2026, 12, 24, 11, 0, tzinfo=NY), ny_rth)
    assert end == datetime(2026, 12, 24, 13, 0, tzinfo=NY)  # 12:00 CT


def test_session_starting_after_early_close_does_not_exist():
    late = Session(start="13:00", end="15:00")
    assert session_window(chi(2026, 1, 19).date(), late, load_calendar()) is None  # MLK Day
    assert next_session_start(chi(2026, 1, 16, 16, 0), late) == chi(2026, 1, 20, 13, 0)


def test_dst_weeks_keep_local_times():
    # US clocks spring forward on Sunday 2026-03-08: 08:30 CT is 14:30 UTC before, 13:30 UTC after.
    assert next_session_start(chi(2026, 3, 6, 16, 0), RTH) == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
    assert current_session_end(chi(2026, 3, 6, 9, 0), RTH) == datetime(2026, 3, 6, 21, 0, tzinfo=UTC)
    # ...and fall back on 2026-11-01.
    assert next_session_start(chi(2026, 10, 30, 16, 0), RTH) == datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
    # A London session while the US is on DST and the UK not yet (2026-03-09..27).
    london = Session(start="08:00", end="16:30", timezone="Europe/London")
    assert in_session(datetime(2026, 3, 10, 8, 0, tzinfo=UTC), london)
    assert in_session(datetime(2026, 3, 30, 7, 30, tzinfo=UTC), london)  # 08:30 BST
    assert not in_session(datetime(2026, 3, 30, 6, 30, tzinfo=UTC), london)  # 07:30 BST


def test_overnight_session_belongs_to_its_start_day():
    sunday_evening = chi(2026, 6, 7, 18, 0)
    assert in_session(sunday_evening, GLOBEX)
    assert current_session_end(sunday_evening, GLOBEX) == chi(2026, 6, 8, 16, 0)
    assert next_session_start(sunday_evening, GLOBEX) == chi(2026, 6, 8, 17, 0)
    assert not in_session(chi(2026, 6, 8, 16, 30), GLOBEX)  # daily maintenance break
    assert not in_session(chi(2026, 6, 12, 17, 30), GLOBEX)  # Friday evening: no "fri" window
    assert in_session(chi(2026, 6, 12, 15, 0), GLOBEX)  # Thursday's window runs into Friday


def test_overnight_session_with_early_close_and_holiday():
    # MLK Day 2026-01-19: Sunday's window halts at 12:00 CT Monday, Globex reopens 17:00.
    assert current_session_end(chi(2026, 1, 18, 20, 0), GLOBEX) == chi(2026, 1, 19, 12, 0)
    assert not in_session(chi(2026, 1, 19, 13, 0), GLOBEX)
    assert next_session_start(chi(2026, 1, 19, 13, 0), GLOBEX) == chi(2026, 1, 19, 17, 0)
    # Thanksgiving: the window ending on it is cancelled; the next one ends at Friday's early close.
    assert not in_session(chi(2026, 11, 25, 20, 0), GLOBEX)
    assert next_session_start(chi(2026, 11, 25, 20, 0), GLOBEX) == chi(2026, 11, 26, 17, 0)
    assert current_session_end(chi(2026, 11, 26, 18, 0), GLOBEX) == chi(2026, 11, 27, 12, 0)


def test_overnight_window_across_dst_change_is_23_hours():
    start, end = session_window(chi(2026, 3, 8).date(), GLOBEX, load_calendar())
    assert end - start == timedelta(hours=23)
    start, end = session_window(chi(2026, 3, 7).date(), Session(start="17:00", end="16:00", days=["sat"]), None)
    assert end - start == timedelta(hours=22)  # 17:00 CST Sat -> 16:00 CDT Sun


def test_window_ending_at_midnight_uses_its_own_day_for_the_calendar():
    evening = Session(start="18:00", end="00:00", days=["wed"])
    # Wednesday 2026-11-25 18:00 -> Thursday 00:00: Thanksgiving must not cancel it.
    assert in_session(chi(2026, 11, 25, 23, 0), evening)


def test_24_hour_window():
    always = Session(start="00:00", end="00:00", days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
    now = chi(2026, 6, 9, 3, 0)
    assert in_session(now, always, respect_holidays=False)
    assert current_session_end(now, always, respect_holidays=False) == chi(2026, 6, 10, 0, 0)
    assert next_session_start(now, always, respect_holidays=False) == chi(2026, 6, 10, 0, 0)


def test_naive_datetime_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        in_session(datetime(2026, 6, 9, 10), RTH)


def test_any_now_timezone():
    now = datetime(2026, 6, 10, 0, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 10:00 CDT June 9
    assert in_session(now, RTH)
