import json
from datetime import date, time, timedelta

import holidays
import pytest

from risk_manager.schedule.calendar import CalendarDataError, load_calendar, parse_calendar

CAL = load_calendar()


def test_covers_current_and_next_year():
    # Uses the real date on purpose: this fails when the data file needs next year's calendar.
    this_year = date.today().year
    missing = {this_year, this_year + 1} - CAL.years()
    assert not missing, (
        f"schedule/data/cme_calendar.json lacks {sorted(missing)}: add the CME holidays and early "
        "closes for those years (see the policy in the file)"
    )


@pytest.mark.parametrize(
    ("day", "closed", "early"),
    [
        (date(2026, 1, 1), True, None),  # New Year's Day
        (date(2026, 1, 19), False, time(12)),  # MLK
        (date(2026, 4, 3), True, None),  # Good Friday
        (date(2026, 7, 3), False, time(12)),  # July 4 is a Saturday
        (date(2026, 11, 26), True, None),  # Thanksgiving
        (date(2026, 11, 27), False, time(12)),  # the Friday after
        (date(2026, 12, 24), False, time(12)),  # Christmas Eve
        (date(2026, 12, 25), True, None),
        (date(2027, 6, 18), False, time(12)),  # Juneteenth (Saturday) observed Friday
        (date(2027, 7, 5), True, None),  # July 4 is a Sunday
        (date(2027, 12, 24), True, None),  # Christmas (Saturday) observed Friday
        (date(2026, 12, 23), False, None),  # a normal day
    ],
)
def test_known_days(day, closed, early):
    assert CAL.is_holiday(day) is closed
    assert CAL.early_close(day) == early
    assert (CAL.holiday_name(day) is not None) == (closed or early is not None)


def test_every_entry_is_a_weekday():
    assert all(d.weekday() < 5 for d in CAL.days)


def test_matches_holidays_package_cme_calendar():
    for year in sorted(CAL.years()):
        cme = holidays.financial_holidays("XCME", years=[year], categories=("public", "half_day"))
        expected_closed = {d for d, n in cme.items() if d.weekday() < 5 and "pause" not in n}
        expected_early = {d for d, n in cme.items() if d.weekday() < 5 and "12:00pm CT" in n}
        ours_closed = {d for d in CAL.days if d.year == year and CAL.is_holiday(d)}
        ours_early = {d for d in CAL.days if d.year == year and CAL.early_close(d) is not None}
        assert ours_closed == expected_closed, year
        assert ours_early == expected_early, year
        assert all(CAL.early_close(d) == time(12) for d in ours_early)


def test_every_nyse_holiday_is_closed_or_early_and_every_closure_is_an_nyse_holiday():
    for year in sorted(CAL.years()):
        nyse = set(holidays.financial_holidays("NYSE", years=[year]))
        listed = {d for d in CAL.days if d.year == year}
        closed = {d for d in listed if CAL.is_holiday(d)}
        assert nyse <= listed, (year, sorted(nyse - listed))
        assert closed <= nyse, (year, sorted(closed - nyse))


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> date:
    # Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741
    m = (a + 11 * h + 22 * l) // 451
    month = (h + l - 7 * m + 114) // 31
    day = (h + l - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def _observed(day: date, saturday_to_friday: bool) -> date | None:
    if day.weekday() == 6:
        return day + timedelta(days=1)
    if day.weekday() == 5:
        return day - timedelta(days=1) if saturday_to_friday else None
    return day


def test_matches_independent_rule_derivation():
    mon, thu = 0, 3
    for year in sorted(CAL.years()):
        thanksgiving = _nth_weekday(year, 11, thu, 4)
        christmas = date(year, 12, 25)
        closed = {
            _observed(date(year, 1, 1), False),
            _easter(year) - timedelta(days=2),
            _observed(date(year, 7, 4), False),
            thanksgiving,
            _observed(christmas, True),
        } - {None}
        early = {
            _nth_weekday(year, 1, mon, 3),
            _nth_weekday(year, 2, mon, 3),
            _last_weekday(year, 5, mon),
            _observed(date(year, 6, 19), True),
            _nth_weekday(year, 9, mon, 1),
            thanksgiving + timedelta(days=1),
        }
        if date(year, 7, 3).weekday() < 5:
            early.add(date(year, 7, 3))
        if christmas.weekday() in (1, 2, 3, 4):
            early.add(christmas - timedelta(days=1))
        assert {d for d in CAL.days if d.year == year and CAL.is_holiday(d)} == closed, year
        assert {d for d in CAL.days if d.year == year and CAL.early_close(d)} == early, year


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ([{"date": "2026-01-01", "kind": "shut", "name": "x"}], "kind must be"),
        ([{"date": "2026-13-01", "kind": "closed", "name": "x"}], r"days\[0\]"),
        ([{"date": "2026-01-02", "kind": "early_close", "name": "x"}], "close"),
        ([{"date": "2025-01-02", "kind": "closed", "name": "x"}], "outside the declared years"),
        ([{"date": "2026-01-02", "kind": "closed", "name": "x"}] * 2, "listed twice"),
    ],
)
def test_bad_data_is_a_clear_error(days, message):
    with pytest.raises(CalendarDataError, match=message):
        parse_calendar(json.loads(json.dumps({"years": [2026], "days": days})))
