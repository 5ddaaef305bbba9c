from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk_manager.config.models import TradingDay
from risk_manager.schedule.trading_day import (
    next_reset,
    resets_between,
    trading_day_bounds,
    trading_day_of,
)

CHI = ZoneInfo("America/Chicago")
TD = TradingDay()


def chi(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHI)


def test_day_named_by_its_end_date():
    # Sunday 17:00 CT .. Monday 17:00 CT is Monday's trading day.
    assert trading_day_of(chi(2026, 3, 1, 17, 0), TD) == date(2026, 3, 2)
    assert trading_day_of(chi(2026, 3, 2, 16, 59, 59), TD) == date(2026, 3, 2)
    assert trading_day_of(chi(2026, 3, 2, 17, 0), TD) == date(2026, 3, 3)
    assert trading_day_of(chi(2026, 3, 2, 0, 0), TD) == date(2026, 3, 2)


def test_bounds_are_utc_and_contain_now():
    now = chi(2026, 6, 10, 9, 30)
    start, end = trading_day_bounds(now, TD)
    assert start == datetime(2026, 6, 9, 22, 0, tzinfo=UTC)  # 17:00 CDT = 22:00 UTC
    assert end == datetime(2026, 6, 10, 22, 0, tzinfo=UTC)
    assert start.tzinfo is UTC and start <= now < end
    assert next_reset(now, TD) == end


def test_any_input_timezone_gives_same_answer():
    now_utc = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)  # 17:30 CST
    now_tokyo = now_utc.astimezone(ZoneInfo("Asia/Tokyo"))
    assert trading_day_of(now_utc, TD) == trading_day_of(now_tokyo, TD) == date(2026, 1, 16)


def test_naive_datetime_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        trading_day_of(datetime(2026, 1, 1, 12), TD)


@pytest.mark.parametrize("dst_day", [date(2026, 3, 8), date(2026, 11, 1)])
def test_reset_on_dst_day_happens_once_at_1700_local(dst_day):
    after = datetime.combine(dst_day - timedelta(days=1), time(12), tzinfo=CHI)
    until = datetime.combine(dst_day + timedelta(days=1), time(12), tzinfo=CHI)
    resets = resets_between(after, until, TD)
    assert len(resets) == 2  # the evening before and the DST day itself
    on_day = [r for r in resets if r.astimezone(CHI).date() == dst_day]
    assert len(on_day) == 1
    local = on_day[0].astimezone(CHI)
    assert (local.hour, local.minute) == (17, 0)
    # The trading day that ends on the DST day is 23 h (spring) or 25 h (fall) long.
    start, end = trading_day_bounds(on_day[0] - timedelta(seconds=1), TD)
    expected_hours = 23 if dst_day.month == 3 else 25
    assert end - start == timedelta(hours=expected_hours)


def test_resets_between_each_reset_once_and_half_open():
    after = chi(2026, 3, 2, 17, 0)  # exactly a reset: excluded
    until = chi(2026, 3, 12, 17, 0)  # exactly a reset: included
    resets = resets_between(after, until, TD)
    assert len(resets) == 10 == len(set(resets))
    assert resets == sorted(resets)
    assert resets[0] == chi(2026, 3, 3, 17, 0) and resets[-1] == until
    assert all(r.astimezone(CHI).time() == time(17, 0) for r in resets)
    assert resets_between(until, until, TD) == []
    assert resets_between(until, after, TD) == []


def test_resets_between_spanning_a_year_of_dst():
    resets = resets_between(chi(2025, 12, 31, 18), chi(2026, 12, 31, 18), TD)
    assert len(resets) == 365
    assert all(r.astimezone(CHI).time() == time(17, 0) for r in resets)


def test_reset_in_spring_forward_gap_fires_once():
    td = TradingDay(reset_time="02:30", timezone="America/Chicago")  # 02:30 does not exist on 3/8
    resets = resets_between(chi(2026, 3, 7, 12), chi(2026, 3, 9, 12), td)
    assert len(resets) == 2
    assert resets[0] == datetime(2026, 3, 8, 8, 30, tzinfo=UTC)  # 03:30 CDT, just after the gap


def test_reset_in_repeated_hour_fires_once():
    td = TradingDay(reset_time="01:30", timezone="America/Chicago")  # 01:30 happens twice on 11/1
    resets = resets_between(chi(2026, 10, 31, 12), chi(2026, 11, 2, 12), td)
    assert len(resets) == 2
    assert resets[0] == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # first 01:30 (CDT)
    second_0115 = datetime(2026, 11, 1, 7, 15, tzinfo=UTC)  # 01:15 CST, after the reset
    assert trading_day_bounds(second_0115, td)[0] == resets[0]


def test_midnight_reset_names_day_by_its_start():
    td = TradingDay(reset_time="00:00", timezone="Europe/London")
    now = datetime(2026, 7, 1, 13, tzinfo=ZoneInfo("Europe/London"))
    assert trading_day_of(now, td) == date(2026, 7, 1)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(["17:00", "00:00", "02:30", "01:30", "23:59"]),
    st.sampled_from(["America/Chicago", "America/New_York", "Europe/London", "Australia/Sydney", "UTC"]),
)
def test_bounds_properties(now, reset, tz):
    td = TradingDay(reset_time=reset, timezone=tz)
    start, end = trading_day_bounds(now, td)
    assert start <= now < end
    assert timedelta(hours=22) <= end - start <= timedelta(hours=26)
    assert trading_day_bounds(start, td) == (start, end)
    assert trading_day_bounds(end, td)[0] == end
    assert resets_between(start - timedelta(microseconds=1), end, td) == [start, end]
