"""The schedule the worker keeps: the nightly compute (RFM scores, the customer value refit,
the cohorts, then the KPIs: `compute.nightly_run`, one job), then the scheduled report
emails.

Each job has due times (every day at CRM_COMPUTE_AT; reports daily, on Mondays or on the
1st at CRM_REPORTS_AT, local time). On every tick the worker looks at each job's latest due
time not in the future and, when no `ScheduleRun` row holds that pair yet, writes one and
queues the job in one transaction. The pair is unique, so:
- a worker that was down over a due time runs it once when it comes back (only the latest
  due time: a week offline is one catch-up compute, not seven);
- a restart, a second tick or a second worker finds the row and queues nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import tasks
from .models import Frequency, ScheduledReport, ScheduleRun

log = logging.getLogger(__name__)

NIGHTLY_COMPUTE = "nightly-compute"


def clock_time(name: str) -> time:
    """A setting that names a time of day (`HH:MM`)."""
    text = str(getattr(settings, name))
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={text!r} is not a time of day; use HH:MM") from None


def latest_due(*, now: datetime, at: time, frequency: str = Frequency.DAILY) -> datetime:
    """The latest due time not after `now` of a job that runs at `at` (local time) every
    day, every Monday or on the 1st of every month."""
    local = timezone.localtime(now)
    zone = local.tzinfo

    def on(day: date) -> datetime:
        return datetime.combine(day, at, tzinfo=zone)

    today = local.date()
    if frequency == Frequency.WEEKLY:
        due = on(today - timedelta(days=today.weekday()))
        return due if due <= local else due - timedelta(days=7)
    if frequency == Frequency.MONTHLY:
        due = on(today.replace(day=1))
        if due <= local:
            return due
        return on((today.replace(day=1) - timedelta(days=1)).replace(day=1))
    due = on(today)
    return due if due <= local else on(today - timedelta(days=1))


@dataclass(frozen=True)
class Due:
    """A job whose latest due time has come: its name, that time, how to queue it."""

    job: str
    due_at: datetime
    enqueue: Callable[[], Any]


def due_jobs(*, now: datetime) -> list[Due]:
    """What is due at `now`, in the order it should run: the compute first (the reports
    read what it stores), then the reports. A report is not due before it was scheduled."""
    compute_due = latest_due(now=now, at=clock_time("CRM_COMPUTE_AT"))
    found = [Due(NIGHTLY_COMPUTE, compute_due, tasks.nightly_compute.enqueue)]
    reports_at = clock_time("CRM_REPORTS_AT")
    for report in ScheduledReport.objects.order_by("pk"):
        due = latest_due(now=now, at=reports_at, frequency=report.frequency)
        if due >= report.created_at:
            found.append(Due(report.job, due, partial(_report_enqueue, report.pk, due)))
    return found


def _report_enqueue(report_id: int, due: datetime) -> Any:
    return tasks.scheduled_report_send.enqueue(report_id=report_id, due_at=due.isoformat())


def schedule_tick(*, now: datetime | None = None, worker: str = "") -> list[ScheduleRun]:
    """Queue every job that is due and not yet started; the runs this call started."""
    now = now or timezone.now()
    started: list[ScheduleRun] = []
    for due in due_jobs(now=now):
        if ScheduleRun.objects.filter(job=due.job, due_at=due.due_at).exists():
            continue  # the usual case: started by this worker or another one
        try:
            with transaction.atomic():
                run = ScheduleRun.objects.create(job=due.job, due_at=due.due_at, worker=worker)
                result = due.enqueue()
                run.task_id = str(result.id)
                run.save(update_fields=["task_id"])
        except IntegrityError:
            continue  # another worker wrote the row between our look and our write
        log.info("queued %s (due %s)", due.job, due.due_at.isoformat())
        started.append(run)
    return started
