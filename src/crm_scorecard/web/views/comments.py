"""Comments on an indicator's value for a month, from its page: anyone who can see the
indicator adds one; its author deletes it. Outside the user's departments an indicator or
comment answers 404 like one that does not exist."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm_scorecard.errors import Invalid
from crm_scorecard.scorecards import comments as cm
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards import selectors as sel

from ..forms import CommentForm
from .indicators import indicator_page  # the page the comment form is on


def period_asked_in(text: str) -> str:
    """The month of the page the form was on (to go back to it), or "" (the default)."""
    try:
        return files.parse_period(text) if text else ""
    except ValueError:
        return ""


def _back(pk: int, period: str = "") -> HttpResponse:
    url = reverse("indicator-detail", args=[pk])
    return redirect(f"{url}?period={period}#comments" if period else f"{url}#comments")


@require_POST
def comment_new(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a comment on the indicator's value for a month; a refused one shows the page
    again with the reason (400)."""
    indicator = sel.indicator_get(user=request.user, pk=pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            comment = cm.comment_add(
                indicator=indicator,
                period=form.cleaned_data["period"],
                text=form.cleaned_data["text"],
                author=request.user,
            )
        except Invalid as exc:
            field, _, reason = str(exc).partition(": ")
            form.add_error(field if field in form.fields else None, reason or str(exc))
        else:
            messages.success(request, f"Comment added for {comment.period_start:%Y-%m}.")
            return _back(indicator.pk, period_asked_in(request.POST.get("page_period", "")))
    return indicator_page(request, indicator, None, 400, comment_form=form)


@require_POST
def comment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one's own comment (403 for anyone else's)."""
    comment = cm.comment_get(user=request.user, pk=pk)
    cm.comment_delete(comment=comment, actor=request.user)
    messages.success(request, "Comment deleted.")
    return _back(comment.indicator_id)
