"""The audit trail of scorecards: every change to a definition (targets, weights,
thresholds, metrics and filters, links, initiatives) and every manual value, with who made
it, when, and the value before and after. django-simple-history writes one historical row
per save or delete; this module says who is acting (`acting`) and reads the rows back as
sentences people read ("target changed from 1,000 to 800 by sales-manager on 2 Dec 2026,
14:03"), values in the indicator's unit.

Nothing here changes a historical row: the trail is read-only in the app (the admin shows
it without revert; no page edits it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Model, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from crm_scorecard.accounts.scope import Actor
from crm_scorecard.metrics.api import Unit, format_value

from .models import (
    Goal,
    GoalLink,
    Indicator,
    IndicatorComment,
    Initiative,
    ManualValue,
    Perspective,
    Scorecard,
    TargetPoint,
)

MOST = 200  # changes shown on a page, newest first
STARTED = "the audit trail started"  # the reason on the rows migration 0003 wrote
OPERATOR = "an operator"  # no signed-in user: the command line or a scheduled job
UNITS = {u.value for u in Unit}


# ---- who is acting ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Acting:
    """What simple-history reads the acting user from (`context.request.user`)."""

    user: Actor


@contextmanager
def acting(actor: Actor | None) -> Iterator[None]:
    """Record the changes made inside as `actor`'s. Services wrap their writes in it, so the
    API (a token's user), the admin and the pages all name the person who acted. Without a
    signed-in actor, the request's user that simple-history's middleware set stands (a
    page), and with neither the rows name nobody: an operator at the command line."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        yield
        return
    context = HistoricalRecords.context
    before = getattr(context, "request", None)
    context.request = _Acting(actor)
    try:
        yield
    finally:
        if before is None:
            del context.request
        else:
            context.request = before


# ---- the trail as sentences ---------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One recorded change: what changed (`text`, e.g. "target changed from 1,000 to
    800"), by whom (a username, or `OPERATOR`) and when."""

    text: str
    who: str
    when: datetime

    @property
    def when_text(self) -> str:
        """In the site's time zone: "2 Dec 2026, 14:03"."""
        local = timezone.localtime(self.when)
        return f"{local.day} {local:%b %Y, %H:%M}"

    @property
    def sentence(self) -> str:
        return f"{self.text} by {self.who} on {self.when_text}"


def _value_text(value: float | None, unit: str) -> str:
    unit = (unit or "").strip()
    if unit in UNITS:
        return format_value(value, unit)
    text = format_value(value, Unit.RATIO)
    return f"{text} {unit}" if unit and value is not None else text


def _number(value: Any) -> str:
    return "none" if value is None else f"{value:g}"


def _share(value: Any) -> str:
    return "none" if value is None else f"{value * 100:g}%"


def _month(day: date | None) -> str:
    return "none" if day is None else f"{day:%Y-%m}"


def _plain(value: Any) -> str:
    if value is None or value == "":
        return "nothing"
    if isinstance(value, Decimal):
        return format_value(float(value), Unit.CURRENCY)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


Formatter = Callable[[Any], str]

# How each field of a definition is named in a sentence and how its values read (fields
# not listed, such as positions, are not worth a sentence).
_INDICATOR_FIELDS: dict[str, tuple[str, str]] = {
    # field: (name in the sentence, how its value reads: unit, number, share or plain)
    "name": ("name", "plain"),
    "metric": ("metric", "plain"),
    "scope": ("scope", "plain"),
    "filter_dimension": ("filter dimension", "plain"),
    "filter_value": ("filter value", "plain"),
    "unit": ("unit", "plain"),
    "owner": ("owner", "plain"),
    "optimization": ("optimization", "plain"),
    "baseline": ("baseline", "unit"),
    "target": ("target", "unit"),
    "min": ("minimum", "unit"),
    "max": ("maximum", "unit"),
    "tolerance": ("tolerance", "unit"),
    "weight": ("weight", "number"),
    "green": ("green threshold", "share"),
    "yellow": ("yellow threshold", "share"),
    "update_interval": ("update interval", "plain"),
    "kind": ("kind", "plain"),
    "goal": ("goal", "goal"),
}
_GOAL_FIELDS: dict[str, tuple[str, str]] = {
    "name": ("name", "plain"),
    "weight": ("weight", "number"),
    "parent": ("parent goal", "goal"),
}
_SCORECARD_FIELDS: dict[str, tuple[str, str]] = {
    "name": ("name", "plain"),
    "mission": ("mission", "plain"),
    "green": ("green threshold", "share"),
    "yellow": ("yellow threshold", "share"),
}
_PERSPECTIVE_FIELDS: dict[str, tuple[str, str]] = {
    "name": ("name", "plain"),
    "weight": ("weight", "number"),
}
_INITIATIVE_FIELDS: dict[str, tuple[str, str]] = {
    "name": ("name", "plain"),
    "owner": ("owner", "plain"),
    "start": ("start", "plain"),
    "due": ("due date", "plain"),
    "budget": ("budget", "plain"),
    "status": ("status", "plain"),
}


def _who(record: Any) -> str:
    user = record.history_user
    return user.get_username() if user is not None else OPERATOR


def _by_object(records: Iterable[Any]) -> Iterator[tuple[Any | None, Any]]:
    """(the object's previous record or None, the record) for each record, oldest first.
    The rows written when the trail started (for what existed then) are only a "before"."""
    last: dict[int, Any] = {}
    for record in sorted(records, key=lambda r: (r.history_date, r.history_id)):
        if record.history_change_reason != STARTED:
            yield last.get(record.id), record
        last[record.id] = record


def _field_changes(
    before: Any, after: Any, fields: dict[str, tuple[str, str]], formats: dict[str, Formatter]
) -> list[str]:
    """ "<field> changed from <old> to <new>" for each named field that differs."""
    texts = []
    for field, (label, kind) in fields.items():
        old, new = getattr(before, f"{field}_id", None), getattr(after, f"{field}_id", None)
        if not hasattr(after, f"{field}_id"):
            old, new = getattr(before, field), getattr(after, field)
        if old != new:
            show = formats[kind]
            texts.append(f"{label} changed from {show(old)} to {show(new)}")
    return texts


def _history(model: type[Model]) -> Any:
    return model.history.model  # type: ignore[attr-defined]


def _records(model: type[Model], where: Q) -> list[Any]:
    return list(_history(model).objects.filter(where).select_related("history_user"))


def _goal_names(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    return dict(Goal.objects.filter(pk__in=wanted).values_list("pk", "name")) if wanted else {}


def _newest(changes: list[Change]) -> list[Change]:
    return sorted(changes, key=lambda c: c.when, reverse=True)[:MOST]


def indicator_changes(*, indicator: Indicator, unit: str) -> list[Change]:
    """What was changed on an indicator, newest first: its definition, its targets from a
    month on, its manual values, and comments on its values added or deleted. Values read
    in `unit` (the indicator's, or its metric's). The caller has checked that the reader
    may see the indicator (`selectors.indicator_get`)."""
    own = _records(Indicator, Q(id=indicator.pk))
    names = _goal_names(r.goal_id for r in own)
    formats: dict[str, Formatter] = {
        "unit": lambda v: _value_text(v, unit),
        "number": _number,
        "share": _share,
        "plain": _plain,
        "goal": lambda v: names.get(v, "a goal since removed") if v else "none",
    }
    changes: list[Change] = []
    for before, record in _by_object(own):
        if record.history_type == "+":
            text = f"indicator created with target {formats['unit'](record.target)}"
            changes.append(Change(text, _who(record), record.history_date))
        elif record.history_type == "~" and before is not None:
            changes += [
                Change(text, _who(record), record.history_date)
                for text in _field_changes(before, record, _INDICATOR_FIELDS, formats)
            ]
    show = formats["unit"]
    for before, record in _by_object(_records(TargetPoint, Q(indicator_id=indicator.pk))):
        month = _month(record.period_start)
        if record.history_type == "-":
            text = f"target from {month} ({show(record.target)}) removed"
        elif record.history_type == "+" or before is None:
            text = f"target from {month} set to {show(record.target)}"
        elif before.target != record.target:
            text = (
                f"target from {month} changed from {show(before.target)} to {show(record.target)}"
            )
        else:
            continue
        changes.append(Change(text, _who(record), record.history_date))
    for before, record in _by_object(_records(ManualValue, Q(indicator_id=indicator.pk))):
        month = _month(record.period_start)
        if record.history_type == "-":
            text = f"value for {month} ({show(record.value)}) removed"
        elif record.history_type == "+" or before is None:
            text = f"value for {month} entered as {show(record.value)}"
        elif before.value != record.value:
            text = f"value for {month} changed from {show(before.value)} to {show(record.value)}"
        else:
            continue
        changes.append(Change(text, _who(record), record.history_date))
    for _, record in _by_object(_records(IndicatorComment, Q(indicator_id=indicator.pk))):
        month = _month(record.period_start)
        if record.history_type == "+":
            text = f"comment on {month} added"
        elif record.history_type == "-":
            text = f"comment on {month} deleted"
        else:
            continue
        changes.append(Change(text, _who(record), record.history_date))
    return _newest(changes)


def goal_changes(*, goal: Goal) -> list[Change]:
    """What was changed on a goal, newest first: its name, weight and place in the tree;
    indicators added, removed or reweighted; its initiatives; its cause-and-effect links.
    The caller has checked that the reader may see the goal (`selectors.goal_get`)."""
    own = _records(Goal, Q(id=goal.pk))
    links = _records(GoalLink, Q(cause_id=goal.pk) | Q(effect_id=goal.pk))
    names = _goal_names(
        [r.parent_id for r in own] + [r.cause_id for r in links] + [r.effect_id for r in links]
    )
    formats: dict[str, Formatter] = {
        "number": _number,
        "plain": _plain,
        "goal": lambda v: names.get(v, "a goal since removed") if v else "none",
    }
    changes: list[Change] = []
    for before, record in _by_object(own):
        if record.history_type == "+":
            changes.append(Change("goal created", _who(record), record.history_date))
        elif record.history_type == "~" and before is not None:
            changes += [
                Change(text, _who(record), record.history_date)
                for text in _field_changes(before, record, _GOAL_FIELDS, formats)
            ]
    for before, record in _by_object(_records(Indicator, Q(goal_id=goal.pk))):
        name = f"indicator {record.name!r}"
        if record.history_type == "-":
            text = f"{name} removed"
        elif record.history_type == "+":
            text = f"{name} added"
        elif before is not None and before.weight != record.weight:
            text = (
                f"{name}: weight changed from {_number(before.weight)} to {_number(record.weight)}"
            )
        else:
            continue
        changes.append(Change(text, _who(record), record.history_date))
    for before, record in _by_object(_records(Initiative, Q(goal_id=goal.pk))):
        name = f"initiative {record.name!r}"
        if record.history_type == "-":
            changes.append(Change(f"{name} removed", _who(record), record.history_date))
        elif record.history_type == "+":
            changes.append(Change(f"{name} added", _who(record), record.history_date))
        elif before is not None:
            changes += [
                Change(f"{name}: {text}", _who(record), record.history_date)
                for text in _field_changes(before, record, _INITIATIVE_FIELDS, formats)
            ]
    for _, record in _by_object(links):
        cause = names.get(record.cause_id, "a goal since removed")
        effect = names.get(record.effect_id, "a goal since removed")
        if record.history_type in "+-":
            done = "added" if record.history_type == "+" else "removed"
            text = f"link {cause} → {effect} {done}"
            changes.append(Change(text, _who(record), record.history_date))
    return _newest(changes)


def scorecard_changes(*, scorecard: Scorecard) -> list[Change]:
    """What was changed on a scorecard itself, newest first: its name, mission and
    stop-light thresholds, its perspectives (added, removed, renamed, reweighted) and its
    goals added or removed (a goal's own changes are on the goal's page). The caller has
    checked that the reader may see the scorecard (`selectors.scorecard_get`)."""
    formats: dict[str, Formatter] = {"number": _number, "share": _share, "plain": _plain}
    changes: list[Change] = []
    for before, record in _by_object(_records(Scorecard, Q(id=scorecard.pk))):
        if record.history_type == "+":
            changes.append(Change("scorecard created", _who(record), record.history_date))
        elif record.history_type == "~" and before is not None:
            changes += [
                Change(text, _who(record), record.history_date)
                for text in _field_changes(before, record, _SCORECARD_FIELDS, formats)
            ]
    perspectives = _records(Perspective, Q(scorecard_id=scorecard.pk))
    for before, record in _by_object(perspectives):
        name = f"perspective {record.name!r}"
        if record.history_type in "+-":
            done = "added" if record.history_type == "+" else "removed"
            changes.append(Change(f"{name} {done}", _who(record), record.history_date))
        elif before is not None:
            changes += [
                Change(f"perspective {before.name!r}: {text}", _who(record), record.history_date)
                for text in _field_changes(before, record, _PERSPECTIVE_FIELDS, formats)
            ]
    ids = {r.id for r in perspectives}
    for _, record in _by_object(_records(Goal, Q(perspective_id__in=ids))):
        if record.history_type in "+-":
            done = "added" if record.history_type == "+" else "removed"
            text = f"goal {record.name!r} {done}"
            changes.append(Change(text, _who(record), record.history_date))
    return _newest(changes)
