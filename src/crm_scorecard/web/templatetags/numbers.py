"""Numbers as people read them on the pages: values in their metric's unit, scores and
weights as percentages, and whose numbers an indicator shows. The JSON API keeps the raw
0–1 numbers; only pages and charts format."""

from __future__ import annotations

from django import template

from crm_scorecard.metrics.api import Unit, format_score, format_value

register = template.Library()

UNITS = {u.value for u in Unit}


def value_text(value: float | None, unit: str | None) -> str:
    """`value` in `unit`. A unit the registry does not know (free text on a manual
    indicator, such as "calls") follows the number as written."""
    unit = (unit or "").strip()
    if unit in UNITS:
        return format_value(value, unit)
    text = format_value(value, Unit.RATIO)
    return f"{text} {unit}" if unit and value is not None else text


def scope_text(scope: str | None) -> str:
    """Whose numbers a metric indicator shows, when they are not its scorecard department's
    own: "company-wide", "department Sales", "cascaded from Sales"; "" otherwise."""
    scope = (scope or "").strip()
    if scope in ("", "department"):
        return ""
    if scope == "company":
        return "company-wide"
    return scope


def percent_text(share: float | None, decimals: int = 0) -> str:
    """A 0–1 share (a weight, a gain) as a percentage."""
    if share is None:
        return "no data"
    text = f"{share * 100:.{decimals}f}"
    if decimals:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def points_text(change: float | None, decimals: int = 0) -> str:
    """A change of a 0–1 score in percentage points: "+3 pts", "−2 pts", "±0 pts"."""
    if change is None:
        return "no previous period"
    pts = round(change * 100, decimals)
    if pts == 0:
        return "±0 pts"
    text = f"{abs(pts):.{decimals}f}"
    if decimals:
        text = text.rstrip("0").rstrip(".")
    return f"{'+' if pts > 0 else '−'}{text} pts"


@register.filter
def in_unit(value: float | None, unit: str | None) -> str:
    """{{ node.value|in_unit:node.indicator.unit }} → "€597,141", "61.5%", "4:05"."""
    return value_text(value, unit)


@register.filter
def score(value: float | None) -> str:
    """{{ node.score|score }} → "73%"; no score reads "no data"."""
    return format_score(value)


@register.filter
def share(value: float | None, decimals: int = 0) -> str:
    """{{ node.absolute_weight|share:1 }} → "12.5%"."""
    return percent_text(value, decimals)


@register.filter
def points(value: float | None, decimals: int = 0) -> str:
    """{{ ev.change|points }} → "+3 pts"; {{ gain|points:1 }} → "+3.4 pts"."""
    return points_text(value, decimals)


@register.filter
def scope_tag(scope: str | None) -> str:
    """{{ node.indicator.scope|scope_tag }} → "company-wide", "cascaded from Sales" or ""."""
    return scope_text(scope)
