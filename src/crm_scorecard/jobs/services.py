"""Writes of jobs: scheduling a scorecard's report emails and sending them, and the reports
pages ask for in the background (queued, made, kept for the person who asked)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from crm_scorecard.accounts.models import User
from crm_scorecard.errors import DomainError, Invalid, NotFound
from crm_scorecard.metrics.api import DIMENSIONS
from crm_scorecard.reports.exports import Export, report_export
from crm_scorecard.reports.tables import Table
from crm_scorecard.scorecards import scoring
from crm_scorecard.scorecards import selectors as sc
from crm_scorecard.scorecards.models import Scorecard

from . import selectors
from .models import PageJob, ScheduledReport

log = logging.getLogger(__name__)

# A finished page job's file is kept this long, then dropped by the worker.
PAGE_JOB_KEEP = timedelta(days=1)


# ---- scheduled reports ---------------------------------------------------------------------


@transaction.atomic
def scheduled_report_create(
    *,
    actor: User,
    scorecard: Scorecard,
    format: str,
    frequency: str,
    recipients: Iterable[User],
    breakdown: str = "",
) -> ScheduledReport:
    """Schedule `scorecard`'s report for `recipients`. The caller has found `scorecard`
    through `selectors.scheduled_report_scorecard` (the actor may manage it); every
    recipient must be someone who sees it."""
    people = list(recipients)
    if not people:
        raise Invalid("recipients: choose at least one person.")
    allowed = set(selectors.report_recipients(scorecard=scorecard).values_list("pk", flat=True))
    outside = sorted(p.username for p in people if p.pk not in allowed)
    if outside:
        raise Invalid(
            f"recipients: {', '.join(outside)} cannot see {scorecard.department.name}'s "
            "scorecards, so cannot receive this one."
        )
    if breakdown and breakdown not in DIMENSIONS:
        raise Invalid(f"breakdown: {breakdown!r} is not one of {', '.join(DIMENSIONS)}")
    report = ScheduledReport(
        scorecard=scorecard,
        format=format,
        frequency=frequency,
        breakdown=breakdown,
        created_by=actor,
    )
    report.full_clean()
    report.save()
    report.recipients.set(people)
    return report


@transaction.atomic
def scheduled_report_delete(*, report: ScheduledReport) -> None:
    report.delete()


def scheduled_report_send(*, report_id: int, due_at: str) -> dict[str, Any]:
    """Mail the scheduled report `report_id` (due at `due_at`) to each recipient, each
    built as that recipient would export it from the page: never more than they may see.
    A recipient without an email address, or who can no longer see the scorecard, is
    skipped and named in the result."""
    report = (
        ScheduledReport.objects.select_related("scorecard__department")
        .prefetch_related("recipients")
        .filter(pk=report_id)
        .first()
    )
    if report is None:
        return {"sent": [], "skipped": [], "note": "the schedule was deleted"}
    period = sc.latest_period()  # the month pages open on: the same for every recipient
    sent: list[str] = []
    skipped: list[str] = []
    for person in sorted(report.recipients.all(), key=lambda p: p.username):
        if not person.is_active or not person.email:
            why = "no email address" if person.is_active else "inactive"
            skipped.append(f"{person.username}: {why}")
            continue
        try:
            export = report_export(
                user=person,
                pk=report.scorecard_id,
                fmt=report.format,
                period=period,
                breakdowns=[report.breakdown] if report.breakdown else [],
            )
        except NotFound:
            skipped.append(f"{person.username}: cannot see the scorecard")
            continue
        except scoring.DefinitionError as exc:
            # Nobody gets it: the scorecard cannot be scored as it stands.
            log.warning("scheduled report %s: %s", report_id, exc)
            return {"sent": sent, "skipped": skipped, "note": f"cannot be scored: {exc}"}
        _mail(report, person, export, period=period, due_at=due_at)
        sent.append(person.username)
    ScheduledReport.objects.filter(pk=report.pk).update(last_sent_at=timezone.now())
    return {"sent": sent, "skipped": skipped}


def _mail(
    report: ScheduledReport, person: User, export: Export, *, period: str, due_at: str
) -> None:
    scorecard = report.scorecard
    what = report.get_format_display()
    subject = f"{scorecard.name} ({scorecard.department.name}): {what} for {period}"
    body = (
        f"Hello {person.get_full_name() or person.username},\n\n"
        f"attached is the {what.lower()} of the scorecard {scorecard.name} "
        f"({scorecard.department.name}) for {period}, as you see it in CRM Scorecard.\n\n"
        f"{settings.CRM_SITE_URL.rstrip('/')}/scorecards/{scorecard.pk}/?period={period}\n\n"
        f"You receive it {report.get_frequency_display().lower()} "
        "because a manager of the department scheduled it; they can stop it on the "
        "scorecard's page, under Scheduled reports.\n"
    )
    message = EmailMessage(
        subject=subject.replace("\n", " ").replace("\r", " "),
        body=body,
        to=[person.email],
        headers={"X-CRM-Scheduled-Report": f"{report.pk}@{due_at}"},
    )
    message.attach(export.filename, export.content, export.content_type)
    message.send()


# ---- reports made in the background for a page -------------------------------------------


def page_job_run(*, job_id: str) -> str:
    """Make a queued page job's report as the person who asked would get it from the page,
    and keep it for them. A report that cannot be made says why on their page."""
    job = PageJob.objects.select_related("user").filter(pk=uuid.UUID(job_id)).first()
    if job is None or job.status != PageJob.Status.QUEUED:
        return "gone" if job is None else job.status
    PageJob.objects.filter(pk=job.pk).update(
        status=PageJob.Status.RUNNING, started_at=timezone.now()
    )
    try:
        export = report_export(
            user=job.user,
            pk=job.scorecard_id,
            fmt=job.format,
            period=job.period or None,
            breakdowns=job.breakdowns,
            table=job.table or Table.TREE,
        )
    except (DomainError, scoring.DefinitionError) as exc:
        _page_job_failed(job, str(exc))
        return PageJob.Status.FAILED
    except Exception:
        _page_job_failed(job, "The report could not be made; the worker's log says why.")
        raise  # the task is recorded as failed, with its traceback
    PageJob.objects.filter(pk=job.pk).update(
        status=PageJob.Status.DONE,
        finished_at=timezone.now(),
        filename=export.filename,
        content_type=export.content_type,
        content=export.content,
    )
    return PageJob.Status.DONE


def _page_job_failed(job: PageJob, message: str) -> None:
    PageJob.objects.filter(pk=job.pk).update(
        status=PageJob.Status.FAILED, finished_at=timezone.now(), message=message
    )


def page_jobs_prune(*, now: datetime | None = None) -> int:
    """Drop page jobs (and their files) older than `PAGE_JOB_KEEP`; how many."""
    cutoff = (now or timezone.now()) - PAGE_JOB_KEEP
    deleted, _ = PageJob.objects.filter(created_at__lt=cutoff).delete()
    return deleted
