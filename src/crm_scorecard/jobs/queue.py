"""A page's long action put on the queue: what can be checked is checked at once (a
mistake is a 400 then, not a failed job later), and a task (`tasks.page_report_export`,
which runs `services.page_job_run`) does the work. Apart from `services` so that the tasks
import the services and this module imports both, one way."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from crm_scorecard.accounts.models import User
from crm_scorecard.errors import Invalid
from crm_scorecard.metrics.api import DIMENSIONS
from crm_scorecard.reports.exports import Format
from crm_scorecard.reports.tables import Table
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards import selectors as sc

from . import tasks
from .models import PageJob


def page_job_start(
    *,
    user: User,
    pk: int,
    fmt: str,
    period: str | None = None,
    breakdowns: Iterable[str] = (),
    table: str = "",
) -> PageJob:
    """Queue the report a page asked for: the scorecard `pk` as `user` may see it (404
    outside their departments). What can be checked now is checked now (format, period,
    table, dimensions), so a mistake is a 400 at once, not a failed job later."""
    scorecard = sc.scorecard_get(user=user, pk=pk)
    if fmt not in Format.__members__.values():
        raise Invalid(f"format: {fmt!r} is not one of {', '.join(Format)}")
    if fmt == Format.CSV and table and table not in Table.__members__.values():
        raise Invalid(f"table: {table!r} is not one of {', '.join(Table)}")
    if period:
        try:
            period = files.parse_period(period)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
    chosen = [d for d in breakdowns if d]
    unknown = [d for d in chosen if d not in DIMENSIONS]
    if unknown:
        raise Invalid(f"by: {unknown[0]!r} is not one of {', '.join(DIMENSIONS)}")
    with transaction.atomic():
        job = PageJob.objects.create(
            user=user,
            scorecard=scorecard,
            format=fmt,
            period=period or "",
            breakdowns=chosen,
            table=table if fmt == Format.CSV else "",
        )
        result = tasks.page_report_export.enqueue(job_id=str(job.pk))
        job.task_id = str(result.id)
        job.save(update_fields=["task_id"])
    return job
