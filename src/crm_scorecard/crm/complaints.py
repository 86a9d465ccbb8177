"""Working complaints through: logging one from the customer 360, moving it open → in progress
→ resolved → closed (or reopening it), each step recorded, and the responsible department's
queue with due times from the service level (`CRM_COMPLAINT_SLA_HOURS`, hours per severity).

Services (`complaint_log`, `complaint_move`, `complaint_note`) check who may act and write
atomically; selectors take the acting user and start from what that user may see: a
complaint is seen by the department responsible for it (and the departments above it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, DateTimeField, ExpressionWrapper, F, QuerySet, When
from django.utils import timezone

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.accounts.scope import Actor, restrict, visible_department_ids
from crm_scorecard.errors import NotAllowed, NotFound

from .models import (
    Complaint,
    ComplaintCategory,
    ComplaintEvent,
    ComplaintStatus,
    Customer,
    Interaction,
    Order,
    Severity,
)
from .selectors import customers_visible

S = ComplaintStatus
# Where a complaint may go from each status. Reopening takes a resolved or closed
# complaint back to open.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.OPEN: (S.IN_PROGRESS,),
    S.IN_PROGRESS: (S.RESOLVED,),
    S.RESOLVED: (S.CLOSED, S.OPEN),
    S.CLOSED: (S.OPEN,),
}
WORKING = (S.OPEN, S.IN_PROGRESS)  # what a department's queue holds
# Levels that work complaints; analysts and executives read only.
WORKERS = (Level.MANAGER, Level.AGENT)


# ---- service level --------------------------------------------------------------------------


def service_level_hours() -> dict[str, int]:
    """Hours each severity may take from logging to resolution (settings)."""
    return {str(k): int(v) for k, v in settings.CRM_COMPLAINT_SLA_HOURS.items()}


def complaint_due_at(complaint: Complaint) -> datetime | None:
    """When the complaint must be resolved by, or None for a severity without a service level."""
    hours = service_level_hours().get(complaint.severity)
    return None if hours is None else complaint.opened_at + timedelta(hours=hours)


def complaint_overdue(complaint: Complaint, *, now: datetime | None = None) -> bool:
    """Still waiting for its department (open or in progress) and past its due time."""
    due = complaint_due_at(complaint)
    return complaint.status in WORKING and due is not None and due < (now or timezone.now())


def _due_expression() -> Case:
    """The due time in the database, so a queue sorts by it without reading every row."""
    return Case(
        *[
            When(
                severity=severity,
                then=ExpressionWrapper(
                    F("opened_at") + timedelta(hours=hours), output_field=DateTimeField()
                ),
            )
            for severity, hours in service_level_hours().items()
        ],
        default=None,
        output_field=DateTimeField(),
    )


def transition_label(to_status: str, from_status: str) -> str:
    """What a move is called: reopening has its own name."""
    if to_status == S.OPEN and from_status in (S.RESOLVED, S.CLOSED):
        return "Reopen"
    return f"Move to {S(to_status).label.lower()}"


# ---- who may act ----------------------------------------------------------------------------


def _is_worker(user: Actor) -> bool:
    return (
        isinstance(user, User)
        and user.is_authenticated
        and user.is_active
        and user.level in WORKERS
    )


def complaint_may_log(*, user: Actor) -> bool:
    """Agents and managers log complaints for the customers they see."""
    return _is_worker(user)


def complaint_may_move(*, user: Actor, complaint: Complaint) -> bool:
    """Agents and managers of the responsible department (or a department above it) move
    its complaints; analysts and executives only read."""
    if not _is_worker(user):
        return False
    ids = visible_department_ids(user=user)
    return ids is None or complaint.department_id in ids


# ---- selectors ------------------------------------------------------------------------------


def complaints_visible(*, user: Actor) -> QuerySet[Complaint]:
    """Complaints the user's departments are responsible for."""
    return restrict(Complaint.objects.all(), user=user)


@dataclass(frozen=True)
class QueueRow:
    """A complaint waiting for its department, with when it is due."""

    complaint: Complaint
    due_at: datetime | None
    overdue: bool


def complaint_queue(
    *, user: Actor, now: datetime | None = None, limit: int = 500
) -> tuple[list[QueueRow], int]:
    """The open and in-progress complaints of the user's departments, soonest due first (so
    the overdue ones lead), and how many there are in all."""
    now = now or timezone.now()
    qs = complaints_visible(user=user).filter(status__in=WORKING)
    total = qs.count()
    rows = (
        qs.annotate(due_at=_due_expression())
        .select_related("customer", "department")
        .order_by(F("due_at").asc(nulls_last=True), "opened_at", "pk")[:limit]
    )
    return [
        QueueRow(complaint=k, due_at=k.due_at, overdue=k.due_at is not None and k.due_at < now)
        for k in rows
    ], total


def complaint_get(*, user: Actor, pk: int) -> Complaint:
    """One complaint the user's departments are responsible for; any other answers 404."""
    try:
        return (
            complaints_visible(user=user)
            .select_related("customer", "department", "order", "interaction", "logged_by")
            .get(pk=pk)
        )
    except Complaint.DoesNotExist:
        raise NotFound("No such complaint.") from None


def complaint_events(*, complaint: Complaint) -> list[ComplaintEvent]:
    """The complaint's steps, oldest first (the complaint comes from a scoped selector)."""
    return list(complaint.events.select_related("actor"))


@dataclass(frozen=True)
class History:
    """A complaint on the customer 360 with its steps, and whether the reader may open it."""

    complaint: Complaint
    events: list[ComplaintEvent]
    may_open: bool


