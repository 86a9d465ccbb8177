"""Writes to initiatives: the action plans attached to a scorecard's goals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from crm_scorecard.accounts.scope import Actor

from . import history
from .models import Goal, Initiative


@transaction.atomic
def initiative_create(
    *,
    goal: Goal,
    name: str,
    owner: str = "",
    start: date | None = None,
    due: date | None = None,
    budget: Decimal | None = None,
    status: str = Initiative.Status.PLANNED,
    actor: Actor | None = None,
) -> Initiative:
    """Attach an action plan to a goal: who leads it, from when, by when, with what budget
    (recorded in the audit trail as `actor`'s)."""
    initiative = Initiative(
        goal=goal, name=name, owner=owner, start=start, due=due, budget=budget, status=status
    )
    initiative.full_clean()
    if start and due and due < start:
        raise ValidationError({"due": "An initiative cannot be due before it starts."})
    with history.acting(actor):
        initiative.save()
    return initiative
