"""What is worth telling people, rule by rule: an indicator or goal that turned red or came
back from red, a manual indicator whose value is due or overdue, a complaint past its
service level. Each rule reads the current state of its subjects and compares it with the
last state recorded (`AlertState`); only a change to a state worth reporting is an event.

A subject's state is one short word: colour "red" or "ok" (no data changes nothing: "no
data" is not a colour), manual "ok", "due" or "overdue", service level "ok" or "overdue"."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, Q
from django.urls import reverse

from crm_scorecard.crm.complaints import WORKING, service_level_hours
from crm_scorecard.crm.models import Complaint
from crm_scorecard.errors import Invalid
from crm_scorecard.periods import month_index, month_of, shift_months
from crm_scorecard.scorecards import selectors
from crm_scorecard.scorecards.models import Goal, Indicator, Scorecard
from crm_scorecard.scorecards.scoring import INTERVAL_MONTHS, Status

from .models import AlertState, Kind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One change worth reporting. `name` is what a person typed (an indicator's name, a
    complaint's id): text, escaped by every channel."""

    kind: str
    subject_type: str
    subject_id: int
    state: str
    previous: str | None
    change: (
        str  # "turned red", "back from red", "value due", "value overdue", "past its service level"
    )
    name: str
    detail: str
    department_id: int
    department: str
    path: str
    scorecard_id: int | None = None
    scorecard: str = ""
    goal_ids: tuple[int, ...] = ()  # the goal and the goals above it
    indicator_id: int | None = None
    owner: str = ""

    def item(self) -> dict[str, Any]:
        """As stored in a digest and returned by the API."""
        found = asdict(self)
        found["goal_ids"] = list(self.goal_ids)
        return found


@dataclass
class Findings:
    """A rule's answer: the events, and every state to record (changed ones only)."""

    events: list[Event] = field(default_factory=list)
    states: dict[tuple[str, int, str], str] = field(default_factory=dict)


def _recorded(subject_type: str, kind: str, ids: Iterable[int]) -> dict[int, str]:
    return dict(
        AlertState.objects.filter(
            subject_type=subject_type, kind=kind, subject_id__in=list(ids)
        ).values_list("subject_id", "state")
    )


def _above(parents: Mapping[int, int | None], goal_id: int | None) -> tuple[int, ...]:
    """The goal and the goals above it, nearest first."""
    chain: list[int] = []
    while goal_id is not None and goal_id not in chain:
        chain.append(goal_id)
        goal_id = parents.get(goal_id)
    return tuple(chain)


# ---- colour ---------------------------------------------------------------------------------


def colours(*, scorecards: Iterable[Scorecard]) -> Findings:
    """Indicators and goals of `scorecards` (scored for the month pages open on) that turned
    red since last recorded, or came back from red."""
    found = Findings()
    for scorecard in scorecards:
        try:
            ev = selectors.evaluation(scorecard=scorecard)
        except Invalid as exc:  # an unscorable scorecard shows its reason on its page
            log.warning("alerts: %s cannot be scored: %s", scorecard, exc)
            continue
        parents = dict(
            Goal.objects.filter(perspective__scorecard=scorecard).values_list("pk", "parent_id")
        )
        goal_of = dict(
            Indicator.objects.filter(goal__perspective__scorecard=scorecard).values_list(
                "pk", "goal_id"
            )
        )
        owners = dict(
            Indicator.objects.filter(goal__perspective__scorecard=scorecard).values_list(
                "pk", "owner"
            )
        )

        nodes = [n for n in ev.result.walk() if n.kind in ("goal", "indicator") and n.key]
        for subject_type in ("goal", "indicator"):
            mine = [n for n in nodes if n.kind == subject_type]
            before = _recorded(subject_type, Kind.COLOUR, (int(n.key) for n in mine))
            for node in mine:
                if node.status == Status.GREY:
                    continue  # no data: not a colour, nothing changes
                pk = int(node.key)
                state = "red" if node.status == Status.RED else "ok"
                previous = before.get(pk)
                if state == previous:
                    continue
                found.states[(subject_type, pk, Kind.COLOUR)] = state
                if state == "ok" and previous != "red":
                    continue  # first seen, or yellow/green as before
                score = "no score" if node.score is None else f"score {node.score:.0%}"
                is_indicator = subject_type == "indicator"
                found.events.append(
                    Event(
                        kind=Kind.COLOUR,
                        subject_type=subject_type,
                        subject_id=pk,
                        state=state,
                        previous=previous,
                        change="turned red" if state == "red" else f"back from red ({node.status})",
                        name=node.name,
                        detail=f"{score} in {ev.period}",
                        department_id=scorecard.department_id,
                        department=scorecard.department.name,
                        path=reverse("indicator-detail", args=[pk])
                        if is_indicator
                        else reverse("goal-detail", args=[scorecard.pk, pk]),
                        scorecard_id=scorecard.pk,
                        scorecard=scorecard.name,
                        goal_ids=_above(parents, goal_of.get(pk) if is_indicator else pk),
                        indicator_id=pk if is_indicator else None,
                        owner=owners.get(pk, "") if is_indicator else "",
                    )
                )
    return found


