"""Calendar periods (crm_scorecard.periods): indexes, first days and month keys, with
every expected value worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest

from crm_scorecard.periods import (
    GRAINS,
    PeriodError,
    add_months,
    month_first,
    month_index,
    month_key,
    month_of,
    month_start_utc,
    period_index,
    period_start,
    shift_months,
)

# 2026-01-01 is 56 years after 1970-01-01, 14 of them leap years (1972 ... 2024):
# 56 * 365 + 14 = 20454 days.
NEW_YEAR_2026 = 20454


@pytest.mark.parametrize(
    ("day", "grain", "index", "start"),
    [
        # month: year * 12 + month - 1
        (date(2026, 3, 15), "month", 2026 * 12 + 2, date(2026, 3, 1)),
        (date(2026, 1, 1), "month", 24312, date(2026, 1, 1)),
        (date(2025, 12, 31), "month", 24311, date(2025, 12, 1)),
        # quarter: year * 4 + quarter - 1; the last day of a quarter and the first of the next
        (date(2026, 3, 31), "quarter", 8104, date(2026, 1, 1)),
        (date(2026, 4, 1), "quarter", 8105, date(2026, 4, 1)),
        (date(2026, 9, 30), "quarter", 8106, date(2026, 7, 1)),
        (date(2025, 12, 31), "quarter", 8103, date(2025, 10, 1)),
        # year: the year itself
        (date(2026, 7, 4), "year", 2026, date(2026, 1, 1)),
        # day: days since 1970-01-01, negative before it
        (date(1970, 1, 1), "day", 0, date(1970, 1, 1)),
        (date(1969, 12, 31), "day", -1, date(1969, 12, 31)),
        (date(2026, 1, 1), "day", NEW_YEAR_2026, date(2026, 1, 1)),
        # week: Monday to Sunday, week 0 starting Monday 1969-12-29 (1970-01-01 was a Thursday)
        (date(1969, 12, 29), "week", 0, date(1969, 12, 29)),
        (date(1970, 1, 4), "week", 0, date(1969, 12, 29)),  # its Sunday
        (date(1970, 1, 5), "week", 1, date(1970, 1, 5)),  # the next Monday
        (date(1969, 12, 28), "week", -1, date(1969, 12, 22)),  # the Sunday before week 0
        # 2026-01-01 (a Thursday) is in the week that began Monday 2025-12-29:
        # (20454 + 3) // 7 = 2922, starting on day 2922 * 7 - 3 = 20451.
        (date(2026, 1, 1), "week", 2922, date(2025, 12, 29)),
        (date(2025, 12, 29), "week", 2922, date(2025, 12, 29)),
        (date(2025, 12, 28), "week", 2921, date(2025, 12, 22)),
        # Wednesday 2026-12-02 is day 20454 + 334 + 1 = 20789: week (20789 + 3) // 7 = 2970,
        # which began on Monday 2026-11-30.
        (date(2026, 12, 2), "week", 2970, date(2026, 11, 30)),
    ],
)
def test_period_index_and_start(day: date, grain: str, index: int, start: date) -> None:
    # Given a day and a grain
    # When its period is indexed and the period's first day looked up
    got_index = period_index(day, grain)
    got_start = period_start(got_index, grain)
    # Then both are the hand-computed ones
    assert got_index == index
    assert got_start == start


def test_every_week_starts_on_a_monday() -> None:
    for indexes in (range(-3, 4), range(2965, 2975)):
        # Given consecutive weeks around 1970 or around today
        # When their first days are looked up
        starts = [period_start(i, "week") for i in indexes]
        # Then each is a Monday, seven days after the one before
        assert all(day.weekday() == 0 for day in starts)
        assert all(b - a == timedelta(days=7) for a, b in pairwise(starts))


def test_each_day_lies_in_its_period() -> None:
    # Given every day from 1968 to 2031 (leap years, the epoch and its week on both sides)
    first, last = date(1968, 1, 1), date(2031, 12, 31)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    for grain in GRAINS:
        for day in days:
            # When its period's first day and the next period's first day are looked up
            index = period_index(day, grain)
            start, following = period_start(index, grain), period_start(index + 1, grain)
            # Then the day lies between them, and the first day is in the same period
            assert start <= day < following, (grain, day)
            assert period_index(start, grain) == index, (grain, day)


@pytest.mark.parametrize("call", [period_start, period_index])
def test_unknown_grain_is_refused_by_name(call) -> None:
    # Given a grain that does not exist
    argument = 3 if call is period_start else date(2026, 1, 1)
    # When a period is asked for at it
    with pytest.raises(PeriodError) as refused:
        call(argument, "fortnight")
    # Then the error names it and the grains there are
    assert "unknown grain 'fortnight'" in str(refused.value)
    assert "day, week, month, quarter, year" in str(refused.value)


def test_month_keys() -> None:
    # Given months as keys, indexes and days
    # When converted each way
    # Then the hand-computed values come back
    assert month_index("2026-03") == 24314
    assert month_index("2026-03-15") == 24314  # a date is read as its month
    assert month_index("0000-01") == 0
    assert month_key(24314) == "2026-03"
    assert month_key(24311) == "2025-12"
    assert month_key(0) == "0000-01"
    assert month_of(date(2026, 12, 2)) == "2026-12"
    assert month_first("2026-02") == date(2026, 2, 1)


@pytest.mark.parametrize("key", ["2026-13", "2026-00", "2026", "March", "", "2026-xx"])
def test_malformed_month_key_is_refused(key: str) -> None:
    # Given something that is not a YYYY-MM month
    # When it is read as one
    with pytest.raises(PeriodError) as refused:
        month_index(key)
    # Then the error quotes it and says what was expected
    assert str(refused.value) == f"{key!r} is not a month (YYYY-MM)"


def test_shifting_months_crosses_years() -> None:
    # Given months near the turn of a year
    # When shifted forwards and backwards
    # Then the year rolls over
    assert shift_months("2026-11", 3) == "2027-02"
    assert shift_months("2026-01", -1) == "2025-12"
    assert shift_months("2026-01", -13) == "2024-12"
    assert shift_months("2026-05", 0) == "2026-05"


def test_add_months_keeps_day_and_time() -> None:
    # Given a moment in November
    moment = datetime(2026, 11, 15, 9, 30, tzinfo=UTC)
    # When two months are added, and then taken away
    later, earlier = add_months(moment, 2), add_months(moment, -11)
    # Then the day, time and zone stay, across the year
    assert later == datetime(2027, 1, 15, 9, 30, tzinfo=UTC)
    assert earlier == datetime(2025, 12, 15, 9, 30, tzinfo=UTC)


def test_add_months_refuses_a_day_the_month_lacks() -> None:
    # Given the 31st of January
    moment = datetime(2026, 1, 31, tzinfo=UTC)
    # When a month is added (February has no 31st)
    # Then it is refused rather than moved to another day
    with pytest.raises(ValueError, match="day is out of range"):
        add_months(moment, 1)


def test_month_start_utc() -> None:
    # Given a year and month
    # When its start is asked for
    start = month_start_utc(2026, 3)
    # Then it is midnight UTC on the 1st
    assert start == datetime(2026, 3, 1, tzinfo=UTC)
    assert start.utcoffset() == timedelta(0)
