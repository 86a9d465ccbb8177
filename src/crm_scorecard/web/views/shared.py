"""What several page families share: the period asked for, a goal found through its
scorecard's address, and the page of a scorecard an edit left unscorable."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm_scorecard.errors import NotFound
from crm_scorecard.scorecards import files, scoring
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards.models import Goal, Scorecard


def period_asked(request: HttpRequest) -> str | None:
    """The `?period=YYYY-MM` asked for; None (the page's default month) when absent or not
    a month."""
    raw = request.GET.get("period", "")
    try:
        return files.parse_period(raw) if raw else None
    except ValueError:
        return None


def unscorable(
    request: HttpRequest, scorecard: Scorecard, exc: scoring.DefinitionError
) -> HttpResponse:
    """A scorecard an edit left unscorable: say why and where to fix it, break nothing."""
    return render(
        request,
        "web/unscorable.html",
        {
            "scorecard": scorecard,
            "reason": str(exc),
            "can_edit": sel.can_edit(user=request.user, scorecard=scorecard),
        },
    )


def goal_in_scorecard(request: HttpRequest, *, pk: int, goal_pk: int) -> Goal:
    """The goal at /scorecards/<pk>/goals/<goal_pk>/, which the user may see; a goal of
    another scorecard at that address answers like one that does not exist."""
    goal = sel.goal_get(user=request.user, pk=goal_pk)
    if goal.perspective.scorecard_id != pk:
        raise NotFound("No such goal in this scorecard.")
    return goal
