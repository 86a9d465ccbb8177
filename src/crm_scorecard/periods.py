"""Calendar periods, one definition for every layer.

A period is identified two ways:
- an integer **index** per grain, consecutive for consecutive periods (month:
  ``year * 12 + month - 1``; quarter: ``year * 4 + quarter - 1``; year: the year; day:
  days since 1970-01-01; ISO-like week: weeks since the Monday 1969-12-29). The engine
  groups by it and stores it.
- a **key** ``"YYYY-MM"`` for a month, as pages, files and the scorecards use.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

GRAINS = ("day", "week", "month", "quarter", "year")
EPOCH = date(1970, 1, 1)

Period = str  # "YYYY-MM"


class PeriodError(ValueError):
    """An unknown grain or a malformed period key."""


def period_start(index: int, grain: str) -> date:
    """The first day of the period with this index."""
    match grain:
        case "month":
            return date(index // 12, index % 12 + 1, 1)
        case "quarter":
            return date(index // 4, (index % 4) * 3 + 1, 1)
        case "year":
            return date(index, 1, 1)
        case "day":
            return EPOCH + timedelta(days=index)
        case "week":
            return EPOCH + timedelta(days=7 * index - 3)
    raise PeriodError(f"unknown grain {grain!r}; use one of {', '.join(GRAINS)}")


def period_index(day: date, grain: str) -> int:
    """The index of the period holding `day`."""
    match grain:
        case "month":
            return day.year * 12 + day.month - 1
        case "quarter":
            return day.year * 4 + (day.month - 1) // 3
        case "year":
            return day.year
        case "day":
            return (day - EPOCH).days
        case "week":
            return ((day - EPOCH).days + 3) // 7
    raise PeriodError(f"unknown grain {grain!r}; use one of {', '.join(GRAINS)}")


def month_index(period: Period) -> int:
    """The month index of a ``"YYYY-MM"`` key (``"YYYY-MM-DD"`` is read as its month)."""
    try:
        year, month = period.split("-")[:2]
        index = int(year) * 12 + int(month) - 1
    except ValueError:
        raise PeriodError(f"{period!r} is not a month (YYYY-MM)") from None
    if not 1 <= int(month) <= 12:
        raise PeriodError(f"{period!r} is not a month (YYYY-MM)")
    return index


def month_key(index: int) -> Period:
    """The ``"YYYY-MM"`` key of a month index."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_of(day: date) -> Period:
    """The ``"YYYY-MM"`` key of the month holding `day`."""
    return f"{day.year:04d}-{day.month:02d}"


def month_first(period: Period) -> date:
    """The first day of a ``"YYYY-MM"`` month."""
    return period_start(month_index(period), "month")


def shift_months(period: Period, months: int) -> Period:
    """The month `months` after (or before, when negative) `period`."""
    return month_key(month_index(period) + months)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later; the day must exist in the target month."""
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1)


def month_start_utc(year: int, month: int) -> datetime:
    """Midnight UTC on the first of the month."""
    return datetime(year, month, 1, tzinfo=UTC)
