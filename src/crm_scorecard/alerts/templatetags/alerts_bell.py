"""The bell in the page header: how many of the person's alert digests are unread."""

from __future__ import annotations

from django import template

from crm_scorecard.accounts.scope import Actor
from crm_scorecard.alerts.services import unread_count

register = template.Library()


@register.simple_tag
def alerts_unread(user: Actor) -> int:
    return unread_count(user=user)