# ---- manual values --------------------------------------------------------------------------


def manual_state(*, last: datetime | Any | None, interval: str, now: datetime) -> str:
    """A manual indicator's state on `now`: each value covers `interval` (months); the value
    of a period is due once that period is over. With the last value for month L and an
    interval of n months, the next value (months L+n..L+2n-1) is due once those months are
    over, and overdue once another interval has passed without it. A value's month is the
    first month of the period it covers (a quarter's value is January's, April's...). No
    value ever: due."""
    if last is None:
        return "due"
    n = INTERVAL_MONTHS.get(interval, 1)
    complete = shift_months(month_of(now.date()), -1)  # the latest month that is over
    age = month_index(complete) - month_index(month_of(last))
    if age >= 3 * n - 1:
        return "overdue"
    return "due" if age >= 2 * n - 1 else "ok"


def manual_values(*, now: datetime, indicator_ids: Iterable[int] | None = None) -> Findings:
    """Manual indicators (values typed by people, not cascaded copies) whose next value is
    due or overdue since last recorded."""
    found = Findings()
    qs = Indicator.objects.filter(metric="", cascaded_from__isnull=True)
    if indicator_ids is not None:
        qs = qs.filter(pk__in=list(indicator_ids))
    rows = list(
        qs.select_related("goal__perspective__scorecard__department").annotate(
            last=Max("manual_values__period_start")
        )
    )
    before = _recorded("indicator", Kind.MANUAL, (i.pk for i in rows))
    parents = dict(
        Goal.objects.filter(
            perspective__scorecard__in={i.goal.perspective.scorecard_id for i in rows}
        ).values_list("pk", "parent_id")
    )
    for indicator in rows:
        state = manual_state(last=indicator.last, interval=indicator.update_interval, now=now)  # type: ignore[attr-defined]
        previous = before.get(indicator.pk)
        if state == previous:
            continue
        found.states[("indicator", indicator.pk, Kind.MANUAL)] = state
        if state == "ok":
            continue
        scorecard = indicator.goal.perspective.scorecard
        last = indicator.last  # type: ignore[attr-defined]
        found.events.append(
            Event(
                kind=Kind.MANUAL,
                subject_type="indicator",
                subject_id=indicator.pk,
                state=state,
                previous=previous,
                change=f"value {state}",
                name=indicator.name,
                detail=f"{indicator.get_update_interval_display().lower()}; last value for "
                + (month_of(last) if last else "no month yet"),
                department_id=scorecard.department_id,
                department=scorecard.department.name,
                path=reverse("indicator-detail", args=[indicator.pk]),
                scorecard_id=scorecard.pk,
                scorecard=scorecard.name,
                goal_ids=_above(parents, indicator.goal_id),
                indicator_id=indicator.pk,
                owner=indicator.owner,
            )
        )
    return found


# ---- complaints -----------------------------------------------------------------------------


def complaints(*, now: datetime) -> Findings:
    """Complaints still waiting for their department (open or in progress) that passed their
    service level (`CRM_COMPLAINT_SLA_HOURS`) since last recorded; one reported overdue that
    is no longer (resolved) is recorded as ok, so a reopened one is reported again."""
    found = Findings()
    late = Q(pk__in=[])
    sla = service_level_hours()
    for severity, limit in sla.items():
        late |= Q(severity=severity, opened_at__lt=now - timedelta(hours=limit))
    overdue = list(
        Complaint.objects.filter(late, status__in=WORKING)
        .select_related("department")
        .order_by("opened_at", "pk")
    )
    before = _recorded("complaint", Kind.SLA, (c.pk for c in overdue))
    for complaint in overdue:
        previous = before.get(complaint.pk)
        if previous == "overdue":
            continue
        found.states[("complaint", complaint.pk, Kind.SLA)] = "overdue"
        due = complaint.opened_at + timedelta(hours=sla[complaint.severity])
        found.events.append(
            Event(
                kind=Kind.SLA,
                subject_type="complaint",
                subject_id=complaint.pk,
                state="overdue",
                previous=previous,
                change="past its service level",
                name=complaint.external_id,
                detail=f"{complaint.get_severity_display()} {complaint.get_category_display().lower()}"
                f" complaint, due {due:%Y-%m-%d %H:%M} UTC",
                department_id=complaint.department_id,
                department=complaint.department.name,
                path=reverse("complaint-detail", args=[complaint.pk]),
            )
        )
    settled = AlertState.objects.filter(
        subject_type="complaint", kind=Kind.SLA, state="overdue"
    ).exclude(subject_id__in=[c.pk for c in overdue])
    for pk in settled.values_list("subject_id", flat=True):
        found.states[("complaint", pk, Kind.SLA)] = "ok"
    return found
