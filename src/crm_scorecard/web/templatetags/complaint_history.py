"""A customer's complaints with their steps, for the customer 360 (one query for all)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template

from crm_scorecard.crm.complaints import History, complaint_histories, complaint_may_log
from crm_scorecard.crm.models import Complaint

register = template.Library()


@register.simple_tag(takes_context=True)
def complaint_steps(context: dict[str, Any], complaints: Iterable[Complaint]) -> list[History]:
    """Each complaint with its recorded steps, and whether the reader may open its page."""
    return complaint_histories(user=context["request"].user, complaints=complaints)


@register.simple_tag(takes_context=True)
def may_log_complaint(context: dict[str, Any]) -> bool:
    """Whether the reader may log complaints (agents and managers)."""
    return complaint_may_log(user=context["request"].user)
