"""What a metric's numbers are, and how people read them: every metric declares one unit,
and pages, exports and charts format its values by it."""

from __future__ import annotations

import math

from django.conf import settings
from django.db import models


class Unit(models.TextChoices):
    """How a metric's values read. Rates are stored as fractions (0.25) and shown as
    percentages (25%); scores keep their own scale."""

    CURRENCY = "currency", "Currency"
    PERCENT = "percent", "Percent (stored as 0–1)"
    RATIO = "ratio", "Ratio"
    COUNT = "count", "Count"
    SECONDS = "seconds", "Duration in seconds"
    HOURS = "hours", "Duration in hours"
    SCORE = "score", "Score 1–5"
    NPS = "nps", "Net promoter score −100..100"


CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF ", "INR": "₹"}


def currency_symbol() -> str:
    """The symbol for the CRM_CURRENCY setting (default EUR); an unknown code is shown as is."""
    code = str(getattr(settings, "CRM_CURRENCY", "EUR") or "EUR").upper()
    return CURRENCY_SYMBOLS.get(code, f"{code} ")


def _number(value: float, decimals: int) -> str:
    text = f"{value:,.{decimals}f}"
    if decimals and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_value(value: float | None, unit: str) -> str:
    """`value` as a person reads it in `unit`: thousand separators, at most two decimals,
    rates as percentages, durations as m:ss or hours. No data reads "no data", never 0."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    minus = "−" if value < 0 else ""
    size = abs(value)
    if unit == Unit.CURRENCY:
        return f"{minus}{currency_symbol()}{_number(size, 0 if size >= 1000 else 2)}"
    if unit == Unit.PERCENT:
        return f"{minus}{_number(size * 100, 1)}%"
    if unit == Unit.SECONDS:
        whole = round(size)
        hours, rest = divmod(whole, 3600)
        minutes, seconds = divmod(rest, 60)
        if hours:
            return f"{minus}{hours}:{minutes:02d}:{seconds:02d}"
        return f"{minus}{minutes}:{seconds:02d}"
    if unit == Unit.HOURS:
        return f"{minus}{_number(size, 1)} h"
    if unit == Unit.SCORE:
        return f"{minus}{_number(size, 2)} / 5"
    if unit == Unit.NPS:
        return f"{'−' if value < 0 else '+' if value > 0 else ''}{_number(size, 1)}"
    if unit == Unit.COUNT:
        return f"{minus}{_number(size, 0 if size == int(size) else 1)}"
    return f"{minus}{_number(size, 2)}"


def format_score(score: float | None) -> str:
    """A 0–1 score as a percentage; no score reads "no data"."""
    if score is None:
        return "no data"
    return f"{round(score * 100)}%"
