"""A person's alerts: the digests they received (newest first) with mark-as-read, and what
they follow. Thin: parse, call `alerts.services`, render. Only one's own alerts, and only
about what one can see."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from crm_scorecard.alerts.services import (
    SUBJECTS,
    digest_mark_read,
    digests_of,
    subscription_set,
    subscriptions_of,
)
from crm_scorecard.errors import Invalid
from crm_scorecard.scorecards.models import Goal, Indicator
from crm_scorecard.scorecards.selectors import scorecards_visible


def _choices(request: HttpRequest) -> list[tuple[str, list[tuple[str, str]]]]:
    """What the person may follow: each visible scorecard, its goals and its indicators."""
    cards = list(scorecards_visible(user=request.user).order_by("department__name", "name"))
    goals = Goal.objects.filter(perspective__scorecard__in=cards).order_by(
        "perspective", "position", "pk"
    )
    indicators = Indicator.objects.filter(goal__perspective__scorecard__in=cards).order_by(
        "goal", "position", "pk"
    )
    by_card: dict[int, list[tuple[str, str]]] = {c.pk: [] for c in cards}
    for g in goals.values("pk", "name", "perspective__scorecard"):
        by_card[g["perspective__scorecard"]].append((f"goal:{g['pk']}", f"Goal: {g['name']}"))
    for i in indicators.values("pk", "name", "goal__perspective__scorecard"):
        by_card[i["goal__perspective__scorecard"]].append(
            (f"indicator:{i['pk']}", f"Indicator: {i['name']}")
        )
    return [
        (
            f"{c.department.name} · {c.name}",
            [(f"scorecard:{c.pk}", "The whole scorecard"), *by_card[c.pk]],
        )
        for c in cards
    ]


@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    digests = digests_of(user=request.user)
    context = {
        "digests": digests,
        "unread": any(d.read_at is None for d in digests),
        "following": subscriptions_of(user=request.user),
        "choices": _choices(request),
    }
    return render(request, "web/alerts.html", context)


@require_POST
def alert_read(request: HttpRequest, pk: int) -> HttpResponse:
    digest_mark_read(user=request.user, pk=pk)
    return redirect("alerts")


@require_POST
def alert_read_all(request: HttpRequest) -> HttpResponse:
    marked = digest_mark_read(user=request.user)
    messages.success(request, f"{marked} marked as read.")
    return redirect("alerts")


@require_POST
def alert_follow(request: HttpRequest) -> HttpResponse:
    """Follow (`follow=1`) or mute (`follow=0`) the `subject` ("indicator:12")."""
    subject, _, pk = request.POST.get("subject", "").partition(":")
    follow = request.POST.get("follow", "1") == "1"
    if subject not in SUBJECTS or not pk.isdigit():
        messages.error(request, "subject: choose a scorecard, goal or indicator to follow.")
        return redirect(_back(request))
    try:
        done = subscription_set(user=request.user, subject=subject, pk=int(pk), follow=follow)
    except Invalid as exc:
        messages.error(request, str(exc))
        return redirect(_back(request))
    messages.success(
        request, f"{'Following' if done.active else 'Muted'} {done.subject} “{done.name}”."
    )
    return redirect(_back(request))


def _back(request: HttpRequest) -> str:
    """Where the form came from (`next`, a path on this site), else the alerts page."""
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return back
    return reverse("alerts")