def complaint_histories(*, user: Actor, complaints: Iterable[Complaint]) -> list[History]:
    """Each of a customer's complaints with its steps, read in one query. Only complaints
    of customers the user sees are given their steps."""
    complaints = list(complaints)
    customers = customers_visible(user=user)
    events: dict[int, list[ComplaintEvent]] = {k.pk: [] for k in complaints}
    for event in ComplaintEvent.objects.filter(
        complaint__in=[k.pk for k in complaints], complaint__customer__in=customers
    ).select_related("actor"):
        events[event.complaint_id].append(event)
    ids = visible_department_ids(user=user)
    return [
        History(
            complaint=k,
            events=events[k.pk],
            may_open=ids is None or k.department_id in ids,
        )
        for k in complaints
    ]


def complaint_targets(*, complaint: Complaint) -> list[tuple[str, str]]:
    """The moves open to the complaint now, as (status, label)."""
    return [(to, transition_label(to, complaint.status)) for to in TRANSITIONS[complaint.status]]


# ---- services -------------------------------------------------------------------------------


def _actor(user: Actor) -> User | None:
    return user if isinstance(user, User) else None


@transaction.atomic
def complaint_log(
    *,
    actor: Actor,
    customer: Customer,
    category: str,
    severity: str,
    department: Department,
    description: str,
    order: Order | None = None,
    interaction: Interaction | None = None,
    at: datetime | None = None,
) -> Complaint:
    """Log a customer's complaint and send it to the responsible department's queue (any
    department: a complaint may be for another department to answer)."""
    if not complaint_may_log(user=actor):
        raise NotAllowed("Only agents and managers log complaints.")
    if not customers_visible(user=actor).filter(pk=customer.pk).exists():
        raise NotAllowed("This customer is outside your departments.")
    errors = {}
    if order is not None and order.customer_id != customer.pk:
        errors["order"] = "That order is not this customer's."
    if interaction is not None and interaction.customer_id != customer.pk:
        errors["interaction"] = "That contact is not with this customer."
    if not description.strip():
        errors["description"] = "Say what the customer complains about."
    if errors:
        raise ValidationError(errors)
    at = at or timezone.now()
    complaint = Complaint(
        external_id=f"K-{uuid.uuid4().hex[:12].upper()}",
        customer=customer,
        category=ComplaintCategory(category),
        severity=Severity(severity),
        department=department,
        description=description.strip(),
        order=order,
        interaction=interaction,
        opened_at=at,
        status=S.OPEN,
        logged_by=_actor(actor),
    )
    complaint.full_clean()
    complaint.save()
    event = ComplaintEvent(complaint=complaint, actor=_actor(actor), at=at, to_status=S.OPEN)
    event.full_clean()
    event.save()
    return complaint


def _locked(complaint: Complaint, actor: Actor) -> Complaint:
    """The complaint re-read under a row lock (its status as it stands now), if the actor
    may move it."""
    if not complaint_may_move(user=actor, complaint=complaint):
        raise NotAllowed("Only agents and managers of the responsible department may.")
    return Complaint.objects.select_for_update().get(pk=complaint.pk)


def _check_time(complaint: Complaint, at: datetime) -> None:
    if at < complaint.opened_at:
        raise ValidationError("A step cannot come before the complaint was logged.")


@transaction.atomic
def complaint_move(
    *,
    actor: Actor,
    complaint: Complaint,
    to_status: str,
    note: str = "",
    at: datetime | None = None,
) -> ComplaintEvent:
    """Move a complaint one step (open → in progress → resolved → closed; resolved or
    closed → open reopens it) and record who, when and why. The first move out of open is
    the first response; resolving stamps the resolution, reopening clears it and counts."""
    current = _locked(complaint, actor)
    at = at or timezone.now()
    _check_time(current, at)
    before = current.status
    if to_status not in TRANSITIONS[before]:
        allowed = " or ".join(S(s).label.lower() for s in TRANSITIONS[before])
        target = S(to_status).label.lower() if to_status in S.values else repr(to_status)
        raise ValidationError(
            f"A complaint that is {S(before).label.lower()} cannot move to {target}; "
            f"it can move to {allowed}."
        )
    current.status = to_status
    if before == S.OPEN and current.first_response_at is None:
        current.first_response_at = at
    if to_status == S.RESOLVED:
        current.resolved_at = at
    if to_status == S.OPEN:  # reopened
        current.resolved_at = None
        current.reopened_count += 1
        if current.first_reopened_at is None:
            current.first_reopened_at = at
    current.full_clean()
    current.save()
    event = ComplaintEvent(
        complaint=current,
        actor=_actor(actor),
        at=at,
        from_status=before,
        to_status=to_status,
        note=note.strip(),
    )
    event.full_clean()
    event.save()
    _refresh(complaint, current)
    return event


@transaction.atomic
def complaint_note(
    *, actor: Actor, complaint: Complaint, note: str, at: datetime | None = None
) -> ComplaintEvent:
    """Write a note on a complaint without moving it. A first note is the first response."""
    current = _locked(complaint, actor)
    if not note.strip():
        raise ValidationError("Write a note, or choose a move.")
    at = at or timezone.now()
    _check_time(current, at)
    if current.first_response_at is None:
        current.first_response_at = at
        current.full_clean()
        current.save()
    event = ComplaintEvent(
        complaint=current,
        actor=_actor(actor),
        at=at,
        from_status=current.status,
        to_status=current.status,
        note=note.strip(),
    )
    event.full_clean()
    event.save()
    _refresh(complaint, current)
    return event


def _refresh(stale: Complaint, current: Complaint) -> None:
    """The caller's copy of the complaint reflects the move."""
    for name in ("status", "resolved_at", "first_response_at", "reopened_count"):
        setattr(stale, name, getattr(current, name))
    stale.first_reopened_at = current.first_reopened_at
