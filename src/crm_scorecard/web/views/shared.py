"""What several page families share: the period asked for, a goal found through its
scorecard's address, the page of a scorecard an edit left unscorable, and a file sent as a
download."""

from __future__ import annotations

import unicodedata

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header

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
    request: HttpRequest, scorecard: Scorecard, exc: scoring.DefinitionError, status: int = 200
) -> HttpResponse:
    """A scorecard an edit left unscorable: say why and where to fix it, break nothing. A
    download asked of it answers 409 (the scorecard's state, not the request, is wrong)."""
    return render(
        request,
        "web/unscorable.html",
        {
            "scorecard": scorecard,
            "reason": str(exc),
            "can_edit": sel.can_edit(user=request.user, scorecard=scorecard),
        },
        status=status,
    )


def file_stem(*parts: str) -> str:
    """A file name from people's text (a scorecard's or indicator's name): no control
    characters (a line break would fail the header) or path separators, spaces as dashes;
    quotes and non-ASCII are escaped by the Content-Disposition header's own rules."""
    words = []
    for part in parts:
        cleaned = "".join(
            " " if unicodedata.category(c).startswith("C") or c in "/\\" else c for c in part
        )
        words.append("-".join(cleaned.lower().split()))
    return "-".join(w for w in words if w)


def attachment(*, filename: str, content_type: str, content: bytes) -> HttpResponse:
    """A file to save, not to show: named, and kept out of shared caches (it holds what
    its reader's departments may see)."""
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    add_never_cache_headers(response)
    return response


def goal_in_scorecard(request: HttpRequest, *, pk: int, goal_pk: int) -> Goal:
    """The goal at /scorecards/<pk>/goals/<goal_pk>/, which the user may see; a goal of
    another scorecard at that address answers like one that does not exist."""
    goal = sel.goal_get(user=request.user, pk=goal_pk)
    if goal.perspective.scorecard_id != pk:
        raise NotFound("No such goal in this scorecard.")
    return goal
