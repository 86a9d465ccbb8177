"""The background jobs (Django's task framework; queued in the database, run by
`crm-scorecard worker`). Each is a thin wrapper over a service, so it can also be called
directly: `nightly_compute.call()` computes now, in this process."""

from __future__ import annotations

from typing import Any

from django.tasks import task

from . import services
from .compute import nightly_run


@task(priority=10)
def nightly_compute() -> dict[str, Any]:
    """The nightly run (`compute.nightly_run`): every customer's RFM scores at today's
    date, the customer value refit, the cohorts, then the latest periods' KPIs (last month
    and this month, as `crm-scorecard compute --since <first of last month>` stores them).
    A failing step fails the task, naming it, after the other steps ran."""
    return nightly_run()


@task()
def scheduled_report_send(*, report_id: int, due_at: str) -> dict[str, Any]:
    """Mail one scheduled report to each of its recipients, built as that recipient sees it."""
    return services.scheduled_report_send(report_id=report_id, due_at=due_at)


@task(priority=20)  # someone is watching its progress bar
def page_report_export(*, job_id: str) -> str:
    """Make the report a page asked for and keep it for the person who asked."""
    return services.page_job_run(job_id=job_id)
