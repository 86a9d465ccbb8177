"""Reads of jobs: a person's own page jobs and how far along they are, a scorecard's
scheduled reports, and who may receive them."""

from __future__ import annotations

import uuid
from statistics import median

from django.db.models import Q, QuerySet
from django.utils import timezone

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.accounts.scope import Actor
from crm_scorecard.errors import NotAllowed, NotFound
from crm_scorecard.scorecards import selectors as sc
from crm_scorecard.scorecards.models import Scorecard

from .models import PageJob, ScheduledReport

# How long a report is assumed to take before any has been timed (seconds).
FIRST_GUESS_SECONDS = 5.0


def page_job_get(*, user: Actor, pk: str | uuid.UUID) -> PageJob:
    """A page job the user asked for, of a scorecard they may still see; anyone else's (or
    one whose scorecard has left their departments) answers like one that does not exist."""
    if not isinstance(user, User):
        raise NotFound("No such job.")
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        raise NotFound("No such job.") from None
    found = (
        PageJob.objects.select_related("scorecard")
        .defer("content")
        .filter(pk=key, user=user, scorecard__in=sc.scorecards_visible(user=user))
        .first()
    )
    if found is None:
        raise NotFound("No such job.")
    return found


def page_job_file(job: PageJob) -> bytes:
    """The finished report of a job found with `page_job_get`."""
    content = PageJob.objects.filter(pk=job.pk).values_list("content", flat=True).get()
    return bytes(content or b"")


def page_job_progress(job: PageJob) -> int:
    """How far along the job is, in percent: 0 while queued, 100 when finished; while it
    runs, the time so far against the middle of the last few of its kind (at most 95, so
    the bar never claims done before it is)."""
    if job.finished:
        return 100
    if job.status != PageJob.Status.RUNNING or job.started_at is None:
        return 0
    recent = [
        (finished - started).total_seconds()
        for started, finished in PageJob.objects.filter(
            format=job.format,
            status=PageJob.Status.DONE,
            started_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:5]
        if started is not None and finished is not None
    ]
    expected = median(recent) if recent else FIRST_GUESS_SECONDS
    elapsed = (timezone.now() - job.started_at).total_seconds()
    return max(5, min(95, round(100 * elapsed / max(expected, 0.1))))


def scheduled_report_scorecard(*, user: Actor, pk: int) -> Scorecard:
    """A scorecard whose scheduled reports the user may manage: one outside their
    departments answers 404; one they may see but not manage, 403."""
    scorecard = sc.scorecard_get(user=user, pk=pk)
    if not sc.can_edit(user=user, scorecard=scorecard):
        raise NotAllowed("Only the managers of its department schedule this scorecard's reports.")
    return scorecard


def scheduled_reports(*, scorecard: Scorecard) -> QuerySet[ScheduledReport]:
    return (
        ScheduledReport.objects.filter(scorecard=scorecard)
        .select_related("created_by", "scorecard")
        .prefetch_related("recipients")
    )


def report_recipients(*, scorecard: Scorecard) -> QuerySet[User]:
    """The people who may receive a scorecard's report: active users who see its department
    (executives, and members of it or of a department above it)."""
    above: list[int] = []
    department: Department | None = scorecard.department
    while department is not None and department.pk not in above:
        above.append(department.pk)
        department = department.parent
    return (
        User.objects.filter(is_active=True)
        .filter(
            Q(level=Level.EXECUTIVE) | Q(is_superuser=True) | Q(departments__in=above),
        )
        .distinct()
        .order_by("username")
    )
